//! What each store implementation provides: the operations of [`super::Store`] over encoded records.
//! The typed [`super::Store`] encodes and decodes, and owns health and time limits; an implementation
//! only keeps bytes, atomically, and answers.

use std::future::Future;

use super::durability::Durability;
use super::{Error, Kept, Lesson, OverlayCounts, Standing, Taught, TrustUpdate};
use crate::moderation::ratelimit::Admission;

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
    /// What the label teaches the site's overlay.
    pub(crate) lesson: Option<Lesson>,
}

/// What `resolve` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// Resolved now; with a lesson, what it taught.
    Done(Option<Taught>),
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
    /// What the label teaches the site's overlay.
    pub(crate) lesson: Option<Lesson>,
}

/// What `begin` found (see `super::Began`), the remembered response still encoded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Began {
    pub(crate) recalled: Option<Vec<u8>>,
    pub(crate) admission: Option<Admission>,
    pub(crate) sighting: Option<(u64, String)>,
    pub(crate) standing: Option<Standing>,
    pub(crate) overlay: Option<(u64, bool)>,
}

/// What a check leaves behind (see `super::Finish`), encoded.
#[derive(Debug, Clone)]
pub(crate) struct Finish {
    pub(crate) hold: Option<HoldWrite>,
    /// The day (days since the epoch) and the slot (0 accept, 1 hold, 2 reject) to count.
    pub(crate) tally: Option<(u64, usize)>,
    pub(crate) remember: Option<RememberWrite>,
    pub(crate) now_us: u64,
}

/// A held comment to keep: an encoded `HeldItem` under `held_id`, and its encoded `QueueEvent`.
#[derive(Debug, Clone)]
pub(crate) struct HoldWrite {
    pub(crate) held_id: String,
    /// Empty: the comment may be held more than once.
    pub(crate) comment_id: String,
    pub(crate) item: Vec<u8>,
    pub(crate) event: Vec<u8>,
}

/// An encoded response to remember for a comment id, with its decision record.
#[derive(Debug, Clone)]
pub(crate) struct RememberWrite {
    pub(crate) comment_id: String,
    pub(crate) response: Vec<u8>,
    pub(crate) ttl_us: u64,
    pub(crate) record: Option<Record>,
}

/// What `finish` did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Finished {
    pub(crate) hold: Option<Hold>,
    /// The encoded response that stands.
    pub(crate) remembered: Option<Vec<u8>>,
    /// A new held item was acknowledged by fewer replicas than the store requires.
    pub(crate) unreplicated: bool,
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

    /// Read and count what a check needs before it decides (see `super::Begin`), as one operation: on
    /// Redis one script, so one round trip. With `recall` set and a response remembered, nothing else is
    /// done; a sighting and a standing are skipped when the admission is refused.
    fn begin(
        &self,
        site: &str,
        begin: &super::Begin<'_>,
    ) -> impl Future<Output = Result<Began, Error>> + Send;

    /// Write what a check leaves behind (see `super::Finish`), all or nothing: on Redis one script, in
    /// the embedded store one transaction (a tally alone is not waited for). When the hold finds its
    /// comment held already, nothing else is written.
    fn finish(
        &self,
        site: &str,
        finish: Finish,
    ) -> impl Future<Output = Result<Finished, Error>> + Send;

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

    /// Keep the blog's feedback (replacing an earlier label for the same decision), audit it, and
    /// teach the overlay its lesson — all or nothing.
    fn feedback(
        &self,
        site: &str,
        feedback: Feedback,
    ) -> impl Future<Output = Result<Kept, Error>> + Send;

    /// A site's overlay.
    fn overlay(&self, site: &str) -> impl Future<Output = Result<OverlayCounts, Error>> + Send;

    /// Forget a site's overlay (labels stay); the new version.
    fn reset_overlay(&self, site: &str) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Turn a site's overlay on or off; the new version.
    fn set_overlay(
        &self,
        site: &str,
        enabled: bool,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

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
}
