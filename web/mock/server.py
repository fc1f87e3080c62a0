#!/usr/bin/env python3
"""A stand-in for saring's admin HTTP API, to develop and try the moderation page without the
Rust server. Python 3 standard library only.

    python3 web/mock/server.py [--port 8787] [--hold-every 25] [--resolve-every 40]
                               [--fail-rate 0] [--latency 0] [--ping 15]

Open http://127.0.0.1:8787/ and sign in with one of the keys printed at start-up.

It implements the same contract as the real server (see web/README.md): the same paths, JSON
shapes, error bodies and status codes, Bearer keys, the CSRF checks on POST (X-Saring-Request,
Content-Type, Origin and Sec-Fetch-Site), the NDJSON live stream with pings, and the same security
headers (CSP and friends) on every response. It serves only the page's own files.

To make the queue move by itself, it holds a new comment every --hold-every seconds and has
"another moderator" resolve one every --resolve-every seconds (0 turns either off).
--fail-rate makes that share of resolve calls fail with 503 UNAVAILABLE; --latency adds a delay
(ms) to every API call.
"""

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

WEB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATIC = {  # exactly what the Rust server compiles in
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/i18n.js": ("i18n.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

KEYS = {
    # key: (key_id, role, sites, name used in the audit log when the moderator gives none)
    "mod-demo": ("k1a2b3", "moderator", ["default", "myblog"], "demo-moderator"),
    "mod-myblog": ("k4c5d6", "moderator", ["myblog"], "myblog-moderator"),
    "admin-demo": ("k9z8y7", "admin", ["*"], "admin"),
}
KNOWN_SITES = ["default", "myblog", "berita"]
VERDICTS = ("approve", "reject_spam", "reject_other")
MODEL = {"version": "nb-3f9c2a7b1d04", "loaded_at": "2026-12-02T10:00:00Z"}


def now_utc():
    return dt.datetime.now(dt.timezone.utc)


def rfc3339(t):
    return t.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def u16(s):
    """Length of s in UTF-16 code units (JavaScript string indices)."""
    return len(s.encode("utf-16-le")) // 2


# ---------------------------------------------------------------------------------------- data

UA_CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
UA_ANDROID = "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.102 Mobile Safari/537.36"
UA_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
UA_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
UA_BOT = "python-requests/2.31.0"
UA_CURL = "curl/8.5.0"

POSTS = [
    "https://berita.example.id/2026/11/banjir-klaten-warga-mengungsi",
    "https://berita.example.id/2026/11/harga-beras-naik-lagi",
    "https://blog.example.org/posts/rust-async-cancellation",
    "https://blog.example.org/posts/self-hosting-comments",
]

# (author, email, url, lang, probability, content, rules, tokens, campaign, ua)
#   rules: [(code, detail)]; tokens: [(substring in content, feature, weight)]
TEMPLATES = [
    ("Bos Gacor", "bosgacor88@mail.example", "https://megabet99-login.example/daftar", "id", 0.93,
     "Situs 𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 paling gacor bos! Deposit 10rb langsung maxwin, wd pasti cair 💰💰\nDaftar sekarang 👉 megabet99-login.example",
     [("rule.campaign", "campaign c7f3a01e (14 in the last hour)")],
     [("𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗", "w:megabet99", 2.157), ("gacor", "w:gacor", 1.232), ("maxwin", "w:maxwin", 1.104),
      ("wd", "w:wd", 0.917), ("bos", "w:bos", -0.339)], "c7f3a01e", UA_ANDROID),
    ("Rina", "rina.s@mail.example", "", "id", 0.89,
     "Yang cari slot g a c o r coba p u l a u w i n, dijamin jackpot tiap hari. Link di bio 👉 pulauwin77 . com",
     [("rule.campaign", "campaign 2b91d4c0 (9 in the last hour)")],
     [("g a c o r", "w:gacor", 1.232), ("p u l a u w i n", "w:pulauwin", 1.871), ("jackpot", "w:jackpot", 0.954),
      ("tiap hari", "w2:tiap_hari", 0.211)], "2b91d4c0", UA_ANDROID),
    ("АЕRО88 Official", "cs@aero88.example", "https://aero88.example", "id", 0.91,
     "АЕRО88 situs slot resmi terpercaya 2026, bonus new member 100% 🔥 RTP live 98% hari ini, main sekarang!!",
     [],
     [("АЕRО88", "w:aero88", 1.96), ("slot", "w:slot", 1.31), ("bonus new member", "w2:bonus_new", 0.88),
      ("RTP", "w:rtp", 0.74), ("!!", "punct:!!", 0.31)], "", UA_CHROME),
    ("Mau Cuan", "", "", "id", 0.86,
     "Mau c4ir? M41n di sl0t88 aja, d3po 5rb bisa wd 500rb 🤑 admin fast respon",
     [("rule.too_fast", "submitted 1.2 s after the form was shown")],
     [("c4ir", "w:cair", 0.82), ("sl0t88", "w:slot88", 1.66), ("d3po", "w:depo", 0.95), ("wd", "w:wd", 0.917)],
     "", UA_BOT),
    ("🔥 RTP LIVE 🔥", "", "https://rtp-live.example/hari-ini", "id", 0.95,
     "🔥🔥 RTP LIVE hari ini 98% 🔥🔥 main di 𝓢𝓛𝓞𝓣𝓖𝓐𝓒𝓞𝓡 dijamin maxwin, modal receh jadi jutaan!!!",
     [("rule.campaign", "campaign 9e04aa13 (22 in the last hour)")],
     [("RTP", "w:rtp", 0.74), ("𝓢𝓛𝓞𝓣𝓖𝓐𝓒𝓞𝓡", "w:slotgacor", 2.41), ("maxwin", "w:maxwin", 1.104),
      ("!!!", "punct:!!", 0.31)], "9e04aa13", UA_ANDROID),
    ("SEO Expert", "seo@backlinks.example", "https://cheap-seo-backlinks.example", "en", 0.88,
     "Great post! I found it very informative. Visit my site for more: https://cheap-seo-backlinks.example/best https://buy-followers.example/now https://cheap-seo-backlinks.example/offer",
     [("rule.too_many_links", "3 links (at most 2 allowed)")],
     [("Great post", "w2:great_post", 0.73), ("Visit my site", "w2:visit_my", 1.12),
      ("cheap-seo-backlinks.example", "url.host:cheap-seo-backlinks.example", 1.87),
      ("buy-followers.example", "url.host:buy-followers.example", 1.55)], "", UA_CHROME),
    ("Binance Support", "support@binance-help.example", "", "en", 0.84,
     "Lost access to your wallet? Call Binance support number +1 (888) 555-0147 24/7 for account recovery help. Our agents are waiting.",
     [],
     [("support number", "w2:support_number", 1.41), ("+1 (888) 555-0147", "phone", 1.62),
      ("24/7", "w:24_7", 0.52), ("account recovery", "w2:account_recovery", 0.98)], "", UA_CHROME),
    ("CryptoKing", "", "https://video.example/@cryptoking", "en", 0.79,
     "Nice video bro! Subscribe to my channel video.example/@cryptoking for daily signals 🚀🚀🚀 100x guaranteed",
     [],
     [("Subscribe to my channel", "w2:subscribe_to", 1.21), ("signals", "w:signals", 0.88),
      ("guaranteed", "w:guaranteed", 0.77), ("bro", "w:bro", -0.12)], "", UA_IPHONE),
    ("<img src=x onerror=alert(1)>", "x@example.invalid", "javascript:alert(document.cookie)", "en", 0.57,
     "<script>alert(1)</script>",
     [("model.low_evidence", "2 known content features")],
     [("script", "w:script", 0.41), ("alert", "w:alert", 0.22)], "", UA_CURL),
    ("\"><svg onload=alert(2)>", "", "https://evil.example/\"><script>alert(3)</script>", "en", 0.61,
     "<img src=x onerror=alert(1)>",
     [("model.low_evidence", "1 known content feature")],
     [("onerror", "w:onerror", 0.62)], "", UA_CURL),
    ("Budi Santoso", "budi.santoso@mail.example", "", "id", 0.41,
     "Terima kasih atas artikelnya, Pak. Di kampung saya di Klaten banjirnya juga sampai selutut kemarin sore.\n\nSemoga pemerintah daerah cepat tanggap, terutama untuk warga lansia di bantaran sungai.",
     [("rule.moderation_term", "term “pemerintah”")],
     [("Terima kasih", "w2:terima_kasih", -1.12), ("kampung", "w:kampung", -0.64), ("banjirnya", "w:banjirnya", -0.41),
      ("pemerintah", "w:pemerintah", 0.22)], "", UA_ANDROID),
    ("Sari Wulandari", "sari.w@mail.example", "https://sariwulan.example.id", "id", 0.36,
     "Sumber datanya dari BMKG ya: https://www.bmkg.go.id/ dan https://bnpb.go.id/ — jadi bukan hoaks. Mohon admin cek lagi angka korban di paragraf ketiga, sepertinya tertukar dengan data tahun lalu.",
     [("rule.too_many_links", "2 links (at most 1 allowed on this site)")],
     [("Sumber datanya", "w2:sumber_datanya", -0.92), ("bmkg.go.id", "url.host:bmkg.go.id", -0.71),
      ("hoaks", "w:hoaks", 0.18), ("paragraf", "w:paragraf", -0.55)], "", UA_FIREFOX),
    ("Dewi", "", "", "id", 0.52,
     "Kapan harga beras turun lagi? Di pasar Beringharjo sudah Rp15.000/kg 😭",
     [("model.low_evidence", "3 known content features")],
     [("harga beras", "w2:harga_beras", -0.48), ("Rp15.000", "currency:idr", 0.36)], "", UA_ANDROID),
    ("Marcus Chen", "marcus@chen.example", "https://chen.example", "en", 0.33,
     "Good write-up. One nit: in the second example the future is dropped while holding the lock, so\n\n    let guard = mutex.lock().await;\n    do_io().await; // cancelled here\n\nleaves the state half-updated. Wrapping it in a scope guard (or using tokio::sync::Mutex with a\ncancellation-safe API) avoids it.",
     [("rule.too_fast", "submitted 3.1 s after the form was shown")],
     [("Good write-up", "w2:good_write", -0.62), ("mutex", "w:mutex", -0.83), ("cancellation-safe", "w:cancellation", -0.77),
      ("tokio", "w:tokio", -0.91)], "", UA_FIREFOX),
    ("Priya", "priya.k@mail.example", "", "en", 0.47,
     "I think <b> tags should be allowed in comments, like <b>this</b>, but I get why you strip them. Is there a Markdown option?",
     [("model.low_evidence", "3 known content features")],
     [("<b>", "w:b", 0.18), ("Markdown", "w:markdown", -0.44)], "", UA_CHROME),
    ("Andi", "andi@mail.example", "", "id", 0.58,
     "Cek file ini: \u202egpj.exe\u202c hasil foto banjir kemarin",
     [],
     [("Cek file ini", "w2:cek_file", 0.61), ("exe", "w:exe", 0.87), ("foto banjir", "w2:foto_banjir", -0.42)], "", UA_CHROME),
    ("Tono", "", "", "id", 0.77,
     "mau s\u200blot g\u200bacor? hub wa 0812-3456-7890 dijamin jp",
     [("rule.moderation_term", "term “wa”")],
     [("s\u200blot", "w:slot", 1.31), ("g\u200bacor", "w:gacor", 1.232), ("0812-3456-7890", "phone:08", 1.12),
      ("jp", "w:jp", 0.66)], "", UA_ANDROID),
    ("Long Word Larry", "", "https://example.net/" + "a" * 60, "en", 0.71,
     "Check this out: https://example.net/" + "verylongpath" * 12 + "?ref=" + "x" * 40 + " and " + "A" * 120,
     [],
     [("example.net", "url.host:example.net", 0.81)], "", UA_BOT),
    ("Ibu Ratna", "ratna@sekolah.example.id", "", "id", 0.29,
     "Artikel yang sangat bermanfaat. Saya guru SD di Sleman, boleh saya bagikan ke grup wali murid? Terima kasih banyak.",
     [("rule.too_fast", "submitted 2.4 s after the form was shown")],
     [("sangat bermanfaat", "w2:sangat_bermanfaat", -0.51), ("guru", "w:guru", -0.73), ("wali murid", "w2:wali_murid", -0.69),
      ("bagikan", "w:bagikan", 0.25)], "", UA_ANDROID),
    ("Tom", "tom@mail.example", "", "en", 0.62,
     "Click here to claim your FREE iPhone 16!!! Limited offer, only today.",
     [],
     [("Click here", "w2:click_here", 1.18), ("FREE", "w:free", 0.92), ("!!!", "punct:!!", 0.31),
      ("Limited offer", "w2:limited_offer", 0.86)], "", UA_CHROME),
    ("Ana Lucía", "ana.lucia@correo.example", "", "en", 0.44,
     "Thanks for this! I moderate a small forum and we get the same “great post, visit my site” spam every day. Does saring handle Spanish as well?",
     [("model.low_evidence", "3 known content features")],
     [("Thanks for this", "w2:thanks_for", -0.88), ("visit my site", "w2:visit_my", 1.12), ("forum", "w:forum", -0.37)], "", UA_IPHONE),
    ("joko", "joko@mail.example", "", "id", 0.55,
     "wkwkwk admin nya lagi sibuk kayaknya, komen ku dari kemarin belum muncul 🙏",
     [("model.low_evidence", "2 known content features")],
     [("wkwkwk", "w:wkwkwk", -0.41), ("admin", "w:admin", 0.33)], "", UA_ANDROID),
    ("Lukas", "lukas@mail.example", "", "en", 0.39,
     "Why does the article say the patch landed in 1.83? The changelog says 1.84.\n\n(Not complaining, just checking before I quote it.)",
     [("rule.too_fast", "submitted 2.9 s after the form was shown")],
     [("changelog", "w:changelog", -0.69), ("patch", "w:patch", -0.31)], "", UA_FIREFOX),
    ("WD Lancar", "", "https://judi-online.example", "id", 0.97,
     "Situs judi online terpercaya 🎰 WD berapapun dibayar lunas! Bonus harian, cashback 10%, pulsa tanpa potongan. Daftar: judi-online.example",
     [("rule.moderation_term", "term “judi”")],
     [("judi online", "w2:judi_online", 2.34), ("WD", "w:wd", 0.917), ("cashback", "w:cashback", 0.72),
      ("judi-online.example", "url.host:judi-online.example", 1.44)], "", UA_BOT),
]

IPS = ["203.0.113.%d", "198.51.100.%d", "192.0.2.%d", "2001:db8::%x"]


def make_item(site, seq, tpl, held_at, variant=0):
    author, email, url, lang, prob, content, rules, tokens, campaign, ua = tpl
    rng = random.Random(f"{site}-{seq}")
    if variant:
        # a lightly varied copy, as campaigns send them
        content = content.replace("10rb", f"{rng.choice([5, 10, 20, 25])}rb").replace("hari ini", rng.choice(["hari ini", "malam ini"]))
        prob = max(0.5, min(0.99, prob + rng.uniform(-0.04, 0.04)))
        if author and variant % 2:
            author = author + " " + str(rng.randint(2, 99))
    held_id = hashlib.sha256(f"{site}/{seq}".encode()).hexdigest()[:26]
    highlights, pos_taken = [], []
    for sub, _feat, w in tokens:
        i = content.find(sub)
        if i < 0:
            continue
        start, end = u16(content[:i]), u16(content[:i + len(sub)])
        if any(not (end <= a or start >= b) for a, b in pos_taken):
            continue
        pos_taken.append((start, end))
        highlights.append({"start": start, "end": end, "weight": round(w, 3)})
    highlights.sort(key=lambda h: h["start"])
    logodds = sum(w for _, _, w in tokens)
    reasons = [{"code": c, "detail": d, "weight": 1} for c, d in rules]
    reasons.append({"code": "model.spam", "detail": f"p(spam) = {prob:.2f}", "weight": round(logodds, 3)})
    reasons += [{"code": "model.token", "detail": f, "weight": round(w, 3)} for _, f, w in tokens]
    ip_tpl = rng.choice(IPS)
    return {
        "held_id": held_id,
        "sequence": seq,
        "held_at": rfc3339(held_at),
        "content": content,
        "author_name": author,
        "author_email": email,
        "author_url": url,
        "user_ip": ip_tpl % rng.randint(2, 250),
        "user_agent": ua,
        "permalink": rng.choice(POSTS),
        "lang": lang,
        "spam_probability": round(prob, 4),
        "decision": "hold",
        "reasons": reasons,
        "campaign_id": campaign,
        "highlights": highlights,
    }


class Site:
    def __init__(self, name, count):
        self.name = name
        self.seq = 0
        self.items = {}        # held_id -> item (waiting or resolved)
        self.resolution = {}   # held_id -> {"verdict", "moderator", "at"}
        self.watchers = []     # list of (Condition, list) per watcher
        rng = random.Random(name)
        start = now_utc() - dt.timedelta(hours=40)
        # every template once, mixed, then more of the spam waves (as campaigns arrive)
        order = [(i, 0) for i in range(len(TEMPLATES))]
        rng.shuffle(order)
        hostile = [n for n, (i, _) in enumerate(order) if TEMPLATES[i][5].startswith("<")]
        for slot, n in zip((1, 4), hostile):      # the two hostile texts near the top
            order[slot], order[n] = order[n], order[slot]
        waves = [i for i, tp in enumerate(TEMPLATES) if tp[4] >= 0.75]
        v = 1
        while len(order) < count:
            order.insert(rng.randint(len(order) // 3, len(order)), (waves[v % len(waves)], v))
            v += 1
        order = order[:count]
        for n, (ti, variant) in enumerate(order):
            at = start + dt.timedelta(minutes=n * (40 * 60 / count) + rng.randint(0, 20))
            self.add(TEMPLATES[ti], at, variant=variant, announce=False)
        # 30 days of decision counts, plus today
        self.days = []
        today = now_utc().date()
        for d in range(29, -1, -1):
            day = today - dt.timedelta(days=d)
            base = 180 + int(60 * rng.random()) + (40 if day.weekday() < 5 else -30)
            self.days.append({"date": day.isoformat(), "accept": base,
                              "hold": int(base * rng.uniform(0.04, 0.12)),
                              "reject": int(base * rng.uniform(0.25, 0.6))})

    def add(self, tpl, at, variant=0, announce=True):
        self.seq += 1
        it = make_item(self.name, self.seq, tpl, at, variant)
        self.items[it["held_id"]] = it
        if announce:
            self.days[-1]["hold"] += 1
            self.publish({"kind": "held", "item": it})
        return it

    def waiting(self):
        return [it for hid, it in self.items.items() if hid not in self.resolution]

    def publish(self, ev):
        for cond, q in list(self.watchers):
            with cond:
                q.append(ev)
                cond.notify()


LOCK = threading.RLock()
SITES = {}


def site_state(name):
    with LOCK:
        if name not in SITES:
            SITES[name] = Site(name, {"default": 40, "myblog": 12}.get(name, 6))
        return SITES[name]


def resolve(site, ids, verdict, moderator):
    results = []
    with LOCK:
        for hid in ids:
            it = site.items.get(hid)
            if it is None:
                results.append({"held_id": hid, "outcome": "not_found"})
                continue
            res = site.resolution.get(hid)
            if res is None:
                res = {"verdict": verdict, "moderator": moderator, "at": rfc3339(now_utc())}
                site.resolution[hid] = res
                site.publish({"kind": "resolved", "held_id": hid, **res})
                results.append({"held_id": hid, "outcome": "resolved", "resolution": res})
            elif res["verdict"] == verdict:
                results.append({"held_id": hid, "outcome": "already_resolved", "resolution": res})
            else:
                results.append({"held_id": hid, "outcome": "conflict", "resolution": res})
    return results


# ---------------------------------------------------------------------------------------- HTTP

class ApiError(Exception):
    STATUS = {"UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "INVALID_ARGUMENT": 400, "NOT_FOUND": 404,
              "FAILED_PRECONDITION": 409, "UNAVAILABLE": 503, "UNIMPLEMENTED": 405}

    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


class Handler(BaseHTTPRequestHandler):
    server_version = "saring-mock"
    sys_version = ""
    protocol_version = "HTTP/1.0"  # one request a connection: simplest for a never-ending stream

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))

    # -- helpers

    def send_common(self, status, ctype, length=None, extra=None):
        self.send_response(status)
        for k, v in SECURITY_HEADERS.items():
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        if length is not None:
            self.send_header("Content-Length", str(length))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def send_json(self, status, obj):
        body = json.dumps(obj, ensure_ascii=False).encode()
        self.send_common(status, "application/json; charset=utf-8", len(body), {"Cache-Control": "no-store"})
        self.wfile.write(body)

    def send_error_json(self, e):
        self.send_json(ApiError.STATUS.get(e.code, 500), {"error": {"code": e.code, "message": e.message}})

    def auth(self):
        h = self.headers.get("Authorization", "")
        if not h.startswith("Bearer ") or not h[7:].strip():
            raise ApiError("UNAUTHENTICATED", "missing moderator key (Authorization: Bearer …)")
        key = KEYS.get(h[7:].strip())
        if key is None:
            raise ApiError("UNAUTHENTICATED", "unknown or revoked key")
        return key

    def site_for(self, key, name):
        key_id, role, sites, _ = key
        if role != "admin" and name not in sites:
            raise ApiError("PERMISSION_DENIED", f"key {key_id} may not moderate site “{name}”")
        if name not in KNOWN_SITES:
            raise ApiError("NOT_FOUND", f"no site “{name}”")
        return site_state(name)

    def check_csrf(self):
        if self.headers.get("X-Saring-Request") != "1":
            raise ApiError("PERMISSION_DENIED", "state-changing calls need the header X-Saring-Request: 1")
        origin = self.headers.get("Origin")
        host = self.headers.get("Host", "")
        if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
            raise ApiError("PERMISSION_DENIED", f"cross-site request refused (Origin {origin})")
        sfs = self.headers.get("Sec-Fetch-Site")
        if sfs is not None and sfs not in ("same-origin", "none"):
            raise ApiError("PERMISSION_DENIED", f"cross-site request refused (Sec-Fetch-Site {sfs})")
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise ApiError("INVALID_ARGUMENT", "Content-Type must be application/json")

    def read_json(self):
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            n = 0
        if n > 1 << 20:
            raise ApiError("INVALID_ARGUMENT", "body too large")
        try:
            obj = json.loads(self.rfile.read(n) or b"null")
        except ValueError:
            raise ApiError("INVALID_ARGUMENT", "body is not JSON")
        if not isinstance(obj, dict):
            raise ApiError("INVALID_ARGUMENT", "body must be a JSON object")
        return obj

    # -- routes

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_HEAD(self):
        self.send_common(405, "text/plain; charset=utf-8", 0)

    def route(self, method):
        url = urlsplit(self.path)
        path = url.path
        if not path.startswith("/api/"):
            return self.static(method, path)
        if self.server.latency:
            time.sleep(self.server.latency / 1000)
        try:
            parts = [unquote(p) for p in path.split("/")[1:]]
            if parts[:2] != ["api", "v1"]:
                raise ApiError("NOT_FOUND", "no such endpoint")
            rest = parts[2:]
            key = self.auth()
            if rest == ["session"] and method == "GET":
                key_id, role, sites, _ = key
                out = {"key_id": key_id, "role": role, "sites": sites}
                if role == "admin":
                    out["known_sites"] = KNOWN_SITES
                return self.send_json(200, out)
            if rest == ["model"] and method == "GET":
                return self.send_json(200, MODEL)
            if len(rest) == 3 and rest[0] == "sites":
                site = self.site_for(key, rest[1])
                op = rest[2]
                q = parse_qs(url.query)
                if op == "held" and method == "GET":
                    return self.held(site, q)
                if op == "watch" and method == "GET":
                    return self.watch(site)
                if op == "stats" and method == "GET":
                    with LOCK:
                        today = {k: site.days[-1][k] for k in ("accept", "hold", "reject")}
                        return self.send_json(200, {"today": today, "days": [dict(d) for d in site.days]})
                if op == "resolve" and method == "POST":
                    self.check_csrf()
                    return self.resolve(site, key)
                if op in ("held", "watch", "stats", "resolve"):
                    raise ApiError("UNIMPLEMENTED", f"{method} not allowed here")
            raise ApiError("NOT_FOUND", "no such endpoint")
        except ApiError as e:
            self.send_error_json(e)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def static(self, method, path):
        if method != "GET" or path not in STATIC:
            body = b"not found\n"
            self.send_common(404, "text/plain; charset=utf-8", len(body))
            return self.wfile.write(body)
        name, ctype = STATIC[path]
        with open(os.path.join(WEB_DIR, name), "rb") as f:
            body = f.read()
        self.send_common(200, ctype, len(body), {"Cache-Control": "no-cache"})
        self.wfile.write(body)

    def held(self, site, q):
        def one(name, default=""):
            return q.get(name, [default])[0]
        try:
            limit = int(one("limit", "50") or 50)
        except ValueError:
            raise ApiError("INVALID_ARGUMENT", "limit must be a number")
        if not 1 <= limit <= 500:
            raise ApiError("INVALID_ARGUMENT", "limit must be 1 to 500")
        token = one("page_token")
        try:
            after = int(token) if token else 0
        except ValueError:
            raise ApiError("INVALID_ARGUMENT", "bad page_token")
        code = one("reason_code")
        try:
            lo = float(one("min_probability") or 0)
            hi = float(one("max_probability") or 1)
        except ValueError:
            raise ApiError("INVALID_ARGUMENT", "probabilities must be numbers")
        if not (0 <= lo <= 1 and 0 <= hi <= 1):
            raise ApiError("INVALID_ARGUMENT", "probabilities must be 0 to 1")
        with LOCK:
            waiting = sorted(site.waiting(), key=lambda it: it["sequence"])
            total = len(waiting)
            sel = [it for it in waiting if it["sequence"] > after
                   and (not code or any(r["code"] == code for r in it["reasons"]))
                   and lo <= it["spam_probability"] <= hi]
            page = sel[:limit]
            nxt = str(page[-1]["sequence"]) if len(sel) > limit else ""
        self.send_json(200, {"items": page, "next_page_token": nxt, "waiting": total})

    def resolve(self, site, key):
        body = self.read_json()
        ids = body.get("held_ids")
        verdict = body.get("verdict")
        moderator = body.get("moderator", "")
        note = body.get("note", "")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise ApiError("INVALID_ARGUMENT", "held_ids must be a non-empty list of ids")
        if len(ids) > 500:
            raise ApiError("INVALID_ARGUMENT", "at most 500 held_ids a call")
        if verdict not in VERDICTS:
            raise ApiError("INVALID_ARGUMENT", "verdict must be approve, reject_spam or reject_other")
        if not isinstance(moderator, str) or len(moderator) > 128:
            raise ApiError("INVALID_ARGUMENT", "moderator must be a string of at most 128 characters")
        if not isinstance(note, str) or len(note.encode()) > 4096:
            raise ApiError("INVALID_ARGUMENT", "note must be at most 4,096 bytes")
        if self.server.fail_rate and random.random() < self.server.fail_rate:
            raise ApiError("UNAVAILABLE", "the store did not answer in time (simulated)")
        who = moderator.strip() or key[3]
        self.send_json(200, {"results": resolve(site, list(dict.fromkeys(ids)), verdict, who)})

    def watch(self, site):
        cond, q = threading.Condition(), []
        with LOCK:
            site.watchers.append((cond, q))
        try:
            self.send_common(200, "application/x-ndjson; charset=utf-8", None,
                             {"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
            self.wfile.flush()   # headers out at once: the client re-lists once it sees them
            last = time.monotonic()
            while True:
                with cond:
                    if not q:
                        cond.wait(timeout=1.0)
                    evs, q[:] = list(q), []
                if not evs and time.monotonic() - last >= self.server.ping:
                    evs = [{"kind": "ping"}]
                if evs:
                    self.wfile.write(b"".join(json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in evs))
                    self.wfile.flush()
                    last = time.monotonic()
                if self.server.stopping.is_set():
                    return
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        finally:
            with LOCK:
                site.watchers.remove((cond, q))


def simulator(server, hold_every, resolve_every):
    rng = random.Random()
    next_hold = time.monotonic() + hold_every if hold_every else float("inf")
    next_res = time.monotonic() + resolve_every if resolve_every else float("inf")
    while not server.stopping.wait(0.5):
        t = time.monotonic()
        if t >= next_hold:
            next_hold = t + hold_every * rng.uniform(0.6, 1.4)
            with LOCK:
                for name in ("default", "myblog"):
                    site = site_state(name)
                    site.add(rng.choice(TEMPLATES), now_utc(), variant=rng.randint(1, 9))
        if t >= next_res:
            next_res = t + resolve_every * rng.uniform(0.6, 1.4)
            with LOCK:
                site = site_state("default")
                waiting = site.waiting()
                if len(waiting) > 10:
                    it = rng.choice(waiting[len(waiting) // 2:])
                    verdict = "reject_spam" if it["spam_probability"] > 0.7 else "approve"
                    resolve(site, [it["held_id"]], verdict, rng.choice(["ann", "dimas", "saring-recheck"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8787)
    ap.add_argument("--hold-every", type=float, default=25, help="seconds between new held comments (0: never)")
    ap.add_argument("--resolve-every", type=float, default=40, help="seconds between resolutions by someone else (0: never)")
    ap.add_argument("--fail-rate", type=float, default=0.0, help="share of resolve calls that fail with 503")
    ap.add_argument("--latency", type=float, default=0.0, help="extra milliseconds on every API call")
    ap.add_argument("--ping", type=float, default=15.0, help="seconds between pings on the live stream")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    for name in KNOWN_SITES:
        site_state(name)
    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    srv.daemon_threads = True
    srv.quiet, srv.fail_rate, srv.latency, srv.ping = args.quiet, args.fail_rate, args.latency, args.ping
    srv.stopping = threading.Event()
    threading.Thread(target=simulator, args=(srv, args.hold_every, args.resolve_every), daemon=True).start()
    print(f"saring mock on http://{args.host}:{args.port}/", flush=True)
    for k, (kid, role, sites, _) in KEYS.items():
        print(f"  key {k:<11} {role:<9} sites: {', '.join(sites)}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.stopping.set()
        srv.server_close()


if __name__ == "__main__":
    main()
