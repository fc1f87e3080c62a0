//! Training: tokenize, prune the vocabulary, fit linfa-bayes' `MultinomialNb` in dense batches, pick the
//! smoothing on a group-split validation set, optionally train a logistic layer on the naive Bayes
//! log-count ratios (NBSVM, `nbsvm`), pick the thresholds, and export the sparse serving model.
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
//!   [`Model`] (one weight per feature and a bias); `tests` prove the two score alike. The logistic
//!   layer, when trained, works on sparse rows and folds into the same table.

pub mod card;
pub mod corpus;
pub mod cv;
pub mod logistic;
pub mod nbsvm;
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
use crate::model::tokenize::{is_author_name, is_destination, Features, Settings, Tokenizer};
use crate::model::{Model, Parts, Weighting};
use crate::train::corpus::{Example, Label};
use crate::train::logistic::Fit;
use crate::train::quality::{report_at, report_by_source, Report, Scored};
use thresholds::Targets;

/// Default minimum number of training documents a feature must occur in. A feature seen once is as
/// likely a typo or one user's name as a signal, and pruning it halves the vocabulary.
pub const DEFAULT_MIN_DF: u32 = 2;
/// Default cap on the vocabulary; beyond it, the rarest features are dropped. Chosen by grouped CV on the
/// seven corpora: 60,000 → 200,000 gave +0.004 F1 pooled (+0.010 on English Instagram scams), 400,000
/// nothing more; the file stays under 5 MB and loads in tens of milliseconds.
pub const DEFAULT_MAX_FEATURES: usize = 200_000;
/// Default documents per `fit_with` batch: 16 × 200,000 × 8 bytes ≈ 26 MB of dense matrix at a time.
/// linfa copies each class's rows of a batch into a fresh matrix and recomputes every log-probability
/// after each batch: large batches cost memory traffic and page faults (a matrix above glibc's 32 MB
/// mmap threshold is fresh, zeroed pages every time: at 32 rows a training spent 16 s in the kernel, at
/// 16 rows 3 s), small ones the logarithms (4 rows took half as long again as 16).
pub const DEFAULT_BATCH_ROWS: usize = 16;
/// Smoothing values tried on the inner folds' out-of-fold scores. Small values win here: with thousands of rare but
/// telling features (brand names, hosts), heavy smoothing pulls them all towards "no evidence".
pub const DEFAULT_ALPHAS: [f64; 5] = [0.003, 0.01, 0.03, 0.1, 0.3];
/// Default exponent of the per-source balancing, between plain counts (0) and equal weight per source
/// (1). Chosen by grouped CV on the seven corpora with the logistic layer: 0 lost 0.04 F1 on the small
/// sources; 0.4 → 0.7 gave Indonesian Instagram +0.007 and SMS +0.005 for −0.003 on the 14,000-row
/// gambling set; 1 gained little more and cost the gambling set another 0.002.
pub const DEFAULT_SOURCE_BALANCE: f64 = 0.7;
/// Default largest served weight, either way and before the document scale, of one destination feature
/// (a link's host or top-level domain, an e-mail domain). The corpora hold almost no ham with a link, so
/// uncapped every destination is learnt as proof of spam (`url.tld:org` weighed 15) and one link to a
/// paper rejected a reader's comment. At 4 a lone destination can hold a comment of ordinary length but
/// not reject it. What it cost and gained in grouped CV: docs/model.md, "What a link's destination may
/// weigh".
pub const DEFAULT_DESTINATION_CAP: f64 = 4.0;
/// Default number of inner folds (by `(source, group)`) whose out-of-fold scores choose the smoothing,
/// the logistic layer's settings and the thresholds. Five gives every row an out-of-fold score from a
/// model trained on 80% of the rows; one 20% validation split, as before, left the smaller sources a
/// single group of validation ham, so one odd comment decided their thresholds (and holds went up to a
/// third of all comments in cross-validation).
pub const DEFAULT_INNER_FOLDS: usize = 5;

/// Everything that shapes a training run. Two runs with equal options on equal data give equal bytes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Tokenizer settings recorded in the model.
    pub settings: Settings,
    /// Inner folds, by group, for the out-of-fold scores every choice is made on.
    pub inner_folds: usize,
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
    /// Further multipliers of the row weights of one `(source, class)`, after the balancing.
    pub class_weights: Vec<ClassWeight>,
    /// Largest served weight, either way, of one destination feature (a link's host or top-level domain,
    /// an e-mail domain), before the document scale; 0: no limit. See [`DEFAULT_DESTINATION_CAP`].
    pub destination_cap: f64,
    /// What is trained on top of naive Bayes, if anything.
    pub stage: Stage,
    /// Limits for threshold selection.
    pub targets: Targets,
    /// Draw progress bars on the terminal.
    pub progress: bool,
    /// Threads for the inner folds (1 = sequential); the result is the same for any number.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            settings: Settings::default(),
            inner_folds: DEFAULT_INNER_FOLDS,
            seed: 0,
            min_df: DEFAULT_MIN_DF,
            max_features: DEFAULT_MAX_FEATURES,
            batch_rows: DEFAULT_BATCH_ROWS,
            alphas: DEFAULT_ALPHAS.to_vec(),
            weighting: Weighting::default(),
            source_balance: DEFAULT_SOURCE_BALANCE,
            class_weights: Vec::new(),
            destination_cap: DEFAULT_DESTINATION_CAP,
            stage: Stage::default(),
            targets: Targets::default(),
            progress: false,
            threads: 1,
        }
    }
}

/// A multiplier of the weight of every training row of one source and class, e.g. to keep a spam-only
/// source from teaching that its topic is spam.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassWeight {
    /// The source, as in the rows' `source`.
    pub source: String,
    /// The class.
    pub label: Label,
    /// The multiplier (0 leaves the rows out of the fit).
    pub weight: f64,
}

impl std::str::FromStr for ClassWeight {
    type Err = String;

    /// `SOURCE:CLASS=WEIGHT`, e.g. `stackexchange-spam:spam=0.5`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not SOURCE:CLASS=WEIGHT (e.g. stackexchange-spam:spam=0.5)");
        let (key, weight) = s.rsplit_once('=').ok_or_else(bad)?;
        let (source, class) = key.rsplit_once(':').ok_or_else(bad)?;
        let label = Label::parse(class).ok_or_else(bad)?;
        let weight: f64 = weight.parse().map_err(|_| bad())?;
        if source.is_empty() || !(weight.is_finite() && weight >= 0.0) {
            return Err(bad());
        }
        Ok(ClassWeight {
            source: source.to_string(),
            label,
            weight,
        })
    }
}

/// What is trained on top of the naive Bayes fit.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// Nothing: the served weights are naive Bayes' log-count ratios.
    NaiveBayes,
    /// A logistic layer on naive-Bayes-scaled features, interpolated with naive Bayes (`nbsvm`).
    Logistic(LogisticStage),
}

impl Default for Stage {
    fn default() -> Self {
        Stage::Logistic(LogisticStage::default())
    }
}

/// Default inverse regularisation strengths of the logistic layer, tried on out-of-fold scores. In grouped
/// CV, C = 3 beat 1 on the Instagram sets and 1 beat 3 on the SMS sets, and folds chose either; 10 was
/// never chosen, 0.3 lost 0.04 F1 on Indonesian Instagram.
pub const DEFAULT_LOGISTIC_CS: [f64; 2] = [1.0, 3.0];
/// Default interpolations between naive Bayes (0) and the logistic layer (1), tried on out-of-fold scores
/// (Wang & Manning's NBSVM interpolates; here every fold has chosen 1 so far, and trying the others
/// costs no refit).
pub const DEFAULT_BETAS: [f64; 3] = [0.5, 0.75, 1.0];
/// Default relative gradient (to its size at the start) at which a logistic fit stops; the fits on the
/// seven corpora reach it in 50–100 iterations.
pub const DEFAULT_LOGISTIC_TOLERANCE: f64 = 1e-4;
/// Default most L-BFGS iterations of the logistic layer: a bound, three times what the fits need.
pub const DEFAULT_LOGISTIC_ITERATIONS: usize = 300;

/// The logistic layer's settings; every `(c, β)` pair is tried and the best on validation kept.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticStage {
    /// Inverse regularisation strengths (larger fits the training rows more closely).
    pub cs: Vec<f64>,
    /// Interpolations between naive Bayes (0) and the logistic layer (1).
    pub betas: Vec<f64>,
    /// Most L-BFGS iterations per fit.
    pub max_iterations: usize,
    /// Relative gradient at which a fit stops.
    pub tolerance: f64,
}

impl Default for LogisticStage {
    fn default() -> Self {
        LogisticStage {
            cs: DEFAULT_LOGISTIC_CS.to_vec(),
            betas: DEFAULT_BETAS.to_vec(),
            max_iterations: DEFAULT_LOGISTIC_ITERATIONS,
            tolerance: DEFAULT_LOGISTIC_TOLERANCE,
        }
    }
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// There is nothing to learn from.
    #[error("the training split has no {0} rows: both spam and ham are needed")]
    MissingClass(&'static str),
    /// An inner fold's training rows lack a class, so no model can be fitted for it.
    #[error("inner fold {0} has no {1} rows to train on: give data with more groups per source")]
    FoldMissingClass(usize, &'static str),
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

/// One `(c, β)` pair of the logistic layer measured on validation.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticTrial {
    /// Inverse regularisation strength.
    pub c: f64,
    /// Interpolation weight of the logistic layer.
    pub beta: f64,
    /// Thresholds chosen for it.
    pub thresholds: Thresholds,
    /// Validation figures at those thresholds.
    pub report: Report,
    /// Mean over sources of each source's F1 at probability 0.5.
    pub macro_f1: f64,
}

/// How the logistic layer was trained and chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticOutcome {
    /// The chosen inverse regularisation strength.
    pub c: f64,
    /// The chosen interpolation.
    pub beta: f64,
    /// L-BFGS iterations of the chosen fit.
    pub iterations: usize,
    /// Whether the chosen fit reached its tolerance.
    pub converged: bool,
    /// Every pair tried, in order.
    pub trials: Vec<LogisticTrial>,
}

/// A trained model and how it was chosen.
#[derive(Debug)]
pub struct Outcome {
    /// The model, ready to save.
    pub model: Model,
    /// The naive Bayes smoothing chosen.
    pub alpha: f64,
    /// The logistic layer, if one was trained.
    pub logistic: Option<LogisticOutcome>,
    /// Rows the model was trained on (every row given).
    pub train_rows: usize,
    /// Inner folds the out-of-fold scores came from.
    pub inner_folds: usize,
    /// Every smoothing value tried, in order.
    pub alpha_trials: Vec<AlphaTrial>,
    /// Out-of-fold figures of the chosen settings at the chosen thresholds, all sources together.
    pub validation: Report,
    /// The same per source.
    pub validation_by_source: BTreeMap<String, Report>,
    /// How the thresholds were chosen, and which bounds gave way.
    pub thresholds: thresholds::Choice,
}

/// Train a model on `examples`.
///
/// Every choice — the smoothing, the logistic layer's `C` and β, the thresholds — is made on
/// out-of-fold scores: the rows are split into `inner_folds` folds by `(source, group)`, a model is
/// fitted on all folds but one for each, and each row is scored by the model that did not see its
/// group. The served model is then fitted on every row with the chosen settings, and the thresholds
/// chosen on the out-of-fold scores are its own. So each threshold is set on all the rows (not on a
/// fifth of them), and the figures the card reports are out-of-fold figures of the procedure.
pub fn train(examples: &[Example], opts: &Options) -> Result<Outcome, Error> {
    check_options(opts)?;
    for (label, name) in [(Label::Ham, "ham"), (Label::Spam, "spam")] {
        if !examples.iter().any(|e| e.label == label) {
            return Err(Error::MissingClass(name));
        }
    }
    let started = std::time::Instant::now();
    let all = Interned::tokenize(examples, opts);
    let fold_of = split::k_folds(examples, opts.inner_folds, opts.seed);
    let folds = fold_of.iter().copied().max().map_or(0, |m| m + 1);
    let everything: Vec<usize> = (0..examples.len()).collect();
    let global = Encoded::build(&all, examples, &everything, opts)?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis(),
        folds,
        vocabulary = global.tokens.len(),
        "tokenized"
    );

    let strata = Strata::of(examples);
    let labels: Vec<Label> = examples.iter().map(|e| e.label).collect();
    let stage_steps = match &opts.stage {
        Stage::NaiveBayes => 0,
        Stage::Logistic(stage) => stage.cs.len(),
    };
    let bar = progress_bar(
        opts.progress,
        (1 + folds * stage_steps + usize::from(stage_steps > 0)) as u64,
        "fitting",
    );

    // linfa's histograms of every (inner fold, source) cell, unweighted: any union of folds, with any
    // weights per (source, class), is then a weighted sum of cells, so naive Bayes is fitted once.
    let cells = Cells::fit(&global, &fold_of, &strata, opts)?;
    bar.inc(1);
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis(),
        cells = cells.counts.len(),
        "naive bayes fitted"
    );

    // Each inner fold: its vocabulary (the global one's features found in at least min_df of the
    // fold's training rows), its naive Bayes counts, and its held-out rows.
    let mut df = vec![vec![0u32; global.tokens.len()]; folds];
    for (ids, &k) in global.docs.iter().zip(&fold_of) {
        for &id in ids {
            df[k][id as usize] += 1;
        }
    }
    let df_all: Vec<u32> = (0..global.tokens.len())
        .map(|v| df.iter().map(|d| d[v]).sum())
        .collect();
    let inner: Vec<Inner> = par_map(folds, opts.threads, |k| {
        let training: Vec<usize> = everything
            .iter()
            .copied()
            .filter(|&i| fold_of[i] != k)
            .collect();
        for (label, name) in [(Label::Ham, "ham"), (Label::Spam, "spam")] {
            if !training.iter().any(|&i| examples[i].label == label) {
                return Err(Error::FoldMissingClass(k, name));
            }
        }
        let keep: Vec<bool> = (0..global.tokens.len())
            .map(|v| df_all[v] - df[k][v] >= opts.min_df)
            .collect();
        let corpus = global.restrict(&keep, &training, examples, opts);
        let weight = balance(
            training.iter().map(|&i| &examples[i]),
            opts.source_balance,
            &opts.class_weights,
        );
        let counts = cells.combine(|fold| fold != k, &weight, &keep);
        let held: Vec<usize> = everything
            .iter()
            .copied()
            .filter(|&i| fold_of[i] == k)
            .collect();
        let held_ids = held.iter().map(|&i| corpus.encode(&all.docs[i])).collect();
        Ok(Inner {
            corpus,
            counts,
            held,
            held_ids,
        })
    })
    .into_iter()
    .collect::<Result<_, Error>>()?;

    let length_scale = opts.weighting.length_scale;
    let out_of_fold = |tables: &[Table]| -> Vec<Scored> {
        let mut scored = vec![
            Scored {
                label: Label::Ham,
                log_odds: 0.0
            };
            examples.len()
        ];
        for (fold, table) in inner.iter().zip(tables) {
            for (&i, ids) in fold.held.iter().zip(&fold.held_ids) {
                scored[i] = Scored {
                    label: labels[i],
                    log_odds: crate::model::score_sparse(
                        table.bias,
                        &table.weights,
                        length_scale,
                        ids,
                    )
                    .log_odds,
                };
            }
        }
        scored
    };

    let mut alpha_trials = Vec::new();
    for &alpha in &opts.alphas {
        let tables: Vec<Table> = inner
            .iter()
            .map(|f| {
                let (log_prior, log_prob) = f.counts.smoothed(alpha);
                Table::naive_bayes(log_prior, &log_prob, &f.corpus.value)
            })
            .collect();
        let (report, thresholds, macro_f1) = strata.measure(&out_of_fold(&tables), opts.targets);
        alpha_trials.push(AlphaTrial {
            alpha,
            thresholds,
            report,
            macro_f1,
        });
    }
    let alpha = best_alpha(&alpha_trials);

    // The logistic layer in every fold, for every C; β costs no refit.
    let (scored, chosen) = match &opts.stage {
        Stage::NaiveBayes => {
            let tables: Vec<Table> = inner
                .iter()
                .map(|f| {
                    let (log_prior, log_prob) = f.counts.smoothed(alpha);
                    Table::naive_bayes(log_prior, &log_prob, &f.corpus.value)
                })
                .collect();
            (out_of_fold(&tables), None)
        }
        Stage::Logistic(stage) => {
            let mut trials = Vec::new();
            let mut best: Option<(f64, Vec<Scored>, LogisticTrial)> = None;
            for &c in &stage.cs {
                let fits: Vec<(Fit, Vec<f64>)> = par_map(folds, opts.threads, |k| {
                    let f = &inner[k];
                    let (_, log_prob) = f.counts.smoothed(alpha);
                    let layer = LogisticLayer::fit(&f.corpus, &log_prob, c, stage, opts);
                    bar.inc(1);
                    layer
                });
                for &beta in &stage.betas {
                    let tables: Vec<Table> = inner
                        .iter()
                        .zip(&fits)
                        .map(|(f, (fit, ratio))| {
                            LogisticLayer::table(
                                &f.corpus,
                                fit,
                                ratio,
                                beta,
                                length_scale,
                                opts.destination_cap,
                            )
                        })
                        .collect();
                    let scored = out_of_fold(&tables);
                    let (report, thresholds, macro_f1) = strata.measure(&scored, opts.targets);
                    let trial = LogisticTrial {
                        c,
                        beta,
                        thresholds,
                        report,
                        macro_f1,
                    };
                    if best.as_ref().is_none_or(|(f1, _, _)| macro_f1 > *f1) {
                        best = Some((macro_f1, scored, trial.clone()));
                    }
                    trials.push(trial);
                }
            }
            match best {
                Some((_, scored, trial)) => (scored, Some((trial.c, trial.beta, trials))),
                // check_options refuses an empty grid.
                None => {
                    return Err(Error::Option(
                        "the logistic layer has nothing to try".into(),
                    ))
                }
            }
        }
    };
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis(),
        "out-of-fold scores chosen"
    );
    let choice = thresholds::choose(&scored, &strata.stratum, opts.targets);
    let thresholds = choice.thresholds;

    // The served model: every row, the chosen settings, the thresholds chosen out of fold.
    let corpus = global;
    let weight = balance(examples.iter(), opts.source_balance, &opts.class_weights);
    let keep = vec![true; corpus.tokens.len()];
    let (log_prior, log_prob) = cells.combine(|_| true, &weight, &keep).smoothed(alpha);
    let (table, logistic) = match (&opts.stage, chosen) {
        (Stage::Logistic(stage), Some((c, beta, trials))) => {
            let (fit, ratio) = LogisticLayer::fit(&corpus, &log_prob, c, stage, opts);
            bar.inc(1);
            let table = LogisticLayer::table(
                &corpus,
                &fit,
                &ratio,
                beta,
                length_scale,
                opts.destination_cap,
            );
            let outcome = LogisticOutcome {
                c,
                beta,
                iterations: fit.iterations,
                converged: fit.converged,
                trials,
            };
            (table, Some(outcome))
        }
        _ => (
            Table::naive_bayes(log_prior, &log_prob, &corpus.value),
            None,
        ),
    };
    bar.finish_and_clear();
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis(),
        "served model fitted"
    );
    let model = Model::from_parts(Parts {
        version: String::new(),
        settings: opts.settings,
        length_scale,
        thresholds,
        bias: table.bias,
        vocabulary: corpus.tokens.into_iter().zip(table.weights).collect(),
    })
    .map_err(Error::Invalid)?;

    Ok(Outcome {
        model,
        alpha,
        logistic,
        train_rows: examples.len(),
        inner_folds: folds,
        alpha_trials,
        validation: report_at(&scored, &thresholds),
        validation_by_source: report_by_source(
            examples
                .iter()
                .zip(&scored)
                .map(|(e, s)| (e.source.as_str(), *s, thresholds.decide(s.log_odds))),
        ),
        thresholds: choice,
    })
}

/// Unweighted naive Bayes histograms of every `(inner fold, source)` cell, over the global vocabulary.
struct Cells {
    /// `(fold, source)` of each cell.
    keys: Vec<(usize, String)>,
    counts: Vec<Counts>,
}

impl Cells {
    /// Fit linfa once per cell (in parallel); each row is in exactly one cell.
    fn fit(
        corpus: &Encoded,
        fold_of: &[usize],
        strata: &Strata,
        opts: &Options,
    ) -> Result<Cells, Error> {
        let mut rows: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
        for (i, &k) in fold_of.iter().enumerate() {
            rows.entry((k, strata.stratum[i])).or_default().push(i);
        }
        let rows: Vec<((usize, usize), Vec<usize>)> = rows.into_iter().collect();
        let vocab = corpus.tokens.len();
        let counts = par_map(rows.len(), opts.threads, |c| {
            match fit_rows(corpus, &rows[c].1, None, 1.0, opts)? {
                Some(fitted) => fitted.class_counts(vocab),
                None => Err(Error::MissingClass("training")),
            }
        })
        .into_iter()
        .collect::<Result<Vec<_>, Error>>()?;
        Ok(Cells {
            keys: rows
                .iter()
                .map(|((k, s), _)| (*k, strata.names[*s].clone()))
                .collect(),
            counts,
        })
    }

    /// The counts of the cells whose fold passes `folds`, each class of each source weighted by
    /// `weight`, restricted to the features `keep` (in their order). Class counts (the priors) are the
    /// unweighted row counts, as linfa's are.
    fn combine(
        &self,
        folds: impl Fn(usize) -> bool,
        weight: &BTreeMap<(&str, usize), f64>,
        keep: &[bool],
    ) -> Counts {
        let kept = keep.iter().filter(|&&k| k).count();
        let mut out = Counts {
            class_count: [0, 0],
            feature_count: [Array1::zeros(kept), Array1::zeros(kept)],
        };
        for ((fold, source), counts) in self.keys.iter().zip(&self.counts) {
            if !folds(*fold) {
                continue;
            }
            for class in 0..2 {
                out.class_count[class] += counts.class_count[class];
                let w = weight
                    .get(&(source.as_str(), class))
                    .copied()
                    .unwrap_or(0.0);
                if w == 0.0 || counts.class_count[class] == 0 {
                    continue;
                }
                let target = &mut out.feature_count[class];
                let mut j = 0;
                for (v, &c) in counts.feature_count[class].iter().enumerate() {
                    if keep[v] {
                        target[j] += w * c;
                        j += 1;
                    }
                }
            }
        }
        out
    }
}

/// One inner fold: naive Bayes fitted on the other folds, and this fold's rows encoded against that
/// fit's vocabulary.
struct Inner {
    corpus: Encoded,
    counts: Counts,
    /// Indices of the rows this fold holds out.
    held: Vec<usize>,
    /// Their feature ids in `corpus`'s vocabulary.
    held_ids: Vec<Vec<u32>>,
}

/// Run `f(0..n)` on up to `threads` threads and return the results in order. Each call is independent,
/// so the results are the same for any number of threads.
fn par_map<R: Send>(n: usize, threads: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, n.max(1));
    if threads == 1 {
        return (0..n).map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if k >= n {
                            break mine;
                        }
                        mine.push((k, f(k)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(results) => results,
                // A panicking worker is a bug; carry its panic to the caller rather than lose results.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    done.sort_by_key(|(k, _)| *k);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Every row's source, as an index into the sorted sources.
struct Strata {
    stratum: Vec<usize>,
    sources: usize,
    /// The sources, sorted.
    names: Vec<String>,
}

impl Strata {
    fn of(examples: &[Example]) -> Strata {
        let mut sources: Vec<&str> = examples.iter().map(|e| e.source.as_str()).collect();
        sources.sort_unstable();
        sources.dedup();
        Strata {
            stratum: examples
                .iter()
                .map(|e| sources.binary_search(&e.source.as_str()).unwrap_or(0))
                .collect(),
            sources: sources.len(),
            names: sources.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Figures at thresholds chosen for `scored`, those thresholds, and the mean per-source F1.
    fn measure(&self, scored: &[Scored], targets: Targets) -> (Report, Thresholds, f64) {
        let thresholds = thresholds::choose(scored, &self.stratum, targets).thresholds;
        (
            report_at(scored, &thresholds),
            thresholds,
            macro_f1(scored, &self.stratum, self.sources, &thresholds),
        )
    }
}

/// The served form of a model before it has thresholds: one weight per vocabulary id (the feature's
/// family value folded in) and a bias.
struct Table {
    weights: Vec<f64>,
    bias: f64,
}

impl Table {
    /// Naive Bayes as a table: a feature's weight is its log-count ratio times its value, the bias the
    /// log prior odds. Scored with the document scale, this is exactly linfa's joint log-likelihood
    /// difference.
    fn naive_bayes(log_prior: [f64; 2], log_prob: &[[f64; 2]], value: &[f64]) -> Table {
        Table {
            weights: log_prob
                .iter()
                .zip(value)
                .map(|(lp, v)| (lp[1] - lp[0]) * v)
                .collect(),
            bias: log_prior[1] - log_prior[0],
        }
    }
}

/// The logistic layer on naive Bayes' log-count ratios (`nbsvm`).
struct LogisticLayer;

impl LogisticLayer {
    /// Fit the layer at `c` on `corpus`; returns the fit and the log-count ratios it scaled by.
    fn fit(
        corpus: &Encoded,
        log_prob: &[[f64; 2]],
        c: f64,
        stage: &LogisticStage,
        opts: &Options,
    ) -> (Fit, Vec<f64>) {
        let ratio: Vec<f64> = log_prob.iter().map(|lp| lp[1] - lp[0]).collect();
        let rows = nbsvm::scaled_rows(
            &corpus.docs,
            &corpus.value,
            &ratio,
            opts.weighting.length_scale,
        );
        let settings = logistic::Settings {
            c,
            max_iterations: stage.max_iterations,
            tolerance: stage.tolerance,
            ..logistic::Settings::default()
        };
        let fit = logistic::fit(
            &rows,
            &corpus.spam(),
            &corpus.sample_weights(),
            &settings,
            |_, _| {},
        );
        tracing::debug!(
            c,
            iterations = fit.iterations,
            converged = fit.converged,
            nonzeros = rows.values.len(),
            "logistic layer fitted"
        );
        (fit, ratio)
    }

    /// The served table for interpolation `beta`, each destination feature's weight within
    /// `±destination_cap` (0: no limit), with its bias refitted on the training rows.
    fn table(
        corpus: &Encoded,
        fit: &Fit,
        ratio: &[f64],
        beta: f64,
        length_scale: f64,
        destination_cap: f64,
    ) -> Table {
        let mut weights = nbsvm::interpolate(fit, &corpus.value, ratio, beta);
        if destination_cap > 0.0 {
            for (w, token) in weights.iter_mut().zip(&corpus.tokens) {
                if is_destination(token) {
                    *w = w.clamp(-destination_cap, destination_cap);
                }
            }
        }
        let margins = nbsvm::margins(&corpus.docs, &weights, length_scale);
        let bias = nbsvm::fit_bias(&margins, &corpus.spam(), &corpus.sample_weights(), fit.bias);
        Table { weights, bias }
    }
}

fn check_options(opts: &Options) -> Result<(), Error> {
    if opts.inner_folds < 2 {
        return Err(Error::Option(format!(
            "{} inner folds: at least 2 are needed for out-of-fold scores",
            opts.inner_folds
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
    if let Stage::Logistic(stage) = &opts.stage {
        if stage.cs.is_empty() || stage.cs.iter().any(|c| !(c.is_finite() && *c > 0.0)) {
            return Err(Error::Option(
                "the logistic layer needs positive C values".into(),
            ));
        }
        if stage.betas.is_empty()
            || stage
                .betas
                .iter()
                .any(|b| !(b.is_finite() && (0.0..=1.0).contains(b)))
        {
            return Err(Error::Option(
                "interpolations (beta) must lie between 0 and 1".into(),
            ));
        }
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
fn source_balance_weights(
    examples: &[&Example],
    power: f64,
    class_weights: &[ClassWeight],
) -> Vec<f64> {
    let weight = balance(examples.iter().copied(), power, class_weights);
    examples
        .iter()
        .map(|e| weight[&(e.source.as_str(), e.label.index())])
        .collect()
}

/// The weight of each `(source, class)` among `examples`, as [`source_balance_weights`] gives it to
/// each of their rows.
fn balance<'a>(
    examples: impl Iterator<Item = &'a Example>,
    power: f64,
    class_weights: &[ClassWeight],
) -> BTreeMap<(&'a str, usize), f64> {
    let mut n: BTreeMap<(&str, usize), usize> = BTreeMap::new();
    for e in examples {
        *n.entry((e.source.as_str(), e.label.index())).or_default() += 1;
    }
    let mut mean = [(0usize, 0usize); 2];
    for (&(_, class), &count) in &n {
        mean[class].0 += count;
        mean[class].1 += 1;
    }
    n.iter()
        .map(|(&(source, class), &count)| {
            let (total, sources) = mean[class];
            let mean = total as f64 / sources.max(1) as f64;
            let extra: f64 = class_weights
                .iter()
                .filter(|w| w.source == source && w.label.index() == class)
                .map(|w| w.weight)
                .product();
            ((source, class), (mean / count as f64).powf(power) * extra)
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

/// Every row's features, tokenized once and interned: a row is its sorted, unique feature ids into
/// `strings`. Folds then build their vocabularies from ids, without tokenizing or hashing text again.
struct Interned {
    strings: Vec<String>,
    docs: Vec<Vec<u32>>,
}

impl Interned {
    fn tokenize(examples: &[Example], opts: &Options) -> Interned {
        /// Rows tokenized (in parallel) before their features are interned (in order); bounds the
        /// feature strings held at once.
        const BLOCK: usize = 4096;
        let bar = progress_bar(opts.progress, examples.len() as u64, "tokenizing");
        let mut ids: FxHashMap<String, u32> = FxHashMap::default();
        let mut strings = Vec::new();
        let mut docs = Vec::with_capacity(examples.len());
        for block in examples.chunks(BLOCK) {
            let parts = opts.threads.clamp(1, block.len().max(1));
            let per_part = block.len().div_ceil(parts);
            let features: Vec<Vec<Features>> = par_map(parts, parts, |p| {
                let mut tokenizer = Tokenizer::new(opts.settings);
                block
                    .iter()
                    .skip(p * per_part)
                    .take(per_part)
                    .map(|e| {
                        let mut f = Features::new();
                        tokenizer.tokenize(&e.document(), &mut f);
                        f
                    })
                    .collect()
            });
            for f in features.iter().flatten() {
                let mut doc: Vec<u32> = f
                    .iter()
                    // Who wrote a comment is not learnt, only what the name looks like.
                    .filter(|t| !is_author_name(t))
                    .map(|t| match ids.get(t) {
                        Some(&id) => id,
                        None => {
                            let id = strings.len() as u32;
                            strings.push(t.to_string());
                            ids.insert(t.to_string(), id);
                            id
                        }
                    })
                    .collect();
                doc.sort_unstable();
                docs.push(doc);
            }
            bar.inc(block.len() as u64);
        }
        bar.finish_and_clear();
        Interned { strings, docs }
    }
}

/// Training rows as sorted vocabulary ids, and the vocabulary they were pruned to.
struct Encoded {
    /// Vocabulary in ascending byte order.
    tokens: Vec<String>,
    /// Interned feature id → vocabulary id (`u32::MAX` for a feature outside the vocabulary).
    local: Vec<u32>,
    /// Each token's value when present (its family's weight).
    value: Vec<f64>,
    docs: Vec<Vec<u32>>,
    labels: Vec<usize>,
    /// Each document's weight in the class histograms (see [`source_balance_weights`]).
    row_weight: Vec<f64>,
}

impl Encoded {
    /// The rows `rows` of `all`: their vocabulary (features in at least `min_df` of them, at most
    /// `max_features`, the most frequent) and each row's ids in it.
    fn build(
        all: &Interned,
        examples: &[Example],
        rows: &[usize],
        opts: &Options,
    ) -> Result<Encoded, Error> {
        let mut df = vec![0u32; all.strings.len()];
        for &i in rows {
            for &id in &all.docs[i] {
                df[id as usize] += 1;
            }
        }
        let mut kept: Vec<u32> = (0..all.strings.len() as u32)
            .filter(|&id| df[id as usize] >= opts.min_df)
            .collect();
        kept.sort_unstable_by(|&a, &b| {
            df[b as usize]
                .cmp(&df[a as usize])
                .then_with(|| all.strings[a as usize].cmp(&all.strings[b as usize]))
        });
        kept.truncate(opts.max_features);
        if kept.is_empty() {
            return Err(Error::EmptyVocabulary(opts.min_df));
        }
        kept.sort_unstable_by(|&a, &b| all.strings[a as usize].cmp(&all.strings[b as usize]));
        let mut local = vec![u32::MAX; all.strings.len()];
        for (position, &id) in kept.iter().enumerate() {
            local[id as usize] = position as u32;
        }
        let tokens: Vec<String> = kept
            .iter()
            .map(|&id| all.strings[id as usize].clone())
            .collect();
        let mut corpus = Encoded {
            value: tokens.iter().map(|t| opts.weighting.value_of(t)).collect(),
            tokens,
            local,
            docs: Vec::new(),
            labels: rows.iter().map(|&i| examples[i].label.index()).collect(),
            row_weight: {
                let refs: Vec<&Example> = rows.iter().map(|&i| &examples[i]).collect();
                source_balance_weights(&refs, opts.source_balance, &opts.class_weights)
            },
        };
        corpus.docs = rows.iter().map(|&i| corpus.encode(&all.docs[i])).collect();
        Ok(corpus)
    }

    /// The same rows' encoding restricted to the features `keep` and to the rows `rows` (indices into
    /// the examples, which this corpus must hold in order), with the rows' own balancing weights.
    fn restrict(
        &self,
        keep: &[bool],
        rows: &[usize],
        examples: &[Example],
        opts: &Options,
    ) -> Encoded {
        let mut position = vec![u32::MAX; keep.len()];
        let mut tokens = Vec::new();
        let mut value = Vec::new();
        for (v, &k) in keep.iter().enumerate() {
            if k {
                position[v] = tokens.len() as u32;
                tokens.push(self.tokens[v].clone());
                value.push(self.value[v]);
            }
        }
        let local = self
            .local
            .iter()
            .map(|&v| {
                if v == u32::MAX {
                    v
                } else {
                    position[v as usize]
                }
            })
            .collect();
        let docs = rows
            .iter()
            .map(|&i| {
                self.docs[i]
                    .iter()
                    .map(|&v| position[v as usize])
                    .filter(|&v| v != u32::MAX)
                    .collect()
            })
            .collect();
        let refs: Vec<&Example> = rows.iter().map(|&i| &examples[i]).collect();
        Encoded {
            tokens,
            local,
            value,
            docs,
            labels: rows.iter().map(|&i| self.labels[i]).collect(),
            row_weight: source_balance_weights(&refs, opts.source_balance, &opts.class_weights),
        }
    }

    /// A row's interned ids as sorted vocabulary ids, unknown features dropped.
    fn encode(&self, interned: &[u32]) -> Vec<u32> {
        let mut ids: Vec<u32> = interned
            .iter()
            .map(|&id| self.local[id as usize])
            .filter(|&id| id != u32::MAX)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Whether each row is spam.
    fn spam(&self) -> Vec<bool> {
        self.labels
            .iter()
            .map(|&l| l == Label::Spam.index())
            .collect()
    }

    /// The row weights with each class's total made equal, scaled to mean 1 (so that the logistic
    /// layer's C means the same whatever the balancing did to their scale).
    ///
    /// Equal classes, as scikit-learn's `class_weight='balanced'`: the training sets' share of spam
    /// (44% here) says nothing of a new site's, and a bias learnt from it leans every comment the model
    /// knows little about towards ham; only even odds is neutral. The thresholds are chosen on these
    /// scores afterwards, so the decisions do not depend on it; the probability and F1 at even odds do.
    fn sample_weights(&self) -> Vec<f64> {
        let mut total = [0.0f64; 2];
        for (w, &l) in self.row_weight.iter().zip(&self.labels) {
            total[l] += w;
        }
        let classes = total.iter().filter(|&&t| t > 0.0).count().max(1) as f64;
        let all = total[0] + total[1];
        let balanced: Vec<f64> = self
            .row_weight
            .iter()
            .zip(&self.labels)
            .map(|(w, &l)| w * all / (classes * total[l].max(f64::MIN_POSITIVE)))
            .collect();
        let mean = balanced.iter().sum::<f64>() / balanced.len().max(1) as f64;
        balanced
            .iter()
            .map(|w| w / mean.max(f64::MIN_POSITIVE))
            .collect()
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

/// Fit `MultinomialNb` over the whole corpus, with its row weights, in dense batches.
#[cfg(test)]
fn fit(corpus: &Encoded, alpha: f64, opts: &Options) -> Result<Fitted, Error> {
    let rows: Vec<usize> = (0..corpus.docs.len()).collect();
    fit_rows(corpus, &rows, Some(&corpus.row_weight), alpha, opts)?
        .ok_or(Error::MissingClass("training"))
}

/// Fit `MultinomialNb` on the rows `rows` of `corpus` in dense batches of `opts.batch_rows`
/// documents, each row weighted by `weights` (by index into the corpus) or 1. `None` if `rows` is empty.
fn fit_rows(
    corpus: &Encoded,
    rows: &[usize],
    weights: Option<&[f64]>,
    alpha: f64,
    opts: &Options,
) -> Result<Option<Fitted>, Error> {
    let params = MultinomialNbParams::<f64, usize>::new()
        .alpha(alpha)
        .check()?;
    let vocab = corpus.tokens.len();
    let mut model = None;
    // One dense buffer for every batch, cleared cell by cell after use: allocating (and the kernel
    // zeroing) a fresh matrix per batch cost more than the fit.
    let mut buffer = Array2::<f64>::zeros((opts.batch_rows.min(rows.len()), vocab));
    for batch_rows in rows.chunks(opts.batch_rows) {
        for (row, &i) in batch_rows.iter().enumerate() {
            let ids = &corpus.docs[i];
            let doc = opts.weighting.document_scale(ids.len()) * weights.map_or(1.0, |w| w[i]);
            for &id in ids {
                buffer[[row, id as usize]] = corpus.value[id as usize] * doc;
            }
        }
        let x = buffer.slice_axis(ndarray::Axis(0), ndarray::Slice::from(0..batch_rows.len()));
        let labels: Array1<usize> = batch_rows.iter().map(|&i| corpus.labels[i]).collect();
        let batch = DatasetBase::new(x, labels);
        model = Some(params.fit_with(model, &batch)?);
        for (row, &i) in batch_rows.iter().enumerate() {
            for &id in &corpus.docs[i] {
                buffer[[row, id as usize]] = 0.0;
            }
        }
    }
    Ok(model.map(Fitted))
}

/// linfa's per-class histogram, as its serde form spells it.
#[derive(Deserialize, Clone)]
struct ClassDump {
    class_count: usize,
    #[cfg(test)]
    prior: f64,
    feature_count: Array1<f64>,
    #[cfg(test)]
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
    #[cfg(test)]
    fn dump(&self) -> Result<[ClassDump; 2], Error> {
        let mut dump: ModelDump = serde_json::from_value(serde_json::to_value(&self.0)?)?;
        let mut take = |label: Label| {
            dump.class_info
                .remove(&label.index().to_string())
                .ok_or(Error::MissingClass(label.as_str()))
        };
        Ok([take(Label::Ham)?, take(Label::Spam)?])
    }

    /// The per-class counts over a vocabulary of `vocab` features; a class the fit never saw (a cell
    /// of spam-only rows) has none.
    fn class_counts(&self, vocab: usize) -> Result<Counts, Error> {
        let dump: ModelDump = serde_json::from_value(serde_json::to_value(&self.0)?)?;
        let mut counts = Counts {
            class_count: [0, 0],
            feature_count: [Array1::zeros(vocab), Array1::zeros(vocab)],
        };
        for label in [Label::Ham, Label::Spam] {
            if let Some(c) = dump.class_info.get(&label.index().to_string()) {
                counts.class_count[label.index()] = c.class_count;
                counts.feature_count[label.index()].assign(&c.feature_count);
            }
        }
        Ok(counts)
    }

    /// The model's `[ln P(ham), ln P(spam)]` and per-token `[ln P(t|ham), ln P(t|spam)]`, as linfa
    /// computes them in `joint_log_likelihood` (training takes them from [`Counts::smoothed`], which
    /// tests hold to these).
    #[cfg(test)]
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

    #[cfg(test)]
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
            inner_folds: 4,
            ..Options::default()
        }
    }

    fn encoded(data: &[Example], opts: &Options) -> (Interned, Encoded) {
        let all = Interned::tokenize(data, opts);
        let rows: Vec<usize> = (0..data.len()).collect();
        let corpus = Encoded::build(&all, data, &rows, opts).unwrap();
        (all, corpus)
    }

    #[test]
    fn sparse_scores_agree_with_linfa_predict_log_proba() {
        let data = synthetic::examples();
        let opts = small_opts();
        let (_, corpus) = encoded(&data, &opts);
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
        let index: FxHashMap<&str, u32> = corpus
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i as u32))
            .collect();
        let mut tokenizer = Tokenizer::new(opts.settings);
        let mut features = Features::new();
        let mut dense = Array2::<f64>::zeros((held_out.len(), corpus.tokens.len()));
        let mut sparse = Vec::new();
        let table = Table::naive_bayes(log_prior, &log_prob, &corpus.value);
        for (row, e) in held_out.iter().enumerate() {
            tokenizer.tokenize(&e.document(), &mut features);
            let ids: Vec<u32> = features
                .iter()
                .filter_map(|t| index.get(t).copied())
                .collect();
            let doc = opts.weighting.document_scale(ids.len());
            for &id in &ids {
                dense[[row, id as usize]] = corpus.value[id as usize] * doc;
            }
            sparse.push(crate::model::score_sparse(
                table.bias,
                &table.weights,
                opts.weighting.length_scale,
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
        let opts = small_opts();
        let (_, corpus) = encoded(&data, &opts);
        let counts = fit(&corpus, 1.0, &opts).unwrap().counts().unwrap();
        let direct = fit(&corpus, 0.1, &opts)
            .unwrap()
            .log_probabilities()
            .unwrap();
        assert_eq!(counts.smoothed(0.1), direct);
    }

    #[test]
    fn weighted_sums_of_cells_are_one_weighted_linfa_fit() {
        let data = synthetic::examples();
        let opts = Options {
            source_balance: 0.7,
            class_weights: vec![ClassWeight {
                source: "blog-en".into(),
                label: Label::Spam,
                weight: 0.25,
            }],
            ..small_opts()
        };
        let (_, corpus) = encoded(&data, &opts);
        let direct = fit(&corpus, 1.0, &opts).unwrap().counts().unwrap();
        let fold_of = split::k_folds(&data, opts.inner_folds, opts.seed);
        let strata = Strata::of(&data);
        let cells = Cells::fit(&corpus, &fold_of, &strata, &opts).unwrap();
        let weight = balance(data.iter(), opts.source_balance, &opts.class_weights);
        let keep = vec![true; corpus.tokens.len()];
        let summed = cells.combine(|_| true, &weight, &keep);
        assert_eq!(summed.class_count, direct.class_count);
        for class in 0..2 {
            for (a, b) in summed.feature_count[class]
                .iter()
                .zip(direct.feature_count[class].iter())
            {
                assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
            }
        }
        // Leaving a fold out is the fit of the other folds alone.
        let without: Vec<usize> = (0..data.len()).filter(|&i| fold_of[i] != 1).collect();
        let partial = fit_rows(&corpus, &without, Some(&corpus.row_weight), 1.0, &opts)
            .unwrap()
            .unwrap()
            .counts()
            .unwrap();
        let combined = cells.combine(|k| k != 1, &weight, &keep);
        for (a, b) in combined.feature_count[1]
            .iter()
            .zip(partial.feature_count[1].iter())
        {
            assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn the_batch_size_changes_nothing_but_rounding() {
        let data = synthetic::examples();
        let a = fit(&encoded(&data, &small_opts()).1, 0.1, &small_opts())
            .unwrap()
            .log_probabilities()
            .unwrap();
        let one_batch = Options {
            batch_rows: 10_000,
            ..small_opts()
        };
        let b = fit(&encoded(&data, &one_batch).1, 0.1, &one_batch)
            .unwrap()
            .log_probabilities()
            .unwrap();
        for (x, y) in a.1.iter().zip(&b.1) {
            assert!((x[0] - y[0]).abs() < 1e-12 && (x[1] - y[1]).abs() < 1e-12);
        }
    }

    #[test]
    fn training_is_deterministic_and_learns() {
        let data = synthetic::examples();
        let a = train(&data, &small_opts()).unwrap();
        let b = train(&data, &small_opts()).unwrap();
        assert!(a.model.to_bytes() == b.model.to_bytes(), "two runs differ");
        assert!(a.validation.f1 > 0.8, "{:?}", a.validation);
        assert_eq!(
            a.validation.n,
            data.len(),
            "every row has an out-of-fold score"
        );
        assert_eq!(a.inner_folds, 4);
        let logistic = a.logistic.as_ref().unwrap();
        assert_eq!(
            logistic.trials.len(),
            DEFAULT_LOGISTIC_CS.len() * DEFAULT_BETAS.len()
        );

        // Threads share the inner folds out, and change nothing.
        let threaded = train(
            &data,
            &Options {
                threads: 3,
                ..small_opts()
            },
        )
        .unwrap();
        assert!(threaded.model.to_bytes() == a.model.to_bytes());
    }

    #[test]
    fn the_logistic_layer_separates_what_naive_bayes_alone_confuses() {
        let data = synthetic::examples();
        let nb = train(
            &data,
            &Options {
                stage: Stage::NaiveBayes,
                ..small_opts()
            },
        )
        .unwrap();
        let lr = train(&data, &small_opts()).unwrap();
        assert!(nb.logistic.is_none());
        // On the synthetic set both separate well; the layer must not make it worse.
        assert!(
            lr.validation.f1 >= nb.validation.f1 - 0.01,
            "logistic {:?} naive Bayes {:?}",
            lr.validation,
            nb.validation
        );
        let scores = |o: &Outcome| -> Vec<f64> {
            let m = &o.model;
            let mut t = m.tokenizer();
            let (mut f, mut ids) = (Features::new(), Vec::new());
            synthetic::held_out()
                .iter()
                .map(|e| {
                    m.score_document(&mut t, &e.document(), &mut f, &mut ids)
                        .log_odds
                })
                .collect()
        };
        let held = synthetic::held_out();
        let correct = |s: &[f64]| {
            s.iter()
                .zip(&held)
                .filter(|(x, e)| (**x > 0.0) == (e.label == Label::Spam))
                .count()
        };
        assert!(correct(&scores(&lr)) >= held.len() - 2, "{:?}", scores(&lr));
    }

    #[test]
    fn no_destination_feature_outweighs_the_cap() {
        let data = synthetic::examples();
        let largest = |o: &Outcome| {
            o.model
                .vocabulary()
                .filter(|(t, _)| is_destination(t))
                .fold(0.0f64, |m, (_, w)| m.max(w.abs()))
        };
        let free = train(
            &data,
            &Options {
                destination_cap: 0.0,
                ..small_opts()
            },
        )
        .unwrap();
        let cap = 0.5 * largest(&free);
        assert!(cap > 0.0, "the synthetic corpus's links are evidence");
        let capped = train(
            &data,
            &Options {
                destination_cap: cap,
                ..small_opts()
            },
        )
        .unwrap();
        assert!(largest(&capped) <= cap, "{} > {cap}", largest(&capped));
        // Nothing else is capped: the model still has evidence beyond the cap.
        assert!(capped
            .model
            .vocabulary()
            .any(|(t, w)| !is_destination(t) && w.abs() > cap));
        assert!(capped.validation.f1 > 0.8, "{:?}", capped.validation);
    }

    #[test]
    fn author_names_are_not_learnt_but_their_shape_is() {
        let data = synthetic::examples();
        // The corpus does name its authors: "Budi", "Sarah", … on ham, "PROMO", "Slot88Official" on spam.
        let all = Interned::tokenize(&data, &small_opts());
        assert!(
            !all.strings.iter().any(|t| is_author_name(t)),
            "{:?}",
            all.strings
                .iter()
                .filter(|t| t.starts_with("author:"))
                .collect::<Vec<_>>()
        );
        let mut f = Features::new();
        let mut tokenizer = Tokenizer::new(small_opts().settings);
        let named = data
            .iter()
            .find(|e| e.author.as_deref() == Some("Budi"))
            .unwrap();
        tokenizer.tokenize(&named.document(), &mut f);
        assert!(f.iter().any(|t| t == "author:budi"));

        let outcome = train(&data, &small_opts()).unwrap();
        let authors: Vec<&str> = outcome
            .model
            .vocabulary()
            .map(|(t, _)| t)
            .filter(|t| t.starts_with("author:"))
            .collect();
        assert!(authors.contains(&"author:brand_like"), "{authors:?}");
        assert!(authors.iter().all(|t| !is_author_name(t)), "{authors:?}");
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

    #[test]
    fn class_weights_parse_and_scale_their_rows_only() {
        let w: ClassWeight = "stackexchange-spam:spam=0.5".parse().unwrap();
        assert_eq!(w.source, "stackexchange-spam");
        assert_eq!(w.label, Label::Spam);
        assert!("no-equals".parse::<ClassWeight>().is_err());
        assert!("a:maybe=1".parse::<ClassWeight>().is_err());
        assert!("a:spam=-1".parse::<ClassWeight>().is_err());

        let data = synthetic::examples();
        let refs: Vec<&Example> = data.iter().collect();
        let plain = source_balance_weights(&refs, 0.4, &[]);
        let halved = source_balance_weights(
            &refs,
            0.4,
            &[ClassWeight {
                source: "blog-en".into(),
                label: Label::Spam,
                weight: 0.5,
            }],
        );
        for ((e, p), h) in refs.iter().zip(&plain).zip(&halved) {
            let expected = if e.source == "blog-en" && e.label == Label::Spam {
                p * 0.5
            } else {
                *p
            };
            assert_eq!(*h, expected);
        }
    }
}
