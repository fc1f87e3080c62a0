//! `saring bench` run as a real process against a real `saring serve` on its own Redis. Every run is
//! bounded by `--requests`, with a `--duration` far longer than it needs, so no assertion depends on how
//! fast this machine is.

use std::time::Duration;

use crate::support::{
    assert_success, localhost_cert, repo_path, saring, stderr, stdout, Redis, Serve,
};

/// `saring serve` with the end-to-end benchmark's configuration on a Redis of its own, and the
/// service key for site `default` it printed on its first start.
struct Target {
    serve: Serve,
    key: String,
    _redis: Redis,
}

impl Target {
    fn start(extra: &[&str]) -> Target {
        let redis = Redis::start();
        let url = redis.url();
        let config = repo_path("benches/e2e.toml");
        let mut args = vec!["--redis-url", &url, "--config", config.to_str().unwrap()];
        args.extend_from_slice(extra);
        let serve = Serve::start(&args);
        let key = (0..3)
            .filter_map(|_| serve.stdout.recv_timeout(Duration::from_secs(10)).ok())
            .find(|line| line.contains("service:"))
            .and_then(|line| line.split_whitespace().next().map(str::to_string))
            .expect("the first start prints a service key for site default");
        Target {
            serve,
            key,
            _redis: redis,
        }
    }

    /// `saring bench` against this server with `args`, bounded by count.
    fn bench(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec![
            "bench",
            "--addr",
            &self.serve.addr,
            "--duration",
            "10m",
            "--requests",
            "60",
        ];
        all.extend_from_slice(args);
        saring(&all)
    }
}

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(o))
        .unwrap_or_else(|e| panic!("--json printed no JSON ({e}): {}", stdout(o)))
}

fn count(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn a_short_run_counts_every_request_once() {
    let t = Target::start(&[]);
    let o = t.bench(&[
        "--key",
        &t.key,
        "--connections",
        "3",
        "--in-flight",
        "4",
        "--json",
    ]);
    assert_success(&o);
    let r = json(&o);
    assert_eq!(count(&r["requests"]), 60);
    let d = &r["decisions"];
    let decided = count(&d["accept"]) + count(&d["hold"]) + count(&d["reject"]);
    assert_eq!(count(&d["unspecified"]), 0);
    assert_eq!(count(&r["errors"]["total"]), 0, "{r}");
    assert_eq!(decided, 60);
    assert!(
        count(&d["accept"]) > 0,
        "the built-in readers' comments: {r}"
    );
    let l = &r["latency_us"];
    let (p50, p99, p999, max) = (
        count(&l["p50"]),
        count(&l["p99"]),
        count(&l["p99_9"]),
        count(&l["max"]),
    );
    assert!(0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= max, "{l}");
    assert!(r["checks_per_sec"].as_f64().unwrap() > 0.0);
    let s = &r["settings"];
    assert_eq!((count(&s["connections"]), count(&s["in_flight"])), (3, 4));
    assert_eq!(s["comment_ids"], true);
}

#[test]
fn the_table_names_the_percentiles_and_the_decisions() {
    let t = Target::start(&[]);
    let o = t.bench(&["--key", &t.key, "--no-comment-ids", "--threads", "2"]);
    assert_success(&o);
    let out = stdout(&o);
    for word in [
        "60 in",
        "checks/s",
        "accept",
        "p50",
        "p99.9",
        "no comment ids",
        "errors     none",
    ] {
        assert!(out.contains(word), "no `{word}` in:\n{out}");
    }
}

#[test]
fn a_wrong_key_is_counted_as_unauthenticated_and_fails_the_run() {
    let t = Target::start(&[]);
    let o = t.bench(&["--key", "srg_0000_wrong", "--connections", "2", "--json"]);
    assert!(!o.status.success(), "a run where nothing succeeded fails");
    let r = json(&o);
    assert_eq!(count(&r["requests"]), 60);
    assert_eq!(count(&r["errors"]["total"]), 60);
    assert_eq!(
        count(&r["errors"]["by_code"]["UNAUTHENTICATED"]["count"]),
        60
    );
    assert!(r["latency_us"].is_null(), "no answered check has a latency");
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("UNAUTHENTICATED 60") && err.contains("--key"),
        "{err}"
    );
}

#[test]
fn a_data_file_is_sent_in_turn_with_its_fields() {
    let t = Target::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("comments.jsonl");
    std::fs::write(
        &data,
        "{\"text\": \"Artikel yang bagus, terima kasih\", \"label\": \"ham\", \"lang\": \"id\"}\n\n\
         {\"text\": \"Nice photos of the harbour\", \"author\": \"Ann\", \"source\": \"x\"}\n",
    )
    .unwrap();
    let o = t.bench(&["--key", &t.key, "--data", data.to_str().unwrap(), "--json"]);
    assert_success(&o);
    let r = json(&o);
    assert_eq!(count(&r["requests"]), 60);
    assert_eq!(count(&r["errors"]["total"]), 0, "{r}");
    assert_eq!(
        r["settings"]["comments"],
        format!("2 from {}", data.display())
    );
}

#[test]
fn tls_is_spoken_with_a_given_ca() {
    let dir = tempfile::tempdir().unwrap();
    let cert = localhost_cert(dir.path());
    let t = Target::start(&[
        "--tls-cert",
        cert.cert_path.to_str().unwrap(),
        "--tls-key",
        cert.key_path.to_str().unwrap(),
    ]);
    let port = t.serve.addr.rsplit(':').next().unwrap();
    let o = saring(&[
        "bench",
        "--addr",
        &format!("localhost:{port}"),
        "--tls-ca",
        cert.cert_path.to_str().unwrap(),
        "--key",
        &t.key,
        "--requests",
        "10",
        "--duration",
        "10m",
        "--json",
    ]);
    assert_success(&o);
    let r = json(&o);
    assert_eq!(count(&r["requests"]), 10);
    assert_eq!(count(&r["errors"]["total"]), 0, "{r}");
    assert!(r["settings"]["target"]
        .as_str()
        .unwrap()
        .starts_with("https://localhost:"));
}

#[test]
fn bad_data_files_are_refused_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bench = |body: Option<&str>| {
        let path = dir.path().join("load.jsonl");
        match body {
            Some(b) => std::fs::write(&path, b).unwrap(),
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
        // Port 1 on loopback: the data is read before any connection is tried.
        let o = saring(&[
            "bench",
            "--addr",
            "127.0.0.1:1",
            "--data",
            path.to_str().unwrap(),
        ]);
        assert!(!o.status.success());
        let err = stderr(&o);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(!err.contains("panicked"), "{err}");
        err
    };
    let err = bench(Some("{\"text\": \"fine\"}\n{\"text\": \"cut short\n"));
    assert!(err.contains("load.jsonl:2"), "{err}");
    let err = bench(Some("{\"text\": \"fine\"}\n\n{\"body\": \"no text\"}\n"));
    assert!(
        err.contains("load.jsonl:3") && err.contains("text"),
        "{err}"
    );
    let err = bench(Some("{\"text\": \"  \"}\n"));
    assert!(
        err.contains("load.jsonl:1") && err.contains("empty"),
        "{err}"
    );
    let err = bench(Some("\n\n"));
    assert!(err.contains("no comments"), "{err}");
    let err = bench(None);
    assert!(err.contains("load.jsonl"), "{err}");
}

#[test]
fn a_target_off_this_machine_is_refused_before_any_traffic() {
    // 192.0.2.0/24 is TEST-NET-1: nothing answers there, and nothing is sent, since the check comes
    // before the first connection.
    let o = saring(&["bench", "--addr", "192.0.2.7:50051", "--requests", "1"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("--allow-remote"), "{err}");
    assert!(!err.contains("connecting"), "{err}");
}

#[test]
fn a_server_that_is_not_there_is_one_line() {
    let port = crate::support::free_port().to_string();
    let o = saring(&[
        "bench",
        "--addr",
        &format!("127.0.0.1:{port}"),
        "--requests",
        "1",
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("connecting to http://127.0.0.1:"), "{err}");
}

#[test]
fn nonsense_flags_are_usage_errors() {
    for args in [
        &["bench", "--connections", "0"][..],
        &["bench", "--in-flight", "100000"],
        &["bench", "--duration", "soon"],
        &["bench", "--duration", "0s"],
        &["bench", "--requests", "0"],
        &["bench", "--ips", "0"],
    ] {
        let o = saring(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}");
    }
    let o = saring(&["bench", "--site", "two words", "--requests", "1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--site"), "{}", stderr(&o));
}

/// `--workers` sizes the runtime that serves requests, and the start-up line says how many serve; by
/// default one per core.
#[test]
fn workers_sets_how_many_threads_serve() {
    let said = |serve: &Serve| {
        let line = serve.early.last().expect("the start-up line");
        line.split(" workers=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("no workers= in {line}"))
    };
    for n in [1usize, 3] {
        let target = Target::start(&["--workers", &n.to_string()]);
        assert_eq!(said(&target.serve), n, "--workers {n}");
    }
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(said(&Target::start(&[]).serve), cores);
}
