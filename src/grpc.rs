//! The gRPC face of saring: the `Moderation` service here, the `ModerationQueue` service in
//! `grpc/queue.rs`, and (in `grpc/status.rs`) the one place domain errors become `tonic::Status`.

mod admin;
mod auth;
mod queue;
mod status;

pub use admin::AdminService;
pub use auth::AuthLayer;
pub use queue::QueueService;

use crate::access::auth::{authorize, Permission};

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tracing::Instrument;

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
        let started = std::time::Instant::now();
        let principal = auth::principal(&request)?;
        let request = request.into_inner();
        // The site first: authorizing a malformed one would call it another site's.
        check_site("site_id", &request.site_id).map_err(status::invalid)?;
        authorize(&principal, Permission::Service, &request.site_id).map_err(status::auth)?;
        let comment =
            Comment::from_request(request.clone(), self.checker.config().max_content_bytes)
                .map_err(status::invalid)?;
        // Instrument the future rather than entering the span: a guard held across an await would
        // leak the span into whatever else runs on this thread meanwhile.
        let span = tracing::info_span!("check_comment", site = %comment.site_id);
        async {
            let response = self
                .checker
                .check(&comment, &request)
                .await
                .map_err(|e| status::store(&e))?;
            tracing::info!(
                decision = response.decision().as_str_name(),
                latency_us = started.elapsed().as_micros() as u64,
                "decided"
            );
            Ok(Response::new(response))
        }
        .instrument(span)
        .await
    }

    async fn submit_feedback(
        &self,
        request: Request<pb::SubmitFeedbackRequest>,
    ) -> Result<Response<pb::SubmitFeedbackResponse>, Status> {
        let principal = auth::principal(&request)?;
        let mut request = request.into_inner();
        check_site("site_id", &request.site_id).map_err(status::invalid)?;
        authorize(&principal, Permission::Service, &request.site_id).map_err(status::auth)?;
        if request.reporter.trim().is_empty() && !principal.key_id.is_empty() {
            request.reporter = principal.label().to_string();
        }
        let span = tracing::info_span!("submit_feedback", site = %request.site_id);
        let taken = crate::service::feedback::submit(&self.checker, request, &principal.key_id)
            .instrument(span.clone())
            .await
            .map_err(status::feedback)?;
        span.in_scope(|| tracing::info!(replaced = taken.replaced, "feedback kept"));
        Ok(Response::new(pb::SubmitFeedbackResponse {
            decision_id: taken.decision_id,
            replaced: taken.replaced,
        }))
    }
}
