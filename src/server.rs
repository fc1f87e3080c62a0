//! The one way to serve: `run(listener, checker, shutdown)`. `main` passes a future that resolves on
//! SIGINT or SIGTERM; tests pass a oneshot. Moderation, ModerationQueue, health and reflection share
//! one listener, behind per-connection limits (concurrent streams, request deadline, message size).
//!
//! Every `saring.v1` service sits behind the API-key layer (`grpc/auth.rs`); health and reflection do
//! not. With `tls_cert` and `tls_key` the port speaks TLS only (rustls).
//!
//! With an admin listener, the admin HTTP port (`web`: metrics, health, the moderator's page) is
//! served beside it, with the same TLS certificate; it keeps answering while the gRPC port drains (so
//! `/readyz` says "shutting down"), and closes once the gRPC port is done.
//!
//! A monitor pings the store every [`HEALTH_INTERVAL`]: while it does not answer, health reports
//! NOT_SERVING and checks decide without it (degraded); when it answers again both recover by
//! themselves. On shutdown health turns NOT_SERVING, no new connections or requests are taken, watch
//! streams end, and requests in flight get up to `drain_timeout_secs` to finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tonic_health::server::HealthReporter;

use crate::access::auth::Authenticator;
use crate::config::MAX_MESSAGE_BYTES;
use crate::grpc::{
    AdminService, AuthLayer, ModelAdminService, ModerationService, QueueService, TraceLayer,
};
use crate::pb;
use crate::service::check::Checker;
use crate::service::queue::Queue;

mod linger;

/// How long the admin port's open connections may take to finish their responses once the gRPC
/// port is done: its live streams have ended with the drain, and its other answers take milliseconds.
const ADMIN_CLOSE: Duration = Duration::from_secs(2);

/// How often the store's health is checked: Redis returning is noticed within this plus one ping.
pub const HEALTH_INTERVAL: Duration = Duration::from_millis(500);

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Building the reflection service failed.
    #[error("building the reflection service failed")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("the gRPC server failed")]
    Transport(#[from] tonic::transport::Error),
    /// The admin port's TLS configuration could not be built from the certificate and key.
    #[error("the admin port's TLS: {0}")]
    AdminTls(String),
    /// The TLS certificate or key could not be read.
    #[error("cannot read {path}")]
    Tls {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Serve Moderation, ModerationQueue, health and reflection on `listener` until `shutdown` resolves,
/// then finish the requests in flight (within the drain timeout) and return.
pub async fn run(
    listener: TcpListener,
    checker: Arc<Checker>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    run_queue(listener, Arc::new(Queue::new(checker)), shutdown).await
}

type ModerationServer = pb::moderation_server::ModerationServer<ModerationService>;
type QueueServer = pb::moderation_queue_server::ModerationQueueServer<QueueService>;
type AdminServer = pb::admin_server::AdminServer<AdminService>;
type ModelAdminServer = pb::model_admin_server::ModelAdminServer<ModelAdminService>;

/// Set every saring service's health at once (and the server's, the empty name).
async fn set_health(health: &HealthReporter, serving: bool) {
    use tonic_health::ServingStatus;
    let status = if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    health.set_service_status("", status).await;
    if serving {
        health.set_serving::<ModerationServer>().await;
        health.set_serving::<QueueServer>().await;
        health.set_serving::<AdminServer>().await;
        health.set_serving::<ModelAdminServer>().await;
    } else {
        health.set_not_serving::<ModerationServer>().await;
        health.set_not_serving::<QueueServer>().await;
        health.set_not_serving::<AdminServer>().await;
        health.set_not_serving::<ModelAdminServer>().await;
    }
}

/// Ping the store every [`HEALTH_INTERVAL`] until `stopping`; health and the checker follow its
/// answers. `serving`: what health says now.
async fn monitor(
    checker: Arc<Checker>,
    health: HealthReporter,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    mut serving: bool,
) {
    loop {
        tokio::select! {
            _ = stopping.changed() => return,
            () = tokio::time::sleep(HEALTH_INTERVAL) => {}
        }
        let up = checker.store().check_health().await;
        if up != serving && !*stopping.borrow() {
            set_health(&health, up).await;
            serving = up;
        }
    }
}

/// [`run`] over a queue the caller keeps a handle to (tests read its watcher count).
pub async fn run_queue(
    listener: TcpListener,
    queue: Arc<Queue>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    run_with_admin(listener, None, queue, shutdown).await
}

/// [`run_queue`], with the admin HTTP port on `admin` when given.
pub async fn run_with_admin(
    listener: TcpListener,
    admin: Option<TcpListener>,
    queue: Arc<Queue>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    let checker = queue.checker().clone();
    let config = checker.config().clone();
    let (health, health_service) = tonic_health::server::health_reporter();
    // The first health check before serving: health is right from the first request, and the store's
    // persistence is known before the first HOLD (which `redis_durability = "require"` needs).
    let up = checker.store().check_health().await;
    set_health(&health, up).await;
    // Both reflection versions: grpcurl and current tools speak v1, while Python's grpcio-reflection,
    // Postman, Evans and older grpcurl speak only v1alpha (and got UNIMPLEMENTED without it).
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let monitor = tokio::spawn(monitor(
        checker.clone(),
        health.clone(),
        stopping.clone(),
        up,
    ));
    let auth = Arc::new(Authenticator::new(
        checker.store().clone(),
        !config.insecure_no_auth,
    ));
    if config.insecure_no_auth {
        tracing::warn!("API keys are OFF (insecure_no_auth): anyone who reaches this port may do anything; for local development only");
    }
    let admin_port = match admin {
        Some(listener) => {
            let tls = match (&config.tls_cert, &config.tls_key) {
                (Some(cert), Some(key)) => Some(Arc::new(
                    crate::config::tls::server_config(cert, key, &[b"http/1.1"])
                        .map_err(Error::AdminTls)?,
                )),
                _ => None,
            };
            let state = crate::web::Admin::new(
                queue.clone(),
                auth.clone(),
                stopping.clone(),
                tls.is_some(),
            );
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(crate::web::serve(listener, state, tls, async {
                let _ = stopped.await;
            }));
            Some((stop, task))
        }
        None => None,
    };
    let admin = AdminServer::new(AdminService::new(auth.clone(), checker.store().clone()));
    let model_admin = ModelAdminServer::new(ModelAdminService::new(checker.clone()));
    let queue = QueueServer::new(QueueService::new(queue, stopping, auth.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
    let moderation = ModerationServer::new(ModerationService::new(checker))
        .max_decoding_message_size(MAX_MESSAGE_BYTES);

    let (draining_tx, draining) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        tracing::info!("shutting down: no new requests, finishing those in flight");
        // Watch streams never finish by themselves; end them so the drain can.
        let _ = stopping_tx.send(true);
        set_health(&health, false).await;
        let _ = draining_tx.send(());
    };
    // Without TCP_NODELAY a small response waits for the client's delayed ACK: 40 ms per request.
    let incoming = tonic::transport::server::TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .map(|conn| conn.map(linger::Linger::new));
    let mut builder = tonic::transport::Server::builder()
        .max_concurrent_streams(Some(config.max_concurrent_streams))
        .timeout(Duration::from_millis(config.request_timeout_ms));
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        let read = |path: &std::path::PathBuf| {
            std::fs::read(path).map_err(|source| Error::Tls {
                path: path.clone(),
                source,
            })
        };
        let identity = tonic::transport::Identity::from_pem(read(cert)?, read(key)?);
        builder =
            builder.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))?;
    }
    let serving = builder
        // Outermost first: the request's span, then its key, so a refused key is logged too.
        .layer(TraceLayer)
        .layer(AuthLayer::new(auth))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(moderation)
        .add_service(queue)
        .add_service(admin)
        .add_service(model_admin)
        .serve_with_incoming_shutdown(incoming, shutdown);
    let drain = Duration::from_secs(config.drain_timeout_secs);
    let deadline = async move {
        if draining.await.is_ok() {
            tokio::time::sleep(drain).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let outcome = tokio::select! {
        r = serving => r.map_err(Error::from),
        () = deadline => {
            tracing::warn!(drain_timeout_secs = config.drain_timeout_secs, "requests still in flight after the drain timeout: closing anyway");
            Ok(())
        }
    };
    if let Some((stop, mut task)) = admin_port {
        let _ = stop.send(());
        if tokio::time::timeout(ADMIN_CLOSE, &mut task).await.is_err() {
            task.abort();
            tracing::warn!(
                "admin port connections still open after the gRPC port closed: closing anyway"
            );
        }
    }
    monitor.abort();
    outcome
}
