//! API keys: created, listed and revoked by operators, kept in the store so every replica sees them.
//!
//! A key is the bearer token `srg_<id>_<secret>`: `id` is 8 random bytes in hex, public (it names the key
//! in lists and revocations); `secret` is 32 random bytes (256 bits) in hex from the operating system's
//! CSPRNG. The token is shown once, when the key is created; the store keeps only SHA-256 of the
//! secret, so a copy of the store does not yield working keys. A presented token is checked by
//! comparing the hash of its secret with the stored hash in constant time.

use sha2::{Digest, Sha256};

use crate::clock::{now_us, timestamp};
use crate::hash::hex;
use crate::moderation::comment::{check_site, Invalid, MAX_ID_BYTES};
use crate::pb;
use crate::store::{self, Store};

/// Every token starts with this, so a leaked one is easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "srg_";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;
/// Most sites one key may name.
pub const MAX_SITES: usize = 100;

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store did not answer, or holds a key that does not decode.
    #[error("the store failed")]
    Store(#[from] store::Error),
    /// The operating system's random source failed.
    #[error("no randomness for a new key: {0}")]
    Random(String),
    /// A request field is wrong.
    #[error("{field}: {problem}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// No key with that id.
    #[error("no key `{0}`")]
    NotFound(String),
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Error::Invalid {
            field: e.field,
            problem: e.problem,
        }
    }
}

fn random_hex(n: usize) -> Result<String, Error> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| Error::Random(e.to_string()))?;
    Ok(hex(&buf))
}

/// SHA-256 of a secret.
pub fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Equal contents, compared without an early exit, so the time taken does not say how much matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| std::hint::black_box(acc | (x ^ y)));
    diff == 0
}

/// The (id, secret) of a well-formed token.
pub fn parse_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let well_formed = id.len() == 2 * ID_BYTES
        && secret.len() == 2 * SECRET_BYTES
        && id
            .bytes()
            .chain(secret.bytes())
            .all(|c| c.is_ascii_hexdigit());
    well_formed.then_some((id, secret))
}

/// A new key (not yet stored) and its token.
pub fn generate(
    role: pb::Role,
    sites: &[String],
    name: &str,
) -> Result<(pb::ApiKey, String), Error> {
    if role == pb::Role::Unspecified {
        return Err(Error::Invalid {
            field: "role",
            problem: "must be service, moderator or admin".into(),
        });
    }
    if role != pb::Role::Admin && sites.is_empty() {
        return Err(Error::Invalid {
            field: "sites",
            problem: "a service or moderator key needs at least one site".into(),
        });
    }
    if sites.len() > MAX_SITES {
        return Err(Error::Invalid {
            field: "sites",
            problem: format!("at most {MAX_SITES}"),
        });
    }
    for site in sites {
        check_site("sites", site)?;
    }
    if name.len() > MAX_ID_BYTES {
        return Err(Error::Invalid {
            field: "name",
            problem: format!("longer than {MAX_ID_BYTES} bytes"),
        });
    }
    let (id, secret) = (random_hex(ID_BYTES)?, random_hex(SECRET_BYTES)?);
    let key = pb::ApiKey {
        id: id.clone(),
        name: name.to_string(),
        role: role as i32,
        sites: sites.to_vec(),
        created_at: Some(timestamp(now_us())),
        revoked_at: None,
        secret_sha256: secret_hash(&secret),
    };
    Ok((key, format!("{TOKEN_PREFIX}{id}_{secret}")))
}

/// Create and store a key; returns it with its token (shown once).
pub async fn create(
    store: &Store,
    role: pb::Role,
    sites: &[String],
    name: &str,
) -> Result<(pb::ApiKey, String), Error> {
    let (key, token) = generate(role, sites, name)?;
    store.put_key(&key).await?;
    Ok((public(key), token))
}

/// A key without its secret's hash, for lists and answers.
pub fn public(mut key: pb::ApiKey) -> pb::ApiKey {
    key.secret_sha256.clear();
    key
}

/// Every key, oldest first, without secrets' hashes.
pub async fn list(store: &Store) -> Result<Vec<pb::ApiKey>, Error> {
    let mut keys: Vec<pb::ApiKey> = store.keys().await?.into_iter().map(public).collect();
    keys.sort_by_key(|k| (crate::clock::micros(k.created_at.as_ref()), k.id.clone()));
    Ok(keys)
}

/// A stored key by id.
pub async fn get(store: &Store, id: &str) -> Result<Option<pb::ApiKey>, Error> {
    Ok(store.key(id).await?)
}

/// Revoke a key (a second revocation keeps the first time).
pub async fn revoke(store: &Store, id: &str) -> Result<pb::ApiKey, Error> {
    let mut key = get(store, id)
        .await?
        .ok_or_else(|| Error::NotFound(id.to_string()))?;
    if key.revoked_at.is_none() {
        key.revoked_at = Some(timestamp(now_us()));
        store.put_key(&key).await?;
    }
    Ok(public(key))
}

/// On a store with no keys at all, create an admin key and a service key for site `default`; returns
/// them with their tokens, or `None` when keys already existed (then nothing is written).
pub async fn bootstrap(store: &Store) -> Result<Option<Vec<(pb::ApiKey, String)>>, Error> {
    let admin = generate(pb::Role::Admin, &[], "first admin key")?;
    let service = generate(pb::Role::Service, &["default".to_string()], "default site")?;
    let stored = store
        .bootstrap_keys(&[admin.0.clone(), service.0.clone()])
        .await?;
    Ok(stored.then(|| vec![(public(admin.0), admin.1), (public(service.0), service.1)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn tokens_parse_only_in_their_own_form_and_secrets_are_stored_hashed() {
        let (key, token) = generate(pb::Role::Service, &["blog".into()], "b").unwrap();
        let (id, secret) = parse_token(&token).unwrap();
        assert_eq!(id, key.id);
        assert_eq!(secret.len(), 64, "256 bits");
        assert_eq!(key.secret_sha256, secret_hash(secret));
        assert!(!key
            .encode_to_vec()
            .windows(secret.len())
            .any(|w| w == secret.as_bytes()));
        let (_, other) = generate(pb::Role::Service, &["blog".into()], "b").unwrap();
        assert_ne!(token, other);
        for bad in [
            "",
            "srg_",
            "srg_abc_def",
            "Bearer srg_x",
            &token[..token.len() - 1],
            &token.replace("srg_", "xyz_"),
        ] {
            assert_eq!(parse_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn keys_need_a_role_and_sites_unless_admin() {
        assert!(generate(pb::Role::Unspecified, &["b".into()], "").is_err());
        assert!(generate(pb::Role::Moderator, &[], "").is_err());
        assert!(generate(pb::Role::Service, &[" ".into()], "").is_err());
        assert!(generate(pb::Role::Admin, &[], "").is_ok());
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
