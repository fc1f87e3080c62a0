//! Hostile input. A fuzz harness (proptest) drives request decoding → validation → tokenizing →
//! scoring → policy with arbitrary bytes and with arbitrary field contents, and must never panic;
//! `.ci/run` runs it with many more cases (`SARING_FUZZ_CASES`). Then the named cases, each through the
//! real server: each gets a decision or INVALID_ARGUMENT naming its field, and the server keeps serving.

use std::sync::Arc;

use proptest::prelude::*;
use prost::Message;
use saring::config::{Config, DEFAULT_MAX_CONTENT_BYTES};
use saring::model::Model;
use saring::moderation::comment::{
    Comment, MAX_EMAIL_BYTES, MAX_ID_BYTES, MAX_SHORT_TEXT_BYTES, MAX_URL_BYTES,
};
use saring::pb;
use saring::service::check::Checker;
use saring::store::embedded::EmbeddedStore;
use tonic::Code;

use crate::server::{request, TestServer};
use crate::support::repo_path;

fn checker() -> &'static Checker {
    static CHECKER: std::sync::OnceLock<Checker> = std::sync::OnceLock::new();
    CHECKER.get_or_init(|| {
        let model = Model::load(&repo_path("models/default.model")).expect("shipped model");
        Checker::new(
            model,
            Arc::new(Config::default()),
            EmbeddedStore::open_in_memory().into(),
        )
    })
}

/// The whole in-process path after the transport: validate, read (tokenize, score, explain), decide.
fn decide(request: pb::CheckCommentRequest) {
    let checker = checker();
    if let Ok(comment) = Comment::from_request(request, DEFAULT_MAX_CONTENT_BYTES) {
        let serving = checker.models().serving();
        let reading = Checker::read(&serving.model, &comment);
        let p = reading.explanation.score.spam_probability();
        assert!((0.0..=1.0).contains(&p), "{p}");
        let verdict = checker.verdict(
            &serving.model,
            &comment,
            &reading,
            None,
            None,
            None,
            false,
            None,
        );
        assert!(!verdict.reasons.is_empty());
    }
}

fn cases() -> u32 {
    std::env::var("SARING_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn hostile_string() -> impl Strategy<Value = String> {
    let chars = prop_oneof![
        any::<char>(),
        prop::sample::select(vec![
            '\u{0000}', '\u{202E}', '\u{200B}', '\u{0301}', '\u{FEFF}', '𝐌', 'Е', '@', ':', '/',
            '.', '%', '[', ']', '0', '9', ' ',
        ]),
    ];
    prop::collection::vec(chars, 0..300).prop_map(|v| v.into_iter().collect())
}

prop_compose! {
    fn hostile_request()(
        // Half of the sites are valid, so that half of the cases get past validation to be scored.
        site in prop_oneof![Just("blog".to_string()), hostile_string()],
        content in hostile_string(), name in hostile_string(),
        email in hostile_string(), url in hostile_string(), ip in hostile_string(),
        lang in hostile_string(), role in hostile_string(), honeypot in hostile_string(),
        secs in any::<i64>(), nanos in any::<i32>(), kind in any::<i32>(), verified in any::<bool>(),
    ) -> pb::CheckCommentRequest {
        pb::CheckCommentRequest {
            site_id: site,
            content,
            author_name: name,
            author_email: email,
            author_url: url,
            user_ip: ip,
            lang,
            user_role: role,
            honeypot,
            comment_type: kind,
            author_verified: verified,
            form_rendered_at: Some(prost_types::Timestamp { seconds: secs, nanos }),
            submitted_at: Some(prost_types::Timestamp { seconds: secs.wrapping_add(1), nanos }),
            ..Default::default()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn fuzz_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        if let Ok(r) = pb::CheckCommentRequest::decode(bytes.as_slice()) {
            decide(r);
        }
    }

    #[test]
    fn fuzz_arbitrary_fields_never_panic(r in hostile_request()) {
        let bytes = r.encode_to_vec();
        let decoded = pb::CheckCommentRequest::decode(bytes.as_slice()).expect("round trip");
        decide(decoded);
    }
}

async fn server() -> TestServer {
    TestServer::start(crate::queue_config()).await
}

fn invalid_naming(result: Result<pb::CheckCommentResponse, tonic::Status>, field: &str) {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().starts_with(field), "{status:?}");
}

#[tokio::test]
async fn sixty_four_kib_of_combining_marks() {
    let server = server().await;
    let mut text = String::from("a");
    while text.len() + 2 <= DEFAULT_MAX_CONTENT_BYTES {
        text.push('\u{0301}');
    }
    let r = server.check(request("blog", &text)).await.expect("decided");
    assert!(r.spam_probability.is_finite());
}

#[tokio::test]
async fn ten_thousand_urls() {
    let text: String = (0..10_000)
        .map(|i| format!("http://s{i}.example/x "))
        .collect();
    // Over the default content limit: refused, naming the field...
    invalid_naming(
        server().await.check(request("blog", &text)).await,
        "content",
    );
    // ...and within a limit raised to the message size, decided (held for its links).
    let big = TestServer::start(Config {
        max_content_bytes: saring::config::MAX_MESSAGE_BYTES,
        ..crate::queue_config()
    })
    .await;
    let r = big.check(request("blog", &text)).await.expect("decided");
    assert!(r.reasons.iter().any(|x| x.code == "rule.too_many_links"));
}

#[tokio::test]
async fn right_to_left_override_and_zero_width_characters_in_author_names() {
    let server = server().await;
    let mut r = request("blog", "Terima kasih atas artikelnya, sangat membantu.");
    r.author_name = "\u{202E}nimdA\u{202C} \u{200B}M\u{200D}E\u{2060}GABET\u{FEFF}99".into();
    let d = server.check(r).await.expect("decided");
    assert!(!d.decision_id.is_empty());
}

#[tokio::test]
async fn null_bytes_in_every_text_field() {
    let server = server().await;
    let mut r = request("blog", "hello\0world\0 ini komentar biasa saja");
    r.author_name = "\0\0".into();
    r.author_email = "a\0b@example.org".into();
    r.author_url = "http://\0.example".into();
    r.user_agent = "\0".into();
    r.comment_id = "c\0x".into();
    let d = server.check(r).await.expect("decided");
    assert!(!d.decision_id.is_empty());
    // A site id is an identifier: a null byte in it is refused, not passed on as another site.
    invalid_naming(
        server
            .check(request("blog\0", "ini komentar biasa saja"))
            .await,
        "site_id",
    );
}

#[tokio::test]
async fn an_email_of_ten_kib() {
    let mut r = request("blog", "Komentar biasa saja");
    r.author_email = format!("{}@example.org", "a".repeat(10 * 1024));
    invalid_naming(server().await.check(r).await, "author_email");
}

#[tokio::test]
async fn ipv6_with_zone_ids() {
    let server = server().await;
    for ip in ["fe80::1%eth0", "fe80::1%25eth0", "::1%lo"] {
        let mut r = request("blog", "Komentar biasa saja, terima kasih");
        r.user_ip = ip.into();
        assert!(server.check(r).await.is_ok(), "{ip}");
    }
    let mut r = request("blog", "Komentar biasa saja");
    r.user_ip = "fe80::zz%eth0".into();
    invalid_naming(server.check(r).await, "user_ip");
}

#[tokio::test]
async fn timestamps_in_the_far_future_and_past() {
    let server = server().await;
    for (seconds, nanos) in [
        (i64::MAX, 999_999_999),
        (i64::MIN, -1),
        (253_402_300_800, 0),
        (-62_135_596_800, 0),
        (0, i32::MAX),
    ] {
        let mut r = request("blog", "Komentar biasa saja, terima kasih banyak");
        r.form_rendered_at = Some(prost_types::Timestamp { seconds, nanos });
        r.submitted_at = Some(prost_types::Timestamp { seconds, nanos });
        let d = server.check(r).await.expect("decided");
        assert!(
            !d.reasons.iter().any(|x| x.code == "rule.too_fast"),
            "out-of-range times count as absent"
        );
    }
}

#[tokio::test]
async fn every_string_field_at_its_limit_and_one_byte_over() {
    let server = server().await;
    type Set = fn(&mut pb::CheckCommentRequest, String);
    let fields: [(&str, usize, Set); 12] = [
        ("site_id", MAX_ID_BYTES, |r, v| r.site_id = v),
        ("comment_id", MAX_ID_BYTES, |r, v| r.comment_id = v),
        ("post_id", MAX_ID_BYTES, |r, v| r.post_id = v),
        ("permalink", MAX_URL_BYTES, |r, v| r.permalink = v),
        ("author_name", MAX_SHORT_TEXT_BYTES, |r, v| {
            r.author_name = v
        }),
        ("author_email", MAX_EMAIL_BYTES, |r, v| r.author_email = v),
        ("author_url", MAX_URL_BYTES, |r, v| r.author_url = v),
        ("user_agent", MAX_SHORT_TEXT_BYTES, |r, v| r.user_agent = v),
        ("referrer", MAX_URL_BYTES, |r, v| r.referrer = v),
        ("lang", MAX_ID_BYTES, |r, v| r.lang = v),
        ("user_role", MAX_ID_BYTES, |r, v| r.user_role = v),
        ("content", DEFAULT_MAX_CONTENT_BYTES, |r, v| r.content = v),
    ];
    for (field, limit, set) in fields {
        let mut at = request("blog", "Komentar biasa saja");
        set(
            &mut at,
            "é".repeat(limit / 2) + "x".repeat(limit % 2).as_str(),
        );
        assert!(server.check(at).await.is_ok(), "{field} at its limit");
        let mut over = request("blog", "Komentar biasa saja");
        set(&mut over, "x".repeat(limit + 1));
        invalid_naming(server.check(over).await, field);
    }
    // The honeypot at its limit is still a filled honeypot.
    let mut r = request("blog", "Komentar biasa saja");
    r.honeypot = "x".repeat(MAX_SHORT_TEXT_BYTES);
    assert_eq!(
        server.check(r).await.unwrap().decision(),
        pb::Decision::Reject
    );
    // And after all of it the server still answers.
    assert!(server.check(request("blog", "Masih hidup?")).await.is_ok());
}
