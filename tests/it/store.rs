//! One behavioural suite, run against both stores: the embedded one and Redis (a real redis-server).

use std::time::Duration;

use saring::config::Limit;
use saring::moderation::ratelimit::{Admission, Bucket, Dimension};
use saring::pb;
use saring::store::embedded::EmbeddedStore;
use saring::store::redis::RedisStore;
use saring::store::{
    Begin, Error, Feedback, Hold, Keep, Lesson, OverlayCounts, Resolve, Resolved, Standing, Store,
    Taught, TrustUpdate,
};

use crate::support::Redis;

fn bucket(dimension: Dimension, subject: &str, burst: u32, per_hour: u32) -> Bucket {
    Bucket {
        dimension,
        subject: subject.into(),
        limit: Limit { burst, per_hour },
    }
}

const T0: u64 = 1_800_000_000_000_000;

async fn admits_the_burst_then_refuses_with_a_retry_time(store: &Store) {
    let b = [bucket(Dimension::Ip, "192.0.2.1", 2, 3600)];
    assert_eq!(
        store.admit("s", None, &b, T0).await.unwrap(),
        Admission::Admitted
    );
    assert_eq!(
        store.admit("s", None, &b, T0).await.unwrap(),
        Admission::Admitted
    );
    match store.admit("s", None, &b, T0).await.unwrap() {
        Admission::Refused {
            dimension,
            retry_after_us,
            burst,
            per_hour,
        } => {
            assert_eq!((dimension, burst, per_hour), (Dimension::Ip, 2, 3600));
            assert_eq!(retry_after_us, 1_000_000);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // One interval later, one more fits; sites are separate.
    assert_eq!(
        store.admit("s", None, &b, T0 + 1_000_000).await.unwrap(),
        Admission::Admitted
    );
    assert_eq!(
        store.admit("other", None, &b, T0).await.unwrap(),
        Admission::Admitted
    );
}

async fn a_refusal_counts_nothing(store: &Store) {
    let ip = bucket(Dimension::Ip, "192.0.2.2", 5, 3600);
    let author = bucket(Dimension::Author, "ann@example.org", 1, 3600);
    assert_eq!(
        store
            .admit("s", None, &[ip.clone(), author.clone()], T0)
            .await
            .unwrap(),
        Admission::Admitted
    );
    // The author bucket refuses; the IP bucket must not have been charged for it.
    for _ in 0..3 {
        let r = store
            .admit("s", None, &[ip.clone(), author.clone()], T0)
            .await
            .unwrap();
        assert!(
            matches!(
                r,
                Admission::Refused {
                    dimension: Dimension::Author,
                    ..
                }
            ),
            "{r:?}"
        );
    }
    for _ in 0..4 {
        assert_eq!(
            store
                .admit("s", None, std::slice::from_ref(&ip), T0)
                .await
                .unwrap(),
            Admission::Admitted
        );
    }
    assert!(matches!(
        store.admit("s", None, &[ip], T0).await.unwrap(),
        Admission::Refused { .. }
    ));
}

async fn concurrent_admissions_are_exact(store: Store) {
    let b = vec![bucket(Dimension::Site, "", 10, 1)];
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (store, b) = (store.clone(), b.clone());
        tasks.push(tokio::spawn(async move {
            store.admit("s", None, &b, T0).await.unwrap()
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        if t.await.unwrap() == Admission::Admitted {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 10);
}

async fn a_comment_counts_once(store: &Store) {
    let b = [bucket(Dimension::Ip, "192.0.2.9", 1, 3600)];
    let once = |id| {
        Some(saring::store::Once {
            comment_id: id,
            ttl_us: 60_000_000,
        })
    };
    assert_eq!(
        store.admit("s", once("c1"), &b, T0).await.unwrap(),
        Admission::Admitted
    );
    // A retry of c1 is free; c2 is a new comment and finds the bucket spent.
    assert_eq!(
        store.admit("s", once("c1"), &b, T0).await.unwrap(),
        Admission::Admitted
    );
    assert!(matches!(
        store.admit("s", once("c2"), &b, T0).await.unwrap(),
        Admission::Refused { .. }
    ));
}

fn held_item(id: &str, text: &str, p: f64, campaign: &str) -> pb::HeldItem {
    pb::HeldItem {
        held_id: id.into(),
        request: Some(pb::CheckCommentRequest {
            site_id: "s".into(),
            content: text.into(),
            author_email: "ann@example.org".into(),
            ..Default::default()
        }),
        response: Some(pb::CheckCommentResponse {
            decision: pb::Decision::Hold as i32,
            decision_id: id.into(),
            held_id: id.into(),
            spam_probability: p,
            ..Default::default()
        }),
        campaign_id: campaign.into(),
        ..Default::default()
    }
}

fn event(id: &str) -> pb::QueueEvent {
    pb::QueueEvent {
        held_id: id.into(),
        ..Default::default()
    }
}

async fn hold(store: &Store, id: &str, comment_id: &str) -> u64 {
    match store
        .hold("s", &held_item(id, "text", 0.5, ""), comment_id, &event(id))
        .await
        .unwrap()
    {
        Hold::Stored { sequence } => sequence,
        Hold::Existing(r) => panic!("{id} was already held as {}", r.held_id),
    }
}

fn resolution(verdict: pb::Verdict, who: &str) -> Resolve {
    Resolve {
        resolution: pb::Resolution {
            verdict: verdict as i32,
            moderator: who.into(),
            ..Default::default()
        },
        audit: pb::AuditEntry {
            actor: who.into(),
            ..Default::default()
        },
        event: event("resolved"),
        label: None,
        trust: None,
        lesson: None,
    }
}

async fn held_items_are_kept_once_per_comment_in_order(store: &Store) {
    assert_eq!(store.held("s", "h1").await.unwrap(), None);
    let s1 = hold(store, "h1", "c1").await;
    let s2 = hold(store, "h2", "").await;
    let s3 = hold(store, "h3", "").await;
    assert!(s1 < s2 && s2 < s3, "{s1} {s2} {s3}");
    let kept = store.held("s", "h1").await.unwrap().expect("kept");
    let mut expected = held_item("h1", "text", 0.5, "");
    expected.sequence = s1;
    assert_eq!(kept, expected);
    assert_eq!(store.held("other", "h1").await.unwrap(), None);
    // A retry of comment c1 under a new held id writes nothing and gets the standing item.
    match store
        .hold("s", &held_item("h9", "text", 0.5, ""), "c1", &event("h9"))
        .await
        .unwrap()
    {
        Hold::Existing(r) => assert_eq!(r.held_id, "h1"),
        other => panic!("expected the standing item, got {other:?}"),
    }
    assert_eq!(store.held("s", "h9").await.unwrap(), None);
    let ids = |v: Vec<pb::HeldItem>| v.into_iter().map(|r| r.held_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.pending("s", 0, 10).await.unwrap()),
        ["h1", "h2", "h3"]
    );
    assert_eq!(ids(store.pending("s", s1, 1).await.unwrap()), ["h2"]);
    assert_eq!(
        ids(store.pending("s", s3, 10).await.unwrap()),
        Vec::<String>::new()
    );
    // Events: one per hold, in order, after any cursor.
    let events = store.events("s", "", 10).await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[1].held_id, "h2");
    let rest = store.events("s", &events[0].cursor, 10).await.unwrap();
    assert_eq!(rest, events[1..].to_vec());
    assert_eq!(store.events_tail("s").await.unwrap(), events[2].cursor);
}

async fn a_resolution_is_kept_once_with_everything_it_changes(store: &Store) {
    hold(store, "h1", "").await;
    hold(store, "h2", "").await;
    let mut approve = resolution(pb::Verdict::Approve, "ann");
    let label = pb::LabelledExample {
        decision_id: "h1".into(),
        label: pb::FeedbackLabel::Ham as i32,
        actor: "ann".into(),
        ..Default::default()
    };
    approve.label = Some(label.clone());
    approve.trust = Some(TrustUpdate {
        author: "author-key".into(),
        approved: true,
    });
    assert_eq!(
        store.resolve("s", "h1", &approve).await.unwrap(),
        Resolved::Done(None)
    );
    // The same verdict again: nothing changes, the standing resolution is returned.
    assert_eq!(
        store.resolve("s", "h1", &approve).await.unwrap(),
        Resolved::Same(approve.resolution.clone())
    );
    assert_eq!(
        store
            .resolve("s", "h1", &resolution(pb::Verdict::RejectSpam, "bob"))
            .await
            .unwrap(),
        Resolved::Conflict(approve.resolution.clone())
    );
    assert_eq!(
        store.resolve("s", "nope", &approve).await.unwrap(),
        Resolved::NotFound
    );
    let kept = store.held("s", "h1").await.unwrap().unwrap();
    assert_eq!(kept.resolution, Some(approve.resolution.clone()));
    let pending: Vec<String> = store
        .pending("s", 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.held_id)
        .collect();
    assert_eq!(pending, ["h2"]);
    assert_eq!(store.labels("s").await.unwrap(), vec![label]);
    assert_eq!(
        store.standing("s", "author-key").await.unwrap(),
        Standing {
            approved: 1,
            spam: false
        }
    );
    // One audit entry (the repeat and the conflict wrote none); events: two holds and one resolution.
    assert_eq!(store.audit("s", "", 10).await.unwrap().len(), 1);
    assert_eq!(store.events("s", "", 10).await.unwrap().len(), 3);
    let mut spam = resolution(pb::Verdict::RejectSpam, "ann");
    spam.trust = Some(TrustUpdate {
        author: "author-key".into(),
        approved: false,
    });
    assert_eq!(
        store.resolve("s", "h2", &spam).await.unwrap(),
        Resolved::Done(None)
    );
    assert_eq!(
        store.standing("s", "author-key").await.unwrap(),
        Standing {
            approved: 1,
            spam: true
        }
    );
    assert_eq!(
        store.standing("s", "nobody").await.unwrap(),
        Standing::default()
    );
    let audit = store.audit("s", "", 10).await.unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].actor, "ann");
    assert_eq!(
        store.audit("s", &audit[0].cursor, 10).await.unwrap(),
        audit[1..].to_vec()
    );
}

async fn concurrent_moderators_resolve_once(store: Store) {
    hold(&store, "h1", "").await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let v = if i % 2 == 0 {
                    pb::Verdict::Approve
                } else {
                    pb::Verdict::RejectSpam
                };
                store
                    .resolve("s", "h1", &resolution(v, &format!("m{i}")))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Resolved::Done(None))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(store.audit("s", "", 100).await.unwrap().len(), 1);
}

async fn feedback_replaces_the_label_of_its_decision(store: &Store) {
    let label = |l: pb::FeedbackLabel| pb::LabelledExample {
        decision_id: "d1".into(),
        label: l as i32,
        origin: "feedback".into(),
        ..Default::default()
    };
    let report = |l| Feedback {
        label: label(l),
        audit: pb::AuditEntry::default(),
        trust: None,
        lesson: None,
    };
    assert!(
        !store
            .feedback("s", &report(pb::FeedbackLabel::Spam))
            .await
            .unwrap()
            .replaced
    );
    assert!(
        store
            .feedback("s", &report(pb::FeedbackLabel::Ham))
            .await
            .unwrap()
            .replaced
    );
    assert_eq!(
        store.labels("s").await.unwrap(),
        vec![label(pb::FeedbackLabel::Ham)]
    );
    assert_eq!(store.labels("other").await.unwrap(), vec![]);
    assert_eq!(store.audit("s", "", 10).await.unwrap().len(), 2);
}

async fn decisions_are_kept_for_feedback_by_id(store: &Store) {
    let now = saring_now();
    let response = response("d1");
    let record = pb::DecisionRecord {
        request: Some(pb::CheckCommentRequest {
            content: "kept".into(),
            ..Default::default()
        }),
        response: Some(response.clone()),
    };
    let keep = Keep {
        record: &record,
        ttl_us: 60_000_000,
    };
    store
        .remember("s", "c1", &response, 60_000_000, Some(keep), now)
        .await
        .unwrap();
    assert_eq!(store.decision("s", "d1", now).await.unwrap(), Some(record));
    assert_eq!(
        store
            .decision_for_comment("s", "c1", now)
            .await
            .unwrap()
            .as_deref(),
        Some("d1")
    );
    assert_eq!(store.decision("other", "d1", now).await.unwrap(), None);
    assert_eq!(
        store.decision_for_comment("s", "c2", now).await.unwrap(),
        None
    );
}

async fn sightings_count_per_band_within_the_window(store: &Store) {
    let bands = |a: &str, b: &str| vec![format!("0:{a}"), format!("1:{b}")];
    let now = saring_now();
    assert_eq!(
        store
            .sighting("s", &bands("aaaa", "bbbb"), 60_000_000, now)
            .await
            .unwrap(),
        (1, "0:aaaa".to_string())
    );
    // A near-duplicate shares one band: that band's count is the campaign's.
    assert_eq!(
        store
            .sighting("s", &bands("cccc", "bbbb"), 60_000_000, now)
            .await
            .unwrap(),
        (2, "1:bbbb".to_string())
    );
    assert_eq!(
        store
            .sighting("other", &bands("cccc", "bbbb"), 60_000_000, now)
            .await
            .unwrap()
            .0,
        1
    );
}

/// A wave that runs across a window boundary keeps its count: what was seen in the last window still
/// counts, in proportion to how much of it lies within the sliding window; two windows on, nothing does.
async fn sightings_slide_across_window_boundaries(store: &Store) {
    let bands = vec!["0:wave".to_string()];
    let window = 60_000_000;
    let start = (saring_now() / window + 1) * window;
    let seen = |at: u64| {
        let bands = bands.clone();
        async move { store.sighting("s", &bands, window, at).await.unwrap().0 }
    };
    // Late in one window: 1, 2, 3.
    for n in 1..=3 {
        assert_eq!(seen(start + 54_000_000).await, n);
    }
    // A tenth into the next: this window's 1, and nine tenths of the last one's 3 (2 whole).
    assert_eq!(seen(start + window + 6_000_000).await, 3);
    // Halfway: 2 here, and half of 3 (1).
    assert_eq!(seen(start + window + 30_000_000).await, 3);
    // Two windows later the wave has gone by.
    assert_eq!(seen(start + 3 * window + 1_000_000).await, 1);
}

async fn the_first_remembered_response_stands(store: &Store) {
    let now = saring_now();
    assert_eq!(store.recall("s", "c1", now).await.unwrap(), None);
    let first = store
        .remember("s", "c1", &response("first"), 60_000_000, None, now)
        .await
        .unwrap();
    assert_eq!(first, response("first"));
    let second = store
        .remember("s", "c1", &response("second"), 60_000_000, None, now)
        .await
        .unwrap();
    assert_eq!(second, response("first"));
    assert_eq!(
        store.recall("s", "c1", now).await.unwrap(),
        Some(response("first"))
    );
    assert_eq!(store.recall("other", "c1", now).await.unwrap(), None);
}

async fn remembered_responses_expire(store: &Store) {
    let start = saring_now();
    store
        .remember("s", "short", &response("x"), 200_000, None, start)
        .await
        .unwrap();
    // Bounded polling on the real clock: Redis expires keys itself.
    for _ in 0..100 {
        if store
            .recall("s", "short", saring_now())
            .await
            .unwrap()
            .is_none()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("a 200 ms entry was still there after 2 s");
}

fn response(decision_id: &str) -> pb::CheckCommentResponse {
    pb::CheckCommentResponse {
        decision: pb::Decision::Accept as i32,
        decision_id: decision_id.into(),
        ..Default::default()
    }
}

fn saring_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

async fn waiting_counts_and_daily_tallies_follow_holds_and_decisions(store: &Store) {
    assert_eq!(store.pending_count("s").await.unwrap(), 0);
    hold(store, "h1", "").await;
    hold(store, "h2", "").await;
    assert_eq!(store.pending_count("s").await.unwrap(), 2);
    let r = resolution(pb::Verdict::Approve, "ann");
    assert_eq!(
        store.resolve("s", "h1", &r).await.unwrap(),
        Resolved::Done(None)
    );
    assert_eq!(store.pending_count("s").await.unwrap(), 1);
    assert_eq!(store.pending_count("other").await.unwrap(), 0);

    let today = 20_000;
    for (day, d) in [
        (today, pb::Decision::Accept),
        (today, pb::Decision::Accept),
        (today, pb::Decision::Hold),
        (today - 2, pb::Decision::Reject),
        (today, pb::Decision::Unspecified),
    ] {
        store.count_decision("s", day, d).await.unwrap();
    }
    store
        .count_decision("other", today, pb::Decision::Hold)
        .await
        .unwrap();
    let days = store.daily("s", today - 3, today).await.unwrap();
    let counts: Vec<(u64, u64, u64, u64)> = days
        .iter()
        .map(|d| (d.day, d.accept, d.hold, d.reject))
        .collect();
    assert_eq!(
        counts,
        [
            (today - 3, 0, 0, 0),
            (today - 2, 0, 0, 1),
            (today - 1, 0, 0, 0),
            (today, 2, 1, 0)
        ]
    );
    // At most the retention is read, ending at the last day asked for.
    let long = store.daily("s", 0, today).await.unwrap();
    assert_eq!(long.len() as u64, saring::store::DAILY_RETENTION_DAYS + 1);
    assert_eq!(long.last().unwrap().day, today);
}

/// A lesson of `features` for a label of class `spam` from `reporter`, within generous bounds.
fn lesson(spam: bool, features: &[&str], reporter: &str) -> Lesson {
    Lesson {
        spam,
        features: features.iter().map(|f| f.to_string()).collect(),
        reporter: reporter.into(),
        max_features: 1000,
        max_per_hour: 1000,
        max_per_reporter: 1000,
        now_us: T0,
    }
}

/// Blog feedback labelling decision `id`, teaching `lesson`.
async fn teach(store: &Store, id: &str, lesson: Lesson) -> Taught {
    let label = if lesson.spam {
        pb::FeedbackLabel::Spam
    } else {
        pb::FeedbackLabel::Ham
    };
    let f = Feedback {
        label: pb::LabelledExample {
            decision_id: id.into(),
            label: label as i32,
            origin: "feedback".into(),
            ..Default::default()
        },
        audit: pb::AuditEntry::default(),
        trust: None,
        lesson: Some(lesson),
    };
    store.feedback("s", &f).await.unwrap().taught.unwrap()
}

/// The overlay's counts, by feature, without its version.
async fn counts(store: &Store) -> (u64, u64, Vec<(String, u64, u64)>) {
    let OverlayCounts {
        spam_labels,
        ham_labels,
        counts,
        ..
    } = store.overlay("s").await.unwrap();
    (spam_labels, ham_labels, counts)
}

fn c(f: &str, spam: u64, ham: u64) -> (String, u64, u64) {
    (f.to_string(), spam, ham)
}

async fn the_overlay_learns_each_label_and_takes_back_exactly_what_a_replaced_one_taught(
    store: &Store,
) {
    let t = teach(store, "d1", lesson(true, &["w:a", "w:b"], "k1")).await;
    assert_eq!(
        (t.before, t.after, t.learned, t.evicted),
        (0, 1, true, false)
    );
    assert_eq!(t.unlearned, None);
    // A moderator's verdict teaches in the same write as its label.
    hold(store, "h1", "").await;
    let mut approve = resolution(pb::Verdict::Approve, "ann");
    approve.label = Some(pb::LabelledExample {
        decision_id: "h1".into(),
        label: pb::FeedbackLabel::Ham as i32,
        ..Default::default()
    });
    approve.lesson = Some(lesson(false, &["w:b", "w:c"], "k2"));
    let Resolved::Done(Some(t)) = store.resolve("s", "h1", &approve).await.unwrap() else {
        panic!("the resolution taught nothing");
    };
    assert_eq!((t.before, t.after, t.learned), (1, 2, true));
    let taught_once = (1, 1, vec![c("w:a", 1, 0), c("w:b", 1, 1), c("w:c", 0, 1)]);
    assert_eq!(counts(store).await, taught_once);

    // The blog changes its mind about d1: what the spam label taught is taken back, exactly.
    let t = teach(store, "d1", lesson(false, &["w:a", "w:b"], "k1")).await;
    assert_eq!(t.unlearned, Some((true, vec!["w:a".into(), "w:b".into()])));
    assert_eq!(
        counts(store).await,
        (0, 2, vec![c("w:a", 0, 1), c("w:b", 0, 2), c("w:c", 0, 1)])
    );
    // And back again: the same counts as after the first time.
    teach(store, "d1", lesson(true, &["w:a", "w:b"], "k1")).await;
    assert_eq!(counts(store).await, taught_once);
    // A check reads the version in its first round trip.
    let began = store
        .begin(
            "s",
            Begin {
                overlay: true,
                ..Begin::at(T0)
            },
        )
        .await
        .unwrap();
    assert_eq!(began.overlay, Some((4, true)));
    // Another site's overlay is its own.
    assert_eq!(
        store.overlay("other").await.unwrap(),
        OverlayCounts::default()
    );
}

async fn the_overlay_is_bounded_per_reporter_per_hour_and_in_features(store: &Store) {
    // One reporter's weight is capped: its third label teaches nothing (the label itself stays).
    let capped = || Lesson {
        max_per_reporter: 2,
        ..lesson(true, &["w:x"], "k1")
    };
    assert!(teach(store, "r1", capped()).await.learned);
    assert!(teach(store, "r2", capped()).await.learned);
    let third = teach(store, "r3", capped()).await;
    assert!(!third.learned && third.after == third.before);
    assert_eq!(counts(store).await, (2, 0, vec![c("w:x", 2, 0)]));
    // Another reporter still teaches.
    assert!(
        teach(store, "r4", lesson(true, &["w:x"], "k2"))
            .await
            .learned
    );

    // At most so many labels an hour; the next hour teaches again.
    let hourly = |now_us: u64| Lesson {
        max_per_hour: 1,
        now_us,
        ..lesson(false, &["w:y"], "k3")
    };
    let next_hour = T0 + 3_600_000_000;
    assert!(teach(store, "h1", hourly(next_hour)).await.learned);
    assert!(!teach(store, "h2", hourly(next_hour + 1)).await.learned);
    assert!(
        teach(store, "h3", hourly(next_hour + 3_600_000_000))
            .await
            .learned
    );

    // Past `max_features`, the least used are forgotten (fewest labels first, then by name): `w:p`
    // and `w:q` are in one label each, `w:x` in three and `w:y` in two.
    let many = Lesson {
        max_features: 3,
        ..lesson(true, &["w:p", "w:q"], "k4")
    };
    let t = teach(store, "f1", many).await;
    assert!(t.learned && t.evicted);
    let kept: Vec<String> = counts(store).await.2.into_iter().map(|c| c.0).collect();
    assert_eq!(kept, ["w:q", "w:x", "w:y"]);
}

async fn an_admin_turns_the_overlay_off_and_resets_it(store: &Store) {
    teach(store, "d1", lesson(true, &["w:a"], "k1")).await;
    let v = store.set_overlay("s", false).await.unwrap();
    let began = store
        .begin(
            "s",
            Begin {
                overlay: true,
                ..Begin::at(T0)
            },
        )
        .await
        .unwrap();
    assert_eq!(began.overlay, Some((v, false)));
    // Off: it learns nothing new, and keeps what it had.
    assert!(
        !teach(store, "d2", lesson(true, &["w:b"], "k1"))
            .await
            .learned
    );
    assert_eq!(counts(store).await, (1, 0, vec![c("w:a", 1, 0)]));
    assert!(store.overlay("s").await.unwrap().disabled);
    store.set_overlay("s", true).await.unwrap();
    assert!(
        teach(store, "d3", lesson(true, &["w:b"], "k1"))
            .await
            .learned
    );
    // A reset forgets everything it learned; the switch stays.
    let before = store.overlay("s").await.unwrap().version;
    let after = store.reset_overlay("s").await.unwrap();
    assert!(after > before);
    assert_eq!(counts(store).await, (0, 0, Vec::new()));
    // A label taught before the reset and replaced after takes back nothing it no longer has.
    let t = teach(store, "d1", lesson(false, &["w:a"], "k1")).await;
    assert_eq!(t.unlearned, None);
    assert_eq!(counts(store).await, (0, 1, vec![c("w:a", 0, 1)]));
}

pub(crate) async fn suite(make: impl Fn() -> Store) {
    admits_the_burst_then_refuses_with_a_retry_time(&make()).await;
    a_refusal_counts_nothing(&make()).await;
    concurrent_admissions_are_exact(make()).await;
    a_comment_counts_once(&make()).await;
    held_items_are_kept_once_per_comment_in_order(&make()).await;
    a_resolution_is_kept_once_with_everything_it_changes(&make()).await;
    concurrent_moderators_resolve_once(make()).await;
    feedback_replaces_the_label_of_its_decision(&make()).await;
    decisions_are_kept_for_feedback_by_id(&make()).await;
    sightings_count_per_band_within_the_window(&make()).await;
    sightings_slide_across_window_boundaries(&make()).await;
    the_first_remembered_response_stands(&make()).await;
    remembered_responses_expire(&make()).await;
    waiting_counts_and_daily_tallies_follow_holds_and_decisions(&make()).await;
    the_overlay_learns_each_label_and_takes_back_exactly_what_a_replaced_one_taught(&make()).await;
    the_overlay_is_bounded_per_reporter_per_hour_and_in_features(&make()).await;
    an_admin_turns_the_overlay_off_and_resets_it(&make()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_embedded_store_passes_the_suite() {
    suite(|| Store::embedded(EmbeddedStore::open_in_memory())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_redis_store_passes_the_suite() {
    // A fresh redis-server per case, so cases cannot see each other's keys.
    let servers: Vec<Redis> = (0..17).map(|_| Redis::start()).collect();
    let mut stores = Vec::new();
    for r in &servers {
        stores.push(redis_store(r).await);
    }
    let next = std::sync::Mutex::new(stores.into_iter());
    suite(|| next.lock().unwrap().next().expect("one store per case")).await;
}

async fn redis_store(redis: &Redis) -> Store {
    let store = RedisStore::connect(&redis.url(), Duration::from_secs(2))
        .await
        .unwrap();
    Store::redis(store)
}

#[tokio::test]
async fn redis_reloads_its_scripts_after_a_flush() {
    let redis = Redis::start();
    let store = redis_store(&redis).await;
    let b = [bucket(Dimension::Ip, "192.0.2.3", 1, 3600)];
    assert_eq!(
        store.admit("s", None, &b, T0).await.unwrap(),
        Admission::Admitted
    );
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    // EVALSHA now fails with NOSCRIPT; the store must reload and still count correctly.
    assert!(matches!(
        store.admit("s", None, &b, T0).await.unwrap(),
        Admission::Refused { .. }
    ));
    let ttl: i64 = redis::cmd("PTTL")
        .arg("saring:{s}:rl:ip:192.0.2.3")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0, "every key has a TTL, got {ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dropped_embedded_store_releases_its_file_at_once() {
    // The writer thread holds the database; dropping the store must end it before returning, so the
    // next opener (another process, `saring export-feedback`) never meets the file still locked.
    let dir = tempfile::tempdir().unwrap();
    for i in 0..20 {
        let store = Store::embedded(
            EmbeddedStore::open(dir.path()).expect("opens at once after the last drop"),
        );
        let key = pb::ApiKey {
            id: format!("k{i}"),
            ..Default::default()
        };
        store.put_key(&key).await.unwrap();
        drop(store);
    }
}

/// After `h1`, held for comment `c1`, was deleted by hand (an operator erasing a commenter's data):
/// a retry of `c1` is held again, not refused for ever, and the comment's marker then points at the new
/// item.
async fn a_comment_is_held_again(store: &Store) {
    assert_eq!(store.held("s", "h1").await.unwrap(), None);
    hold(store, "h2", "c1").await;
    assert!(store.held("s", "h2").await.unwrap().is_some());
    match store
        .hold("s", &held_item("h3", "text", 0.5, ""), "c1", &event("h3"))
        .await
        .unwrap()
    {
        Hold::Existing(r) => assert_eq!(r.held_id, "h2"),
        other => panic!("expected the new standing item, got {other:?}"),
    }
}

#[tokio::test]
async fn redis_holds_again_a_comment_whose_item_was_deleted_by_hand() {
    let redis = Redis::start();
    let store = redis_store(&redis).await;
    hold(&store, "h1", "c1").await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let deleted: i64 = redis::cmd("HDEL")
        .arg("saring:{s}:items")
        .arg("h1")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    a_comment_is_held_again(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_embedded_store_holds_again_a_comment_whose_item_was_deleted_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::embedded(EmbeddedStore::open(dir.path()).unwrap());
    hold(&store, "h1", "c1").await;
    drop(store);
    {
        // The table as the store defines it: held items keyed by site, NUL, held id.
        let held: redb::TableDefinition<'_, &str, &[u8]> = redb::TableDefinition::new("held");
        let db = redb::Database::create(dir.path().join(saring::store::embedded::DATABASE_FILE))
            .unwrap();
        let txn = db.begin_write().unwrap();
        assert!(txn
            .open_table(held)
            .unwrap()
            .remove("s\u{0}h1")
            .unwrap()
            .is_some());
        txn.commit().unwrap();
    }
    a_comment_is_held_again(&Store::embedded(EmbeddedStore::open(dir.path()).unwrap())).await;
}

/// A record that does not decode is corruption, which a retry will not mend: the store says so, and
/// the API answers INTERNAL rather than UNAVAILABLE ("retry").
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_record_that_does_not_decode_is_corrupt_not_unavailable() {
    let redis = Redis::start();
    let store = redis_store(&redis).await;
    hold(&store, "h1", "").await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("HSET")
        .arg("saring:{s}:items")
        .arg("h1")
        .arg(&b"\xff\xff\xff not protobuf"[..])
        .query_async(&mut conn)
        .await
        .unwrap();
    let err = store.held("s", "h1").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                what: "held item",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_transient());

    let server =
        crate::server::TestServer::start_with(saring::config::Config::default(), store).await;
    let status = server
        .queue()
        .await
        .get_held(pb::GetHeldRequest {
            site_id: "s".into(),
            held_id: "h1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Internal);
}

/// Once a health check has found the store down, a check's steps and key look-ups fail at once with
/// `Down` (a check then decides degraded without waiting), while a moderator's read is still tried and
/// fails on its own; when the store answers again, the next health check lets everything through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_known_down_refuses_check_steps_at_once_and_recovers() {
    let redis = Redis::start();
    let store = redis_store(&redis).await;
    assert!(store.check_health().await);
    redis.pause();
    assert!(!store.check_health().await);
    assert!(!store.is_up());
    let b = [bucket(Dimension::Ip, "192.0.2.4", 1, 3600)];
    // `Down` is only ever answered before anything is sent.
    assert!(matches!(
        store.admit("s", None, &b, T0).await,
        Err(Error::Down)
    ));
    assert!(matches!(store.key("k").await, Err(Error::Down)));
    let read = store.held("s", "h1").await.unwrap_err();
    assert!(
        !matches!(read, Error::Down) && read.is_transient(),
        "{read:?}"
    );
    redis.resume();
    assert!(store.check_health().await);
    assert_eq!(
        store.admit("s", None, &b, T0).await.unwrap(),
        Admission::Admitted
    );
}
