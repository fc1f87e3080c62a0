//! Splits that keep a group on one side: the inner folds of `saring train` and the folds of `saring cv`.
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
