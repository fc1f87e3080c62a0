//! A bounded load generator for `saring serve`: N concurrent clients send CheckComment for a fixed time
//! and it prints throughput and latency percentiles. Loopback only; stops by itself.
//!
//! `cargo run --release --example load -- [ADDR] [CONCURRENCY] [SECONDS]`
//! (defaults 127.0.0.1:50051, 32, 10). With `WITH_COMMENT_IDS=1` every request carries a unique
//! comment id, so the server also writes each decision to its idempotency store. `SARING_KEY` is sent as
//! the bearer key (a service key for site `load`); without it the server must run with
//! `--insecure-no-auth`.

// A load generator reports on stdout; that is its whole purpose.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use saring::pb;
use saring::pb::moderation_client::ModerationClient;

const COMMENTS: &[&str] = &[
    "Terima kasih atas artikelnya, sangat membantu untuk tugas sekolah anak saya.",
    "𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 gacor hari ini, maxwin terus wd lancar bos, daftar di https://promo.example.com",
    "I disagree with the second point, the bridge was planned long before the election.",
    "Great post! visit my site http://cheap-followers.example for more",
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:50051".into());
    let concurrency: usize = args.get(1).map_or(Ok(32), |s| s.parse())?;
    let seconds: u64 = args.get(2).map_or(Ok(10), |s| s.parse())?;
    let host = addr.split(':').next().unwrap_or("");
    if !(host == "127.0.0.1" || host == "localhost" || host == "[::1]") {
        return Err("the load generator only targets loopback addresses".into());
    }
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let with_ids = std::env::var("WITH_COMMENT_IDS").is_ok_and(|v| v == "1");
    let bearer: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>> =
        match std::env::var("SARING_KEY") {
            Ok(key) => Some(format!("Bearer {key}").parse()?),
            Err(_) => None,
        };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let bearer = bearer.clone();
        let mut client =
            ModerationClient::with_interceptor(channel.clone(), move |mut r: tonic::Request<()>| {
                if let Some(b) = &bearer {
                    r.metadata_mut().insert("authorization", b.clone());
                }
                Ok(r)
            });
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut i = 0usize;
            while Instant::now() < deadline {
                let req = pb::CheckCommentRequest {
                    site_id: "load".into(),
                    comment_id: if with_ids {
                        format!("w{worker}-{i}-{}", std::process::id())
                    } else {
                        String::new()
                    },
                    content: COMMENTS[i % COMMENTS.len()].into(),
                    // Distinct /64s (documentation prefix) and no e-mail, so per-IP limits do not dominate.
                    user_ip: format!("2001:db8:{worker:x}:{:x}::1", i % 65536),
                    ..Default::default()
                };
                let started = Instant::now();
                match client.check_comment(req).await {
                    Ok(_) => latencies.push(started.elapsed()),
                    Err(_) => errors += 1,
                }
                i += 1;
            }
            (latencies, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{} requests in {seconds} s with {concurrency} clients: {:.0}/s, errors {errors}, p50 {:?}, p99 {:?}, max {:?}",
        all.len(),
        all.len() as f64 / seconds as f64,
        pct(0.50),
        pct(0.99),
        all.last().copied().unwrap_or_default()
    );
    Ok(())
}
