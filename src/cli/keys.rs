//! `saring keys create | list | revoke`: through a running server's Admin service, or with `--direct`
//! on the store itself (how a lost admin key is replaced).

use anyhow::{bail, Context};

use super::{KeysAt, KeysCommand};
use crate::pb;
use crate::pb::admin_client::AdminClient;
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
    print!("{out}");
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

async fn direct(at: &KeysAt, op: Op) -> anyhow::Result<String> {
    let config = at.store.config()?;
    config.validate()?;
    with_store!(
        config,
        " (stop `saring serve` first, or leave out --direct to go through it)",
        |store, _kind| on_store(&store, op).await
    )
}

async fn on_store<S: Store>(store: &S, op: Op) -> anyhow::Result<String> {
    Ok(match op {
        Op::Create { role, sites, name } => {
            let (key, token) = crate::keys::create(store, role, &sites, &name).await?;
            created(&key, &token)
        }
        Op::List => crate::keys::list(store)
            .await?
            .iter()
            .map(describe)
            .collect(),
        Op::Revoke(id) => describe(&crate::keys::revoke(store, &id).await?),
    })
}

async fn remote(at: &KeysAt, op: Op) -> anyhow::Result<String> {
    let Some(key) = &at.key else {
        bail!("give an admin key with --key or SARING_KEY (or use --direct on the store)");
    };
    let mut endpoint = tonic::transport::Channel::from_shared(at.server.clone())
        .with_context(|| format!("`{}` is not a URL", at.server))?;
    if let Some(ca) = &at.tls_ca {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        endpoint = endpoint.tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(pem)),
        )?;
    } else if at.server.starts_with("https://") {
        endpoint = endpoint.tls_config(tonic::transport::ClientTlsConfig::new())?;
    }
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("connecting to {}", at.server))?;
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {key}")
        .parse()
        .context("the key is not a valid header value")?;
    let mut client = AdminClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
        r.metadata_mut().insert("authorization", bearer.clone());
        Ok(r)
    });
    Ok(match op {
        Op::Create { role, sites, name } => {
            let r = client
                .create_key(pb::CreateKeyRequest {
                    role: role as i32,
                    sites,
                    name,
                })
                .await?
                .into_inner();
            created(&r.key.unwrap_or_default(), &r.token)
        }
        Op::List => client
            .list_keys(pb::ListKeysRequest {})
            .await?
            .into_inner()
            .keys
            .iter()
            .map(describe)
            .collect(),
        Op::Revoke(id) => describe(
            &client
                .revoke_key(pb::RevokeKeyRequest { id })
                .await?
                .into_inner(),
        ),
    })
}
