//! The one tokenizer that training and serving share: a comment and its form fields → feature strings.
//!
//! Spammers write `𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗`, `AЕR𝐎𝟴𝟴` (a Cyrillic `Е`), `p u l a u w i n` and `s1tus sl0t` precisely so that
//! word filters miss them. The tokenizer therefore works in three layers:
//!
//! 1. **Clean**: zero-width, bidi-control and other invisible characters are removed, control characters
//!    become spaces, and the text is NFKC-normalised (mathematical bold, full-width and circled letters
//!    become plain ones). This *clean* text keeps its case and punctuation; links, e-mail addresses,
//!    phone numbers, emoji and the share of capitals are read from it.
//! 2. **Skeleton**: every non-ASCII character of the clean text is folded to its plain look-alike with
//!    `decancer` (Cyrillic `Е` → `e`, accented letters → bare letters), and everything is lower-cased.
//! 3. **Features** from the skeleton: words, word pairs, leet-folded words (`sl0t` → `slot`), words
//!    re-joined from spaced-out letters (`p u l a u w i n` → `pulauwin`) and character n-grams over the
//!    letters and digits with spaces and punctuation removed, so all the disguises share features.
//!
//! Every feature is a string with a short prefix naming its kind, so that a person reading `saring check`
//! or a moderator reading a held item's reasons can tell what fired:
//!
//! | prefix | feature |
//! |---|---|
//! | `w:` | a word (also leet-folded and re-joined forms) |
//! | `w2:` | two adjacent words |
//! | `c:` | a character n-gram over letters and digits |
//! | `url.host:`, `url.tld:` | the host and top-level domain of a link in the text |
//! | `email.domain:` | the domain of an e-mail address in the text |
//! | `phone`, `phone:` | a phone number, and its first two digits |
//! | `num:` | a number, by its count of digits |
//! | `currency`, `currency:`, `punct:!!` | a currency sign, which one, and repeated exclamation marks |
//! | `emoji`, `emoji:` | any emoji, and its class |
//! | `len:`, `links:`, `caps:` | length bucket, link count bucket, share of capitals |
//! | `lang:` | the language hint |
//! | `author:`, `author_url.host:`, `author_email.domain:` | what the other form fields say |
//! | `disguise:` | the text was dressed up to dodge filters: `styled` (mathematical or full-width letters), `overlay` (underline or strike-through marks on letters), `lookalike` (a letter of another script among Latin ones), `spaced` (`p u l a u`, `M.I.A.W`), `leet` (digits between letters) |
//! | `shape:alnum` | a word of three or more letters and two or more digits, as brand names are (`megabet99`) |
//! | `mention`, `mention:digits`, `hashtag` | an `@handle` (one with digits), a `#tag` |
//! | `markup:` | a link written as HTML (`html`), BBCode (`bbcode`) or Markdown (`markdown`) |
//!
//! Absent fields add nothing. A document yields each feature at most once ([`Features::dedup`]): the model
//! counts presence, not repetition, so a spammer repeating a word fifty times gains nothing.

use linkify::{LinkFinder, LinkKind};
use unicode_normalization::UnicodeNormalization;

/// Version of the feature scheme. A model file records the version its vocabulary was built with, and a
/// model built with another version is refused: its feature strings would silently stop matching.
/// 2: disguise (`disguise:`), shape (`shape:`), mention, hashtag and markup features.
pub const TOKENIZER_VERSION: u32 = 2;

/// Longest word, in characters, that becomes a feature. Longer runs (base64 blobs, keyboard mashing) are cut
/// to this length so one token cannot carry unbounded text into the vocabulary.
pub(super) const MAX_WORD_CHARS: usize = 32;

/// Shortest spaced-out run (`p u l a u w i n`) that is re-joined into a word; two single letters side by
/// side are common in ordinary text ("a b"), three or more rarely are.
pub(super) const MIN_SPACED_RUN: usize = 3;

/// Fewest letters before the share of capitals is meaningful; "OK" is not shouting.
const MIN_LETTERS_FOR_CAPS: usize = 8;

/// Tunable parts of the feature scheme, stored in the model file so serving tokenizes exactly as training did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Shortest character n-gram.
    pub char_ngram_min: u8,
    /// Longest character n-gram.
    pub char_ngram_max: u8,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            char_ngram_min: 3,
            char_ngram_max: 5,
        }
    }
}

/// What a comment form sends, borrowed from wherever it is stored. Only `text` is required.
#[derive(Debug, Default, Clone, Copy)]
pub struct Document<'a> {
    /// The comment body.
    pub text: &'a str,
    /// The display name the commenter typed.
    pub author: Option<&'a str>,
    /// The website the commenter typed.
    pub author_url: Option<&'a str>,
    /// The e-mail address the commenter typed.
    pub author_email: Option<&'a str>,
    /// A language hint such as `en` or `id`.
    pub lang: Option<&'a str>,
}

/// The features of one document, kept in one buffer so tokenizing allocates nothing once warmed up.
#[derive(Debug, Default, Clone)]
pub struct Features {
    buf: String,
    ends: Vec<u32>,
}

impl Features {
    /// An empty feature list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget the features but keep the memory.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }

    /// How many features there are.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The features in the order they were produced (after [`Features::dedup`], sorted).
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let mut start = 0usize;
        self.ends.iter().map(move |&end| {
            let end = end as usize;
            let s = &self.buf[start..end];
            start = end;
            s
        })
    }

    /// Sort the features and drop repeats, so each one counts once.
    pub fn dedup(&mut self) {
        let mut all: Vec<&str> = self.iter().collect();
        all.sort_unstable();
        all.dedup();
        let mut out = Features {
            buf: String::with_capacity(self.buf.len()),
            ends: Vec::with_capacity(all.len()),
        };
        for f in all {
            out.push_parts(&[f]);
        }
        *self = out;
    }

    fn push_parts(&mut self, parts: &[&str]) {
        for p in parts {
            self.buf.push_str(p);
        }
        // The buffer of one document stays far below 4 GiB: the service caps content long before that.
        self.ends.push(self.buf.len() as u32);
    }

    fn push_chars(&mut self, prefix: &str, chars: impl Iterator<Item = char>) {
        self.buf.push_str(prefix);
        self.buf.extend(chars);
        self.ends.push(self.buf.len() as u32);
    }
}

/// The kind of a feature, read from its prefix; the model weighs families differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `w:` and `w2:`.
    Word,
    /// `c:`.
    CharNgram,
    /// Everything else: links, numbers, emoji, length, form fields.
    Meta,
}

/// The family of a feature string.
pub fn family(feature: &str) -> Family {
    if feature.starts_with("c:") {
        Family::CharNgram
    } else if feature.starts_with("w:") || feature.starts_with("w2:") {
        Family::Word
    } else {
        Family::Meta
    }
}

/// Whether a feature names where a link or an e-mail address leads (a host, a top-level domain, an e-mail
/// domain), in the text or in the form fields.
pub fn is_destination(feature: &str) -> bool {
    [
        "url.host:",
        "url.tld:",
        "email.domain:",
        "author_url.host:",
        "author_url.tld:",
        "author_email.domain:",
    ]
    .iter()
    .any(|p| feature.starts_with(p))
}

/// Whether a feature is one word of an author's name (`author:paul`) rather than what the name looks
/// like (`author:has_digits`, `author:brand_like`). A name says who wrote a comment on one site; the
/// global model must not learn it, or every reader who shares a name with a training set's spammer is
/// held for it. A site's overlay still learns its own commenters' names from its moderators.
pub fn is_author_name(feature: &str) -> bool {
    feature
        .strip_prefix("author:")
        .is_some_and(|rest| rest != "has_digits" && rest != "brand_like")
}

/// Whether a feature only describes a comment's shape (length, link count, capitals, language hint).
/// Every comment has these, so they are no evidence about what it says.
pub fn is_shape(feature: &str) -> bool {
    SHAPE_PREFIXES.iter().any(|p| feature.starts_with(p))
}

/// The prefixes of the shape features [`is_shape`] names.
pub const SHAPE_PREFIXES: [&str; 4] = ["len:", "links:", "caps:", "lang:"];

/// Reusable scratch space for tokenizing; one per thread, so the hot path does not allocate.
#[derive(Debug, Default)]
pub struct Tokenizer {
    settings: Settings,
    clean: String,
    skeleton: String,
    words: Vec<(usize, usize)>,
    alnum: String,
    alnum_starts: Vec<usize>,
    scratch: String,
    /// Links found in the last document's text.
    links: usize,
    /// Disguises found while cleaning and folding the last document's text.
    disguises: Disguises,
}

/// Signs that a text was dressed up to get past word filters, found while cleaning and folding it. Each
/// becomes a `disguise:` feature: the disguise itself is evidence, whatever brand it hides, so a model
/// knows a campaign by its make-up before it knows its name.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Disguises {
    /// Mathematical, full-width or enclosed letters and digits (`𝐌𝐄𝐆𝐀`, `ＭＥＧＡ`, `Ⓜ`).
    styled: bool,
    /// Underline, overline or strike-through marks laid on letters or digits (`K̲U̲S̲U̲M̲A̲`).
    overlay: bool,
    /// A letter of another script that looks Latin, beside Latin letters (`AЕRO` with a Cyrillic `Е`).
    lookalike: bool,
}

impl Tokenizer {
    /// A tokenizer with the given settings.
    pub fn new(settings: Settings) -> Self {
        Tokenizer {
            settings,
            ..Self::default()
        }
    }

    /// The settings this tokenizer was made with.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Tokenize `doc` into `out` (cleared first), each feature once, sorted.
    pub fn tokenize(&mut self, doc: &Document<'_>, out: &mut Features) {
        self.tokenize_raw(doc, out);
        out.dedup();
    }

    /// Tokenize `doc` into `out` (cleared first) in the order features are found, repeats included.
    /// Serving uses this and removes repeats among the model's token ids instead, which is several times
    /// cheaper than sorting strings; the set of features is the same as [`Tokenizer::tokenize`]'s.
    pub fn tokenize_raw(&mut self, doc: &Document<'_>, out: &mut Features) {
        out.clear();
        let styled = clean_into(doc.text, &mut self.clean);
        let lookalike = skeleton_into(&self.clean, &mut self.skeleton);
        self.disguises = Disguises {
            lookalike,
            ..styled
        };
        self.links = self.structure(out);
        self.words(out);
        self.char_ngrams(out);
        self.meta(doc, self.links, out);
    }

    /// How many links the last tokenized text held (e-mail addresses excluded). The policy's link rule
    /// reads this, so it counts exactly what the model saw without finding the links twice.
    pub fn links(&self) -> usize {
        self.links
    }

    /// The last tokenized text's skeleton as words joined by single spaces (see [`skeleton`]), for
    /// matching configured terms without cleaning and folding the text a second time.
    pub fn skeleton_words(&self) -> String {
        join_words(&self.skeleton)
    }

    /// Links, e-mail domains, phone numbers, emoji and capitals, read from the clean text. Returns the
    /// number of links found.
    fn structure(&mut self, out: &mut Features) -> usize {
        let clean = self.clean.as_str();
        let finder = link_finder();
        let mut links = 0;
        for link in finder.links(clean) {
            match link.kind() {
                LinkKind::Email => {
                    if let Some(domain) = email_domain(link.as_str()) {
                        out.push_chars(
                            "email.domain:",
                            domain.chars().flat_map(char::to_lowercase),
                        );
                    }
                }
                _ => {
                    links += 1;
                    push_host_features(out, "url.host:", "url.tld:", link.as_str());
                }
            }
        }
        phone_numbers(clean, out);
        symbols(clean, out);
        emoji(clean, out);
        caps(clean, out);
        handles(clean, out);
        markup(clean, out);
        for (present, feature) in [
            (self.disguises.styled, "disguise:styled"),
            (self.disguises.overlay, "disguise:overlay"),
            (self.disguises.lookalike, "disguise:lookalike"),
        ] {
            if present {
                out.push_parts(&[feature]);
            }
        }
        links
    }

    /// Words, word pairs, leet-folded words, re-joined spaced-out runs and number classes.
    fn words(&mut self, out: &mut Features) {
        let sk = self.skeleton.as_str();
        self.words.clear();
        let mut start = None;
        for (i, c) in sk.char_indices() {
            match (c.is_alphanumeric(), start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    self.words.push((s, i));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            self.words.push((s, sk.len()));
        }

        let mut prev: Option<&str> = None;
        let mut spaced_run: Vec<&str> = Vec::new();
        for &(s, e) in &self.words {
            let word = truncate_chars(&sk[s..e], MAX_WORD_CHARS);
            if word.bytes().all(|b| b.is_ascii_digit()) {
                out.push_parts(&["num:", digit_class(word.len())]);
            } else {
                out.push_parts(&["w:", word]);
                if leet_fold_into(word, &mut self.scratch) {
                    out.push_parts(&["w:", &self.scratch]);
                    out.push_parts(&["disguise:leet"]);
                }
                if is_brand_shaped(word) {
                    out.push_parts(&["shape:alnum"]);
                }
            }
            if let Some(p) = prev {
                out.push_parts(&["w2:", p, " ", word]);
            }
            prev = Some(word);

            if word.chars().nth(1).is_none() {
                spaced_run.push(word);
            } else {
                flush_spaced_run(&mut spaced_run, out);
            }
        }
        flush_spaced_run(&mut spaced_run, out);
    }

    /// Character n-grams over the letters and digits of the skeleton, spaces and punctuation removed.
    fn char_ngrams(&mut self, out: &mut Features) {
        // The letters and digits as one string plus each character's start, so every n-gram is a slice
        // copied in one go rather than re-encoded character by character.
        self.alnum.clear();
        self.alnum_starts.clear();
        for c in self.skeleton.chars().filter(|c| c.is_alphanumeric()) {
            self.alnum_starts.push(self.alnum.len());
            self.alnum.push(c);
        }
        self.alnum_starts.push(self.alnum.len());
        let chars = self.alnum_starts.len() - 1;
        let lo = usize::from(self.settings.char_ngram_min.max(1));
        let hi = usize::from(self.settings.char_ngram_max).max(lo);
        for n in lo..=hi.min(chars) {
            for i in 0..=chars - n {
                let gram = &self.alnum[self.alnum_starts[i]..self.alnum_starts[i + n]];
                out.push_parts(&["c:", gram]);
            }
        }
    }

    /// Length, link count, language and the other form fields.
    fn meta(&mut self, doc: &Document<'_>, links: usize, out: &mut Features) {
        let chars = self.clean.chars().count();
        out.push_parts(&["len:", length_class(chars)]);
        out.push_parts(&["links:", link_class(links)]);
        if let Some(lang) = doc.lang {
            let lang: String = lang
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(8)
                .flat_map(|c| c.to_lowercase())
                .collect();
            if !lang.is_empty() {
                out.push_parts(&["lang:", &lang]);
            }
        }
        if let Some(author) = doc.author {
            author_features(author, &mut self.scratch, out);
        }
        if let Some(url) = doc.author_url {
            push_host_features(out, "author_url.host:", "author_url.tld:", url);
        }
        if let Some(domain) = doc.author_email.and_then(email_domain) {
            out.push_chars(
                "author_email.domain:",
                domain.chars().flat_map(char::to_lowercase),
            );
        }
    }
}

/// Links with or without a scheme (`tsel.me/x` counts), and e-mail addresses.
fn link_finder() -> LinkFinder {
    let mut finder = LinkFinder::new();
    finder.url_must_have_scheme(false);
    finder.kinds(&[LinkKind::Url, LinkKind::Email]);
    finder
}

/// The look-alike-folded, lower-cased form of a text with runs of non-alphanumeric characters turned into
/// single spaces, for matching configured terms: `𝐂𝐀𝐒𝐈𝐍𝐎  bonus!` → `casino bonus`.
pub fn skeleton(text: &str) -> String {
    let (mut clean, mut sk) = (String::new(), String::new());
    clean_into(text, &mut clean);
    skeleton_into(&clean, &mut sk);
    join_words(&sk)
}

/// One character of a text as the skeleton has it (layers 1 and 2 of the module doc, which work a
/// character at a time): nothing for an invisible one, else its folded, lower-cased form in `out`
/// (cleared first). `scratch` is reused between calls.
pub(super) fn fold_char(c: char, scratch: &mut String, out: &mut String) {
    let mut buf = [0u8; 4];
    clean_into(c.encode_utf8(&mut buf), scratch);
    skeleton_into(scratch, out);
}

fn join_words(skeleton: &str) -> String {
    skeleton
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a character is invisible formatting that spammers insert to split words: zero-width characters,
/// bidi controls, the soft hyphen, variation selectors and tag characters.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{E0000}'..='\u{E0FFF}')
}

/// Layer 1: drop invisible characters, turn controls into spaces, NFKC-normalise each character.
/// Returns the disguises seen on the way (`styled` and `overlay`).
fn clean_into(text: &str, out: &mut String) -> Disguises {
    out.clear();
    let mut found = Disguises::default();
    let mut previous = ' ';
    let visible =
        text.chars()
            .filter(|&c| !is_invisible(c))
            .map(|c| if c.is_control() { ' ' } else { c });
    // NFKC character by character: ASCII and most other characters are their own normal form and cost
    // nothing; only the rest (mathematical bold, full-width, circled letters) go through the normaliser.
    // Composition across characters (a letter and a following combining accent) is skipped on purpose:
    // the skeleton drops accents anyway, and whole-text normalisation cost more than the rest of the
    // tokenizer put together.
    for c in visible {
        if c.is_ascii()
            || unicode_normalization::is_nfkc_quick(std::iter::once(c))
                == unicode_normalization::IsNormalized::Yes
        {
            if is_overlay_mark(c) && previous.is_alphanumeric() {
                found.overlay = true;
            }
            out.push(c);
        } else {
            let before = out.len();
            out.extend(std::iter::once(c).nfkc());
            if is_styled_block(c) && out[before..].bytes().all(|b| b.is_ascii_alphanumeric()) {
                found.styled = true;
            }
        }
        previous = c;
    }
    found
}

/// Blocks whose letters and digits are styled copies of plain ones: mathematical alphanumerics,
/// full-width forms, enclosed (circled, parenthesised, squared) letters and digits.
fn is_styled_block(c: char) -> bool {
    matches!(c,
        '\u{1D400}'..='\u{1D7FF}'
        | '\u{FF10}'..='\u{FF5A}'
        | '\u{2460}'..='\u{24FF}'
        | '\u{1F100}'..='\u{1F1FF}')
}

/// Combining marks that draw a line over, under or through a character (rather than accent a letter
/// of a language): `K̲U̲S̲` and `s̶l̶o̶t̶` are written with them.
fn is_overlay_mark(c: char) -> bool {
    matches!(c,
        '\u{0305}' | '\u{0332}' | '\u{0333}' | '\u{0335}'..='\u{0338}' | '\u{033F}'
        | '\u{20D0}'..='\u{20F0}')
}

/// Layer 2: fold look-alikes to their plain letters and lower-case everything. Returns whether a letter
/// of another script was folded beside a Latin letter (`disguise:lookalike`).
fn skeleton_into(clean: &str, out: &mut String) -> bool {
    out.clear();
    let options = decancer::Options::default();
    let mut lookalike = false;
    let mut previous = ' ';
    let mut chars = clean.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            previous = c;
            continue;
        }
        let next = chars.peek().copied().unwrap_or(' ');
        match decancer::cure_char(c, options) {
            decancer::Translation::Character(t) => {
                if !is_latin(c)
                    && t.is_ascii_alphanumeric()
                    && (previous.is_ascii_alphabetic() || next.is_ascii_alphabetic())
                {
                    lookalike = true;
                }
                out.extend(t.to_lowercase())
            }
            decancer::Translation::String(s) => out.extend(s.chars().flat_map(char::to_lowercase)),
            // decancer drops what it considers noise. A dropped combining mark belongs to its letter and
            // must not split the word; any other dropped character (a symbol) still separates words.
            decancer::Translation::None => {
                if !is_combining_mark(c) {
                    out.push(' ');
                }
            }
        }
        previous = c;
    }
    lookalike
}

/// Whether a character is from a Latin block (accented letters of Indonesian, French, Vietnamese…
/// fold to plain letters without being a disguise).
fn is_latin(c: char) -> bool {
    matches!(c, '\u{0000}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}' | '\u{2C60}'..='\u{2C7F}')
}

fn is_combining_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

pub(super) fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Fold digits that stand between letters back to the letters they imitate (`sl0t` → `slot`,
/// `s1tus` → `situs`). Digits at the edge of a word stay: `megabet99` and `4d` mean what they say.
/// Returns whether anything changed (the folded form is in `out`).
pub(super) fn leet_fold_into(word: &str, out: &mut String) -> bool {
    out.clear();
    // Most words have no digit at all; they need no folding and no scratch.
    if !word.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    let chars: Vec<char> = word.chars().collect();
    let mut changed = false;
    for (i, &c) in chars.iter().enumerate() {
        let folded = if c.is_ascii_digit() && has_letter_on_both_sides(&chars, i) {
            match c {
                '0' => 'o',
                '1' => 'i',
                '3' => 'e',
                '4' => 'a',
                '5' => 's',
                '6' => 'g',
                '7' => 't',
                '8' => 'b',
                '9' => 'g',
                _ => c,
            }
        } else {
            c
        };
        changed |= folded != c;
        out.push(folded);
    }
    changed
}

/// Whether a letter is found on each side of position `i`, looking past other digits (`g4c0r`).
fn has_letter_on_both_sides(chars: &[char], i: usize) -> bool {
    let left = chars[..i]
        .iter()
        .rev()
        .find(|c| !c.is_ascii_digit())
        .is_some_and(|c| c.is_alphabetic());
    let right = chars[i + 1..]
        .iter()
        .find(|c| !c.is_ascii_digit())
        .is_some_and(|c| c.is_alphabetic());
    left && right
}

fn flush_spaced_run(run: &mut Vec<&str>, out: &mut Features) {
    if run.len() >= MIN_SPACED_RUN {
        let mut parts = Vec::with_capacity(run.len() + 1);
        parts.push("w:");
        parts.extend(run.iter().copied());
        out.push_parts(&parts);
        out.push_parts(&["disguise:spaced"]);
    }
    run.clear();
}

/// Fewest letters and digits in one word for `shape:alnum`: `megabet99`, `slot88` and `kusumat0t0` are
/// brand-shaped, while `mp3`, `4g` and `b2b` are everyday words.
const BRAND_MIN_LETTERS: usize = 3;
/// See [`BRAND_MIN_LETTERS`].
const BRAND_MIN_DIGITS: usize = 2;

/// Whether a word mixes at least three letters with at least two digits, as gambling and shop brands do.
fn is_brand_shaped(word: &str) -> bool {
    let (mut letters, mut digits) = (0, 0);
    for c in word.chars() {
        if c.is_ascii_digit() {
            digits += 1;
        } else if c.is_alphabetic() {
            letters += 1;
        }
    }
    letters >= BRAND_MIN_LETTERS && digits >= BRAND_MIN_DIGITS
}

/// `@handles` and `#tags` in the clean text: promotion names the account to contact. An `@` right after
/// a letter or digit is an e-mail address, not a handle.
fn handles(clean: &str, out: &mut Features) {
    let mut previous = ' ';
    for (i, c) in clean.char_indices() {
        if (c == '@' || c == '#') && !previous.is_alphanumeric() {
            let rest = &clean[i + c.len_utf8()..];
            let name = rest
                .split(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '.'))
                .next()
                .unwrap_or("")
                .trim_end_matches('.');
            let alphanumeric = name.chars().filter(|ch| ch.is_alphanumeric()).count();
            if c == '@' && alphanumeric >= 2 {
                out.push_parts(&["mention"]);
                if name.chars().any(|ch| ch.is_ascii_digit()) {
                    out.push_parts(&["mention:digits"]);
                }
            } else if c == '#' && name.chars().any(char::is_alphabetic) {
                out.push_parts(&["hashtag"]);
            }
        }
        previous = c;
    }
}

/// Links written as markup rather than pasted: SEO spam posts `<a href=…>`, `[url=…]` and Markdown
/// links so that the anchor text carries the keyword.
fn markup(clean: &str, out: &mut Features) {
    // Most comments hold none of the characters the markup needs: skip them without a search.
    if !clean.bytes().any(|b| matches!(b, b'<' | b'[' | b'=')) {
        return;
    }
    let has = |needle: &str| contains_ignoring_ascii_case(clean, needle);
    if has("<a ") || has("href=") {
        out.push_parts(&["markup:html"]);
    }
    if has("[url") || has("[link") {
        out.push_parts(&["markup:bbcode"]);
    }
    if has("](http") || has("]: http") || has("](www") {
        out.push_parts(&["markup:markdown"]);
    }
}

/// Whether `needle` (lower-case ASCII) occurs in `haystack`, ignoring ASCII case, without allocating.
fn contains_ignoring_ascii_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    h.windows(n.len())
        .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

fn digit_class(digits: usize) -> &'static str {
    match digits {
        1 => "1",
        2 => "2",
        3 => "3",
        4 => "4",
        5..=8 => "5-8",
        _ => "9+",
    }
}

fn length_class(chars: usize) -> &'static str {
    match chars {
        0..=15 => "0-15",
        16..=63 => "16-63",
        64..=255 => "64-255",
        256..=1023 => "256-1023",
        _ => "1024+",
    }
}

fn link_class(links: usize) -> &'static str {
    match links {
        0 => "0",
        1 => "1",
        2 => "2",
        _ => "3+",
    }
}

/// The host of a link or URL-like string: scheme, credentials, port, path and `www.` removed, lower-cased.
fn host_of(link: &str) -> Option<String> {
    let rest = link.split_once("://").map_or(link, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = host_port.split(':').next()?.trim_end_matches('.');
    let host = host.to_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host).to_string();
    if host.is_empty() || !host.contains('.') {
        return None;
    }
    Some(host)
}

fn push_host_features(out: &mut Features, host_prefix: &str, tld_prefix: &str, link: &str) {
    if let Some(host) = host_of(link) {
        let host = truncate_chars(&host, 64);
        out.push_parts(&[host_prefix, host]);
        if let Some((_, tld)) = host.rsplit_once('.') {
            out.push_parts(&[tld_prefix, tld]);
        }
    }
}

fn email_domain(addr: &str) -> Option<&str> {
    let (_, domain) = addr.rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches('.');
    (!domain.is_empty() && domain.len() <= 255).then_some(domain)
}

/// Shortest digit count that makes a phone number rather than a price or a year.
const MIN_PHONE_DIGITS: usize = 9;
/// Longest (E.164 allows 15 digits).
const MAX_PHONE_DIGITS: usize = 15;

/// Phone numbers: a run of digits with the separators people type (`+62 812-3456-7890`, `(0800) 123 4567`).
fn phone_numbers(clean: &str, out: &mut Features) {
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut Features| {
        if (MIN_PHONE_DIGITS..=MAX_PHONE_DIGITS).contains(&digits.len()) {
            out.push_parts(&["phone"]);
            out.push_parts(&["phone:", &digits[..2]]);
        }
        digits.clear();
    };
    let mut last_was_digit = false;
    for c in clean.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            last_was_digit = true;
        } else if matches!(c, ' ' | '-' | '.' | '(' | ')' | '+')
            && (last_was_digit || digits.is_empty())
        {
            // A separator may stand between digit groups, but two separators in a row end the number.
            if !digits.is_empty() && !last_was_digit {
                flush(&mut digits, out);
            }
            last_was_digit = false;
        } else {
            flush(&mut digits, out);
            last_was_digit = false;
        }
        if digits.len() > MAX_PHONE_DIGITS {
            digits.clear();
        }
    }
    flush(&mut digits, out);
}

/// Currency signs (`£1000`, `$5`, `Rp 35 Ribu` is a word) and runs of exclamation marks: the
/// skeleton keeps only letters and digits, so these would otherwise be lost.
fn symbols(clean: &str, out: &mut Features) {
    let mut previous = ' ';
    for c in clean.chars() {
        match c {
            '$' | '£' | '€' | '¥' | '₹' | '₩' | '₽' | '¢' | '₱' | '฿' => {
                out.push_parts(&["currency"]);
                let mut buf = [0u8; 4];
                out.push_parts(&["currency:", c.encode_utf8(&mut buf)]);
            }
            '!' if previous == '!' => out.push_parts(&["punct:!!"]),
            _ => {}
        }
        previous = c;
    }
}

/// The class of an emoji, or `None` for a character that is not one. Classes, not the emoji themselves:
/// spam picks among many money and fire emoji, and what it shares is the kind.
fn emoji_class(c: char) -> Option<&'static str> {
    Some(match c {
        '💰' | '💵' | '💴' | '💶' | '💷' | '💸' | '💳' | '🤑' | '💲' | '🪙' => {
            "money"
        }
        '🎰' | '🎲' | '🃏' | '🀄' | '🏆' | '🥇' | '🎯' | '💎' | '👑' => "win",
        '🔥' | '⚡' | '💥' | '🚀' | '💯' | '✅' | '✔' | '☑' | '⭐' | '🌟' | '✨' => {
            "hype"
        }
        '👉' | '👈' | '👇' | '👆' | '⬇' | '⬆' | '➡' | '⬅' | '🔗' | '📲' | '📞' | '☎' | '📱' => {
            "pointer"
        }
        '❤' | '💕' | '💖' | '💗' | '💓' | '💞' | '💘' | '💝' | '🧡' | '💛' | '💚' | '💙' | '💜' => {
            "heart"
        }
        '\u{1F600}'..='\u{1F64F}' | '\u{1F910}'..='\u{1F92F}' | '\u{1F970}'..='\u{1F97F}' => "face",
        '\u{1F300}'..='\u{1F5FF}'
        | '\u{1F680}'..='\u{1F6FF}'
        | '\u{1F900}'..='\u{1F9FF}'
        | '\u{1FA70}'..='\u{1FAFF}'
        | '\u{2600}'..='\u{27BF}' => "other",
        _ => return None,
    })
}

fn emoji(clean: &str, out: &mut Features) {
    for c in clean.chars() {
        if let Some(class) = emoji_class(c) {
            out.push_parts(&["emoji"]);
            out.push_parts(&["emoji:", class]);
        }
    }
}

/// Share of capital letters among letters, in three bands.
fn caps(clean: &str, out: &mut Features) {
    let (mut letters, mut upper) = (0usize, 0usize);
    for c in clean.chars().filter(|c| c.is_alphabetic()) {
        letters += 1;
        upper += usize::from(c.is_uppercase());
    }
    if letters >= MIN_LETTERS_FOR_CAPS {
        let class = match upper * 10 / letters {
            0..=2 => "low",
            3..=6 => "mid",
            _ => "high",
        };
        out.push_parts(&["caps:", class]);
    }
}

/// What an author name gives away: digits (`Abatistalima-b4t`), a brand-like shape (`MEGABET99`), and the
/// name's own words through the same skeleton as the text.
fn author_features(author: &str, scratch: &mut String, out: &mut Features) {
    let mut clean = String::new();
    clean_into(author, &mut clean);
    skeleton_into(&clean, scratch);
    let has_digit = scratch.chars().any(|c| c.is_ascii_digit());
    let letters = clean.chars().filter(|c| c.is_alphabetic()).count();
    let upper = clean.chars().filter(|c| c.is_uppercase()).count();
    if has_digit {
        out.push_parts(&["author:has_digits"]);
    }
    let word_count = scratch
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .count();
    // A brand is one run of capitals or of letters glued to digits ("MEGABET99", "slot88"), not a name.
    let brand_like =
        word_count == 1 && ((letters >= 4 && upper == letters) || (has_digit && letters >= 3));
    if brand_like {
        out.push_parts(&["author:brand_like"]);
    }
    for word in scratch
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        out.push_parts(&["author:", truncate_chars(word, MAX_WORD_CHARS)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(text: &str) -> Vec<String> {
        let mut t = Tokenizer::new(Settings::default());
        let mut f = Features::new();
        t.tokenize(
            &Document {
                text,
                ..Document::default()
            },
            &mut f,
        );
        f.iter().map(str::to_string).collect()
    }

    fn has(fs: &[String], f: &str) -> bool {
        fs.iter().any(|x| x == f)
    }

    #[test]
    fn an_author_names_words_are_names_and_its_shape_is_not() {
        assert!(is_author_name("author:paul"));
        assert!(is_author_name("author:slot88official"));
        assert!(!is_author_name("author:has_digits"));
        assert!(!is_author_name("author:brand_like"));
        assert!(!is_author_name("author_url.host:example.com"));
        assert!(!is_author_name("w:author"));
    }

    #[test]
    fn look_alike_brand_names_share_the_plain_word() {
        let plain = features("MEGABET99 gacor");
        let mut bold = features("𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 gacor");
        assert!(has(&plain, "w:megabet99"));
        // The same features, and one more that says the letters were styled.
        assert!(has(&bold, "disguise:styled"));
        bold.retain(|f| f != "disguise:styled");
        assert_eq!(plain, bold);
        let mut cyrillic = features("AЕR𝐎𝟴𝟴 gacor");
        assert!(has(&cyrillic, "w:aero88"), "{cyrillic:?}");
        cyrillic.retain(|f| !f.starts_with("disguise:"));
        assert_eq!(cyrillic, features("AERO88 gacor"));
    }

    #[test]
    fn invisible_characters_do_not_split_words() {
        assert_eq!(
            features("sl\u{200B}ot ga\u{202E}cor"),
            features("slot gacor")
        );
        assert_eq!(features("s\u{00AD}lot"), features("slot"));
    }

    #[test]
    fn spaced_out_letters_are_rejoined() {
        let fs = features("main di p u l a u w i n sekarang");
        assert!(has(&fs, "w:pulauwin"), "{fs:?}");
        assert!(has(&fs, "c:pulau"));
        assert!(has(&features("pulauwin"), "c:pulau"));
    }

    #[test]
    fn digits_inside_words_fold_to_letters() {
        let fs = features("s1tus sl0t");
        assert!(has(&fs, "w:situs") && has(&fs, "w:slot"), "{fs:?}");
        let brand = features("megabet99 4d");
        assert!(!has(&brand, "w:megabetgg"));
        assert!(has(&brand, "w:4d"));
    }

    #[test]
    fn links_give_host_and_tld() {
        let fs = features("cek di tsel.me/mytsel1 atau https://www.Example.co.id/x?y=1");
        assert!(has(&fs, "url.host:tsel.me"), "{fs:?}");
        assert!(has(&fs, "url.tld:me"));
        assert!(has(&fs, "url.host:example.co.id"));
        assert!(has(&fs, "links:2"));
    }

    #[test]
    fn emails_phones_numbers_and_emoji_have_classes() {
        let fs = features("call +62 812-3456-7890 or mail win@prize.example 💰🔥 code 87121");
        assert!(has(&fs, "phone") && has(&fs, "phone:62"), "{fs:?}");
        assert!(has(&fs, "email.domain:prize.example"));
        assert!(has(&fs, "emoji:money") && has(&fs, "emoji:hype"));
        assert!(has(&fs, "num:5-8"));
        let prize = features("WIN £1000 cash now!!!");
        assert!(has(&prize, "currency") && has(&prize, "currency:£") && has(&prize, "punct:!!"));
        assert!(!has(&features("in 2024 it cost 15000"), "phone"));
    }

    #[test]
    fn form_fields_add_meta_features_only_when_present() {
        let mut t = Tokenizer::new(Settings::default());
        let mut f = Features::new();
        t.tokenize(
            &Document {
                text: "nice post",
                author: Some("MEGABET99"),
                author_url: Some("http://promo.example.com/path"),
                author_email: Some("x@Mail.Example"),
                lang: Some("id"),
            },
            &mut f,
        );
        let fs: Vec<String> = f.iter().map(str::to_string).collect();
        for want in [
            "author:has_digits",
            "author:brand_like",
            "author_url.host:promo.example.com",
            "author_email.domain:mail.example",
            "lang:id",
        ] {
            assert!(has(&fs, want), "missing {want} in {fs:?}");
        }
        let bare = features("nice post");
        assert!(!bare
            .iter()
            .any(|f| f.starts_with("author") || f.starts_with("lang:")));
    }

    #[test]
    fn each_feature_counts_once() {
        let fs = features("spam spam spam spam");
        assert_eq!(fs.iter().filter(|f| *f == "w:spam").count(), 1);
        let mut sorted = fs.clone();
        sorted.sort();
        assert_eq!(fs, sorted);
    }

    #[test]
    fn terms_match_through_disguises_and_links_are_counted() {
        assert_eq!(skeleton("𝐂𝐀𝐒𝐈𝐍𝐎  b\u{200B}onus!!"), "casino bonus");
        let mut t = Tokenizer::new(Settings::default());
        let mut f = Features::new();
        t.tokenize_raw(
            &Document {
                text: "see a.example/x and http://b.example, mail me@c.example",
                ..Document::default()
            },
            &mut f,
        );
        assert_eq!(t.links(), 2);
        t.tokenize_raw(
            &Document {
                text: "𝐂𝐀𝐒𝐈𝐍𝐎  b\u{200B}onus!!",
                ..Document::default()
            },
            &mut f,
        );
        assert_eq!(t.skeleton_words(), "casino bonus");
    }

    #[test]
    fn disguises_are_features_in_themselves() {
        let has_all = |text: &str, want: &[&str]| {
            let fs = features(text);
            for w in want {
                assert!(has(&fs, w), "{text}: missing {w} in {fs:?}");
            }
        };
        has_all(
            "main di 𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 sekarang",
            &["disguise:styled", "shape:alnum", "w:megabet99"],
        );
        has_all("main di ＭＥＧＡ sekarang", &["disguise:styled"]);
        has_all(
            "peluangmu ada di K̲U̲S̲U̲M̲A̲T̲0̲T̲0̲",
            &["disguise:overlay", "w:kusumatot0", "disguise:leet"],
        );
        has_all("AЕRO88 gacor", &["disguise:lookalike", "shape:alnum"]);
        has_all("main di p u l a u w i n", &["disguise:spaced"]);
        has_all("KENAPA M.I.A.W.4.D", &["disguise:spaced", "w:miaw4d"]);
        let plain = features("Terima kasih, café di Jakarta bagus sekali, covid sudah lewat");
        assert!(
            !plain
                .iter()
                .any(|f| f.starts_with("disguise:") || f.starts_with("shape:")),
            "{plain:?}"
        );
        // Cyrillic among Cyrillic is a language, not a disguise.
        assert!(!has(&features("Привет, как дела"), "disguise:lookalike"));
        assert!(!has(
            &features("read chapter 12 of mp3 guide"),
            "shape:alnum"
        ));
    }

    #[test]
    fn handles_tags_and_markup_links_are_features() {
        let fs = features("dm @createwealth_luna1 now #crypto");
        assert!(
            has(&fs, "mention") && has(&fs, "mention:digits") && has(&fs, "hashtag"),
            "{fs:?}"
        );
        let mail = features("write to me@example.com or #1 fan");
        assert!(!has(&mail, "mention") && !has(&mail, "hashtag"), "{mail:?}");
        assert!(has(
            &features(r#"nice <a href="http://x.example">cheap essays</a>"#),
            "markup:html"
        ));
        assert!(has(
            &features("[url=http://x.example]essays[/url]"),
            "markup:bbcode"
        ));
        assert!(has(
            &features("[best pills](http://x.example)"),
            "markup:markdown"
        ));
        assert!(!has(&features("a [note] in brackets"), "markup:markdown"));
    }

    #[test]
    fn shouting_is_a_feature() {
        assert!(has(&features("BUY NOW CHEAP PILLS"), "caps:high"));
        assert!(has(&features("a quiet ordinary sentence"), "caps:low"));
    }
}
