//! The trained spam model as served: a sparse table of per-token log-probabilities, scored in
//! O(features of the comment), never O(vocabulary).
//!
//! Training (`train`) fits linfa-bayes' `MultinomialNb` on dense batches and exports its class priors and
//! per-feature log-probabilities into this table unchanged, so this scorer and linfa's own
//! `predict_log_proba` agree to rounding (a test holds them to 1e-9). `model` does no I/O besides reading
//! and writing its own file format (`model/file.rs`) and never sees the network or the store.

mod file;

pub use file::{Error, FORMAT_VERSION};

use std::path::Path;

use rustc_hash::FxHashMap;

use crate::decision::{probability, Decision, Thresholds};
use crate::tokenize::{Document, Features, Settings, Tokenizer};

/// How many tokens an explanation lists on each side by default.
pub const DEFAULT_EXPLAIN_TOKENS: usize = 5;

/// A loaded, validated model.
#[derive(Debug, Clone)]
pub struct Model {
    version: String,
    settings: Settings,
    alpha: f64,
    thresholds: Thresholds,
    /// `ln P(ham)`, `ln P(spam)`.
    log_prior: [f64; 2],
    /// Vocabulary in ascending byte order; a token's position is its id.
    tokens: Vec<Box<str>>,
    index: FxHashMap<Box<str>, u32>,
    /// `ln P(token | ham)`, `ln P(token | spam)` per token id.
    log_prob: Vec<[f64; 2]>,
}

/// The parts a model is made of, as training produces them.
#[derive(Debug, Clone)]
pub struct Parts {
    /// Version string shown in every decision; empty to derive one from the content.
    pub version: String,
    /// Tokenizer settings the vocabulary was built with.
    pub settings: Settings,
    /// The smoothing used when fitting.
    pub alpha: f64,
    /// The decision thresholds on spam log-odds.
    pub thresholds: Thresholds,
    /// `ln P(ham)`, `ln P(spam)`.
    pub log_prior: [f64; 2],
    /// `(token, [ln P(token|ham), ln P(token|spam)])`, tokens unique and in ascending byte order.
    pub vocabulary: Vec<(String, [f64; 2])>,
}

/// The result of scoring one comment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// `ln P(spam|x) − ln P(ham|x)`.
    pub log_odds: f64,
    /// `[ln P(ham|x), ln P(spam|x)]`, normalised.
    pub log_proba: [f64; 2],
}

impl Score {
    /// Probability of spam.
    pub fn spam_probability(&self) -> f64 {
        probability(self.log_odds)
    }
}

/// A token and how far it pushed the score (its log-likelihood ratio, spam over ham).
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// The feature string, e.g. `w:gacor` or `url.host:tsel.me`.
    pub token: String,
    /// `ln P(token|spam) − ln P(token|ham)`: positive pushes towards spam.
    pub weight: f64,
}

/// Why a comment scored as it did.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The score.
    pub score: Score,
    /// The band the model's thresholds put it in.
    pub decision: Decision,
    /// Features of the comment that the model knows.
    pub known_tokens: usize,
    /// Strongest pushes towards spam, strongest first.
    pub towards_spam: Vec<Contribution>,
    /// Strongest pushes towards ham, strongest first.
    pub towards_ham: Vec<Contribution>,
}

impl Model {
    /// Build a model from its parts, checking them as a loaded file is checked.
    pub fn from_parts(parts: Parts) -> Result<Model, String> {
        file::validate_parts(&parts)?;
        let version = if parts.version.is_empty() {
            file::content_version(&parts)
        } else {
            parts.version
        };
        let mut tokens = Vec::with_capacity(parts.vocabulary.len());
        let mut log_prob = Vec::with_capacity(parts.vocabulary.len());
        let mut index =
            FxHashMap::with_capacity_and_hasher(parts.vocabulary.len(), Default::default());
        for (i, (token, lp)) in parts.vocabulary.into_iter().enumerate() {
            let token: Box<str> = token.into_boxed_str();
            index.insert(token.clone(), i as u32);
            tokens.push(token);
            log_prob.push(lp);
        }
        Ok(Model {
            version,
            settings: parts.settings,
            alpha: parts.alpha,
            thresholds: parts.thresholds,
            log_prior: parts.log_prior,
            tokens,
            index,
            log_prob,
        })
    }

    /// Read and validate a model file. A truncated, corrupted or wrong-version file is refused with an
    /// error naming the file and what is wrong.
    pub fn load(path: &Path) -> Result<Model, Error> {
        file::load(path)
    }

    /// Decode a model from the bytes of a model file; `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], origin: &Path) -> Result<Model, Error> {
        file::decode(bytes, origin)
    }

    /// Write the model file.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        file::save(self, path)
    }

    /// The bytes of the model file.
    pub fn to_bytes(&self) -> Vec<u8> {
        file::encode(self)
    }

    /// The version string recorded with every decision.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The tokenizer settings this model must be scored with.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// A tokenizer configured for this model.
    pub fn tokenizer(&self) -> Tokenizer {
        Tokenizer::new(self.settings)
    }

    /// Smoothing the model was fitted with.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The decision thresholds.
    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// A copy of the model with other thresholds (per-site overrides, threshold selection).
    pub fn with_thresholds(&self, thresholds: Thresholds) -> Model {
        Model {
            thresholds,
            ..self.clone()
        }
    }

    /// `ln P(ham)`, `ln P(spam)`.
    pub fn log_prior(&self) -> [f64; 2] {
        self.log_prior
    }

    /// Vocabulary size.
    pub fn vocabulary_len(&self) -> usize {
        self.tokens.len()
    }

    /// The id of a token, if the model knows it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.index.get(token).copied()
    }

    /// Tokenize and score a document. `features` and `ids` are scratch buffers reused across calls.
    pub fn score_document(
        &self,
        tokenizer: &mut Tokenizer,
        doc: &Document<'_>,
        features: &mut Features,
        ids: &mut Vec<u32>,
    ) -> Score {
        tokenizer.tokenize(doc, features);
        self.known_ids(features, ids);
        self.score_ids(ids)
    }

    /// The ids of the features the model knows. Features are unique, so the ids are too.
    pub fn known_ids(&self, features: &Features, ids: &mut Vec<u32>) {
        ids.clear();
        ids.extend(features.iter().filter_map(|f| self.token_id(f)));
    }

    /// Score a set of unique token ids (each counted once, as in training).
    pub fn score_ids(&self, ids: &[u32]) -> Score {
        score_sparse(self.log_prior, &self.log_prob, ids)
    }

    /// Score and explain: the decision and the `k` tokens that pushed hardest each way.
    pub fn explain(&self, ids: &[u32], k: usize) -> Explanation {
        let score = self.score_ids(ids);
        let mut contributions: Vec<(u32, f64)> = ids
            .iter()
            .map(|&id| {
                let lp = self.log_prob[id as usize];
                (id, lp[1] - lp[0])
            })
            .collect();
        contributions.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let named = |(id, weight): &(u32, f64)| Contribution {
            token: self.tokens[*id as usize].to_string(),
            weight: *weight,
        };
        let towards_spam = contributions
            .iter()
            .filter(|c| c.1 > 0.0)
            .take(k)
            .map(named)
            .collect();
        let towards_ham = contributions
            .iter()
            .rev()
            .filter(|c| c.1 < 0.0)
            .take(k)
            .map(named)
            .collect();
        Explanation {
            score,
            decision: self.thresholds.decide(score.log_odds),
            known_tokens: ids.len(),
            towards_spam,
            towards_ham,
        }
    }

    #[cfg(test)]
    pub(crate) fn log_probs(&self) -> &[[f64; 2]] {
        &self.log_prob
    }
}

/// Multinomial naive Bayes over binary features: each id counts once. The normalisation is a stable
/// log-sum-exp, so long comments whose joint likelihoods underflow `exp` still get exact log-probabilities.
pub(crate) fn score_sparse(log_prior: [f64; 2], log_prob: &[[f64; 2]], ids: &[u32]) -> Score {
    let mut jll = log_prior;
    for &id in ids {
        let lp = log_prob[id as usize];
        jll[0] += lp[0];
        jll[1] += lp[1];
    }
    let max = jll[0].max(jll[1]);
    let log_norm = max + ((jll[0] - max).exp() + (jll[1] - max).exp()).ln();
    Score {
        log_odds: jll[1] - jll[0],
        log_proba: [jll[0] - log_norm, jll[1] - log_norm],
    }
}
