//! The embedded store, used when no Redis is configured: one `saring serve` process, nothing else to run.
//!
//! Rate-limit buckets live in process memory behind one mutex (every admission is atomic); they start
//! empty after a restart, which at worst lets a commenter a fresh burst. Remembered decisions must
//! survive a restart — a blog retrying after saring restarted must get the decision it was already given
//! — so they live in a redb database file under the data directory, each write committed durably before
//! the response is sent. Held comments, their resolutions, the audit log, the queue's event feed,
//! labelled examples and authors' standing are kept in the same file, each change one durable write
//! transaction (held before HOLD is answered). Campaign sightings, like buckets, are memory only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle,
};

use super::backend::{
    Backend, Began, Entry, Feedback, Finish, Finished, HeldRecord, Hold, HoldWrite, RememberWrite,
    Resolve, Resolved,
};
use super::durability::Durability;
use super::{Admit, Bands, Begin, Error, Kept, Lesson, OverlayCounts, Standing, Taught};
use crate::moderation::ratelimit::{step, Admission, Bucket, Step};

/// After this many writes, expired entries are swept, so memory and the file stay bounded by live entries.
const SWEEP_EVERY: u64 = 4096;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "saring.redb";

/// (site, NUL, comment id) → expiry (µs since the epoch, 8 bytes little-endian) followed by the encoded
/// response.
const REMEMBERED: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("remembered");

/// (site, NUL, held id) → sequence (8 bytes little-endian) followed by the encoded `HeldItem`.
const HELD: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("held");

/// (site, NUL, held id) → the encoded `Resolution`, preceded by the verdict (4 bytes little-endian).
const RESOLUTIONS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("resolutions");

/// (site, sequence) → held id, for waiting items only.
const PENDING: TableDefinition<'_, (&str, u64), &str> = TableDefinition::new("pending");

/// (site, NUL, comment id) → held id, so a comment is held once.
const HELD_COMMENTS: TableDefinition<'_, &str, &str> = TableDefinition::new("held_comments");

/// (site, NUL, counter name) → the last number handed out.
const COUNTERS: TableDefinition<'_, &str, u64> = TableDefinition::new("counters");

/// (site, number) → encoded `AuditEntry`; never trimmed.
const AUDIT: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("audit");

/// (site, number) → encoded `QueueEvent`; the latest [`EVENT_FEED_LEN`] per site are kept.
const EVENTS: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("events");

/// (site, NUL, decision id) → encoded `LabelledExample`.
const LABELS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("labels");

/// (site, NUL, decision id) → expiry (µs, 8 bytes little-endian) followed by the `DecisionRecord`.
const DECISIONS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("decisions");

/// (site, NUL, comment id) → expiry (µs, 8 bytes little-endian) followed by the decision id.
const DECISION_COMMENTS: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("decision_comments");

/// (site, NUL, author key) → approvals (8 bytes little-endian) and a spam mark (1 byte).
const TRUST: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("trust");

/// Key id → encoded `ApiKey`.
const API_KEYS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("api_keys");

/// (site, day since the epoch) → the day's ACCEPT, HOLD and REJECT counts (3 × 8 bytes little-endian).
const DAILY: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("daily");

/// How many queue events are kept per site for watchers that fall behind.
const EVENT_FEED_LEN: u64 = 10_000;

/// (site, feature) → spam and ham labels carrying it (two u64, little-endian): a site's overlay.
const OVERLAY_COUNTS: TableDefinition<'_, (&str, &str), &[u8]> =
    TableDefinition::new("overlay_counts");
/// (site, spam + ham, feature): the overlay's features by use, least used first, for forgetting.
const OVERLAY_USE: TableDefinition<'_, (&str, u64, &str), ()> = TableDefinition::new("overlay_use");
/// (site, decision id) → what that label taught: `class|reporter|features` (newline-separated).
const OVERLAY_CONTRIB: TableDefinition<'_, (&str, &str), &[u8]> =
    TableDefinition::new("overlay_contrib");
/// site → the overlay's totals, version and switches (`Meta`).
const OVERLAY_META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("overlay_meta");
/// (site, reporter) → the reporter's labels teaching the overlay now.
const OVERLAY_BY: TableDefinition<'_, (&str, &str), u64> = TableDefinition::new("overlay_by");

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
    /// (site, NUL, campaign band) → its two window counters. Soft state: a restart forgets a wave in
    /// progress, which at worst lets a few more of its comments through to the model.
    sightings: HashMap<String, Sightings>,
    writes: u64,
}

/// One campaign band's counters (see `campaign::window_at`).
#[derive(Debug, Default)]
struct Sightings {
    /// The index of the window `this` counts.
    window: u64,
    this: u64,
    previous: u64,
    /// When both counts are past (µs since the epoch), for the sweep.
    until: u64,
}

/// The embedded store.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    buckets: Arc<Mutex<Buckets>>,
    db: Arc<Database>,
    remembered_writes: Arc<Mutex<u64>>,
    writer: Arc<Writer>,
}

/// The writer thread and the way to it. Dropped with the last clone of the store: closing the channel
/// ends the thread, and joining it means the database file is closed — and its lock released — when
/// the store is gone, not some time later.
#[derive(Debug)]
struct Writer {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// What a write does once its batch is committed (or not): hand the caller its answer.
type Answer = Box<dyn FnOnce(Result<(), Error>) + Send>;

/// One write, run inside a batch's transaction: whether it succeeded, and how to answer its caller.
type Job = Box<dyn FnOnce(&redb::WriteTransaction) -> (bool, Answer) + Send>;

/// Most writes committed together.
const MAX_BATCH: usize = 512;

/// Group commit. redb commits one write transaction at a time, each with an fsync; committing every
/// write on its own caps the store at a few hundred durable writes per second per disk flush. The
/// writer thread takes every write waiting, runs them in one transaction, commits once, and only then
/// answers each — so every answer still waits for its write to be durable, and concurrent writers share
/// the flush. A write sees the writes queued before it (a second `remember` of one comment in the same
/// batch finds the first). If any write in a batch fails, the batch is aborted and every caller in it
/// gets the error (and may retry). That costs little: a write fails only when redb does (our writes
/// have no failure of their own; a storage error leaves the transaction unusable for the rest of the
/// batch anyway), and every write a check makes is safe to retry.
fn writer(db: Arc<Database>, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let txn = match db.begin_write() {
            Ok(txn) => txn,
            Err(e) => {
                // No transaction: nothing runs. Dropping a job drops its answer channel, and its caller
                // hears that the write was dropped (UNAVAILABLE).
                tracing::error!(error = %e, "embedded store: cannot begin a write");
                drop(batch);
                continue;
            }
        };
        let mut all_ok = true;
        let mut finishers = Vec::with_capacity(batch.len());
        for job in batch {
            let (ok, finish) = job(&txn);
            all_ok &= ok;
            finishers.push(finish);
        }
        // A failed commit answers every write in the batch, so its error is shared.
        let failed_commit = if all_ok {
            txn.commit().err().map(|e| Arc::new(redb::Error::from(e)))
        } else {
            let _ = txn.abort();
            None
        };
        for finish in finishers {
            finish(match (&failed_commit, all_ok) {
                (None, true) => Ok(()),
                (None, false) => Err(Error::BatchAborted),
                (Some(e), _) => Err(Error::Database(e.clone())),
            });
        }
    }
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
        txn.open_table(RESOLUTIONS)?;
        txn.open_table(PENDING)?;
        txn.open_table(HELD_COMMENTS)?;
        txn.open_table(COUNTERS)?;
        txn.open_table(AUDIT)?;
        txn.open_table(EVENTS)?;
        txn.open_table(LABELS)?;
        txn.open_table(DECISIONS)?;
        txn.open_table(DECISION_COMMENTS)?;
        txn.open_table(TRUST)?;
        txn.open_table(API_KEYS)?;
        txn.open_table(DAILY)?;
        txn.open_table(OVERLAY_COUNTS)?;
        txn.open_table(OVERLAY_USE)?;
        txn.open_table(OVERLAY_CONTRIB)?;
        txn.open_table(OVERLAY_META)?;
        txn.open_table(OVERLAY_BY)?;
        txn.commit()?;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel();
        let for_writer = db.clone();
        let thread = std::thread::Builder::new()
            .name("saring-embedded-writer".into())
            .spawn(move || writer(for_writer, rx))
            .map_err(redb::Error::Io)?;
        Ok(EmbeddedStore {
            buckets: Arc::default(),
            db,
            remembered_writes: Arc::default(),
            writer: Arc::new(Writer {
                jobs: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// Run a write in the next batch (see [`writer`]); answers once the batch is durable.
    async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&redb::WriteTransaction) -> Result<T, redb::Error> + Send + 'static,
    ) -> Result<T, Error> {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, Error>>();
        let job: Job = Box::new(move |txn| {
            let result = op(txn);
            let ok = result.is_ok();
            let finish: Answer = Box::new(move |committed| {
                // This write's own error comes first; a batch aborted for another write says so.
                let answer = match (result, committed) {
                    (Err(own), _) => Err(Error::from(own)),
                    (Ok(_), Err(batch)) => Err(batch),
                    (Ok(value), Ok(())) => Ok(value),
                };
                let _ = tx.send(answer);
            });
            (ok, finish)
        });
        self.submit(job)?;
        rx.await
            .map_err(|_| Error::Broken("its writer dropped a write"))?
    }

    /// Queue a write for the next batch without waiting for it: for tallies a check must not wait a
    /// disk flush for. It is committed with the next batch (or its own, at once, when none is waiting);
    /// a later [`EmbeddedStore::write`] is ordered after it, so reading through the writer sees it.
    fn write_detached(
        &self,
        op: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error> + Send + 'static,
    ) -> Result<(), Error> {
        let job: Job = Box::new(move |txn| {
            let ok = match op(txn) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "embedded store: a tally could not be written");
                    false
                }
            };
            let finish: Answer = Box::new(|_| {});
            (ok, finish)
        });
        self.submit(job)
    }

    /// Hand a job to the writer thread.
    fn submit(&self, job: Job) -> Result<(), Error> {
        self.writer
            .jobs
            .lock()
            .map_err(|_| Error::Broken("a lock is poisoned"))?
            .as_ref()
            .ok_or(Error::Broken("it is closing"))?
            .send(job)
            .map_err(|_| Error::Broken("its writer has stopped"))
    }

    fn lock_buckets(&self) -> Result<std::sync::MutexGuard<'_, Buckets>, Error> {
        // A poisoned lock means a panic mid-update; refuse rather than serve half-written state.
        self.buckets
            .lock()
            .map_err(|_| Error::Broken("a lock is poisoned"))
    }

    /// Run a redb operation off the async runtime: commits wait for the disk.
    async fn blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Database) -> Result<T, redb::Error> + Send + 'static,
    ) -> Result<T, Error> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || op(&db))
            .await
            .map_err(|_| Error::Broken("a read task panicked or was cancelled"))?
            .map_err(Error::from)
    }
}

fn bucket_key(site: &str, b: &Bucket) -> String {
    format!("{site}\u{0}{}\u{0}{}", b.dimension.as_str(), b.subject)
}

/// A key within a site: a comment id (counted and remembered decisions) or a held id.
fn site_key(site: &str, id: &str) -> String {
    format!("{site}\u{0}{id}")
}

/// The next number of a site's counter, within a write transaction.
fn next_number(txn: &redb::WriteTransaction, site: &str, name: &str) -> Result<u64, redb::Error> {
    let mut counters = txn.open_table(COUNTERS)?;
    let key = site_key(site, name);
    let next = counters.get(key.as_str())?.map_or(0, |v| v.value()) + 1;
    counters.insert(key.as_str(), next)?;
    Ok(next)
}

/// Append to a site's audit log or event feed; the event feed keeps its latest entries only.
fn append(
    txn: &redb::WriteTransaction,
    site: &str,
    log: TableDefinition<'_, (&str, u64), &[u8]>,
    bytes: &[u8],
) -> Result<(), redb::Error> {
    let n = next_number(txn, site, log.name())?;
    let mut table = txn.open_table(log)?;
    table.insert((site, n), bytes)?;
    if log.name() == EVENTS.name() && n > EVENT_FEED_LEN {
        table.remove((site, n - EVENT_FEED_LEN))?;
    }
    Ok(())
}

/// Cursors look like Redis stream ids (`0-N`) so the queue treats both stores' cursors alike.
fn cursor(n: u64) -> String {
    format!("0-{n}")
}

fn cursor_number(cursor: &str) -> u64 {
    cursor
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Read a site's log after a cursor.
fn read_log(
    db: &Database,
    site: &str,
    log: TableDefinition<'_, (&str, u64), &[u8]>,
    after: u64,
    limit: usize,
) -> Result<Vec<Entry>, redb::Error> {
    let txn = db.begin_read()?;
    let table = txn.open_table(log)?;
    let mut out = Vec::new();
    for row in table
        .range((site, after.saturating_add(1))..=(site, u64::MAX))?
        .take(limit)
    {
        let (k, v) = row?;
        out.push((cursor(k.value().1), v.value().to_vec()));
    }
    Ok(out)
}

fn held_record(
    txn: &redb::ReadTransaction,
    site: &str,
    held_id: &str,
) -> Result<Option<HeldRecord>, redb::Error> {
    held_in(
        &txn.open_table(HELD)?,
        &txn.open_table(RESOLUTIONS)?,
        site,
        held_id,
    )
}

/// A held item from the held and resolution tables of any transaction, read or write.
fn held_in(
    held: &impl ReadableTable<&'static str, &'static [u8]>,
    resolutions: &impl ReadableTable<&'static str, &'static [u8]>,
    site: &str,
    held_id: &str,
) -> Result<Option<HeldRecord>, redb::Error> {
    let key = site_key(site, held_id);
    let Some(value) = held.get(key.as_str())? else {
        return Ok(None);
    };
    let value = value.value();
    let (seq, item) = value.split_at_checked(8).unwrap_or((&[0; 8], &[]));
    let resolution = resolutions
        .get(key.as_str())?
        .and_then(|v| v.value().get(4..).map(<[u8]>::to_vec));
    Ok(Some(HeldRecord {
        held_id: held_id.to_string(),
        item: item.to_vec(),
        sequence: u64::from_le_bytes(seq.try_into().unwrap_or([0; 8])),
        resolution,
    }))
}

/// The response in a stored value, if it has not expired at `now_us`.
fn live(value: &[u8], now_us: u64) -> Option<Vec<u8>> {
    let (expiry, response) = value.split_at_checked(8)?;
    let expiry = u64::from_le_bytes(expiry.try_into().ok()?);
    (expiry > now_us).then(|| response.to_vec())
}

impl Backend for EmbeddedStore {
    async fn ping(&self) -> Result<(), Error> {
        self.lock_buckets().map(drop)
    }

    async fn persistence(&self) -> Result<Durability, Error> {
        // Every write is one durable redb transaction, committed before it is answered.
        Ok(Durability::Durable)
    }

    async fn begin(&self, site: &str, begin: &Begin<'_>) -> Result<Began, Error> {
        let now_us = begin.now_us;
        // The durable reads first, off the runtime, in one read transaction.
        let recall_key = begin.recall.map(|comment_id| site_key(site, comment_id));
        let author_key = begin.standing.map(|author| site_key(site, author));
        let overlay_site = begin.overlay.then(|| site.to_string());
        let (recalled, standing, overlay) =
            if recall_key.is_some() || author_key.is_some() || overlay_site.is_some() {
                self.blocking(move |db| {
                    let txn = db.begin_read()?;
                    if let Some(key) = recall_key {
                        let table = txn.open_table(REMEMBERED)?;
                        let recalled = table
                            .get(key.as_str())?
                            .and_then(|v| live(v.value(), now_us));
                        if recalled.is_some() {
                            return Ok((recalled, None, None));
                        }
                    }
                    let standing = match author_key {
                        Some(key) => Some(
                            txn.open_table(TRUST)?
                                .get(key.as_str())?
                                .map(|v| decode_standing(v.value()))
                                .unwrap_or_default(),
                        ),
                        None => None,
                    };
                    let overlay = match overlay_site {
                        Some(site) => {
                            let meta = txn
                                .open_table(OVERLAY_META)?
                                .get(site.as_str())?
                                .map(|v| Meta::decode(v.value()))
                                .unwrap_or_default();
                            Some((meta.version, !meta.off))
                        }
                        None => None,
                    };
                    Ok((None, standing, overlay))
                })
                .await?
            } else {
                (None, None, None)
            };
        if recalled.is_some() {
            return Ok(Began {
                recalled,
                ..Began::default()
            });
        }
        let mut state = self.lock_buckets()?;
        let admission = begin.admit.map(|a| admit_in(&mut state, site, a, now_us));
        if matches!(admission, Some(Admission::Refused { .. })) {
            return Ok(Began {
                admission,
                ..Began::default()
            });
        }
        let sighting = begin
            .sighting
            .map(|b| sight_in(&mut state, site, b, now_us));
        Ok(Began {
            recalled: None,
            admission,
            sighting,
            standing,
            overlay,
        })
    }

    async fn finish(&self, site: &str, finish: Finish) -> Result<Finished, Error> {
        let site = site.to_string();
        if finish.hold.is_none() && finish.remember.is_none() {
            // A tally alone is not worth a disk flush to the check: it rides with the next batch.
            if let Some((day, index)) = finish.tally {
                self.write_detached(move |txn| tally_in(txn, &site, day, index))?;
            }
            return Ok(Finished::default());
        }
        let sweep = finish.remember.is_some() && {
            let mut n = self
                .remembered_writes
                .lock()
                .map_err(|_| Error::Broken("a lock is poisoned"))?;
            *n += 1;
            n.is_multiple_of(SWEEP_EVERY)
        };
        self.write(move |txn| {
            let mut done = Finished::default();
            if let Some(h) = &finish.hold {
                let hold = hold_in(txn, &site, h)?;
                let existing = matches!(hold, Hold::Existing(_));
                done.hold = Some(hold);
                if existing {
                    return Ok(done);
                }
            }
            if let Some((day, index)) = finish.tally {
                tally_in(txn, &site, day, index)?;
            }
            if let Some(r) = &finish.remember {
                done.remembered = Some(remember_in(txn, &site, r, finish.now_us, sweep)?);
            }
            Ok(done)
        })
        .await
    }

    async fn held(&self, site: &str, held_id: &str) -> Result<Option<HeldRecord>, Error> {
        let (site, held_id) = (site.to_string(), held_id.to_string());
        self.blocking(move |db| held_record(&db.begin_read()?, &site, &held_id))
            .await
    }

    async fn pending(
        &self,
        site: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<HeldRecord>, Error> {
        let site = site.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let pending = txn.open_table(PENDING)?;
            let mut out = Vec::new();
            let from = (site.as_str(), after.saturating_add(1));
            for row in pending.range(from..=(site.as_str(), u64::MAX))?.take(limit) {
                let (_, id) = row?;
                if let Some(record) = held_record(&txn, &site, id.value())? {
                    out.push(record);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn pending_count(&self, site: &str) -> Result<u64, Error> {
        let site = site.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let pending = txn.open_table(PENDING)?;
            let mut n = 0;
            for row in pending.range((site.as_str(), 0)..=(site.as_str(), u64::MAX))? {
                row?;
                n += 1;
            }
            Ok(n)
        })
        .await
    }

    async fn daily(&self, site: &str, from: u64, to: u64) -> Result<Vec<(u64, [u64; 3])>, Error> {
        let site = site.to_string();
        // Read through the writer, so every tally queued before (without waiting) is seen.
        self.write(move |txn| {
            let table = txn.open_table(DAILY)?;
            let mut out = Vec::new();
            for row in table.range((site.as_str(), from)..=(site.as_str(), to))? {
                let (k, v) = row?;
                out.push((k.value().1, decode_daily(v.value())));
            }
            Ok(out)
        })
        .await
    }

    async fn resolve(&self, site: &str, held_id: &str, r: Resolve) -> Result<Resolved, Error> {
        let (site, held_id) = (site.to_string(), held_id.to_string());
        self.write(move |txn| {
            let key = site_key(&site, &held_id);
            let sequence = match txn.open_table(HELD)?.get(key.as_str())? {
                None => return Ok(Resolved::NotFound),
                Some(v) => v
                    .value()
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, u64::from_le_bytes),
            };
            let standing = txn
                .open_table(RESOLUTIONS)?
                .get(key.as_str())?
                .map(|v| v.value().to_vec());
            if let Some(standing) = standing {
                let verdict = standing
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(i32::from_le_bytes);
                let resolution = standing.get(4..).unwrap_or_default().to_vec();
                return Ok(if verdict == Some(r.verdict) {
                    Resolved::Same(resolution)
                } else {
                    Resolved::Conflict(resolution)
                });
            }
            {
                let mut value = r.verdict.to_le_bytes().to_vec();
                value.extend_from_slice(&r.resolution);
                txn.open_table(RESOLUTIONS)?
                    .insert(key.as_str(), value.as_slice())?;
                txn.open_table(PENDING)?.remove((site.as_str(), sequence))?;
                if let Some((decision_id, label)) = &r.label {
                    txn.open_table(LABELS)?
                        .insert(site_key(&site, decision_id).as_str(), label.as_slice())?;
                }
                if let Some(t) = &r.trust {
                    change_standing(txn, &site, t)?;
                }
            }
            append(txn, &site, AUDIT, &r.audit)?;
            append(txn, &site, EVENTS, &r.event)?;
            let taught = match (&r.label, &r.lesson) {
                (Some((decision_id, _)), Some(lesson)) => {
                    Some(teach_in(txn, &site, decision_id, lesson)?)
                }
                _ => None,
            };
            Ok(Resolved::Done(taught))
        })
        .await
    }

    async fn feedback(&self, site: &str, f: Feedback) -> Result<Kept, Error> {
        let site = site.to_string();
        self.write(move |txn| {
            let replaced = txn
                .open_table(LABELS)?
                .insert(site_key(&site, &f.decision_id).as_str(), f.label.as_slice())?
                .is_some();
            if let Some(t) = &f.trust {
                change_standing(txn, &site, t)?;
            }
            append(txn, &site, AUDIT, &f.audit)?;
            let taught = f
                .lesson
                .as_ref()
                .map(|lesson| teach_in(txn, &site, &f.decision_id, lesson))
                .transpose()?;
            Ok(Kept { replaced, taught })
        })
        .await
    }

    async fn overlay(&self, site: &str) -> Result<OverlayCounts, Error> {
        let site = site.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let meta = txn
                .open_table(OVERLAY_META)?
                .get(site.as_str())?
                .map(|v| Meta::decode(v.value()))
                .unwrap_or_default();
            let mut counts = Vec::new();
            let table = txn.open_table(OVERLAY_COUNTS)?;
            for row in table.range((site.as_str(), "")..)? {
                let (k, v) = row?;
                let (s, feature) = k.value();
                if s != site {
                    break;
                }
                let [spam, ham] = decode_pair(v.value());
                counts.push((feature.to_string(), spam, ham));
            }
            Ok(OverlayCounts {
                version: meta.version,
                disabled: meta.off,
                spam_labels: meta.spam,
                ham_labels: meta.ham,
                counts,
            })
        })
        .await
    }

    async fn reset_overlay(&self, site: &str) -> Result<u64, Error> {
        let site = site.to_string();
        self.write(move |txn| {
            let mut meta = Meta::read(txn, &site)?;
            txn.open_table(OVERLAY_COUNTS)?.retain_in(
                (site.as_str(), "")..=(site.as_str(), "\u{10FFFF}"),
                |_, _| false,
            )?;
            txn.open_table(OVERLAY_USE)?.retain_in(
                (site.as_str(), 0, "")..=(site.as_str(), u64::MAX, "\u{10FFFF}"),
                |_, _| false,
            )?;
            txn.open_table(OVERLAY_CONTRIB)?.retain_in(
                (site.as_str(), "")..=(site.as_str(), "\u{10FFFF}"),
                |_, _| false,
            )?;
            txn.open_table(OVERLAY_BY)?.retain_in(
                (site.as_str(), "")..=(site.as_str(), "\u{10FFFF}"),
                |_, _| false,
            )?;
            meta = Meta {
                version: meta.version + 1,
                off: meta.off,
                ..Meta::default()
            };
            meta.write(txn, &site)?;
            Ok(meta.version)
        })
        .await
    }

    async fn set_overlay(&self, site: &str, enabled: bool) -> Result<u64, Error> {
        let site = site.to_string();
        self.write(move |txn| {
            let mut meta = Meta::read(txn, &site)?;
            meta.off = !enabled;
            meta.version += 1;
            meta.write(txn, &site)?;
            Ok(meta.version)
        })
        .await
    }

    async fn labels(&self, site: &str) -> Result<Vec<Vec<u8>>, Error> {
        let prefix = site_key(site, "");
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(LABELS)?;
            let mut out = Vec::new();
            for row in table.range(prefix.as_str()..)? {
                let (k, v) = row?;
                if !k.value().starts_with(&prefix) {
                    break;
                }
                out.push(v.value().to_vec());
            }
            Ok(out)
        })
        .await
    }

    async fn decision(
        &self,
        site: &str,
        decision_id: &str,
        now_us: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        let key = site_key(site, decision_id);
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(DECISIONS)?;
            Ok(table
                .get(key.as_str())?
                .and_then(|v| live(v.value(), now_us)))
        })
        .await
    }

    async fn decision_for_comment(
        &self,
        site: &str,
        comment_id: &str,
        now_us: u64,
    ) -> Result<Option<String>, Error> {
        let key = site_key(site, comment_id);
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(DECISION_COMMENTS)?;
            Ok(table
                .get(key.as_str())?
                .and_then(|v| live(v.value(), now_us))
                .map(|id| String::from_utf8_lossy(&id).into_owned()))
        })
        .await
    }

    async fn audit(&self, site: &str, after: &str, limit: usize) -> Result<Vec<Entry>, Error> {
        let (site, after) = (site.to_string(), cursor_number(after));
        self.blocking(move |db| read_log(db, &site, AUDIT, after, limit))
            .await
    }

    async fn events(&self, site: &str, after: &str, limit: usize) -> Result<Vec<Entry>, Error> {
        let (site, after) = (site.to_string(), cursor_number(after));
        self.blocking(move |db| read_log(db, &site, EVENTS, after, limit))
            .await
    }

    async fn events_tail(&self, site: &str) -> Result<String, Error> {
        let key = site_key(site, EVENTS.name());
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let n = txn
                .open_table(COUNTERS)?
                .get(key.as_str())?
                .map_or(0, |v| v.value());
            Ok(cursor(n))
        })
        .await
    }

    async fn key(&self, id: &str) -> Result<Option<Vec<u8>>, Error> {
        let id = id.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(API_KEYS)?;
            Ok(table.get(id.as_str())?.map(|v| v.value().to_vec()))
        })
        .await
    }

    async fn keys(&self) -> Result<Vec<Vec<u8>>, Error> {
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(API_KEYS)?;
            let mut out = Vec::new();
            for row in table.iter()? {
                out.push(row?.1.value().to_vec());
            }
            Ok(out)
        })
        .await
    }

    async fn put_key(&self, id: &str, key: Vec<u8>) -> Result<(), Error> {
        let id = id.to_string();
        self.write(move |txn| {
            txn.open_table(API_KEYS)?
                .insert(id.as_str(), key.as_slice())?;
            Ok(())
        })
        .await
    }

    async fn bootstrap_keys(&self, keys: Vec<(String, Vec<u8>)>) -> Result<bool, Error> {
        self.write(move |txn| {
            let mut table = txn.open_table(API_KEYS)?;
            if !table.is_empty()? {
                return Ok(false);
            }
            for (id, key) in &keys {
                table.insert(id.as_str(), key.as_slice())?;
            }
            Ok(true)
        })
        .await
    }
}

/// Count a request against every bucket, all or nothing (see `Admit`).
fn admit_in(state: &mut Buckets, site: &str, admit: Admit<'_>, now_us: u64) -> Admission {
    let once_key = admit.once.map(|o| (site_key(site, o.comment_id), o.ttl_us));
    if let Some((k, _)) = &once_key {
        if state.counted.get(k).is_some_and(|until| *until > now_us) {
            return Admission::Admitted;
        }
    }
    let mut new_tats = Vec::with_capacity(admit.buckets.len());
    for b in admit.buckets {
        let k = bucket_key(site, b);
        let tat = state.tat.get(&k).copied().unwrap_or(0);
        match step(b, tat, now_us) {
            Step::Admit { tat_us } => new_tats.push((k, tat_us)),
            Step::Refuse { retry_after_us } => {
                return Admission::Refused {
                    dimension: b.dimension,
                    retry_after_us,
                    burst: b.limit.burst,
                    per_hour: b.limit.per_hour,
                }
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
        state.sightings.retain(|_, s| s.until > now_us);
    }
    Admission::Admitted
}

/// Count a sighting in every band; the highest estimate and its band.
fn sight_in(state: &mut Buckets, site: &str, bands: Bands<'_>, now_us: u64) -> (u64, String) {
    let window_us = bands.window_us;
    let (window, previous_share) = crate::moderation::campaign::window_at(window_us, now_us);
    let mut best = (0, String::new());
    for band in bands.bands {
        let s = state.sightings.entry(site_key(site, band)).or_default();
        if s.window != window {
            let previous = if s.window.wrapping_add(1) == window {
                s.this
            } else {
                0
            };
            *s = Sightings {
                window,
                this: 0,
                previous,
                until: (window.saturating_add(2)).saturating_mul(window_us.max(1)),
            };
        }
        s.this += 1;
        let count = crate::moderation::campaign::estimate(s.this, s.previous, previous_share);
        if count > best.0 {
            best = (count, band.clone());
        }
    }
    best
}

/// Keep a held item, once per comment id (see `Backend::finish`).
fn hold_in(txn: &redb::WriteTransaction, site: &str, h: &HoldWrite) -> Result<Hold, redb::Error> {
    let comment_key = site_key(site, &h.comment_id);
    if !h.comment_id.is_empty() {
        let standing = txn
            .open_table(HELD_COMMENTS)?
            .get(comment_key.as_str())?
            .map(|v| v.value().to_string());
        if let Some(standing) = standing {
            let record = held_in(
                &txn.open_table(HELD)?,
                &txn.open_table(RESOLUTIONS)?,
                site,
                &standing,
            )?;
            // A marker whose item is gone (deleted by hand) is stale: hold the comment again, below,
            // and the marker then points at the new item.
            if let Some(record) = record {
                return Ok(Hold::Existing(record));
            }
        }
    }
    let sequence = next_number(txn, site, "held")?;
    let mut value = sequence.to_le_bytes().to_vec();
    value.extend_from_slice(&h.item);
    let key = site_key(site, &h.held_id);
    txn.open_table(HELD)?
        .insert(key.as_str(), value.as_slice())?;
    txn.open_table(PENDING)?
        .insert((site, sequence), h.held_id.as_str())?;
    if !h.comment_id.is_empty() {
        txn.open_table(HELD_COMMENTS)?
            .insert(comment_key.as_str(), h.held_id.as_str())?;
    }
    append(txn, site, EVENTS, &h.event)?;
    Ok(Hold::Stored { sequence })
}

/// Add one to a slot of a site's tally of a day; a site's first decision of a day drops its tallies
/// past the retention.
fn tally_in(
    txn: &redb::WriteTransaction,
    site: &str,
    day: u64,
    index: usize,
) -> Result<(), redb::Error> {
    let mut table = txn.open_table(DAILY)?;
    let mut counts = table
        .get((site, day))?
        .map(|v| decode_daily(v.value()))
        .unwrap_or([0; 3]);
    if counts == [0; 3] {
        let old = day.saturating_sub(super::DAILY_RETENTION_DAYS);
        table.retain_in((site, 0)..(site, old), |_, _| false)?;
    }
    if let Some(c) = counts.get_mut(index) {
        *c += 1;
    }
    let bytes: Vec<u8> = counts.iter().flat_map(|c| c.to_le_bytes()).collect();
    table.insert((site, day), bytes.as_slice())?;
    Ok(())
}

/// Remember a response unless one is there, with its decision record; the response that stands. The
/// look-up and the insert are in one write transaction, so they are atomic together.
fn remember_in(
    txn: &redb::WriteTransaction,
    site: &str,
    r: &RememberWrite,
    now_us: u64,
    sweep: bool,
) -> Result<Vec<u8>, redb::Error> {
    let key = site_key(site, &r.comment_id);
    let mut table = txn.open_table(REMEMBERED)?;
    let existing = table
        .get(key.as_str())?
        .and_then(|v| live(v.value(), now_us));
    let standing = match existing {
        Some(standing) => standing,
        None => {
            let mut value = now_us.saturating_add(r.ttl_us).to_le_bytes().to_vec();
            value.extend_from_slice(&r.response);
            table.insert(key.as_str(), value.as_slice())?;
            if let Some(record) = &r.record {
                let expiry = now_us.saturating_add(record.ttl_us).to_le_bytes();
                let mut value = expiry.to_vec();
                value.extend_from_slice(&record.bytes);
                let record_key = site_key(site, &record.decision_id);
                txn.open_table(DECISIONS)?
                    .insert(record_key.as_str(), value.as_slice())?;
                let mut value = expiry.to_vec();
                value.extend_from_slice(record.decision_id.as_bytes());
                txn.open_table(DECISION_COMMENTS)?
                    .insert(key.as_str(), value.as_slice())?;
            }
            r.response.clone()
        }
    };
    if sweep {
        table.retain(|_, v| live(v, now_us).is_some())?;
        txn.open_table(DECISIONS)?
            .retain(|_, v| live(v, now_us).is_some())?;
        txn.open_table(DECISION_COMMENTS)?
            .retain(|_, v| live(v, now_us).is_some())?;
    }
    Ok(standing)
}

/// A site's overlay totals and switches, as one record of `OVERLAY_META`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Meta {
    spam: u64,
    ham: u64,
    version: u64,
    off: bool,
    /// The hour (since the epoch) `taught` counts labels in.
    hour: u64,
    taught: u64,
    /// Features the overlay knows.
    features: u64,
}

impl Meta {
    fn decode(v: &[u8]) -> Meta {
        let at = |i: usize| {
            v.get(i * 8..i * 8 + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_le_bytes)
        };
        Meta {
            spam: at(0),
            ham: at(1),
            version: at(2),
            off: at(3) == 1,
            hour: at(4),
            taught: at(5),
            features: at(6),
        }
    }

    fn read(txn: &redb::WriteTransaction, site: &str) -> Result<Meta, redb::Error> {
        Ok(txn
            .open_table(OVERLAY_META)?
            .get(site)?
            .map(|v| Meta::decode(v.value()))
            .unwrap_or_default())
    }

    fn write(&self, txn: &redb::WriteTransaction, site: &str) -> Result<(), redb::Error> {
        let fields = [
            self.spam,
            self.ham,
            self.version,
            u64::from(self.off),
            self.hour,
            self.taught,
            self.features,
        ];
        let bytes: Vec<u8> = fields.iter().flat_map(|f| f.to_le_bytes()).collect();
        txn.open_table(OVERLAY_META)?
            .insert(site, bytes.as_slice())?;
        Ok(())
    }
}

fn decode_pair(v: &[u8]) -> [u64; 2] {
    let at = |i: usize| {
        v.get(i * 8..i * 8 + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    [at(0), at(1)]
}

/// Add `step` (±1) to one class's count of `feature`, keeping the use index (spam + ham) in step and
/// dropping a feature whose counts reach zero; whether the feature knew the class at all.
fn count_in(
    txn: &redb::WriteTransaction,
    site: &str,
    feature: &str,
    spam: bool,
    step: i64,
    meta: &mut Meta,
) -> Result<bool, redb::Error> {
    let mut counts = txn.open_table(OVERLAY_COUNTS)?;
    let mut uses = txn.open_table(OVERLAY_USE)?;
    let [s, h] = counts
        .get((site, feature))?
        .map(|v| decode_pair(v.value()))
        .unwrap_or([0, 0]);
    let mine = if spam { s } else { h };
    if step < 0 && mine == 0 {
        return Ok(false);
    }
    let mine = if step < 0 { mine - 1 } else { mine + 1 };
    let (s2, h2) = if spam { (mine, h) } else { (s, mine) };
    if s + h > 0 {
        uses.remove((site, s + h, feature))?;
    } else {
        meta.features += 1;
    }
    if s2 + h2 == 0 {
        counts.remove((site, feature))?;
        meta.features = meta.features.saturating_sub(1);
    } else {
        let bytes: Vec<u8> = [s2, h2].iter().flat_map(|c| c.to_le_bytes()).collect();
        counts.insert((site, feature), bytes.as_slice())?;
        uses.insert((site, s2 + h2, feature), ())?;
    }
    Ok(true)
}

/// What a label under `decision_id` teaches the site's overlay (the same steps as Redis's `teach`).
fn teach_in(
    txn: &redb::WriteTransaction,
    site: &str,
    decision_id: &str,
    lesson: &Lesson,
) -> Result<Taught, redb::Error> {
    let mut meta = Meta::read(txn, site)?;
    let before = meta.version;
    let mut changed = false;
    let mut unlearned = None;
    let old = txn
        .open_table(OVERLAY_CONTRIB)?
        .remove((site, decision_id))?
        .map(|v| String::from_utf8_lossy(v.value()).into_owned());
    if let Some(old) = old {
        changed = true;
        let mut parts = old.splitn(3, '|');
        let (class, who, features) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let spam = class == "s";
        if spam {
            meta.spam = meta.spam.saturating_sub(1);
        } else {
            meta.ham = meta.ham.saturating_sub(1);
        }
        if !who.is_empty() {
            let mut by = txn.open_table(OVERLAY_BY)?;
            let n = by.get((site, who))?.map_or(0, |v| v.value());
            if n <= 1 {
                by.remove((site, who))?;
            } else {
                by.insert((site, who), n - 1)?;
            }
        }
        let features: Vec<String> = features
            .split('\n')
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect();
        for f in &features {
            count_in(txn, site, f, spam, -1, &mut meta)?;
        }
        unlearned = Some((spam, features));
    }
    let mut learned = false;
    let mut evicted = false;
    if !meta.off {
        let hour = lesson.now_us / 3_600_000_000;
        let mut allowed = true;
        if lesson.max_per_hour > 0 {
            let taught = if meta.hour == hour { meta.taught } else { 0 };
            if taught >= u64::from(lesson.max_per_hour) {
                allowed = false;
            } else {
                meta.hour = hour;
                meta.taught = taught + 1;
            }
        }
        let who = lesson.reporter.as_str();
        if allowed && !who.is_empty() && lesson.max_per_reporter > 0 {
            let n = txn
                .open_table(OVERLAY_BY)?
                .get((site, who))?
                .map_or(0, |v| v.value());
            allowed = n < u64::from(lesson.max_per_reporter);
        }
        if allowed {
            changed = true;
            learned = true;
            let record = format!(
                "{}|{who}|{}",
                if lesson.spam { "s" } else { "h" },
                lesson.features.join("\n")
            );
            txn.open_table(OVERLAY_CONTRIB)?
                .insert((site, decision_id), record.as_bytes())?;
            if lesson.spam {
                meta.spam += 1;
            } else {
                meta.ham += 1;
            }
            if !who.is_empty() {
                let mut by = txn.open_table(OVERLAY_BY)?;
                let n = by.get((site, who))?.map_or(0, |v| v.value());
                by.insert((site, who), n + 1)?;
            }
            for f in &lesson.features {
                count_in(txn, site, f, lesson.spam, 1, &mut meta)?;
            }
            // Forget the least used features (fewest labels, then by name) beyond the bound.
            while meta.features > u64::from(lesson.max_features) {
                let least = txn
                    .open_table(OVERLAY_USE)?
                    .range((site, 0, "")..=(site, u64::MAX, "\u{10FFFF}"))?
                    .next()
                    .transpose()?
                    .map(|(k, _)| k.value().2.to_string());
                let Some(least) = least else { break };
                let mut counts = txn.open_table(OVERLAY_COUNTS)?;
                let [s, h] = counts
                    .remove((site, least.as_str()))?
                    .map(|v| decode_pair(v.value()))
                    .unwrap_or([0, 0]);
                txn.open_table(OVERLAY_USE)?
                    .remove((site, s + h, least.as_str()))?;
                meta.features = meta.features.saturating_sub(1);
                evicted = true;
            }
        }
    }
    if changed {
        meta.version += 1;
    }
    meta.write(txn, site)?;
    Ok(Taught {
        before,
        after: meta.version,
        unlearned,
        learned,
        evicted,
    })
}

fn decode_daily(v: &[u8]) -> [u64; 3] {
    let at = |i: usize| {
        v.get(i * 8..i * 8 + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    [at(0), at(1), at(2)]
}

fn decode_standing(v: &[u8]) -> Standing {
    Standing {
        approved: v
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes),
        spam: v.get(8).is_some_and(|b| *b != 0),
    }
}

fn change_standing(
    txn: &redb::WriteTransaction,
    site: &str,
    t: &super::TrustUpdate,
) -> Result<(), redb::Error> {
    let mut table = txn.open_table(TRUST)?;
    let key = site_key(site, &t.author);
    let mut s = table
        .get(key.as_str())?
        .map(|v| decode_standing(v.value()))
        .unwrap_or_default();
    if t.approved {
        s.approved += 1;
    } else {
        s.spam = true;
    }
    let mut value = s.approved.to_le_bytes().to_vec();
    value.push(u8::from(s.spam));
    table.insert(key.as_str(), value.as_slice())?;
    Ok(())
}
