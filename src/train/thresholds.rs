//! Choosing the two decision thresholds on validation scores.
//!
//! The order of concerns is the mission's: first, reject at most `max_ham_rejected` of ham (a false
//! reject silently loses a reader's words); then, with at most `max_hold_rate` of all comments held,
//! accept as little spam as possible; and hold no more than that takes.

use crate::model::decision::Thresholds;
use crate::train::corpus::Label;
use crate::train::quality::Scored;

/// The limits thresholds are chosen under.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Targets {
    /// Largest share of validation ham that may be rejected.
    pub max_ham_rejected: f64,
    /// Largest share of one source's validation ham that may be rejected.
    pub max_ham_rejected_per_source: f64,
    /// Largest share of all validation comments that may be held.
    pub max_hold_rate: f64,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            max_ham_rejected: 0.005,
            max_ham_rejected_per_source: 0.01,
            max_hold_rate: 0.15,
        }
    }
}

/// Pick thresholds for `scored` under `targets`. `stratum[i]` names the source of `scored[i]`.
///
/// `reject_at` is just above the highest-scoring ham that must not be rejected — all sources together
/// within `max_ham_rejected`, and every source on its own within `max_ham_rejected_per_source`, because a
/// blog sees one kind of traffic and a small source's false rejects would hide in the pooled rate — and
/// never below log-odds 0: the model never rejects a comment it thinks
/// more likely ham. `accept_below` is the lowest spam score that can still be held without the hold band
/// exceeding its budget, so the hold band only grows while it catches more spam.
pub fn choose(scored: &[Scored], stratum: &[usize], targets: Targets) -> Thresholds {
    debug_assert_eq!(scored.len(), stratum.len());
    let strata = stratum.iter().copied().max().map_or(0, |m| m + 1);
    let mut reject_at = reject_threshold(scored.iter(), targets.max_ham_rejected);
    for k in 0..strata {
        let members = scored
            .iter()
            .zip(stratum)
            .filter(|(_, &s)| s == k)
            .map(|(x, _)| x);
        reject_at = reject_at.max(reject_threshold(
            members,
            targets.max_ham_rejected_per_source,
        ));
    }

    let mut all: Vec<f64> = scored.iter().map(|s| s.log_odds).collect();
    all.sort_by(f64::total_cmp);
    let below_reject = all.partition_point(|&s| s < reject_at);
    let budget = (targets.max_hold_rate * scored.len() as f64).floor() as usize;
    let mut spam_below: Vec<f64> = scored
        .iter()
        .filter(|s| s.label == Label::Spam && s.log_odds < reject_at)
        .map(|s| s.log_odds)
        .collect();
    spam_below.sort_by(f64::total_cmp);
    // Lowest spam score first: the first that fits the budget catches the most spam.
    let accept_below = spam_below
        .into_iter()
        .find(|&c| below_reject - all.partition_point(|&s| s < c) <= budget)
        .unwrap_or(reject_at);
    Thresholds {
        accept_below,
        reject_at,
    }
}

/// The lowest threshold that rejects at most `max_share` of the ham among `scored`, never below 0.
fn reject_threshold<'a>(scored: impl Iterator<Item = &'a Scored>, max_share: f64) -> f64 {
    let mut ham: Vec<f64> = scored
        .filter(|s| s.label == Label::Ham)
        .map(|s| s.log_odds)
        .collect();
    ham.sort_by(|a, b| b.total_cmp(a));
    let allowed = (max_share * ham.len() as f64).floor() as usize;
    match ham.get(allowed) {
        Some(&h) => h.next_up().max(0.0),
        // Fewer ham than the allowance (or none): nothing tells where ham ends, so stay at even odds.
        None => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::quality::report_at;

    fn s(label: Label, log_odds: f64) -> Scored {
        Scored { label, log_odds }
    }

    #[test]
    fn thresholds_meet_both_limits_and_catch_what_the_budget_allows() {
        // 200 ham spread over [-100, 99], 100 spam over [-20, 79]
        let mut data: Vec<Scored> = (0..200).map(|i| s(Label::Ham, i as f64 - 100.0)).collect();
        data.extend((0..100).map(|i| s(Label::Spam, i as f64 - 20.0)));
        let one = vec![0; data.len()];
        let t = choose(&data, &one, Targets::default());
        let r = report_at(&data, &t);
        assert!(r.ham_rejected_rate <= 0.005, "{r:?}");
        assert!(r.hold_rate <= 0.15, "{r:?}");
        // one ham allowed above: reject just above ham 98
        assert_eq!(t.reject_at, 98f64.next_up());
        // loosening the hold budget must not accept more spam
        let looser = choose(
            &data,
            &one,
            Targets {
                max_hold_rate: 0.3,
                ..Targets::default()
            },
        );
        assert!(report_at(&data, &looser).spam_accepted_rate < r.spam_accepted_rate);
    }

    #[test]
    fn a_clean_separation_needs_no_hold_band() {
        let mut data: Vec<Scored> = (0..100).map(|i| s(Label::Ham, -10.0 - i as f64)).collect();
        data.extend((0..100).map(|i| s(Label::Spam, 10.0 + i as f64)));
        let t = choose(&data, &vec![0; data.len()], Targets::default());
        let r = report_at(&data, &t);
        assert_eq!(
            (r.ham_rejected_rate, r.spam_accepted_rate, r.hold_rate),
            (0.0, 0.0, 0.0)
        );
        assert!(t.reject_at >= 0.0);
    }

    #[test]
    fn every_source_keeps_its_own_ham_rejected_limit() {
        // A big source whose ham all scores low, and a small one with one ham scoring high.
        let mut data: Vec<Scored> = (0..1000).map(|i| s(Label::Ham, -50.0 - i as f64)).collect();
        data.extend((0..1000).map(|i| s(Label::Spam, 10.0 + i as f64)));
        let mut stratum = vec![0; data.len()];
        data.extend((0..99).map(|i| s(Label::Ham, -40.0 - i as f64)));
        data.push(s(Label::Ham, 30.0));
        data.extend((0..100).map(|i| s(Label::Spam, 5.0 + i as f64)));
        stratum.resize(data.len(), 1);
        // Pooled, 0.5% of 1100 ham allows five false rejects; 1% of the small source's 100 allows one.
        data.push(s(Label::Ham, 35.0));
        stratum.push(1);
        let t = choose(&data, &stratum, Targets::default());
        assert_eq!(t.reject_at, 30f64.next_up(), "{t:?}");
        let pooled_only = choose(&data, &vec![0; data.len()], Targets::default());
        assert!(pooled_only.reject_at <= 30.0);
    }
}
