//! Domain errors → `tonic::Status`, in one place. A missing, unknown or revoked key is
//! UNAUTHENTICATED; a valid key outside its role or sites PERMISSION_DENIED; a client's mistake is
//! INVALID_ARGUMENT naming the field; an unknown id is NOT_FOUND; a conflicting resolution is FAILED_PRECONDITION naming who resolved
//! the item and how; a store that cannot answer is UNAVAILABLE (the client may retry); anything else is
//! INTERNAL with a generic message, its cause logged here once.

use tonic::{Code, Status};

use crate::access::{auth, keys};
use crate::moderation::comment::Invalid;
use crate::pb;
use crate::service::queue::Outcome;
use crate::service::{export, feedback, models, queue};
use crate::store;

pub(super) fn invalid(e: Invalid) -> Status {
    Status::invalid_argument(e.to_string())
}

/// A store that is down or slow is UNAVAILABLE (the client may retry); a record it holds that does not
/// decode is INTERNAL (a retry will not help).
pub(super) fn store(err: &store::Error) -> Status {
    if let store::Error::NotDurable(risk) = err {
        // Not logged per request: the store warned once when it read the settings.
        return Status::unavailable(format!(
            "not holding the comment: redis_durability is \"require\" and {risk}"
        ));
    }
    if err.is_transient() {
        tracing::warn!(error = %err, "store unavailable");
        Status::unavailable("the store is unavailable; retry")
    } else {
        tracing::error!(error = %err, "the store holds a record saring cannot read");
        Status::internal("internal error")
    }
}

pub(super) fn queue(e: queue::Error) -> Status {
    match e {
        queue::Error::Store(err) => store(&err),
        queue::Error::Invalid { .. } => Status::invalid_argument(e.to_string()),
        queue::Error::NotFound(_) => Status::not_found(e.to_string()),
    }
}

pub(super) fn export(e: export::Error) -> Status {
    match e {
        export::Error::Store(err) => store(&err),
        export::Error::Invalid(err) => invalid(err),
    }
}

pub(super) fn feedback(e: feedback::Error) -> Status {
    match e {
        feedback::Error::Store(err) => store(&err),
        feedback::Error::Invalid(err) => invalid(err),
        feedback::Error::NotFound(m) => Status::not_found(m),
    }
}

pub(super) fn auth(e: auth::Error) -> Status {
    match e {
        auth::Error::Unauthenticated(m) => Status::unauthenticated(m),
        auth::Error::Denied(m) => Status::permission_denied(m),
        auth::Error::Unavailable(err) if err.is_transient() => {
            tracing::warn!(error = %err, "cannot read API keys");
            Status::unavailable("the key store is unavailable; retry")
        }
        auth::Error::Unavailable(err) => store(&err),
    }
}

pub(super) fn keys(e: keys::Error) -> Status {
    match e {
        keys::Error::Store(err) => store(&err),
        keys::Error::Invalid { .. } => Status::invalid_argument(e.to_string()),
        keys::Error::NotFound(_) => Status::not_found(e.to_string()),
        keys::Error::Random(_) => {
            tracing::error!(error = %e, "cannot create a key");
            Status::internal("internal error")
        }
    }
}

/// A model that cannot be loaded: a bad name is the caller's mistake, a missing file NOT_FOUND, and a
/// file that does not validate FAILED_PRECONDITION with the whole reason (the caller must fix the file).
pub(super) fn models(e: models::Error) -> Status {
    match &e {
        models::Error::Name(_) => Status::invalid_argument(e.to_string()),
        models::Error::Missing(_) => Status::not_found(e.to_string()),
        models::Error::Invalid(_) | models::Error::NoShadow => {
            let reason = crate::telemetry::chain(&e);
            tracing::warn!(error = %reason, "a model change was refused; the serving model keeps serving");
            Status::failed_precondition(reason)
        }
        models::Error::Interrupted => {
            tracing::error!(error = %e, "loading a model was interrupted");
            Status::internal("internal error")
        }
    }
}

/// One item's resolution as a per-item result: its gRPC code and message.
pub(super) fn outcome(held_id: &str, o: &Outcome) -> (Code, String) {
    match o {
        Outcome::Resolved(_) => (Code::Ok, "resolved".into()),
        Outcome::AlreadyResolved(_) => (Code::Ok, "already resolved the same way".into()),
        Outcome::Conflict(r) => (
            Code::FailedPrecondition,
            format!(
                "`{held_id}` was already resolved as {} by {}{}",
                r.verdict().as_str_name(),
                if r.moderator.is_empty() {
                    "an unnamed moderator"
                } else {
                    &r.moderator
                },
                if r.key_id.is_empty() {
                    String::new()
                } else {
                    format!(" (key {})", r.key_id)
                }
            ),
        ),
        Outcome::NotFound => (
            Code::NotFound,
            format!("no held item `{held_id}` on this site"),
        ),
    }
}

/// A single-item ResolveHeld answers with the item's status itself.
pub(super) fn single(held_id: &str, o: &Outcome) -> Result<(), Status> {
    match outcome(held_id, o) {
        (Code::Ok, _) => Ok(()),
        (code, message) => Err(Status::new(code, message)),
    }
}

/// The resolution standing after an outcome, if any.
pub(super) fn standing(o: &Outcome) -> Option<pb::Resolution> {
    match o {
        Outcome::Resolved(r) | Outcome::AlreadyResolved(r) | Outcome::Conflict(r) => {
            Some(r.clone())
        }
        Outcome::NotFound => None,
    }
}
