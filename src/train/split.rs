//! Splits that keep a group on one side: train/validation for `saring train`, k folds for `saring cv`.
//!
//! Spam campaigns repeat near-identical text within a video, a channel or an SMS bucket; a split by random
//! row would put copies of one campaign on both sides and report a score no deployment will see. Every
//! split here is by `(source, group)`, and is decided per source so each source is represented on both
//! sides where it has enough groups.

use std::collections::BTreeMap;

use crate::hash::stable_hash;
use crate::train::corpus::Example;

/// Rows of each `(source, group)`, grouped by source, in a deterministic order.
fn groups_by_source(examples: &[Example]) -> BTreeMap<&str, BTreeMap<&str, usize>> {
    let mut by_source: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for e in examples {
        *by_source
            .entry(e.source.as_str())
            .or_default()
            .entry(e.group.as_str())
            .or_default() += 1;
    }
    by_source
}

fn seeded_key(seed: u64, source: &str, group: &str) -> u64 {
    let mut bytes = seed.to_le_bytes().to_vec();
    bytes.extend_from_slice(source.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(group.as_bytes());
    stable_hash(&bytes)
}

/// Mark each example as validation (`true`) or training (`false`).
///
/// Per source, groups are taken in a seeded order into validation until it holds `fraction` of the source's
/// rows (the last group may overshoot: groups are never cut). A source with a single group stays wholly
/// in training, and validation never takes every group of a source.
pub fn train_validation(examples: &[Example], fraction: f64, seed: u64) -> Vec<bool> {
    let mut validation_groups: BTreeMap<(&str, &str), ()> = BTreeMap::new();
    for (source, groups) in groups_by_source(examples) {
        let total: usize = groups.values().sum();
        let target = (fraction * total as f64).round() as usize;
        let mut order: Vec<(&str, usize)> = groups.into_iter().collect();
        order.sort_by_key(|(g, _)| seeded_key(seed, source, g));
        let mut taken = 0;
        for (i, (group, rows)) in order.iter().enumerate() {
            if taken >= target || i + 1 == order.len() {
                break;
            }
            validation_groups.insert((source, group), ());
            taken += rows;
        }
    }
    examples
        .iter()
        .map(|e| validation_groups.contains_key(&(e.source.as_str(), e.group.as_str())))
        .collect()
}

/// Assign each example to one of `k` folds.
///
/// Per source, groups are placed largest first (ties in seeded order) into the fold holding the fewest rows
/// of that source, which keeps folds balanced without ever splitting a group. A source with fewer groups
/// than folds leaves some folds without it.
pub fn k_folds(examples: &[Example], k: usize, seed: u64) -> Vec<usize> {
    let k = k.max(1);
    let mut fold_of: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (source, groups) in groups_by_source(examples) {
        let mut order: Vec<(&str, usize)> = groups.into_iter().collect();
        order.sort_by_key(|&(g, rows)| (std::cmp::Reverse(rows), seeded_key(seed, source, g)));
        let mut load = vec![0usize; k];
        for (group, rows) in order {
            let (fold, _) = load
                .iter()
                .enumerate()
                .min_by_key(|&(i, l)| (*l, i))
                .unwrap_or((0, &0));
            load[fold] += rows;
            fold_of.insert((source, group), fold);
        }
    }
    examples
        .iter()
        .map(|e| fold_of[&(e.source.as_str(), e.group.as_str())])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::corpus::Label;

    fn ex(source: &str, group: &str, i: usize) -> Example {
        Example {
            text: format!("t{i}"),
            label: if i.is_multiple_of(2) {
                Label::Ham
            } else {
                Label::Spam
            },
            source: source.into(),
            group: group.into(),
            author: None,
            author_url: None,
            author_email: None,
            lang: None,
        }
    }

    fn data() -> Vec<Example> {
        let mut v = Vec::new();
        for g in 0..10 {
            for i in 0..(10 + g) {
                v.push(ex("a", &format!("g{g}"), i));
            }
        }
        for i in 0..30 {
            v.push(ex("b", "only", i));
        }
        v
    }

    #[test]
    fn validation_never_splits_a_group_and_is_near_the_fraction() {
        let d = data();
        let val = train_validation(&d, 0.2, 7);
        for (e, v) in d.iter().zip(&val) {
            let same_group = d
                .iter()
                .zip(&val)
                .filter(|(o, _)| o.source == e.source && o.group == e.group);
            assert!(same_group.into_iter().all(|(_, ov)| ov == v));
        }
        let a_total = d.iter().filter(|e| e.source == "a").count();
        let a_val = d
            .iter()
            .zip(&val)
            .filter(|(e, v)| e.source == "a" && **v)
            .count();
        let share = a_val as f64 / a_total as f64;
        assert!((0.15..0.35).contains(&share), "share {share}");
        // a source with one group stays in training
        assert!(d.iter().zip(&val).all(|(e, v)| e.source != "b" || !v));
        assert_eq!(val, train_validation(&d, 0.2, 7));
        assert_ne!(val, train_validation(&d, 0.2, 8));
    }

    #[test]
    fn folds_keep_groups_whole_and_balanced() {
        let d = data();
        let folds = k_folds(&d, 5, 1);
        let mut per_fold = [0usize; 5];
        for (e, f) in d.iter().zip(&folds) {
            assert!(*f < 5);
            for (o, of) in d.iter().zip(&folds) {
                if o.source == e.source && o.group == e.group {
                    assert_eq!(f, of);
                }
            }
            if e.source == "a" {
                per_fold[*f] += 1;
            }
        }
        let (lo, hi) = (
            per_fold.iter().min().unwrap(),
            per_fold.iter().max().unwrap(),
        );
        assert!(hi - lo <= 19, "{per_fold:?}");
        assert_eq!(folds, k_folds(&d, 5, 1));
    }
}
