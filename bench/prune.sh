#!/usr/bin/env bash
# Prune benchmark: bunker vs restic vs rustic on copies of the same repository.
#
# Usage: bench/prune.sh [SNAPSHOTS] [FILES]
#   SNAPSHOTS  number of snapshots to make (default 200)
#   FILES      files of 1 MiB in the tree (default 200); each snapshot replaces one
# Environment: BENCH_RUNS (default 3), BENCH_NO_BUILD=1 to skip `cargo build --release`.
#
# One repository is built with bunker: SNAPSHOTS backups of a tree in which every
# backup replaces one file, so old snapshots hold data nobody else uses. restic then
# forgets the oldest 60% of the snapshots, which leaves about 30% of the data
# unreferenced. Each tool prunes its own fresh copy of that repository (default
# max-unused 5% for all three); wall time, CPU and peak RSS are the median of the runs,
# and every pruned copy must pass `restic check`.
set -euo pipefail
export LC_ALL=C
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
SNAPS="${1:-200}"
FILES="${2:-200}"
RUNS="${BENCH_RUNS:-3}"
WORK="$ROOT/bench/work/prune"
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench: GNU time missing; run scripts/setup" >&2; exit 1; }
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then cargo build --release >&2; fi
BUNKER="$ROOT/target/release/bunker"
export BUNKER_PASSWORD=bench RESTIC_PASSWORD=bench RUSTIC_PASSWORD=bench

rm -rf "$WORK" && mkdir -p "$WORK/tree"
echo "bench: building a repository with $SNAPS snapshots" >&2
for i in $(seq 1 "$FILES"); do head -c 1048576 /dev/urandom > "$WORK/tree/f$i"; done
"$BUNKER" -q -r "$WORK/base" init
for s in $(seq 1 "$SNAPS"); do
    head -c 1048576 /dev/urandom > "$WORK/tree/f$(( (s % FILES) + 1 ))"
    "$BUNKER" -q -r "$WORK/base" backup "$WORK/tree"
done
forget=$(( SNAPS * 60 / 100 ))
ids=$("$BUNKER" -r "$WORK/base" snapshots --json | python3 -c "import json,sys; print(' '.join(s['id'] for s in json.load(sys.stdin)[:$forget]))")
# shellcheck disable=SC2086
restic -q -r "$WORK/base" forget $ids >/dev/null
unused=$("$BUNKER" -r "$WORK/base" prune --dry-run --json | python3 -c "import json,sys; p=json.load(sys.stdin); print(f\"{p['bytes_unused']/max(p['bytes_total'],1)*100:.0f}% of {p['bytes_total']/1048576:.0f} MiB\")")
echo "bench: unreferenced: $unused" >&2

declare -A CMD=(
    [bunker]="$BUNKER -q -r REPO prune"
    [restic]="restic -q -r REPO prune"
    [rustic]="rustic -r REPO prune"
)
RAW="$WORK/raw.tsv"
printf 'tool\trun\twall_s\tcpu_s\tmaxrss_kib\trepo_bytes\n' > "$RAW"
for run in $(seq 1 "$RUNS"); do
    for tool in bunker restic rustic; do
        command -v "${CMD[$tool]%% *}" >/dev/null 2>&1 || { echo "bench: skipped: $tool not installed" >&2; continue; }
        rm -rf "$WORK/$tool" "$WORK/cache" && cp -a "$WORK/base" "$WORK/$tool"
        export RESTIC_CACHE_DIR="$WORK/cache" XDG_CACHE_HOME="$WORK/cache"
        cmd=${CMD[$tool]//REPO/$WORK/$tool}
        # shellcheck disable=SC2086
        $TIME -f '%e %U %S %M' -o "$WORK/time" $cmd > "$WORK/$tool.log" 2>&1 || { echo "bench: $tool prune failed, see $WORK/$tool.log" >&2; exit 1; }
        restic -q -r "$WORK/$tool" check >/dev/null
        read -r wall user sys rss < "$WORK/time"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$run" "$wall" "$(python3 -c "print($user + $sys)")" "$rss" "$(du -sb "$WORK/$tool" | cut -f1)" >> "$RAW"
    done
done
python3 - "$RAW" "$SNAPS" "$unused" "$RUNS" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print(f"### prune: {sys.argv[2]} snapshots, unreferenced {sys.argv[3]}, median of {sys.argv[4]} runs\n")
print("| tool | wall (s) | CPU (s) | peak RSS (MiB) | repo after (MiB) | wall / restic |")
print("|---|---:|---:|---:|---:|---:|")
meds = {}
for tool in ["bunker", "restic", "rustic"]:
    r = [x for x in rows if x["tool"] == tool]
    if r:
        meds[tool] = {k: statistics.median(float(x[k]) for x in r) for k in ["wall_s", "cpu_s", "maxrss_kib", "repo_bytes"]}
for tool, m in meds.items():
    ratio = "-" if tool == "restic" or "restic" not in meds else f"{m['wall_s'] / meds['restic']['wall_s']:.2f}"
    print(f"| {tool} | {m['wall_s']:.2f} | {m['cpu_s']:.2f} | {m['maxrss_kib']/1024:.0f} | {m['repo_bytes']/1048576:.1f} | {ratio} |")
PY
