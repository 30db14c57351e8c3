#!/usr/bin/env bash
# Backup benchmark: bunker vs restic vs rustic on the same data, in one run, warm page cache.
#
# Usage: bench/backup.sh [TREE_DIR] [STREAM_MIB]
#   TREE_DIR    directory tree to back up (default: the Rust toolchain, `rustc --print sysroot`)
#   STREAM_MIB  size of the generated stdin stream in MiB (default: 1024)
# Environment:
#   BENCH_RUNS      repetitions of every measured command; the median is reported (default: 3)
#   BENCH_NO_BUILD  set to 1 to skip `cargo build --release`
#   BENCH_BUNKER    bunker binary to measure (default: target/release/bunker)
#   BENCH_RUSTIC_CACHE  `dir` (default): rustic gets --cache-dir under bench/work, wiped between
#                   runs like restic's; `none`: rustic runs with --no-cache
#
# Everything is written under bench/work (gitignored); results go to stdout and
# bench/work/results.md, raw measurements to bench/work/raw.tsv.
set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

TREE="${1:-$(rustc --print sysroot)}"
TREE="$(cd "$TREE" && pwd)"
STREAM_MIB="${2:-1024}"
RUNS="${BENCH_RUNS:-3}"
WORK="$ROOT/bench/work"
TIME=/usr/bin/time
CMDLINE="bench/backup.sh $*"

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

[ -x "$TIME" ] || die "GNU time ($TIME) not found; run scripts/setup"
command -v zstd >/dev/null 2>&1 || die "zstd not found; run scripts/setup"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ "$STREAM_MIB" =~ ^[1-9][0-9]*$ ]] || die "STREAM_MIB must be a positive integer"

# ---------------------------------------------------------------- tools
if [ "${BENCH_NO_BUILD:-0}" != 1 ] && [ -z "${BENCH_BUNKER:-}" ]; then
    log "cargo build --release"
    cargo build --release >&2
fi
BUNKER="${BENCH_BUNKER:-${CARGO_TARGET_DIR:-$ROOT/target}/release/bunker}"
[ -x "$BUNKER" ] || die "$BUNKER not found (build failed?)"

TOOLS=(bunker)
SKIPPED=()
if command -v restic >/dev/null 2>&1; then TOOLS+=(restic); else SKIPPED+=("skipped: restic not installed"); fi
if command -v rustic >/dev/null 2>&1; then TOOLS+=(rustic); else SKIPPED+=("skipped: rustic not installed"); fi
for s in ${SKIPPED[@]+"${SKIPPED[@]}"}; do log "$s"; done

RUSTIC_CACHE_OPT=()
if [[ " ${TOOLS[*]} " == *" rustic "* ]]; then
    rustic_help="$(rustic --help 2>&1 || true)"
    if [ "${BENCH_RUSTIC_CACHE:-dir}" = dir ] && grep -q -- '--cache-dir' <<<"$rustic_help"; then
        RUSTIC_CACHE_OPT=(--cache-dir "$WORK/cache/rustic")
    elif grep -q -- '--no-cache' <<<"$rustic_help"; then
        RUSTIC_CACHE_OPT=(--no-cache)
    fi
fi

export BUNKER_PASSWORD=bench-password
export RESTIC_PASSWORD=bench-password
export RUSTIC_PASSWORD=bench-password
# Each tool's local cache lives under bench/work and is deleted before every run.
export RESTIC_CACHE_DIR="$WORK/cache/restic"

# ---------------------------------------------------------------- work dir
mkdir -p "$WORK"
rm -rf "$WORK/repo" "$WORK/restore" "$WORK/cache" "$WORK/logs" "$WORK/limit"
mkdir -p "$WORK/repo" "$WORK/restore" "$WORK/cache" "$WORK/logs" "$WORK/limit"
RAW="$WORK/raw.tsv"
printf 'tool\top\trun\tstatus\twall_s\tuser_s\tsys_s\tmaxrss_kib\trepo_bytes\n' >"$RAW"

TREE_BYTES=$(du -sb "$TREE" | cut -f1)
STREAM_BYTES=$((STREAM_MIB * 1024 * 1024))

# ---------------------------------------------------------------- stream file
# Concatenate tar archives of the tree until STREAM_MIB is reached. Pass k is run
# through a byte rotation by k (a bijective byte substitution): every pass has the
# same compressibility as the tree itself, but passes do not deduplicate against
# each other or against the tree backups.
STREAM="$WORK/stream.tar"
rot_args() { # k -> the two tr sets of a rotation by k
    local k=$1
    if [ "$k" -eq 0 ]; then
        printf '%s\n%s\n' '\000-\377' '\000-\377'
    else
        printf '%s\n%s\n' '\000-\377' "$(printf '\\%03o-\\377\\000-\\%03o' "$k" $((k - 1)))"
    fi
}
if [ ! -f "$STREAM" ] || [ "$(stat -c %s "$STREAM")" -ne "$STREAM_BYTES" ] \
    || [ "$(cat "$STREAM.src" 2>/dev/null)" != "$TREE" ]; then
    log "generating ${STREAM_MIB} MiB stream from $TREE"
    : >"$STREAM"
    k=0
    while [ "$(stat -c %s "$STREAM")" -lt "$STREAM_BYTES" ]; do
        [ "$k" -lt 256 ] || die "tree too small to generate the stream"
        mapfile -t sets < <(rot_args "$k")
        { tar cf - -C "$TREE" . 2>/dev/null || true; } | tr "${sets[0]}" "${sets[1]}" >>"$STREAM"
        k=$((k + 1))
    done
    truncate -s "$STREAM_BYTES" "$STREAM"
    echo "$TREE" >"$STREAM.src"
fi

# Warm the page cache.
log "warming page cache"
{ tar cf - -C "$TREE" . 2>/dev/null || true; } | cat >/dev/null
cat "$STREAM" >/dev/null

# ---------------------------------------------------------------- measuring
# measure TOOL OP RUN STDIN CMD...: run CMD under GNU time with STDIN as its standard
# input and append a row to raw.tsv. If SIZE_OF names a directory, its size (du -sb)
# after a successful run is recorded as the repository size.
SIZE_OF=""
measure() {
    local tool=$1 op=$2 run=$3 input=$4
    shift 4
    local tf="$WORK/logs/time.$$" lf="$WORK/logs/$tool.$op.$run.log" status=ok size=-
    if ! "$TIME" -f '%e %U %S %M' -o "$tf" "$@" <"$input" >"$lf" 2>&1; then
        status=failed
        log "$tool $op (run $run) failed, see bench/work/logs/$tool.$op.$run.log"
    fi
    local wall=0 user=0 sys=0 rss=0
    read -r wall user sys rss < <(tail -n 1 "$tf") || true
    rm -f "$tf"
    if [ "$status" = ok ] && [ -n "$SIZE_OF" ]; then
        size=$(du -sb "$SIZE_OF" | cut -f1)
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$tool" "$op" "$run" "$status" "$wall" "$user" "$sys" "$rss" "$size" >>"$RAW"
    [ "$status" = ok ]
}

# tool_cmd TOOL REPO: prints nothing; sets array CMD to the tool's base command.
tool_cmd() {
    case "$1" in
        bunker) CMD=("$BUNKER" -r "$2") ;;
        restic) CMD=(restic -r "$2") ;;
        rustic) CMD=(rustic ${RUSTIC_CACHE_OPT[@]+"${RUSTIC_CACHE_OPT[@]}"} -r "$2") ;;
    esac
}

reset_caches() {
    rm -rf "$WORK/cache"
    mkdir -p "$WORK/cache"
}

bench_tool() {
    local tool=$1 run=$2
    local repo="$WORK/repo/$tool" srepo="$WORK/repo/$tool-stream" dest="$WORK/restore/$tool"
    rm -rf "$repo" "$srepo" "$dest"
    reset_caches
    # Tools that follow the XDG convention keep their cache under bench/work too.
    export XDG_CACHE_HOME="$WORK/cache/xdg-$tool"
    local CMD
    tool_cmd "$tool" "$repo"
    local -a C=("${CMD[@]}")

    SIZE_OF="" measure "$tool" init "$run" /dev/null "${C[@]}" init || return 0
    SIZE_OF="$repo" measure "$tool" backup-first "$run" /dev/null "${C[@]}" backup "$TREE" || true
    SIZE_OF="$repo" measure "$tool" backup-nochange "$run" /dev/null "${C[@]}" backup "$TREE" || true
    mkdir -p "$dest"
    case "$tool" in
        rustic) SIZE_OF="" measure "$tool" restore "$run" /dev/null "${C[@]}" restore latest "$dest" || true ;;
        *) SIZE_OF="" measure "$tool" restore "$run" /dev/null "${C[@]}" restore latest --target "$dest" || true ;;
    esac
    rm -rf "$dest"
    SIZE_OF="" measure "$tool" check-read-data "$run" /dev/null "${C[@]}" check --read-data || true

    # stdin stream into its own fresh repository (init not measured)
    tool_cmd "$tool" "$srepo"
    local -a S=("${CMD[@]}")
    if ! "${S[@]}" init >"$WORK/logs/$tool.stream-init.$run.log" 2>&1; then
        log "$tool: init of the stream repository failed, see bench/work/logs/$tool.stream-init.$run.log"
        return 0
    fi
    case "$tool" in
        rustic) SIZE_OF="$srepo" measure "$tool" backup-stdin "$run" "$STREAM" \
            "${S[@]}" backup - --stdin-filename stream.tar || true ;;
        *) SIZE_OF="$srepo" measure "$tool" backup-stdin "$run" "$STREAM" \
            "${S[@]}" backup --stdin --stdin-filename stream.tar || true ;;
    esac
    rm -rf "$srepo"
    return 0
}

bench_limits() {
    local run=$1
    local dest="$WORK/limit/untar"
    measure limit tar-cat "$run" /dev/null \
        bash -c 'tar cf - -C "$1" . | cat >/dev/null' _ "$TREE" || true
    measure limit tar-zstd "$run" /dev/null \
        bash -c 'tar cf - -C "$1" . | zstd -3 -T0 -q >/dev/null' _ "$TREE" || true
    rm -rf "$dest"
    mkdir -p "$dest"
    measure limit tar-untar "$run" /dev/null \
        bash -c 'tar cf - -C "$1" . | tar xf - -C "$2"' _ "$TREE" "$dest" || true
    rm -rf "$dest"
}

for run in $(seq 1 "$RUNS"); do
    log "run $run/$RUNS: machine limits"
    bench_limits "$run"
    for tool in "${TOOLS[@]}"; do
        log "run $run/$RUNS: $tool"
        bench_tool "$tool" "$run"
    done
done
rm -rf "$WORK/repo" "$WORK/restore" "$WORK/cache"

# ---------------------------------------------------------------- report
# One awk pass computes medians and writes the Markdown table.
report() {
    echo "## Backup benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Command: \`$CMDLINE\` (BENCH_RUNS=$RUNS, median of $RUNS runs, warm page cache)"
    echo
    echo "- tree: \`$TREE\`, $(awk -v b="$TREE_BYTES" 'BEGIN{printf "%.1f", b/1048576}') MiB, $(find "$TREE" -type f | wc -l) files"
    echo "- stream: ${STREAM_MIB} MiB generated from the tree"
    echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
    echo "- bunker: $("$BUNKER" --version 2>/dev/null | head -n1 || echo unknown)"
    for t in "${TOOLS[@]}"; do
        case "$t" in
            restic) echo "- restic: $(restic version 2>/dev/null | head -n1)" ;;
            rustic) echo "- rustic: $(rustic --version 2>/dev/null | head -n1) (cache: ${RUSTIC_CACHE_OPT[*]:-default})" ;;
        esac
    done
    for s in ${SKIPPED[@]+"${SKIPPED[@]}"}; do echo "- $s"; done
    echo
    awk -F'\t' -v tree_bytes="$TREE_BYTES" -v stream_bytes="$STREAM_BYTES" -v tools="limit ${TOOLS[*]}" '
    function median(list,    a, n, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
        if (n % 2) return a[(n + 1) / 2]
        return (a[n / 2] + a[n / 2 + 1]) / 2
    }
    NR > 1 {
        k = $1 SUBSEP $2
        if ($4 != "ok") { failed[k] = 1; seen[k] = 1; next }
        seen[k] = 1
        wall[k] = wall[k] " " $5
        cpu[k] = cpu[k] " " ($6 + $7)
        rss[k] = rss[k] " " $8
        if ($9 != "-") size[k] = size[k] " " $9
    }
    END {
        nops = split("tar-cat tar-zstd tar-untar init backup-first backup-nochange restore check-read-data backup-stdin", ops, " ")
        label["tar-cat"] = "tar \\| cat"; label["tar-zstd"] = "tar \\| zstd -3 -T0"; label["tar-untar"] = "tar \\| tar x"
        label["init"] = "init"; label["backup-first"] = "backup (first)"; label["backup-nochange"] = "backup (no change)"
        label["restore"] = "restore"; label["check-read-data"] = "check --read-data"; label["backup-stdin"] = "backup --stdin"
        for (i = 1; i <= nops; i++) {
            o = ops[i]
            bytes[o] = (o == "backup-stdin") ? stream_bytes : tree_bytes
        }
        print "| tool | operation | wall median (s) | CPU user+sys (s) | peak RSS (MiB) | repo size (MiB) | throughput (MiB/s) | wall / restic |"
        print "|---|---|---:|---:|---:|---:|---:|---:|"
        nt = split(tools, tl, " ")
        for (t = 1; t <= nt; t++) for (i = 1; i <= nops; i++) {
            tool = tl[t]; o = ops[i]; k = tool SUBSEP o
            if (!(k in seen)) continue
            name = (tool == "limit") ? "machine limit" : tool
            if (k in failed) { printf "| %s | %s | failed | | | | | |\n", name, label[o]; continue }
            w = median(wall[k]); c = median(cpu[k]); r = median(rss[k]) / 1024
            s = (k in size) ? sprintf("%.1f", median(size[k]) / 1048576) : "-"
            tp = (o == "init" || o == "backup-nochange" || w <= 0) ? "-" : sprintf("%.0f", bytes[o] / 1048576 / w)
            rk = "restic" SUBSEP o
            ratio = (tool != "restic" && tool != "limit" && (rk in wall) && !(rk in failed) && median(wall[rk]) > 0) ? sprintf("%.2f", w / median(wall[rk])) : "-"
            printf "| %s | %s | %.2f | %.2f | %.0f | %s | %s | %s |\n", name, label[o], w, c, r, s, tp, ratio
        }
    }' "$RAW"
}

report | tee "$WORK/results.md"
