"""OAuth attacks on the authorization server (issue 6 "OAuth attacks").

test_smart_negative.py already walks most redirect_uri variants, missing
state, code replay, code of another client, PKCE plain/missing, refresh
token of another client; test_smart_backend.py assertion replay and exp.
This module adds what they miss - redirect_uri with userinfo, fragments,
double encoding, backslashes, CR/LF, NUL, scheme-relative and odd schemes,
a repeated redirect_uri; an empty state (RFC 6749 3.1: "Parameters sent
without a value MUST be treated as if they were omitted"); state carrying
CR/LF into the Location header; PKCE downgrades at the token endpoint; the
token endpoint's redirect_uri with the same variants - and re-checks the
rest in one compact table each.

Answers: an invalid redirect_uri (or client) -> an error page, never a
redirect (RFC 6749 3.1.2.4 / 4.1.2.1 "MUST NOT automatically redirect");
errors after the redirect_uri is validated -> a redirect to it with `error`
(4.1.2.1); token endpoint errors -> 400/401 JSON (5.2).
"""
import secrets
import socket
import urllib.parse

from secutil import SecAsserts, header_lines_well_formed, read_raw_response
from smartutil import (APP, APP2, APP_Q, ASSERTION_TYPE, CONF, PASSWORDS, STD_CLIENTS, STD_SEED, STD_USERS, AuthFlow,
                       ClientKey, SmartCase, backend_client, client_assertion, parse_forms, pkce_pair)

SCOPE = "launch/patient patient/Patient.r offline_access"


class OAuthCase(SecAsserts, SmartCase):
    SEED = STD_SEED
    USERS = STD_USERS
    CLIENTS = STD_CLIENTS + (backend_client("bk", ["rsa"], scope="system/*.rs"),)

    @classmethod
    def make_keys(cls):
        cls.keys["rsa"] = ClientKey(cls.workdir, "RSA", "sec-oauth-rsa")

    def authorize(self, params, complete=False, method="GET"):
        flow = AuthFlow(self.server)
        res = flow.authorize(params, method=method)
        if complete:
            res = flow.complete(res, "alice", PASSWORDS["alice"])
        return res

    def assertErrorPage(self, res):
        """RFC 6749 4.1.2.1: the user is told; no redirect, no code. fhird
        answers 400 with an HTML page (the RFC leaves the status open)."""
        self.assertEqual(res.kind, "page", res)
        r = res.resp
        self.assertEqual(r.status, 400, r)
        self.assertIsNone(r.header("location"), r)
        self.assertNotIn(b"code=", r.body)
        self.assertNoInternals(r)

    def assertRedirectError(self, res, error, redirect=APP, state=None):
        self.assertEqual(res.kind, "redirect", res)
        u, w = urllib.parse.urlsplit(res.url), urllib.parse.urlsplit(redirect)
        self.assertEqual((u.scheme, u.netloc, u.path), (w.scheme, w.netloc, w.path), res.url)
        self.assertEqual(res.params.get("error"), error, res.url)
        self.assertNotIn("code", res.params, res.url)
        if state is not None:
            self.assertEqual(res.params.get("state"), state, res.url)

    def code(self, client="app", redirect=APP, scope=SCOPE, user="alice"):
        res, verifier, _, _ = self.get_code(client, redirect, scope, user, PASSWORDS[user])
        self.assertEqual(res.kind, "redirect", res)
        self.assertTrue(res.code, res)
        return res.code, verifier


class TestRedirectUri(OAuthCase):

    VARIANTS = {
        "userinfo host": "https://app.example.org@evil.example",
        "userinfo host+path": "https://app.example.org@evil.example/cb",
        "userinfo with port": "https://app.example.org:443@evil.example/cb",
        "userinfo in path": "https://app.example.org/cb@evil.example",
        "backslash userinfo": "https://evil.example\\@app.example.org/cb",
        "backslash host": "https://app.example.org\\.evil.example/cb",
        "fragment after": "https://app.example.org/cb#x",
        "empty fragment": "https://app.example.org/cb#",
        "fragment hiding the host": "https://evil.example#@app.example.org/cb",
        "fragment holding ours": "https://evil.example/#https://app.example.org/cb",
        "query holding ours": "https://evil.example/?https://app.example.org/cb",
        "empty query": "https://app.example.org/cb?",
        "double-encoded path": "https://app.example.org/%2563b",
        "double-encoded slash": "https://app.example.org%252Fcb",
        "encoded whole URI": "https%3A%2F%2Fapp.example.org%2Fcb",
        "encoded slash": "https://app.example.org%2Fcb",
        "encoded dot segment": "https://app.example.org/cb/%2e%2e/cb",
        "dot segments to elsewhere": "https://app.example.org/cb/../../evil",
        "NUL": "https://app.example.org/cb\x00",
        "encoded NUL": "https://app.example.org/cb%00",
        "CR LF": "https://app.example.org/cb\r\nLocation: https://evil.example/",
        "encoded CR LF": "https://app.example.org/cb%0d%0aLocation:%20https://evil.example/",
        "tab": "https://app.example.org/cb\t",
        "trailing space": "https://app.example.org/cb ",
        "leading space": " https://app.example.org/cb",
        "scheme case": "HTTPS://app.example.org/cb",
        "trailing dot host": "https://app.example.org./cb",
        "port 0": "https://app.example.org:0/cb",
        "port 80": "https://app.example.org:80/cb",
        "port 444": "https://app.example.org:444/cb",
        "scheme-relative": "//app.example.org/cb",
        "no slashes": "https:app.example.org/cb",
        "one slash": "https:/app.example.org/cb",
        "javascript": "javascript:alert(1)//https://app.example.org/cb",
        "data": "data:text/html,<script>alert(1)</script>",
        "IDN homograph": "https://\u0430pp.example.org/cb",
        "punycode": "https://xn--pp-8cd.example.org/cb",
        "subdomain": "https://www.app.example.org/cb",
        "suffix host": "https://app.example.org.evil.example/cb",
        "prefix host": "https://evilapp.example.org/cb",
        "registered query altered": "https://app.example.org/cb?tenant=2",
        "registered query extended": "https://app.example.org/cb?tenant=1&x=2",
        "registered query case": "https://app.example.org/cb?TENANT=1",
        "registered query + fragment": "https://app.example.org/cb?tenant=1#f",
        "matrix param": "https://app.example.org/cb;x=1",
        "other client's": APP2,
        "empty": "",
    }

    def test_authorize_variants(self):
        """RFC 6749 3.1.2.4 and issue 6: everything but the exact registered
        string -> error page (GET and POST /auth/authorize)."""
        _, ch = pkce_pair()
        ok = self.authorize(self.auth_params("app", APP, SCOPE, challenge=ch))
        self.assertEqual(ok.kind, "page", ok)
        self.assertEqual(ok.resp.status, 200, ok.resp)  # control: the login page
        for name, uri in self.VARIANTS.items():
            for method in ("GET", "POST"):
                with self.subTest(variant=name, method=method):
                    self.assertErrorPage(self.authorize(self.auth_params("app", uri, SCOPE, challenge=ch),
                                                        method=method))

    def test_repeated_redirect_uri(self):
        """RFC 6749 3.1 (parameters MUST NOT repeat) with 4.1.2.1: a second
        redirect_uri - ours first or second - is an invalid redirection URI:
        error page, never a redirect to either."""
        _, ch = pkce_pair()
        base = list(self.auth_params("app", APP, SCOPE, challenge=ch).items())
        for order in ((APP, "https://evil.example/cb"), ("https://evil.example/cb", APP), (APP, APP)):
            with self.subTest(order=order):
                pairs = [(k, v) for k, v in base if k != "redirect_uri"] + [("redirect_uri", u) for u in order]
                self.assertErrorPage(self.authorize(pairs))

    def test_token_endpoint_variants(self):
        """RFC 6749 4.1.3: redirect_uri at the token endpoint must be
        identical to the authorization request's -> invalid_grant for
        userinfo, fragment, double-encoded, trailing-slash variants; the
        code is then spent (no second chance with the right one is
        required, but none may succeed with a wrong one)."""
        for uri in ("https://app.example.org@evil.example/cb", "https://app.example.org/cb#x",
                    "https://app.example.org/%2563b", "https://app.example.org/%63b", "https://app.example.org/cb%00",
                    APP + "?", APP_Q, ""):
            with self.subTest(redirect_uri=uri):
                code, verifier = self.code()
                r = self.exchange(code, verifier, "app", uri)
                if uri == "":
                    # RFC 6749 3.1: empty = omitted -> invalid_request (missing) or invalid_grant
                    self.assertOAuthError(r, 400, "invalid_request", "invalid_grant")
                else:
                    self.assertOAuthError(r, 400, "invalid_grant")


class TestStateAndCodes(OAuthCase):

    def test_missing_or_empty_state(self):
        """SMART app-launch.html (state required) with RFC 6749 3.1 (an empty
        parameter is an omitted one): invalid_request back at the
        redirect_uri, no code, no state echoed."""
        _, ch = pkce_pair()
        for state in (None, ""):
            with self.subTest(state=state):
                res = self.authorize(self.auth_params("app", APP, SCOPE, challenge=ch, state=state))
                self.assertRedirectError(res, "invalid_request")
                self.assertIn(res.params.get("state"), (None, ""), res.url)

    def test_state_crlf_not_split(self):
        """Issue 6 "CRLF in any value that reaches a header": state travels
        into the Location header of the success and the error redirect. It
        comes back byte for byte (RFC 6749 4.1.2) inside one Location header;
        no header is split off."""
        evil = "s1\r\nX-Injected: 1\r\nSet-Cookie: injected=1"
        # success redirect
        res, verifier, _, flow = self.get_code("app", APP, SCOPE, "alice", PASSWORDS["alice"], state=evil)
        self.assertEqual(res.kind, "redirect", res)
        self.assertTrue(res.code, res)
        self.assertEqual(res.params.get("state"), evil, res.url)
        self.assertEqual(len(res.resp.all("location")), 1, res.resp)
        self.assertEqual(res.resp.all("x-injected"), [], res.resp)
        self.assertFalse([c for c in res.resp.all("set-cookie") if "injected" in c], res.resp)
        self.assertNotIn("\r", res.resp.header("location"))
        self.assertNotIn("\n", res.resp.header("location"))
        # error redirect (a malformed scope is reported at the redirect_uri), read raw
        _, ch = pkce_pair()
        q = urllib.parse.urlencode(self.auth_params("app", APP, "patient/Observation.xyz", challenge=ch, state=evil))
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=30)
        try:
            s.sendall(("GET /auth/authorize?%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % q).encode())
            r = read_raw_response(s)
        finally:
            s.close()
        self.assertIn(r.status, (302, 303), r.raw_head)
        self.assertEqual(header_lines_well_formed(r.raw_head), [], r.raw_head)
        self.assertEqual(r.all("x-injected"), [], r.raw_head)
        loc = r.header("location")
        p = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query, keep_blank_values=True))
        self.assertEqual(p.get("state"), evil, loc)
        self.assertEqual(p.get("error"), "invalid_scope", loc)

    def test_code_replay_and_other_client(self):
        """RFC 6749 4.1.2 / 10.5 (single use; replay revokes what the code
        issued) and 4.1.3 (bound to its client): compact re-check of
        test_smart_negative.py, plus a confidential client presenting a
        public client's code with its own valid secret."""
        code, verifier = self.code()
        r1 = self.exchange(code, verifier, "app", APP)
        self.assertEqual(r1.status, 200, r1)
        self.assertOAuthError(self.exchange(code, verifier, "app", APP), 400, "invalid_grant")
        r = self.api("GET", "Patient/pa", r1.json["access_token"])
        self.assertEqual(r.status, 401, r)
        for client, redirect, secret in (("app2", APP2, None), ("app2", APP, None), ("conf", APP, "conf"),
                                         ("conf", CONF, "conf")):
            with self.subTest(client=client, redirect=redirect):
                code, verifier = self.code()
                r = self.exchange(code, verifier, client, redirect,
                                  secret=self.secrets["conf"] if secret else None)
                self.assertOAuthError(r, 400, "invalid_grant")

    def test_pkce_downgrade(self):
        """RFC 7636 4.4.1/4.6 and docs/auth.md (S256 only): plain or no
        challenge at /auth/authorize -> invalid_request at the redirect_uri;
        at the token endpoint a code made with S256 is not redeemed by the
        challenge itself (a plain-style verifier), no verifier, an empty
        one, or one of the wrong length/alphabet (invalid_grant; for a
        missing or malformed verifier RFC 6749 5.2 invalid_request too)."""
        verifier, ch = pkce_pair()
        for name, over in (("plain", {"code_challenge": verifier, "code_challenge_method": "plain"}),
                           ("plain, no method", {"code_challenge": verifier, "code_challenge_method": None}),
                           ("no challenge", {"code_challenge": None, "code_challenge_method": None}),
                           ("method only", {"code_challenge": None, "code_challenge_method": "S256"}),
                           ("empty challenge", {"code_challenge": "", "code_challenge_method": "S256"})):
            with self.subTest(authorize=name):
                state = secrets.token_urlsafe(8)
                p = self.auth_params("app", APP, SCOPE, challenge=ch, state=state)
                for k, v in over.items():
                    if v is None:
                        p.pop(k, None)
                    else:
                        p[k] = v
                self.assertRedirectError(self.authorize(p, complete=True), "invalid_request", state=state)
        for name, fn, errors in (
                ("challenge as verifier", lambda v, c: c, ("invalid_grant",)),
                ("missing", lambda v, c: None, ("invalid_request", "invalid_grant")),
                ("empty", lambda v, c: "", ("invalid_request", "invalid_grant")),
                ("42 chars", lambda v, c: v[:42], ("invalid_request", "invalid_grant")),
                ("129 chars", lambda v, c: (v * 4)[:129], ("invalid_request", "invalid_grant")),
                ("bad alphabet", lambda v, c: v[:-1] + "!", ("invalid_request", "invalid_grant")),
                ("upper-cased", lambda v, c: v.upper() if v.upper() != v else v + "A", ("invalid_grant",
                                                                                        "invalid_request"))):
            with self.subTest(token=name):
                res, v, params, _ = self.get_code("app", APP, SCOPE, "alice", PASSWORDS["alice"])
                self.assertTrue(res.code, res)
                r = self.exchange(res.code, fn(v, params["code_challenge"]), "app", APP)
                self.assertOAuthError(r, 400, *errors)

    def test_refresh_of_another_client(self):
        """RFC 6749 6 (bound to its client): another public client, a
        confidential client with its own valid secret -> invalid_grant."""
        code, verifier = self.code()
        t = self.exchange(code, verifier, "app", APP).json
        for client, secret in (("app2", None), ("conf", self.secrets["conf"])):
            with self.subTest(client=client):
                p = {"grant_type": "refresh_token", "refresh_token": t["refresh_token"]}
                r = self.token_req(p, client, secret)
                self.assertOAuthError(r, 400, "invalid_grant")

    def test_backend_assertion_replay_and_exp(self):
        """SMART client-confidential-asymmetric.html (jti not reused; exp no
        more than five minutes ahead) - compact re-check: the same assertion
        twice, a new assertion with a used jti, exp far ahead or absurd."""
        key = self.keys["rsa"]

        def cc(a):
            return self.token_req({"grant_type": "client_credentials", "scope": "system/*.rs",
                                   "client_assertion_type": ASSERTION_TYPE, "client_assertion": a})

        a = client_assertion(key, "bk", self.token_url())
        self.assertEqual(cc(a).status, 200)
        self.assertOAuthError(cc(a), 401, "invalid_client")
        from smartutil import jwt_split
        jti = jwt_split(a)[1]["jti"]
        self.assertOAuthError(cc(client_assertion(key, "bk", self.token_url(), jti=jti)), 401, "invalid_client")
        for exp_in in (301 + 30, 3600, 86400 * 365 * 10):
            with self.subTest(exp_in=exp_in):
                self.assertOAuthError(cc(client_assertion(key, "bk", self.token_url(), exp_in=exp_in)), 401,
                                      "invalid_client")
        for exp in (2 ** 63, 2 ** 64 + 5, 1e300, -1, "9999999999"):
            with self.subTest(exp=exp):
                a = client_assertion(key, "bk", self.token_url(), claims_extra={"exp": exp})
                self.assertOAuthError(cc(a), 401, "invalid_client")


class TestAuthEndpointsInput(OAuthCase):
    """Hostile input at the authorization server's endpoints."""

    def test_token_endpoint_hostile_bodies(self):
        """RFC 6749 3.2/5.2: hostile form bodies get a 400 error response and
        never a token or internals - invalid UTF-8 and NUL (invalid_request,
        or invalid_grant / unsupported_grant_type for the value they spoil),
        a repeated parameter (3.2 "MUST NOT be included more than once":
        invalid_request), SQL as a refresh token (invalid_grant)."""
        bodies = (
            ("invalid utf-8", b"grant_type=authorization_code&code=%C3%28&redirect_uri=x&client_id=app",
             ("invalid_request", "invalid_grant")),
            ("raw invalid utf-8", b"grant_type=authorization_code&code=\xc3\x28&redirect_uri=x&client_id=app",
             ("invalid_request", "invalid_grant")),
            ("NUL in grant_type", b"grant_type=authorization_code%00&code=x&client_id=app",
             ("invalid_request", "unsupported_grant_type")),
            ("repeated grant_type",
             b"grant_type=refresh_token&grant_type=client_credentials&refresh_token=x&client_id=app",
             ("invalid_request",)),
            ("SQL refresh token", b"grant_type=refresh_token&refresh_token=%27%20OR%201%3D1%20--&client_id=app",
             ("invalid_grant",)),
        )
        for name, body, errors in bodies:
            with self.subTest(body=name):
                r = self.http("POST", "/auth/token", body, {"Content-Type": "application/x-www-form-urlencoded"})
                self.assertOAuthError(r, 400, *errors)
                self.assertNoInternals(r)
        with self.subTest(body="100k-deep JSON as the client assertion"):
            # RFC 7521 4.2.1: an invalid assertion -> invalid_client (RFC 6749
            # 5.2: 400, or 401)
            deep = "[" * 100000 + "]" * 100000
            a = "eyJhbGciOiJSUzM4NCJ9." + deep + ".x"
            r = self.form_post("/auth/token", [("grant_type", "client_credentials"), ("scope", "system/*.rs"),
                                               ("client_assertion_type", ASSERTION_TYPE), ("client_assertion", a)])
            self.assertIn(r.status, (400, 401), r)
            self.assertOAuthError(r, r.status, "invalid_client")
        self.assertEqual(self.http("GET", "/auth/jwks").status, 200)

    def test_authorize_oversize_and_hostile(self):
        """RFC 9112 3 (a request-target longer than the server parses: 414)
        and hostile values on /auth/authorize: the login page is never
        reached with them, nothing leaks."""
        _, ch = pkce_pair()
        p = self.auth_params("app", APP, SCOPE, challenge=ch)
        p["state"] = "s" * 20000
        r = self.http("GET", "/auth/authorize?" + urllib.parse.urlencode(p))
        self.assertEqual(r.status, 414, r)
        for name, raw in (("client_id SQL", b"app' OR '1'='1"), ("client_id NUL", b"app\x00"),
                          ("client_id invalid utf-8", b"app\xc3\x28")):
            with self.subTest(case=name):
                q = urllib.parse.urlencode([(k, v) for k, v in dict(p, state="x").items() if k != "client_id"] +
                                           [("client_id", raw)])
                r = self.http("GET", "/auth/authorize?" + q)
                self.assertEqual(r.status, 400, r)
                self.assertIsNone(r.header("location"), r)
                self.assertNoInternals(r, echoed=(raw.decode("utf-8", "replace"),))
                self.assertNotIn("login", [AuthFlow.classify(f) for f in parse_forms(r.body)])
