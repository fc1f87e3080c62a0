//! `saring cv`: k-fold cross-validation by group, with optional quality bars that fail the command.

use anyhow::Context;

use super::{load_data, table, CvArgs};

pub(super) fn run(args: CvArgs) -> anyhow::Result<()> {
    let (loaded, _) = load_data(&args.data)?;
    let opts = args.fit.options();
    let outcome = crate::cv::cross_validate(&loaded.examples, args.folds, &opts)
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
    for (source, min) in &args.min_f1 {
        match outcome.by_source.get(source) {
            Some(r) if r.f1 >= *min => {}
            Some(r) => missed.push(format!("{source}: F1 {:.4} is below {min}", r.f1)),
            None => missed.push(format!("{source}: no rows of this source in the data")),
        }
    }
    if let Some(max) = args.bar_ham_rejected {
        for (source, r) in &outcome.by_source {
            if r.ham_rejected_rate > max {
                missed.push(format!(
                    "{source}: ham rejected {:.4} is above {max}",
                    r.ham_rejected_rate
                ));
            }
        }
    }
    if !missed.is_empty() {
        anyhow::bail!("quality bars missed: {}", missed.join("; "));
    }
    if !args.min_f1.is_empty() || args.bar_ham_rejected.is_some() {
        eprintln!("quality bars met");
    }
    Ok(())
}
