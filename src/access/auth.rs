//! Who may do what. A request's bearer token is authenticated once, in the gRPC layer (`grpc/auth.rs`),
//! into a [`Principal`]; each RPC then asks [`authorize`] whether that principal may act for the request's
//! site.
//!
//! | role | may call | for |
//! |---|---|---|
//! | service | CheckComment, SubmitFeedback | its sites |
//! | moderator | ListHeld, GetHeld, ResolveHeld, WatchHeld, ListAudit, RecheckHeld | its sites |
//! | admin | everything, Admin (keys, labels) and ModelAdmin included | every site |
//!
//! Keys are read from the store and cached for [`CACHE_SECS`], so a revocation reaches every replica
//! within that time (at once on the replica that revoked). While the store does not answer, a cached
//! key stays usable (checks go on, degraded); an uncached one cannot be verified and the call is
//! UNAVAILABLE.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::access::keys::{constant_time_eq, parse_token, secret_hash};
use crate::pb;
use crate::store::Store;

/// How long a key read from the store is trusted before it is read again.
pub const CACHE_SECS: u64 = 5;
/// How long a cached key is still used while the store does not answer.
const STALE_IF_ERROR: Duration = Duration::from_secs(600);
/// Most keys cached; beyond, the cache is cleared. Only keys that exist are cached, so this bounds memory
/// if a deployment has very many keys; a flood of bogus tokens costs one store read each.
const CACHE_CAP: usize = 10_000;

/// What a request may do, by RPC family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// CheckComment and SubmitFeedback.
    Service,
    /// The moderation queue.
    Moderate,
    /// API keys.
    Admin,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's id ("" when auth is off).
    pub key_id: String,
    /// The key's name.
    pub name: String,
    /// Its role.
    pub role: pb::Role,
    /// Sites it may act for (all, for admin).
    pub sites: Vec<String>,
}

impl Principal {
    /// The caller when auth is off (local development only): may do anything.
    pub fn unrestricted() -> Principal {
        Principal {
            key_id: String::new(),
            name: "anonymous (auth off)".into(),
            role: pb::Role::Admin,
            sites: Vec::new(),
        }
    }

    /// How the caller is named in audit logs: the key's name, else its id.
    pub fn label(&self) -> &str {
        if self.name.is_empty() {
            &self.key_id
        } else {
            &self.name
        }
    }
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No token, a malformed one, or an unknown or revoked key.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// A valid key outside its role or sites.
    #[error("{0}")]
    Denied(String),
    /// The key could not be looked up.
    #[error("the key store is unavailable")]
    Unavailable(#[source] crate::store::Error),
}

/// May `p` do `what` for `site` (empty: no particular site)?
pub fn authorize(p: &Principal, what: Permission, site: &str) -> Result<(), Error> {
    let role_ok = match p.role {
        pb::Role::Admin => return Ok(()),
        pb::Role::Service => what == Permission::Service,
        pb::Role::Moderator => what == Permission::Moderate,
        pb::Role::Unspecified => false,
    };
    if !role_ok {
        return Err(Error::Denied(format!(
            "a {} key may not call this",
            p.role
                .as_str_name()
                .trim_start_matches("ROLE_")
                .to_lowercase()
        )));
    }
    // Exact: a site id is never normalised (`moderation::comment::check_site`), and the RPCs refuse
    // a malformed one before they get here.
    if !p.sites.iter().any(|s| s == site) {
        return Err(Error::Denied(format!("this key is not for site `{site}`")));
    }
    Ok(())
}

/// Authenticates bearer tokens against the store, with a short cache.
#[derive(Debug)]
pub struct Authenticator {
    /// The keys; while the store is known down it answers at once, and cached keys carry on.
    store: Store,
    enabled: bool,
    cache: Mutex<HashMap<String, (pb::ApiKey, Instant)>>,
}

impl Authenticator {
    /// Check tokens against `store`; with `enabled` false every caller is [`Principal::unrestricted`].
    pub fn new(store: Store, enabled: bool) -> Self {
        Authenticator {
            store,
            enabled,
            cache: Mutex::default(),
        }
    }

    /// Whether tokens are checked at all.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Forget a cached key (after revoking it here).
    pub fn forget(&self, id: &str) {
        if let Ok(mut c) = self.cache.lock() {
            c.remove(id);
        }
    }

    /// The principal behind an `authorization` header value.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Principal, Error> {
        if !self.enabled {
            return Ok(Principal::unrestricted());
        }
        let token = header
            .and_then(|h| {
                let (scheme, rest) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(rest)
            })
            .ok_or(Error::Unauthenticated("send `authorization: Bearer <key>`"))?;
        let (id, secret) =
            parse_token(token.trim()).ok_or(Error::Unauthenticated("not a saring key"))?;
        let key = self
            .key(id)
            .await?
            .ok_or(Error::Unauthenticated("unknown key"))?;
        if !constant_time_eq(&key.secret_sha256, &secret_hash(secret)) {
            return Err(Error::Unauthenticated("unknown key"));
        }
        if key.revoked_at.is_some() {
            return Err(Error::Unauthenticated("revoked key"));
        }
        Ok(Principal {
            key_id: key.id.clone(),
            name: key.name.clone(),
            role: key.role(),
            sites: key.sites.clone(),
        })
    }

    /// Whether an authenticated caller's key still stands: a long-lived call (WatchHeld) asks this as
    /// it goes, so a revocation ends it within the cache time. Only a key known to be revoked or gone
    /// fails; a store that cannot answer keeps the call going, as it keeps cached keys working.
    pub async fn still_valid(&self, p: &Principal) -> bool {
        if !self.enabled || p.key_id.is_empty() {
            return true;
        }
        match self.key(&p.key_id).await {
            Ok(Some(key)) => key.revoked_at.is_none(),
            Ok(None) => false,
            Err(_) => true,
        }
    }

    async fn key(&self, id: &str) -> Result<Option<pb::ApiKey>, Error> {
        let cached = self.cache.lock().ok().and_then(|c| c.get(id).cloned());
        if let Some((key, at)) = &cached {
            if at.elapsed() < Duration::from_secs(CACHE_SECS) {
                return Ok(Some(key.clone()));
            }
        }
        // Bounded by the store's key look-up limit, and refused at once while the store is down.
        match self.store.key(id).await {
            Ok(Some(key)) => {
                if let Ok(mut c) = self.cache.lock() {
                    if c.len() >= CACHE_CAP {
                        c.clear();
                    }
                    c.insert(id.to_string(), (key.clone(), Instant::now()));
                }
                Ok(Some(key))
            }
            Ok(None) => {
                self.forget(id);
                Ok(None)
            }
            Err(e) => match cached {
                Some((key, at)) if at.elapsed() < STALE_IF_ERROR => {
                    // Serve the stale key; its caching time (not refreshed) bounds how long it is trusted.
                    // Until the monitor marks the store down each such request pays one bounded look-up.
                    Ok(Some(key))
                }
                _ => Err(Error::Unavailable(e)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: pb::Role, sites: &[&str]) -> Principal {
        Principal {
            key_id: "k".into(),
            name: "n".into(),
            role,
            sites: sites.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn roles_reach_only_their_rpcs_and_sites() {
        use Permission::*;
        let service = key(pb::Role::Service, &["a"]);
        assert!(authorize(&service, Service, "a").is_ok());
        assert!(authorize(&service, Service, "b").is_err());
        assert!(authorize(&service, Moderate, "a").is_err());
        assert!(authorize(&service, Admin, "").is_err());
        let moderator = key(pb::Role::Moderator, &["a", "b"]);
        assert!(authorize(&moderator, Moderate, "b").is_ok());
        assert!(authorize(&moderator, Moderate, "c").is_err());
        assert!(authorize(&moderator, Service, "a").is_err());
        let admin = key(pb::Role::Admin, &[]);
        for p in [Service, Moderate, Admin] {
            assert!(authorize(&admin, p, "anything").is_ok());
        }
    }
}
