//! Domain errors → `tonic::Status`, in one place. A client's mistake is INVALID_ARGUMENT naming the
//! field; a store that cannot answer is UNAVAILABLE (the client may retry); anything else is INTERNAL
//! with a generic message, its cause logged here once.

use tonic::Status;

use crate::check;
use crate::comment::Invalid;

pub(super) fn invalid(e: Invalid) -> Status {
    Status::invalid_argument(e.to_string())
}

pub(super) fn check(e: check::Error) -> Status {
    match e {
        check::Error::Store(err) => {
            tracing::warn!(error = %err, "store unavailable during a check");
            Status::unavailable("the store is unavailable; retry")
        }
        check::Error::Corrupt(err) => {
            tracing::error!(error = %err, "a remembered decision could not be decoded");
            Status::internal("internal error")
        }
    }
}
