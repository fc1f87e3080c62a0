//! The moderation queue, transport aside: listing, reading and resolving held comments, the audit log,
//! the event feed and rechecks with the serving model. Every write goes through one store operation, so
//! a resolution, its audit entry, its event, its training label and the author's standing change together
//! or not at all.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::clock::{now_us, timestamp};
use crate::metrics::Resolution;
use crate::model::decision::Decision;
use crate::model::Model;
use crate::moderation::comment::{self, Comment, Invalid, MAX_ID_BYTES, MAX_SHORT_TEXT_BYTES};
use crate::moderation::policy::Sighting;
use crate::moderation::trust::author_key;
use crate::pb;
use crate::service::check::{wire_decision, Checker};
use crate::store::{self, Resolve, Resolved, Store, TrustUpdate};

/// Items per page when the request does not say.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Most items per page, and most items one ResolveHeld may resolve.
pub const MAX_PAGE_SIZE: usize = 500;
/// Most waiting items one ListHeld call looks at while filtering, so a rare filter cannot make one call
/// read the whole queue; the page then ends early with a token to go on.
pub const MAX_SCAN: usize = 5000;
/// Most ListHeld-sized scans one campaign resolution makes: a campaign's items are looked for among the
/// oldest 100,000 waiting.
const MAX_CAMPAIGN_SCANS: usize = 20;
/// Longest moderator note, in bytes.
pub const MAX_NOTE_BYTES: usize = 4096;
/// How often a watcher looks for new events. Polling the store (rather than an in-process channel)
/// means a watcher sees events from every replica sharing a Redis.
pub const WATCH_POLL: Duration = Duration::from_millis(200);
/// Events a watcher may have queued on its way to a slow client before it stops reading the store
/// (the client then resumes from the last cursor it saw).
pub const WATCH_BUFFER: usize = 256;
/// The moderator identity of automatic resolutions by `RecheckHeld`.
pub const RECHECK_MODERATOR: &str = "saring-recheck";

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store did not answer, or holds a record that does not decode.
    #[error("the store failed")]
    Store(#[from] store::Error),
    /// A request field is wrong.
    #[error("{field}: {problem}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// No such held item.
    #[error("no held item `{0}` on this site")]
    NotFound(String),
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Error::Invalid {
            field: e.field,
            problem: e.problem,
        }
    }
}

fn invalid(field: &'static str, problem: impl Into<String>) -> Error {
    Error::Invalid {
        field,
        problem: problem.into(),
    }
}

/// Which items a listing shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Only items with a reason of this code.
    pub reason_code: String,
    /// Only items at or above this spam probability.
    pub min_probability: Option<f64>,
    /// Only items at or below it.
    pub max_probability: Option<f64>,
    /// Only items of this campaign.
    pub campaign_id: String,
}

impl Filter {
    fn matches(&self, item: &pb::HeldItem) -> bool {
        let Some(r) = &item.response else {
            return false;
        };
        (self.reason_code.is_empty() || r.reasons.iter().any(|x| x.code == self.reason_code))
            && self.min_probability.is_none_or(|m| r.spam_probability >= m)
            && self.max_probability.is_none_or(|m| r.spam_probability <= m)
            && (self.campaign_id.is_empty() || item.campaign_id == self.campaign_id)
    }
}

/// Who resolves: the name the caller states (a moderator's, or [`RECHECK_MODERATOR`]) and the API key
/// it called with ("" when keys are off). Both are kept, because a key shared by a blog's moderators
/// names no one person, and a name alone is only a claim.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// The stated name.
    pub name: &'a str,
    /// The key's id.
    pub key_id: &'a str,
}

/// What resolving one item came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Resolved now.
    Resolved(pb::Resolution),
    /// It was already resolved the same way; nothing changed.
    AlreadyResolved(pb::Resolution),
    /// It was already resolved another way; nothing changed. The standing resolution.
    Conflict(pb::Resolution),
    /// No such item.
    NotFound,
}

/// What [`Queue::follow`] sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Followed {
    /// The next event.
    Event(Box<pb::QueueEvent>),
    /// The caller's key was revoked: the feed ends here.
    Revoked,
}

/// One item's change in a recheck.
#[derive(Debug, Clone, PartialEq)]
pub struct Recheck {
    /// Items looked at.
    pub scanned: usize,
    /// The items whose decision would change (resolved, when asked).
    pub changed: Vec<pb::RecheckResult>,
}

/// The queue over a checker's store, model and settings.
#[derive(Debug)]
pub struct Queue {
    checker: Arc<Checker>,
    watchers: Arc<AtomicUsize>,
}

/// Counts a live watcher while it exists.
#[derive(Debug)]
pub struct WatcherGuard(Arc<AtomicUsize>);

impl Drop for WatcherGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Page tokens are the last sequence shown; log cursors are stream ids (`<ms>-<n>`).
fn parse_page_token(token: &str) -> Result<u64, Error> {
    if token.is_empty() {
        return Ok(0);
    }
    token
        .parse()
        .map_err(|_| invalid("page_token", "not a token this server gave out"))
}

fn check_cursor(field: &'static str, cursor: &str) -> Result<(), Error> {
    let ok = cursor.is_empty()
        || cursor.split_once('-').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.len() <= 20
                && b.len() <= 20
                && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(field, "not a cursor this server gave out"))
    }
}

fn page_size(requested: u32) -> usize {
    match requested as usize {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

/// The label a verdict teaches: approval is ham, spam is spam, "not publishable" teaches nothing (an
/// abusive comment is not spam, and calling it ham would teach the model to publish abuse).
fn verdict_label(v: pb::Verdict) -> Option<pb::FeedbackLabel> {
    match v {
        pb::Verdict::Approve => Some(pb::FeedbackLabel::Ham),
        pb::Verdict::RejectSpam => Some(pb::FeedbackLabel::Spam),
        pb::Verdict::RejectOther | pb::Verdict::Unspecified => None,
    }
}

impl Queue {
    /// The queue of `checker`'s store.
    pub fn new(checker: Arc<Checker>) -> Self {
        Queue {
            checker,
            watchers: Arc::default(),
        }
    }

    /// The checker whose store and model the queue uses.
    pub fn checker(&self) -> &Arc<Checker> {
        &self.checker
    }

    /// WatchHeld streams open now.
    pub fn watchers(&self) -> usize {
        self.watchers.load(Ordering::Relaxed)
    }

    /// Count a new watcher until the guard is dropped.
    pub fn watcher(&self) -> WatcherGuard {
        self.watchers.fetch_add(1, Ordering::Relaxed);
        WatcherGuard(self.watchers.clone())
    }

    fn store(&self) -> &Store {
        self.checker.store()
    }

    /// The serving model's version.
    pub fn model_version(&self) -> String {
        self.checker.models().serving().model.version().to_string()
    }

    /// A page of a site's waiting items, oldest first.
    pub async fn list(
        &self,
        site: &str,
        requested_size: u32,
        page_token: &str,
        filter: &Filter,
    ) -> Result<(Vec<pb::HeldItem>, String), Error> {
        check_site(site)?;
        let size = page_size(requested_size);
        let mut after = parse_page_token(page_token)?;
        let mut items = Vec::new();
        let mut scanned = 0;
        loop {
            let chunk = self.store().pending(site, after, size.max(100)).await?;
            if chunk.is_empty() {
                return Ok((items, String::new()));
            }
            for item in chunk {
                after = item.sequence;
                scanned += 1;
                if filter.matches(&item) {
                    items.push(item);
                    if items.len() == size {
                        return Ok((items, after.to_string()));
                    }
                }
                if scanned >= MAX_SCAN {
                    return Ok((items, after.to_string()));
                }
            }
        }
    }

    /// One item, waiting or resolved.
    pub async fn get(&self, site: &str, held_id: &str) -> Result<pb::HeldItem, Error> {
        check_site(site)?;
        check_id("held_id", held_id)?;
        self.store()
            .held(site, held_id)
            .await?
            .ok_or_else(|| Error::NotFound(held_id.to_string()))
    }

    /// Resolve the named items and the waiting items of `campaign_id`, each on its own; the outcome of
    /// each, in order (named items first).
    pub async fn resolve(
        &self,
        site: &str,
        held_ids: &[String],
        campaign_id: &str,
        verdict: pb::Verdict,
        by: Actor<'_>,
        note: &str,
    ) -> Result<Vec<(String, Outcome)>, Error> {
        check_site(site)?;
        if verdict == pb::Verdict::Unspecified {
            return Err(invalid("verdict", "is required"));
        }
        if by.name.trim().is_empty() {
            return Err(invalid("moderator", "is required"));
        }
        if by.name.len() > MAX_SHORT_TEXT_BYTES {
            return Err(invalid("moderator", "is too long"));
        }
        if note.len() > MAX_NOTE_BYTES {
            return Err(invalid(
                "note",
                format!("longer than {MAX_NOTE_BYTES} bytes"),
            ));
        }
        if held_ids.is_empty() && campaign_id.is_empty() {
            return Err(invalid(
                "held_ids",
                "name at least one item or a campaign_id",
            ));
        }
        if held_ids.len() > MAX_PAGE_SIZE {
            return Err(invalid(
                "held_ids",
                format!("at most {MAX_PAGE_SIZE} items at once"),
            ));
        }
        for id in held_ids {
            check_id("held_ids", id)?;
        }
        let mut ids = held_ids.to_vec();
        if !campaign_id.is_empty() {
            check_id("campaign_id", campaign_id)?;
            let filter = Filter {
                campaign_id: campaign_id.to_string(),
                ..Filter::default()
            };
            // Page through the queue (each page scans at most MAX_SCAN items) until the room is filled,
            // so a campaign's items are found however many older items wait before them.
            let mut token = String::new();
            for _ in 0..MAX_CAMPAIGN_SCANS {
                let room = MAX_PAGE_SIZE.saturating_sub(ids.len());
                if room == 0 {
                    break;
                }
                let (items, next) = self.list(site, room as u32, &token, &filter).await?;
                ids.extend(items.into_iter().map(|i| i.held_id));
                if next.is_empty() {
                    break;
                }
                token = next;
            }
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let outcome = self.resolve_one(site, &id, verdict, by, note, true).await?;
            out.push((id, outcome));
        }
        Ok(out)
    }

    /// Resolve one item. `teaches`: whether the verdict becomes a training label and moves the author's
    /// standing — a person's verdict does, a recheck's does not (the model must not teach itself).
    async fn resolve_one(
        &self,
        site: &str,
        held_id: &str,
        verdict: pb::Verdict,
        by: Actor<'_>,
        note: &str,
        teaches: bool,
    ) -> Result<Outcome, Error> {
        let Some(item) = self.store().held(site, held_id).await? else {
            return Ok(Outcome::NotFound);
        };
        self.resolve_item(site, &item, verdict, by, note, teaches)
            .await
    }

    /// Resolve an item already read (the store still decides, atomically, whether it was resolved).
    async fn resolve_item(
        &self,
        site: &str,
        item: &pb::HeldItem,
        verdict: pb::Verdict,
        by: Actor<'_>,
        note: &str,
        teaches: bool,
    ) -> Result<Outcome, Error> {
        let held_id = item.held_id.as_str();
        let response = item.response.clone().unwrap_or_default();
        let request = item.request.clone().unwrap_or_default();
        let now = now_us();
        let resolution = pb::Resolution {
            verdict: verdict as i32,
            moderator: by.name.to_string(),
            note: note.to_string(),
            resolved_at: Some(timestamp(now)),
            key_id: by.key_id.to_string(),
        };
        let audit = pb::AuditEntry {
            at: Some(timestamp(now)),
            actor: by.name.to_string(),
            key_id: by.key_id.to_string(),
            action: pb::audit_entry::Action::Resolve as i32,
            held_id: held_id.to_string(),
            decision_id: response.decision_id.clone(),
            verdict: verdict as i32,
            note: note.to_string(),
            original_decision: response.decision,
            original_spam_probability: response.spam_probability,
            model_version: response.model_version.clone(),
            ..Default::default()
        };
        let event = pb::QueueEvent {
            kind: pb::queue_event::Kind::Resolved as i32,
            held_id: held_id.to_string(),
            at: Some(timestamp(now)),
            spam_probability: response.spam_probability,
            campaign_id: item.campaign_id.clone(),
            resolution: Some(resolution.clone()),
            ..Default::default()
        };
        let label = verdict_label(verdict).filter(|_| teaches);
        let trust = label.and_then(|l| {
            author_key(&request.author_email).map(|author| TrustUpdate {
                author,
                approved: l == pb::FeedbackLabel::Ham,
            })
        });
        let label = label.map(|l| pb::LabelledExample {
            decision_id: response.decision_id.clone(),
            label: l as i32,
            origin: "moderator".into(),
            actor: by.name.to_string(),
            request: Some(request.clone()),
            at: Some(timestamp(now)),
        });
        // A person's verdict also teaches the site's overlay, under the key that gave it.
        let lesson = label.as_ref().and_then(|l| {
            let spam = l.label == pb::FeedbackLabel::Spam as i32;
            self.checker.lesson(site, &request, spam, by.key_id)
        });
        let resolve = Resolve {
            resolution,
            audit,
            event,
            label,
            trust,
            lesson,
        };
        let outcome = self.store().resolve(site, held_id, &resolve).await?;
        Ok(match outcome {
            Resolved::Done(taught) => {
                if let (Some(lesson), Some(taught)) = (&resolve.lesson, &taught) {
                    self.checker.taught(site, lesson, taught);
                }
                // People's verdicts only: with the model that held the item, they say how often its
                // HOLDs were right. A recheck's verdicts are the model judging itself.
                if teaches {
                    let v = match verdict {
                        pb::Verdict::Approve => Resolution::Approved,
                        pb::Verdict::RejectSpam => Resolution::Spam,
                        pb::Verdict::RejectOther | pb::Verdict::Unspecified => Resolution::Other,
                    };
                    self.checker
                        .metrics()
                        .resolution(v, &response.model_version, site);
                }
                self.checker.notify(site, "resolved", now, || {
                    serde_json::json!({
                        "held_id": held_id,
                        "comment_id": request.comment_id,
                        "verdict": verdict.as_str_name(),
                        "moderator": by.name,
                    })
                });
                Outcome::Resolved(resolve.resolution)
            }
            Resolved::Same(r) => Outcome::AlreadyResolved(r),
            Resolved::Conflict(r) => Outcome::Conflict(r),
            Resolved::NotFound => Outcome::NotFound,
        })
    }

    /// A page of the audit log, oldest first.
    pub async fn audit(
        &self,
        site: &str,
        requested_size: u32,
        page_token: &str,
    ) -> Result<(Vec<pb::AuditEntry>, String), Error> {
        check_site(site)?;
        check_cursor("page_token", page_token)?;
        let size = page_size(requested_size);
        let entries = self.store().audit(site, page_token, size).await?;
        let next = if entries.len() == size {
            entries.last().map(|e| e.cursor.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok((entries, next))
    }

    /// Where a new watcher starts: after `after` when given (checked), else after the latest event.
    pub async fn watch_from(&self, site: &str, after: &str) -> Result<String, Error> {
        check_site(site)?;
        check_cursor("after", after)?;
        if after.is_empty() {
            Ok(self.store().events_tail(site).await?)
        } else {
            Ok(after.to_string())
        }
    }

    /// Follow a site's event feed from the cursor `after` (see [`Queue::watch_from`]) on a task of its
    /// own: every event, in order, into the returned channel, until the receiver is dropped, `stopping`
    /// turns true (the server shuts down), or `still_valid` — asked before each read — says the
    /// caller's key no longer stands, which ends the feed with [`Followed::Revoked`]. Both the gRPC
    /// WatchHeld and the moderator page's stream are this one loop.
    ///
    /// The task only reads the store and writes to its own channel: a slow reader fills the channel
    /// and pauses this task alone. It runs in the caller's span, so its lines name the request.
    pub fn follow<V, F>(
        self: &Arc<Self>,
        site: String,
        mut after: String,
        mut stopping: watch::Receiver<bool>,
        still_valid: V,
    ) -> mpsc::Receiver<Followed>
    where
        V: Fn() -> F + Send + 'static,
        F: Future<Output = bool> + Send,
    {
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let queue = self.clone();
        let guard = self.watcher();
        let span = tracing::Span::current();
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                let _guard = guard;
                loop {
                    if *stopping.borrow() {
                        return;
                    }
                    if !still_valid().await {
                        let _ = tx.send(Followed::Revoked).await;
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
                                if tx.send(Followed::Event(Box::new(e))).await.is_err() {
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
            },
            span,
        ));
        rx
    }

    /// Queue events after a cursor, oldest first.
    pub async fn events(
        &self,
        site: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<pb::QueueEvent>, Error> {
        Ok(self.store().events(site, after, limit).await?)
    }

    /// Re-score up to `limit` waiting items with the serving model and policy (rate limits and trust
    /// aside: they were decided when the comment came; a campaign it belonged to still counts). With
    /// `apply`, items now accepted are approved and items now rejected are rejected as spam, as moderator
    /// [`RECHECK_MODERATOR`], audited like a person's action.
    /// `key_id`: the API key that asked, kept in the audit entries of what it resolves.
    pub async fn recheck(
        &self,
        site: &str,
        apply: bool,
        limit: u32,
        key_id: &str,
    ) -> Result<Recheck, Error> {
        check_site(site)?;
        let limit = match limit as usize {
            0 => MAX_SCAN,
            n => n.min(MAX_SCAN),
        };
        let mut out = Recheck {
            scanned: 0,
            changed: Vec::new(),
        };
        let mut after = 0;
        // One model for the whole recheck, even if another is swapped in meanwhile.
        let serving = self.checker.models().serving();
        while out.scanned < limit {
            let chunk = self
                .store()
                .pending(site, after, (limit - out.scanned).min(500))
                .await?;
            if chunk.is_empty() {
                break;
            }
            for item in chunk {
                after = item.sequence;
                out.scanned += 1;
                if let Some(result) = self
                    .recheck_one(&serving.model, site, &item, apply, key_id)
                    .await?
                {
                    out.changed.push(result);
                }
            }
        }
        Ok(out)
    }

    async fn recheck_one(
        &self,
        model: &Model,
        site: &str,
        item: &pb::HeldItem,
        apply: bool,
        key_id: &str,
    ) -> Result<Option<pb::RecheckResult>, Error> {
        let (Some(request), Some(was)) = (&item.request, &item.response) else {
            return Ok(None);
        };
        let max = self.checker.config().max_content_bytes;
        let Ok(comment) = Comment::from_request(request.clone(), max) else {
            // Valid when held; refused now only if the content limit was lowered since. Leave it to a person.
            return Ok(None);
        };
        let reading = Checker::read(model, &comment);
        let sighting = (!item.campaign_id.is_empty()).then(|| Sighting {
            campaign_id: item.campaign_id.clone(),
            count: u64::MAX,
        });
        // The model alone: a recheck asks what a new model makes of what waits, and its verdicts
        // teach nothing, so the site's overlay stays out of it.
        let verdict = self.checker.verdict(
            model,
            &comment,
            &reading,
            None,
            None,
            sighting.as_ref(),
            false,
            None,
        );
        if verdict.decision == Decision::Hold {
            return Ok(None);
        }
        let now_p = reading.explanation.score.spam_probability();
        let mut resolved = false;
        if apply {
            let v = if verdict.decision == Decision::Accept {
                pb::Verdict::Approve
            } else {
                pb::Verdict::RejectSpam
            };
            let note = format!(
                "model {} now decides {} (spam probability {now_p:.4})",
                model.version(),
                wire_decision(verdict.decision).as_str_name()
            );
            let by = Actor {
                name: RECHECK_MODERATOR,
                key_id,
            };
            resolved = matches!(
                self.resolve_item(site, item, v, by, &note, false).await?,
                Outcome::Resolved(_)
            );
        }
        Ok(Some(pb::RecheckResult {
            held_id: item.held_id.clone(),
            was: was.decision,
            was_spam_probability: was.spam_probability,
            now: wire_decision(verdict.decision) as i32,
            now_spam_probability: now_p,
            resolved,
        }))
    }
}

fn check_site(site: &str) -> Result<(), Error> {
    Ok(comment::check_site("site_id", site)?)
}

fn check_id(field: &'static str, id: &str) -> Result<(), Error> {
    if id.is_empty() {
        return Err(invalid(field, "is empty"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(invalid(field, format!("longer than {MAX_ID_BYTES} bytes")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_cursors_from_elsewhere_are_refused() {
        assert_eq!(parse_page_token("").unwrap(), 0);
        assert_eq!(parse_page_token("42").unwrap(), 42);
        assert!(parse_page_token("x").is_err());
        for ok in ["", "0-0", "1764000000000-3"] {
            assert!(check_cursor("after", ok).is_ok(), "{ok}");
        }
        for bad in ["-", "1-", "a-1", "1-2-3", "$", "+"] {
            assert!(check_cursor("after", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_spam_and_approval_teach_the_model() {
        assert_eq!(
            verdict_label(pb::Verdict::Approve),
            Some(pb::FeedbackLabel::Ham)
        );
        assert_eq!(
            verdict_label(pb::Verdict::RejectSpam),
            Some(pb::FeedbackLabel::Spam)
        );
        assert_eq!(verdict_label(pb::Verdict::RejectOther), None);
    }
}
