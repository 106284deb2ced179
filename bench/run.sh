#!/bin/sh
# run.sh - what `make bench` calls: wrk benchmarks of fhird, and of nginx
# serving the same bytes as a static ceiling.
#
#   sh bench/run.sh BIN
#
# 1. starts BIN on 127.0.0.1 with a free port (--listen 127.0.0.1:0
#    --port-file) and a fresh database in a temp dir, default --threads;
# 2. loads BENCH_PATIENTS (10,000) Patients pt-00001.. with
#    bench/gen_patients.py: PUT over BENCH_LOAD_CONNS (8) keep-alive connections;
# 3. read: wrk + bench/read.lua, GET /fhir/Patient/pt-NNNNN at random;
# 4. create: wrk + bench/create.lua, POST /fhir/Patient;
# 5. static ceiling: nginx (Debian nginx-light) on a free loopback port,
#    started as the current user with a generated config, answers every
#    /fhir/Patient/<anything> with the exact bytes fhird returned for
#    pt-00001 (one file, try_files) and gets the same read.lua load;
# 6. import: bench/gen_ndjson.py writes BENCH_IMPORT_RESOURCES (200,000)
#    typical clinical resources (~1 KB each) to an NDJSON file, and
#    `BIN import` loads it into a fresh database, timed from start to exit;
# 4b. read again with --auth smart and a Backend Services token
#    (bench/get_token.py) on every request, with the audit trail on (the
#    default) and then --audit off, each flat out and paced
#    (bench/read_paced.lua), and `fhird audit verify` counting the records
#    of the audited runs;
# 7. prints a table (requests/s, p50, p99, errors), fhird read as a
#    percentage of nginx read, and the import rate;
# 8. search: bench/search.sh (100k and 1M Observations over 10,000
#    patients, Observation?patient=X&category=vital-signs&_count=20, page 1
#    vs page 50 of a 1,000-match search); BENCH_SEARCH=0 skips it, SCALES
#    and PATIENTS pick the sizes (see bench/search.sh);
# 9. backends: bench/backends.sh (read, search, create on SQLite, on
#    PostgreSQL with one node and with two nodes on one database, in a
#    throwaway PostgreSQL cluster); BENCH_BACKENDS=0 skips it.
# Everything runs on loopback, wrk on the same CPUs as the servers: the
# numbers compare, they do not measure a deployment. Temp dirs and both
# servers are removed/stopped on exit, also on Ctrl-C.
#
# Settings (environment):
#   BENCH_DURATION=10s         each wrk run
#   BENCH_READ_THREADS=2  BENCH_READ_CONNS=32      wrk -t/-c for reads (fhird and nginx)
#   BENCH_CREATE_THREADS=2  BENCH_CREATE_CONNS=64  wrk -t/-c for creates
#   BENCH_PATIENTS=10000       Patients loaded (and ids read)
#   BENCH_LOAD_CONNS=8         parallel PUT connections while loading
#   BENCH_SERVER_THREADS=      fhird --threads (empty: the server's default)
#   BENCH_NGINX_WORKERS=auto   nginx worker_processes
#   BENCH_IMPORT_RESOURCES=200000  resources in the import benchmark (0: skip it)
#   BENCH_PACE_MS=10           pause per connection between requests of the
#                              paced token reads (below saturation: latency)
#   BENCH_KEEP=1               keep the temp dir (database, logs, wrk output)
# FHIRD_* variables are cleared for the server, so a developer's settings
# (config file, TLS, limits) cannot change what is measured.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: sh bench/run.sh BIN" >&2
	exit 2
fi
BIN=$1
case $BIN in
*/*) ;;
*) BIN=./$BIN ;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
NGINX=${NGINX:-/usr/sbin/nginx}

DURATION=${BENCH_DURATION:-10s}
READ_T=${BENCH_READ_THREADS:-2}
READ_C=${BENCH_READ_CONNS:-32}
CREATE_T=${BENCH_CREATE_THREADS:-2}
CREATE_C=${BENCH_CREATE_CONNS:-64}
PATIENTS=${BENCH_PATIENTS:-10000}
LOAD_CONNS=${BENCH_LOAD_CONNS:-8}
SERVER_THREADS=${BENCH_SERVER_THREADS:-}
NGINX_WORKERS=${BENCH_NGINX_WORKERS:-auto}
IMPORT_RESOURCES=${BENCH_IMPORT_RESOURCES:-200000}
PACE_MS=${BENCH_PACE_MS:-10}

for tool in wrk curl "$PYTHON" "$NGINX"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "bench: $tool not found (make deps installs wrk, curl, python3, nginx-light)" >&2
		exit 2
	fi
done
if [ ! -x "$BIN" ]; then
	echo "bench: $BIN is not an executable (run make first)" >&2
	exit 2
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fhird-bench.XXXXXX")
FHIRD_PID=""
NGINX_PID=""

stop_pid() {
	# Graceful stop, then wait; a server that hangs gets SIGKILL after 15 s.
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
cleanup() {
	rc=$?
	trap - EXIT INT TERM
	stop_pid "$NGINX_PID"
	stop_pid "$FHIRD_PID"
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "bench: kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
	echo "bench: $*" >&2
	if [ -s "$TMP/fhird.log" ]; then
		echo "bench: last lines of the fhird log:" >&2
		tail -n 20 "$TMP/fhird.log" >&2
	fi
	exit 1
}

free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run_wrk NAME THREADS CONNS SCRIPT URL [-- ARGS]: output in $TMP/NAME.txt, echoed.
run_wrk() {
	name=$1 t=$2 c=$3 script=$4 url=$5
	shift 5
	echo "== $name: wrk -t$t -c$c -d$DURATION --latency -s ${script#"$ROOT"/} $url $*"
	wrk -t"$t" -c"$c" -d"$DURATION" --latency -s "$script" "$url" "$@" >"$TMP/$name.txt" 2>&1 ||
		{ cat "$TMP/$name.txt" >&2; fail "wrk failed ($name)"; }
	sed -n '/Latency Distribution/,$p' "$TMP/$name.txt"
	echo
}

# parse_wrk FILE: "requests/s p50_ms p99_ms errors requests" from wrk --latency output.
parse_wrk() {
	awk '
	function ms(v) {
		if (v ~ /us$/) return v / 1000
		if (v ~ /ms$/) return v + 0
		if (v ~ /m$/) return v * 60000
		if (v ~ /s$/) return v * 1000
		return v + 0
	}
	/Latency Distribution/ { dist = 1; next }
	dist && $1 == "50%" { p50 = ms($2) }
	dist && $1 == "99%" { p99 = ms($2); dist = 0 }
	/requests in/ { reqs = $1 }
	/Non-2xx or 3xx responses:/ { err += $NF }
	/Socket errors:/ {
		gsub(",", "")
		for (i = 3; i <= NF; i += 2) err += $(i + 1)
	}
	/^Requests\/sec:/ { rps = $2 }
	END { printf "%.0f %.3f %.3f %d %d\n", rps, p50, p99, err, reqs }
	' "$1"
}

# --- 1. fhird ---------------------------------------------------------------
echo "bench: $(nproc 2>/dev/null || echo '?') CPUs, wrk ${DURATION} per run; $("$BIN" version 2>/dev/null || echo fhird)," \
	"$("$NGINX" -v 2>&1 | sed 's/.*: //')"
for v in $(env | sed -n 's/^\(FHIRD_[A-Za-z0-9_]*\)=.*/\1/p'); do
	unset "$v"
done
set -- --listen 127.0.0.1:0 --port-file "$TMP/fhird.port" --db "$TMP/fhird.db" --auth off --log-level warn
[ -n "$SERVER_THREADS" ] && set -- "$@" --threads "$SERVER_THREADS"
"$BIN" serve "$@" >"$TMP/fhird.log" 2>&1 &
FHIRD_PID=$!
n=0
while [ ! -s "$TMP/fhird.port" ]; do
	kill -0 "$FHIRD_PID" 2>/dev/null || { FHIRD_PID=""; fail "fhird exited before it listened"; }
	n=$((n + 1))
	[ "$n" -le 300 ] || fail "fhird not ready after 30 s"
	sleep 0.1
done
PORT=$(tr -d '[:space:]' <"$TMP/fhird.port")
BASE=http://127.0.0.1:$PORT/fhir
echo "bench: fhird pid $FHIRD_PID at $BASE, threads ${SERVER_THREADS:-default}"

# --- 2. data ----------------------------------------------------------------
"$PYTHON" "$ROOT/bench/gen_patients.py" --count "$PATIENTS" --threads "$LOAD_CONNS" --load "$BASE" ||
	fail "loading the Patients failed"
LAST=$(printf 'pt-%05d' "$PATIENTS")
for id in pt-00001 "$LAST"; do
	code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/Patient/$id") || code=000
	[ "$code" = 200 ] || fail "GET Patient/$id answered $code after loading"
done

# nginx serves the exact bytes fhird answers for a read.
mkdir -p "$TMP/nginx/www" "$TMP/nginx/tmp"
curl -sf -o "$TMP/nginx/www/patient" "$BASE/Patient/pt-00001" || fail "cannot fetch Patient/pt-00001"
BODY_BYTES=$(wc -c <"$TMP/nginx/www/patient" | tr -d ' ')
echo

# --- 3. read, 4. create -----------------------------------------------------
run_wrk fhird-read "$READ_T" "$READ_C" "$ROOT/bench/read.lua" "$BASE/Patient/" -- "$PATIENTS"
run_wrk fhird-create "$CREATE_T" "$CREATE_C" "$ROOT/bench/create.lua" "$BASE/Patient"
stop_pid "$FHIRD_PID"
FHIRD_PID=""

# --- 4b. read with a SMART access token, audited and not ------------------
# The same database served with --auth smart; a Backend Services token
# (system/Patient.rs) on every request: signature check (cached per token),
# claims, scope decision and the revocation lookup in the store. First with
# the audit trail on (the default with --auth smart: every read becomes an
# AuditEvent, queued by the request and appended by a background thread),
# then with --audit off on the same database and token, to show its cost.
# Each mode runs twice: flat out (throughput at saturation, where the
# audit writer's work competes for the same cores) and paced
# (bench/read_paced.lua: latency below saturation, where a request only
# pays for queueing its event). After the audited runs, `fhird audit
# verify` counts the records: every request wrk made must be there (and
# the token request, and the curl check).
# One port for both runs: the token's iss and aud name it.
SPORT=$(free_port)
start_smart() {
	rm -f "$TMP/fhird.port"
	set -- --listen "127.0.0.1:$SPORT" --port-file "$TMP/fhird.port" --db "$TMP/fhird.db" --auth smart --log-level warn "$@"
	[ -n "$SERVER_THREADS" ] && set -- "$@" --threads "$SERVER_THREADS"
	"$BIN" serve "$@" >>"$TMP/fhird.log" 2>&1 &
	FHIRD_PID=$!
	n=0
	while [ ! -s "$TMP/fhird.port" ]; do
		kill -0 "$FHIRD_PID" 2>/dev/null || { FHIRD_PID=""; fail "fhird (--auth smart) exited before it listened"; }
		n=$((n + 1))
		[ "$n" -le 300 ] || fail "fhird not ready after 30 s"
		sleep 0.1
	done
	APORT=$(tr -d '[:space:]' <"$TMP/fhird.port")
}
start_smart
TOKEN=$("$PYTHON" "$ROOT/bench/get_token.py" "$BIN" "$TMP/fhird.db" "http://127.0.0.1:$APORT" "system/Patient.rs") ||
	fail "no access token for the authenticated read"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
	"http://127.0.0.1:$APORT/fhir/Patient/pt-00001") || code=000
[ "$code" = 200 ] || fail "authenticated GET Patient/pt-00001 answered $code"
run_wrk fhird-read-token "$READ_T" "$READ_C" "$ROOT/bench/read.lua" "http://127.0.0.1:$APORT/fhir/Patient/" -- "$PATIENTS" "$TOKEN"
run_wrk fhird-read-token-paced "$READ_T" "$READ_C" "$ROOT/bench/read_paced.lua" "http://127.0.0.1:$APORT/fhir/Patient/" -- "$PATIENTS" "$TOKEN" "$PACE_MS"
stop_pid "$FHIRD_PID" # a clean stop writes what is still queued
FHIRD_PID=""
AUDITED=$("$BIN" audit verify --db "$TMP/fhird.db" | sed -n 's/^audit trail ok: \([0-9]*\) records$/\1/p')
[ -n "$AUDITED" ] || fail "fhird audit verify did not find an intact audit trail"
start_smart --audit off
run_wrk fhird-read-token-noaudit "$READ_T" "$READ_C" "$ROOT/bench/read.lua" "http://127.0.0.1:$APORT/fhir/Patient/" -- "$PATIENTS" "$TOKEN"
run_wrk fhird-read-token-noaudit-paced "$READ_T" "$READ_C" "$ROOT/bench/read_paced.lua" "http://127.0.0.1:$APORT/fhir/Patient/" -- "$PATIENTS" "$TOKEN" "$PACE_MS"
stop_pid "$FHIRD_PID"
FHIRD_PID=""

# --- 5. nginx static ceiling ------------------------------------------------
NPORT=$(free_port)
USER_LINE=""
[ "$(id -u)" -eq 0 ] && USER_LINE="user root;" # workers must read the 0700 temp dir
cat >"$TMP/nginx/nginx.conf" <<EOF
# Generated by bench/run.sh: a static ceiling for the read benchmark.
$USER_LINE
worker_processes $NGINX_WORKERS;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	server_tokens off;
	types { }
	default_type application/fhir+json;
	# Tuned for many small reads of one file: descriptors cached, plain
	# write() (sendfile buys nothing for 2 KB and measured slower here).
	sendfile off;
	open_file_cache max=1000 inactive=60s;
	open_file_cache_valid 60s;
	tcp_nodelay on;
	keepalive_timeout 65s;
	keepalive_requests 1000000;
	client_body_temp_path $TMP/nginx/tmp/body;
	proxy_temp_path $TMP/nginx/tmp/proxy;
	fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
	uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
	scgi_temp_path $TMP/nginx/tmp/scgi;
	server {
		listen 127.0.0.1:$NPORT;
		root $TMP/nginx/www;
		# Every /fhir/Patient/<id> gets the same saved response body.
		location /fhir/Patient/ { try_files /patient =404; }
	}
}
EOF
"$NGINX" -p "$TMP/nginx/" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx/stdout.log" 2>&1 &
NGINX_PID=$!
n=0
until curl -sf -o /dev/null "http://127.0.0.1:$NPORT/fhir/Patient/pt-00001"; do
	if ! kill -0 "$NGINX_PID" 2>/dev/null; then
		cat "$TMP/nginx/stdout.log" "$TMP/nginx/error.log" >&2 2>/dev/null || :
		NGINX_PID=""
		fail "nginx did not start"
	fi
	n=$((n + 1))
	[ "$n" -le 100 ] || fail "nginx not ready after 10 s"
	sleep 0.1
done
run_wrk nginx-read "$READ_T" "$READ_C" "$ROOT/bench/read.lua" "http://127.0.0.1:$NPORT/fhir/Patient/" -- "$PATIENTS"
stop_pid "$NGINX_PID"
NGINX_PID=""

# --- 6. import -------------------------------------------------------------
# The file is generated first (not timed); the time is the whole `fhird
# import` process: mapping, parsing, validation, the store's commits with
# fsync, and the close that checkpoints the WAL.
IMPORT_ROW=""
if [ "$IMPORT_RESOURCES" -gt 0 ]; then
	echo "== import: $IMPORT_RESOURCES resources, bench/gen_ndjson.py | fhird import"
	"$PYTHON" "$ROOT/bench/gen_ndjson.py" --count "$IMPORT_RESOURCES" --out "$TMP/import.ndjson" ||
		fail "generating the NDJSON file failed"
	T0=$("$PYTHON" -c 'import time; print(time.time())')
	"$BIN" import --quiet --db "$TMP/import.db" "$TMP/import.ndjson" >"$TMP/import.log" 2>&1 ||
		{ cat "$TMP/import.log" >&2; fail "fhird import failed"; }
	T1=$("$PYTHON" -c 'import time; print(time.time())')
	IMPORT_ROW=$(awk -v n="$IMPORT_RESOURCES" -v t0="$T0" -v t1="$T1" \
		'BEGIN { s = t1 - t0; printf "%d resources | %.2f s | %d resources/s", n, s, (s > 0 ? n / s : 0) }')
	echo "$IMPORT_ROW"
	echo
	rm -f "$TMP/import.ndjson" "$TMP/import.db" "$TMP/import.db-wal" "$TMP/import.db-shm"
fi

# --- 7. report --------------------------------------------------------------
R=$(parse_wrk "$TMP/fhird-read.txt")
C=$(parse_wrk "$TMP/fhird-create.txt")
A=$(parse_wrk "$TMP/fhird-read-token.txt")
U=$(parse_wrk "$TMP/fhird-read-token-noaudit.txt")
AP=$(parse_wrk "$TMP/fhird-read-token-paced.txt")
UP=$(parse_wrk "$TMP/fhird-read-token-noaudit-paced.txt")
N=$(parse_wrk "$TMP/nginx-read.txt")
printf '%s\n%s\n%s\n%s\n%s\n%s\n%s\n' "fhird-read $READ_T $READ_C $R" "fhird-create $CREATE_T $CREATE_C $C" \
	"nginx-read $READ_T $READ_C $N" "fhird-read-token $READ_T $READ_C $A" "fhird-read-token-noaudit $READ_T $READ_C $U" \
	"fhird-read-token-paced $READ_T $READ_C $AP" "fhird-read-token-noaudit-paced $READ_T $READ_C $UP" |
	awk -v dur="$DURATION" -v bytes="$BODY_BYTES" -v patients="$PATIENTS" -v imp="$IMPORT_ROW" -v audited="$AUDITED" '
	{ name[NR] = $1; t[NR] = $2; c[NR] = $3; rps[NR] = $4; p50[NR] = $5; p99[NR] = $6; err[NR] = $7; reqs[NR] = $8 }
	END {
		printf "\nResults (%s per run, %d Patients, read body %d bytes; loopback, wrk on the same machine)\n\n", dur, patients, bytes
		printf "%-22s | %9s | %12s | %10s | %10s | %7s\n", "scenario", "wrk -t/-c", "requests/s", "p50 ms", "p99 ms", "errors"
		printf "%-22s-+-%9s-+-%12s-+-%10s-+-%10s-+-%7s\n", "----------------------", "---------", "------------", "----------", "----------", "-------"
		label["fhird-read"] = "fhird read by id"
		label["fhird-create"] = "fhird create"
		label["nginx-read"] = "nginx static read"
		label["fhird-read-token"] = "fhird read, SMART token"
		label["fhird-read-token-noaudit"] = "  same, --audit off"
		label["fhird-read-token-paced"] = "  same, paced"
		label["fhird-read-token-noaudit-paced"] = "  paced, --audit off"
		for (i = 1; i <= NR; i++)
			printf "%-22s | %9s | %12d | %10.3f | %10.3f | %7d\n", label[name[i]], t[i] "/" c[i], rps[i], p50[i], p99[i], err[i]
		if (imp != "")
			printf "%-22s | %s\n", "import NDJSON", imp
		printf "\nfhird read / nginx read: %s\n", (rps[3] > 0 ? sprintf("%.1f %%", 100 * rps[1] / rps[3]) : "n/a")
		printf "fhird create: %d creates/s\n", rps[2]
		printf "read with a SMART token / without: %s\n", (rps[1] > 0 ? sprintf("%.1f %%", 100 * rps[4] / rps[1]) : "n/a")
		printf "read with a SMART token, audit on / off: %s at saturation; paced: p50 %+.3f ms, p99 %+.3f ms\n",
		       (rps[5] > 0 ? sprintf("%.1f %%", 100 * rps[4] / rps[5]) : "n/a"), p50[6] - p50[7], p99[6] - p99[7]
		printf "audit trail after the audited runs: %d records for %d requests by wrk (+ token, check)%s\n", audited,
		       reqs[4] + reqs[6], (audited >= reqs[4] + reqs[6] ? "" : "  WARNING: fewer records than requests")
		for (i = 1; i <= NR; i++)
			if (err[i] > 0)
				printf "WARNING: %s had %d errors (non-2xx/3xx responses or socket errors)\n", label[name[i]], err[i]
	}'
if [ "${BENCH_SEARCH:-1}" = 1 ]; then sh "$ROOT/bench/search.sh" "$BIN"; fi
if [ "${BENCH_BACKENDS:-1}" = 1 ]; then sh "$ROOT/bench/backends.sh" "$BIN"; fi
