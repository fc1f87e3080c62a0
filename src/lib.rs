//! saring: self-hosted comment moderation and spam filtering.
//!
//! Layers, from the bottom up (a module uses only those above it in this list; `tests/it/layers.rs`
//! holds the tree to that):
//! - [`pb`], [`clock`], [`hash`]: generated wire types, wall-clock time, stable hashes and hex.
//! - [`metrics`]: the Prometheus registry the layers above record into.
//! - [`model`]: the tokenizer, configured terms, decisions and the served model with its file format.
//!   No network, no store, no tokio.
//! - [`train`]: corpora, group splits, fitting with linfa-bayes, thresholds, cross-validation, quality
//!   figures and the model card. The only user of linfa.
//! - [`config`]: the service configuration, loaded and validated before anything binds.
//! - [`moderation`]: the rules, free of I/O: comment, policy, rate limits, campaigns, trust.
//! - [`store`]: shared state behind one typed trait, embedded or Redis, with its health and time limits.
//! - [`service`]: the operations the APIs call: check, queue, feedback, export, webhooks.
//! - [`access`]: API keys and authentication.
//! - [`grpc`]: the gRPC services, validation and the one mapping of errors to status codes.
//! - [`web`]: the admin HTTP port: metrics, health, the moderator's page and its JSON API.
//! - [`server`]: serving until shutdown.
//! - [`cli`], [`telemetry`]: the `saring` subcommands and logging set-up.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod access;
pub mod cli;
pub mod clock;
pub mod config;
pub mod grpc;
pub mod hash;
pub mod metrics;
pub mod model;
pub mod moderation;
pub mod pb;
pub mod server;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod train;
pub mod web;
