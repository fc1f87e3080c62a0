//! `saring serve`: load and validate everything, bind, create the first API keys on an empty store,
//! serve until SIGINT or SIGTERM.
// The first keys are printed to stdout, once, for the operator: not a log line.
#![allow(clippy::print_stdout)]

use std::sync::Arc;

use anyhow::Context;

use super::ServeArgs;
use crate::config::Config;
use crate::model::Model;
use crate::service::check::Checker;
use crate::service::models::{Loaded, Models};
use crate::store::Store;

pub(super) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = args.store.config()?;
    if let Some(addr) = args.addr {
        config.addr = addr;
    }
    if let Some(model) = args.model {
        config.model = model;
    }
    if let Some(n) = args.max_content_bytes {
        config.max_content_bytes = n;
    }
    if let Some(n) = args.workers {
        config.workers = n;
    }
    if args.tls_cert.is_some() || args.tls_key.is_some() {
        config.tls_cert = args.tls_cert;
        config.tls_key = args.tls_key;
    }
    if args.insecure_no_auth {
        config.insecure_no_auth = true;
    }
    if let Some(addr) = args.admin_addr {
        config.admin_addr = addr;
    }
    if args.no_admin {
        config.admin_addr.clear();
    }
    config.validate()?;
    let model = Model::load(&config.model).context("loading the model")?;
    let mut models = Models::new(Loaded::new(model, &config.model), &config.model);
    if let Some(path) = &config.shadow_model {
        let shadow = Loaded::from_file(path)
            .with_context(|| format!("loading the shadow model {}", path.display()))?;
        models = models.with_shadow(shadow);
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.workers > 0 {
        runtime.worker_threads(config.workers);
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let store = super::open_store(&config, None).await?;
        serve(Arc::new(models), config, store).await
    })
}

/// Bind, log the address, serve until a signal.
async fn serve(models: Arc<Models>, config: Config, store: Store) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("binding {}", config.addr))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let admin = match config.admin_addr() {
        Some(at) => Some(tokio::net::TcpListener::bind(at).await.with_context(|| {
            format!("binding the admin port {at} (admin_addr; \"\" or --no-admin turns it off)")
        })?),
        None => None,
    };
    let admin_addr = admin
        .as_ref()
        .map(|l| l.local_addr().context("reading the admin port's address"))
        .transpose()?;
    if !config.insecure_no_auth {
        first_keys(&store).await;
    }
    // Tests and scripts read this line to find the ports when started with --addr 127.0.0.1:0.
    let version = models.serving().model.version().to_string();
    let admin_shown = admin_addr.map_or_else(|| "off".to_string(), |a| a.to_string());
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    tracing::info!(addr = %addr, admin = %admin_shown, model = %version, store = store.kind(), workers, "saring serving");
    tokio::spawn(reload_on_sighup(models.clone()));
    let checker = Arc::new(Checker::with_models(models, Arc::new(config), store));
    let queue = Arc::new(crate::service::queue::Queue::new(checker));
    crate::server::run_with_admin(listener, admin, queue, shutdown_signal())
        .await
        .context("serving")
}

/// Reload the configured model file on every SIGHUP; a file that does not validate is refused and the
/// serving model keeps serving. Ends with the runtime.
async fn reload_on_sighup(models: Arc<Models>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGHUP: reload the model with ModelAdmin.ReloadModel");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            match models.reload("", false).await {
                Ok(loaded) => tracing::info!(
                    model = loaded.model.version(),
                    path = %loaded.path.display(),
                    "SIGHUP: reloaded the model"
                ),
                Err(err) => tracing::warn!(
                    error = %crate::telemetry::chain(&err),
                    "SIGHUP: the model file was refused; the serving model keeps serving"
                ),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = models;
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

/// On a store without keys, create the first admin and service keys and print them, once.
async fn first_keys(store: &Store) {
    match crate::access::keys::bootstrap(store).await {
        Ok(Some(keys)) => {
            println!(
                "saring: first start on an empty store; created these API keys. They are shown \
                 this once and stored only as hashes: keep them now."
            );
            for (key, token) in keys {
                let what = match key.role() {
                    crate::pb::Role::Admin => "admin: keys and every RPC on every site".to_string(),
                    _ => format!(
                        "service: CheckComment and SubmitFeedback for site `{}`",
                        key.sites.join("`, `")
                    ),
                };
                println!("  {token}    {what}");
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(
            error = %e,
            "could not check for API keys (is the store down?); create one later with `saring keys create --direct`"
        ),
    }
}
