//! The admin HTTP port over real sockets, on the embedded store and on a real Redis: `/metrics` moves by
//! exactly what the server did, no comment text, e-mail or IP reaches metrics or health, readiness
//! follows the store, the page's files and headers, and the JSON API's keys, sites and CSRF checks.

use std::time::Duration;

use saring::config::{Config, Limit, Limits};
use saring::pb::{self, Decision, Role};
use saring::store::Store;

use crate::auth::with_key;
use crate::http::{Http, Lines};
use crate::server::{request, TestServer};

const SITE: &str = "blog";
const OTHER: &str = "other";
const READER: &str = "Terima kasih atas artikelnya, sangat membantu untuk tugas sekolah anak saya.";

/// One check per IP (so a second from the same IP is refused), `refund` holds, `judi online` rejects.
fn config() -> Config {
    let mut c = crate::queue_config();
    c.limits = Limits {
        ip: Limit {
            burst: 1,
            per_hour: 1,
        },
        ..c.limits
    };
    c.rules.blocked_terms = vec!["judi online".into()];
    c
}

/// The API keys a test works with.
pub(crate) struct Keys {
    pub(crate) service: String,
    pub(crate) moderator: String,
    pub(crate) other_moderator: String,
    pub(crate) admin: String,
}

/// A server with keys on over `store`, and a key of each kind: the service key and `moderator` for
/// [`SITE`] (the service key also for [`OTHER`]), `other_moderator` for [`OTHER`].
pub(crate) async fn authed(config: Config, store: Store) -> (TestServer, Keys) {
    use saring::access::keys::create;
    let sites = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (_, service) = create(&store, Role::Service, &sites(&[SITE, OTHER]), "blog")
        .await
        .unwrap();
    let (_, moderator) = create(&store, Role::Moderator, &sites(&[SITE]), "ann")
        .await
        .unwrap();
    let (_, other_moderator) = create(&store, Role::Moderator, &sites(&[OTHER]), "budi")
        .await
        .unwrap();
    let (_, admin) = create(&store, Role::Admin, &[], "ops").await.unwrap();
    let server = TestServer::start_authed(config, store).await;
    let keys = Keys {
        service,
        moderator,
        other_moderator,
        admin,
    };
    (server, keys)
}

fn comment(site: &str, content: &str, id: &str, ip: &str) -> pb::CheckCommentRequest {
    let mut r = request(site, content);
    r.comment_id = id.into();
    r.user_ip = ip.into();
    r
}

pub(crate) async fn check(
    server: &TestServer,
    key: &str,
    r: pb::CheckCommentRequest,
) -> pb::CheckCommentResponse {
    server
        .client()
        .await
        .check_comment(with_key(key, r))
        .await
        .expect("check")
        .into_inner()
}

/// The value of one sample (`name{labels}` exactly as exposed), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

async fn scrape(server: &TestServer) -> String {
    let r = Http::new()
        .get(&format!("http://{}/metrics", server.admin))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("content-type").contains("openmetrics-text"));
    r.text()
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// `GET path` on the admin port with `key`.
async fn api_get(server: &TestServer, key: &str, path: &str) -> crate::http::Reply {
    let auth = bearer(key);
    Http::new()
        .send(
            "GET",
            &format!("http://{}{path}", server.admin),
            &[("authorization", &auth)],
            None,
        )
        .await
}

/// `POST path` with `body`, the page's headers, and `extra` headers (which replace the page's).
async fn api_post(
    server: &TestServer,
    key: &str,
    path: &str,
    body: &serde_json::Value,
    extra: &[(&str, &str)],
) -> crate::http::Reply {
    let auth = bearer(key);
    let mut headers: Vec<(&str, &str)> = vec![
        ("authorization", &auth),
        ("content-type", "application/json"),
        ("x-saring-request", "1"),
    ];
    for (k, v) in extra {
        headers.retain(|(h, _)| h != k);
        if !v.is_empty() {
            headers.push((k, v));
        }
    }
    Http::new()
        .send(
            "POST",
            &format!("http://{}{path}", server.admin),
            &headers,
            Some(body.to_string().as_bytes()),
        )
        .await
}

async fn resolve(
    server: &TestServer,
    key: &str,
    site: &str,
    ids: &[&str],
    verdict: &str,
) -> crate::http::Reply {
    let body =
        serde_json::json!({"held_ids": ids, "verdict": verdict, "moderator": "", "note": ""});
    api_post(
        server,
        key,
        &format!("/api/v1/sites/{site}/resolve"),
        &body,
        &[],
    )
    .await
}

both_stores!(
    metrics_move_by_exactly_what_the_server_did,
    the_api_keeps_each_key_to_its_sites_and_refuses_cross_site_posts,
    the_live_stream_carries_holds_and_resolutions_with_highlights,
);

async fn metrics_move_by_exactly_what_the_server_did(store: Store) {
    let (server, keys) = authed(config(), store).await;
    let before = scrape(&server).await;
    let k = &keys.service;
    let accepted = check(&server, k, comment(SITE, READER, "c1", "192.0.2.1")).await;
    assert_eq!(accepted.decision(), Decision::Accept, "{accepted:?}");
    let model = accepted.model_version.clone();
    let held = |i: usize| {
        comment(
            SITE,
            &format!("Saya minta refund untuk tiket seminar nomor {i}, terima kasih banyak"),
            &format!("h{i}"),
            &format!("192.0.2.{}", 10 + i),
        )
    };
    let first = check(&server, k, held(1)).await;
    let second = check(&server, k, held(2)).await;
    assert_eq!(
        (first.decision(), second.decision()),
        (Decision::Hold, Decision::Hold)
    );
    let rejected = check(
        &server,
        k,
        comment(SITE, "main judi online di sini", "r1", "192.0.2.30"),
    )
    .await;
    assert_eq!(rejected.decision(), Decision::Reject);
    // The same IP again: refused by the IP limit.
    let limited = check(&server, k, comment(SITE, READER, "c2", "192.0.2.1")).await;
    assert_eq!(limited.rate_limit.as_ref().unwrap().dimension, "ip");
    let r = resolve(&server, &keys.moderator, SITE, &[&first.held_id], "approve").await;
    assert_eq!(r.status, 200, "{}", r.text());
    server
        .client()
        .await
        .submit_feedback(with_key(
            k,
            pb::SubmitFeedbackRequest {
                site_id: SITE.into(),
                target: Some(pb::submit_feedback_request::Target::DecisionId(
                    accepted.decision_id.clone(),
                )),
                label: pb::FeedbackLabel::Spam as i32,
                reporter: String::new(),
            },
        ))
        .await
        .expect("feedback");
    // The rate-limited check is not remembered, so its day's tally is counted after its answer:
    // wait (bounded) until the fifth `finish` is in, then every figure must be exact.
    let finishes = r#"saring_store_operation_duration_seconds_count{operation="finish"}"#;
    let mut after = scrape(&server).await;
    for _ in 0..100 {
        if sample(&after, finishes) - sample(&before, finishes) >= 5.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        after = scrape(&server).await;
    }

    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    let checks =
        |d: &str| format!(r#"saring_checks_total{{decision="{d}",site="{SITE}",model="{model}"}}"#);
    assert_eq!(moved(&checks("accept")), 1.0, "{after}");
    assert_eq!(moved(&checks("hold")), 2.0);
    assert_eq!(moved(&checks("reject")), 2.0);
    assert_eq!(moved("saring_check_duration_seconds_count"), 5.0);
    assert_eq!(moved(r#"saring_rate_limited_total{dimension="ip"}"#), 1.0);
    assert_eq!(
        moved(r#"saring_check_reasons_total{code="rule.moderation_term"}"#),
        2.0
    );
    assert_eq!(
        moved(r#"saring_check_reasons_total{code="rule.blocked_term"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"saring_check_reasons_total{code="ratelimit.ip"}"#),
        1.0
    );
    assert_eq!(
        moved(&format!(
            r#"saring_held_resolutions_total{{verdict="approved",model="{model}",site="{SITE}"}}"#
        )),
        1.0
    );
    assert_eq!(moved(r#"saring_feedback_reports_total{label="spam"}"#), 1.0);
    // Each check is one store operation before it decides and one after.
    for operation in ["begin", "finish"] {
        assert_eq!(
            moved(&format!(
                r#"saring_store_operation_duration_seconds_count{{operation="{operation}"}}"#
            )),
            5.0,
            "{operation}"
        );
    }
    assert_eq!(
        moved(r#"saring_store_operation_duration_seconds_count{operation="resolve"}"#),
        1.0
    );
    assert_eq!(
        sample(&after, &format!(r#"saring_queue_waiting{{site="{SITE}"}}"#)),
        1.0
    );
    assert_eq!(sample(&after, "saring_store_up"), 1.0);
    assert_eq!(
        sample(
            &after,
            &format!(r#"saring_model_info{{version="{model}",role="serving"}}"#)
        ),
        1.0
    );
    assert!(after.ends_with("# EOF\n"));

    // The stats the page charts count the same decisions (the rate-limited one is a REJECT too).
    let stats = api_get(&server, &keys.moderator, "/api/v1/sites/blog/stats").await;
    assert_eq!(stats.status, 200, "{}", stats.text());
    let stats = stats.json();
    assert_eq!(
        stats["today"],
        serde_json::json!({"accept": 1, "hold": 2, "reject": 2})
    );
    let days = stats["days"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(days[29]["hold"], 2);
    assert_eq!(days[28]["hold"], 0);
    assert!(days[0]["date"].as_str().unwrap() < days[29]["date"].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_comment_text_email_or_ip_reaches_metrics_or_health() {
    let store = Store::from(saring::store::embedded::EmbeddedStore::open_in_memory());
    let (server, keys) = authed(config(), store).await;
    let markers = [
        "Zqxwvmarkertext",
        "zqx.marker@example.org",
        "198.51.100.77",
        "Zqxauthorname",
    ];
    for (i, text) in [
        "refund Zqxwvmarkertext please",
        "Zqxwvmarkertext judi online",
        "Zqxwvmarkertext is a nice article indeed, thank you",
    ]
    .iter()
    .enumerate()
    {
        let mut r = comment(SITE, text, &format!("m{i}"), "198.51.100.77");
        r.author_email = "zqx.marker@example.org".into();
        r.author_name = "Zqxauthorname".into();
        let decided = check(&server, &keys.service, r).await;
        if decided.decision() == Decision::Hold {
            let r = resolve(
                &server,
                &keys.moderator,
                SITE,
                &[&decided.held_id],
                "reject_spam",
            )
            .await;
            assert_eq!(r.status, 200);
        }
    }
    let http = Http::new();
    for path in ["/metrics", "/healthz", "/readyz"] {
        let body = http
            .get(&format!("http://{}{path}", server.admin))
            .await
            .text();
        for m in markers {
            assert!(
                !body.to_lowercase().contains(&m.to_lowercase()),
                "{path} shows {m}:\n{body}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_follows_the_store_and_liveness_the_process() {
    let redis = crate::support::Redis::start();
    let store = saring::store::redis::RedisStore::connect(&redis.url(), Duration::from_millis(100))
        .await
        .unwrap();
    let server = TestServer::start_with(Config::default(), store).await;
    let http = Http::new();
    let url = |p: &str| format!("http://{}{p}", server.admin);
    let ready = http.get(&url("/readyz")).await;
    assert_eq!((ready.status, ready.text().as_str()), (200, "ready\n"));
    redis.pause();
    let mut last = (0, String::new());
    for _ in 0..100 {
        let r = http.get(&url("/readyz")).await;
        last = (r.status, r.text());
        if r.status == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last.0, 503, "{last:?}");
    assert!(last.1.contains("store"), "{last:?}");
    let live = http.get(&url("/healthz")).await;
    assert_eq!(live.status, 200);
    let scraped = http.get(&url("/metrics")).await.text();
    assert_eq!(sample(&scraped, "saring_store_up"), 0.0);
    assert!(
        sample(
            &scraped,
            r#"saring_store_errors_total{operation="ping",kind="timeout"}"#
        ) >= 1.0,
        "{scraped}"
    );
    redis.resume();
    for _ in 0..100 {
        if http.get(&url("/readyz")).await.status == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz did not come back after the store did");
}

/// One command to a Redis over a fresh connection (RESP), its reply as text.
fn redis_cmd(port: u16, args: &[&str]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut cmd = format!("*{}\r\n", args.len());
    for a in args {
        cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(cmd.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0; 1 << 16];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn while_the_grpc_port_drains_readiness_says_shutting_down() {
    let redis = crate::support::Redis::start();
    let store = saring::store::redis::RedisStore::connect(&redis.url(), Duration::from_millis(100))
        .await
        .unwrap();
    let mut server = TestServer::start_with(Config::default(), store).await;
    let url = format!("http://{}/readyz", server.admin);
    // Redis holds back scripts (CLIENT PAUSE … WRITE), so a moderator's ListHeld stays in flight —
    // bounded by the 5 s queue limit — and keeps the gRPC port draining after the shutdown begins.
    assert!(redis_cmd(redis.port, &["CLIENT", "PAUSE", "20000", "WRITE"]).starts_with("+OK"));
    let mut queue = server.queue().await;
    let in_flight = tokio::spawn(async move {
        queue
            .list_held(pb::ListHeldRequest {
                site_id: SITE.into(),
                ..Default::default()
            })
            .await
    });
    // In flight once Redis shows a client blocked by the pause (bounded wait).
    let mut blocked = false;
    for _ in 0..200 {
        if redis_cmd(redis.port, &["CLIENT", "LIST"]).contains("flags=b ") {
            blocked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(blocked, "the ListHeld call never reached Redis");
    server.begin_stop();
    let http = Http::new();
    let mut last = (0, String::new());
    for _ in 0..100 {
        let r = http.get(&url).await;
        last = (r.status, r.text());
        if last.1.contains("shutting down") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(last, (503, "not ready: shutting down\n".to_string()));
    redis_cmd(redis.port, &["CLIENT", "UNPAUSE"]);
    let _ = in_flight.await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_page_is_served_with_its_types_and_a_strict_policy_on_every_response() {
    let store = Store::from(saring::store::embedded::EmbeddedStore::open_in_memory());
    let (server, keys) = authed(config(), store).await;
    let http = Http::new();
    let csp = saring::web::CSP;
    for (path, ctype, file) in [
        ("/", "text/html; charset=utf-8", "web/index.html"),
        ("/index.html", "text/html; charset=utf-8", "web/index.html"),
        ("/app.js", "text/javascript; charset=utf-8", "web/app.js"),
        ("/i18n.js", "text/javascript; charset=utf-8", "web/i18n.js"),
        ("/app.css", "text/css; charset=utf-8", "web/app.css"),
    ] {
        let r = http.get(&format!("http://{}{path}", server.admin)).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), ctype, "{path}");
        assert_eq!(r.header("cache-control"), "no-cache", "{path}");
        assert_eq!(
            r.body,
            std::fs::read(crate::support::repo_path(file)).unwrap(),
            "{path}"
        );
    }
    let unauthenticated = http
        .get(&format!("http://{}/api/v1/session", server.admin))
        .await;
    let wrong_method = api_post(
        &server,
        &keys.moderator,
        "/api/v1/sites/blog/held",
        &serde_json::json!({}),
        &[],
    )
    .await;
    let missing = http
        .get(&format!("http://{}/nothing.js", server.admin))
        .await;
    let api_missing = api_get(&server, &keys.moderator, "/api/v1/nothing").await;
    for (r, status, code) in [
        (&unauthenticated, 401, Some("UNAUTHENTICATED")),
        (&wrong_method, 405, Some("UNIMPLEMENTED")),
        (&missing, 404, None),
        (&api_missing, 404, Some("NOT_FOUND")),
    ] {
        assert_eq!(r.status, status, "{}", r.text());
        if let Some(code) = code {
            assert_eq!(r.json()["error"]["code"], code);
            assert!(!r.json()["error"]["message"].as_str().unwrap().is_empty());
            assert_eq!(r.header("cache-control"), "no-store");
        }
    }
    for r in [&unauthenticated, &wrong_method, &missing, &api_missing] {
        assert_eq!(r.header("content-security-policy"), csp);
        assert_eq!(r.header("x-content-type-options"), "nosniff");
        assert_eq!(r.header("referrer-policy"), "no-referrer");
        assert!(r.headers.get("access-control-allow-origin").is_none());
    }
    let session = api_get(&server, &keys.moderator, "/api/v1/session").await;
    assert_eq!(session.header("content-security-policy"), csp);
    let session = session.json();
    assert_eq!(session["role"], "moderator");
    assert_eq!(session["sites"], serde_json::json!([SITE]));
    let admin = api_get(&server, &keys.admin, "/api/v1/session")
        .await
        .json();
    assert_eq!(admin["sites"], serde_json::json!(["*"]));
    let known = admin["known_sites"].as_array().unwrap();
    assert!(
        known.contains(&SITE.into()) && known.contains(&OTHER.into()),
        "{admin}"
    );
    let service = api_get(&server, &keys.service, "/api/v1/session").await;
    assert_eq!(service.status, 403);
    let model = api_get(&server, &keys.moderator, "/api/v1/model")
        .await
        .json();
    assert!(
        model["version"].as_str().unwrap().starts_with("nb-"),
        "{model}"
    );
    assert!(model["loaded_at"].as_str().unwrap().ends_with('Z'));
}

async fn the_api_keeps_each_key_to_its_sites_and_refuses_cross_site_posts(store: Store) {
    let (server, keys) = authed(config(), store).await;
    let held = |site: &str, i: usize| {
        comment(
            site,
            &format!("Mohon refund tiket konser nomor {i}, terima kasih admin"),
            &format!("{site}-{i}"),
            &format!("192.0.2.{}", 100 + i + if site == OTHER { 50 } else { 0 }),
        )
    };
    let mine = check(&server, &keys.service, held(SITE, 1)).await.held_id;
    let mine2 = check(&server, &keys.service, held(SITE, 2)).await.held_id;
    let theirs = check(&server, &keys.service, held(OTHER, 1)).await.held_id;
    let m = &keys.moderator;

    // Site B's paths are 403 for a key of site A, every one of them.
    for path in ["held", "watch", "stats"] {
        let r = api_get(&server, m, &format!("/api/v1/sites/{OTHER}/{path}")).await;
        assert_eq!(r.status, 403, "{path}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], "PERMISSION_DENIED");
    }
    let r = resolve(&server, m, OTHER, &[&theirs], "approve").await;
    assert_eq!(r.status, 403, "{}", r.text());
    // B's id resolved under A is not found, and B's item still waits.
    let r = resolve(&server, m, SITE, &[&theirs], "approve").await;
    assert_eq!(
        r.json()["results"][0]["outcome"],
        "not_found",
        "{}",
        r.text()
    );
    let listed = api_get(&server, &keys.other_moderator, "/api/v1/sites/other/held")
        .await
        .json();
    assert_eq!(listed["items"][0]["held_id"], theirs.as_str());

    // A's list shows A's items only, oldest first, with the count waiting.
    let listed = api_get(&server, m, "/api/v1/sites/blog/held?limit=1").await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    let listed = listed.json();
    assert_eq!(listed["items"][0]["held_id"], mine.as_str());
    assert_eq!(listed["waiting"], 2);
    let token = listed["next_page_token"].as_str().unwrap().to_string();
    let next = api_get(
        &server,
        m,
        &format!("/api/v1/sites/blog/held?limit=1&page_token={token}"),
    )
    .await
    .json();
    assert_eq!(next["items"][0]["held_id"], mine2.as_str());
    let filtered = api_get(&server, m, "/api/v1/sites/blog/held?min_probability=1.5").await;
    assert_eq!(filtered.status, 400);

    // Cross-site or header-less state changes are refused; nothing is resolved by them.
    let body = serde_json::json!({"held_ids": [mine.as_str()], "verdict": "approve"});
    let path = "/api/v1/sites/blog/resolve";
    let origin = format!("http://{}", server.admin);
    for (headers, status) in [
        (vec![("x-saring-request", "")], 403),
        (vec![("content-type", "text/plain")], 400),
        (vec![("origin", "http://evil.example")], 403),
        (vec![("sec-fetch-site", "cross-site")], 403),
        (vec![("sec-fetch-site", "same-site")], 403),
    ] {
        let r = api_post(&server, m, path, &body, &headers).await;
        assert_eq!(r.status, status, "{headers:?}: {}", r.text());
    }
    let unauthenticated = api_post(&server, "", path, &body, &[]).await;
    assert_eq!(unauthenticated.status, 401);
    let again = api_get(&server, m, "/api/v1/sites/blog/held").await.json();
    assert_eq!(again["waiting"], 2, "a refused call resolved something");

    // The page's own call: same origin, its headers. A retry is already_resolved, another verdict a
    // conflict naming who decided.
    let own = [
        ("origin", origin.as_str()),
        ("sec-fetch-site", "same-origin"),
    ];
    let r = api_post(&server, m, path, &body, &own).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let result = &r.json()["results"][0];
    assert_eq!(result["outcome"], "resolved");
    assert_eq!(result["resolution"]["verdict"], "approve");
    assert_eq!(result["resolution"]["moderator"], "ann");
    let r = resolve(&server, m, SITE, &[&mine], "approve").await.json();
    assert_eq!(r["results"][0]["outcome"], "already_resolved");
    let r = resolve(&server, m, SITE, &[&mine], "reject_spam")
        .await
        .json();
    assert_eq!(r["results"][0]["outcome"], "conflict");
    assert_eq!(r["results"][0]["resolution"]["verdict"], "approve");
    let bad = resolve(&server, m, SITE, &[&mine2], "publish").await;
    assert_eq!(bad.status, 400);
    // The admin key may act on any site.
    let r = resolve(&server, &keys.admin, OTHER, &[&theirs], "reject_other").await;
    assert_eq!(
        r.json()["results"][0]["outcome"],
        "resolved",
        "{}",
        r.text()
    );
}

async fn the_live_stream_carries_holds_and_resolutions_with_highlights(store: Store) {
    // The model never rejects here, so gambling spam with a moderation term is held, with its tokens.
    let mut config = config();
    config.sites.insert(
        SITE.into(),
        saring::config::SiteOverride {
            reject_at_probability: Some(1.0),
            ..Default::default()
        },
    );
    let (server, keys) = authed(config, store).await;
    let auth = bearer(&keys.moderator);
    let response = Http::new()
        .start(
            "GET",
            &format!("http://{}/api/v1/sites/blog/watch", server.admin),
            &[("authorization", &auth)],
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/x-ndjson; charset=utf-8"
    );
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    let mut lines = Lines::new(response);
    // Subscribed once the headers are here: a hold from now on reaches the stream.
    let content = "Mohon refund, 𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 gacor maxwin wd bos";
    let decided = check(
        &server,
        &keys.service,
        comment(SITE, content, "w1", "192.0.2.200"),
    )
    .await;
    assert_eq!(decided.decision(), Decision::Hold, "{decided:?}");
    let held: serde_json::Value =
        serde_json::from_str(&lines.next(Duration::from_secs(10)).await.unwrap()).unwrap();
    assert_eq!(held["kind"], "held");
    let item = &held["item"];
    assert_eq!(item["held_id"], decided.held_id.as_str());
    assert_eq!(item["content"], content);
    assert!(item["sequence"].as_u64().unwrap() >= 1);
    assert!(item["held_at"].as_str().unwrap().ends_with('Z'));
    // Each highlight is a UTF-16 span of a word whose folded form is one of the item's word tokens.
    let utf16: Vec<u16> = content.encode_utf16().collect();
    let words: Vec<String> = item["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["code"] == "model.token")
        .filter_map(|r| r["detail"].as_str()?.strip_prefix("w:").map(str::to_string))
        .collect();
    let spans = item["highlights"].as_array().unwrap();
    assert_eq!(spans.is_empty(), words.is_empty(), "{item}");
    for h in spans {
        let (s, e) = (
            h["start"].as_u64().unwrap() as usize,
            h["end"].as_u64().unwrap() as usize,
        );
        let text = String::from_utf16(&utf16[s..e]).unwrap();
        let folded = saring::model::tokenize::skeleton(&text).replace(' ', "");
        assert!(
            words.contains(&folded),
            "{text} ({folded}) is not one of {words:?}"
        );
    }
    let r = resolve(
        &server,
        &keys.moderator,
        SITE,
        &[&decided.held_id],
        "reject_spam",
    )
    .await;
    assert_eq!(r.status, 200);
    let resolved: serde_json::Value =
        serde_json::from_str(&lines.next(Duration::from_secs(10)).await.unwrap()).unwrap();
    assert_eq!(resolved["kind"], "resolved");
    assert_eq!(resolved["held_id"], decided.held_id.as_str());
    assert_eq!(resolved["verdict"], "reject_spam");
    assert_eq!(resolved["moderator"], "ann");
    // The server's shutdown ends the stream (so its drain can finish), then closes the admin port.
    let admin = server.admin;
    server.stop().await;
    assert_eq!(lines.next(Duration::from_secs(10)).await, None);
    let after = Http::new()
        .client_send_may_fail(&format!("http://{admin}/healthz"))
        .await;
    assert!(after.is_err(), "the admin port still answers: {after:?}");
}

#[test]
fn serve_turns_the_admin_port_off_or_refuses_an_address_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let off = crate::support::Serve::start(&["--no-admin", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(off.admin, "off");
    drop(off);
    let on = crate::support::Serve::start(&["--data-dir", data.to_str().unwrap()]);
    assert!(on.admin.starts_with("127.0.0.1:"), "{}", on.admin);
    drop(on);
    let o = crate::support::saring(&[
        "serve",
        "--admin-addr",
        "not-an-address",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(64), "{}", crate::support::stderr(&o));
    assert!(crate::support::stderr(&o).contains("admin_addr"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_tls_the_admin_port_serves_https_with_the_grpc_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = crate::support::localhost_cert(dir.path());
    let server = TestServer::start(cert.server_config()).await;
    let port = server.admin.port();
    let trusted = Http::trusting(Some(&cert.certified.cert.pem()));
    let r = trusted
        .get(&format!("https://localhost:{port}/healthz"))
        .await;
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
    // Plain HTTP is not spoken there.
    let plain = trusted
        .client_send_may_fail(&format!("http://localhost:{port}/healthz"))
        .await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
}
