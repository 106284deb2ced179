"""--auth external (issue 5): access tokens of another authorization server,
verified against its JWK Set (fetched over TLS and cached per Cache-Control,
RFC 9111) with iss/aud/exp required (RFC 7519 4.1.1, 4.1.3, 4.1.4) and the
algorithm pinned to RS256/RS384/ES256/ES384 with the key type, or by RFC 7662
introspection; the same SMART enforcement as for fhird's own tokens; the
built-in /auth endpoints off and the discovery document pointing at the other
server. Also SMART Backend Services clients registered with a JWKS URL
(client-confidential-asymmetric.html): their keys are fetched from it.

The "other server" is a small HTTPS server in a thread (Python ssl, a
self-signed certificate made with openssl, handed to fhird with
--external-ca-file) that serves JWK Sets and an introspection endpoint and
counts the requests it gets. Tokens are signed with openssl-made keys through
smartutil's helpers."""
import base64
import collections
import http.server
import json
import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

from fhirtest import Server, make_cert, run_cli
from smartutil import (ASSERTION_TYPE, ClientKey, SmartCase, STD_SEED, client_assertion, cli, fhir_observation,
                       hs256_signer, ids_of, jwks_file, jwt_make, now, rsa_public_pem, b64u_int, tamper)

ISS = "https://as.example.org/realms/fhir"
AS_ORIGIN = "https://as.example.org"


class AuthServer:
    """The external authorization server: HTTPS on 127.0.0.1 in a thread.
    routes: path -> callable(method, headers, body) -> (status, headers, body)."""

    def __init__(self, directory, san=None):
        self.dir = os.path.join(directory, "as-%s" % os.urandom(4).hex())
        os.makedirs(self.dir)
        if san:
            self.cert = os.path.join(self.dir, "cert.pem")
            self.key = os.path.join(self.dir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-days", "1", "-subj", "/CN=other", "-addext", "subjectAltName=" + san,
                            "-keyout", self.key, "-out", self.cert], check=True, capture_output=True)
        else:
            self.cert, self.key = make_cert(self.dir)
        self.routes = {}
        self.hits = collections.Counter()
        self.bodies = collections.defaultdict(list)
        self.auth_headers = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_any(self, method):
                path = urllib.parse.urlsplit(self.path).path
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                server.hits[path] += 1
                server.bodies[path].append(body)
                server.auth_headers.append(self.headers.get("Authorization"))
                route = server.routes.get(path)
                if route is None:
                    status, headers, out = 404, {}, b"{}"
                else:
                    status, headers, out = route(method, self.headers, body)
                if isinstance(out, (dict, list)):
                    out = json.dumps(out).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def do_GET(self):
                self.handle_any("GET")

            def do_POST(self):
                self.handle_any("POST")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "https://127.0.0.1:%d%s" % (self.port, path)

    def serve_jwks(self, path, keys, cache_control="max-age=600"):
        """keys: a list (or a callable returning one) of ClientKey or JWK dicts."""
        def route(method, headers, body):
            ks = keys() if callable(keys) else keys
            h = {"Cache-Control": cache_control} if cache_control else {}
            return 200, h, {"keys": [k.jwk() if isinstance(k, ClientKey) else k for k in ks]}
        self.routes[path] = route

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def signed(key, claims, alg=None, kid=None, header_extra=None):
    header = {"alg": alg or key.alg, "typ": "JWT", "kid": key.kid if kid is None else kid}
    header.update(header_extra or {})
    return jwt_make(header, claims, key.signer(alg or key.alg))


class ExternalCase(SmartCase):
    """A SmartCase on `--auth external`; AuthServer started before fhird."""
    AUTH = "external"
    SEED = STD_SEED + (fhir_observation("obs-a2", "pa", code="8302-2"),)
    JWKS_PATH = "/jwks.json"
    CACHE_CONTROL = "max-age=600"

    @classmethod
    def make_keys(cls):
        d = cls.workdir
        cls.keys["rsa"] = ClientKey(d, "RSA", "as-rsa", alg="RS256")
        cls.keys["ec"] = ClientKey(d, "EC", "as-ec", curve="P-256")
        cls.keys["ec384"] = ClientKey(d, "EC", "as-ec384")
        cls.keys["rogue"] = ClientKey(d, "RSA", "as-rsa", alg="RS256")  # claims a published kid
        cls.keys["new"] = ClientKey(d, "RSA", "as-new", alg="RS256")    # not published (yet)
        # the RSA key without "alg": one key may serve RS256 and RS384
        cls.published = [cls.keys["rsa"].jwk(with_alg=False), cls.keys["ec"], cls.keys["ec384"]]
        cls.auth_server = AuthServer(d)
        cls.auth_server.serve_jwks(cls.JWKS_PATH, lambda: cls.published, cls.CACHE_CONTROL)
        cls.SERVER_ARGS = cls.external_args() + tuple(getattr(cls, "EXTRA_ARGS", ()))

    @classmethod
    def external_args(cls):
        return ("--external-issuer", ISS, "--external-jwks-url", cls.auth_server.url(cls.JWKS_PATH),
                "--external-ca-file", cls.auth_server.cert)

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            if getattr(cls, "auth_server", None):
                cls.auth_server.stop()

    def claims(self, **over):
        c = {"iss": ISS, "aud": self.base(), "sub": "alice", "client_id": "ext-app", "exp": now() + 300,
             "iat": now(), "jti": secrets.token_hex(8), "scope": "patient/*.rs", "patient": "pa"}
        for k, v in over.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    def token(self, key="rsa", alg=None, kid=None, header_extra=None, **over):
        return signed(self.keys[key], self.claims(**over), alg=alg, kid=kid, header_extra=header_extra)

    def jwks_hits(self):
        return self.auth_server.hits[self.JWKS_PATH]


class TestExternalJwt(ExternalCase):
    SERVER_ARGS = ()

    @classmethod
    def external_args(cls):
        return super().external_args() + ("--external-authorize-url", AS_ORIGIN + "/authorize",
                                          "--external-token-url", AS_ORIGIN + "/token")

    # ---- accepted

    def test_rs256_patient_scope(self):
        """A valid RS256 token reads within its patient/ scope; the launch
        patient's compartment confines it (other patient: 403 by URL, 404 by id)."""
        t = self.token()
        self.assertEqual(self.api("GET", "Patient/pa", t).status, 200)
        self.assertEqual(self.api("GET", "Observation/obs-a", t).status, 200)
        self.assertOutcome(self.api("GET", "Observation/obs-b", t), 404)
        self.assert403(self.api("GET", "Patient/pb", t))
        r = self.api("GET", "Observation", t)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(ids_of(r.json, "Observation"), {"Observation/obs-a", "Observation/obs-a2"})
        self.assert403(self.api("GET", "Observation?patient=pb", t))

    def test_es256_and_es384(self):
        """ES256 (P-256) and ES384 (P-384) keys of the JWK Set (RFC 7518 3.4)."""
        self.assertEqual(self.api("GET", "Patient/pa", self.token("ec")).status, 200)
        self.assertEqual(self.api("GET", "Patient/pa", self.token("ec384")).status, 200)

    def test_rs384(self):
        """RS384 with the same RSA key (a JWK without alg serves both)."""
        t = self.token(alg="RS384")
        self.assertEqual(self.api("GET", "Patient/pa", t).status, 200)

    def test_scope_letters_enforced(self):
        """auth.c decides from the scopes exactly as for fhird's own tokens."""
        t = self.token(scope="patient/Observation.rs")
        self.assertEqual(self.api("GET", "Observation/obs-a", t).status, 200)
        self.assert403(self.api("GET", "Patient/pa", t))
        obs = fhir_observation("new", "pa")
        del obs["id"]
        self.assert403(self.api("POST", "Observation", t, obs))
        # patient/ scopes without a patient claim grant nothing
        self.assert403(self.api("GET", "Observation/obs-a", self.token(patient=None)))
        # unknown scopes grant nothing either
        self.assert403(self.api("GET", "Observation/obs-a", self.token(scope="openid profile email")))

    def test_system_scope(self):
        """system/ scopes are not confined (Backend Services of the other server)."""
        t = self.token(scope="system/Observation.rs", patient=None, sub="svc", client_id="svc")
        self.assertEqual(self.api("GET", "Observation/obs-b", t).status, 200)
        self.assert403(self.api("GET", "Patient/pa", t))

    def test_aud_array_and_azp(self):
        """RFC 7519 4.1.3: aud may be an array holding our audience; azp stands in for client_id."""
        t = self.token(aud=["https://other.example/api", self.base()], client_id=None, azp="ext-app")
        self.assertEqual(self.api("GET", "Patient/pa", t).status, 200)

    def test_fhir_user(self):
        """fhirUser on our base confines user/ scopes of a Patient user; a
        Patient on another server is refused rather than widened."""
        t = self.token(scope="user/*.rs", patient=None, fhirUser=self.base() + "/Patient/pa")
        self.assertEqual(self.api("GET", "Observation/obs-a", t).status, 200)
        self.assertOutcome(self.api("GET", "Observation/obs-b", t), 404)
        t = self.token(scope="user/*.rs", patient=None, fhirUser=self.base() + "/Practitioner/pr1")
        self.assertEqual(self.api("GET", "Observation/obs-b", t).status, 200)
        for fu in ("https://other.example/fhir/Patient/pa", "Patient/pa"):
            with self.subTest(fhirUser=fu):
                t = self.token(scope="user/*.rs", patient=None, fhirUser=fu)
                self.assert401(self.api("GET", "Observation/obs-b", t))

    # ---- refused: 401 invalid_token

    def test_wrong_iss_aud(self):
        """iss must equal external_issuer, aud the FHIR base URL (RFC 7519 4.1.1, 4.1.3)."""
        for over in ({"iss": ISS + "/"}, {"iss": "https://evil.example/realms/fhir"}, {"iss": None},
                     {"aud": self.base() + "/"}, {"aud": "https://other.example/fhir"}, {"aud": None},
                     {"aud": ["https://other.example/fhir"]}):
            with self.subTest(claims=over):
                self.assert401(self.api("GET", "Patient/pa", self.token(**over)))

    def test_expired_or_not_yet(self):
        """RFC 7519 4.1.4: exp in the past (or missing) refused; nbf in the future refused."""
        for over in ({"exp": now() - 5}, {"exp": None}, {"exp": "9999999999"}, {"nbf": now() + 600}):
            with self.subTest(claims=over):
                self.assert401(self.api("GET", "Patient/pa", self.token(**over)))

    def test_alg_none_and_hs256(self):
        """Issue 5: never alg none, never HS256 keyed with the public key."""
        c = self.claims()
        for alg in ("none", "None", "NONE"):
            with self.subTest(alg=alg):
                self.assert401(self.api("GET", "Patient/pa", jwt_make({"alg": alg, "kid": "as-rsa"}, c)))
        pub = self.keys["rsa"].public
        pem = rsa_public_pem(b64u_int(pub["n"]), b64u_int(pub["e"]))
        for key in (pem, pem.strip(), self.keys["rsa"].public_pem()):
            t = jwt_make({"alg": "HS256", "typ": "JWT", "kid": "as-rsa"}, c, hs256_signer(key))
            self.assert401(self.api("GET", "Patient/pa", t))

    def test_alg_key_type_pinned(self):
        """The alg must match the selected key's type and curve; others (PS256, RS512) are refused."""
        c = self.claims()
        rsa, ec = self.keys["rsa"], self.keys["ec"]
        cases = (
            ({"alg": "ES256", "kid": "as-ec"}, rsa.signer("RS256")),   # RS signature under an EC key's kid
            ({"alg": "ES256", "kid": "as-rsa"}, ec.signer("ES256")),   # ES256 naming the RSA key
            ({"alg": "RS256", "kid": "as-ec"}, rsa.signer("RS256")),
            ({"alg": "ES384", "kid": "as-ec"}, ec.signer("ES256")),    # P-256 key, P-384 algorithm
            ({"alg": "RS512", "kid": "as-rsa"}, rsa.signer("RS512")),
            ({"alg": "PS256", "kid": "as-rsa"}, rsa.signer("RS256")),
        )
        for header, signer in cases:
            with self.subTest(header=header):
                self.assert401(self.api("GET", "Patient/pa", jwt_make(header, c, signer)))

    def test_unknown_kid_and_rogue_key(self):
        """kid must select a published key, and the signature be by that key."""
        self.assert401(self.api("GET", "Patient/pa", self.token("new")))
        self.assert401(self.api("GET", "Patient/pa", self.token("rogue")))
        self.assert401(self.api("GET", "Patient/pa", self.token("rsa", kid=False)))
        t = self.token()
        self.assert401(self.api("GET", "Patient/pa", tamper(t, {"patient": "pb"})))
        self.assert401(self.api("GET", "Patient/pa", tamper(t, {"scope": "system/*.cruds"})))

    def test_header_keys_never_used(self):
        """jku/jwk/x5u in the header: refused, never fetched or trusted."""
        rogue = self.keys["rogue"]
        for extra in ({"jku": self.auth_server.url(self.JWKS_PATH)}, {"jwk": rogue.jwk()},
                      {"x5u": "https://evil.example/x"}):
            with self.subTest(header=list(extra)):
                t = self.token("rogue", header_extra=extra)
                self.assert401(self.api("GET", "Patient/pa", t))

    def test_garbage_tokens(self):
        for t in ("x", "a.b.c", "a.b", "..", "e30.e30.", secrets.token_urlsafe(40)):
            with self.subTest(token=t):
                self.assert401(self.api("GET", "Patient/pa", t))
        r = self.api("GET", "Patient/pa")
        self.assert401(r, error_code=False)

    # ---- discovery and the built-in server

    def test_builtin_server_off(self):
        """With --auth external fhird issues nothing: /auth/... is not served."""
        for method, path in (("POST", "/auth/token"), ("GET", "/auth/jwks"), ("GET", "/auth/authorize"),
                             ("GET", "/auth/.well-known/openid-configuration"), ("POST", "/auth/introspect")):
            with self.subTest(path=path):
                r = self.http(method, path, body=[("grant_type", "client_credentials")])
                self.assertEqual(r.status, 404, r)
                self.assertNotIn("access_token", r.text)

    def test_discovery_points_elsewhere(self):
        """SMART conformance.html: smart-configuration names the external issuer and its endpoints."""
        r = self.http("GET", "/fhir/.well-known/smart-configuration")
        self.assertEqual(r.status, 200, r)
        c = r.json
        self.assertEqual(c.get("issuer"), ISS)
        self.assertEqual(c.get("jwks_uri"), self.auth_server.url(self.JWKS_PATH))
        self.assertEqual(c.get("authorization_endpoint"), AS_ORIGIN + "/authorize")
        self.assertEqual(c.get("token_endpoint"), AS_ORIGIN + "/token")
        self.assertNotIn(self.server.origin, json.dumps(c))
        m = self.http("GET", "/fhir/metadata")
        self.assertEqual(m.status, 200, m)
        text = json.dumps(m.json["rest"][0].get("security"))
        self.assertIn("SMART-on-FHIR", text)
        self.assertIn(AS_ORIGIN + "/token", text)
        self.assertNotIn(self.server.origin + "/auth", text)


class TestExternalJwksCache(ExternalCase):
    """RFC 9111: the JWK Set is fetched once and reused while fresh
    (max-age), and an unknown kid does not make fhird ask again and again."""
    JWKS_PATH = "/cached/jwks.json"
    CACHE_CONTROL = "public, max-age=600"

    def test_fetched_once(self):
        self.assertEqual(self.jwks_hits(), 0, "fetched before any token was seen")
        for key in ("rsa", "ec", "rsa", "ec384", "rsa"):
            self.assertEqual(self.api("GET", "Patient/pa", self.token(key)).status, 200)
        self.assertEqual(self.jwks_hits(), 1)
        # unknown kids: at most one refetch per 30 s, however many arrive
        for _ in range(5):
            self.assert401(self.api("GET", "Patient/pa", self.token("new")))
        self.assertLessEqual(self.jwks_hits(), 2)
        self.assertEqual(self.api("GET", "Patient/pa", self.token()).status, 200)
        self.assertLessEqual(self.jwks_hits(), 2)


class TestExternalJwksNoStore(TestExternalJwksCache):
    """no-store cannot mean "fetch for every request": it is held for the
    60 s minimum."""
    JWKS_PATH = "/nostore/jwks.json"
    CACHE_CONTROL = "no-store"


class TestExternalKeyRotation(ExternalCase):
    """A kid the cached set lacks (the server rotated) makes fhird fetch the
    set again - not sooner than jwks_refetch_s after the previous fetch (set
    to 1 s here so the test waits one rate-limit window, not 30 s)."""
    JWKS_PATH = "/rotating/jwks.json"
    EXTRA_ARGS = ("--jwks-refetch-s", "1")

    def test_rotation(self):
        self.assertEqual(self.api("GET", "Patient/pa", self.token()).status, 200)
        self.assertEqual(self.jwks_hits(), 1)
        type(self).published = self.published + [self.keys["new"]]
        self.assert401(self.api("GET", "Patient/pa", self.token("new")))  # too soon to refetch
        self.assertEqual(self.jwks_hits(), 1)
        time.sleep(1.2)  # the rate-limit window itself: nothing to poll for
        self.assertEqual(self.api("GET", "Patient/pa", self.token("new")).status, 200)
        self.assertEqual(self.jwks_hits(), 2)
        self.assertEqual(self.api("GET", "Patient/pa", self.token("rsa")).status, 200)
        self.assertEqual(self.jwks_hits(), 2)


class TestExternalJwksFile(ExternalCase):
    """external_jwks_file: the same checks against keys read at start."""
    JWKS_PATH = "/unused.json"

    @classmethod
    def external_args(cls):
        path = jwks_file(cls.workdir, "as-jwks.json", [k.jwk() if isinstance(k, ClientKey) else k for k in cls.published])
        return ("--external-issuer", ISS, "--external-jwks-file", path)

    def test_file_keys(self):
        self.assertEqual(self.api("GET", "Patient/pa", self.token()).status, 200)
        self.assertEqual(self.api("GET", "Patient/pa", self.token("ec")).status, 200)
        self.assert401(self.api("GET", "Patient/pa", self.token("rogue")))
        self.assert401(self.api("GET", "Patient/pa", self.token(iss="https://evil.example")))
        self.assertEqual(self.jwks_hits(), 0)


class TestExternalIntrospection(ExternalCase):
    """RFC 7662: opaque tokens are introspected with HTTP Basic client
    authentication; only "active": true counts; its scope, patient and exp
    are used; active answers are cached (by hash) for at most 60 s."""
    PATH = "/introspect"
    CLIENT = ("fhird-rs", "s3cret:&=+ x")

    @classmethod
    def external_args(cls):
        t = now()
        cls.answers = {
            "op-pa": {"active": True, "scope": "patient/*.rs", "patient": "pa", "client_id": "ext-app",
                      "sub": "alice", "exp": t + 600, "iss": ISS},
            "op-aud": {"active": True, "scope": "patient/*.rs", "patient": "pa", "exp": t + 600,
                       "aud": ["https://x.example", None]},
            "op-system": {"active": True, "scope": "system/Observation.rs", "client_id": "svc", "exp": t + 600},
            "op-inactive": {"active": False},
            "op-string": {"active": "true", "scope": "system/*.rs"},
            "op-expired": {"active": True, "scope": "system/*.rs", "exp": t - 10},
            "op-wrong-aud": {"active": True, "scope": "system/*.rs", "aud": "https://other.example/fhir"},
            "op-wrong-iss": {"active": True, "scope": "system/*.rs", "iss": "https://evil.example"},
        }
        want = "Basic " + base64.b64encode(("%s:%s" % (urllib.parse.quote(cls.CLIENT[0], safe=""),
                                                         urllib.parse.quote(cls.CLIENT[1], safe=""))).encode()).decode()

        def introspect(method, headers, body):
            if method != "POST" or headers.get("Authorization") != want:
                return 401, {"WWW-Authenticate": "Basic"}, {"error": "invalid_client"}
            form = dict(urllib.parse.parse_qsl(body.decode()))
            tok = form.get("token", "")
            if tok == "op-500":
                return 500, {}, {"error": "server_error"}
            a = dict(cls.answers.get(tok, {"active": False}))
            if "aud" in a and isinstance(a["aud"], list):
                a["aud"] = [x if x else cls.server.base for x in a["aud"]]
            return 200, {}, a

        cls.auth_server.routes[cls.PATH] = introspect
        # (a real deployment passes the secret in the environment or the
        # config file, not on the command line)
        return ("--external-issuer", ISS, "--external-introspection-url", cls.auth_server.url(cls.PATH),
                "--external-client-id", cls.CLIENT[0], "--external-client-secret", cls.CLIENT[1],
                "--external-ca-file", cls.auth_server.cert)

    def calls_for(self, token):
        return sum(1 for b in self.auth_server.bodies[self.PATH]
                   if dict(urllib.parse.parse_qsl(b.decode())).get("token") == token)

    def test_active_with_scope(self):
        self.assertEqual(self.api("GET", "Patient/pa", "op-pa").status, 200)
        self.assertEqual(self.api("GET", "Observation/obs-a", "op-pa").status, 200)
        self.assertOutcome(self.api("GET", "Observation/obs-b", "op-pa"), 404)
        self.assert403(self.api("GET", "Patient/pb", "op-pa"))
        self.assertEqual(self.api("GET", "Observation/obs-b", "op-system").status, 200)
        self.assert403(self.api("GET", "Patient/pa", "op-system"))
        self.assertEqual(self.api("GET", "Patient/pa", "op-aud").status, 200)

    def test_request_shape(self):
        """RFC 7662 2.1: POST token=... form-encoded, client authenticated with Basic."""
        tok = "op-pa"
        self.api("GET", "Patient/pa", tok)
        bodies = [dict(urllib.parse.parse_qsl(b.decode())) for b in self.auth_server.bodies[self.PATH]]
        self.assertTrue(any(b.get("token") == tok and b.get("token_type_hint") == "access_token" for b in bodies),
                        bodies)

    def test_cached(self):
        for _ in range(4):
            self.assertEqual(self.api("GET", "Observation/obs-b", "op-system").status, 200)
        self.assertEqual(self.calls_for("op-system"), 1)

    def test_inactive_and_invalid(self):
        """active must be the JSON true; exp, aud and iss, when given, must fit."""
        for tok in ("op-inactive", "op-string", "op-expired", "op-wrong-aud", "op-wrong-iss", "op-unknown"):
            with self.subTest(token=tok):
                self.assert401(self.api("GET", "Observation/obs-a", tok))
        # refusals are not cached: asked again
        self.assert401(self.api("GET", "Observation/obs-a", "op-inactive"))
        self.assertEqual(self.calls_for("op-inactive"), 2)

    def test_server_error_fails_closed(self):
        """The introspection endpoint failing: 503, never access."""
        r = self.api("GET", "Observation/obs-a", "op-500")
        self.assertOutcome(r, 503)


class TestOutboundTls(unittest.TestCase):
    """The outbound client verifies the chain and the name: without the CA
    file, or with a certificate for another name, no keys are fetched and
    requests fail closed (503)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fhird-ext-tls-")
        self.keyp = ClientKey(self.dir, "RSA", "k1", alg="RS256")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def check(self, auth, ca_file):
        auth.serve_jwks("/j.json", [self.keyp])
        s = Server("--auth", "external", "--external-issuer", ISS, "--external-jwks-url", auth.url("/j.json"),
                   *(("--external-ca-file", ca_file) if ca_file else ()), workdir=self.dir)
        try:
            c = {"iss": ISS, "aud": s.base, "exp": now() + 300, "scope": "system/*.rs", "sub": "x"}
            t = signed(self.keyp, c)
            r = s.request("GET", "Patient/x", headers={"Authorization": "Bearer " + t})
            return r
        finally:
            self.assertEqual(s.stop(), 0)

    def test_untrusted_certificate(self):
        auth = AuthServer(self.dir)
        self.servers.append(auth)
        r = self.check(auth, None)
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(auth.hits["/j.json"], 0)

    def test_wrong_name(self):
        auth = AuthServer(self.dir, san="DNS:other.example")
        self.servers.append(auth)
        r = self.check(auth, auth.cert)
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(auth.hits["/j.json"], 0)

    def test_trusted(self):
        auth = AuthServer(self.dir)
        self.servers.append(auth)
        r = self.check(auth, auth.cert)
        self.assertIn(r.status, (200, 404), r.body)  # empty database: 404, but authorized
        self.assertEqual(auth.hits["/j.json"], 1)


class TestExternalConfig(unittest.TestCase):
    """config_finish refuses --auth external combinations that cannot work (exit 2)."""

    def test_refused(self):
        d = tempfile.mkdtemp(prefix="fhird-ext-cfg-")
        try:
            base = ("serve", "--listen", "127.0.0.1:0", "--db", os.path.join(d, "x.db"), "--auth", "external")
            cases = (
                (),
                ("--external-jwks-url", "https://as.example/jwks"),
                ("--external-issuer", ISS),
                ("--external-issuer", ISS, "--external-jwks-url", "https://a/j", "--external-jwks-file", "/x"),
                ("--external-issuer", ISS, "--external-jwks-url", "http://as.example/jwks"),
                ("--external-issuer", ISS, "--external-jwks-url", "ftp://as.example/jwks"),
                ("--external-issuer", ISS, "--external-introspection-url", "https://as.example/i"),
                ("--external-issuer", ISS, "--external-introspection-url", "https://as.example/i",
                 "--external-client-id", "x"),
            )
            for extra in cases:
                with self.subTest(args=extra):
                    rc, out, err = run_cli(*(base + extra))
                    self.assertEqual(rc, 2, (out, err))
                    self.assertIn("external", err)
            # a JWKS file that is not one: runtime failure at start
            bad = os.path.join(d, "bad.json")
            with open(bad, "w") as f:
                f.write("{\"nokeys\": 1}")
            rc, out, err = run_cli(*(base + ("--external-issuer", ISS, "--external-jwks-file", bad)))
            self.assertEqual(rc, 1, (out, err))
        finally:
            shutil.rmtree(d, ignore_errors=True)


class TestBackendJwksUrl(SmartCase):
    """SMART client-confidential-asymmetric: a backend client registered with
    --jwks-url only; its keys are fetched from that URL over https (the
    test's TLS server, trusted through --external-ca-file), cached, and
    used to verify its client assertions; a jku header must equal the
    registered URL exactly."""
    SEED = STD_SEED
    PATH = "/client/jwks.json"

    @classmethod
    def make_keys(cls):
        d = cls.workdir
        cls.keys["rsa"] = ClientKey(d, "RSA", "bk-rsa")
        cls.keys["ec"] = ClientKey(d, "EC", "bk-ec")
        cls.keys["rogue"] = ClientKey(d, "RSA", "bk-rsa")
        cls.keys["late"] = ClientKey(d, "RSA", "bk-late")
        cls.auth_server = AuthServer(d)
        cls.auth_server.serve_jwks(cls.PATH, [cls.keys["rsa"], cls.keys["ec"]], "max-age=300")
        cls.url = cls.auth_server.url(cls.PATH)
        cls.SERVER_ARGS = ("--external-ca-file", cls.auth_server.cert)
        cls.CLIENTS = ({"id": "bk-url", "type": "backend", "scope": "system/*.rs", "jwks_url": cls.url},
                       {"id": "bk-dead", "type": "backend", "scope": "system/*.rs",
                        "jwks_url": "https://127.0.0.1:1/jwks.json"})

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.auth_server.stop()

    def cc(self, key="rsa", client="bk-url", **kw):
        a = client_assertion(self.keys[key], client, self.token_url(), **kw)
        return self.token_req({"grant_type": "client_credentials", "scope": "system/*.rs",
                               "client_assertion_type": ASSERTION_TYPE, "client_assertion": a})

    def test_keys_from_url(self):
        for key in ("rsa", "ec", "rsa"):
            with self.subTest(key=key):
                r = self.cc(key)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(self.api("GET", "Patient/pa", r.json["access_token"]).status, 200)
        self.assertEqual(self.auth_server.hits[self.PATH], 1)  # cached (max-age=300)

    def test_jku(self):
        self.assertEqual(self.cc(header_extra={"jku": self.url}).status, 200)
        for jku in (self.url + "?", self.url.replace("127.0.0.1", "localhost"), "https://evil.example/jwks"):
            with self.subTest(jku=jku):
                self.assertOAuthError(self.cc(header_extra={"jku": jku}), 401, "invalid_client")

    def test_wrong_keys(self):
        self.assertOAuthError(self.cc("rogue"), 401, "invalid_client")
        self.assertOAuthError(self.cc("late"), 401, "invalid_client")

    def test_unreachable_url(self):
        self.assertOAuthError(self.cc(client="bk-dead"), 401, "invalid_client")

    def test_registration(self):
        """--jwks-url alone is a valid backend registration; http:// is refused; not both."""
        rc, out, err = cli("client", "add", "--id", "bk-url2", "--type", "backend", "--scope", "system/*.rs",
                           "--jwks-url", self.url, "--db", self.server.db)
        self.assertEqual(rc, 0, (out, err))
        rc, out, err = cli("client", "add", "--id", "bk-http", "--type", "backend", "--scope", "system/*.rs",
                           "--jwks-url", "http://127.0.0.1:9/jwks.json", "--db", self.server.db)
        self.assertEqual(rc, 2, (out, err))
        path = jwks_file(self.workdir, "both.json", [self.keys["rsa"].jwk()])
        rc, out, err = cli("client", "add", "--id", "bk-both", "--type", "backend", "--scope", "system/*.rs",
                           "--jwks-url", self.url, "--jwks-file", path, "--db", self.server.db)
        self.assertEqual(rc, 2, (out, err))


if __name__ == "__main__":
    unittest.main()
