//! The Redis store, for one or several `saring serve` replicas sharing one Redis.
//!
//! Each operation is one round trip: a Lua script, sent with EVALSHA and reloaded on NOSCRIPT (redis-rs'
//! `Script` does both), so it is atomic in Redis and cancel-safe in saring — a dropped request either ran
//! its script whole or not at all. Keys carry the site as a hash tag, `saring:{site}:…`, so all of one
//! site's keys live in one slot and the same scheme works on Redis Cluster. Rate-limit and idempotency
//! keys have TTLs, so Redis never grows without bound from traffic; held comments, their audit log and the
//! labelled examples have none — they are what moderators decided, kept until an operator deletes them.
//! Streams (audit log, event feed) need Redis 6.2 or later for exclusive ranges.
//! The connection manager reconnects by itself after Redis restarts.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;

use super::backend::{Backend, Entry, Feedback, HeldRecord, Hold, Record, Resolve, Resolved};
use super::durability::{Durability, Settings};
use super::{Error, Once, Standing};
use crate::moderation::ratelimit::{Admission, Bucket};

/// GCRA over every bucket, all or nothing. KEYS[1]: the comment's "counted" marker; KEYS[2..]: bucket
/// keys. ARGV: now (µs), marker TTL (ms, 0 for no marker), then interval and tolerance (µs) per bucket.
/// Returns `{1}` when admitted (free if the marker exists), or `{0, bucket index (1-based),
/// retry_after_us}`. Microsecond timestamps stay below 2^53, so Lua's doubles hold them exactly.
const ADMIT_LUA: &str = r#"
local now = tonumber(ARGV[1])
local marker_ttl = tonumber(ARGV[2])
if marker_ttl > 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  return {1}
end
local new_tats = {}
for i = 2, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  if tat - now > tolerance then
    return {0, i - 1, tat - now - tolerance}
  end
  new_tats[i] = tat + interval
end
for i = 2, #KEYS do
  local ttl_ms = math.floor((new_tats[i] - now) / 1000) + 1
  redis.call('SET', KEYS[i], string.format('%.0f', new_tats[i]), 'PX', ttl_ms)
end
if marker_ttl > 0 then
  redis.call('SET', KEYS[1], '1', 'PX', marker_ttl)
end
return {1}
"#;

/// Remember a response unless one is there, and with a new response its decision record. KEYS: the
/// remembered key, the record's key, the comment's record pointer. ARGV: response, TTL (ms), record
/// ('' for none), record TTL (ms), decision id. Returns the response that stands.
const REMEMBER_LUA: &str = r#"
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
  redis.call('SET', KEYS[3], ARGV[5], 'PX', ARGV[4])
end
return ARGV[1]
"#;

/// Keep a held item. KEYS: the item's hash, the waiting index, the sequence counter, the comment's
/// held marker, the event feed. ARGV: held id, item, comment id ('' for none), event, feed length, the
/// item key prefix. Returns `{1, standing held id}` when the comment is already held (nothing written),
/// else `{0, sequence}`. A marker whose item is gone (deleted by hand, say for an erasure request) is
/// stale: the comment is held again rather than refused forever. Nothing here expires: held items wait
/// for a person.
const HOLD_LUA: &str = r#"
if ARGV[3] ~= '' then
  local existing = redis.call('GET', KEYS[4])
  if existing and redis.call('EXISTS', ARGV[6] .. existing) == 1 then return {1, existing} end
end
local seq = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], 'item', ARGV[2], 'seq', seq)
redis.call('ZADD', KEYS[2], seq, ARGV[1])
if ARGV[3] ~= '' then redis.call('SET', KEYS[4], ARGV[1]) end
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[4])
return {0, tostring(seq)}
"#;

/// Waiting items after a sequence. KEYS: the waiting index. ARGV: after, limit, the item key prefix.
/// Returns id, sequence, item, flattened. The item keys are read by prefix; they share the index's hash
/// tag, so they are in its slot.
const PENDING_LUA: &str = r#"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'WITHSCORES', 'LIMIT', 0, ARGV[2])
local out = {}
for i = 1, #ids, 2 do
  local item = redis.call('HGET', ARGV[3] .. ids[i], 'item')
  if item then
    out[#out + 1] = ids[i]
    out[#out + 1] = ids[i + 1]
    out[#out + 1] = item
  end
end
return out
"#;

/// Resolve a held item, all or nothing. KEYS: item hash, waiting index, audit log, event feed, labels,
/// trust. ARGV: held id, verdict, resolution, audit entry, event, label decision id ('' for none), label,
/// trust author ('' for none), trust change ('a' approved, 's' spam), feed length.
/// Returns `{0}` not found, `{1}` resolved, `{2, resolution}` same verdict, `{3, resolution}` conflict.
const RESOLVE_LUA: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, ''} end
local v = redis.call('HMGET', KEYS[1], 'verdict', 'resolution')
if v[1] then
  if v[1] == ARGV[2] then return {2, v[2]} end
  return {3, v[2]}
end
redis.call('HSET', KEYS[1], 'verdict', ARGV[2], 'resolution', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], '*', 'e', ARGV[4])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[10], '*', 'e', ARGV[5])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[5], ARGV[6], ARGV[7]) end
if ARGV[8] ~= '' then
  if ARGV[9] == 'a' then
    redis.call('HINCRBY', KEYS[6], 'a:' .. ARGV[8], 1)
  else
    redis.call('HSET', KEYS[6], 's:' .. ARGV[8], 1)
  end
end
return {1, ''}
"#;

/// Keep the blog's feedback. KEYS: labels, audit log, trust. ARGV: decision id, label, audit entry, spam
/// author ('' for none). Returns 1 when the label is new, 0 when it replaced one.
const FEEDBACK_LUA: &str = r#"
local new = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[2], '*', 'e', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], 's:' .. ARGV[4], 1) end
return new
"#;

/// Count a sighting in every band. KEYS: band counters. ARGV: window (ms). A counter's window starts at
/// its first sighting. Returns the highest count and its band's index (1-based).
const SIGHTING_LUA: &str = r#"
local best, besti = 0, 1
for i = 1, #KEYS, 2 do
  local n = redis.call('INCR', KEYS[i])
  if n == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
  local p = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
  local est = n + math.floor(p * tonumber(ARGV[2]) / 1000000)
  if est > best then best = est; besti = (i + 1) / 2 end
end
return {best, besti}
"#;

/// Store the first keys if there are none. KEYS: the key hash. ARGV: id, key, id, key, ...
const BOOTSTRAP_LUA: &str = r#"
if redis.call('HLEN', KEYS[1]) > 0 then return 0 end
for i = 1, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"#;

/// API keys by id (a hash). Not per site: a key may serve several sites.
const KEYS_KEY: &str = "saring:{keys}:all";

/// How many events the feed keeps per site (approximately: Redis trims whole nodes).
const EVENT_FEED_LEN: u64 = 10_000;

/// The settings that decide whether Redis keeps an answered HOLD, read with one `CONFIG GET` each (a
/// single `CONFIG GET` of several names needs Redis 7; saring supports 6.2).
const PERSISTENCE_SETTINGS: [&str; 4] = ["appendonly", "appendfsync", "save", "maxmemory-policy"];

/// One connection attempt's limit: Redis on a LAN answers a connect in well under a millisecond, and a
/// shorter attempt means quicker retries while it is coming back.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// The Redis-backed store.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    admit: Script,
    remember: Script,
    hold: Script,
    pending: Script,
    resolve: Script,
    feedback: Script,
    sighting: Script,
    bootstrap: Script,
    /// A check step's limit, as given to `connect`.
    timeout: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection manager has no useful Debug, and the URL may hold a password.
        f.debug_struct("RedisStore")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store over the Redis at `url` (e.g. `redis://127.0.0.1:6379`); `Store` bounds a check's steps
    /// by `timeout` and other operations by a longer limit. The connection is made on first use and remade after every failure, so saring starts
    /// while Redis is down and recovers by itself when it returns; only a malformed URL is an error.
    pub async fn connect(url: &str, timeout: Duration) -> Result<RedisStore, Error> {
        let client = redis::Client::open(url)?;
        // `Store` bounds each operation by its own limit; the crate's default 500 ms response timeout
        // would silently cut the longer (moderators') ones short, so it is only a backstop here.
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(super::QUEUE_LIMIT.max(timeout)))
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(RedisStore {
            conn,
            admit: Script::new(ADMIT_LUA),
            remember: Script::new(REMEMBER_LUA),
            hold: Script::new(HOLD_LUA),
            pending: Script::new(PENDING_LUA),
            resolve: Script::new(RESOLVE_LUA),
            feedback: Script::new(FEEDBACK_LUA),
            sighting: Script::new(SIGHTING_LUA),
            bootstrap: Script::new(BOOTSTRAP_LUA),
            timeout,
        })
    }

    /// A check step's limit, as given to [`RedisStore::connect`].
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// A Redis reply as the store's result. Time limits are `Store`'s, not this module's.
async fn reply<T>(
    op: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, Error> {
    Ok(op.await?)
}

impl RedisStore {
    /// Entries of a stream after `after` (exclusive; empty: from the start).
    async fn range(&self, key: String, after: &str, limit: usize) -> Result<Vec<Entry>, Error> {
        let mut conn = self.conn.clone();
        let start = if after.is_empty() {
            "-".to_string()
        } else {
            format!("({after}")
        };
        let raw: Vec<(String, Vec<Vec<u8>>)> = reply(
            redis::cmd("XRANGE")
                .arg(key)
                .arg(start)
                .arg("+")
                .arg("COUNT")
                .arg(limit)
                .query_async(&mut conn),
        )
        .await?;
        Ok(entries(raw))
    }
}

/// The hash-tagged key prefix of a site. Braces and `%` in a site id are percent-encoded so the tag is
/// always exactly the site.
fn site_tag(site: &str) -> String {
    let mut s = String::with_capacity(site.len() + 10);
    s.push_str("saring:{");
    for c in site.chars() {
        match c {
            '{' => s.push_str("%7B"),
            '}' => s.push_str("%7D"),
            '%' => s.push_str("%25"),
            c => s.push(c),
        }
    }
    s.push('}');
    s
}

fn bucket_key(site: &str, b: &Bucket) -> String {
    format!(
        "{}:rl:{}:{}",
        site_tag(site),
        b.dimension.as_str(),
        b.subject
    )
}

fn counted_key(site: &str, comment_id: &str) -> String {
    format!("{}:counted:{comment_id}", site_tag(site))
}

fn held_prefix(site: &str) -> String {
    format!("{}:held:", site_tag(site))
}

fn held_key(site: &str, held_id: &str) -> String {
    format!("{}{held_id}", held_prefix(site))
}

/// The site's waiting items by sequence (a sorted set: score = sequence).
fn pending_key(site: &str) -> String {
    format!("{}:pending", site_tag(site))
}

/// The site's last held sequence.
fn held_seq_key(site: &str) -> String {
    format!("{}:held_seq", site_tag(site))
}

/// Which item holds a comment id, so a comment is held once.
fn held_comment_key(site: &str, comment_id: &str) -> String {
    format!("{}:held_comment:{comment_id}", site_tag(site))
}

/// The audit log (a stream, never trimmed).
fn audit_key(site: &str) -> String {
    format!("{}:audit", site_tag(site))
}

/// The queue's event feed (a stream, trimmed to about [`EVENT_FEED_LEN`]).
fn events_key(site: &str) -> String {
    format!("{}:events", site_tag(site))
}

/// Labelled examples by decision id (a hash).
fn labels_key(site: &str) -> String {
    format!("{}:labels", site_tag(site))
}

/// Authors' standing (a hash: `a:<author>` approvals, `s:<author>` spam mark).
fn trust_key(site: &str) -> String {
    format!("{}:trust", site_tag(site))
}

fn decision_key(site: &str, decision_id: &str) -> String {
    format!("{}:decision:{decision_id}", site_tag(site))
}

fn decision_comment_key(site: &str, comment_id: &str) -> String {
    format!("{}:decision_comment:{comment_id}", site_tag(site))
}

/// A site's decision tally of one day (days since the epoch), a hash of accept, hold and reject; it
/// expires a little after `DAILY_RETENTION_DAYS`.
fn daily_key(site: &str, day: u64) -> String {
    format!("{}:daily:{day}", site_tag(site))
}

fn campaign_key(site: &str, band: &str, window: u64) -> String {
    format!("{}:campaign:{band}:{window}", site_tag(site))
}

/// A stream entry as `XRANGE` returns it: the id and the field-value list `["e", bytes]`.
fn entries(raw: Vec<(String, Vec<Vec<u8>>)>) -> Vec<Entry> {
    raw.into_iter()
        .filter_map(|(id, mut fields)| (fields.len() >= 2).then(|| (id, fields.swap_remove(1))))
        .collect()
}

fn remembered_key(site: &str, comment_id: &str) -> String {
    format!("{}:idem:{comment_id}", site_tag(site))
}

/// Whether Redis answered a command with a refusal (an unknown or renamed command, a missing ACL
/// permission) rather than failing to answer: it will refuse again, so the answer stands.
fn refused(e: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    match e.kind() {
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown,
        ) => false,
        ErrorKind::Server(_) | ErrorKind::Extension => true,
        _ => false,
    }
}

impl Backend for RedisStore {
    async fn ping(&self) -> Result<(), Error> {
        let mut conn = self.conn.clone();
        let _: String = reply(redis::cmd("PING").query_async(&mut conn)).await?;
        Ok(())
    }

    async fn persistence(&self) -> Result<Durability, Error> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for name in PERSISTENCE_SETTINGS {
            pipe.cmd("CONFIG").arg("GET").arg(name);
        }
        // Each reply is `[name, value]`; a name Redis does not know (renamed away) gives `[]`.
        let replies: Vec<Vec<String>> = match pipe.query_async(&mut conn).await {
            Ok(replies) => replies,
            Err(e) if refused(&e) => return Ok(Durability::Unverified(Arc::new(e.into()))),
            Err(e) => return Err(e.into()),
        };
        let mut values = replies.into_iter().map(|r| r.into_iter().nth(1));
        let mut next = |name: &str| {
            values
                .next()
                .flatten()
                .ok_or_else(|| Error::Unexpected(format!("CONFIG GET {name} named no value")))
        };
        let read = (|| {
            Ok::<_, Error>(Settings {
                appendonly: next("appendonly")?,
                appendfsync: next("appendfsync")?,
                save: next("save")?,
                maxmemory_policy: next("maxmemory-policy")?,
            })
        })();
        Ok(match read {
            Ok(settings) => Durability::of(settings),
            Err(e) => Durability::Unverified(Arc::new(e)),
        })
    }

    async fn admit(
        &self,
        site: &str,
        once: Option<Once<'_>>,
        buckets: &[Bucket],
        now_us: u64,
    ) -> Result<Admission, Error> {
        let mut inv = self.admit.prepare_invoke();
        let (marker, marker_ttl_ms) = match once {
            Some(o) => (counted_key(site, o.comment_id), (o.ttl_us / 1000).max(1)),
            None => (counted_key(site, ""), 0),
        };
        inv.key(marker).arg(now_us).arg(marker_ttl_ms);
        for b in buckets {
            inv.key(bucket_key(site, b));
            inv.arg(b.interval_us()).arg(b.tolerance_us());
        }
        let mut conn = self.conn.clone();
        let reply: Vec<i64> = reply(inv.invoke_async(&mut conn)).await?;
        match reply.as_slice() {
            [1] => Ok(Admission::Admitted),
            [0, index, retry] => {
                let b = usize::try_from(*index - 1)
                    .ok()
                    .and_then(|i| buckets.get(i))
                    .ok_or_else(|| Error::Unexpected("rate-limit script named no bucket".into()))?;
                Ok(Admission::Refused {
                    dimension: b.dimension,
                    retry_after_us: u64::try_from(*retry).unwrap_or(0),
                    burst: b.limit.burst,
                    per_hour: b.limit.per_hour,
                })
            }
            other => Err(Error::Unexpected(format!(
                "unexpected rate-limit reply {other:?}"
            ))),
        }
    }

    async fn hold(
        &self,
        site: &str,
        held_id: &str,
        comment_id: &str,
        item: Vec<u8>,
        event: Vec<u8>,
    ) -> Result<Hold, Error> {
        let mut conn = self.conn.clone();
        let mut inv = self.hold.prepare_invoke();
        inv.key(held_key(site, held_id))
            .key(pending_key(site))
            .key(held_seq_key(site))
            .key(held_comment_key(site, comment_id))
            .key(events_key(site))
            .arg(held_id)
            .arg(item)
            .arg(comment_id)
            .arg(event)
            .arg(EVENT_FEED_LEN)
            .arg(held_prefix(site));
        let (existing, value): (i64, String) = reply(inv.invoke_async(&mut conn)).await?;
        if existing == 1 {
            return match self.held(site, &value).await? {
                Some(record) => Ok(Hold::Existing(record)),
                // Deleted between the script and this read: the retry holds it again.
                None => Err(Error::Changed(
                    "a held item vanished while its comment was held again",
                )),
            };
        }
        let sequence = value
            .parse()
            .map_err(|_| Error::Unexpected(format!("unexpected sequence {value:?}")))?;
        Ok(Hold::Stored { sequence })
    }

    async fn held(&self, site: &str, held_id: &str) -> Result<Option<HeldRecord>, Error> {
        let mut conn = self.conn.clone();
        let (item, seq, resolution): (Option<Vec<u8>>, Option<u64>, Option<Vec<u8>>) = reply(
            redis::cmd("HMGET")
                .arg(held_key(site, held_id))
                .arg("item")
                .arg("seq")
                .arg("resolution")
                .query_async(&mut conn),
        )
        .await?;
        Ok(item.map(|item| HeldRecord {
            held_id: held_id.to_string(),
            item,
            sequence: seq.unwrap_or(0),
            resolution,
        }))
    }

    async fn pending(
        &self,
        site: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<HeldRecord>, Error> {
        let mut conn = self.conn.clone();
        let mut inv = self.pending.prepare_invoke();
        inv.key(pending_key(site))
            .arg(after)
            .arg(limit)
            .arg(held_prefix(site));
        let flat: Vec<Vec<u8>> = reply(inv.invoke_async(&mut conn)).await?;
        let mut out = Vec::with_capacity(flat.len() / 3);
        let mut it = flat.into_iter();
        while let (Some(id), Some(seq), Some(item)) = (it.next(), it.next(), it.next()) {
            let sequence = std::str::from_utf8(&seq)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| Error::Unexpected("unexpected sequence in the queue".into()))?;
            out.push(HeldRecord {
                held_id: String::from_utf8_lossy(&id).into_owned(),
                item,
                sequence,
                resolution: None,
            });
        }
        Ok(out)
    }

    async fn pending_count(&self, site: &str) -> Result<u64, Error> {
        let mut conn = self.conn.clone();
        reply(
            redis::cmd("ZCARD")
                .arg(pending_key(site))
                .query_async(&mut conn),
        )
        .await
    }

    async fn count_decision(&self, site: &str, day: u64, index: usize) -> Result<(), Error> {
        let field = ["accept", "hold", "reject"]
            .get(index)
            .copied()
            .unwrap_or("accept");
        let key = daily_key(site, day);
        let ttl_secs = (super::DAILY_RETENTION_DAYS + 1) * 24 * 3600;
        let mut conn = self.conn.clone();
        // One round trip; the key is one site's, so it is in one slot.
        let _: (i64, i64) = reply(
            redis::pipe()
                .atomic()
                .hincr(&key, field, 1)
                .expire(&key, ttl_secs as i64)
                .query_async(&mut conn),
        )
        .await?;
        Ok(())
    }

    async fn daily(&self, site: &str, from: u64, to: u64) -> Result<Vec<(u64, [u64; 3])>, Error> {
        let mut pipe = redis::pipe();
        for day in from..=to {
            pipe.cmd("HMGET")
                .arg(daily_key(site, day))
                .arg("accept")
                .arg("hold")
                .arg("reject");
        }
        let mut conn = self.conn.clone();
        let raw: Vec<Vec<Option<u64>>> = reply(pipe.query_async(&mut conn)).await?;
        Ok((from..=to)
            .zip(raw)
            .filter(|(_, c)| c.iter().any(Option::is_some))
            .map(|(day, c)| {
                let at = |i: usize| c.get(i).copied().flatten().unwrap_or(0);
                (day, [at(0), at(1), at(2)])
            })
            .collect())
    }

    async fn resolve(&self, site: &str, held_id: &str, r: Resolve) -> Result<Resolved, Error> {
        let mut conn = self.conn.clone();
        let mut inv = self.resolve.prepare_invoke();
        let (label_id, label) = r.label.unwrap_or_default();
        let (author, change) = match &r.trust {
            Some(t) => (t.author.as_str(), if t.approved { "a" } else { "s" }),
            None => ("", ""),
        };
        inv.key(held_key(site, held_id))
            .key(pending_key(site))
            .key(audit_key(site))
            .key(events_key(site))
            .key(labels_key(site))
            .key(trust_key(site))
            .arg(held_id)
            .arg(r.verdict)
            .arg(r.resolution)
            .arg(r.audit)
            .arg(r.event)
            .arg(label_id)
            .arg(label)
            .arg(author)
            .arg(change)
            .arg(EVENT_FEED_LEN);
        let (outcome, standing): (i64, Vec<u8>) = reply(inv.invoke_async(&mut conn)).await?;
        Ok(match outcome {
            0 => Resolved::NotFound,
            1 => Resolved::Done,
            2 => Resolved::Same(standing),
            _ => Resolved::Conflict(standing),
        })
    }

    async fn feedback(&self, site: &str, f: Feedback) -> Result<bool, Error> {
        let mut conn = self.conn.clone();
        let mut inv = self.feedback.prepare_invoke();
        inv.key(labels_key(site))
            .key(audit_key(site))
            .key(trust_key(site))
            .arg(f.decision_id)
            .arg(f.label)
            .arg(f.audit)
            .arg(f.trust.map(|t| t.author).unwrap_or_default());
        let new: i64 = reply(inv.invoke_async(&mut conn)).await?;
        Ok(new == 0)
    }

    async fn labels(&self, site: &str) -> Result<Vec<Vec<u8>>, Error> {
        let mut conn = self.conn.clone();
        let all: Vec<(String, Vec<u8>)> = reply(
            redis::cmd("HGETALL")
                .arg(labels_key(site))
                .query_async(&mut conn),
        )
        .await?;
        Ok(all.into_iter().map(|(_, v)| v).collect())
    }

    async fn decision(
        &self,
        site: &str,
        decision_id: &str,
        _now_us: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        let mut conn = self.conn.clone();
        reply(
            redis::cmd("GET")
                .arg(decision_key(site, decision_id))
                .query_async(&mut conn),
        )
        .await
    }

    async fn decision_for_comment(
        &self,
        site: &str,
        comment_id: &str,
        _now_us: u64,
    ) -> Result<Option<String>, Error> {
        let mut conn = self.conn.clone();
        reply(
            redis::cmd("GET")
                .arg(decision_comment_key(site, comment_id))
                .query_async(&mut conn),
        )
        .await
    }

    async fn audit(&self, site: &str, after: &str, limit: usize) -> Result<Vec<Entry>, Error> {
        self.range(audit_key(site), after, limit).await
    }

    async fn events(&self, site: &str, after: &str, limit: usize) -> Result<Vec<Entry>, Error> {
        self.range(events_key(site), after, limit).await
    }

    async fn events_tail(&self, site: &str) -> Result<String, Error> {
        let mut conn = self.conn.clone();
        let last: Vec<(String, Vec<Vec<u8>>)> = reply(
            redis::cmd("XREVRANGE")
                .arg(events_key(site))
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query_async(&mut conn),
        )
        .await?;
        Ok(last
            .into_iter()
            .next()
            .map_or_else(|| "0-0".to_string(), |(id, _)| id))
    }

    async fn standing(&self, site: &str, author: &str) -> Result<Standing, Error> {
        let mut conn = self.conn.clone();
        let (approved, spam): (Option<u64>, Option<u64>) = reply(
            redis::cmd("HMGET")
                .arg(trust_key(site))
                .arg(format!("a:{author}"))
                .arg(format!("s:{author}"))
                .query_async(&mut conn),
        )
        .await?;
        Ok(Standing {
            approved: approved.unwrap_or(0),
            spam: spam.is_some(),
        })
    }

    async fn sighting(
        &self,
        site: &str,
        bands: &[String],
        window_us: u64,
        now_us: u64,
    ) -> Result<(u64, String), Error> {
        let mut conn = self.conn.clone();
        let mut inv = self.sighting.prepare_invoke();
        let (window, previous_share) = crate::moderation::campaign::window_at(window_us, now_us);
        for b in bands {
            inv.key(campaign_key(site, b, window));
            inv.key(campaign_key(site, b, window.wrapping_sub(1)));
        }
        // A window's counter must outlive it by one more, while it is the previous one.
        inv.arg((window_us.saturating_mul(2) / 1000).max(1))
            .arg(previous_share);
        let (count, index): (u64, usize) = reply(inv.invoke_async(&mut conn)).await?;
        let band = bands
            .get(index.saturating_sub(1))
            .cloned()
            .unwrap_or_default();
        Ok((count, band))
    }

    async fn key(&self, id: &str) -> Result<Option<Vec<u8>>, Error> {
        let mut conn = self.conn.clone();
        reply(
            redis::cmd("HGET")
                .arg(KEYS_KEY)
                .arg(id)
                .query_async(&mut conn),
        )
        .await
    }

    async fn keys(&self) -> Result<Vec<Vec<u8>>, Error> {
        let mut conn = self.conn.clone();
        reply(redis::cmd("HVALS").arg(KEYS_KEY).query_async(&mut conn)).await
    }

    async fn put_key(&self, id: &str, key: Vec<u8>) -> Result<(), Error> {
        let mut conn = self.conn.clone();
        let _: i64 = reply(
            redis::cmd("HSET")
                .arg(KEYS_KEY)
                .arg(id)
                .arg(key)
                .query_async(&mut conn),
        )
        .await?;
        Ok(())
    }

    async fn bootstrap_keys(&self, keys: Vec<(String, Vec<u8>)>) -> Result<bool, Error> {
        let mut conn = self.conn.clone();
        let mut inv = self.bootstrap.prepare_invoke();
        inv.key(KEYS_KEY);
        for (id, key) in keys {
            inv.arg(id).arg(key);
        }
        let stored: i64 = reply(inv.invoke_async(&mut conn)).await?;
        Ok(stored == 1)
    }

    async fn recall(
        &self,
        site: &str,
        comment_id: &str,
        _now_us: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        let mut conn = self.conn.clone();
        let key = remembered_key(site, comment_id);
        reply(redis::cmd("GET").arg(key).query_async(&mut conn)).await
    }

    async fn remember(
        &self,
        site: &str,
        comment_id: &str,
        response: Vec<u8>,
        ttl_us: u64,
        record: Option<Record>,
        _now_us: u64,
    ) -> Result<Vec<u8>, Error> {
        let mut conn = self.conn.clone();
        let mut inv = self.remember.prepare_invoke();
        let (decision_id, record, record_ttl_ms) = match record {
            Some(r) => (r.decision_id, r.bytes, (r.ttl_us / 1000).max(1)),
            None => (String::new(), Vec::new(), 1),
        };
        inv.key(remembered_key(site, comment_id))
            .key(decision_key(site, &decision_id))
            .key(decision_comment_key(site, comment_id))
            .arg(response)
            .arg((ttl_us / 1000).max(1))
            .arg(record)
            .arg(record_ttl_ms)
            .arg(&decision_id);
        reply(inv.invoke_async(&mut conn)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_tag_exactly_the_site() {
        assert_eq!(site_tag("blog"), "saring:{blog}");
        assert_eq!(site_tag("a}b{c%"), "saring:{a%7Db%7Bc%25}");
        assert_eq!(remembered_key("blog", "c1"), "saring:{blog}:idem:c1");
    }
}
