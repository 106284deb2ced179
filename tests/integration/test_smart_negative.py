"""Negative tests of the authorization server (issue 5: "Negative tests for
every rule above"): the authorize endpoint (RFC 6749 3.1.2.4, 4.1.2.1;
RFC 7636 4.4.1; SMART app-launch.html aud), the pages' CSRF protection, the
token endpoint for codes (RFC 6749 4.1.3, 5.2, 10.5; RFC 7636 4.6), refresh
tokens (RFC 6749 6, 10.4; OAuth 2.0 Security BCP 4.14 rotation and reuse
detection), introspection (RFC 7662) and revocation (RFC 7009)."""
import secrets
import threading
import urllib.parse

from smartutil import (APP, APP2, CONF, PASSWORDS, STD_CLIENTS, STD_SEED, STD_USERS, STORE_AUTH_CODE, AuthFlow,
                       SmartCase, basic_auth, csrf_field, expire_auth_records, jwt_split,
                       parse_forms, pkce_pair, resign_with, scope_set, server_private_jwks, now, tamper)

SCOPE = "launch/patient patient/Patient.r patient/Observation.rs offline_access"


class NegCase(SmartCase):
    SEED = STD_SEED
    CLIENTS = STD_CLIENTS
    USERS = STD_USERS

    def full_login(self, client="app", redirect=APP, scope=SCOPE, user="alice", secret=None):
        """A completed launch: (token response JSON, code, verifier)."""
        res, verifier, _, _ = self.get_code(client, redirect, scope, user, PASSWORDS[user])
        self.assertEqual(res.kind, "redirect", res)
        self.assertTrue(res.code, res)
        r = self.exchange(res.code, verifier, client, redirect, secret)
        self.assertEqual(r.status, 200, r)
        return r.json, res.code, verifier

    def refreshed(self, rt, **kw):
        """A refresh that must succeed: the new token response."""
        r = self.refresh(rt, **kw)
        self.assertEqual(r.status, 200, r)
        return r.json

    def refresh(self, rt, client="app", scope=None, secret=None):
        p = {"grant_type": "refresh_token", "refresh_token": rt}
        if scope is not None:
            p["scope"] = scope
        return self.token_req(p, client, secret)

    def assertRedirectError(self, res, error, state, redirect=APP):
        """RFC 6749 4.1.2.1: back to the redirect_uri with error and the exact
        state (no state parameter when none was sent), no code."""
        self.assertEqual(res.kind, "redirect", "expected a redirect with error=%s, got %r" % (error, res))
        u = urllib.parse.urlsplit(res.url)
        w = urllib.parse.urlsplit(redirect)
        self.assertEqual((u.scheme, u.netloc, u.path), (w.scheme, w.netloc, w.path), res.url)
        self.assertEqual(res.params.get("error"), error, res.url)
        if state is None:
            self.assertNotIn("state", res.params, res.url)
        else:
            self.assertEqual(res.params.get("state"), state, res.url)
        self.assertNotIn("code", res.params, res.url)

    def assertErrorPage(self, r):
        """RFC 6749 4.1.2.1 / 3.1.2.4: invalid client or redirect URI -> the
        user is told, the user agent is NOT redirected."""
        self.assertGreaterEqual(r.status, 400, r)
        self.assertLess(r.status, 500, r)
        self.assertIsNone(r.header("location"), r)
        self.assertNotIn(b"code=", r.body)


class TestAuthorizeErrors(NegCase):
    """RFC 6749 4.1.2.1 and issue 5 "GET|POST /auth/authorize"."""

    def authorize(self, params, complete=True, method="GET"):
        flow = AuthFlow(self.server)
        res = flow.authorize(params, method=method)
        if complete:
            res = flow.complete(res, "alice", PASSWORDS["alice"])
        return res

    def control(self):
        """The same request with a registered client and redirect_uri reaches
        the login page (so the refusals below are not vacuous)."""
        _, ch = pkce_pair()
        res = self.authorize(self.auth_params("app", APP, SCOPE, challenge=ch), complete=False)
        self.assertEqual(res.kind, "page", res)
        self.assertEqual(res.resp.status, 200, res.resp)
        self.assertIn("login", [AuthFlow.classify(f) for f in parse_forms(res.resp.body)], res.resp)

    def test_unknown_client(self):
        """Unknown client_id -> error page, never a redirect."""
        self.control()
        _, ch = pkce_pair()
        for cid in ("nobody", "APP", "app ", ""):
            with self.subTest(client_id=cid):
                res = self.authorize(self.auth_params(cid, APP, SCOPE, challenge=ch), complete=False)
                self.assertEqual(res.kind, "page", res)
                self.assertErrorPage(res.resp)

    def test_missing_client_id(self):
        """RFC 6749 4.1.2.1: missing client_id -> error page, no redirect."""
        self.control()
        _, ch = pkce_pair()
        p = self.auth_params("x", APP, SCOPE, challenge=ch)
        del p["client_id"]
        res = self.authorize(p, complete=False)
        self.assertErrorPage(res.resp)

    def test_redirect_uri_variants(self):
        """RFC 6749 3.1.2.4 / issue 5: only the exact registered redirect_uri
        (byte for byte); anything else -> error page, no redirect."""
        variants = {
            "prefix": "https://app.example.org/c",
            "suffix": "https://app.example.org/cbx",
            "extra path": "https://app.example.org/cb/extra",
            "trailing slash": "https://app.example.org/cb/",
            "host case": "https://APP.example.org/cb",
            "path case": "https://app.example.org/CB",
            "percent-encoded": "https://app.example.org/%63b",
            "different port": "https://app.example.org:8443/cb",
            "default port spelled": "https://app.example.org:443/cb",
            "subdomain": "https://evil.app.example.org/cb",
            "suffix host": "https://app.example.org.evil.com/cb",
            "userinfo": "https://app.example.org@evil.com/cb",
            "scheme": "http://app.example.org/cb",
            "extra query": "https://app.example.org/cb?x=1",
            "fragment": "https://app.example.org/cb#x",
            "dot segment": "https://app.example.org/x/../cb",
            "other client's": APP2,
            "missing": None,
        }
        self.control()
        _, ch = pkce_pair()
        for name, uri in variants.items():
            with self.subTest(variant=name, redirect_uri=uri):
                res = self.authorize(self.auth_params("app", uri, SCOPE, challenge=ch, redirect_uri=uri),
                                     complete=False)
                self.assertEqual(res.kind, "page", res)
                self.assertErrorPage(res.resp)

    def test_missing_state(self):
        """SMART app-launch.html: state REQUIRED -> invalid_request (no state to echo)."""
        _, ch = pkce_pair()
        res = self.authorize(self.auth_params("app", APP, SCOPE, challenge=ch, state=None))
        self.assertRedirectError(res, "invalid_request", None)

    def test_wrong_aud(self):
        """SMART app-launch.html: aud must be the FHIR base URL, else no code
        (invalid_request with the exact state)."""
        _, ch = pkce_pair()
        base = self.base()
        u = urllib.parse.urlsplit(base)
        for aud in (base + "/", base.upper(), "https://fhir.example.com/fhir", base.replace("/fhir", "/fhir2"),
                    "%s://%s:%d/fhir" % (u.scheme, u.hostname, (u.port or 80) + 1), "", None):
            with self.subTest(aud=aud):
                state = secrets.token_urlsafe(8)
                res = self.authorize(self.auth_params("app", APP, SCOPE, challenge=ch, state=state, aud=aud))
                self.assertRedirectError(res, "invalid_request", state)

    def test_pkce_required(self):
        """RFC 7636 4.4.1 / issue 5: code_challenge required; method S256 only
        (plain and an absent method, which means plain, are refused)."""
        verifier, ch = pkce_pair()
        cases = {
            "no challenge": {"code_challenge": None, "code_challenge_method": None},
            "plain": {"code_challenge": verifier, "code_challenge_method": "plain"},
            "no method": {"code_challenge": ch, "code_challenge_method": None},
            "unknown method": {"code_challenge": ch, "code_challenge_method": "S512"},
            "lower-case s256": {"code_challenge": ch, "code_challenge_method": "s256"},
        }
        for name, over in cases.items():
            with self.subTest(case=name):
                state = secrets.token_urlsafe(8)
                p = self.auth_params("app", APP, SCOPE, challenge=ch, state=state)
                for k, v in over.items():
                    if v is None:
                        p.pop(k, None)
                    else:
                        p[k] = v
                self.assertRedirectError(self.authorize(p), "invalid_request", state)

    def test_response_type(self):
        """RFC 6749 4.1.2.1: unsupported_response_type (token, id_token, code
        token); missing response_type -> invalid_request."""
        _, ch = pkce_pair()
        for rt, err in (("token", "unsupported_response_type"), ("id_token", "unsupported_response_type"),
                        ("code token", "unsupported_response_type"), (None, "invalid_request")):
            with self.subTest(response_type=rt):
                state = secrets.token_urlsafe(8)
                res = self.authorize(self.auth_params("app", APP, SCOPE, challenge=ch, state=state, response_type=rt))
                self.assertRedirectError(res, err, state)

    def test_malformed_scope(self):
        """RFC 6749 4.1.2.1 invalid_scope: a malformed scope (scope.h grammar)."""
        _, ch = pkce_pair()
        for scope in ("patient/Observation.xyz", "patient/Observation.sr", "nobody/*.rs", "patient/.rs"):
            with self.subTest(scope=scope):
                state = secrets.token_urlsafe(8)
                res = self.authorize(self.auth_params("app", APP, scope, challenge=ch, state=state))
                self.assertRedirectError(res, "invalid_scope", state)

    def test_repeated_parameter(self):
        """RFC 6749 3.1: parameters MUST NOT be included more than once -> invalid_request."""
        _, ch = pkce_pair()
        state = secrets.token_urlsafe(8)
        p = list(self.auth_params("app", APP, SCOPE, challenge=ch, state=state).items())
        p.append(("scope", "patient/*.cruds"))
        res = self.authorize(p)
        self.assertEqual(res.kind, "redirect", res)
        self.assertEqual(res.params.get("error"), "invalid_request", res.url)
        self.assertNotIn("code", res.params)


class TestCsrf(NegCase):
    """Issue 5 / oauth.h: the pages are bound to the browser by a cookie and
    every form carries a CSRF token; a form post without the cookie, with
    another session's cookie or with a wrong token is refused (400/403) and
    issues no code."""

    def start(self, scope=SCOPE):
        _, ch = pkce_pair()
        flow = AuthFlow(self.server)
        res = flow.authorize(self.auth_params("app", APP, scope, challenge=ch))
        self.assertEqual(res.kind, "page", res)
        forms = parse_forms(res.resp.body)
        login = [f for f in forms if AuthFlow.classify(f) == "login"]
        self.assertTrue(login, res.resp)
        return flow, login[0]

    def post(self, flow, form, pairs, cookies=True, cookie_header=None):
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        if cookie_header is not None:
            h["Cookie"] = cookie_header
        elif cookies and flow.cookies:
            h["Cookie"] = flow.cookie_header()
        action = flow.absolute(form["action"])
        return self.http("POST", action, urllib.parse.urlencode(pairs).encode(), h)

    def assertRefused(self, r):
        self.assertIn(r.status, (400, 403), r)
        loc = r.header("location") or ""
        self.assertNotIn("code=", loc, r)
        self.assertFalse(loc.startswith(APP), r)

    def test_login_without_cookie(self):
        """Issue 5: the login form posted without the request cookie is refused."""
        flow, form = self.start()
        pairs = flow.fill_login(form, "alice", PASSWORDS["alice"])
        self.assertRefused(self.post(flow, form, pairs, cookies=False))

    def test_login_with_wrong_csrf(self):
        """Issue 5: the login form with a wrong or missing CSRF token is refused."""
        flow, form = self.start()
        name = csrf_field(form)
        self.assertTrue(name, "login form without a CSRF field: %r" % form)
        pairs = [(n, "x" + v if n == name else v) for n, v in flow.fill_login(form, "alice", PASSWORDS["alice"])]
        self.assertRefused(self.post(flow, form, pairs))
        pairs = [(n, v) for n, v in flow.fill_login(form, "alice", PASSWORDS["alice"]) if n != name]
        self.assertRefused(self.post(flow, form, pairs))

    def test_login_with_other_sessions_cookie(self):
        """Issue 5: a form of one authorization posted with another one's cookie is refused."""
        flow1, form1 = self.start()
        flow2, _ = self.start()
        pairs = flow1.fill_login(form1, "alice", PASSWORDS["alice"])
        self.assertRefused(self.post(flow1, form1, pairs, cookie_header=flow2.cookie_header()))

    def test_consent_without_cookie_or_csrf(self):
        """Issue 5: the consent form without the cookie or with a wrong CSRF token is refused (control: a genuine post
        gives a code)."""
        flow, form = self.start()
        res = flow.submit(form, flow.fill_login(form, "alice", PASSWORDS["alice"]))
        self.assertEqual(res.kind, "page", res)
        consent = [f for f in parse_forms(res.resp.body) if AuthFlow.classify(f) == "consent"]
        self.assertTrue(consent, res.resp)
        form = consent[0]
        pairs = flow.fill_consent(form, (), True)
        self.assertIsNotNone(pairs, form)
        self.assertRefused(self.post(flow, form, pairs, cookies=False))
        name = csrf_field(form)
        self.assertTrue(name, "consent form without a CSRF field: %r" % form)
        self.assertRefused(self.post(flow, form, [(n, "x" + v if n == name else v) for n, v in pairs]))
        # control: the same form, posted as a browser would in a flow of its own, gives a code
        flow2, form2 = self.start()
        res = flow2.submit(form2, flow2.fill_login(form2, "alice", PASSWORDS["alice"]))
        form2 = [f for f in parse_forms(res.resp.body) if AuthFlow.classify(f) == "consent"][0]
        final = flow2.submit(form2, flow2.fill_consent(form2, (), True))
        self.assertEqual(final.kind, "redirect", final)
        self.assertTrue(final.code, final)


class TestCodeExchange(NegCase):
    """RFC 6749 4.1.3 / 5.2, RFC 7636 4.6, issue 5 "POST /auth/token"."""

    def code(self, client="app", redirect=APP, scope=SCOPE):
        res, verifier, _, _ = self.get_code(client, redirect, scope, "alice", PASSWORDS["alice"])
        self.assertEqual(res.kind, "redirect", res)
        self.assertTrue(res.code, res)
        return res.code, verifier

    def test_wrong_code_verifier(self):
        """RFC 7636 4.6: verifier does not match -> invalid_grant."""
        code, verifier = self.code()
        other, _ = pkce_pair()
        self.assertOAuthError(self.exchange(code, other, "app", APP), 400, "invalid_grant")

    def test_missing_code_verifier(self):
        """RFC 7636 4.4.1/4.6 with a challenge sent: no verifier -> invalid_request (missing
        parameter, RFC 6749 5.2) or invalid_grant."""
        code, _ = self.code()
        self.assertOAuthError(self.exchange(code, None, "app", APP), 400, "invalid_request", "invalid_grant")

    def test_code_reuse_revokes(self):
        """RFC 6749 4.1.2 / 10.5 and issue 5: a code is single-use; a second
        use gets invalid_grant AND revokes what the first use issued (the
        access token is then refused by the FHIR API with 401, the refresh
        token can no longer refresh)."""
        code, verifier = self.code()
        r1 = self.exchange(code, verifier, "app", APP)
        self.assertEqual(r1.status, 200, r1)
        at, rt = r1.json["access_token"], r1.json["refresh_token"]
        self.assertEqual(self.api("GET", "Patient/pa", at).status, 200)
        self.assertOAuthError(self.exchange(code, verifier, "app", APP), 400, "invalid_grant")
        self.assert401(self.api("GET", "Patient/pa", at))
        self.assertOAuthError(self.refresh(rt), 400, "invalid_grant")

    def test_code_concurrent_use(self):
        """Single use under concurrency: of 6 simultaneous exchanges exactly one succeeds."""
        code, verifier = self.code()
        results = []
        barrier = threading.Barrier(6)

        def go():
            barrier.wait()
            results.append(self.exchange(code, verifier, "app", APP))

        ts = [threading.Thread(target=go) for _ in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(len(results), 6)
        self.assertEqual(sorted(r.status for r in results), [200] + [400] * 5, results)

    def test_code_of_another_client(self):
        """RFC 6749 4.1.3: the code was issued to another client -> invalid_grant."""
        code, verifier = self.code()
        self.assertOAuthError(self.exchange(code, verifier, "app2", APP2), 400, "invalid_grant")
        self.assertOAuthError(self.exchange(code, verifier, "app2", APP), 400, "invalid_grant")

    def test_wrong_redirect_uri(self):
        """RFC 6749 4.1.3: redirect_uri identical to the authorization
        request's -> else invalid_grant (missing: invalid_request or invalid_grant)."""
        from smartutil import APP_Q
        for uri in (APP_Q, APP + "/", APP.upper(), APP2):
            with self.subTest(redirect_uri=uri):
                code, verifier = self.code()
                self.assertOAuthError(self.exchange(code, verifier, "app", uri), 400, "invalid_grant")
        code, verifier = self.code()
        r = self.token_req({"grant_type": "authorization_code", "code": code, "code_verifier": verifier}, "app")
        self.assertOAuthError(r, 400, "invalid_request", "invalid_grant")

    def test_garbage_code(self):
        """RFC 6749 5.2: an unknown code -> invalid_grant (empty: invalid_request allowed)."""
        _, verifier = pkce_pair()
        for code in ("x", secrets.token_urlsafe(32), ""):
            with self.subTest(code=code):
                self.assertOAuthError(self.exchange(code, verifier, "app", APP), 400, "invalid_grant",
                                      *(("invalid_request",) if code == "" else ()))

    def test_expired_code(self):
        """Issue 5: codes live ~60 s (--code-ttl-s). The code's store record is
        given an expiry in the past (store.h: an expired record behaves as
        absent) instead of waiting -> invalid_grant."""
        code, verifier = self.code()
        n = expire_auth_records(self.server.db, STORE_AUTH_CODE)
        if not n:
            self.skipTest("cannot find the authorization-code records in the store to expire them")
        self.assertOAuthError(self.exchange(code, verifier, "app", APP), 400, "invalid_grant")

    def test_wrong_client_secret(self):
        """RFC 6749 5.2 invalid_client: 401, and WWW-Authenticate matching the
        scheme when the client used the Authorization header."""
        res, verifier, _, _ = self.get_code("conf", CONF, SCOPE, "alice", PASSWORDS["alice"])
        self.assertTrue(res.code, res)
        secret = self.secrets["conf"]
        r = self.exchange(res.code, verifier, "conf", CONF, secret=secret[:-1] + ("A" if secret[-1] != "A" else "B"))
        self.assertOAuthError(r, 401, "invalid_client")
        self.assertTrue((r.header("www-authenticate") or "").lower().startswith("basic"), r)
        r = self.exchange(res.code, verifier, "conf", CONF, secret="wrong", method="post")
        self.assertOAuthError(r, 401, "invalid_client")
        r = self.exchange(res.code, verifier, "conf", CONF, secret="", method="basic")
        self.assertOAuthError(r, 401, "invalid_client")

    def test_unknown_client(self):
        """RFC 6749 5.2 invalid_client for an unknown client (Basic: 401 + WWW-Authenticate)."""
        code, verifier = self.code()
        r = self.exchange(code, verifier, "nobody", APP, secret="whatever")
        self.assertOAuthError(r, 401, "invalid_client")
        self.assertTrue((r.header("www-authenticate") or "").lower().startswith("basic"), r)
        r = self.exchange(code, verifier, "nobody", APP)
        self.assertOAuthError(r, 401, "invalid_client")

    def test_unsupported_grant_type(self):
        """RFC 6749 5.2 unsupported_grant_type; missing grant_type -> invalid_request."""
        for gt in ("password", "implicit", "urn:ietf:params:oauth:grant-type:device_code"):
            with self.subTest(grant_type=gt):
                r = self.token_req({"grant_type": gt, "username": "alice", "password": PASSWORDS["alice"]}, "app")
                self.assertOAuthError(r, 400, "unsupported_grant_type")
        self.assertOAuthError(self.token_req({"code": "x"}, "app"), 400, "invalid_request")


class TestRefresh(NegCase):
    """RFC 6749 6 and issue 5: rotation on every use, reuse of an old refresh
    token revokes the family, scope may only narrow, bound to its client."""

    def test_rotation(self):
        """Issue 5 / OAuth 2.0 Security BCP 4.14.2: every refresh returns a new refresh token; context and scope kept;
        no-store."""
        t0, _, _ = self.full_login()
        r = self.refresh(t0["refresh_token"])
        self.assertEqual(r.status, 200, r)
        self.assertNoStore(r)
        t1 = r.json
        self.assertTrue(t1.get("access_token"))
        self.assertTrue(t1.get("refresh_token"))
        self.assertNotEqual(t1["refresh_token"], t0["refresh_token"])
        self.assertEqual(t1.get("token_type"), "Bearer")
        self.assertEqual(t1.get("patient"), "pa")
        self.assertEqual(scope_set(t1.get("scope")), scope_set(t0["scope"]))
        self.assertEqual(self.api("GET", "Patient/pa", t1["access_token"]).status, 200)
        r = self.refresh(t1["refresh_token"])
        self.assertEqual(r.status, 200, r)
        self.assertNotIn(r.json["refresh_token"], (t0["refresh_token"], t1["refresh_token"]))

    def test_reuse_revokes_family(self):
        """OAuth 2.0 Security BCP 4.14.2 / issue 5: presenting an already
        rotated refresh token -> invalid_grant, and the newest refresh token
        and the family's access tokens stop working."""
        t0, _, _ = self.full_login()
        t1 = self.refreshed(t0["refresh_token"])
        t2 = self.refreshed(t1["refresh_token"])
        for t in (t0, t1, t2):
            self.assertEqual(self.api("GET", "Patient/pa", t["access_token"]).status, 200)
        self.assertOAuthError(self.refresh(t0["refresh_token"]), 400, "invalid_grant")
        self.assertOAuthError(self.refresh(t2["refresh_token"]), 400, "invalid_grant")
        for t in (t0, t1, t2):
            self.assert401(self.api("GET", "Patient/pa", t["access_token"]))

    def test_another_clients_refresh_token(self):
        """RFC 6749 6: the refresh token is bound to the client it was issued to."""
        t0, _, _ = self.full_login()
        self.assertOAuthError(self.refresh(t0["refresh_token"], client="app2"), 400, "invalid_grant")

    def test_scope_may_only_narrow(self):
        """RFC 6749 6: the requested scope MUST NOT include any scope not
        originally granted (invalid_scope); a narrower scope is granted and
        enforced."""
        t0, _, _ = self.full_login()
        r = self.refresh(t0["refresh_token"], scope="patient/Observation.rs patient/Patient.r patient/Condition.rs")
        self.assertOAuthError(r, 400, "invalid_scope")
        r = self.refresh(t0["refresh_token"], scope="patient/Observation.crs")
        self.assertOAuthError(r, 400, "invalid_scope")
        t0, _, _ = self.full_login()
        r = self.refresh(t0["refresh_token"], scope="launch/patient patient/Patient.r offline_access")
        self.assertEqual(r.status, 200, r)
        t1 = r.json
        self.assertEqual(scope_set(t1.get("scope")), {"launch/patient", "patient/Patient.r", "offline_access"})
        self.assertEqual(self.api("GET", "Patient/pa", t1["access_token"]).status, 200)
        self.assertOutcome(self.api("GET", "Observation?patient=pa", t1["access_token"]), 403)

    def test_garbage_refresh_token(self):
        """RFC 6749 5.2: an unknown refresh token -> invalid_grant."""
        for rt in ("x", secrets.token_urlsafe(32)):
            with self.subTest(refresh_token=rt):
                self.assertOAuthError(self.refresh(rt), 400, "invalid_grant")

    def test_access_token_is_not_a_refresh_token(self):
        """RFC 6749 6: an access token is not a refresh token -> invalid_grant."""
        t0, _, _ = self.full_login()
        self.assertOAuthError(self.refresh(t0["access_token"]), 400, "invalid_grant")


class TestIntrospection(NegCase):
    """RFC 7662 (client-authenticated; active false for anything not valid)."""

    def introspect(self, token, auth="conf", extra=()):
        pairs = [("token", token)] + list(extra)
        h = {}
        if auth == "conf":
            h["Authorization"] = basic_auth("conf", self.secrets["conf"])
        elif auth == "public":
            pairs.append(("client_id", "app"))
        elif auth == "wrong":
            h["Authorization"] = basic_auth("conf", "wrong-secret")
        return self.form_post("/auth/introspect", pairs, h)

    def assertInactive(self, r):
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json.get("active"), False, r)
        self.assertNotIn("scope", r.json, r)

    def test_active_token(self):
        """RFC 7662 2.2 and issue 5: active true with scope, client_id, exp,
        sub, iss, fhirUser, patient."""
        t, _, _ = self.full_login(scope="openid fhirUser " + SCOPE)
        r = self.introspect(t["access_token"])
        self.assertEqual(r.status, 200, r)
        j = r.json
        self.assertIs(j.get("active"), True, r)
        self.assertEqual(scope_set(j.get("scope")), scope_set(t["scope"]))
        self.assertEqual(j.get("client_id"), "app")
        self.assertIsInstance(j.get("exp"), int)
        self.assertGreater(j["exp"], now())
        self.assertTrue(j.get("sub"))
        self.assertEqual(j.get("iss"), self.issuer())
        self.assertEqual(j.get("patient"), "pa")
        self.assertIn(j.get("fhirUser"), ("Patient/pa", self.base() + "/Patient/pa"))

    def test_inactive_tokens(self):
        """RFC 7662 2.2: garbage, tampered, revoked -> active false."""
        t, _, _ = self.full_login()
        at = t["access_token"]
        tampered = tamper(at, {"scope": "patient/*.cruds"})
        for name, tok in (("garbage", "not-a-token"), ("empty-ish", "a.b.c"), ("tampered", tampered)):
            with self.subTest(token=name):
                self.assertInactive(self.introspect(tok))
        r = self.form_post("/auth/revoke", [("token", at), ("client_id", "app")])
        self.assertEqual(r.status, 200, r)
        self.assertInactive(self.introspect(at))

    def test_expired_token(self):
        """RFC 7662 2.2: an expired token is not active. Forged with the
        server's own key from the store (exp in the past) - no waiting."""
        keys = server_private_jwks(self.server.db)
        if not keys:
            self.skipTest("the server's signing key was not found in the store")
        t, _, _ = self.full_login()
        kid = jwt_split(t["access_token"])[0].get("kid")
        key = [k for k in keys if k["kid"] == kid]
        self.assertTrue(key, "the token's kid is not among the stored keys")
        expired = resign_with(t["access_token"], key[0], claim_changes={"exp": now() - 120, "iat": now() - 3700})
        self.assertInactive(self.introspect(expired))
        self.assert401(self.api("GET", "Patient/pa", expired))

    def test_client_authentication_required(self):
        """RFC 7662 2.1/2.3: the caller must authenticate; a public client, no
        credentials or a wrong secret -> 401 (invalid_client)."""
        t, _, _ = self.full_login()
        for auth in ("public", None, "wrong"):
            with self.subTest(auth=auth):
                r = self.introspect(t["access_token"], auth=auth)
                self.assertEqual(r.status, 401, r)
                self.assertNotIn("active", r.json or {}, r)
                self.assertEqual((r.json or {}).get("error"), "invalid_client", r)


class TestRevocation(NegCase):
    """RFC 7009 and issue 5: a revoked access token stops working at once."""

    def revoke(self, token, client="app", hint=None):
        pairs = [("token", token), ("client_id", client)]
        if hint:
            pairs.append(("token_type_hint", hint))
        return self.form_post("/auth/revoke", pairs)

    def test_revoke_access_token(self):
        """RFC 7009 2 / issue 5: a revoked access token gets 401 at once."""
        t, _, _ = self.full_login()
        at = t["access_token"]
        self.assertEqual(self.api("GET", "Patient/pa", at).status, 200)
        r = self.revoke(at, hint="access_token")
        self.assertEqual(r.status, 200, r)
        self.assert401(self.api("GET", "Patient/pa", at))
        self.assert401(self.api("GET", "Observation?patient=pa", at))

    def test_revoke_refresh_token(self):
        """RFC 7009 2: a revoked refresh token cannot refresh (invalid_grant)."""
        t, _, _ = self.full_login()
        r = self.revoke(t["refresh_token"], hint="refresh_token")
        self.assertEqual(r.status, 200, r)
        self.assertOAuthError(self.refresh(t["refresh_token"]), 400, "invalid_grant")

    def test_revoke_without_hint(self):
        """RFC 7009 2.1: token_type_hint is optional (and only a hint)."""
        t, _, _ = self.full_login()
        self.assertEqual(self.revoke(t["refresh_token"], hint="access_token").status, 200)
        self.assertOAuthError(self.refresh(t["refresh_token"]), 400, "invalid_grant")
        self.assertEqual(self.revoke(t["access_token"]).status, 200)
        self.assert401(self.api("GET", "Patient/pa", t["access_token"]))

    def test_revoke_unknown_token(self):
        """RFC 7009 2.2: an invalid token still gets 200."""
        self.assertEqual(self.revoke("no-such-token").status, 200)

    def test_another_client_cannot_revoke(self):
        """RFC 7009 2.1: the server verifies the token was issued to the
        requesting client; another client's attempt revokes nothing."""
        t, _, _ = self.full_login()
        self.revoke(t["access_token"], client="app2")
        self.revoke(t["refresh_token"], client="app2")
        self.assertEqual(self.api("GET", "Patient/pa", t["access_token"]).status, 200)
        self.assertEqual(self.refresh(t["refresh_token"]).status, 200)

    def test_confidential_revocation_needs_secret(self):
        """RFC 7009 2.1: confidential clients authenticate; a wrong secret -> 401 invalid_client."""
        t, _, _ = self.full_login(client="conf", redirect=CONF, secret=self.secrets["conf"])
        r = self.form_post("/auth/revoke", [("token", t["access_token"])],
                           {"Authorization": basic_auth("conf", "wrong")})
        self.assertOAuthError(r, 401, "invalid_client")
        self.assertEqual(self.api("GET", "Patient/pa", t["access_token"]).status, 200)
        r = self.form_post("/auth/revoke", [("token", t["access_token"])],
                           {"Authorization": basic_auth("conf", self.secrets["conf"])})
        self.assertEqual(r.status, 200, r)
        self.assert401(self.api("GET", "Patient/pa", t["access_token"]))
