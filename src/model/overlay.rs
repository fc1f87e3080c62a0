//! A site's overlay: what the site's own moderators and blog have taught saring, kept as counts of the
//! features of the comments they labelled, and the push those counts give a comment's score on top of
//! the shipped model's.
//!
//! No model trained on public corpora knows one blog's spam; the blog's moderators do, and they say so
//! with every verdict and report. Naive Bayes is the model family whose counts take a verdict exactly and
//! at once, and give it back exactly when it is reversed: the overlay is a per-site naive Bayes over the
//! *documents* that carry each feature. For a feature `f` of a comment that the overlay has seen, with
//! `s` of the site's `S` spam labels and `h` of its `H` ham labels carrying it, its push is
//!
//! ```text
//! weight × ln( ((s + k·p) / (S + k)) / ((h + k·p) / (H + k)) ),   p = (s/S + h/H) / 2,
//! ```
//!
//! clamped to ±[`MAX_FEATURE_PUSH`], for a feature carried by at least [`MIN_SUPPORT`] labels; a
//! comment's push is the sum over its features the overlay has seen, clamped to ±[`MAX_TOTAL_PUSH`],
//! and is added to the shipped model's log-odds. (What that may change is the policy's business: on its
//! own the overlay sends a comment to a person, never rejects or publishes against the model.)
//!
//! Each class's rate is shrunk towards the mean of the two classes' rates by `k` = [`PRIOR_LABELS`]
//! imagined labels. That is what keeps a site's labels honest: they are few and lopsided (moderators
//! label the comments saring held or published wrongly, mostly spam), and a plain per-class estimate
//! would call every word missing from a handful of ham labels "hammy", or every word of a spam label
//! "spammy". Shrunk, a feature pushes only as far as the site's labels of *both* classes show it to be
//! one class's more than the other's: with labels of one class only, no feature pushes at all; a
//! feature as common in the site's spam as in its ham pushes nothing; a campaign's words, in many spam
//! labels and no ham, push harder as labels of either class accumulate to show it. The mean of the two
//! rates, not the rate over all labels: with thirty spam labels to three ham, the latter is nearly the
//! spam rate, and shrinking the ham rate towards it hid the very campaigns the site had labelled.
//! Features the overlay never saw push nothing. This module is pure: counts in, push out; the store
//! keeps the counts and `service::overlay` caches them.

use rustc_hash::FxHashMap;

use crate::model::tokenize::Features;
use crate::model::Score;

/// Imagined labels (`k` in the module's formula) by which each class's rate of a feature is shrunk
/// towards the mean of both. Chosen with `saring simulate` on corpora the model never saw
/// (BENCHMARKS.md): 5 let less spam through than 10 on YouTube and Indonesian Instagram sites, about
/// the same on Instagram scams, and ham rejected was never higher than without the overlay.
pub const PRIOR_LABELS: f64 = 5.0;
/// Fewest labels that must carry a feature before it pushes: a word of one label is an anecdote, and
/// early on a site's single labels pushed real readers' comments over the line in simulation.
pub const MIN_SUPPORT: u64 = 2;
/// Largest push one feature may give, in log-odds: a single word, however telling on this site, moves
/// a comment by at most this much.
pub const MAX_FEATURE_PUSH: f64 = 3.0;
/// Largest push the overlay may give one comment, in log-odds: the shipped model's evidence still
/// counts, however many of the comment's words the site has seen.
pub const MAX_TOTAL_PUSH: f64 = 12.0;
/// How many of a comment's overlay features are named in its reasons, each way.
pub const REASON_FEATURES: usize = 3;

/// `score` moved by `push` log-odds, its probabilities renormalised.
pub fn shift(score: Score, push: f64) -> Score {
    let log_odds = score.log_odds + push;
    // ln σ(x) = −ln(1 + e^−x), computed without overflow either way.
    let log_sigmoid = |x: f64| -> f64 {
        if x >= 0.0 {
            -(-x).exp().ln_1p()
        } else {
            x - x.exp().ln_1p()
        }
    };
    Score {
        log_odds,
        log_proba: [log_sigmoid(-log_odds), log_sigmoid(log_odds)],
    }
}

/// Whether the overlay learns a feature: what a comment says (words, word pairs, handles, tags), where
/// it points (hosts, domains, phone numbers, links as markup), how it is disguised, and what its form
/// fields say — not its plain shape (length, capitals, language) nor its character n-grams, which are
/// many per word and would count one word many times over on the small samples a site's labels are.
pub fn learns(feature: &str) -> bool {
    const KINDS: [&str; 15] = [
        "w:",
        "w2:",
        "url.",
        "email.",
        "author",
        "phone",
        "emoji",
        "currency",
        "punct:",
        "links:",
        "mention",
        "hashtag",
        "disguise:",
        "shape:",
        "markup:",
    ];
    KINDS.iter().any(|k| feature.starts_with(k))
}

/// The features of a comment the overlay learns from: deduplicated and sorted.
pub fn lesson(features: &Features) -> Vec<String> {
    let mut out: Vec<String> = features
        .iter()
        .filter(|f| learns(f))
        .map(str::to_string)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The counts of one feature: spam labels and ham labels that carry it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Spam labels carrying the feature.
    pub spam: u64,
    /// Ham labels carrying the feature.
    pub ham: u64,
}

/// One feature's push on a comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    /// The feature string, e.g. `w:subscribe`.
    pub token: String,
    /// Its push, in log-odds; positive towards spam.
    pub weight: f64,
    /// The site's labels carrying it.
    pub counts: Counts,
}

/// What a site's overlay makes of one comment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// The push added to the shipped model's log-odds.
    pub log_odds: f64,
    /// Features of the comment the overlay has seen.
    pub known: usize,
    /// The strongest pushes towards spam, strongest first.
    pub towards_spam: Vec<Push>,
    /// The strongest pushes towards ham, strongest first.
    pub towards_ham: Vec<Push>,
}

/// A site's overlay as a replica holds it: every feature's counts and the label totals.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    /// Spam labels that taught it.
    pub spam_labels: u64,
    /// Ham labels that taught it.
    pub ham_labels: u64,
    /// Counts by feature string.
    counts: FxHashMap<Box<str>, Counts>,
    /// The push of a feature per log-odds unit of evidence (see the module's formula).
    weight: f64,
}

impl Overlay {
    /// An overlay from its counts, pushing with `weight`.
    pub fn new(
        spam_labels: u64,
        ham_labels: u64,
        counts: impl IntoIterator<Item = (String, Counts)>,
        weight: f64,
    ) -> Overlay {
        Overlay {
            spam_labels,
            ham_labels,
            counts: counts
                .into_iter()
                .filter(|(_, c)| c.spam + c.ham > 0)
                .map(|(f, c)| (f.into_boxed_str(), c))
                .collect(),
            weight,
        }
    }

    /// How many features it knows.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether it knows nothing.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// A feature's counts.
    pub fn counts(&self, feature: &str) -> Counts {
        self.counts.get(feature).copied().unwrap_or_default()
    }

    /// Take one label's features (`spam` or ham) in, or back out (`sign` -1): exactly what the store
    /// did, so that a replica can follow its own writes without reading the overlay again.
    pub fn learn(&mut self, features: &[String], spam: bool, sign: i64) {
        let step = |n: &mut u64| {
            *n = if sign >= 0 {
                n.saturating_add(1)
            } else {
                n.saturating_sub(1)
            }
        };
        if spam {
            step(&mut self.spam_labels);
        } else {
            step(&mut self.ham_labels);
        }
        for f in features {
            let c = self.counts.entry(f.as_str().into()).or_default();
            step(if spam { &mut c.spam } else { &mut c.ham });
            if c.spam + c.ham == 0 {
                self.counts.remove(f.as_str());
            }
        }
    }

    /// One feature's push (see the module's formula).
    pub fn push(&self, c: Counts) -> f64 {
        let (s, h) = (c.spam as f64, c.ham as f64);
        let (total_s, total_h) = (self.spam_labels as f64, self.ham_labels as f64);
        if c.spam + c.ham < MIN_SUPPORT || total_s + total_h == 0.0 {
            return 0.0;
        }
        if total_s == 0.0 || total_h == 0.0 {
            return 0.0;
        }
        let k = PRIOR_LABELS;
        let pooled = (s / total_s + h / total_h) / 2.0;
        let rate_s = (s + k * pooled) / (total_s + k);
        let rate_h = (h + k * pooled) / (total_h + k);
        (self.weight * (rate_s / rate_h).ln()).clamp(-MAX_FEATURE_PUSH, MAX_FEATURE_PUSH)
    }

    /// What the overlay makes of a comment's features.
    pub fn read(&self, features: &Features) -> Reading {
        let mut pushes: Vec<Push> = Vec::new();
        // A set, not a list: a long comment repeats words by the thousand, and a list's look-ups made
        // reading it quadratic.
        let mut seen: rustc_hash::FxHashSet<&str> = rustc_hash::FxHashSet::default();
        for f in features.iter().filter(|f| learns(f)) {
            if !seen.insert(f) {
                continue;
            }
            if let Some(&c) = self.counts.get(f) {
                pushes.push(Push {
                    token: f.to_string(),
                    weight: self.push(c),
                    counts: c,
                });
            }
        }
        let total: f64 = pushes.iter().map(|p| p.weight).sum();
        pushes.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.token.cmp(&b.token)));
        let known = pushes.len();
        let towards_spam = pushes
            .iter()
            .filter(|p| p.weight > 0.0)
            .take(REASON_FEATURES)
            .cloned()
            .collect();
        let towards_ham = pushes
            .iter()
            .rev()
            .filter(|p| p.weight < 0.0)
            .take(REASON_FEATURES)
            .cloned()
            .collect();
        Reading {
            log_odds: total.clamp(-MAX_TOTAL_PUSH, MAX_TOTAL_PUSH),
            known,
            towards_spam,
            towards_ham,
        }
    }

    /// The `k` features pushing hardest each way, for a person inspecting the overlay: towards spam,
    /// then towards ham, strongest first.
    pub fn top(&self, k: usize) -> (Vec<Push>, Vec<Push>) {
        let mut all: Vec<Push> = self
            .counts
            .iter()
            .map(|(f, &c)| Push {
                token: f.to_string(),
                weight: self.push(c),
                counts: c,
            })
            .collect();
        all.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.token.cmp(&b.token)));
        let spam = all
            .iter()
            .filter(|p| p.weight > 0.0)
            .take(k)
            .cloned()
            .collect();
        let ham = all
            .iter()
            .rev()
            .filter(|p| p.weight < 0.0)
            .take(k)
            .cloned()
            .collect();
        (spam, ham)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tokenize::{Document, Settings, Tokenizer};

    fn features(text: &str) -> Features {
        let mut out = Features::new();
        let doc = Document {
            text,
            author: None,
            author_url: None,
            author_email: None,
            lang: None,
        };
        Tokenizer::new(Settings::default()).tokenize(&doc, &mut out);
        out
    }

    fn taught(spam: &[&str], ham: &[&str]) -> Overlay {
        let mut o = Overlay::new(0, 0, [], 1.0);
        for t in spam {
            o.learn(&lesson(&features(t)), true, 1);
        }
        for t in ham {
            o.learn(&lesson(&features(t)), false, 1);
        }
        o
    }

    /// A site labels mostly spam (what saring held or published wrongly). A campaign word in every
    /// spam label and no ham label must push harder the more of the campaign is labelled, not less:
    /// shrinking towards the rate over all labels, which the spam then makes, did the opposite.
    #[test]
    fn more_spam_labels_of_a_campaign_push_harder_however_few_the_ham_labels() {
        let ham = ["great song", "lovely chorus", "great verse"];
        let push_after = |n: usize| {
            let spam: Vec<String> = (0..n).map(|i| format!("zorblax deal {i}")).collect();
            let spam: Vec<&str> = spam.iter().map(String::as_str).collect();
            let o = taught(&spam, &ham);
            o.push(o.counts("w:zorblax"))
        };
        let (few, many) = (push_after(3), push_after(30));
        assert!(few > 0.0, "{few}");
        assert!(many > few, "3 labels: {few}, 30 labels: {many}");
        // And with labels of one class only, nothing pushes.
        let o = taught(&["zorblax deal", "zorblax now"], &[]);
        assert_eq!(o.push(o.counts("w:zorblax")), 0.0);
    }

    #[test]
    fn it_learns_words_and_links_not_shapes_or_character_grams() {
        let l = lesson(&features("Subscribe to my channel http://spam.example NOW"));
        assert!(l.contains(&"w:subscribe".to_string()), "{l:?}");
        assert!(l.iter().any(|f| f.starts_with("url.host:")), "{l:?}");
        assert!(!l
            .iter()
            .any(|f| f.starts_with("c:") || f.starts_with("len:")));
    }

    #[test]
    fn what_the_site_calls_spam_pushes_towards_spam_and_its_ham_back() {
        let spam: Vec<String> = (0..12)
            .map(|i| format!("subscribe to my channel for gift number {i}"))
            .collect();
        let ham: Vec<String> = (0..12)
            .map(|i| format!("great song, the chorus of verse {i} is lovely"))
            .collect();
        let spam: Vec<&str> = spam.iter().map(String::as_str).collect();
        let ham: Vec<&str> = ham.iter().map(String::as_str).collect();
        let o = taught(&spam, &ham);
        let spammy = o.read(&features("please subscribe to my channel"));
        assert!(spammy.log_odds > 1.0, "{spammy:?}");
        assert_eq!(spammy.towards_spam.len(), REASON_FEATURES);
        assert!(o.push(o.counts("w:subscribe")) > 0.5);
        let hammy = o.read(&features("love the chorus"));
        assert!(hammy.log_odds < -0.5, "{hammy:?}");
        // What it never saw pushes nothing; nor does what one label alone carries.
        assert_eq!(o.read(&features("zebra quantum")).log_odds, 0.0);
        let once = taught(&["subscribe zebra"], &["zebra"]);
        assert_eq!(once.push(once.counts("w:subscribe")), 0.0);
    }

    #[test]
    fn a_feature_as_common_in_the_site_s_spam_as_in_its_ham_pushes_nothing() {
        let o = Overlay::new(
            40,
            10,
            [("w:the".to_string(), Counts { spam: 20, ham: 5 })],
            2.0,
        );
        assert!(o.push(o.counts("w:the")).abs() < 1e-12);
    }

    #[test]
    fn labels_of_one_class_alone_push_nothing() {
        let o = taught(&["subscribe to my channel", "subscribe to my channel"], &[]);
        let c = o.counts("w:subscribe");
        assert_eq!((c.spam, c.ham), (2, 0));
        assert_eq!(o.push(c), 0.0);
        assert_eq!(o.read(&features("subscribe to my channel")).log_odds, 0.0);
    }

    #[test]
    fn unlearning_gives_back_exactly_what_learning_took() {
        let mut o = taught(&["subscribe to my channel"], &["the chorus is great"]);
        let before: Vec<(String, Counts)> = {
            let mut v: Vec<_> = o.counts.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        let extra = lesson(&features("free gifts on my channel"));
        o.learn(&extra, true, 1);
        assert_eq!(o.spam_labels, 2);
        o.learn(&extra, true, -1);
        let mut after: Vec<_> = o.counts.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        after.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(after, before);
        assert_eq!((o.spam_labels, o.ham_labels), (1, 1));
    }

    #[test]
    fn pushes_are_bounded() {
        let spam: Vec<String> = (0..200)
            .map(|i| format!("buy cheap pills now offer {i}"))
            .collect();
        let refs: Vec<&str> = spam.iter().map(String::as_str).collect();
        let ham: Vec<String> = (0..200)
            .map(|i| format!("thoughtful reply number {i}"))
            .collect();
        let hrefs: Vec<&str> = ham.iter().map(String::as_str).collect();
        let o = Overlay {
            weight: 5.0,
            ..taught(&refs, &hrefs)
        };
        let r = o.read(&features("buy cheap pills now offer buy cheap pills now"));
        assert!(r.towards_spam.iter().all(|p| p.weight <= MAX_FEATURE_PUSH));
        assert!(r.log_odds <= MAX_TOTAL_PUSH);
    }
}
