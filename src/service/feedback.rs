//! SubmitFeedback, transport aside: the blog reports a decision saring got wrong (Akismet's submit-spam
//! and submit-ham). The report becomes a labelled example, kept under the decision's id so a later report
//! for the same decision replaces it (exports never count one comment twice), and is audited.
//!
//! The comment is found by its decision id (a held item, or a decision kept for `decision_retention_secs`
//! because it carried a comment id), by the blog's comment id, or sent whole.

use sha2::{Digest, Sha256};

use crate::clock::{now_us, timestamp};
use crate::moderation::comment::{Comment, Invalid, MAX_ID_BYTES, MAX_SHORT_TEXT_BYTES};
use crate::moderation::trust::author_key;
use crate::pb;
use crate::service::check::Checker;
use crate::store::{self, Feedback, TrustUpdate};

/// Why feedback was not taken.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store did not answer, or holds a record that does not decode.
    #[error("the store failed")]
    Store(#[from] store::Error),
    /// A request field is wrong.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// saring has no decision under that id (never made, or older than the retention).
    #[error("{0}")]
    NotFound(String),
}

fn invalid(field: &'static str, problem: &str) -> Error {
    Error::Invalid(Invalid {
        field,
        problem: problem.into(),
    })
}

/// What was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// The decision the label is kept under.
    pub decision_id: String,
    /// An earlier report for it was replaced.
    pub replaced: bool,
}

/// The comment a report is about, and the decision saring made on it when known.
struct Subject {
    decision_id: String,
    request: pb::CheckCommentRequest,
    response: Option<pb::CheckCommentResponse>,
}

/// Take one report. `key_id`: the API key it came with ("" when keys are off), kept in the audit log.
pub async fn submit(
    checker: &Checker,
    r: pb::SubmitFeedbackRequest,
    key_id: &str,
) -> Result<Taken, Error> {
    crate::moderation::comment::check_site("site_id", &r.site_id)?;
    crate::moderation::comment::check_len("reporter", &r.reporter, MAX_SHORT_TEXT_BYTES)?;
    let label = match pb::FeedbackLabel::try_from(r.label) {
        Ok(l @ (pb::FeedbackLabel::Spam | pb::FeedbackLabel::Ham)) => l,
        _ => {
            return Err(invalid(
                "label",
                "must be FEEDBACK_LABEL_SPAM or FEEDBACK_LABEL_HAM",
            ))
        }
    };
    let site = r.site_id.clone();
    let now = now_us();
    let subject = find(checker, &site, r.target, now).await?;

    let reporter = if r.reporter.trim().is_empty() {
        "blog".to_string()
    } else {
        r.reporter
    };
    let response = subject.response.unwrap_or_default();
    let audit = pb::AuditEntry {
        at: Some(timestamp(now)),
        actor: reporter.clone(),
        key_id: key_id.to_string(),
        action: pb::audit_entry::Action::Feedback as i32,
        held_id: response.held_id.clone(),
        decision_id: subject.decision_id.clone(),
        label: label as i32,
        original_decision: response.decision,
        original_spam_probability: response.spam_probability,
        model_version: response.model_version.clone(),
        ..Default::default()
    };
    let example = pb::LabelledExample {
        decision_id: subject.decision_id.clone(),
        label: label as i32,
        origin: "feedback".into(),
        actor: reporter,
        request: Some(subject.request.clone()),
        at: Some(timestamp(now)),
    };
    // Spam marks the author for good; ham from the blog does not build trust (only a moderator's approval
    // does), so a reversed report never leaves a count to undo.
    let trust = (label == pb::FeedbackLabel::Spam)
        .then(|| author_key(&subject.request.author_email))
        .flatten()
        .map(|author| TrustUpdate {
            author,
            approved: false,
        });
    // The blog's report teaches the site's overlay too, under the key that sent it; a report that
    // replaces an earlier one for the same decision first takes back what that one taught.
    let lesson = checker.lesson(
        &site,
        &subject.request,
        label == pb::FeedbackLabel::Spam,
        key_id,
    );
    let feedback = Feedback {
        label: example,
        audit,
        trust,
        lesson,
    };
    let kept = checker.store().feedback(&site, &feedback).await?;
    if let (Some(lesson), Some(taught)) = (&feedback.lesson, &kept.taught) {
        checker.taught(&site, lesson, taught);
    }
    let replaced = kept.replaced;
    checker.metrics().feedback(label == pb::FeedbackLabel::Spam);
    checker.notify(&site, "feedback", now, || {
        serde_json::json!({
            "decision_id": subject.decision_id,
            "comment_id": subject.request.comment_id,
            "label": label.as_str_name(),
            "replaced": replaced,
        })
    });
    Ok(Taken {
        decision_id: subject.decision_id,
        replaced,
    })
}

async fn find(
    checker: &Checker,
    site: &str,
    target: Option<pb::submit_feedback_request::Target>,
    now: u64,
) -> Result<Subject, Error> {
    use pb::submit_feedback_request::Target;
    let store = checker.store();
    match target {
        None => Err(invalid(
            "target",
            "give a decision_id, a comment_id or the whole comment",
        )),
        Some(Target::DecisionId(id)) => {
            crate::moderation::comment::check_required("decision_id", &id)?;
            crate::moderation::comment::check_len("decision_id", &id, MAX_ID_BYTES)?;
            by_decision(checker, site, &id, now).await?.ok_or_else(|| {
                Error::NotFound(format!(
                    "no decision `{id}` on this site (not made, or older than the retention)"
                ))
            })
        }
        Some(Target::CommentId(id)) => {
            crate::moderation::comment::check_required("comment_id", &id)?;
            crate::moderation::comment::check_len("comment_id", &id, MAX_ID_BYTES)?;
            let found = match store.decision_for_comment(site, &id, now).await? {
                Some(decision_id) => by_decision(checker, site, &decision_id, now).await?,
                None => None,
            };
            found.ok_or_else(|| {
                Error::NotFound(format!(
                    "no decision kept for comment `{id}` (send the whole comment instead)"
                ))
            })
        }
        Some(Target::Comment(request)) => {
            let comment =
                Comment::from_request(request.clone(), checker.config().max_content_bytes)?;
            if comment.site_id != site {
                return Err(invalid("comment.site_id", "differs from site_id"));
            }
            // A comment saring decided is kept under that decision, so the report replaces an earlier one
            // about it rather than adding a second example.
            let known = match comment.comment_id.as_str() {
                "" => None,
                id => store.decision_for_comment(site, id, now).await?,
            };
            if let Some(decision_id) = known {
                if let Some(mut s) = by_decision(checker, site, &decision_id, now).await? {
                    s.request = request;
                    return Ok(s);
                }
            }
            let decision_id = if comment.comment_id.is_empty() {
                let digest = Sha256::digest(comment.content.as_bytes());
                format!("text:{}", crate::hash::hex(&digest[..12]))
            } else {
                format!("comment:{}", comment.comment_id)
            };
            Ok(Subject {
                decision_id,
                request,
                response: None,
            })
        }
    }
}

/// A held item (its decision id is its held id) or a kept decision record.
async fn by_decision(
    checker: &Checker,
    site: &str,
    decision_id: &str,
    now: u64,
) -> Result<Option<Subject>, Error> {
    let store = checker.store();
    if let Some(item) = store.held(site, decision_id).await? {
        return Ok(Some(Subject {
            decision_id: decision_id.to_string(),
            request: item.request.unwrap_or_default(),
            response: item.response,
        }));
    }
    Ok(match store.decision(site, decision_id, now).await? {
        Some(record) => Some(Subject {
            decision_id: decision_id.to_string(),
            request: record.request.unwrap_or_default(),
            response: record.response,
        }),
        None => None,
    })
}
