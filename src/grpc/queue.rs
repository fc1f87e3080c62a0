//! The `saring.v1.ModerationQueue` service: moderators' RPCs over [`crate::service::queue::Queue`].

use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::watch;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

use super::auth::principal;
use super::status;
use crate::access::auth::{self, authorize, Authenticator, Permission, Principal};
use crate::moderation::comment::check_site;
use crate::pb;
use crate::service::queue::{Actor, Filter, Followed, Queue};

/// The moderation queue service.
#[derive(Debug)]
pub struct QueueService {
    queue: Arc<Queue>,
    /// Turns true when the server shuts down: watchers end their streams so the drain can finish.
    stopping: watch::Receiver<bool>,
    /// Watchers ask it whether their key still stands, so a revocation ends an open stream.
    auth: Arc<Authenticator>,
}

impl QueueService {
    /// Serve `queue` until `stopping` turns true.
    pub fn new(
        queue: Arc<Queue>,
        stopping: watch::Receiver<bool>,
        auth: Arc<Authenticator>,
    ) -> Self {
        QueueService {
            queue,
            stopping,
            auth,
        }
    }
}

/// A queue request: it names the site it acts on.
trait SiteScoped {
    fn site_id_mut(&mut self) -> &mut String;
}

macro_rules! site_scoped {
    ($($t:ty),*) => {
        $(impl SiteScoped for $t {
            fn site_id_mut(&mut self) -> &mut String {
                &mut self.site_id
            }
        })*
    };
}

site_scoped!(
    pb::ListHeldRequest,
    pb::GetHeldRequest,
    pb::ResolveHeldRequest,
    pb::WatchHeldRequest,
    pb::ListAuditRequest,
    pb::RecheckHeldRequest
);

/// Where every queue RPC starts: the caller and its request, once the site id is a valid one (never
/// normalised: see `check_site`) and the caller may moderate that site, so the RPC authorizes and acts
/// on the very name it was sent.
fn moderating<T: SiteScoped>(request: Request<T>) -> Result<(Principal, T), Status> {
    let caller = principal(&request)?;
    let mut r = request.into_inner();
    let site = r.site_id_mut();
    check_site("site_id", site).map_err(status::invalid)?;
    super::trace::site(site);
    authorize(&caller, Permission::Moderate, site).map_err(status::auth)?;
    Ok((caller, r))
}

type EventStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::QueueEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::moderation_queue_server::ModerationQueue for QueueService {
    async fn list_held(
        &self,
        request: Request<pb::ListHeldRequest>,
    ) -> Result<Response<pb::ListHeldResponse>, Status> {
        let (_, r) = moderating(request)?;
        let filter = Filter {
            reason_code: r.reason_code,
            min_probability: r.min_spam_probability,
            max_probability: r.max_spam_probability,
            campaign_id: r.campaign_id,
        };
        let (items, next_page_token) = self
            .queue
            .list(&r.site_id, r.page_size, &r.page_token, &filter)
            .await
            .map_err(status::queue)?;
        Ok(Response::new(pb::ListHeldResponse {
            items,
            next_page_token,
        }))
    }

    async fn get_held(
        &self,
        request: Request<pb::GetHeldRequest>,
    ) -> Result<Response<pb::HeldItem>, Status> {
        let (_, r) = moderating(request)?;
        let item = self
            .queue
            .get(&r.site_id, &r.held_id)
            .await
            .map_err(status::queue)?;
        Ok(Response::new(item))
    }

    async fn resolve_held(
        &self,
        request: Request<pb::ResolveHeldRequest>,
    ) -> Result<Response<pb::ResolveHeldResponse>, Status> {
        let (caller, mut r) = moderating(request)?;
        // With a key, a resolution without a named moderator is the key's; without keys a name is required.
        if r.moderator.trim().is_empty() && !caller.key_id.is_empty() {
            r.moderator = caller.label().to_string();
        }
        let outcomes = self
            .queue
            .resolve(
                &r.site_id,
                &r.held_ids,
                &r.campaign_id,
                r.verdict(),
                Actor {
                    name: &r.moderator,
                    key_id: &caller.key_id,
                },
                &r.note,
            )
            .await
            .map_err(status::queue)?;
        tracing::info!(items = outcomes.len(), "resolved held items");
        if let ([(id, outcome)], true) = (outcomes.as_slice(), r.campaign_id.is_empty()) {
            status::single(id, outcome)?;
        }
        let results = outcomes
            .iter()
            .map(|(id, o)| {
                let (code, message) = status::outcome(id, o);
                pb::ResolveResult {
                    held_id: id.clone(),
                    code: code as i32,
                    message,
                    resolution: status::standing(o),
                }
            })
            .collect();
        Ok(Response::new(pb::ResolveHeldResponse { results }))
    }

    type WatchHeldStream = EventStream;

    async fn watch_held(
        &self,
        request: Request<pb::WatchHeldRequest>,
    ) -> Result<Response<Self::WatchHeldStream>, Status> {
        let (caller, r) = moderating(request)?;
        let after = self
            .queue
            .watch_from(&r.site_id, &r.after)
            .await
            .map_err(status::queue)?;
        let keys = self.auth.clone();
        // Shutdown ends the stream so the server's drain does not wait on a watcher forever; a revoked
        // key ends it (within the key cache time) with UNAUTHENTICATED.
        let followed = self
            .queue
            .follow(r.site_id, after, self.stopping.clone(), move || {
                let (keys, caller) = (keys.clone(), caller.clone());
                async move { keys.still_valid(&caller).await }
            });
        let events = ReceiverStream::new(followed).map(|f| match f {
            Followed::Event(e) => Ok(*e),
            Followed::Revoked => Err(status::auth(auth::Error::Unauthenticated(
                "the key was revoked",
            ))),
        });
        Ok(Response::new(Box::pin(events)))
    }

    async fn list_audit(
        &self,
        request: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        let (_, r) = moderating(request)?;
        let (entries, next_page_token) = self
            .queue
            .audit(&r.site_id, r.page_size, &r.page_token)
            .await
            .map_err(status::queue)?;
        Ok(Response::new(pb::ListAuditResponse {
            entries,
            next_page_token,
        }))
    }

    async fn recheck_held(
        &self,
        request: Request<pb::RecheckHeldRequest>,
    ) -> Result<Response<pb::RecheckHeldResponse>, Status> {
        let (caller, r) = moderating(request)?;
        let recheck = self
            .queue
            .recheck(&r.site_id, r.apply, r.limit, &caller.key_id)
            .await
            .map_err(status::queue)?;
        tracing::info!(
            scanned = recheck.scanned,
            changed = recheck.changed.len(),
            apply = r.apply,
            "rechecked held items"
        );
        Ok(Response::new(pb::RecheckHeldResponse {
            model_version: self.queue.model_version(),
            scanned: recheck.scanned as u32,
            changed: recheck.changed,
        }))
    }
}
