//! `saring serve`: load and validate everything, bind, serve until SIGINT or SIGTERM.

use std::sync::Arc;

use anyhow::Context;

use super::ServeArgs;
use crate::check::Checker;
use crate::config::Config;
use crate::model::Model;
use crate::store::memory::MemoryStore;

pub(super) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(addr) = args.addr {
        config.addr = addr;
    }
    if let Some(model) = args.model {
        config.model = model;
    }
    if let Some(n) = args.max_content_bytes {
        config.max_content_bytes = n;
    }
    config.validate()?;
    let model = Model::load(&config.model).context("loading the model")?;

    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("binding {}", config.addr))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        tracing::info!(
            addr = %addr,
            model = model.version(),
            store = "embedded (in memory)",
            "saring serving"
        );
        let checker = Arc::new(Checker::new(Arc::new(model), Arc::new(config), MemoryStore::new()));
        crate::server::run(listener, checker, shutdown_signal())
            .await
            .context("serving")
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
