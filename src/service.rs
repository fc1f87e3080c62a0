//! The operations the APIs call, over a store: check a comment, work the moderation queue, take the
//! blog's feedback, export labels and deliver webhooks. Transport-free: `grpc` adapts them to the wire.

pub mod check;
pub mod export;
pub mod feedback;
pub mod models;
pub mod overlay;
pub mod queue;
pub mod webhook;
