//! The Redis store, for one or several `saring serve` replicas sharing one Redis or one Redis Cluster.
//!
//! Each operation is one round trip: a Lua script, sent with EVALSHA and reloaded on NOSCRIPT, so it is
//! atomic in Redis and cancel-safe in saring — a dropped request either ran its script whole or not at
//! all. A check makes two (`begin`, `finish`). Keys carry the site as a hash tag, `saring:{site}:…`, and
//! every script names all the keys it touches in KEYS, so each operation's keys are in one slot and the
//! same scripts run on Redis Cluster. Rate-limit and idempotency keys have TTLs, so Redis never grows
//! without bound from traffic; held comments, their audit log and the labelled examples have none — they
//! are what moderators decided, kept until an operator deletes them. Streams (audit log, event feed)
//! need Redis 6.2 or later for exclusive ranges. A single Redis is reached through a connection manager
//! that reconnects by itself after Redis restarts; a cluster through a connection that follows its
//! slots and is made afresh when a master stops answering (see `ClusterLink`).

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo};
use redis::{Script, Value};

use arc_swap::ArcSwap;

use super::backend::{
    Backend, Began, Entry, Feedback, Finish, Finished, HeldRecord, Hold, Resolve, Resolved,
};
use super::durability::{Durability, Settings};
use super::{Begin, Error, Kept, Lesson, OverlayCounts, Standing, Taught};
use crate::moderation::ratelimit::{Admission, Bucket};

/// Everything a check reads and counts before it decides (`Backend::begin`), in one round trip. KEYS:
/// 1 the remembered response, 2 the comment's "counted" marker, 3 the authors' standing, 4 the
/// overlay's meta hash, then one per bucket, then this campaign window's counts and the previous
/// one's (hashes by band). ARGV: 1 recall (`1`/`0`), 2 admit (`1`/`0`), 3 now (µs), 4 marker TTL (ms,
/// 0 for no marker), 5 buckets, 6 bands, 7 window counts' TTL (ms), 8 the previous window's share
/// (millionths), 9 author key (`''` for none), 10 overlay (`1`/`0`), then interval and tolerance (µs)
/// per bucket, then the band names.
///
/// Returns `{1, response}` when a response is remembered (nothing else is done), `{0, 0, bucket
/// (1-based), retry_after_us}` when a bucket refuses (nothing counted, nothing read), else `{0,
/// admitted (1, or -1 when not asked), 0, 0, highest band count (-1 when not asked), its band
/// (1-based), approvals (-1 when not asked), spam mark (0/1), overlay version (-1 when not asked),
/// overlay off (0/1)}`. Admission is GCRA over every bucket, all or nothing, free for a comment
/// already counted. Microsecond timestamps stay below 2^53, so Lua's doubles hold them exactly.
const BEGIN_LUA: &str = r#"
if ARGV[1] == '1' then
  local r = redis.call('GET', KEYS[1])
  if r then return {1, r} end
end
local now = tonumber(ARGV[3])
local nb = tonumber(ARGV[5])
local admitted = -1
if ARGV[2] == '1' then
  admitted = 1
  local marker_ttl = tonumber(ARGV[4])
  if not (marker_ttl > 0 and redis.call('EXISTS', KEYS[2]) == 1) then
    local new_tats = {}
    for i = 1, nb do
      local interval = tonumber(ARGV[9 + 2 * i])
      local tolerance = tonumber(ARGV[10 + 2 * i])
      local tat = tonumber(redis.call('GET', KEYS[4 + i]) or '0')
      if tat < now then tat = now end
      if tat - now > tolerance then
        return {0, 0, i, tat - now - tolerance}
      end
      new_tats[i] = tat + interval
    end
    for i = 1, nb do
      local ttl_ms = math.floor((new_tats[i] - now) / 1000) + 1
      redis.call('SET', KEYS[4 + i], string.format('%.0f', new_tats[i]), 'PX', ttl_ms)
    end
    if marker_ttl > 0 then
      redis.call('SET', KEYS[2], '1', 'PX', marker_ttl)
    end
  end
end
local best, besti = -1, 0
local nbands = tonumber(ARGV[6])
if nbands > 0 then
  best, besti = 0, 1
  local first = 11 + 2 * nb
  local previous = redis.call('HMGET', KEYS[6 + nb], unpack(ARGV, first, first + nbands - 1))
  for j = 1, nbands do
    local n = redis.call('HINCRBY', KEYS[5 + nb], ARGV[first + j - 1], 1)
    local p = tonumber(previous[j] or '0')
    local est = n + math.floor(p * tonumber(ARGV[8]) / 1000000)
    if est > best then best, besti = est, j end
  end
  redis.call('PEXPIRE', KEYS[5 + nb], ARGV[7])
end
local approved, spam = -1, 0
if ARGV[9] ~= '' then
  local s = redis.call('HMGET', KEYS[3], 'a:' .. ARGV[9], 's:' .. ARGV[9])
  approved = tonumber(s[1] or '0')
  if s[2] then spam = 1 end
end
local version, off = -1, 0
if ARGV[10] == '1' then
  local m = redis.call('HMGET', KEYS[4], 'version', 'off')
  version = tonumber(m[1] or '0')
  if m[2] == '1' then off = 1 end
end
return {0, admitted, 0, 0, best, besti, approved, spam, version, off}
"#;

/// Everything a check leaves behind (`Backend::finish`), in one round trip, all or nothing. KEYS: 1
/// items, 2 item sequences, 3 the waiting index, 4 the last sequence, 5 the comment's held marker, 6
/// the event feed, 7 the day's tally, 8 the remembered response, 9 the decision record, 10 the comment's
/// record pointer, 11 item resolutions. ARGV: 1 hold (`1`/`0`), 2 held id, 3 item, 4 comment id (`''`
/// for none), 5 event, 6 feed length, 7 tally field (`''` for none), 8 tally TTL (s), 9 remember
/// (`1`/`0`), 10 response, 11 its TTL (ms), 12 record (`''` for none), 13 record TTL (ms), 14 decision
/// id.
///
/// Returns `{1, held id, item, sequence, resolution or nil}` when the comment is already held (nothing
/// written), else `{0, sequence (0 without a hold), standing response or nil}`. A held marker whose item
/// is gone (deleted by hand, say for an erasure request) is stale: the comment is held again rather than
/// refused for ever. Held items never expire: they wait for a person.
const FINISH_LUA: &str = r#"
local seq = 0
if ARGV[1] == '1' then
  if ARGV[4] ~= '' then
    local existing = redis.call('GET', KEYS[5])
    if existing then
      local item = redis.call('HGET', KEYS[1], existing)
      if item then
        return {1, existing, item, redis.call('HGET', KEYS[2], existing) or '0',
                redis.call('HGET', KEYS[11], existing) or false}
      end
    end
  end
  seq = redis.call('INCR', KEYS[4])
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  redis.call('HSET', KEYS[2], ARGV[2], seq)
  redis.call('ZADD', KEYS[3], seq, ARGV[2])
  if ARGV[4] ~= '' then redis.call('SET', KEYS[5], ARGV[2]) end
  redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[6], '*', 'e', ARGV[5])
end
if ARGV[7] ~= '' then
  redis.call('HINCRBY', KEYS[7], ARGV[7], 1)
  redis.call('EXPIRE', KEYS[7], ARGV[8])
end
local standing = false
if ARGV[9] == '1' then
  standing = redis.call('GET', KEYS[8])
  if not standing then
    redis.call('SET', KEYS[8], ARGV[10], 'PX', ARGV[11])
    if ARGV[12] ~= '' then
      redis.call('SET', KEYS[9], ARGV[12], 'PX', ARGV[13])
      redis.call('SET', KEYS[10], ARGV[14], 'PX', ARGV[13])
    end
    standing = ARGV[10]
  end
end
return {0, seq, standing}
"#;

/// How many of `FINISH_LUA`'s arguments are keys.
const FINISH_KEYS: usize = 11;

/// One held item. KEYS: items, item sequences, item resolutions. ARGV: held id. Returns `{item,
/// sequence, resolution}`, each nil when missing.
const HELD_LUA: &str = r#"
return {redis.call('HGET', KEYS[1], ARGV[1]) or false, redis.call('HGET', KEYS[2], ARGV[1]) or false,
        redis.call('HGET', KEYS[3], ARGV[1]) or false}
"#;

/// Waiting items after a sequence. KEYS: the waiting index, items. ARGV: after, limit. Returns id,
/// sequence, item, flattened.
const PENDING_LUA: &str = r#"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'WITHSCORES', 'LIMIT', 0, ARGV[2])
local out = {}
for i = 1, #ids, 2 do
  local item = redis.call('HGET', KEYS[2], ids[i])
  if item then
    out[#out + 1] = ids[i]
    out[#out + 1] = ids[i + 1]
    out[#out + 1] = item
  end
end
return out
"#;

/// How many keys a site's overlay takes, named last in the KEYS of a script that teaches it: counts
/// of spam labels by feature, of ham labels by feature, features by use (for forgetting the least
/// used), each label's contribution by decision id, the meta hash (label totals, version, `off`), active
/// labels by reporter, and the hour's count.
const OVERLAY_KEYS: usize = 7;

/// `teach(o, a, id)`: what a label kept under decision `id` teaches the site's overlay, whose keys
/// start at `KEYS[o]` (in `OVERLAY_KEYS`' order) and whose arguments at `ARGV[a]`: class (`s` or `h`;
/// `-` in the calling script means no lesson, and `teach` is not called),
/// reporter, features (separated by newlines), most features, most labels an hour, most labels a
/// reporter, the hour. An earlier label under `id` first takes back exactly what it taught (features the
/// overlay has since forgotten are skipped). Returns `{version before, version after, learned,
/// evicted, earlier class, earlier features}`. Prepended to the scripts that keep labels.
const TEACH_LUA: &str = r#"
local function teach(o, a, id)
  local cls, who, feats = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local max_features, per_hour = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local per_reporter, hour = tonumber(ARGV[a + 5]), ARGV[a + 6]
  local before = tonumber(redis.call('HGET', KEYS[o + 4], 'version') or '0')
  local changed, learned, evicted = false, 0, 0
  local old_cls, old_feats = '', ''
  local old = redis.call('HGET', KEYS[o + 3], id)
  if old then
    changed = true
    redis.call('HDEL', KEYS[o + 3], id)
    local c, w, f = string.match(old, '^(%a)|([^|]*)|(.*)$')
    old_cls, old_feats = c, f
    local spam = (c == 's')
    redis.call('HINCRBY', KEYS[o + 4], c, -1)
    if w ~= '' and redis.call('HINCRBY', KEYS[o + 5], w, -1) <= 0 then redis.call('HDEL', KEYS[o + 5], w) end
    for feat in string.gmatch(f, '[^\n]+') do
      local held = (spam and redis.call('HEXISTS', KEYS[o], feat) == 1)
        or (not spam and redis.call('HEXISTS', KEYS[o + 1], feat) == 1)
      if held then
        local n
        if spam then n = redis.call('HINCRBY', KEYS[o], feat, -1) else n = redis.call('HINCRBY', KEYS[o + 1], feat, -1) end
        if n <= 0 then
          if spam then redis.call('HDEL', KEYS[o], feat) else redis.call('HDEL', KEYS[o + 1], feat) end
        end
        if tonumber(redis.call('ZINCRBY', KEYS[o + 2], -1, feat)) <= 0 then redis.call('ZREM', KEYS[o + 2], feat) end
      end
    end
  end
  if cls ~= '' and redis.call('HGET', KEYS[o + 4], 'off') ~= '1' then
    local allowed = true
    if per_hour > 0 then
      local n = 0
      if redis.call('HGET', KEYS[o + 6], 'hour') == hour then
        n = tonumber(redis.call('HGET', KEYS[o + 6], 'n') or '0')
      end
      if n >= per_hour then allowed = false else redis.call('HSET', KEYS[o + 6], 'hour', hour, 'n', n + 1) end
    end
    if allowed and who ~= '' and per_reporter > 0
       and tonumber(redis.call('HGET', KEYS[o + 5], who) or '0') >= per_reporter then
      allowed = false
    end
    if allowed then
      changed, learned = true, 1
      redis.call('HSET', KEYS[o + 3], id, cls .. '|' .. who .. '|' .. feats)
      redis.call('HINCRBY', KEYS[o + 4], cls, 1)
      if who ~= '' then redis.call('HINCRBY', KEYS[o + 5], who, 1) end
      for feat in string.gmatch(feats, '[^\n]+') do
        if cls == 's' then
          redis.call('HINCRBY', KEYS[o], feat, 1)
        else
          redis.call('HINCRBY', KEYS[o + 1], feat, 1)
        end
        redis.call('ZINCRBY', KEYS[o + 2], 1, feat)
      end
      while redis.call('ZCARD', KEYS[o + 2]) > max_features do
        local gone = redis.call('ZPOPMIN', KEYS[o + 2])
        redis.call('HDEL', KEYS[o], gone[1])
        redis.call('HDEL', KEYS[o + 1], gone[1])
        evicted = 1
      end
    end
  end
  local after = before
  if changed then after = redis.call('HINCRBY', KEYS[o + 4], 'version', 1) end
  return {before, after, learned, evicted, old_cls, old_feats}
end
"#;

/// Resolve a held item, all or nothing. KEYS: items, item verdicts, item resolutions, waiting index,
/// audit log, event feed, labels, trust, then the overlay's (`OVERLAY_KEYS`). ARGV: held id, verdict,
/// resolution, audit entry, event, label decision id ('' for none), label, trust author ('' for none),
/// trust change ('a' approved, 's' spam), feed length, then `teach`'s from 11. Returns `{0}` not found,
/// `{1, '', teach's reply…}` resolved, `{2, resolution}` same verdict, `{3, resolution}` conflict.
const RESOLVE_LUA: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {0, ''} end
local v = redis.call('HGET', KEYS[2], ARGV[1])
if v then
  local r = redis.call('HGET', KEYS[3], ARGV[1]) or ''
  if v == ARGV[2] then return {2, r} end
  return {3, r}
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('XADD', KEYS[5], '*', 'e', ARGV[4])
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[10], '*', 'e', ARGV[5])
if ARGV[8] ~= '' then
  if ARGV[9] == 'a' then
    redis.call('HINCRBY', KEYS[8], 'a:' .. ARGV[8], 1)
  else
    redis.call('HSET', KEYS[8], 's:' .. ARGV[8], 1)
  end
end
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[7], ARGV[6], ARGV[7])
  if ARGV[11] ~= '-' then
    local t = teach(9, 11, ARGV[6])
    return {1, '', t[1], t[2], t[3], t[4], t[5], t[6]}
  end
end
return {1, ''}
"#;

/// Keep the blog's feedback. KEYS: labels, audit log, trust, then the overlay's. ARGV: decision id,
/// label, audit entry, spam author ('' for none), then `teach`'s from 5. Returns `{1 when the label is
/// new else 0, teach's reply…}`.
const FEEDBACK_LUA: &str = r#"
local new = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[2], '*', 'e', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], 's:' .. ARGV[4], 1) end
if ARGV[5] == '-' then return {new} end
local t = teach(4, 5, ARGV[1])
return {new, t[1], t[2], t[3], t[4], t[5], t[6]}
"#;

/// A site's overlay. KEYS: spam counts, ham counts, meta. Returns `{spam counts (flat), ham counts
/// (flat), meta (flat)}`.
const OVERLAY_LUA: &str = r#"
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3])}
"#;

/// Forget a site's overlay, or turn it on or off. KEYS: the overlay's (`OVERLAY_KEYS`). ARGV: `reset`,
/// `off` or `on`. Returns the new version.
const OVERLAY_ADMIN_LUA: &str = r#"
if ARGV[1] == 'reset' then
  for i = 1, 4 do redis.call('DEL', KEYS[i]) end
  redis.call('DEL', KEYS[6], KEYS[7])
  redis.call('HSET', KEYS[5], 's', 0, 'h', 0)
elseif ARGV[1] == 'off' then
  redis.call('HSET', KEYS[5], 'off', '1')
else
  redis.call('HDEL', KEYS[5], 'off')
end
return redis.call('HINCRBY', KEYS[5], 'version', 1)
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

/// The way to Redis: one server through a connection manager that reconnects by itself, or a Redis
/// Cluster through a connection that follows its slots (and the failover of a master to its replica).
/// Every operation's keys share one site's hash tag, so each goes to one node either way.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// A Redis Cluster connection that can be made afresh. redis-rs follows MOVED redirects, but a master
/// that died without a word is only ever reconnected to, never replaced by the replica that took over
/// its slots; so when the health check cannot reach every master, the connection is made again from
/// the seed nodes, which learns the cluster's slots as they are now.
struct ClusterLink {
    client: ClusterClient,
    config: ClusterConfig,
    current: ArcSwap<ClusterConnection>,
}

impl ClusterLink {
    fn connect(&self) -> ClusterConnection {
        self.client
            .get_pending_async_connection_with_config(self.config.clone())
    }

    /// Drop the connection in use for a new one, made from the seed nodes.
    fn remake(&self) {
        self.current.store(Arc::new(self.connect()));
    }
}

/// What a [`RedisStore`] reaches Redis through.
#[derive(Clone)]
enum Link {
    Single(ConnectionManager),
    Cluster(Arc<ClusterLink>),
}

/// The Redis-backed store.
#[derive(Clone)]
pub struct RedisStore {
    link: Link,
    begin: Script,
    finish: Script,
    held: Script,
    pending: Script,
    resolve: Script,
    feedback: Script,
    overlay: Script,
    overlay_admin: Script,
    bootstrap: Script,
    /// A check step's limit, as given to `connect`.
    timeout: Duration,
    /// Replicas that must acknowledge a held comment before its HOLD is answered (`WAIT`).
    hold_replicas: u32,
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
        Ok(RedisStore::over(Link::Single(conn), timeout))
    }

    /// A store over the Redis Cluster that `nodes` (one or more `redis://` URLs of its nodes) lead to:
    /// the rest of the cluster is found from them, and the connection follows slots as they move and
    /// masters as their replicas take over. Like [`RedisStore::connect`], nothing is asked of the
    /// cluster until the first operation; only a malformed URL is an error.
    pub fn connect_cluster(nodes: &[&str], timeout: Duration) -> Result<RedisStore, Error> {
        let client = ClusterClient::builder(nodes.iter().copied())
            // A few quick retries carry an operation across a failover (MOVED, a refused connection);
            // `Store` still bounds the whole of it.
            .retries(3)
            .min_retry_wait(10)
            .max_retry_wait(200)
            .build()?;
        let config = ClusterConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(super::QUEUE_LIMIT.max(timeout));
        let first = client.get_pending_async_connection_with_config(config.clone());
        let link = ClusterLink {
            client,
            config,
            current: ArcSwap::from_pointee(first),
        };
        Ok(RedisStore::over(Link::Cluster(Arc::new(link)), timeout))
    }

    fn over(link: Link, timeout: Duration) -> RedisStore {
        RedisStore {
            link,
            begin: Script::new(BEGIN_LUA),
            finish: Script::new(FINISH_LUA),
            held: Script::new(HELD_LUA),
            pending: Script::new(PENDING_LUA),
            resolve: Script::new(&format!("{TEACH_LUA}{RESOLVE_LUA}")),
            feedback: Script::new(&format!("{TEACH_LUA}{FEEDBACK_LUA}")),
            overlay: Script::new(OVERLAY_LUA),
            overlay_admin: Script::new(OVERLAY_ADMIN_LUA),
            bootstrap: Script::new(BOOTSTRAP_LUA),
            timeout,
            hold_replicas: 0,
        }
    }

    /// This store, answering a HOLD only once `replicas` replicas have acknowledged its write
    /// (`WAIT`, sent in the same round trip): a master that dies before replicating cannot take an
    /// answered HOLD with it. Fewer acknowledgements within half the check's limit are reported in
    /// [`super::Finished::unreplicated`].
    pub fn with_hold_replicas(mut self, replicas: u32) -> RedisStore {
        self.hold_replicas = replicas;
        self
    }

    /// Whether this store is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.link, Link::Cluster(_))
    }

    /// A connection for one operation (a cheap handle onto the shared one).
    fn conn(&self) -> Conn {
        match &self.link {
            Link::Single(c) => Conn::Single(c.clone()),
            Link::Cluster(c) => Conn::Cluster(ClusterConnection::clone(&c.current.load())),
        }
    }

    /// A check step's limit, as given to [`RedisStore::connect`].
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// One value of a script's reply, as `T`; a value of another shape is an answer saring does not
/// understand.
fn parse<T: redis::FromRedisValue>(value: &redis::Value) -> Result<T, Error> {
    redis::from_redis_value_ref(value)
        .map_err(|e| Error::Unexpected(format!("a reply did not parse: {e}")))
}

/// A Redis reply as the store's result. Time limits are `Store`'s, not this module's.
async fn reply<T>(
    op: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, Error> {
    Ok(op.await?)
}

impl RedisStore {
    /// Run `eval` (an EVALSHA of `script`), and `wait` (a `WAIT`) after it in the same round trip; the
    /// script's reply and, with `wait`, how many replicas acknowledged. A Redis that does not know the
    /// script yet (a restart, `SCRIPT FLUSH`, a new node) gets it and the call again.
    async fn eval_waiting(
        &self,
        script: &Script,
        eval: &redis::Cmd,
        wait: Option<&redis::Cmd>,
    ) -> Result<(Vec<Value>, Option<i64>), Error> {
        let mut conn = self.conn();
        for attempt in 0..2 {
            let answer: redis::RedisResult<(Vec<Value>, Option<i64>)> = match wait {
                Some(wait) => {
                    let mut pipe = redis::pipe();
                    pipe.add_command(eval.clone()).add_command(wait.clone());
                    pipe.query_async(&mut conn)
                        .await
                        .map(|(answer, n): (Vec<Value>, i64)| (answer, Some(n)))
                }
                None => eval
                    .query_async(&mut conn)
                    .await
                    .map(|answer| (answer, None)),
            };
            match answer {
                Err(e)
                    if attempt == 0
                        && e.kind()
                            == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    let _: String = reply(script.load_async(&mut conn)).await?;
                }
                other => return Ok(other?),
            }
        }
        Err(Error::Unexpected(
            "Redis forgot a script it had just loaded".into(),
        ))
    }

    /// Reset, or turn on or off, a site's overlay; the new version.
    async fn overlay_admin(&self, site: &str, what: &str) -> Result<u64, Error> {
        let mut conn = self.conn();
        let mut inv = self.overlay_admin.prepare_invoke();
        for key in overlay_keys(site) {
            inv.key(key);
        }
        inv.arg(what);
        reply(inv.invoke_async(&mut conn)).await
    }

    /// Entries of a stream after `after` (exclusive; empty: from the start).
    async fn range(&self, key: String, after: &str, limit: usize) -> Result<Vec<Entry>, Error> {
        let mut conn = self.conn();
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

/// Held items by held id (a hash): one key for all of a site's items, so every script names its keys
/// up front, as Redis Cluster requires.
fn items_key(site: &str) -> String {
    format!("{}:items", site_tag(site))
}

/// Each held item's sequence (a hash by held id).
fn item_seq_key(site: &str) -> String {
    format!("{}:item_seq", site_tag(site))
}

/// Each resolved item's verdict (a hash by held id).
fn item_verdict_key(site: &str) -> String {
    format!("{}:item_verdict", site_tag(site))
}

/// Each resolved item's resolution (a hash by held id).
fn item_resolution_key(site: &str) -> String {
    format!("{}:item_resolution", site_tag(site))
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

/// A campaign window's sightings, a hash by band: one key a window rather than one a band, so a check
/// names two keys for all its bands.
fn campaign_key(site: &str, window: u64) -> String {
    format!("{}:campaign:{window}", site_tag(site))
}

/// A hash of counts by feature, as `HGETALL` returns it.
type Counted = Vec<(String, u64)>;

/// A site's overlay keys, in `OVERLAY_KEYS`' order.
fn overlay_keys(site: &str) -> [String; OVERLAY_KEYS] {
    ["spam", "ham", "use", "contrib", "meta", "by", "rate"].map(|k| overlay_key(site, k))
}

/// One of a site's overlay keys.
fn overlay_key(site: &str, which: &str) -> String {
    format!("{}:ovl:{which}", site_tag(site))
}

/// `teach`'s arguments for a lesson; `-` for none.
fn lesson_args(inv: &mut redis::ScriptInvocation<'_>, lesson: Option<&Lesson>) {
    match lesson {
        Some(l) => {
            inv.arg(if l.spam { "s" } else { "h" })
                .arg(&l.reporter)
                .arg(l.features.join("\n"))
                .arg(l.max_features)
                .arg(l.max_per_hour)
                .arg(l.max_per_reporter)
                .arg(l.now_us / 3_600_000_000);
        }
        None => {
            inv.arg("-").arg("").arg("").arg(0).arg(0).arg(0).arg(0);
        }
    }
}

/// `teach`'s reply, when the script taught.
fn taught(values: &[Value]) -> Result<Option<Taught>, Error> {
    let [before, after, learned, evicted, old_class, old_features] = values else {
        return Ok(None);
    };
    let old_class: String = parse(old_class)?;
    let old_features: String = parse(old_features)?;
    Ok(Some(Taught {
        before: parse(before)?,
        after: parse(after)?,
        unlearned: (!old_class.is_empty()).then(|| {
            (
                old_class == "s",
                old_features
                    .split('\n')
                    .filter(|f| !f.is_empty())
                    .map(str::to_string)
                    .collect(),
            )
        }),
        learned: parse::<i64>(learned)? == 1,
        evicted: parse::<i64>(evicted)? == 1,
    }))
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

/// A node's persistence settings from its `CONFIG GET` replies, in the order of [`PERSISTENCE_SETTINGS`].
fn settings(replies: Vec<Vec<String>>) -> Result<Settings, Error> {
    let mut values = replies.into_iter().map(|r| r.into_iter().nth(1));
    let mut next = |name: &str| {
        values
            .next()
            .flatten()
            .ok_or_else(|| Error::Unexpected(format!("CONFIG GET {name} named no value")))
    };
    Ok(Settings {
        appendonly: next("appendonly")?,
        appendfsync: next("appendfsync")?,
        save: next("save")?,
        maxmemory_policy: next("maxmemory-policy")?,
    })
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
        match &self.link {
            Link::Single(c) => {
                let _: String = reply(redis::cmd("PING").query_async(&mut c.clone())).await?;
            }
            // Every master must answer: each serves some sites' slots. A replica down is no outage.
            // One that does not answer may have been replaced by its replica: the next check uses a
            // connection made afresh from the seed nodes.
            Link::Cluster(c) => {
                let all = RoutingInfo::MultiNode((
                    MultipleNodeRoutingInfo::AllMasters,
                    Some(ResponsePolicy::AllSucceeded),
                ));
                let mut conn = ClusterConnection::clone(&c.current.load());
                let pinged = tokio::time::timeout(
                    self.timeout.max(super::MIN_PING_LIMIT) / 2,
                    conn.route_command(redis::cmd("PING"), all),
                )
                .await;
                match pinged {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        c.remake();
                        return Err(e.into());
                    }
                    Err(_) => {
                        c.remake();
                        return Err(Error::Timeout(self.timeout.max(super::MIN_PING_LIMIT) / 2));
                    }
                }
            }
        }
        Ok(())
    }

    async fn persistence(&self) -> Result<Durability, Error> {
        // One `CONFIG GET` a setting; each reply is `[name, value]`, or `[]` for a name Redis does not
        // know (renamed away). A cluster answers for every master: the least durable one stands.
        let mut nodes: Vec<Vec<Vec<String>>> = Vec::new();
        let answered = match self.conn() {
            Conn::Single(mut c) => {
                let mut pipe = redis::pipe();
                for name in PERSISTENCE_SETTINGS {
                    pipe.cmd("CONFIG").arg("GET").arg(name);
                }
                pipe.query_async(&mut c).await.map(|r| nodes.push(r))
            }
            Conn::Cluster(c) => {
                let mut by_node: std::collections::BTreeMap<String, Vec<Vec<String>>> =
                    Default::default();
                let mut answered = Ok(());
                for name in PERSISTENCE_SETTINGS {
                    let masters =
                        RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                    let mut cmd = redis::cmd("CONFIG");
                    cmd.arg("GET").arg(name);
                    match c.clone().route_command(cmd, masters).await.and_then(|v| {
                        redis::from_redis_value::<Vec<(String, Vec<String>)>>(v)
                            .map_err(redis::RedisError::from)
                    }) {
                        Ok(replies) => {
                            for (node, reply) in replies {
                                by_node.entry(node).or_default().push(reply);
                            }
                        }
                        Err(e) => {
                            answered = Err(e);
                            break;
                        }
                    }
                }
                // A master that answered some of the questions and not others came or went between
                // them (a failover): ask again at the next health check.
                if by_node
                    .values()
                    .any(|r| r.len() != PERSISTENCE_SETTINGS.len())
                {
                    return Err(Error::Changed(
                        "the cluster's masters changed while their settings were read",
                    ));
                }
                nodes.extend(by_node.into_values());
                answered
            }
        };
        match answered {
            Ok(()) => {}
            Err(e) if refused(&e) => return Ok(Durability::Unverified(Arc::new(e.into()))),
            Err(e) => return Err(e.into()),
        }
        let mut worst = Durability::Durable;
        for replies in nodes {
            let durability = match settings(replies) {
                Ok(settings) => Durability::of(settings),
                Err(e) => Durability::Unverified(Arc::new(e)),
            };
            if !matches!(durability, Durability::Durable) {
                worst = durability;
                break;
            }
        }
        Ok(worst)
    }

    async fn begin(&self, site: &str, begin: &Begin<'_>) -> Result<Began, Error> {
        let mut inv = self.begin.prepare_invoke();
        let (marker, marker_ttl_ms) = match begin.admit.and_then(|a| a.once) {
            Some(o) => (counted_key(site, o.comment_id), (o.ttl_us / 1000).max(1)),
            None => (counted_key(site, ""), 0),
        };
        let buckets = begin.admit.map_or(&[][..], |a| a.buckets);
        let bands = begin.sighting.map_or(&[][..], |b| b.bands);
        let window_us = begin.sighting.map_or(0, |b| b.window_us);
        let (window, previous_share) =
            crate::moderation::campaign::window_at(window_us, begin.now_us);
        inv.key(remembered_key(site, begin.recall.unwrap_or("")))
            .key(marker)
            .key(trust_key(site))
            .key(overlay_key(site, "meta"));
        for b in buckets {
            inv.key(bucket_key(site, b));
        }
        if !bands.is_empty() {
            inv.key(campaign_key(site, window));
            inv.key(campaign_key(site, window.wrapping_sub(1)));
        }
        inv.arg(u8::from(begin.recall.is_some()))
            .arg(u8::from(begin.admit.is_some()))
            .arg(begin.now_us)
            .arg(marker_ttl_ms)
            .arg(buckets.len())
            .arg(bands.len())
            // A window's counter must outlive it by one more, while it is the previous one.
            .arg((window_us.saturating_mul(2) / 1000).max(1))
            .arg(previous_share)
            .arg(begin.standing.unwrap_or(""))
            .arg(u8::from(begin.overlay));
        for b in buckets {
            inv.arg(b.interval_us()).arg(b.tolerance_us());
        }
        for band in bands {
            inv.arg(band);
        }
        let mut conn = self.conn();
        let answer: Vec<redis::Value> = reply(inv.invoke_async(&mut conn)).await?;
        let unexpected = || Error::Unexpected(format!("unexpected begin reply {answer:?}"));
        if let [redis::Value::Int(1), recalled] = answer.as_slice() {
            let recalled: Vec<u8> = parse(recalled)?;
            return Ok(Began {
                recalled: Some(recalled),
                ..Began::default()
            });
        }
        let ints: Vec<i64> = answer
            .iter()
            .map(|v| match v {
                redis::Value::Int(n) => Ok(*n),
                _ => Err(unexpected()),
            })
            .collect::<Result<_, _>>()?;
        match ints.as_slice() {
            [0, 0, index, retry] => {
                let b = usize::try_from(*index - 1)
                    .ok()
                    .and_then(|i| buckets.get(i))
                    .ok_or_else(unexpected)?;
                Ok(Began {
                    admission: Some(Admission::Refused {
                        dimension: b.dimension,
                        retry_after_us: u64::try_from(*retry).unwrap_or(0),
                        burst: b.limit.burst,
                        per_hour: b.limit.per_hour,
                    }),
                    ..Began::default()
                })
            }
            [0, admitted, 0, 0, best, band, approved, spam, version, off] => Ok(Began {
                recalled: None,
                admission: (*admitted == 1).then_some(Admission::Admitted),
                sighting: u64::try_from(*best).ok().map(|count| {
                    let band = usize::try_from(*band - 1)
                        .ok()
                        .and_then(|i| bands.get(i))
                        .cloned()
                        .unwrap_or_default();
                    (count, band)
                }),
                standing: u64::try_from(*approved).ok().map(|approved| Standing {
                    approved,
                    spam: *spam == 1,
                }),
                overlay: u64::try_from(*version).ok().map(|v| (v, *off == 0)),
            }),
            _ => Err(unexpected()),
        }
    }

    async fn finish(&self, site: &str, finish: Finish) -> Result<Finished, Error> {
        // EVALSHA by hand rather than through `Script::invoke_async`, so that a HOLD can take `WAIT` with it
        // in the same round trip.
        let mut eval = redis::cmd("EVALSHA");
        eval.arg(self.finish.get_hash()).arg(FINISH_KEYS);
        let inv = &mut eval;
        let (comment_id, day) = (
            finish
                .hold
                .as_ref()
                .map(|h| h.comment_id.as_str())
                .or(finish.remember.as_ref().map(|r| r.comment_id.as_str()))
                .unwrap_or(""),
            finish.tally.map_or(0, |(day, _)| day),
        );
        let decision_id = finish
            .remember
            .as_ref()
            .and_then(|r| r.record.as_ref())
            .map_or("", |r| r.decision_id.as_str());
        inv.arg(items_key(site))
            .arg(item_seq_key(site))
            .arg(pending_key(site))
            .arg(held_seq_key(site))
            .arg(held_comment_key(site, comment_id))
            .arg(events_key(site))
            .arg(daily_key(site, day))
            .arg(remembered_key(site, comment_id))
            .arg(decision_key(site, decision_id))
            .arg(decision_comment_key(site, comment_id))
            .arg(item_resolution_key(site));
        match &finish.hold {
            Some(h) => inv
                .arg(1)
                .arg(&h.held_id)
                .arg(&h.item)
                .arg(&h.comment_id)
                .arg(&h.event),
            None => inv.arg(0).arg("").arg("").arg("").arg(""),
        };
        let field = finish
            .tally
            .and_then(|(_, index)| ["accept", "hold", "reject"].get(index).copied())
            .unwrap_or("");
        inv.arg(EVENT_FEED_LEN)
            .arg(field)
            .arg((super::DAILY_RETENTION_DAYS + 1) * 24 * 3600);
        match &finish.remember {
            Some(r) => {
                let (record, record_ttl_ms) = match &r.record {
                    Some(record) => (&record.bytes[..], (record.ttl_us / 1000).max(1)),
                    None => (&[][..], 1),
                };
                inv.arg(1)
                    .arg(&r.response)
                    .arg((r.ttl_us / 1000).max(1))
                    .arg(record)
                    .arg(record_ttl_ms)
                    .arg(decision_id)
            }
            None => inv.arg(0).arg("").arg(1).arg("").arg(1).arg(""),
        };
        let wait = (finish.hold.is_some() && self.hold_replicas > 0).then(|| {
            // Half the check's limit, so WAIT answers with a count before `Store` gives up on it.
            let ms = (self.timeout / 2).as_millis().max(1);
            let mut wait = redis::cmd("WAIT");
            wait.arg(self.hold_replicas)
                .arg(u64::try_from(ms).unwrap_or(u64::MAX));
            wait
        });
        let (answer, acknowledged) = self
            .eval_waiting(&self.finish, &eval, wait.as_ref())
            .await?;
        let unexpected = || Error::Unexpected(format!("unexpected finish reply {answer:?}"));
        match answer.as_slice() {
            [redis::Value::Int(1), id, item, seq, resolution] => {
                let record = HeldRecord {
                    held_id: parse(id)?,
                    item: parse(item)?,
                    sequence: parse(seq)?,
                    resolution: parse(resolution)?,
                };
                Ok(Finished {
                    hold: Some(Hold::Existing(record)),
                    ..Finished::default()
                })
            }
            [redis::Value::Int(0), seq, standing] => {
                let sequence: u64 = parse(seq)?;
                Ok(Finished {
                    hold: finish.hold.is_some().then_some(Hold::Stored { sequence }),
                    remembered: parse(standing)?,
                    unreplicated: acknowledged.is_some_and(|n| n < i64::from(self.hold_replicas)),
                })
            }
            _ => Err(unexpected()),
        }
    }

    async fn held(&self, site: &str, held_id: &str) -> Result<Option<HeldRecord>, Error> {
        let mut conn = self.conn();
        let mut inv = self.held.prepare_invoke();
        inv.key(items_key(site))
            .key(item_seq_key(site))
            .key(item_resolution_key(site))
            .arg(held_id);
        let (item, seq, resolution): (Option<Vec<u8>>, Option<u64>, Option<Vec<u8>>) =
            reply(inv.invoke_async(&mut conn)).await?;
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
        let mut conn = self.conn();
        let mut inv = self.pending.prepare_invoke();
        inv.key(pending_key(site))
            .key(items_key(site))
            .arg(after)
            .arg(limit);
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
        let mut conn = self.conn();
        reply(
            redis::cmd("ZCARD")
                .arg(pending_key(site))
                .query_async(&mut conn),
        )
        .await
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
        let mut conn = self.conn();
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
        let mut conn = self.conn();
        let mut inv = self.resolve.prepare_invoke();
        let (label_id, label) = r.label.unwrap_or_default();
        let (author, change) = match &r.trust {
            Some(t) => (t.author.as_str(), if t.approved { "a" } else { "s" }),
            None => ("", ""),
        };
        inv.key(items_key(site))
            .key(item_verdict_key(site))
            .key(item_resolution_key(site))
            .key(pending_key(site))
            .key(audit_key(site))
            .key(events_key(site))
            .key(labels_key(site))
            .key(trust_key(site));
        for key in overlay_keys(site) {
            inv.key(key);
        }
        inv.arg(held_id)
            .arg(r.verdict)
            .arg(r.resolution)
            .arg(r.audit)
            .arg(r.event)
            .arg(label_id)
            .arg(label)
            .arg(author)
            .arg(change)
            .arg(EVENT_FEED_LEN);
        lesson_args(&mut inv, r.lesson.as_ref());
        let answer: Vec<Value> = reply(inv.invoke_async(&mut conn)).await?;
        let outcome: i64 = answer.first().map(parse).transpose()?.unwrap_or(-1);
        let standing =
            || -> Result<Vec<u8>, Error> { answer.get(1).map(parse).unwrap_or(Ok(Vec::new())) };
        Ok(match outcome {
            0 => Resolved::NotFound,
            1 => Resolved::Done(taught(answer.get(2..).unwrap_or_default())?),
            2 => Resolved::Same(standing()?),
            3 => Resolved::Conflict(standing()?),
            _ => {
                return Err(Error::Unexpected(format!(
                    "unexpected resolve reply {answer:?}"
                )))
            }
        })
    }

    async fn feedback(&self, site: &str, f: Feedback) -> Result<Kept, Error> {
        let mut conn = self.conn();
        let mut inv = self.feedback.prepare_invoke();
        inv.key(labels_key(site))
            .key(audit_key(site))
            .key(trust_key(site));
        for key in overlay_keys(site) {
            inv.key(key);
        }
        inv.arg(f.decision_id)
            .arg(f.label)
            .arg(f.audit)
            .arg(f.trust.map(|t| t.author).unwrap_or_default());
        lesson_args(&mut inv, f.lesson.as_ref());
        let answer: Vec<Value> = reply(inv.invoke_async(&mut conn)).await?;
        let new: i64 = answer
            .first()
            .map(parse)
            .transpose()?
            .ok_or_else(|| Error::Unexpected("an empty feedback reply".into()))?;
        Ok(Kept {
            replaced: new == 0,
            taught: taught(answer.get(1..).unwrap_or_default())?,
        })
    }

    async fn overlay(&self, site: &str) -> Result<OverlayCounts, Error> {
        let mut conn = self.conn();
        let mut inv = self.overlay.prepare_invoke();
        inv.key(overlay_key(site, "spam"))
            .key(overlay_key(site, "ham"))
            .key(overlay_key(site, "meta"));
        let (spam, ham, meta): (Counted, Counted, Vec<(String, String)>) =
            reply(inv.invoke_async(&mut conn)).await?;
        let mut counts: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
        for (f, n) in spam {
            counts.entry(f).or_default().0 = n;
        }
        for (f, n) in ham {
            counts.entry(f).or_default().1 = n;
        }
        let field = |name: &str| {
            meta.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let number = |name: &str| field(name).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(OverlayCounts {
            version: number("version"),
            disabled: field("off") == Some("1"),
            spam_labels: number("s"),
            ham_labels: number("h"),
            counts: counts.into_iter().map(|(f, (s, h))| (f, s, h)).collect(),
        })
    }

    async fn reset_overlay(&self, site: &str) -> Result<u64, Error> {
        self.overlay_admin(site, "reset").await
    }

    async fn set_overlay(&self, site: &str, enabled: bool) -> Result<u64, Error> {
        self.overlay_admin(site, if enabled { "on" } else { "off" })
            .await
    }

    async fn labels(&self, site: &str) -> Result<Vec<Vec<u8>>, Error> {
        let mut conn = self.conn();
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
        let mut conn = self.conn();
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
        let mut conn = self.conn();
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
        let mut conn = self.conn();
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

    async fn key(&self, id: &str) -> Result<Option<Vec<u8>>, Error> {
        let mut conn = self.conn();
        reply(
            redis::cmd("HGET")
                .arg(KEYS_KEY)
                .arg(id)
                .query_async(&mut conn),
        )
        .await
    }

    async fn keys(&self) -> Result<Vec<Vec<u8>>, Error> {
        let mut conn = self.conn();
        reply(redis::cmd("HVALS").arg(KEYS_KEY).query_async(&mut conn)).await
    }

    async fn put_key(&self, id: &str, key: Vec<u8>) -> Result<(), Error> {
        let mut conn = self.conn();
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
        let mut conn = self.conn();
        let mut inv = self.bootstrap.prepare_invoke();
        inv.key(KEYS_KEY);
        for (id, key) in keys {
            inv.arg(id).arg(key);
        }
        let stored: i64 = reply(inv.invoke_async(&mut conn)).await?;
        Ok(stored == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every script, for the checks that hold them all to Redis Cluster's rule.
    const SCRIPTS: [(&str, &str); 10] = [
        ("begin", BEGIN_LUA),
        ("finish", FINISH_LUA),
        ("held", HELD_LUA),
        ("pending", PENDING_LUA),
        ("teach", TEACH_LUA),
        ("resolve", RESOLVE_LUA),
        ("feedback", FEEDBACK_LUA),
        ("overlay", OVERLAY_LUA),
        ("overlay_admin", OVERLAY_ADMIN_LUA),
        ("bootstrap", BOOTSTRAP_LUA),
    ];

    /// Redis Cluster runs a script on the node of its keys' slot and requires every key it touches to
    /// be named in KEYS (the site's hash tag then puts them in one slot): a key built inside the
    /// script, from ARGV or a value it read, would work on one Redis and break on a cluster.
    #[test]
    fn every_script_touches_only_keys_named_in_keys() {
        for (name, script) in SCRIPTS {
            let mut calls = 0;
            for call in script.split("redis.call(").skip(1) {
                calls += 1;
                let args: Vec<&str> = call.splitn(3, ',').map(str::trim).collect();
                let command = args[0].trim_matches('\'').to_ascii_uppercase();
                let first = args.get(1).copied().unwrap_or("");
                assert!(
                    first.starts_with("KEYS["),
                    "script {name}: {command} touches `{first}`, not a key named in KEYS"
                );
            }
            assert!(calls > 0, "script {name} calls nothing");
        }
    }

    #[test]
    fn keys_tag_exactly_the_site() {
        assert_eq!(site_tag("blog"), "saring:{blog}");
        assert_eq!(site_tag("a}b{c%"), "saring:{a%7Db%7Bc%25}");
        assert_eq!(remembered_key("blog", "c1"), "saring:{blog}:idem:c1");
    }
}
