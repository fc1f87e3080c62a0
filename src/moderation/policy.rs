//! The policy: the cheap rules blog owners rely on, the rate limits' verdict and the model's score,
//! combined into one decision with every reason that counted.
//!
//! Order, from strongest: a filled honeypot rejects; a privileged role accepts (and is not rate-limited);
//! a rate limit rejects; a blocked term rejects — these are the hard rules. A trusted returning author is
//! accepted next. Then moderation terms, too many links and a too-fast submission each require at least
//! HOLD, a campaign (a text seen more than the site's threshold within its window) requires HOLD or
//! rejects, as the site chose, and the model's two thresholds decide the rest. The model
//! rejects only with enough evidence: a comment with fewer than [`MIN_EVIDENCE_TOKENS`] known features is
//! held rather than rejected or accepted on a guess.

use crate::config::{CampaignAction, SiteConfig};
use crate::model::decision::{Decision, Thresholds};
use crate::model::overlay;
use crate::model::Explanation;
use crate::moderation::comment::Comment;
use crate::moderation::ratelimit::Admission;
use crate::moderation::ratelimit::Dimension;

/// Fewest known content features (shape features such as length do not count) for the model to decide
/// alone. Two or three ("ok", an emoji) say too little for a machine to publish or discard a comment.
pub const MIN_EVIDENCE_TOKENS: usize = 4;

/// How many of the model's strongest tokens are listed as reasons.
pub const REASON_TOKENS: usize = 3;

/// Stable reason codes (documented in docs/api.md; clients may match on them).
pub mod code {
    /// The model's overall verdict; weight is the spam log-odds.
    pub const MODEL_SPAM: &str = "model.spam";
    /// One of the model's strongest features; weight is its share of the log-odds.
    pub const MODEL_TOKEN: &str = "model.token";
    /// Too few known features for the model to decide alone.
    pub const MODEL_LOW_EVIDENCE: &str = "model.low_evidence";
    /// The hidden honeypot field was filled.
    pub const HONEYPOT: &str = "rule.honeypot";
    /// More links than the site allows.
    pub const TOO_MANY_LINKS: &str = "rule.too_many_links";
    /// Submitted too soon after the form was rendered.
    pub const TOO_FAST: &str = "rule.too_fast";
    /// A blocked term.
    pub const BLOCKED_TERM: &str = "rule.blocked_term";
    /// A moderation term.
    pub const MODERATION_TERM: &str = "rule.moderation_term";
    /// A privileged role.
    pub const PRIVILEGED_ROLE: &str = "rule.privileged_role";
    /// A returning author with enough approved comments and no spam verdict.
    pub const TRUSTED_AUTHOR: &str = "rule.trusted_author";
    /// One of many near-identical comments within the campaign window.
    pub const CAMPAIGN: &str = "rule.campaign";
    /// Decided without the store (it did not answer): no idempotency, rate limits, campaign or trust.
    pub const STORE_DEGRADED: &str = "store.degraded";
    /// The site's overlay (what its moderators and blog taught) moved the score; weight is its push in
    /// log-odds, already part of `model.spam`'s.
    pub const OVERLAY_SCORE: &str = "overlay.score";
    /// One of the comment's features the site's overlay pushed hardest; weight is its push.
    pub const OVERLAY_TOKEN: &str = "overlay.token";
}

/// How long a fail-closed refusal asks the client to wait before retrying.
pub const STORE_DOWN_RETRY_AFTER_US: u64 = 1_000_000;

/// How often a near-duplicate of this comment was seen (see `campaign`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    /// The band the count belongs to: the campaign's id.
    pub campaign_id: String,
    /// Sightings within the window, this one included.
    pub count: u64,
}

/// One reason behind a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// Stable code.
    pub code: &'static str,
    /// Human-readable detail.
    pub detail: String,
    /// Strength: log-odds for model reasons, 1 for a rule that decided.
    pub weight: f64,
}

impl Reason {
    fn rule(code: &'static str, detail: String) -> Reason {
        Reason {
            code,
            detail,
            weight: 1.0,
        }
    }
}

/// The rate limit that decided, for the response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimited {
    /// Which dimension.
    pub dimension: Dimension,
    /// Microseconds until a retry can succeed.
    pub retry_after_us: u64,
    /// The bucket's burst.
    pub burst: u32,
    /// The bucket's sustained rate.
    pub per_hour: u32,
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The decision.
    pub decision: Decision,
    /// Every reason, strongest rule first, then the model's.
    pub reasons: Vec<Reason>,
    /// Set when a rate limit rejected.
    pub rate_limited: Option<RateLimited>,
    /// Set when a retry later can succeed: a rate limit, or a store that could not count the comment.
    pub retry_after_us: Option<u64>,
}

/// Whether the commenter's role exempts them from the rules (and from rate limits).
pub fn is_privileged(comment: &Comment, site: &SiteConfig) -> bool {
    !comment.user_role.is_empty()
        && site
            .rules
            .privileged_roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case(comment.user_role.trim()))
}

/// The thresholds for a site: the model's, or the site's probability overrides.
pub fn thresholds(model: Thresholds, site: &SiteConfig) -> Thresholds {
    let logit = |p: f64| (p / (1.0 - p)).ln();
    Thresholds {
        accept_below: site
            .accept_below_probability
            .map_or(model.accept_below, logit),
        reject_at: site.reject_at_probability.map_or(model.reject_at, logit),
    }
}

/// Everything the policy looks at besides the comment.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The site's rules and thresholds.
    pub site: &'a SiteConfig,
    /// The model's thresholds before site overrides.
    pub model_thresholds: Thresholds,
    /// The model's score and strongest tokens.
    pub explanation: &'a Explanation,
    /// The rate limits' verdict; `None` when not counted (test submissions, privileged roles).
    pub admission: Option<&'a Admission>,
    /// Links in the content.
    pub links: usize,
    /// The content's skeleton (see `tokenize::skeleton`), for term matching.
    pub skeleton: &'a str,
    /// The author's approved comments when the author is trusted (enough approvals, no spam verdict).
    pub trusted: Option<u64>,
    /// Near-duplicate sightings, when the comment was fingerprinted.
    pub sighting: Option<&'a Sighting>,
    /// The rate limits could not be checked because the store did not answer, and the site refuses what
    /// it cannot count (`rate_limits_without_store = "closed"`).
    pub uncounted_refused: bool,
    /// What the site's overlay made of the comment, when it has one; its push is already in
    /// `explanation`'s score, and it is named here for the reasons.
    pub overlay: Option<&'a overlay::Reading>,
}

/// Decide.
pub fn decide(comment: &Comment, input: &Inputs<'_>) -> Verdict {
    let rules = &input.site.rules;
    let mut reasons = Vec::new();
    let mut rate_limited = None;
    let model_reasons = model_reasons(input.explanation, input.overlay);

    let hard = |reasons: Vec<Reason>, decision, rate_limited: Option<RateLimited>| Verdict {
        decision,
        reasons: reasons.into_iter().chain(model_reasons.clone()).collect(),
        retry_after_us: rate_limited.map(|r| r.retry_after_us),
        rate_limited,
    };

    if !comment.honeypot.is_empty() {
        reasons.push(Reason::rule(
            code::HONEYPOT,
            "the hidden form field was filled in, which only programs do".into(),
        ));
        return hard(reasons, Decision::Reject, None);
    }
    if is_privileged(comment, input.site) {
        reasons.push(Reason::rule(
            code::PRIVILEGED_ROLE,
            format!(
                "the commenter's role `{}` is trusted",
                comment.user_role.trim()
            ),
        ));
        return hard(reasons, Decision::Accept, None);
    }
    if input.uncounted_refused {
        reasons.push(Reason::rule(
            code::STORE_DEGRADED,
            "the store is unreachable, so the rate limits cannot be checked, and this site refuses \
             comments it cannot count; retry later"
                .into(),
        ));
        return Verdict {
            retry_after_us: Some(STORE_DOWN_RETRY_AFTER_US),
            ..hard(reasons, Decision::Reject, None)
        };
    }
    if let Some(Admission::Refused {
        dimension,
        retry_after_us,
        burst,
        per_hour,
    }) = input.admission
    {
        reasons.push(Reason::rule(
            dimension.reason_code(),
            format!(
                "more than {burst} comments at once or {per_hour} an hour from this {}",
                dimension.as_str()
            ),
        ));
        rate_limited = Some(RateLimited {
            dimension: *dimension,
            retry_after_us: *retry_after_us,
            burst: *burst,
            per_hour: *per_hour,
        });
        return hard(reasons, Decision::Reject, rate_limited);
    }
    if let Some(term) = input.site.blocked.first_in(input.skeleton) {
        reasons.push(Reason::rule(
            code::BLOCKED_TERM,
            format!("contains the blocked term `{term}`"),
        ));
        return hard(reasons, Decision::Reject, None);
    }

    if let Some(approved) = input.trusted {
        reasons.push(Reason::rule(
            code::TRUSTED_AUTHOR,
            format!("a returning author with {approved} approved comments and no spam"),
        ));
        return hard(reasons, Decision::Accept, None);
    }

    let mut floor = Decision::Accept;
    if let Some(term) = input.site.moderation.first_in(input.skeleton) {
        reasons.push(Reason::rule(
            code::MODERATION_TERM,
            format!("contains the moderation term `{term}`"),
        ));
        floor = Decision::Hold;
    }
    if input.links > rules.max_links {
        reasons.push(Reason::rule(
            code::TOO_MANY_LINKS,
            format!(
                "{} links, more than the {} allowed",
                input.links, rules.max_links
            ),
        ));
        floor = Decision::Hold;
    }
    if let Some(secs) = comment.seconds_to_submit() {
        if secs < rules.min_seconds_to_submit {
            reasons.push(Reason::rule(
                code::TOO_FAST,
                format!(
                    "submitted {secs:.1} s after the form was shown, sooner than {} s",
                    rules.min_seconds_to_submit
                ),
            ));
            floor = Decision::Hold;
        }
    }

    let campaign = &input.site.campaign;
    if let Some(s) = input.sighting.filter(|s| s.count > campaign.threshold) {
        reasons.push(Reason::rule(
            code::CAMPAIGN,
            format!(
                "{} near-identical comments within {} s (campaign {})",
                s.count, campaign.window_secs, s.campaign_id
            ),
        ));
        floor = match campaign.action {
            CampaignAction::Hold => floor.max(Decision::Hold),
            CampaignAction::Reject => Decision::Reject,
        };
    }

    let ex = input.explanation;
    let cuts = thresholds(input.model_thresholds, input.site);
    let mut band = cuts.decide(ex.score.log_odds);
    if let Some(o) = input.overlay {
        // A site's overlay is its people's few labels: it may send a comment to a person, or spare one
        // the model doubted, but on its own it neither rejects what the model would not, nor publishes
        // what the model would reject. Either way a person decides, and their verdict teaches it.
        let base = cuts.decide(ex.score.log_odds - o.log_odds);
        band = match (base, band) {
            (Decision::Reject, Decision::Reject) => Decision::Reject,
            (_, Decision::Reject) | (Decision::Reject, Decision::Accept) => Decision::Hold,
            (_, band) => band,
        };
    }
    if ex.evidence_tokens < MIN_EVIDENCE_TOKENS && band != Decision::Hold {
        reasons.push(Reason {
            code: code::MODEL_LOW_EVIDENCE,
            detail: format!(
                "the model knows only {} features of what this comment says, too few to decide alone",
                ex.evidence_tokens
            ),
            weight: ex.evidence_tokens as f64,
        });
        band = Decision::Hold;
    }
    Verdict {
        decision: floor.max(band),
        reasons: reasons.into_iter().chain(model_reasons).collect(),
        retry_after_us: None,
        rate_limited,
    }
}

/// `model.spam` and the strongest tokens each way; with an overlay, `overlay.score` and the features
/// it pushed hardest each way.
fn model_reasons(ex: &Explanation, overlay: Option<&overlay::Reading>) -> Vec<Reason> {
    let mut out = vec![Reason {
        code: code::MODEL_SPAM,
        detail: format!("spam probability {:.4}", ex.score.spam_probability()),
        weight: ex.score.log_odds,
    }];
    let tokens = ex
        .towards_spam
        .iter()
        .take(REASON_TOKENS)
        .chain(ex.towards_ham.iter().take(REASON_TOKENS));
    out.extend(tokens.map(|c| Reason {
        code: code::MODEL_TOKEN,
        detail: c.token.clone(),
        weight: c.weight,
    }));
    if let Some(o) = overlay.filter(|o| o.known > 0) {
        out.push(Reason {
            code: code::OVERLAY_SCORE,
            detail: format!(
                "this site's moderators' labels moved the log-odds by {:+.2} ({} of the comment's \
                 features seen in them)",
                o.log_odds, o.known
            ),
            weight: o.log_odds,
        });
        out.extend(o.towards_spam.iter().chain(&o.towards_ham).map(|p| Reason {
            code: code::OVERLAY_TOKEN,
            detail: format!(
                "{} (in {} spam and {} ham labels of this site)",
                p.token, p.counts.spam, p.counts.ham
            ),
            weight: p.weight,
        }));
    }
    out
}
