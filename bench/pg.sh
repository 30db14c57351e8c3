#!/usr/bin/env bash
# PostgreSQL logical backup benchmark: bunker pg backup/restore against bare pg_dump,
# the runbooks' `pg_dump | gzip`, restic --stdin and pg_restore -j2, on a throwaway
# PostgreSQL cluster filled by `pgbench -i`.
#
# Usage: bench/pg.sh [SCALE]
#   SCALE  pgbench scale factor (default: 100, about 1.5 GB; 10 for a quick run)
# Environment:
#   BENCH_RUNS            repetitions of every timed command; medians are reported (default: 3)
#   BENCH_NO_BUILD        set to 1 to skip `cargo build --release`
#   BENCH_BUNKER          bunker binary to measure (default: target/release/bunker)
#   BENCH_PG_SERVER_BIN   PostgreSQL server binaries (default: /usr/lib/postgresql/15/bin)
#   BENCH_PGBENCH_SECONDS length of the worst-case day-2 pgbench run (default: 60)
#
# Everything lives under bench/work/pg (gitignored): the cluster, the repositories, the
# dump files. Results go to stdout and bench/work/pg/results.md, raw measurements to
# bench/work/pg/raw.tsv, every command's output to bench/work/pg/logs/.
set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

SCALE="${1:-100}"
RUNS="${BENCH_RUNS:-3}"
PG_SERVER_BIN="${BENCH_PG_SERVER_BIN:-/usr/lib/postgresql/15/bin}"
PGBENCH_SECONDS="${BENCH_PGBENCH_SECONDS:-60}"
PGW="$ROOT/bench/work/pg"
CL="$PGW/cluster"     # data directory, server log and socket directory
REPOS="$PGW/repo"
FILES="$PGW/files"
LOGS="$PGW/logs"
RAW="$PGW/raw.tsv"
TIME=/usr/bin/time
CMDLINE="bench/pg.sh${*:+ $*}"

die() { echo "bench-pg: $*" >&2; exit 1; }
log() { echo "bench-pg: $(date -u +%H:%M:%S) $*" >&2; }

[[ "$SCALE" =~ ^[1-9][0-9]*$ ]] || die "SCALE must be a positive integer"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ "$PGBENCH_SECONDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_PGBENCH_SECONDS must be a positive integer"
[ "$(id -u)" -eq 0 ] || die "run as root (the cluster runs as the postgres OS user)"
id postgres >/dev/null 2>&1 || die "no postgres OS user"
[ -x "$TIME" ] || die "GNU time ($TIME) not found"
for t in initdb pg_ctl; do [ -x "$PG_SERVER_BIN/$t" ] || die "$PG_SERVER_BIN/$t not found"; done
for t in psql pg_dump pg_restore pgbench createdb dropdb restic gzip; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found on PATH"
done

# ---------------------------------------------------------------- bunker
# The source the binary is built from, taken before the build.
SRC_REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain -- src crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then
    SRC_REV="$SRC_REV with uncommitted changes"
fi
if [ "${BENCH_NO_BUILD:-0}" != 1 ] && [ -z "${BENCH_BUNKER:-}" ]; then
    log "cargo build --release"
    cargo build --release >&2
fi
BUNKER_SRC="${BENCH_BUNKER:-${CARGO_TARGET_DIR:-$ROOT/target}/release/bunker}"
[ -x "$BUNKER_SRC" ] || die "$BUNKER_SRC not found (build failed?)"

export BUNKER_PASSWORD=bench-password
export RESTIC_PASSWORD=bench-password
export RESTIC_CACHE_DIR="$PGW/cache/restic"
export XDG_CACHE_HOME="$PGW/cache/xdg"
unset BUNKER_PASSWORD_FILE BUNKER_PASSWORD_COMMAND BUNKER_PG_DSN BUNKER_PG_BIN \
    PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS

# ---------------------------------------------------------------- cluster
stop_cluster() {
    if [ -f "$CL/data/postmaster.pid" ]; then
        runuser -u postgres -- "$PG_SERVER_BIN/pg_ctl" -D "$CL/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
}
stop_cluster # a cluster left behind by an interrupted run
rm -rf "$PGW"
mkdir -p "$CL" "$REPOS" "$FILES" "$LOGS" "$PGW/cache"
chown postgres: "$CL"
# A private copy: a build running elsewhere must not swap the binary during the run.
BUNKER="$PGW/bunker"
cp "$BUNKER_SRC" "$BUNKER"
trap 'stop_cluster' EXIT
trap 'exit 130' INT TERM HUP

# The socket lives in our own directory, so the port only has to differ from
# ports in use elsewhere on the machine for the sake of clarity in `ss` output.
PORT=55432
while ss -lnx 2>/dev/null | grep -q "\.s\.PGSQL\.$PORT\b" || ss -lnt 2>/dev/null | grep -q ":$PORT\b"; do
    PORT=$((PORT + 1))
done

log "initdb (scale $SCALE, port $PORT)"
runuser -u postgres -- "$PG_SERVER_BIN/initdb" -D "$CL/data" -U postgres -A trust -E UTF8 \
    --locale=C.UTF-8 >"$LOGS/initdb.log" 2>&1 || die "initdb failed, see $LOGS/initdb.log"
# Server defaults otherwise, fsync on included: the numbers include real WAL flushes.
cat >>"$CL/data/postgresql.conf" <<EOF

# bench/pg.sh
port = $PORT
listen_addresses = ''
unix_socket_directories = '$CL'
EOF
runuser -u postgres -- "$PG_SERVER_BIN/pg_ctl" -D "$CL/data" -l "$CL/log" -w start >/dev/null \
    || die "the server did not start, see $CL/log"

export PGHOST="$CL" PGPORT="$PORT" PGUSER=postgres
DSN="host=$CL port=$PORT user=postgres"
sql() { psql -X -q -v ON_ERROR_STOP=1 -At -d "${DB:-postgres}" -c "$1"; }

# ---------------------------------------------------------------- data
log "pgbench -i -s $SCALE"
createdb app
pgbench -i -q -s "$SCALE" app >"$LOGS/pgbench-init.log" 2>&1 || die "pgbench -i failed, see $LOGS/pgbench-init.log"
DB=app sql "VACUUM ANALYZE"
DB_BYTES=$(sql "SELECT pg_database_size('app')")
ROWS=$(DB=app sql "SELECT count(*) FROM pgbench_accounts")
MAXAID=$(DB=app sql "SELECT max(aid) FROM pgbench_accounts")
# Day 2 starts from this copy of day 1 (a file copy keeps the heap's physical order,
# so its dump is the day-1 dump).
sql "CREATE DATABASE app_day1 TEMPLATE app STRATEGY FILE_COPY"
# The dump pg_restore -j2 restores from: day 1, like the repositories' snapshots.
pg_dump -Fc -Z0 -f "$FILES/app.dump" app
DUMP_BYTES=$(stat -c %s "$FILES/app.dump")
log "database $((DB_BYTES / 1048576)) MiB, $ROWS accounts, custom-format dump $((DUMP_BYTES / 1048576)) MiB"

# ---------------------------------------------------------------- measuring
printf 'op\trun\tstatus\twall_s\tuser_s\tsys_s\tmaxrss_kib\tsize_bytes\tadded_bytes\tbunker_packed\n' >"$RAW"

bytes_of() { if [ -e "$1" ]; then du -sb "$1" | cut -f1; else echo 0; fi; }

# Level the ground before every timed command: no dirty pages or WAL from the previous
# one left to flush while this one runs.
settle() {
    sql "CHECKPOINT" >/dev/null
    sync
}

# measure OP RUN SIZE_PATH CMD...: times CMD (output to logs/OP.RUN.log) and appends a
# row to raw.tsv. SIZE_PATH ("" for none) is measured with du -sb before and after:
# size is the size after, added the growth.
measure() {
    local op=$1 run=$2 path=$3
    shift 3
    local lf="$LOGS/$op.$run.log" tf="$LOGS/.time" status=ok before=0 size=- added=- packed=-
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
    # bunker --json prints one summary line; keep its own count of stored bytes.
    if [ "$status" = ok ] && grep -q '"data_added_packed"' "$lf"; then
        packed=$(grep -o '"data_added_packed":[0-9]*' "$lf" | tail -n 1 | cut -d: -f2)
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$op" "$run" "$status" "$wall" "$user" "$sys" "$rss" "$size" "$added" "$packed" >>"$RAW"
    log "  $op run $run: $status, ${wall}s${path:+, +$added bytes}"
    [ "$status" = ok ]
}

bunker_backup() { # REPO DB: the command, as an array in CMD
    CMD=("$BUNKER" -r "$1" --json pg backup --dsn "$DSN" --db "$2" --no-globals)
}
restic_backup() { # REPO DB
    CMD=(bash -c 'set -o pipefail; pg_dump -Fc -Z0 "$2" | restic -r "$1" backup --stdin --stdin-filename "$2.dump"' _ "$1" "$2")
}
new_repos() { # SUFFIX: fresh bunker and restic repositories (not timed)
    rm -rf "$REPOS/bunker-$1" "$REPOS/restic-$1" "$PGW/cache"
    mkdir -p "$PGW/cache"
    "$BUNKER" -r "$REPOS/bunker-$1" init >"$LOGS/init.bunker-$1.log" 2>&1 || die "bunker init failed"
    restic -r "$REPOS/restic-$1" init --repository-version 2 >"$LOGS/init.restic-$1.log" 2>&1 || die "restic init failed"
}

# Warm the page cache with the database (it fits in memory).
pg_dump -Fc -Z0 app >/dev/null

# ---------------------------------------------------------------- day 1
# Every run: each command once, in turn, so that noise from other work on the machine
# falls on all of them alike. The backup tools get fresh repositories every run, so
# every measurement is a true first backup; run 1's repositories are kept for day 2.
for run in $(seq 1 "$RUNS"); do
    log "day 1, run $run/$RUNS"
    measure dump "$run" "" bash -c 'pg_dump -Fc -Z0 app >/dev/null'
    new_repos "r$run"
    bunker_backup "$REPOS/bunker-r$run" app
    measure bunker-backup "$run" "$REPOS/bunker-r$run" "${CMD[@]}" || true
    rm -f "$FILES/app.sql.gz"
    measure gzip "$run" "$FILES/app.sql.gz" bash -c 'set -o pipefail; pg_dump app | gzip >"$1"' _ "$FILES/app.sql.gz" || true
    restic_backup "$REPOS/restic-r$run" app
    measure restic-backup "$run" "$REPOS/restic-r$run" "${CMD[@]}" || true
    if [ "$run" -eq 1 ]; then
        mv "$REPOS/bunker-r1" "$REPOS/bunker-day1"
        mv "$REPOS/restic-r1" "$REPOS/restic-day1"
    else
        rm -rf "$REPOS/bunker-r$run" "$REPOS/restic-r$run"
    fi
done

# ---------------------------------------------------------------- day 2
# day2 NAME: second backup of `app` by both tools, each into a copy of its day-1
# repository, once (bytes added do not vary between runs).
day2() {
    local name=$1
    rm -rf "$REPOS/bunker-$name" "$REPOS/restic-$name" "$PGW/cache"
    mkdir -p "$PGW/cache"
    cp -a "$REPOS/bunker-day1" "$REPOS/bunker-$name"
    cp -a "$REPOS/restic-day1" "$REPOS/restic-$name"
    bunker_backup "$REPOS/bunker-$name" app
    measure "bunker-$name" 1 "$REPOS/bunker-$name" "${CMD[@]}" || true
    restic_backup "$REPOS/restic-$name" app
    measure "restic-$name" 1 "$REPOS/restic-$name" "${CMD[@]}" || true
    rm -rf "$REPOS/bunker-$name" "$REPOS/restic-$name"
}

# (a) A typical day: 1% new accounts appended, and the newest 1% of the day-1 accounts
# (the highest aids) updated.
STEP=$((ROWS / 100))
log "day 2 (typical): +$STEP rows, $STEP rows updated"
DB=app sql "INSERT INTO pgbench_accounts (aid, bid, abalance, filler)
    SELECT g, ((g - 1) / 100000) % $SCALE + 1, 0, '' FROM generate_series($MAXAID + 1, $MAXAID + $STEP) g"
DB=app sql "UPDATE pgbench_accounts SET abalance = abalance + 1
    WHERE aid > $MAXAID - $STEP AND aid <= $MAXAID"
DB=app sql "VACUUM ANALYZE"
day2 typical

# (b) Worst case: uniform random updates all over the table, starting again from day 1.
log "day 2 (worst case): pgbench -T $PGBENCH_SECONDS -c 2"
sql "DROP DATABASE app WITH (FORCE)"
sql "CREATE DATABASE app TEMPLATE app_day1 STRATEGY FILE_COPY"
pgbench -T "$PGBENCH_SECONDS" -c 2 -j 2 app >"$LOGS/pgbench-run.log" 2>&1 || die "pgbench failed, see $LOGS/pgbench-run.log"
TPS=$(grep -o 'tps = [0-9.]*' "$LOGS/pgbench-run.log" | tail -n 1 | cut -d' ' -f3 || true)
UPDATED=$(grep -o 'number of transactions actually processed: [0-9]*' "$LOGS/pgbench-run.log" | grep -o '[0-9]*$' || true)
DB=app sql "VACUUM ANALYZE"
day2 worst

# ---------------------------------------------------------------- restore
# From the day-1 repositories and the day-1 dump file. Target databases are dropped
# after every run.
restore_check() { # DB: the restored database holds the day-1 accounts
    local n
    n=$(DB=$1 sql "SELECT count(*) FROM pgbench_accounts" 2>/dev/null || echo none)
    [ "$n" = "$ROWS" ] || log "WARNING: $1 holds $n accounts, expected $ROWS"
}
for run in $(seq 1 "$RUNS"); do
    log "restore, run $run/$RUNS"
    measure bunker-restore-j1 "$run" "" \
        "$BUNKER" -r "$REPOS/bunker-day1" pg restore latest --dsn "$DSN" --db app --to r1 || true
    restore_check r1
    dropdb --if-exists r1
    measure bunker-restore-j2 "$run" "" \
        "$BUNKER" -r "$REPOS/bunker-day1" pg restore latest --dsn "$DSN" --db app --to r1 --jobs 2 || true
    restore_check r1
    dropdb --if-exists r1
    measure pg-restore-j2 "$run" "" \
        bash -c 'createdb -T template0 r2 && pg_restore -j2 -d r2 "$1"' _ "$FILES/app.dump" || true
    restore_check r2
    dropdb --if-exists r2
done

GZ_BYTES=$(bytes_of "$FILES/app.sql.gz")
rm -rf "$REPOS" "$PGW/cache" "$FILES"
stop_cluster

# ---------------------------------------------------------------- report
report() {
    echo "## PostgreSQL logical backups, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Command: \`$CMDLINE\` (BENCH_RUNS=$RUNS; day 1 and restore: median of $RUNS runs; day 2: one run)"
    echo
    echo "- database: pgbench scale $SCALE, $(awk -v b="$DB_BYTES" 'BEGIN{printf "%.0f", b/1048576}') MiB on disk, $ROWS rows in pgbench_accounts; \`pg_dump -Fc -Z0\`: $(awk -v b="$DUMP_BYTES" 'BEGIN{printf "%.0f", b/1048576}') MiB"
    echo "- server: $("$PG_SERVER_BIN/postgres" --version | sed 's/^postgres (PostgreSQL) /PostgreSQL /'), default settings (fsync on, shared_buffers 128MB), Unix socket; clients: $(pg_dump --version | sed 's/^pg_dump (PostgreSQL) /PostgreSQL /')"
    echo "- day 2 typical: $STEP rows appended, the $STEP highest day-1 aids updated; worst case: \`pgbench -T $PGBENCH_SECONDS -c 2 -j 2\`, $UPDATED transactions ($(printf '%.0f' "${TPS:-0}") tps)"
    echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
    echo "- bunker: $("$BUNKER" --version 2>/dev/null | head -n1) (${BUNKER_SRC#"$ROOT"/}, source $SRC_REV); restic: $(restic version | head -n1 | cut -d' ' -f1-2); gzip: $(gzip --version | head -n1)"
    echo
    awk -F'\t' -v gz="$GZ_BYTES" '
    function med(list,    v, n, i, j, x) {
        n = split(list, v, " ")
        for (i = 2; i <= n; i++) { x = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
        return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    function mib(b) { return sprintf(b < 10485760 ? "%.2f" : "%.1f", b / 1048576) }
    function ok(o) { return (o in wall) && !(o in bad) }
    NR == 1 { next }
    {
        if ($3 != "ok") { bad[$1] = 1; next }
        wall[$1] = wall[$1] " " $4; cpu[$1] = cpu[$1] " " ($5 + $6); rss[$1] = rss[$1] " " $7
        if ($8 != "-") size[$1] = size[$1] " " $8
        if ($9 != "-") added[$1] = added[$1] " " $9
        if ($10 != "-") packed[$1] = packed[$1] " " $10
    }
    function w(o) { return ok(o) ? med(wall[o]) : "failed" }
    function ratio(a, b) { return (ok(a) && ok(b) && med(wall[b]) > 0) ? sprintf("%.2f", med(wall[a]) / med(wall[b])) : "-" }
    # row LABEL OP STORED VS: STORED "none" leaves out the stored column
    function row(label, o, stored, vs) {
        if (!ok(o)) { printf "| %s | failed | | |%s |\n", label, (stored == "none") ? "" : " |"; return }
        printf "| %s | %.2f | %.2f | %.0f |%s %s |\n", label, med(wall[o]), med(cpu[o]), med(rss[o]) / 1024,
            (stored == "none") ? "" : " " stored " |", vs
    }
    function met(x, limit) { return (x == "-") ? "-" : ((x + 0 <= limit) ? "met" : "missed") }
    END {
        print "**Day 1: first backup** (fresh repository every run)"
        print ""
        print "| command | wall median (s) | CPU user+sys (s) | peak RSS (MiB) | stored (MiB) | wall / pg_dump |"
        print "|---|---:|---:|---:|---:|---:|"
        row("`pg_dump -Fc -Z0 app > /dev/null`", "dump", "-", "1.00")
        row("`bunker pg backup --db app --no-globals`", "bunker-backup", ok("bunker-backup") ? mib(med(size["bunker-backup"])) : "-", ratio("bunker-backup", "dump"))
        row("`pg_dump app \\| gzip > app.sql.gz`", "gzip", mib(gz), ratio("gzip", "dump"))
        row("`pg_dump -Fc -Z0 app \\| restic backup --stdin`", "restic-backup", ok("restic-backup") ? mib(med(size["restic-backup"])) : "-", ratio("restic-backup", "dump"))
        print ""
        print "Stored: repository size (`du -sb`) after the backup; for gzip, the file."
        print ""
        print "**Day 2: second backup into the day-1 repository** (one run each)"
        print ""
        print "| day 2 | tool | wall (s) | added (MiB, du -sb) | bunker: data_added_packed (MiB) | bunker / restic |"
        print "|---|---|---:|---:|---:|---:|"
        n = split("typical worst", days, " ")
        for (i = 1; i <= n; i++) {
            d = days[i]; b = "bunker-" d; r = "restic-" d
            dr[d] = (ok(b) && ok(r) && med(added[r]) > 0) ? sprintf("%.2f", med(added[b]) / med(added[r])) : "-"
            label = (d == "typical") ? "typical (+1% rows, 1% updated)" : "worst case (pgbench -T, uniform updates)"
            if (ok(b)) printf "| %s | bunker | %.2f | %s | %s | %s |\n", label, med(wall[b]), mib(med(added[b])), (b in packed) ? mib(med(packed[b])) : "-", dr[d]
            else printf "| %s | bunker | failed | | | |\n", label
            if (ok(r)) printf "| %s | restic | %.2f | %s | - | - |\n", label, med(wall[r]), mib(med(added[r]))
            else printf "| %s | restic | failed | | | |\n", label
        }
        print ""
        print "**Restore** into a new database (day-1 data)"
        print ""
        print "| command | wall median (s) | CPU user+sys (s) | peak RSS (MiB) | wall / pg_restore -j2 |"
        print "|---|---:|---:|---:|---:|"
        row("`bunker pg restore latest --db app --to r1` (streamed, 1 job)", "bunker-restore-j1", "none", ratio("bunker-restore-j1", "pg-restore-j2"))
        row("`bunker pg restore ... --jobs 2` (spooled to a temp file)", "bunker-restore-j2", "none", ratio("bunker-restore-j2", "pg-restore-j2"))
        row("`createdb -T template0 r2 && pg_restore -j2 -d r2 app.dump`", "pg-restore-j2", "none", "1.00")
        print ""
        print "CPU and RSS: the client processes only (the server works in its own processes)."
        print ""
        print "**Against the targets**"
        print ""
        print "| target | measured | |"
        print "|---|---:|---|"
        x = ratio("bunker-backup", "dump"); printf "| backup wall ≤ 1.15× bare pg_dump | %s× | %s |\n", x, met(x, 1.15)
        x = dr["typical"]; printf "| day 2 typical: bytes added ≤ 0.5× restic | %s× | %s |\n", x, met(x, 0.5)
        x = dr["worst"]; printf "| day 2 worst case: bytes added ≤ restic | %s× | %s |\n", x, met(x, 1.0)
        x = ratio("bunker-restore-j2", "pg-restore-j2"); printf "| restore (--jobs 2) ≤ 1.2× pg_restore -j2 | %s× | %s |\n", x, met(x, 1.2)
        x = ratio("bunker-restore-j1", "pg-restore-j2"); printf "| restore (1 job, streamed) ≤ 1.2× pg_restore -j2 | %s× | %s |\n", x, met(x, 1.2)
    }' "$RAW"
}

report | tee "$PGW/results.md"
