//! The model shipped in `models/` loads, matches its card, and catches the spam the mission names.

use saring::model::decision::Decision;
use saring::model::tokenize::{Document, Features};
use saring::model::Model;

use crate::support::repo_path;

fn decide(model: &Model, text: &str) -> Decision {
    let mut tokenizer = model.tokenizer();
    let (mut features, mut ids) = (Features::new(), Vec::new());
    let score = model.score_document(
        &mut tokenizer,
        &Document {
            text,
            ..Document::default()
        },
        &mut features,
        &mut ids,
    );
    model.thresholds().decide(score.log_odds)
}

/// Each of `texts` is decided anything but `decision` by `model`.
fn assert_never(model: &Model, decision: Decision, texts: &[&str]) {
    for text in texts {
        assert_ne!(decide(model, text), decision, "{text}");
    }
}

#[test]
fn the_shipped_model_matches_its_card() {
    let path = repo_path("models/default.model");
    let model = Model::load(&path).unwrap();
    let card: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("models/default.card.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(card["model_version"], model.version());
    assert_eq!(
        card["model_sha256"],
        saring::train::card::sha256_file(&path).unwrap()
    );
    assert_eq!(
        card["thresholds"]["reject_at_log_odds"].as_f64().unwrap(),
        model.thresholds().reject_at
    );
    let files: Vec<&str> = card["training_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    // The seven corpora of docs/model.md, by file name (scripts/quality.sh checks their hashes).
    let names: Vec<&str> = files
        .iter()
        .map(|f| f.rsplit('/').next().unwrap_or(f))
        .collect();
    assert_eq!(
        names,
        [
            "indonesian_youtube_gambling.jsonl",
            "youtube_spam_collection.jsonl",
            "sms_spam_collection.jsonl",
            "indonesian_sms_spam.jsonl",
            "instagram_scam_comments.jsonl",
            "indonesian_instagram_spam.jsonl",
            "stackexchange_spam.jsonl",
        ]
    );
    for f in card["training_files"].as_array().unwrap() {
        assert_eq!(f["sha256"].as_str().unwrap().len(), 64);
    }
}

#[test]
fn the_shipped_model_sees_through_look_alike_gambling_spam() {
    let model = Model::load(&repo_path("models/default.model")).unwrap();
    assert_never(
        &model,
        Decision::Accept,
        &[
            "𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 gacor hari ini, maxwin terus wd lancar",
            "AЕR𝐎𝟴𝟴 gua main dikit aja, saldo lngsg nambah",
            "main di p u l a u w i n aja bos, s1tus sl0t paling gacor",
        ],
    );
    assert_never(
        &model,
        Decision::Reject,
        &[
            "Terima kasih atas artikelnya, sangat membantu untuk tugas sekolah anak saya.",
            "I disagree with the second point, the bridge was planned long before the election.",
        ],
    );
}

/// The corpora have almost no ham with a link, so without the destination cap (docs/model.md, "What a
/// link's destination may weigh") one `.org` or `.co.uk` link was proof of spam on its own.
#[test]
fn a_readers_comment_citing_a_source_is_never_rejected_for_its_link_alone() {
    let model = Model::load(&repo_path("models/default.model")).unwrap();
    assert_never(
        &model,
        Decision::Reject,
        &[
            "You can find the original paper here: https://arxiv.org/abs/1706.03762 - section 3 explains it better than I can.",
            "Wikipedia has a good summary: https://en.wikipedia.org/wiki/Naive_Bayes_classifier",
            "There is a BBC article about this: https://www.bbc.co.uk/news/technology-12345678",
        ],
    );
    // The same kind of link in a pitch still keeps it from being published.
    assert_never(
        &model,
        Decision::Accept,
        &["Buy Tramadol online without prescription overnight delivery https://meds-online-rx.org/tramadol"],
    );
}
