//! Two real `saring serve` processes sharing one real Redis: limits stay exact and retries agree.

use saring::pb;

use crate::support::{saring, stderr, Redis, Serve};

fn config_file(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("saring.toml");
    std::fs::write(
        &path,
        // A generous store timeout: this test is about exact counting, and a loaded two-core test machine
        // can take longer than the 50 ms default for a round trip.
        "store_timeout_ms = 5000\n[limits]\nip = { burst = 10, per_hour = 1 }\nauthor = { burst = 1000, per_hour = 1000 }\nsite = { burst = 1000, per_hour = 1000 }\n",
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_sharing_redis_admit_exactly_the_limit_and_agree_on_retries() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(&dir);
    let url = redis.url();
    // API keys are `auth.rs`'s subject; here the processes run without them.
    let args = [
        "--redis-url",
        url.as_str(),
        "--config",
        cfg.to_str().unwrap(),
        "--insecure-no-auth",
    ];
    let (a, b) = (Serve::start(&args), Serve::start(&args));
    let (ca, cb) = (a.client().await, b.client().await);

    let mut tasks = Vec::new();
    for i in 0..100 {
        let mut client = if i % 2 == 0 { ca.clone() } else { cb.clone() };
        tasks.push(tokio::spawn(async move {
            let r = pb::CheckCommentRequest {
                site_id: "blog".into(),
                content: "Terima kasih atas artikelnya, sangat membantu.".into(),
                user_ip: "198.51.100.20".into(),
                ..Default::default()
            };
            client.check_comment(r).await.unwrap().into_inner()
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if !r.reasons.iter().any(|x| x.code == "ratelimit.ip") {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 10);

    let retry = pb::CheckCommentRequest {
        site_id: "blog".into(),
        comment_id: "wp-1001".into(),
        content: "Ulasan yang bagus, terima kasih.".into(),
        user_ip: "198.51.100.21".into(),
        ..Default::default()
    };
    let first = ca
        .clone()
        .check_comment(retry.clone())
        .await
        .unwrap()
        .into_inner();
    let again = cb.clone().check_comment(retry).await.unwrap().into_inner();
    assert_eq!(
        first, again,
        "the other replica must return the remembered response"
    );
}

#[tokio::test]
async fn the_embedded_default_serves_health() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let dir = tempfile::tempdir().unwrap();
    let s = Serve::start(&["--data-dir", dir.path().to_str().unwrap()]);
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", s.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let reply = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.status, 1, "SERVING");
}

#[tokio::test]
async fn the_embedded_store_remembers_decisions_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--insecure-no-auth",
    ];
    let req = pb::CheckCommentRequest {
        site_id: "blog".into(),
        comment_id: "wp-7".into(),
        content: "Ulasan yang bagus, terima kasih.".into(),
        ..Default::default()
    };
    let first = {
        let s = Serve::start(&args);
        s.client()
            .await
            .check_comment(req.clone())
            .await
            .unwrap()
            .into_inner()
    }; // dropped: the process is killed, not shut down gracefully
    assert!(dir.path().join("saring.redb").exists());
    let s = Serve::start(&args);
    let again = s
        .client()
        .await
        .check_comment(req)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, again);
}

#[test]
fn a_tls_key_that_is_not_the_certificates_stops_serve_before_any_key_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let ours = crate::support::localhost_cert(dir.path());
    let other = tempfile::tempdir().unwrap();
    let theirs = crate::support::localhost_cert(other.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let data = dir.path().join("data");
    for (cert, key, complaint) in [
        (&ours.cert_path, &theirs.key_path, "is not the private key"),
        (&garbage, &ours.key_path, "holds no certificate"),
        (&ours.cert_path, &garbage, "no usable PEM private key"),
    ] {
        let o = saring(&[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
        assert!(stderr(&o).contains(complaint), "{}", stderr(&o));
        // Refused before the store was opened: no first keys were made or shown.
        assert!(String::from_utf8_lossy(&o.stdout).is_empty());
        assert!(!data.join("saring.redb").exists());
    }
}

#[test]
fn an_invalid_config_is_one_line_and_exit_code_64() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[limits]\nip = { burst = 0, per_hour = 5 }\n").unwrap();
    let o = saring(&["serve", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    assert!(stderr(&o).contains("limits.ip"));
    assert_eq!(stderr(&o).trim().lines().count(), 1);
}
