//! `saring eval`: score a labelled file with a model and report the figures, as a table or JSON.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use super::{load_data, table, EvalArgs};
use crate::model::tokenize::Features;
use crate::model::Model;
use crate::train::quality::{report_at, report_by_source, Report, Scored};

#[derive(Serialize)]
struct EvalJson<'a> {
    #[serde(flatten)]
    overall: &'a Report,
    mean_us_per_doc: f64,
    model_version: &'a str,
    by_source: &'a BTreeMap<String, Report>,
}

pub(super) fn run(args: EvalArgs) -> anyhow::Result<()> {
    let model = Model::load(&args.model).context("loading the model")?;
    let (loaded, _) = load_data(&args.data)?;
    let thresholds = model.thresholds();
    let mut tokenizer = model.tokenizer();
    let (mut features, mut ids) = (Features::new(), Vec::new());
    let mut scored = Vec::with_capacity(loaded.examples.len());
    let started = Instant::now();
    for e in &loaded.examples {
        let score = model.score_document(&mut tokenizer, &e.document(), &mut features, &mut ids);
        let s = Scored {
            label: e.label,
            log_odds: score.log_odds,
        };
        scored.push(s);
    }
    // Wall time over the whole file includes the bookkeeping above, which is small beside tokenizing.
    let mean_us_per_doc = started.elapsed().as_secs_f64() * 1e6 / scored.len() as f64;
    let overall = report_at(&scored, &thresholds);
    let by_source = report_by_source(
        loaded
            .examples
            .iter()
            .zip(&scored)
            .map(|(e, s)| (e.source.as_str(), *s, thresholds.decide(s.log_odds))),
    );

    if args.json {
        let out = EvalJson {
            overall: &overall,
            mean_us_per_doc,
            model_version: model.version(),
            by_source: &by_source,
        };
        outln!(
            "{}",
            serde_json::to_string(&out).context("encoding the report")?
        );
    } else {
        outln!(
            "model {}: {} rows, {:.1} µs per comment",
            model.version(),
            overall.n,
            mean_us_per_doc
        );
        out!("{}", table::quality(&by_source, &overall));
    }
    Ok(())
}
