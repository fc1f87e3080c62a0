//! Quality figures from scored, labelled examples: the classic ones at probability 0.5 and the three rates
//! that matter to a blog (ham rejected, spam accepted, hold rate) at the model's two thresholds.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::decision::{Decision, Thresholds};
use crate::train::corpus::Label;

/// False-positive rate at which `recall_at_fpr_1pct` is read.
const RECALL_AT_FPR: f64 = 0.01;

/// One labelled example's score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// The true label.
    pub label: Label,
    /// The model's spam log-odds.
    pub log_odds: f64,
}

/// How many examples fell in each band.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DecisionCounts {
    /// Accepted.
    pub accept: usize,
    /// Held.
    pub hold: usize,
    /// Rejected.
    pub reject: usize,
}

/// The figures `saring eval --json` prints and the model card records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Examples scored.
    pub n: usize,
    /// Of which spam.
    pub spam: usize,
    /// Of which ham.
    pub ham: usize,
    /// Share classified correctly at probability 0.5.
    pub accuracy: f64,
    /// Spam precision at probability 0.5.
    pub precision: f64,
    /// Spam recall at probability 0.5.
    pub recall: f64,
    /// F1 of the two above.
    pub f1: f64,
    /// Share of ham scored as spam at probability 0.5.
    pub fpr: f64,
    /// The best spam recall while at most 1% of ham scores above the threshold.
    pub recall_at_fpr_1pct: f64,
    /// Counts per band at the model's thresholds.
    pub decisions: DecisionCounts,
    /// Share of ham that would be rejected: the worst mistake.
    pub ham_rejected_rate: f64,
    /// Share of spam that would be published.
    pub spam_accepted_rate: f64,
    /// Share of all examples that would wait for a moderator.
    pub hold_rate: f64,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Compute the report for `scored` at `thresholds`.
pub fn report_at(scored: &[Scored], thresholds: &Thresholds) -> Report {
    let decisions: Vec<Decision> = scored
        .iter()
        .map(|s| thresholds.decide(s.log_odds))
        .collect();
    report(scored, &decisions)
}

/// Compute the report for `scored`, each with the decision it got. Cross-validation pools examples
/// from several folds, each decided by its own fold's thresholds, so decisions come in beside the scores.
pub fn report(scored: &[Scored], decisions: &[Decision]) -> Report {
    debug_assert_eq!(scored.len(), decisions.len());
    let (mut tp, mut fp, mut tn, mut fn_) = (0, 0, 0, 0);
    let mut counts = DecisionCounts::default();
    let (mut ham_rejected, mut spam_accepted) = (0, 0);
    for (s, decision) in scored.iter().zip(decisions) {
        // Probability 0.5 is log-odds 0; a tie goes to ham, as with an argmax over (ham, spam).
        let predicted_spam = s.log_odds > 0.0;
        match (s.label, predicted_spam) {
            (Label::Spam, true) => tp += 1,
            (Label::Spam, false) => fn_ += 1,
            (Label::Ham, true) => fp += 1,
            (Label::Ham, false) => tn += 1,
        }
        match decision {
            Decision::Accept => {
                counts.accept += 1;
                spam_accepted += usize::from(s.label == Label::Spam);
            }
            Decision::Hold => counts.hold += 1,
            Decision::Reject => {
                counts.reject += 1;
                ham_rejected += usize::from(s.label == Label::Ham);
            }
        }
    }
    let spam = tp + fn_;
    let ham = tn + fp;
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, spam);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Report {
        n: scored.len(),
        spam,
        ham,
        accuracy: ratio(tp + tn, scored.len()),
        precision,
        recall,
        f1,
        fpr: ratio(fp, ham),
        recall_at_fpr_1pct: recall_at_fpr(scored, RECALL_AT_FPR),
        decisions: counts,
        ham_rejected_rate: ratio(ham_rejected, ham),
        spam_accepted_rate: ratio(spam_accepted, spam),
        hold_rate: ratio(counts.hold, scored.len()),
    }
}

/// One report per source, from `(source, score, decision)` triples.
pub fn report_by_source<'a>(
    items: impl IntoIterator<Item = (&'a str, Scored, Decision)>,
) -> BTreeMap<String, Report> {
    let mut grouped: BTreeMap<&str, (Vec<Scored>, Vec<Decision>)> = BTreeMap::new();
    for (source, scored, decision) in items {
        let entry = grouped.entry(source).or_default();
        entry.0.push(scored);
        entry.1.push(decision);
    }
    grouped
        .into_iter()
        .map(|(source, (s, d))| (source.to_string(), report(&s, &d)))
        .collect()
}

/// Spam recall at the lowest threshold that keeps the share of ham scoring above it at most `max_fpr`.
fn recall_at_fpr(scored: &[Scored], max_fpr: f64) -> f64 {
    let mut ham: Vec<f64> = scored
        .iter()
        .filter(|s| s.label == Label::Ham)
        .map(|s| s.log_odds)
        .collect();
    let spam: Vec<f64> = scored
        .iter()
        .filter(|s| s.label == Label::Spam)
        .map(|s| s.log_odds)
        .collect();
    if spam.is_empty() {
        return 0.0;
    }
    ham.sort_by(|a, b| b.total_cmp(a));
    let allowed = (max_fpr * ham.len() as f64).floor() as usize;
    // Flag "score > cut": at most `allowed` ham lie strictly above the (allowed+1)-th highest ham score.
    let cut = ham.get(allowed).copied().unwrap_or(f64::NEG_INFINITY);
    ratio(spam.iter().filter(|&&s| s > cut).count(), spam.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(label: Label, log_odds: f64) -> Scored {
        Scored { label, log_odds }
    }

    #[test]
    fn counts_rates_and_f1_are_computed_from_both_views() {
        use Label::*;
        let data = [
            s(Ham, -5.0),
            s(Ham, -1.0),
            s(Ham, 0.5),
            s(Ham, 3.0),
            s(Spam, -2.0),
            s(Spam, 1.0),
            s(Spam, 4.0),
            s(Spam, 6.0),
        ];
        let t = Thresholds {
            accept_below: 0.0,
            reject_at: 3.5,
        };
        let r = report_at(&data, &t);
        assert_eq!((r.n, r.spam, r.ham), (8, 4, 4));
        // at 0.5: tp = 3, fp = 2, fn = 1, tn = 2
        assert!((r.precision - 0.6).abs() < 1e-12);
        assert!((r.recall - 0.75).abs() < 1e-12);
        assert!((r.f1 - 2.0 * 0.6 * 0.75 / 1.35).abs() < 1e-12);
        assert!((r.fpr - 0.5).abs() < 1e-12);
        assert_eq!(
            r.decisions,
            DecisionCounts {
                accept: 3,
                hold: 3,
                reject: 2
            }
        );
        assert_eq!(r.ham_rejected_rate, 0.0);
        assert!((r.spam_accepted_rate - 0.25).abs() < 1e-12);
        assert!((r.hold_rate - 3.0 / 8.0).abs() < 1e-12);
        // with 4 ham, 1% allows none above the cut: cut = 3.0, spam above: 4.0 and 6.0
        assert!((r.recall_at_fpr_1pct - 0.5).abs() < 1e-12);
    }
}
