#!/usr/bin/env python3
"""get_token.py - a SMART Backend Services access token for the benchmarks.

    python3 bench/get_token.py BIN DB ORIGIN SCOPE

Registers a backend client `bench-svc` with a fresh RSA key (openssl) in
DB through `BIN client add`, then asks ORIGIN/auth/token with an RS384
client assertion (client_credentials) and prints the access token. Uses the
integration tests' JOSE helpers (tests/integration/smartutil.py), so the
benchmark takes the same path a real backend client does."""
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from smartutil import ASSERTION_TYPE, ClientKey, client_assertion  # noqa: E402


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    binary, db, origin, scope = sys.argv[1:]
    work = tempfile.mkdtemp(prefix="fhird-bench-key-")
    key = ClientKey(work, "RSA", "bench-svc-1", bits=2048)
    jwks = os.path.join(work, "jwks.json")
    with open(jwks, "w") as f:
        json.dump({"keys": [key.jwk()]}, f)
    p = subprocess.run([binary, "client", "add", "--id", "bench-svc", "--type", "backend", "--scope", scope,
                        "--jwks-file", jwks, "--db", db], capture_output=True, text=True)
    if p.returncode not in (0, 1):  # 1: already registered (a rerun on the same db)
        print(p.stderr, file=sys.stderr)
        return 1
    token_url = origin + "/auth/token"
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope,
                                   "client_assertion_type": ASSERTION_TYPE,
                                   "client_assertion": client_assertion(key, "bench-svc", token_url)}).encode()
    req = urllib.request.Request(token_url, data=form,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=30) as r:
        print(json.load(r)["access_token"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
