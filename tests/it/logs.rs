//! The log of a real `saring serve`, read whole, at its default level, plain and JSON: every RPC ends
//! in one line of its span (method, site, decision for CheckComment, status code, latency), and no
//! comment text, author name, e-mail, URL or IP appears anywhere in what the process wrote.

use std::time::Duration;

use saring::pb::{self, Decision};
use tonic::transport::Channel;
use tonic::Code;

use crate::auth::with_key;
use crate::support::{signal, Serve};

/// Words and values that must never reach the log, each distinctive enough to find anywhere.
const TEXT: &str = "zqxvmarkerkata";
const NAME: &str = "Qwyxmarker Namapenulis";
const EMAIL: &str = "qwyx.marker.7731@example.org";
const URL: &str = "https://qwyx-marker-site.example/";
const IP: &str = "198.51.100.173";
/// Sent as an IP that does not parse: the refusal's message quotes it, and messages are not logged.
const BAD_IP: &str = "qwyxmarker-not-an-ip";
const MARKERS: [&str; 6] = [TEXT, NAME, EMAIL, URL, IP, BAD_IP];

/// A comment carrying every marker.
fn comment(id: &str, text: &str) -> pb::CheckCommentRequest {
    pb::CheckCommentRequest {
        site_id: "default".into(),
        comment_id: id.into(),
        content: format!("{text} {TEXT}"),
        author_name: NAME.into(),
        author_email: EMAIL.into(),
        author_url: URL.into(),
        user_ip: IP.into(),
        ..Default::default()
    }
}

/// Start a server on a fresh embedded store at the default log level (plus `extra` flags), make a
/// HOLD, a REJECT, a feedback report, a resolution and a refused request, stop it with SIGTERM; every
/// line it wrote, stdout and stderr.
async fn run_and_read_the_log(extra: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("saring.toml");
    std::fs::write(&cfg, "[rules]\nmoderation_terms = [\"refund\"]\n").unwrap();
    let data = dir.path().join("data");
    let mut args = vec![
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut serve = Serve::start_logging(&args, None);
    // The first start prints an admin key, then the `default` site's service key.
    let mut stdout = Vec::new();
    while stdout
        .iter()
        .filter(|l: &&String| l.contains("srg_"))
        .count()
        < 2
    {
        let line = serve
            .stdout
            .recv_timeout(Duration::from_secs(10))
            .expect("the first keys are printed");
        stdout.push(line);
    }
    let tokens: Vec<String> = stdout
        .iter()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("srg_")))
        .map(String::from)
        .collect();
    let (admin, service) = (&tokens[0], &tokens[1]);

    let channel = Channel::from_shared(format!("http://{}", serve.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut m = pb::moderation_client::ModerationClient::new(channel.clone());
    let mut q = pb::moderation_queue_client::ModerationQueueClient::new(channel);
    let check = |r| with_key(service, r);
    let held = m
        .check_comment(check(comment(
            "c-1",
            "Saya minta refund untuk tiket seminar kemarin, terima kasih banyak",
        )))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.decision(), Decision::Hold);
    let rejected = m
        .check_comment(check(comment(
            "c-2",
            "𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 gacor hari ini, maxwin terus wd lancar bos, daftar sekarang",
        )))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rejected.decision(), Decision::Reject);
    let mut bad = comment("c-3", "Komentar biasa");
    bad.user_ip = BAD_IP.into();
    let refused = m.check_comment(check(bad)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains(BAD_IP),
        "the client is told what was wrong: {refused:?}"
    );
    m.submit_feedback(with_key(
        service,
        pb::SubmitFeedbackRequest {
            site_id: "default".into(),
            target: Some(pb::submit_feedback_request::Target::DecisionId(
                rejected.decision_id,
            )),
            label: pb::FeedbackLabel::Ham as i32,
            ..Default::default()
        },
    ))
    .await
    .expect("feedback is kept");
    q.resolve_held(with_key(
        admin,
        pb::ResolveHeldRequest {
            site_id: "default".into(),
            held_ids: vec![held.held_id],
            verdict: pb::Verdict::Approve as i32,
            moderator: "ann".into(),
            ..Default::default()
        },
    ))
    .await
    .expect("the held comment is resolved");

    signal(serve.pid(), "-TERM");
    assert!(serve.wait().success(), "a clean exit");
    let mut lines = std::mem::take(&mut serve.early);
    lines.extend(drain(&serve.stderr));
    lines.extend(stdout);
    lines.extend(drain(&serve.stdout));
    for line in &lines {
        for marker in MARKERS {
            assert!(
                !line.to_lowercase().contains(&marker.to_lowercase()),
                "personal data ({marker}) in the log: {line}"
            );
        }
    }
    lines
}

/// Every line still to come from a process that has exited (its reader thread then closes the
/// channel); bounded.
fn drain(rx: &std::sync::mpsc::Receiver<String>) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        lines.push(line);
    }
    lines
}

/// The RPCs the run made and what their lines must say: method, site, decision, code.
const EXPECTED: [(&str, &str, Option<&str>, &str); 5] = [
    (
        "saring.v1.Moderation/CheckComment",
        "default",
        Some("DECISION_HOLD"),
        "OK",
    ),
    (
        "saring.v1.Moderation/CheckComment",
        "default",
        Some("DECISION_REJECT"),
        "OK",
    ),
    (
        "saring.v1.Moderation/CheckComment",
        "default",
        None,
        "INVALID_ARGUMENT",
    ),
    ("saring.v1.Moderation/SubmitFeedback", "default", None, "OK"),
    (
        "saring.v1.ModerationQueue/ResolveHeld",
        "default",
        None,
        "OK",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plain_logs_carry_one_span_per_rpc_and_no_personal_data() {
    let lines = run_and_read_the_log(&[]).await;
    let finished: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" INFO ") && l.contains("rpc{") && l.ends_with("finished"))
        .collect();
    for (method, site, decision, code) in EXPECTED {
        let found = finished.iter().any(|l| {
            l.contains(&format!("method={method} "))
                && l.contains(&format!("site={site} "))
                && decision.is_none_or(|d| l.contains(&format!("decision={d} ")))
                && l.contains(&format!("code={code} "))
                && l.contains("latency_us=")
        });
        assert!(
            found,
            "no line for {method} {decision:?} {code} in {finished:#?}"
        );
    }
    assert_eq!(
        finished.len(),
        EXPECTED.len(),
        "one line per RPC: {finished:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn json_logs_carry_one_span_per_rpc_and_no_personal_data() {
    let lines = run_and_read_the_log(&["--log-json"]).await;
    let events: Vec<serde_json::Value> = lines
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let finished: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["fields"]["message"] == "finished" && e["level"] == "INFO")
        .collect();
    for (method, site, decision, code) in EXPECTED {
        let found = finished.iter().any(|e| {
            let span = &e["span"];
            span["name"] == "rpc"
                && span["method"] == method
                && span["site"] == site
                && decision.is_none_or(|d| span["decision"] == d)
                && span["code"] == code
                && span["latency_us"].is_u64()
        });
        assert!(
            found,
            "no event for {method} {decision:?} {code} in {finished:#?}"
        );
    }
    assert_eq!(
        finished.len(),
        EXPECTED.len(),
        "one event per RPC: {finished:#?}"
    );
}
