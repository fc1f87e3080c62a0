//! The service configuration: one `Config`, from defaults, an optional TOML file, then flags and `SARING_*`
//! environment variables (applied by the CLI), validated before any socket is bound.
//!
//! Every setting is documented once, in docs/configuration.md; a test below holds that page's reference
//! block to these types, so the two cannot drift apart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::terms::TermSet;

pub mod tls;

/// Where the shipped model lives, relative to the working directory.
pub const DEFAULT_MODEL_PATH: &str = "models/default.model";

/// Where the server listens by default: loopback only, so a first start exposes nothing.
pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:50051";
/// Where the admin HTTP port (metrics, health, the moderator's page) listens by default: loopback, beside
/// the gRPC port. Not 9090, which is Prometheus's own port and often on the same host.
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:50052";
/// Largest comment body accepted, in bytes (64 KiB: far beyond any real comment, small enough to score).
pub const DEFAULT_MAX_CONTENT_BYTES: usize = 64 * 1024;
/// Largest encoded request the server decodes; anything bigger is refused by tonic before it is parsed.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// How long a (site, comment id) pair is remembered so a retry gets the same decision: one day covers
/// any client's retry policy.
pub const DEFAULT_IDEMPOTENCY_WINDOW_SECS: u64 = 24 * 60 * 60;

/// Where the embedded store keeps its file by default, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "data";

/// How long a store operation may take: a comment check must answer in milliseconds even when Redis
/// is slow, and a Redis round trip on a LAN takes well under one.
pub const DEFAULT_STORE_TIMEOUT_MS: u64 = 50;

/// How long a decision on a comment with a comment id is kept so the blog can report it as wrong by
/// decision id or comment id: thirty days covers a blog owner's weekly look at published comments.
pub const DEFAULT_DECISION_RETENTION_SECS: u64 = 30 * 24 * 60 * 60;

/// How long a shutdown waits for requests in flight: far more than any check takes, short enough for an
/// orchestrator's grace period (Kubernetes gives 30 s).
pub const DEFAULT_DRAIN_TIMEOUT_SECS: u64 = 10;

/// Requests in flight per connection: a blog backend multiplexes its checks over a few connections;
/// this bounds what one client can make the server hold at once.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 256;

/// Most serving threads `workers` may ask for: far past any machine's cores, low enough that a typo
/// (an extra digit) is refused rather than spawning thousands of threads.
pub const MAX_WORKERS: usize = 1024;

/// A request's limit: a check takes well under a millisecond; a recheck of a full queue a few seconds.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 30_000;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read config file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("config file {path} is not valid")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: toml::de::Error,
    },
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The cheap rules blog owners rely on.
#[derive(Debug, Clone, PartialEq, Deserialize)]
// Serialised only by the test that checks docs/configuration.md against these types.
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// More links than this → HOLD.
    pub max_links: usize,
    /// Submitted sooner than this many seconds after the form was rendered → HOLD.
    pub min_seconds_to_submit: f64,
    /// A comment containing one of these (after look-alike folding, case-insensitive) → REJECT.
    pub blocked_terms: Vec<String>,
    /// A comment containing one of these → HOLD.
    pub moderation_terms: Vec<String>,
    /// A commenter with one of these roles → ACCEPT.
    pub privileged_roles: Vec<String>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            max_links: 2,
            min_seconds_to_submit: 3.0,
            blocked_terms: Vec::new(),
            moderation_terms: Vec::new(),
            privileged_roles: vec!["administrator".into(), "editor".into()],
        }
    }
}

/// Partial rules for a site; what is absent comes from the defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
// Serialised only by the test that checks docs/configuration.md against these types.
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields)]
pub struct RulesOverride {
    /// See [`Rules::max_links`].
    pub max_links: Option<usize>,
    /// See [`Rules::min_seconds_to_submit`].
    pub min_seconds_to_submit: Option<f64>,
    /// See [`Rules::blocked_terms`].
    pub blocked_terms: Option<Vec<String>>,
    /// See [`Rules::moderation_terms`].
    pub moderation_terms: Option<Vec<String>>,
    /// See [`Rules::privileged_roles`].
    pub privileged_roles: Option<Vec<String>>,
}

/// One rate limit: a burst, refilled at a sustained rate (GCRA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
// Serialised only by the test that checks docs/configuration.md against these types.
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Requests allowed at once.
    pub burst: u32,
    /// Requests allowed per hour, sustained.
    pub per_hour: u32,
}

/// The three rate-limit dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
// Serialised only by the test that checks docs/configuration.md against these types.
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Per client IP (IPv4 address, IPv6 /64).
    pub ip: Limit,
    /// Per normalised author e-mail.
    pub author: Limit,
    /// Per site, all commenters together.
    pub site: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        // A reader rarely posts more than a few comments in a row; a site's total is a flood guard.
        Limits {
            ip: Limit {
                burst: 5,
                per_hour: 30,
            },
            author: Limit {
                burst: 5,
                per_hour: 20,
            },
            site: Limit {
                burst: 300,
                per_hour: 6000,
            },
        }
    }
}

/// What CheckComment does about rate limits while the store does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
// Serialised only by the test that checks docs/configuration.md against these types.
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Decide without rate limits (the rules and the model still apply).
    Open,
    /// Refuse: REJECT with `store.degraded` and a retry time.
    Closed,
}

/// What `saring serve` does on a Redis that could lose an answered HOLD: one without persistence, with
/// only RDB snapshots, with an append-only file not fsynced on every write, with an eviction policy
/// that may evict held items, or whose settings cannot be read (see `store::durability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
// Serialised only by the test that checks docs/configuration.md against these types.
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "lowercase")]
pub enum RedisDurability {
    /// Log a warning (once per change of the settings) and go on holding comments.
    Warn,
    /// Refuse to answer HOLD (UNAVAILABLE, saying why) until the settings keep it; ACCEPT and REJECT
    /// are still served.
    Require,
}

/// Trusted returning commenters (WordPress's "comment author must have a previously approved comment").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
// Serialised only by the test that checks docs/configuration.md against these types.
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct Trust {
    /// Off by default: a blog opts in.
    pub enabled: bool,
    /// Approved comments an author needs (and no spam verdict) to be trusted.
    pub min_approved: u64,
    /// Trust an e-mail address only when the blog says it verified the commenter: anyone can type
    /// someone else's address into a comment form.
    pub require_verified: bool,
}

impl Default for Trust {
    fn default() -> Self {
        Trust {
            enabled: false,
            min_approved: 2,
            require_verified: true,
        }
    }
}

/// What a campaign sighting does to the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
// Serialised only by the test that checks docs/configuration.md against these types.
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "lowercase")]
pub enum CampaignAction {
    /// At least HOLD: a person looks at the wave.
    Hold,
    /// REJECT.
    Reject,
}

/// Near-duplicate waves of one text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
// Serialised only by the test that checks docs/configuration.md against these types.
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct Campaign {
    /// On by default: waves are how spam arrives.
    pub enabled: bool,
    /// More sightings of (nearly) one text than this within the window → `rule.campaign`.
    pub threshold: u64,
    /// The window: sightings within the last this many seconds count (a sliding window, estimated from
    /// two fixed ones; see `campaign::window_at`).
    pub window_secs: u64,
    /// What a campaign does to the decision.
    pub action: CampaignAction,
    /// Texts with fewer words are not fingerprinted: "thanks, great post" is said by many real readers.
    pub min_words: usize,
}

impl Default for Campaign {
    fn default() -> Self {
        Campaign {
            enabled: true,
            threshold: 5,
            window_secs: 3600,
            action: CampaignAction::Hold,
            min_words: 6,
        }
    }
}

/// A site's overlay: what its moderators and blog teach, scored on top of the shipped model
/// (`model::overlay`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
// Serialised only by the test that checks docs/configuration.md against these types.
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct Overlay {
    /// On by default: a site's own spam is what no shipped model knows.
    pub enabled: bool,
    /// How hard the site's evidence pushes, per log-odds unit of it (see `model::overlay`).
    pub weight: f64,
    /// Most features one site's overlay keeps; past it, the least used are forgotten.
    pub max_features: u32,
    /// Most labels that may teach a site's overlay in one hour; later ones are kept as labels but
    /// teach nothing until the hour turns.
    pub max_labels_per_hour: u32,
    /// Most labels one API key (one reporter) may have teaching a site's overlay at once.
    pub max_labels_per_reporter: u32,
}

impl Default for Overlay {
    fn default() -> Self {
        Overlay {
            enabled: true,
            weight: DEFAULT_OVERLAY_WEIGHT,
            max_features: 50_000,
            max_labels_per_hour: 1_000,
            max_labels_per_reporter: 500,
        }
    }
}

/// Default weight of a site's overlay, chosen with `saring simulate` (BENCHMARKS.md): of 1, 2 and 4, 2
/// brought YouTube link spam accepted under 5 % within 200 comments of a site for the fewest holds.
pub const DEFAULT_OVERLAY_WEIGHT: f64 = 2.0;

/// Where a site's queue events are POSTed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
// Serialised only by the test that checks docs/configuration.md against these types.
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// An `http://` or `https://` URL.
    pub url: String,
    /// The HMAC-SHA256 key for the signature header.
    pub secret: String,
    /// For an `https://` receiver with a private certificate: the PEM certificate(s) to trust instead of
    /// the host's trust store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

/// Per-site overrides.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
// Serialised only by the test that checks docs/configuration.md against these types.
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields)]
pub struct SiteOverride {
    /// Rules to change.
    #[serde(default)]
    pub rules: RulesOverride,
    /// Limits to replace.
    pub limits: Option<Limits>,
    /// Accept below this spam probability instead of the model's threshold.
    pub accept_below_probability: Option<f64>,
    /// Reject at or above this spam probability instead of the model's threshold.
    pub reject_at_probability: Option<f64>,
    /// Trusted commenters, replacing the default table.
    pub trust: Option<Trust>,
    /// Campaign detection, replacing the default table.
    pub campaign: Option<Campaign>,
    /// The site's overlay, replacing the default table.
    pub overlay: Option<Overlay>,
    /// Where to POST this site's queue events.
    pub webhook: Option<Webhook>,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
// Serialised only by the test that checks docs/configuration.md against these types.
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// gRPC listen address.
    pub addr: SocketAddr,
    /// The admin HTTP port's listen address; empty turns the port off.
    pub admin_addr: String,
    /// The model file served.
    pub model: PathBuf,
    /// A candidate model scored beside the serving one on every check, never deciding (shadow
    /// scoring); its disagreements are shown by ModelAdmin.GetModelInfo.
    pub shadow_model: Option<PathBuf>,
    /// Largest comment body in bytes.
    pub max_content_bytes: usize,
    /// Seconds a decision is remembered for retries with the same comment id.
    pub idempotency_window_secs: u64,
    /// Seconds a decision on a comment with a comment id is kept for feedback by id.
    pub decision_retention_secs: u64,
    /// Where the embedded store keeps its database file (ignored with Redis).
    pub data_dir: PathBuf,
    /// Redis to share state through (`redis://host:port/db`); absent → the embedded store in `data_dir`.
    /// With `redis_cluster`, one or more nodes of a Redis Cluster, separated by commas.
    pub redis_url: Option<String>,
    /// `redis_url` names nodes of a Redis Cluster.
    pub redis_cluster: bool,
    /// Replicas that must acknowledge a held comment before its HOLD is answered; unset: 1 on a
    /// Redis Cluster (a master's failover must not lose an answered HOLD), 0 on a single Redis.
    pub redis_hold_replicas: Option<u32>,
    /// Milliseconds a store operation may take before the check gives up on it.
    pub store_timeout_ms: u64,
    /// Rate limits while the store does not answer.
    pub rate_limits_without_store: FailMode,
    /// Holding comments on a Redis that could lose them.
    pub redis_durability: RedisDurability,
    /// PEM certificate chain for TLS on the gRPC port (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Serve without API keys: every caller may do everything. Local development only; the server
    /// warns at start.
    pub insecure_no_auth: bool,
    /// Seconds to let requests in flight finish after SIGTERM before closing anyway.
    pub drain_timeout_secs: u64,
    /// Requests one connection may have in flight at once.
    pub max_concurrent_streams: u32,
    /// Threads that serve requests; 0 is one per core.
    pub workers: usize,
    /// Milliseconds a request may take before tonic ends it with CANCELLED ("Timeout expired"); a
    /// client's shorter `grpc-timeout` ends it sooner with DEADLINE_EXCEEDED.
    pub request_timeout_ms: u64,
    /// Rules for every site.
    pub rules: Rules,
    /// Rate limits for every site.
    pub limits: Limits,
    /// Trusted commenters, for every site.
    pub trust: Trust,
    /// Campaign detection, for every site.
    pub campaign: Campaign,
    /// Every site's overlay, unless the site overrides it.
    pub overlay: Overlay,
    /// Per-site overrides by site id.
    pub sites: BTreeMap<String, SiteOverride>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: DEFAULT_GRPC_ADDR
                .parse()
                .expect("DEFAULT_GRPC_ADDR is a valid socket address"),
            admin_addr: DEFAULT_ADMIN_ADDR.to_string(),
            model: PathBuf::from(DEFAULT_MODEL_PATH),
            shadow_model: None,
            max_content_bytes: DEFAULT_MAX_CONTENT_BYTES,
            idempotency_window_secs: DEFAULT_IDEMPOTENCY_WINDOW_SECS,
            decision_retention_secs: DEFAULT_DECISION_RETENTION_SECS,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            redis_url: None,
            redis_cluster: false,
            redis_hold_replicas: None,
            store_timeout_ms: DEFAULT_STORE_TIMEOUT_MS,
            rate_limits_without_store: FailMode::Open,
            // Warn, not refuse: a development Redis without persistence should still work, loudly.
            redis_durability: RedisDurability::Warn,
            insecure_no_auth: false,
            tls_cert: None,
            tls_key: None,
            drain_timeout_secs: DEFAULT_DRAIN_TIMEOUT_SECS,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            workers: 0,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            rules: Rules::default(),
            limits: Limits::default(),
            trust: Trust::default(),
            campaign: Campaign::default(),
            overlay: Overlay::default(),
            sites: BTreeMap::new(),
        }
    }
}

impl Config {
    /// The Redis URLs of `redis_url`: one, or a cluster's nodes separated by commas.
    pub fn redis_nodes(&self) -> Vec<&str> {
        self.redis_url
            .as_deref()
            .map(|u| {
                u.split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Replicas that must acknowledge a held comment before its HOLD is answered (see
    /// `redis_hold_replicas`).
    pub fn hold_replicas(&self) -> u32 {
        self.redis_hold_replicas
            .unwrap_or(u32::from(self.redis_cluster))
    }
}

/// What applies to one site after overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteConfig {
    /// Effective rules.
    pub rules: Rules,
    /// Effective limits.
    pub limits: Limits,
    /// Threshold overrides as probabilities.
    pub accept_below_probability: Option<f64>,
    /// See above.
    pub reject_at_probability: Option<f64>,
    /// Trusted commenters.
    pub trust: Trust,
    /// Campaign detection.
    pub campaign: Campaign,
    /// The site's overlay.
    pub overlay: Overlay,
    /// Where queue events are POSTed.
    pub webhook: Option<Webhook>,
    /// `rules.blocked_terms`, folded for matching.
    pub blocked: TermSet,
    /// `rules.moderation_terms`, folded for matching.
    pub moderation: TermSet,
}

impl Config {
    /// Read a TOML file over the defaults.
    pub fn from_file(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|source| Error::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Parse TOML over the defaults.
    pub fn from_toml(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    /// The admin HTTP port's address, or `None` when it is off (`admin_addr = ""`). Call after
    /// [`Config::validate`], which refuses an address that does not parse.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        let addr = self.admin_addr.trim();
        (!addr.is_empty()).then(|| addr.parse().ok()).flatten()
    }

    /// Check every value; the first problem is the error.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Invalid(m));
        let admin = self.admin_addr.trim();
        if !admin.is_empty() && admin.parse::<SocketAddr>().is_err() {
            return bad(format!(
                "admin_addr `{admin}` is not an address such as 127.0.0.1:50052 (\"\" turns the admin port off)"
            ));
        }
        if self.max_content_bytes == 0 || self.max_content_bytes > MAX_MESSAGE_BYTES {
            return bad(format!(
                "max_content_bytes {} must be between 1 and {MAX_MESSAGE_BYTES}",
                self.max_content_bytes
            ));
        }
        if self.store_timeout_ms == 0 {
            return bad("store_timeout_ms must be at least 1".into());
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return bad("tls_cert and tls_key go together: give both or neither".into());
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            tls::check_identity(cert, key).map_err(Error::Invalid)?;
        }
        if self.workers > MAX_WORKERS {
            return bad(format!(
                "workers {} must be at most {MAX_WORKERS} (0 is one per core)",
                self.workers
            ));
        }
        if self.max_concurrent_streams == 0 || self.request_timeout_ms == 0 {
            return bad("max_concurrent_streams and request_timeout_ms must be at least 1".into());
        }
        if let Some(url) = &self.redis_url {
            let nodes = self.redis_nodes();
            if nodes.len() > 1 && !self.redis_cluster {
                return bad(format!(
                    "redis_url `{}` names several nodes: for a Redis Cluster set redis_cluster = true",
                    redact_url(url)
                ));
            }
            for node in nodes {
                // This build has no TLS for Redis; refuse rediss:// here rather than fail at start.
                let allowed = if self.redis_cluster {
                    node.starts_with("redis://")
                } else {
                    node.starts_with("redis://") || node.starts_with("unix://")
                };
                if !allowed {
                    return bad(format!(
                        "redis_url `{}` must be redis:// URLs{} (rediss:// is not supported)",
                        redact_url(url),
                        if self.redis_cluster {
                            " (a cluster is reached over TCP)"
                        } else {
                            " or a unix:// socket"
                        }
                    ));
                }
            }
        } else if self.redis_cluster {
            return bad("redis_cluster needs redis_url: one or more nodes of the cluster".into());
        }
        check_limits("limits", &self.limits)?;
        check_campaign("campaign", &self.campaign)?;
        check_overlay("overlay", &self.overlay)?;
        check_rules("rules", &self.rules)?;
        for (site, o) in &self.sites {
            if let Some(l) = &o.limits {
                check_limits(&format!("sites.{site}.limits"), l)?;
            }
            let s = self.site(site);
            check_rules(&format!("sites.{site}.rules"), &s.rules)?;
            check_campaign(&format!("sites.{site}.campaign"), &s.campaign)?;
            check_overlay(&format!("sites.{site}.overlay"), &s.overlay)?;
            if let Some(w) = &s.webhook {
                let host = w
                    .url
                    .strip_prefix("https://")
                    .or_else(|| w.url.strip_prefix("http://"));
                if host.is_none_or(str::is_empty) || w.url.parse::<http::Uri>().is_err() {
                    return bad(format!(
                        "sites.{site}.webhook.url must be an http:// or https:// URL"
                    ));
                }
                if let Some(ca) = &w.ca_file {
                    if let Err(e) = tls::roots(ca) {
                        return bad(format!("sites.{site}.webhook.ca_file: {e}"));
                    }
                }
                if w.secret.len() < 16 {
                    return bad(format!(
                        "sites.{site}.webhook.secret must be at least 16 characters"
                    ));
                }
            }
            for (name, p) in [
                ("accept_below_probability", o.accept_below_probability),
                ("reject_at_probability", o.reject_at_probability),
            ] {
                if let Some(p) = p {
                    if !(0.0..=1.0).contains(&p) {
                        return bad(format!("sites.{site}.{name} {p} is not a probability"));
                    }
                }
            }
            if let (Some(a), Some(r)) = (o.accept_below_probability, o.reject_at_probability) {
                if a > r {
                    return bad(format!(
                        "sites.{site}: accept_below_probability {a} is above reject_at_probability {r}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The effective settings of `site`.
    pub fn site(&self, site: &str) -> SiteConfig {
        let o = self.sites.get(site);
        let mut rules = self.rules.clone();
        if let Some(r) = o.map(|o| &o.rules) {
            if let Some(v) = r.max_links {
                rules.max_links = v;
            }
            if let Some(v) = r.min_seconds_to_submit {
                rules.min_seconds_to_submit = v;
            }
            if let Some(v) = &r.blocked_terms {
                rules.blocked_terms = v.clone();
            }
            if let Some(v) = &r.moderation_terms {
                rules.moderation_terms = v.clone();
            }
            if let Some(v) = &r.privileged_roles {
                rules.privileged_roles = v.clone();
            }
        }
        SiteConfig {
            blocked: TermSet::new(&rules.blocked_terms),
            moderation: TermSet::new(&rules.moderation_terms),
            rules,
            limits: o.and_then(|o| o.limits).unwrap_or(self.limits),
            accept_below_probability: o.and_then(|o| o.accept_below_probability),
            reject_at_probability: o.and_then(|o| o.reject_at_probability),
            trust: o.and_then(|o| o.trust).unwrap_or(self.trust),
            campaign: o.and_then(|o| o.campaign).unwrap_or(self.campaign),
            overlay: o.and_then(|o| o.overlay).unwrap_or(self.overlay),
            webhook: o.and_then(|o| o.webhook.clone()),
        }
    }
}

fn check_limits(at: &str, l: &Limits) -> Result<(), Error> {
    for (name, limit) in [("ip", l.ip), ("author", l.author), ("site", l.site)] {
        if limit.burst == 0 || limit.per_hour == 0 {
            return Err(Error::Invalid(format!(
                "{at}.{name}: burst and per_hour must be at least 1"
            )));
        }
    }
    Ok(())
}

/// A URL with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    // A cluster's nodes, separated by commas: each its own URL.
    if url.contains(',') {
        return url.split(',').map(redact_url).collect::<Vec<_>>().join(",");
    }
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn check_overlay(at: &str, o: &Overlay) -> Result<(), Error> {
    if !(o.weight.is_finite() && o.weight >= 0.0) || o.max_features == 0 {
        return Err(Error::Invalid(format!(
            "{at}: weight must be a number of at least 0 and max_features at least 1"
        )));
    }
    Ok(())
}

fn check_campaign(at: &str, c: &Campaign) -> Result<(), Error> {
    if c.enabled && (c.threshold == 0 || c.window_secs == 0) {
        return Err(Error::Invalid(format!(
            "{at}: threshold and window_secs must be at least 1"
        )));
    }
    Ok(())
}

fn check_rules(at: &str, r: &Rules) -> Result<(), Error> {
    if !(r.min_seconds_to_submit.is_finite() && r.min_seconds_to_submit >= 0.0) {
        return Err(Error::Invalid(format!(
            "{at}.min_seconds_to_submit must be a non-negative number"
        )));
    }
    if r.blocked_terms
        .iter()
        .chain(&r.moderation_terms)
        .any(|t| t.trim().is_empty())
    {
        return Err(Error::Invalid(format!("{at}: a term is empty")));
    }
    for (name, terms) in [
        ("blocked_terms", &r.blocked_terms),
        ("moderation_terms", &r.moderation_terms),
    ] {
        let set = TermSet::new(terms);
        // Terms are matched by their letters and digits after folding; one with none never would be.
        if let Some(t) = set.unmatchable() {
            return Err(Error::Invalid(format!(
                "{at}.{name}: the term {t:?} has no letters or digits, so it could never match"
            )));
        }
        if !set.is_usable() {
            return Err(Error::Invalid(format!(
                "{at}.{name}: too many or too long terms to look for"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_override_only_what_they_name() {
        let c = Config::from_toml(
            r#"
            [rules]
            blocked_terms = ["casino"]
            [sites.a]
            rules = { max_links = 0 }
            reject_at_probability = 0.99
            "#,
        )
        .unwrap();
        c.validate().unwrap();
        let a = c.site("a");
        assert_eq!(a.rules.max_links, 0);
        assert_eq!(a.rules.blocked_terms, vec!["casino".to_string()]);
        assert_eq!(a.reject_at_probability, Some(0.99));
        assert_eq!(c.site("b").rules.max_links, 2);
    }

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact_url("redis://:s3cret@db:6379/0"),
            "redis://:***@db:6379/0"
        );
        assert_eq!(redact_url("redis://u:p@h"), "redis://u:***@h");
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
        let c = Config {
            redis_url: Some("rediss://:s3cret@h".into()),
            ..Config::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("rediss") && !e.contains("s3cret"), "{e}");
        assert_eq!(
            redact_url("redis://:a@h1:7000,redis://:b@h2:7001"),
            "redis://:***@h1:7000,redis://:***@h2:7001"
        );
    }

    #[test]
    fn a_cluster_is_named_as_such_and_reached_over_tcp() {
        let with = |url: Option<&str>, cluster: bool| Config {
            redis_url: url.map(String::from),
            redis_cluster: cluster,
            ..Config::default()
        };
        let nodes = "redis://10.0.0.1:6379, redis://10.0.0.2:6379";
        let e = with(Some(nodes), false).validate().unwrap_err().to_string();
        assert!(e.contains("redis_cluster = true"), "{e}");
        let ok = with(Some(nodes), true);
        ok.validate().unwrap();
        assert_eq!(
            ok.redis_nodes(),
            ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]
        );
        assert_eq!(ok.hold_replicas(), 1, "a cluster waits for a replica");
        assert_eq!(with(Some("redis://h:6379"), false).hold_replicas(), 0);
        let e = with(Some("unix:///run/redis.sock"), true)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("over TCP"), "{e}");
        let e = with(None, true).validate().unwrap_err().to_string();
        assert!(e.contains("redis_cluster needs redis_url"), "{e}");
    }

    #[test]
    fn bad_values_are_refused_with_their_place() {
        let c = Config::from_toml(
            "[sites.x]\naccept_below_probability = 0.9\nreject_at_probability = 0.5\n",
        )
        .unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("sites.x"));
        let c = Config::from_toml("[limits]\nip = { burst = 0, per_hour = 1 }\n").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("limits.ip"));
        assert!(Config::from_toml("no_such_key = 1").is_err());
        let workers = |n: usize| {
            Config::from_toml(&format!("workers = {n}"))
                .unwrap()
                .validate()
        };
        assert!(workers(0).is_ok() && workers(MAX_WORKERS).is_ok());
        let e = workers(MAX_WORKERS + 1).unwrap_err().to_string();
        assert!(e.contains("workers"), "{e}");
        // A term with no letters or digits could never match: say so rather than ignore it.
        let c = Config::from_toml("[sites.x.rules]\nblocked_terms = [\"ok\", \"!!!\"]\n").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("sites.x.rules") && e.contains("\"!!!\""), "{e}");
        // Webhooks: http:// or https:// only; a ca_file must hold a certificate.
        let hook = |extra: &str| {
            Config::from_toml(&format!(
                "[sites.x.webhook]\nsecret = \"sixteen-characters\"\n{extra}\n"
            ))
            .unwrap()
            .validate()
            .map_err(|e| e.to_string())
        };
        assert!(hook("url = \"https://hooks.example.org/saring\"").is_ok());
        assert!(hook("url = \"http://10.0.0.2:8080/saring\"").is_ok());
        for url in ["ftp://hooks.example.org/", "https://", "hooks.example.org"] {
            let e = hook(&format!("url = \"{url}\"")).unwrap_err();
            assert!(e.contains("sites.x.webhook.url"), "{url}: {e}");
        }
        let e =
            hook("url = \"https://h.example.org/\"\nca_file = \"/no/such/file.pem\"").unwrap_err();
        assert!(e.contains("sites.x.webhook.ca_file"), "{e}");
    }
}

/// docs/configuration.md's reference block, held to the code: it parses and validates, its defaults are
/// the code's, and it names every key the code reads and no other.
#[cfg(test)]
mod reference {
    use std::collections::BTreeSet;

    use super::*;

    /// Keys the block shows commented out, because validation opens the files they name.
    const FILE_KEYS: [&str; 3] = ["tls_cert", "tls_key", "ca_file"];

    fn block() -> String {
        let page = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md"),
        )
        .unwrap();
        let blocks: Vec<&str> = page.split("```toml\n").skip(1).collect();
        assert_eq!(
            blocks.len(),
            1,
            "docs/configuration.md has one ```toml block"
        );
        blocks[0].split("```").next().unwrap().to_string()
    }

    /// Every key path in a JSON value, tables descended into.
    fn paths(prefix: &str, value: &serde_json::Value, out: &mut BTreeSet<String>) {
        if let serde_json::Value::Object(map) = value {
            for (k, v) in map {
                let path = format!("{prefix}{k}");
                if v.is_object() {
                    paths(&format!("{path}."), v, out);
                } else {
                    out.insert(path);
                }
            }
        }
    }

    fn code_keys() -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        let mut top = serde_json::to_value(Config::default()).unwrap();
        top.as_object_mut().unwrap().remove("sites");
        paths("", &top, &mut keys);
        let site = "sites.myblog.";
        paths(
            site,
            &serde_json::to_value(SiteOverride::default()).unwrap(),
            &mut keys,
        );
        // A site's tables are absent by default; their keys are those of the tables they replace.
        let tables = [
            ("rules", serde_json::to_value(RulesOverride::default())),
            ("limits", serde_json::to_value(Limits::default())),
            ("trust", serde_json::to_value(Trust::default())),
            ("campaign", serde_json::to_value(Campaign::default())),
            ("overlay", serde_json::to_value(Overlay::default())),
            (
                "webhook",
                serde_json::to_value(Webhook {
                    url: String::new(),
                    secret: String::new(),
                    ca_file: None,
                }),
            ),
        ];
        for (table, value) in tables {
            keys.remove(&format!("{site}{table}"));
            paths(&format!("{site}{table}."), &value.unwrap(), &mut keys);
        }
        keys
    }

    #[test]
    fn the_documented_reference_parses_validates_and_states_the_defaults() {
        let config: Config = toml::from_str(&block()).unwrap();
        config.validate().unwrap();
        let mut defaults = config.clone();
        // Example values, not defaults.
        defaults.redis_url = None;
        defaults.redis_hold_replicas = None;
        defaults.shadow_model = None;
        defaults.sites.clear();
        assert_eq!(defaults, Config::default());
    }

    #[test]
    fn the_documented_reference_names_every_key_and_only_those() {
        let mut text = block();
        for key in FILE_KEYS {
            text = text.replace(&format!("# {key} = "), &format!("{key} = "));
        }
        let documented: toml::Value = toml::from_str(&text).unwrap();
        let mut doc_keys = BTreeSet::new();
        paths(
            "",
            &serde_json::to_value(documented).unwrap(),
            &mut doc_keys,
        );
        let code = code_keys();
        let undocumented: Vec<_> = code.difference(&doc_keys).collect();
        let unknown: Vec<_> = doc_keys.difference(&code).collect();
        assert!(
            undocumented.is_empty() && unknown.is_empty(),
            "docs/configuration.md: missing {undocumented:?}; not in the code {unknown:?}"
        );
    }
}
