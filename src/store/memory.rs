//! The embedded store: everything in process memory behind one mutex, so every operation is atomic.
//!
//! It suits one `saring serve` process. What it holds does not survive a restart: rate-limit buckets start
//! empty and remembered decisions are forgotten (a retry after a restart is decided afresh). Keeping the
//! remembered decisions in a file under a data directory is planned; see the README.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Admission, Error, Store};
use crate::ratelimit::{step, Bucket, Step};

/// After this many writes, expired entries are swept, so memory stays bounded by live entries.
const SWEEP_EVERY: u64 = 4096;

#[derive(Debug, Default)]
struct State {
    /// Bucket key → theoretical arrival time (µs since the epoch).
    tat: HashMap<String, u64>,
    /// (site, comment id) → (expiry µs, encoded response).
    remembered: HashMap<(String, String), (u64, Vec<u8>)>,
    writes: u64,
}

impl State {
    fn sweep(&mut self, now_us: u64) {
        self.writes += 1;
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            self.tat.retain(|_, tat| *tat > now_us);
            self.remembered.retain(|_, (expiry, _)| *expiry > now_us);
        }
    }
}

/// The in-process store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, Error> {
        // A poisoned lock means a panic mid-update; refuse rather than serve half-written state.
        self.state
            .lock()
            .map_err(|_| Error::Unavailable("in-memory store lock poisoned".into()))
    }
}

fn key(site: &str, b: &Bucket) -> String {
    format!("{site}\u{0}{}\u{0}{}", b.dimension.as_str(), b.subject)
}

impl Store for MemoryStore {
    async fn admit(&self, site: &str, buckets: &[Bucket], now_us: u64) -> Result<Admission, Error> {
        let mut state = self.lock()?;
        let mut new_tats = Vec::with_capacity(buckets.len());
        for b in buckets {
            let k = key(site, b);
            let tat = state.tat.get(&k).copied().unwrap_or(0);
            match step(b, tat, now_us) {
                Step::Admit { tat_us } => new_tats.push((k, tat_us)),
                Step::Refuse { retry_after_us } => {
                    return Ok(Admission::Refused {
                        dimension: b.dimension,
                        retry_after_us,
                        burst: b.limit.burst,
                        per_hour: b.limit.per_hour,
                    })
                }
            }
        }
        for (k, tat) in new_tats {
            state.tat.insert(k, tat);
        }
        state.sweep(now_us);
        Ok(Admission::Admitted)
    }

    async fn recall(
        &self,
        site: &str,
        comment_id: &str,
        now_us: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        let state = self.lock()?;
        Ok(state
            .remembered
            .get(&(site.to_string(), comment_id.to_string()))
            .filter(|(expiry, _)| *expiry > now_us)
            .map(|(_, r)| r.clone()))
    }

    async fn remember(
        &self,
        site: &str,
        comment_id: &str,
        response: Vec<u8>,
        ttl_us: u64,
        now_us: u64,
    ) -> Result<Vec<u8>, Error> {
        let mut state = self.lock()?;
        let k = (site.to_string(), comment_id.to_string());
        let standing = match state.remembered.get(&k) {
            Some((expiry, r)) if *expiry > now_us => r.clone(),
            _ => {
                state
                    .remembered
                    .insert(k, (now_us.saturating_add(ttl_us), response.clone()));
                response
            }
        };
        state.sweep(now_us);
        Ok(standing)
    }
}
