//! Training: tokenize, prune the vocabulary, fit linfa-bayes' `MultinomialNb` in dense batches, pick the
//! smoothing and the thresholds on a group-split validation set, and export the sparse serving model.
//!
//! Three things shape this module:
//! - linfa-bayes takes dense `Array2` input only. A documents × vocabulary matrix of the whole corpus would
//!   be gigabytes, so documents are fed `batch_rows` at a time through `fit_with`, which accumulates the
//!   per-class feature counts exactly as one big fit would.
//! - linfa-bayes 0.8.1 calls `dbg!` on each class histogram in every `fit_with`, printing the whole model
//!   to stderr. The build patches that one line out (`vendor/linfa-bayes`), so a trainer sees the progress
//!   bar and nothing of the process's stderr is ever redirected.
//! - Serving must not depend on linfa, nor pay O(vocabulary) per comment. The fitted priors and
//!   per-feature log-probabilities are read out of linfa's model unchanged and become the sparse table of
//!   [`Model`]; `tests` prove the two score alike.

pub mod card;
pub mod corpus;
pub mod cv;
pub mod logistic;
pub mod quality;
pub mod split;
pub mod synthetic;
pub mod thresholds;

use std::collections::BTreeMap;

use indicatif::{ProgressBar, ProgressStyle};
use linfa::dataset::DatasetBase;
use linfa::traits::FitWith;
use linfa::ParamGuard;
use linfa_bayes::{MultinomialNb, MultinomialNbParams, NaiveBayesError};
use ndarray::{Array1, Array2};
use rustc_hash::FxHashMap;
use serde::Deserialize;

use crate::model::decision::Thresholds;
use crate::model::tokenize::{Features, Settings, Tokenizer};
use crate::model::{Model, Parts, Weighting};
use crate::train::corpus::{Example, Label};
use crate::train::quality::{report_at, report_by_source, Report, Scored};
use thresholds::Targets;

/// Default minimum number of training documents a feature must occur in. A feature seen once is as
/// likely a typo or one user's name as a signal, and pruning it halves the vocabulary.
pub const DEFAULT_MIN_DF: u32 = 2;
/// Default cap on the vocabulary; beyond it, the rarest features are dropped.
pub const DEFAULT_MAX_FEATURES: usize = 60_000;
/// Default documents per `fit_with` batch: 1024 × 60,000 × 8 bytes ≈ 0.5 GB of dense matrix at a time.
pub const DEFAULT_BATCH_ROWS: usize = 1024;
/// Smoothing values tried on the validation split. Small values win here: with thousands of rare but
/// telling features (brand names, hosts), heavy smoothing pulls them all towards "no evidence".
pub const DEFAULT_ALPHAS: [f64; 5] = [0.003, 0.01, 0.03, 0.1, 0.3];
/// Default exponent of the per-source balancing, between plain counts (0) and equal weight per source
/// (1): of 0, 0.4, 0.5 and 1 in 5-fold cross-validation by group, 0.4 was the one value that kept every
/// source above its quality bar (0.5 traded Indonesian gambling for English SMS, 1 gave up gambling).
pub const DEFAULT_SOURCE_BALANCE: f64 = 0.4;
/// Default share of each source's rows, by whole groups, held out for validation.
pub const DEFAULT_VALIDATION_FRACTION: f64 = 0.2;

/// Everything that shapes a training run. Two runs with equal options on equal data give equal bytes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Tokenizer settings recorded in the model.
    pub settings: Settings,
    /// Share of each source held out for validation, by group.
    pub validation_fraction: f64,
    /// Seed of the group split.
    pub seed: u64,
    /// Minimum document frequency of a kept feature.
    pub min_df: u32,
    /// Vocabulary cap.
    pub max_features: usize,
    /// Documents per dense batch.
    pub batch_rows: usize,
    /// Smoothing candidates.
    pub alphas: Vec<f64>,
    /// How much a present feature counts (stored in the model).
    pub weighting: Weighting,
    /// Exponent of the per-source balancing of the class histograms (see `source_balance_weights`).
    pub source_balance: f64,
    /// Limits for threshold selection.
    pub targets: Targets,
    /// Draw progress bars on the terminal.
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            settings: Settings::default(),
            validation_fraction: DEFAULT_VALIDATION_FRACTION,
            seed: 0,
            min_df: DEFAULT_MIN_DF,
            max_features: DEFAULT_MAX_FEATURES,
            batch_rows: DEFAULT_BATCH_ROWS,
            alphas: DEFAULT_ALPHAS.to_vec(),
            weighting: Weighting::default(),
            source_balance: DEFAULT_SOURCE_BALANCE,
            targets: Targets::default(),
            progress: false,
        }
    }
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// There is nothing to learn from.
    #[error("the training split has no {0} rows: both spam and ham are needed")]
    MissingClass(&'static str),
    /// The validation split is empty, so neither alpha nor thresholds can be chosen.
    #[error("the validation split is empty: give data with at least two groups per source, or more rows")]
    NoValidation,
    /// No feature survived pruning.
    #[error(
        "no feature occurs in at least {0} training documents: lower --min-df or give more data"
    )]
    EmptyVocabulary(u32),
    /// linfa refused the fit.
    #[error("fitting the naive Bayes model failed")]
    Fit(#[from] NaiveBayesError),
    /// linfa's fitted model could not be read out.
    #[error("reading the fitted model out of linfa failed")]
    Export(#[from] serde_json::Error),
    /// The exported model did not validate.
    #[error("the trained model is not valid: {0}")]
    Invalid(String),
    /// An option is out of range.
    #[error("invalid option: {0}")]
    Option(String),
}

/// The result of measuring one smoothing value on validation.
#[derive(Debug, Clone, PartialEq)]
pub struct AlphaTrial {
    /// The smoothing.
    pub alpha: f64,
    /// Thresholds chosen for it.
    pub thresholds: Thresholds,
    /// Validation figures at those thresholds.
    pub report: Report,
    /// Mean over sources of each source's F1 at probability 0.5.
    pub macro_f1: f64,
}

/// A trained model and how it was chosen.
#[derive(Debug)]
pub struct Outcome {
    /// The model, ready to save.
    pub model: Model,
    /// Training and validation row counts.
    pub train_rows: usize,
    /// Rows held out for validation.
    pub validation_rows: usize,
    /// Every smoothing value tried, in order.
    pub alpha_trials: Vec<AlphaTrial>,
    /// Validation figures of the chosen model, all sources together.
    pub validation: Report,
    /// Validation figures per source.
    pub validation_by_source: BTreeMap<String, Report>,
    /// Which `(source, group)` pairs were held out.
    pub validation_groups: Vec<(String, String)>,
}

/// Train a model on `examples`, holding out a group-split validation set.
pub fn train(examples: &[Example], opts: &Options) -> Result<Outcome, Error> {
    check_options(opts)?;
    let is_validation = split::train_validation(examples, opts.validation_fraction, opts.seed);
    let (mut train_set, mut validation_set) = (Vec::new(), Vec::new());
    for (e, &v) in examples.iter().zip(&is_validation) {
        if v {
            validation_set.push(e);
        } else {
            train_set.push(e);
        }
    }
    if validation_set.is_empty() {
        return Err(Error::NoValidation);
    }
    for (label, name) in [(Label::Ham, "ham"), (Label::Spam, "spam")] {
        if !train_set.iter().any(|e| e.label == label) {
            return Err(Error::MissingClass(name));
        }
    }

    let corpus = Encoded::build(&train_set, opts)?;
    let counts = fit(&corpus, 1.0, opts)?.counts()?;

    let validation_features = tokenize_all(&validation_set, opts.settings, None);
    let validation_ids: Vec<Vec<u32>> = validation_features
        .iter()
        .map(|f| {
            f.iter()
                .filter_map(|t| corpus.index.get(t).copied())
                .collect()
        })
        .collect();
    let sources: Vec<&str> = {
        let mut v: Vec<&str> = validation_set.iter().map(|e| e.source.as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let stratum: Vec<usize> = validation_set
        .iter()
        .map(|e| sources.binary_search(&e.source.as_str()).unwrap_or(0))
        .collect();
    let score_with = |log_prior: [f64; 2], log_prob: &[[f64; 2]]| -> Vec<Scored> {
        validation_set
            .iter()
            .zip(&validation_ids)
            .map(|(e, ids)| Scored {
                label: e.label,
                log_odds: crate::model::score_sparse(
                    log_prior,
                    log_prob,
                    &corpus.value,
                    &opts.weighting,
                    ids,
                )
                .log_odds,
            })
            .collect()
    };

    let mut alpha_trials = Vec::new();
    for &alpha in &opts.alphas {
        let (log_prior, log_prob) = counts.smoothed(alpha);
        let scored = score_with(log_prior, &log_prob);
        let thresholds = thresholds::choose(&scored, &stratum, opts.targets);
        alpha_trials.push(AlphaTrial {
            alpha,
            thresholds,
            report: report_at(&scored, &thresholds),
            macro_f1: macro_f1(&scored, &stratum, sources.len(), &thresholds),
        });
    }
    let best = best_alpha(&alpha_trials);

    // The shipped weights are linfa's own, from a fit at the chosen smoothing.
    let fitted = fit(&corpus, best, opts)?;
    let (log_prior, log_prob) = fitted.log_probabilities()?;
    let scored = score_with(log_prior, &log_prob);
    let thresholds = thresholds::choose(&scored, &stratum, opts.targets);
    let model = Model::from_parts(Parts {
        version: String::new(),
        settings: opts.settings,
        alpha: best,
        weighting: opts.weighting,
        thresholds,
        log_prior,
        vocabulary: corpus.tokens.into_iter().zip(log_prob).collect(),
    })
    .map_err(Error::Invalid)?;

    let mut validation_groups: Vec<(String, String)> = validation_set
        .iter()
        .map(|e| (e.source.clone(), e.group.clone()))
        .collect();
    validation_groups.sort();
    validation_groups.dedup();
    Ok(Outcome {
        model,
        train_rows: train_set.len(),
        validation_rows: validation_set.len(),
        alpha_trials,
        validation: report_at(&scored, &thresholds),
        validation_by_source: report_by_source(
            validation_set
                .iter()
                .zip(&scored)
                .map(|(e, s)| (e.source.as_str(), *s, thresholds.decide(s.log_odds))),
        ),
        validation_groups,
    })
}

fn check_options(opts: &Options) -> Result<(), Error> {
    if !(opts.validation_fraction > 0.0 && opts.validation_fraction < 1.0) {
        return Err(Error::Option(format!(
            "validation fraction {} must lie strictly between 0 and 1",
            opts.validation_fraction
        )));
    }
    if opts.alphas.is_empty() || opts.alphas.iter().any(|a| !(a.is_finite() && *a > 0.0)) {
        return Err(Error::Option("smoothing values must be positive".into()));
    }
    if !(opts.source_balance.is_finite() && opts.source_balance >= 0.0) {
        return Err(Error::Option(
            "source balance must be a non-negative number".into(),
        ));
    }
    if opts.batch_rows == 0 || opts.max_features == 0 {
        return Err(Error::Option(
            "batch rows and max features must be positive".into(),
        ));
    }
    Ok(())
}

/// The smoothing with the best mean per-source F1 on validation; ties go to less spam accepted, then to
/// the earlier value in the list.
///
/// F1 rather than the three rates because the rates are then set by the thresholds chosen for that
/// smoothing; what the smoothing itself changes is how well the model separates the classes. The mean over
/// sources keeps the largest source from deciding for all.
fn best_alpha(trials: &[AlphaTrial]) -> f64 {
    let key = |t: &AlphaTrial| (-t.macro_f1, t.report.spam_accepted_rate);
    trials
        .iter()
        .fold(None::<&AlphaTrial>, |best, t| match best {
            Some(b) if key(b) <= key(t) => Some(b),
            _ => Some(t),
        })
        .map_or(1.0, |t| t.alpha)
}

/// Per-document weights that even out the sources within each class: a document of source `s` and class
/// `c` weighs `(mean_s' n(s', c) / n(s, c))^power`.
///
/// Without them the class histograms are those of the largest source (14,000 Indonesian YouTube comments
/// against 1,440 English ones), and English link spam looks like ham beside Indonesian gambling spam. Power
/// 0 is plain naive Bayes; 1 makes every source weigh the same. Priors stay the true class counts: linfa
/// takes them from row counts, which weights do not change.
fn source_balance_weights(examples: &[&Example], power: f64) -> Vec<f64> {
    let mut n: BTreeMap<(&str, usize), usize> = BTreeMap::new();
    for e in examples {
        *n.entry((e.source.as_str(), e.label.index())).or_default() += 1;
    }
    let mut mean = [(0usize, 0usize); 2];
    for (&(_, class), &count) in &n {
        mean[class].0 += count;
        mean[class].1 += 1;
    }
    examples
        .iter()
        .map(|e| {
            let class = e.label.index();
            let (total, sources) = mean[class];
            let mean = total as f64 / sources.max(1) as f64;
            (mean / n[&(e.source.as_str(), class)] as f64).powf(power)
        })
        .collect()
}

/// Mean over strata of each stratum's F1 at probability 0.5.
fn macro_f1(scored: &[Scored], stratum: &[usize], strata: usize, thresholds: &Thresholds) -> f64 {
    let mut sum = 0.0;
    for k in 0..strata {
        let members: Vec<Scored> = scored
            .iter()
            .zip(stratum)
            .filter(|(_, &s)| s == k)
            .map(|(x, _)| *x)
            .collect();
        sum += report_at(&members, thresholds).f1;
    }
    sum / strata.max(1) as f64
}

/// Tokenize examples (each feature once per document), optionally with a progress bar.
fn tokenize_all(
    examples: &[&Example],
    settings: Settings,
    bar: Option<&ProgressBar>,
) -> Vec<Features> {
    let mut tokenizer = Tokenizer::new(settings);
    examples
        .iter()
        .map(|e| {
            let mut f = Features::new();
            tokenizer.tokenize(&e.document(), &mut f);
            if let Some(b) = bar {
                b.inc(1);
            }
            f
        })
        .collect()
}

/// The training documents as sorted vocabulary ids, and the vocabulary.
struct Encoded {
    /// Vocabulary in ascending byte order.
    tokens: Vec<String>,
    index: FxHashMap<String, u32>,
    /// Each token's value when present (its family's weight).
    value: Vec<f64>,
    docs: Vec<Vec<u32>>,
    labels: Vec<usize>,
    /// Each document's weight in the class histograms (see [`source_balance_weights`]).
    row_weight: Vec<f64>,
}

impl Encoded {
    fn build(train_set: &[&Example], opts: &Options) -> Result<Encoded, Error> {
        let bar = progress_bar(opts.progress, train_set.len() as u64, "tokenizing");
        let features = tokenize_all(train_set, opts.settings, Some(&bar));
        bar.finish_and_clear();

        let mut df: FxHashMap<&str, u32> = FxHashMap::default();
        for f in &features {
            for t in f.iter() {
                *df.entry(t).or_default() += 1;
            }
        }
        let mut kept: Vec<(&str, u32)> =
            df.into_iter().filter(|&(_, n)| n >= opts.min_df).collect();
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        kept.truncate(opts.max_features);
        if kept.is_empty() {
            return Err(Error::EmptyVocabulary(opts.min_df));
        }
        let mut tokens: Vec<String> = kept.into_iter().map(|(t, _)| t.to_string()).collect();
        tokens.sort_unstable();
        let index: FxHashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let docs = features
            .iter()
            .map(|f| {
                let mut ids: Vec<u32> = f.iter().filter_map(|t| index.get(t).copied()).collect();
                ids.sort_unstable();
                ids
            })
            .collect();
        Ok(Encoded {
            value: tokens.iter().map(|t| opts.weighting.value_of(t)).collect(),
            tokens,
            index,
            docs,
            labels: train_set.iter().map(|e| e.label.index()).collect(),
            row_weight: source_balance_weights(train_set, opts.source_balance),
        })
    }
}

fn progress_bar(visible: bool, len: u64, what: &'static str) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}

/// A fitted linfa model.
struct Fitted(MultinomialNb<f64, usize>);

/// Fit `MultinomialNb` over the corpus in dense batches of `opts.batch_rows` documents.
fn fit(corpus: &Encoded, alpha: f64, opts: &Options) -> Result<Fitted, Error> {
    let params = MultinomialNbParams::<f64, usize>::new()
        .alpha(alpha)
        .check()?;
    let vocab = corpus.tokens.len();
    let bar = progress_bar(opts.progress, corpus.docs.len() as u64, "fitting");
    let mut model = None;
    let mut start = 0;
    for (docs, labels) in corpus
        .docs
        .chunks(opts.batch_rows)
        .zip(corpus.labels.chunks(opts.batch_rows))
    {
        let mut x = Array2::<f64>::zeros((docs.len(), vocab));
        for (row, ids) in docs.iter().enumerate() {
            let doc = opts.weighting.document_scale(ids.len());
            let row_weight = corpus.row_weight[start + row];
            for &id in ids {
                x[[row, id as usize]] = corpus.value[id as usize] * doc * row_weight;
            }
        }
        let batch = DatasetBase::new(x, Array1::from(labels.to_vec()));
        model = Some(params.fit_with(model, &batch)?);
        start += docs.len();
        bar.inc(docs.len() as u64);
    }
    bar.finish_and_clear();
    // Encoded::build refuses an empty corpus, so at least one batch ran.
    model.map(Fitted).ok_or(Error::MissingClass("training"))
}

/// linfa's per-class histogram, as its serde form spells it.
#[derive(Deserialize)]
struct ClassDump {
    class_count: usize,
    prior: f64,
    feature_count: Array1<f64>,
    feature_log_prob: Array1<f64>,
}

#[derive(Deserialize)]
struct ModelDump {
    class_info: BTreeMap<String, ClassDump>,
}

/// Raw per-class counts, from which any smoothing's log-probabilities follow.
struct Counts {
    class_count: [usize; 2],
    feature_count: [Array1<f64>; 2],
}

impl Fitted {
    /// linfa keeps its histograms private but serialises them; reading them through `serde_json::Value`
    /// keeps every `f64` bit-exact (no text round trip).
    fn dump(&self) -> Result<[ClassDump; 2], Error> {
        let mut dump: ModelDump = serde_json::from_value(serde_json::to_value(&self.0)?)?;
        let mut take = |label: Label| {
            dump.class_info
                .remove(&label.index().to_string())
                .ok_or(Error::MissingClass(label.as_str()))
        };
        Ok([take(Label::Ham)?, take(Label::Spam)?])
    }

    /// The model's `[ln P(ham), ln P(spam)]` and per-token `[ln P(t|ham), ln P(t|spam)]`, as linfa
    /// computes them in `joint_log_likelihood`.
    fn log_probabilities(&self) -> Result<([f64; 2], Vec<[f64; 2]>), Error> {
        let [ham, spam] = self.dump()?;
        let log_prob = ham
            .feature_log_prob
            .iter()
            .zip(spam.feature_log_prob.iter())
            .map(|(&h, &s)| [h, s])
            .collect();
        Ok(([ham.prior.ln(), spam.prior.ln()], log_prob))
    }

    fn counts(&self) -> Result<Counts, Error> {
        let [ham, spam] = self.dump()?;
        Ok(Counts {
            class_count: [ham.class_count, spam.class_count],
            feature_count: [ham.feature_count, spam.feature_count],
        })
    }
}

impl Counts {
    /// Log-probabilities at smoothing `alpha`, by linfa's formula
    /// (`ln(count + α) − ln Σ(count + α)`), used to compare smoothing values without refitting.
    fn smoothed(&self, alpha: f64) -> ([f64; 2], Vec<[f64; 2]>) {
        let per_class = |fc: &Array1<f64>| {
            let smoothed = fc.mapv(|x| x + alpha);
            let total = smoothed.sum().ln();
            smoothed.mapv(|x| x.ln() - total)
        };
        let (h, s) = (
            per_class(&self.feature_count[0]),
            per_class(&self.feature_count[1]),
        );
        let n = (self.class_count[0] + self.class_count[1]) as f64;
        let log_prior = [
            (self.class_count[0] as f64 / n).ln(),
            (self.class_count[1] as f64 / n).ln(),
        ];
        (
            log_prior,
            h.iter().zip(s.iter()).map(|(&h, &s)| [h, s]).collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::synthetic;
    use linfa_bayes::NaiveBayes;

    fn small_opts() -> Options {
        Options {
            batch_rows: 37,
            alphas: vec![0.1, 1.0],
            ..Options::default()
        }
    }

    #[test]
    fn sparse_scores_agree_with_linfa_predict_log_proba() {
        let data = synthetic::examples();
        let refs: Vec<&Example> = data.iter().collect();
        let opts = small_opts();
        let corpus = Encoded::build(&refs, &opts).unwrap();
        let fitted = fit(&corpus, 0.3, &opts).unwrap();
        let (log_prior, log_prob) = fitted.log_probabilities().unwrap();

        // Held-out comments, plus their first two words: linfa's predict_log_proba normalises without
        // log-sum-exp, so it is finite only while a document's joint likelihood stays above about e^-745.
        let mut held_out = synthetic::held_out();
        let short: Vec<Example> = held_out
            .iter()
            .map(|e| Example {
                text: e
                    .text
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" "),
                ..e.clone()
            })
            .collect();
        held_out.extend(short);
        let held_refs: Vec<&Example> = held_out.iter().collect();
        let features = tokenize_all(&held_refs, opts.settings, None);
        let mut dense = Array2::<f64>::zeros((features.len(), corpus.tokens.len()));
        let mut sparse = Vec::new();
        for (row, f) in features.iter().enumerate() {
            let ids: Vec<u32> = f
                .iter()
                .filter_map(|t| corpus.index.get(t).copied())
                .collect();
            let doc = opts.weighting.document_scale(ids.len());
            for &id in &ids {
                dense[[row, id as usize]] = corpus.value[id as usize] * doc;
            }
            sparse.push(crate::model::score_sparse(
                log_prior,
                &log_prob,
                &corpus.value,
                &opts.weighting,
                &ids,
            ));
        }

        // Every document: the joint log-likelihoods, which linfa computes without overflow.
        let jll = fitted.0.joint_log_likelihood(dense.view());
        for (row, s) in sparse.iter().enumerate() {
            let linfa_odds = jll[&1][row] - jll[&0][row];
            assert!(
                (linfa_odds - s.log_odds).abs() <= 1e-9,
                "row {row}: linfa log-odds {linfa_odds}, sparse {}",
                s.log_odds
            );
        }

        // Wherever linfa's own predict_log_proba is finite: the normalised log-probabilities.
        let (linfa_log_proba, classes) = fitted.0.predict_log_proba(dense.view());
        assert_eq!(classes, vec![&0, &1]);
        let mut compared = 0;
        for (row, s) in sparse.iter().enumerate() {
            if !linfa_log_proba.row(row).iter().all(|l| l.is_finite()) {
                continue;
            }
            for class in 0..2 {
                let l = linfa_log_proba[[row, class]];
                assert!(
                    (l - s.log_proba[class]).abs() <= 1e-9,
                    "row {row} class {class}: linfa {l} sparse {}",
                    s.log_proba[class]
                );
            }
            compared += 1;
        }
        assert!(
            compared >= 40,
            "only {compared} documents had a finite linfa log-probability"
        );
    }

    #[test]
    fn counts_reproduce_linfa_smoothing_exactly() {
        let data = synthetic::examples();
        let refs: Vec<&Example> = data.iter().collect();
        let opts = small_opts();
        let corpus = Encoded::build(&refs, &opts).unwrap();
        let counts = fit(&corpus, 1.0, &opts).unwrap().counts().unwrap();
        let direct = fit(&corpus, 0.1, &opts)
            .unwrap()
            .log_probabilities()
            .unwrap();
        assert_eq!(counts.smoothed(0.1), direct);
    }

    #[test]
    fn training_is_deterministic_and_learns() {
        let data = synthetic::examples();
        let a = train(&data, &small_opts()).unwrap();
        let b = train(&data, &small_opts()).unwrap();
        assert_eq!(a.model.to_bytes(), b.model.to_bytes());
        assert!(a.validation.f1 > 0.8, "{:?}", a.validation);
        assert!(a.validation_rows > 0 && a.train_rows > a.validation_rows);

        let other_seed = train(
            &data,
            &Options {
                seed: 99,
                ..small_opts()
            },
        )
        .unwrap();
        assert_ne!(a.validation_groups, other_seed.validation_groups);
    }

    #[test]
    fn a_corpus_without_spam_is_refused() {
        let data: Vec<Example> = synthetic::examples()
            .into_iter()
            .filter(|e| e.label == Label::Ham)
            .collect();
        assert!(matches!(
            train(&data, &small_opts()),
            Err(Error::MissingClass("spam"))
        ));
    }
}
