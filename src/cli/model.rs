//! `saring model`: the running server's model, through its ModelAdmin service — what is serving, a
//! reload without a restart, and a shadow candidate's promotion or removal.

use anyhow::Context;

use super::admin::{connect_models, refused};
use super::ModelCommand;
use crate::clock::micros;
use crate::pb;

pub(super) fn run(command: ModelCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let (info, json) = match command {
            ModelCommand::Info { json, at } => {
                let mut client = connect_models(&at).await?;
                let info = client.get_model_info(pb::GetModelInfoRequest {}).await;
                (info, json)
            }
            ModelCommand::Reload { name, shadow, at } => {
                let mut client = connect_models(&at).await?;
                let request = pb::ReloadModelRequest {
                    name: name.unwrap_or_default(),
                    shadow,
                };
                (client.reload_model(request).await, false)
            }
            ModelCommand::Promote { at } => {
                let mut client = connect_models(&at).await?;
                (
                    client.promote_shadow(pb::PromoteShadowRequest {}).await,
                    false,
                )
            }
            ModelCommand::DropShadow { at } => {
                let mut client = connect_models(&at).await?;
                (client.drop_shadow(pb::DropShadowRequest {}).await, false)
            }
        };
        let info = info.map_err(refused)?.into_inner();
        if json {
            outln!("{}", to_json(&info));
        } else {
            out!("{}", describe(&info));
        }
        Ok(())
    })
}

fn loaded(m: &pb::LoadedModel) -> serde_json::Value {
    serde_json::json!({
        "version": m.version,
        "path": m.path,
        "loaded_at_unix": micros(m.loaded_at.as_ref()) / 1_000_000,
        "accept_below_probability": m.accept_below_probability,
        "reject_at_probability": m.reject_at_probability,
        "features": m.features,
        "card_created": m.card_created,
        "training_files": m.training_files,
    })
}

fn to_json(info: &pb::ModelInfo) -> serde_json::Value {
    let stats = info.shadow_stats.clone().unwrap_or_default();
    serde_json::json!({
        "serving": info.serving.as_ref().map(loaded),
        "shadow": info.shadow.as_ref().map(loaded),
        "shadow_stats": {
            "scored": stats.scored,
            "disagreements": stats.disagreements,
            "by_change": stats.by_change.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
            "samples": stats.samples.iter().map(|s| serde_json::json!({
                "site_id": s.site_id,
                "decision_id": s.decision_id,
                "serving": s.serving_decision().as_str_name(),
                "shadow": s.shadow_decision().as_str_name(),
                "serving_spam_probability": s.serving_spam_probability,
                "shadow_spam_probability": s.shadow_spam_probability,
                "content": s.content,
            })).collect::<Vec<_>>(),
        },
    })
}

fn describe(info: &pb::ModelInfo) -> String {
    let line = |what: &str, m: &pb::LoadedModel| {
        format!(
            "{what:8} {}  {}  accept below p={:.4}, reject at p={:.4}, {} features{}\n",
            m.version,
            m.path,
            m.accept_below_probability,
            m.reject_at_probability,
            m.features,
            if m.card_created.is_empty() {
                String::new()
            } else {
                format!(", trained {}", m.card_created)
            }
        )
    };
    let mut out = String::new();
    if let Some(m) = &info.serving {
        out.push_str(&line("serving", m));
    }
    match &info.shadow {
        Some(m) => {
            out.push_str(&line("shadow", m));
            let stats = info.shadow_stats.clone().unwrap_or_default();
            let mut changes: Vec<_> = stats.by_change.into_iter().collect();
            changes.sort();
            out.push_str(&format!(
                "         scored {}, would have decided otherwise {}{}\n",
                stats.scored,
                stats.disagreements,
                changes
                    .iter()
                    .map(|(k, v)| format!(", {k} {v}"))
                    .collect::<String>()
            ));
        }
        None => out.push_str("shadow   none\n"),
    }
    out
}
