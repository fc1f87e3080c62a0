//! The serving model and its shadow, swapped without a restart.
//!
//! A check takes one snapshot of the serving model ([`Models::serving`], one atomic load) and uses it
//! for everything it does, so every answer names the model that made it — the old one or the new one,
//! never a mix — however a reload interleaves. Loading a file (read, validate, build the index) runs
//! off the async runtime; a file that does not validate is refused with the reason and the serving model
//! goes on serving.
//!
//! A shadow is a candidate scored beside the serving model on every check, after the answer is sent,
//! never deciding. Where it would have decided otherwise, the change is counted and a bounded sample is
//! kept for review (`GetModelInfo`); promoting it makes it the serving model.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::clock::{now_us, timestamp};
use crate::model::decision::{probability, Decision};
use crate::model::{self, Model};
use crate::pb;

/// How many shadow disagreements are kept for review: enough to see a pattern, bounded in memory.
pub const SHADOW_SAMPLES: usize = 100;

/// Why a model could not be loaded, promoted or named.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The name is not a plain file name in the models directory.
    #[error(
        "name: `{0}` is not a file name in the models directory (no path separators, no `..`)"
    )]
    Name(String),
    /// There is no such file.
    #[error("no model file {}", .0.display())]
    Missing(PathBuf),
    /// The file is not a valid model.
    #[error("the model file was refused")]
    Invalid(#[from] model::Error),
    /// Promote or drop with no shadow loaded.
    #[error("no shadow model is loaded")]
    NoShadow,
    /// The loading task did not finish.
    #[error("loading the model was interrupted")]
    Interrupted,
}

/// A model as loaded, with where and when it came from.
#[derive(Debug)]
pub struct Loaded {
    /// The model.
    pub model: Model,
    /// The file it was read from.
    pub path: PathBuf,
    /// When it was loaded, µs since the epoch.
    pub loaded_at_us: u64,
    /// The card beside the file, summarised, if it could be read.
    pub card: Option<CardSummary>,
}

/// What `GetModelInfo` shows of a model card: informational only, a missing or unreadable card is no
/// error.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CardSummary {
    /// When the model was trained.
    pub created: String,
    /// `<path> <sha256>` of each training file.
    pub training_files: Vec<String>,
}

impl Loaded {
    /// Load and validate a model file (blocking: call off the async runtime).
    pub fn from_file(path: &Path) -> Result<Loaded, Error> {
        if !path.is_file() {
            return Err(Error::Missing(path.to_path_buf()));
        }
        let model = Model::load(path)?;
        Ok(Loaded::new(model, path))
    }

    /// A model already in memory, read from `path`.
    pub fn new(served: Model, path: &Path) -> Loaded {
        Loaded {
            model: served,
            path: path.to_path_buf(),
            loaded_at_us: now_us(),
            card: read_card(&model::card_path(path)),
        }
    }

    fn info(&self) -> pb::LoadedModel {
        let t = self.model.thresholds();
        let card = self.card.clone().unwrap_or_default();
        pb::LoadedModel {
            version: self.model.version().to_string(),
            path: self.path.display().to_string(),
            loaded_at: Some(timestamp(self.loaded_at_us)),
            accept_below_probability: probability(t.accept_below),
            reject_at_probability: probability(t.reject_at),
            features: self.model.vocabulary_len() as u64,
            format_version: model::FORMAT_VERSION,
            tokenizer_version: crate::model::tokenize::TOKENIZER_VERSION,
            card_created: card.created,
            training_files: card.training_files,
        }
    }
}

fn read_card(path: &Path) -> Option<CardSummary> {
    let text = std::fs::read_to_string(path).ok()?;
    let card: serde_json::Value = serde_json::from_str(&text).ok()?;
    let training_files = card["training_files"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .map(|f| {
                    format!(
                        "{} {}",
                        f["path"].as_str().unwrap_or("?"),
                        f["sha256"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Some(CardSummary {
        created: card["created"].as_str().unwrap_or_default().to_string(),
        training_files,
    })
}

/// One shadowed check: what the serving model's verdict was and what the shadow's would have been.
#[derive(Debug, Clone)]
pub struct Shadowed {
    /// The site.
    pub site_id: String,
    /// The serving decision's id.
    pub decision_id: String,
    /// The serving decision and spam probability.
    pub serving: (Decision, f64),
    /// The shadow's.
    pub shadow: (Decision, f64),
    /// The comment's text, kept only if the two disagree.
    pub content: String,
}

#[derive(Debug, Default)]
struct Stats {
    scored: u64,
    disagreements: u64,
    by_change: BTreeMap<String, u64>,
    samples: VecDeque<pb::ShadowDisagreement>,
}

fn wire(d: Decision) -> pb::Decision {
    match d {
        Decision::Accept => pb::Decision::Accept,
        Decision::Hold => pb::Decision::Hold,
        Decision::Reject => pb::Decision::Reject,
    }
}

/// The serving model, the shadow, and what the shadow has disagreed on.
#[derive(Debug)]
pub struct Models {
    serving: ArcSwap<Loaded>,
    shadow: ArcSwapOption<Loaded>,
    stats: Mutex<Stats>,
    /// The configured model file: what an unnamed reload and SIGHUP read.
    configured: PathBuf,
    /// Where named files are looked for: the configured model's directory.
    dir: PathBuf,
    /// One reload at a time, so two racing reloads cannot leave the older file serving.
    reloading: tokio::sync::Mutex<()>,
}

impl Models {
    /// Serve `serving`; `configured` is the path reloads read by default.
    pub fn new(serving: Loaded, configured: &Path) -> Models {
        let dir = configured
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Models {
            serving: ArcSwap::from_pointee(serving),
            shadow: ArcSwapOption::empty(),
            stats: Mutex::default(),
            configured: configured.to_path_buf(),
            dir,
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// With `shadow` loaded beside the serving model from the start.
    pub fn with_shadow(self, shadow: Loaded) -> Models {
        self.shadow.store(Some(Arc::new(shadow)));
        self
    }

    /// The serving model now: hold the snapshot for the whole of one request.
    pub fn serving(&self) -> Arc<Loaded> {
        self.serving.load_full()
    }

    /// The shadow, if one is loaded.
    pub fn shadow(&self) -> Option<Arc<Loaded>> {
        self.shadow.load_full()
    }

    /// The file a reload of `name` reads: the configured path for `""`, else `name` in the models
    /// directory.
    pub fn resolve(&self, name: &str) -> Result<PathBuf, Error> {
        if name.is_empty() {
            return Ok(self.configured.clone());
        }
        let plain = Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
            && Path::new(name).components().count() == 1
            && !name.contains(['/', '\\']);
        if !plain {
            return Err(Error::Name(name.to_string()));
        }
        Ok(self.dir.join(name))
    }

    /// Load `name` (see [`Models::resolve`]) and make it the serving model, or the shadow. Returns
    /// the model loaded. Nothing changes unless the file validates.
    pub async fn reload(&self, name: &str, as_shadow: bool) -> Result<Arc<Loaded>, Error> {
        let path = self.resolve(name)?;
        let _one_at_a_time = self.reloading.lock().await;
        let loaded = tokio::task::spawn_blocking(move || Loaded::from_file(&path))
            .await
            .map_err(|_| Error::Interrupted)??;
        let loaded = Arc::new(loaded);
        if as_shadow {
            self.shadow.store(Some(loaded.clone()));
            self.reset_stats();
        } else {
            self.serving.store(loaded.clone());
        }
        Ok(loaded)
    }

    /// Make the shadow the serving model.
    pub fn promote(&self) -> Result<Arc<Loaded>, Error> {
        let shadow = self.shadow.swap(None).ok_or(Error::NoShadow)?;
        self.serving.store(shadow.clone());
        self.reset_stats();
        Ok(shadow)
    }

    /// Forget the shadow.
    pub fn drop_shadow(&self) -> Result<(), Error> {
        self.shadow.swap(None).ok_or(Error::NoShadow)?;
        self.reset_stats();
        Ok(())
    }

    fn reset_stats(&self) {
        if let Ok(mut s) = self.stats.lock() {
            *s = Stats::default();
        }
    }

    /// Count one shadowed check.
    pub fn record(&self, s: Shadowed) {
        let Ok(mut stats) = self.stats.lock() else {
            return;
        };
        stats.scored += 1;
        if s.serving.0 == s.shadow.0 {
            return;
        }
        stats.disagreements += 1;
        let change = format!("{}->{}", s.serving.0.as_str(), s.shadow.0.as_str());
        *stats.by_change.entry(change).or_default() += 1;
        if stats.samples.len() == SHADOW_SAMPLES {
            stats.samples.pop_front();
        }
        stats.samples.push_back(pb::ShadowDisagreement {
            site_id: s.site_id,
            decision_id: s.decision_id,
            serving_decision: wire(s.serving.0) as i32,
            shadow_decision: wire(s.shadow.0) as i32,
            serving_spam_probability: s.serving.1,
            shadow_spam_probability: s.shadow.1,
            at: Some(timestamp(now_us())),
            content: s.content,
        });
    }

    /// Everything `GetModelInfo` answers.
    pub fn info(&self) -> pb::ModelInfo {
        let stats = self.stats.lock().map_or_else(
            |_| pb::ShadowStats::default(),
            |s| pb::ShadowStats {
                scored: s.scored,
                disagreements: s.disagreements,
                by_change: s.by_change.clone().into_iter().collect(),
                samples: s.samples.iter().cloned().collect(),
            },
        );
        pb::ModelInfo {
            serving: Some(self.serving().info()),
            shadow: self.shadow().map(|s| s.info()),
            shadow_stats: Some(stats),
        }
    }
}
