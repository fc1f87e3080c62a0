//! Prometheus metrics: one registry per server, owned here and handed to the layers that record (the
//! store, the checker, the queue, feedback, webhooks); the admin HTTP port encodes it for `/metrics`.
//!
//! Built on `prometheus-client`: no global registry (tests run many servers in one process, each with
//! its own counters), typed label sets, and OpenMetrics text out of the box. Labels never carry what a
//! commenter wrote or who they are: only decisions, reason codes, rate-limit dimensions, store
//! operations, verdicts, model versions and site ids — and site ids are bounded (see [`Sites`]) so a
//! client inventing site ids cannot grow the exposition without limit.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Site ids given their own label beyond the configured ones: enough for a small host of blogs; any
/// further site is counted under [`OTHER_SITE`].
pub const MAX_EXTRA_SITES: usize = 100;

/// The site label of every site beyond the configured ones and the first [`MAX_EXTRA_SITES`] seen.
pub const OTHER_SITE: &str = "_other";

/// The MIME type of what [`Metrics::encode`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets in seconds, from 25 µs to 1 s: a check takes well under a millisecond of server
/// time, so the low buckets are where a regression shows; the high ones catch a store that stalls.
const LATENCY_BUCKETS: [f64; 14] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 1.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Which sites get a label of their own: every configured site, then the first [`MAX_EXTRA_SITES`]
/// others seen; the rest share [`OTHER_SITE`].
#[derive(Debug)]
pub struct Sites {
    named: Mutex<HashSet<String>>,
    configured: usize,
}

impl Sites {
    fn new(configured: impl IntoIterator<Item = String>) -> Sites {
        let named: HashSet<String> = configured.into_iter().collect();
        Sites {
            configured: named.len(),
            named: Mutex::new(named),
        }
    }

    /// The label for `site`.
    pub fn label(&self, site: &str) -> String {
        let Ok(mut named) = self.named.lock() else {
            return OTHER_SITE.to_string();
        };
        if named.contains(site) {
            return site.to_string();
        }
        if site != OTHER_SITE && named.len() < self.configured + MAX_EXTRA_SITES {
            named.insert(site.to_string());
            return site.to_string();
        }
        OTHER_SITE.to_string()
    }

    /// Every site that has a label of its own now.
    pub fn named(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .named
            .lock()
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default();
        out.sort();
        out
    }
}

/// `decision`, `site`, `model`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    decision: &'static str,
    site: String,
    model: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DimensionLabel {
    dimension: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    operation: &'static str,
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SiteLabel {
    site: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResolutionLabels {
    verdict: &'static str,
    model: String,
    site: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FeedbackLabel {
    label: &'static str,
}

/// `serving`, `shadow`: the two models' decisions on one check.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShadowLabels {
    serving: &'static str,
    shadow: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    version: String,
    role: &'static str,
}

/// Webhook delivery counters; the webhook module counts, the registry shows them.
#[derive(Debug, Clone, Default)]
pub struct Deliveries {
    /// Events dropped because the queue was full.
    pub dropped: Counter,
    /// Events delivered (a 2xx answer).
    pub delivered: Counter,
    /// Events given up after every attempt failed.
    pub failed: Counter,
}

/// How a store operation failed, as the `kind` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFailure {
    /// Not tried: the store was known down.
    Down,
    /// It did not answer within its limit.
    Timeout,
    /// It answered with an error or could not be reached.
    Failed,
    /// It answered with a record saring cannot read.
    Corrupt,
}

impl StoreFailure {
    fn as_str(self) -> &'static str {
        match self {
            StoreFailure::Down => "down",
            StoreFailure::Timeout => "timeout",
            StoreFailure::Failed => "failed",
            StoreFailure::Corrupt => "corrupt",
        }
    }
}

/// A moderator's verdict on a held item, as the `verdict` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Approved: the hold was a false alarm.
    Approved,
    /// Rejected as spam: the hold was right.
    Spam,
    /// Rejected for another reason (abuse, off-topic).
    Other,
}

/// Every metric saring exposes, and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    sites: Sites,
    checks: Family<CheckLabels, Counter>,
    check_seconds: Histogram,
    reasons: Family<CodeLabel, Counter>,
    rate_limited: Family<DimensionLabel, Counter>,
    store_seconds: Family<OperationLabel, Histogram, fn() -> Histogram>,
    store_errors: Family<ErrorLabels, Counter>,
    store_up: Gauge,
    waiting: Family<SiteLabel, Gauge>,
    resolutions: Family<ResolutionLabels, Counter>,
    feedback: Family<FeedbackLabel, Counter>,
    deliveries: Deliveries,
    model_info: Family<ModelLabels, Gauge>,
    model_loaded: Family<ModelLabels, Gauge>,
    shadow: Family<ShadowLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(Vec::new())
    }
}

impl Metrics {
    /// Metrics for a server whose configured sites are `sites` (each gets its own label).
    pub fn new(sites: impl IntoIterator<Item = String>) -> Metrics {
        let mut registry = Registry::with_prefix("saring");
        let m = Metrics {
            registry: Registry::default(),
            sites: Sites::new(sites),
            checks: Family::default(),
            check_seconds: latency_histogram(),
            reasons: Family::default(),
            rate_limited: Family::default(),
            store_seconds: Family::new_with_constructor(latency_histogram),
            store_errors: Family::default(),
            store_up: Gauge::default(),
            waiting: Family::default(),
            resolutions: Family::default(),
            feedback: Family::default(),
            deliveries: Deliveries::default(),
            model_info: Family::default(),
            model_loaded: Family::default(),
            shadow: Family::default(),
        };
        registry.register(
            "checks",
            "CheckComment answers by decision (accept, hold, reject, or error when a hold could not be stored), site and model version",
            m.checks.clone(),
        );
        registry.register(
            "check_duration_seconds",
            "Server time of one CheckComment, from the validated request to the answer",
            m.check_seconds.clone(),
        );
        registry.register(
            "check_reasons",
            "Reasons given in CheckComment answers, by code (each code once per answer)",
            m.reasons.clone(),
        );
        registry.register(
            "rate_limited",
            "Comments refused by a rate limit, by the dimension that refused (ip, author, site)",
            m.rate_limited.clone(),
        );
        registry.register(
            "store_operation_duration_seconds",
            "Time of one store operation, by operation",
            m.store_seconds.clone(),
        );
        registry.register(
            "store_errors",
            "Failed store operations by operation and kind (down, timeout, failed, corrupt)",
            m.store_errors.clone(),
        );
        registry.register(
            "store_up",
            "Whether the store answered its last health check (1) or not (0)",
            m.store_up.clone(),
        );
        registry.register(
            "queue_waiting",
            "Held comments waiting for a moderator, by site (read from the store at each scrape)",
            m.waiting.clone(),
        );
        registry.register(
            "held_resolutions",
            "Held comments resolved by a person, by verdict (approved, spam, other), the model version that held them and site",
            m.resolutions.clone(),
        );
        registry.register(
            "feedback_reports",
            "SubmitFeedback reports kept, by label (spam, ham)",
            m.feedback.clone(),
        );
        let webhooks = registry.sub_registry_with_prefix("webhook");
        webhooks.register(
            "delivered",
            "Webhook events delivered (a 2xx answer)",
            m.deliveries.delivered.clone(),
        );
        webhooks.register(
            "failed",
            "Webhook events given up after every attempt failed",
            m.deliveries.failed.clone(),
        );
        webhooks.register(
            "dropped",
            "Webhook events dropped because the delivery queue was full",
            m.deliveries.dropped.clone(),
        );
        registry.register(
            "model_info",
            "The loaded models: 1 for each version and role (serving, shadow)",
            m.model_info.clone(),
        );
        registry.register(
            "model_loaded_at_seconds",
            "When each loaded model was loaded, unix seconds",
            m.model_loaded.clone(),
        );
        registry.register(
            "shadow_decisions",
            "Checks a shadow model also scored, by the serving and the shadow model's decision \
             (where the two labels differ, the shadow disagreed)",
            m.shadow.clone(),
        );
        m.store_up.set(1);
        Metrics { registry, ..m }
    }

    /// The label sites get.
    pub fn sites(&self) -> &Sites {
        &self.sites
    }

    /// One answered CheckComment: its decision (`accept`, `hold`, `reject` or `error`), site, model
    /// version, server time and reason codes.
    pub fn check(
        &self,
        decision: &'static str,
        site: &str,
        model: &str,
        took: Duration,
        reasons: &[&str],
    ) {
        self.checks
            .get_or_create(&CheckLabels {
                decision,
                site: self.sites.label(site),
                model: model.to_string(),
            })
            .inc();
        self.check_seconds.observe(took.as_secs_f64());
        let mut seen: Vec<&str> = Vec::with_capacity(reasons.len());
        for code in reasons {
            if !seen.contains(code) {
                seen.push(code);
                self.reasons
                    .get_or_create(&CodeLabel {
                        code: (*code).to_string(),
                    })
                    .inc();
            }
        }
    }

    /// A check the shadow model scored too: what the serving model decided, and what the shadow would
    /// have (`accept`, `hold`, `reject`).
    pub fn shadowed(&self, serving: &'static str, shadow: &'static str) {
        self.shadow
            .get_or_create(&ShadowLabels { serving, shadow })
            .inc();
    }

    /// A comment refused by the rate limit of `dimension`.
    pub fn rate_limited(&self, dimension: &'static str) {
        self.rate_limited
            .get_or_create(&DimensionLabel { dimension })
            .inc();
    }

    /// One store operation's time.
    pub fn store_operation(&self, operation: &'static str, took: Duration) {
        self.store_seconds
            .get_or_create(&OperationLabel { operation })
            .observe(took.as_secs_f64());
    }

    /// One failed store operation.
    pub fn store_error(&self, operation: &'static str, kind: StoreFailure) {
        self.store_errors
            .get_or_create(&ErrorLabels {
                operation,
                kind: kind.as_str(),
            })
            .inc();
    }

    /// Whether the store answered its last health check.
    pub fn store_up(&self, up: bool) {
        self.store_up.set(i64::from(up));
    }

    /// Items waiting on `site` now.
    pub fn waiting(&self, site: &str, n: u64) {
        self.waiting
            .get_or_create(&SiteLabel {
                site: self.sites.label(site),
            })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// A person resolved an item of `site` that model `model` held.
    pub fn resolution(&self, verdict: Resolution, model: &str, site: &str) {
        let verdict = match verdict {
            Resolution::Approved => "approved",
            Resolution::Spam => "spam",
            Resolution::Other => "other",
        };
        self.resolutions
            .get_or_create(&ResolutionLabels {
                verdict,
                model: model.to_string(),
                site: self.sites.label(site),
            })
            .inc();
    }

    /// A feedback report kept; `spam` tells its label.
    pub fn feedback(&self, spam: bool) {
        let label = if spam { "spam" } else { "ham" };
        self.feedback.get_or_create(&FeedbackLabel { label }).inc();
    }

    /// The webhook delivery counters (shared with the webhook module, which counts).
    pub fn deliveries(&self) -> &Deliveries {
        &self.deliveries
    }

    /// The models loaded now, `(version, role, loaded at in µs since the epoch)`: replaces what was
    /// shown, so a reload or promotion shows at the next scrape.
    pub fn models(&self, loaded: &[(&str, &'static str, u64)]) {
        self.model_info.clear();
        self.model_loaded.clear();
        for &(version, role, at_us) in loaded {
            let labels = ModelLabels {
                version: version.to_string(),
                role,
            };
            self.model_info.get_or_create(&labels).set(1);
            self.model_loaded
                .get_or_create(&labels)
                .set(i64::try_from(at_us / 1_000_000).unwrap_or(i64::MAX));
        }
    }

    /// The exposition in OpenMetrics text ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; a label that could not be encoded would be a bug here.
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
            out.push_str("# EOF\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_beyond_the_cap_share_one_label() {
        let m = Metrics::new(vec!["configured".to_string()]);
        assert_eq!(m.sites().label("configured"), "configured");
        for i in 0..MAX_EXTRA_SITES {
            assert_eq!(m.sites().label(&format!("s{i}")), format!("s{i}"));
        }
        assert_eq!(m.sites().label("one-too-many"), OTHER_SITE);
        assert_eq!(m.sites().label("s0"), "s0");
        assert_eq!(m.sites().label("configured"), "configured");
    }

    #[test]
    fn the_exposition_names_each_metric_and_escapes_labels() {
        let m = Metrics::new(vec!["a\"b".to_string()]);
        m.check(
            "hold",
            "a\"b",
            "nb-1",
            Duration::from_micros(300),
            &["x", "x", "y"],
        );
        m.models(&[("nb-1", "serving", 2_000_000)]);
        let text = m.encode();
        assert!(
            text.contains(r#"saring_checks_total{decision="hold",site="a\"b",model="nb-1"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"saring_check_reasons_total{code="x"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"saring_model_loaded_at_seconds{version="nb-1",role="serving"} 2"#));
        assert!(text.contains("saring_webhook_delivered_total 0"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
