//! `saring export-feedback`: a site's moderator verdicts and blog feedback as JSONL training rows.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;

use super::ExportArgs;
use crate::store::embedded::EmbeddedStore;
use crate::store::redis::RedisStore;
use crate::store::Store;

pub(super) fn run(args: ExportArgs) -> anyhow::Result<()> {
    let config = args.store.config()?;
    config.validate()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let labels = runtime.block_on(async {
        match &config.redis_url {
            Some(url) => {
                let timeout = Duration::from_millis(config.store_timeout_ms);
                let store = RedisStore::connect(url, timeout)
                    .await
                    .with_context(|| format!("connecting to redis at {}", crate::config::redact_url(url)))?;
                read(&store, &args.site).await
            }
            None => {
                // redb locks its file: a running `saring serve` on the same directory holds it.
                let store = EmbeddedStore::open(&config.data_dir).with_context(|| {
                    format!(
                        "opening the embedded store in {} (if `saring serve` is running on it, stop it \
                         first; with Redis, export while serving)",
                        config.data_dir.display()
                    )
                })?;
                read(&store, &args.site).await
            }
        }
    })?;
    let rows = crate::export::rows(&args.site, &labels, args.since.unwrap_or(0))
        .context("a stored label is corrupt")?;
    let tmp = args.out.with_extension("jsonl.partial");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
    );
    for row in &rows {
        writeln!(file, "{row}").with_context(|| format!("writing {}", tmp.display()))?;
    }
    file.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &args.out)
        .with_context(|| format!("renaming {} to {}", tmp.display(), args.out.display()))?;
    let spam = rows.iter().filter(|r| r["label"] == "spam").count();
    eprintln!(
        "wrote {} rows ({spam} spam, {} ham) to {}",
        rows.len(),
        rows.len() - spam,
        args.out.display()
    );
    Ok(())
}

async fn read<S: Store>(store: &S, site: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    store
        .labels(site)
        .await
        .context("reading the labels from the store")
}
