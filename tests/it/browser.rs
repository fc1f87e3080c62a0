//! The moderator's page in a real browser: headless Chromium driven over WebDriver against a real
//! `saring serve` (with Redis, and with the embedded store). Sign in; the header names the serving
//! model; comments held over gRPC appear without a reload; approve one with its button and one from the
//! keyboard (`j`/`k` move, `a` approves), undo one with `u` (nothing reaches the store), reject three as
//! spam in bulk, and the store and the audit log agree; hostile comments are shown as text and run
//! nothing; a moderator of one site can neither see nor resolve another's, in the page or by calling
//! the API from it. Saves a screenshot.
//!
//! On a phone-sized window, in a browser set to Indonesian (on Redis): the interface is Indonesian,
//! nothing scrolls sideways, the decision buttons can be tapped; with the store frozen decisions fail
//! and say so with Retry; once it thaws, one found resolved the same way meanwhile goes with a note
//! that says so, Retry saves the other, and each is in the store and the audit log once. The page's
//! files stay under 100 KB.
//!
//! Needs `chromium` and `chromedriver` (`scripts/test.sh` installs them). Where they cannot be
//! installed, `scripts/test.sh` says so and sets `SARING_SKIP_BROWSER` to the reason; only then does
//! this test skip (saying why). Without that variable a missing browser fails the test.

use std::time::Duration;

use saring::pb::model_admin_client::ModelAdminClient;
use saring::pb::moderation_client::ModerationClient;
use saring::pb::moderation_queue_client::ModerationQueueClient;
use saring::pb::{self, Decision, Role, Verdict};
use serde_json::json;
use tonic::transport::Channel;

use crate::auth::with_key;
use crate::http::Http;
use crate::server::request;
use crate::support::{Redis, Serve};
use crate::webdriver::Driver;

const SITE: &str = "myblog";
const OTHER: &str = "berita";
/// How long the page may take to show what the server did: its stream polls every 200 ms, and a
/// decision waits 5 s for undo before it is sent.
const PATIENCE: Duration = Duration::from_secs(30);

struct Keys {
    service: String,
    moderator: String,
    other_moderator: String,
    admin: String,
}

/// Keys made on the store before the server starts: a service key for both sites, a moderator key
/// for [`SITE`] only, one for [`OTHER`] only, and an admin key (to ask which model serves).
async fn make_keys(store: &saring::store::Store) -> Keys {
    use saring::access::keys::create;
    let both = vec![SITE.to_string(), OTHER.to_string()];
    let (_, service) = create(store, Role::Service, &both, "blog").await.unwrap();
    let (_, moderator) = create(store, Role::Moderator, &[SITE.to_string()], "ann key")
        .await
        .unwrap();
    let (_, other_moderator) = create(store, Role::Moderator, &[OTHER.to_string()], "budi key")
        .await
        .unwrap();
    let (_, admin) = create(store, Role::Admin, &[], "ops").await.unwrap();
    Keys {
        service,
        moderator,
        other_moderator,
        admin,
    }
}

fn browser_or_skip() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    match crate::webdriver::binaries() {
        Ok(b) => Some(b),
        Err(why) => match std::env::var("SARING_SKIP_BROWSER") {
            Ok(reason) => {
                eprintln!("SKIPPED the browser test: {why} ({reason})");
                None
            }
            Err(_) => panic!("{why}; to skip this test on a machine that cannot have them, set SARING_SKIP_BROWSER to the reason"),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_moderator_works_the_queue_in_a_real_browser_on_redis() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let redis = Redis::start();
    let store = saring::store::Store::from(
        saring::store::redis::RedisStore::connect(&redis.url(), Duration::from_secs(2))
            .await
            .unwrap(),
    );
    let keys = make_keys(&store).await;
    let serve = Serve::start(&["--redis-url", &redis.url(), "--config", &config_file()]);
    work_the_queue(&serve, &keys, browser, Some("moderator-page.png")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_moderator_works_the_queue_in_a_real_browser_on_the_embedded_store() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = {
        let store = saring::store::Store::from(
            saring::store::embedded::EmbeddedStore::open(&data).unwrap(),
        );
        make_keys(&store).await
        // Dropped here: the file is free for the server.
    };
    let serve = Serve::start(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        &config_file(),
    ]);
    work_the_queue(&serve, &keys, browser, None).await;
}

/// The page's four files, as served, stay under the "no framework bundle over 100 KB".
const PAGE_BUDGET_BYTES: usize = 100_000;

/// A moderator whose browser speaks Indonesian, on a phone: the page is in Indonesian, fits the
/// screen without scrolling sideways, and its decision buttons are there to tap. Decisions made while
/// the store is frozen fail and are shown failed with Retry (one note counting them); once the store
/// is back, one found resolved the same way meanwhile goes with a note saying so, and a tap on Retry
/// (clear of the notes) saves the other: each once in the store and once in the audit log. Also: the
/// page's files stay small.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_a_phone_in_indonesian_a_decision_that_failed_is_shown_and_retried() {
    let Some((chromium, chromedriver)) = browser_or_skip() else {
        return;
    };
    let redis = Redis::start();
    let store = saring::store::Store::from(
        saring::store::redis::RedisStore::connect(&redis.url(), Duration::from_secs(2))
            .await
            .unwrap(),
    );
    let keys = make_keys(&store).await;
    let serve = Serve::start(&["--redis-url", &redis.url(), "--config", &config_file()]);

    let http = Http::new();
    let mut bytes = 0;
    for path in ["/", "/app.js", "/i18n.js", "/app.css"] {
        let r = http.get(&format!("http://{}{path}", serve.admin)).await;
        assert_eq!(r.status, 200, "{path}");
        bytes += r.body.len();
    }
    assert!(
        bytes <= PAGE_BUDGET_BYTES,
        "the page's files total {bytes} bytes, over {PAGE_BUDGET_BYTES}"
    );

    // One comment with a long unbroken link in its text and author URL: it must not widen the page.
    let grpc = channel(&serve).await;
    let link = format!("https://contoh.example/bukti/{}", "transfer".repeat(20));
    let mut long = comment(
        SITE,
        &format!("Saya minta refund, buktinya di {link} mohon dicek"),
        "Wulan Sari",
    );
    long.author_url = link.clone();
    let first = hold_request(&grpc, &keys.service, long).await;
    let second = hold(
        &grpc,
        &keys.service,
        SITE,
        "Refund ongkir belum masuk ke rekening saya.",
        "Rudi",
    )
    .await;

    let driver = Driver::start(&chromedriver).await;
    let profile = tempfile::tempdir().unwrap();
    let page = driver
        .session_in(&chromium, profile.path(), Some("id-ID,id"))
        .await;
    page.set_window_size(390, 844).await;
    page.goto(&format!("http://{}/", serve.admin)).await;
    page.until(
        "the sign-in form, in Indonesian",
        "return !document.querySelector('#signin').hidden && document.documentElement.lang === 'id' \
         && document.querySelector('#signin-btn').textContent === 'Masuk'",
        PATIENCE,
    )
    .await;
    page.type_into(&page.find("#key").await, &keys.moderator)
        .await;
    page.type_into(&page.find("#name").await, "Sari").await;
    page.click(&page.find("#signin-btn").await).await;
    page.until(
        "two held comments listed, live, in Indonesian",
        "return document.querySelectorAll('#list .item').length === 2 \
         && document.querySelector('#live').dataset.state === 'live' \
         && document.querySelector('#live-text').textContent === 'langsung'",
        PATIENCE,
    )
    .await;
    let item = format!(".item[data-id=\"{first}\"]");
    let labels = page
        .script(
            "const it = document.querySelector(arguments[0]); \
             return ['approve', 'reject_spam', 'reject_other'].map((a) => \
             it.querySelector(`button[data-act=\"${a}\"] span`).textContent);",
            json!([item]),
        )
        .await;
    assert_eq!(labels, json!(["Setujui", "Spam", "Tolak (lainnya)"]));

    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("moderator-page-phone.png");
    std::fs::write(&shot, page.screenshot().await).unwrap();
    eprintln!("screenshot: {}", shot.display());
    // A phone's width: nothing scrolls sideways, and each decision button of the first comment lies
    // within the screen's width, is big enough to tap, and is what a tap on its middle reaches.
    let fit = fits_a_phone(&page, &item).await;
    let width = fit["width"].as_f64().unwrap();
    assert!(width <= 400.0, "not a phone's width: {fit}");
    assert!(fit["scroll"].as_f64().unwrap() <= width, "{fit}");
    for b in fit["buttons"].as_array().unwrap() {
        let n = |k: &str| b[k].as_f64().unwrap();
        assert!(n("left") >= 0.0 && n("right") <= width, "{b}");
        assert!(
            n("width") >= 24.0 && n("height") >= 24.0,
            "too small to tap: {b}"
        );
        assert_eq!(b["reached"], true, "something covers it: {b}");
    }

    // The store freezes: both comments approved, the decisions, sent after their undo time, fail;
    // each says so with Retry, and one note (not one a call: a phone has no room) counts them.
    redis.pause();
    let other = format!(".item[data-id=\"{second}\"]");
    for it in [&item, &other] {
        page.click(
            &page
                .find(&format!("{it} button[data-act=\"approve\"]"))
                .await,
        )
        .await;
    }
    page.until(
        "both decisions failed, each with Retry, in Indonesian",
        &format!(
            "return [{item}, {other}].every((sel) => {{ \
               const it = document.querySelector(sel); \
               const retry = it && it.querySelector('.state button[data-act=\"retry\"]'); \
               return !!retry && it.classList.contains('failed') && retry.textContent === 'Coba lagi' \
                 && it.querySelector('.state').textContent.startsWith('Tidak tersimpan') \
                 && it.querySelector('.state').textContent.includes('(UNAVAILABLE)'); }}) \
             && document.querySelector('#retry-all').textContent === 'Ulangi yang gagal (2)' \
             && document.querySelector('#status').textContent.includes('2 keputusan') \
             && document.querySelectorAll('#toasts .toast.error').length <= 1",
            item = json!(item),
            other = json!(other)
        ),
        PATIENCE,
    )
    .await;
    let fit = fits_a_phone(&page, &item).await;
    assert!(fit["scroll"].as_f64().unwrap() <= width, "{fit}");

    // The store thaws; once the server is ready again, a tap on Retry saves the decision.
    redis.resume();
    let ready = format!("http://{}/readyz", serve.admin);
    let deadline = std::time::Instant::now() + PATIENCE;
    while http.get(&ready).await.status != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not become ready after the store thawed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // One of them is found resolved the same way (as when a call that failed here was applied and
    // only its answer was lost): the page says it was decided as the moderator decided, not that her
    // decision was not applied, and lets it go.
    let mut queue = ModerationQueueClient::new(grpc.clone());
    queue
        .resolve_held(with_key(
            &keys.moderator,
            pb::ResolveHeldRequest {
                site_id: SITE.into(),
                held_ids: vec![second.clone()],
                verdict: Verdict::Approve as i32,
                moderator: "Sari".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    page.until(
        "the comment resolved the same way gone, with a note that says so",
        &format!(
            "return !document.querySelector({other}) && document.querySelector('#status').textContent \
             .includes('disetujui oleh Sari, sesuai keputusan Anda')",
            other = json!(other)
        ),
        PATIENCE,
    )
    .await;
    // The notes cover the bottom of a phone's screen; the page leaves room to scroll Retry clear of
    // them (the click fails if a note would take it).
    page.click(
        &page
            .find(&format!("{item} button[data-act=\"retry\"]"))
            .await,
    )
    .await;
    page.until(
        "the retried decision saved: the comment gone, none left",
        "return document.querySelectorAll('#list .item').length === 0 \
         && !document.querySelector('.item.failed') && document.querySelector('#retry-all').hidden",
        PATIENCE,
    )
    .await;

    let saved = queue
        .get_held(with_key(
            &keys.moderator,
            pb::GetHeldRequest {
                site_id: SITE.into(),
                held_id: first.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .resolution
        .expect("the retried decision is in the store");
    assert_eq!(
        (saved.verdict(), saved.moderator.as_str()),
        (Verdict::Approve, "Sari")
    );
    let audit = queue
        .list_audit(with_key(
            &keys.moderator,
            pb::ListAuditRequest {
                site_id: SITE.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let mut logged: Vec<(&str, Verdict)> = audit
        .iter()
        .map(|e| (e.held_id.as_str(), e.verdict()))
        .collect();
    logged.sort();
    let mut expected = [
        (first.as_str(), Verdict::Approve),
        (second.as_str(), Verdict::Approve),
    ];
    expected.sort();
    assert_eq!(logged, expected, "one audit entry each: {audit:?}");
    assert!(!page.dialog_open().await);
    page.close().await;
}

/// How the page sits in a phone's window: the document's and the window's widths, and for each
/// decision button of the comment `item` (a CSS selector), scrolled into view, its box and whether a
/// tap on its middle reaches it.
async fn fits_a_phone(page: &crate::webdriver::Session, item: &str) -> serde_json::Value {
    page.script(
        "const it = document.querySelector(arguments[0]); \
         const buttons = [...it.querySelectorAll('.actions button[data-act]')].map((b) => { \
           b.scrollIntoView({ block: 'center' }); \
           const r = b.getBoundingClientRect(); \
           const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2); \
           return { act: b.dataset.act, left: r.left, right: r.right, width: r.width, \
                    height: r.height, reached: !!hit && b.contains(hit) }; }); \
         return { scroll: document.documentElement.scrollWidth, width: window.innerWidth, buttons };",
        json!([item]),
    )
    .await
}

/// A config where `refund` holds, nothing is rate-limited and the model never rejects on [`SITE`] (so
/// spam with `refund` is held, with its tokens to highlight), written to a temp file kept for the
/// test's life.
fn config_file() -> String {
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let path = dir.path().join("saring.toml");
    std::fs::write(
        &path,
        "[rules]\nmoderation_terms = [\"refund\"]\n[limits]\nip = { burst = 1000, per_hour = 100000 }\n\
         author = { burst = 1000, per_hour = 100000 }\nsite = { burst = 1000, per_hour = 100000 }\n\
         [campaign]\nenabled = false\n[sites.myblog]\nreject_at_probability = 1.0\n",
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

async fn channel(serve: &Serve) -> Channel {
    Channel::from_shared(format!("http://{}", serve.addr))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// The serving model's version, as ModelAdmin's GetModelInfo gives it to an admin.
async fn serving_version(channel: &Channel, admin: &str) -> String {
    ModelAdminClient::new(channel.clone())
        .get_model_info(with_key(admin, pb::GetModelInfoRequest {}))
        .await
        .unwrap()
        .into_inner()
        .serving
        .expect("a serving model")
        .version
}

/// A page script's expression: the focused element is the comment `id` (or inside it), and it is
/// the page's current one.
fn focused(id: &str) -> String {
    format!(
        "(document.activeElement.closest('.item') || {{}}).dataset?.id === {id} \
         && document.querySelector('.item.current')?.dataset.id === {id}",
        id = json!(id)
    )
}

/// A page script's expression: the comment `id` is decided here (pending, being sent, or gone once
/// sent), not waiting.
fn decided(id: &str) -> String {
    format!(
        "(document.querySelector('.item[data-id=\"' + {id} + '\"]')?.matches('.pending, .sending') ?? true)",
        id = json!(id)
    )
}

/// Hold a comment over gRPC; its held id.
async fn hold(channel: &Channel, key: &str, site: &str, content: &str, author: &str) -> String {
    hold_request(channel, key, comment(site, content, author)).await
}

/// A comment on `site` by `author`, with an e-mail address and an IP.
fn comment(site: &str, content: &str, author: &str) -> pb::CheckCommentRequest {
    let mut r = request(site, content);
    r.author_name = author.into();
    r.author_email = format!("{}@example.org", author.to_lowercase().replace(' ', "."));
    r.user_ip = "203.0.113.9".into();
    r
}

/// Check `r` over gRPC, which must hold it; its held id.
async fn hold_request(channel: &Channel, key: &str, r: pb::CheckCommentRequest) -> String {
    let decided = ModerationClient::new(channel.clone())
        .check_comment(with_key(key, r))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decided.decision(), Decision::Hold, "{decided:?}");
    decided.held_id
}

async fn work_the_queue(
    serve: &Serve,
    keys: &Keys,
    (chromium, chromedriver): (std::path::PathBuf, std::path::PathBuf),
    screenshot: Option<&str>,
) {
    let grpc = channel(serve).await;
    let s = &keys.service;
    let mut ids = vec![
        hold(
            &grpc,
            s,
            SITE,
            "Saya minta refund tiket seminar kemarin, acaranya batal mendadak.",
            "Budi Santoso",
        )
        .await,
        hold(
            &grpc,
            s,
            SITE,
            "Mohon refund bos, 𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 gacor maxwin, wd pasti cair 💰 daftar sekarang",
            "Bos Gacor",
        )
        .await,
    ];
    let theirs = hold(
        &grpc,
        s,
        OTHER,
        "Refund Zqxberitarahasia untuk langganan koran digital saya",
        "Dewi",
    )
    .await;

    let driver = Driver::start(&chromedriver).await;
    let profile = tempfile::tempdir().unwrap();
    let page = driver.session(&chromium, profile.path()).await;
    let base = format!("http://{}/", serve.admin);
    page.goto(&base).await;
    page.until(
        "the sign-in form",
        "return !document.querySelector('#signin').hidden",
        PATIENCE,
    )
    .await;
    page.type_into(&page.find("#key").await, &keys.moderator)
        .await;
    page.type_into(&page.find("#name").await, "Ann").await;
    page.click(&page.find("#signin-btn").await).await;
    page.until(
        "two held comments listed, live",
        "return document.querySelectorAll('#list .item').length === 2 \
         && document.querySelector('#live').dataset.state === 'live'",
        PATIENCE,
    )
    .await;
    // The header names the model that serves, as ModelAdmin reports it.
    let version = serving_version(&grpc, &keys.admin).await;
    page.until(
        "the serving model's version in the header",
        &format!(
            "return document.querySelector('#model').textContent.includes({})",
            json!(version)
        ),
        PATIENCE,
    )
    .await;
    // From here on, any CSP violation or dialog a comment causes is recorded.
    page.script(
        "window.__violations = []; document.addEventListener('securitypolicyviolation', \
         (e) => window.__violations.push(e.violatedDirective)); return true;",
        json!([]),
    )
    .await;

    // Held over gRPC while the page is open: they appear without a reload, hostile ones as text.
    let script_text = "<script>window.__pwned = 'script'</script> refund please";
    let img_text = "<img src=x onerror=\"window.__pwned='img'\"> refund please";
    ids.push(hold(&grpc, s, SITE, script_text, "<b>Bold</b> Name").await);
    ids.push(hold(&grpc, s, SITE, img_text, "<img src=x onerror=alert(1)>").await);
    for (i, text) in [
        "Kapan refund untuk pesanan nomor 4471 diproses? Sudah dua minggu.",
        "Tolong refund biaya langganan, aplikasi tidak bisa dibuka sejak update",
        "Saya sudah minta refund lewat email tapi belum dibalas, mohon dicek",
    ]
    .iter()
    .enumerate()
    {
        ids.push(hold(&grpc, s, SITE, text, &format!("Pembaca {}", i + 1)).await);
    }
    page.until(
        "seven held comments listed without a reload",
        "return document.querySelectorAll('#list .item').length === 7",
        PATIENCE,
    )
    .await;
    let hostile = page
        .script(
            "const list = document.querySelector('#list'); \
             const texts = [...list.querySelectorAll('.content')].map((e) => e.textContent); \
             return { elements: list.querySelectorAll('script, img, iframe, b, svg[onload]').length, \
                      texts, pwned: window.__pwned || null, violations: window.__violations, \
                      authors: [...list.querySelectorAll('.author')].map((e) => e.textContent) };",
            json!([]),
        )
        .await;
    assert_eq!(hostile["elements"], 0, "{hostile}");
    assert_eq!(hostile["pwned"], json!(null), "{hostile}");
    assert_eq!(hostile["violations"], json!([]), "{hostile}");
    let texts: Vec<&str> = hostile["texts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert!(texts.iter().any(|t| t.contains(script_text)), "{hostile}");
    assert!(texts.iter().any(|t| t.contains(img_text)), "{hostile}");
    assert!(hostile["authors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a.as_str().unwrap().contains("<img src=x onerror=alert(1)>")));
    assert!(!page.dialog_open().await, "a comment opened a dialog");

    // Another site's comment is nowhere on the page.
    let shown = page
        .script("return document.body.innerText", json!([]))
        .await;
    assert!(!shown.as_str().unwrap().contains("Zqxberitarahasia"));
    if let Some(name) = screenshot {
        let png = page.screenshot().await;
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
    }

    // Approve one with its own button: the focus moves on to the next comment.
    let approved = ids[0].clone();
    page.click(
        &page
            .find(&format!(
                ".item[data-id=\"{approved}\"] button[data-act=\"approve\"]"
            ))
            .await,
    )
    .await;
    page.until(
        "the approved comment decided, the focus on the next",
        &format!("return {} && {}", decided(&approved), focused(&ids[1])),
        PATIENCE,
    )
    .await;

    // From the keyboard: `j` moves the focus down past the decided comment, `a` approves the focused
    // one, and `u` undoes that latest decision (not the earlier one) while its undo window is open:
    // `a` and `u` go in one command, well within the window. What the page announces is recorded,
    // so that "undone" (not "nothing to undo") shows `a` had made a decision to undo.
    page.script(
        "window.__said = []; new MutationObserver(() => window.__said.push( \
         document.querySelector('#status').textContent)).observe(document.querySelector('#status'), \
         { childList: true, characterData: true, subtree: true }); return true;",
        json!([]),
    )
    .await;
    for _ in 0..3 {
        page.press("j").await;
    }
    page.until(
        "`j` three times: the focus three comments down",
        &format!("return {}", focused(&ids[4])),
        PATIENCE,
    )
    .await;
    let undone = ids[4].clone();
    page.press_keys(&["a", "u"]).await;
    page.until(
        "`a` then `u`: that comment waiting again and focused, the earlier decision not undone",
        &format!(
            "const it = document.querySelector('.item[data-id=\"{undone}\"]'); \
             return window.__said.some((s) => s.includes('Undone: 1 comment is back in the queue.')) \
             && {} && !it.matches('.pending, .sending, .failed') \
             && !!it.querySelector('button[data-act=\"approve\"]').offsetParent && {}",
            focused(&undone),
            decided(&approved)
        ),
        PATIENCE,
    )
    .await;
    // `k` moves up one, and `a` approves that one for good.
    let by_key = ids[3].clone();
    page.press("k").await;
    page.until(
        "`k`: the focus one comment up",
        &format!("return {}", focused(&by_key)),
        PATIENCE,
    )
    .await;
    page.press("a").await;
    page.until(
        "`a`: that comment decided",
        &format!("return {}", decided(&by_key)),
        PATIENCE,
    )
    .await;

    // Reject three as spam in bulk, by selecting them and pressing `s`.
    let spam = [ids[1].clone(), ids[5].clone(), ids[6].clone()];
    for id in &spam {
        page.click(&page.find(&format!(".item[data-id=\"{id}\"] .sel-cb")).await)
            .await;
    }
    page.until(
        "three selected",
        "return document.querySelectorAll('.item.selected').length === 3",
        PATIENCE,
    )
    .await;
    page.press("s").await;
    // After the undo time the decisions are sent and the items leave the page. The undone one was
    // decided before the last two, so had its timer not been cancelled it would have been sent by
    // now: it is still here, waiting, never sent.
    page.until(
        "the five decided items gone, two left",
        "return document.querySelectorAll('#list .item').length === 2",
        PATIENCE,
    )
    .await;
    let left = page
        .script(
            "return [...document.querySelectorAll('#list .item')].map((e) => \
             [e.dataset.id, e.matches('.pending, .sending, .failed, .conflict')])",
            json!([]),
        )
        .await;
    assert_eq!(
        left,
        json!([[ids[2], false], [undone, false]]),
        "the undone comment is not waiting in the page"
    );

    // The store and the audit log agree with what was done in the page.
    let mut queue = ModerationQueueClient::new(grpc.clone());
    let m = &keys.moderator;
    let mut expected: Vec<(String, Verdict)> = vec![
        (approved.clone(), Verdict::Approve),
        (by_key.clone(), Verdict::Approve),
    ];
    expected.extend(spam.iter().map(|id| (id.clone(), Verdict::RejectSpam)));
    for (id, verdict) in &expected {
        let item = queue
            .get_held(with_key(
                m,
                pb::GetHeldRequest {
                    site_id: SITE.into(),
                    held_id: id.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let r = item.resolution.expect("resolved in the store");
        assert_eq!(
            (r.verdict(), r.moderator.as_str()),
            (*verdict, "Ann"),
            "{id}"
        );
    }
    let kept = queue
        .get_held(with_key(
            m,
            pb::GetHeldRequest {
                site_id: SITE.into(),
                held_id: undone.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        kept.resolution.is_none(),
        "an undone decision reached the store: {:?}",
        kept.resolution
    );
    let audit = queue
        .list_audit(with_key(
            m,
            pb::ListAuditRequest {
                site_id: SITE.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let mut logged: Vec<(String, Verdict)> = audit
        .iter()
        .map(|e| (e.held_id.clone(), e.verdict()))
        .collect();
    logged.sort();
    expected.sort();
    assert_eq!(logged, expected, "the audit log says otherwise");
    assert!(audit
        .iter()
        .all(|e| e.actor == "Ann" && !e.key_id.is_empty()));

    // Calling the API from the page: the other site is refused, and its id is not found here.
    let call = "const [method, path, body, done] = [arguments[0], arguments[1], arguments[2], \
                arguments[arguments.length - 1]]; \
                fetch(path, { method, credentials: 'omit', headers: { Authorization: 'Bearer ' + \
                sessionStorage.getItem('saring.key'), 'Content-Type': 'application/json', \
                'X-Saring-Request': '1' }, body: body ? JSON.stringify(body) : undefined }) \
                .then(async (r) => done({ status: r.status, body: await r.json() }));";
    let listed = page
        .script_async(
            call,
            json!(["GET", format!("api/v1/sites/{OTHER}/held"), null]),
        )
        .await;
    assert_eq!(listed["status"], 403, "{listed}");
    let body = json!({"held_ids": [theirs], "verdict": "approve", "moderator": "", "note": ""});
    let there = page
        .script_async(
            call,
            json!(["POST", format!("api/v1/sites/{OTHER}/resolve"), body]),
        )
        .await;
    assert_eq!(there["status"], 403, "{there}");
    let here = page
        .script_async(
            call,
            json!(["POST", format!("api/v1/sites/{SITE}/resolve"), body]),
        )
        .await;
    assert_eq!(here["body"]["results"][0]["outcome"], "not_found", "{here}");
    let still = queue
        .get_held(with_key(
            &keys.other_moderator,
            pb::GetHeldRequest {
                site_id: OTHER.into(),
                held_id: theirs.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        still.resolution.is_none(),
        "the other site's comment was resolved"
    );
    let session = page
        .script_async(call, json!(["GET", "api/v1/session", null]))
        .await;
    assert_eq!(session["body"]["sites"], json!([SITE]), "{session}");
    assert!(!page.dialog_open().await);
    // Deciding, undoing and the notes that came and went broke no rule of the policy either.
    let violations = page.script("return window.__violations", json!([])).await;
    assert_eq!(violations, json!([]));
    page.close().await;
}
