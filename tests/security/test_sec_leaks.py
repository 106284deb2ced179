"""Information leaks (issue 6 "Information leaks"): error answers never
carry SQL or schema words, SQLite or library messages, file paths, source
locations or stack traces - for malformed input, unknown routes, SQL-ish
input, oversize input, on the FHIR API and on the authorization server.
(Whether another patient's resource exists - 404 vs 403 - is checked in
test_sec_crosspatient.py, TestHistoryAndParity.)

Every answer below is also checked for its status class: these are client
errors (4xx), never a 5xx (a 5xx for client input is itself a finding) and
never a success.
"""
import unittest
import urllib.parse

from itutil import SpecCase
from secutil import SecAsserts, leaks, raw_request
from smartutil import APP, STD_CLIENTS, STD_SEED, STD_USERS, SmartCase, basic_auth

P1 = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Smith"}]}

SQLISH = [
    "1' UNION SELECT sql FROM sqlite_master --",
    "') OR 1=1 --",
    "x'; DROP TABLE resources; --",
    "1 AND (SELECT 1 FROM (SELECT COUNT(*),CONCAT(0x7e,version())x FROM information_schema.tables GROUP BY x)a)",
    "\" OR \"\"=\"",
    "%' AND 1=CAST((SELECT name FROM sqlite_master LIMIT 1) AS INT) --",
    "1)) /*",
    "\\'; SELECT load_extension('x') --",
]

# (method, path, body, headers): answers that must be client errors
FHIR_ERRORS = [
    ("POST", "Patient", b'{"resourceType":', {"Content-Type": "application/fhir+json"}),
    ("POST", "Patient", b"[]", {"Content-Type": "application/fhir+json"}),
    ("POST", "Patient", b"null", {"Content-Type": "application/fhir+json"}),
    ("POST", "Patient", b'{"resourceType":"Patient","birthDate":"x"}', {"Content-Type": "application/fhir+json"}),
    ("POST", "Patient", b'{"resourceType":"Nope"}', {"Content-Type": "application/fhir+json"}),
    ("POST", "Patient", b"<Patient/>", {"Content-Type": "application/fhir+xml"}),
    ("POST", "Patient", b"x", {"Content-Type": "text/plain"}),
    ("GET", "Patient/p1", None, {"Accept": "application/fhir+xml"}),
    ("PUT", "Patient/p1", b'{"resourceType":"Patient","id":"p1"}',
     {"Content-Type": "application/fhir+json", "If-Match": "garbage"}),
    ("PUT", "Patient/p1", b'{"resourceType":"Patient","id":"p1"}',
     {"Content-Type": "application/fhir+json", "If-Match": 'W/"999"'}),
    ("PATCH", "Patient/p1", b"[{", {"Content-Type": "application/json-patch+json"}),
    ("PATCH", "Patient/p1", b'[{"op":"test","path":"/id","value":"x"}]', {"Content-Type": "application/json-patch+json"}),
    ("POST", "", b'{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"PUT","url":"Patient/p1"},'
                 b'"resource":{"resourceType":"Patient","id":"zz"}}]}', {"Content-Type": "application/fhir+json"}),
    ("POST", "", b'{"resourceType":"Bundle","type":"nonsense"}', {"Content-Type": "application/fhir+json"}),
    ("GET", "/", None, None), ("GET", "Foo", None, None), ("GET", "Foo/1", None, None), ("GET", "/admin", None, None),
    ("GET", "/.git/config", None, None), ("GET", "/.env", None, None), ("GET", "/server-status", None, None),
    ("GET", "Patient/p1/_history/1/extra", None, None), ("GET", "$export", None, None),
    ("GET", "Patient/$validate", None, None), ("GET", "Patient/p1/$meta", None, None), ("GET", "/auth/nosuch", None, None),
    ("GET", "/favicon.ico", None, None), ("GET", "metadata.json", None, None), ("GET", "Patient/nosuch", None, None),
    ("DELETE", "metadata", None, None), ("PUT", "Patient", b"{}", {"Content-Type": "application/fhir+json"}),
    ("POST", "Patient/p1", b"{}", {"Content-Type": "application/fhir+json"}), ("PROPFIND", "Patient", None, None),
    ("GET", "Patient?_cursor=garbage", None, None), ("GET", "Patient?_cursor=%27%20OR%201%3D1%20--", None, None),
    ("GET", "Patient?_count=abc", None, None), ("GET", "Patient?birthdate=not-a-date", None, None),
    ("GET", "Observation?value-quantity=1e999999", None, None), ("GET", "Patient?_has:Nope:subject:code=x", None, None),
    ("GET", "Patient/a%zz", None, None), ("GET", "Patient/a%00b", None, None),
    ("GET", "Patient?name=" + "a" * 9000, None, None), ("GET", "Patient/" + "a" * 9000, None, None),
    ("GET", "Patient?name=%C3%28", None, None),
]


class TestFhirErrorBodies(SecAsserts, SpecCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.server.request("PUT", "Patient/p1", P1)
        assert r.status in (200, 201), r.body

    def check(self, r, echoed=(), ok=False, operation=False):
        """A client error (4xx; with ok, a 2xx search the value did not
        spoil; an unknown operation may be 501, docs/http-behaviour.md)
        without internals in body or headers."""
        if not (ok and 200 <= r.status < 300) and not (operation and r.status == 501):
            self.assertGreaterEqual(r.status, 400, self.show(r))
            self.assertLess(r.status, 500, self.show(r))
        self.assertNoInternals(r, echoed)
        for k in ("server", "x-powered-by"):
            v = r.header(k) or ""
            self.assertNotRegex(v, r"\d+\.\d+", "version disclosed in %s: %s" % (k, v))

    def test_malformed_and_unknown(self):
        """Malformed bodies and headers, unknown routes and methods, bad
        escapes, bad cursors, oversize URLs: 4xx answers without internals."""
        for method, path, body, headers in FHIR_ERRORS:
            with self.subTest(method=method, path=path[:80], body=(body or b"")[:60]):
                r = self.fetch(method, path, body, headers)
                self.check(r, echoed=(urllib.parse.unquote(path), (body or b"").decode("latin-1")),
                           operation="$" in path)

    def test_sqlish_input(self):
        """SQL written by an attacker into every place a value goes: a
        diagnostic may quote the value, nothing else of SQL may appear."""
        for v in SQLISH:
            qv = urllib.parse.quote(v, safe="")
            for path in ("Patient?birthdate=%s" % qv, "Patient?_count=%s" % qv, "Patient?_lastUpdated=%s" % qv,
                         "Patient?_sort=%s" % qv, "Patient?_include=%s" % qv, "Observation?subject=%s" % qv,
                         "Observation?value-quantity=%s" % qv, "Patient/%s" % qv, "Patient/p1/_history/%s" % qv,
                         "Patient?_cursor=%s" % qv, "/fhir?_type=%s" % qv, "Patient?_summary=%s" % qv,
                         "Patient?_total=%s" % qv, "Patient?_has:Observation:subject:%s=x" % qv):
                with self.subTest(value=v, path=path.split("?")[0] + "?" + path.split("?")[-1].split("=")[0]):
                    r = self.fetch("GET", path, headers={"Prefer": "handling=strict"})
                    self.check(r, echoed=(v, urllib.parse.unquote(path)), ok=True)
            with self.subTest(value=v, where="If-None-Exist"):
                r = self.fetch("POST", "Patient", {"resourceType": "Patient"},
                               {"If-None-Exist": "birthdate=" + qv})
                self.check(r, echoed=(v,))
            with self.subTest(value=v, where="body id"):
                r = self.fetch("PUT", "Patient/p1", {"resourceType": "Patient", "id": v})
                self.check(r, echoed=(v,))

    def test_tampered_cursor(self):
        """A paging cursor altered by the client -> 400 (docs/search.md),
        without internals."""
        for i in range(3):
            self.fetch("POST", "Patient", {"resourceType": "Patient", "name": [{"family": "Page%d" % i}]})
        r = self.fetch("GET", "Patient?_count=1")
        nxt = [lk["url"] for lk in r.json["link"] if lk["relation"] == "next"][0]
        u = urllib.parse.urlsplit(nxt)
        params = urllib.parse.parse_qsl(u.query)
        cur = dict(params)["_cursor"]
        for bad in (cur[:-2], cur[:-1] + ("A" if cur[-1] != "A" else "B"), cur + "' OR 1=1 --", "x" * 2000):
            with self.subTest(cursor=bad[:40]):
                q = urllib.parse.urlencode([(k, bad if k == "_cursor" else v) for k, v in params])
                r = self.fetch("GET", u.path + "?" + q)
                self.assertEqual(r.status, 400, self.show(r))
                self.check(r, echoed=(bad,))

    def test_raw_protocol_errors(self):
        """Broken HTTP framing (the request-smuggling primitives): RFC 9112
        6.3 (an invalid Content-Length, or several differing ones: 400),
        6.1 (Transfer-Encoding with Content-Length: rejected, or framed by
        Transfer-Encoding alone - whose bad chunk is then a 400), 3 (a
        malformed request line: 400), RFC 9110 15.6.6 (an unsupported
        version: 505, or 400), RFC 6585 5 (431). No internals in whatever
        answers, and the server keeps serving."""
        cases = (
            ("huge header", b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n", (431,)),
            ("space in target", b"GET /fhir/met adata HTTP/1.1\r\nHost: x\r\n\r\n", (400,)),
            ("HTTP/9.9", b"GET /fhir/metadata HTTP/9.9\r\nHost: x\r\n\r\n", (400, 505)),
            ("NUL in method", b"G\x00T /fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n", (400,)),
            ("negative Content-Length", b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", (400,)),
            ("differing Content-Lengths",
             b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 6\r\n\r\n{}{}{}", (400,)),
            ("Content-Length list", b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 6\r\n\r\n{}{}{}", (400,)),
            ("TE and CL, bad chunk",
             b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\nzz\r\n"
             b"0\r\n\r\n", (400,)),
        )
        for name, raw, expect in cases:
            with self.subTest(case=name):
                try:
                    r = raw_request(self.server.port, raw, timeout=10)
                except (ConnectionError, OSError) as e:
                    self.fail("no answer (%s)" % e)
                self.assertIn(r.status, expect, r.raw_head)
                self.assertFalse(leaks(r.text), (r.raw_head, r.body[:500]))
        self.assertEqual(self.fetch("GET", "metadata").status, 200)


class TestAuthServerErrorBodies(SecAsserts, SmartCase):
    """The authorization server's error answers (JSON and HTML) and the
    API's 401s leak nothing either."""
    SEED = STD_SEED
    CLIENTS = STD_CLIENTS
    USERS = STD_USERS

    def check(self, r, echoed=()):
        self.assertGreaterEqual(r.status, 400, r)
        self.assertLess(r.status, 500, r)
        self.assertNoInternals(r, echoed)
        for k, v in r.headers:
            self.assertFalse(leaks(v, echoed), "header %s: %s" % (k, v))

    def test_token_and_api(self):
        """Garbage and SQL at /auth/token, /auth/introspect, the bearer
        token of the API: error answers without internals."""
        for v in SQLISH + ["", "\x00", "a" * 5000]:
            for pairs in ([("grant_type", "refresh_token"), ("refresh_token", v), ("client_id", "app")],
                          [("grant_type", "authorization_code"), ("code", v), ("redirect_uri", APP),
                           ("code_verifier", "x" * 43), ("client_id", "app")],
                          [("grant_type", v), ("client_id", "app")],
                          [("grant_type", "authorization_code"), ("code", "x"), ("client_id", v)],
                          [("grant_type", "client_credentials"), ("client_assertion_type", v), ("client_assertion", v)]):
                with self.subTest(value=v[:30], form=pairs[0][1][:20] + "/" + pairs[1][0]):
                    r = self.form_post("/auth/token", pairs)
                    self.check(r, echoed=(v,))
            with self.subTest(value=v[:30], where="introspect"):
                r = self.form_post("/auth/introspect", [("token", v)], {"Authorization": basic_auth("conf", v or "x")})
                self.check(r, echoed=(v,))
            if v and "\x00" not in v:
                with self.subTest(value=v[:30], where="bearer"):
                    r = self.api("GET", "Patient/pa", urllib.parse.quote(v, safe=""))
                    self.assertEqual(r.status, 401, r)
                    self.check(r, echoed=(v,))

    def test_pages(self):
        """The HTML error pages of /auth/authorize and the login form posted
        without its session: 4xx without internals."""
        for v in SQLISH:
            with self.subTest(value=v[:30]):
                q = urllib.parse.urlencode({"response_type": "code", "client_id": v, "redirect_uri": APP,
                                            "scope": "launch/patient", "state": "s", "aud": self.base(),
                                            "code_challenge": "x" * 43, "code_challenge_method": "S256"})
                self.check(self.http("GET", "/auth/authorize?" + q), echoed=(v,))
                r = self.form_post("/auth/login", [("username", v), ("password", v), ("csrf", v)])
                self.check(r, echoed=(v,))
