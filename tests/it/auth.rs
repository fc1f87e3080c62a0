//! API keys and roles over a real socket: every RPC × every role × own site / other site, missing,
//! malformed and revoked keys, revocation across replicas, the first keys printed by a real first
//! start, and TLS with a certificate the test makes.

use std::time::Duration;

use saring::config::Config;
use saring::pb::admin_client::AdminClient;
use saring::pb::moderation_client::ModerationClient;
use saring::pb::moderation_queue_client::ModerationQueueClient;
use saring::pb::{self, Role};
use saring::store::embedded::EmbeddedStore;
use tonic::transport::Channel;
use tonic::{Code, Request};

use crate::server::{request, TestServer};
use crate::support::Serve;

/// `request` with `authorization: Bearer token` (none when `token` is empty).
pub(crate) fn with_key<T>(token: &str, message: T) -> Request<T> {
    let mut r = Request::new(message);
    if !token.is_empty() {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    r
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rpc {
    CheckComment,
    SubmitFeedback,
    ListHeld,
    GetHeld,
    ResolveHeld,
    WatchHeld,
    ListAudit,
    RecheckHeld,
    CreateKey,
    ListKeys,
    RevokeKey,
    ExportLabels,
    GetModelInfo,
    ReloadModel,
    GetOverlay,
    ResetOverlay,
    SetOverlay,
}

pub(crate) const ALL: [Rpc; 17] = [
    Rpc::CheckComment,
    Rpc::SubmitFeedback,
    Rpc::ListHeld,
    Rpc::GetHeld,
    Rpc::ResolveHeld,
    Rpc::WatchHeld,
    Rpc::ListAudit,
    Rpc::RecheckHeld,
    Rpc::CreateKey,
    Rpc::ListKeys,
    Rpc::RevokeKey,
    Rpc::ExportLabels,
    Rpc::GetModelInfo,
    Rpc::ReloadModel,
    Rpc::GetOverlay,
    Rpc::ResetOverlay,
    Rpc::SetOverlay,
];

/// Call `rpc` for `site` with `token`; the status code (OK when it succeeded). Arguments are valid but
/// name nothing that exists, so an authorized call ends OK or NOT_FOUND — never an auth code.
pub(crate) async fn call(channel: &Channel, rpc: Rpc, site: &str, token: &str) -> Code {
    let code = |r: Result<(), tonic::Status>| r.err().map_or(Code::Ok, |s| s.code());
    let mut m = ModerationClient::new(channel.clone());
    let mut q = ModerationQueueClient::new(channel.clone());
    let mut a = AdminClient::new(channel.clone());
    let mut models = saring::pb::model_admin_client::ModelAdminClient::new(channel.clone());
    let site = site.to_string();
    code(match rpc {
        Rpc::CheckComment => m
            .check_comment(with_key(
                token,
                request(&site, "Terima kasih, artikelnya bagus."),
            ))
            .await
            .map(drop),
        Rpc::SubmitFeedback => m
            .submit_feedback(with_key(
                token,
                pb::SubmitFeedbackRequest {
                    site_id: site,
                    target: Some(pb::submit_feedback_request::Target::DecisionId(
                        "none".into(),
                    )),
                    label: pb::FeedbackLabel::Spam as i32,
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
        Rpc::ListHeld => q
            .list_held(with_key(
                token,
                pb::ListHeldRequest {
                    site_id: site,
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
        Rpc::GetHeld => q
            .get_held(with_key(
                token,
                pb::GetHeldRequest {
                    site_id: site,
                    held_id: "none".into(),
                },
            ))
            .await
            .map(drop),
        Rpc::ResolveHeld => q
            .resolve_held(with_key(
                token,
                pb::ResolveHeldRequest {
                    site_id: site,
                    held_ids: vec!["none".into()],
                    verdict: pb::Verdict::Approve as i32,
                    moderator: "m".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
        Rpc::WatchHeld => q
            .watch_held(with_key(
                token,
                pb::WatchHeldRequest {
                    site_id: site,
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
        Rpc::ListAudit => q
            .list_audit(with_key(
                token,
                pb::ListAuditRequest {
                    site_id: site,
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
        Rpc::RecheckHeld => q
            .recheck_held(with_key(
                token,
                pb::RecheckHeldRequest {
                    site_id: site,
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
        Rpc::CreateKey => a
            .create_key(with_key(
                token,
                pb::CreateKeyRequest {
                    role: Role::Service as i32,
                    sites: vec![site],
                    name: "made in a test".into(),
                },
            ))
            .await
            .map(drop),
        Rpc::ListKeys => a
            .list_keys(with_key(token, pb::ListKeysRequest {}))
            .await
            .map(drop),
        Rpc::RevokeKey => a
            .revoke_key(with_key(token, pb::RevokeKeyRequest { id: "none".into() }))
            .await
            .map(drop),
        Rpc::ExportLabels => a
            .export_labels(with_key(
                token,
                pb::ExportLabelsRequest {
                    site_id: site,
                    since: None,
                },
            ))
            .await
            .map(drop),
        Rpc::GetModelInfo => models
            .get_model_info(with_key(token, pb::GetModelInfoRequest {}))
            .await
            .map(drop),
        Rpc::ReloadModel => models
            .reload_model(with_key(
                token,
                pb::ReloadModelRequest {
                    name: "none.model".into(),
                    shadow: true,
                },
            ))
            .await
            .map(drop),
        Rpc::GetOverlay => models
            .get_overlay(with_key(
                token,
                pb::GetOverlayRequest {
                    site_id: site,
                    top: 5,
                },
            ))
            .await
            .map(drop),
        Rpc::ResetOverlay => models
            .reset_overlay(with_key(token, pb::ResetOverlayRequest { site_id: site }))
            .await
            .map(drop),
        Rpc::SetOverlay => models
            .set_overlay(with_key(
                token,
                pb::SetOverlayRequest {
                    site_id: site,
                    enabled: true,
                },
            ))
            .await
            .map(drop),
    })
}

fn allowed(role: Option<Role>, rpc: Rpc, own_site: bool) -> bool {
    use Rpc::*;
    match role {
        Some(Role::Admin) => true,
        Some(Role::Service) => own_site && matches!(rpc, CheckComment | SubmitFeedback),
        Some(Role::Moderator) => {
            own_site
                && matches!(
                    rpc,
                    ListHeld | GetHeld | ResolveHeld | WatchHeld | ListAudit | RecheckHeld
                )
        }
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_rpc_for_every_role_on_its_own_site_and_another() {
    let store = saring::store::Store::from(EmbeddedStore::open_in_memory());
    let site = |s: &str| vec![s.to_string()];
    let (_, service) = saring::access::keys::create(&store, Role::Service, &site("own"), "blog")
        .await
        .unwrap();
    let (_, moderator) = saring::access::keys::create(&store, Role::Moderator, &site("own"), "ann")
        .await
        .unwrap();
    let (_, admin) = saring::access::keys::create(&store, Role::Admin, &[], "ops")
        .await
        .unwrap();
    let (revoked_key, revoked) = saring::access::keys::create(&store, Role::Admin, &[], "old")
        .await
        .unwrap();
    saring::access::keys::revoke(&store, &revoked_key.id)
        .await
        .unwrap();
    let server = TestServer::start_authed(Config::default(), store).await;
    let channel = server.channel().await;

    // The admin key's id with one secret digit changed.
    let last = if admin.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &admin[..admin.len() - 1]);
    let mut checked = 0;
    for (role, token) in [
        (Some(Role::Service), service.as_str()),
        (Some(Role::Moderator), moderator.as_str()),
        (Some(Role::Admin), admin.as_str()),
        (None, ""),
        (None, "srg_not_a_key"),
        (None, tampered.as_str()),
        (None, revoked.as_str()),
    ] {
        for rpc in ALL {
            for (own, s) in [(true, "own"), (false, "other")] {
                let got = call(&channel, rpc, s, token).await;
                let want_ok = allowed(role, rpc, own);
                let expected_failure = if role.is_some() {
                    Code::PermissionDenied
                } else {
                    Code::Unauthenticated
                };
                if want_ok {
                    assert!(
                        matches!(got, Code::Ok | Code::NotFound),
                        "{role:?} {rpc:?} site {s}: {got:?}"
                    );
                } else {
                    assert_eq!(got, expected_failure, "{role:?} {rpc:?} site {s}");
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 7 * ALL.len() * 2);

    // Health and reflection stay open.
    let health = tonic_health::pb::health_client::HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, 1);
}

/// Wait until the replica behind `channel` refuses `token` for site `blog`: within the key cache time
/// (plus 2 s of slack) of a revocation made elsewhere.
async fn refused_within_the_cache_time(channel: &Channel, token: &str) {
    let limit = Duration::from_secs(saring::access::auth::CACHE_SECS + 2);
    let start = std::time::Instant::now();
    while call(channel, Rpc::CheckComment, "blog", token).await != Code::Unauthenticated {
        assert!(
            start.elapsed() < limit,
            "replica B still takes a revoked key"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two replicas sharing one store, which holds an admin key and a `role` key for site `blog`: the
/// admin token, the key and its token, and the replicas.
async fn two_replicas(role: Role) -> (String, pb::ApiKey, String, TestServer, TestServer) {
    let store = saring::store::Store::from(EmbeddedStore::open_in_memory());
    let (_, admin) = saring::access::keys::create(&store, Role::Admin, &[], "ops")
        .await
        .unwrap();
    let (key, token) = saring::access::keys::create(&store, role, &["blog".to_string()], "b")
        .await
        .unwrap();
    let a = TestServer::start_authed(Config::default(), store.clone()).await;
    let b = TestServer::start_authed(Config::default(), store).await;
    (admin, key, token, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_reaches_another_replica_within_the_cache_time() {
    let (admin, blog, token, a, b) = two_replicas(Role::Service).await;
    let (ca, cb) = (a.channel().await, b.channel().await);
    // Both replicas know the key (and B has it cached).
    assert_eq!(call(&ca, Rpc::CheckComment, "blog", &token).await, Code::Ok);
    assert_eq!(call(&cb, Rpc::CheckComment, "blog", &token).await, Code::Ok);
    AdminClient::new(ca.clone())
        .revoke_key(with_key(&admin, pb::RevokeKeyRequest { id: blog.id }))
        .await
        .unwrap();
    // At once where it was revoked; within the cache time everywhere else.
    assert_eq!(
        call(&ca, Rpc::CheckComment, "blog", &token).await,
        Code::Unauthenticated
    );
    refused_within_the_cache_time(&cb, &token).await;
}

/// A watch stream opened with a key ends, with UNAUTHENTICATED, once that key is revoked — on another
/// replica too, within the key cache time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_key_s_open_watch_stream_ends() {
    let (admin, ann, token, a, b) = two_replicas(Role::Moderator).await;
    let watch = |token: &str| {
        with_key(
            token,
            pb::WatchHeldRequest {
                site_id: "blog".into(),
                ..Default::default()
            },
        )
    };
    let mut on_b = ModerationQueueClient::new(b.channel().await)
        .watch_held(watch(&token))
        .await
        .unwrap()
        .into_inner();
    // Still open: nothing arrives, and the stream has not ended.
    let quiet = tokio::time::timeout(Duration::from_millis(500), on_b.message()).await;
    assert!(quiet.is_err(), "the stream ended early: {quiet:?}");
    AdminClient::new(a.channel().await)
        .revoke_key(with_key(&admin, pb::RevokeKeyRequest { id: ann.id }))
        .await
        .unwrap();
    let limit = Duration::from_secs(saring::access::auth::CACHE_SECS + 5);
    let ended = tokio::time::timeout(limit, on_b.message())
        .await
        .expect("the stream ends within the cache time")
        .unwrap_err();
    assert_eq!(ended.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_first_start_prints_an_admin_and_a_service_key_once_and_they_work() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--data-dir", dir.path().to_str().unwrap()];
    let first = Serve::start(&args);
    let tokens: Vec<String> = (0..3)
        .filter_map(|_| first.stdout.recv_timeout(Duration::from_secs(5)).ok())
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("srg_"))
                .map(String::from)
        })
        .collect();
    assert_eq!(tokens.len(), 2, "an admin and a service key: {tokens:?}");
    let channel = Channel::from_shared(format!("http://{}", first.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let keys = AdminClient::new(channel.clone())
        .list_keys(with_key(&tokens[0], pb::ListKeysRequest {}))
        .await
        .expect("the first key is an admin key")
        .into_inner()
        .keys;
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter().all(|k| k.secret_sha256.is_empty()),
        "no hashes leave the server"
    );
    assert_eq!(
        call(&channel, Rpc::CheckComment, "default", &tokens[1]).await,
        Code::Ok,
        "the second is the default site's service key"
    );
    drop(channel);
    drop(first);
    let again = Serve::start(&args);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        again.stdout.try_recv().is_err(),
        "keys are printed on the first start only"
    );
}

#[tokio::test]
async fn without_auth_the_server_warns() {
    let dir = tempfile::tempdir().unwrap();
    let s = Serve::start(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--insecure-no-auth",
    ]);
    let warned = (0..20)
        .filter_map(|_| s.stderr.recv_timeout(Duration::from_millis(500)).ok())
        .any(|l| l.contains("WARN") && l.contains("API keys are OFF"));
    assert!(warned);
    assert!(
        s.stdout.try_recv().is_err(),
        "no keys are made without auth"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tls_serves_with_a_generated_certificate_and_refuses_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let cert = crate::support::localhost_cert(dir.path());
    let server =
        TestServer::start_with(cert.server_config(), EmbeddedStore::open_in_memory()).await;
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(
            cert.certified.cert.pem(),
        ))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{}", server.addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .expect("a TLS connection with the generated CA");
    let r = ModerationClient::new(channel)
        .check_comment(request("blog", "Terima kasih, artikelnya bagus sekali."))
        .await
        .expect("a check over TLS")
        .into_inner();
    assert!(!r.decision_id.is_empty());
    // A plaintext client gets no answer from a TLS port.
    let plain = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await;
    let refused = match plain {
        Err(_) => true,
        Ok(ch) => ModerationClient::new(ch)
            .check_comment(request("blog", "hello there"))
            .await
            .is_err(),
    };
    assert!(refused);
}

/// `saring keys` over https:// trusts what the host trusts (here: SSL_CERT_FILE naming the generated
/// certificate) without `--tls-ca`, and refuses a certificate the host does not trust.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_keys_command_over_https_trusts_the_host_s_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let cert = crate::support::localhost_cert(dir.path());
    let store = saring::store::Store::from(EmbeddedStore::open_in_memory());
    let (admin_key, admin) = saring::access::keys::create(&store, Role::Admin, &[], "ops")
        .await
        .unwrap();
    let server = TestServer::start_authed(cert.server_config(), store).await;
    let url = format!("https://localhost:{}", server.addr.port());
    let list = |trust: Option<&std::path::Path>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_saring"));
        cmd.args(["keys", "list", "--server", &url, "--key", &admin])
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR");
        if let Some(file) = trust {
            cmd.env("SSL_CERT_FILE", file);
        }
        cmd.output().unwrap()
    };
    let trusted = list(Some(&cert.cert_path));
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    assert!(String::from_utf8_lossy(&trusted.stdout).contains(&admin_key.id));
    let untrusted = list(None);
    assert!(!untrusted.status.success(), "a certificate nobody trusts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_on_redis_bootstrap_once_and_revocations_reach_another_replica() {
    use saring::store::redis::RedisStore;
    let redis = crate::support::Redis::start();
    let url = redis.url();
    let connect = || async {
        saring::store::Store::from(
            RedisStore::connect(&url, Duration::from_secs(2))
                .await
                .unwrap(),
        )
    };
    let store = connect().await;
    let first = saring::access::keys::bootstrap(&store).await.unwrap();
    assert_eq!(first.as_ref().map(Vec::len), Some(2));
    assert!(saring::access::keys::bootstrap(&connect().await)
        .await
        .unwrap()
        .is_none());
    let admin = first.unwrap()[0].1.clone();
    let (blog, token) =
        saring::access::keys::create(&store, Role::Service, &["blog".to_string()], "b")
            .await
            .unwrap();
    let a = TestServer::start_authed(Config::default(), connect().await).await;
    let b = TestServer::start_authed(Config::default(), connect().await).await;
    let (ca, cb) = (a.channel().await, b.channel().await);
    assert_eq!(call(&cb, Rpc::CheckComment, "blog", &token).await, Code::Ok);
    AdminClient::new(ca)
        .revoke_key(with_key(&admin, pb::RevokeKeyRequest { id: blog.id }))
        .await
        .unwrap();
    refused_within_the_cache_time(&cb, &token).await;
}

/// A real Redis (the store's timeout 50 ms) holding a service key for site `blog`, and its token.
async fn redis_with_a_service_key() -> (crate::support::Redis, saring::store::Store, String) {
    let redis = crate::support::Redis::start();
    let store = saring::store::Store::from(
        saring::store::redis::RedisStore::connect(&redis.url(), Duration::from_millis(50))
            .await
            .unwrap(),
    );
    let (_, token) =
        saring::access::keys::create(&store, Role::Service, &["blog".to_string()], "b")
            .await
            .unwrap();
    (redis, store, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_keys_on_a_frozen_redis_still_gets_checks_answered_with_a_known_key() {
    let (redis, store, token) = redis_with_a_service_key().await;
    let server = TestServer::start_authed(Config::default(), store).await;
    let channel = server.channel().await;
    assert_eq!(
        call(&channel, Rpc::CheckComment, "blog", &token).await,
        Code::Ok
    );
    redis.pause();
    // Past the cache time the key cannot be re-read; the cached one still serves, and checks degrade.
    tokio::time::sleep(Duration::from_secs(saring::access::auth::CACHE_SECS + 1)).await;
    let mut r = request("blog", "Terima kasih, artikelnya bagus sekali.");
    r.user_ip = "192.0.2.80".into();
    // A generous deadline, far below the 5 s a key look-up could once wait on a frozen store.
    let mut request = with_key(&token, r);
    request.set_timeout(Duration::from_secs(2));
    let answer = ModerationClient::new(channel.clone())
        .check_comment(request)
        .await;
    redis.resume();
    let answer = answer.expect("answered while Redis is frozen").into_inner();
    assert!(answer.reasons.iter().any(|x| x.code == "store.degraded"));
}

/// In the second before the health monitor notices a frozen Redis, a key look-up still gives up at its
/// own limit (250 ms), not the store's 5 s for such reads: the caller hears UNAVAILABLE instead of
/// waiting. Without the limit this look-up would outlast the 3 s below.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_look_up_on_a_frozen_redis_gives_up_at_its_own_limit() {
    let (redis, store, token) = redis_with_a_service_key().await;
    // No health check has run: the store still counts as up, as it does until the monitor's next ping
    // fails.
    assert!(store.is_up());
    let auth = saring::access::auth::Authenticator::new(store, true);
    redis.pause();
    let header = format!("Bearer {token}");
    let outcome =
        tokio::time::timeout(Duration::from_secs(3), auth.authenticate(Some(&header))).await;
    redis.resume();
    let outcome = outcome.expect("the look-up gives up by itself");
    assert!(
        matches!(outcome, Err(saring::access::auth::Error::Unavailable(_))),
        "{outcome:?}"
    );
}

/// With keys off (local development) the admin commands need no key.
#[test]
fn admin_commands_need_no_key_when_the_server_has_keys_off() {
    use crate::support::{assert_success, saring};
    let dir = tempfile::tempdir().unwrap();
    let s = Serve::start(&[
        "--insecure-no-auth",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    let server = format!("http://{}", s.addr);
    assert_success(&saring(&["keys", "list", "--server", &server]));
    let out = dir.path().join("feedback.jsonl");
    assert_success(&saring(&[
        "export-feedback",
        "--site",
        "blog",
        "--server",
        &server,
        "--out",
        out.to_str().unwrap(),
    ]));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "");
}

#[test]
fn the_keys_command_works_through_the_server_and_directly_on_the_store() {
    use crate::support::{assert_success, saring, stdout};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_string();
    let admin = {
        let s = Serve::start(&["--data-dir", &data]);
        let admin = s
            .stdout
            .recv_timeout(Duration::from_secs(5))
            .ok()
            .into_iter()
            .chain(s.stdout.recv_timeout(Duration::from_secs(5)).ok())
            .find_map(|l| {
                l.contains("admin")
                    .then(|| {
                        l.split_whitespace()
                            .find(|w| w.starts_with("srg_"))
                            .map(String::from)
                    })
                    .flatten()
            })
            .expect("the admin key was printed");
        let server = format!("http://{}", s.addr);
        // A moderator key for `blog` made through the server; its token.
        let moderator = |name: &str| {
            let o = saring(&[
                "keys",
                "create",
                "--role",
                "moderator",
                "--site",
                "blog",
                "--name",
                name,
                "--server",
                &server,
                "--key",
                &admin,
            ]);
            assert_success(&o);
            stdout(&o).lines().next().unwrap().to_string()
        };
        let token = moderator("ann");
        let (id, _) = saring::access::keys::parse_token(&token).expect("a token");
        let o = saring(&["keys", "list", "--server", &server, "--key", &admin]);
        assert_success(&o);
        let list = stdout(&o);
        assert!(list.contains(id) && list.contains("moderator") && list.contains("ann"));
        assert!(!list.contains(&token), "no secret in a list");
        let o = saring(&["keys", "revoke", id, "--server", &server, "--key", &admin]);
        assert_success(&o);
        assert!(stdout(&o).contains("revoked"));
        // A revoked key and no key are refused, saying how to give one, and a live moderator key may
        // not manage keys.
        for o in [
            saring(&["keys", "list", "--server", &server, "--key", &token]),
            saring(&["keys", "list", "--server", &server]),
        ] {
            assert!(!o.status.success());
            let err = crate::support::stderr(&o);
            assert!(err.contains("--key or SARING_KEY"), "{err}");
        }
        let live = moderator("bob");
        let o = saring(&["keys", "list", "--server", &server, "--key", &live]);
        assert!(!o.status.success());
        assert!(
            crate::support::stderr(&o).contains("may not"),
            "{}",
            crate::support::stderr(&o)
        );
        admin
    };
    // Server stopped: recover with --direct on the store itself.
    let o = saring(&[
        "keys",
        "create",
        "--role",
        "admin",
        "--name",
        "recovery",
        "--direct",
        "--data-dir",
        &data,
    ]);
    assert_success(&o);
    let o = saring(&["keys", "list", "--direct", "--data-dir", &data]);
    assert_success(&o);
    let list = stdout(&o);
    assert_eq!(list.lines().count(), 5, "{list}");
    assert!(list.contains("recovery"));
    assert!(!list.contains(&admin));
}

/// A moderator states a name; the resolution and the audit log keep, beside it, the key that made the
/// call, so one key cannot act under another person's name unseen. Feedback keeps its key the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_audit_log_keeps_the_key_behind_every_stated_name() {
    let store = saring::store::Store::from(EmbeddedStore::open_in_memory());
    let blog = vec!["blog".to_string()];
    let (service_key, service) = saring::access::keys::create(&store, Role::Service, &blog, "blog")
        .await
        .unwrap();
    let (ann_key, ann) = saring::access::keys::create(&store, Role::Moderator, &blog, "ann")
        .await
        .unwrap();
    let (_, bob) = saring::access::keys::create(&store, Role::Moderator, &blog, "bob")
        .await
        .unwrap();
    let server = TestServer::start_authed(crate::queue::config(), store).await;
    let channel = server.channel().await;
    let mut m = ModerationClient::new(channel.clone());
    let mut q = ModerationQueueClient::new(channel);

    let mut comment = request(
        "blog",
        "Saya minta refund untuk tiket seminar, terima kasih",
    );
    comment.comment_id = "c1".into();
    let held = m
        .check_comment(with_key(&service, comment))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.decision(), pb::Decision::Hold);
    let resolve = |verdict: pb::Verdict| pb::ResolveHeldRequest {
        site_id: "blog".into(),
        held_ids: vec![held.held_id.clone()],
        verdict: verdict as i32,
        moderator: "bob".into(),
        ..Default::default()
    };
    // Ann's key, claiming to be Bob.
    let done = q
        .resolve_held(with_key(&ann, resolve(pb::Verdict::RejectSpam)))
        .await
        .unwrap()
        .into_inner();
    let standing = done.results[0].resolution.clone().unwrap();
    assert_eq!(
        (standing.moderator.as_str(), standing.key_id.as_str()),
        ("bob", ann_key.id.as_str())
    );
    // The real Bob, disagreeing, is told which key decided.
    let conflict = q
        .resolve_held(with_key(&bob, resolve(pb::Verdict::Approve)))
        .await
        .unwrap_err();
    assert_eq!(conflict.code(), Code::FailedPrecondition);
    assert!(
        conflict.message().contains(&ann_key.id),
        "{}",
        conflict.message()
    );
    m.submit_feedback(with_key(
        &service,
        pb::SubmitFeedbackRequest {
            site_id: "blog".into(),
            target: Some(pb::submit_feedback_request::Target::DecisionId(
                held.decision_id.clone(),
            )),
            label: pb::FeedbackLabel::Spam as i32,
            ..Default::default()
        },
    ))
    .await
    .unwrap();

    let entries = q
        .list_audit(with_key(
            &ann,
            pb::ListAuditRequest {
                site_id: "blog".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let by: Vec<(i32, &str, &str)> = entries
        .iter()
        .map(|e| (e.action, e.actor.as_str(), e.key_id.as_str()))
        .collect();
    assert_eq!(
        by,
        [
            (
                pb::audit_entry::Action::Resolve as i32,
                "bob",
                ann_key.id.as_str()
            ),
            (
                pb::audit_entry::Action::Feedback as i32,
                "blog",
                service_key.id.as_str()
            ),
        ]
    );
}
