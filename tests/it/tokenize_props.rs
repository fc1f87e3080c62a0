//! Property tests: any input tokenizes without panic, deterministically, and within bounds.

use proptest::prelude::*;
use saring::model::tokenize::{Document, Features, Settings, Tokenizer};

fn tokens(doc: &Document<'_>) -> Vec<String> {
    let mut t = Tokenizer::new(Settings::default());
    let mut f = Features::new();
    t.tokenize(doc, &mut f);
    f.iter().map(str::to_string).collect()
}

/// Characters spammers and broken clients produce: look-alikes, controls, bidi, combining marks, emoji.
fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        any::<char>(),
        prop::sample::select(vec![
            'Е',
            'О',
            '𝐌',
            '𝟗',
            '\u{200B}',
            '\u{202E}',
            '\u{0301}',
            '\u{0000}',
            '\u{FEFF}',
            '🔥',
            '💰',
            'ß',
            'İ',
            '\u{10FFFF}',
            '\n',
            '.',
            '@',
            '/',
            ':',
            '0',
            '1',
        ]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_text_tokenizes_deterministically(
        text in prop::collection::vec(hostile_char(), 0..400).prop_map(|v| v.into_iter().collect::<String>()),
        author in prop::option::of(".{0,40}"),
        url in prop::option::of(".{0,40}"),
        email in prop::option::of(".{0,40}"),
    ) {
        let doc = Document {
            text: &text,
            author: author.as_deref(),
            author_url: url.as_deref(),
            author_email: email.as_deref(),
            lang: Some("id"),
        };
        let a = tokens(&doc);
        // A reused tokenizer must give what a fresh one gives.
        let mut t = Tokenizer::new(Settings::default());
        let mut f = Features::new();
        t.tokenize(&Document { text: "warm up the scratch buffers 𝐌𝐄𝐆𝐀", ..Document::default() }, &mut f);
        t.tokenize(&doc, &mut f);
        let b: Vec<String> = f.iter().map(str::to_string).collect();
        prop_assert_eq!(&a, &b);
        let mut sorted = a.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(&a, &sorted);
        // The serving path's raw features are the same set.
        t.tokenize_raw(&doc, &mut f);
        let mut raw: Vec<String> = f.iter().map(str::to_string).collect();
        raw.sort();
        raw.dedup();
        prop_assert_eq!(a, raw);
    }

    #[test]
    fn long_inputs_of_mixed_scripts_tokenize(
        unit in prop::collection::vec(hostile_char(), 1..64).prop_map(|v| v.into_iter().collect::<String>()),
    ) {
        let text = unit.repeat(100 * 1024 / unit.len().max(1) + 1);
        let fs = tokens(&Document { text: &text, ..Document::default() });
        prop_assert!(fs.iter().any(|f| f.starts_with("len:")));
    }
}

#[test]
fn a_hundred_kib_of_combining_marks_and_nulls_tokenizes() {
    let marks = "a\u{0301}\u{0302}\u{0303}\u{0000}".repeat(100 * 1024 / 9);
    let fs = tokens(&Document {
        text: &marks,
        ..Document::default()
    });
    assert!(fs.contains(&"len:1024+".to_string()));
}
