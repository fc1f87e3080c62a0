//! Helpers: a temp directory with fixture data, and running the real `saring` binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use saring::pb::moderation_client::ModerationClient;

/// A temp directory holding the synthetic corpus as JSONL.
pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) data: PathBuf,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("comments.jsonl");
        std::fs::write(
            &data,
            saring::train::synthetic::to_jsonl(&saring::train::synthetic::examples()),
        )
        .expect("write fixture");
        Fixture { dir, data }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Train a model from the fixture into `name`, asserting success.
    pub(crate) fn train(&self, name: &str) -> PathBuf {
        let out = self.path(name);
        let o = saring(&[
            "train",
            "--quiet",
            "--data",
            self.data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--alpha",
            "0.3",
            "--alpha",
            "1",
        ]);
        assert_success(&o);
        // linfa-bayes 0.8.1 prints every class histogram with `dbg!` at each fit; the patched copy in
        // vendor/ does not, and a quiet training run says nothing on stderr.
        assert_eq!(stderr(&o), "", "a quiet training run wrote to stderr");
        out
    }
}

/// Run the saring binary with `args`.
pub(crate) fn saring(args: &[&str]) -> Output {
    saring_with_stdin(args, None)
}

/// Run the saring binary with `args`, feeding `stdin` if given.
pub(crate) fn saring_with_stdin(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_saring"));
    // The tests say what they mean; nothing from the caller's environment speaks for them.
    cmd.args(args)
        .env_remove("SARING_MODEL")
        .env_remove("SARING_KEY")
        .env_remove("SARING_SERVER")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn saring");
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(s) = stdin {
        pipe.write_all(s.as_bytes()).expect("write stdin");
    }
    drop(pipe);
    child.wait_with_output().expect("wait for saring")
}

pub(crate) fn assert_success(o: &Output) {
    assert!(
        o.status.success(),
        "saring failed: {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(crate) fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Without persistence: what a test needs unless it restarts Redis on its data.
const NO_PERSISTENCE: &[&str] = &["--appendonly", "no", "--save", ""];

/// The settings docs/operations.md gives for a Redis that loses no answered HOLD.
pub(crate) const DURABLE: &[&str] = &[
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--maxmemory-policy",
    "noeviction",
    "--save",
    "",
];

/// A `redis-server` of this test's own on a free port, with its own data directory (kept across
/// [`Redis::restart`]), killed and reaped on drop.
pub(crate) struct Redis {
    child: std::process::Child,
    pub(crate) port: u16,
    dir: tempfile::TempDir,
    /// The settings it runs with, after port, address and directory.
    args: Vec<String>,
}

impl Redis {
    /// Start one without persistence; fails (never skips) when `redis-server` is not installed.
    pub(crate) fn start() -> Redis {
        Self::start_with(NO_PERSISTENCE)
    }

    /// Start one with the append-only file on, fsynced once a second (`appendonly yes`,
    /// `appendfsync everysec`): a crash of the Redis process alone loses nothing it answered.
    pub(crate) fn start_persistent() -> Redis {
        Self::start_with(&[
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
        ])
    }

    /// Start one with `args` (redis-server's `--name value` settings) on a free port.
    pub(crate) fn start_with(args: &[&str]) -> Redis {
        Self::start_on(tempfile::tempdir().expect("temp dir for redis"), None, args)
    }

    /// Start one on `port` (e.g. one a server was told about while nothing listened there).
    pub(crate) fn start_at(port: u16) -> Redis {
        Self::start_on(
            tempfile::tempdir().expect("temp dir for redis"),
            Some(port),
            NO_PERSISTENCE,
        )
    }

    /// Freeze it (SIGSTOP): it keeps its connections but answers nothing until [`Redis::resume`].
    pub(crate) fn pause(&self) {
        signal(self.child.id(), "-STOP");
    }

    /// Thaw it after [`Redis::pause`].
    pub(crate) fn resume(&self) {
        signal(self.child.id(), "-CONT");
    }

    /// Kill it with SIGKILL (no chance to flush anything).
    pub(crate) fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start it again on the same port, directory and settings after [`Redis::crash`]: it loads
    /// whatever its persistence kept.
    pub(crate) fn restart(&mut self) {
        self.child = spawn(self.port, self.dir.path(), &self.args);
        self.wait_for_ping();
    }

    /// [`Redis::restart`] with other settings (`args`, as for [`Redis::start_with`]).
    pub(crate) fn restart_with(&mut self, args: &[&str]) {
        self.args = args.iter().map(|a| a.to_string()).collect();
        self.restart();
    }

    fn start_on(dir: tempfile::TempDir, port: Option<u16>, args: &[&str]) -> Redis {
        let port = port.unwrap_or_else(free_port);
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let child = spawn(port, dir.path(), &args);
        let mut redis = Redis {
            child,
            port,
            dir,
            args,
        };
        redis.wait_for_ping();
        redis
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn wait_for_ping(&mut self) {
        use std::io::{Read, Write};
        for _ in 0..200 {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let mut buf = [0u8; 7];
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read_exact(&mut buf).is_ok()
                    && &buf == b"+PONG\r\n"
                {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("redis-server exited early with {status}");
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!(
            "redis-server on port {} did not answer PING within 5 s",
            self.port
        );
    }
}

/// A port nothing listens on now. Another process could take it before it is used; the callers' bounded
/// waits turn that rare race into a clear failure.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Send a signal (`-TERM`, `-STOP`, …) to a process with the system's `kill`.
pub(crate) fn signal(pid: u32, which: &str) {
    let status = Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {which} {pid} failed");
}

fn spawn(port: u16, dir: &Path, args: &[String]) -> std::process::Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start redis-server ({e}): install it with `apt-get install redis-server` \
                 (bash scripts/test.sh does this for you)"
            )
        })
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `saring serve` child process, killed on drop.
pub(crate) struct Serve {
    child: Child,
    pub(crate) addr: String,
    /// The admin HTTP port's address ("off" when it was turned off).
    pub(crate) admin: String,
    /// Lines the process wrote to stdout (the first API keys), as they come.
    pub(crate) stdout: std::sync::mpsc::Receiver<String>,
    /// Its log lines after the one naming the address.
    pub(crate) stderr: std::sync::mpsc::Receiver<String>,
    /// Its log lines up to and including the one naming the address.
    pub(crate) early: Vec<String>,
}

impl Serve {
    /// Start `saring serve` with `args` on a free port, serving the shipped model, logging saring's
    /// lines from info up.
    pub(crate) fn start(args: &[&str]) -> Serve {
        Self::start_logging(args, Some("saring=info"))
    }

    /// Start `saring serve` with `args` on a free port and `RUST_LOG` set to `filter` (`None`: unset,
    /// so the server's default filter applies). Plain or JSON log lines (`--log-json`) both work.
    pub(crate) fn start_logging(args: &[&str], filter: Option<&str>) -> Serve {
        Self::start_with(&repo_path("models/default.model"), args, filter)
    }

    /// Start `saring serve` with `args` on a free port, serving the model file `model`.
    pub(crate) fn start_with_model(model: &Path, args: &[&str]) -> Serve {
        Self::start_with(model, args, Some("saring=info"))
    }

    /// The admin port gets a free port too, unless `args` say otherwise (its default port would be
    /// shared by every test).
    fn start_with(model: &Path, args: &[&str], filter: Option<&str>) -> Serve {
        let admin_given = args
            .iter()
            .any(|a| a.starts_with("--admin-addr") || *a == "--no-admin");
        let admin_args: &[&str] = if admin_given {
            &[]
        } else {
            &["--admin-addr", "127.0.0.1:0"]
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_saring"));
        match filter {
            Some(f) => command.env("RUST_LOG", f),
            None => command.env_remove("RUST_LOG"),
        };
        let mut child = command
            .arg("serve")
            .args(["--addr", "127.0.0.1:0", "--model"])
            .arg(model)
            .args(admin_args)
            .args(args)
            .env_remove("SARING_REDIS_URL")
            .env_remove("SARING_LOG_JSON")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn saring serve");
        let stderr = child.stderr.take().expect("stderr");
        let stdout = child.stdout.take().expect("stdout");
        let (out_tx, out_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = out_tx.send(line);
            }
        });
        // A reader thread forwards stderr lines (and keeps draining them so the child never blocks on a
        // full pipe); the start-up log line names the bound addresses. Bounded wait: 30 s.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut early = Vec::new();
        let (addr, admin) = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("saring serve did not log its address within 30 s (or exited)");
            early.push(line.clone());
            // Plain: ` addr=127.0.0.1:1234 admin=127.0.0.1:5678 model=…`; JSON: `"addr":"…"`.
            let plain = |name: &str| {
                line.split(&format!(" {name}="))
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .map(str::to_string)
            };
            let json = |name: &str| {
                line.split(&format!("\"{name}\":\""))
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .map(str::to_string)
            };
            if let Some(addr) = plain("addr").or_else(|| json("addr")) {
                let admin = plain("admin")
                    .or_else(|| json("admin"))
                    .unwrap_or_else(|| "off".into());
                break (addr, admin);
            }
        };
        Serve {
            child,
            addr,
            admin,
            stdout: out_rx,
            stderr: rx,
            early,
        }
    }

    pub(crate) async fn client(&self) -> ModerationClient<tonic::transport::Channel> {
        ModerationClient::connect(format!("http://{}", self.addr))
            .await
            .expect("connect")
    }
}

impl Serve {
    /// The process id, for signals.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait for the process to exit by itself (bounded: 30 s).
    pub(crate) fn wait(&mut self) -> std::process::ExitStatus {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("saring serve did not exit within 30 s");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate for `localhost` and its key, also written to `dir` as PEM files.
pub(crate) struct LocalhostCert {
    pub(crate) certified: rcgen::CertifiedKey<rcgen::KeyPair>,
    pub(crate) cert_path: PathBuf,
    pub(crate) key_path: PathBuf,
}

/// Make a [`LocalhostCert`] in `dir`.
pub(crate) fn localhost_cert(dir: &Path) -> LocalhostCert {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, certified.cert.pem()).unwrap();
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
    LocalhostCert {
        certified,
        cert_path,
        key_path,
    }
}

impl LocalhostCert {
    /// A server configuration serving TLS with this certificate.
    pub(crate) fn server_config(&self) -> saring::config::Config {
        saring::config::Config {
            tls_cert: Some(self.cert_path.clone()),
            tls_key: Some(self.key_path.clone()),
            ..saring::config::Config::default()
        }
    }
}
