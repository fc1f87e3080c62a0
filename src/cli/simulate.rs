//! `saring simulate`: how a site's overlay learns, measured the way a blog would live it. Each group of
//! a labelled corpus (a video, a channel, an SMS bucket) becomes a site; its comments go, in file
//! order, through a real `saring serve` (in this process, on its own port and an in-memory embedded
//! store) over gRPC; every held comment is resolved by a moderator with its true label, half of the
//! spam that got published is reported by the blog as spam, and one rejected ham in a hundred as ham.
//! The figures are taken over each successive 100 comments of a site (all sites together), once with
//! the overlay and once without, so the difference is what the site's people taught.
// A report command: its table or JSON goes to stdout.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tonic::transport::Channel;

use crate::config::{Config, Limit};
use crate::model::Model;
use crate::pb;
use crate::pb::moderation_client::ModerationClient;
use crate::pb::moderation_queue_client::ModerationQueueClient;
use crate::service::check::Checker;
use crate::service::queue::Queue;
use crate::store::embedded::EmbeddedStore;
use crate::store::Store;
use crate::train::corpus::{self, Example, Label};

/// Comments a window of the report spans.
const DEFAULT_WINDOW: usize = 100;
/// The share of published spam the blog reports (every `SPAM_REPORT_EVERY`-th).
const SPAM_REPORT_EVERY: usize = 2;
/// The share of rejected ham the blog reports (every `HAM_REPORT_EVERY`-th).
const HAM_REPORT_EVERY: usize = 100;

/// `saring simulate`'s arguments.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Labelled data; each (source, group) is one site.
    #[command(flatten)]
    pub data: super::DataArgs,
    /// The model to serve [default: the configuration's].
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A configuration file for the simulated server (rate limits are lifted regardless: a site's
    /// comments arrive back to back here).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The overlay's weight, instead of the configuration's.
    #[arg(long)]
    pub weight: Option<f64>,
    /// Only sites with at least this many comments.
    #[arg(long, default_value_t = 100)]
    pub min_comments: usize,
    /// Comments per window of the report.
    #[arg(long, default_value_t = DEFAULT_WINDOW)]
    pub window: usize,
    /// Report windows up to this many comments into a site (later comments still run).
    #[arg(long, default_value_t = 1000)]
    pub report_until: usize,
    /// Send each site's comments in a fixed order of their text's hash instead of the file's: for
    /// files sorted by label, where a site would see all its spam before any ham and its moderators
    /// could teach nothing until both had come.
    #[arg(long)]
    pub shuffle: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Decisions counted in one window.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
struct Tally {
    spam: u64,
    ham: u64,
    spam_accepted: u64,
    ham_rejected: u64,
    held: u64,
    /// At spam probability ≥ 0.5: spam caught, ham caught, spam missed.
    tp: u64,
    fp: u64,
    fn_: u64,
}

impl Tally {
    fn add(&mut self, spam: bool, decision: pb::Decision, p: f64) {
        if spam {
            self.spam += 1;
        } else {
            self.ham += 1;
        }
        match (decision, spam) {
            (pb::Decision::Accept, true) => self.spam_accepted += 1,
            (pb::Decision::Reject, false) => self.ham_rejected += 1,
            (pb::Decision::Hold, _) => self.held += 1,
            _ => {}
        }
        match (p >= 0.5, spam) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, true) => self.fn_ += 1,
            (false, false) => {}
        }
    }

    fn rate(n: u64, of: u64) -> f64 {
        if of == 0 {
            0.0
        } else {
            n as f64 / of as f64
        }
    }

    fn figures(&self) -> serde_json::Value {
        let f1 = Self::rate(2 * self.tp, 2 * self.tp + self.fp + self.fn_);
        serde_json::json!({
            "comments": self.spam + self.ham,
            "spam": self.spam,
            "ham": self.ham,
            "spam_accepted": Self::rate(self.spam_accepted, self.spam),
            "ham_rejected": Self::rate(self.ham_rejected, self.ham),
            "held": Self::rate(self.held, self.spam + self.ham),
            "f1": f1,
        })
    }
}

/// One site: its id and its comments in file order.
type Site = (String, Vec<Example>);

/// A site id from a source and a group: an identifier, so everything but letters, digits, `.`, `_` and
/// `-` becomes `-`.
fn site_id(source: &str, group: &str) -> String {
    format!("{source}.{group}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(200)
        .collect()
}

pub(super) fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(model) = &args.model {
        config.model = model.clone();
    }
    if let Some(weight) = args.weight {
        config.overlay.weight = weight;
    }
    // Comments arrive back to back here, as no real site's do: the limits would refuse them.
    let open = Limit {
        burst: 1_000_000,
        per_hour: 1_000_000,
    };
    config.limits.ip = open;
    config.limits.author = open;
    config.limits.site = open;
    config.insecure_no_auth = true;
    config.sites.clear();
    config.validate()?;
    let model = Model::load(&config.model)
        .with_context(|| format!("loading {}", config.model.display()))?;
    let loaded = corpus::read_all(&args.data.data, args.data.skip_bad_rows)?;
    let mut by_site: BTreeMap<String, Vec<Example>> = BTreeMap::new();
    for e in loaded.examples {
        by_site
            .entry(site_id(&e.source, &e.group))
            .or_default()
            .push(e);
    }
    if args.shuffle {
        for comments in by_site.values_mut() {
            comments.sort_by_cached_key(|e| crate::hash::stable_hash(e.text.as_bytes()));
        }
    }
    let sites: Vec<Site> = by_site
        .into_iter()
        .filter(|(_, comments)| comments.len() >= args.min_comments)
        .collect();
    anyhow::ensure!(
        !sites.is_empty(),
        "no site has {} comments or more: lower --min-comments",
        args.min_comments
    );
    eprintln!(
        "{} sites, {} comments; model {}, overlay weight {}",
        sites.len(),
        sites.iter().map(|s| s.1.len()).sum::<usize>(),
        model.version(),
        config.overlay.weight
    );
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let mut results = Vec::new();
    for overlay in [false, true] {
        let mut config = config.clone();
        config.overlay.enabled = overlay;
        let windows = runtime.block_on(simulate(
            model.clone(),
            config,
            &sites,
            args.window.max(1),
            args.report_until,
        ))?;
        results.push((overlay, windows));
    }
    report(&results, args.window.max(1), args.json)?;
    Ok(())
}

/// Serve `model` under `config` in this process and stream every site through it; the tallies by
/// window (and the whole run last).
async fn simulate(
    model: Model,
    config: Config,
    sites: &[Site],
    window: usize,
    report_until: usize,
) -> anyhow::Result<Vec<Tally>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding a loopback port")?;
    let addr = listener.local_addr()?;
    let store = Store::embedded(EmbeddedStore::open_in_memory());
    let checker = Arc::new(Checker::new(model, Arc::new(config), store));
    let queue = Arc::new(Queue::new(checker));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::server::run_with_admin(
        listener,
        None,
        queue,
        async {
            let _ = stopped.await;
        },
    ));
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await
        .context("connecting to the simulated server")?;
    let mut check = ModerationClient::new(channel.clone());
    let mut moderate = ModerationQueueClient::new(channel);
    let windows = report_until.div_ceil(window);
    let progress_on_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut tallies = vec![Tally::default(); windows + 1];
    for (n, (site, comments)) in sites.iter().enumerate() {
        let (mut published_spam, mut rejected_ham) = (0usize, 0usize);
        for (i, e) in comments.iter().enumerate() {
            let spam = e.label == Label::Spam;
            let request = pb::CheckCommentRequest {
                site_id: site.clone(),
                comment_id: format!("c{i}"),
                content: e.text.clone(),
                author_name: e.author.clone().unwrap_or_default(),
                author_url: e.author_url.clone().unwrap_or_default(),
                author_email: e.author_email.clone().unwrap_or_default(),
                lang: e.lang.clone().unwrap_or_default(),
                ..Default::default()
            };
            let answer = check
                .check_comment(request)
                .await
                .with_context(|| format!("checking comment {i} of site {site}"))?
                .into_inner();
            let decision = answer.decision();
            if let Some(t) = tallies.get_mut(i / window) {
                t.add(spam, decision, answer.spam_probability);
            }
            if let Some(t) = tallies.last_mut() {
                t.add(spam, decision, answer.spam_probability);
            }
            // What the site's people do about it.
            let report = match (decision, spam) {
                (pb::Decision::Hold, _) => {
                    let verdict = if spam {
                        pb::Verdict::RejectSpam
                    } else {
                        pb::Verdict::Approve
                    };
                    moderate
                        .resolve_held(pb::ResolveHeldRequest {
                            site_id: site.clone(),
                            held_ids: vec![answer.held_id.clone()],
                            verdict: verdict as i32,
                            moderator: "simulated moderator".into(),
                            ..Default::default()
                        })
                        .await
                        .with_context(|| format!("resolving comment {i} of site {site}"))?;
                    None
                }
                (pb::Decision::Accept, true) => {
                    published_spam += 1;
                    (published_spam % SPAM_REPORT_EVERY == 0).then_some(pb::FeedbackLabel::Spam)
                }
                (pb::Decision::Reject, false) => {
                    rejected_ham += 1;
                    (rejected_ham % HAM_REPORT_EVERY == 0).then_some(pb::FeedbackLabel::Ham)
                }
                _ => None,
            };
            if let Some(label) = report {
                check
                    .submit_feedback(pb::SubmitFeedbackRequest {
                        site_id: site.clone(),
                        target: Some(pb::submit_feedback_request::Target::DecisionId(
                            answer.decision_id.clone(),
                        )),
                        label: label as i32,
                        reporter: "simulated blog".into(),
                    })
                    .await
                    .with_context(|| format!("reporting comment {i} of site {site}"))?;
            }
        }
        // A counter redrawn in place on a terminal; in a log or a pipe, carriage returns would pile up
        // on one line, so only the end is said there.
        if progress_on_terminal {
            eprint!("\r{} of {} sites", n + 1, sites.len());
        }
    }
    if progress_on_terminal {
        eprintln!();
    } else {
        eprintln!("{} of {} sites", sites.len(), sites.len());
    }
    let _ = stop.send(());
    server
        .await
        .context("the simulated server panicked")?
        .context("the simulated server failed")?;
    Ok(tallies)
}

fn report(results: &[(bool, Vec<Tally>)], window: usize, json: bool) -> anyhow::Result<()> {
    let label = |i: usize, n: usize| {
        if i + 1 == n {
            "all".to_string()
        } else {
            format!("{}-{}", i * window + 1, (i + 1) * window)
        }
    };
    if json {
        let runs: Vec<serde_json::Value> = results
            .iter()
            .map(|(overlay, tallies)| {
                serde_json::json!({
                    "overlay": overlay,
                    "windows": tallies.iter().enumerate().map(|(i, t)| {
                        let mut f = t.figures();
                        f["comments_of_site"] = label(i, tallies.len()).into();
                        f
                    }).collect::<Vec<_>>(),
                })
            })
            .collect();
        outln!("{}", serde_json::json!({ "window": window, "runs": runs }));
        return Ok(());
    }
    let (Some((_, off)), Some((_, on))) = (results.first(), results.get(1)) else {
        return Ok(());
    };
    outln!(
        "{:<12} {:>8} | {:>14} {:>13} {:>7} {:>6} | {:>14} {:>13} {:>7} {:>6}",
        "comments",
        "n",
        "spam accepted",
        "ham rejected",
        "held",
        "F1",
        "spam accepted",
        "ham rejected",
        "held",
        "F1"
    );
    outln!(
        "{:<12} {:>8} | {:^44} | {:^44}",
        "of a site",
        "",
        "without the overlay",
        "with the overlay"
    );
    for (i, (a, b)) in off.iter().zip(on).enumerate() {
        if a.spam + a.ham == 0 {
            continue;
        }
        let (fa, fb) = (a.figures(), b.figures());
        let pct = |v: &serde_json::Value| format!("{:.1}%", v.as_f64().unwrap_or(0.0) * 100.0);
        let f1 = |v: &serde_json::Value| format!("{:.3}", v.as_f64().unwrap_or(0.0));
        outln!(
            "{:<12} {:>8} | {:>14} {:>13} {:>7} {:>6} | {:>14} {:>13} {:>7} {:>6}",
            label(i, off.len()),
            a.spam + a.ham,
            pct(&fa["spam_accepted"]),
            pct(&fa["ham_rejected"]),
            pct(&fa["held"]),
            f1(&fa["f1"]),
            pct(&fb["spam_accepted"]),
            pct(&fb["ham_rejected"]),
            pct(&fb["held"]),
            f1(&fb["f1"]),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_become_site_ids() {
        assert_eq!(site_id("youtube", "DENNY CAKNAN"), "youtube.DENNY-CAKNAN");
        assert_eq!(site_id("sms", "bucket-3"), "sms.bucket-3");
        crate::moderation::comment::check_site("site_id", &site_id("a b", "c\td"))
            .expect("a valid site id");
    }

    #[test]
    fn a_tally_counts_each_rate_against_its_own_class() {
        let mut t = Tally::default();
        t.add(true, pb::Decision::Accept, 0.2);
        t.add(true, pb::Decision::Reject, 0.9);
        t.add(false, pb::Decision::Hold, 0.6);
        t.add(false, pb::Decision::Accept, 0.1);
        let f = t.figures();
        assert_eq!(f["spam_accepted"], 0.5);
        assert_eq!(f["ham_rejected"], 0.0);
        assert_eq!(f["held"], 0.25);
        // tp 1, fp 1, fn 1.
        assert_eq!(f["f1"], 0.5);
    }
}
