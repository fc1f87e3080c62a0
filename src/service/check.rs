//! CheckComment, transport aside: remembered decision → rate limits → read the comment (tokenizer and
//! model) → campaign and trust look-ups → policy → hold → remember. Every store step but the hold is
//! optional: without the store the check still decides, degraded.

use std::collections::HashMap;
use std::sync::Arc;

use crate::clock::{now_us, timestamp};
use crate::config::{Config, FailMode, RedisDurability, SiteConfig};
use crate::metrics::Metrics;
use crate::model::decision::Decision;
use crate::model::tokenize::Features;
use crate::model::{Explanation, Model, DEFAULT_EXPLAIN_TOKENS};
use crate::moderation::campaign;
use crate::moderation::comment::Comment;
use crate::moderation::policy::{self, code, Inputs, Sighting, Verdict};
use crate::moderation::ratelimit;
use crate::moderation::ratelimit::Admission;
use crate::moderation::trust;
use crate::pb;
use crate::service::models::{Loaded, Models, Shadowed};
use crate::service::webhook::Webhooks;
use crate::store::{self, Hold, Keep, Once, Store};

/// Everything a check needs, shared by all requests (and by the moderation queue, which re-reads held
/// comments with the same model and policy).
#[derive(Debug)]
pub struct Checker {
    /// The serving model (and its shadow); a check holds one snapshot throughout.
    models: Arc<Models>,
    config: Arc<Config>,
    /// Each configured site's effective settings, resolved once rather than per request; shared, so a
    /// shadow scoring after the answer can hold them.
    sites: HashMap<String, Arc<SiteConfig>>,
    /// The settings of every site without overrides.
    default_site: Arc<SiteConfig>,
    store: Store,
    webhooks: Webhooks,
    /// The server's metrics registry (the store counts into it too).
    metrics: Arc<Metrics>,
}

/// What the tokenizer and the model make of a comment, before any rule.
#[derive(Debug)]
pub struct Reading {
    /// The model's score and strongest tokens.
    pub explanation: Explanation,
    /// Links in the content.
    pub links: usize,
    /// The content's skeleton words, for term matching and campaign fingerprints.
    pub skeleton: String,
}

impl Checker {
    /// A checker over a model (read from the configured path), a validated configuration and a store.
    /// Webhook delivery starts on the current Tokio runtime.
    pub fn new(model: Model, config: Arc<Config>, store: Store) -> Self {
        let models = Models::new(Loaded::new(model, &config.model), &config.model);
        Self::with_models(Arc::new(models), config, store)
    }

    /// A checker over models already loaded.
    pub fn with_models(models: Arc<Models>, config: Arc<Config>, store: Store) -> Self {
        let sites = config
            .sites
            .keys()
            .map(|name| (name.clone(), Arc::new(config.site(name))))
            .collect();
        let default_site = Arc::new(config.site(""));
        // Configured sites get their own metrics label from the start; others as they come, up to a cap.
        let metrics = Arc::new(Metrics::new(config.sites.keys().cloned()));
        Checker {
            models,
            config,
            sites,
            default_site,
            store: store.with_metrics(metrics.clone()),
            webhooks: Webhooks::start_with(metrics.deliveries().clone()),
            metrics,
        }
    }

    /// A store operation whose failure the check survives: `None` (and `degraded` set) when the store is
    /// down or the operation fails. After one failure the check's later store steps are skipped, so a
    /// store that stops answering costs a check one `store_timeout_ms`, not one per step.
    async fn soft<T>(
        &self,
        degraded: &mut bool,
        op: impl std::future::Future<Output = Result<T, store::Error>>,
    ) -> Option<T> {
        if *degraded {
            return None;
        }
        match op.await {
            Ok(v) => Some(v),
            // Known down: the health monitor already said so, once.
            Err(store::Error::Down) => {
                *degraded = true;
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "a store operation failed: deciding without it");
                *degraded = true;
                None
            }
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The serving model and its shadow.
    pub fn models(&self) -> &Arc<Models> {
        &self.models
    }

    /// The server's metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Webhook delivery.
    pub fn webhooks(&self) -> &Webhooks {
        &self.webhooks
    }

    /// Queue webhook event `event` for `site_id` when the site has a webhook: the object `fields()`
    /// (built only then) with `event`, `site_id` and `at` (unix seconds) added.
    pub fn notify(
        &self,
        site_id: &str,
        event: &'static str,
        at_us: u64,
        fields: impl FnOnce() -> serde_json::Value,
    ) {
        let Some(hook) = &self.site(site_id).webhook else {
            return;
        };
        let mut body = fields();
        body["event"] = event.into();
        body["site_id"] = site_id.into();
        body["at"] = (at_us / 1_000_000).into();
        self.webhooks.send(hook, event, &body);
    }

    /// A site's effective settings.
    pub fn site(&self, site_id: &str) -> &Arc<SiteConfig> {
        self.sites.get(site_id).unwrap_or(&self.default_site)
    }

    /// Tokenize and score a comment with `model`.
    pub fn read(model: &Model, comment: &Comment) -> Reading {
        let mut tokenizer = model.tokenizer();
        let (mut features, mut ids) = (Features::new(), Vec::new());
        tokenizer.tokenize_raw(&comment.document(), &mut features);
        model.known_ids(&features, &mut ids);
        Reading {
            explanation: model.explain(&ids, DEFAULT_EXPLAIN_TOKENS),
            links: tokenizer.links(),
            skeleton: tokenizer.skeleton_words(),
        }
    }

    /// The policy's verdict on a comment `model` read.
    #[allow(clippy::too_many_arguments)]
    pub fn verdict(
        &self,
        model: &Model,
        comment: &Comment,
        reading: &Reading,
        admission: Option<&Admission>,
        trusted: Option<u64>,
        sighting: Option<&Sighting>,
        uncounted_refused: bool,
    ) -> Verdict {
        policy::decide(
            comment,
            &Inputs {
                site: self.site(&comment.site_id),
                model_thresholds: model.thresholds(),
                explanation: &reading.explanation,
                admission,
                links: reading.links,
                skeleton: &reading.skeleton,
                trusted,
                sighting,
                uncounted_refused,
            },
        )
    }

    /// Decide on a validated comment; `request` is what the client sent, kept whole with a held item.
    ///
    /// Only a HOLD needs the store: without it every other decision is still made, from the rules and
    /// the model, with reason `store.degraded` (rate limits then follow `rate_limits_without_store`). A
    /// HOLD that cannot be stored is the one error.
    pub async fn check(
        &self,
        comment: &Comment,
        request: &pb::CheckCommentRequest,
    ) -> Result<pb::CheckCommentResponse, store::Error> {
        let started = std::time::Instant::now();
        let answer = self.decide(comment, request).await;
        let took = started.elapsed();
        match &answer {
            Ok(r) => {
                let decision = match r.decision() {
                    pb::Decision::Accept => "accept",
                    pb::Decision::Hold => "hold",
                    pb::Decision::Reject => "reject",
                    pb::Decision::Unspecified => "error",
                };
                let reasons: Vec<&str> = r.reasons.iter().map(|x| x.code.as_str()).collect();
                let site = &comment.site_id;
                self.metrics
                    .check(decision, site, &r.model_version, took, &reasons);
            }
            Err(_) => {
                let model = self.models.serving().model.version().to_string();
                self.metrics
                    .check("error", &comment.site_id, &model, took, &[]);
            }
        }
        answer
    }

    async fn decide(
        &self,
        comment: &Comment,
        request: &pb::CheckCommentRequest,
    ) -> Result<pb::CheckCommentResponse, store::Error> {
        let now = now_us();
        let mut degraded = false;
        let idempotent = !comment.comment_id.is_empty() && !comment.is_test;
        let window_us = self
            .config
            .idempotency_window_secs
            .saturating_mul(1_000_000);
        if idempotent {
            let recalled = self
                .soft(
                    &mut degraded,
                    self.store
                        .recall(&comment.site_id, &comment.comment_id, now),
                )
                .await
                .flatten();
            if let Some(response) = recalled {
                return Ok(response);
            }
        }

        let site = self.site(&comment.site_id);
        let counted = !comment.is_test && !policy::is_privileged(comment, site);
        let admission = if counted {
            let buckets = ratelimit::buckets(&site.limits, comment.user_ip, &comment.author_email);
            let once = idempotent.then_some(Once {
                comment_id: &comment.comment_id,
                ttl_us: window_us,
            });
            self.soft(
                &mut degraded,
                self.store.admit(&comment.site_id, once, &buckets, now),
            )
            .await
        } else {
            None
        };
        let uncounted_refused = counted
            && admission.is_none()
            && self.config.rate_limits_without_store == FailMode::Closed;
        let refused = matches!(admission, Some(Admission::Refused { .. }));

        let serving = self.models.serving();
        let model = &serving.model;
        let reading = Self::read(model, comment);
        let sighting = match campaign::signature(&reading.skeleton, site.campaign.min_words) {
            // A refused or test comment is not part of a wave anyone sees.
            Some(signature) if site.campaign.enabled && !comment.is_test && !refused => self
                .soft(
                    &mut degraded,
                    self.store.sighting(
                        &comment.site_id,
                        &campaign::bands(&signature),
                        site.campaign.window_secs.saturating_mul(1_000_000),
                        now,
                    ),
                )
                .await
                .map(|(count, campaign_id)| Sighting { campaign_id, count }),
            _ => None,
        };
        let trusted = match trust::candidate(comment, &site.trust) {
            Some(author) if !refused => self
                .soft(
                    &mut degraded,
                    self.store.standing(&comment.site_id, &author),
                )
                .await
                .filter(|s| s.approved >= site.trust.min_approved && !s.spam)
                .map(|s| s.approved),
            _ => None,
        };
        let verdict = self.verdict(
            model,
            comment,
            &reading,
            admission.as_ref(),
            trusted,
            sighting.as_ref(),
            uncounted_refused,
        );
        if let Some(r) = verdict.rate_limited {
            self.metrics.rate_limited(r.dimension.as_str());
        }
        let mut response = self.response(model, &verdict, &reading.explanation);
        if let Some(shadow) = self.models.shadow() {
            self.shadow(
                shadow,
                comment,
                admission.clone(),
                trusted,
                sighting.clone(),
                uncounted_refused,
                &response,
            );
        }
        if degraded
            && !response
                .reasons
                .iter()
                .any(|r| r.code == code::STORE_DEGRADED)
        {
            response.reasons.insert(
                0,
                pb::Reason {
                    code: code::STORE_DEGRADED.into(),
                    detail: "decided without the store, which did not answer: no idempotency, \
                             rate limits, campaign or trust"
                        .into(),
                    weight: 0.0,
                },
            );
        }
        tracing::debug!(site = %comment.site_id, decision = ?verdict.decision, degraded, "checked a comment");

        // A HOLD is a promise that the comment waits for a person: store it before answering, and if the
        // store cannot take it, answer UNAVAILABLE (the error) rather than a HOLD that was not kept.
        if verdict.decision == Decision::Hold {
            let campaign_id = sighting
                .filter(|s| s.count > site.campaign.threshold)
                .map(|s| s.campaign_id)
                .unwrap_or_default();
            response = self
                .hold(comment, request, response, campaign_id, now)
                .await?;
        }

        // The per-day tally the moderator page charts. One more store write a check: the round-trip work
        // should fold it into the check's last write. A tally that cannot be written costs the chart
        // one decision, never the answer.
        if !comment.is_test && !degraded {
            let day = now / crate::clock::DAY_US;
            if let Err(e) = self
                .store
                .count_decision(&comment.site_id, day, response.decision())
                .await
            {
                tracing::debug!(error = %e, "could not count a decision in the daily tally");
            }
        }

        // Not remembered: a rate-limited or otherwise retry-later answer (its retry_after promises that a
        // later retry can succeed) and a degraded one (the retry should get the store's full answer).
        if idempotent && verdict.retry_after_us.is_none() && !degraded {
            let retention_us = self
                .config
                .decision_retention_secs
                .saturating_mul(1_000_000);
            let record = (retention_us > 0).then(|| pb::DecisionRecord {
                request: Some(request.clone()),
                response: Some(response.clone()),
            });
            let keep = record.as_ref().map(|record| Keep {
                record,
                ttl_us: retention_us,
            });
            let remembered = self
                .store
                .remember(
                    &comment.site_id,
                    &comment.comment_id,
                    &response,
                    window_us,
                    keep,
                    now,
                )
                .await;
            match remembered {
                Ok(standing) => return Ok(standing),
                // The decision stands (a held one is stored); only a retry's byte-for-byte answer is lost.
                Err(e) => tracing::warn!(error = %e, "could not remember a decision"),
            }
        }
        Ok(response)
    }

    /// Store a held comment, or — when a retry of the same comment id got there first — answer with the
    /// held item that stands, so the client never holds an id that is not in the queue.
    async fn hold(
        &self,
        comment: &Comment,
        request: &pb::CheckCommentRequest,
        response: pb::CheckCommentResponse,
        campaign_id: String,
        now: u64,
    ) -> Result<pb::CheckCommentResponse, store::Error> {
        // Never a HOLD that is not durable: with `require`, a store that could lose it once answered
        // is refused before anything is written (the warning itself was logged once, by the store).
        if self.config.redis_durability == RedisDurability::Require {
            if let Some(risk) = self.store.hold_risk() {
                return Err(store::Error::NotDurable(risk));
            }
        }
        let event = pb::QueueEvent {
            kind: pb::queue_event::Kind::Held as i32,
            held_id: response.held_id.clone(),
            at: Some(timestamp(now)),
            spam_probability: response.spam_probability,
            campaign_id: campaign_id.clone(),
            ..Default::default()
        };
        let item = pb::HeldItem {
            held_id: response.held_id.clone(),
            request: Some(request.clone()),
            response: Some(response.clone()),
            held_at: Some(timestamp(now)),
            campaign_id,
            ..Default::default()
        };
        let dedupe_by = if comment.is_test {
            ""
        } else {
            &comment.comment_id
        };
        match self
            .store
            .hold(&comment.site_id, &item, dedupe_by, &event)
            .await?
        {
            Hold::Stored { .. } => {
                self.notify(&comment.site_id, "held", now, || {
                    serde_json::json!({
                        "held_id": response.held_id,
                        "comment_id": comment.comment_id,
                        "spam_probability": response.spam_probability,
                    })
                });
                Ok(response)
            }
            Hold::Existing(item) => Ok(item.response.unwrap_or(response)),
        }
    }

    /// Score the comment with the shadow model on a task of its own, after this check's answer, with
    /// the same inputs the serving verdict had, and count whether it would have decided otherwise.
    #[allow(clippy::too_many_arguments)]
    fn shadow(
        &self,
        shadow: Arc<Loaded>,
        comment: &Comment,
        admission: Option<Admission>,
        trusted: Option<u64>,
        sighting: Option<Sighting>,
        uncounted_refused: bool,
        response: &pb::CheckCommentResponse,
    ) {
        let (models, site, comment) = (
            self.models.clone(),
            self.site(&comment.site_id).clone(),
            comment.clone(),
        );
        let serving = (decision_of(response.decision()), response.spam_probability);
        let decision_id = response.decision_id.clone();
        tokio::spawn(async move {
            let reading = Self::read(&shadow.model, &comment);
            let verdict = policy::decide(
                &comment,
                &Inputs {
                    site: &site,
                    model_thresholds: shadow.model.thresholds(),
                    explanation: &reading.explanation,
                    admission: admission.as_ref(),
                    links: reading.links,
                    skeleton: &reading.skeleton,
                    trusted,
                    sighting: sighting.as_ref(),
                    uncounted_refused,
                },
            );
            let shadowed = (
                verdict.decision,
                reading.explanation.score.spam_probability(),
            );
            models.record(Shadowed {
                site_id: comment.site_id.clone(),
                decision_id,
                content: if shadowed.0 == serving.0 {
                    String::new()
                } else {
                    comment.content.clone()
                },
                serving,
                shadow: shadowed,
            });
        });
    }

    /// The wire response for a verdict, under a fresh decision id.
    fn response(
        &self,
        model: &Model,
        verdict: &Verdict,
        explanation: &Explanation,
    ) -> pb::CheckCommentResponse {
        let decision_id = uuid::Uuid::new_v4().simple().to_string();
        pb::CheckCommentResponse {
            decision: wire_decision(verdict.decision) as i32,
            spam_probability: explanation.score.spam_probability(),
            reasons: verdict
                .reasons
                .iter()
                .map(|r| pb::Reason {
                    code: r.code.to_string(),
                    detail: r.detail.clone(),
                    weight: r.weight,
                })
                .collect(),
            model_version: model.version().to_string(),
            held_id: if verdict.decision == Decision::Hold {
                decision_id.clone()
            } else {
                String::new()
            },
            decision_id,
            retry_after: verdict.retry_after_us.map(|us| prost_types::Duration {
                seconds: (us / 1_000_000) as i64,
                nanos: ((us % 1_000_000) * 1000) as i32,
            }),
            rate_limit: verdict.rate_limited.map(|r| pb::RateLimitState {
                dimension: r.dimension.as_str().to_string(),
                limit: r.burst,
                // Time to refill the whole burst, rounded up to whole seconds.
                period_seconds: (3600 * u64::from(r.burst)).div_ceil(u64::from(r.per_hour.max(1)))
                    as u32,
            }),
        }
    }
}

/// A wire decision as the policy's (an unspecified one, which saring never sends, as HOLD).
fn decision_of(d: pb::Decision) -> Decision {
    match d {
        pb::Decision::Accept => Decision::Accept,
        pb::Decision::Reject => Decision::Reject,
        pb::Decision::Hold | pb::Decision::Unspecified => Decision::Hold,
    }
}

/// A decision on the wire.
pub fn wire_decision(d: Decision) -> pb::Decision {
    match d {
        Decision::Accept => pb::Decision::Accept,
        Decision::Hold => pb::Decision::Hold,
        Decision::Reject => pb::Decision::Reject,
    }
}
