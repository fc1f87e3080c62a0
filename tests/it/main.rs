//! Integration tests, one binary so linking stays fast. Every fixture is written by the test itself;
//! nothing here needs data from outside the repository.

/// `both_stores!(a, b)` in a test module runs each `async fn a(store: Store)` twice, as
/// `on_embedded::a` on an in-memory embedded store and `on_redis::a` on its own real `redis-server`.
/// Defined here, before the modules, so every module that needs it uses this one.
macro_rules! both_stores {
    ($($case:ident),* $(,)?) => {
        mod on_embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(saring::store::embedded::EmbeddedStore::open_in_memory().into()).await;
                }
            )*
        }
        mod on_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let redis = crate::support::Redis::start();
                    // Generous: several servers and many tasks share two cores in CI.
                    let store = saring::store::redis::RedisStore::connect(
                        &redis.url(),
                        std::time::Duration::from_secs(2),
                    )
                    .await
                    .expect("connect to the test's redis");
                    super::$case(saring::store::Store::redis(store)).await;
                }
            )*
        }
    };
}

mod auth;
mod bench;
mod browser;
mod check_comment;
mod cli;
mod cluster;
mod durability;
mod faults;
mod hostile;
mod http;
mod layers;
mod logs;
mod models;
mod overlay;
mod queue;
mod replicas;
mod round_trips;
mod server;
mod shipped_model;
mod sites;
mod store;
mod support;
mod tokenize_props;
mod web;
mod webdriver;
mod webhook;
mod wire;

pub(crate) use queue::config as queue_config;
