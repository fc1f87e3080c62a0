//! The Redis store on a real Redis Cluster: three masters and three replicas of `redis-server` on
//! loopback, made with `redis-cli --cluster create`. The store's behavioural suite runs against it
//! (every script, so each one's keys are in one slot and declared), two saring servers share it
//! (rate limits, retries, keys and the queue agree across them), and a master killed mid-load fails over
//! to its replica without losing an answered HOLD.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use saring::config::{Config, Limit, Limits, RedisDurability, SiteOverride};
use saring::pb::{self, Decision, Role};
use saring::store::redis::RedisStore;
use saring::store::Store;

use crate::auth::with_key;
use crate::server::{request, TestServer};
use crate::support::{Redis, DURABLE};

/// The site every case uses; its keys live in the slot of its hash tag.
const SITE: &str = "blog";

/// How long a cluster may take to agree on its slots, or a replica to take over a dead master.
const SETTLE: Duration = Duration::from_secs(30);

/// Three masters with one replica each, every node durable (`appendfsync always`), killed on drop.
pub(crate) struct Cluster {
    nodes: Vec<Redis>,
}

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs (it comes with redis-server)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Cluster {
    pub(crate) fn start() -> Cluster {
        let mut args: Vec<&str> =
            vec!["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"];
        args.extend_from_slice(DURABLE);
        let nodes: Vec<Redis> = (0..6).map(|_| Redis::start_with(&args)).collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create runs");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        let cluster = Cluster { nodes };
        cluster.until(
            "every node sees the cluster ok and every replica in sync",
            |c| {
                c.nodes.iter().all(|n| {
                    let info = cli(n.port, &["CLUSTER", "INFO"]);
                    info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
                }) && c.masters().len() == 3
                    && c.replicas_in_sync() == 3
            },
        );
        cluster
    }

    /// Poll `ok` until it holds, for at most [`SETTLE`].
    fn until(&self, what: &str, ok: impl Fn(&Cluster) -> bool) {
        let start = Instant::now();
        while !ok(self) {
            assert!(
                start.elapsed() < SETTLE,
                "the cluster never got there: {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The nodes as `redis-cli CLUSTER NODES` lists them: (port, is master, is failed).
    fn topology(&self) -> Vec<(u16, bool, bool)> {
        let live = self
            .nodes
            .iter()
            .find(|n| !cli(n.port, &["PING"]).is_empty());
        let Some(live) = live else { return Vec::new() };
        cli(live.port, &["CLUSTER", "NODES"])
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let port = fields.get(1)?.split(['@', ':']).nth(1)?.parse().ok()?;
                let flags = fields.get(2)?;
                Some((port, flags.contains("master"), flags.contains("fail")))
            })
            .collect()
    }

    fn masters(&self) -> Vec<u16> {
        self.topology()
            .into_iter()
            .filter(|(_, master, failed)| *master && !failed)
            .map(|(port, _, _)| port)
            .collect()
    }

    fn replicas_in_sync(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| {
                let info = cli(n.port, &["INFO", "replication"]);
                info.contains("role:slave") && info.contains("master_link_status:up")
            })
            .count()
    }

    /// The `redis://` URLs of every node, comma-separated, as `redis_url` takes them.
    pub(crate) fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A store on the cluster, answering a HOLD once a replica has it.
    pub(crate) fn store(&self, timeout: Duration) -> Store {
        let url = self.url();
        let nodes: Vec<&str> = url.split(',').collect();
        Store::redis(
            RedisStore::connect_cluster(&nodes, timeout)
                .unwrap()
                .with_hold_replicas(1),
        )
    }

    /// Empty every master (their replicas follow).
    pub(crate) fn flush(&self) {
        for port in self.masters() {
            assert_eq!(cli(port, &["FLUSHALL"]).trim(), "OK");
        }
    }

    /// The port of the master that serves `site`'s keys: the node that answers for one of them
    /// without redirecting (a node that does not own the slot answers `MOVED <slot> <ip>:<port>`).
    fn master_of(&self, site: &str) -> u16 {
        let key = format!("saring:{{{site}}}:probe");
        let asked = self.masters()[0];
        let answer = cli(asked, &["GET", &key]);
        match answer
            .split_whitespace()
            .skip_while(|w| *w != "MOVED")
            .nth(2)
        {
            Some(owner) => owner
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("MOVED names a port"),
            None => asked,
        }
    }

    /// Start the node on `port` again after [`Cluster::kill`], on its own data and cluster state.
    fn restart(&mut self, port: u16) {
        self.node(port).restart();
    }

    fn node(&mut self, port: u16) -> &mut Redis {
        self.nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node of this cluster")
    }

    /// Kill the node on `port` with SIGKILL: no chance to say goodbye to the cluster.
    fn kill(&mut self, port: u16) {
        self.node(port).crash();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_store_suite_passes_on_a_redis_cluster() {
    let cluster = Cluster::start();
    let store = cluster.store(Duration::from_secs(2));
    crate::store::suite(|| {
        // Each case starts from an empty cluster, as it would from a fresh Redis.
        cluster.flush();
        store.clone()
    })
    .await;
}

fn config(cluster: &Cluster) -> Config {
    let mut config = Config {
        redis_url: Some(cluster.url()),
        redis_cluster: true,
        // A check's store operations may take longer on a loaded two-core test machine; the HOLD's
        // WAIT gets half.
        store_timeout_ms: 2000,
        redis_durability: RedisDurability::Require,
        ..Config::default()
    };
    config.sites.insert(
        SITE.into(),
        SiteOverride {
            rules: saring::config::RulesOverride {
                moderation_terms: Some(vec!["refund".into()]),
                ..Default::default()
            },
            // The load below is thousands of comments on one site within a minute.
            limits: Some(Limits {
                site: Limit {
                    burst: 1_000_000,
                    per_hour: 1_000_000,
                },
                ..Limits::default()
            }),
            ..SiteOverride::default()
        },
    );
    config
}

async fn server(config: &Config) -> TestServer {
    let store = Store::open(config).await.expect("the cluster store opens");
    TestServer::start_authed(config.clone(), store).await
}

fn held(i: usize) -> pb::CheckCommentRequest {
    let mut r = request(
        SITE,
        &format!("Tolong refund tiket seminar nomor {i}, acaranya batal mendadak minggu lalu."),
    );
    r.comment_id = format!("c{i}");
    r.user_ip = format!("10.{}.{}.{}", i / 65536 % 256, i / 256 % 256, i % 256);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_a_cluster_and_lose_no_answered_hold_when_a_master_fails_over() {
    let mut cluster = Cluster::start();
    let config = config(&cluster);
    let store = Store::open(&config).await.unwrap();
    let sites = vec![SITE.to_string()];
    let (_, service) = saring::access::keys::create(&store, Role::Service, &sites, "blog")
        .await
        .unwrap();
    let (_, moderator) = saring::access::keys::create(&store, Role::Moderator, &sites, "ann")
        .await
        .unwrap();
    let a = server(&config).await;
    let b = server(&config).await;
    let (mut ca, mut cb) = (a.client().await, b.client().await);

    // Keys made through one store are known to both servers; a retry on the other replica gets the
    // same answer and the comment is held once.
    let first = ca
        .check_comment(with_key(&service, held(1)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.decision(), Decision::Hold);
    let again = cb
        .check_comment(with_key(&service, held(1)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.decision_id, first.decision_id);

    // Rate limits are exact across the two: the IP's burst of 5 is shared.
    let mut admitted = 0;
    for i in 0..10 {
        let mut r = request(SITE, "Terima kasih atas artikelnya, sangat membantu.");
        r.user_ip = "192.0.2.44".into();
        r.comment_id = format!("burst-{i}");
        let client = if i % 2 == 0 { &mut ca } else { &mut cb };
        let answer = client
            .check_comment(with_key(&service, r))
            .await
            .unwrap()
            .into_inner();
        admitted += usize::from(answer.rate_limit.is_none());
    }
    assert_eq!(admitted, 5, "the default IP burst, across both replicas");

    // The queue: held through A, resolved through B, seen resolved through A.
    let mut qb = b.queue().await;
    let resolved = qb
        .resolve_held(with_key(
            &moderator,
            pb::ResolveHeldRequest {
                site_id: SITE.into(),
                held_ids: vec![first.held_id.clone()],
                verdict: pb::Verdict::Approve as i32,
                moderator: "ann".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.results[0].code, 0, "{resolved:?}");
    let mut qa = a.queue().await;
    let seen = qa
        .get_held(with_key(
            &moderator,
            pb::GetHeldRequest {
                site_id: SITE.into(),
                held_id: first.held_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.resolution.unwrap().verdict(), pb::Verdict::Approve);

    // Load on both replicas; the site's master dies in the middle of it.
    let victim = cluster.master_of(SITE);
    let answered = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let after_kill = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for (w, client) in [ca.clone(), cb.clone(), ca.clone(), cb.clone()]
        .into_iter()
        .enumerate()
    {
        let (answered, after_kill, killed, service) = (
            answered.clone(),
            after_kill.clone(),
            killed.clone(),
            service.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut client = client;
            let mut i = 1_000 + w * 100_000;
            let start = Instant::now();
            // Until 150 HOLDs were answered after the failover, within a bound.
            while after_kill.load(std::sync::atomic::Ordering::Relaxed) < 150
                && start.elapsed() < Duration::from_secs(60)
            {
                i += 1;
                let was_killed = killed.load(std::sync::atomic::Ordering::Relaxed);
                if let Ok(answer) = client.check_comment(with_key(&service, held(i))).await {
                    let answer = answer.into_inner();
                    if answer.decision() == Decision::Hold {
                        answered.lock().unwrap().insert(answer.held_id);
                        if was_killed {
                            after_kill.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            }
        }));
    }
    while answered.lock().unwrap().len() < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.kill(victim);
    killed.store(true, std::sync::atomic::Ordering::Relaxed);
    cluster.until("a replica takes over the killed master", |c| {
        !c.masters().contains(&victim) && c.masters().len() == 3
    });
    // Checks go on: an ACCEPT needs no replica. A HOLD does (`require`): the promoted master has none
    // until the killed node comes back, as a supervisor would restart it, and rejoins as its replica.
    let plain = ca
        .check_comment(with_key(
            &service,
            request(
                SITE,
                "Jembatan itu direncanakan jauh sebelum pemilihan, bukan sesudahnya.",
            ),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(plain.decision(), Decision::Hold);
    cluster.restart(victim);
    cluster.until("the killed node rejoins as a replica", |c| {
        c.replicas_in_sync() == 3
    });
    for task in load {
        task.await.unwrap();
    }
    assert!(
        after_kill.load(std::sync::atomic::Ordering::Relaxed) >= 150,
        "checks went on after the failover"
    );

    // Every answered HOLD is in the queue that the promoted replica now serves.
    let mut waiting = BTreeSet::new();
    let mut page_token = String::new();
    loop {
        let page = qa
            .list_held(with_key(
                &moderator,
                pb::ListHeldRequest {
                    site_id: SITE.into(),
                    page_size: 500,
                    page_token,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        waiting.extend(page.items.into_iter().map(|i| i.held_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let answered = answered.lock().unwrap();
    let lost: Vec<&String> = answered.difference(&waiting).collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered HOLDs are gone: {lost:?}",
        lost.len(),
        answered.len()
    );
}
