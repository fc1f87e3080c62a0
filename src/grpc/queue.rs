//! The `saring.v1.ModerationQueue` service: moderators' RPCs over [`crate::service::queue::Queue`].

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::auth::principal;
use super::status;
use crate::access::auth::{self, authorize, Authenticator, Permission, Principal};
use crate::moderation::comment::check_site;
use crate::pb;
use crate::service::queue::{Actor, Filter, Queue};

/// How often a watcher looks for new events. Polling the store (rather than an in-process channel)
/// means a watcher sees events from every replica sharing a Redis.
const WATCH_POLL: Duration = Duration::from_millis(200);
/// Events a watcher may have queued on its way to a slow client before it stops reading the store
/// (the client then resumes from the last cursor it saw).
const WATCH_BUFFER: usize = 256;

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
        let mut after = self
            .queue
            .watch_from(&r.site_id, &r.after)
            .await
            .map_err(status::queue)?;
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let queue = self.queue.clone();
        let site = r.site_id;
        let mut stopping = self.stopping.clone();
        let guard = self.queue.watcher();
        let keys = self.auth.clone();
        // The watcher only reads the store and writes to its own channel: a slow client fills the
        // channel and pauses this task alone; a client gone closes it and ends the task; shutdown ends
        // the stream so the server's drain does not wait on a watcher forever; a revoked key ends it
        // (within the key cache time) with UNAUTHENTICATED. It runs in the request's span, so its lines
        // name the method and site.
        let span = tracing::Span::current();
        tokio::spawn(async move {
            let _guard = guard;
            loop {
                if *stopping.borrow() {
                    return;
                }
                if !keys.still_valid(&caller).await {
                    let revoked = auth::Error::Unauthenticated("the key was revoked");
                    let _ = tx.send(Err(status::auth(revoked))).await;
                    return;
                }
                let events = tokio::select! {
                    () = tx.closed() => return,
                    _ = stopping.changed() => return,
                    events = queue.events(&site, &after, WATCH_BUFFER) => events,
                };
                match events {
                    Ok(events) if events.is_empty() => {}
                    Ok(events) => {
                        for e in events {
                            after = e.cursor.clone();
                            if tx.send(Ok(e)).await.is_err() {
                                return;
                            }
                        }
                        continue;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "watcher could not read the event feed; retrying");
                    }
                }
                tokio::select! {
                    () = tx.closed() => return,
                    _ = stopping.changed() => return,
                    () = tokio::time::sleep(WATCH_POLL) => {}
                }
            }
        }.instrument(span));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
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
