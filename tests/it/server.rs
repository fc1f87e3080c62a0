//! A real `saring` gRPC server on 127.0.0.1:0, in process, with the shipped model and the embedded store.

use std::net::SocketAddr;
use std::sync::Arc;

use saring::config::Config;
use saring::model::Model;
use saring::pb;
use saring::pb::moderation_client::ModerationClient;
use saring::pb::moderation_queue_client::ModerationQueueClient;
use saring::service::check::Checker;
use saring::store::embedded::EmbeddedStore;
use saring::store::Store;
use tonic::transport::Channel;

use crate::support::repo_path;

/// A running server; dropping it stops the server.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    /// The admin HTTP port (metrics, health, the moderator's page and its API).
    pub(crate) admin: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
    /// The queue behind the server, for what only the process can see (live watchers).
    pub(crate) watchers: Arc<dyn Fn() -> usize + Send + Sync>,
    /// The server's webhook delivery counters.
    pub(crate) webhooks: Arc<saring::service::webhook::Counters>,
}

impl TestServer {
    /// Start with `config` on the embedded store (its address is ignored: the listener binds a free
    /// port first).
    pub(crate) async fn start(config: Config) -> TestServer {
        Self::start_with(config, EmbeddedStore::open_in_memory()).await
    }

    /// Start with `config` on `store`.
    pub(crate) async fn start_with(config: Config, store: impl Into<Store>) -> TestServer {
        Self::start_with_model(config, store, &repo_path("models/default.model")).await
    }

    /// Start with `config` on `store`, serving the model at `model`. API keys are off: these tests are
    /// about everything else (`tests/it/auth.rs` tests the keys, with [`TestServer::start_authed`]).
    pub(crate) async fn start_with_model(
        mut config: Config,
        store: impl Into<Store>,
        model: &std::path::Path,
    ) -> TestServer {
        config.insecure_no_auth = true;
        Self::start_authed_with_model(config, store, model).await
    }

    /// Start with `config` on `store` exactly as configured (API keys on unless it says otherwise).
    pub(crate) async fn start_authed(config: Config, store: impl Into<Store>) -> TestServer {
        Self::start_authed_with_model(config, store, &repo_path("models/default.model")).await
    }

    /// [`TestServer::start_authed`], serving the model at `model`.
    pub(crate) async fn start_authed_with_model(
        mut config: Config,
        store: impl Into<Store>,
        model: &std::path::Path,
    ) -> TestServer {
        // Reloads without a name read the configured path: the model this server started with.
        config.model = model.to_path_buf();
        config.validate().expect("test config is valid");
        let model = Model::load(model).expect("model loads");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the admin port");
        let admin = admin_listener.local_addr().expect("admin addr");
        let checker = Arc::new(Checker::new(model, Arc::new(config), store.into()));
        let webhooks = checker.webhooks().counters();
        let queue = Arc::new(saring::service::queue::Queue::new(checker));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = queue.clone();
        let done = tokio::spawn(async move {
            saring::server::run_with_admin(listener, Some(admin_listener), serving, async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        TestServer {
            addr,
            admin,
            stop: Some(stop),
            done: Some(done),
            watchers: Arc::new(move || queue.watchers()),
            webhooks,
        }
    }

    /// Tell the server to shut down, without waiting for it (see [`TestServer::stop`]).
    pub(crate) fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stop the server and wait until it has finished, releasing its store.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            done.await.expect("server task");
        }
        self.watchers = Arc::new(|| 0);
    }

    /// CheckComment over a fresh connection: the answer, or the status.
    pub(crate) async fn check(
        &self,
        request: pb::CheckCommentRequest,
    ) -> Result<pb::CheckCommentResponse, tonic::Status> {
        self.client()
            .await
            .check_comment(request)
            .await
            .map(tonic::Response::into_inner)
    }

    pub(crate) async fn queue(&self) -> ModerationQueueClient<Channel> {
        ModerationQueueClient::new(self.channel().await)
    }

    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect")
    }

    pub(crate) async fn client(&self) -> ModerationClient<Channel> {
        ModerationClient::new(self.channel().await).max_encoding_message_size(8 * 1024 * 1024)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A plain request for `site` with `content`.
pub(crate) fn request(site: &str, content: &str) -> pb::CheckCommentRequest {
    pb::CheckCommentRequest {
        site_id: site.into(),
        content: content.into(),
        ..Default::default()
    }
}

pub(crate) fn codes(r: &pb::CheckCommentResponse) -> Vec<&str> {
    r.reasons.iter().map(|r| r.code.as_str()).collect()
}
