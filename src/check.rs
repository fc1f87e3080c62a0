//! CheckComment, transport aside: remembered decision → rate limits → model → policy → remember.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;

use crate::comment::Comment;
use crate::config::{Config, SiteConfig};
use crate::decision::Decision;
use crate::model::{Model, DEFAULT_EXPLAIN_TOKENS};
use crate::pb;
use crate::policy::{self, Inputs};
use crate::ratelimit;
use crate::store::{self, Once, Store};
use crate::tokenize::Features;

/// Why a check could not be answered (the comment itself was valid).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store did not answer.
    #[error("the store failed")]
    Store(#[from] store::Error),
    /// A remembered response could not be decoded.
    #[error("a remembered decision is corrupt")]
    Corrupt(#[from] prost::DecodeError),
}

/// Everything a check needs, shared by all requests.
#[derive(Debug)]
pub struct Checker<S> {
    model: Arc<Model>,
    config: Arc<Config>,
    /// Each configured site's effective settings, resolved once rather than per request.
    sites: HashMap<String, SiteConfig>,
    /// The settings of every site without overrides.
    default_site: SiteConfig,
    store: S,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl<S: Store> Checker<S> {
    /// A checker over a model, a validated configuration and a store.
    pub fn new(model: Arc<Model>, config: Arc<Config>, store: S) -> Self {
        let sites = config
            .sites
            .keys()
            .map(|name| (name.clone(), config.site(name)))
            .collect();
        let default_site = config.site("");
        Checker {
            model,
            config,
            sites,
            default_site,
            store,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Decide on a validated comment; `request` is what the client sent, kept whole with a held item.
    pub async fn check(
        &self,
        comment: &Comment,
        request: &pb::CheckCommentRequest,
    ) -> Result<pb::CheckCommentResponse, Error> {
        let now = now_us();
        let idempotent = !comment.comment_id.is_empty() && !comment.is_test;
        let window_us = self
            .config
            .idempotency_window_secs
            .saturating_mul(1_000_000);
        if idempotent {
            if let Some(bytes) = self
                .store
                .recall(&comment.site_id, &comment.comment_id, now)
                .await?
            {
                return Ok(pb::CheckCommentResponse::decode(bytes.as_slice())?);
            }
        }

        let site = self
            .sites
            .get(&comment.site_id)
            .unwrap_or(&self.default_site);
        let admission = if comment.is_test || policy::is_privileged(comment, site) {
            None
        } else {
            let buckets = ratelimit::buckets(&site.limits, comment.user_ip, &comment.author_email);
            let once = idempotent.then_some(Once {
                comment_id: &comment.comment_id,
                ttl_us: window_us,
            });
            Some(
                self.store
                    .admit(&comment.site_id, once, &buckets, now)
                    .await?,
            )
        };

        let mut tokenizer = self.model.tokenizer();
        let (mut features, mut ids) = (Features::new(), Vec::new());
        tokenizer.tokenize_raw(&comment.document(), &mut features);
        self.model.known_ids(&features, &mut ids);
        let explanation = self.model.explain(&ids, DEFAULT_EXPLAIN_TOKENS);
        let skeleton = tokenizer.skeleton_words();
        let verdict = policy::decide(
            comment,
            &Inputs {
                site,
                model_thresholds: self.model.thresholds(),
                explanation: &explanation,
                admission: admission.as_ref(),
                links: tokenizer.links(),
                skeleton: &skeleton,
            },
        );

        let decision_id = uuid::Uuid::new_v4().simple().to_string();
        let response = pb::CheckCommentResponse {
            decision: match verdict.decision {
                Decision::Accept => pb::Decision::Accept,
                Decision::Hold => pb::Decision::Hold,
                Decision::Reject => pb::Decision::Reject,
            } as i32,
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
            model_version: self.model.version().to_string(),
            held_id: if verdict.decision == Decision::Hold {
                decision_id.clone()
            } else {
                String::new()
            },
            decision_id,
            retry_after: verdict.rate_limited.map(|r| prost_types::Duration {
                seconds: (r.retry_after_us / 1_000_000) as i64,
                nanos: ((r.retry_after_us % 1_000_000) * 1000) as i32,
            }),
            rate_limit: verdict.rate_limited.map(|r| pb::RateLimitState {
                dimension: r.dimension.as_str().to_string(),
                limit: r.burst,
                // Time to refill the whole burst, rounded up to whole seconds.
                period_seconds: (3600 * u64::from(r.burst)).div_ceil(u64::from(r.per_hour.max(1)))
                    as u32,
            }),
        };
        tracing::debug!(site = %comment.site_id, decision = ?verdict.decision, "checked a comment");

        // A HOLD is a promise that the comment waits for a person: store it before answering, and if the
        // store cannot take it, answer UNAVAILABLE (the error) rather than a HOLD that was not kept.
        if verdict.decision == Decision::Hold {
            let item = pb::HeldItem {
                held_id: response.held_id.clone(),
                request: Some(request.clone()),
                response: Some(response.clone()),
                held_at: Some(prost_types::Timestamp {
                    seconds: (now / 1_000_000) as i64,
                    nanos: ((now % 1_000_000) * 1000) as i32,
                }),
            };
            self.store
                .hold(
                    &comment.site_id,
                    &response.held_id,
                    item.encode_to_vec(),
                    now,
                )
                .await?;
        }

        // A rate-limited answer is not remembered: its retry_after promises that a later retry can
        // succeed, and a remembered REJECT would break that promise for the whole window.
        if idempotent && verdict.rate_limited.is_none() {
            let ttl = window_us;
            let standing = self
                .store
                .remember(
                    &comment.site_id,
                    &comment.comment_id,
                    response.encode_to_vec(),
                    ttl,
                    now,
                )
                .await?;
            return Ok(pb::CheckCommentResponse::decode(standing.as_slice())?);
        }
        Ok(response)
    }
}
