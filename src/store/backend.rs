//! What each store implementation provides: the operations of [`super::Store`] over encoded records.
//! The typed [`super::Store`] encodes and decodes, and owns health and time limits; an implementation
//! only keeps bytes, atomically, and answers.

use std::future::Future;

use super::durability::Durability;
use super::{Error, Once, Standing, TrustUpdate};
use crate::moderation::ratelimit::{Admission, Bucket};

/// A held item as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeldRecord {
    /// The held id.
    pub(crate) held_id: String,
    /// The encoded `HeldItem` as stored at HOLD time (without sequence or resolution).
    pub(crate) item: Vec<u8>,
    /// Position in the site's queue: strictly increasing in the order items were held.
    pub(crate) sequence: u64,
    /// The encoded `Resolution`, once resolved.
    pub(crate) resolution: Option<Vec<u8>>,
}

/// What `hold` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hold {
    /// Stored as a new item at this sequence.
    Stored {
        /// Its position in the queue.
        sequence: u64,
    },
    /// The comment id was already held (a retry that raced the first attempt): nothing was written and
    /// this is the item that stands.
    Existing(HeldRecord),
}

/// One resolution, everything written together with it.
#[derive(Debug, Clone)]
pub(crate) struct Resolve {
    /// The verdict's wire number (compared to tell a repeat from a conflict).
    pub(crate) verdict: i32,
    /// The encoded `Resolution`.
    pub(crate) resolution: Vec<u8>,
    /// The encoded `AuditEntry` appended to the audit log.
    pub(crate) audit: Vec<u8>,
    /// The encoded `QueueEvent` appended to the event feed.
    pub(crate) event: Vec<u8>,
    /// A labelled example to keep under the decision id (none for REJECT_OTHER).
    pub(crate) label: Option<(String, Vec<u8>)>,
    /// What the verdict teaches about the author, if the comment had an e-mail address.
    pub(crate) trust: Option<TrustUpdate>,
}

/// What `resolve` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// Resolved now.
    Done,
    /// Already resolved with the same verdict: nothing changed. The standing resolution.
    Same(Vec<u8>),
    /// Already resolved with another verdict: nothing changed. The standing resolution.
    Conflict(Vec<u8>),
    /// No such item.
    NotFound,
}

/// A decision kept for feedback by decision id or comment id: written with the remembered response, in
/// the same write.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// The decision id.
    pub(crate) decision_id: String,
    /// The encoded `DecisionRecord`.
    pub(crate) bytes: Vec<u8>,
    /// How long to keep it.
    pub(crate) ttl_us: u64,
}

/// A labelled example from the blog's feedback, with its audit entry.
#[derive(Debug, Clone)]
pub(crate) struct Feedback {
    /// The decision the label is kept under; a later report for it replaces this one.
    pub(crate) decision_id: String,
    /// The encoded `LabelledExample`.
    pub(crate) label: Vec<u8>,
    /// The encoded `AuditEntry`.
    pub(crate) audit: Vec<u8>,
    /// Spam feedback on a comment with an e-mail address marks the author.
    pub(crate) trust: Option<TrustUpdate>,
}

/// One entry of an append-only log (audit or events): its cursor and the encoded message.
pub(crate) type Entry = (String, Vec<u8>);

/// One implementation of the store: the embedded database or Redis.
pub(crate) trait Backend: Clone + Send + Sync + 'static {
    /// Whether the store answers now (the health service reports it).
    fn ping(&self) -> impl Future<Output = Result<(), Error>> + Send;

    /// Whether an answered write survives a crash of the store, as far as the store can tell. An
    /// error means it could not be asked now (try again later), not that it refused to say.
    fn persistence(&self) -> impl Future<Output = Result<Durability, Error>> + Send;

    /// Count one request against every bucket, all or nothing: it is admitted and counted in every
    /// bucket only when every bucket admits it. Exact under concurrency. With `once`, a comment already
    /// counted is admitted free.
    fn admit(
        &self,
        site: &str,
        once: Option<Once<'_>>,
        buckets: &[Bucket],
        now_us: u64,
    ) -> impl Future<Output = Result<Admission, Error>> + Send;

    /// The response remembered for `(site, comment_id)`, if it has not expired.
    fn recall(
        &self,
        site: &str,
        comment_id: &str,
        now_us: u64,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, Error>> + Send;

    /// Keep a held comment (an encoded `HeldItem`) under `held_id`, durably, before HOLD is answered,
    /// and append `event` to the site's feed. Held items never expire: they wait for a person. With a
    /// comment id, a comment is held once: if it is already held, nothing is written and the standing
    /// item is returned.
    fn hold(
        &self,
        site: &str,
        held_id: &str,
        comment_id: &str,
        item: Vec<u8>,
        event: Vec<u8>,
    ) -> impl Future<Output = Result<Hold, Error>> + Send;

    /// A held item, waiting or resolved.
    fn held(
        &self,
        site: &str,
        held_id: &str,
    ) -> impl Future<Output = Result<Option<HeldRecord>, Error>> + Send;

    /// Up to `limit` waiting items with a sequence above `after`, oldest first.
    fn pending(
        &self,
        site: &str,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<HeldRecord>, Error>> + Send;

    /// How many items wait on a site.
    fn pending_count(&self, site: &str) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Add one to slot `index` (0 accept, 1 hold, 2 reject) of the site's tally for `day` (days since
    /// the epoch); tallies older than `super::DAILY_RETENTION_DAYS` may be dropped.
    fn count_decision(
        &self,
        site: &str,
        day: u64,
        index: usize,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The site's tallies of the days `from..=to` that have any, in any order.
    fn daily(
        &self,
        site: &str,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<Vec<(u64, [u64; 3])>, Error>> + Send;

    /// Resolve a waiting item: keep the resolution, take it out of the waiting queue, append the audit
    /// entry and the event, keep the label and update the author's standing — all or nothing. A second
    /// resolution changes nothing and says whether it agreed.
    fn resolve(
        &self,
        site: &str,
        held_id: &str,
        resolve: Resolve,
    ) -> impl Future<Output = Result<Resolved, Error>> + Send;

    /// Keep the blog's feedback (replacing an earlier label for the same decision) and audit it.
    /// Returns whether an earlier label was replaced.
    fn feedback(
        &self,
        site: &str,
        feedback: Feedback,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Every labelled example of a site (moderator verdicts and feedback), one per decision.
    fn labels(&self, site: &str) -> impl Future<Output = Result<Vec<Vec<u8>>, Error>> + Send;

    /// A decision record kept by `remember`, if it has not expired.
    fn decision(
        &self,
        site: &str,
        decision_id: &str,
        now_us: u64,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, Error>> + Send;

    /// The id of the decision kept for a comment id, if it has not expired.
    fn decision_for_comment(
        &self,
        site: &str,
        comment_id: &str,
        now_us: u64,
    ) -> impl Future<Output = Result<Option<String>, Error>> + Send;

    /// Up to `limit` audit entries after `after` (empty: from the start), oldest first.
    fn audit(
        &self,
        site: &str,
        after: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Entry>, Error>> + Send;

    /// Up to `limit` queue events after the cursor `after`, oldest first. The feed keeps the latest
    /// events only (see the implementations); a watcher further behind resumes at the oldest kept.
    fn events(
        &self,
        site: &str,
        after: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Entry>, Error>> + Send;

    /// The cursor of the latest event, so a new watcher starts with the next one.
    fn events_tail(&self, site: &str) -> impl Future<Output = Result<String, Error>> + Send;

    /// An author's standing on a site.
    fn standing(
        &self,
        site: &str,
        author: &str,
    ) -> impl Future<Output = Result<Standing, Error>> + Send;

    /// Count one sighting of a text by its fingerprint bands; returns the highest count among the bands
    /// of sightings within the last `window_us` before `now_us` (estimated as
    /// `crate::moderation::campaign::window_at` says) and that band's name (the campaign id).
    fn sighting(
        &self,
        site: &str,
        bands: &[String],
        window_us: u64,
        now_us: u64,
    ) -> impl Future<Output = Result<(u64, String), Error>> + Send;

    /// The API key stored under `id` (an encoded `ApiKey`).
    fn key(&self, id: &str) -> impl Future<Output = Result<Option<Vec<u8>>, Error>> + Send;

    /// Every API key.
    fn keys(&self) -> impl Future<Output = Result<Vec<Vec<u8>>, Error>> + Send;

    /// Store (or replace) an API key.
    fn put_key(&self, id: &str, key: Vec<u8>) -> impl Future<Output = Result<(), Error>> + Send;

    /// Store `keys` only if no key exists yet, all or none; whether they were stored. Several replicas
    /// starting at once on one empty store create one set of first keys between them.
    fn bootstrap_keys(
        &self,
        keys: Vec<(String, Vec<u8>)>,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Remember `response` for `(site, comment_id)` for `ttl_us`, unless a response is already there;
    /// returns the response that stands (the earlier one wins, so concurrent retries agree). A new
    /// response's `record` is kept in the same write, for feedback by decision id.
    fn remember(
        &self,
        site: &str,
        comment_id: &str,
        response: Vec<u8>,
        ttl_us: u64,
        record: Option<Record>,
        now_us: u64,
    ) -> impl Future<Output = Result<Vec<u8>, Error>> + Send;
}
