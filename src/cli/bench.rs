//! `saring bench`: a bounded load generator for a running `saring serve`. N HTTP/2 connections each
//! keep M CheckComment requests in flight for a fixed time (or a fixed count), and the client-observed
//! latency of every answer goes into an HDR histogram; the report gives throughput, p50 / p90 / p99 /
//! p99.9 / max, decisions by kind and errors by gRPC status code, as a table or one JSON document.
//!
//! Each request is for `--site`, carries a unique comment id (unless `--no-comment-ids`), so the server
//! remembers every decision as it would a blog's, and comes from one of `--ips` IPv6 /64 prefixes in the
//! documentation range `2001:db8::/32`, taken in turn, so that per-IP rate limits see a spread of clients.
//! Comments come from `--data` (JSON Lines) or four built-in ones, taken in turn across all connections.
//!
//! It targets loopback unless `--allow-remote`, and stops by itself: after `--warmup` + `--duration`
//! (plus at most one `--timeout` for the last answers), or after `--requests` measured requests.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use futures_util::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use super::{table, BenchArgs};
use crate::pb;
use crate::pb::moderation_client::ModerationClient;

/// Most connections one run may open: far past what one client machine needs to load a server, and
/// low enough that a typo (`--connections 100000`) is refused instead of exhausting file descriptors.
pub(crate) const MAX_CONNECTIONS: i64 = 4096;

/// Most requests in flight on one connection: the server allows 256 concurrent streams a connection
/// by default (`max_concurrent_streams`); more would only queue in the client.
pub(crate) const MAX_IN_FLIGHT: i64 = 1024;

/// The histogram's range, in microseconds: 1 µs to 10 minutes, far beyond any `--timeout`; a longer
/// answer is recorded as the top of the range.
const HISTOGRAM_MAX_US: u64 = 600_000_000;

/// Significant figures the histogram keeps: 3 resolves 0.1% of a value (1 µs at 1 ms), ~150 KB a
/// connection.
const HISTOGRAM_FIGURES: u8 = 3;

/// How long to wait for each connection to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the run sends when no `--data` is given: a reader's comment (ACCEPT with the shipped model),
/// look-alike gambling spam with a link (REJECT), an English reader's (ACCEPT) and English link spam
/// (HOLD), so a quarter of the requests store a held comment.
const BUILT_IN: &[&str] = &[
    "Terima kasih atas artikelnya, sangat membantu untuk tugas sekolah anak saya.",
    "𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 gacor hari ini, maxwin terus wd lancar bos, daftar di https://promo.example.com",
    "I disagree with the second point, the bridge was planned long before the election.",
    "Great post! visit my site http://cheap-followers.example for more",
];

/// `saring bench`.
pub(super) fn run(args: BenchArgs) -> anyhow::Result<()> {
    let target = target_url(&args.addr, args.tls_ca.is_some())?;
    if !args.allow_remote {
        refuse_remote(&target)?;
    }
    let (comments, source) = match &args.data {
        Some(path) => {
            let rows = read_comments(path)?;
            let n = rows.len();
            (rows, format!("{n} from {}", path.display()))
        }
        None => (
            BUILT_IN
                .iter()
                .map(|text| Row {
                    text: (*text).to_string(),
                    ..Row::default()
                })
                .collect(),
            format!("{} built in", BUILT_IN.len()),
        ),
    };
    // The server would refuse every request for such a site: say so once, before any load.
    crate::moderation::comment::check_site("--site", &args.site)?;
    let bearer = args
        .key
        .as_ref()
        .map(|key| format!("Bearer {key}").parse::<MetadataValue<Ascii>>())
        .transpose()
        .context("the key is not a valid header value")?;
    let tls_ca = match &args.tls_ca {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
        }
        None => None,
    };

    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(args.threads))
            .enable_all()
            .build()
    }
    .context("starting the async runtime")?;

    let settings = Settings {
        target: target.clone(),
        site: args.site.clone(),
        connections: args.connections,
        in_flight: args.in_flight,
        duration: args.duration,
        warmup: args.warmup,
        max_requests: args.requests,
        comment_ids: !args.no_comment_ids,
        ips: args.ips,
        comments: source,
        threads: args.threads,
    };
    let report = runtime.block_on(async move {
        let mut clients = Vec::with_capacity(args.connections as usize);
        for _ in 0..args.connections {
            let channel = connect(&target, tls_ca.as_deref(), args.timeout).await?;
            clients.push(ModerationClient::with_interceptor(
                channel,
                Bearer(bearer.clone()),
            ));
        }
        let started = Instant::now();
        let plan = Arc::new(Plan {
            requests: requests(&comments, &args.site),
            run_id: (!args.no_comment_ids).then(run_id),
            ips: u64::from(args.ips),
            in_flight: args.in_flight as usize,
            measure_from: started + args.warmup,
            deadline: started + args.warmup + args.duration,
            max_requests: args.requests,
            sequence: AtomicU64::new(0),
            tickets: AtomicU64::new(0),
        });
        let mut tasks = tokio::task::JoinSet::new();
        for client in clients {
            tasks.spawn(drive(client, plan.clone()));
        }
        let mut total = Tally::new()?;
        while let Some(tally) = tasks.join_next().await {
            total.merge(tally.context("a connection's task failed")??)?;
        }
        Ok::<_, anyhow::Error>(total.report(settings, plan.measure_from))
    })?;

    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).context("encoding the report")?
        );
    } else {
        out!("{}", describe(&report));
    }
    if report.requests == 0 {
        bail!("no request was measured: lengthen --duration");
    }
    if report.decisions.total() == 0 {
        bail!(
            "every request failed ({}){}",
            report.errors.summary(),
            hint(&report)
        );
    }
    Ok(())
}

/// What to do about a run in which nothing succeeded, after the counts.
fn hint(report: &Report) -> String {
    let codes = &report.errors.by_code;
    if codes.contains_key("UNAUTHENTICATED") {
        format!(
            ": give a service key for site `{}` with --key or SARING_KEY",
            report.settings.site
        )
    } else if codes.contains_key("PERMISSION_DENIED") {
        format!(": the key is not for site `{}`", report.settings.site)
    } else {
        String::new()
    }
}

/// `--addr` as a URL: HOST:PORT becomes http:// (https:// with a CA file), a URL stays as it is.
fn target_url(addr: &str, tls: bool) -> anyhow::Result<http::Uri> {
    let url = if addr.contains("://") {
        addr.to_string()
    } else if tls {
        format!("https://{addr}")
    } else {
        format!("http://{addr}")
    };
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("--addr `{addr}` is neither HOST:PORT nor a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => bail!("--addr `{addr}`: the scheme must be http:// or https://"),
    }
    if uri.host().is_none_or(str::is_empty) {
        bail!("--addr `{addr}` names no host");
    }
    Ok(uri)
}

/// Refuse a target that is not this machine's loopback: `localhost`, 127.0.0.0/8 or ::1. A host name
/// other than `localhost` is refused too, since where it resolves is not known here.
fn refuse_remote(target: &http::Uri) -> anyhow::Result<()> {
    let host = target.host().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback());
    if loopback {
        Ok(())
    } else {
        bail!(
            "{host} is not a loopback address: saring bench loads only this machine's server unless \
             given --allow-remote (and the consent of whoever runs that server)"
        )
    }
}

/// One comment of a `--data` file. A load file needs only text, so this is not the training reader
/// (`train::corpus` wants a label on every row); other fields of a corpus row are ignored.
#[derive(Debug, Default, Deserialize)]
struct Row {
    text: String,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    author_url: Option<String>,
    #[serde(default)]
    author_email: Option<String>,
    #[serde(default)]
    lang: Option<String>,
}

/// Read `--data`: one JSON object a line, blank lines skipped; the first bad line stops the run with
/// its file and line, since a load that silently drops rows measures something else.
fn read_comments(path: &Path) -> anyhow::Result<Vec<Row>> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), i + 1);
        let row: Row = serde_json::from_str(&line)
            .map_err(|e| anyhow!("{}: not a JSON object with a `text` string: {e}", at()))?;
        if row.text.trim().is_empty() {
            bail!("{}: `text` is empty", at());
        }
        rows.push(row);
    }
    if rows.is_empty() {
        bail!("{}: no comments in the file", path.display());
    }
    Ok(rows)
}

/// The request each comment is sent as, before its comment id and IP are filled in.
fn requests(rows: &[Row], site: &str) -> Vec<pb::CheckCommentRequest> {
    rows.iter()
        .map(|row| pb::CheckCommentRequest {
            site_id: site.to_string(),
            content: row.text.clone(),
            author_name: row.author.clone().unwrap_or_default(),
            author_url: row.author_url.clone().unwrap_or_default(),
            author_email: row.author_email.clone().unwrap_or_default(),
            lang: row.lang.clone().unwrap_or_default(),
            ..Default::default()
        })
        .collect()
}

/// A prefix that keeps this run's comment ids apart from every earlier run's: a repeated id would be
/// answered from the server's memory of it, a cheaper path than a new comment takes.
fn run_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("bench-{}", &id[..12])
}

/// Opens one HTTP/2 connection (a tonic `Channel` of its own).
async fn connect(
    target: &http::Uri,
    tls_ca: Option<&[u8]>,
    timeout: Duration,
) -> anyhow::Result<Channel> {
    let mut endpoint = Endpoint::from(target.clone())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(timeout)
        .tcp_nodelay(true);
    if let Some(pem) = tls_ca {
        endpoint = endpoint
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
            .context("configuring TLS")?;
    } else if target.scheme_str() == Some("https") {
        endpoint = endpoint
            .tls_config(ClientTlsConfig::new().with_native_roots())
            .context("configuring TLS")?;
    }
    endpoint
        .connect()
        .await
        .with_context(|| format!("connecting to {target}"))
}

/// Adds the key, when one was given, to every request.
#[derive(Clone)]
struct Bearer(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(bearer) = &self.0 {
            r.metadata_mut().insert("authorization", bearer.clone());
        }
        Ok(r)
    }
}

type Client = ModerationClient<InterceptedService<Channel, Bearer>>;

/// What every connection's task shares: the requests, the clock and the counters.
struct Plan {
    requests: Vec<pb::CheckCommentRequest>,
    /// The comment-id prefix, or `None` to send no ids.
    run_id: Option<String>,
    ips: u64,
    in_flight: usize,
    /// Requests started from here on are measured.
    measure_from: Instant,
    /// No request starts after this.
    deadline: Instant,
    max_requests: Option<u64>,
    /// The run's request number, warm-up included: picks the comment, the id and the IP.
    sequence: AtomicU64,
    /// Measured requests started, for `max_requests`.
    tickets: AtomicU64,
}

impl Plan {
    /// The next request to send and whether it is measured, or `None` when the run is over.
    fn next(&self) -> Option<(pb::CheckCommentRequest, bool)> {
        let now = Instant::now();
        if now >= self.deadline {
            return None;
        }
        let measured = now >= self.measure_from;
        if let (true, Some(max)) = (measured, self.max_requests) {
            if self.tickets.fetch_add(1, Ordering::Relaxed) >= max {
                return None;
            }
        }
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        // `requests` is never empty: read_comments refuses an empty file and BUILT_IN has four.
        let i = (n % self.requests.len().max(1) as u64) as usize;
        let mut request = self.requests.get(i).cloned().unwrap_or_default();
        if let Some(run) = &self.run_id {
            request.comment_id = format!("{run}-{n}");
        }
        // One /64 of the documentation prefix per index: the rate limiter keys IPv6 by /64.
        request.user_ip = format!("2001:db8:0:{:x}::1", n % self.ips);
        Some((request, measured))
    }
}

/// One connection's part of the run: keep `in_flight` requests going until the plan says stop.
async fn drive(client: Client, plan: Arc<Plan>) -> anyhow::Result<Tally> {
    let mut tally = Tally::new()?;
    let mut pending = FuturesUnordered::new();
    let send = |request: pb::CheckCommentRequest, measured: bool| {
        let mut client = client.clone();
        async move {
            let sent = Instant::now();
            let answer = client.check_comment(request).await;
            let done = Instant::now();
            (measured, done.saturating_duration_since(sent), done, answer)
        }
    };
    for _ in 0..plan.in_flight {
        match plan.next() {
            Some((request, measured)) => pending.push(send(request, measured)),
            None => break,
        }
    }
    while let Some((measured, latency, done, answer)) = pending.next().await {
        if measured {
            tally.record(latency, done, answer.map(|a| a.into_inner().decision()));
        }
        if let Some((request, measured)) = plan.next() {
            pending.push(send(request, measured));
        }
    }
    Ok(tally)
}

/// Counts and latencies of the measured requests, per connection, then merged.
struct Tally {
    latency_us: Histogram<u64>,
    decisions: Decisions,
    /// By status code: how many, and the first message seen.
    errors: BTreeMap<&'static str, (u64, String)>,
    /// When the last measured answer came.
    last: Option<Instant>,
}

impl Tally {
    fn new() -> anyhow::Result<Tally> {
        Ok(Tally {
            latency_us: Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, HISTOGRAM_FIGURES)
                .context("making the latency histogram")?,
            decisions: Decisions::default(),
            errors: BTreeMap::new(),
            last: None,
        })
    }

    fn record(
        &mut self,
        latency: Duration,
        done: Instant,
        answer: Result<pb::Decision, tonic::Status>,
    ) {
        self.last = self.last.max(Some(done));
        match answer {
            Ok(decision) => {
                let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                self.latency_us.saturating_record(us.max(1));
                match decision {
                    pb::Decision::Accept => self.decisions.accept += 1,
                    pb::Decision::Hold => self.decisions.hold += 1,
                    pb::Decision::Reject => self.decisions.reject += 1,
                    pb::Decision::Unspecified => self.decisions.unspecified += 1,
                }
            }
            Err(status) => {
                let entry = self
                    .errors
                    .entry(code_name(status.code()))
                    .or_insert_with(|| (0, status.message().to_string()));
                entry.0 += 1;
            }
        }
    }

    fn merge(&mut self, other: Tally) -> anyhow::Result<()> {
        self.latency_us
            .add(&other.latency_us)
            .context("merging latency histograms")?;
        self.decisions.accept += other.decisions.accept;
        self.decisions.hold += other.decisions.hold;
        self.decisions.reject += other.decisions.reject;
        self.decisions.unspecified += other.decisions.unspecified;
        for (code, (n, message)) in other.errors {
            self.errors.entry(code).or_insert((0, message)).0 += n;
        }
        self.last = self.last.max(other.last);
        Ok(())
    }

    fn report(self, settings: Settings, measure_from: Instant) -> Report {
        let elapsed = self.last.map_or(Duration::ZERO, |last| {
            last.saturating_duration_since(measure_from)
        });
        let errors_total: u64 = self.errors.values().map(|(n, _)| n).sum();
        let requests = self.decisions.total() + errors_total;
        let secs = elapsed.as_secs_f64();
        let h = &self.latency_us;
        let latency = (!h.is_empty()).then(|| Latency {
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            max: h.max(),
        });
        Report {
            settings,
            requests,
            elapsed_secs: secs,
            checks_per_sec: if secs > 0.0 {
                self.decisions.total() as f64 / secs
            } else {
                0.0
            },
            decisions: self.decisions,
            errors: Errors {
                total: errors_total,
                by_code: self
                    .errors
                    .into_iter()
                    .map(|(code, (count, first_message))| {
                        (
                            code,
                            CodeCount {
                                count,
                                first_message,
                            },
                        )
                    })
                    .collect(),
            },
            latency_us: latency,
        }
    }
}

/// What was asked for, echoed in the report so a saved report says how it was made.
#[derive(Debug, Serialize)]
struct Settings {
    #[serde(serialize_with = "as_string")]
    target: http::Uri,
    site: String,
    connections: u32,
    in_flight: u32,
    #[serde(rename = "duration_secs", serialize_with = "as_secs")]
    duration: Duration,
    #[serde(rename = "warmup_secs", serialize_with = "as_secs")]
    warmup: Duration,
    max_requests: Option<u64>,
    comment_ids: bool,
    ips: u32,
    comments: String,
    threads: u16,
}

fn as_string<S: serde::Serializer>(v: &http::Uri, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn as_secs<S: serde::Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(v.as_secs_f64())
}

/// The report: `requests` is every measured request, answered (`decisions`) or not (`errors`).
#[derive(Debug, Serialize)]
struct Report {
    settings: Settings,
    requests: u64,
    /// From the end of the warm-up to the last measured answer.
    elapsed_secs: f64,
    /// Answered checks (errors not counted) a second over `elapsed_secs`.
    checks_per_sec: f64,
    decisions: Decisions,
    errors: Errors,
    /// Client-observed latency of the answered checks, in microseconds; absent when none was answered.
    latency_us: Option<Latency>,
}

#[derive(Debug, Default, Serialize)]
struct Decisions {
    accept: u64,
    hold: u64,
    reject: u64,
    /// A server that answered without a decision (none of ours does).
    unspecified: u64,
}

impl Decisions {
    fn total(&self) -> u64 {
        self.accept + self.hold + self.reject + self.unspecified
    }
}

#[derive(Debug, Serialize)]
struct Errors {
    total: u64,
    by_code: BTreeMap<&'static str, CodeCount>,
}

impl Errors {
    /// `UNAUTHENTICATED 40, UNAVAILABLE 2`.
    fn summary(&self) -> String {
        self.by_code
            .iter()
            .map(|(code, c)| format!("{code} {}", c.count))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug, Serialize)]
struct CodeCount {
    count: u64,
    first_message: String,
}

#[derive(Debug, Serialize)]
struct Latency {
    min: u64,
    mean: f64,
    p50: u64,
    p90: u64,
    p99: u64,
    p99_9: u64,
    max: u64,
}

/// The report as a few lines and two small tables.
fn describe(r: &Report) -> String {
    let s = &r.settings;
    let mut out = format!(
        "saring bench: {} site {}, {} connection{} × {} in flight, {} thread{}, {:.1} s{}{}\n",
        s.target,
        s.site,
        s.connections,
        plural(u64::from(s.connections)),
        s.in_flight,
        s.threads,
        plural(u64::from(s.threads)),
        s.duration.as_secs_f64(),
        match s.max_requests {
            Some(n) => format!(" or {n} requests"),
            None => String::new(),
        },
        if s.warmup.is_zero() {
            String::new()
        } else {
            format!(" after {:.1} s of warm-up", s.warmup.as_secs_f64())
        },
    );
    out.push_str(&format!(
        "comments: {}, {}, {} IP prefix{}\n\n",
        s.comments,
        if s.comment_ids {
            "unique comment ids"
        } else {
            "no comment ids"
        },
        s.ips,
        if s.ips == 1 { "" } else { "es" },
    ));
    let d = &r.decisions;
    out.push_str(&format!(
        "requests   {} in {:.2} s: {:.0} checks/s\ndecisions  accept {}, hold {}, reject {}{}\nerrors     {}\n",
        r.requests,
        r.elapsed_secs,
        r.checks_per_sec,
        d.accept,
        d.hold,
        d.reject,
        if d.unspecified > 0 {
            format!(", unspecified {}", d.unspecified)
        } else {
            String::new()
        },
        if r.errors.total == 0 {
            "none".to_string()
        } else {
            r.errors.total.to_string()
        },
    ));
    if let Some(l) = &r.latency_us {
        out.push('\n');
        let ms = |us: u64| format!("{:.3} ms", us as f64 / 1000.0);
        out.push_str(&table::render(
            &["latency", "p50", "p90", "p99", "p99.9", "max"],
            &[vec![
                "answered".to_string(),
                ms(l.p50),
                ms(l.p90),
                ms(l.p99),
                ms(l.p99_9),
                ms(l.max),
            ]],
        ));
    }
    if !r.errors.by_code.is_empty() {
        let rows: Vec<Vec<String>> = r
            .errors
            .by_code
            .iter()
            .map(|(code, c)| {
                vec![
                    code.to_string(),
                    c.count.to_string(),
                    c.first_message.clone(),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table::render(&["status", "count", "first message"], &rows));
    }
    out
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The canonical name of a gRPC status code, as grpc-status documents it.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A duration as `10s`, `500ms`, `2m`, `1.5s` or a bare number of seconds; positive, at most a day.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown unit `{other}` (use ms, s, m or h)")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 10s, 500ms or 2m"))?;
    let secs = value * scale;
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("`{s}` is not between 0 and 24 h"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// [`parse_duration`], refusing zero: a run measured for no time, or requests given no time to be
/// answered, is a mistake.
pub(crate) fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!("`{s}` is no time at all")),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "s", "ten", "5 parsecs", "-1s", "2d", "1e9", "25h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_positive_duration("0s").is_err());
        assert_eq!(parse_positive_duration("1ms"), Ok(Duration::from_millis(1)));
    }

    #[test]
    fn only_loopback_targets_pass_without_allow_remote() {
        for ok in [
            "127.0.0.1:50051",
            "127.3.2.1:1",
            "localhost:50051",
            "[::1]:50051",
            "http://[::ffff:127.0.0.1]:1",
            "https://localhost:443",
        ] {
            let url = target_url(ok, false).unwrap();
            assert!(refuse_remote(&url).is_ok(), "{ok}");
        }
        for remote in [
            "192.0.2.1:50051",
            "10.0.0.1:50051",
            "0.0.0.0:50051",
            "example.com:50051",
            "localhost.example.com:1",
            "[2001:db8::1]:50051",
        ] {
            let url = target_url(remote, false).unwrap();
            let err = refuse_remote(&url).unwrap_err().to_string();
            assert!(err.contains("--allow-remote"), "{remote}: {err}");
        }
    }

    #[test]
    fn addresses_become_urls() {
        assert_eq!(
            target_url("127.0.0.1:1", false).unwrap().to_string(),
            "http://127.0.0.1:1/"
        );
        assert_eq!(
            target_url("localhost:1", true).unwrap().scheme_str(),
            Some("https")
        );
        assert!(target_url("ftp://127.0.0.1:1", false).is_err());
        assert!(target_url("not a url", false).is_err());
    }

    #[test]
    fn requests_rotate_comments_ids_and_prefixes() {
        let rows: Vec<Row> = ["a", "b", "c"]
            .iter()
            .map(|t| Row {
                text: t.to_string(),
                ..Row::default()
            })
            .collect();
        let now = Instant::now();
        let plan = Plan {
            requests: requests(&rows, "s"),
            run_id: Some("bench-x".into()),
            ips: 2,
            in_flight: 1,
            measure_from: now,
            deadline: now + Duration::from_secs(3600),
            max_requests: Some(4),
            sequence: AtomicU64::new(0),
            tickets: AtomicU64::new(0),
        };
        let sent: Vec<_> = std::iter::from_fn(|| plan.next()).collect();
        assert_eq!(sent.len(), 4);
        let texts: Vec<&str> = sent.iter().map(|(r, _)| r.content.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c", "a"]);
        let ids: Vec<&str> = sent.iter().map(|(r, _)| r.comment_id.as_str()).collect();
        assert_eq!(ids, ["bench-x-0", "bench-x-1", "bench-x-2", "bench-x-3"]);
        assert_eq!(sent[0].0.user_ip, "2001:db8:0:0::1");
        assert_eq!(sent[1].0.user_ip, "2001:db8:0:1::1");
        assert_eq!(sent[2].0.user_ip, "2001:db8:0:0::1");
        assert!(sent
            .iter()
            .all(|(r, measured)| *measured && r.site_id == "s"));
    }
}
