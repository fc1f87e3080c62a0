#!/usr/bin/env bash
# saring against rspamd's Bayes classifier on this machine, in one run: the same comment, the same
# concurrency (16 and 64 connections), each system on a Redis of its own on loopback. saring is driven
# by h2load (HTTP/2, a framed gRPC CheckComment), rspamd's /checkv2 by wrk (HTTP/1.1); then
# `saring bench` gives saring's latency percentiles with unique comment ids over the corpus.
#
#   bash bench/rspamd/run.sh
#
# Environment (all optional):
#   SARING_CORPUS   folder of labelled *.jsonl to train rspamd on and to load saring with
#                   [default: ../shared/data/corpus beside the repository]
#   DURATION        seconds of each measurement [10]
#   WARMUP          seconds of warm-up before each measurement [2]
#   CONCURRENCY     connection counts to measure [16 64]
#   WORKERS         scanning threads for saring (--workers) and processes for rspamd (the normal
#                   worker's count), the same for both [the number of cores]
#   BENCH_COMMENT   the comment both systems check [a reader's comment saring accepts]
#   SARING_BIN      a saring binary to use instead of building target/release/saring
#   OUT             where the results, the raw tool outputs and report.md go [target/bench-rspamd]
#   KEEP            1 keeps the temporary folder (configs, logs) after the run
#
# Installs rspamd, nghttp2-client (h2load), wrk and redis-server with apt-get when missing. Every
# process it starts is stopped when it exits, however it exits. Not part of CI or `cargo test`.
# README.md beside this file says what rspamd runs with and why.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
corpus="${SARING_CORPUS:-$repo/../shared/data/corpus}"
duration="${DURATION:-10}"
warmup="${WARMUP:-2}"
concurrency="${CONCURRENCY:-16 64}"
workers="${WORKERS:-$(nproc)}"
out="${OUT:-$repo/target/bench-rspamd}"
# A reader's comment of ordinary length (31 words), long enough for rspamd's Bayes (min_tokens 11)
# and accepted by saring's shipped model: the common case, with no held comment to store.
comment="${BENCH_COMMENT:-Thanks for this article. I live near the new bridge and the traffic really is better since it opened, but the bus timetable changed too and nobody mentions that part of the story.}"
helper=(python3 -B "$here/helper.py")

say() { echo "bench/rspamd: $*" >&2; }
die() {
    say "error: $*"
    exit 1
}

# --- tools -------------------------------------------------------------------------------------------
missing=()
command -v rspamd >/dev/null || missing+=(rspamd)
command -v h2load >/dev/null || missing+=(nghttp2-client)
command -v wrk >/dev/null || missing+=(wrk)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    say "installing ${missing[*]} with apt-get"
    "${sudo[@]}" apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
fi
compgen -G "$corpus/*.jsonl" >/dev/null ||
    die "no *.jsonl in $corpus: set SARING_CORPUS to a folder of labelled JSONL"

# --- clean-up: every process started here is stopped on exit ---------------------------------------
tmp="$(mktemp -d -t saring-rspamd.XXXXXX)"
pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "${KEEP:-0}" = 1 ]; then
        say "kept $tmp"
    else
        rm -rf "$tmp"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# The last lines of a log, when a step that wrote it failed.
show() { say "last lines of $1:"; tail -n 20 "$1" >&2 || true; }

# --- saring ------------------------------------------------------------------------------------------
if [ -n "${SARING_BIN:-}" ]; then
    saring="$SARING_BIN"
else
    say "building saring (release)"
    (cd "$repo" && cargo build --release --locked --bin saring) || die "cargo build failed"
    saring="$repo/target/release/saring"
fi
[ -x "$saring" ] || die "$saring is not an executable"

read -r redis_rspamd redis_saring rspamd_normal rspamd_controller grpc admin \
    < <("${helper[@]}" free-ports 6) || die "no free ports"
start_redis() {
    mkdir -p "$tmp/redis-$1"
    # No persistence: both systems' Redis the same way; what a save would cost is not the question.
    redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp/redis-$1" \
        >"$tmp/redis-$1.log" 2>&1 &
    pids+=($!)
}
start_redis "$redis_rspamd"
redis_rspamd_pid=$!
start_redis "$redis_saring"
redis_saring_pid=$!

# --- rspamd: its own config, Redis, ports and folders -----------------------------------------------
mkdir -p "$tmp/rspamd/db" "$tmp/rspamd/run" "$tmp/rspamd/log"
sed -e "s/@REDIS@/127.0.0.1:$redis_rspamd/g" \
    -e "s/@NORMAL@/127.0.0.1:$rspamd_normal/g" \
    -e "s/@CONTROLLER@/127.0.0.1:$rspamd_controller/g" \
    -e "s/@WORKERS@/$workers/g" \
    "$here/rspamd.conf" >"$tmp/rspamd/rspamd.conf"
rspamd_args=(-f -c "$tmp/rspamd/rspamd.conf"
    --var="DBDIR=$tmp/rspamd/db" --var="RUNDIR=$tmp/rspamd/run" --var="LOGDIR=$tmp/rspamd/log")
# rspamd will not run its workers as root unless told it may.
[ "$(id -u)" -ne 0 ] || rspamd_args+=(-i)
say "starting rspamd $(rspamd --version | awk '{print $NF}') (normal worker 127.0.0.1:$rspamd_normal, controller :$rspamd_controller)"
rspamd "${rspamd_args[@]}" >"$tmp/rspamd/stdout.log" 2>&1 &
rspamd_pid=$!
pids+=($!)
"${helper[@]}" wait-http "http://127.0.0.1:$rspamd_controller/stat" 180 ||
    { show "$tmp/rspamd/log/rspamd.log"; die "rspamd did not start"; }

say "training rspamd's Bayes on $corpus/*.jsonl over /learnspam and /learnham"
"${helper[@]}" learn "http://127.0.0.1:$rspamd_controller" "$corpus/*.jsonl" >"$tmp/learn.json" ||
    { show "$tmp/rspamd/log/rspamd.log"; die "training rspamd failed"; }

"${helper[@]}" message "$comment" "$tmp/comment.eml"
"${helper[@]}" wrk-script "$tmp/comment.eml" "$tmp/checkv2.lua"
rspamd_verdict="$("${helper[@]}" check-rspamd "http://127.0.0.1:$rspamd_normal/checkv2" "$tmp/comment.eml")" ||
    die "rspamd does not classify the comment"
say "rspamd says: $rspamd_verdict"

# --- saring serve: as shipped but for benches/e2e.toml, on its own Redis -----------------------------
say "starting saring serve (127.0.0.1:$grpc, admin :$admin, Redis :$redis_saring)"
"$saring" serve --config "$repo/benches/e2e.toml" --model "$repo/models/default.model" \
    --redis-url "redis://127.0.0.1:$redis_saring" --data-dir "$tmp/saring" \
    --addr "127.0.0.1:$grpc" --admin-addr "127.0.0.1:$admin" --workers "$workers" \
    >"$tmp/saring.out" 2>"$tmp/saring.log" &
saring_pid=$!
pids+=($!)
"${helper[@]}" wait-http "http://127.0.0.1:$admin/readyz" 60 ||
    { show "$tmp/saring.log"; die "saring serve did not become ready"; }
key="$(awk '/service:/ {print $1; exit}' "$tmp/saring.out")"
[ -n "$key" ] || { show "$tmp/saring.out"; die "saring serve printed no service key"; }
export SARING_KEY="$key"

"${helper[@]}" jsonl "$comment" "$tmp/comment.jsonl"
"$saring" bench --addr "127.0.0.1:$grpc" --requests 20 --duration 60s --data "$tmp/comment.jsonl" \
    --json >"$tmp/probe.json" || { show "$tmp/saring.log"; die "saring does not answer the comment"; }
saring_verdict="$("${helper[@]}" decisions "$tmp/probe.json")"
say "saring says: $saring_verdict"
"${helper[@]}" grpc-body default 2001:db8::1 "$comment" "$tmp/check.bin"

# --- measurements ------------------------------------------------------------------------------------
mkdir -p "$out"
results="$out/results.jsonl"
: >"$results"
load_before="$(uptime)"
# A busy machine gives low figures for both systems: say so before measuring, and in the report.
if awk -v cores="$(nproc)" '{exit !($1 > cores / 4)}' /proc/loadavg; then
    say "warning: the machine is busy (load $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores): figures will be low"
fi
checks() { "${helper[@]}" metric-sum "http://127.0.0.1:$admin/metrics" saring_checks_total; }
scanned() { "${helper[@]}" rspamd-scanned "http://127.0.0.1:$rspamd_controller/stat"; }
# CPU seconds a system used: the server's processes (rspamd's main and its workers) and its Redis.
saring_cpu() { "${helper[@]}" cpu "$saring_pid" "$redis_saring_pid"; }
rspamd_cpu() { "${helper[@]}" cpu "$rspamd_pid" "$redis_rspamd_pid"; }
# The client's user and system CPU seconds, as bash's `time` gives them.
TIMEFORMAT='%U %S'

for c in $concurrency; do
    say "saring, h2load -c $c -m 1: ${warmup} s warm-up, ${duration} s measured"
    before="$(checks)" cpu_before="$(saring_cpu)"
    { time h2load -c "$c" -m 1 -t 1 --warm-up-time="${warmup}s" -D "${duration}s" \
        -H 'content-type: application/grpc' -H 'te: trailers' -H "authorization: Bearer $key" \
        -d "$tmp/check.bin" "http://127.0.0.1:$grpc/saring.v1.Moderation/CheckComment" \
        >"$out/h2load-$c.txt" 2>&1; } 2>"$tmp/client-time" || { show "$out/h2load-$c.txt"; die "h2load failed"; }
    after="$(checks)" cpu_after="$(saring_cpu)"
    # CPU per check over every check the server made, the warm-up's included (its CPU is too).
    line="$("${helper[@]}" h2load "$out/h2load-$c.txt" "$c" \
        "$cpu_before" "$cpu_after" "$tmp/client-time" "$((after - before))")"
    # h2load counts an HTTP 200 as success, and gRPC puts its errors in trailers of a 200: the
    # server's own count of decisions must cover every request h2load counted.
    "${helper[@]}" verify-h2load "$line" "$((after - before))" || die "h2load's requests were not all decided"
    echo "$line" >>"$results"

    say "rspamd, wrk -c $c: ${warmup} s warm-up, ${duration} s measured"
    if [ "$warmup" != 0 ]; then
        wrk -t 1 -c "$c" -d "${warmup}s" -s "$tmp/checkv2.lua" "http://127.0.0.1:$rspamd_normal/checkv2" \
            >/dev/null 2>&1 || true
    fi
    before="$(scanned)" cpu_before="$(rspamd_cpu)"
    { time wrk -t 1 -c "$c" -d "${duration}s" --latency -s "$tmp/checkv2.lua" \
        "http://127.0.0.1:$rspamd_normal/checkv2" >"$out/wrk-$c.txt" 2>&1; } 2>"$tmp/client-time" ||
        { show "$out/wrk-$c.txt"; die "wrk failed"; }
    after="$(scanned)" cpu_after="$(rspamd_cpu)"
    line="$("${helper[@]}" wrk "$out/wrk-$c.txt" "$c" \
        "$cpu_before" "$cpu_after" "$tmp/client-time" "$((after - before))")"
    "${helper[@]}" verify-wrk "$line" || die "rspamd did not answer every request"
    echo "$line" >>"$results"
done

# `saring bench` as one results line: NAME (of its raw output), LABEL, CONNECTIONS, DATA, then any
# further flags.
saring_bench() {
    local name="$1" label="$2" c="$3" data="$4" before cpu_before after cpu_after
    shift 4
    before="$(checks)" cpu_before="$(saring_cpu)"
    { time "$saring" bench --addr "127.0.0.1:$grpc" --connections "$c" --in-flight 1 "$@" \
        --duration "${duration}s" --warmup "${warmup}s" --data "$data" --json \
        >"$out/$name.json"; } 2>"$tmp/client-time" || { show "$tmp/saring.log"; die "saring bench failed"; }
    after="$(checks)" cpu_after="$(saring_cpu)"
    "${helper[@]}" bench-json "$out/$name.json" "$label" "$c" \
        "$cpu_before" "$cpu_after" "$tmp/client-time" "$((after - before))" >>"$results"
}

# saring bench: unique comment ids, the whole corpus shuffled, one client and each concurrency.
"${helper[@]}" mix "$tmp/comments.jsonl" "$corpus"/*.jsonl
for c in 1 $concurrency; do
    say "saring bench --connections $c: unique comment ids over the corpus"
    saring_bench "bench-$c" "$c connection$([ "$c" = 1 ] || echo s), unique ids" "$c" "$tmp/comments.jsonl"
done
# One client, the comparison's comment without a comment id (nothing remembered, as h2load's).
say "saring bench --connections 1 --no-comment-ids: the comparison's comment"
saring_bench bench-1-no-ids "1 connection, the comment, no ids" 1 "$tmp/comment.jsonl" --no-comment-ids
load_after="$(uptime)"

# --- report ------------------------------------------------------------------------------------------
{
    echo "saring $("$saring" --version | awk '{print $2}') against rspamd $(rspamd --version | awk '{print $NF}'), $(date -u +%Y-%m-%d)"
    echo "machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); client and servers share the cores"
    echo "scanning: saring $workers worker thread(s), rspamd $workers normal worker process(es)"
    echo "load before: ${load_before##*load average: }; after: ${load_after##*load average: }"
    echo "tools: $(h2load --version | head -n 1), $(wrk -v 2>&1 | head -n 1 | awk '{print $1, $2}'), redis-server $(redis-server --version | awk '{print $3}' | cut -d= -f2)"
    echo "comment: \"$comment\""
    echo "verdicts: saring $saring_verdict; rspamd $rspamd_verdict"
    echo "rspamd trained on: $(cat "$tmp/learn.json")"
    echo
    "${helper[@]}" report "$results"
} | tee "$out/report.md"
say "results in $out"
