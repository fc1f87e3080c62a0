//! `saring export-feedback`: a site's moderator verdicts and blog feedback as JSONL training rows.

use std::io::Write;

use anyhow::Context;

use super::ExportArgs;
use crate::store::Store;

pub(super) fn run(args: ExportArgs) -> anyhow::Result<()> {
    let config = args.store.config()?;
    config.validate()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let labels = runtime.block_on(async {
        with_store!(
            config,
            " (if `saring serve` is running on it, stop it first; with Redis, export while serving)",
            |store, _kind| read(&store, &args.site).await
        )
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
