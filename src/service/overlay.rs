//! Each site's overlay as this replica holds it (`model::overlay`): read from the store once, followed
//! through this replica's own lessons, and read again when a check learns from the store that another
//! replica changed it.
//!
//! A check never waits for an overlay: the store reports the overlay's version in the check's first
//! round trip (`Store::begin`), and when this replica's copy is older a fresh one is read in the
//! background while the check scores with what there is. So a moderator's verdict on one replica moves
//! the next check on the same replica at once, and the other replicas' checks a round trip later.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::config;
use crate::model::overlay::{Counts, Overlay, Push};
use crate::pb;
use crate::service::check::Checker;
use crate::store::{self, Lesson, OverlayCounts, Store, Taught};

/// Features listed each way when a request does not say.
pub const DEFAULT_TOP: u32 = 20;
/// Most features listed each way.
pub const MAX_TOP: u32 = 1000;

/// One site's copy.
#[derive(Debug, Clone)]
struct Copy {
    /// The store's version this copy is.
    version: u64,
    overlay: Arc<Overlay>,
}

#[derive(Debug, Default)]
struct Sites {
    copies: HashMap<String, Copy>,
    /// Sites whose overlay is being read now, so that a burst of checks reads it once.
    reading: std::collections::HashSet<String>,
}

/// Every site's overlay, as this replica holds it.
#[derive(Debug, Clone)]
pub struct Overlays {
    store: Store,
    sites: Arc<Mutex<Sites>>,
}

impl Overlays {
    /// Overlays read from `store`.
    pub fn new(store: Store) -> Overlays {
        Overlays {
            store,
            sites: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sites> {
        // Every change replaces a whole entry, so a panic elsewhere cannot leave one half-written.
        self.sites
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The overlay to score a check on `site` with, given what the store reported in the check's
    /// first round trip (`(version, enabled)`; `None` when it was not asked or did not answer). A copy
    /// older than the store's is used as it is while a fresh one is read in the background; a site
    /// whose overlay never learned anything has none.
    pub fn current(
        &self,
        site: &str,
        reported: Option<(u64, bool)>,
        settings: &config::Overlay,
    ) -> Option<Arc<Overlay>> {
        let (version, enabled) = reported?;
        if !enabled || !settings.enabled || version == 0 {
            return None;
        }
        let mut sites = self.lock();
        let copy = sites.copies.get(site).cloned();
        if copy.as_ref().is_none_or(|c| c.version < version) && sites.reading.insert(site.into()) {
            self.read_in_background(site.to_string(), settings.weight);
        }
        copy.map(|c| c.overlay)
    }

    fn read_in_background(&self, site: String, weight: f64) {
        let this = self.clone();
        tokio::spawn(async move {
            let read = this.store.overlay(&site).await;
            let mut sites = this.lock();
            sites.reading.remove(&site);
            match read {
                Ok(counts) => {
                    let newer = sites
                        .copies
                        .get(&site)
                        .is_none_or(|c| c.version < counts.version);
                    if newer {
                        let copy = Copy {
                            version: counts.version,
                            overlay: Arc::new(overlay_of(counts, weight)),
                        };
                        sites.copies.insert(site, copy);
                    }
                }
                // The next check that sees the newer version tries again.
                Err(e) => tracing::warn!(error = %e, "could not read a site's overlay"),
            }
        });
    }

    /// Follow a lesson this replica wrote to `site`'s overlay. The copy takes it exactly when it is the
    /// version the lesson was written on and nothing was forgotten; otherwise it is dropped, to be read
    /// again at the next check.
    pub fn taught(&self, site: &str, lesson: &Lesson, taught: &Taught, weight: f64) {
        let mut sites = self.lock();
        let base = match sites.copies.get(site) {
            Some(c) if c.version == taught.before => Some((*c.overlay).clone()),
            None if taught.before == 0 => Some(Overlay::new(0, 0, [], weight)),
            _ => None,
        };
        match base {
            Some(mut overlay) if !taught.evicted => {
                if let Some((spam, features)) = &taught.unlearned {
                    overlay.learn(features, *spam, -1);
                }
                if taught.learned {
                    overlay.learn(&lesson.features, lesson.spam, 1);
                }
                let copy = Copy {
                    version: taught.after,
                    overlay: Arc::new(overlay),
                };
                sites.copies.insert(site.to_string(), copy);
            }
            _ => {
                sites.copies.remove(site);
            }
        }
    }

    /// Read `site`'s overlay again now and hold that copy (after a reset or a switch, so that this
    /// replica's next check already follows it).
    pub async fn reload(&self, site: &str, weight: f64) -> Result<(), store::Error> {
        let counts = self.store.overlay(site).await?;
        let mut sites = self.lock();
        if sites
            .copies
            .get(site)
            .is_none_or(|c| c.version < counts.version)
        {
            let copy = Copy {
                version: counts.version,
                overlay: Arc::new(overlay_of(counts, weight)),
            };
            sites.copies.insert(site.to_string(), copy);
        }
        Ok(())
    }

    /// Read `site`'s overlay from the store now, for a person inspecting it.
    pub async fn read(
        &self,
        site: &str,
        weight: f64,
    ) -> Result<(OverlayCounts, Overlay), store::Error> {
        let counts = self.store.overlay(site).await?;
        let overlay = overlay_of(counts.clone(), weight);
        Ok((counts, overlay))
    }
}

fn overlay_of(counts: OverlayCounts, weight: f64) -> Overlay {
    Overlay::new(
        counts.spam_labels,
        counts.ham_labels,
        counts
            .counts
            .into_iter()
            .map(|(f, spam, ham)| (f, Counts { spam, ham })),
        weight,
    )
}

/// What an admin sees of `site`'s overlay: its switches, totals and the `top` features pushing hardest
/// each way (`DEFAULT_TOP` for 0, at most `MAX_TOP`).
pub async fn info(
    checker: &Checker,
    site: &str,
    top: u32,
) -> Result<pb::OverlayInfo, store::Error> {
    let settings = checker.site(site).overlay;
    let (counts, overlay) = checker.overlays().read(site, settings.weight).await?;
    let top = if top == 0 {
        DEFAULT_TOP
    } else {
        top.min(MAX_TOP)
    };
    let (spam, ham) = overlay.top(top as usize);
    let token = |p: Push| pb::OverlayToken {
        token: p.token,
        spam: p.counts.spam,
        ham: p.counts.ham,
        weight: p.weight,
    };
    Ok(pb::OverlayInfo {
        site_id: site.to_string(),
        enabled: settings.enabled && !counts.disabled,
        configured: settings.enabled,
        version: counts.version,
        spam_labels: counts.spam_labels,
        ham_labels: counts.ham_labels,
        features: overlay.len() as u64,
        towards_spam: spam.into_iter().map(token).collect(),
        towards_ham: ham.into_iter().map(token).collect(),
    })
}

/// Forget what `site`'s overlay learned; what it is now.
pub async fn reset(checker: &Checker, site: &str) -> Result<pb::OverlayInfo, store::Error> {
    checker.store().reset_overlay(site).await?;
    let weight = checker.site(site).overlay.weight;
    checker.overlays().reload(site, weight).await?;
    info(checker, site, 0).await
}

/// Turn `site`'s overlay on or off; what it is now.
pub async fn set(
    checker: &Checker,
    site: &str,
    enabled: bool,
) -> Result<pb::OverlayInfo, store::Error> {
    checker.store().set_overlay(site, enabled).await?;
    let weight = checker.site(site).overlay.weight;
    checker.overlays().reload(site, weight).await?;
    info(checker, site, 0).await
}
