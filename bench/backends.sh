#!/bin/sh
# backends.sh - the backend comparison of issue 7: read, search and create
# throughput on SQLite, on PostgreSQL with one fhird node, and on
# PostgreSQL with two fhird nodes sharing the database.
#
#   sh bench/backends.sh BIN
#
# (bench/run.sh, i.e. `make bench`, calls it unless BENCH_BACKENDS=0.)
# 1. bench/gen_obs.py writes PATIENTS Patients p1..pN and OBS Observations
#    over them (NDJSON, not timed);
# 2. a throwaway PostgreSQL cluster: initdb into the temp dir (as the
#    postgres user when run as root), listening on 127.0.0.1 on a free port,
#    fsync on (the default durability), shared_buffers BENCH_PG_SHARED_BUFFERS;
# 3. for each column: `BIN import` of the same file into a fresh database
#    (timed), then `BIN serve` (auth off, audit off: the store is what is
#    compared) and, with wrk -tT -cC for DURATION each after a warm-up:
#      read    GET /fhir/Patient/pK (bench/read.lua), K uniform in 1..N
#      search  GET /fhir/Observation?patient=pK&category=vital-signs&_count=20
#              (bench/search_obs.lua)
#      create  POST /fhir/Patient (bench/create.lua)
#    The two-node column starts a second server on the PostgreSQL database
#    and runs two wrk processes at once, one per node, each with half of the
#    connections; requests/s are summed, p50 is the mean of the two and p99
#    the larger of the two (a bound, not a merged percentile).
# 4. prints one table.
# Everything runs on loopback: wrk, both fhird nodes and PostgreSQL share
# the same CPUs, so the columns compare backends on this machine; they do
# not measure a deployment (where the nodes and the database would each
# have their own machines).
#
# Settings (environment):
#   PATIENTS=10000 OBS=100000    data size
#   BENCH_DURATION=10s           each measured wrk run (after a 3 s warm-up)
#   BENCH_THREADS=2 BENCH_CONNS=32   wrk -t/-c (per column; split over nodes)
#   BENCH_PG_SHARED_BUFFERS=1GB
#   BENCH_KEEP=1                 keep the temp dir
set -eu

if [ $# -ne 1 ]; then
	echo "usage: sh bench/backends.sh BIN" >&2
	exit 2
fi
BIN=$1
case $BIN in
*/*) ;;
*) BIN=./$BIN ;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
PATIENTS=${PATIENTS:-10000}
OBS=${OBS:-100000}
DURATION=${BENCH_DURATION:-10s}
WT=${BENCH_THREADS:-2}
WC=${BENCH_CONNS:-32}
SHARED_BUFFERS=${BENCH_PG_SHARED_BUFFERS:-1GB}

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
for tool in wrk curl "$PYTHON" "$PGBIN/initdb"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "backends-bench: $tool not found (make deps installs wrk, curl, postgresql)" >&2
		exit 2
	fi
done
for v in $(env | sed -n 's/^\(FHIRD_[A-Za-z0-9_]*\)=.*/\1/p'); do
	unset "$v"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fhird-backends.XXXXXX")
chmod 755 "$TMP"
PIDS=""
PG_STARTED=0

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}
stop_pid() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	n=0
	while kill -0 "$1" 2>/dev/null && [ "$n" -lt 150 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	kill -KILL "$1" 2>/dev/null || :
	wait "$1" 2>/dev/null || :
}
stop_servers() {
	for p in $PIDS; do
		stop_pid "$p"
	done
	PIDS=""
}
cleanup() {
	rc=$?
	trap - EXIT INT TERM
	stop_servers
	if [ "$PG_STARTED" = 1 ]; then
		as_pg "$PGBIN/pg_ctl" -D "$TMP/pg/data" -m fast -w stop >/dev/null 2>&1 || :
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "backends-bench: kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
	echo "backends-bench: $*" >&2
	for f in "$TMP"/*.log; do
		[ -s "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
	done
	exit 1
}
free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# serve NAME DB: starts a node, sets PORT_<NAME>; ready when the port file appears.
serve() {
	name=$1 db=$2
	"$BIN" serve --listen 127.0.0.1:0 --port-file "$TMP/$name.port" --db "$db" --auth off --audit off \
		--log-level warn >"$TMP/$name.log" 2>&1 &
	pid=$!
	PIDS="$PIDS $pid"
	n=0
	while [ ! -s "$TMP/$name.port" ]; do
		kill -0 "$pid" 2>/dev/null || fail "fhird $name exited before it listened"
		n=$((n + 1))
		[ "$n" -le 600 ] || fail "fhird $name not ready after 60 s"
		sleep 0.1
	done
	eval "PORT_$name=\$(tr -d '[:space:]' <\"\$TMP/\$name.port\")"
}

# wrk_run OUT CONNS SCRIPT URL ARGS...: one measured run (after a warm-up).
wrk_run() {
	out=$1 c=$2 script=$3 url=$4
	shift 4
	wrk -t"$WT" -c"$c" -d3s -s "$script" "$url" -- "$@" >/dev/null 2>&1 || :
	wrk -t"$WT" -c"$c" -d"$DURATION" --latency -s "$script" "$url" -- "$@" >"$out" 2>&1 || fail "wrk failed: $url"
}

# parse OUT: "rps p50_ms p99_ms errors"
parse() {
	awk '
	function ms(v) {
		if (v ~ /us$/) return v / 1000
		if (v ~ /ms$/) return v + 0
		if (v ~ /s$/) return v * 1000
		return v + 0
	}
	/Latency Distribution/ { dist = 1; next }
	dist && $1 == "50%" { p50 = ms($2) }
	dist && $1 == "99%" { p99 = ms($2); dist = 0 }
	/Non-2xx or 3xx responses:/ { err += $NF }
	/^SEARCHBENCH/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "non200") err += kv[2] } }
	/Socket errors:/ { gsub(",", ""); for (i = 3; i <= NF; i += 2) err += $(i + 1) }
	/^Requests\/sec:/ { rps = $2 }
	END { printf "%.0f %.2f %.2f %d\n", rps, p50, p99, err }
	' "$1"
}

# measure COLUMN WORKLOAD NODES...: runs the workload against each node at
# once (connections split) and appends a result line.
measure() {
	col=$1 wl=$2
	shift 2
	nn=$#
	c=$((WC / nn))
	[ "$c" -ge "$WT" ] || c=$WT
	i=0
	wpids=""
	for port in "$@"; do
		i=$((i + 1))
		case $wl in
		read) wrk_run "$TMP/$col-$wl-$i.txt" "$c" "$ROOT/bench/read.lua" "http://127.0.0.1:$port/fhir/Patient/" \
			"$PATIENTS" "" "p%d" & ;;
		search) wrk_run "$TMP/$col-$wl-$i.txt" "$c" "$ROOT/bench/search_obs.lua" \
			"http://127.0.0.1:$port/fhir/Observation" random "$PATIENTS" & ;;
		create) wrk_run "$TMP/$col-$wl-$i.txt" "$c" "$ROOT/bench/create.lua" "http://127.0.0.1:$port/fhir/Patient" & ;;
		esac
		wpids="$wpids $!"
	done
	for p in $wpids; do
		wait "$p" || fail "a wrk run of $col $wl failed"
	done
	sum=0 p50=0 p99=0 err=0
	for j in $(seq 1 "$nn"); do
		set -- $(parse "$TMP/$col-$wl-$j.txt")
		sum=$((sum + $1))
		p50=$(awk -v a="$p50" -v b="$2" -v n="$nn" 'BEGIN { printf "%.2f", a + b / n }')
		p99=$(awk -v a="$p99" -v b="$3" 'BEGIN { printf "%.2f", (b > a) ? b : a }')
		err=$((err + $4))
	done
	echo "$col $wl $sum $p50 $p99 $err" >>"$TMP/results"
	printf '  %-10s %-7s %8s req/s  p50 %7s ms  p99 %7s ms  errors %s\n' "$col" "$wl" "$sum" "$p50" "$p99" "$err"
}

: >"$TMP/results"
echo "backends-bench: $(nproc) CPUs, $PATIENTS patients, $OBS Observations, wrk -t$WT -c$WC -d$DURATION;" \
	"$("$PGBIN/postgres" --version)"
"$PYTHON" "$ROOT/bench/gen_obs.py" --patients "$PATIENTS" --observations "$OBS" --big 0 --out "$TMP/data.ndjson" ||
	fail "generating the data failed"
NRES=$(wc -l <"$TMP/data.ndjson" | tr -d ' ')

# --- PostgreSQL cluster --------------------------------------------------------
mkdir -p "$TMP/pg"
[ "$(id -u)" = 0 ] && chown postgres "$TMP/pg"
as_pg "$PGBIN/initdb" -D "$TMP/pg/data" -U fhird -A trust -E UTF8 --locale=C >"$TMP/initdb.log" 2>&1 ||
	fail "initdb failed"
PGPORT=$(free_port)
as_pg "$PGBIN/pg_ctl" -D "$TMP/pg/data" -l "$TMP/pg/server.log" -w -o \
	"-c listen_addresses=127.0.0.1 -p $PGPORT -k $TMP/pg -c shared_buffers=$SHARED_BUFFERS -c max_connections=300" \
	start >"$TMP/pgctl.log" 2>&1 || fail "PostgreSQL did not start"
PG_STARTED=1
as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U fhird bench || fail "createdb failed"
PGURL="postgresql://fhird@127.0.0.1:$PGPORT/bench"

# import DB COLUMN: timed import, prints and records resources/s.
import() {
	t0=$(date +%s.%N)
	"$BIN" import --db "$1" "$TMP/data.ndjson" >"$TMP/import-$2.log" 2>&1 || fail "import into $2 failed"
	t1=$(date +%s.%N)
	rate=$(awk -v n="$NRES" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
	echo "$2 import $rate 0 0 0" >>"$TMP/results"
	echo "  $2: imported $NRES resources, $rate resources/s"
}

echo "== SQLite"
import "$TMP/sqlite.db" sqlite
serve s1 "$TMP/sqlite.db"
for wl in read search create; do measure sqlite "$wl" "$PORT_s1"; done
stop_servers

echo "== PostgreSQL, one node"
import "$PGURL" pg
serve p1 "$PGURL"
for wl in read search create; do measure pg "$wl" "$PORT_p1"; done

echo "== PostgreSQL, two nodes"
serve p2 "$PGURL"
for wl in read search create; do measure pg2 "$wl" "$PORT_p1" "$PORT_p2"; done
stop_servers

echo
echo "backends (requests/s, p50 / p99 ms; errors = non-2xx + socket errors; one run each, shared CPUs):"
awk '
{ v[$1, $2] = $3; p50[$1, $2] = $4; p99[$1, $2] = $5; e[$1, $2] = $6 }
END {
	printf "| %-8s | %-26s | %-26s | %-26s |\n", "", "SQLite", "PostgreSQL, 1 node", "PostgreSQL, 2 nodes"
	printf "|----------|----------------------------|----------------------------|----------------------------|\n"
	printf "| %-8s | %-26s | %-26s | %-26s |\n", "import", v["sqlite", "import"] " res/s", v["pg", "import"] " res/s", "-"
	n = split("read search create", w, " ")
	for (i = 1; i <= n; i++) {
		line = sprintf("| %-8s |", w[i])
		m = split("sqlite pg pg2", c, " ")
		for (j = 1; j <= m; j++) {
			k = c[j] SUBSEP w[i]
			if (k in v)
				cell = sprintf("%s/s %s/%s ms%s", v[k], p50[k], p99[k], e[k] ? " E" e[k] : "")
			else
				cell = "-"
			line = line sprintf(" %-26s |", cell)
		}
		print line
	}
}' "$TMP/results"
