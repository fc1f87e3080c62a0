#!/usr/bin/env python3
"""The small jobs of bench/rspamd/run.sh that bash does badly, with the standard library only.

Subcommands (each prints its result on stdout, progress and problems on stderr, and exits non-zero with
one line on stderr when it fails):

  free-ports N                     N distinct free TCP ports on 127.0.0.1
  wait-http URL SECONDS            wait until URL answers 200
  message TEXT OUT                 write TEXT as a minimal RFC 822 mail (what rspamd checks and learns)
  jsonl TEXT OUT                   write TEXT as a one-line `saring bench --data` file
  mix OUT FILE...                  every row of the files, in one seeded shuffle (a `--data` file)
  grpc-body SITE IP TEXT OUT       write a framed gRPC CheckCommentRequest (what h2load posts)
  wrk-script BODYFILE OUT          write a wrk Lua script POSTing BODYFILE to /checkv2
  learn CONTROLLER FILE...         train rspamd's Bayes on labelled JSONL over /learnspam and /learnham
  check-rspamd URL BODYFILE        one /checkv2; fails unless Bayes gave a verdict; prints the action
  metric-sum URL NAME              the sum of every series of a Prometheus counter
  decisions BENCH.json             the decisions of a `saring bench --json` report, in one line
  cpu PID...                       CPU seconds (user + system) the processes and their children used
  rspamd-scanned URL               how many messages rspamd has checked, from its controller's /stat
  h2load FILE CONCURRENCY CPU      the figures of an h2load run, as a results line (JSON)
  wrk FILE CONCURRENCY CPU         the figures of a wrk --latency run, as a results line (JSON)
  bench-json FILE LABEL CONCURRENCY CPU  a `saring bench --json` report as a results line (JSON)

CPU, for the three above, is four arguments: the server's CPU seconds before and after (from `cpu`),
a file with the client's user and system seconds (bash's `time` with TIMEFORMAT='%U %S') and how many
checks the server made meanwhile; they become CPU microseconds per check.
  verify-h2load LINE DECIDED       fail unless h2load saw no error and saring decided all it counted
  verify-wrk LINE                  fail unless every wrk request got a 2xx answer
  report RESULTS.jsonl             the side-by-side Markdown tables of a run
"""

import concurrent.futures
import glob
import json
import os
import random
import re
import socket
import sys
import time
import urllib.error
import urllib.request

# Threads posting learn requests at once: enough to keep rspamd's controller busy without queueing
# far ahead of it.
LEARN_THREADS = 4


def fail(message):
    print(f"helper.py: {message}", file=sys.stderr)
    sys.exit(1)


def free_ports(n):
    # Hold every socket until all are bound, so the n ports are distinct.
    socks = []
    for _ in range(int(n)):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def wait_http(url, seconds):
    deadline = time.monotonic() + float(seconds)
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError) as e:
            last = e
        time.sleep(0.25)
    fail(f"{url} did not answer within {seconds} s ({last})")


def mail(text, n=0):
    """A comment as the smallest mail rspamd reads as text: constant headers, the comment as the body."""
    body = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return (
        "From: reader@example.com\r\n"
        "To: comments@example.com\r\n"
        "Subject: comment\r\n"
        f"Message-ID: <{n}@bench.invalid>\r\n"
        "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode("utf-8")


def message(text, out):
    with open(out, "wb") as f:
        f.write(mail(text))


def jsonl(text, out):
    with open(out, "w", encoding="utf-8") as f:
        f.write(json.dumps({"text": text}) + "\n")


def mix(out, *files):
    """Shuffled with a fixed seed, so that any stretch of the file has the corpus's mix of sources and
    labels: `saring bench` sends rows in order, and a short run would otherwise see one source only."""
    rows = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            rows.extend(line for line in f if line.strip())
    random.Random(0).shuffle(rows)
    with open(out, "w", encoding="utf-8") as f:
        f.writelines(r if r.endswith("\n") else r + "\n" for r in rows)


def decisions(path):
    d = json.load(open(path))["decisions"]
    print(", ".join(f"{k} {v}" for k, v in d.items() if v) + f" (of {sum(d.values())})")


def verify_h2load(line, decided):
    r, decided = json.loads(line), int(decided)
    if r.get("failed") or r.get("errored") or decided < r.get("succeeded", 0):
        fail(
            f"h2load: {r.get('succeeded')} succeeded, {r.get('failed')} failed, "
            f"{r.get('errored')} errored; saring decided {decided}"
        )


def verify_wrk(line):
    r = json.loads(line)
    if r["non_2xx"]:
        fail(f"wrk: {r['non_2xx']} answers were not 2xx")


def cpu(*pids):
    """User + system seconds of each process (all its threads) and of its direct children."""
    ticks = os.sysconf("SC_CLK_TCK")
    wanted = {int(p) for p in pids}
    total = 0
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                text = f.read()
        except OSError:
            continue  # gone meanwhile
        # The command name is in parentheses and may hold spaces: split after its closing one.
        fields = text[text.rindex(")") + 2 :].split()
        pid, ppid = int(stat.split("/")[2]), int(fields[1])
        if pid in wanted or ppid in wanted:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    print(f"{total / ticks:.2f}")


def rspamd_scanned(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        print(json.load(r)["scanned"])


def add_cpu(out, cpu_before, cpu_after, client_time_file, checks):
    """Server and client CPU microseconds per check, from the four CPU arguments."""
    checks = int(checks)
    if checks <= 0:
        fail("the server counted no checks during the run")
    user, system = (float(x) for x in open(client_time_file).read().split()[-2:])
    out["checks_counted"] = checks
    out["server_cpu_us"] = (float(cpu_after) - float(cpu_before)) / checks * 1e6
    out["client_cpu_us"] = (user + system) / checks * 1e6


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def string_field(number, value):
    data = value.encode("utf-8")
    return varint(number << 3 | 2) + varint(len(data)) + data


def grpc_body(site, ip, text, out):
    # saring.v1.CheckCommentRequest: site_id = 1, content = 9, user_ip = 10 (proto/saring/v1).
    msg = string_field(1, site) + string_field(9, text) + string_field(10, ip)
    # The gRPC frame: not compressed (0), then the length as 4 bytes big-endian.
    with open(out, "wb") as f:
        f.write(b"\x00" + len(msg).to_bytes(4, "big") + msg)


def wrk_script(body_file, out):
    with open(out, "w") as f:
        f.write(
            "-- Generated by bench/rspamd/helper.py: POST the same mail to /checkv2 on every request.\n"
            f'local f = assert(io.open("{body_file}", "rb"))\n'
            "wrk.method = \"POST\"\n"
            "wrk.body = f:read(\"*a\")\n"
            "f:close()\n"
        )


def post(url, data, timeout=30):
    req = urllib.request.Request(url, data=data, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def learn(controller, *files):
    rows = []
    for pattern in files:
        for path in sorted(glob.glob(pattern)) or [pattern]:
            try:
                with open(path, encoding="utf-8") as f:
                    for line_no, line in enumerate(f, 1):
                        if not line.strip():
                            continue
                        try:
                            row = json.loads(line)
                        except json.JSONDecodeError as e:
                            fail(f"{path}:{line_no}: invalid JSON: {e}")
                        label = str(row.get("label", "")).lower()
                        if label not in ("spam", "ham") or not row.get("text"):
                            continue
                        rows.append((label, row["text"]))
            except OSError as e:
                fail(f"cannot read {path}: {e}")
    if not rows:
        fail(f"no labelled rows in {' '.join(files)}")

    def one(item):
        n, (label, text) = item
        status, body = post(f"{controller}/learn{label}", mail(text, n))
        return label, status, body

    counts = {}
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(LEARN_THREADS) as pool:
        for i, (label, status, body) in enumerate(pool.map(one, enumerate(rows)), 1):
            # 200 learned; 208 already learned (a repeated text); 404 and its like: too few tokens.
            key = (label, status)
            counts[key] = counts.get(key, 0) + 1
            if status >= 500:
                fail(f"rspamd failed a learn ({status}): {body[:200]!r}")
            if i % 5000 == 0:
                print(f"  learned {i} of {len(rows)} ...", file=sys.stderr)
    took = time.monotonic() - started
    learned = {label: counts.get((label, 200), 0) for label in ("spam", "ham")}
    others = ", ".join(
        f"{label} {status}: {n}" for (label, status), n in sorted(counts.items()) if status != 200
    )
    print(
        f"  {len(rows)} rows in {took:.0f} s: learned spam {learned['spam']}, ham {learned['ham']}"
        + (f" (not learned, by status: {others})" if others else ""),
        file=sys.stderr,
    )
    if min(learned.values()) < 10:
        fail("rspamd learned fewer than 10 of a class: its Bayes would not classify")
    print(json.dumps({"rows": len(rows), "learned": learned, "seconds": round(took, 1)}))


def check_rspamd(url, body_file):
    with open(body_file, "rb") as f:
        status, body = post(url, f.read())
    if status != 200:
        fail(f"{url} answered {status}: {body[:200]!r}")
    result = json.loads(body)
    symbols = result.get("symbols", {})
    bayes = [s for s in symbols if s.startswith("BAYES_")]
    if not bayes:
        fail(f"rspamd's Bayes gave no verdict on the comment (symbols: {sorted(symbols)})")
    print(f"{result.get('action')} ({', '.join(bayes)}, score {result.get('score'):.2f})")


def metric_sum(url, name):
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    pattern = re.compile(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)$")
    for line in text.splitlines():
        m = pattern.match(line)
        if m:
            total += float(m.group(2))
    print(int(total))


def to_ms(value, unit):
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return float(value) * scale


def h2load(path, concurrency, *cpu_args):
    text = open(path).read()
    out = {"system": "saring", "tool": "h2load", "concurrency": int(concurrency)}
    m = re.search(r"finished in ([\d.]+)(\w+), ([\d.]+) req/s", text)
    if not m:
        fail(f"{path}: no h2load summary line")
    out["per_sec"] = float(m.group(3))
    m = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored",
        text,
    )
    if m:
        out.update(
            total=int(m.group(1)), succeeded=int(m.group(4)), failed=int(m.group(5)), errored=int(m.group(6))
        )
    m = re.search(r"time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)", text)
    if m:
        out["min_ms"] = to_ms(m.group(1), m.group(2))
        out["max_ms"] = to_ms(m.group(3), m.group(4))
        out["mean_ms"] = to_ms(m.group(5), m.group(6))
    add_cpu(out, *cpu_args)
    print(json.dumps(out))


def wrk(path, concurrency, *cpu_args):
    text = open(path).read()
    out = {"system": "rspamd", "tool": "wrk", "concurrency": int(concurrency)}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not m:
        fail(f"{path}: no wrk summary line")
    out["per_sec"] = float(m.group(1))
    m = re.search(r"(\d+) requests in", text)
    if m:
        out["total"] = int(m.group(1))
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if m:
            out[f"p{pct}_ms"] = to_ms(m.group(1), m.group(2))
    m = re.search(r"Latency\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)", text)
    if m:
        out["mean_ms"] = to_ms(m.group(1), m.group(2))
        out["max_ms"] = to_ms(m.group(5), m.group(6))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = sum(int(g) for g in m.groups()) if m else 0
    add_cpu(out, *cpu_args)
    print(json.dumps(out))


def fmt_ms(v):
    return "–" if v is None else f"{v:.2f} ms"


def fmt_us(v):
    return "–" if v is None else f"{v:.0f} µs"


def report(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    by = {(r["system"], r["tool"], r["concurrency"]): r for r in rows}
    print(
        "| concurrency | system (load generator) | checks/s | p50 | p99 | mean | max "
        "| server + its Redis, CPU per check | client CPU per check |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for c in sorted({r["concurrency"] for r in rows if r["tool"] in ("h2load", "wrk")}):
        for system, tool in (("saring", "h2load"), ("rspamd", "wrk")):
            r = by.get((system, tool, c))
            if r:
                print(
                    f"| {c} | {system} ({tool}) | {r['per_sec']:,.0f} | {fmt_ms(r.get('p50_ms'))} | "
                    f"{fmt_ms(r.get('p99_ms'))} | {fmt_ms(r.get('mean_ms'))} | {fmt_ms(r.get('max_ms'))} | "
                    f"{fmt_us(r.get('server_cpu_us'))} | {fmt_us(r.get('client_cpu_us'))} |"
                )
        s, p = by.get(("saring", "h2load", c)), by.get(("rspamd", "wrk", c))
        if s and p and p["per_sec"] > 0:
            cpu = (
                f"**{p['server_cpu_us'] / s['server_cpu_us']:.1f}× less**"
                if s.get("server_cpu_us") and p.get("server_cpu_us")
                else ""
            )
            print(f"| {c} | **saring ÷ rspamd** | **{s['per_sec'] / p['per_sec']:.1f}×** | | | | | {cpu} | |")
    bench = [r for r in rows if r["tool"] == "saring bench"]
    if bench:
        print()
        print(
            "| saring bench | checks/s | p50 | p90 | p99 | p99.9 | max | errors | decisions "
            "| server + Redis, CPU per check | client CPU per check |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in bench:
            d = r["decisions"]
            print(
                f"| {r['label']} | {r['per_sec']:,.0f} | {fmt_ms(r['p50_ms'])} | {fmt_ms(r['p90_ms'])} | "
                f"{fmt_ms(r['p99_ms'])} | {fmt_ms(r['p99_9_ms'])} | {fmt_ms(r['max_ms'])} | {r['errors']} | "
                f"{d['accept']} / {d['hold']} / {d['reject']} | "
                f"{fmt_us(r.get('server_cpu_us'))} | {fmt_us(r.get('client_cpu_us'))} |"
            )
        print()
        print("decisions: accept / hold / reject")


def bench_json(path, label, concurrency, *cpu_args):
    """Turn a `saring bench --json` report into a results line."""
    r = json.load(open(path))
    l = r.get("latency_us") or {}
    ms = lambda k: l[k] / 1000.0 if k in l else None  # noqa: E731
    out = {
                "system": "saring",
                "tool": "saring bench",
                "label": label,
                "concurrency": int(concurrency),
                "per_sec": r["checks_per_sec"],
                "p50_ms": ms("p50"),
                "p90_ms": ms("p90"),
                "p99_ms": ms("p99"),
                "p99_9_ms": ms("p99_9"),
                "max_ms": ms("max"),
                "errors": r["errors"]["total"],
                "decisions": r["decisions"],
            }
    add_cpu(out, *cpu_args)
    print(json.dumps(out))


COMMANDS = {
    "free-ports": free_ports,
    "wait-http": wait_http,
    "message": message,
    "grpc-body": grpc_body,
    "wrk-script": wrk_script,
    "learn": learn,
    "check-rspamd": check_rspamd,
    "metric-sum": metric_sum,
    "cpu": cpu,
    "rspamd-scanned": rspamd_scanned,
    "jsonl": jsonl,
    "mix": mix,
    "decisions": decisions,
    "verify-h2load": verify_h2load,
    "verify-wrk": verify_wrk,
    "h2load": h2load,
    "wrk": wrk,
    "report": report,
    "bench-json": bench_json,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        fail(f"usage: helper.py {{{'|'.join(COMMANDS)}}} ARGS...")
    try:
        COMMANDS[sys.argv[1]](*sys.argv[2:])
    except TypeError as e:
        fail(f"{sys.argv[1]}: wrong arguments ({e})")
