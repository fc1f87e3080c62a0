//! The trained spam model as served: a sparse table of per-token log-probabilities, scored in
//! O(features of the comment), never O(vocabulary).
//!
//! Training (`train`) fits linfa-bayes' `MultinomialNb` on dense batches and exports its class priors and
//! per-feature log-probabilities into this table unchanged, so this scorer and linfa's own
//! `predict_log_proba` agree to rounding (a test holds them to 1e-9). `model` does no I/O besides reading
//! and writing its own file format (`model/file.rs`) and never sees the network or the store.

pub mod decision;
mod file;
pub mod highlight;
pub mod overlay;
pub mod terms;
pub mod tokenize;

pub use file::{card_path, Error, FORMAT_VERSION};

use std::path::Path;

use rustc_hash::FxHashMap;

use crate::model::decision::{probability, Decision, Thresholds};
use crate::model::tokenize::{family, Document, Family, Features, Settings, Tokenizer};

/// How many tokens an explanation lists on each side by default.
pub const DEFAULT_EXPLAIN_TOKENS: usize = 5;

/// A loaded, validated model.
#[derive(Debug, Clone)]
pub struct Model {
    version: String,
    settings: Settings,
    alpha: f64,
    weighting: Weighting,
    thresholds: Thresholds,
    /// `ln P(ham)`, `ln P(spam)`.
    log_prior: [f64; 2],
    /// Each token's value when present, from its family (`weighting.value_of`).
    value: Vec<f64>,
    /// Vocabulary in ascending byte order; a token's position is its id.
    tokens: Vec<Box<str>>,
    /// 64-bit hash of a token → its id. Keys are hashes, not strings: looking a feature up then costs
    /// one hash and no string comparison, which halves scoring time. Two vocabulary tokens with one hash
    /// are refused at load; an unknown feature that shares a known token's hash (odds about 1 in 3·10^14
    /// per feature for a 60,000-token vocabulary) would count as that token.
    index: FxHashMap<u64, u32>,
    /// `ln P(token | ham)`, `ln P(token | spam)` per token id.
    log_prob: Vec<[f64; 2]>,
}

/// How much a present feature counts, in training and scoring alike.
///
/// Plain binary naive Bayes over this tokenizer's features is overconfident twice over: every word also
/// appears as a dozen overlapping character n-grams, and a long comment adds up hundreds of correlated
/// features. So a character n-gram counts less than a word, and a document's features are scaled by
/// `length_scale / √(known features)`, which keeps a long comment's evidence from swamping everything else.
/// (Cross-validation by group chose these; `saring cv` measures any other choice.)
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weighting {
    /// Value of a word or word-pair feature.
    pub word: f64,
    /// Value of a character n-gram feature.
    pub char_ngram: f64,
    /// Value of every other feature (links, numbers, emoji, form fields, length).
    pub meta: f64,
    /// Document scale numerator; 0 turns length normalisation off (every document scale 1).
    pub length_scale: f64,
}

impl Default for Weighting {
    fn default() -> Self {
        Weighting {
            word: 1.0,
            char_ngram: 0.3,
            meta: 1.0,
            length_scale: 3.0,
        }
    }
}

impl Weighting {
    /// The value of a feature by its family.
    pub fn value_of(&self, feature: &str) -> f64 {
        match family(feature) {
            Family::Word => self.word,
            Family::CharNgram => self.char_ngram,
            Family::Meta => self.meta,
        }
    }

    /// The factor every feature of a document with `known` known features is multiplied by.
    pub fn document_scale(&self, known: usize) -> f64 {
        if self.length_scale == 0.0 {
            1.0
        } else {
            self.length_scale / (known.max(1) as f64).sqrt()
        }
    }
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
    /// How much a present feature counts.
    pub weighting: Weighting,
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

/// A token and how far it pushed the score: its share of the log-odds.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// The feature string, e.g. `w:gacor` or `url.host:tsel.me`.
    pub token: String,
    /// `(ln P(token|spam) − ln P(token|ham)) × the token's value in this comment`: what it added to the
    /// log-odds; positive pushes towards spam. The contributions and the prior log-odds sum to the score.
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
    /// Of those, the ones about its content rather than its shape (see `tokenize::is_shape`).
    pub evidence_tokens: usize,
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
        let mut value = Vec::with_capacity(parts.vocabulary.len());
        let mut log_prob = Vec::with_capacity(parts.vocabulary.len());
        let mut index =
            FxHashMap::with_capacity_and_hasher(parts.vocabulary.len(), Default::default());
        for (i, (token, lp)) in parts.vocabulary.into_iter().enumerate() {
            let token: Box<str> = token.into_boxed_str();
            if index.insert(token_hash(&token), i as u32).is_some() {
                return Err(format!(
                    "two vocabulary tokens share a hash, one of them is {token:?}"
                ));
            }
            value.push(parts.weighting.value_of(&token));
            tokens.push(token);
            log_prob.push(lp);
        }
        Ok(Model {
            version,
            settings: parts.settings,
            alpha: parts.alpha,
            weighting: parts.weighting,
            thresholds: parts.thresholds,
            log_prior: parts.log_prior,
            value,
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

    /// How much a present feature counts.
    pub fn weighting(&self) -> Weighting {
        self.weighting
    }

    /// The decision thresholds.
    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
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
        self.index.get(&token_hash(token)).copied()
    }

    /// Tokenize and score a document. `features` and `ids` are scratch buffers reused across calls.
    pub fn score_document(
        &self,
        tokenizer: &mut Tokenizer,
        doc: &Document<'_>,
        features: &mut Features,
        ids: &mut Vec<u32>,
    ) -> Score {
        tokenizer.tokenize_raw(doc, features);
        self.known_ids(features, ids);
        self.score_ids(ids)
    }

    /// The ids of the features the model knows, ascending and each once (a feature counts once per
    /// comment, as in training).
    pub fn known_ids(&self, features: &Features, ids: &mut Vec<u32>) {
        ids.clear();
        ids.extend(features.iter().filter_map(|f| self.token_id(f)));
        ids.sort_unstable();
        ids.dedup();
    }

    /// Score a set of unique token ids (each counted once, as in training).
    pub fn score_ids(&self, ids: &[u32]) -> Score {
        score_sparse(
            self.log_prior,
            &self.log_prob,
            &self.value,
            &self.weighting,
            ids,
        )
    }

    /// Score and explain: the decision and the `k` tokens that pushed hardest each way.
    pub fn explain(&self, ids: &[u32], k: usize) -> Explanation {
        let score = self.score_ids(ids);
        let doc = self.weighting.document_scale(ids.len());
        let mut contributions: Vec<(u32, f64)> = ids
            .iter()
            .map(|&id| {
                let lp = self.log_prob[id as usize];
                (id, (lp[1] - lp[0]) * self.value[id as usize] * doc)
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
            evidence_tokens: ids
                .iter()
                .filter(|&&id| !crate::model::tokenize::is_shape(&self.tokens[id as usize]))
                .count(),
            towards_spam,
            towards_ham,
        }
    }

    #[cfg(test)]
    pub(crate) fn log_probs(&self) -> &[[f64; 2]] {
        &self.log_prob
    }
}

/// The 64-bit hash the vocabulary index is keyed by.
fn token_hash(token: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(token.as_bytes());
    h.finish()
}

/// Multinomial naive Bayes over weighted presence features: feature `id` of a document has the value
/// `value[id] × weighting.document_scale(ids.len())`, exactly the value training put in linfa's dense
/// matrix. The normalisation is a stable log-sum-exp, so long comments whose joint likelihoods underflow
/// `exp` still get exact log-probabilities (linfa-bayes 0.8.1's `predict_log_proba` returns ±inf there).
pub(crate) fn score_sparse(
    log_prior: [f64; 2],
    log_prob: &[[f64; 2]],
    value: &[f64],
    weighting: &Weighting,
    ids: &[u32],
) -> Score {
    let mut jll = log_prior;
    let doc = weighting.document_scale(ids.len());
    for &id in ids {
        let lp = log_prob[id as usize];
        let x = value[id as usize] * doc;
        jll[0] += lp[0] * x;
        jll[1] += lp[1] * x;
    }
    let max = jll[0].max(jll[1]);
    let log_norm = max + ((jll[0] - max).exp() + (jll[1] - max).exp()).ln();
    Score {
        log_odds: jll[1] - jll[0],
        log_proba: [jll[0] - log_norm, jll[1] - log_norm],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contributions_and_prior_add_up_to_the_score() {
        let model = Model::from_parts(Parts {
            version: "t".into(),
            settings: Settings::default(),
            alpha: 1.0,
            weighting: Weighting::default(),
            thresholds: Thresholds {
                accept_below: -1.0,
                reject_at: 2.0,
            },
            log_prior: [0.6f64.ln(), 0.4f64.ln()],
            vocabulary: vec![
                ("c:gac".into(), [-9.0, -4.0]),
                ("w:gacor".into(), [-8.0, -2.0]),
                ("w:terima".into(), [-3.0, -7.0]),
            ],
        })
        .unwrap();
        let ids = [0, 1, 2];
        let ex = model.explain(&ids, 5);
        let sum: f64 = ex
            .towards_spam
            .iter()
            .chain(&ex.towards_ham)
            .map(|c| c.weight)
            .sum();
        let prior = model.log_prior()[1] - model.log_prior()[0];
        assert!((prior + sum - ex.score.log_odds).abs() < 1e-12);
        // The word outweighs its own character n-gram, as the weighting says.
        assert_eq!(ex.towards_spam[0].token, "w:gacor");
        assert_eq!(ex.towards_ham[0].token, "w:terima");
        let p = ex.score.log_proba;
        assert!((p[0].exp() + p[1].exp() - 1.0).abs() < 1e-12);
    }
}
