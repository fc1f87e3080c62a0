//! The admin HTTP port: `/metrics` (Prometheus), `/healthz` and `/readyz` (probes), and the moderator's
//! page (`web/` at the repository root, compiled into the binary) with its JSON API under `/api/v1/`.
//!
//! It listens on its own socket (`admin_addr`), is started and stopped by `server::run` with the gRPC
//! port, and with `tls_cert`/`tls_key` speaks HTTPS with the same certificate. HTTP/1.1 only: browsers,
//! probes and Prometheus all speak it, and the page's live stream is one long response.
//!
//! Every response carries a strict Content-Security-Policy and its companions ([`security_headers`]);
//! the API needs a moderator (or admin) key on every call and refuses cross-site state changes
//! (`web/api.rs`). Nothing here shows a comment's text, e-mail or IP except the API, to a moderator of
//! that comment's site; `/metrics` and the health paths carry none of them.

mod api;
mod error;

pub use error::{ApiError, Code};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::access::auth::Authenticator;
use crate::service::queue::Queue;

/// The page's policy: its own scripts and styles only, no inline code, nothing from elsewhere, never in
/// a frame. `img-src data:` is for the favicon.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// How long a client may take to send a request's headers: a connection that trickles them is closed
/// rather than held open.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `/metrics` may spend reading queue depths from the store before it answers without them.
const QUEUE_DEPTH_LIMIT: Duration = Duration::from_secs(2);

/// The page's markup, served at `/` and `/index.html`.
const INDEX: &str = include_str!("../web/index.html");

/// The four files of the moderator's page: path, content type, body.
const PAGE: [(&str, &str, &str); 5] = [
    ("/", "text/html; charset=utf-8", INDEX),
    ("/index.html", "text/html; charset=utf-8", INDEX),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/app.js"),
    ),
    (
        "/i18n.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/i18n.js"),
    ),
    (
        "/app.css",
        "text/css; charset=utf-8",
        include_str!("../web/app.css"),
    ),
];

/// What the admin port serves from: the queue (and through it the checker, store, models and
/// metrics), the key checker, and whether the server is shutting down.
#[derive(Debug, Clone)]
pub struct Admin {
    queue: Arc<Queue>,
    auth: Arc<Authenticator>,
    stopping: watch::Receiver<bool>,
    /// Whether the port speaks TLS: the page's own origin is `https://` then.
    tls: bool,
}

impl Admin {
    /// Serve `queue`'s store and service layer, checking keys with `auth`; `stopping` turns true when
    /// the server starts shutting down (readiness fails, live streams end).
    pub fn new(
        queue: Arc<Queue>,
        auth: Arc<Authenticator>,
        stopping: watch::Receiver<bool>,
        tls: bool,
    ) -> Admin {
        Admin {
            queue,
            auth,
            stopping,
            tls,
        }
    }
}

/// Every route of the admin port.
pub fn router(admin: Admin) -> Router {
    let mut router = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    for (path, content_type, body) in PAGE {
        router = router.route(
            path,
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, content_type),
                        // A new binary's page is picked up at the next load.
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    body,
                )
            }),
        );
    }
    router
        .merge(api::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::extract::DefaultBodyLimit::max(api::MAX_BODY_BYTES))
        .with_state(admin)
}

/// The headers every response gets, errors included; the API's responses are also never cached.
async fn security_headers(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in fixed {
        h.insert(name, HeaderValue::from_static(value));
    }
    for (name, value) in [
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        ),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    if api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn not_found(request: Request) -> Response {
    if request.uri().path().starts_with("/api/") {
        ApiError::new(Code::NotFound, "no such endpoint").into_response()
    } else {
        (StatusCode::NOT_FOUND, "not found\n").into_response()
    }
}

async fn method_not_allowed() -> Response {
    ApiError::new(Code::Unimplemented, "this method is not allowed here").into_response()
}

/// Liveness: the process serves HTTP.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: 200 only while the store answers (as the health monitor last found it) and the server
/// is not shutting down; 503 with the reason otherwise.
async fn readyz(State(admin): State<Admin>) -> Response {
    if *admin.stopping.borrow() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: shutting down\n",
        )
            .into_response();
    }
    if !admin.queue.checker().store().is_up() {
        let body = "not ready: the store does not answer\n";
        return (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    }
    "ready\n".into_response()
}

/// The Prometheus exposition, with the values read at scrape time brought up to date first: the
/// loaded models (so a reload or promotion shows) and each labelled site's queue depth.
async fn metrics(State(admin): State<Admin>) -> Response {
    let checker = admin.queue.checker();
    let metrics = checker.metrics();
    let serving = checker.models().serving();
    let shadow = checker.models().shadow();
    let mut loaded = vec![(serving.model.version(), "serving", serving.loaded_at_us)];
    if let Some(s) = &shadow {
        loaded.push((s.model.version(), "shadow", s.loaded_at_us));
    }
    metrics.models(&loaded);
    // One cheap count a labelled site (configured, or seen since start; bounded), skipped while the
    // store is known down so a scrape never waits on it.
    let store = checker.store();
    if store.is_up() {
        let depths = async {
            for site in metrics.sites().named() {
                match store.pending_count(&site).await {
                    Ok(n) => metrics.waiting(&site, n),
                    Err(e) => {
                        tracing::debug!(error = %e, "could not count a site's waiting items");
                        break;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(QUEUE_DEPTH_LIMIT, depths).await;
    }
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        metrics.encode(),
    )
        .into_response()
}

/// Serve the admin port on `listener` until `stop` resolves, then let open connections finish their
/// current response (the caller bounds how long it waits). With `tls`, every connection is TLS.
pub async fn serve(
    listener: TcpListener,
    admin: Admin,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: impl Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let app = router(admin);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(stop);
    loop {
        let tcp = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, most likely: back off a little rather than spin.
                    tracing::warn!(error = %e, "admin port: cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let served = match acceptor {
                None => {
                    watcher
                        .watch(http.serve_connection(TokioIo::new(tcp), service))
                        .await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            watcher
                                .watch(http.serve_connection(TokioIo::new(stream), service))
                                .await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "admin port: TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    }
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "admin port: connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
