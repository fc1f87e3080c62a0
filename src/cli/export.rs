//! `saring export-feedback`: a site's moderator verdicts and blog feedback as JSONL training rows, read
//! through the running server (no downtime) or, with `--direct`, from the store itself.

use std::io::Write;

use anyhow::Context;

use super::{AdminAt, ExportArgs};
use crate::pb;

pub(super) fn run(args: ExportArgs) -> anyhow::Result<()> {
    let since = args.since.unwrap_or(0);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let examples = runtime.block_on(labels(&args.at, &args.site, since))?;
    let rows = crate::service::export::rows(&args.site, examples);
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

/// A site's labelled examples since `since`, through the server or, with `--direct`, from the store.
pub(super) async fn labels(
    at: &AdminAt,
    site: &str,
    since: u64,
) -> anyhow::Result<Vec<pb::LabelledExample>> {
    if at.direct {
        direct(at, site, since).await
    } else {
        remote(at, site, since).await
    }
}

async fn direct(at: &AdminAt, site: &str, since: u64) -> anyhow::Result<Vec<pb::LabelledExample>> {
    let config = at.store.config()?;
    config.validate()?;
    let store = super::open_store(&config, Some(super::STORE_IN_USE_HINT)).await?;
    crate::service::export::labels(&store, site, since)
        .await
        .context("reading the labels from the store")
}

async fn remote(at: &AdminAt, site: &str, since: u64) -> anyhow::Result<Vec<pb::LabelledExample>> {
    let mut client = super::admin::connect(&at.at).await?;
    let mut stream = client
        .export_labels(pb::ExportLabelsRequest {
            site_id: site.to_string(),
            since: (since > 0).then(|| crate::clock::timestamp(since)),
        })
        .await
        .map_err(super::admin::refused)?
        .into_inner();
    let mut examples = Vec::new();
    while let Some(example) = stream.message().await.map_err(super::admin::refused)? {
        examples.push(example);
    }
    Ok(examples)
}
