//! Helpers: a temp directory with fixture data, and running the real `saring` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
            saring::testdata::to_jsonl(&saring::testdata::examples()),
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
    cmd.args(args)
        .env_remove("SARING_MODEL")
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
