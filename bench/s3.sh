#!/usr/bin/env bash
# Object storage benchmark: bunker vs restic backing up the same data to the same Garage
# bucket over loopback, counting the S3 requests each command makes.
#
# Usage: bench/s3.sh [TREE_DIR] [STREAM_MIB]
#   TREE_DIR    directory tree to back up (default: the Rust toolchain, `rustc --print sysroot`)
#   STREAM_MIB  size of the generated stdin stream in MiB (default: 1024)
# Environment:
#   BENCH_RUNS      repetitions of every measured command; the median is reported (default: 3)
#   BENCH_NO_BUILD  set to 1 to skip `cargo build --release`
#   BENCH_BUNKER    bunker binary to measure (default: target/release/bunker)
#   BENCH_SOURCE    what BENCH_BUNKER was built from, for the report (e.g. a commit)
#
# The script starts its own single-node Garage (`garage` on PATH or in ~/.cargo/bin) under
# bench/work/s3/garage, with one bucket, one key and the admin API's Prometheus metrics,
# and stops it on exit. Every run gives each tool fresh repositories under its own prefix
# of that bucket (TOOL/rRUN/tree, TOOL/rRUN/stream) and a fresh local cache, then measures:
# init, the first backup of the tree, a second backup of the unchanged tree, a restore of
# the tree, and a backup of the stream from standard input into the stream repository
# (whose init is not measured). Each command runs under GNU time (wall, CPU, peak RSS of
# the client); Garage's `api_s3_request_counter` and `api_s3_error_counter` are read before
# and after it, and the difference is the requests it made, by endpoint. Garage's own CPU
# time over the command is read from /proc.
#
# Everything lives under bench/work (gitignored): the Garage node, caches, restores and
# logs in bench/work/s3, the stream in bench/work/stream.tar (the same file, made the same
# way, as bench/backup.sh's). Results go to stdout and bench/work/results-s3.md, raw
# measurements to bench/work/s3/raw.tsv and the requests by endpoint to
# bench/work/s3/requests.tsv, every command's output to bench/work/s3/logs/.
set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

TREE="${1:-$(rustc --print sysroot)}"
TREE="$(cd "$TREE" && pwd)"
STREAM_MIB="${2:-1024}"
RUNS="${BENCH_RUNS:-3}"
WORK="$ROOT/bench/work/s3"
GW="$WORK/garage"
LOGS="$WORK/logs"
RAW="$WORK/raw.tsv"
REQS="$WORK/requests.tsv"
RESULTS="$ROOT/bench/work/results-s3.md"
STREAM="$ROOT/bench/work/stream.tar"
TIME=/usr/bin/time
CMDLINE="$(env | grep '^BENCH_' | sort | tr '\n' ' ')bench/s3.sh${*:+ $*}"
REGION=us-east-1
BUCKET=bench

die() { echo "bench-s3: $*" >&2; exit 1; }
log() { echo "bench-s3: $(date -u +%H:%M:%S) $*" >&2; }

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ "$STREAM_MIB" =~ ^[1-9][0-9]*$ ]] || die "STREAM_MIB must be a positive integer"
[ -x "$TIME" ] || die "GNU time ($TIME) not found; run scripts/setup"
for t in garage restic curl ss; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found on PATH; run scripts/setup"
done

# ---------------------------------------------------------------- bunker
# The source the binary is built from, taken before the build.
SRC_REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain -- src crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then
    SRC_REV="$SRC_REV with uncommitted changes"
fi
if [ -n "${BENCH_BUNKER:-}" ]; then
    SRC_REV="${BENCH_SOURCE:-unknown}, binary $BENCH_BUNKER"
elif [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    log "cargo build --release"
    cargo build --release >&2
else
    # Whatever was built last: the working tree may have moved since.
    SRC_REV="$SRC_REV at the start, prebuilt binary (BENCH_NO_BUILD=1)"
fi
BUNKER_SRC="${BENCH_BUNKER:-${CARGO_TARGET_DIR:-$ROOT/target}/release/bunker}"
[ -x "$BUNKER_SRC" ] || die "$BUNKER_SRC not found (build failed?)"

# ---------------------------------------------------------------- work dir
GARAGE_PID=""
stop_garage() {
    if [ -n "$GARAGE_PID" ]; then
        kill "$GARAGE_PID" 2>/dev/null || true
        wait "$GARAGE_PID" 2>/dev/null || true
        GARAGE_PID=""
    fi
}
# One run at a time: a second one would empty this one's work directory, share its
# counter files and remove its Garage on exit. The lock file lies outside the work
# directory, which every run deletes.
mkdir -p "$(dirname "$WORK")"
exec 9>"$WORK.lock"
flock -n 9 || die "another bench/s3.sh is running (it holds ${WORK#"$ROOT"/}.lock)"
trap 'stop_garage; rm -rf "$GW"' EXIT
trap 'exit 130' INT TERM HUP

rm -rf "$WORK"
mkdir -p "$GW" "$LOGS" "$WORK/cache" "$WORK/restore"
# A private copy: a build running elsewhere must not swap the binary during the run.
BUNKER="$WORK/bunker"
cp "$BUNKER_SRC" "$BUNKER"

unset BUNKER_REPOSITORY BUNKER_PASSWORD_FILE BUNKER_PASSWORD_COMMAND BUNKER_CACHE_DIR \
    RESTIC_REPOSITORY RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND RESTIC_CACHE_DIR \
    AWS_PROFILE AWS_SESSION_TOKEN AWS_REGION
export BUNKER_PASSWORD=bench-password RESTIC_PASSWORD=bench-password
export XDG_CACHE_HOME="$WORK/cache/xdg"

# ---------------------------------------------------------------- Garage
hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
port_free() { ! ss -lntH "sport = :$1" 2>/dev/null | grep -q .; }
PORTS=()
p=39900
while [ "${#PORTS[@]}" -lt 3 ]; do
    [ "$p" -lt 40900 ] || die "no free ports for Garage in 39900-40899"
    if port_free "$p"; then PORTS+=("$p"); fi
    p=$((p + 1))
done
RPC_PORT=${PORTS[0]} S3_PORT=${PORTS[1]} ADMIN_PORT=${PORTS[2]}
METRICS_TOKEN="$(hex 16)"
AWS_ACCESS_KEY_ID="GK$(hex 12)"
AWS_SECRET_ACCESS_KEY="$(hex 32)"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION="$REGION"
ENDPOINT="http://127.0.0.1:$S3_PORT"

# As in tests/cli/servers/garage.rs, plus the metrics token. Garage's defaults otherwise
# (zstd level 1 on data blocks of 1 MiB), fsync off: the disk is not what is measured.
cat >"$GW/garage.toml" <<EOF
metadata_dir = "$GW/meta"
data_dir = "$GW/data"
db_engine = "sqlite"
metadata_fsync = false
data_fsync = false
replication_factor = 1
rpc_secret = "$(hex 32)"
rpc_bind_addr = "127.0.0.1:$RPC_PORT"
rpc_public_addr = "127.0.0.1:$RPC_PORT"

[s3_api]
s3_region = "$REGION"
api_bind_addr = "127.0.0.1:$S3_PORT"

[admin]
api_bind_addr = "127.0.0.1:$ADMIN_PORT"
metrics_token = "$METRICS_TOKEN"
EOF
chmod 600 "$GW/garage.toml"
gcli() { garage -c "$GW/garage.toml" "$@"; }
# retry DESCRIPTION CMD...: runs CMD until it succeeds, for at most 30 s.
retry() {
    local what=$1 tries=300
    shift
    while [ "$tries" -gt 0 ]; do
        tries=$((tries - 1))
        if "$@" >>"$LOGS/garage-setup.log" 2>&1; then return 0; fi
        kill -0 "$GARAGE_PID" 2>/dev/null || die "Garage exited, see $LOGS/garage.log"
        sleep 0.1
    done
    die "Garage: $what still failing after 30 s, see $LOGS/garage-setup.log and $LOGS/garage.log"
}

log "starting Garage ($(garage --version | head -n 1)): S3 on $ENDPOINT, admin on port $ADMIN_PORT"
RUST_LOG=garage=warn garage -c "$GW/garage.toml" server >"$LOGS/garage.log" 2>&1 &
GARAGE_PID=$!
retry "node id" gcli node id -q
NODE_ID="$(gcli node id -q 2>/dev/null | cut -d@ -f1)"
# The capacity only weighs nodes against each other; it is not a quota.
retry "layout assign" gcli layout assign -z dc1 -c 100G "$NODE_ID"
retry "layout apply" gcli layout apply --version 1
retry "health" curl -sf -o /dev/null "http://127.0.0.1:$ADMIN_PORT/health"
retry "key import" gcli key import --yes -n bench "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
retry "bucket create" gcli bucket create "$BUCKET"
retry "bucket allow" gcli bucket allow --read --write --owner "$BUCKET" --key "$AWS_ACCESS_KEY_ID"
CLK_TCK=$(getconf CLK_TCK)

# counters FILE: Garage's S3 request and error counters now, one `requests ENDPOINT N` or
# `errors ENDPOINT/STATUS N` line each.
counters() {
    curl -sf -H "Authorization: Bearer $METRICS_TOKEN" "http://127.0.0.1:$ADMIN_PORT/metrics" \
        | awk '
            /^api_s3_(request|error)_counter\{/ {
                kind = ($0 ~ /^api_s3_request/) ? "requests" : "errors"
                ep = $0; sub(/.*api_endpoint="/, "", ep); sub(/".*/, "", ep)
                if (kind == "errors") { st = $0; sub(/.*status_code="/, "", st); sub(/".*/, "", st); ep = ep "/" st }
                print kind, ep, $NF
            }' >"$1" || die "cannot read Garage's metrics on port $ADMIN_PORT"
}
# garage_cpu: Garage's user + system CPU time so far, in clock ticks.
garage_cpu() { awk '{ print $14 + $15 }' "/proc/$GARAGE_PID/stat"; }

# ---------------------------------------------------------------- data
TREE_BYTES=$(du -sb "$TREE" | cut -f1)
TREE_FILES=$(find "$TREE" -type f | wc -l)
TREE_FILE_BYTES=$(find "$TREE" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
STREAM_BYTES=$((STREAM_MIB * 1024 * 1024))

# The stream: tar archives of the tree, one after another, until STREAM_MIB is reached.
# Pass k goes through `tr` rotating every byte value by k, so every pass compresses like
# the tree but no pass deduplicates against another or against the tree. bench/backup.sh
# makes the same file in the same place, so either script reuses the other's.
rotation() { # K: the second `tr` set of a rotation of every byte by K (1..255)
    printf '\\%03o-\\377\\000-\\%03o' "$1" $(($1 - 1))
}
if [ ! -f "$STREAM" ] || [ "$(stat -c %s "$STREAM")" -ne "$STREAM_BYTES" ] \
    || [ "$(cat "$STREAM.src" 2>/dev/null)" != "$TREE" ]; then
    log "generating a ${STREAM_MIB} MiB stream from $TREE"
    rm -f "$STREAM.src"
    { tar cf - -C "$TREE" . 2>/dev/null || true; } >"$STREAM"
    k=1
    while [ "$(stat -c %s "$STREAM")" -lt "$STREAM_BYTES" ]; do
        [ "$k" -lt 256 ] || die "tree too small to make the stream"
        { tar cf - -C "$TREE" . 2>/dev/null || true; } | tr '\000-\377' "$(rotation "$k")" >>"$STREAM"
        k=$((k + 1))
    done
    truncate -s "$STREAM_BYTES" "$STREAM"
    echo "$TREE" >"$STREAM.src"
fi

log "warming the page cache"
{ tar cf - -C "$TREE" . 2>/dev/null || true; } | cat >/dev/null
cat "$STREAM" >/dev/null

# ---------------------------------------------------------------- measuring
printf 'tool\top\trun\tstatus\twall_s\tuser_s\tsys_s\tmaxrss_kib\trequests\terrors\tgarage_cpu_s\n' >"$RAW"
printf 'tool\top\trun\tcounter\tendpoint\tcount\n' >"$REQS"

# measure TOOL OP RUN STDIN CMD...: runs CMD under GNU time with STDIN as its standard
# input, after a `sync` (the previous restore's writeback must not land in it), and
# appends a row to raw.tsv and its requests by endpoint to requests.tsv.
measure() {
    local tool=$1 op=$2 run=$3 input=$4
    shift 4
    local tf="$LOGS/time.$$" lf="$LOGS/$tool.$op.$run.log" status=ok
    local before="$LOGS/counters.before" after="$LOGS/counters.after" cpu0 cpu1
    sync
    counters "$before"
    cpu0=$(garage_cpu)
    if ! "$TIME" -f '%e %U %S %M' -o "$tf" "$@" <"$input" >"$lf" 2>&1; then
        status=failed
        log "$tool $op (run $run) failed, see ${lf#"$ROOT"/}"
    fi
    cpu1=$(garage_cpu)
    counters "$after"
    local wall=0 user=0 sys=0 rss=0
    read -r wall user sys rss < <(tail -n 1 "$tf") || true
    rm -f "$tf"
    # The counters' growth, by endpoint; counters that appeared during CMD started at 0.
    awk -v pre="$tool\t$op\t$run" '
        FILENAME == ARGV[1] { was[$1 " " $2] = $3; next }
        { d = $3 - was[$1 " " $2]; if (d > 0) printf "%s\t%s\t%s\t%d\n", pre, $1, $2, d }' \
        "$before" "$after" >>"$REQS"
    local requests errors
    requests=$(awk -F'\t' -v t="$tool" -v o="$op" -v r="$run" \
        '$1 == t && $2 == o && $3 == r && $4 == "requests" { s += $6 } END { print s + 0 }' "$REQS")
    errors=$(awk -F'\t' -v t="$tool" -v o="$op" -v r="$run" \
        '$1 == t && $2 == o && $3 == r && $4 == "errors" { s += $6 } END { print s + 0 }' "$REQS")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$op" "$run" "$status" \
        "$wall" "$user" "$sys" "$rss" "$requests" "$errors" \
        "$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')" >>"$RAW"
    [ "$status" = ok ]
}

# base_cmd TOOL REPO: the tool's command on REPO, as an array in CMD; the tool's cache
# directory is set in the environment.
base_cmd() {
    case $1 in
        bunker) CMD=(env BUNKER_CACHE_DIR="$WORK/cache/bunker" "$BUNKER" -r "$2") ;;
        restic) CMD=(env RESTIC_CACHE_DIR="$WORK/cache/restic" restic -r "$2") ;;
    esac
}

# restored_check TOOL DIR: the restore brought back every file of the tree, byte for byte
# in total (both tools restore the tree under its absolute path inside DIR).
restored_check() {
    local files bytes
    files=$(find "$2" -type f | wc -l)
    bytes=$(find "$2" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
    if [ "$files" -ne "$TREE_FILES" ] || [ "$bytes" -ne "$TREE_FILE_BYTES" ]; then
        log "WARNING: $1 restored $files files, $bytes bytes; the tree has $TREE_FILES files, $TREE_FILE_BYTES bytes"
    fi
}

bench_tool() {
    local tool=$1 run=$2
    local tree_repo="s3:$ENDPOINT/$BUCKET/$tool/r$run/tree"
    local stream_repo="s3:$ENDPOINT/$BUCKET/$tool/r$run/stream"
    local dest="$WORK/restore/$tool" CMD
    rm -rf "$WORK/cache" "$dest"
    mkdir -p "$WORK/cache" "$dest"

    base_cmd "$tool" "$tree_repo"
    local -a T=("${CMD[@]}")
    measure "$tool" init "$run" /dev/null "${T[@]}" init || return 0
    # A binary that does not know s3: locations takes one for a local path and measures
    # the local disk instead.
    if [ "$(tail -n 1 "$RAW" | cut -f9)" -eq 0 ]; then
        die "$tool init made no S3 request: does $tool know s3: locations? see $LOGS/$tool.init.$run.log"
    fi
    measure "$tool" backup-first "$run" /dev/null "${T[@]}" backup "$TREE" || return 0
    measure "$tool" backup-nochange "$run" /dev/null "${T[@]}" backup "$TREE" || true
    if measure "$tool" restore "$run" /dev/null "${T[@]}" restore latest --target "$dest"; then
        restored_check "$tool" "$dest"
    fi
    rm -rf "$dest"

    base_cmd "$tool" "$stream_repo"
    local -a S=("${CMD[@]}")
    if ! "${S[@]}" init >"$LOGS/$tool.stream-init.$run.log" 2>&1; then
        log "$tool: init of the stream repository failed, see $LOGS/$tool.stream-init.$run.log"
        return 0
    fi
    measure "$tool" backup-stdin "$run" "$STREAM" "${S[@]}" backup --stdin --stdin-filename stream.tar || true
}

TOOLS=(bunker restic)
for run in $(seq 1 "$RUNS"); do
    for tool in "${TOOLS[@]}"; do
        log "run $run/$RUNS: $tool"
        bench_tool "$tool" "$run"
    done
done
GARAGE_DATA_BYTES=$(du -sb "$GW/data" | cut -f1)
stop_garage
rm -rf "$WORK/cache" "$WORK/restore"

# ---------------------------------------------------------------- report
report() {
    echo "## Object storage (S3 on Garage), $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Command: \`$CMDLINE\` (median of $RUNS run$([ "$RUNS" -eq 1 ] || echo s), warm page cache)"
    echo
    echo "- tree: \`$TREE\`, $(awk -v b="$TREE_BYTES" 'BEGIN{printf "%.1f", b/1048576}') MiB, $TREE_FILES files; stream: ${STREAM_MIB} MiB generated from the tree"
    echo "- storage: $(garage --version | head -n 1), one node on 127.0.0.1, one bucket, sqlite metadata, fsync off, default block size and compression; the tools' repositories are separate prefixes of that bucket; $(awk -v b="$GARAGE_DATA_BYTES" 'BEGIN{printf "%.0f", b/1048576}') MiB of data stored at the end"
    echo "- bunker: $("$BUNKER" --version 2>/dev/null | head -n 1) (source $SRC_REV), default settings (\`connections\` 5)"
    echo "- restic: $(restic version 2>/dev/null | head -n 1), default settings (repository version 2, compression auto, default pack size, \`s3.connections\` 5)"
    echo "- both: fresh local cache every run (\`BUNKER_CACHE_DIR\`, \`RESTIC_CACHE_DIR\` under bench/work, deleted between runs), password from the environment, \`sync\` before every command"
    echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r); client and Garage share the cores"
    echo
    awk -F'\t' -v tree_bytes="$TREE_BYTES" -v stream_bytes="$STREAM_BYTES" -v reqs="$REQS" '
    function sortv(list, v,    n, i, j, x) {
        n = split(list, v, " ")
        for (i = 2; i <= n; i++) { x = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
        return n
    }
    function med(list,    v, n) { n = sortv(list, v); return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
    function ok(k) { return (k in wall) && !(k in bad) }
    function ratio(a, b) { return (b + 0 > 0) ? sprintf("%.2f", a / b) : "-" }
    NR == 1 { next }
    {
        k = $1 SUBSEP $2
        if ($4 != "ok") { bad[k] = 1; next }
        wall[k] = wall[k] " " $5; cpu[k] = cpu[k] " " ($6 + $7); rss[k] = rss[k] " " $8
        req[k] = req[k] " " $9; err[k] = err[k] " " $10; gcpu[k] = gcpu[k] " " $11
    }
    END {
        nops = split("init backup-first backup-nochange backup-stdin restore", ops, " ")
        label["init"] = "init"; label["backup-first"] = "(a) backup, first"
        label["backup-nochange"] = "(b) backup, no change"; label["restore"] = "(d) restore"
        label["backup-stdin"] = "(c) backup --stdin"
        for (i = 1; i <= nops; i++) bytes[ops[i]] = (ops[i] == "backup-stdin") ? stream_bytes : tree_bytes
        bytes["init"] = 0

        print "| tool | operation | wall (s) | throughput (MiB/s) | CPU user+sys (s) | peak RSS (MiB) | S3 requests | of which errors | Garage CPU (s) |"
        print "|---|---|---:|---:|---:|---:|---:|---:|---:|"
        split("bunker restic", tl, " ")
        for (t = 1; t <= 2; t++) for (i = 1; i <= nops; i++) {
            o = ops[i]; k = tl[t] SUBSEP o
            if (k in bad) { printf "| %s | %s | failed | | | | | | |\n", tl[t], label[o]; continue }
            if (!(k in wall)) continue
            w = med(wall[k])
            tp = (bytes[o] > 0 && w > 0) ? sprintf("%.0f", bytes[o] / 1048576 / w) : "-"
            printf "| %s | %s | %.2f | %s | %.2f | %.0f | %d | %d | %.2f |\n", tl[t], label[o], w, tp,
                med(cpu[k]), med(rss[k]) / 1024, med(req[k]), med(err[k]), med(gcpu[k])
        }
        print ""
        print "| operation | throughput, bunker / restic | target ≥ 1.50× | requests, bunker / restic | target ≤ 1 | wall, bunker / restic | peak RSS, bunker / restic |"
        print "|---|---:|---|---:|---|---:|---:|"
        for (i = 1; i <= nops; i++) {
            o = ops[i]; b = "bunker" SUBSEP o; r = "restic" SUBSEP o
            if (!ok(b) || !ok(r)) { printf "| %s | - | - | - | - | - | - |\n", label[o]; continue }
            bw = med(wall[b]); rw = med(wall[r]); br = med(req[b]); rr = med(req[r])
            tpr = ratio(rw, bw); rqr = ratio(br, rr)
            t1 = (o == "init") ? "" : ((tpr != "-" && tpr + 0 >= 1.5) ? "met" : "missed")
            t2 = (o == "init") ? "" : ((br <= rr) ? "met" : "missed")
            printf "| %s | %s× | %s | %d / %d = %s | %s | %s | %s |\n", label[o], tpr, t1, br, rr, rqr, t2,
                ratio(bw, rw), ratio(med(rss[b]), med(rss[r]))
        }

        # Requests by endpoint: the median over the runs of each (tool, operation, endpoint).
        sorted = "sort -t \"\t\" -k5,5 " reqs
        while ((sorted | getline line) > 0) {
            split(line, f, "\t")
            if (f[1] == "tool") continue
            key = f[2] SUBSEP f[4] SUBSEP f[5]
            n[f[1] SUBSEP key] = n[f[1] SUBSEP key] " " f[6]
            if (!(key in seenkey)) { seenkey[key] = 1; keys[++nk] = key }
        }
        close(sorted)
        print ""
        print "S3 requests by endpoint (median of the runs; errors by endpoint and HTTP status):"
        print ""
        print "| operation | endpoint | bunker | restic |"
        print "|---|---|---:|---:|"
        for (i = 1; i <= nops; i++) for (c = 1; c <= 2; c++) for (j = 1; j <= nk; j++) {
            split(keys[j], kf, SUBSEP)
            if (kf[1] != ops[i] || kf[2] != ((c == 1) ? "requests" : "errors")) continue
            vb = (("bunker" SUBSEP keys[j]) in n) ? med(n["bunker" SUBSEP keys[j]]) : 0
            vr = (("restic" SUBSEP keys[j]) in n) ? med(n["restic" SUBSEP keys[j]]) : 0
            printf "| %s | %s%s | %d | %d |\n", label[ops[i]], (c == 2) ? "errors: " : "", kf[3], vb, vr
        }
        print ""
        print "Throughput: input bytes (the tree'"'"'s `du -sb`, or the stream) over the median wall time. Requests: the growth of Garage'"'"'s `api_s3_request_counter` over the command, all endpoints. Peak RSS: the client process (GNU time); Garage'"'"'s CPU is its user + system time over the command. Ratios are of the medians."
    }' "$RAW"
}

report | tee "$RESULTS"
