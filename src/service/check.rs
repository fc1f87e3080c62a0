//! CheckComment, transport aside: read the comment (tokenizer and model) → one store operation that
//! reads and counts (remembered decision, rate limits, campaign sighting, trust standing) → policy →
//! one store operation that writes (hold, the day's tally, remember). Only the hold needs the store:
//! without it the check still decides, degraded.

use std::collections::HashMap;
use std::sync::Arc;

use crate::clock::{now_us, timestamp};
use crate::config::{Config, FailMode, RedisDurability, SiteConfig};
use crate::metrics::Metrics;
use crate::model::decision::Decision;
use crate::model::overlay::{self, Overlay};
use crate::model::tokenize::{Features, Tokenizer};
use crate::model::{Explanation, Model, DEFAULT_EXPLAIN_TOKENS};
use crate::moderation::campaign;
use crate::moderation::comment::Comment;
use crate::moderation::policy::{self, code, Inputs, Sighting, Verdict};
use crate::moderation::ratelimit;
use crate::moderation::ratelimit::Admission;
use crate::moderation::trust;
use crate::pb;
use crate::service::models::{Loaded, Models, Shadowed};
use crate::service::overlay::Overlays;
use crate::service::webhook::Webhooks;
use crate::store::{
    self, Admit, Bands, Begin, Finish, Hold, HoldWrite, Keep, Lesson, Once, Remember, Store, Taught,
};

thread_local! {
    /// Each serving thread's tokenizer and known-id list, whose buffers a check would otherwise grow
    /// from empty (several reallocations of six buffers, every check); the tokenizer is remade when a
    /// reloaded model tokenizes with other settings.
    static SCRATCH: std::cell::RefCell<(Tokenizer, Vec<u32>)> =
        std::cell::RefCell::new((Tokenizer::default(), Vec::new()));
}

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
    /// Each site's overlay, as this replica holds it.
    overlays: Overlays,
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
    /// The comment's features, for the site's overlay.
    pub features: Features,
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
        let store = store.with_metrics(metrics.clone());
        Checker {
            models,
            config,
            sites,
            default_site,
            overlays: Overlays::new(store.clone()),
            store,
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

    /// Each site's overlay, as this replica holds it.
    pub fn overlays(&self) -> &Overlays {
        &self.overlays
    }

    /// What a person's label on `request` teaches `site_id`'s overlay (`reporter`: the API key's id),
    /// or `None` when the site's overlay is off in the configuration or the comment no longer
    /// validates. The features are the serving model's tokenizer's, as a check reads them.
    pub fn lesson(
        &self,
        site_id: &str,
        request: &pb::CheckCommentRequest,
        spam: bool,
        reporter: &str,
    ) -> Option<Lesson> {
        let settings = &self.site(site_id).overlay;
        if !settings.enabled {
            return None;
        }
        let comment = Comment::from_request(request.clone(), self.config.max_content_bytes).ok()?;
        let mut features = Features::new();
        self.models
            .serving()
            .model
            .tokenizer()
            .tokenize(&comment.document(), &mut features);
        Some(Lesson {
            spam,
            features: overlay::lesson(&features),
            reporter: reporter.to_string(),
            max_features: settings.max_features,
            max_per_hour: settings.max_labels_per_hour,
            max_per_reporter: settings.max_labels_per_reporter,
            now_us: now_us(),
        })
    }

    /// Follow a lesson this replica wrote (see [`Overlays::taught`]).
    pub fn taught(&self, site_id: &str, lesson: &Lesson, taught: &Taught) {
        let weight = self.site(site_id).overlay.weight;
        self.overlays.taught(site_id, lesson, taught, weight);
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
        SCRATCH.with(|cell| {
            let (tokenizer, ids) = &mut *cell.borrow_mut();
            if tokenizer.settings() != model.settings() {
                *tokenizer = model.tokenizer();
            }
            let mut features = Features::new();
            tokenizer.tokenize_raw(&comment.document(), &mut features);
            model.known_ids(&features, ids);
            Reading {
                explanation: model.explain(ids, DEFAULT_EXPLAIN_TOKENS),
                links: tokenizer.links(),
                skeleton: tokenizer.skeleton_words(),
                features,
            }
        })
    }

    /// `reading` with the site's overlay's push added to its score, and what the overlay made of it.
    pub fn overlaid(reading: &mut Reading, overlay: Option<&Overlay>) -> Option<overlay::Reading> {
        let pushed = overlay?.read(&reading.features);
        let ex = &mut reading.explanation;
        ex.score = overlay::shift(ex.score, pushed.log_odds);
        // Features the site's labels carry are evidence too, even where the shipped model has none.
        ex.evidence_tokens += pushed.known;
        Some(pushed)
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
        overlay: Option<&overlay::Reading>,
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
                overlay,
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

    /// The check itself, in at most two store operations — one round trip each on Redis: `begin`
    /// reads and counts everything the decision needs (a remembered answer, the rate limits, the
    /// campaign sighting, the author's standing), and `finish` writes everything it leaves behind (the
    /// held item, the day's tally, the remembered answer) together. So the comment is tokenized and
    /// scored first, before anything is asked of the store; a retry answered from memory pays for that
    /// (some microseconds) to save a round trip on every other check.
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
        let site = self.site(&comment.site_id);
        let serving = self.models.serving();
        let model = &serving.model;
        let mut reading = Self::read(model, comment);

        let counted = !comment.is_test && !policy::is_privileged(comment, site);
        let buckets = if counted {
            ratelimit::buckets(&site.limits, comment.user_ip, &comment.author_email)
        } else {
            Vec::new()
        };
        // A test comment is not part of a wave anyone sees (nor is a refused one: the store skips it).
        let bands = campaign::signature(&reading.skeleton, site.campaign.min_words)
            .filter(|_| site.campaign.enabled && !comment.is_test)
            .map(|signature| campaign::bands(&signature));
        let author = trust::candidate(comment, &site.trust);
        let begin = Begin {
            recall: idempotent.then_some(comment.comment_id.as_str()),
            admit: counted.then_some(Admit {
                once: idempotent.then_some(Once {
                    comment_id: &comment.comment_id,
                    ttl_us: window_us,
                }),
                buckets: &buckets,
            }),
            sighting: bands.as_ref().map(|bands| Bands {
                bands,
                window_us: site.campaign.window_secs.saturating_mul(1_000_000),
            }),
            standing: author.as_deref(),
            overlay: site.overlay.enabled,
            now_us: now,
        };
        let began = self
            .soft(&mut degraded, self.store.begin(&comment.site_id, begin))
            .await
            .unwrap_or_default();
        if let Some(response) = began.recalled {
            return Ok(response);
        }
        let admission = began.admission;
        let uncounted_refused = counted
            && admission.is_none()
            && self.config.rate_limits_without_store == FailMode::Closed;
        let sighting = began
            .sighting
            .map(|(count, campaign_id)| Sighting { campaign_id, count });
        let trusted = began
            .standing
            .filter(|s| s.approved >= site.trust.min_approved && !s.spam)
            .map(|s| s.approved);
        let overlay = self
            .overlays
            .current(&comment.site_id, began.overlay, &site.overlay);
        let pushed = Self::overlaid(&mut reading, overlay.as_deref());
        let verdict = self.verdict(
            model,
            comment,
            &reading,
            admission.as_ref(),
            trusted,
            sighting.as_ref(),
            uncounted_refused,
            pushed.as_ref(),
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
                overlay,
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

        // What the check leaves behind. A HOLD is a promise that the comment waits for a person: it is
        // stored before the answer, and if the store cannot take it the answer is UNAVAILABLE (the
        // error) rather than a HOLD that was not kept. The day's tally (for the moderator page's chart)
        // and the remembered answer ride in the same write. Not remembered: a rate-limited or otherwise
        // retry-later answer (its retry_after promises that a later retry can succeed) and a degraded
        // one (the retry should get the store's full answer).
        let held = verdict.decision == Decision::Hold;
        if held {
            self.may_hold()?;
        }
        let campaign_id = sighting
            .filter(|s| s.count > site.campaign.threshold)
            .map(|s| s.campaign_id)
            .unwrap_or_default();
        let (item, event) = if held {
            self.held_item(request, &response, campaign_id, now)
        } else {
            Default::default()
        };
        let retention_us = self
            .config
            .decision_retention_secs
            .saturating_mul(1_000_000);
        let record = (retention_us > 0).then(|| pb::DecisionRecord {
            request: Some(request.clone()),
            response: Some(response.clone()),
        });
        let remember = idempotent && verdict.retry_after_us.is_none() && !degraded;
        let finish = Finish {
            hold: held.then_some(HoldWrite {
                item: &item,
                comment_id: if comment.is_test {
                    ""
                } else {
                    &comment.comment_id
                },
                event: &event,
            }),
            tally: (!comment.is_test && !degraded)
                .then(|| (now / crate::clock::DAY_US, response.decision())),
            remember: remember.then_some(Remember {
                comment_id: &comment.comment_id,
                response: &response,
                ttl_us: window_us,
                keep: record.as_ref().map(|record| Keep {
                    record,
                    ttl_us: retention_us,
                }),
            }),
            now_us: now,
        };
        if finish.hold.is_none() && finish.remember.is_none() {
            // Only the day's tally is left (a check without a comment id): it is counted after the
            // answer, not before, so such a check waits on one store round trip rather than two. The
            // tally is a point on the moderator page's chart; one lost when the process dies at that
            // moment is lost as one the store refused would be.
            if let Some((day, decision)) = finish.tally {
                let (store, site) = (self.store.clone(), comment.site_id.clone());
                tokio::spawn(async move {
                    if let Err(e) = store.count_decision(&site, day, decision).await {
                        tracing::debug!(error = %e, "a decision not counted in the daily tally");
                    }
                });
            }
            return Ok(response);
        }
        let finished = match self.store.finish(&comment.site_id, finish).await {
            Ok(finished) => finished,
            Err(e) if held => return Err(e),
            // The decision stands; only a retry's byte-for-byte answer, or a point on the chart, is lost.
            Err(e) => {
                tracing::warn!(error = %e, "could not remember a decision");
                return Ok(response);
            }
        };
        match finished.hold {
            // A retry of the same comment id got there first: answer with the item that stands, so the
            // client never holds an id that is not in the queue.
            Some(Hold::Existing(item)) => return Ok(item.response.unwrap_or(response)),
            // Written on the master, but no replica said so in time: under `require` not answered as
            // kept (the blog's retry with the same comment id finds the item and gets the HOLD).
            Some(Hold::Stored { .. })
                if finished.unreplicated
                    && self.config.redis_durability == RedisDurability::Require =>
            {
                return Err(store::Error::NotDurable(
                    "no Redis replica acknowledged the held comment in time",
                ));
            }
            Some(Hold::Stored { .. }) => {
                self.notify(&comment.site_id, "held", now, || {
                    serde_json::json!({
                        "held_id": response.held_id,
                        "comment_id": comment.comment_id,
                        "spam_probability": response.spam_probability,
                    })
                });
            }
            None => {}
        }
        Ok(finished.remembered.unwrap_or(response))
    }

    /// Never a HOLD that is not durable: with `require`, a store that could lose it once answered is
    /// refused before anything is written (the warning itself was logged once, by the store).
    fn may_hold(&self) -> Result<(), store::Error> {
        if self.config.redis_durability == RedisDurability::Require {
            if let Some(risk) = self.store.hold_risk() {
                return Err(store::Error::NotDurable(risk));
            }
        }
        Ok(())
    }

    /// The held item and its queue event for a HOLD answered `response`.
    fn held_item(
        &self,
        request: &pb::CheckCommentRequest,
        response: &pb::CheckCommentResponse,
        campaign_id: String,
        now: u64,
    ) -> (pb::HeldItem, pb::QueueEvent) {
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
        (item, event)
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
        overlay: Option<Arc<Overlay>>,
        response: &pb::CheckCommentResponse,
    ) {
        let (models, metrics, site, comment) = (
            self.models.clone(),
            self.metrics.clone(),
            self.site(&comment.site_id).clone(),
            comment.clone(),
        );
        let serving = (decision_of(response.decision()), response.spam_probability);
        let decision_id = response.decision_id.clone();
        tokio::spawn(async move {
            let mut reading = Self::read(&shadow.model, &comment);
            let pushed = Self::overlaid(&mut reading, overlay.as_deref());
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
                    overlay: pushed.as_ref(),
                },
            );
            let shadowed = (
                verdict.decision,
                reading.explanation.score.spam_probability(),
            );
            metrics.shadowed(serving.0.as_str(), shadowed.0.as_str());
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
