//! `saring check`: score one comment and show the decision and the tokens that drove it.

use std::io::Read;

use anyhow::Context;
use serde_json::json;

use super::CheckArgs;
use crate::model::tokenize::{Document, Features};
use crate::model::{Contribution, Model};

pub(super) fn run(args: CheckArgs) -> anyhow::Result<()> {
    let model = Model::load(&args.model).context("loading the model")?;
    let text = match args.text {
        Some(t) => t,
        None => {
            let mut t = String::new();
            std::io::stdin()
                .read_to_string(&mut t)
                .context("reading the comment from stdin")?;
            t
        }
    };
    if text.trim().is_empty() {
        anyhow::bail!("no comment text given (pass it as an argument or on stdin)");
    }
    let doc = Document {
        text: &text,
        author: args.author.as_deref(),
        author_url: args.author_url.as_deref(),
        author_email: args.author_email.as_deref(),
        lang: args.lang.as_deref(),
    };
    let mut tokenizer = model.tokenizer();
    let (mut features, mut ids) = (Features::new(), Vec::new());
    tokenizer.tokenize(&doc, &mut features);
    model.known_ids(&features, &mut ids);
    let ex = model.explain(&ids, args.top);
    let t = model.thresholds();

    if args.json {
        let list = |cs: &[Contribution]| {
            cs.iter()
                .map(|c| json!({"token": c.token, "weight": c.weight}))
                .collect::<Vec<_>>()
        };
        let out = json!({
            "decision": ex.decision.as_str(),
            "spam_probability": ex.score.spam_probability(),
            "log_odds": ex.score.log_odds,
            "model_version": model.version(),
            "known_tokens": ex.known_tokens,
            "towards_spam": list(&ex.towards_spam),
            "towards_ham": list(&ex.towards_ham),
        });
        outln!("{out}");
        return Ok(());
    }
    outln!(
        "{}  spam probability {:.6} (log-odds {:+.3})",
        ex.decision.as_str().to_uppercase(),
        ex.score.spam_probability(),
        ex.score.log_odds
    );
    outln!(
        "model {}: accept below {:+.3}, reject at {:+.3}; {} of {} features known",
        model.version(),
        t.accept_below,
        t.reject_at,
        ex.known_tokens,
        features.len()
    );
    for (title, list) in [
        ("towards spam", &ex.towards_spam),
        ("towards ham", &ex.towards_ham),
    ] {
        outln!("{title}:");
        if list.is_empty() {
            outln!("  (none)");
        }
        for c in list {
            outln!("  {:+8.3}  {}", c.weight, c.token);
        }
    }
    Ok(())
}
