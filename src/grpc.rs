//! The gRPC face of saring: the `Moderation` service here, `ModerationQueue` in `grpc/queue.rs`,
//! `Admin` in `grpc/admin.rs`, `ModelAdmin` in `grpc/model_admin.rs`, the two layers in front of them
//! all (a span per request in `grpc/trace.rs`, API keys in `grpc/auth.rs`), and (in `grpc/status.rs`)
//! the one place domain errors become `tonic::Status`.

mod admin;
mod auth;
mod model_admin;
mod queue;
mod status;
mod trace;

pub use admin::AdminService;
pub use auth::AuthLayer;
pub use model_admin::ModelAdminService;
pub use queue::QueueService;
pub use trace::TraceLayer;

use crate::access::auth::{authorize, Permission};

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::moderation::comment::{check_site, Comment};
use crate::pb;
use crate::service::check::Checker;

/// The `saring.v1.Moderation` service.
#[derive(Debug)]
pub struct ModerationService {
    checker: Arc<Checker>,
}

impl ModerationService {
    /// Serve checks through `checker`.
    pub fn new(checker: Arc<Checker>) -> Self {
        ModerationService { checker }
    }
}

#[tonic::async_trait]
impl pb::moderation_server::Moderation for ModerationService {
    async fn check_comment(
        &self,
        request: Request<pb::CheckCommentRequest>,
    ) -> Result<Response<pb::CheckCommentResponse>, Status> {
        let principal = auth::principal(&request)?;
        let request = request.into_inner();
        // The site first: authorizing a malformed one would call it another site's.
        check_site("site_id", &request.site_id).map_err(status::invalid)?;
        trace::site(&request.site_id);
        authorize(&principal, Permission::Service, &request.site_id).map_err(status::auth)?;
        let comment =
            Comment::from_request(request.clone(), self.checker.config().max_content_bytes)
                .map_err(status::invalid)?;
        let response = self
            .checker
            .check(&comment, &request)
            .await
            .map_err(|e| status::store(&e))?;
        trace::decision(response.decision());
        Ok(Response::new(response))
    }

    async fn submit_feedback(
        &self,
        request: Request<pb::SubmitFeedbackRequest>,
    ) -> Result<Response<pb::SubmitFeedbackResponse>, Status> {
        let principal = auth::principal(&request)?;
        let mut request = request.into_inner();
        check_site("site_id", &request.site_id).map_err(status::invalid)?;
        trace::site(&request.site_id);
        authorize(&principal, Permission::Service, &request.site_id).map_err(status::auth)?;
        if request.reporter.trim().is_empty() && !principal.key_id.is_empty() {
            request.reporter = principal.label().to_string();
        }
        let taken = crate::service::feedback::submit(&self.checker, request, &principal.key_id)
            .await
            .map_err(status::feedback)?;
        tracing::info!(replaced = taken.replaced, "feedback kept");
        Ok(Response::new(pb::SubmitFeedbackResponse {
            decision_id: taken.decision_id,
            replaced: taken.replaced,
        }))
    }
}
