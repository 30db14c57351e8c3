#!/usr/bin/env bash
# PostgreSQL physical backup benchmark: bunker pg basebackup, pitr and wal-push against
# pgBackRest (backup, restore, archive-push) on the same throwaway PostgreSQL cluster
# filled by `pgbench -i`.
#
# Usage: bench/pgbase.sh [SCALE]
#   SCALE  pgbench scale factor (default: 100, about 1.5 GB; 5 for a quick run)
# Environment:
#   BENCH_RUNS            repetitions of the full backup, restore and wal-push measurements;
#                         medians are reported (default: 3)
#   BENCH_NO_BUILD        set to 1 to skip `cargo build --release`
#   BENCH_BUNKER          bunker binary to measure (default: target/release/bunker)
#   BENCH_PG_SERVER_BIN   PostgreSQL server binaries (default: /usr/lib/postgresql/15/bin)
#   BENCH_PGBENCH_SECONDS length of the pgbench run before the third backup (default: 60)
#   BENCH_WAL_SEGMENTS    WAL segments every tool pushes, one process each (default: 64)
#   BENCH_ONLY            `bunker` or `pgbackrest` to measure one tool only (default: both)
#
# Sequence: a full backup with each tool (a fresh repository every run; the last run's
# repositories are kept), a typical day of changes and a second backup into them, a
# pgbench run and a third backup, restores of the newest backup into a new data
# directory, then wal-push of the same held WAL segments into fresh repositories.
# pgBackRest runs with process-max=2, start-fast=y, its default compression, and
# archive-check=n, bunker with --archive-timeout 0: neither waits for its own archive to
# receive the backup's WAL. The cluster's archive_command is /bin/true for the first two
# backups and copies the segments aside from the third on; before the restores those are
# pushed (untimed) into both archives, since bunker's pitr refuses a base backup whose WAL
# the archive lacks.
#
# Everything lives under bench/work/pgbase (gitignored): the cluster, the repositories,
# the held WAL segments, the restored data directories. Results go to stdout and
# bench/work/pgbase/results.md, raw measurements to bench/work/pgbase/raw.tsv (and the
# per-segment wal-push latencies to wal.tsv), every command's output to
# bench/work/pgbase/logs/.
set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

SCALE="${1:-100}"
RUNS="${BENCH_RUNS:-3}"
PG_SERVER_BIN="${BENCH_PG_SERVER_BIN:-/usr/lib/postgresql/15/bin}"
PGBENCH_SECONDS="${BENCH_PGBENCH_SECONDS:-60}"
SEGMENTS="${BENCH_WAL_SEGMENTS:-64}"
ONLY="${BENCH_ONLY:-}"
PGW="$ROOT/bench/work/pgbase"
CL="$PGW/cluster"     # server log and socket directory
DATA="$CL/data"
REPOS="$PGW/repo"
NEWDIR="$PGW/restore/data"
ARCH="$PGW/archive"   # WAL segments of the third backups, copied by archive_command
HOLD="$PGW/hold"      # WAL segments for the wal-push measurements, likewise
PGBR="$PGW/pgbackrest" # pgBackRest's config, log and lock directories
PGBR_CONF="$PGBR/pgbackrest.conf"
LOGS="$PGW/logs"
RAW="$PGW/raw.tsv"
WALRAW="$PGW/wal.tsv"
TIME=/usr/bin/time
CMDLINE="$(env | grep '^BENCH_' | sort | tr '\n' ' ')bench/pgbase.sh${*:+ $*}"

die() { echo "bench-pgbase: $*" >&2; exit 1; }
log() { echo "bench-pgbase: $(date -u +%H:%M:%S) $*" >&2; }

[[ "$SCALE" =~ ^[1-9][0-9]*$ ]] || die "SCALE must be a positive integer"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ "$PGBENCH_SECONDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_PGBENCH_SECONDS must be a positive integer"
[[ "$SEGMENTS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_WAL_SEGMENTS must be a positive integer"
case "$ONLY" in "" | bunker | pgbackrest) ;; *) die "BENCH_ONLY must be bunker or pgbackrest" ;; esac
[ "$(id -u)" -eq 0 ] || die "run as root (the cluster and the tools run as the postgres OS user)"
id postgres >/dev/null 2>&1 || die "no postgres OS user"
[ -x "$TIME" ] || die "GNU time ($TIME) not found"
for t in initdb pg_ctl postgres; do [ -x "$PG_SERVER_BIN/$t" ] || die "$PG_SERVER_BIN/$t not found"; done
for t in psql pgbench createdb runuser; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found on PATH"
done

# want TOOL: TOOL is measured in this run.
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
TOOLS=()
want bunker && TOOLS+=(bunker)
want pgbackrest && TOOLS+=(pgbackrest)
if want pgbackrest; then
    command -v pgbackrest >/dev/null 2>&1 || die "pgbackrest not found on PATH (scripts/setup installs it)"
fi

# ---------------------------------------------------------------- bunker
# The source the binary is built from, taken before the build.
SRC_REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain -- src crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then
    SRC_REV="$SRC_REV with uncommitted changes"
fi
if want bunker; then
    if [ "${BENCH_NO_BUILD:-0}" != 1 ] && [ -z "${BENCH_BUNKER:-}" ]; then
        log "cargo build --release"
        cargo build --release >&2
    fi
    BUNKER_SRC="${BENCH_BUNKER:-${CARGO_TARGET_DIR:-$ROOT/target}/release/bunker}"
    [ -x "$BUNKER_SRC" ] || die "$BUNKER_SRC not found (build failed?)"
fi

# bunker finds its repository and password here, in every process (also the ones run as
# postgres: runuser keeps the environment).
export BUNKER_REPOSITORY="$REPOS/bunker"
export BUNKER_PASSWORD_FILE="$PGW/password"
export XDG_CACHE_HOME="$PGW/cache"
unset BUNKER_PASSWORD BUNKER_PASSWORD_COMMAND BUNKER_CACHE_DIR BUNKER_PG_DSN BUNKER_PG_BIN \
    PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS

# ---------------------------------------------------------------- cluster
stop_cluster() {
    if [ -f "$DATA/postmaster.pid" ]; then
        runuser -u postgres -- "$PG_SERVER_BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
    fi
}
stop_cluster # a cluster left behind by an interrupted run
rm -rf "$PGW"
mkdir -p "$CL" "$REPOS" "$ARCH" "$HOLD" "$PGBR/log" "$PGBR/lock" "$LOGS" "$XDG_CACHE_HOME" "$(dirname "$NEWDIR")"
echo bench-password >"$BUNKER_PASSWORD_FILE"
chmod 600 "$BUNKER_PASSWORD_FILE"
chmod 700 "$XDG_CACHE_HOME"
# Everything the tools touch belongs to the user they run as.
chown postgres: "$CL" "$REPOS" "$ARCH" "$HOLD" "$PGBR" "$PGBR/log" "$PGBR/lock" "$XDG_CACHE_HOME" \
    "$BUNKER_PASSWORD_FILE" "$(dirname "$NEWDIR")"
if want bunker; then
    # A private copy: a build running elsewhere must not swap the binary during the run.
    BUNKER="$PGW/bunker"
    cp "$BUNKER_SRC" "$BUNKER"
fi
trap 'stop_cluster' EXIT
trap 'exit 130' INT TERM HUP

# The socket lives in our own directory, so the port only has to differ from
# ports in use elsewhere on the machine for the sake of clarity in `ss` output.
PORT=55432
while ss -lnx 2>/dev/null | grep -q "\.s\.PGSQL\.$PORT\b" || ss -lnt 2>/dev/null | grep -q ":$PORT\b"; do
    PORT=$((PORT + 1))
done

log "initdb (scale $SCALE, port $PORT)"
runuser -u postgres -- "$PG_SERVER_BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 \
    --locale=C.UTF-8 >"$LOGS/initdb.log" 2>&1 || die "initdb failed, see $LOGS/initdb.log"
# Server defaults otherwise, fsync on included. Archiving is on, as a cluster backed up
# this way has it, but archives nothing: the WAL pushes are measured by hand below.
cat >>"$DATA/postgresql.conf" <<EOF

# bench/pgbase.sh
port = $PORT
listen_addresses = ''
unix_socket_directories = '$CL'
wal_level = replica
max_wal_senders = 4
archive_mode = on
archive_command = '/bin/true'
EOF
runuser -u postgres -- "$PG_SERVER_BIN/pg_ctl" -D "$DATA" -l "$CL/log" -w start >/dev/null \
    || die "the server did not start, see $CL/log"

export PGHOST="$CL" PGPORT="$PORT" PGUSER=postgres
DSN="host=$CL port=$PORT user=postgres dbname=postgres"
sql() { psql -X -q -v ON_ERROR_STOP=1 -At -d "${DB:-postgres}" -c "$1"; }

# ---------------------------------------------------------------- data
log "pgbench -i -s $SCALE"
createdb app
pgbench -i -q -s "$SCALE" app >"$LOGS/pgbench-init.log" 2>&1 || die "pgbench -i failed, see $LOGS/pgbench-init.log"
DB=app sql "VACUUM ANALYZE"
CLUSTER_BYTES=$(sql "SELECT sum(pg_database_size(oid)) FROM pg_database")
ROWS=$(DB=app sql "SELECT count(*) FROM pgbench_accounts")
MAXAID=$(DB=app sql "SELECT max(aid) FROM pgbench_accounts")
WAL_SEG_BYTES=$(sql "SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'")
log "databases $((CLUSTER_BYTES / 1048576)) MiB, $ROWS accounts"

# ---------------------------------------------------------------- pgBackRest
# One config for every call (--config): the stanza's repository is always
# $REPOS/pgbackrest, emptied and created anew where a measurement needs a fresh one.
# Every backup is kept (the retention setting only silences the warning that none is set).
cat >"$PGBR_CONF" <<EOF
[global]
repo1-path=$REPOS/pgbackrest
repo1-retention-full=9999999
process-max=2
start-fast=y
archive-check=n
log-path=$PGBR/log
lock-path=$PGBR/lock

[bench]
pg1-path=$DATA
pg1-socket-path=$CL
pg1-port=$PORT
EOF
chown postgres: "$PGBR_CONF"
chmod 640 "$PGBR_CONF"
PGBACKREST=(runuser -u postgres -- pgbackrest --config="$PGBR_CONF" --stanza=bench)
# The compression the backups and archive-push use, as `pgbackrest help` reports it: the
# value set (`current:`) or the default; the level's default depends on the type.
if want pgbackrest; then
    PGBR_COMPRESS="$("${PGBACKREST[@]}" help backup compress-type | sed -n 's/^\(current\|default\): //p' | head -n 1)"
    PGBR_LEVEL="$("${PGBACKREST[@]}" help backup compress-level | sed -n "s/^current: //p; s/^\* $PGBR_COMPRESS - //p" | tail -n 1)"
fi

# ---------------------------------------------------------------- measuring
printf 'op\trun\tstatus\twall_s\tuser_s\tsys_s\tmaxrss_kib\tsize_bytes\tadded_bytes\n' >"$RAW"
printf 'tool\trun\tsegment\tlatency_us\n' >"$WALRAW"

bytes_of() { if [ -e "$1" ]; then du -sb "$1" | cut -f1; else echo 0; fi; }

# Level the ground before every timed command: no dirty pages or WAL from the previous
# one left to flush while this one runs. (The page cache cannot be dropped reliably;
# the cluster and the repositories fit in memory, so every tool reads from it alike.)
settle() {
    sql "CHECKPOINT" >/dev/null
    sync
}

# record OP RUN STATUS: a row for a measurement that did not run.
record() {
    printf '%s\t%s\t%s\t0\t0\t0\t0\t-\t-\n' "$1" "$2" "$3" >>"$RAW"
    log "  $1 run $2: $3"
}

# measure OP RUN SIZE_PATH CMD...: times CMD (output to logs/OP.RUN.log) and appends a
# row to raw.tsv. SIZE_PATH ("" for none) is measured with du -sb before and after:
# size is the size after, added the growth. Wall time and peak RSS cover the whole
# process tree (pgBackRest's worker processes included; RSS is the largest process's).
measure() {
    local op=$1 run=$2 path=$3
    shift 3
    local lf="$LOGS/$op.$run.log" tf="$LOGS/.time" status=ok before=0 size=- added=-
    if [ -n "$path" ]; then before=$(bytes_of "$path"); fi
    settle
    if ! "$TIME" -f '%e %U %S %M' -o "$tf" "$@" >"$lf" 2>&1 </dev/null; then
        status=failed
        log "$op (run $run) failed, see $lf"
    fi
    local wall=0 user=0 sys=0 rss=0
    read -r wall user sys rss < <(tail -n 1 "$tf") || true
    if [ "$status" = ok ] && [ -n "$path" ]; then
        size=$(bytes_of "$path")
        added=$((size - before))
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$op" "$run" "$status" "$wall" "$user" "$sys" "$rss" "$size" "$added" >>"$RAW"
    log "  $op run $run: $status, ${wall}s${path:+, +$added bytes}"
    [ "$status" = ok ]
}

# new_repo TOOL: an empty repository (pgBackRest: a new stanza), not timed.
new_repo() {
    rm -rf "${REPOS:?}/$1"
    case $1 in
        bunker)
            runuser -u postgres -- "$BUNKER" init >"$LOGS/init.bunker.log" 2>&1 \
                || die "bunker init failed, see $LOGS/init.bunker.log"
            ;;
        pgbackrest)
            "${PGBACKREST[@]}" stanza-create >"$LOGS/init.pgbackrest.log" 2>&1 \
                || die "pgbackrest stanza-create failed, see $LOGS/init.pgbackrest.log"
            ;;
    esac
}

# backup_cmd TOOL FIRST: a base backup of the cluster, as an array in CMD; FIRST is 1
# for a full backup, 0 for one that builds on the repository's previous backups. Neither
# waits for the backup's WAL to reach its archive (see the top of this file).
backup_cmd() {
    case $1 in
        bunker)
            CMD=(runuser -u postgres -- "$BUNKER" pg basebackup --dsn "$DSN" --pgdata "$DATA" --archive-timeout 0)
            ;;
        pgbackrest)
            local type=incr
            [ "$2" = 1 ] && type=full
            CMD=("${PGBACKREST[@]}" --type="$type" backup)
            ;;
    esac
}

# archive_to DIR: from now on archive_command copies every completed segment into DIR
# (through a temporary name, so DIR never shows a partial copy); "" for /bin/true again.
archive_to() {
    local cmd=/bin/true
    [ -z "$1" ] || cmd="cp %p $1/.%f && mv $1/.%f $1/%f"
    sql "ALTER SYSTEM SET archive_command = '$cmd'"
    sql "SELECT pg_reload_conf()" >/dev/null
}
# segments_in DIR: the WAL segments in DIR, in WAL order, by absolute path.
segments_in() { find "$1" -maxdepth 1 -type f | grep -E '/[0-9A-F]{24}$' | sort || true; }
# switch_and_wait DIR: completes the current segment and waits (up to two minutes) until
# the archiver has copied it into DIR.
switch_and_wait() {
    local last
    # The checkpoint record makes sure there is something to switch away from.
    last=$(sql "CHECKPOINT; SELECT pg_walfile_name(pg_switch_wal())")
    for _ in $(seq 1 120); do
        [ -f "$1/$last" ] && return 0
        sleep 1
    done
    die "the archiver did not copy $last into $1, see $CL/log"
}

# Warm the page cache with the cluster (it fits in memory).
find "$DATA" -type f -exec cat {} + >/dev/null

# ---------------------------------------------------------------- (a) full backup
# Every run: each tool once, in turn, so that noise from other work on the machine falls
# on both alike; a fresh repository every run, so every measurement is a true first
# backup. The last run's repositories stay for the second and third backups.
declare -A CHAIN # TOOL -> 1 while its backup chain is intact (later steps build on it)
for run in $(seq 1 "$RUNS"); do
    log "(a) full base backup, run $run/$RUNS"
    for tool in "${TOOLS[@]}"; do
        new_repo "$tool"
        backup_cmd "$tool" 1
        CHAIN[$tool]=0
        if measure "full-$tool" "$run" "$REPOS/$tool" "${CMD[@]}"; then CHAIN[$tool]=1; fi
    done
done

# second_backup NAME: the next backup of every tool into its kept repository, once (the
# cluster moves on, so it cannot be repeated).
second_backup() {
    local tool
    for tool in "${TOOLS[@]}"; do
        if [ "${CHAIN[$tool]}" != 1 ]; then
            record "$1-$tool" 1 skipped
            continue
        fi
        backup_cmd "$tool" 0
        measure "$1-$tool" 1 "$REPOS/$tool" "${CMD[@]}" || CHAIN[$tool]=0
    done
}

# ---------------------------------------------------------------- (b) typical day
# 1% new accounts appended, and the newest 1% of the existing accounts (the highest
# aids) updated, as in bench/pg.sh.
STEP=$((ROWS / 100))
log "(b) typical day: +$STEP rows, $STEP rows updated"
DB=app sql "INSERT INTO pgbench_accounts (aid, bid, abalance, filler)
    SELECT g, ((g - 1) / 100000) % $SCALE + 1, 0, '' FROM generate_series($MAXAID + 1, $MAXAID + $STEP) g"
DB=app sql "UPDATE pgbench_accounts SET abalance = abalance + 1
    WHERE aid > $MAXAID - $STEP AND aid <= $MAXAID"
DB=app sql "VACUUM ANALYZE"
second_backup typical

# ---------------------------------------------------------------- (c) pgbench day
# Uniform random updates all over pgbench_accounts (-N: no updates of the small
# tellers and branches tables); the backup builds on the typical day's.
log "(c) pgbench -N -T $PGBENCH_SECONDS -c 2 -j 2"
pgbench -N -T "$PGBENCH_SECONDS" -c 2 -j 2 app >"$LOGS/pgbench-run.log" 2>&1 \
    || die "pgbench failed, see $LOGS/pgbench-run.log"
TPS=$(grep -o 'tps = [0-9.]*' "$LOGS/pgbench-run.log" | tail -n 1 | cut -d' ' -f3 || true)
UPDATED=$(grep -o 'number of transactions actually processed: [0-9]*' "$LOGS/pgbench-run.log" | grep -o '[0-9]*$' || true)
DB=app sql "VACUUM ANALYZE"
archive_to "$ARCH"
second_backup pgbench

# ---------------------------------------------------------------- pushing WAL
# One process per segment, serially, as PostgreSQL's archiver runs archive_command, from
# the data directory as the archiver does; every segment's wall time goes to stdout as
# `segment NAME MICROSECONDS` (the tool's own output to stderr). Stops at the first
# failure, as the archiver would retry that segment forever.
# shellcheck disable=SC2016 # expanded by the bash that runs it
PUSH_LOOP='cd "$1" || exit 1
list=$2
shift 2
while read -r seg; do
    t0=$EPOCHREALTIME
    "$@" "$seg" >&2 || { echo "pushing $seg failed" >&2; exit 1; }
    t1=$EPOCHREALTIME
    printf "segment\t%s\t%d\n" "${seg##*/}" $((${t1/./} - ${t0/./}))
done <"$list"'
push_cmd() { # TOOL LIST: pushing the segments in file LIST, as an array in CMD
    case $1 in
        bunker) CMD=("$BUNKER" wal-push) ;;
        pgbackrest) CMD=(pgbackrest --config="$PGBR_CONF" --stanza=bench archive-push) ;;
    esac
    CMD=(runuser -u postgres -- bash -c "$PUSH_LOOP" push "$DATA" "$2" "${CMD[@]}")
}

# ---------------------------------------------------------------- (d) restore
# First the WAL the third backups need, into both archives, once (not timed): bunker's
# pitr refuses a base backup whose WAL the archive lacks.
switch_and_wait "$ARCH"
archive_to ""
segments_in "$ARCH" >"$PGW/arch-segments"
log "(d) pushing $(wc -l <"$PGW/arch-segments") segments into the archives the restores read"
for tool in "${TOOLS[@]}"; do
    [ "${CHAIN[$tool]}" = 1 ] || continue
    push_cmd "$tool" "$PGW/arch-segments"
    "${CMD[@]}" >"$LOGS/archive-$tool.log" 2>&1 || log "WARNING: $tool could not archive the WAL, see $LOGS/archive-$tool.log"
done

# Then the newest backup (the pgbench day's) into a new data directory, which is removed
# after every run. Both tools also write the recovery settings (recovery target
# `immediate`); the restored cluster is not started.
restore_cmd() { # TOOL: as an array in CMD
    case $1 in
        bunker) CMD=(runuser -u postgres -- "$BUNKER" pitr --to "$NEWDIR" --immediate) ;;
        pgbackrest) CMD=("${PGBACKREST[@]}" --pg1-path="$NEWDIR" --type=immediate restore) ;;
    esac
}
restore_check() { # TOOL: the restored directory looks like a data directory
    if ! [ -f "$NEWDIR/PG_VERSION" ] || ! [ -f "$NEWDIR/global/pg_control" ] || ! [ -d "$NEWDIR/base" ]; then
        log "WARNING: $1 restored no data directory to $NEWDIR"
    fi
}
for run in $(seq 1 "$RUNS"); do
    log "(d) restore, run $run/$RUNS"
    for tool in "${TOOLS[@]}"; do
        if [ "${CHAIN[$tool]}" != 1 ]; then
            record "restore-$tool" "$run" skipped
            continue
        fi
        rm -rf "$NEWDIR"
        restore_cmd "$tool"
        if measure "restore-$tool" "$run" "$NEWDIR" "${CMD[@]}"; then restore_check "$tool"; fi
        rm -rf "$NEWDIR"
    done
done

# ---------------------------------------------------------------- (e) wal-push
# The segments: archive_command copies every completed segment into $HOLD while pgbench
# writes WAL, until enough has been written. A checkpoint every 5 s fills the WAL with
# full-page images, as the first change of every page after a checkpoint does, and
# synchronous_commit off lets pgbench write faster: otherwise a small cluster makes about
# 1 MB of WAL a second, and a gigabyte takes 20 minutes.
log "(e) holding $SEGMENTS WAL segments"
archive_to "$HOLD"
START_LSN=$(sql "SELECT pg_current_wal_lsn()")
while [ "$(sql "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$START_LSN') >= $((SEGMENTS + 1)) * $WAL_SEG_BYTES")" != t ]; do
    PGOPTIONS='-c synchronous_commit=off' pgbench -N -T 5 -c 2 -j 2 app >>"$LOGS/pgbench-wal.log" 2>&1 \
        || die "pgbench failed, see $LOGS/pgbench-wal.log"
    sql "CHECKPOINT"
done
switch_and_wait "$HOLD"
archive_to ""
# The first SEGMENTS held segments: every one is complete (the last one written is not
# among them).
segments_in "$HOLD" | head -n "$SEGMENTS" >"$PGW/segments"
[ "$(wc -l <"$PGW/segments")" -eq "$SEGMENTS" ] || die "the archiver held fewer than $SEGMENTS segments, see $CL/log"
WAL_BYTES=$(xargs du -cb <"$PGW/segments" | tail -n 1 | cut -f1)

# A fresh repository every run: pushing a segment the repository holds is a no-op.
for run in $(seq 1 "$RUNS"); do
    log "(e) wal-push of $SEGMENTS segments, run $run/$RUNS"
    for tool in "${TOOLS[@]}"; do
        new_repo "$tool"
        push_cmd "$tool" "$PGW/segments"
        if measure "wal-$tool" "$run" "$REPOS/$tool" "${CMD[@]}"; then
            awk -F'\t' -v tool="$tool" -v run="$run" '$1 == "segment" { print tool "\t" run "\t" $2 "\t" $3 }' \
                "$LOGS/wal-$tool.$run.log" >>"$WALRAW"
        fi
    done
done

rm -rf "$REPOS" "$ARCH" "$HOLD" "$(dirname "$NEWDIR")" "$XDG_CACHE_HOME"
stop_cluster

# ---------------------------------------------------------------- report
report() {
    local versions=""
    want bunker && versions="$("$BUNKER" --version 2>/dev/null | head -n1) (${BUNKER_SRC#"$ROOT"/}, source $SRC_REV)"
    want pgbackrest && versions="${versions:+$versions; }$(pgbackrest version)"
    echo "## PostgreSQL physical backups, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Command: \`$CMDLINE\` (source $SRC_REV; full backup, restore and wal-push: median of $RUNS run$([ "$RUNS" -eq 1 ] || echo s); second and third backups: one run, the cluster moves on)"
    echo
    echo "- cluster: pgbench scale $SCALE, $(awk -v b="$CLUSTER_BYTES" 'BEGIN{printf "%.0f", b/1048576}') MiB of databases, $ROWS rows in pgbench_accounts"
    echo "- server: $("$PG_SERVER_BIN/postgres" --version | sed 's/^postgres (PostgreSQL) /PostgreSQL /'), default settings (fsync on, shared_buffers 128MB) with wal_level replica, archive_mode on, archive_command /bin/true (a \`cp\` aside from the third backups on); Unix socket"
    echo "- typical day: $STEP rows appended, the $STEP highest existing aids updated; pgbench day: \`pgbench -N -T $PGBENCH_SECONDS -c 2 -j 2\`, ${UPDATED:-?} transactions ($(printf '%.0f' "${TPS:-0}") tps)"
    want pgbackrest && echo "- pgBackRest: process-max=2, start-fast=y, archive-check=n, compress-type=$PGBR_COMPRESS (level $PGBR_LEVEL), archive-push synchronous; second and third backups \`--type=incr\`"
    want bunker && echo "- bunker: \`pg basebackup --pgdata DATADIR --archive-timeout 0\` (the counterpart of archive-check=n), \`pitr --to NEWDIR --immediate\`, \`wal-push\` (the first push into a fresh repository derives the key from the password, the others find it in the key cache)"
    echo "- wal-push: $SEGMENTS segments of $((WAL_SEG_BYTES / 1048576)) MiB ($(awk -v b="$WAL_BYTES" 'BEGIN{printf "%.0f", b/1048576}') MiB) written by pgbench -N, one process each, serially, as the postgres user from the data directory"
    echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
    echo "- versions: $versions"
    echo
    awk -F'\t' -v segs="$SEGMENTS" -v walraw="$WALRAW" '
    function sortv(list, v,    n, i, j, x) {
        n = split(list, v, " ")
        for (i = 2; i <= n; i++) { x = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
        return n
    }
    function med(list,    v, n) { n = sortv(list, v); return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
    function p90(list,    v, n, k) { n = sortv(list, v); k = int(0.9 * n); if (k < 0.9 * n) k++; return v[k] }
    function mib(b) { return sprintf(b < 10485760 ? "%.2f" : "%.1f", b / 1048576) }
    function ok(o) { return (o in wall) && !(o in bad) }
    # the value to print for OP: "failed", "skipped", "-" (not run) or the formatted X
    function cell(o, x) { return (o in bad) ? bad[o] : ((o in wall) ? x : "-") }
    NR == 1 { next }
    {
        if ($3 != "ok") { bad[$1] = $3; next }
        wall[$1] = wall[$1] " " $4; cpu[$1] = cpu[$1] " " ($5 + $6); rss[$1] = rss[$1] " " $7
        if ($8 != "-") size[$1] = size[$1] " " $8
        if ($9 != "-") added[$1] = added[$1] " " $9
    }
    function ratio(a, b) { return (a != "" && a != "-" && b != "" && b != "-" && b + 0 > 0) ? sprintf("%.2f", a / b) : "-" }
    function target(r, cmp, limit) {
        if (r == "-") return sprintf("%s %.2f", cmp, limit)
        return sprintf("%s %.2f: %s", cmp, limit, ((cmp == "≤") ? (r + 0 <= limit) : (r + 0 >= limit)) ? "met" : "missed")
    }
    # row LABEL OP-PREFIX FORMAT VALUE-KIND TARGET-CMP TARGET-LIMIT
    function val(o, kind) {
        if (!ok(o)) return ""
        if (kind == "wall") return med(wall[o])
        if (kind == "cpu") return med(cpu[o])
        if (kind == "rss") return med(rss[o]) / 1024
        if (kind == "size") return med(size[o]) / 1048576
        if (kind == "added") return med(added[o]) / 1048576
        if (kind == "segs") return segs / med(wall[o])
    }
    # share OP: bytes added as a fraction of the repository before (the full backup)
    function share(o) { return ok(o) ? sprintf("%.3f", med(added[o]) / (med(size[o]) - med(added[o]))) : "-" }
    function row(label, op, fmt, kind, cmp, limit,    b, p, r) {
        b = val(op "-bunker", kind); p = val(op "-pgbackrest", kind); r = ratio(b, p)
        printf "| %s | %s | %s | %s | %s |\n", label,
            cell(op "-bunker", sprintf(fmt, b)), cell(op "-pgbackrest", sprintf(fmt, p)), r,
            (cmp == "") ? "" : target(r, cmp, limit)
    }
    END {
        while ((getline line < walraw) > 0) {
            split(line, f, "\t")
            if (f[1] == "tool") continue
            lat[f[1]] = lat[f[1]] " " f[4] / 1000
        }
        print "| metric | bunker | pgBackRest | bunker / pgBackRest | target |"
        print "|---|---:|---:|---:|---|"
        row("(a) full base backup: wall median (s)", "full", "%.2f", "wall", "≤", 1.0)
        row("(a) full base backup: CPU user+sys (s)", "full", "%.2f", "cpu")
        row("(a) full base backup: peak RSS (MiB)", "full", "%.0f", "rss")
        row("(a) full base backup: stored (MiB)", "full", "%.1f", "size")
        row("(b) typical day, second backup: wall (s)", "typical", "%.2f", "wall")
        row("(b) typical day, second backup: added (MiB)", "typical", "%.2f", "added")
        # the typical day target is bunker against its own full backup
        b = share("typical-bunker"); p = share("typical-pgbackrest")
        printf "| (b) typical day: added / full backup | %s | %s | %s | bunker %s |\n",
            cell("typical-bunker", b), cell("typical-pgbackrest", p), ratio(b, p), target(b, "≤", 0.10)
        row("(c) pgbench day, third backup: wall (s)", "pgbench", "%.2f", "wall")
        row("(c) pgbench day, third backup: added (MiB)", "pgbench", "%.2f", "added", "≤", 1.0)
        row("(d) restore: wall median (s)", "restore", "%.2f", "wall", "≤", 1.0)
        row("(d) restore: CPU user+sys (s)", "restore", "%.2f", "cpu")
        row("(d) restore: peak RSS (MiB)", "restore", "%.0f", "rss")
        row("(d) restore: data directory (MiB)", "restore", "%.1f", "size")
        # per-segment latencies: all runs pooled
        b = ("bunker" in lat) ? med(lat["bunker"]) : ""; p = ("pgbackrest" in lat) ? med(lat["pgbackrest"]) : ""
        printf "| (e) wal-push: latency median (ms) | %s | %s | %s | %s |\n",
            cell("wal-bunker", sprintf("%.1f", b)), cell("wal-pgbackrest", sprintf("%.1f", p)), ratio(b, p), target(ratio(b, p), "≤", 0.5)
        b = ("bunker" in lat) ? p90(lat["bunker"]) : ""; p = ("pgbackrest" in lat) ? p90(lat["pgbackrest"]) : ""
        printf "| (e) wal-push: latency p90 (ms) | %s | %s | %s | |\n",
            cell("wal-bunker", sprintf("%.1f", b)), cell("wal-pgbackrest", sprintf("%.1f", p)), ratio(b, p)
        row("(e) wal-push: segments/s sustained", "wal", "%.1f", "segs", "≥", 2.0)
        row("(e) wal-push: CPU user+sys, all segments (s)", "wal", "%.2f", "cpu")
        row("(e) wal-push: peak RSS (MiB)", "wal", "%.0f", "rss")
        row("(e) wal-push: stored (MiB)", "wal", "%.1f", "added")
        print ""
        print "Stored and added: repository size (`du -sb`) after the backup, and its growth. Second and third backups go into the repository of the last full-backup run; pgBackRest makes them `--type=incr` (against the previous backup). Restore: the newest backup (the third). wal-push: latency is one process'"'"'s wall time, all runs pooled; segments/s the segment count over the wall time of pushing them all; stored the repository'"'"'s growth (empty repository or stanza before). CPU: the whole process tree; peak RSS: its largest process."
    }' "$RAW"
}

report | tee "$PGW/results.md"
