//! Where shared state lives: rate-limit buckets, remembered decisions (idempotency) and held comments.
//!
//! One trait, two implementations: [`embedded::EmbeddedStore`], the embedded default used when no Redis is
//! configured, and [`redis::RedisStore`] for one or several replicas sharing one Redis. Both must behave alike; the behavioural
//! tests in `tests/it/store.rs` run the same suite against each.

pub mod embedded;
pub mod redis;

use std::future::Future;

use crate::ratelimit::{Bucket, Dimension};

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store is unreachable or refused the operation.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// The verdict of the rate limits on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Every bucket admitted the request and counted it.
    Admitted,
    /// A bucket refused; nothing was counted.
    Refused {
        /// The bucket's dimension.
        dimension: Dimension,
        /// Microseconds until a retry can succeed.
        retry_after_us: u64,
        /// The refusing bucket's burst.
        burst: u32,
        /// Its sustained rate.
        per_hour: u32,
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

/// Shared state behind the service.
pub trait Store: Send + Sync + 'static {
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

    /// Keep a held comment (an encoded `HeldItem`) under `held_id`, durably, before HOLD is answered.
    /// Held items never expire: they wait for a person.
    fn hold(
        &self,
        site: &str,
        held_id: &str,
        item: Vec<u8>,
        held_at_us: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// A held item, if there is one under `held_id`.
    fn held(
        &self,
        site: &str,
        held_id: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, Error>> + Send;

    /// Remember `response` for `(site, comment_id)` for `ttl_us`, unless a response is already there;
    /// returns the response that stands (the earlier one wins, so concurrent retries agree).
    fn remember(
        &self,
        site: &str,
        comment_id: &str,
        response: Vec<u8>,
        ttl_us: u64,
        now_us: u64,
    ) -> impl Future<Output = Result<Vec<u8>, Error>> + Send;
}
