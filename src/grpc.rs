//! The gRPC face of saring: the `Moderation` service, request validation, and (in `grpc/status.rs`) the
//! one place domain errors become `tonic::Status`.

mod status;

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::check::Checker;
use crate::comment::{self, Comment, Invalid};
use crate::pb;
use crate::store::Store;

/// The `saring.v1.Moderation` service.
#[derive(Debug)]
pub struct ModerationService<S> {
    checker: Arc<Checker<S>>,
}

impl<S> ModerationService<S> {
    /// Serve checks through `checker`.
    pub fn new(checker: Arc<Checker<S>>) -> Self {
        ModerationService { checker }
    }
}

#[tonic::async_trait]
impl<S: Store> pb::moderation_server::Moderation for ModerationService<S> {
    async fn check_comment(
        &self,
        request: Request<pb::CheckCommentRequest>,
    ) -> Result<Response<pb::CheckCommentResponse>, Status> {
        let started = std::time::Instant::now();
        let request = request.into_inner();
        let comment = validate(request.clone(), self.checker.config().max_content_bytes)
            .map_err(status::invalid)?;
        let span = tracing::info_span!("check_comment", site = %comment.site_id);
        let _entered = span.enter();
        let response = self
            .checker
            .check(&comment, &request)
            .await
            .map_err(status::check)?;
        tracing::info!(
            decision = response.decision().as_str_name(),
            latency_us = started.elapsed().as_micros() as u64,
            "decided"
        );
        Ok(Response::new(response))
    }
}

/// Turn the wire request into a [`Comment`], refusing what is missing, too long or malformed.
pub fn validate(r: pb::CheckCommentRequest, max_content_bytes: usize) -> Result<Comment, Invalid> {
    use comment::{
        check_len, check_required, MAX_EMAIL_BYTES, MAX_ID_BYTES, MAX_SHORT_TEXT_BYTES,
        MAX_URL_BYTES,
    };
    check_required("site_id", &r.site_id)?;
    check_len("site_id", &r.site_id, MAX_ID_BYTES)?;
    check_required("content", &r.content)?;
    check_len("content", &r.content, max_content_bytes)?;
    for (field, value, max) in [
        ("comment_id", &r.comment_id, MAX_ID_BYTES),
        ("post_id", &r.post_id, MAX_ID_BYTES),
        ("permalink", &r.permalink, MAX_URL_BYTES),
        ("author_name", &r.author_name, MAX_SHORT_TEXT_BYTES),
        ("author_email", &r.author_email, MAX_EMAIL_BYTES),
        ("author_url", &r.author_url, MAX_URL_BYTES),
        ("user_agent", &r.user_agent, MAX_SHORT_TEXT_BYTES),
        ("referrer", &r.referrer, MAX_URL_BYTES),
        ("lang", &r.lang, MAX_ID_BYTES),
        ("user_role", &r.user_role, MAX_ID_BYTES),
        ("honeypot", &r.honeypot, MAX_SHORT_TEXT_BYTES),
    ] {
        check_len(field, value, max)?;
    }
    let user_ip = comment::parse_ip(&r.user_ip)?;
    let ts =
        |t: Option<prost_types::Timestamp>| t.and_then(|t| comment::timestamp(t.seconds, t.nanos));
    Ok(Comment {
        site_id: r.site_id.trim().to_string(),
        comment_id: r.comment_id,
        post_id: r.post_id,
        content: r.content,
        author_name: r.author_name,
        author_email: r.author_email,
        author_url: r.author_url,
        user_ip,
        lang: r.lang,
        user_role: r.user_role,
        author_verified: r.author_verified,
        form_rendered_at: ts(r.form_rendered_at),
        submitted_at: ts(r.submitted_at),
        honeypot: r.honeypot,
        is_test: r.is_test,
    })
}
