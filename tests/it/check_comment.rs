//! CheckComment over a real socket: rules, policy bands, rate limits, idempotency, bad input, health and
//! reflection.

use saring::config::{Config, Limit, Limits, RulesOverride, SiteOverride};
use saring::pb::{self, Decision};
use tonic::Code;

use crate::server::{codes, request, TestServer};

const READER: &str = "Terima kasih atas artikelnya, sangat membantu untuk tugas sekolah anak saya.";
const GAMBLING: &str = "𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 gacor hari ini, maxwin terus wd lancar bos, daftar sekarang";

fn generous() -> Limits {
    let l = Limit {
        burst: 10_000,
        per_hour: 10_000,
    };
    Limits {
        ip: l,
        author: l,
        site: l,
    }
}

fn config() -> Config {
    Config {
        limits: generous(),
        ..Config::default()
    }
}

async fn decide(server: &TestServer, req: pb::CheckCommentRequest) -> pb::CheckCommentResponse {
    server.check(req).await.expect("check succeeds")
}

#[tokio::test]
async fn a_reader_is_accepted_and_lookalike_gambling_spam_rejected() {
    let server = TestServer::start(config()).await;
    let ok = decide(&server, request("blog", READER)).await;
    assert_eq!(ok.decision(), Decision::Accept, "{ok:?}");
    assert!(ok.spam_probability < 0.5);
    assert!(!ok.model_version.is_empty() && !ok.decision_id.is_empty());
    assert!(codes(&ok).contains(&"model.spam"));

    let spam = decide(&server, request("blog", GAMBLING)).await;
    assert_eq!(spam.decision(), Decision::Reject, "{spam:?}");
    assert!(spam
        .reasons
        .iter()
        .any(|r| r.code == "model.token" && r.weight > 0.0));
    assert_ne!(ok.decision_id, spam.decision_id);
}

#[tokio::test]
async fn each_rule_fires_with_its_reason() {
    let mut cfg = config();
    cfg.rules.blocked_terms = vec!["casino bonus".into()];
    cfg.rules.moderation_terms = vec!["refund".into()];
    let server = TestServer::start(cfg).await;

    let mut honeypot = request("blog", READER);
    honeypot.honeypot = "http://x.example".into();
    let r = decide(&server, honeypot).await;
    assert_eq!(
        (r.decision(), codes(&r)[0]),
        (Decision::Reject, "rule.honeypot")
    );

    let r = decide(
        &server,
        request("blog", "I won a 𝐂𝐀𝐒𝐈𝐍𝐎 b\u{200B}onus yesterday at the fair"),
    )
    .await;
    assert_eq!(
        (r.decision(), codes(&r)[0]),
        (Decision::Reject, "rule.blocked_term")
    );

    let r = decide(
        &server,
        request(
            "blog",
            "Terima kasih, tapi saya minta refund untuk tiket seminar kemarin",
        ),
    )
    .await;
    assert_eq!(r.decision(), Decision::Hold, "{r:?}");
    assert!(codes(&r).contains(&"rule.moderation_term"));
    assert_eq!(r.held_id, r.decision_id);

    let links = format!("{READER} see a.example, b.example/x and https://c.example/y");
    let r = decide(&server, request("blog", &links)).await;
    assert_ne!(r.decision(), Decision::Accept);
    assert!(codes(&r).contains(&"rule.too_many_links"));

    let mut fast = request("blog", READER);
    fast.form_rendered_at = Some(prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 0,
    });
    fast.submitted_at = Some(prost_types::Timestamp {
        seconds: 1_700_000_001,
        nanos: 0,
    });
    let r = decide(&server, fast.clone()).await;
    assert_eq!(r.decision(), Decision::Hold);
    assert!(codes(&r).contains(&"rule.too_fast"));
    fast.submitted_at = Some(prost_types::Timestamp {
        seconds: 1_700_000_030,
        nanos: 0,
    });
    assert_eq!(decide(&server, fast).await.decision(), Decision::Accept);

    let mut admin = request("blog", GAMBLING);
    admin.user_role = "Administrator".into();
    let r = decide(&server, admin).await;
    assert_eq!(
        (r.decision(), codes(&r)[0]),
        (Decision::Accept, "rule.privileged_role")
    );
}

#[tokio::test]
async fn thin_evidence_is_held_and_site_thresholds_override_the_model() {
    let mut cfg = config();
    cfg.sites.insert(
        "strict".into(),
        SiteOverride {
            accept_below_probability: Some(1e-12),
            reject_at_probability: Some(0.999_999_999_999),
            ..SiteOverride::default()
        },
    );
    let server = TestServer::start(cfg).await;
    let r = decide(&server, request("blog", "👍")).await;
    assert_eq!(r.decision(), Decision::Hold, "{r:?}");
    assert!(codes(&r).contains(&"model.low_evidence"));

    assert_eq!(
        decide(&server, request("blog", READER)).await.decision(),
        Decision::Accept
    );
    // The same reader's comment on a site that accepts only near-certain ham is held.
    assert_eq!(
        decide(&server, request("strict", READER)).await.decision(),
        Decision::Hold
    );
}

fn limited(dim: &str, burst: u32) -> Config {
    let mut limits = generous();
    let tight = Limit { burst, per_hour: 1 };
    match dim {
        "ip" => limits.ip = tight,
        "author" => limits.author = tight,
        _ => limits.site = tight,
    }
    Config {
        limits,
        ..Config::default()
    }
}

#[tokio::test]
async fn each_rate_limit_dimension_rejects_past_its_burst() {
    for dim in ["ip", "author", "site"] {
        let server = TestServer::start(limited(dim, 3)).await;
        let mut client = server.client().await;
        let req = |i: usize| {
            let mut r = request("blog", READER);
            // Only the dimension under test repeats; the others vary per request.
            r.user_ip = if dim == "ip" {
                "203.0.113.9".into()
            } else {
                format!("198.51.100.{i}")
            };
            r.author_email = if dim == "author" {
                "Ann+x@Example.org".into()
            } else {
                format!("r{i}@example.org")
            };
            if dim == "author" && i.is_multiple_of(2) {
                r.author_email = "ann@example.org".into(); // the same person, normalised
            }
            r
        };
        for i in 0..3 {
            let r = client.check_comment(req(i)).await.unwrap().into_inner();
            assert_eq!(r.decision(), Decision::Accept, "{dim} request {i}: {r:?}");
        }
        let r = client.check_comment(req(3)).await.unwrap().into_inner();
        assert_eq!(r.decision(), Decision::Reject, "{dim}: {r:?}");
        assert_eq!(codes(&r)[0], format!("ratelimit.{dim}"));
        assert!(r.retry_after.unwrap().seconds > 0);
        assert_eq!(r.rate_limit.as_ref().unwrap().dimension, dim);
    }
}

#[tokio::test]
async fn ipv6_neighbours_share_a_bucket() {
    let server = TestServer::start(limited("ip", 1)).await;
    let mut client = server.client().await;
    let mut a = request("blog", READER);
    a.user_ip = "2001:db8:1:2::1".into();
    let mut b = request("blog", READER);
    b.user_ip = "2001:db8:1:2:ffff::7".into();
    assert_eq!(
        client
            .check_comment(a)
            .await
            .unwrap()
            .into_inner()
            .decision(),
        Decision::Accept
    );
    assert_eq!(
        client
            .check_comment(b)
            .await
            .unwrap()
            .into_inner()
            .decision(),
        Decision::Reject
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_requests_admit_exactly_the_limit() {
    let server = TestServer::start(limited("ip", 10)).await;
    let channel = server.channel().await;
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let mut client = pb::moderation_client::ModerationClient::new(channel.clone());
        tasks.push(tokio::spawn(async move {
            let mut r = request("blog", READER);
            r.user_ip = "192.0.2.50".into();
            client.check_comment(r).await.unwrap().into_inner()
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if !codes(&r).contains(&"ratelimit.ip") {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 10);
}

#[tokio::test]
async fn a_retry_gets_the_same_decision_and_counts_once() {
    let server = TestServer::start(limited("ip", 1)).await;
    let mut client = server.client().await;
    let mut first = request("blog", READER);
    first.comment_id = "c-42".into();
    first.user_ip = "192.0.2.7".into();
    let a = client
        .check_comment(first.clone())
        .await
        .unwrap()
        .into_inner();
    let b = client.check_comment(first).await.unwrap().into_inner();
    assert_eq!(
        a, b,
        "a retry must return the same response, decision id included"
    );
    assert_eq!(a.decision(), Decision::Accept);
    // The bucket was counted once: a new comment from that IP is now over the burst of 1.
    let mut other = request("blog", READER);
    other.comment_id = "c-43".into();
    other.user_ip = "192.0.2.7".into();
    let c = client.check_comment(other).await.unwrap().into_inner();
    assert_eq!(codes(&c)[0], "ratelimit.ip");
}

#[tokio::test]
async fn a_rate_limited_reject_is_not_remembered_so_its_retry_can_succeed() {
    let mut cfg = config();
    // Burst 1, refilled every 100 ms.
    cfg.limits.ip = Limit {
        burst: 1,
        per_hour: 36_000,
    };
    let server = TestServer::start(cfg).await;
    let mut client = server.client().await;
    let with_id = |id: &str| {
        let mut r = request("blog", READER);
        r.comment_id = id.into();
        r.user_ip = "192.0.2.70".into();
        r
    };
    assert_eq!(
        client
            .check_comment(with_id("a"))
            .await
            .unwrap()
            .into_inner()
            .decision(),
        Decision::Accept
    );
    let limited = client
        .check_comment(with_id("b"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(codes(&limited)[0], "ratelimit.ip");
    // The bucket refills on the real clock: poll, bounded.
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let retry = client
            .check_comment(with_id("b"))
            .await
            .unwrap()
            .into_inner();
        if retry.decision() == Decision::Accept {
            return;
        }
    }
    panic!("the retry of a rate-limited comment was still refused after 2 s");
}

#[tokio::test]
async fn a_held_comment_is_stored_before_the_answer() {
    use saring::store::embedded::EmbeddedStore;
    let store = saring::store::Store::from(EmbeddedStore::open_in_memory());
    let mut cfg = config();
    cfg.rules.moderation_terms = vec!["refund".into()];
    let server = TestServer::start_with(cfg, store.clone()).await;
    let mut req = request(
        "blog",
        "Saya minta refund untuk tiket seminar kemarin, terima kasih",
    );
    req.author_name = "Ann".into();
    let r = decide(&server, req.clone()).await;
    assert_eq!(r.decision(), Decision::Hold);
    let item = store
        .held("blog", &r.held_id)
        .await
        .unwrap()
        .expect("the held comment is stored");
    assert_eq!(item.request.as_ref(), Some(&req));
    assert_eq!(item.response.as_ref(), Some(&r));
    assert!(item.held_at.is_some());
}

#[tokio::test]
async fn with_redis_down_a_hold_is_unavailable_never_an_unkept_hold() {
    use saring::store::redis::RedisStore;
    let redis = crate::support::Redis::start();
    let store = saring::store::Store::from(
        RedisStore::connect(&redis.url(), std::time::Duration::from_millis(200))
            .await
            .unwrap(),
    );
    let mut cfg = config();
    cfg.rules.moderation_terms = vec!["refund".into()];
    let server = TestServer::start_with(cfg, store).await;
    let mut client = server.client().await;
    let req = request(
        "blog",
        "Saya minta refund untuk tiket seminar kemarin, terima kasih",
    );
    assert_eq!(
        client
            .check_comment(req.clone())
            .await
            .unwrap()
            .into_inner()
            .decision(),
        Decision::Hold
    );
    drop(redis); // kill redis-server
    let status = client.check_comment(req).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field_and_the_server_keeps_serving() {
    let server = TestServer::start(Config {
        max_content_bytes: 1000,
        ..config()
    })
    .await;
    let mut client = server.client().await;
    let cases: Vec<(pb::CheckCommentRequest, &str)> = vec![
        (request("", READER), "site_id"),
        (request("blog", "   "), "content"),
        (request("blog", &"a".repeat(1001)), "content"),
        (
            pb::CheckCommentRequest {
                user_ip: "300.1.2.3".into(),
                ..request("blog", READER)
            },
            "user_ip",
        ),
        (
            pb::CheckCommentRequest {
                author_email: format!("{}@example.org", "x".repeat(10 * 1024)),
                ..request("blog", READER)
            },
            "author_email",
        ),
    ];
    for (req, field) in cases {
        let status = client.check_comment(req).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(
            status.message().starts_with(field),
            "{field}: {}",
            status.message()
        );
    }
    // Over the 1 MiB decode limit: refused by the transport, not a panic, not INTERNAL.
    let huge = request("blog", &"b".repeat(2 * 1024 * 1024));
    let status = client.check_comment(huge).await.unwrap_err();
    // tonic's decoder answers OUT_OF_RANGE, naming the size and the limit.
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    let r = client
        .check_comment(request("blog", READER))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.decision(), Decision::Accept, "the server keeps serving");

    // Unknown enum values and absent or absurd timestamps count as absent.
    let mut odd = request("blog", READER);
    odd.comment_type = 999;
    odd.form_rendered_at = Some(prost_types::Timestamp {
        seconds: -1,
        nanos: -5,
    });
    odd.submitted_at = Some(prost_types::Timestamp {
        seconds: i64::MAX,
        nanos: 0,
    });
    odd.user_ip = "fe80::1%eth0".into();
    let r = client.check_comment(odd).await.unwrap().into_inner();
    assert_eq!(r.decision(), Decision::Accept);
}

/// The services reflection lists through the generated client of one protocol version, `$v` (`v1` or
/// `v1alpha`: the two are separate services with identical messages in separate modules).
macro_rules! reflected_services {
    ($v:ident, $channel:expr) => {{
        use tonic_reflection::pb::$v::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$v::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$v::server_reflection_response::MessageResponse;
        use tonic_reflection::pb::$v::ServerReflectionRequest;
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = ServerReflectionClient::new($channel)
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .unwrap_or_else(|s| panic!("{} reflection: {s:?}", stringify!($v)))
            .into_inner();
        let reply = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
            panic!("unexpected {} reflection reply {reply:?}", stringify!($v));
        };
        list.service
            .into_iter()
            .map(|s| s.name)
            .collect::<std::collections::BTreeSet<String>>()
    }};
}

#[tokio::test]
async fn health_and_reflection_answer_stock_clients() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let server = TestServer::start(config()).await;
    let mut health = HealthClient::new(server.channel().await);
    let status = health
        .check(HealthCheckRequest {
            service: "saring.v1.Moderation".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.status(), ServingStatus::Serving);

    // grpcurl and current tools ask v1; Python's grpcio-reflection, Postman, Evans and older grpcurl
    // ask only v1alpha. Both list the same services, each with its own reflection service.
    let mut v1 = reflected_services!(v1, server.channel().await);
    let mut v1alpha = reflected_services!(v1alpha, server.channel().await);
    assert!(v1.remove("grpc.reflection.v1.ServerReflection"), "{v1:?}");
    assert!(
        v1alpha.remove("grpc.reflection.v1alpha.ServerReflection"),
        "{v1alpha:?}"
    );
    for names in [&v1, &v1alpha] {
        for service in [
            "saring.v1.Moderation",
            "saring.v1.ModerationQueue",
            "saring.v1.Admin",
            "grpc.health.v1.Health",
        ] {
            assert!(names.contains(service), "{service} missing from {names:?}");
        }
    }
    assert_eq!(v1, v1alpha);
}

#[test]
fn a_site_override_keeps_unnamed_defaults() {
    let mut cfg = Config::default();
    cfg.sites.insert(
        "x".into(),
        SiteOverride {
            rules: RulesOverride {
                max_links: Some(0),
                ..RulesOverride::default()
            },
            ..SiteOverride::default()
        },
    );
    assert_eq!(cfg.site("x").rules.max_links, 0);
    assert_eq!(cfg.site("x").rules.min_seconds_to_submit, 3.0);
}
