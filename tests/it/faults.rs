//! Surviving faults: Redis down at start, killed and restarted, or frozen; SIGTERM under load.

use std::time::{Duration, Instant};

use saring::config::{Config, FailMode, Limit, Limits};
use saring::pb::{self, Decision};
use saring::store::embedded::EmbeddedStore;
use saring::store::redis::RedisStore;
use saring::store::Store;
use tonic::Code;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::server::{codes, request, TestServer};
use crate::support::{free_port, signal, Redis, Serve};

const READER: &str = "Terima kasih atas artikelnya, sangat membantu untuk tugas sekolah anak saya.";
const GAMBLING: &str = "𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 gacor hari ini, maxwin terus wd lancar bos, daftar sekarang";
const REFUND: &str = "Saya minta refund untuk tiket seminar kemarin, terima kasih";

fn config() -> Config {
    let mut c = crate::queue_config();
    c.rules.moderation_terms = vec!["refund".into()];
    c
}

async fn serving(server: &TestServer) -> bool {
    let reply = HealthClient::new(server.channel().await)
        .check(HealthCheckRequest {
            service: "saring.v1.Moderation".into(),
        })
        .await
        .unwrap()
        .into_inner();
    reply.status == tonic_health::ServingStatus::Serving as i32
}

/// Poll health until it reads `want`; how long that took.
async fn until_health(server: &TestServer, want: bool, limit: Duration) -> Duration {
    let start = Instant::now();
    while serving(server).await != want {
        assert!(
            start.elapsed() < limit,
            "health did not turn {} within {limit:?}",
            if want { "SERVING" } else { "NOT_SERVING" }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

async fn check(server: &TestServer, text: &str) -> Result<pb::CheckCommentResponse, tonic::Status> {
    let mut r = request("blog", text);
    r.user_ip = "192.0.2.44".into();
    server.check(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_redis_down_at_start_checks_go_on_degraded_and_all_recovers_when_it_returns() {
    let port = free_port();
    let store = Store::from(
        RedisStore::connect(
            &format!("redis://127.0.0.1:{port}"),
            Duration::from_millis(50),
        )
        .await
        .expect("saring starts without Redis"),
    );
    let server = TestServer::start_with(config(), store).await;
    until_health(&server, false, Duration::from_secs(3)).await;

    // The model and the rules still decide; a HOLD cannot be kept, so it is UNAVAILABLE.
    let ham = check(&server, READER).await.unwrap();
    assert_eq!(ham.decision(), Decision::Accept);
    assert!(codes(&ham).contains(&"store.degraded"), "{:?}", codes(&ham));
    let spam = check(&server, GAMBLING).await.unwrap();
    assert_eq!(spam.decision(), Decision::Reject);
    assert!(codes(&spam).contains(&"store.degraded"));
    let held = check(&server, REFUND).await.unwrap_err();
    assert_eq!(held.code(), Code::Unavailable);

    let redis = Redis::start_at(port);
    let took = until_health(&server, true, Duration::from_secs(2)).await;
    eprintln!("health back {took:?} after Redis answered");
    let ham = check(&server, READER).await.unwrap();
    assert!(!codes(&ham).contains(&"store.degraded"));
    let held = check(&server, REFUND).await.unwrap();
    assert_eq!(held.decision(), Decision::Hold);
    drop(redis);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_mid_load_and_restarted_degrades_then_recovers_without_a_restart() {
    let mut redis = Redis::start_persistent();
    let store = Store::from(
        RedisStore::connect(&redis.url(), Duration::from_millis(200))
            .await
            .unwrap(),
    );
    let server = TestServer::start_with(config(), store).await;
    assert!(check(&server, READER).await.is_ok());
    redis.crash();
    until_health(&server, false, Duration::from_secs(3)).await;
    for _ in 0..20 {
        let r = check(&server, READER).await.expect("checks still answer");
        assert!(codes(&r).contains(&"store.degraded"));
    }
    redis.restart();
    until_health(&server, true, Duration::from_secs(2)).await;
    let r = check(&server, READER).await.unwrap();
    assert!(!codes(&r).contains(&"store.degraded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fail_closed_refuses_what_it_cannot_count_with_a_retry_time() {
    let port = free_port();
    let store = Store::from(
        RedisStore::connect(
            &format!("redis://127.0.0.1:{port}"),
            Duration::from_millis(50),
        )
        .await
        .unwrap(),
    );
    let server = TestServer::start_with(
        Config {
            rate_limits_without_store: FailMode::Closed,
            ..config()
        },
        store,
    )
    .await;
    until_health(&server, false, Duration::from_secs(3)).await;
    let r = check(&server, READER).await.unwrap();
    assert_eq!(r.decision(), Decision::Reject);
    assert!(codes(&r).contains(&"store.degraded"));
    assert!(r.retry_after.is_some());
    // A privileged role is never rate-limited, so it is not refused either.
    let mut admin = request("blog", READER);
    admin.user_role = "administrator".into();
    let r = server
        .client()
        .await
        .check_comment(admin)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.decision(), Decision::Accept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_redis_still_gets_every_check_an_answer_degraded() {
    // SIGSTOP keeps the connection open and silent: the worst case, a store that never answers.
    let redis = Redis::start();
    let store = Store::from(
        RedisStore::connect(&redis.url(), Duration::from_millis(50))
            .await
            .unwrap(),
    );
    let server = TestServer::start_with(config(), store).await;
    assert!(check(&server, READER).await.is_ok());
    redis.pause();
    let r = check(&server, READER).await;
    redis.resume();
    let r = r.expect("answered, degraded, while Redis is frozen");
    assert!(codes(&r).contains(&"store.degraded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_request_deadline_ends_a_request_the_store_holds_up() {
    let redis = Redis::start();
    // A store timeout longer than the request deadline, so only the deadline can end the wait.
    let store = Store::from(
        RedisStore::connect(&redis.url(), Duration::from_secs(30))
            .await
            .unwrap(),
    );
    let server = TestServer::start_with(
        Config {
            request_timeout_ms: 300,
            ..config()
        },
        store,
    )
    .await;
    // Answered once first: the server's first health check (before it serves) has found Redis up.
    assert!(check(&server, READER).await.is_ok());
    redis.pause();
    let r = check(&server, REFUND).await;
    redis.resume();
    let status = r.expect_err("the deadline ends it");
    assert!(
        matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_finishes_every_accepted_request_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("saring.toml");
    std::fs::write(
        &cfg,
        "[rules]\nmoderation_terms = [\"refund\"]\n[limits]\nip = { burst = 100000, per_hour = 100000 }\n\
         author = { burst = 100000, per_hour = 100000 }\nsite = { burst = 100000, per_hour = 100000 }\n\
         [campaign]\nenabled = false\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut serve = Serve::start(&[
        "--insecure-no-auth",
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    // Every request is a HOLD, each a durable write, so many are in flight when the signal comes.
    let mut tasks = Vec::new();
    for c in 0..8 {
        let client = serve.client().await;
        for i in 0..40 {
            let mut client = client.clone();
            tasks.push(tokio::spawn(async move {
                let mut r = request("blog", &format!("{REFUND} nomor {c}-{i}"));
                r.comment_id = format!("c{c}-{i}");
                let result = client.check_comment(r).await.map(|r| r.into_inner());
                (result, Instant::now())
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    signal(serve.pid(), "-TERM");
    let signalled = Instant::now();
    let (mut answered, mut after_signal) = (Vec::new(), 0);
    for t in tasks {
        let (result, done) = t.await.unwrap();
        match result {
            Ok(r) => {
                answered.push(r.held_id);
                after_signal += usize::from(done > signalled);
            }
            // Refused before it was taken: the server had stopped accepting streams (UNAVAILABLE) or
            // connections (the client's channel reconnected and the closing listener reset it). That
            // none of these had been taken is checked below: every taken request is a held item.
            Err(status) => assert!(
                status.code() == Code::Unavailable
                    || std::error::Error::source(&status)
                        .is_some_and(|e| e.is::<tonic::transport::Error>()),
                "{status:?}"
            ),
        }
    }
    assert!(serve.wait().success(), "a clean exit");
    assert!(
        after_signal > 0,
        "some requests were still in flight at SIGTERM and finished after it"
    );
    // Every answered HOLD is in the queue.
    let store = Store::from(EmbeddedStore::open(&data).unwrap());
    let kept: std::collections::HashSet<String> = store
        .pending("blog", 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.held_id)
        .collect();
    assert!(answered.iter().all(|id| kept.contains(id)));
    // And no request that failed had been taken: each one taken is a held item, all of them answered.
    assert_eq!(
        kept.len(),
        answered.len(),
        "a held comment whose answer was lost"
    );
    let log: Vec<String> = serve.stderr.try_iter().collect();
    assert!(
        !log.iter().any(|l| l.contains("drain timeout")),
        "the drain finished in time: {log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_connection_gets_no_more_streams_than_configured() {
    let server = TestServer::start_with(
        Config {
            max_concurrent_streams: 1,
            limits: Limits {
                ip: Limit {
                    burst: 100,
                    per_hour: 100,
                },
                ..Limits::default()
            },
            ..config()
        },
        EmbeddedStore::open_in_memory(),
    )
    .await;
    let channel = server.channel().await;
    // A watch holds the connection's one stream open...
    let mut q = saring::pb::moderation_queue_client::ModerationQueueClient::new(channel.clone());
    let watch = q
        .watch_held(pb::WatchHeldRequest {
            site_id: "blog".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // ...so a check on the same connection waits for it, while another connection is served.
    let mut same = saring::pb::moderation_client::ModerationClient::new(channel);
    let waiting = tokio::spawn(async move { same.check_comment(request("blog", READER)).await });
    assert!(check(&server, READER).await.is_ok());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "a second stream was allowed");
    drop(watch);
    let r = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the check runs once the stream is free")
        .unwrap();
    assert!(r.is_ok());
}
