//! saring: self-hosted comment moderation and spam filtering.
//!
//! Modules, from the bottom up:
//! - [`tokenize`]: the one tokenizer training and serving share (look-alike folding, n-grams, meta tokens).
//! - [`model`]: the served model, a sparse naive Bayes table, and its versioned file format.
//! - [`decision`]: ACCEPT / HOLD / REJECT and the two thresholds that choose between them.
//! - [`corpus`]: labelled JSONL and CSV data.
//! - [`split`]: train/validation and k-fold splits by group.
//! - [`metrics`]: quality figures, including the three rates a blog cares about.
//! - [`train`]: fitting with linfa-bayes, choosing smoothing and thresholds, exporting the model.
//! - [`cv`]: k-fold cross-validation of the whole training procedure.
//! - [`card`]: the model card written beside a model file.
//! - [`cli`]: the `saring` subcommands.
//! - [`telemetry`]: logging set-up.
//! - [`testdata`]: a synthetic corpus for tests and benchmarks.
//! - [`config`]: the service configuration (TOML, flags, environment) and per-site overrides.
//! - [`comment`]: a validated comment.
//! - [`ratelimit`]: rate-limit buckets and GCRA.
//! - [`hex`]: lower-case hex for hashes and ids.
//! - [`clock`]: wall-clock time as the store and the wire carry it.
//! - [`store`]: shared state (rate limits, remembered decisions, the moderation queue, audit log, labels,
//!   authors' standing, campaign counts) behind one trait.
//! - [`campaign`]: near-duplicate fingerprints of comment waves.
//! - [`trust`]: trusted returning authors.
//! - [`policy`]: rules, rate limits and the model combined into a decision with reasons.
//! - [`check`]: one CheckComment, transport aside.
//! - [`keys`]: API keys: tokens, hashes, create, list, revoke, first-start keys.
//! - [`auth`]: authentication (with a short key cache) and the role × site rules.
//! - [`queue`]: the moderation queue: list, get, resolve, audit, events, recheck.
//! - [`feedback`]: the blog's spam/ham reports.
//! - [`export`]: verdicts and feedback as training rows.
//! - [`webhook`]: signed, retried, never-blocking event delivery.
//! - [`grpc`]: the gRPC service, validation and status mapping.
//! - [`server`]: serving Moderation, health and reflection until shutdown.
//! - [`pb`]: generated protobuf types.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod auth;
pub mod campaign;
pub mod card;
pub mod check;
pub mod cli;
pub mod clock;
pub mod comment;
pub mod config;
pub mod corpus;
pub mod cv;
pub mod decision;
pub mod export;
pub mod feedback;
pub mod grpc;
pub mod hex;
pub mod keys;
pub mod metrics;
pub mod model;
pub mod pb;
pub mod policy;
pub mod queue;
pub mod ratelimit;
pub mod server;
pub mod split;
pub mod store;
pub mod telemetry;
pub mod terms;
pub mod testdata;
pub mod tokenize;
pub mod train;
pub mod trust;
pub mod webhook;
