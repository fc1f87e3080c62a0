//! Whether the store keeps an answered HOLD through a crash.
//!
//! saring answers HOLD only once the held comment is written, but on Redis "written" is only as
//! durable as Redis's persistence settings make it: without persistence a restart of Redis empties the
//! queue, with RDB snapshots alone it loses everything since the last snapshot, with an append-only
//! file fsynced once a second a host crash loses about that second, and an `allkeys-*` eviction policy
//! may evict held items when memory runs out. Only `appendonly yes` with `appendfsync always` (and no
//! eviction of keys without a TTL) keeps every answered HOLD. The embedded store commits each write
//! durably before answering, so it is always [`Durability::Durable`].

use std::sync::Arc;

/// Redis's persistence settings, as `CONFIG GET` reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `appendonly`: `yes` or `no`.
    pub appendonly: String,
    /// `appendfsync`: `always`, `everysec` or `no`.
    pub appendfsync: String,
    /// `save`: the RDB snapshot schedule, empty for none.
    pub save: String,
    /// `maxmemory-policy`: which keys Redis may evict when memory runs out.
    pub maxmemory_policy: String,
}

impl Settings {
    /// What an answered HOLD risks under these settings, for an operator; `None` when nothing.
    pub fn risk(&self) -> Option<&'static str> {
        let aof = self.appendonly.eq_ignore_ascii_case("yes");
        let rdb = !self.save.trim().is_empty();
        // An eviction policy over all keys may evict held items, which never expire; `volatile-*`
        // policies evict only keys with a TTL, which held items do not have.
        if self.maxmemory_policy.starts_with("allkeys-") {
            return Some(
                "the eviction policy may evict held comments when Redis reaches maxmemory \
                 (set maxmemory-policy noeviction)",
            );
        }
        match (aof, self.appendfsync.as_str()) {
            (true, "always") => None,
            (true, "everysec") => Some(
                "the append-only file is fsynced once a second (appendfsync everysec): a crash of \
                 the host loses about the last second of answered HOLDs, and with a slow disk \
                 Redis may postpone writes so that even a crash of Redis alone loses them",
            ),
            (true, _) => Some(
                "the append-only file is fsynced when the operating system decides (appendfsync \
                 no): a crash of the host loses the answered HOLDs of the last half minute or so",
            ),
            (false, _) if rdb => Some(
                "only RDB snapshots (no appendonly): a crash or restart of Redis loses every HOLD \
                 answered since the last snapshot",
            ),
            (false, _) => Some(
                "no persistence (neither appendonly nor save): a restart of Redis loses every held \
                 comment, resolution, audit entry, label and API key",
            ),
        }
    }
}

/// What saring knows about the store keeping an answered HOLD.
#[derive(Debug, Clone)]
pub enum Durability {
    /// Every answered write survives a crash.
    Durable,
    /// Redis's settings, which could lose an answered HOLD ([`Settings::risk`] says how).
    AtRisk(Settings),
    /// Redis refused to show its settings (managed Redis often renames or forbids CONFIG), so they
    /// cannot be verified.
    Unverified(Arc<super::Error>),
}

impl Durability {
    /// Durability as `settings` give it.
    pub fn of(settings: Settings) -> Durability {
        match settings.risk() {
            None => Durability::Durable,
            Some(_) => Durability::AtRisk(settings),
        }
    }

    /// Why an answered HOLD could be lost; `None` when it cannot.
    pub fn risk(&self) -> Option<&'static str> {
        match self {
            Durability::Durable => None,
            Durability::AtRisk(s) => s.risk(),
            Durability::Unverified(_) => Some(
                "Redis refused CONFIG GET, so its persistence cannot be verified: run it with \
                 appendonly yes and appendfsync always",
            ),
        }
    }

    /// Whether two readings say the same, so that a warning is logged once per change.
    pub(super) fn same_as(&self, other: &Durability) -> bool {
        match (self, other) {
            (Durability::Durable, Durability::Durable) => true,
            (Durability::AtRisk(a), Durability::AtRisk(b)) => a == b,
            (Durability::Unverified(_), Durability::Unverified(_)) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(appendonly: &str, appendfsync: &str, save: &str, policy: &str) -> Settings {
        Settings {
            appendonly: appendonly.into(),
            appendfsync: appendfsync.into(),
            save: save.into(),
            maxmemory_policy: policy.into(),
        }
    }

    #[test]
    fn only_an_append_only_file_fsynced_always_without_eviction_keeps_every_hold() {
        assert_eq!(settings("yes", "always", "", "noeviction").risk(), None);
        assert_eq!(
            settings("yes", "always", "3600 1", "volatile-lru").risk(),
            None
        );
        for at_risk in [
            settings("yes", "everysec", "", "noeviction"),
            settings("yes", "no", "3600 1", "noeviction"),
            settings("no", "always", "3600 1 300 100", "noeviction"),
            settings("no", "always", "", "noeviction"),
            settings("yes", "always", "", "allkeys-lru"),
        ] {
            assert!(at_risk.risk().is_some(), "{at_risk:?}");
            assert!(matches!(
                Durability::of(at_risk.clone()),
                Durability::AtRisk(_)
            ));
        }
        assert!(settings("no", "always", "", "noeviction")
            .risk()
            .unwrap()
            .starts_with("no persistence"));
    }
}
