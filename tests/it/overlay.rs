//! Every site teaches its own overlay, over real gRPC on both stores: the blog's reports and the
//! moderators' verdicts move that site's checks (and only that site's), a reversed label gives back
//! exactly what it taught, the overlay alone never rejects, two replicas sharing a Redis score with the
//! same overlay, its bounds hold against one noisy reporter, and an admin sees, turns off and resets it.

use std::time::Duration;

use saring::config::{Config, Overlay, SiteOverride};
use saring::pb::model_admin_client::ModelAdminClient;
use saring::pb::{self, Decision, Role};
use saring::store::Store;
use tonic::transport::Channel;

use crate::auth::with_key;
use crate::queue::config as open_limits;
use crate::server::{request, TestServer};

/// The site the people teach.
const SITE: &str = "blog";
/// A site with the same settings that nobody taught: the shipped model alone.
const UNTAUGHT: &str = "fresh";

/// The site's reject line: low, so that what the overlay pushes could cross it, but above what the
/// shipped model alone gives the probe.
const REJECT_AT: f64 = 0.8;

/// A site's settings: low cut points, so that what the overlay pushes could cross the reject line.
fn site(overlay: Overlay) -> SiteOverride {
    SiteOverride {
        accept_below_probability: Some(0.2),
        reject_at_probability: Some(REJECT_AT),
        overlay: Some(overlay),
        ..SiteOverride::default()
    }
}

fn config(overlay: Overlay) -> Config {
    let mut c = open_limits();
    c.campaign.enabled = false;
    c.sites.insert(SITE.into(), site(overlay));
    c.sites.insert(UNTAUGHT.into(), site(overlay));
    c
}

/// The campaign the site's moderators see: a made-up brand and its host, in varied sentences.
fn spam(i: usize) -> String {
    format!("zorblax deals at zorblax-promo.example today, claim code {i} before midnight")
}

/// What the site's readers write.
fn ham(i: usize) -> String {
    format!("I rebuilt the garden shed this weekend, step {i} of the guide took longest")
}

/// Another comment with the campaign's words, not one the site labelled.
const PROBE: &str = "heard about zorblax deals from a friend, zorblax-promo.example has them";

fn comment(site: &str, id: &str, content: &str) -> pb::CheckCommentRequest {
    let mut r = request(site, content);
    r.comment_id = id.into();
    r
}

fn codes(r: &pb::CheckCommentResponse) -> Vec<&str> {
    r.reasons.iter().map(|r| r.code.as_str()).collect()
}

struct Site {
    server: TestServer,
    service: String,
    admin: String,
}

async fn start(config: Config, store: Store) -> Site {
    let sites = vec![SITE.to_string(), UNTAUGHT.to_string()];
    let (_, service) = saring::access::keys::create(&store, Role::Service, &sites, "blog")
        .await
        .unwrap();
    let (_, admin) = saring::access::keys::create(&store, Role::Admin, &[], "ops")
        .await
        .unwrap();
    let server = TestServer::start_authed(config, store).await;
    Site {
        server,
        service,
        admin,
    }
}

impl Site {
    async fn check(&self, r: pb::CheckCommentRequest) -> pb::CheckCommentResponse {
        let mut c = self.server.client().await;
        c.check_comment(with_key(&self.service, r))
            .await
            .unwrap()
            .into_inner()
    }

    async fn report(&self, decision_id: &str, label: pb::FeedbackLabel) {
        let mut c = self.server.client().await;
        c.submit_feedback(with_key(
            &self.service,
            pb::SubmitFeedbackRequest {
                site_id: SITE.into(),
                target: Some(pb::submit_feedback_request::Target::DecisionId(
                    decision_id.into(),
                )),
                label: label as i32,
                reporter: "blog".into(),
            },
        ))
        .await
        .unwrap();
    }

    async fn admin(&self) -> ModelAdminClient<Channel> {
        ModelAdminClient::new(self.server.channel().await)
    }

    async fn overlay(&self) -> pb::OverlayInfo {
        let mut a = self.admin().await;
        a.get_overlay(with_key(
            &self.admin,
            pb::GetOverlayRequest {
                site_id: SITE.into(),
                top: 50,
            },
        ))
        .await
        .unwrap()
        .into_inner()
    }

    /// Check the site's campaign and its readers' comments, and report each as what it is; the
    /// decision ids of the spam.
    async fn teach(&self, n: usize) -> Vec<String> {
        let mut spam_ids = Vec::new();
        for i in 0..n {
            let s = self.check(comment(SITE, &format!("s{i}"), &spam(i))).await;
            self.report(&s.decision_id, pb::FeedbackLabel::Spam).await;
            spam_ids.push(s.decision_id);
            let h = self.check(comment(SITE, &format!("h{i}"), &ham(i))).await;
            self.report(&h.decision_id, pb::FeedbackLabel::Ham).await;
        }
        spam_ids
    }
}

fn token<'a>(list: &'a [pb::OverlayToken], name: &str) -> Option<&'a pb::OverlayToken> {
    list.iter().find(|t| t.token == name)
}

both_stores!(
    a_site_s_labels_move_its_checks_and_a_reversed_label_gives_back_exactly,
    an_admin_sees_turns_off_and_resets_a_site_s_overlay,
);

async fn a_site_s_labels_move_its_checks_and_a_reversed_label_gives_back_exactly(store: Store) {
    let s = start(config(Overlay::default()), store).await;
    // Before any label, the site and the untaught one decide alike.
    let before = s.check(comment(SITE, "p0", PROBE)).await;
    let base = s.check(comment(UNTAUGHT, "p0", PROBE)).await;
    assert_eq!(before.spam_probability, base.spam_probability);
    assert!(!codes(&before).contains(&"overlay.score"));

    let spam_ids = s.teach(8).await;
    let taught = s.overlay().await;
    assert_eq!((taught.spam_labels, taught.ham_labels), (8, 8));
    let brand = token(&taught.towards_spam, "w:zorblax").expect("the brand pushes towards spam");
    assert_eq!((brand.spam, brand.ham), (8, 0));
    let host = "url.host:zorblax-promo.example";
    assert!(token(&taught.towards_spam, host).is_some(), "{taught:?}");
    assert!(
        token(&taught.towards_ham, "w:garden").is_some(),
        "{taught:?}"
    );

    // The next comment with the campaign's words is pushed towards spam, and the reasons say why.
    let after = s.check(comment(SITE, "p1", PROBE)).await;
    assert!(
        after.spam_probability > before.spam_probability,
        "{before:?} then {after:?}"
    );
    let named: Vec<&str> = after
        .reasons
        .iter()
        .filter(|r| r.code == "overlay.token")
        .map(|r| r.detail.as_str())
        .collect();
    assert!(
        named
            .iter()
            .any(|d| d.starts_with("w:zorblax") || d.starts_with("url.host:zorblax-promo")),
        "{after:?}"
    );
    // The overlay pushed it past this site's reject line, but on its own it does not reject: the
    // shipped model would not, so a person decides.
    assert!(after.spam_probability >= REJECT_AT, "{after:?}");
    assert_ne!(base.decision(), Decision::Reject, "{base:?}");
    assert_eq!(after.decision(), Decision::Hold, "{after:?}");
    assert!(codes(&after).contains(&"overlay.score"));
    // Another site learned nothing.
    let elsewhere = s.check(comment(UNTAUGHT, "p1", PROBE)).await;
    assert_eq!(elsewhere.spam_probability, base.spam_probability);

    // The blog was wrong about the "spam": each report replaced takes back exactly what it taught.
    for id in &spam_ids {
        s.report(id, pb::FeedbackLabel::Ham).await;
    }
    let flipped = s.overlay().await;
    assert_eq!((flipped.spam_labels, flipped.ham_labels), (0, 16));
    assert!(flipped.towards_spam.is_empty(), "{flipped:?}");
    // With labels of one class only, nothing pushes: the probe is scored as the model scores it.
    let now = s.check(comment(SITE, "p2", PROBE)).await;
    assert_eq!(now.spam_probability, base.spam_probability);
    // And back again: the same overlay as before, but for its version.
    for id in &spam_ids {
        s.report(id, pb::FeedbackLabel::Spam).await;
    }
    let again = s.overlay().await;
    assert!(again.version > taught.version);
    assert_eq!(
        pb::OverlayInfo {
            version: 0,
            ..again
        },
        pb::OverlayInfo {
            version: 0,
            ..taught
        }
    );
}

async fn an_admin_sees_turns_off_and_resets_a_site_s_overlay(store: Store) {
    let s = start(config(Overlay::default()), store).await;
    s.teach(6).await;
    let mut a = s.admin().await;
    let switch = |enabled| {
        with_key(
            &s.admin,
            pb::SetOverlayRequest {
                site_id: SITE.into(),
                enabled,
            },
        )
    };
    let off = a.set_overlay(switch(false)).await.unwrap().into_inner();
    assert!(!off.enabled && off.configured);
    let base = s.check(comment(UNTAUGHT, "p", PROBE)).await;
    let while_off = s.check(comment(SITE, "p-off", PROBE)).await;
    assert!(!codes(&while_off).contains(&"overlay.score"));
    assert_eq!(while_off.spam_probability, base.spam_probability);
    let on = a.set_overlay(switch(true)).await.unwrap().into_inner();
    assert!(on.enabled);
    let while_on = s.check(comment(SITE, "p-on", PROBE)).await;
    assert!(codes(&while_on).contains(&"overlay.score"));

    let reset = a
        .reset_overlay(with_key(
            &s.admin,
            pb::ResetOverlayRequest {
                site_id: SITE.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reset.spam_labels, reset.ham_labels, reset.features),
        (0, 0, 0)
    );
    let after_reset = s.check(comment(SITE, "p-reset", PROBE)).await;
    assert!(!codes(&after_reset).contains(&"overlay.score"));
    // Only an admin may look.
    let status = a
        .get_overlay(with_key(
            &s.service,
            pb::GetOverlayRequest {
                site_id: SITE.into(),
                top: 5,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
}

/// One reporter's weight is capped, and a site whose configuration turns the overlay off learns nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_reporter_teaches_at_most_its_share_and_an_overlay_off_in_the_config_learns_nothing() {
    let capped = Overlay {
        max_labels_per_reporter: 3,
        ..Overlay::default()
    };
    let s = start(
        config(capped),
        saring::store::embedded::EmbeddedStore::open_in_memory().into(),
    )
    .await;
    s.teach(5).await;
    let info = s.overlay().await;
    // The one service key reported ten labels; three of them teach.
    assert_eq!(info.spam_labels + info.ham_labels, 3, "{info:?}");

    let off = Overlay {
        enabled: false,
        ..Overlay::default()
    };
    let s = start(
        config(off),
        saring::store::embedded::EmbeddedStore::open_in_memory().into(),
    )
    .await;
    s.teach(3).await;
    let info = s.overlay().await;
    assert!(!info.configured && !info.enabled);
    assert_eq!((info.version, info.spam_labels, info.ham_labels), (0, 0, 0));
}

/// Two replicas sharing one Redis: what one replica's moderators teach, the other scores with.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_one_replica_learns_the_other_scores_with() {
    let redis = crate::support::Redis::start();
    let open = || async {
        let store = saring::store::redis::RedisStore::connect(&redis.url(), Duration::from_secs(2))
            .await
            .unwrap();
        Store::redis(store)
    };
    let a = start(config(Overlay::default()), open().await).await;
    // The second replica uses the keys the first made.
    let b = Site {
        server: TestServer::start_authed(config(Overlay::default()), open().await).await,
        service: a.service.clone(),
        admin: a.admin.clone(),
    };
    let base = b.check(comment(SITE, "p0", PROBE)).await;
    a.teach(8).await;
    // B learns of the new version from its next check's first round trip and reads the overlay in
    // the background: within a few checks it scores with it.
    let mut seen = None;
    for i in 0..100 {
        let r = b.check(comment(SITE, &format!("pb{i}"), PROBE)).await;
        if codes(&r).contains(&"overlay.score") {
            seen = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = seen.expect("replica B scores with what A learned");
    assert!(seen.spam_probability > base.spam_probability);
    let on_a = a.check(comment(SITE, "pa", PROBE)).await;
    assert_eq!(on_a.spam_probability, seen.spam_probability);
    assert_eq!(a.overlay().await, b.overlay().await);
}

/// A moderator's verdict on a held comment teaches too, and `saring overlay show` prints what it
/// learned, through the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_moderator_s_verdict_teaches_and_the_overlay_command_shows_it() {
    // The shipped model's own cut points, and a term that holds whatever the model says.
    let mut c = open_limits();
    c.campaign.enabled = false;
    c.rules.moderation_terms = vec!["refund".into()];
    let store: Store = saring::store::embedded::EmbeddedStore::open_in_memory().into();
    let sites = vec![SITE.to_string()];
    let (_, moderator) = saring::access::keys::create(&store, Role::Moderator, &sites, "ann")
        .await
        .unwrap();
    let s = start(c, store).await;
    let held = s
        .check(comment(
            SITE,
            "r1",
            "refund zorblax tickets, visit zorblax-promo.example",
        ))
        .await;
    assert_eq!(held.decision(), Decision::Hold);
    let mut q = s.server.queue().await;
    q.resolve_held(with_key(
        &moderator,
        pb::ResolveHeldRequest {
            site_id: SITE.into(),
            held_ids: vec![held.held_id.clone()],
            verdict: pb::Verdict::RejectSpam as i32,
            moderator: "ann".into(),
            ..Default::default()
        },
    ))
    .await
    .unwrap();
    let info = s.overlay().await;
    assert_eq!((info.spam_labels, info.ham_labels), (1, 0));
    assert!(info.features > 0);

    // Two more labels of each class, so that features push, then the command line.
    s.teach(2).await;
    let url = format!("http://{}", s.server.addr);
    let out = tokio::task::block_in_place(|| {
        crate::support::saring(&[
            "overlay", "show", "--site", SITE, "--top", "100", "--json", "--server", &url, "--key",
            &s.admin,
        ])
    });
    crate::support::assert_success(&out);
    let shown: serde_json::Value = serde_json::from_str(&crate::support::stdout(&out)).unwrap();
    assert_eq!(shown["spam_labels"], 3);
    assert_eq!(shown["ham_labels"], 2);
    let spammy: Vec<&str> = shown["towards_spam"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["token"].as_str())
        .collect();
    assert!(spammy.contains(&"w:zorblax"), "{shown}");
}
