//! `saring cv`: k-fold cross-validation by group, with optional quality bars that fail the command.

use anyhow::Context;

use super::{load_data, table, CvArgs};

pub(super) fn run(args: CvArgs) -> anyhow::Result<()> {
    let (loaded, _) = load_data(&args.data)?;
    let opts = args.fit.options();
    let outcome = crate::train::cv::cross_validate(&loaded.examples, args.folds, &opts)
        .context("cross-validation failed")?;

    if args.json {
        println!(
            "{}",
            serde_json::to_string(&outcome).context("encoding the report")?
        );
    } else {
        println!(
            "{}-fold cross-validation by (source, group), {} rows; held-out figures pooled over folds:",
            args.folds, outcome.overall.n
        );
        print!("{}", table::quality(&outcome.by_source, &outcome.overall));
    }

    let mut missed = Vec::new();
    let mut checked = 0;
    for (source, min) in &args.min_f1 {
        checked += 1;
        match outcome.by_source.get(source) {
            Some(r) if r.f1 >= *min => {}
            Some(r) => missed.push(format!("{source}: F1 {:.4} is below {min}", r.f1)),
            None => missed.push(format!("{source}: no rows of this source in the data")),
        }
    }
    if let Some(max) = args.bar_ham_rejected {
        for (source, r) in &outcome.by_source {
            checked += 1;
            if r.ham_rejected_rate > max {
                missed.push(format!(
                    "{source}: ham rejected {:.4} is above {max}",
                    r.ham_rejected_rate
                ));
            }
        }
    }
    if checked > 0 {
        // The plain "N passed, M failed" line CI summaries read.
        println!(
            "quality bars: {} passed, {} failed",
            checked - missed.len(),
            missed.len()
        );
    }
    if !missed.is_empty() {
        anyhow::bail!("quality bars missed: {}", missed.join("; "));
    }
    Ok(())
}
