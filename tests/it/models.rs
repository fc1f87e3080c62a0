//! Models change without a restart: ModelAdmin reloads, refused files, shadow scoring and promotion,
//! and SIGHUP, all over real sockets.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use saring::config::Config;
use saring::pb;
use saring::pb::model_admin_client::ModelAdminClient;
use saring::store::embedded::EmbeddedStore;
use tonic::transport::Channel;
use tonic::Code;

use crate::server::{request, TestServer};
use crate::support::{repo_path, signal, Fixture, Serve};

/// Two different models in one directory: `a.model` (the synthetic corpus) and `b.model` (a copy of
/// the shipped model), with their versions.
struct TwoModels {
    _fixture: Fixture,
    dir: PathBuf,
    a: String,
    b: String,
}

fn two_models() -> TwoModels {
    let fixture = Fixture::new();
    let a_path = fixture.train("a.model");
    let dir = a_path.parent().unwrap().to_path_buf();
    std::fs::copy(repo_path("models/default.model"), dir.join("b.model")).unwrap();
    let version = |p: &Path| saring::model::Model::load(p).unwrap().version().to_string();
    let (a, b) = (version(&a_path), version(&dir.join("b.model")));
    assert_ne!(a, b);
    TwoModels {
        _fixture: fixture,
        dir,
        a,
        b,
    }
}

async fn admin(channel: Channel) -> ModelAdminClient<Channel> {
    ModelAdminClient::new(channel)
}

fn reload(name: &str, shadow: bool) -> pb::ReloadModelRequest {
    pb::ReloadModelRequest {
        name: name.into(),
        shadow,
    }
}

async fn serving_version(m: &mut ModelAdminClient<Channel>) -> String {
    m.get_model_info(pb::GetModelInfoRequest {})
        .await
        .unwrap()
        .into_inner()
        .serving
        .unwrap()
        .version
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reloading_in_a_loop_under_load_fails_nothing_and_every_answer_names_one_model() {
    let models = two_models();
    let server = TestServer::start_with_model(
        Config::default(),
        EmbeddedStore::open_in_memory(),
        &models.dir.join("a.model"),
    )
    .await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for worker in 0..4 {
        let (channel, stop) = (server.channel().await, stop.clone());
        load.push(tokio::spawn(async move {
            let mut client = pb::moderation_client::ModerationClient::new(channel);
            let mut versions = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 10 {
                let mut r = request("blog", "Terima kasih, artikelnya sangat membantu saya.");
                r.comment_id = format!("w{worker}-{n}");
                let answer = client.check_comment(r).await.expect("no request fails");
                versions.push(answer.into_inner().model_version);
                n += 1;
            }
            versions
        }));
    }
    let mut m = admin(server.channel().await).await;
    for _ in 0..20 {
        let info = m.reload_model(reload("b.model", false)).await.unwrap();
        assert_eq!(info.into_inner().serving.unwrap().version, models.b);
        let info = m.reload_model(reload("", false)).await.unwrap();
        assert_eq!(info.into_inner().serving.unwrap().version, models.a);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut seen = BTreeSet::new();
    for task in load {
        seen.extend(task.await.unwrap());
    }
    let expected: BTreeSet<String> = [models.a.clone(), models.b.clone()].into();
    assert!(seen.is_subset(&expected), "{seen:?}");
    assert_eq!(serving_version(&mut m).await, models.a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_model_file_is_refused_with_its_reason_and_the_old_model_keeps_serving() {
    let models = two_models();
    let good = std::fs::read(models.dir.join("b.model")).unwrap();
    std::fs::write(models.dir.join("truncated.model"), &good[..good.len() / 2]).unwrap();
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    std::fs::write(models.dir.join("flipped.model"), &flipped).unwrap();
    let mut other_format = good.clone();
    // The format version follows the 8-byte magic (little-endian u32).
    other_format[8..12].copy_from_slice(&999u32.to_le_bytes());
    std::fs::write(models.dir.join("future.model"), &other_format).unwrap();

    let server = TestServer::start_with_model(
        Config::default(),
        EmbeddedStore::open_in_memory(),
        &models.dir.join("a.model"),
    )
    .await;
    let mut m = admin(server.channel().await).await;
    for name in ["truncated.model", "flipped.model", "future.model"] {
        let status = m.reload_model(reload(name, false)).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::FailedPrecondition,
            "{name}: {status:?}"
        );
        assert!(
            status.message().contains(name),
            "the reason names the file: {status:?}"
        );
        let status = m.reload_model(reload(name, true)).await.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{name} as shadow");
    }
    let status = m
        .reload_model(reload("future.model", false))
        .await
        .unwrap_err();
    assert!(status.message().contains("999"), "{status:?}");
    for name in ["../b.model", "/etc/passwd", "sub/b.model"] {
        let status = m.reload_model(reload(name, false)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{name}");
    }
    let status = m
        .reload_model(reload("missing.model", false))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let info = m
        .get_model_info(pb::GetModelInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.serving.unwrap().version, models.a);
    assert!(info.shadow.is_none());
    let answer = server
        .check(request("blog", "Artikel yang bagus, terima kasih."))
        .await
        .unwrap();
    assert_eq!(answer.model_version, models.a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_is_scored_beside_the_serving_model_counts_disagreements_and_can_be_promoted() {
    let models = two_models();
    // Serving: the shipped model (b). Shadow: the synthetic one (a), which knows little of real spam,
    // so the two disagree on some of these.
    let server = TestServer::start_with_model(
        Config::default(),
        EmbeddedStore::open_in_memory(),
        &models.dir.join("b.model"),
    )
    .await;
    let mut m = admin(server.channel().await).await;
    let info = m
        .reload_model(reload("a.model", true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.serving.unwrap().version, models.b);
    assert_eq!(info.shadow.unwrap().version, models.a);
    // /metrics names both, each in its role.
    let metrics = scrape(&server).await;
    for (version, role) in [(&models.b, "serving"), (&models.a, "shadow")] {
        let series = format!("saring_model_info{{version=\"{version}\",role=\"{role}\"}} 1");
        assert!(metrics.contains(&series), "{series} not in\n{metrics}");
    }
    let texts = [
        "𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 gacor hari ini, wd lancar bos, daftar sekarang juga",
        "Check out my channel and subscribe, free iphone giveaway www.freeiphone.example",
        "Terima kasih atas penjelasannya, sangat membantu untuk tugas saya",
        "I disagree with the second point: the bridge was planned before the election.",
        "Call +1 888 555 0199 for QuickBooks support 24/7, fast and cheap",
        "slot gacor maxwin ✅ link alternatif aero88 dijamin wd",
    ];
    for text in texts {
        let answer = server.check(request("blog", text)).await.unwrap();
        // The shadow never decides.
        assert_eq!(answer.model_version, models.b);
    }
    // The shadow scores after each answer: wait (bounded) until it has scored them all.
    let mut stats = pb::ShadowStats::default();
    for _ in 0..100 {
        stats = m
            .get_model_info(pb::GetModelInfoRequest {})
            .await
            .unwrap()
            .into_inner()
            .shadow_stats
            .unwrap();
        if stats.scored == texts.len() as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats.scored, texts.len() as u64);
    assert!(stats.disagreements > 0, "{stats:?}");
    assert_eq!(stats.samples.len() as u64, stats.disagreements);
    assert_eq!(stats.by_change.values().sum::<u64>(), stats.disagreements);
    for s in &stats.samples {
        assert_ne!(s.serving_decision, s.shadow_decision);
        assert!(texts.contains(&s.content.as_str()));
    }
    // /metrics counts the same: every scored check by both decisions, the disagreements off the
    // diagonal.
    let metrics = scrape(&server).await;
    let (mut scored, mut differ) = (0.0, 0.0);
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("saring_shadow_decisions_total{"))
    {
        let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        scored += n;
        let serving = line
            .split("serving=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let shadow = line
            .split("shadow=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        if serving != shadow {
            differ += n;
        }
    }
    assert_eq!(scored, texts.len() as f64, "{metrics}");
    assert_eq!(differ, stats.disagreements as f64, "{metrics}");

    let info = m
        .promote_shadow(pb::PromoteShadowRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.serving.unwrap().version, models.a);
    assert!(info.shadow.is_none());
    assert_eq!(info.shadow_stats.unwrap().scored, 0);
    // The promotion shows at the next scrape: the shadow serves, and nothing else is loaded.
    let metrics = scrape(&server).await;
    let info: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("saring_model_info{"))
        .collect();
    assert_eq!(
        info,
        [format!(
            "saring_model_info{{version=\"{}\",role=\"serving\"}} 1",
            models.a
        )
        .as_str()]
    );
    let answer = server.check(request("blog", texts[0])).await.unwrap();
    assert_eq!(answer.model_version, models.a);
    for status in [
        m.promote_shadow(pb::PromoteShadowRequest {})
            .await
            .unwrap_err(),
        m.drop_shadow(pb::DropShadowRequest {}).await.unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::FailedPrecondition);
    }
    m.reload_model(reload("b.model", true)).await.unwrap();
    let info = m
        .drop_shadow(pb::DropShadowRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(info.shadow.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_admin_key_may_change_models() {
    let store = saring::store::Store::from(EmbeddedStore::open_in_memory());
    let (_, moderator) =
        saring::access::keys::create(&store, pb::Role::Moderator, &["blog".to_string()], "m")
            .await
            .unwrap();
    let (_, admin_token) = saring::access::keys::create(&store, pb::Role::Admin, &[], "a")
        .await
        .unwrap();
    let server = TestServer::start_authed(Config::default(), store).await;
    let mut m = admin(server.channel().await).await;
    let call = |token: &str| crate::auth::with_key(token, pb::GetModelInfoRequest {});
    assert_eq!(
        m.get_model_info(pb::GetModelInfoRequest {})
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    assert_eq!(
        m.get_model_info(call(&moderator)).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        m.reload_model(crate::auth::with_key(&moderator, reload("", false)))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let info = m
        .get_model_info(call(&admin_token))
        .await
        .unwrap()
        .into_inner();
    let serving = info.serving.unwrap();
    // The shipped model's card is beside it: GetModelInfo shows what it was trained on.
    assert!(!serving.card_created.is_empty());
    assert!(!serving.training_files.is_empty());
}

/// SIGHUP re-reads the configured model file; a file that does not validate leaves the old model
/// serving and the process running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_configured_model_file() {
    let models = two_models();
    let path = models.dir.join("serving.model");
    std::fs::copy(models.dir.join("a.model"), &path).unwrap();
    let serve = Serve::start_with_model(&path, &["--insecure-no-auth"]);
    let version_now = || async {
        serve
            .client()
            .await
            .check_comment(request("blog", "Terima kasih, artikelnya bagus."))
            .await
            .unwrap()
            .into_inner()
            .model_version
    };
    assert_eq!(version_now().await, models.a);

    // A broken file first: refused, the old model serves on.
    std::fs::write(&path, b"SARINGNB not a model").unwrap();
    signal(serve.pid(), "-HUP");
    let mut refused = false;
    for _ in 0..100 {
        if let Ok(line) = serve.stderr.recv_timeout(Duration::from_millis(50)) {
            if line.contains("SIGHUP") && line.contains("refused") {
                refused = true;
                break;
            }
        }
    }
    assert!(refused, "the refusal is logged");
    assert_eq!(version_now().await, models.a);

    // The new model, put in place atomically as an operator would (write, then rename).
    let staged = models.dir.join("staged.tmp");
    std::fs::copy(models.dir.join("b.model"), &staged).unwrap();
    std::fs::rename(&staged, &path).unwrap();
    signal(serve.pid(), "-HUP");
    let mut now = String::new();
    for _ in 0..100 {
        now = version_now().await;
        if now == models.b {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(now, models.b);
}

/// `saring model` drives the same service from the command line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_command_shows_reloads_and_promotes_through_the_server() {
    let models = two_models();
    let server = TestServer::start_with_model(
        Config::default(),
        EmbeddedStore::open_in_memory(),
        &models.dir.join("a.model"),
    )
    .await;
    let url = format!("http://{}", server.addr);
    let run = |args: &[&str]| {
        let mut all = vec!["model"];
        all.extend_from_slice(args);
        all.extend(["--server", url.as_str()]);
        let o = crate::support::saring(&all);
        crate::support::assert_success(&o);
        crate::support::stdout(&o)
    };
    let out = tokio::task::block_in_place(|| run(&["info"]));
    assert!(
        out.contains(&models.a) && out.contains("shadow   none"),
        "{out}"
    );
    let out = tokio::task::block_in_place(|| run(&["reload", "b.model", "--shadow"]));
    assert!(out.contains(&models.b), "{out}");
    let json = tokio::task::block_in_place(|| run(&["info", "--json"]));
    let info: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(info["serving"]["version"], models.a.as_str());
    assert_eq!(info["shadow"]["version"], models.b.as_str());
    tokio::task::block_in_place(|| run(&["promote"]));
    let json = tokio::task::block_in_place(|| run(&["info", "--json"]));
    let info: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(info["serving"]["version"], models.b.as_str());
    assert!(info["shadow"].is_null());
    let refused = tokio::task::block_in_place(|| {
        crate::support::saring(&["model", "reload", "../x.model", "--server", &url])
    });
    assert!(!refused.status.success());
    assert!(crate::support::stderr(&refused).contains("name"));
}

/// `saring replay` scores a site's labelled history with both models: the same model twice changes
/// nothing; a weaker candidate shows its flips and its worse rates against the people's labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_shows_what_a_candidate_would_change_against_the_labels() {
    let models = two_models();
    let server = TestServer::start_with_model(
        Config::default(),
        EmbeddedStore::open_in_memory(),
        &models.dir.join("b.model"),
    )
    .await;
    let labelled = [
        (
            "𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 gacor hari ini, wd lancar bos, daftar sekarang juga",
            true,
        ),
        (
            "slot gacor maxwin link alternatif aero88 dijamin wd setiap hari",
            true,
        ),
        (
            "Call +1 888 555 0199 for QuickBooks support, fast help 24/7 guaranteed",
            true,
        ),
        (
            "Terima kasih atas penjelasannya, sangat membantu untuk tugas kuliah saya",
            false,
        ),
        (
            "I disagree with the second point: the bridge was planned long before.",
            false,
        ),
        (
            "Mantap, beritanya lengkap sekali, semoga jalannya cepat diperbaiki",
            false,
        ),
    ];
    let mut client = server.client().await;
    for (i, (text, spam)) in labelled.iter().enumerate() {
        let mut comment = request("blog", text);
        comment.comment_id = format!("c{i}");
        let label = if *spam {
            pb::FeedbackLabel::Spam
        } else {
            pb::FeedbackLabel::Ham
        };
        client
            .submit_feedback(pb::SubmitFeedbackRequest {
                site_id: "blog".into(),
                target: Some(pb::submit_feedback_request::Target::Comment(comment)),
                label: label as i32,
                reporter: "blog".into(),
            })
            .await
            .unwrap();
    }
    let url = format!("http://{}", server.addr);
    let replay = |candidate: &Path| {
        let o = crate::support::saring(&[
            "replay",
            "--site",
            "blog",
            "--model",
            candidate.to_str().unwrap(),
            "--serving",
            models.dir.join("b.model").to_str().unwrap(),
            "--json",
            "--server",
            &url,
        ]);
        crate::support::assert_success(&o);
        serde_json::from_str::<serde_json::Value>(&crate::support::stdout(&o)).unwrap()
    };
    let same = tokio::task::block_in_place(|| replay(&models.dir.join("b.model")));
    assert_eq!(same["labels"], labelled.len());
    assert_eq!(same["flips"].as_array().unwrap().len(), 0);
    assert_eq!(same["serving"]["figures"], same["candidate"]["figures"]);
    assert_eq!(same["serving"]["figures"]["spam"], 3);

    // A candidate trained on deliberately inverted labels: it calls the spam ham and the ham spam.
    let mut inverted = saring::train::synthetic::examples();
    for e in &mut inverted {
        e.label = match e.label {
            saring::train::corpus::Label::Spam => saring::train::corpus::Label::Ham,
            saring::train::corpus::Label::Ham => saring::train::corpus::Label::Spam,
        };
    }
    let data = models.dir.join("inverted.jsonl");
    std::fs::write(&data, saring::train::synthetic::to_jsonl(&inverted)).unwrap();
    let bad = models.dir.join("inverted.model");
    crate::support::assert_success(&crate::support::saring(&[
        "train",
        "--quiet",
        "--data",
        data.to_str().unwrap(),
        "--out",
        bad.to_str().unwrap(),
    ]));
    let other = tokio::task::block_in_place(|| replay(&bad));
    let flips = other["flips"].as_array().unwrap();
    assert!(!flips.is_empty(), "{other}");
    for f in flips {
        assert_ne!(f["serving"], f["candidate"]);
    }
    let rates = |side: &str, rate: &str| other[side]["figures"][rate].as_f64().unwrap();
    assert!(rates("candidate", "f1") < rates("serving", "f1"), "{other}");
}

/// The server's `/metrics`.
async fn scrape(server: &TestServer) -> String {
    let r = crate::http::Http::new()
        .get(&format!("http://{}/metrics", server.admin))
        .await;
    assert_eq!(r.status, 200);
    r.text()
}
