//! Signed webhooks: a site may name a URL to which its queue events (`held`, `resolved`, `feedback`) are
//! POSTed as JSON, so a blog learns of a held comment or a moderator's verdict without polling.
//!
//! Delivery never slows a check: events go into a bounded queue (`try_send`; when it is full the event
//! is dropped, counted and logged) and a background task delivers them, several at once, retrying each
//! with exponential back-off. The body carries ids, decisions and verdicts only — never the comment's
//! text, e-mail or IP address, which the blog already has.
//!
//! Each request carries `x-saring-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
//! keyed with the site's secret; a receiver recomputes it and refuses old timestamps, so a captured
//! request cannot be replayed later (docs/moderation.md shows the check).
//!
//! An `https://` receiver is verified against the host's trust store, or against the site's
//! `ca_file` (rustls, through hyper-rustls).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::Sha256;
use tokio::sync::{mpsc, Semaphore};

use crate::config::Webhook;

/// Events waiting for delivery; beyond this, new events are dropped (and counted) rather than queued.
pub const QUEUE_CAPACITY: usize = 1024;
/// Deliveries in flight at once.
const CONCURRENT_DELIVERIES: usize = 16;
/// Attempts per event, the first immediately, then after 0.5 s, 1 s, 2 s, 4 s, 8 s.
const ATTEMPTS: u32 = 6;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// One attempt's limit, connection included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "x-saring-signature";
/// The header naming the event.
pub const EVENT_HEADER: &str = "x-saring-event";

struct Delivery {
    url: String,
    secret: String,
    ca_file: Option<PathBuf>,
    event: &'static str,
    body: Vec<u8>,
}

/// One client per trust: the host's store (`None`) or a site's `ca_file`.
type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client for `http://` and `https://` receivers, verifying the latter against `ca_file` or, without
/// one, the host's trust store. A host with no trust store still gets a client: `http://` works and
/// `https://` fails, attempt by attempt, naming the certificate it could not verify.
fn new_client(ca_file: Option<&Path>) -> Result<HttpsClient, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let tls = |roots: rustls::RootCertStore| {
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .map_err(|e| e.to_string())
    };
    let builder = match ca_file {
        Some(path) => builder.with_tls_config(tls(crate::config::tls::roots(path)?)?),
        None => match builder.with_provider_and_native_roots(provider.clone()) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "no trusted certificates on this host: https:// webhooks without a ca_file will fail");
                hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(tls(rustls::RootCertStore::empty())?)
            }
        },
    };
    let connector = builder.https_or_http().enable_http1().build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// Counters a test or an operator can read: the metrics registry's own, so `/metrics` shows them.
pub use crate::metrics::Deliveries as Counters;

/// The sending side, shared by everything that produces events.
#[derive(Debug, Clone)]
pub struct Webhooks {
    tx: Option<mpsc::Sender<Delivery>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("url", &self.url)
            .field("event", &self.event)
            .finish_non_exhaustive()
    }
}

impl Webhooks {
    /// Start the delivery task on the current Tokio runtime, with counters of its own.
    pub fn start() -> Webhooks {
        Webhooks::start_with(Counters::default())
    }

    /// Start the delivery task on the current Tokio runtime, counting into `counters` (a metrics
    /// registry's). Without a runtime (a program that never serves), events are counted as dropped.
    pub fn start_with(counters: Counters) -> Webhooks {
        let counters = Arc::new(counters);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Webhooks { tx: None, counters };
        };
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        runtime.spawn(deliver_all(rx, counters.clone()));
        Webhooks {
            tx: Some(tx),
            counters,
        }
    }

    /// Queue `body` (a JSON object) as event `event` for `hook`; never waits.
    pub fn send(&self, hook: &Webhook, event: &'static str, body: &serde_json::Value) {
        let delivery = Delivery {
            url: hook.url.clone(),
            secret: hook.secret.clone(),
            ca_file: hook.ca_file.clone(),
            event,
            body: body.to_string().into_bytes(),
        };
        let sent = self.tx.as_ref().map(|tx| tx.try_send(delivery));
        if !matches!(sent, Some(Ok(()))) {
            let n = self.counters.dropped.inc() + 1;
            tracing::warn!(
                event,
                dropped_total = n,
                "webhook queue full: event dropped"
            );
        }
    }

    /// Delivery counters.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }
}

/// The signature header's value for `body` at unix time `t`.
pub fn signature(secret: &str, t: u64, body: &[u8]) -> String {
    format!(
        "t={t},v1={}",
        hmac_hex(secret.as_bytes(), &[t.to_string().as_bytes(), b".", body])
    )
}

fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    // HMAC accepts a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    for p in parts {
        mac.update(p);
    }
    crate::hash::hex(&mac.finalize().into_bytes())
}

async fn deliver_all(mut rx: mpsc::Receiver<Delivery>, counters: Arc<Counters>) {
    // Built on first use and kept: a client holds its connection pool and its trust store.
    let mut clients: HashMap<Option<PathBuf>, Result<HttpsClient, String>> = HashMap::new();
    let slots = Arc::new(Semaphore::new(CONCURRENT_DELIVERIES));
    while let Some(d) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let client = clients
            .entry(d.ca_file.clone())
            .or_insert_with(|| new_client(d.ca_file.as_deref()));
        let client = match client {
            Ok(c) => c.clone(),
            Err(problem) => {
                // The file was checked at start; it has changed since. Nothing can be sent with it.
                counters.failed.inc();
                tracing::warn!(url = %d.url, event = d.event, problem = %problem, "webhook not sent: its ca_file cannot be used");
                continue;
            }
        };
        let counters = counters.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut backoff = FIRST_BACKOFF;
            for attempt in 1..=ATTEMPTS {
                match attempt_once(&client, &d).await {
                    Ok(()) => {
                        counters.delivered.inc();
                        return;
                    }
                    Err(problem) if attempt < ATTEMPTS => {
                        tracing::debug!(url = %d.url, attempt, problem, "webhook attempt failed");
                        tokio::time::sleep(backoff).await;
                        backoff *= 2;
                    }
                    Err(problem) => {
                        counters.failed.inc();
                        tracing::warn!(url = %d.url, event = d.event, problem, "webhook given up after {ATTEMPTS} attempts");
                    }
                }
            }
        });
    }
}

async fn attempt_once(client: &HttpsClient, d: &Delivery) -> Result<(), String> {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let request = hyper::Request::post(d.url.as_str())
        .header("content-type", "application/json")
        .header(EVENT_HEADER, d.event)
        .header(SIGNATURE_HEADER, signature(&d.secret, t, &d.body))
        .body(Full::new(Bytes::from(d.body.clone())))
        .map_err(|e| format!("bad request: {e}"))?;
    let response = tokio::time::timeout(ATTEMPT_TIMEOUT, client.request(request))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stuck_receiver_fills_the_queue_and_later_events_are_dropped_and_counted() {
        // A receiver that accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let hooks = Webhooks::start();
        let hook = Webhook {
            url: format!("http://{addr}/hook"),
            secret: "a-secret-of-16-chars".into(),
            ca_file: None,
        };
        let n = 2 * QUEUE_CAPACITY;
        for _ in 0..n {
            hooks.send(&hook, "held", &serde_json::json!({"event": "held"}));
        }
        let dropped = hooks.counters().dropped.get() as usize;
        // At most the queue plus the deliveries in flight were taken; send never waited.
        assert!(
            dropped >= n - QUEUE_CAPACITY - CONCURRENT_DELIVERIES - 1,
            "dropped {dropped} of {n}"
        );
        assert_eq!(hooks.counters().delivered.get(), 0);
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            hmac_hex(b"Jefe", &[b"what do ya want ", b"for nothing?"]),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let s = signature("key", 1_700_000_000, b"{}");
        assert_eq!(
            s,
            format!("t=1700000000,v1={}", hmac_hex(b"key", &[b"1700000000.{}"]))
        );
        assert_ne!(s, signature("other key", 1_700_000_000, b"{}"));
        assert_ne!(s, signature("key", 1_700_000_001, b"{}"));
    }
}
