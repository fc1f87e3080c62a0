//! The trained spam model as served: a sparse table of per-token weights and a bias, scored in
//! O(features of the comment), never O(vocabulary).
//!
//! A comment's spam log-odds is `bias + document_scale(n) × Σ weight(t)` over the `n` features `t` of the
//! comment that the model knows. Training (`train`) fits linfa-bayes' `MultinomialNb` and, optionally, a
//! logistic layer on its log-count ratios (NBSVM); either way the result folds into this one table, so
//! serving costs the same whatever was trained. For a plain naive Bayes model a token's weight is
//! `(ln P(t|spam) − ln P(t|ham)) × value(t)` and the bias `ln P(spam) − ln P(ham)`, and the scorer
//! agrees with linfa's own log-likelihoods to rounding (a test in `train` holds them to 1e-9). `model`
//! does no I/O besides reading and writing its own file format (`model/file.rs`) and never sees the
//! network or the store.

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
    /// Numerator of the document scale (see [`document_scale`]).
    length_scale: f64,
    thresholds: Thresholds,
    /// Spam log-odds of a comment with no known feature.
    bias: f64,
    /// Vocabulary in ascending byte order; a token's position is its id.
    tokens: Vec<Box<str>>,
    /// 64-bit hash of a token → its id. Keys are hashes, not strings: looking a feature up then costs
    /// one hash and no string comparison, which halves scoring time. Two vocabulary tokens with one hash
    /// are refused at load; an unknown feature that shares a known token's hash (odds about 1 in 3·10^14
    /// per feature for a 200,000-token vocabulary) would count as that token.
    index: FxHashMap<u64, u32>,
    /// Each token's weight: what it adds to the spam log-odds, before the document scale.
    weight: Vec<f64>,
    /// The ids of shape features (`tokenize::is_shape`): one range a prefix, as the vocabulary is
    /// sorted. Counting a comment's evidence then reads no token string; reading each token's own
    /// allocation was a cache miss per feature and a tenth of serving a long comment.
    shape_ids: Vec<std::ops::Range<u32>>,
}

/// How much a present feature counts. Training gives each feature its family's value; a trained model
/// folds the values into its weights and keeps only the length scale, which depends on the comment.
///
/// Plain binary naive Bayes over this tokenizer's features is overconfident twice over: every word also
/// appears as a dozen overlapping character n-grams, and a long comment adds up hundreds of correlated
/// features. So a character n-gram counts less than a word, and a document's features are scaled by
/// `length_scale / √(known features)`, which keeps a long comment's evidence from swamping everything else.
/// Structure features (links, hosts, phones, markup, disguises…) count more than a word: they are what
/// spam looks like on any site, and weighting them up is what carried the model to sources it never saw.
/// (Cross-validation by group chose these. N-grams 0.3 → 0.5: +0.002 F1 pooled. Structure 1 → 2: k-fold F1
/// within 0.003 on every source, leave-source-out F1 up on all seven, the gambling set's from 0.35 to
/// 0.53; 2 → 3: k-fold the same, the gambling set's leave-source-out F1 on to 0.66. `saring cv` measures
/// any other choice.)
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
            char_ngram: 0.5,
            meta: 3.0,
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
        document_scale(self.length_scale, known)
    }
}

/// `length_scale / √known` (1 when `length_scale` is 0): the factor every feature of a document with
/// `known` known features is multiplied by, in training and scoring alike.
pub fn document_scale(length_scale: f64, known: usize) -> f64 {
    if length_scale == 0.0 {
        1.0
    } else {
        length_scale / (known.max(1) as f64).sqrt()
    }
}

/// The parts a model is made of, as training produces them.
#[derive(Debug, Clone)]
pub struct Parts {
    /// Version string shown in every decision; empty to derive one from the content.
    pub version: String,
    /// Tokenizer settings the vocabulary was built with.
    pub settings: Settings,
    /// Numerator of the document scale (see [`document_scale`]); 0 turns it off.
    pub length_scale: f64,
    /// The decision thresholds on spam log-odds.
    pub thresholds: Thresholds,
    /// Spam log-odds of a comment with no known feature.
    pub bias: f64,
    /// `(token, weight)`, tokens unique and in ascending byte order; a weight is what the token adds to
    /// the spam log-odds before the document scale.
    pub vocabulary: Vec<(String, f64)>,
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
    /// The token's weight times this comment's document scale: what it added to the log-odds; positive
    /// pushes towards spam. The contributions and the model's bias sum to the score.
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
        let mut weight = Vec::with_capacity(parts.vocabulary.len());
        let mut index =
            FxHashMap::with_capacity_and_hasher(parts.vocabulary.len(), Default::default());
        for (i, (token, w)) in parts.vocabulary.into_iter().enumerate() {
            let token: Box<str> = token.into_boxed_str();
            if index.insert(token_hash(&token), i as u32).is_some() {
                return Err(format!(
                    "two vocabulary tokens share a hash, one of them is {token:?}"
                ));
            }
            tokens.push(token);
            weight.push(w);
        }
        let shape_ids = crate::model::tokenize::SHAPE_PREFIXES
            .iter()
            .map(|prefix| {
                let start = tokens.partition_point(|t| **t < **prefix);
                let len = tokens[start..].partition_point(|t| t.starts_with(prefix));
                // Ids are u32 throughout (the file counts its vocabulary in a u32).
                start as u32..(start + len) as u32
            })
            .collect();
        Ok(Model {
            version,
            settings: parts.settings,
            length_scale: parts.length_scale,
            thresholds: parts.thresholds,
            bias: parts.bias,
            tokens,
            index,
            weight,
            shape_ids,
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

    /// Numerator of the document scale (see [`document_scale`]).
    pub fn length_scale(&self) -> f64 {
        self.length_scale
    }

    /// The decision thresholds.
    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// Spam log-odds of a comment with no known feature.
    pub fn bias(&self) -> f64 {
        self.bias
    }

    /// Vocabulary size.
    pub fn vocabulary_len(&self) -> usize {
        self.tokens.len()
    }

    /// Every token with its weight (before the document scale), in ascending byte order.
    pub fn vocabulary(&self) -> impl Iterator<Item = (&str, f64)> + '_ {
        self.tokens
            .iter()
            .map(|t| &**t)
            .zip(self.weight.iter().copied())
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

    /// The ids of the features the model knows, each once (a feature counts once per comment, as in
    /// training), in the order the comment first gives them.
    pub fn known_ids(&self, features: &Features, ids: &mut Vec<u32>) {
        ids.clear();
        // Repeats are dropped with a bitset over the vocabulary (25 KB at 200,000 features, kept per
        // thread and cleared bit by bit afterwards) rather than by sorting: sorting a long comment's
        // hundreds of ids was a seventh of scoring it.
        SEEN.with(|seen| {
            let mut seen = seen.borrow_mut();
            let words = self.tokens.len().div_ceil(64);
            if seen.len() < words {
                seen.resize(words, 0);
            }
            for id in features.iter().filter_map(|f| self.token_id(f)) {
                let (word, bit) = ((id / 64) as usize, 1u64 << (id % 64));
                if seen[word] & bit == 0 {
                    seen[word] |= bit;
                    ids.push(id);
                }
            }
            for &id in ids.iter() {
                seen[(id / 64) as usize] = 0;
            }
        });
    }

    /// Score a set of unique token ids (each counted once, as in training).
    pub fn score_ids(&self, ids: &[u32]) -> Score {
        score_sparse(self.bias, &self.weight, self.length_scale, ids)
    }

    /// Score and explain: the decision and the `k` tokens that pushed hardest each way.
    pub fn explain(&self, ids: &[u32], k: usize) -> Explanation {
        let score = self.score_ids(ids);
        let doc = document_scale(self.length_scale, ids.len());
        let named = |(id, weight): &(u32, f64)| Contribution {
            token: self.tokens[*id as usize].to_string(),
            weight: *weight,
        };
        // Strongest first; ties by id, ascending towards spam and descending towards ham, as one sort
        // of every feature read from both ends would give.
        let spam_first = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        let ham_first = |a: &(u32, f64), b: &(u32, f64)| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0));
        // The k strongest each way in one pass, each side kept sorted and at most k long: a long
        // comment has hundreds of features and the reasons name three (a sort of every feature was an
        // eighth of a check; collecting each side into a vector to select from cost two more passes
        // and two allocations, BENCHMARKS.md).
        let (mut spam, mut ham) = (Vec::new(), Vec::new());
        for &id in ids {
            let c = (id, self.weight[id as usize] * doc);
            if c.1 > 0.0 {
                keep_strongest(&mut spam, c, k, spam_first);
            } else if c.1 < 0.0 {
                keep_strongest(&mut ham, c, k, ham_first);
            }
        }
        let towards_spam = spam.iter().map(named).collect();
        let towards_ham = ham.iter().map(named).collect();
        Explanation {
            score,
            decision: self.thresholds.decide(score.log_odds),
            known_tokens: ids.len(),
            evidence_tokens: ids
                .iter()
                .filter(|id| !self.shape_ids.iter().any(|r| r.contains(id)))
                .count(),
            towards_spam,
            towards_ham,
        }
    }

    #[cfg(test)]
    pub(crate) fn weights(&self) -> &[f64] {
        &self.weight
    }
}

/// Put `c` into `side`, which holds the `k` first contributions seen so far in `order`, sorted.
fn keep_strongest(
    side: &mut Vec<(u32, f64)>,
    c: (u32, f64),
    k: usize,
    order: impl Fn(&(u32, f64), &(u32, f64)) -> std::cmp::Ordering,
) {
    if side.len() == k && side.last().is_none_or(|last| order(&c, last).is_gt()) {
        return;
    }
    let at = side.partition_point(|x| order(x, &c).is_lt());
    side.insert(at, c);
    side.truncate(k);
}

thread_local! {
    /// `known_ids`' scratch: one bit per vocabulary entry, all clear between calls.
    static SEEN: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The 64-bit hash the vocabulary index is keyed by.
fn token_hash(token: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(token.as_bytes());
    h.finish()
}

/// The spam log-odds `bias + document_scale(n) × Σ weight[id]` of a document whose `n` known features
/// are `ids`, and both classes' log-probabilities from it (a stable log-sigmoid, so a confident score
/// gives exact log-probabilities rather than `ln 0`).
pub(crate) fn score_sparse(bias: f64, weight: &[f64], length_scale: f64, ids: &[u32]) -> Score {
    let sum: f64 = ids.iter().map(|&id| weight[id as usize]).sum();
    let log_odds = bias + document_scale(length_scale, ids.len()) * sum;
    Score {
        log_odds,
        log_proba: [-softplus(log_odds), -softplus(-log_odds)],
    }
}

/// `ln(1 + eˣ)` without overflow or loss at either end.
fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
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
            length_scale: 3.0,
            thresholds: Thresholds {
                accept_below: -1.0,
                reject_at: 2.0,
            },
            bias: (0.4f64 / 0.6).ln(),
            vocabulary: vec![
                ("c:gac".into(), 1.5),
                ("w:gacor".into(), 6.0),
                ("w:terima".into(), -4.0),
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
        assert!((model.bias() + sum - ex.score.log_odds).abs() < 1e-12);
        assert_eq!(ex.towards_spam[0].token, "w:gacor");
        assert_eq!(ex.towards_ham[0].token, "w:terima");
        // Three known features: each weight counts 3/√3.
        let expected = model.bias() + 3f64.sqrt() * (1.5 + 6.0 - 4.0);
        assert!((ex.score.log_odds - expected).abs() < 1e-12);
        let p = ex.score.log_proba;
        assert!((p[0].exp() + p[1].exp() - 1.0).abs() < 1e-12);
    }

    /// A model of `vocabulary` with no bias and a length scale of 1.
    fn unit_model(vocabulary: Vec<(String, f64)>) -> Model {
        Model::from_parts(Parts {
            version: "t".into(),
            settings: Settings::default(),
            length_scale: 1.0,
            thresholds: Thresholds {
                accept_below: -1.0,
                reject_at: 2.0,
            },
            bias: 0.0,
            vocabulary,
        })
        .unwrap()
    }

    #[test]
    fn evidence_leaves_out_exactly_the_shape_features() {
        // Shape tokens at both ends and in the middle of the sorted vocabulary, and tokens that only
        // begin like one ("lengthy", "lang" without its colon).
        let vocabulary: Vec<(String, f64)> = [
            "c:ab",
            "caps:high",
            "caps:low",
            "lang",
            "lang:id",
            "len:short",
            "lengthy",
            "links:1",
            "links:many",
            "w:ok",
        ]
        .iter()
        .map(|t| (t.to_string(), 0.5))
        .collect();
        let model = unit_model(vocabulary.clone());
        let all: Vec<u32> = (0..vocabulary.len() as u32).collect();
        for n in 0..=all.len() {
            let ids = &all[..n];
            let expected = ids
                .iter()
                .filter(|&&id| !tokenize::is_shape(&vocabulary[id as usize].0))
                .count();
            assert_eq!(model.explain(ids, 5).evidence_tokens, expected, "{n} ids");
        }
        assert_eq!(model.explain(&all, 5).evidence_tokens, 4);
    }

    #[test]
    fn the_strongest_contributions_are_those_a_full_sort_gives() {
        // Few distinct weights, so ties are common and the tie-break by id is tested too.
        let weights = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0];
        let vocabulary: Vec<(String, f64)> = (0..60)
            .map(|i| {
                (
                    format!("w:{i:03}"),
                    weights[(i * 7 + i / 5) % weights.len()],
                )
            })
            .collect();
        let model = unit_model(vocabulary.clone());
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for round in 0..200 {
            let ids: Vec<u32> = (0..60u32)
                .filter(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    !state.is_multiple_of(3)
                })
                .collect();
            // The reference: every contribution sorted strongest first, read from each end.
            let mut all: Vec<(u32, f64)> = ids
                .iter()
                .map(|&id| (id, vocabulary[id as usize].1))
                .collect();
            all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            for k in [0, 1, 3, 5, 100] {
                let ex = model.explain(&ids, k);
                let doc = document_scale(1.0, ids.len());
                let name = |c: &(u32, f64)| (vocabulary[c.0 as usize].0.clone(), c.1 * doc);
                let spam: Vec<_> = all.iter().filter(|c| c.1 > 0.0).take(k).map(name).collect();
                let ham: Vec<_> = all
                    .iter()
                    .rev()
                    .filter(|c| c.1 < 0.0)
                    .take(k)
                    .map(name)
                    .collect();
                let got = |side: &[Contribution]| -> Vec<(String, f64)> {
                    side.iter().map(|c| (c.token.clone(), c.weight)).collect()
                };
                assert_eq!(got(&ex.towards_spam), spam, "round {round}, k {k}");
                assert_eq!(got(&ex.towards_ham), ham, "round {round}, k {k}");
            }
        }
    }

    #[test]
    fn confident_scores_keep_exact_log_probabilities() {
        let s = score_sparse(800.0, &[], 0.0, &[]);
        assert_eq!(s.log_odds, 800.0);
        assert_eq!(s.log_proba[1], 0.0);
        assert!((s.log_proba[0] + 800.0).abs() < 1e-9);
        let s = score_sparse(-800.0, &[], 0.0, &[]);
        assert!((s.log_proba[1] + 800.0).abs() < 1e-9);
    }
}
