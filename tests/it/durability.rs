//! A HOLD is durable before it is answered, and a Redis that would break that promise is noticed.
//!
//! Under the settings docs/operations.md gives (`appendonly yes`, `appendfsync always`,
//! `maxmemory-policy noeviction`), SIGKILL of Redis under a load of HOLDs loses none that was answered.
//! A Redis without persistence is warned about (once per change of its settings, read at start and
//! whenever it comes back), and with `redis_durability = "require"` it gets no HOLD at all while
//! ACCEPT and REJECT go on; so does a Redis that refuses CONFIG, whose settings cannot be verified.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use saring::config::{Config, RedisDurability};
use saring::pb::{self, Decision};
use saring::store::redis::RedisStore;
use saring::store::Store;
use tokio::sync::Notify;
use tonic::Code;

use crate::server::{request, TestServer};
use crate::support::{Redis, Serve, DURABLE};

const SITE: &str = "blog";
const REFUND: &str = "Saya minta refund untuk tiket seminar kemarin, terima kasih banyak";
const READER: &str = "Terima kasih atas artikelnya, sangat membantu untuk tugas sekolah anak saya.";
const GAMBLING: &str = "𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 gacor hari ini, maxwin terus wd lancar bos, daftar sekarang";

fn config(durability: RedisDurability) -> Config {
    Config {
        redis_durability: durability,
        ..crate::queue_config()
    }
}

async fn store(redis: &Redis) -> Store {
    // Generous: every write is fsynced, on two cores shared with the rest of the suite.
    Store::from(
        RedisStore::connect(&redis.url(), Duration::from_secs(2))
            .await
            .expect("connect to the test's redis"),
    )
}

/// Every waiting item of the site, through the queue.
async fn waiting(server: &TestServer) -> HashSet<String> {
    let mut q = server.queue().await;
    let (mut ids, mut token) = (HashSet::new(), String::new());
    loop {
        let page = q
            .list_held(pb::ListHeldRequest {
                site_id: SITE.into(),
                page_size: 500,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("the store is back")
            .into_inner();
        ids.extend(page.items.into_iter().map(|i| i.held_id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        token = page.next_page_token;
    }
}

/// Poll `f` until it holds, at most `limit` (bounded polling of a condition, not a sleep standing in
/// for one).
async fn until<F: std::future::Future<Output = bool>>(
    what: &str,
    limit: Duration,
    f: impl Fn() -> F,
) {
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn holds(
    server: &TestServer,
    comment_id: &str,
) -> Result<pb::CheckCommentResponse, tonic::Status> {
    let mut r = request(SITE, REFUND);
    r.comment_id = comment_id.into();
    server.check(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_answered_hold_is_lost_when_redis_run_as_documented_is_killed_under_load() {
    let mut redis = Redis::start_with(DURABLE);
    // `require` too: such a Redis is verified durable, so HOLDs are served, before and after it returns.
    let server = Arc::new(
        TestServer::start_with(config(RedisDurability::Require), store(&redis).await).await,
    );
    let answered = Arc::new(AtomicUsize::new(0));
    let (milestone, stop) = (Arc::new(Notify::new()), Arc::new(AtomicBool::new(false)));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (server, answered, milestone, stop) = (
                server.clone(),
                answered.clone(),
                milestone.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut client = server.client().await;
                let (mut held, mut refused) = (Vec::new(), 0);
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let mut r = request(SITE, &format!("{REFUND}, nomor {w}-{i}"));
                    r.comment_id = format!("w{w}-{i}");
                    match client.check_comment(r).await {
                        Ok(response) => {
                            let response = response.into_inner();
                            assert_eq!(response.decision(), Decision::Hold);
                            held.push(response.held_id);
                            answered.fetch_add(1, Ordering::Relaxed);
                            milestone.notify_waiters();
                        }
                        Err(status) => {
                            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                            refused += 1;
                        }
                    }
                }
                (held, refused)
            })
        })
        .collect();
    // Wait for `n` answered HOLDs in all.
    let reach = |n: usize| {
        let (answered, milestone) = (answered.clone(), milestone.clone());
        async move {
            loop {
                let notified = milestone.notified();
                if answered.load(Ordering::Relaxed) >= n {
                    return;
                }
                tokio::time::timeout(Duration::from_secs(60), notified)
                    .await
                    .expect("HOLDs keep being answered");
            }
        }
    };
    reach(200).await;
    // SIGKILL while four writers have requests in flight: nothing is flushed on the way out.
    redis.crash();
    let at_crash = answered.load(Ordering::Relaxed);
    redis.restart();
    // Holding again once the store is back, well past the outage.
    reach(at_crash + 200).await;
    stop.store(true, Ordering::Relaxed);
    let (mut held, mut refused) = (Vec::new(), 0);
    for w in writers {
        let (h, r) = w.await.unwrap();
        held.extend(h);
        refused += r;
    }
    assert!(
        refused > 0,
        "the crash came while HOLDs were being asked for"
    );
    let kept = waiting(&server).await;
    let lost: Vec<&String> = held.iter().filter(|id| !kept.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered HOLDs lost: {lost:?}",
        lost.len(),
        held.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_require_a_redis_that_could_lose_holds_gets_none_while_accept_and_reject_go_on() {
    // Neither AOF nor RDB: a restart empties it.
    let mut redis = Redis::start();
    let server =
        TestServer::start_with(config(RedisDurability::Require), store(&redis).await).await;
    let status = holds(&server, "c1").await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("redis_durability")
            && status.message().contains("no persistence"),
        "says why: {status:?}"
    );
    let ham = server.check(request(SITE, READER)).await.unwrap();
    assert_eq!(ham.decision(), Decision::Accept);
    let spam = server.check(request(SITE, GAMBLING)).await.unwrap();
    assert_eq!(spam.decision(), Decision::Reject);
    assert!(waiting(&server).await.is_empty(), "nothing was held");

    // Restarted with the documented settings, it is read again when it comes back, and holds.
    redis.crash();
    redis.restart_with(DURABLE);
    until(
        "a HOLD once Redis is durable",
        Duration::from_secs(10),
        || async { holds(&server, "c2").await.is_ok() },
    )
    .await;
    assert_eq!(waiting(&server).await.len(), 1);

    // A Redis that refuses CONFIG (managed Redis often renames it) cannot be verified: no HOLD.
    redis.crash();
    let mut no_config = DURABLE.to_vec();
    no_config.extend(["--rename-command", "CONFIG", ""]);
    redis.restart_with(&no_config);
    until(
        "HOLD refused on an unverifiable Redis",
        Duration::from_secs(10),
        || async {
            holds(&server, "c3").await.is_err_and(|s| {
                s.code() == Code::Unavailable && s.message().contains("cannot be verified")
            })
        },
    )
    .await;
    assert_eq!(waiting(&server).await.len(), 1);
}

/// Lines from `serve` until one satisfies `want` (bounded: 20 s); every line read, that one last.
fn lines_until(serve: &Serve, mut want: impl FnMut(&str) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = serve
            .stderr
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("the expected line did not come; got {lines:#?}"));
        let done = want(&line);
        lines.push(line);
        if done {
            return lines;
        }
    }
}

const WARNING: &str = "REDIS CAN LOSE HELD COMMENTS";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_without_persistence_is_warned_about_once_per_change() {
    let mut redis = Redis::start();
    let url = redis.url();
    // The store's trace lines say each time the settings are read (every health check).
    // Comments naming a refund wait for a person, whatever the model thinks of them (as queue_config).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("saring.toml");
    std::fs::write(&config, "[rules]\nmoderation_terms = [\"refund\"]\n").unwrap();
    let serve = Serve::start_logging(
        &[
            "--redis-url",
            &url,
            "--insecure-no-auth",
            "--config",
            config.to_str().unwrap(),
        ],
        Some("saring=info,saring::store=trace"),
    );
    let mut client = serve.client().await;
    // Read at start, before the first request: a warning saying what the queue risks.
    let start = lines_until(&serve, |l| l.contains(WARNING));
    let warning = start.last().unwrap();
    assert!(warning.contains(" WARN "), "{warning}");
    assert!(warning.contains("no persistence"), "{warning}");
    // `warn` still holds.
    let mut r = request(SITE, REFUND);
    r.comment_id = "c1".into();
    let held = client.check_comment(r).await.unwrap().into_inner();
    assert_eq!(held.decision(), Decision::Hold);
    // Read again and again, unchanged: not warned again.
    let mut reads = 0;
    let steady = lines_until(&serve, |l| {
        reads += usize::from(l.contains("read the store's persistence settings"));
        reads == 3
    });
    assert!(!steady.iter().any(|l| l.contains(WARNING)), "{steady:#?}");

    // Back with the same settings: read again (before the store counts as back), the same, so no
    // second warning.
    redis.crash();
    lines_until(&serve, |l| l.contains("the store does not answer"));
    redis.restart();
    let back = lines_until(&serve, |l| l.contains("the store answers again"));
    assert!(!back.iter().any(|l| l.contains(WARNING)), "{back:#?}");

    // Back with the documented settings: a change, said once.
    redis.crash();
    lines_until(&serve, |l| l.contains("the store does not answer"));
    redis.restart_with(DURABLE);
    let durable = lines_until(&serve, |l| l.contains("keeps every answered HOLD"));
    assert!(!durable.iter().any(|l| l.contains(WARNING)), "{durable:#?}");
}
