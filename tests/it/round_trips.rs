//! A check costs at most two round trips to Redis — one that reads and counts everything the decision
//! needs, one that writes everything it leaves behind (after the answer, when that is only the day's
//! tally) — counted on the wire by Redis's own `MONITOR`,
//! for each kind of check: a first ACCEPT, a HOLD, a REJECT, a retry answered from memory, a comment
//! without an id, and a rate-limited one.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use saring::config::{Config, RulesOverride, SiteOverride, Trust};
use saring::pb::{self, Decision};
use saring::store::redis::RedisStore;
use saring::store::Store;

use crate::server::{request, TestServer};
use crate::support::Redis;

/// `redis-cli MONITOR` on a test's Redis: every command any client sends, and every command a script
/// runs (marked `[0 lua]`), one line each.
struct Monitor {
    child: Child,
    lines: BufReader<ChildStdout>,
    port: u16,
    marks: u32,
}

impl Monitor {
    fn start(redis: &Redis) -> Monitor {
        let mut child = Command::new("redis-cli")
            .args(["-p", &redis.port.to_string(), "MONITOR"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-cli runs (it comes with redis-server: apt-get install redis-server)");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        lines.read_line(&mut first).expect("MONITOR answers");
        assert_eq!(first.trim(), "OK", "MONITOR did not start: {first}");
        Monitor {
            child,
            lines,
            port: redis.port,
            marks: 0,
        }
    }

    /// The round trips of a check that has been answered: a check whose only write is the day's
    /// tally (no comment id, or a rate-limited answer) sends it after the answer, so wait (bounded)
    /// for `expected` of them, then take whatever else came.
    fn settled(&mut self, expected: usize) -> Vec<String> {
        let mut trips = self.round_trips();
        for _ in 0..100 {
            if trips.len() >= expected {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
            trips.extend(self.round_trips());
        }
        trips
    }

    /// The commands clients sent since the last call, in order, without the health monitor's
    /// (`PING`, `CONFIG`): each one a round trip. A marker sent through another connection ends the
    /// span, so nothing sent before it is missed.
    fn round_trips(&mut self) -> Vec<String> {
        self.marks += 1;
        let marker = format!("end-of-span-{}", self.marks);
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        conn.write_all(format!("ECHO {marker}\r\n").as_bytes())
            .unwrap();
        let mut echoed = [0u8; 64];
        let _ = conn.read(&mut echoed).unwrap();
        let mut out = Vec::new();
        loop {
            let mut line = String::new();
            assert!(
                self.lines.read_line(&mut line).unwrap() > 0,
                "MONITOR ended"
            );
            if line.contains(&marker) {
                return out;
            }
            // `1733330000.123456 [0 127.0.0.1:50000] "EVALSHA" "…" …`; a script's commands say `[0 lua]`.
            if line.contains(" lua]") {
                continue;
            }
            let command = line
                .split("] \"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or("")
                .to_ascii_uppercase();
            if !matches!(command.as_str(), "PING" | "CONFIG" | "ECHO") {
                out.push(command);
            }
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config() -> Config {
    let mut config = Config::default();
    config.sites.insert(
        "blog".into(),
        // Terms decide HOLD and REJECT whatever the model says, so the cases stay what they say.
        SiteOverride {
            rules: RulesOverride {
                blocked_terms: Some(vec!["casino bonus".into()]),
                moderation_terms: Some(vec!["refund".into()]),
                ..RulesOverride::default()
            },
            trust: Some(Trust {
                enabled: true,
                min_approved: 2,
                require_verified: false,
            }),
            ..SiteOverride::default()
        },
    );
    config
}

fn comment(id: &str, content: &str) -> pb::CheckCommentRequest {
    let mut r = request("blog", content);
    r.comment_id = id.into();
    r.author_email = "reader@example.org".into();
    r.user_ip = "203.0.113.7".into();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_check_costs_at_most_two_round_trips_to_redis() {
    let redis = Redis::start();
    let store = RedisStore::connect(&redis.url(), Duration::from_secs(2))
        .await
        .unwrap();
    let server = TestServer::start_with(config(), Store::redis(store)).await;
    let mut client = server.client().await;
    // The first call of each script loads it (NOSCRIPT, SCRIPT LOAD): once per Redis, not per check.
    // The check without an id first: its tally, sent after its answer, is then on the one connection
    // long before the second check's writes, which the second's answer waits for.
    client
        .check_comment(request(
            "blog",
            "Warm-up without an id, also a reader's thanks.",
        ))
        .await
        .unwrap();
    client
        .check_comment(comment(
            "warm-up",
            "Terima kasih, artikelnya membantu sekali.",
        ))
        .await
        .unwrap();
    let mut monitor = Monitor::start(&redis);
    assert_eq!(monitor.round_trips(), Vec::<String>::new(), "quiet at rest");

    let long = "Terima kasih atas artikelnya yang sangat membantu, saya jadi paham cara \
                mengurus paspor untuk anak saya tahun ini.";
    let held = "Tolong refund tiket seminar saya, acaranya batal mendadak minggu lalu.";
    let cases = [
        ("a check with a comment id", comment("c1", long), None),
        (
            "a HOLD with a comment id",
            comment("c2", held),
            Some(Decision::Hold),
        ),
        (
            "a REJECT with a comment id",
            comment("c3", "Casino bonus hari ini, daftar sekarang juga bos"),
            Some(Decision::Reject),
        ),
        ("a check without a comment id", request("blog", long), None),
    ];
    for (what, req, expected) in cases {
        let answer = client.check_comment(req).await.unwrap().into_inner();
        if let Some(expected) = expected {
            assert_eq!(answer.decision(), expected, "{what}: {answer:?}");
        }
        assert_eq!(monitor.settled(2), ["EVALSHA", "EVALSHA"], "{what}");
    }

    // A retry is answered from memory in one.
    let again = client
        .check_comment(comment("c2", held))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.decision(), Decision::Hold);
    assert_eq!(monitor.round_trips(), ["EVALSHA"], "a retry");

    // A rate-limited comment: refused in the first, its REJECT tallied in the second.
    let mut limited = None;
    for i in 0..200 {
        let mut r = comment(&format!("burst-{i}"), long);
        r.user_ip = "198.51.100.9".into();
        let answer = client.check_comment(r).await.unwrap().into_inner();
        let trips = monitor.round_trips();
        assert!(trips.len() <= 2, "check {i}: {trips:?}");
        if answer.rate_limit.is_some() {
            limited = Some(trips);
            break;
        }
    }
    let mut limited = limited.expect("the IP's burst runs out within 200 comments");
    limited.extend(monitor.settled(2 - limited.len()));
    assert_eq!(limited, ["EVALSHA", "EVALSHA"], "a rate-limited check");
}
