//! Criterion benchmarks of the serving hot path (tokenize + score, the explanation, configured terms) and
//! of loading the shipped model.
//!
//! Run with `cargo bench --bench scoring`; figures and the machine go into BENCHMARKS.md. The shipped
//! `models/default.model` is used so the vocabulary is the real one.

// The memory figure is printed beside criterion's own output; a benchmark is a report, not library code.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, Criterion};
use saring::model::terms::TermSet;
use saring::model::tokenize::{Document, Features};
use saring::model::Model;
use saring::moderation::comment::Comment;
use saring::service::check::Checker;

fn model_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default.model")
}

fn shipped_model() -> Model {
    Model::load(&model_path())
        .expect("models/default.model must exist: see docs/model.md for the train command")
}

const SHORT: &str = "Great post, thanks!";

/// About 300 characters with look-alike letters, a Cyrillic letter, spaced-out letters and a link.
const LOOKALIKE_300: &str = "Sebelumnya bermain di tempat lain terasa kurang inovatif, pindah ke 𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 lebih puas. \
AЕR𝐎𝟴𝟴 gua main dikit aja, saldo lngsg nambah, wd cepat! coba juga p u l a u w i n, s1tus sl0t gacor \
hari ini maxwin terus, daftar di https://promo.example.com/daftar?ref=88 sekarang 🔥💰";

fn long_comment() -> String {
    let para =
        "I have been reading this blog for years and I think the argument about the new bridge \
                misses how people in the kampung actually travel to work every morning. ";
    para.repeat(10 * 1024 / para.len() + 1)[..10 * 1024].to_string()
}

fn scoring(c: &mut Criterion) {
    let model = shipped_model();
    let long = long_comment();
    let mut group = c.benchmark_group("tokenize_and_score");
    for (name, text) in [
        ("short_19_chars", SHORT),
        ("lookalike_300_chars", LOOKALIKE_300),
        ("plain_10_kib", long.as_str()),
    ] {
        let mut tokenizer = model.tokenizer();
        let (mut features, mut ids) = (Features::new(), Vec::new());
        group.bench_function(name, |b| {
            b.iter(|| {
                let doc = Document {
                    text: black_box(text),
                    ..Document::default()
                };
                black_box(model.score_document(&mut tokenizer, &doc, &mut features, &mut ids))
            })
        });
    }
    group.finish();
}

/// What the service does with every comment (`Checker::read`): tokenize, the known ids, the explanation
/// it answers with (the strongest features each way), the links and the skeleton words, of which
/// `tokenize_and_score` does the first two.
fn explaining(c: &mut Criterion) {
    let model = shipped_model();
    let comment = Comment {
        content: LOOKALIKE_300.to_string(),
        ..Comment::default()
    };
    c.bench_function("tokenize_and_explain/lookalike_300_chars", |b| {
        b.iter(|| black_box(Checker::read(&model, black_box(&comment))))
    });
}

/// A site with a long blocklist (WordPress's shared "disallowed keys" lists run to thousands of
/// entries): 1,000 terms, one and two words, none in the comment, so every term is looked for.
fn terms(c: &mut Criterion) {
    let list: Vec<String> = (0..1000)
        .map(|i| {
            if i % 3 == 0 {
                format!("cheap pills{i}")
            } else {
                format!("blockedword{i}")
            }
        })
        .collect();
    let set = TermSet::new(&list);
    let long = long_comment();
    let mut group = c.benchmark_group("terms_1000");
    for (name, text) in [
        ("lookalike_300_chars", LOOKALIKE_300),
        ("plain_10_kib", long.as_str()),
    ] {
        let skeleton = saring::model::tokenize::skeleton(text);
        group.bench_function(name, |b| {
            b.iter(|| black_box(set.first_in(black_box(&skeleton))))
        });
    }
    group.finish();
}

fn loading(c: &mut Criterion) {
    let path = model_path();
    c.bench_function("load_default_model", |b| {
        b.iter(|| black_box(Model::load(&path).expect("model loads")))
    });
}

/// Resident memory in bytes, from /proc (Linux only; 0 elsewhere).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// Not a timing: how much resident memory loading the default model adds, printed beside the benches.
fn report_model_memory() {
    let before = rss_bytes();
    let model = Model::load(&model_path()).expect("model loads");
    let after = rss_bytes();
    println!(
        "memory: loaded default model ({} features) adds {:.1} MB resident",
        model.vocabulary_len(),
        (after.saturating_sub(before)) as f64 / 1e6
    );
    drop(black_box(model));
}

criterion_group!(benches, scoring, explaining, terms, loading);

fn main() {
    report_model_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
