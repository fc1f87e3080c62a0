//! `saring cv`: cross-validation by group (k folds, or leave-source-out), with optional quality bars
//! that fail the command and the fold file that `bench/peers/` reads.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::{load_data, table, CvArgs};
use crate::train::corpus::Example;
use crate::train::cv::{Outcome, Scheme};

pub(super) fn run(args: CvArgs) -> anyhow::Result<()> {
    let (loaded, _) = load_data(&args.data)?;
    let opts = args.fit.options();
    let scheme = if args.leave_source_out {
        Scheme::LeaveSourceOut
    } else {
        Scheme::KFold(args.folds)
    };
    let outcome = crate::train::cv::cross_validate(&loaded.examples, scheme, &opts)
        .context("cross-validation failed")?;
    if let Some(path) = &args.folds_out {
        write_folds(path, &loaded.examples, &outcome)
            .with_context(|| format!("writing the folds to {}", path.display()))?;
    }

    if args.json {
        println!(
            "{}",
            serde_json::to_string(&outcome).context("encoding the report")?
        );
    } else {
        match scheme {
            Scheme::KFold(k) => println!(
                "{k}-fold cross-validation by (source, group), {} rows; held-out figures pooled over folds:",
                outcome.overall.n
            ),
            Scheme::LeaveSourceOut => println!(
                "leave-source-out cross-validation, {} rows; each source scored by a model trained on the others:",
                outcome.overall.n
            ),
        }
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

/// One JSON object a row, in the order of the data: the scheme, the row's fold, what the row is, and
/// the held-out score and decision. Text is included so a peer can train on exactly these rows
/// without re-reading (and re-parsing) the corpus files.
fn write_folds(path: &Path, examples: &[Example], outcome: &Outcome) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for h in &outcome.held_out {
        let e = &examples[h.index];
        let row = serde_json::json!({
            "scheme": outcome.scheme,
            "fold": h.fold,
            "source": e.source,
            "group": e.group,
            "label": e.label.as_str(),
            "text": e.text,
            "log_odds": h.log_odds,
            "decision": h.decision.as_str(),
        });
        writeln!(out, "{row}")?;
    }
    out.flush()?;
    Ok(())
}
