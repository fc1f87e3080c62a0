//! Configured terms (a site's blocked and moderation terms) found in a comment: after look-alike
//! folding, as whole words, the first in the configured order winning.
//!
//! Terms are folded to skeletons once, when the configuration is loaded, and looked for all at once
//! with one Aho-Corasick automaton: a site's blocklist can run to thousands of terms (WordPress's
//! shared "disallowed keys" lists do), and folding and scanning for each term per comment cost about
//! 250 µs a comment at 1,000 terms, several times the rest of a check (see BENCHMARKS.md).

use aho_corasick::AhoCorasick;

/// A list of terms, ready to be looked for.
#[derive(Debug, Clone, Default)]
pub struct TermSet {
    /// The terms as configured, for reasons.
    terms: Vec<String>,
    /// Over the skeletons of the terms that fold to something; a pattern's id indexes `of_pattern`.
    matcher: Option<AhoCorasick>,
    /// The index in `terms` of each pattern.
    of_pattern: Vec<usize>,
}

impl TermSet {
    /// Fold `terms` for matching.
    pub fn new(terms: &[String]) -> TermSet {
        let (of_pattern, patterns): (Vec<usize>, Vec<String>) = terms
            .iter()
            .enumerate()
            .map(|(i, t)| (i, crate::model::tokenize::skeleton(t)))
            .filter(|(_, s)| !s.is_empty())
            .unzip();
        // Building fails only past the automaton's size limits, far beyond any configured list; a set
        // that cannot be built would match nothing, so it is refused when the configuration is checked
        // (see `Config::validate`), never silently at serving time.
        let matcher = (!patterns.is_empty())
            .then(|| AhoCorasick::new(&patterns).ok())
            .flatten();
        TermSet {
            terms: terms.to_vec(),
            matcher,
            of_pattern,
        }
    }

    /// Whether every term that folds to something can be looked for.
    pub fn is_usable(&self) -> bool {
        self.of_pattern.is_empty() || self.matcher.is_some()
    }

    /// The first term that folds to nothing (no letters or digits), so could never match.
    pub fn unmatchable(&self) -> Option<&str> {
        let mut matchable = self.of_pattern.iter().copied().peekable();
        self.terms.iter().enumerate().find_map(|(i, t)| {
            if matchable.peek() == Some(&i) {
                matchable.next();
                None
            } else {
                Some(t.as_str())
            }
        })
    }

    /// The first configured term found in `skeleton` (a comment's skeleton words, single-spaced) as
    /// whole words.
    pub fn first_in(&self, skeleton: &str) -> Option<&str> {
        let matcher = self.matcher.as_ref()?;
        let bytes = skeleton.as_bytes();
        // Overlapping matches: a shorter term inside a longer one, or two terms sharing a space, must
        // each be seen, since the earliest configured term wins wherever it is.
        matcher
            .find_overlapping_iter(skeleton)
            .filter(|m| {
                (m.start() == 0 || bytes[m.start() - 1] == b' ')
                    && (m.end() == bytes.len() || bytes[m.end()] == b' ')
            })
            .map(|m| self.of_pattern[m.pattern().as_usize()])
            .min()
            .map(|i| self.terms[i].as_str())
    }
}

/// Two sets are the same when they hold the same terms; the rest follows from them.
impl PartialEq for TermSet {
    fn eq(&self, other: &Self) -> bool {
        self.terms == other.terms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(terms: &[&str]) -> TermSet {
        TermSet::new(&terms.iter().map(|t| t.to_string()).collect::<Vec<_>>())
    }

    fn sk(text: &str) -> String {
        crate::model::tokenize::skeleton(text)
    }

    #[test]
    fn terms_match_whole_words_after_folding() {
        let s = set(&["casino bonus", "pill"]);
        assert_eq!(
            s.first_in(&sk("Get your 𝐂𝐀𝐒𝐈𝐍𝐎 BONUS now")),
            Some("casino bonus")
        );
        assert_eq!(s.first_in(&sk("pill")), Some("pill"));
        // Inside a longer word is not the word.
        assert_eq!(s.first_in(&sk("pillow talk, casinobonus")), None);
        assert_eq!(s.first_in(&sk("spill")), None);
        assert_eq!(s.first_in(""), None);
    }

    #[test]
    fn the_first_configured_term_wins_wherever_it_is() {
        let s = set(&["late", "early words", "words"]);
        // "words" comes first in the text, "late" first in the list.
        assert_eq!(
            s.first_in(&sk("words and early words then late")),
            Some("late")
        );
        assert_eq!(s.first_in(&sk("early words")), Some("early words"));
        // Two terms sharing the space between them are both seen.
        let s = set(&["b c", "a b"]);
        assert_eq!(s.first_in(&sk("a b c")), Some("b c"));
    }

    #[test]
    fn terms_that_fold_to_nothing_never_match() {
        let s = set(&["ok", "!!!", "   "]);
        assert!(s.is_usable());
        assert_eq!(s.unmatchable(), Some("!!!"));
        assert_eq!(set(&["ok", "fine"]).unmatchable(), None);
        assert_eq!(s.first_in(&sk("!!! ok")), Some("ok"));
        assert_eq!(set(&["!!!"]).first_in(&sk("!!! anything")), None);
        assert_eq!(set(&[]).first_in("anything"), None);
    }
}
