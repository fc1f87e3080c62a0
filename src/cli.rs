//! The `saring` command line: argument definitions and one module per subcommand.
//!
//! This is the outer edge: subcommands return `anyhow::Result` with context at each I/O point, and are
//! the one place that prints reports to stdout.
#![allow(clippy::print_stdout)]

/// `println!`/`print!` for command output that a closed pipe (`saring check … | head -1`) ends quietly
/// instead of panicking: the write error goes up as [`OutputClosed`], which `main` recognises.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err(crate::cli::output_error)?
    }};
}
/// `print!` for command output, as `outln!` is `println!`.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*).map_err(crate::cli::output_error)?
    }};
}

/// The reader of a command's output went away: it has what it wanted, so the command ends quietly.
/// Only a write to stdout gives this; a broken connection to a server stays an error.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct OutputClosed;

fn output_error(err: std::io::Error) -> anyhow::Error {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        OutputClosed.into()
    } else {
        anyhow::Error::new(err).context("writing to standard output")
    }
}

mod admin;
mod bench;
mod check;
mod cv;
mod eval;
mod export;
mod keys;
mod model;
mod overlay;
mod replay;
mod serve;
mod simulate;
mod table;
mod train;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// saring: self-hosted comment moderation and spam filtering.
#[derive(Debug, Parser)]
#[command(name = "saring", version, about)]
pub struct Cli {
    /// Log as JSON lines instead of plain text.
    #[arg(long, global = true, env = "SARING_LOG_JSON")]
    pub log_json: bool,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The log filter when `RUST_LOG` is unset. `simulate` runs a server in-process and sends it
    /// thousands of requests: at info level each would print a line over the report it is there for.
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            Command::Simulate(_) => "warn",
            _ => crate::telemetry::DEFAULT_FILTER,
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model on labelled JSONL/CSV data and write it with its model card.
    Train(TrainArgs),
    /// Score a labelled file with a model and report quality figures.
    Eval(EvalArgs),
    /// Score one comment and show why.
    Check(CheckArgs),
    /// Cross-validate the training procedure over k folds split by (source, group).
    Cv(CvArgs),
    /// Serve the Moderation gRPC API (with health and reflection).
    Serve(ServeArgs),
    /// Write a site's moderator verdicts and feedback as JSONL training rows.
    ExportFeedback(ExportArgs),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Re-score a site's labelled history with a candidate model beside the serving one.
    Replay(ReplayArgs),
    /// See, reload, shadow and promote the running server's model, without a restart.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Load a running server with CheckComment and report throughput, latency and errors.
    Bench(BenchArgs),
    /// See, reset, turn off or on a site's overlay (what its moderators taught) on the running server.
    #[command(subcommand)]
    Overlay(OverlayCommand),
    /// Stream a labelled corpus, each group a site, through a real server whose moderators resolve
    /// every held comment: how the overlay learns, with and without it.
    Simulate(simulate::SimulateArgs),
}

/// `saring overlay …`: a site's overlay, through the running server's ModelAdmin service.
#[derive(Debug, Subcommand)]
pub enum OverlayCommand {
    /// Its switches, label totals, and the features pushing hardest each way with their counts.
    Show {
        /// The site.
        #[arg(long)]
        site: String,
        /// How many features to list each way.
        #[arg(long, default_value_t = crate::service::overlay::DEFAULT_TOP)]
        top: u32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The server.
        #[command(flatten)]
        at: ServerAt,
    },
    /// Forget everything it learned (the labels themselves stay).
    Reset {
        /// The site.
        #[arg(long)]
        site: String,
        /// The server.
        #[command(flatten)]
        at: ServerAt,
    },
    /// Turn it off: it neither scores nor learns until turned on again.
    Disable {
        /// The site.
        #[arg(long)]
        site: String,
        /// The server.
        #[command(flatten)]
        at: ServerAt,
    },
    /// Turn it on again.
    Enable {
        /// The site.
        #[arg(long)]
        site: String,
        /// The server.
        #[command(flatten)]
        at: ServerAt,
    },
}

/// `saring model …`: the running server's ModelAdmin service.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// What is serving, and the shadow with its disagreements.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The server.
        #[command(flatten)]
        at: ServerAt,
    },
    /// Load a model file and swap it in (or load it as the shadow). Without NAME, the configured path.
    Reload {
        /// A file name in the serving model's directory, e.g. `candidate.model`.
        name: Option<String>,
        /// Load it beside the serving model as its shadow.
        #[arg(long)]
        shadow: bool,
        /// The server.
        #[command(flatten)]
        at: ServerAt,
    },
    /// Make the shadow the serving model.
    Promote {
        /// The server.
        #[command(flatten)]
        at: ServerAt,
    },
    /// Stop shadow scoring.
    DropShadow {
        /// The server.
        #[command(flatten)]
        at: ServerAt,
    },
}

/// `saring keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print its token (shown this once).
    Create {
        /// service, moderator or admin.
        #[arg(long, value_parser = ["service", "moderator", "admin"])]
        role: String,
        /// A site the key may act for; repeat for several (not needed for admin).
        #[arg(long = "site")]
        sites: Vec<String>,
        /// A name to recognise the key by (shown in lists and audit logs).
        #[arg(long, default_value = "")]
        name: String,
        /// Where the keys are.
        #[command(flatten)]
        at: AdminAt,
    },
    /// List every key (without secrets).
    List {
        /// Where the keys are.
        #[command(flatten)]
        at: AdminAt,
    },
    /// Revoke a key by its id.
    Revoke {
        /// The key's id (the part after `srg_`, before the second `_`).
        id: String,
        /// Where the keys are.
        #[command(flatten)]
        at: AdminAt,
    },
}

/// A running server and how to reach it as an admin.
#[derive(Debug, Args)]
pub struct ServerAt {
    /// The server's URL.
    #[arg(long, env = "SARING_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// An admin key.
    #[arg(long, env = "SARING_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// The CA certificate (PEM) to trust for an https:// server; without it, the host's trust store
    /// (system CA certificates, or SSL_CERT_FILE).
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
}

/// Where an admin command (`saring keys`, `saring export-feedback`) works: through a running server's
/// Admin service (with an admin key), or directly on the store (`--direct`: to recover a lost admin
/// key, or with no server running).
#[derive(Debug, Args)]
pub struct AdminAt {
    /// The server.
    #[command(flatten)]
    pub at: ServerAt,
    /// Use the store directly instead of calling the server (the embedded store only while
    /// `saring serve` is stopped).
    #[arg(long)]
    pub direct: bool,
    /// The store, with --direct.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Where the configuration and the store are, for commands that open the store.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// A TOML config file (every setting: docs/configuration.md).
    #[arg(long, env = "SARING_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory of the embedded store's database file [default: data].
    #[arg(long, env = "SARING_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Share state through this Redis (several replicas may share one); without it, the embedded store.
    /// With --redis-cluster, nodes of a Redis Cluster separated by commas.
    #[arg(long, env = "SARING_REDIS_URL")]
    pub redis_url: Option<String>,
    /// --redis-url names nodes of a Redis Cluster.
    #[arg(long, env = "SARING_REDIS_CLUSTER")]
    pub redis_cluster: bool,
}

impl StoreArgs {
    /// The config file (or defaults) with these flags on top; not yet validated.
    fn config(&self) -> anyhow::Result<crate::config::Config> {
        let mut config = match &self.config {
            Some(path) => crate::config::Config::from_file(path)?,
            None => crate::config::Config::default(),
        };
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(url) = &self.redis_url {
            config.redis_url = Some(url.clone());
        }
        if self.redis_cluster {
            config.redis_cluster = true;
        }
        Ok(config)
    }
}

/// What follows an embedded store that will not open while `saring serve` has it (redb locks its file).
const STORE_IN_USE_HINT: &str = "stop `saring serve` first, or leave out --direct to go through it";

/// Open the store `config` names; `hint` is said first when the embedded store will not open.
async fn open_store(
    config: &crate::config::Config,
    hint: Option<&'static str>,
) -> anyhow::Result<crate::store::Store> {
    match crate::store::Store::open(config).await {
        Ok(store) => Ok(store),
        Err(e @ crate::store::OpenError::Embedded { .. }) if hint.is_some() => {
            Err(anyhow::Error::new(e).context(hint.unwrap_or_default()))
        }
        Err(e) => Err(e.into()),
    }
}

/// `saring export-feedback`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The site whose verdicts and feedback to export.
    #[arg(long)]
    pub site: String,
    /// Only labels given at or after this time: unix seconds, `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`.
    #[arg(long, value_parser = parse_time)]
    pub since: Option<u64>,
    /// The JSONL file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Where the labels are.
    #[command(flatten)]
    pub at: AdminAt,
}

/// `saring replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The site whose history to replay.
    #[arg(long)]
    pub site: String,
    /// The candidate model file.
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// The model to compare it with [default: the configured model].
    #[arg(long, value_name = "FILE")]
    pub serving: Option<PathBuf>,
    /// Only labels given at or after this time (as for export-feedback).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<u64>,
    /// How many changed decisions to list, with the start of their text.
    #[arg(long, default_value_t = 10)]
    pub show: usize,
    /// Print JSON instead of a table (no comment text).
    #[arg(long)]
    pub json: bool,
    /// Where the labels are (and the config with the site's rules).
    #[command(flatten)]
    pub at: AdminAt,
}

/// Unix seconds, `YYYY-MM-DD` (midnight UTC) or `YYYY-MM-DDTHH:MM:SSZ`, as microseconds since the epoch.
fn parse_time(s: &str) -> Result<u64, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(secs.saturating_mul(1_000_000));
    }
    let bad = |e: jiff::Error| {
        format!("`{s}` is not unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ: {e}")
    };
    let at = if s.contains('T') {
        s.parse::<jiff::Timestamp>().map_err(bad)?
    } else {
        s.parse::<jiff::civil::Date>()
            .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC))
            .map_err(bad)?
            .timestamp()
    };
    u64::try_from(at.as_microsecond()).map_err(|_| format!("`{s}` is before 1970"))
}

/// `saring serve`. Flags and `SARING_*` variables override the config file, which overrides defaults.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The config file and the store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on [default: 127.0.0.1:50051].
    #[arg(long, env = "SARING_ADDR")]
    pub addr: Option<std::net::SocketAddr>,
    /// The model file [default: models/default.model].
    #[arg(long, env = "SARING_MODEL")]
    pub model: Option<PathBuf>,
    /// Largest comment body in bytes [default: 65536].
    #[arg(long, env = "SARING_MAX_CONTENT_BYTES")]
    pub max_content_bytes: Option<usize>,
    /// Threads that serve requests [default: 0, one per core]; fewer when Redis or other busy
    /// processes share the machine's cores.
    #[arg(long, env = "SARING_WORKERS")]
    pub workers: Option<usize>,
    /// PEM certificate chain: serve TLS (with --tls-key).
    #[arg(long, env = "SARING_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "SARING_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Serve without API keys: anyone who reaches the port may do anything. Local development only.
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// The admin HTTP port: metrics, health and the moderator's page [default: 127.0.0.1:50052];
    /// "" turns it off.
    #[arg(long, env = "SARING_ADMIN_ADDR", value_name = "ADDR")]
    pub admin_addr: Option<String>,
    /// Do not serve the admin HTTP port.
    #[arg(long, conflicts_with = "admin_addr")]
    pub no_admin: bool,
}

/// `saring bench`: N connections × M requests in flight for a duration (docs/benchmarks.md).
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The server: HOST:PORT, or an http:// or https:// URL. Loopback only unless --allow-remote.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub addr: String,
    /// Let --addr be a host other than this machine's loopback (a load test must not reach another
    /// machine's service by a typo).
    #[arg(long)]
    pub allow_remote: bool,
    /// Separate HTTP/2 connections to open.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=bench::MAX_CONNECTIONS))]
    pub connections: u32,
    /// Requests kept in flight on each connection (a new one starts as soon as one is answered).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=bench::MAX_IN_FLIGHT))]
    pub in_flight: u32,
    /// How long to measure, e.g. `10s`, `500ms`, `2m` (a bare number is seconds).
    #[arg(long, default_value = "10s", value_parser = bench::parse_positive_duration)]
    pub duration: std::time::Duration,
    /// Send for this long before measuring (answers in it are not counted), e.g. `2s`.
    #[arg(long, default_value = "0s", value_parser = bench::parse_duration)]
    pub warmup: std::time::Duration,
    /// Stop after this many measured requests, even if --duration has not passed.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Give up on one request after this long (counted by the status the client gets).
    #[arg(long, default_value = "5s", value_parser = bench::parse_positive_duration)]
    pub timeout: std::time::Duration,
    /// Comments to send, as JSON Lines with at least `text` (and optionally `author`, `author_url`,
    /// `author_email`, `lang`), sent in turn; without it, four built-in comments.
    #[arg(long, value_name = "FILE.jsonl")]
    pub data: Option<PathBuf>,
    /// The site every request is for.
    #[arg(long, default_value = "default")]
    pub site: String,
    /// A service key for --site.
    #[arg(long, env = "SARING_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// The CA certificate (PEM) to trust for TLS; with it, HOST:PORT means https://. An https://
    /// URL without it uses the host's trust store.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Send no comment id, so the server does not remember decisions (by default every request has a
    /// unique one, as a blog's comments do).
    #[arg(long)]
    pub no_comment_ids: bool,
    /// Distinct client IPv6 /64 prefixes to cycle through (each is its own rate-limit key).
    #[arg(long, default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub ips: u32,
    /// Client threads (1: a single-threaded runtime, leaving the other cores to a local server).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Options shared by commands that read labelled data.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// A labelled JSONL or CSV file; repeat for several.
    #[arg(long = "data", required = true, value_name = "FILE")]
    pub data: Vec<PathBuf>,
    /// Skip rows that are not valid (reporting each) instead of stopping at the first.
    #[arg(long)]
    pub skip_bad_rows: bool,
}

/// Options that shape training, shared by `train` and `cv`.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// Inner folds, by (source, group), whose out-of-fold scores choose the smoothing, the logistic
    /// layer's settings and the thresholds.
    #[arg(long, default_value_t = crate::train::DEFAULT_INNER_FOLDS)]
    pub inner_folds: usize,
    /// Seed of the group split; the same data and seed give a byte-identical model.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Drop features found in fewer training documents than this.
    #[arg(long, default_value_t = crate::train::DEFAULT_MIN_DF)]
    pub min_df: u32,
    /// Keep at most this many features (the most frequent).
    #[arg(long, default_value_t = crate::train::DEFAULT_MAX_FEATURES)]
    pub max_features: usize,
    /// Documents per dense batch given to linfa-bayes.
    #[arg(long, default_value_t = crate::train::DEFAULT_BATCH_ROWS)]
    pub batch_rows: usize,
    /// A smoothing value to try; repeat for several (default: 0.003, 0.01, 0.03, 0.1, 0.3).
    #[arg(long = "alpha", value_name = "ALPHA")]
    pub alphas: Vec<f64>,
    /// Largest share of validation ham, all sources together, the reject threshold may reject.
    #[arg(long, default_value_t = crate::train::thresholds::Targets::default().max_ham_rejected)]
    pub max_ham_rejected: f64,
    /// Largest share of any one source's validation ham the reject threshold should reject.
    #[arg(long, default_value_t = crate::train::thresholds::Targets::default().max_ham_rejected_per_source)]
    pub max_ham_rejected_per_source: f64,
    /// The per-source ham share that is never exceeded, even when nothing else fits.
    #[arg(long, default_value_t = crate::train::thresholds::Targets::default().hard_ham_rejected_per_source)]
    pub hard_ham_rejected_per_source: f64,
    /// Largest share of any one source's validation spam the accept threshold should accept.
    #[arg(long, default_value_t = crate::train::thresholds::Targets::default().max_spam_accepted)]
    pub max_spam_accepted: f64,
    /// Largest share of any one source's validation comments the hold band should hold.
    #[arg(long, default_value_t = crate::train::thresholds::Targets::default().max_hold_rate)]
    pub max_hold_rate: f64,
    /// Shortest character n-gram.
    #[arg(long, default_value_t = crate::model::tokenize::Settings::default().char_ngram_min)]
    pub ngram_min: u8,
    /// Longest character n-gram.
    #[arg(long, default_value_t = crate::model::tokenize::Settings::default().char_ngram_max)]
    pub ngram_max: u8,
    /// Value of a present character n-gram feature (a word counts 1).
    #[arg(long, default_value_t = crate::model::Weighting::default().char_ngram)]
    pub char_ngram_weight: f64,
    /// Value of a present structure feature (links, hosts, phones, numbers, emoji, markup, disguises,
    /// handles, form fields, length); a word counts 1.
    #[arg(long, default_value_t = crate::model::Weighting::default().meta)]
    pub meta_weight: f64,
    /// Scale documents by LENGTH_SCALE / sqrt(known features); 0 turns length normalisation off.
    #[arg(long, default_value_t = crate::model::Weighting::default().length_scale)]
    pub length_scale: f64,
    /// Even out sources within each class: 0 = plain counts, 1 = every source weighs the same.
    #[arg(long, default_value_t = crate::train::DEFAULT_SOURCE_BALANCE)]
    pub source_balance: f64,
    /// Multiply the weight of one source's rows of one class, e.g. `stackexchange-spam:spam=0.5`;
    /// repeatable.
    #[arg(long = "class-weight", value_name = "SOURCE:CLASS=W")]
    pub class_weights: Vec<crate::train::ClassWeight>,
    /// Largest weight, either way, of one link or e-mail destination feature (host, top-level domain,
    /// e-mail domain) in the served model, before the document scale (0: no limit).
    #[arg(long, default_value_t = crate::train::DEFAULT_DESTINATION_CAP)]
    pub destination_cap: f64,
    /// Train naive Bayes only, without the logistic layer on its log-count ratios.
    #[arg(long)]
    pub naive_bayes_only: bool,
    /// An inverse regularisation strength of the logistic layer to try; repeat for several
    /// (default: 1).
    #[arg(long = "logistic-c", value_name = "C")]
    pub logistic_cs: Vec<f64>,
    /// An interpolation between naive Bayes (0) and the logistic layer (1) to try; repeat for several
    /// (default: 0.5, 0.75, 1).
    #[arg(long = "beta", value_name = "BETA")]
    pub betas: Vec<f64>,
    /// Most L-BFGS iterations of the logistic layer.
    #[arg(long, default_value_t = crate::train::DEFAULT_LOGISTIC_ITERATIONS)]
    pub logistic_iterations: usize,
    /// Draw no progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Threads for the inner folds [default: the machine's cores]; the model is the same for any
    /// number.
    #[arg(long)]
    pub threads: Option<usize>,
}

impl FitArgs {
    fn options(&self) -> crate::train::Options {
        crate::train::Options {
            settings: crate::model::tokenize::Settings {
                char_ngram_min: self.ngram_min,
                char_ngram_max: self.ngram_max,
            },
            inner_folds: self.inner_folds,
            seed: self.seed,
            min_df: self.min_df,
            max_features: self.max_features,
            batch_rows: self.batch_rows,
            alphas: if self.alphas.is_empty() {
                crate::train::DEFAULT_ALPHAS.to_vec()
            } else {
                self.alphas.clone()
            },
            weighting: crate::model::Weighting {
                char_ngram: self.char_ngram_weight,
                meta: self.meta_weight,
                length_scale: self.length_scale,
                ..crate::model::Weighting::default()
            },
            source_balance: self.source_balance,
            class_weights: self.class_weights.clone(),
            destination_cap: self.destination_cap,
            stage: if self.naive_bayes_only {
                crate::train::Stage::NaiveBayes
            } else {
                let default = crate::train::LogisticStage::default();
                crate::train::Stage::Logistic(crate::train::LogisticStage {
                    cs: if self.logistic_cs.is_empty() {
                        default.cs.clone()
                    } else {
                        self.logistic_cs.clone()
                    },
                    betas: if self.betas.is_empty() {
                        default.betas.clone()
                    } else {
                        self.betas.clone()
                    },
                    max_iterations: self.logistic_iterations,
                    ..default
                })
            },
            targets: crate::train::thresholds::Targets {
                max_ham_rejected: self.max_ham_rejected,
                max_ham_rejected_per_source: self.max_ham_rejected_per_source,
                hard_ham_rejected_per_source: self.hard_ham_rejected_per_source,
                max_spam_accepted: self.max_spam_accepted,
                max_hold_rate: self.max_hold_rate,
            },
            progress: !self.quiet,
            threads: self.threads.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            }),
        }
    }
}

/// `saring train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training data.
    #[command(flatten)]
    pub data: DataArgs,
    /// Where to write the model; the card goes beside it as NAME.card.json.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Training options.
    #[command(flatten)]
    pub fit: FitArgs,
}

/// `saring eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The model file.
    #[arg(long, env = "SARING_MODEL", default_value = crate::config::DEFAULT_MODEL_PATH)]
    pub model: PathBuf,
    /// Labelled data.
    #[command(flatten)]
    pub data: DataArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `saring check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The model file.
    #[arg(long, env = "SARING_MODEL", default_value = crate::config::DEFAULT_MODEL_PATH)]
    pub model: PathBuf,
    /// The commenter's display name.
    #[arg(long)]
    pub author: Option<String>,
    /// The commenter's website.
    #[arg(long)]
    pub author_url: Option<String>,
    /// The commenter's e-mail address.
    #[arg(long)]
    pub author_email: Option<String>,
    /// Language hint (en, id, ...).
    #[arg(long)]
    pub lang: Option<String>,
    /// How many tokens to list each way.
    #[arg(long, default_value_t = crate::model::DEFAULT_EXPLAIN_TOKENS)]
    pub top: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The comment; read from stdin when absent.
    pub text: Option<String>,
}

/// `saring cv`.
#[derive(Debug, Args)]
pub struct CvArgs {
    /// Labelled data.
    #[command(flatten)]
    pub data: DataArgs,
    /// Number of folds of the k-fold scheme.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Which schemes to run: `k-fold` (by source and group), `leave-source-out` (each source scored by
    /// a model trained on all the others, the figure that predicts a site like none of the training
    /// sets), or `both`, one after the other.
    #[arg(long, value_enum, default_value_t = CvSchemes::Both)]
    pub scheme: CvSchemes,
    /// Short for `--scheme leave-source-out`.
    #[arg(long, conflicts_with = "scheme")]
    pub leave_source_out: bool,
    /// Write every row's fold and held-out score here as JSON Lines, for each scheme run (what
    /// bench/peers/ reads).
    #[arg(long, value_name = "FILE")]
    pub folds_out: Option<PathBuf>,
    /// Training options used in every fold.
    #[command(flatten)]
    pub fit: FitArgs,
    /// Fail unless SOURCE reaches this held-out F1 in the k-fold scheme, e.g.
    /// `sms-spam-collection=0.94`; repeat per source.
    #[arg(long = "min-f1", value_name = "SOURCE=F1", value_parser = parse_bar)]
    pub min_f1: Vec<(String, f64)>,
    /// Fail if, in any scheme run, any source's held-out ham is rejected more often than this share.
    #[arg(long)]
    pub bar_ham_rejected: Option<f64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The cross-validation schemes `saring cv` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CvSchemes {
    /// k folds by `(source, group)`.
    KFold,
    /// One fold per source.
    LeaveSourceOut,
    /// k-fold, then leave-source-out.
    Both,
}

fn parse_bar(s: &str) -> Result<(String, f64), String> {
    let (source, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not SOURCE=VALUE"))?;
    let value: f64 = value
        .parse()
        .map_err(|_| format!("`{value}` is not a number"))?;
    Ok((source.to_string(), value))
}

/// Run the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Check(args) => check::run(args),
        Command::Cv(args) => cv::run(args),
        Command::Serve(args) => serve::run(args),
        Command::ExportFeedback(args) => export::run(args),
        Command::Keys(command) => keys::run(command),
        Command::Model(command) => model::run(command),
        Command::Overlay(command) => overlay::run(command),
        Command::Simulate(args) => simulate::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Bench(args) => bench::run(args),
    }
}

/// Read labelled data, reporting skipped rows on stderr. Also returns the usable rows per file.
fn load_data(
    args: &DataArgs,
) -> anyhow::Result<(crate::train::corpus::Loaded, Vec<(PathBuf, usize)>)> {
    let mut loaded = crate::train::corpus::Loaded::default();
    let mut per_file = Vec::new();
    for path in &args.data {
        let before = loaded.examples.len();
        crate::train::corpus::read_into(path, args.skip_bad_rows, &mut loaded)?;
        per_file.push((path.clone(), loaded.examples.len() - before));
    }
    for bad in &loaded.skipped {
        tracing::warn!(row = %bad, "skipped a bad row");
    }
    if loaded.examples.is_empty() {
        anyhow::bail!("no usable rows in the data given");
    }
    Ok((loaded, per_file))
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_parse_as_utc() {
        assert_eq!(parse_time("86400"), Ok(86_400_000_000));
        assert_eq!(parse_time("1970-01-02"), Ok(86_400_000_000));
        assert_eq!(
            parse_time("2026-11-25T21:46:12Z"),
            Ok(1_795_643_172_000_000)
        );
        assert_eq!(parse_time("2000-03-01"), Ok(951_868_800_000_000));
        assert_eq!(parse_time("2024-02-29"), Ok(1_709_164_800_000_000));
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-02-31",
            "2025-02-29",
            "2026-04-31T10:00:00Z",
            "2026-11-25T21:46",
            "1969-12-31",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
