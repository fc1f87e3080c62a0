//! Where shared state lives: rate-limit buckets, remembered decisions (idempotency), held comments and
//! their resolutions, the audit log and event feed, labelled examples, authors' standing, campaign
//! counts and API keys.
//!
//! [`Store`] is the one way in. Its methods take and give domain types (the `pb` messages the state is
//! made of); it encodes and decodes them, so a record that does not decode is [`Error::Corrupt`] in one
//! place. It also owns the store's health and time limits: the server's monitor records whether the
//! store answers ([`Store::check_health`]), and while it does not, the operations on a check's path and
//! key look-ups fail at once with [`Error::Down`] instead of each waiting out its limit.
//!
//! Behind it, one of two implementations of [`backend::Backend`], which keep encoded records: the
//! [`embedded::EmbeddedStore`] (a redb file, the default when no Redis is configured) and the
//! [`redis::RedisStore`] (several replicas sharing one Redis). Both behave alike; `tests/it/store.rs` runs
//! one behavioural suite against each.

mod backend;
pub mod durability;
pub mod embedded;
pub mod redis;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;

use crate::config::{redact_url, Config};
use crate::metrics::{Metrics, StoreFailure};
use crate::moderation::ratelimit::{Admission, Bucket};
use crate::pb;
use backend::Backend;
use durability::Durability;

/// A key look-up's limit: a request must not wait long on a store that stopped answering, and a cached
/// key (see `access::auth`) can carry the request meanwhile.
pub const KEY_LOOKUP_LIMIT: Duration = Duration::from_millis(250);

/// Shortest limit of a health ping: a store that answers checks within their limit may still take a
/// little longer for a ping while it is busy, and a false "down" would degrade every check.
pub const MIN_PING_LIMIT: Duration = Duration::from_millis(500);

/// Limit of the moderator's operations on Redis: they move more data than a check (a page of the
/// queue, a whole site's labels) and nobody waits on them in a hot path.
pub const QUEUE_LIMIT: Duration = Duration::from_secs(5);

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store's last health check failed, so the operation was not tried.
    #[error("the store is down")]
    Down,
    /// The store did not answer within the operation's limit.
    #[error("the store did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis refused the operation or could not be reached.
    #[error("redis failed")]
    Redis(#[from] ::redis::RedisError),
    /// The embedded database failed. Shared, because one failed group commit answers every write in it.
    #[error("the embedded database failed")]
    Database(#[source] Arc<redb::Error>),
    /// Another write in the embedded store's group commit failed, so nothing of the batch was written.
    #[error("another write committed with this one failed; nothing was written")]
    BatchAborted,
    /// The embedded store cannot work (it is closing, or a lock was poisoned by a panic).
    #[error("the embedded store is unusable: {0}")]
    Broken(&'static str),
    /// The state changed under a multi-step operation (an item deleted by hand mid-way); a retry sees
    /// the new state.
    #[error("the store changed during the operation: {0}")]
    Changed(&'static str),
    /// A stored record does not decode: retrying will not help.
    #[error("a stored {what} is corrupt")]
    Corrupt {
        /// Which kind of record.
        what: &'static str,
        /// The decoder's complaint.
        #[source]
        source: prost::DecodeError,
    },
    /// The store answered something saring does not understand (a record it did not write).
    #[error("the store answered unexpectedly: {0}")]
    Unexpected(String),
    /// `redis_durability = "require"` and the store could lose this write once answered, so it was
    /// not made. Transient: it passes once the store's persistence is fixed.
    #[error("the store could lose it: {0}")]
    NotDurable(&'static str),
}

impl Error {
    /// Whether trying again later may succeed: the store was down or slow, not its data wrong.
    pub fn is_transient(&self) -> bool {
        !matches!(self, Error::Corrupt { .. } | Error::Unexpected(_))
    }
}

impl From<redb::Error> for Error {
    fn from(e: redb::Error) -> Self {
        Error::Database(Arc::new(e))
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The embedded store's file could not be opened.
    #[error("opening the embedded store in {dir}")]
    Embedded {
        /// The data directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: embedded::OpenError,
    },
    /// The Redis URL is not usable.
    #[error("connecting to redis at {url}")]
    Redis {
        /// The URL, with any password redacted.
        url: String,
        /// Why.
        #[source]
        source: Error,
    },
}

/// Makes an admission count at most once per comment: a retry of a comment already counted (within
/// `ttl_us`) is admitted without charging any bucket again, even when it arrives while the first attempt
/// is still being decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Once<'a> {
    /// The blog's comment id.
    pub comment_id: &'a str,
    /// How long the comment is remembered as counted, in microseconds.
    pub ttl_us: u64,
}

/// A change to an author's standing on a site, keyed by a hash of the normalised e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustUpdate {
    /// The author key (see `trust::author_key`).
    pub author: String,
    /// Approved (counts towards trust) or marked spam (rules trust out for good).
    pub approved: bool,
}

/// An author's standing on a site.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    /// Comments approved by a moderator.
    pub approved: u64,
    /// A moderator or the blog has called one of the author's comments spam.
    pub spam: bool,
}

/// What [`Store::hold`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Hold {
    /// Stored as a new item at this sequence.
    Stored {
        /// Its position in the queue.
        sequence: u64,
    },
    /// The comment id was already held (a retry that raced the first attempt): nothing was written and
    /// this is the item that stands.
    Existing(Box<pb::HeldItem>),
}

/// One resolution and everything written together with it.
#[derive(Debug, Clone)]
pub struct Resolve {
    /// The resolution (its verdict tells a repeat from a conflict).
    pub resolution: pb::Resolution,
    /// Appended to the audit log.
    pub audit: pb::AuditEntry,
    /// Appended to the event feed.
    pub event: pb::QueueEvent,
    /// A labelled example, kept under its decision id (none for REJECT_OTHER, nor for a recheck).
    pub label: Option<pb::LabelledExample>,
    /// What the verdict teaches about the author, if the comment had an e-mail address.
    pub trust: Option<TrustUpdate>,
    /// What the label teaches the site's overlay, written with it (with a label only).
    pub lesson: Option<Lesson>,
}

/// What a label teaches a site's overlay (`model::overlay`), written in the same operation as the
/// label. A label kept under a decision id that already had one first takes back exactly what the
/// earlier one taught.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lesson {
    /// The label's class.
    pub spam: bool,
    /// The comment's features the overlay learns (`model::overlay::lesson`).
    pub features: Vec<String>,
    /// Who taught it: the API key's id (empty with keys off).
    pub reporter: String,
    /// Most features the site's overlay keeps; past it the least used are forgotten.
    pub max_features: u32,
    /// Most labels that may teach the site's overlay in one hour (0: no bound).
    pub max_per_hour: u32,
    /// Most labels one reporter may have teaching it at once (0: no bound).
    pub max_per_reporter: u32,
    /// Now, in microseconds since the epoch (for the hourly bound).
    pub now_us: u64,
}

/// What teaching a site's overlay did, so that the replica that wrote it can follow without reading
/// the overlay again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taught {
    /// The overlay's version before the write.
    pub before: u64,
    /// Its version after (the same when nothing changed).
    pub after: u64,
    /// The earlier label's class and features, taken back.
    pub unlearned: Option<(bool, Vec<String>)>,
    /// Whether the new label taught (it may not: the overlay is off, or a bound was reached).
    pub learned: bool,
    /// Whether features were forgotten to stay within `max_features` (the counts then changed beyond
    /// this label: read the overlay again).
    pub evicted: bool,
}

/// A site's overlay as the store keeps it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OverlayCounts {
    /// Its version: every change adds one.
    pub version: u64,
    /// Whether an admin turned it off.
    pub disabled: bool,
    /// Spam labels teaching it.
    pub spam_labels: u64,
    /// Ham labels teaching it.
    pub ham_labels: u64,
    /// Each feature with the spam and ham labels carrying it.
    pub counts: Vec<(String, u64, u64)>,
}

/// What [`Store::feedback`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    /// An earlier label for the same decision was replaced.
    pub replaced: bool,
    /// What the label taught the overlay, if it carried a lesson.
    pub taught: Option<Taught>,
}

/// What [`Store::resolve`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// Resolved now; with a lesson, what it taught the site's overlay.
    Done(Option<Taught>),
    /// Already resolved with the same verdict: nothing changed. The standing resolution.
    Same(pb::Resolution),
    /// Already resolved with another verdict: nothing changed. The standing resolution.
    Conflict(pb::Resolution),
    /// No such item.
    NotFound,
}

/// A decision kept for feedback by decision id or comment id, written in the same write as the
/// remembered response.
#[derive(Debug, Clone, Copy)]
pub struct Keep<'a> {
    /// The request and the response, kept under the response's decision id.
    pub record: &'a pb::DecisionRecord,
    /// How long to keep it, in microseconds.
    pub ttl_us: u64,
}

/// A labelled example from the blog's feedback, with its audit entry.
#[derive(Debug, Clone)]
pub struct Feedback {
    /// The label, kept under its decision id: a later report for that decision replaces it.
    pub label: pb::LabelledExample,
    /// Appended to the audit log.
    pub audit: pb::AuditEntry,
    /// Spam feedback on a comment with an e-mail address marks the author.
    pub trust: Option<TrustUpdate>,
    /// What the label teaches the site's overlay.
    pub lesson: Option<Lesson>,
}

/// What a check reads and counts before it decides: one store operation, one round trip on Redis
/// (everything the decision needs from the store). Each part is optional.
#[derive(Debug, Clone, Copy)]
pub struct Begin<'a> {
    /// Recall the response remembered for this comment id; when there is one, nothing else is done.
    pub recall: Option<&'a str>,
    /// Count the request against rate-limit buckets.
    pub admit: Option<Admit<'a>>,
    /// Count a sighting of the text's fingerprint bands, unless the admission was refused.
    pub sighting: Option<Bands<'a>>,
    /// Read this author's standing (an author key), unless the admission was refused.
    pub standing: Option<&'a str>,
    /// Read the version of the site's overlay, so a replica knows whether its copy is current.
    pub overlay: bool,
    /// Now, in microseconds since the epoch.
    pub now_us: u64,
}

impl<'a> Begin<'a> {
    /// Nothing to read or count yet, at `now_us`.
    pub fn at(now_us: u64) -> Begin<'a> {
        Begin {
            recall: None,
            admit: None,
            sighting: None,
            standing: None,
            overlay: false,
            now_us,
        }
    }
}

/// Count one request against every bucket, all or nothing: it is admitted and counted in every bucket
/// only when every bucket admits it. Exact under concurrency.
#[derive(Debug, Clone, Copy)]
pub struct Admit<'a> {
    /// With a comment id, a comment already counted is admitted free.
    pub once: Option<Once<'a>>,
    /// The buckets.
    pub buckets: &'a [Bucket],
}

/// A text's campaign fingerprint bands, counted over a sliding window.
#[derive(Debug, Clone, Copy)]
pub struct Bands<'a> {
    /// The band names (see `moderation::campaign::bands`).
    pub bands: &'a [String],
    /// The window, in microseconds.
    pub window_us: u64,
}

/// What [`Store::begin`] found; a part not asked for, or skipped, is `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Began {
    /// The remembered response: the check is a retry, and nothing else was done.
    pub recalled: Option<pb::CheckCommentResponse>,
    /// The rate limits' answer.
    pub admission: Option<Admission>,
    /// The highest sighting count among the bands and that band (the campaign id).
    pub sighting: Option<(u64, String)>,
    /// The author's standing.
    pub standing: Option<Standing>,
    /// The overlay's version, and whether it is on.
    pub overlay: Option<(u64, bool)>,
}

/// What a check leaves behind once it has decided: one store operation, written together (one round
/// trip on Redis, one transaction in the embedded store). Each part is optional.
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a> {
    /// Keep a held comment. When its comment id is held already, nothing else is written: the first
    /// attempt's item stands (and that attempt tallies and remembers it).
    pub hold: Option<HoldWrite<'a>>,
    /// Count the decision in the site's tally of this day (days since the epoch, UTC).
    pub tally: Option<(u64, pb::Decision)>,
    /// Remember the response for retries.
    pub remember: Option<Remember<'a>>,
    /// Now, in microseconds since the epoch.
    pub now_us: u64,
}

impl<'a> Finish<'a> {
    /// Nothing to write yet, at `now_us`.
    pub fn at(now_us: u64) -> Finish<'a> {
        Finish {
            hold: None,
            tally: None,
            remember: None,
            now_us,
        }
    }
}

/// A held comment to keep, durably, before HOLD is answered. Held items never expire: they wait for a
/// person.
#[derive(Debug, Clone, Copy)]
pub struct HoldWrite<'a> {
    /// The item, under its `held_id`.
    pub item: &'a pb::HeldItem,
    /// With a comment id, a comment is held once.
    pub comment_id: &'a str,
    /// Appended to the site's event feed.
    pub event: &'a pb::QueueEvent,
}

/// A response to remember for `(site, comment_id)`, unless one is there already.
#[derive(Debug, Clone, Copy)]
pub struct Remember<'a> {
    /// The blog's comment id.
    pub comment_id: &'a str,
    /// The response.
    pub response: &'a pb::CheckCommentResponse,
    /// How long, in microseconds.
    pub ttl_us: u64,
    /// With a new response, a decision record kept in the same write, for feedback by decision id.
    pub keep: Option<Keep<'a>>,
}

/// What [`Store::finish`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// What the hold did, if one was asked for.
    pub hold: Option<Hold>,
    /// The remembered response that stands (the earlier one wins, so concurrent retries agree), if a
    /// response was remembered.
    pub remembered: Option<pb::CheckCommentResponse>,
    /// The new held item was acknowledged by fewer Redis replicas than `redis_hold_replicas` asks
    /// within the time allowed: it is on the master, and a failover now could lose it.
    pub unreplicated: bool,
}

/// How long the per-day decision tallies are kept: the moderator page shows 30 days, and a few more
/// cover time zones and a late look.
pub const DAILY_RETENTION_DAYS: u64 = 40;

/// One day's decisions on a site.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Daily {
    /// Days since the epoch (UTC).
    pub day: u64,
    /// ACCEPT decisions.
    pub accept: u64,
    /// HOLD decisions.
    pub hold: u64,
    /// REJECT decisions.
    pub reject: u64,
}

/// The slot of a decision in a day's tally (accept, hold, reject); none for an unspecified one.
fn daily_index(d: pb::Decision) -> Option<usize> {
    match d {
        pb::Decision::Accept => Some(0),
        pb::Decision::Hold => Some(1),
        pb::Decision::Reject => Some(2),
        pb::Decision::Unspecified => None,
    }
}

/// The implementation behind a [`Store`].
#[derive(Debug, Clone)]
enum Any {
    Embedded(embedded::EmbeddedStore),
    // Boxed: its scripts make it several times the embedded store's size, and stores are cloned rarely.
    Redis(Box<redis::RedisStore>),
}

/// Run the operation `$op` (with `$b` bound to whichever implementation the store has) under the
/// limits of `$class`, measured as operation `$name`, and await it. A macro because each
/// implementation's futures are their own types.
macro_rules! run {
    ($store:expr, $class:expr, $name:literal, |$b:ident| $op:expr) => {
        match &$store.backend {
            Any::Embedded($b) => $store.limited($class, $name, $op).await,
            Any::Redis($b) => $store.limited($class, $name, $op).await,
        }
    };
}

/// How long an operation may take and whether it is tried while the store is known down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// A step of CheckComment: bounded by `store_timeout_ms` (on Redis) and not tried while down, so a
    /// check decides degraded at once.
    Check,
    /// An API key look-up: bounded by [`KEY_LOOKUP_LIMIT`] and not tried while down.
    Key,
    /// A moderator's or an admin's operation: bounded by [`QUEUE_LIMIT`] (on Redis), always tried.
    Queue,
    /// The health ping.
    Ping,
}

/// What a [`Store`] knows of its persistence settings.
#[derive(Debug, Default)]
struct Known {
    /// The reading that stands: `None` before the first one, and again from the moment a connection
    /// to the store is lost (the store may come back with other settings) until the next one.
    now: Option<Durability>,
    /// The last reading logged, so that each change is logged once and a lost connection alone is
    /// not a change.
    said: Option<Durability>,
}

/// Shared state behind the service: cheap to clone, every clone the same store.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Any,
    /// Whether the store answered its last health check.
    up: Arc<AtomicBool>,
    /// What is known of the store's persistence.
    durability: Arc<Mutex<Known>>,
    /// A check step's limit (`store_timeout_ms`).
    timeout: Duration,
    /// Where each operation's time and failures, and the store's health, are counted.
    metrics: Arc<Metrics>,
    /// When (unix seconds) a HOLD no replica acknowledged was last warned about.
    unreplicated_warned: Arc<std::sync::atomic::AtomicU64>,
}

fn decode<T: Message + Default>(what: &'static str, bytes: &[u8]) -> Result<T, Error> {
    T::decode(bytes).map_err(|source| Error::Corrupt { what, source })
}

/// A held item as a moderator sees it: the stored item with its sequence and resolution.
fn assemble(record: backend::HeldRecord) -> Result<pb::HeldItem, Error> {
    let mut item: pb::HeldItem = decode("held item", &record.item)?;
    item.sequence = record.sequence;
    item.resolution = record
        .resolution
        .map(|r| decode("resolution", &r))
        .transpose()?;
    Ok(item)
}

impl Store {
    /// The store `config` names: Redis when it has a `redis_url`, else the embedded store in its
    /// `data_dir`. A Redis that is down is no error: the connection is made on first use and remade
    /// after each failure.
    pub async fn open(config: &Config) -> Result<Store, OpenError> {
        let timeout = Duration::from_millis(config.store_timeout_ms);
        match &config.redis_url {
            Some(url) => {
                let store = if config.redis_cluster {
                    redis::RedisStore::connect_cluster(&config.redis_nodes(), timeout)
                } else {
                    redis::RedisStore::connect(url, timeout).await
                };
                store
                    .map(|s| Store::redis(s.with_hold_replicas(config.hold_replicas())))
                    .map_err(|source| OpenError::Redis {
                        url: redact_url(url),
                        source,
                    })
            }
            None => embedded::EmbeddedStore::open(&config.data_dir)
                .map(Store::embedded)
                .map_err(|source| OpenError::Embedded {
                    dir: config.data_dir.clone(),
                    source,
                }),
        }
    }

    /// A store over an embedded database. Its operations are not cut short: it has no network to wait
    /// on, and a limit would only turn a slow disk flush into an error for a write that lands anyway.
    pub fn embedded(store: embedded::EmbeddedStore) -> Store {
        Store::with(Any::Embedded(store), Duration::ZERO)
    }

    /// A store over Redis, each check step bounded by the timeout it was connected with.
    pub fn redis(store: redis::RedisStore) -> Store {
        let timeout = store.timeout();
        Store::with(Any::Redis(Box::new(store)), timeout)
    }

    fn with(backend: Any, timeout: Duration) -> Store {
        Store {
            backend,
            up: Arc::new(AtomicBool::new(true)),
            durability: Arc::new(Mutex::new(Known::default())),
            timeout,
            metrics: Arc::default(),
            unreplicated_warned: Arc::default(),
        }
    }

    /// This store, counting its operations into `metrics` (the server's registry). Clones made before
    /// keep counting where they counted.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Store {
        metrics.store_up(self.is_up());
        self.metrics = metrics;
        self
    }

    /// Where this store counts.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// "embedded" or "redis", for logs.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Any::Embedded(_) => "embedded",
            Any::Redis(_) => "redis",
        }
    }

    /// Whether the store answered its last health check.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Ping the store and record whether it answered (logged when that changes); returns it.
    ///
    /// Each time it answers, its persistence settings are read too — so at start, when it comes back
    /// after being down, and within one health interval of a `CONFIG SET` or a restart too quick to
    /// be seen down — and a reading that could lose answered HOLDs is logged as a warning once per
    /// change. A store coming back is marked up only after that reading, and a lost connection
    /// forgets the last one (see [`Store::limited`]), so that no HOLD reaches a Redis that came back
    /// with other settings before they are known.
    pub async fn check_health(&self) -> bool {
        let up = run!(self, Class::Ping, "ping", |b| b.ping()).is_ok();
        if up {
            self.check_durability().await;
        }
        let was = self.up.swap(up, Ordering::Relaxed);
        self.metrics.store_up(up);
        if was != up {
            if up {
                tracing::info!(store = self.kind(), "the store answers again");
            } else {
                tracing::warn!(
                    store = self.kind(),
                    "the store does not answer: deciding without it (store.degraded)"
                );
            }
        }
        up
    }

    fn lock_durability(&self) -> std::sync::MutexGuard<'_, Known> {
        // Each field is replaced whole, so a panic elsewhere cannot have left it half-written.
        self.durability
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Read the store's persistence settings and keep them; log when what they say has changed.
    async fn check_durability(&self) {
        let found = match run!(self, Class::Ping, "persistence", |b| b.persistence()) {
            Ok(found) => found,
            // Not asked now (Redis went away again): unknown until the next health check.
            Err(e) => {
                tracing::debug!(error = %e, "could not read the store's persistence settings");
                self.lock_durability().now = None;
                return;
            }
        };
        // Every half second while the store answers: trace, below any default filter.
        tracing::trace!(
            store = self.kind(),
            durable = found.risk().is_none(),
            "read the store's persistence settings"
        );
        let changed = {
            let mut known = self.lock_durability();
            known.now = Some(found.clone());
            let changed = !known.said.as_ref().is_some_and(|d| d.same_as(&found));
            if changed {
                known.said = Some(found.clone());
            }
            changed
        };
        if !changed {
            return;
        }
        match &found {
            // The embedded store is always durable: nothing worth a line.
            Durability::Durable if self.kind() == "embedded" => {}
            Durability::Durable => tracing::info!(
                store = self.kind(),
                "the store keeps every answered HOLD (appendonly yes, appendfsync always)"
            ),
            Durability::AtRisk(s) => tracing::warn!(
                store = self.kind(),
                appendonly = %s.appendonly,
                appendfsync = %s.appendfsync,
                save = %s.save,
                maxmemory_policy = %s.maxmemory_policy,
                risk = found.risk().unwrap_or_default(),
                "REDIS CAN LOSE HELD COMMENTS: an answered HOLD may be gone after a crash; \
                 run Redis with appendonly yes and appendfsync always, or set \
                 redis_durability = \"require\" to refuse HOLDs meanwhile"
            ),
            Durability::Unverified(e) => tracing::warn!(
                store = self.kind(),
                error = &**e as &dyn std::error::Error,
                risk = found.risk().unwrap_or_default(),
                "REDIS PERSISTENCE CANNOT BE VERIFIED: held comments may not survive a crash; \
                 make sure Redis runs with appendonly yes and appendfsync always"
            ),
        }
    }

    /// Why a HOLD stored now could be lost once answered, as far as the store knows: `None` when it
    /// is kept durably. Unknown (settings not read yet) counts as a risk.
    pub fn hold_risk(&self) -> Option<&'static str> {
        match &self.lock_durability().now {
            Some(d) => d.risk(),
            None => Some("the store's persistence settings are not known yet"),
        }
    }

    fn limit(&self, class: Class) -> Option<Duration> {
        let remote = matches!(self.backend, Any::Redis(_));
        match class {
            Class::Key => Some(KEY_LOOKUP_LIMIT),
            Class::Ping => Some(self.timeout.max(MIN_PING_LIMIT)),
            Class::Check if remote => Some(self.timeout),
            Class::Queue if remote => Some(self.timeout.max(QUEUE_LIMIT)),
            Class::Check | Class::Queue => None,
        }
    }

    /// Run `op` (the operation and the decoding of its answer) within its class's limit, counting its
    /// time and any failure under `name`: every store operation passes here, so this is the one place
    /// store metrics are recorded.
    async fn limited<T>(
        &self,
        class: Class,
        name: &'static str,
        op: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        if matches!(class, Class::Check | Class::Key) && !self.is_up() {
            self.metrics.store_error(name, StoreFailure::Down);
            return Err(Error::Down);
        }
        let started = Instant::now();
        let result = match self.limit(class) {
            Some(limit) => tokio::time::timeout(limit, op)
                .await
                .unwrap_or(Err(Error::Timeout(limit))),
            None => op.await,
        };
        self.metrics.store_operation(name, started.elapsed());
        if let Err(e) = &result {
            let kind = match e {
                Error::Down => StoreFailure::Down,
                Error::Timeout(_) => StoreFailure::Timeout,
                Error::Corrupt { .. } | Error::Unexpected(_) => StoreFailure::Corrupt,
                _ => StoreFailure::Failed,
            };
            self.metrics.store_error(name, kind);
        }
        // A lost connection may mean Redis restarted, perhaps with other settings, faster than the
        // health monitor could see it down: what was read of its persistence no longer stands.
        if let Err(Error::Redis(e)) = &result {
            if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
                self.lock_durability().now = None;
            }
        }
        result
    }

    /// Read and count what a check needs before it decides, in one operation (see [`Begin`]).
    pub async fn begin(&self, site: &str, begin: Begin<'_>) -> Result<Began, Error> {
        run!(self, Class::Check, "begin", |b| async move {
            let raw = b.begin(site, &begin).await?;
            Ok(Began {
                recalled: raw
                    .recalled
                    .map(|r| decode("remembered decision", &r))
                    .transpose()?,
                admission: raw.admission,
                sighting: raw.sighting,
                standing: raw.standing,
                overlay: raw.overlay,
            })
        })
    }

    /// Write what a check leaves behind, together (see [`Finish`]).
    pub async fn finish(&self, site: &str, finish: Finish<'_>) -> Result<Finished, Error> {
        let raw = backend::Finish {
            hold: finish.hold.map(|h| backend::HoldWrite {
                held_id: h.item.held_id.clone(),
                comment_id: h.comment_id.to_string(),
                item: h.item.encode_to_vec(),
                event: h.event.encode_to_vec(),
            }),
            tally: finish
                .tally
                .and_then(|(day, d)| daily_index(d).map(|i| (day, i))),
            remember: finish.remember.map(|r| backend::RememberWrite {
                comment_id: r.comment_id.to_string(),
                response: r.response.encode_to_vec(),
                ttl_us: r.ttl_us,
                record: r.keep.map(|k| backend::Record {
                    decision_id: r.response.decision_id.clone(),
                    bytes: k.record.encode_to_vec(),
                    ttl_us: k.ttl_us,
                }),
            }),
            now_us: finish.now_us,
        };
        run!(self, Class::Check, "finish", |b| async move {
            let done = b.finish(site, raw).await?;
            if done.unreplicated {
                self.warn_unreplicated();
            }
            Ok(Finished {
                hold: done
                    .hold
                    .map(|h| {
                        Ok::<_, Error>(match h {
                            backend::Hold::Stored { sequence } => Hold::Stored { sequence },
                            backend::Hold::Existing(record) => {
                                Hold::Existing(Box::new(assemble(record)?))
                            }
                        })
                    })
                    .transpose()?,
                remembered: done
                    .remembered
                    .map(|r| decode("remembered decision", &r))
                    .transpose()?,
                unreplicated: done.unreplicated,
            })
        })
    }

    /// Say, at most once a minute, that HOLDs are answered before a replica has them.
    fn warn_unreplicated(&self) {
        let now = crate::clock::now_us() / 1_000_000;
        let last = self.unreplicated_warned.load(Ordering::Relaxed);
        if now >= last + 60
            && self
                .unreplicated_warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                store = self.kind(),
                "A HELD COMMENT IS ON ONE REDIS NODE ONLY: no replica acknowledged it in time, so a \
                 failover now could lose it; check the replicas, or set redis_durability = \"require\" \
                 to refuse such HOLDs"
            );
        }
    }

    /// Count one request against every bucket (see [`Admit`]): [`Store::begin`] with that part only.
    pub async fn admit(
        &self,
        site: &str,
        once: Option<Once<'_>>,
        buckets: &[Bucket],
        now_us: u64,
    ) -> Result<Admission, Error> {
        let admit = Some(Admit { once, buckets });
        let began = self.begin(
            site,
            Begin {
                admit,
                ..Begin::at(now_us)
            },
        );
        began.await?.admission.ok_or(Error::Unexpected(
            "the store counted no admission".to_string(),
        ))
    }

    /// The response remembered for `(site, comment_id)`, if it has not expired.
    pub async fn recall(
        &self,
        site: &str,
        comment_id: &str,
        now_us: u64,
    ) -> Result<Option<pb::CheckCommentResponse>, Error> {
        let recall = Some(comment_id);
        let began = self.begin(
            site,
            Begin {
                recall,
                ..Begin::at(now_us)
            },
        );
        Ok(began.await?.recalled)
    }

    /// An author's standing on a site.
    pub async fn standing(&self, site: &str, author: &str) -> Result<Standing, Error> {
        let standing = Some(author);
        let began = self.begin(
            site,
            Begin {
                standing,
                ..Begin::at(crate::clock::now_us())
            },
        );
        Ok(began.await?.standing.unwrap_or_default())
    }

    /// Count one sighting of a text by its fingerprint bands; returns the highest count among the bands
    /// of sightings within the last `window_us` before `now_us` (estimated as
    /// [`crate::moderation::campaign::window_at`] says) and that band's name (the campaign id).
    pub async fn sighting(
        &self,
        site: &str,
        bands: &[String],
        window_us: u64,
        now_us: u64,
    ) -> Result<(u64, String), Error> {
        let sighting = Some(Bands { bands, window_us });
        let began = self.begin(
            site,
            Begin {
                sighting,
                ..Begin::at(now_us)
            },
        );
        Ok(began.await?.sighting.unwrap_or_default())
    }

    /// Remember `response` for `(site, comment_id)` (see [`Remember`]); returns the response that
    /// stands. [`Store::finish`] with that part only.
    pub async fn remember(
        &self,
        site: &str,
        comment_id: &str,
        response: &pb::CheckCommentResponse,
        ttl_us: u64,
        keep: Option<Keep<'_>>,
        now_us: u64,
    ) -> Result<pb::CheckCommentResponse, Error> {
        let remember = Some(Remember {
            comment_id,
            response,
            ttl_us,
            keep,
        });
        let finished = self.finish(
            site,
            Finish {
                remember,
                ..Finish::at(now_us)
            },
        );
        finished.await?.remembered.ok_or(Error::Unexpected(
            "the store remembered no response".to_string(),
        ))
    }

    /// Keep a held comment (see [`HoldWrite`]): [`Store::finish`] with that part only.
    pub async fn hold(
        &self,
        site: &str,
        item: &pb::HeldItem,
        comment_id: &str,
        event: &pb::QueueEvent,
    ) -> Result<Hold, Error> {
        let hold = Some(HoldWrite {
            item,
            comment_id,
            event,
        });
        let finished = self.finish(
            site,
            Finish {
                hold,
                ..Finish::at(crate::clock::now_us())
            },
        );
        finished
            .await?
            .hold
            .ok_or(Error::Unexpected("the store answered no hold".to_string()))
    }

    /// Count one decision in the site's per-day tally (`day`: days since the epoch, UTC), kept about
    /// [`DAILY_RETENTION_DAYS`] days: [`Store::finish`] with that part only.
    pub async fn count_decision(
        &self,
        site: &str,
        day: u64,
        decision: pb::Decision,
    ) -> Result<(), Error> {
        let tally = Some((day, decision));
        self.finish(
            site,
            Finish {
                tally,
                ..Finish::at(crate::clock::now_us())
            },
        )
        .await
        .map(drop)
    }

    /// A held item, waiting or resolved, with its sequence and resolution.
    pub async fn held(&self, site: &str, held_id: &str) -> Result<Option<pb::HeldItem>, Error> {
        run!(self, Class::Queue, "held", |b| async move {
            b.held(site, held_id).await?.map(assemble).transpose()
        })
    }

    /// Up to `limit` waiting items with a sequence above `after`, oldest first.
    pub async fn pending(
        &self,
        site: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<pb::HeldItem>, Error> {
        run!(self, Class::Queue, "pending", |b| async move {
            b.pending(site, after, limit)
                .await?
                .into_iter()
                .map(assemble)
                .collect()
        })
    }

    /// How many items wait on a site: one cheap count (a sorted set's size on Redis).
    pub async fn pending_count(&self, site: &str) -> Result<u64, Error> {
        run!(self, Class::Queue, "pending_count", |b| b
            .pending_count(site))
    }

    /// The site's per-day tallies of the days `from..=to` (days since the epoch), oldest first; a day
    /// without decisions counts zero.
    pub async fn daily(&self, site: &str, from: u64, to: u64) -> Result<Vec<Daily>, Error> {
        let days = to.saturating_sub(from).min(DAILY_RETENTION_DAYS) + 1;
        let from = to + 1 - days;
        run!(self, Class::Queue, "daily", |b| async move {
            let counts = b.daily(site, from, to).await?;
            Ok((from..=to)
                .map(|day| {
                    let [accept, hold, reject] = counts
                        .iter()
                        .find(|(d, _)| *d == day)
                        .map_or([0; 3], |(_, c)| *c);
                    Daily {
                        day,
                        accept,
                        hold,
                        reject,
                    }
                })
                .collect())
        })
    }

    /// Resolve a waiting item: keep the resolution, take it out of the waiting queue, append the audit
    /// entry and the event, keep the label and update the author's standing — all or nothing. A second
    /// resolution changes nothing and says whether it agreed.
    pub async fn resolve(&self, site: &str, held_id: &str, r: &Resolve) -> Result<Resolved, Error> {
        let raw = backend::Resolve {
            verdict: r.resolution.verdict,
            resolution: r.resolution.encode_to_vec(),
            audit: r.audit.encode_to_vec(),
            event: r.event.encode_to_vec(),
            label: r
                .label
                .as_ref()
                .map(|l| (l.decision_id.clone(), l.encode_to_vec())),
            trust: r.trust.clone(),
            lesson: r.lesson.clone(),
        };
        run!(self, Class::Queue, "resolve", |b| async move {
            Ok(match b.resolve(site, held_id, raw).await? {
                backend::Resolved::Done(taught) => Resolved::Done(taught),
                backend::Resolved::Same(r) => Resolved::Same(decode("resolution", &r)?),
                backend::Resolved::Conflict(r) => Resolved::Conflict(decode("resolution", &r)?),
                backend::Resolved::NotFound => Resolved::NotFound,
            })
        })
    }

    /// Keep the blog's feedback (replacing an earlier label for the same decision), audit it, and
    /// teach the site's overlay what its lesson says.
    pub async fn feedback(&self, site: &str, f: &Feedback) -> Result<Kept, Error> {
        let raw = backend::Feedback {
            decision_id: f.label.decision_id.clone(),
            label: f.label.encode_to_vec(),
            audit: f.audit.encode_to_vec(),
            trust: f.trust.clone(),
            lesson: f.lesson.clone(),
        };
        run!(self, Class::Queue, "feedback", |b| b.feedback(site, raw))
    }

    /// A site's overlay: its version, whether it is on, and every feature's counts.
    pub async fn overlay(&self, site: &str) -> Result<OverlayCounts, Error> {
        run!(self, Class::Queue, "overlay", |b| b.overlay(site))
    }

    /// Forget everything a site's overlay learned (its labels stay); the new version.
    pub async fn reset_overlay(&self, site: &str) -> Result<u64, Error> {
        run!(self, Class::Queue, "reset_overlay", |b| b
            .reset_overlay(site))
    }

    /// Turn a site's overlay on or off (off: it neither scores nor learns); the new version.
    pub async fn set_overlay(&self, site: &str, enabled: bool) -> Result<u64, Error> {
        run!(self, Class::Queue, "set_overlay", |b| b
            .set_overlay(site, enabled))
    }

    /// Every labelled example of a site (moderator verdicts and feedback), one per decision.
    pub async fn labels(&self, site: &str) -> Result<Vec<pb::LabelledExample>, Error> {
        run!(self, Class::Queue, "labels", |b| async move {
            b.labels(site)
                .await?
                .iter()
                .map(|b| decode("label", b))
                .collect()
        })
    }

    /// A decision record kept by [`Store::remember`], if it has not expired.
    pub async fn decision(
        &self,
        site: &str,
        decision_id: &str,
        now_us: u64,
    ) -> Result<Option<pb::DecisionRecord>, Error> {
        run!(self, Class::Queue, "decision", |b| async move {
            b.decision(site, decision_id, now_us)
                .await?
                .map(|b| decode("decision record", &b))
                .transpose()
        })
    }

    /// The id of the decision kept for a comment id, if it has not expired.
    pub async fn decision_for_comment(
        &self,
        site: &str,
        comment_id: &str,
        now_us: u64,
    ) -> Result<Option<String>, Error> {
        run!(self, Class::Queue, "decision_for_comment", |b| b
            .decision_for_comment(site, comment_id, now_us))
    }

    /// Up to `limit` audit entries after the cursor `after` (empty: from the start), oldest first, each
    /// with its cursor.
    pub async fn audit(
        &self,
        site: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<pb::AuditEntry>, Error> {
        run!(self, Class::Queue, "audit", |b| async move {
            b.audit(site, after, limit)
                .await?
                .into_iter()
                .map(|(cursor, bytes)| {
                    let mut e: pb::AuditEntry = decode("audit entry", &bytes)?;
                    e.cursor = cursor;
                    Ok(e)
                })
                .collect()
        })
    }

    /// Up to `limit` queue events after the cursor `after`, oldest first, each with its cursor. The
    /// feed keeps the latest events only (see the implementations); a watcher further behind resumes at
    /// the oldest kept.
    pub async fn events(
        &self,
        site: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<pb::QueueEvent>, Error> {
        run!(self, Class::Queue, "events", |b| async move {
            b.events(site, after, limit)
                .await?
                .into_iter()
                .map(|(cursor, bytes)| {
                    let mut e: pb::QueueEvent = decode("queue event", &bytes)?;
                    e.cursor = cursor;
                    Ok(e)
                })
                .collect()
        })
    }

    /// The cursor of the latest event, so a new watcher starts with the next one.
    pub async fn events_tail(&self, site: &str) -> Result<String, Error> {
        run!(self, Class::Queue, "events_tail", |b| b.events_tail(site))
    }

    /// The API key stored under `id`.
    pub async fn key(&self, id: &str) -> Result<Option<pb::ApiKey>, Error> {
        run!(self, Class::Key, "key", |b| async move {
            b.key(id).await?.map(|b| decode("API key", &b)).transpose()
        })
    }

    /// Every API key.
    pub async fn keys(&self) -> Result<Vec<pb::ApiKey>, Error> {
        run!(self, Class::Queue, "keys", |b| async move {
            b.keys()
                .await?
                .iter()
                .map(|b| decode("API key", b))
                .collect()
        })
    }

    /// Store (or replace) an API key under its id.
    pub async fn put_key(&self, key: &pb::ApiKey) -> Result<(), Error> {
        run!(self, Class::Queue, "put_key", |b| b
            .put_key(&key.id, key.encode_to_vec()))
    }

    /// Store `keys` only if no key exists yet, all or none; whether they were stored. Several replicas
    /// starting at once on one empty store create one set of first keys between them.
    pub async fn bootstrap_keys(&self, keys: &[pb::ApiKey]) -> Result<bool, Error> {
        let raw: Vec<(String, Vec<u8>)> = keys
            .iter()
            .map(|k| (k.id.clone(), k.encode_to_vec()))
            .collect();
        run!(self, Class::Queue, "bootstrap_keys", |b| b
            .bootstrap_keys(raw))
    }
}

impl From<embedded::EmbeddedStore> for Store {
    fn from(store: embedded::EmbeddedStore) -> Self {
        Store::embedded(store)
    }
}

impl From<redis::RedisStore> for Store {
    fn from(store: redis::RedisStore) -> Self {
        Store::redis(store)
    }
}
