//! The moderator page's JSON API, `web/README.md`'s contract, over the same service layer as gRPC:
//! [`Queue`](crate::service::queue::Queue) for listing, resolving and following the queue, the
//! [`Authenticator`](crate::access::auth::Authenticator) and [`authorize`] with the moderator role for
//! keys and sites, the models for the version, the store's per-day tallies for the chart.
//!
//! Every call needs `Authorization: Bearer <key>` (a moderator key for the site, or an admin key);
//! a key for site A gets 403 for every path of site B, and B's ids resolved under A are `not_found`.
//! The one state-changing call (`resolve`) is also refused unless it carries `X-Saring-Request: 1`
//! and a JSON content type, comes from no foreign `Origin`, and is not a cross-site `Sec-Fetch-Site`:
//! a page on another origin cannot send those headers without a CORS preflight this server never
//! answers, so it cannot resolve anything with a moderator's browser.

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::error::{self, ApiError, Code};
use super::Admin;
use crate::access::auth::{authorize, Permission, Principal};
use crate::clock::{date, micros, now_us, rfc3339, DAY_US};
use crate::model::highlight::highlights;
use crate::moderation::policy::code::MODEL_TOKEN;
use crate::pb;
use crate::service::queue::{Actor, Filter, Followed, Outcome, MAX_PAGE_SIZE};

/// Largest request body: 500 ids and a 4 KiB note fit many times over.
pub(super) const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Items a page when the page does not say.
const DEFAULT_LIMIT: usize = 50;
/// The live stream's keep-alive: the page counts three missed pings (45 s) as a dead stream.
const PING: Duration = Duration::from_secs(15);
/// Days in the stats chart, today included.
const STATS_DAYS: u64 = 30;

pub(super) fn routes() -> Router<Admin> {
    Router::new()
        .route("/api/v1/session", get(session))
        .route("/api/v1/model", get(model))
        .route("/api/v1/sites/{site}/held", get(held))
        .route("/api/v1/sites/{site}/watch", get(watch))
        .route("/api/v1/sites/{site}/resolve", post(resolve))
        .route("/api/v1/sites/{site}/stats", get(stats))
}

/// The caller behind the request's bearer key.
async fn caller(admin: &Admin, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    admin.auth.authenticate(header).await.map_err(error::auth)
}

/// The caller, once it may moderate `site` (trimmed, as every RPC trims it).
async fn moderating(
    admin: &Admin,
    headers: &HeaderMap,
    site: &str,
) -> Result<(Principal, String), ApiError> {
    let p = caller(admin, headers).await?;
    let site = site.trim().to_string();
    authorize(&p, Permission::Moderate, &site).map_err(error::auth)?;
    Ok((p, site))
}

/// Refuse a state-changing call that a page on another origin could have made.
fn check_same_origin(admin: &Admin, headers: &HeaderMap) -> Result<(), ApiError> {
    let denied = |m: String| Err(ApiError::new(Code::PermissionDenied, m));
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if text("x-saring-request") != Some("1") {
        return denied("state-changing calls need the header X-Saring-Request: 1".into());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let scheme = if admin.tls { "https" } else { "http" };
        let own = text("host").map(|host| format!("{scheme}://{host}"));
        if own.as_deref() != origin.to_str().ok() {
            return denied("cross-site request refused (Origin)".into());
        }
    }
    if let Some(site) = text("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return denied(format!(
                "cross-site request refused (Sec-Fetch-Site {site})"
            ));
        }
    }
    let json = text("content-type")
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(error::invalid("Content-Type must be application/json"));
    }
    Ok(())
}

async fn session(State(admin): State<Admin>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let p = caller(&admin, &headers).await?;
    match p.role {
        pb::Role::Moderator => Ok(Json(json!({
            "key_id": p.key_id,
            "role": "moderator",
            "sites": p.sites,
        }))),
        pb::Role::Admin => {
            // The sites an admin is offered: configured ones, those named by any key, and those seen.
            let checker = admin.queue.checker();
            let mut known: BTreeSet<String> = checker.config().sites.keys().cloned().collect();
            known.extend(checker.metrics().sites().named());
            match checker.store().keys().await {
                Ok(keys) => known.extend(keys.into_iter().flat_map(|k| k.sites)),
                Err(e) => {
                    tracing::debug!(error = %e, "admin port: cannot list keys for the site list")
                }
            }
            Ok(Json(json!({
                "key_id": p.key_id,
                "role": "admin",
                "sites": ["*"],
                "known_sites": known,
            })))
        }
        pb::Role::Service | pb::Role::Unspecified => Err(ApiError::new(
            Code::PermissionDenied,
            "a service key cannot moderate: sign in with a moderator key",
        )),
    }
}

async fn model(State(admin): State<Admin>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    caller(&admin, &headers).await?;
    let serving = admin.queue.checker().models().serving();
    Ok(Json(json!({
        "version": serving.model.version(),
        "loaded_at": rfc3339(serving.loaded_at_us),
    })))
}

fn probability(q: &HashMap<String, String>, name: &str) -> Result<Option<f64>, ApiError> {
    match q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => match s.parse::<f64>() {
            Ok(p) if (0.0..=1.0).contains(&p) => Ok(Some(p)),
            _ => Err(error::invalid(format!(
                "{name} must be a number from 0 to 1"
            ))),
        },
    }
}

async fn held(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Path(site): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let (_, site) = moderating(&admin, &headers, &site).await?;
    let limit = match q.get("limit").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| error::invalid(format!("limit must be 1 to {MAX_PAGE_SIZE}")))?,
    };
    let filter = Filter {
        reason_code: q.get("reason_code").cloned().unwrap_or_default(),
        min_probability: probability(&q, "min_probability")?,
        max_probability: probability(&q, "max_probability")?,
        campaign_id: String::new(),
    };
    let token = q.get("page_token").map(String::as_str).unwrap_or("");
    let (items, next) = admin
        .queue
        .list(&site, limit as u32, token, &filter)
        .await
        .map_err(error::queue)?;
    let waiting = admin
        .queue
        .checker()
        .store()
        .pending_count(&site)
        .await
        .map_err(|e| error::store(&e))?;
    Ok(Json(json!({
        "items": items.iter().map(item).collect::<Vec<_>>(),
        "next_page_token": next,
        "waiting": waiting,
    })))
}

/// A held item as the page reads it, with the spans of its text that its word tokens came from.
fn item(item: &pb::HeldItem) -> Value {
    let request = item.request.clone().unwrap_or_default();
    let response = item.response.clone().unwrap_or_default();
    let tokens: Vec<(&str, f64)> = response
        .reasons
        .iter()
        .filter(|r| r.code == MODEL_TOKEN)
        .map(|r| (r.detail.as_str(), r.weight))
        .collect();
    let spans: Vec<Value> = highlights(&request.content, &tokens)
        .into_iter()
        .map(|h| json!({"start": h.start, "end": h.end, "weight": h.weight}))
        .collect();
    json!({
        "held_id": item.held_id,
        "sequence": item.sequence,
        "held_at": rfc3339(micros(item.held_at.as_ref())),
        "content": request.content,
        "author_name": request.author_name,
        "author_email": request.author_email,
        "author_url": request.author_url,
        "user_ip": request.user_ip,
        "user_agent": request.user_agent,
        "permalink": request.permalink,
        "lang": request.lang,
        "spam_probability": response.spam_probability,
        "reasons": response.reasons.iter().map(|r| json!({
            "code": r.code, "detail": r.detail, "weight": r.weight,
        })).collect::<Vec<_>>(),
        "campaign_id": item.campaign_id,
        "highlights": spans,
        "decision": response.decision().as_str_name(),
        "model_version": response.model_version,
    })
}

fn verdict_name(v: pb::Verdict) -> &'static str {
    match v {
        pb::Verdict::Approve => "approve",
        pb::Verdict::RejectSpam => "reject_spam",
        pb::Verdict::RejectOther => "reject_other",
        pb::Verdict::Unspecified => "",
    }
}

fn resolution(r: &pb::Resolution) -> Value {
    json!({
        "verdict": verdict_name(r.verdict()),
        "moderator": r.moderator,
        "at": rfc3339(micros(r.resolved_at.as_ref())),
    })
}

#[derive(Debug, Deserialize)]
struct ResolveBody {
    held_ids: Vec<String>,
    verdict: String,
    #[serde(default)]
    moderator: String,
    #[serde(default)]
    note: String,
}

async fn resolve(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Path(site): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (caller, site) = moderating(&admin, &headers, &site).await?;
    check_same_origin(&admin, &headers)?;
    let body: ResolveBody = serde_json::from_slice(&body)
        .map_err(|e| error::invalid(format!("the body is not a resolve request: {e}")))?;
    let verdict = match body.verdict.as_str() {
        "approve" => pb::Verdict::Approve,
        "reject_spam" => pb::Verdict::RejectSpam,
        "reject_other" => pb::Verdict::RejectOther,
        _ => {
            return Err(error::invalid(
                "verdict must be approve, reject_spam or reject_other",
            ))
        }
    };
    if body.held_ids.is_empty() {
        return Err(error::invalid("held_ids must name at least one item"));
    }
    // With a key, a decision without a typed name is the key's; without keys a name is required.
    let moderator = if body.moderator.trim().is_empty() && !caller.key_id.is_empty() {
        caller.label().to_string()
    } else {
        body.moderator
    };
    // The page sends with `keepalive`, possibly as its tab closes: finish on a task of its own even if
    // the client is gone before the answer.
    let queue = admin.queue.clone();
    let (ids, note, key_id) = (body.held_ids, body.note, caller.key_id.clone());
    let work = tokio::spawn(async move {
        let by = Actor {
            name: &moderator,
            key_id: &key_id,
        };
        let out = queue.resolve(&site, &ids, "", verdict, by, &note).await;
        if let Ok(out) = &out {
            tracing::info!(site = %site, items = out.len(), "resolved held items (admin port)");
        }
        out
    });
    let outcomes = work
        .await
        .map_err(|_| ApiError::new(Code::Internal, "internal error"))?
        .map_err(error::queue)?;
    let results: Vec<Value> = outcomes
        .iter()
        .map(|(id, o)| match o {
            Outcome::Resolved(r) => {
                json!({"held_id": id, "outcome": "resolved", "resolution": resolution(r)})
            }
            Outcome::AlreadyResolved(r) => {
                json!({"held_id": id, "outcome": "already_resolved", "resolution": resolution(r)})
            }
            Outcome::Conflict(r) => {
                json!({"held_id": id, "outcome": "conflict", "resolution": resolution(r)})
            }
            Outcome::NotFound => json!({"held_id": id, "outcome": "not_found"}),
        })
        .collect();
    Ok(Json(json!({ "results": results })))
}

async fn stats(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Path(site): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, site) = moderating(&admin, &headers, &site).await?;
    let today = now_us() / DAY_US;
    let days = admin
        .queue
        .checker()
        .store()
        .daily(&site, today + 1 - STATS_DAYS, today)
        .await
        .map_err(|e| error::store(&e))?;
    let day = |d: &crate::store::Daily| json!({"date": date(d.day), "accept": d.accept, "hold": d.hold, "reject": d.reject});
    let last = days.last().copied().unwrap_or_default();
    Ok(Json(json!({
        "today": {"accept": last.accept, "hold": last.hold, "reject": last.reject},
        "days": days.iter().map(day).collect::<Vec<_>>(),
    })))
}

/// The live stream: NDJSON, one event a line, a ping when nothing else was sent for [`PING`]. The
/// headers go out once the watcher is subscribed, so everything from then on reaches the page.
async fn watch(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Path(site): Path<String>,
) -> Result<Response, ApiError> {
    let (caller, site) = moderating(&admin, &headers, &site).await?;
    let after = admin
        .queue
        .watch_from(&site, "")
        .await
        .map_err(error::queue)?;
    let keys = admin.auth.clone();
    let mut followed = admin
        .queue
        .follow(site.clone(), after, admin.stopping.clone(), move || {
            let (keys, caller) = (keys.clone(), caller.clone());
            async move { keys.still_valid(&caller).await }
        });
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(16);
    let queue = admin.queue.clone();
    tokio::spawn(async move {
        let line = |v: Value| Ok(Bytes::from(format!("{v}\n")));
        loop {
            let next = tokio::select! {
                () = tx.closed() => return,
                f = followed.recv() => f,
                () = tokio::time::sleep(PING) => {
                    if tx.send(line(json!({"kind": "ping"}))).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            let out = match next {
                None => return,
                Some(Followed::Revoked) => {
                    let e = ApiError::new(Code::Unauthenticated, "the key was revoked");
                    let _ = tx.send(line(e.body())).await;
                    return;
                }
                Some(Followed::Event(e)) => match e.kind() {
                    pb::queue_event::Kind::Held => match queue.get(&site, &e.held_id).await {
                        Ok(held) => json!({"kind": "held", "item": item(&held)}),
                        Err(err) => {
                            // The page lists the queue again when it reconnects; one event is not worth
                            // ending the stream for.
                            tracing::debug!(error = %err, "admin port: could not read a held item for the stream");
                            continue;
                        }
                    },
                    pb::queue_event::Kind::Resolved => {
                        let r = e.resolution.unwrap_or_default();
                        json!({
                            "kind": "resolved",
                            "held_id": e.held_id,
                            "verdict": verdict_name(r.verdict()),
                            "moderator": r.moderator,
                            "at": rfc3339(micros(r.resolved_at.as_ref())),
                        })
                    }
                    pb::queue_event::Kind::Unspecified => continue,
                },
            };
            if tx.send(line(out)).await.is_err() {
                return;
            }
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(ReceiverStream::new(rx)),
    )
        .into_response())
}
