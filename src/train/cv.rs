//! k-fold cross-validation of the whole training procedure, split by `(source, group)`.
//!
//! Each fold trains exactly as `saring train` does (including its own inner validation split that picks
//! smoothing and thresholds) on the other folds, then scores its held-out groups. Pooling the held-out
//! scores gives per-source figures on text no model saw a group-mate of.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::decision::Decision;
use crate::model::tokenize::Features;
use crate::train::corpus::Example;
use crate::train::quality::{report, report_by_source, Report, Scored};
use crate::train::split;
use crate::train::{self, Options};

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
    /// Its thresholds on spam log-odds.
    pub accept_below: f64,
    /// See `accept_below`.
    pub reject_at: f64,
}

/// Pooled held-out figures.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Number of folds.
    pub folds: Vec<Fold>,
    /// All sources together.
    pub overall: Report,
    /// Per source.
    pub by_source: BTreeMap<String, Report>,
}

/// Cross-validate over `k` folds.
pub fn cross_validate(
    examples: &[Example],
    k: usize,
    opts: &Options,
) -> Result<Outcome, train::Error> {
    let fold_of = split::k_folds(examples, k, opts.seed);
    let mut folds = Vec::new();
    let mut pooled: Vec<(&str, Scored, Decision)> = Vec::with_capacity(examples.len());
    for fold in 0..k {
        let train_set: Vec<Example> = examples
            .iter()
            .zip(&fold_of)
            .filter(|(_, &f)| f != fold)
            .map(|(e, _)| e.clone())
            .collect();
        let test_set: Vec<&Example> = examples
            .iter()
            .zip(&fold_of)
            .filter(|(_, &f)| f == fold)
            .map(|(e, _)| e)
            .collect();
        if test_set.is_empty() {
            continue;
        }
        let outcome = train::train(&train_set, opts)?;
        let model = &outcome.model;
        let thresholds = model.thresholds();
        let mut tokenizer = model.tokenizer();
        let (mut features, mut ids) = (Features::new(), Vec::new());
        for e in &test_set {
            let score =
                model.score_document(&mut tokenizer, &e.document(), &mut features, &mut ids);
            let scored = Scored {
                label: e.label,
                log_odds: score.log_odds,
            };
            pooled.push((e.source.as_str(), scored, thresholds.decide(score.log_odds)));
        }
        folds.push(Fold {
            fold,
            train_rows: train_set.len(),
            test_rows: test_set.len(),
            alpha: model.alpha(),
            accept_below: thresholds.accept_below,
            reject_at: thresholds.reject_at,
        });
    }
    let (scored, decisions): (Vec<Scored>, Vec<Decision>) =
        pooled.iter().map(|&(_, s, d)| (s, d)).unzip();
    Ok(Outcome {
        folds,
        overall: report(&scored, &decisions),
        by_source: report_by_source(pooled),
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
        let out = cross_validate(&data, 4, &opts).unwrap();
        assert_eq!(out.overall.n, data.len());
        let tested: usize = out.folds.iter().map(|f| f.test_rows).sum();
        assert_eq!(tested, data.len());
        for f in &out.folds {
            assert_eq!(f.train_rows + f.test_rows, data.len());
        }
        assert_eq!(out.by_source.len(), 2);
        assert!(out.overall.f1 > 0.8, "{:?}", out.overall);
    }
}
