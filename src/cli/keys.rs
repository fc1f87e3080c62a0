//! `saring keys create | list | revoke`: through a running server's Admin service, or with `--direct`
//! on the store itself (how a lost admin key is replaced).

use anyhow::Context;

use super::{AdminAt, KeysCommand};
use crate::pb;
use crate::store::Store;

enum Op {
    Create {
        role: pb::Role,
        sites: Vec<String>,
        name: String,
    },
    List,
    Revoke(String),
}

pub(super) fn run(command: KeysCommand) -> anyhow::Result<()> {
    let (op, at) = match command {
        KeysCommand::Create {
            role,
            sites,
            name,
            at,
        } => {
            let role = match role.as_str() {
                "service" => pb::Role::Service,
                "moderator" => pb::Role::Moderator,
                _ => pb::Role::Admin,
            };
            (Op::Create { role, sites, name }, at)
        }
        KeysCommand::List { at } => (Op::List, at),
        KeysCommand::Revoke { id, at } => (Op::Revoke(id), at),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let out = runtime.block_on(async {
        if at.direct {
            direct(&at, op).await
        } else {
            remote(&at, op).await
        }
    })?;
    out!("{out}");
    Ok(())
}

fn describe(k: &pb::ApiKey) -> String {
    let state = if k.revoked_at.is_some() {
        "revoked"
    } else {
        "active"
    };
    let role = k
        .role()
        .as_str_name()
        .trim_start_matches("ROLE_")
        .to_lowercase();
    format!(
        "{}  {:9}  {:7}  {:24}  {}\n",
        k.id,
        role,
        state,
        if k.name.is_empty() { "-" } else { &k.name },
        if k.sites.is_empty() {
            "*".to_string()
        } else {
            k.sites.join(",")
        }
    )
}

fn created(key: &pb::ApiKey, token: &str) -> String {
    format!(
        "{token}\n(key {}: shown this once, stored only as a hash)\n",
        key.id
    )
}

async fn direct(at: &AdminAt, op: Op) -> anyhow::Result<String> {
    let config = at.store.config()?;
    config.validate()?;
    let store = super::open_store(&config, Some(super::STORE_IN_USE_HINT)).await?;
    on_store(&store, op).await
}

async fn on_store(store: &Store, op: Op) -> anyhow::Result<String> {
    Ok(match op {
        Op::Create { role, sites, name } => {
            let (key, token) = crate::access::keys::create(store, role, &sites, &name).await?;
            created(&key, &token)
        }
        Op::List => crate::access::keys::list(store)
            .await?
            .iter()
            .map(describe)
            .collect(),
        Op::Revoke(id) => describe(&crate::access::keys::revoke(store, &id).await?),
    })
}

async fn remote(at: &AdminAt, op: Op) -> anyhow::Result<String> {
    let mut client = super::admin::connect(&at.at).await?;
    Ok(match op {
        Op::Create { role, sites, name } => {
            let r = client
                .create_key(pb::CreateKeyRequest {
                    role: role as i32,
                    sites,
                    name,
                })
                .await
                .map_err(super::admin::refused)?
                .into_inner();
            created(&r.key.unwrap_or_default(), &r.token)
        }
        Op::List => client
            .list_keys(pb::ListKeysRequest {})
            .await
            .map_err(super::admin::refused)?
            .into_inner()
            .keys
            .iter()
            .map(describe)
            .collect(),
        Op::Revoke(id) => describe(
            &client
                .revoke_key(pb::RevokeKeyRequest { id })
                .await
                .map_err(super::admin::refused)?
                .into_inner(),
        ),
    })
}
