"""CORS for the FHIR API (Fetch standard, CORS protocol; SMART App Launch
2.2: discovery documents open to any origin, "token and FHIR endpoints only
to the origins registered for a client" - issue 6, "Headers and
transport"). A registered origin is the scheme://host[:port] of a client's
redirect URI (src/auth/cors.h). The browser test (tests/browser) shows the
same from inside chromium; these pin the headers exactly."""
import time

from smartutil import APP, PASSWORDS, STD_CLIENTS, STD_SEED, STD_USERS, SmartCase, cli

APP_ORIGIN = "https://app.example.org"      # of APP (and APP_Q)
APP2_ORIGIN = "https://other.example.net"   # of APP2
CONF_ORIGIN = "https://conf.example.org"    # of CONF (a confidential client)
PORT_APP = "http://127.0.0.1:18123/app/index.html"
PORT_ORIGIN = "http://127.0.0.1:18123"
UNREGISTERED = "https://evil.example.com"
ACAO = "access-control-allow-origin"
SCOPE = "openid fhirUser launch/patient patient/*.rs"


def split_list(v):
    return [x.strip().lower() for x in (v or "").split(",") if x.strip()]


class TestFhirCors(SmartCase):
    SEED = STD_SEED
    CLIENTS = STD_CLIENTS + ({"id": "porty", "type": "public", "redirect": PORT_APP},)
    USERS = STD_USERS

    @classmethod
    def after_setup(cls):
        cls.tok = None
        self = cls("test_actual_request_registered_origin")
        tr = self.login_token("app", APP, SCOPE, "alice", PASSWORDS["alice"])
        cls.tok = tr["access_token"]

    def preflight(self, origin, method="GET", headers="authorization", path="Patient/pa"):
        h = {"Origin": origin, "Access-Control-Request-Method": method}
        if headers:
            h["Access-Control-Request-Headers"] = headers
        return self.api("OPTIONS", path, headers=h)

    def assertNoCors(self, r):
        for name, _ in r.headers:
            self.assertFalse(name.lower().startswith("access-control-"), "unexpected %s in %r" % (name, r))

    def test_preflight_registered_origin(self):
        """Fetch 3.2.3: a preflight from a registered origin is answered 204
        with the origin echoed, the methods and the request headers a FHIR
        app sends (Authorization first of all), a Max-Age and Vary: Origin.
        No token is needed (a preflight never carries one)."""
        for origin in (APP_ORIGIN, APP2_ORIGIN, CONF_ORIGIN, PORT_ORIGIN):
            for path in ("Patient/pa", "Patient", "Observation?patient=pa", "", "metadata", "Patient/pa/_history"):
                with self.subTest(origin=origin, path=path):
                    r = self.preflight(origin, path=path)
                    self.assertEqual(r.status, 204, r)
                    self.assertEqual(r.header(ACAO), origin, r)
                    self.assertEqual(len(r.all(ACAO)), 1, r)
                    methods = split_list(r.header("access-control-allow-methods"))
                    for m in ("get", "post", "put", "patch", "delete"):
                        self.assertIn(m, methods, r)
                    allowed = split_list(r.header("access-control-allow-headers"))
                    for h in ("authorization", "content-type", "prefer", "if-match", "if-none-match",
                              "if-none-exist"):
                        self.assertIn(h, allowed, r)
                    self.assertTrue((r.header("access-control-max-age") or "").isdigit(), r)
                    self.assertIn("origin", split_list(",".join(r.all("vary"))), r)
                    self.assertIsNone(r.header("access-control-allow-credentials"), r)
                    self.assertEqual(r.body, b"", r)

    def test_preflight_unregistered_origin(self):
        """An origin no client registered gets no CORS header at all, so the
        browser refuses the request (the OPTIONS is answered as without CORS:
        405, the method is not one of FHIR's)."""
        for origin in (UNREGISTERED, "null", "https://app.example.org.evil.example.com",
                       "http://app.example.org", "https://app.example.org:8443", "https://APP.example.org",
                       "https://app.example.org/", "http://127.0.0.1:18124", "http://localhost:18123", ""):
            with self.subTest(origin=origin):
                r = self.preflight(origin)
                self.assertNotEqual(r.status, 204, r)
                self.assertNoCors(r)

    def test_options_without_preflight_headers(self):
        """OPTIONS without Access-Control-Request-Method is not a preflight:
        it reaches FHIR like before (405), with no Allow-Methods/-Headers."""
        r = self.api("OPTIONS", "Patient/pa", headers={"Origin": APP_ORIGIN})
        self.assertEqual(r.status, 405, r)
        self.assertIsNone(r.header("access-control-allow-methods"), r)

    def test_actual_request_registered_origin(self):
        """The real response to a registered origin carries
        Access-Control-Allow-Origin (the origin, never *) and exposes the
        FHIR headers an app reads (Location, ETag, Last-Modified,
        Content-Location); the bearer token still decides the access."""
        r = self.api("GET", "Patient/pa", token=self.tok, headers={"Origin": APP_ORIGIN})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header(ACAO), APP_ORIGIN, r)
        exposed = split_list(r.header("access-control-expose-headers"))
        for h in ("location", "etag", "last-modified", "content-location"):
            self.assertIn(h, exposed, r)
        self.assertIn("origin", split_list(",".join(r.all("vary"))), r)
        self.assertIsNone(r.header("access-control-allow-credentials"), r)
        self.assertEqual(r.json["id"], "pa")

    def test_any_registered_origin_same_answer(self):
        """The FHIR API cannot tell which client sent a request before it
        reads the token, so every registered origin is allowed; what comes
        back is still decided by the token alone (another client's origin
        with alice's token reads alice, and nothing more)."""
        for origin in (APP2_ORIGIN, PORT_ORIGIN):
            with self.subTest(origin=origin):
                r = self.api("GET", "Patient/pa", token=self.tok, headers={"Origin": origin})
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header(ACAO), origin, r)
                r = self.api("GET", "Patient/pb", token=self.tok, headers={"Origin": origin})
                self.assertIn(r.status, (403, 404), r)
                self.assertEqual(r.header(ACAO), origin, r)

    def test_error_responses_readable(self):
        """Errors carry the CORS headers too, so an app can see a 401 (and
        its WWW-Authenticate) or a 403/404 instead of a network error."""
        r = self.api("GET", "Patient/pa", headers={"Origin": APP_ORIGIN})
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.header(ACAO), APP_ORIGIN, r)
        self.assertIn("www-authenticate", split_list(r.header("access-control-expose-headers")), r)
        r = self.api("GET", "Patient/pb", token=self.tok, headers={"Origin": APP_ORIGIN})
        self.assertIn(r.status, (403, 404), r)
        self.assertEqual(r.header(ACAO), APP_ORIGIN, r)
        r = self.api("GET", "NoSuchType/x", token=self.tok, headers={"Origin": APP_ORIGIN})
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.header(ACAO), APP_ORIGIN, r)

    def test_metadata_registered_origin(self):
        """The CapabilityStatement (public, no token) also answers a registered origin."""
        r = self.api("GET", "metadata", headers={"Origin": PORT_ORIGIN})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header(ACAO), PORT_ORIGIN, r)

    def test_actual_request_unregistered_origin(self):
        """An unregistered origin's request is served as without CORS (the
        browser, not the server, withholds the response) and carries no
        Access-Control-* header; only Vary: Origin."""
        for origin in (UNREGISTERED, "null", "http://app.example.org"):
            with self.subTest(origin=origin):
                r = self.api("GET", "Patient/pa", token=self.tok, headers={"Origin": origin})
                self.assertEqual(r.status, 200, r)
                self.assertNoCors(r)
                self.assertIn("origin", split_list(",".join(r.all("vary"))), r)

    def test_no_origin_no_cors(self):
        """Server-to-server requests (no Origin header) get no CORS headers."""
        r = self.api("GET", "Patient/pa", token=self.tok)
        self.assertEqual(r.status, 200, r)
        self.assertNoCors(r)

    def test_discovery_stays_open(self):
        """SMART 2.2: the discovery document stays CORS * for any origin."""
        r = self.api("GET", ".well-known/smart-configuration", headers={"Origin": UNREGISTERED})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header(ACAO), "*", r)

    def test_token_endpoint_only_own_origin(self):
        """The token endpoint allows only the origins of the client it
        authenticated: an authorization-code exchange from the app's origin
        is readable there, from another client's origin it is not."""
        for origin, expect in ((APP_ORIGIN, APP_ORIGIN), (APP2_ORIGIN, None)):
            with self.subTest(origin=origin):
                res, verifier, _, _ = self.get_code("app", APP, SCOPE, "alice", PASSWORDS["alice"])
                self.assertEqual(res.kind, "redirect", res)
                r = self.token_req({"grant_type": "authorization_code", "code": res.code, "redirect_uri": APP,
                                    "code_verifier": verifier}, "app", headers={"Origin": origin})
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header(ACAO), expect, r)

    def test_token_endpoints_preflight(self):
        """The token, introspection and revocation endpoints answer a
        preflight from an origin registered for any client (the client is
        only known from the body that follows) with POST and the two request
        headers a token request needs; an unregistered origin gets no CORS
        header (the browser then refuses the request)."""
        for path in ("/auth/token", "/auth/introspect", "/auth/revoke"):
            for origin in (APP_ORIGIN, CONF_ORIGIN):
                with self.subTest(path=path, origin=origin):
                    r = self.http("OPTIONS", path, headers={"Origin": origin,
                                                            "Access-Control-Request-Method": "POST"})
                    self.assertEqual(r.status, 204, r)
                    self.assertEqual(r.header(ACAO), origin, r)
                    self.assertEqual(split_list(r.header("access-control-allow-methods")), ["post"], r)
                    self.assertEqual(set(split_list(r.header("access-control-allow-headers"))),
                                     {"authorization", "content-type"}, r)
                    self.assertIn("origin", split_list(r.header("vary")), r)
            with self.subTest(path=path, origin=UNREGISTERED):
                r = self.http("OPTIONS", path, headers={"Origin": UNREGISTERED,
                                                        "Access-Control-Request-Method": "POST"})
                self.assertEqual(r.status, 204, r)
                self.assertNoCors(r)

    def test_client_registered_while_running(self):
        """A client added with `fhird client add` while the server runs is
        allowed without a restart: the origin cache rereads the clients on
        a miss (at most once per second, cors.h), so the origin is allowed
        within a few seconds - polled, with a deadline."""
        origin = "https://late.example.org"
        r = self.preflight(origin)
        self.assertNoCors(r)
        rc, out, err = cli("client", "add", "--id", "late", "--type", "public", "--redirect-uri",
                           origin + "/cb", "--scope", SCOPE, "--db", self.server.db)
        self.assertEqual(rc, 0, out + err)
        deadline = time.monotonic() + 10
        while True:
            r = self.preflight(origin)
            if r.header(ACAO) == origin or time.monotonic() > deadline:
                break
            time.sleep(0.1)  # the cache's miss interval is time-based: nothing to wait on but the clock
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.header(ACAO), origin, r)
