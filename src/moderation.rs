//! The rules of moderation, free of I/O: a validated comment, the policy that decides it, rate-limit
//! buckets, campaign fingerprints and trusted authors. The store keeps their state; `service` runs them.

pub mod campaign;
pub mod comment;
pub mod policy;
pub mod ratelimit;
pub mod trust;
