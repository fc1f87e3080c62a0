//! The one way to serve: `run(listener, checker, shutdown)`. `main` passes a future that resolves on
//! SIGINT or SIGTERM; tests pass a oneshot. Moderation, ModerationQueue, health and reflection share
//! one listener.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::check::Checker;
use crate::config::MAX_MESSAGE_BYTES;
use crate::grpc::{ModerationService, QueueService};
use crate::pb;
use crate::queue::Queue;
use crate::store::Store;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Building the reflection service failed.
    #[error("building the reflection service failed")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("the gRPC server failed")]
    Transport(#[from] tonic::transport::Error),
}

/// Serve Moderation, ModerationQueue, health and reflection on `listener` until `shutdown` resolves,
/// then finish the requests in flight and return.
pub async fn run<S: Store>(
    listener: TcpListener,
    checker: Arc<Checker<S>>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    run_queue(listener, Arc::new(Queue::new(checker)), shutdown).await
}

/// [`run`] over a queue the caller keeps a handle to (tests read its watcher count).
pub async fn run_queue<S: Store>(
    listener: TcpListener,
    queue: Arc<Queue<S>>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    let checker = queue.checker().clone();
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<pb::moderation_server::ModerationServer<ModerationService<S>>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    health
        .set_serving::<pb::moderation_queue_server::ModerationQueueServer<QueueService<S>>>()
        .await;
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let queue =
        pb::moderation_queue_server::ModerationQueueServer::new(QueueService::new(queue, stopping))
            .max_decoding_message_size(MAX_MESSAGE_BYTES);
    let moderation = pb::moderation_server::ModerationServer::new(ModerationService::new(checker))
        .max_decoding_message_size(MAX_MESSAGE_BYTES);

    let shutdown = async move {
        shutdown.await;
        tracing::info!("shutting down: no new requests, finishing those in flight");
        // Watch streams never finish by themselves; end them so the drain can.
        let _ = stopping_tx.send(true);
        health
            .set_not_serving::<pb::moderation_server::ModerationServer<ModerationService<S>>>()
            .await;
        health
            .set_not_serving::<pb::moderation_queue_server::ModerationQueueServer<QueueService<S>>>(
            )
            .await;
    };
    // Without TCP_NODELAY a small response waits for the client's delayed ACK: 40 ms per request.
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(moderation)
        .add_service(queue)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}
