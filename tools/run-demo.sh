#!/bin/sh
# run-demo.sh - what `make run` calls: start fhird in the foreground with the
# demo data loaded.
#
#   sh tools/run-demo.sh BIN [EXTRA SERVE FLAGS...]
#
# Starts `BIN serve` on 127.0.0.1:8080 with the database ./data/fhird.db and
# the built-in SMART authorization server - the server's own defaults, passed as flags only when
# the environment does not choose them: any FHIRD_<KEY> variable (FHIRD_LISTEN,
# FHIRD_DB, FHIRD_AUTH, FHIRD_CONFIG, ...) wins, exactly as for the server
# itself. When the database file does not exist yet, it first loads
# data/demo/*.json into it with `BIN import` (straight into the database,
# before the server starts; tools/load_demo.py does the same over HTTP for a
# running server). Then it starts the server, prints the base URL and a few
# curl commands and waits for the server; Ctrl-C (SIGINT) or SIGTERM stops the
# server gracefully. The exit status is the server's.
#
# Readiness is the port file the server writes once it listens (--port-file,
# in a private temp dir; this overrides FHIRD_PORT_FILE).
set -eu

if [ $# -lt 1 ]; then
	echo "usage: sh tools/run-demo.sh BIN [serve flags...]" >&2
	exit 2
fi
BIN=$1
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case $BIN in
*/*) ;;
*) BIN=./$BIN ;;
esac
if [ ! -x "$BIN" ]; then
	echo "run-demo: $BIN is not an executable (run make first)" >&2
	exit 2
fi

# A setting comes from: flag > environment > config file > built-in default.
# cfg_value KEY prints the value in $FHIRD_CONFIG (last one wins), if any.
cfg_value() {
	[ -n "${FHIRD_CONFIG:-}" ] && [ -r "$FHIRD_CONFIG" ] || return 0
	sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$FHIRD_CONFIG" |
		sed 's/[[:space:]]*$//' | tail -n 1
}
# flag_value NAME ARGS... prints the value of --NAME V / --NAME=V in ARGS.
flag_value() {
	name=$1
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--"$name"=*) printf '%s\n' "${1#*=}" ;;
		--"$name") [ $# -gt 1 ] && printf '%s\n' "$2" ;;
		esac
		shift
	done | tail -n 1
}
# setting KEY ENVVAR DEFAULT ARGS...: the value the server will use.
setting() {
	key=$1 envvar=$2 def=$3
	shift 3
	v=$(flag_value "$(echo "$key" | tr _ -)" "$@")
	[ -n "$v" ] && { printf '%s\n' "$v"; return; }
	eval "v=\${$envvar:-}"
	[ -n "$v" ] && { printf '%s\n' "$v"; return; }
	v=$(cfg_value "$key")
	[ -n "$v" ] && { printf '%s\n' "$v"; return; }
	printf '%s\n' "$def"
}

# Defaults are given as flags only when nothing else chooses them.
DEFAULTS=""
if [ -z "${FHIRD_CONFIG:-}" ]; then
	[ -z "${FHIRD_LISTEN:-}" ] && DEFAULTS="$DEFAULTS --listen 127.0.0.1:8080"
	[ -z "${FHIRD_DB:-}" ] && DEFAULTS="$DEFAULTS --db ./data/fhird.db"
fi

DB=$(setting db FHIRD_DB ./data/fhird.db "$@")
AUTH=$(setting auth FHIRD_AUTH smart "$@")
LISTEN=$(setting listen FHIRD_LISTEN 127.0.0.1:8080 "$@")
BASE_URL=$(setting base_url FHIRD_BASE_URL "" "$@")
TLS_CERT=$(setting tls_cert FHIRD_TLS_CERT "" "$@")

FRESH=0
[ -e "$DB" ] || FRESH=1


TMP=$(mktemp -d "${TMPDIR:-/tmp}/fhird-run.XXXXXX")
PID=""
STOPPING=0
# shellcheck disable=SC2317 # called from traps
cleanup() {
	rm -rf "$TMP"
}
stop() {
	STOPPING=1
	if [ -n "$PID" ]; then
		kill -TERM "$PID" 2>/dev/null || :
	fi
}
trap cleanup EXIT
trap stop INT TERM

# A new database gets the demo data before the server opens it: import writes
# to the database directly, so this needs neither a listening server nor
# --auth off. Interrupted, it leaves no half-loaded database behind (the next
# run would take it for an old one).
if [ "$FRESH" = 1 ]; then
	echo "run-demo: new database $DB: loading the demo data"
	if ! "$BIN" import --db "$DB" "$ROOT"/data/demo/*.json; then
		if [ "$STOPPING" = 1 ]; then
			rm -f "$DB" "$DB-wal" "$DB-shm" "$DB-journal"
			exit 130
		fi
		echo "run-demo: loading the demo data failed; starting the server anyway" \
			"(retry: $BIN import --db $DB data/demo/*.json)" >&2
	fi
fi
[ "$STOPPING" = 1 ] && exit 130

# SMART demo registrations, once per database: a public client (PKCE) and
# two users with random passwords, kept next to the database (mode 0600)
# and printed at every start.
CREDS="$(dirname "$DB")/demo-credentials.txt"
if [ "$AUTH" = smart ] && [ ! -s "$CREDS" ]; then
	mkdir -p "$(dirname "$DB")"
	PW1=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	PW2=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	if "$BIN" client add --db "$DB" --id demo-app --type public --name "fhird demo app" \
		--redirect-uri http://127.0.0.1:9000/callback \
		--scope "openid fhirUser launch launch/patient offline_access online_access patient/*.rs user/*.rs patient/*.read user/*.read" >/dev/null &&
		printf '%s\n' "$PW1" | "$BIN" user add --db "$DB" --username demo-patient --fhir-user Patient/85 --password-stdin &&
		printf '%s\n' "$PW2" | "$BIN" user add --db "$DB" --username demo-doctor --fhir-user Practitioner/demo-doctor --password-stdin; then
		umask 077
		cat >"$CREDS" <<CREDS_EOF
client:    demo-app (public, PKCE S256), redirect_uri http://127.0.0.1:9000/callback
user:      demo-patient / $PW1  (fhirUser Patient/85)
user:      demo-doctor / $PW2  (fhirUser Practitioner/demo-doctor; picks a patient)
CREDS_EOF
	else
		echo "run-demo: registering the demo client and users failed" >&2
	fi
fi

# A non-interactive shell starts background jobs with SIGINT ignored, so the
# server would never see Ctrl-C: the trap above forwards it as SIGTERM.
# shellcheck disable=SC2086 # DEFAULTS is a list of words without spaces inside
"$BIN" serve $DEFAULTS --port-file "$TMP/port" "$@" &
PID=$!

# Wait until the server listens (the port file is written after bind), dies,
# or 30 s pass.
i=0
while [ ! -s "$TMP/port" ]; do
	if ! kill -0 "$PID" 2>/dev/null || [ "$STOPPING" = 1 ]; then
		set +e
		wait "$PID"
		rc=$?
		echo "run-demo: fhird exited (status $rc) before it was ready" >&2
		# The database this run created (the import, or the server before it
		# failed to bind) goes, so that the next run still sees it as new.
		[ "$FRESH" = 1 ] && rm -f "$DB" "$DB-wal" "$DB-shm" "$DB-journal"
		exit "$rc"
	fi
	i=$((i + 1))
	if [ "$i" -gt 300 ]; then
		echo "run-demo: fhird not ready after 30 s, stopping it" >&2
		stop
		wait "$PID" || :
		exit 1
	fi
	sleep 0.1
done
PORT=$(tr -d '[:space:]' <"$TMP/port")

# The public base URL to print.
HOST=${LISTEN%:*}
case $HOST in
'[::]' | '[]') HOST='[::1]' ;;
0.0.0.0 | '') HOST=127.0.0.1 ;;
esac
SCHEME=http
[ -n "$TLS_CERT" ] && SCHEME=https
if [ -n "$BASE_URL" ]; then
	PUBLIC=${BASE_URL%/}
else
	PUBLIC=$SCHEME://$HOST:$PORT/fhir
fi

if [ "$STOPPING" = 0 ]; then
	cat <<EOF

fhird is running: FHIR base $PUBLIC (database $DB, pid $PID)

  curl -s $PUBLIC/metadata
  curl -s $PUBLIC/.well-known/smart-configuration
EOF
	if [ "$AUTH" = smart ] && [ -s "$CREDS" ]; then
		cat <<EOF

SMART App Launch demo registrations (also in $CREDS):
$(cat "$CREDS")

A standalone launch starts at ${PUBLIC%/fhir}/auth/authorize?response_type=code&client_id=demo-app
  &redirect_uri=http://127.0.0.1:9000/callback&scope=openid+fhirUser+launch/patient+patient/*.rs
  &state=...&aud=$PUBLIC&code_challenge=...&code_challenge_method=S256
(or point any SMART app, e.g. the fhirclient library, at $PUBLIC with client_id demo-app).
Every FHIR request needs the access token: curl -H "Authorization: Bearer \$TOKEN" $PUBLIC/Patient/85
EOF
	fi
	cat <<EOF

Press Ctrl-C to stop.
EOF
fi

# wait returns early when a trapped signal arrives; keep waiting until the
# server has really finished its graceful shutdown, then exit with its status.
set +e
while :; do
	wait "$PID"
	rc=$?
	kill -0 "$PID" 2>/dev/null || break
done
exit "$rc"
