//! The Redis store, for one or several `saring serve` replicas sharing one Redis.
//!
//! Each operation is one round trip: a Lua script, sent with EVALSHA and reloaded on NOSCRIPT (redis-rs'
//! `Script` does both), so it is atomic in Redis and cancel-safe in saring — a dropped request either ran
//! its script whole or not at all. Keys carry the site as a hash tag, `saring:{site}:…`, so all of one
//! site's keys live in one slot and the same scheme works on Redis Cluster. Rate-limit and idempotency
//! keys have TTLs, so Redis never grows without bound from traffic; held comments have none — they wait
//! for a moderator (the queue's resolution will remove them). The connection manager reconnects by itself after Redis restarts.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Script;

use super::{Admission, Error, Once, Store};
use crate::ratelimit::Bucket;

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

/// Remember a response unless one is there. KEYS: the key. ARGV: response, TTL (ms). Returns the response
/// that stands.
const REMEMBER_LUA: &str = r#"
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
"#;

/// Keep a held item. KEYS: the item's hash, the site's index. ARGV: held id, item, held-at (µs).
/// The hash and the index entry are written together; neither expires.
const HOLD_LUA: &str = r#"
redis.call('HSET', KEYS[1], 'item', ARGV[2], 'held_at_us', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"#;

/// The Redis-backed store.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    admit: Script,
    remember: Script,
    hold: Script,
    timeout: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RedisStore {
    /// Connect to `url` (e.g. `redis://127.0.0.1:6379`); each operation gives up after `timeout`.
    pub async fn connect(url: &str, timeout: Duration) -> Result<RedisStore, Error> {
        let client = redis::Client::open(url).map_err(|e| Error::Unavailable(e.to_string()))?;
        let conn = tokio::time::timeout(
            timeout.max(Duration::from_secs(2)),
            ConnectionManager::new(client),
        )
        .await
        .map_err(|_| Error::Unavailable(format!("connecting to {url} timed out")))?
        .map_err(|e| Error::Unavailable(e.to_string()))?;
        Ok(RedisStore {
            conn,
            admit: Script::new(ADMIT_LUA),
            remember: Script::new(REMEMBER_LUA),
            hold: Script::new(HOLD_LUA),
            timeout,
        })
    }

    async fn bounded<T>(
        &self,
        op: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Error> {
        tokio::time::timeout(self.timeout, op)
            .await
            .map_err(|_| Error::Unavailable("redis did not answer in time".into()))?
            .map_err(|e| Error::Unavailable(e.to_string()))
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

fn held_key(site: &str, held_id: &str) -> String {
    format!("{}:held:{held_id}", site_tag(site))
}

/// The site's held items by the time they were held (a sorted set: score = µs since the epoch).
fn held_index_key(site: &str) -> String {
    format!("{}:held_index", site_tag(site))
}

fn remembered_key(site: &str, comment_id: &str) -> String {
    format!("{}:idem:{comment_id}", site_tag(site))
}

impl Store for RedisStore {
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
        let reply: Vec<i64> = self.bounded(inv.invoke_async(&mut conn)).await?;
        match reply.as_slice() {
            [1] => Ok(Admission::Admitted),
            [0, index, retry] => {
                let b = usize::try_from(*index - 1)
                    .ok()
                    .and_then(|i| buckets.get(i))
                    .ok_or_else(|| {
                        Error::Unavailable("rate-limit script named no bucket".into())
                    })?;
                Ok(Admission::Refused {
                    dimension: b.dimension,
                    retry_after_us: u64::try_from(*retry).unwrap_or(0),
                    burst: b.limit.burst,
                    per_hour: b.limit.per_hour,
                })
            }
            other => Err(Error::Unavailable(format!(
                "unexpected rate-limit reply {other:?}"
            ))),
        }
    }

    async fn hold(
        &self,
        site: &str,
        held_id: &str,
        item: Vec<u8>,
        held_at_us: u64,
    ) -> Result<(), Error> {
        let mut conn = self.conn.clone();
        let mut inv = self.hold.prepare_invoke();
        inv.key(held_key(site, held_id))
            .key(held_index_key(site))
            .arg(held_id)
            .arg(item)
            .arg(held_at_us);
        let _: i64 = self.bounded(inv.invoke_async(&mut conn)).await?;
        Ok(())
    }

    async fn held(&self, site: &str, held_id: &str) -> Result<Option<Vec<u8>>, Error> {
        let mut conn = self.conn.clone();
        self.bounded(
            redis::cmd("HGET")
                .arg(held_key(site, held_id))
                .arg("item")
                .query_async(&mut conn),
        )
        .await
    }

    async fn recall(
        &self,
        site: &str,
        comment_id: &str,
        _now_us: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        let mut conn = self.conn.clone();
        let key = remembered_key(site, comment_id);
        self.bounded(redis::cmd("GET").arg(key).query_async(&mut conn))
            .await
    }

    async fn remember(
        &self,
        site: &str,
        comment_id: &str,
        response: Vec<u8>,
        ttl_us: u64,
        _now_us: u64,
    ) -> Result<Vec<u8>, Error> {
        let mut conn = self.conn.clone();
        let mut inv = self.remember.prepare_invoke();
        inv.key(remembered_key(site, comment_id))
            .arg(response)
            .arg((ttl_us / 1000).max(1));
        self.bounded(inv.invoke_async(&mut conn)).await
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
