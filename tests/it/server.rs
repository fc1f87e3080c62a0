//! A real `saring` gRPC server on 127.0.0.1:0, in process, with the shipped model and the embedded store.

use std::net::SocketAddr;
use std::sync::Arc;

use saring::check::Checker;
use saring::config::Config;
use saring::model::Model;
use saring::pb;
use saring::pb::moderation_client::ModerationClient;
use saring::store::embedded::EmbeddedStore;
use saring::store::Store;
use tonic::transport::Channel;

use crate::support::repo_path;

/// A running server; dropping it stops the server.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    /// Start with `config` on the embedded store (its address is ignored: the listener binds a free
    /// port first).
    pub(crate) async fn start(config: Config) -> TestServer {
        Self::start_with(config, EmbeddedStore::open_in_memory()).await
    }

    /// Start with `config` on `store`.
    pub(crate) async fn start_with<S: Store>(config: Config, store: S) -> TestServer {
        config.validate().expect("test config is valid");
        let model = Model::load(&repo_path("models/default.model")).expect("shipped model loads");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let checker = Arc::new(Checker::new(Arc::new(model), Arc::new(config), store));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            saring::server::run(listener, checker, async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        TestServer {
            addr,
            stop: Some(stop),
        }
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
