//! The embedded store, used when no Redis is configured: one `saring serve` process, nothing else to run.
//!
//! Rate-limit buckets live in process memory behind one mutex (every admission is atomic); they start
//! empty after a restart, which at worst lets a commenter a fresh burst. Remembered decisions must
//! survive a restart — a blog retrying after saring restarted must get the decision it was already given
//! — so they live in a redb database file under the data directory, each write committed durably before
//! the response is sent. Held comments are kept in the same file, committed durably before HOLD is
//! answered.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{Admission, Error, Once, Store};
use crate::ratelimit::{step, Bucket, Step};

/// After this many writes, expired entries are swept, so memory and the file stay bounded by live entries.
const SWEEP_EVERY: u64 = 4096;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "saring.redb";

/// (site, NUL, comment id) → expiry (µs since the epoch, 8 bytes little-endian) followed by the encoded
/// response.
const REMEMBERED: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("remembered");

/// (site, NUL, held id) → held-at time (µs, 8 bytes little-endian) followed by the encoded `HeldItem`.
const HELD: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("held");

/// Why the embedded store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database file could not be opened or initialised.
    #[error("cannot open the embedded database {path}")]
    Database {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: redb::Error,
    },
}

#[derive(Debug, Default)]
struct Buckets {
    /// Bucket key → theoretical arrival time (µs since the epoch).
    tat: HashMap<String, u64>,
    /// (site, NUL, comment id) → until when the comment counts as counted (µs since the epoch).
    counted: HashMap<String, u64>,
    writes: u64,
}

/// The embedded store.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    buckets: Arc<Mutex<Buckets>>,
    db: Arc<Database>,
    remembered_writes: Arc<Mutex<u64>>,
}

impl EmbeddedStore {
    /// Open (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<EmbeddedStore, OpenError> {
        std::fs::create_dir_all(dir).map_err(|source| OpenError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(DATABASE_FILE);
        let db = Database::create(&path).map_err(|e| OpenError::Database {
            path: path.clone(),
            source: e.into(),
        })?;
        Self::with_database(db).map_err(|source| OpenError::Database { path, source })
    }

    /// A store whose database lives in memory only (tests, and benchmarks of the hot path).
    pub fn open_in_memory() -> EmbeddedStore {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .expect("an in-memory redb database always opens");
        Self::with_database(db).expect("an in-memory redb table always opens")
    }

    fn with_database(db: Database) -> Result<EmbeddedStore, redb::Error> {
        // Create the table up front so readers never meet a missing table.
        let txn = db.begin_write()?;
        txn.open_table(REMEMBERED)?;
        txn.open_table(HELD)?;
        txn.commit()?;
        Ok(EmbeddedStore {
            buckets: Arc::default(),
            db: Arc::new(db),
            remembered_writes: Arc::default(),
        })
    }

    fn lock_buckets(&self) -> Result<std::sync::MutexGuard<'_, Buckets>, Error> {
        // A poisoned lock means a panic mid-update; refuse rather than serve half-written state.
        self.buckets
            .lock()
            .map_err(|_| Error::Unavailable("embedded store lock poisoned".into()))
    }

    /// Run a redb operation off the async runtime: commits wait for the disk.
    async fn blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Database) -> Result<T, redb::Error> + Send + 'static,
    ) -> Result<T, Error> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || op(&db))
            .await
            .map_err(|e| Error::Unavailable(format!("embedded store task failed: {e}")))?
            .map_err(|e| Error::Unavailable(format!("embedded database: {e}")))
    }
}

fn bucket_key(site: &str, b: &Bucket) -> String {
    format!("{site}\u{0}{}\u{0}{}", b.dimension.as_str(), b.subject)
}

/// A key within a site: a comment id (counted and remembered decisions) or a held id.
fn site_key(site: &str, id: &str) -> String {
    format!("{site}\u{0}{id}")
}

/// The response in a stored value, if it has not expired at `now_us`.
fn live(value: &[u8], now_us: u64) -> Option<Vec<u8>> {
    let (expiry, response) = value.split_at_checked(8)?;
    let expiry = u64::from_le_bytes(expiry.try_into().ok()?);
    (expiry > now_us).then(|| response.to_vec())
}

impl Store for EmbeddedStore {
    async fn admit(
        &self,
        site: &str,
        once: Option<Once<'_>>,
        buckets: &[Bucket],
        now_us: u64,
    ) -> Result<Admission, Error> {
        let mut state = self.lock_buckets()?;
        let once_key = once.map(|o| (site_key(site, o.comment_id), o.ttl_us));
        if let Some((k, _)) = &once_key {
            if state.counted.get(k).is_some_and(|until| *until > now_us) {
                return Ok(Admission::Admitted);
            }
        }
        let mut new_tats = Vec::with_capacity(buckets.len());
        for b in buckets {
            let k = bucket_key(site, b);
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
        if let Some((k, ttl)) = once_key {
            state.counted.insert(k, now_us.saturating_add(ttl));
        }
        state.writes += 1;
        if state.writes.is_multiple_of(SWEEP_EVERY) {
            state.tat.retain(|_, tat| *tat > now_us);
            state.counted.retain(|_, until| *until > now_us);
        }
        Ok(Admission::Admitted)
    }

    async fn hold(
        &self,
        site: &str,
        held_id: &str,
        item: Vec<u8>,
        held_at_us: u64,
    ) -> Result<(), Error> {
        let key = site_key(site, held_id);
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(HELD)?;
                let mut value = held_at_us.to_le_bytes().to_vec();
                value.extend_from_slice(&item);
                table.insert(key.as_str(), value.as_slice())?;
            }
            txn.commit()?;
            Ok(())
        })
        .await
    }

    async fn held(&self, site: &str, held_id: &str) -> Result<Option<Vec<u8>>, Error> {
        let key = site_key(site, held_id);
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(HELD)?;
            Ok(table
                .get(key.as_str())?
                .and_then(|v| v.value().get(8..).map(<[u8]>::to_vec)))
        })
        .await
    }

    async fn recall(
        &self,
        site: &str,
        comment_id: &str,
        now_us: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        let key = site_key(site, comment_id);
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(REMEMBERED)?;
            Ok(table
                .get(key.as_str())?
                .and_then(|v| live(v.value(), now_us)))
        })
        .await
    }

    async fn remember(
        &self,
        site: &str,
        comment_id: &str,
        response: Vec<u8>,
        ttl_us: u64,
        now_us: u64,
    ) -> Result<Vec<u8>, Error> {
        let key = site_key(site, comment_id);
        let sweep = {
            let mut n = self
                .remembered_writes
                .lock()
                .map_err(|_| Error::Unavailable("embedded store lock poisoned".into()))?;
            *n += 1;
            n.is_multiple_of(SWEEP_EVERY)
        };
        self.blocking(move |db| {
            // One write transaction at a time: the look-up and the insert are atomic together.
            let txn = db.begin_write()?;
            let standing = {
                let mut table = txn.open_table(REMEMBERED)?;
                let existing = table
                    .get(key.as_str())?
                    .and_then(|v| live(v.value(), now_us));
                let standing = match existing {
                    Some(r) => r,
                    None => {
                        let mut value = now_us.saturating_add(ttl_us).to_le_bytes().to_vec();
                        value.extend_from_slice(&response);
                        table.insert(key.as_str(), value.as_slice())?;
                        response
                    }
                };
                if sweep {
                    table.retain(|_, v| live(v, now_us).is_some())?;
                }
                standing
            };
            txn.commit()?;
            Ok(standing)
        })
        .await
    }
}
