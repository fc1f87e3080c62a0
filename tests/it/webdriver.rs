//! A small WebDriver (W3C) client over the test's HTTP client, and a `chromedriver` process of the
//! test's own driving headless Chromium: just the commands the browser test needs (navigate, find,
//! type, click, keys, run a script, resize the window, screenshot; a session in given languages).
//! The `thirtyfour` crate would do the same with a second HTTP stack (reqwest) and far more to
//! compile; these dozen commands are a page of code.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::http::Http;

/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where the browser and its driver are, or why the test cannot run.
pub(crate) fn binaries() -> Result<(PathBuf, PathBuf), String> {
    let find = |names: &[&str]| {
        names.iter().find_map(|n| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(|d| d.join(n))
                .find(|p| p.is_file())
        })
    };
    let chromium = find(&["chromium", "chromium-browser"]);
    let driver = find(&["chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => Ok((c, d)),
        _ => Err(
            "chromium and chromedriver are needed: apt-get install chromium chromium-driver \
                  (bash scripts/test.sh installs them)"
                .into(),
        ),
    }
}

/// A `chromedriver` on a free port, killed on drop.
pub(crate) struct Driver {
    child: Child,
    url: String,
    http: Http,
}

impl Driver {
    pub(crate) async fn start(driver: &Path) -> Driver {
        let port = crate::support::free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let d = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: Http::new(),
        };
        // Bounded wait for it to listen.
        for _ in 0..200 {
            if let Ok(200) = d
                .http
                .client_send_may_fail(&format!("{}/status", d.url))
                .await
            {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chromedriver did not answer within 10 s");
    }

    /// A headless Chromium session with a fresh profile in `profile`, in the browser's own language.
    pub(crate) async fn session(&self, chromium: &Path, profile: &Path) -> Session {
        self.session_in(chromium, profile, None).await
    }

    /// A headless Chromium session with a fresh profile in `profile` whose preferred languages are
    /// `languages` (e.g. `"id-ID,id"`), as a person's browser set to them has: the UI language
    /// (`--lang`) and `intl.accept_languages`, which `navigator.languages` and `Accept-Language` follow.
    /// `None` keeps the browser's default.
    pub(crate) async fn session_in(
        &self,
        chromium: &Path,
        profile: &Path,
        languages: Option<&str>,
    ) -> Session {
        let mut args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--window-size=1366,1000".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut options = json!({ "binary": chromium });
        if let Some(languages) = languages {
            let first = languages.split(',').next().unwrap_or(languages);
            args.push(format!("--lang={first}"));
            options["prefs"] = json!({ "intl.accept_languages": languages });
        }
        options["args"] = json!(args);
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
        }}});
        let v = call(
            &self.http,
            "POST",
            &format!("{}/session", self.url),
            Some(caps),
        )
        .await;
        let id = v["sessionId"].as_str().expect("a session id").to_string();
        Session {
            http: self.http.clone(),
            base: format!("{}/session/{id}", self.url),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn call(http: &Http, method: &str, url: &str, body: Option<Value>) -> Value {
    let body = body.map(|b| b.to_string());
    let headers = [("content-type", "application/json")];
    let r = http
        .send(method, url, &headers, body.as_deref().map(str::as_bytes))
        .await;
    let v = r.json();
    assert_eq!(r.status, 200, "WebDriver {method} {url}: {v}");
    v["value"].clone()
}

/// One browser session.
pub(crate) struct Session {
    http: Http,
    base: String,
}

/// An element of the page.
#[derive(Debug, Clone)]
pub(crate) struct Element(String);

impl Session {
    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        call(&self.http, method, &format!("{}{path}", self.base), body).await
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// Resize the window to `width` × `height` CSS pixels (e.g. a phone's 390 × 844).
    pub(crate) async fn set_window_size(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    pub(crate) async fn find(&self, css: &str) -> Element {
        let v = self
            .cmd(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        Element(v[ELEMENT].as_str().expect("an element").to_string())
    }

    pub(crate) async fn type_into(&self, e: &Element, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Click `e` as a person does: scrolled to the middle of the window first, then clicked where it
    /// is (WebDriver refuses if something else, e.g. a toast, would take the click). WebDriver's own
    /// scrolling would put it at the top edge, under the page's sticky bar.
    pub(crate) async fn click(&self, e: &Element) {
        self.script(
            "arguments[0].scrollIntoView({ block: 'center', inline: 'nearest' }); return true;",
            json!([{ ELEMENT: e.0 }]),
        )
        .await;
        self.cmd("POST", &format!("/element/{}/click", e.0), Some(json!({})))
            .await;
    }

    /// Press and release one key, as a person at the keyboard does.
    pub(crate) async fn press(&self, key: &str) {
        self.press_keys(&[key]).await;
    }

    /// Press and release `keys` one after the other in one command: the browser gets them back to
    /// back, with no round trip of the test's in between (for what must happen within a time limit).
    pub(crate) async fn press_keys(&self, keys: &[&str]) {
        let strokes: Vec<Value> = keys
            .iter()
            .flat_map(|k| {
                [
                    json!({"type": "keyDown", "value": k}),
                    json!({"type": "keyUp", "value": k}),
                ]
            })
            .collect();
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": strokes}]});
        self.cmd("POST", "/actions", Some(actions)).await;
    }

    /// Run `script` (a function body; `arguments` holds `args`) in the page and return its value.
    pub(crate) async fn script(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Run an asynchronous script: it calls `arguments[arguments.length - 1]` with its result.
    pub(crate) async fn script_async(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Wait until `script` returns true (bounded by `within`), polling the page.
    pub(crate) async fn until(&self, what: &str, script: &str, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            if self.script(script, json!([])).await == json!(true) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the page did not come to: {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether an alert, confirm or prompt dialog is open (a script from a comment would open one).
    pub(crate) async fn dialog_open(&self) -> bool {
        let r = self
            .http
            .send("GET", &format!("{}/alert/text", self.base), &[], None)
            .await;
        r.status == 200
    }

    /// A PNG screenshot of the window.
    pub(crate) async fn screenshot(&self) -> Vec<u8> {
        let v = self.cmd("GET", "/screenshot", None).await;
        base64(v.as_str().expect("base64"))
    }

    pub(crate) async fn close(self) {
        let _ = self.http.send("DELETE", &self.base, &[], None).await;
    }
}

/// Standard base64 (WebDriver's screenshots), padding and whitespace ignored.
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
