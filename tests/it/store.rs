//! One behavioural suite, run against both stores: the embedded one and Redis (a real redis-server).

use std::time::Duration;

use saring::config::Limit;
use saring::ratelimit::{Bucket, Dimension};
use saring::store::embedded::EmbeddedStore;
use saring::store::redis::RedisStore;
use saring::store::{Admission, Store};

use crate::support::Redis;

fn bucket(dimension: Dimension, subject: &str, burst: u32, per_hour: u32) -> Bucket {
    Bucket {
        dimension,
        subject: subject.into(),
        limit: Limit { burst, per_hour },
    }
}

const T0: u64 = 1_800_000_000_000_000;

async fn admits_the_burst_then_refuses_with_a_retry_time(store: &impl Store) {
    let b = [bucket(Dimension::Ip, "192.0.2.1", 2, 3600)];
    assert_eq!(
        store.admit("s", None, &b, T0).await.unwrap(),
        Admission::Admitted
    );
    assert_eq!(
        store.admit("s", None, &b, T0).await.unwrap(),
        Admission::Admitted
    );
    match store.admit("s", None, &b, T0).await.unwrap() {
        Admission::Refused {
            dimension,
            retry_after_us,
            burst,
            per_hour,
        } => {
            assert_eq!((dimension, burst, per_hour), (Dimension::Ip, 2, 3600));
            assert_eq!(retry_after_us, 1_000_000);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // One interval later, one more fits; sites are separate.
    assert_eq!(
        store.admit("s", None, &b, T0 + 1_000_000).await.unwrap(),
        Admission::Admitted
    );
    assert_eq!(
        store.admit("other", None, &b, T0).await.unwrap(),
        Admission::Admitted
    );
}

async fn a_refusal_counts_nothing(store: &impl Store) {
    let ip = bucket(Dimension::Ip, "192.0.2.2", 5, 3600);
    let author = bucket(Dimension::Author, "ann@example.org", 1, 3600);
    assert_eq!(
        store
            .admit("s", None, &[ip.clone(), author.clone()], T0)
            .await
            .unwrap(),
        Admission::Admitted
    );
    // The author bucket refuses; the IP bucket must not have been charged for it.
    for _ in 0..3 {
        let r = store
            .admit("s", None, &[ip.clone(), author.clone()], T0)
            .await
            .unwrap();
        assert!(
            matches!(
                r,
                Admission::Refused {
                    dimension: Dimension::Author,
                    ..
                }
            ),
            "{r:?}"
        );
    }
    for _ in 0..4 {
        assert_eq!(
            store
                .admit("s", None, std::slice::from_ref(&ip), T0)
                .await
                .unwrap(),
            Admission::Admitted
        );
    }
    assert!(matches!(
        store.admit("s", None, &[ip], T0).await.unwrap(),
        Admission::Refused { .. }
    ));
}

async fn concurrent_admissions_are_exact<S: Store>(store: std::sync::Arc<S>) {
    let b = vec![bucket(Dimension::Site, "", 10, 1)];
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (store, b) = (store.clone(), b.clone());
        tasks.push(tokio::spawn(async move {
            store.admit("s", None, &b, T0).await.unwrap()
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        if t.await.unwrap() == Admission::Admitted {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 10);
}

async fn a_comment_counts_once(store: &impl Store) {
    let b = [bucket(Dimension::Ip, "192.0.2.9", 1, 3600)];
    let once = |id| {
        Some(saring::store::Once {
            comment_id: id,
            ttl_us: 60_000_000,
        })
    };
    assert_eq!(
        store.admit("s", once("c1"), &b, T0).await.unwrap(),
        Admission::Admitted
    );
    // A retry of c1 is free; c2 is a new comment and finds the bucket spent.
    assert_eq!(
        store.admit("s", once("c1"), &b, T0).await.unwrap(),
        Admission::Admitted
    );
    assert!(matches!(
        store.admit("s", once("c2"), &b, T0).await.unwrap(),
        Admission::Refused { .. }
    ));
}

async fn held_items_are_kept(store: &impl Store) {
    assert_eq!(store.held("s", "h1").await.unwrap(), None);
    store
        .hold("s", "h1", b"item".to_vec(), saring_now())
        .await
        .unwrap();
    assert_eq!(
        store.held("s", "h1").await.unwrap().as_deref(),
        Some(&b"item"[..])
    );
    assert_eq!(store.held("other", "h1").await.unwrap(), None);
}

async fn the_first_remembered_response_stands(store: &impl Store) {
    let now = saring_now();
    assert_eq!(store.recall("s", "c1", now).await.unwrap(), None);
    let first = store
        .remember("s", "c1", b"first".to_vec(), 60_000_000, now)
        .await
        .unwrap();
    assert_eq!(first, b"first");
    let second = store
        .remember("s", "c1", b"second".to_vec(), 60_000_000, now)
        .await
        .unwrap();
    assert_eq!(second, b"first");
    assert_eq!(
        store.recall("s", "c1", now).await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
    assert_eq!(store.recall("other", "c1", now).await.unwrap(), None);
}

async fn remembered_responses_expire(store: &impl Store) {
    let start = saring_now();
    store
        .remember("s", "short", b"x".to_vec(), 200_000, start)
        .await
        .unwrap();
    // Bounded polling on the real clock: Redis expires keys itself.
    for _ in 0..100 {
        if store
            .recall("s", "short", saring_now())
            .await
            .unwrap()
            .is_none()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("a 200 ms entry was still there after 2 s");
}

fn saring_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

async fn suite<S: Store>(make: impl Fn() -> S) {
    admits_the_burst_then_refuses_with_a_retry_time(&make()).await;
    a_refusal_counts_nothing(&make()).await;
    concurrent_admissions_are_exact(std::sync::Arc::new(make())).await;
    a_comment_counts_once(&make()).await;
    held_items_are_kept(&make()).await;
    the_first_remembered_response_stands(&make()).await;
    remembered_responses_expire(&make()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_embedded_store_passes_the_suite() {
    suite(EmbeddedStore::open_in_memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_redis_store_passes_the_suite() {
    // A fresh redis-server per case, so cases cannot see each other's keys.
    let servers: Vec<Redis> = (0..7).map(|_| Redis::start()).collect();
    let mut stores = Vec::new();
    for r in &servers {
        stores.push(
            RedisStore::connect(&r.url(), Duration::from_secs(2))
                .await
                .unwrap(),
        );
    }
    let next = std::sync::Mutex::new(stores.into_iter());
    suite(|| next.lock().unwrap().next().expect("one store per case")).await;
}

#[tokio::test]
async fn redis_reloads_its_scripts_after_a_flush() {
    let redis = Redis::start();
    let store = RedisStore::connect(&redis.url(), Duration::from_secs(2))
        .await
        .unwrap();
    let b = [bucket(Dimension::Ip, "192.0.2.3", 1, 3600)];
    assert_eq!(
        store.admit("s", None, &b, T0).await.unwrap(),
        Admission::Admitted
    );
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    // EVALSHA now fails with NOSCRIPT; the store must reload and still count correctly.
    assert!(matches!(
        store.admit("s", None, &b, T0).await.unwrap(),
        Admission::Refused { .. }
    ));
    let ttl: i64 = redis::cmd("PTTL")
        .arg("saring:{s}:rl:ip:192.0.2.3")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0, "every key has a TTL, got {ttl}");
}
