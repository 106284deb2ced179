#!/bin/sh
# search.sh - the search benchmark of issue 4: Observation searches by
# patient and category at 100k and 1M Observations, and paging cost.
#
#   sh bench/search.sh BIN
#
# (bench/run.sh, i.e. `make bench`, calls it at its end unless BENCH_SEARCH=0.)
# For each scale in SCALES (Observations, or OBS:PATIENTS; default
# "100000 100000:1000 1000000": 100k and 1M over the issue's 10,000
# Patients, and 100k over 1,000 Patients - the 1M density, 100 per Patient,
# so that its page holds the same 20 entries as at 1M and only the size of
# the database differs):
# 1. bench/gen_obs.py writes PATIENTS (10,000) Patients p1..pN, the
#    Observations o1..oM spread evenly over them (half vital-signs, half
#    laboratory), and Patient pbig with exactly 1,000 vital-signs
#    Observations, to one NDJSON file (not timed);
# 2. `BIN import` loads it into a fresh database, timed from start to exit
#    (resources/s); then sync, so that the search is not measured during
#    the writeback;
# 3. `BIN serve` on 127.0.0.1 with a free port (--listen 127.0.0.1:0
#    --port-file; ready when the port file appears), auth off;
# 4. one curl of the search for p1 shows the status and what came back;
# 5. search: wrk warm-up (BENCH_SEARCH_WARMUP), then wrk -t2 -c32 -d15s
#    --latency with bench/search_obs.lua: GET
#    /fhir/Observation?patient=pK&category=vital-signs&_count=20, K uniform
#    in 1..PATIENTS;
# 5b. paced: the same search at a bounded rate (BENCH_SEARCH_RATE,
#    5,000 req/s, over BENCH_PACED_CONNS connections, each pausing before
#    each request; one calibration run sets the pause from the latency it
#    sees), so the p99 is that of the work at that rate, not of the queue
#    a saturating closed loop builds; the achieved rate is reported;
# 6. paging: GET Observation?patient=pbig&category=vital-signs&_count=20 and
#    follow the Bundle's next links to page 50 (checking 20 entries a page),
#    then wrk the page-1 URL and the page-50 URL, each BENCH_PAGE_DURATION
#    after a short warm-up;
# 7. stops the server (SIGTERM) and removes that scale's files.
# At the end: one table (import rate, search req/s, p50, p99, page 1 and
# page 50 req/s), every wrk run with its status counts, the ratio of the
# largest scale's latency to the smallest's, and the issue's goals next to
# the measured figures. Nothing is asserted: error responses (status >= 400) are
# counted and printed (WARNING lines), never hidden, and the exit status is
# 0 whenever the benchmark itself could run (1: generation, import or
# server start failed; 2: usage or missing tools).
# Everything runs on loopback with wrk on the same CPUs as the server: the
# figures compare scales and pages, they do not measure a deployment.
# Temp dir and server are removed/stopped on exit, also on Ctrl-C.
#
# Settings (environment):
#   SCALES="100000 1000000"    Observations per run, one run per value
#   PATIENTS=10000             Patients the Observations are spread over
#                              (for a SCALES entry without :PATIENTS)
#   BENCH_SEARCH_RATE=5000     target rate of the paced run (0: no paced run)
#   BENCH_PACED_CONNS=32       its connections (as many as the closed loop)
#   BENCH_SEARCH_DURATION=15s  the search wrk run
#   BENCH_SEARCH_WARMUP=10s    wrk warm-up before it (discarded; every read
#                              connection maps the file and faults its pages in)
#   BENCH_PAGE_DURATION=10s    each paging wrk run (page 1, page 50)
#   BENCH_PAGE_WARMUP=2s       warm-up before each paging run
#   BENCH_SEARCH_THREADS=2  BENCH_SEARCH_CONNS=32   wrk -t/-c for all runs
#   BENCH_SEARCH_STATUSES=0    1: count every response status in the measured
#                              runs too (a Lua hook per response, which costs
#                              wrk CPU the server shares); by default only the
#                              warm-ups count them, the measured runs report
#                              wrk's own count of statuses >= 400 (with 1,
#                              "errors" counts every status but 200)
#   BENCH_SERVER_THREADS=      fhird --threads (empty: the server's default)
#   BENCH_KEEP=1               keep the temp dir (data, databases, logs)
# FHIRD_* variables are cleared for the server and import, so a developer's
# settings cannot change what is measured.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: sh bench/search.sh BIN" >&2
	exit 2
fi
BIN=$1
case $BIN in
*/*) ;;
*) BIN=./$BIN ;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}

SCALES=${SCALES:-100000 100000:1000 1000000}
PATIENTS=${PATIENTS:-10000}
DURATION=${BENCH_SEARCH_DURATION:-15s}
WARMUP=${BENCH_SEARCH_WARMUP:-10s}
PAGE_DURATION=${BENCH_PAGE_DURATION:-10s}
PAGE_WARMUP=${BENCH_PAGE_WARMUP:-2s}
WT=${BENCH_SEARCH_THREADS:-2}
WC=${BENCH_SEARCH_CONNS:-32}
STATUSES=${BENCH_SEARCH_STATUSES:-0}
SERVER_THREADS=${BENCH_SERVER_THREADS:-}
BIG=1000      # Observations of pbig: 50 pages of 20
PAGE_N=50     # the page compared with page 1
LUA=$ROOT/bench/search_obs.lua

for tool in wrk curl "$PYTHON"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "search-bench: $tool not found (make deps installs wrk, curl, python3)" >&2
		exit 2
	fi
done
if [ ! -x "$BIN" ]; then
	echo "search-bench: $BIN is not an executable (run make first)" >&2
	exit 2
fi
RATE=${BENCH_SEARCH_RATE:-5000}
PC=${BENCH_PACED_CONNS:-32}
for s in $(echo "$SCALES" | tr ':' ' ') $PATIENTS $RATE $PC; do
	case $s in
	'' | *[!0-9]*)
		echo "search-bench: SCALES and PATIENTS must be positive integers" >&2
		exit 2
		;;
	esac
done
[ "$PATIENTS" -gt 0 ] || { echo "search-bench: PATIENTS must be > 0" >&2; exit 2; }

for v in $(env | sed -n 's/^\(FHIRD_[A-Za-z0-9_]*\)=.*/\1/p'); do
	unset "$v"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fhird-search-bench.XXXXXX")
FHIRD_PID=""
RESULTS=$TMP/results # one line per scale, see the end
: >"$RESULTS"

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
	stop_pid "$FHIRD_PID"
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "search-bench: kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

LOG=""
fail() {
	echo "search-bench: $*" >&2
	if [ -n "$LOG" ] && [ -s "$LOG" ]; then
		echo "search-bench: last lines of $LOG:" >&2
		tail -n 20 "$LOG" >&2
	fi
	exit 1
}

now() {
	"$PYTHON" -c 'import time; print("%.3f" % time.time())'
}

# run_wrk OUT DURATION COUNT ARGS...: wrk with search_obs.lua, output in
# OUT; COUNT=1: count every status (a Lua hook per response, used for the
# warm-ups), 0: only wrk's own count of statuses >= 400. A wrk that fails
# (not a server's error status) ends the benchmark.
run_wrk() {
	run_wrk_c "$WC" 0 "$@"
}

# run_wrk_c CONNS PAUSE_MS OUT DURATION COUNT ARGS...: run_wrk with CONNS
# connections, each pausing PAUSE_MS before each request (0: no pause;
# SEARCH_OBS_PAUSE_MS in search_obs.lua).
run_wrk_c() {
	conns=$1 pause=$2 out=$3 dur=$4 count=$5
	shift 5
	SEARCH_OBS_PAUSE_MS=$pause SEARCH_OBS_STATUSES=$count wrk -t"$WT" -c"$conns" -d"$dur" --latency -s "$LUA" "$@" >"$out" 2>&1 ||
		{ cat "$out" >&2; fail "wrk failed: wrk -t$WT -c$conns -d$dur --latency -s $LUA $*"; }
	grep -q '^SEARCHBENCH ' "$out" || { cat "$out" >&2; fail "no SEARCHBENCH line from wrk ($out)"; }
}

# field FILE KEY: the value of KEY= on the SEARCHBENCH line of FILE ("-" if none).
field() {
	v=""
	[ -s "$1" ] && v=$(sed -n "/^SEARCHBENCH /s/.* $2=\([^ ]*\).*/\1/p" "$1" | head -n 1)
	echo "${v:--}"
}

# show NAME FILE: one summary line of a wrk run.
show() {
	awk -v name="$1" '/^SEARCHBENCH / {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		printf "   %-8s %9.0f req/s  p50 %8.3f ms  p99 %8.3f ms  %d requests, %d errors, %d socket errors, statuses %s\n",
			name, f["rps"], f["p50_us"] / 1000, f["p99_us"] / 1000, f["requests"], f["non200"], f["sockerr"], f["statuses"]
	}' "$2"
}

echo "search-bench: $(nproc 2>/dev/null || echo '?') CPUs; $("$BIN" version 2>/dev/null || echo fhird);" \
	"scales: $SCALES Observations over $PATIENTS Patients; wrk -t$WT -c$WC, search $DURATION, pages $PAGE_DURATION"

for SPEC in $SCALES; do
	case $SPEC in
	*:*) SCALE=${SPEC%%:*} NP=${SPEC#*:} ;;
	*) SCALE=$SPEC NP=$PATIENTS ;;
	esac
	D=$TMP/s${SCALE}_$NP
	mkdir -p "$D"
	LOG=""
	echo
	echo "=== $SCALE Observations over $NP Patients (+ pbig with $BIG)"

	# --- 1. data ----------------------------------------------------------
	"$PYTHON" "$ROOT/bench/gen_obs.py" --patients "$NP" --observations "$SCALE" --big "$BIG" \
		--out "$D/obs.ndjson" || fail "generating the NDJSON failed"
	NRES=$(wc -l <"$D/obs.ndjson" | tr -d ' ')
	echo "data: $NRES resources, $(($(wc -c <"$D/obs.ndjson") / 1048576)) MiB of NDJSON"

	# --- 2. import --------------------------------------------------------
	LOG=$D/import.log
	T0=$(now)
	"$BIN" import --quiet --db "$D/fhird.db" "$D/obs.ndjson" >"$LOG" 2>&1 || fail "fhird import failed"
	T1=$(now)
	IMPORT_RPS=$(awk -v n="$NRES" -v t0="$T0" -v t1="$T1" 'BEGIN { s = t1 - t0; printf "%d", (s > 0 ? n / s : 0) }')
	echo "import: $NRES resources in $(awk -v t0="$T0" -v t1="$T1" 'BEGIN { printf "%.2f", t1 - t0 }') s" \
		"= $IMPORT_RPS resources/s; database $(($(cat "$D"/fhird.db* | wc -c) / 1048576)) MiB"
	[ "${BENCH_KEEP:-0}" = 1 ] || rm -f "$D/obs.ndjson"
	# The import leaves gigabytes of dirty pages (1M: ~2.7 GB) that the
	# kernel writes back for a while: search is measured after it (sync,
	# not timed).
	sync

	# --- 3. server --------------------------------------------------------
	LOG=$D/fhird.log
	set -- --listen 127.0.0.1:0 --port-file "$D/fhird.port" --db "$D/fhird.db" --auth off --log-level warn
	[ -n "$SERVER_THREADS" ] && set -- "$@" --threads "$SERVER_THREADS"
	"$BIN" serve "$@" >"$LOG" 2>&1 &
	FHIRD_PID=$!
	n=0
	while [ ! -s "$D/fhird.port" ]; do
		kill -0 "$FHIRD_PID" 2>/dev/null || { FHIRD_PID=""; fail "fhird exited before it listened"; }
		n=$((n + 1))
		[ "$n" -le 300 ] || fail "fhird not ready after 30 s"
		sleep 0.1
	done
	PORT=$(tr -d '[:space:]' <"$D/fhird.port")
	BASE=http://127.0.0.1:$PORT/fhir
	echo "server: pid $FHIRD_PID at $BASE, threads ${SERVER_THREADS:-default}"

	# --- 4. one search, to see what the server answers --------------------
	Q="category=vital-signs&_count=20"
	code=$(curl -s -o "$D/probe.json" -w '%{http_code}' -H 'Accept: application/fhir+json' \
		"$BASE/Observation?patient=p1&$Q") || code=000
	"$PYTHON" - "$code" "$D/probe.json" <<'EOF' || :
import json, sys
code, path = sys.argv[1], sys.argv[2]
try:
    b = json.load(open(path))
except Exception:
    print("probe: GET Observation?patient=p1&category=vital-signs&_count=20 -> HTTP %s, body not JSON" % code)
    sys.exit(0)
if b.get("resourceType") == "Bundle":
    e = b.get("entry") or []
    ok = all(x.get("resource", {}).get("subject", {}).get("reference") == "Patient/p1" for x in e
             if x.get("search", {}).get("mode", "match") == "match")
    print("probe: GET Observation?patient=p1&category=vital-signs&_count=20 -> HTTP %s, Bundle type %s, "
          "%d entries, total %s%s" % (code, b.get("type"), len(e), b.get("total", "absent"),
                                      "" if ok else ", WARNING: entries of other subjects"))
else:
    diag = "; ".join(i.get("diagnostics") or i.get("code", "") for i in b.get("issue", []))
    print("probe: GET Observation?patient=p1&category=vital-signs&_count=20 -> HTTP %s, %s: %s"
          % (code, b.get("resourceType"), diag[:200]))
EOF

	# --- 5. search --------------------------------------------------------
	echo "search: wrk -t$WT -c$WC -d$DURATION --latency -s bench/search_obs.lua" \
		"$BASE/Observation -- random $NP (after a $WARMUP warm-up)"
	run_wrk "$D/wsearch.txt" "$WARMUP" 1 "$BASE/Observation" -- random "$NP"
	show warm-up "$D/wsearch.txt"
	run_wrk "$D/search.txt" "$DURATION" "$STATUSES" "$BASE/Observation" -- random "$NP"
	show search "$D/search.txt"

	# --- 5b. paced search -------------------------------------------------
	: >"$D/paced.txt"
	if [ "$RATE" -gt 0 ]; then
		# each connection: one request per PC*1000/RATE ms = pause + latency
		period=$(awk -v c="$PC" -v r="$RATE" 'BEGIN { printf "%.3f", c * 1000 / r }')
		p0=$(awk -v p="$period" 'BEGIN { x = int(p - 1); print x < 0 ? 0 : x }')
		run_wrk_c "$PC" "$p0" "$D/wpaced.txt" "$WARMUP" 0 "$BASE/Observation" -- random "$NP"
		# the latency the calibration saw: achieved period - pause
		p1=$(awk -v p="$period" -v p0="$p0" -v c="$PC" -v r="$(field "$D/wpaced.txt" rps)" 'BEGIN {
			lat = (r > 0 ? c * 1000 / r : p) - p0; x = int(p - lat); print x < 0 ? 0 : x }')
		echo "paced: wrk -t$WT -c$PC -d$DURATION, each connection pausing $p1 ms before each request" \
			"(target $RATE req/s; calibration: pause $p0 ms -> $(field "$D/wpaced.txt" rps) req/s)"
		run_wrk_c "$PC" "$p1" "$D/paced.txt" "$DURATION" "$STATUSES" "$BASE/Observation" -- random "$NP"
		show paced "$D/paced.txt"
	fi

	# --- 6. paging --------------------------------------------------------
	PAGE1="$BASE/Observation?patient=pbig&$Q"
	PAGEN=""
	if "$PYTHON" - "$PAGE1" "$BASE" "$PAGE_N" "$BIG" >"$D/pages.txt" 2>&1 <<'EOF'; then
import json, sys, urllib.request, urllib.parse
first, base, want, big = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ours = urllib.parse.urlsplit(base)
url, page, seen = first, 1, 0
while True:
    req = urllib.request.Request(url, headers={"Accept": "application/fhir+json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            b = json.load(r)
    except urllib.error.HTTPError as e:
        print("page %d: HTTP %d" % (page, e.code))
        sys.exit(1)
    n = sum(1 for x in b.get("entry") or [] if x.get("search", {}).get("mode", "match") == "match")
    seen += n
    if n != 20:
        print("page %d: %d matches, not 20" % (page, n))
        sys.exit(1)
    if page == want:
        break
    nxt = [l.get("url") for l in b.get("link") or [] if l.get("relation") == "next"]
    if not nxt:
        print("page %d: no next link (after %d matches)" % (page, seen))
        sys.exit(1)
    # the same request on our own address, whatever base the server announces
    u = urllib.parse.urlsplit(nxt[0])
    url = urllib.parse.urlunsplit((ours.scheme, ours.netloc, u.path, u.query, ""))
    page += 1
last_next = [l for l in b.get("link") or [] if l.get("relation") == "next"]
print("ok %s" % url)
print("paged %d pages, %d matches, total %s%s" % (page, seen, b.get("total", "absent"),
      ", WARNING: page %d still has a next link" % page if seen == big and last_next else ""))
EOF
		PAGEN=$(sed -n 's/^ok //p' "$D/pages.txt")
		echo "paging: $(sed -n 's/^paged //p' "$D/pages.txt"); page $PAGE_N is $PAGEN"
	else
		echo "paging: following next links to page $PAGE_N failed: $(cat "$D/pages.txt")"
	fi
	echo "paging: wrk -t$WT -c$WC -d$PAGE_DURATION --latency -s bench/search_obs.lua URL -- fixed" \
		"(after a $PAGE_WARMUP warm-up each)"
	run_wrk "$D/wpage1.txt" "$PAGE_WARMUP" 1 "$PAGE1" -- fixed
	run_wrk "$D/page1.txt" "$PAGE_DURATION" "$STATUSES" "$PAGE1" -- fixed
	show "page 1" "$D/page1.txt"
	if [ -n "$PAGEN" ]; then
		run_wrk "$D/wpageN.txt" "$PAGE_WARMUP" 1 "$PAGEN" -- fixed
		run_wrk "$D/pageN.txt" "$PAGE_DURATION" "$STATUSES" "$PAGEN" -- fixed
		show "page $PAGE_N" "$D/pageN.txt"
	else
		: >"$D/pageN.txt"
		: >"$D/wpageN.txt"
	fi

	# --- 7. stop, record --------------------------------------------------
	stop_pid "$FHIRD_PID"
	FHIRD_PID=""
	for f in search page1 pageN paced; do
		for k in rps p50_us p99_us requests non200 sockerr; do
			printf '%s ' "$(field "$D/$f.txt" "$k")"
		done
		st=$(field "$D/$f.txt" statuses)
		[ "$st" = - ] && st=warm-up:$(field "$D/w$f.txt" statuses)
		printf '%s ' "$st"
	done >"$D/row"
	echo "$SCALE $NP $NRES $IMPORT_RPS $(cat "$D/row")" >>"$RESULTS"
	if [ "${BENCH_KEEP:-0}" != 1 ]; then
		rm -f "$D"/fhird.db "$D"/fhird.db-wal "$D"/fhird.db-shm
	fi
done

# --- report -----------------------------------------------------------------
# RESULTS columns: 1 scale, 2 patients, 3 resources, 4 import/s, then for
# search (5..11), page 1 (12..18), page N (19..25), paced (26..32): rps
# p50_us p99_us requests non200 sockerr statuses ("-" when the run did not
# happen).
awk -v dur="$DURATION" -v pdur="$PAGE_DURATION" -v pn="$PAGE_N" -v t="$WT" -v c="$WC" -v rate="$RATE" -v pc="$PC" '
function ms(us) { return us == "-" ? "n/a" : sprintf("%.2f", us / 1000) }
function rps(v) { return v == "-" ? "n/a" : sprintf("%d", v) }
{
	n++
	scale[n] = $1; row[n] = $0
	for (i = 1; i <= NF; i++) v[n, i] = $i
}
END {
	printf "\nSearch benchmark (issue 4): wrk -t%s -c%s, search %s, pages %s; loopback, wrk on the same CPUs\n\n", t, c, dur, pdur
	printf "%12s | %8s | %12s | %12s | %8s | %8s | %11s | %8s | %8s | %11s | %12s | %s\n", "Observations", "Patients",
		"import res/s", "search req/s", "p50 ms", "p99 ms", "paced req/s", "p50 ms", "p99 ms", "page1 req/s",
		"page" pn " req/s", "errors"
	printf "%12s-+-%8s-+-%12s-+-%12s-+-%8s-+-%8s-+-%11s-+-%8s-+-%8s-+-%11s-+-%12s-+-%s\n", "------------", "--------",
		"------------", "------------", "--------", "--------", "-----------", "--------", "--------", "-----------",
		"------------", "-----------------------"
	for (r = 1; r <= n; r++) {
		e = ""
		for (k = 0; k < 4; k++) {
			b = 5 + 7 * k
			e = e (k ? " / " : "") (v[r, b] == "-" ? "-" : v[r, b + 4] + v[r, b + 5])
		}
		printf "%12s | %8s | %12s | %12s | %8s | %8s | %11s | %8s | %8s | %11s | %12s | %s\n", v[r, 1], v[r, 2],
			v[r, 4], rps(v[r, 5]), ms(v[r, 6]), ms(v[r, 7]), rps(v[r, 26]), ms(v[r, 27]), ms(v[r, 28]),
			rps(v[r, 12]), rps(v[r, 19]), e
	}
	printf "(search: closed loop, %s connections sending as fast as they can; paced: %s connections pausing so as to\n", c, pc
	printf "offer ~%s req/s; errors: responses with status >= 400 plus socket errors, in the search / page 1 / page %s /\n", rate, pn
	printf "paced runs; -: not run)\n"

	printf "\nEvery run (latencies in ms; errors: statuses >= 400; statuses: counts per status, from the warm-up of the run\n"
	printf "unless BENCH_SEARCH_STATUSES=1):\n"
	printf "%12s | %-8s | %9s | %8s | %8s | %9s | %7s | %7s | %s\n", "Observations", "run", "req/s", "p50", "p99",
		"requests", "errors", "sockerr", "statuses"
	split("search page1 page" pn " paced", names, " ")
	for (r = 1; r <= n; r++)
		for (k = 0; k < 4; k++) {
			b = 5 + 7 * k
			if (v[r, b] == "-") {
				printf "%12s | %-8s | %9s |\n", v[r, 1], names[k + 1], "not run"
				continue
			}
			printf "%12s | %-8s | %9s | %8s | %8s | %9s | %7s | %7s | %s\n", v[r, 1], names[k + 1], rps(v[r, b]),
				ms(v[r, b + 1]), ms(v[r, b + 2]), v[r, b + 3], v[r, b + 4], v[r, b + 5], v[r, b + 6]
		}

	printf "\n"
	# the largest scale against every smaller one (closed loop and paced)
	for (r = 1; r < n; r++) {
		if (v[r, 1] >= v[n, 1])
			continue
		printf "search latency at %s over %s / at %s over %s Patients: closed loop p50 %s, p99 %s; paced p50 %s, p99 %s (goal: within 1.5x)\n",
			v[n, 1], v[n, 2], v[r, 1], v[r, 2],
			(v[r, 6] > 0 && v[n, 6] != "-" ? sprintf("%.2fx", v[n, 6] / v[r, 6]) : "n/a"),
			(v[r, 7] > 0 && v[n, 7] != "-" ? sprintf("%.2fx", v[n, 7] / v[r, 7]) : "n/a"),
			(v[r, 27] != "-" && v[r, 27] > 0 && v[n, 27] != "-" ? sprintf("%.2fx", v[n, 27] / v[r, 27]) : "n/a"),
			(v[r, 28] != "-" && v[r, 28] > 0 && v[n, 28] != "-" ? sprintf("%.2fx", v[n, 28] / v[r, 28]) : "n/a")
	}
	for (r = 1; r <= n; r++) {
		if (v[r, 19] != "-" && v[r, 13] > 0)
			printf "%s Observations: page %s vs page 1: p50 %.2fx, time per request (page 1 req/s / page %s req/s) %.2fx (goal: <= 1)\n",
				v[r, 1], pn, v[r, 20] / v[r, 13], pn, (v[r, 19] > 0 ? v[r, 12] / v[r, 19] : 0)
		printf "%s Observations over %s Patients: search %s req/s (goal >= 5000), p99 %s ms closed loop, %s ms paced at %s req/s (goal < 20)%s\n",
			v[r, 1], v[r, 2], rps(v[r, 5]), ms(v[r, 7]), ms(v[r, 28]), rps(v[r, 26]),
			(v[r, 9] + v[r, 10] > 0 ? " - ERRORS, figures not meaningful" : "")
	}
	for (r = 1; r <= n; r++)
		for (k = 0; k < 4; k++) {
			b = 5 + 7 * k
			if (v[r, b] == "-")
				printf "WARNING: %s Observations: %s was not run\n", v[r, 1], names[k + 1]
			else if (v[r, b + 4] + v[r, b + 5] > 0)
				printf "WARNING: %s Observations: %s: %d of %d responses were errors (statuses %s), %d socket errors\n",
					v[r, 1], names[k + 1], v[r, b + 4], v[r, b + 3], v[r, b + 6], v[r, b + 5]
		}
}' "$RESULTS"
