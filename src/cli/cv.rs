//! `saring cv`: cross-validation by group (k folds, or leave-source-out), with optional quality bars
//! that fail the command and the fold file that `bench/peers/` reads.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::{load_data, table, CvArgs, CvSchemes};
use crate::train::corpus::Example;
use crate::train::cv::{Outcome, Scheme};

pub(super) fn run(args: CvArgs) -> anyhow::Result<()> {
    let (loaded, _) = load_data(&args.data)?;
    let opts = args.fit.options();
    let k_fold = Scheme::KFold(args.folds);
    let schemes = match (args.leave_source_out, args.scheme) {
        (true, _) | (false, CvSchemes::LeaveSourceOut) => vec![Scheme::LeaveSourceOut],
        (false, CvSchemes::KFold) => vec![k_fold],
        (false, CvSchemes::Both) => vec![k_fold, Scheme::LeaveSourceOut],
    };
    let mut outcomes = Vec::new();
    for &scheme in &schemes {
        let outcome = crate::train::cv::cross_validate(&loaded.examples, scheme, &opts)
            .with_context(|| format!("{} cross-validation failed", scheme.name()))?;
        if !args.json {
            print_outcome(scheme, &outcome)?;
        }
        outcomes.push(outcome);
    }
    if let Some(path) = &args.folds_out {
        write_folds(path, &loaded.examples, &outcomes)
            .with_context(|| format!("writing the folds to {}", path.display()))?;
    }
    if args.json {
        outln!(
            "{}",
            serde_json::to_string(&outcomes).context("encoding the report")?
        );
    }

    let mut missed = Vec::new();
    let mut checked = 0;
    if !args.min_f1.is_empty() {
        let Some(k_fold) = outcomes.iter().find(|o| o.scheme == k_fold.name()) else {
            anyhow::bail!("--min-f1 bars are on the k-fold figures: run --scheme k-fold or both");
        };
        for (source, min) in &args.min_f1 {
            checked += 1;
            match k_fold.by_source.get(source) {
                Some(r) if r.f1 >= *min => {}
                Some(r) => missed.push(format!("{source}: F1 {:.4} is below {min}", r.f1)),
                None => missed.push(format!("{source}: no rows of this source in the data")),
            }
        }
    }
    if let Some(max) = args.bar_ham_rejected {
        for outcome in &outcomes {
            for (source, r) in &outcome.by_source {
                checked += 1;
                if r.ham_rejected_rate > max {
                    missed.push(format!(
                        "{source} ({}): ham rejected {:.4} is above {max}",
                        outcome.scheme, r.ham_rejected_rate
                    ));
                }
            }
        }
    }
    if checked > 0 {
        // The plain "N passed, M failed" line CI summaries read.
        outln!(
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

fn print_outcome(scheme: Scheme, outcome: &Outcome) -> anyhow::Result<()> {
    match scheme {
        Scheme::KFold(k) => outln!(
            "{k}-fold cross-validation by (source, group), {} rows; held-out figures pooled over folds:",
            outcome.overall.n
        ),
        Scheme::LeaveSourceOut => outln!(
            "leave-source-out cross-validation, {} rows; each source scored by a model trained on the others:",
            outcome.overall.n
        ),
    }
    out!("{}", table::quality(&outcome.by_source, &outcome.overall));
    for f in &outcome.folds {
        let logistic = match (f.c, f.beta) {
            (Some(c), Some(beta)) => format!(", logistic C {c}, beta {beta}"),
            _ => String::new(),
        };
        let gave_way = if f.gave_way.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = f.gave_way.iter().map(|b| b.name()).collect();
            format!(" (gave way: {})", names.join(", "))
        };
        outln!(
            "fold {}: {} training rows, {} tested; alpha {}{logistic}; accept below {:.3}, reject at {:.3}{gave_way}",
            f.fold, f.train_rows, f.test_rows, f.alpha, f.accept_below, f.reject_at
        );
    }
    outln!();
    Ok(())
}

/// One JSON object a row, for each scheme in turn and in the order of the data: the scheme, the row's
/// fold, what the row is, and the held-out score and decision. Text is included so a peer can train
/// on exactly these rows without re-reading (and re-parsing) the corpus files.
fn write_folds(path: &Path, examples: &[Example], outcomes: &[Outcome]) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for outcome in outcomes {
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
    }
    out.flush()?;
    Ok(())
}
