//! `saring overlay`: a site's overlay on the running server, through its ModelAdmin service — what the
//! site's moderators and blog taught it, a reset, and the switch.

use anyhow::Context;

use super::admin::{connect_models, refused};
use super::OverlayCommand;
use crate::pb;

pub(super) fn run(command: OverlayCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let (info, json) = match command {
            OverlayCommand::Show {
                site,
                top,
                json,
                at,
            } => {
                let mut client = connect_models(&at).await?;
                let request = pb::GetOverlayRequest { site_id: site, top };
                (client.get_overlay(request).await, json)
            }
            OverlayCommand::Reset { site, at } => {
                let mut client = connect_models(&at).await?;
                let request = pb::ResetOverlayRequest { site_id: site };
                (client.reset_overlay(request).await, false)
            }
            OverlayCommand::Disable { site, at } => {
                let mut client = connect_models(&at).await?;
                let request = pb::SetOverlayRequest {
                    site_id: site,
                    enabled: false,
                };
                (client.set_overlay(request).await, false)
            }
            OverlayCommand::Enable { site, at } => {
                let mut client = connect_models(&at).await?;
                let request = pb::SetOverlayRequest {
                    site_id: site,
                    enabled: true,
                };
                (client.set_overlay(request).await, false)
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

fn tokens(tokens: &[pb::OverlayToken]) -> Vec<serde_json::Value> {
    tokens
        .iter()
        .map(|t| {
            serde_json::json!({
                "token": t.token,
                "spam": t.spam,
                "ham": t.ham,
                "weight": t.weight,
            })
        })
        .collect()
}

fn to_json(info: &pb::OverlayInfo) -> serde_json::Value {
    serde_json::json!({
        "site_id": info.site_id,
        "enabled": info.enabled,
        "configured": info.configured,
        "version": info.version,
        "spam_labels": info.spam_labels,
        "ham_labels": info.ham_labels,
        "features": info.features,
        "towards_spam": tokens(&info.towards_spam),
        "towards_ham": tokens(&info.towards_ham),
    })
}

fn describe(info: &pb::OverlayInfo) -> String {
    let state = match (info.configured, info.enabled) {
        (false, _) => "off in the configuration",
        (true, false) => "turned off by an admin",
        (true, true) => "on",
    };
    let mut out = format!(
        "site {}: overlay {state}, version {}, taught by {} spam and {} ham labels, {} features\n",
        info.site_id, info.version, info.spam_labels, info.ham_labels, info.features
    );
    for (title, list) in [
        ("towards spam", &info.towards_spam),
        ("towards ham", &info.towards_ham),
    ] {
        out.push_str(&format!("{title}:\n"));
        if list.is_empty() {
            out.push_str("  (none)\n");
        }
        for t in list {
            out.push_str(&format!(
                "  {:+7.3}  {:<40}  spam {:>5}  ham {:>5}\n",
                t.weight, t.token, t.spam, t.ham
            ));
        }
    }
    out
}
