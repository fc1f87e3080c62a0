//! Webhooks against a local HTTP receiver: `held`, `resolved` and `feedback` events arrive signed with
//! HMAC-SHA256, a failing receiver is retried, and nothing private is in the body; an HTTPS receiver with
//! a private certificate is reached through the site's `ca_file`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use saring::config::{SiteOverride, Webhook};
use saring::pb::{self, Decision, Verdict};
use saring::store::embedded::EmbeddedStore;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::server::{request, TestServer};

const SECRET: &str = "webhook-secret-for-tests";

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// A minimal HTTP/1.1 receiver (over TLS with `tls`): records each POST; answers 500 to the first
/// `fail_first` requests, then 200.
async fn receiver(
    fail_first: usize,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = match tls {
        Some(_) => format!("https://localhost:{port}/saring-events"),
        None => format!("http://127.0.0.1:{port}/saring-events"),
    };
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let seen = got.clone();
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (seen, answered, tls) = (seen.clone(), answered.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(socket).await {
                            answer(stream, fail_first, &seen, &answered).await;
                        }
                    }
                    None => answer(socket, fail_first, &seen, &answered).await,
                }
            });
        }
    });
    (url, got)
}

async fn answer(
    socket: impl AsyncRead + AsyncWrite + Unpin,
    fail_first: usize,
    seen: &Mutex<Vec<Received>>,
    answered: &std::sync::atomic::AtomicUsize,
) {
    let mut reader = BufReader::new(socket);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        assert!(line.starts_with("POST /saring-events "), "{line}");
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).await.unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        let len: usize = headers["content-length"].parse().unwrap();
        let mut body = vec![0; len];
        reader.read_exact(&mut body).await.unwrap();
        let n = answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let status = if n < fail_first {
            "500 Internal Server Error"
        } else {
            seen.lock().unwrap().push(Received { headers, body });
            "200 OK"
        };
        let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
        reader.get_mut().write_all(reply.as_bytes()).await.unwrap();
        reader.get_mut().flush().await.unwrap();
    }
}

/// The queue tests' configuration, with site `blog` posting its events to `url`.
fn with_webhook(url: String, ca_file: Option<std::path::PathBuf>) -> saring::config::Config {
    let mut cfg = crate::queue_config();
    cfg.sites.insert(
        "blog".into(),
        SiteOverride {
            webhook: Some(Webhook {
                url,
                secret: SECRET.into(),
                ca_file,
            }),
            ..SiteOverride::default()
        },
    );
    cfg
}

/// The receiver's check: the signature header recomputed over "<t>.<body>" with the shared secret.
fn assert_signed(r: &Received) {
    let header = &r.headers["x-saring-signature"];
    let t: u64 = header
        .strip_prefix("t=")
        .and_then(|s| s.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        header,
        &saring::service::webhook::signature(SECRET, t, &r.body),
        "signature"
    );
    assert_ne!(
        header,
        &saring::service::webhook::signature("wrong", t, &r.body)
    );
}

async fn wait_for(got: &Mutex<Vec<Received>>, n: usize) -> Vec<Received> {
    for _ in 0..200 {
        if got.lock().unwrap().len() >= n {
            return got.lock().unwrap().clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {n} webhook deliveries within 10 s, got {}",
        got.lock().unwrap().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn held_resolved_and_feedback_events_arrive_signed_after_retries() {
    let (url, got) = receiver(2, None).await;
    let server =
        TestServer::start_with(with_webhook(url, None), EmbeddedStore::open_in_memory()).await;
    let mut req = request(
        "blog",
        "Saya minta refund untuk tiket seminar kemarin, terima kasih",
    );
    req.comment_id = "c1".into();
    req.author_email = "ann@example.org".into();
    req.user_ip = "192.0.2.9".into();
    let held = server
        .client()
        .await
        .check_comment(req.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.decision(), Decision::Hold);
    // The first two attempts get a 500; the third, after back-off, is taken.
    let first = wait_for(&got, 1).await;
    server
        .queue()
        .await
        .resolve_held(pb::ResolveHeldRequest {
            site_id: "blog".into(),
            held_ids: vec![held.held_id.clone()],
            verdict: Verdict::RejectSpam as i32,
            moderator: "ann".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // Deliveries run concurrently; wait for each before the next so the order below is the sender's.
    wait_for(&got, 2).await;
    server
        .client()
        .await
        .submit_feedback(pb::SubmitFeedbackRequest {
            site_id: "blog".into(),
            target: Some(pb::submit_feedback_request::Target::CommentId("c1".into())),
            label: pb::FeedbackLabel::Ham as i32,
            reporter: "blog".into(),
        })
        .await
        .unwrap();
    let all = wait_for(&got, 3).await;
    assert_eq!(first.len(), 1);
    let events: Vec<serde_json::Value> = all
        .iter()
        .map(|r| {
            assert_signed(r);
            let body = String::from_utf8(r.body.clone()).unwrap();
            for private in ["refund", "ann@example.org", "192.0.2.9"] {
                assert!(!body.contains(private), "{private} leaked into {body}");
            }
            assert_eq!(
                r.headers["x-saring-event"],
                serde_json::from_str::<serde_json::Value>(&body).unwrap()["event"]
            );
            serde_json::from_str(&body).unwrap()
        })
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["held", "resolved", "feedback"]);
    assert_eq!(events[0]["held_id"], held.held_id.as_str());
    assert_eq!(events[1]["verdict"], "VERDICT_REJECT_SPAM");
    assert_eq!(events[2]["label"], "FEEDBACK_LABEL_HAM");
    // The receiver records a request before it answers; the sender counts it once the answer is read.
    let delivered = || server.webhooks.delivered.get();
    for _ in 0..100 {
        if delivered() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivered(), 3);
    // The same counter is what /metrics shows.
    let metrics = crate::http::Http::new()
        .get(&format!("http://{}/metrics", server.admin))
        .await
        .text();
    assert!(
        metrics.contains("saring_webhook_delivered_total 3\n"),
        "{metrics}"
    );
}

/// A receiver behind HTTPS with a certificate no public CA signed: the site names it in `ca_file` and
/// gets its events, signed as over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_https_receiver_with_a_private_certificate_gets_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let receiver_cert = crate::support::localhost_cert(dir.path());
    let cert = &receiver_cert.certified;
    let ca_file = receiver_cert.cert_path.clone();
    let tls = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap(),
    )
    .unwrap();
    let (url, got) = receiver(0, Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls)))).await;
    assert!(url.starts_with("https://"));
    let server = TestServer::start_with(
        with_webhook(url, Some(ca_file)),
        EmbeddedStore::open_in_memory(),
    )
    .await;
    let held = server
        .client()
        .await
        .check_comment(request(
            "blog",
            "Saya minta refund untuk tiket seminar kemarin, terima kasih",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.decision(), Decision::Hold);
    let got = wait_for(&got, 1).await;
    assert_signed(&got[0]);
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["held_id"], held.held_id.as_str());
}
