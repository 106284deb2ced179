#!/bin/sh
# Installs the Debian packages fhird needs to build, test and benchmark,
# when they are missing. A no-op (no apt-get at all) when all are present.
set -eu
PKGS="build-essential pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev libgnutls28-dev nettle-dev
librhonabwy-dev libargon2-dev libpq-dev postgresql
libcmocka-dev python3 openssl curl sqlite3 clang libclang-rt-14-dev wrk nginx-light
chromium"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# The browser test (tests/browser) needs Node.js >= 18 and npm. Debian 12's
# nodejs and npm packages give that; a machine that already has node and npm
# from elsewhere (e.g. a nodejs package that bundles npm) keeps them.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing
