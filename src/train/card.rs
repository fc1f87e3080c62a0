//! The model card: a JSON file beside each model file saying what it was trained on (files, SHA-256,
//! rows), how it was split, which settings were chosen and how it scored out of fold.
//!
//! The card is a record for people and tools; serving reads only a summary of it, for GetModelInfo. The model file itself carries no
//! date so that it stays byte-reproducible; the card carries the date instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::model::decision::probability;
use crate::train::quality::Report;
use crate::train::{Options, Outcome};

/// A data file a model was trained on.
#[derive(Debug, Clone, Serialize)]
pub struct DataFile {
    /// The path as given on the command line.
    pub path: String,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// Usable rows read from it.
    pub rows: usize,
}

/// The card's contents.
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    /// The model's version string (as in every decision it makes).
    pub model_version: String,
    /// The model file's name.
    pub model_file: String,
    /// SHA-256 of the model file.
    pub model_sha256: String,
    /// Model file format version.
    pub format_version: u32,
    /// Tokenizer feature-scheme version.
    pub tokenizer_version: u32,
    /// When the model was trained (UTC).
    pub created: String,
    /// The saring version that trained it.
    pub saring_version: String,
    /// The command that reproduces it.
    pub command: String,
    /// Training data.
    pub training_files: Vec<DataFile>,
    /// Rows skipped as bad.
    pub skipped_rows: usize,
    /// How the data was split.
    pub split: Split,
    /// Chosen and tried settings.
    pub hyperparameters: Hyperparameters,
    /// The decision thresholds.
    pub thresholds: ThresholdsCard,
    /// Validation figures at those thresholds.
    pub validation: Validation,
}

/// How the out-of-fold scores every choice was made on were split.
#[derive(Debug, Clone, Serialize)]
pub struct Split {
    /// Always "group k-fold": whole `(source, group)` pairs in one fold.
    pub method: &'static str,
    /// Inner folds.
    pub folds: usize,
    /// Seed of the split.
    pub seed: u64,
    /// Rows the served model was trained on (all of them; each also has an out-of-fold score).
    pub train_rows: usize,
}

/// Settings.
#[derive(Debug, Clone, Serialize)]
pub struct Hyperparameters {
    /// Chosen smoothing.
    pub alpha: f64,
    /// Every smoothing tried with its validation figures.
    pub alpha_trials: Vec<AlphaTrialCard>,
    /// Minimum document frequency.
    pub min_df: u32,
    /// Vocabulary cap.
    pub max_features: usize,
    /// Vocabulary size reached.
    pub vocabulary: usize,
    /// Character n-gram range.
    pub char_ngrams: [u8; 2],
    /// Feature values: word, char n-gram, meta, length scale.
    pub weighting: [f64; 4],
    /// Exponent of the per-source balancing of the class histograms.
    pub source_balance: f64,
    /// Further multipliers of one source's rows of one class.
    pub class_weights: Vec<ClassWeightCard>,
    /// Largest weight of one link or e-mail destination feature (0: no limit; naive Bayes alone is
    /// never capped).
    pub destination_cap: f64,
    /// What was trained on top of naive Bayes: `naive-bayes` (nothing) or `naive-bayes+logistic`.
    pub stage: &'static str,
    /// The logistic layer, if one was trained.
    pub logistic: Option<LogisticCard>,
}

/// A multiplier of one source's rows of one class.
#[derive(Debug, Clone, Serialize)]
pub struct ClassWeightCard {
    /// The source.
    pub source: String,
    /// `spam` or `ham`.
    pub class: &'static str,
    /// The multiplier.
    pub weight: f64,
}

/// The logistic layer on naive Bayes' log-count ratios (NBSVM).
#[derive(Debug, Clone, Serialize)]
pub struct LogisticCard {
    /// The chosen inverse regularisation strength.
    pub c: f64,
    /// The chosen interpolation between naive Bayes (0) and the logistic layer (1).
    pub beta: f64,
    /// L-BFGS iterations of the chosen fit.
    pub iterations: usize,
    /// Whether it reached its tolerance.
    pub converged: bool,
    /// Every `(c, beta)` tried with its validation figures.
    pub trials: Vec<LogisticTrialCard>,
}

/// One `(c, beta)` pair tried.
#[derive(Debug, Clone, Serialize)]
pub struct LogisticTrialCard {
    /// Inverse regularisation strength.
    pub c: f64,
    /// Interpolation.
    pub beta: f64,
    /// Mean over sources of each source's validation F1 at probability 0.5 (what chose the pair).
    pub macro_f1: f64,
    /// Validation F1 of all sources together.
    pub f1: f64,
    /// Validation spam accepted at the pair's own thresholds.
    pub spam_accepted_rate: f64,
    /// Validation hold rate at those thresholds.
    pub hold_rate: f64,
}

/// One smoothing value tried.
#[derive(Debug, Clone, Serialize)]
pub struct AlphaTrialCard {
    /// The smoothing.
    pub alpha: f64,
    /// Its validation spam-accepted rate at its own thresholds.
    pub spam_accepted_rate: f64,
    /// Its validation hold rate.
    pub hold_rate: f64,
    /// Its validation ham-rejected rate.
    pub ham_rejected_rate: f64,
    /// Its validation F1 at probability 0.5.
    pub f1: f64,
    /// Its validation mean per-source F1 (what chose the smoothing).
    pub macro_f1: f64,
}

/// The thresholds in both scales, and the limits they were chosen under.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdsCard {
    /// Accept below this spam log-odds.
    pub accept_below_log_odds: f64,
    /// Reject at or above this spam log-odds.
    pub reject_at_log_odds: f64,
    /// The same as a probability.
    pub accept_below_probability: f64,
    /// The same as a probability.
    pub reject_at_probability: f64,
    /// The ham-rejected limit used.
    pub max_ham_rejected: f64,
    /// The per-source ham-rejected target used.
    pub max_ham_rejected_per_source: f64,
    /// The per-source ham-rejected hard limit used.
    pub hard_ham_rejected_per_source: f64,
    /// The per-source spam-accepted bound used.
    pub max_spam_accepted: f64,
    /// The per-source hold-rate bound used.
    pub max_hold_rate: f64,
    /// The bounds that could not be kept on validation (`ham_rejected`: the per-source target was
    /// relaxed to the hard limit; `spam_accepted`, `hold`: some source overran them), empty if none.
    pub gave_way: Vec<crate::train::thresholds::Bound>,
    /// The worst source's validation ham-rejected rate at these thresholds.
    pub worst_source_ham_rejected: f64,
    /// The worst source's validation spam-accepted rate.
    pub worst_source_spam_accepted: f64,
    /// The worst source's validation hold rate.
    pub worst_source_hold: f64,
}

/// Validation figures.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    /// All sources.
    pub overall: Report,
    /// Per source.
    pub by_source: BTreeMap<String, Report>,
}

/// Build the card for a freshly written model file.
pub fn build(
    outcome: &Outcome,
    opts: &Options,
    model_path: &Path,
    data: &[(PathBuf, usize)],
    skipped_rows: usize,
    command: String,
) -> std::io::Result<Card> {
    let model = &outcome.model;
    let thresholds = model.thresholds();
    let mut training_files = Vec::new();
    for (path, rows) in data {
        training_files.push(DataFile {
            path: path.display().to_string(),
            sha256: sha256_file(path)?,
            rows: *rows,
        });
    }
    Ok(Card {
        model_version: model.version().to_string(),
        model_file: model_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        model_sha256: sha256_file(model_path)?,
        format_version: crate::model::FORMAT_VERSION,
        tokenizer_version: crate::model::tokenize::TOKENIZER_VERSION,
        created: utc_now(),
        saring_version: env!("CARGO_PKG_VERSION").to_string(),
        command,
        training_files,
        skipped_rows,
        split: Split {
            method: "group k-fold",
            folds: outcome.inner_folds,
            seed: opts.seed,
            train_rows: outcome.train_rows,
        },
        hyperparameters: Hyperparameters {
            alpha: outcome.alpha,
            alpha_trials: outcome
                .alpha_trials
                .iter()
                .map(|t| AlphaTrialCard {
                    alpha: t.alpha,
                    spam_accepted_rate: t.report.spam_accepted_rate,
                    hold_rate: t.report.hold_rate,
                    ham_rejected_rate: t.report.ham_rejected_rate,
                    f1: t.report.f1,
                    macro_f1: t.macro_f1,
                })
                .collect(),
            min_df: opts.min_df,
            max_features: opts.max_features,
            vocabulary: model.vocabulary_len(),
            char_ngrams: [opts.settings.char_ngram_min, opts.settings.char_ngram_max],
            weighting: {
                let w = opts.weighting;
                [w.word, w.char_ngram, w.meta, w.length_scale]
            },
            source_balance: opts.source_balance,
            destination_cap: opts.destination_cap,
            class_weights: opts
                .class_weights
                .iter()
                .map(|w| ClassWeightCard {
                    source: w.source.clone(),
                    class: w.label.as_str(),
                    weight: w.weight,
                })
                .collect(),
            stage: match outcome.logistic {
                Some(_) => "naive-bayes+logistic",
                None => "naive-bayes",
            },
            logistic: outcome.logistic.as_ref().map(|l| LogisticCard {
                c: l.c,
                beta: l.beta,
                iterations: l.iterations,
                converged: l.converged,
                trials: l
                    .trials
                    .iter()
                    .map(|t| LogisticTrialCard {
                        c: t.c,
                        beta: t.beta,
                        macro_f1: t.macro_f1,
                        f1: t.report.f1,
                        spam_accepted_rate: t.report.spam_accepted_rate,
                        hold_rate: t.report.hold_rate,
                    })
                    .collect(),
            }),
        },
        thresholds: ThresholdsCard {
            accept_below_log_odds: thresholds.accept_below,
            reject_at_log_odds: thresholds.reject_at,
            accept_below_probability: probability(thresholds.accept_below),
            reject_at_probability: probability(thresholds.reject_at),
            max_ham_rejected: opts.targets.max_ham_rejected,
            max_ham_rejected_per_source: opts.targets.max_ham_rejected_per_source,
            hard_ham_rejected_per_source: opts.targets.hard_ham_rejected_per_source,
            max_spam_accepted: opts.targets.max_spam_accepted,
            max_hold_rate: opts.targets.max_hold_rate,
            gave_way: outcome.thresholds.gave_way.clone(),
            worst_source_ham_rejected: outcome.thresholds.worst_ham_rejected,
            worst_source_spam_accepted: outcome.thresholds.worst_spam_accepted,
            worst_source_hold: outcome.thresholds.worst_hold,
        },
        validation: Validation {
            overall: outcome.validation.clone(),
            by_source: outcome.validation_by_source.clone(),
        },
    })
}

/// Where the card for a model file goes: `models/x.model` → `models/x.card.json`.
pub fn path_for(model_path: &Path) -> PathBuf {
    crate::model::card_path(model_path)
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(crate::hash::hex(&Sha256::digest(&bytes)))
}

/// The current time as `YYYY-MM-DDTHH:MM:SSZ` (whole seconds: a card is read by people).
fn utc_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_card_is_dated_in_whole_utc_seconds_and_named_beside_its_model() {
        let now = utc_now();
        assert!(now.parse::<jiff::Timestamp>().is_ok(), "{now}");
        assert_eq!(now.len(), "2026-12-02T10:00:00Z".len());
        assert_eq!(
            path_for(Path::new("models/default.model")),
            Path::new("models/default.card.json")
        );
    }
}
