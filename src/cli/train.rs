//! `saring train`: fit, choose smoothing and thresholds, write the model and its card, print the table.

use anyhow::Context;

use super::{load_data, table, TrainArgs};
use crate::train::card;

pub(super) fn run(args: TrainArgs) -> anyhow::Result<()> {
    let (loaded, per_file) = load_data(&args.data)?;
    let opts = args.fit.options();
    let outcome = crate::train::train(&loaded.examples, &opts).context("training failed")?;

    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    outcome
        .model
        .save(&args.out)
        .with_context(|| format!("writing the model to {}", args.out.display()))?;
    let command = std::iter::once("saring".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let card = card::build(
        &outcome,
        &opts,
        &args.out,
        &per_file,
        loaded.skipped.len(),
        command,
    )
    .context("hashing the data files for the model card")?;
    let card_path = card::path_for(&args.out);
    let json = serde_json::to_string_pretty(&card).context("encoding the model card")?;
    std::fs::write(&card_path, json + "\n")
        .with_context(|| format!("writing the model card to {}", card_path.display()))?;

    let t = outcome.model.thresholds();
    outln!(
        "model {} written to {} ({} features, alpha {}), card {}",
        outcome.model.version(),
        args.out.display(),
        outcome.model.vocabulary_len(),
        outcome.alpha,
        card_path.display()
    );
    outln!(
        "trained on {} rows; settings and thresholds chosen on out-of-fold scores of {} folds by group: accept below {:.3}, reject at {:.3} (spam log-odds)",
        outcome.train_rows, outcome.inner_folds, t.accept_below, t.reject_at
    );
    outln!();
    out!(
        "{}",
        table::quality(&outcome.validation_by_source, &outcome.validation)
    );
    Ok(())
}
