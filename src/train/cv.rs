//! Cross-validation of the whole training procedure: k folds by `(source, group)`, or leave-source-out.
//!
//! Each fold trains exactly as `saring train` does (including its own inner folds, whose out-of-fold
//! scores pick smoothing, the logistic layer and thresholds) on the other folds, then scores its held-out rows. Pooling the held-out
//! scores gives per-source figures on text no model saw a group-mate of. Leave-source-out goes further:
//! each source is scored by a model trained on every other source, which is what a blog that resembles
//! none of the training sets gets — the figure that predicts a new site.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::decision::Decision;
use crate::model::tokenize::Features;
use crate::train::corpus::Example;
use crate::train::quality::{report, report_by_source, Report, Scored};
use crate::train::split;
use crate::train::{self, Options};

/// How rows are assigned to folds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `k` folds, each source's groups spread over them (see `split::k_folds`).
    KFold(usize),
    /// One fold per source: a source is scored by a model that never saw any of it.
    LeaveSourceOut,
}

impl Scheme {
    /// The scheme's name in reports and fold files.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::KFold(_) => "k-fold",
            Scheme::LeaveSourceOut => "leave-source-out",
        }
    }

    /// Each example's fold.
    fn assign(self, examples: &[Example], seed: u64) -> Vec<usize> {
        match self {
            Scheme::KFold(k) => split::k_folds(examples, k, seed),
            Scheme::LeaveSourceOut => {
                let sources: BTreeMap<&str, usize> = examples
                    .iter()
                    .map(|e| e.source.as_str())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| (s, i))
                    .collect();
                examples
                    .iter()
                    .map(|e| sources[e.source.as_str()])
                    .collect()
            }
        }
    }
}

/// What one fold did.
#[derive(Debug, Clone, Serialize)]
pub struct Fold {
    /// Fold number, from 0.
    pub fold: usize,
    /// Rows the fold's model was trained (and inner-validated) on.
    pub train_rows: usize,
    /// Rows it was tested on.
    pub test_rows: usize,
    /// The smoothing it chose.
    pub alpha: f64,
    /// The logistic layer's inverse regularisation strength it chose, if it trained one.
    pub c: Option<f64>,
    /// The interpolation it chose, if it trained a logistic layer.
    pub beta: Option<f64>,
    /// Its thresholds on spam log-odds.
    pub accept_below: f64,
    /// See `accept_below`.
    pub reject_at: f64,
    /// The threshold bounds that gave way on its inner folds' scores.
    pub gave_way: Vec<crate::train::thresholds::Bound>,
}

/// One row's held-out score, by its position in the examples given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeldOut {
    /// The example's index.
    pub index: usize,
    /// The fold that held it out.
    pub fold: usize,
    /// The score of the model that did not see it.
    pub log_odds: f64,
    /// That model's decision at its own thresholds.
    pub decision: Decision,
}

/// Pooled held-out figures.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The scheme's name.
    pub scheme: &'static str,
    /// What each fold did.
    pub folds: Vec<Fold>,
    /// All sources together.
    pub overall: Report,
    /// Per source.
    pub by_source: BTreeMap<String, Report>,
    /// Every row's held-out score, in the order of the examples (for `--folds-out`).
    #[serde(skip)]
    pub held_out: Vec<HeldOut>,
}

/// Cross-validate the training procedure under `scheme`.
pub fn cross_validate(
    examples: &[Example],
    scheme: Scheme,
    opts: &Options,
) -> Result<Outcome, train::Error> {
    let fold_of = scheme.assign(examples, opts.seed);
    let folds_n = fold_of.iter().copied().max().map_or(0, |m| m + 1);
    let mut folds = Vec::new();
    let mut held_out = Vec::with_capacity(examples.len());
    for fold in 0..folds_n {
        let train_set: Vec<Example> = examples
            .iter()
            .zip(&fold_of)
            .filter(|(_, &f)| f != fold)
            .map(|(e, _)| e.clone())
            .collect();
        let test_set: Vec<usize> = (0..examples.len())
            .filter(|&i| fold_of[i] == fold)
            .collect();
        if test_set.is_empty() {
            continue;
        }
        let outcome = train::train(&train_set, opts)?;
        let model = &outcome.model;
        let thresholds = model.thresholds();
        let mut tokenizer = model.tokenizer();
        let (mut features, mut ids) = (Features::new(), Vec::new());
        for &index in &test_set {
            let score = model.score_document(
                &mut tokenizer,
                &examples[index].document(),
                &mut features,
                &mut ids,
            );
            held_out.push(HeldOut {
                index,
                fold,
                log_odds: score.log_odds,
                decision: thresholds.decide(score.log_odds),
            });
        }
        folds.push(Fold {
            fold,
            train_rows: train_set.len(),
            test_rows: test_set.len(),
            alpha: outcome.alpha,
            c: outcome.logistic.as_ref().map(|l| l.c),
            beta: outcome.logistic.as_ref().map(|l| l.beta),
            accept_below: thresholds.accept_below,
            reject_at: thresholds.reject_at,
            gave_way: outcome.thresholds.gave_way.clone(),
        });
    }
    held_out.sort_by_key(|h| h.index);
    let pooled: Vec<(&str, Scored, Decision)> = held_out
        .iter()
        .map(|h| {
            let e = &examples[h.index];
            let scored = Scored {
                label: e.label,
                log_odds: h.log_odds,
            };
            (e.source.as_str(), scored, h.decision)
        })
        .collect();
    let (scored, decisions): (Vec<Scored>, Vec<Decision>) =
        pooled.iter().map(|&(_, s, d)| (s, d)).unzip();
    Ok(Outcome {
        scheme: scheme.name(),
        folds,
        overall: report(&scored, &decisions),
        by_source: report_by_source(pooled),
        held_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::synthetic;

    #[test]
    fn every_row_is_tested_once_by_a_model_that_never_saw_its_group() {
        let data = synthetic::examples();
        let opts = Options {
            alphas: vec![1.0],
            ..Options::default()
        };
        let out = cross_validate(&data, Scheme::KFold(4), &opts).unwrap();
        assert_eq!(out.overall.n, data.len());
        let tested: usize = out.folds.iter().map(|f| f.test_rows).sum();
        assert_eq!(tested, data.len());
        for f in &out.folds {
            assert_eq!(f.train_rows + f.test_rows, data.len());
        }
        assert_eq!(out.by_source.len(), 2);
        assert!(out.overall.f1 > 0.8, "{:?}", out.overall);
        assert_eq!(out.held_out.len(), data.len());
        assert!(out.held_out.windows(2).all(|w| w[0].index < w[1].index));
    }

    #[test]
    fn leaving_a_source_out_scores_it_with_a_model_that_saw_none_of_it() {
        let data = synthetic::examples();
        let opts = Options {
            alphas: vec![1.0],
            ..Options::default()
        };
        let out = cross_validate(&data, Scheme::LeaveSourceOut, &opts).unwrap();
        assert_eq!(out.scheme, "leave-source-out");
        let sources: std::collections::BTreeSet<&str> =
            data.iter().map(|e| e.source.as_str()).collect();
        assert_eq!(out.folds.len(), sources.len());
        for h in &out.held_out {
            // A fold is one source: every row of that fold is of the same source, and the fold's
            // model was trained on exactly the rows of the other sources.
            let source = &data[h.index].source;
            let fold = &out.folds.iter().find(|f| f.fold == h.fold).unwrap();
            let of_source = data.iter().filter(|e| &e.source == source).count();
            assert_eq!(fold.test_rows, of_source);
            assert_eq!(fold.train_rows, data.len() - of_source);
        }
        assert_eq!(out.held_out.len(), data.len());
    }
}
