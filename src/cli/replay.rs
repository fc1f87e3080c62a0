//! `saring replay`: re-score a site's labelled history — moderators' verdicts on held comments and the
//! blog's feedback — with a candidate model beside the serving one, and show which decisions would
//! flip and the three rates against the people's labels. How an ML engineer decides to ship a model.
//!
//! Each comment is decided as RecheckHeld decides it: the site's rules and the model, without the rate
//! limits and trust of the moment it arrived (those belonged to that moment, not to the model).

use anyhow::Context;

use super::table;
use super::ReplayArgs;
use crate::model::decision::Decision;
use crate::model::Model;
use crate::moderation::comment::Comment;
use crate::moderation::policy::{self, Inputs};
use crate::pb;
use crate::service::check::Checker;
use crate::train::corpus::Label;
use crate::train::quality::{report, Report, Scored};

/// One labelled comment as both models decide it.
struct Replayed {
    decision_id: String,
    label: Label,
    content: String,
    serving: (f64, Decision),
    candidate: (f64, Decision),
}

pub(super) fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let config = args.at.store.config()?;
    let load = |path: &std::path::Path| {
        Model::load(path).with_context(|| format!("loading {}", path.display()))
    };
    let serving = load(args.serving.as_deref().unwrap_or(&config.model))?;
    let candidate = load(&args.model)?;
    let since = args.since.unwrap_or(0);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let examples = runtime.block_on(super::export::labels(&args.at, &args.site, since))?;
    let site = config.site(&args.site);
    let decide = |model: &Model, comment: &Comment| {
        let reading = Checker::read(model, comment);
        let verdict = policy::decide(
            comment,
            &Inputs {
                site: &site,
                model_thresholds: model.thresholds(),
                explanation: &reading.explanation,
                admission: None,
                links: reading.links,
                skeleton: &reading.skeleton,
                trusted: None,
                sighting: None,
                uncounted_refused: false,
                // The site's overlay learned from these very labels: replaying with it would grade
                // the overlay on what it was taught.
                overlay: None,
            },
        );
        (reading.explanation.score.log_odds, verdict.decision)
    };
    let mut replayed = Vec::with_capacity(examples.len());
    for e in examples {
        let label = match e.label() {
            pb::FeedbackLabel::Spam => Label::Spam,
            pb::FeedbackLabel::Ham => Label::Ham,
            pb::FeedbackLabel::Unspecified => continue,
        };
        let Some(request) = e.request else { continue };
        // Kept comments were valid when they came; one over today's content limit is skipped.
        let Ok(comment) = Comment::from_request(request, config.max_content_bytes) else {
            continue;
        };
        replayed.push(Replayed {
            decision_id: e.decision_id,
            label,
            serving: decide(&serving, &comment),
            candidate: decide(&candidate, &comment),
            content: comment.content,
        });
    }
    let figures = |pick: fn(&Replayed) -> (f64, Decision)| -> Report {
        let (scored, decisions): (Vec<Scored>, Vec<Decision>) = replayed
            .iter()
            .map(|r| {
                let (log_odds, d) = pick(r);
                (
                    Scored {
                        label: r.label,
                        log_odds,
                    },
                    d,
                )
            })
            .unzip();
        report(&scored, &decisions)
    };
    let (before, after) = (figures(|r| r.serving), figures(|r| r.candidate));
    let flips: Vec<&Replayed> = replayed
        .iter()
        .filter(|r| r.serving.1 != r.candidate.1)
        .collect();
    if args.json {
        let flip = |r: &&Replayed| {
            serde_json::json!({
                "decision_id": r.decision_id,
                "label": r.label.as_str(),
                "serving": r.serving.1.as_str(),
                "candidate": r.candidate.1.as_str(),
            })
        };
        outln!(
            "{}",
            serde_json::json!({
                "site": args.site,
                "labels": replayed.len(),
                "serving": { "model": serving.version(), "figures": before },
                "candidate": { "model": candidate.version(), "figures": after },
                "flips": flips.iter().map(flip).collect::<Vec<_>>(),
            })
        );
        return Ok(());
    }
    outln!(
        "site {}: {} labelled comments (moderators' verdicts and feedback), decided by the rules and each model",
        args.site,
        replayed.len()
    );
    let row = |name: &str, m: &Model, r: &Report| {
        vec![
            name.to_string(),
            m.version().to_string(),
            format!("{:.3}", r.f1),
            format!("{:.2}%", 100.0 * r.ham_rejected_rate),
            format!("{:.2}%", 100.0 * r.spam_accepted_rate),
            format!("{:.2}%", 100.0 * r.hold_rate),
        ]
    };
    out!(
        "{}",
        table::render(
            &[
                "model",
                "version",
                "F1",
                "ham rejected",
                "spam accepted",
                "held"
            ],
            &[
                row("serving", &serving, &before),
                row("candidate", &candidate, &after)
            ]
        )
    );
    outln!("{} decisions would change", flips.len());
    let mut changes = std::collections::BTreeMap::<(&str, &str, &str), usize>::new();
    for r in &flips {
        *changes
            .entry((
                r.label.as_str(),
                r.serving.1.as_str(),
                r.candidate.1.as_str(),
            ))
            .or_default() += 1;
    }
    for ((label, from, to), n) in &changes {
        outln!("  {label:4}  {from} -> {to}: {n}");
    }
    for r in flips.iter().take(args.show) {
        let text: String = r.content.chars().take(80).collect();
        outln!(
            "  {}  {}  {} -> {}  {text}",
            r.decision_id,
            r.label.as_str(),
            r.serving.1.as_str(),
            r.candidate.1.as_str()
        );
    }
    Ok(())
}
