//! Domain errors → HTTP status and the JSON error body, in one place (as `grpc/status.rs` is for
//! gRPC). Every error the admin port answers is `{"error": {"code": "<gRPC-style code>", "message":
//! "…"}}` with the status its code stands for; a store that is down or slow is 503 UNAVAILABLE, a
//! record that does not decode 500 INTERNAL with a generic message, its cause logged here once.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::access::auth;
use crate::service::queue;
use crate::store;

/// An error as the admin port answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The gRPC-style code, e.g. `PERMISSION_DENIED`.
    pub code: Code,
    /// What a person reads.
    pub message: String,
}

/// The codes the admin port answers with, each tied to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 400.
    InvalidArgument,
    /// 401: no key, or one that is unknown or revoked.
    Unauthenticated,
    /// 403: a valid key outside its role or sites, or a cross-site request.
    PermissionDenied,
    /// 404.
    NotFound,
    /// 405: a path that exists, with another method.
    Unimplemented,
    /// 409.
    FailedPrecondition,
    /// 500.
    Internal,
    /// 503: the store did not answer; retry.
    Unavailable,
}

impl Code {
    fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::NotFound => "NOT_FOUND",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Code::InvalidArgument => StatusCode::BAD_REQUEST,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::Unimplemented => StatusCode::METHOD_NOT_ALLOWED,
            Code::FailedPrecondition => StatusCode::CONFLICT,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// The body, also written as the last line of a stream that ends in error.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {"code": self.code.as_str(), "message": self.message}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.code.status(), axum::Json(self.body())).into_response()
    }
}

/// A client's mistake in a field.
pub(super) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::InvalidArgument, message)
}

/// A store that is down or slow is UNAVAILABLE (retry); a record it holds that does not decode is
/// INTERNAL (a retry will not help).
pub(super) fn store(err: &store::Error) -> ApiError {
    if err.is_transient() {
        tracing::warn!(error = %err, "admin port: store unavailable");
        ApiError::new(Code::Unavailable, "the store is unavailable; retry")
    } else {
        tracing::error!(error = %err, "admin port: the store holds a record saring cannot read");
        ApiError::new(Code::Internal, "internal error")
    }
}

pub(super) fn queue(e: queue::Error) -> ApiError {
    match e {
        queue::Error::Store(err) => store(&err),
        queue::Error::Invalid { .. } => invalid(e.to_string()),
        queue::Error::NotFound(_) => ApiError::new(Code::NotFound, e.to_string()),
    }
}

pub(super) fn auth(e: auth::Error) -> ApiError {
    match e {
        auth::Error::Unauthenticated(m) => ApiError::new(Code::Unauthenticated, m),
        auth::Error::Denied(m) => ApiError::new(Code::PermissionDenied, m),
        auth::Error::Unavailable(err) if err.is_transient() => {
            tracing::warn!(error = %err, "admin port: cannot read API keys");
            ApiError::new(Code::Unavailable, "the key store is unavailable; retry")
        }
        auth::Error::Unavailable(err) => store(&err),
    }
}
