//! Which characters of a comment's original text the model's strongest word tokens came from, for
//! the moderator's page to highlight.
//!
//! The tokenizer folds look-alike letters before it makes features (`𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗` becomes `w:megabet99`),
//! so a token cannot be found in the original text by searching for it. Instead each word of the
//! original text is folded exactly as the tokenizer folds it, character by character, keeping the
//! range of original characters it came from; a word whose folded form (or leet-folded form, or a
//! spaced-out run re-joined, or two adjacent words) is one of the given tokens is highlighted. Offsets
//! are UTF-16 code units, which is what a browser's string indices count.

use std::ops::Range;

use super::tokenize::{fold_char, leet_fold_into, truncate_chars, MAX_WORD_CHARS, MIN_SPACED_RUN};

/// A span of the original text that carried a token, in UTF-16 code units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Highlight {
    /// First code unit.
    pub start: usize,
    /// One past the last code unit.
    pub end: usize,
    /// The token's contribution to the log-odds (positive: towards spam).
    pub weight: f64,
}

/// The words of `text` as the tokenizer sees them (folded, lower-cased), each with the byte range of
/// the original characters it came from. An invisible character inside a word stays inside its range.
pub fn words(text: &str) -> Vec<(String, Range<usize>)> {
    let (mut scratch, mut folded) = (String::new(), String::new());
    let mut out: Vec<(String, Range<usize>)> = Vec::new();
    let mut current: Option<(String, Range<usize>)> = None;
    for (at, c) in text.char_indices() {
        fold_char(c, &mut scratch, &mut folded);
        let end = at + c.len_utf8();
        for f in folded.chars() {
            if f.is_alphanumeric() {
                let word = current.get_or_insert_with(|| (String::new(), at..end));
                word.0.push(f);
                word.1.end = end;
            } else if let Some(word) = current.take() {
                out.push(word);
            }
        }
    }
    out.extend(current);
    out
}

/// The spans of `text` whose words are among `tokens` (`(feature, weight)`; only `w:` and `w2:`
/// features can be found in the text), strongest first where two would overlap, returned sorted and
/// not overlapping.
pub fn highlights(text: &str, tokens: &[(&str, f64)]) -> Vec<Highlight> {
    let words = words(text);
    let weight = |feature: &str| tokens.iter().find(|(t, _)| *t == feature).map(|&(_, w)| w);
    let mut found: Vec<(Range<usize>, f64)> = Vec::new();
    let mut leet = String::new();
    let mut run: Vec<usize> = Vec::new();
    let flush_run = |run: &mut Vec<usize>, found: &mut Vec<(Range<usize>, f64)>| {
        if run.len() >= MIN_SPACED_RUN {
            let joined: String = run.iter().map(|&i| words[i].0.as_str()).collect();
            if let Some(w) = weight(&format!("w:{joined}")) {
                let (first, last) = (run[0], run[run.len() - 1]);
                found.push((words[first].1.start..words[last].1.end, w));
            }
        }
        run.clear();
    };
    for (i, (word, range)) in words.iter().enumerate() {
        let word = truncate_chars(word, MAX_WORD_CHARS);
        if let Some(w) = weight(&format!("w:{word}")) {
            found.push((range.clone(), w));
        } else if leet_fold_into(word, &mut leet) {
            if let Some(w) = weight(&format!("w:{leet}")) {
                found.push((range.clone(), w));
            }
        }
        if let Some((next, next_range)) = words.get(i + 1) {
            let next = truncate_chars(next, MAX_WORD_CHARS);
            if let Some(w) = weight(&format!("w2:{word} {next}")) {
                found.push((range.start..next_range.end, w));
            }
        }
        if word.chars().nth(1).is_none() {
            run.push(i);
        } else {
            flush_run(&mut run, &mut found);
        }
    }
    flush_run(&mut run, &mut found);

    // Strongest first, then keep what does not overlap what is kept.
    found.sort_by(|a, b| {
        b.1.abs()
            .total_cmp(&a.1.abs())
            .then(a.0.start.cmp(&b.0.start))
    });
    let mut kept: Vec<(Range<usize>, f64)> = Vec::new();
    for (range, w) in found {
        if kept
            .iter()
            .all(|(k, _)| range.end <= k.start || range.start >= k.end)
        {
            kept.push((range, w));
        }
    }
    kept.sort_by_key(|(r, _)| r.start);
    kept.into_iter()
        .map(|(r, weight)| Highlight {
            start: utf16_len(&text[..r.start]),
            end: utf16_len(&text[..r.end]),
            weight,
        })
        .collect()
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The UTF-16 span of the first `needle` in `text`, as a browser would count it.
    fn span(text: &str, needle: &str) -> (usize, usize) {
        let at = text.find(needle).unwrap();
        let start = text[..at].encode_utf16().count();
        (start, start + needle.encode_utf16().count())
    }

    #[test]
    fn look_alike_words_are_found_where_they_were_written() {
        let text = "💰 Situs 𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 paling g\u{200B}acor! АЕRО88 🔥 di p u l a u w i n, sl0t ok";
        let tokens = [
            ("w:megabet99", 2.1),
            ("w:gacor", 1.2),
            ("w:aero88", 1.9),
            ("w:pulauwin", 1.8),
            ("w:slot", 1.3),
            ("c:gac", 0.4),
            ("w:paling", -0.3),
        ];
        let got: Vec<(usize, usize)> = highlights(text, &tokens)
            .iter()
            .map(|h| (h.start, h.end))
            .collect();
        assert_eq!(
            got,
            [
                span(text, "𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗"),
                span(text, "paling"),
                span(text, "g\u{200B}acor"),
                span(text, "АЕRО88"),
                span(text, "p u l a u w i n"),
                span(text, "sl0t"),
            ]
        );
        // decancer reads some emoji as letters (🔥 as `o`), as the tokenizer does: a run right after
        // one would join it, so `di` stands between them here.
        // The bold word is 9 astral characters: 18 code units after "💰 Situs " (2 + 7).
        assert_eq!(got[0], (9, 27));
        let weights: Vec<f64> = highlights(text, &tokens).iter().map(|h| h.weight).collect();
        assert_eq!(weights, [2.1, -0.3, 1.2, 1.9, 1.8, 1.3]);
    }

    #[test]
    fn pairs_and_overlaps_keep_the_strongest() {
        let text = "Great post, visit my site";
        let tokens = [("w2:visit my", 1.1), ("w:visit", 0.5), ("w:site", 0.2)];
        let got = highlights(text, &tokens);
        assert_eq!(
            got.iter().map(|h| (h.start, h.end)).collect::<Vec<_>>(),
            [span(text, "visit my"), span(text, "site")]
        );
        assert!(highlights("nothing here", &tokens).is_empty());
        assert!(highlights("", &tokens).is_empty());
    }
}
