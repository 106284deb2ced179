"""SMART App Launch 2.2 flows driven over HTTP like a browser without
JavaScript (hl7.org/fhir/smart-app-launch/app-launch.html): standalone
launch with PKCE for a patient user and for a practitioner with the patient
picker, the consent page (unticking a scope, denying), the token response
(app-launch.html#response-5, RFC 6749 5.1), the id_token
(OpenID Connect Core 2, 3.1.3.7; SMART scopes-and-launch-context.html
fhirUser), the EHR launch with `fhird launch`, and confidential clients
(RFC 6749 2.3.1 client_secret_basic / client_secret_post). Issue 5,
"Endpoints", "Tokens", "Administration"."""
import secrets
import time
import urllib.parse

from smartutil import (APP, APP2, APP_LAUNCH, APP_Q, CONF, PASSWORDS, STD_CLIENTS, STD_SEED, STD_USERS, AuthFlow,
                       SmartCase, aud_list, b64u, parse_forms, scope_set, verify_rs256)

PATIENT_SCOPE = "openid fhirUser launch/patient patient/Patient.r patient/Observation.rs offline_access"
ODD_STATE = "s t+a/t=e&%20<é>\"'"


class LaunchCase(SmartCase):
    SEED = STD_SEED
    CLIENTS = STD_CLIENTS
    USERS = STD_USERS

    def assertRedirectTo(self, res, redirect):
        """The flow ended in a redirect to exactly the registered redirect_uri
        (RFC 6749 4.1.2: its query kept, code and state added)."""
        self.assertEqual(res.kind, "redirect", "flow ended on a page: %r" % res)
        self.assertIn(res.resp.status, (302, 303), res.resp)
        got = urllib.parse.urlsplit(res.url)
        want = urllib.parse.urlsplit(redirect)
        self.assertEqual((got.scheme, got.netloc, got.path), (want.scheme, want.netloc, want.path), res.url)
        for k, v in urllib.parse.parse_qsl(want.query):
            self.assertIn((k, v), res.pairs, res.url)
        self.assertEqual(got.fragment, "", "code must be in the query, not a fragment: %s" % res.url)


class TestStandalonePatient(LaunchCase):
    @classmethod
    def after_setup(cls):
        """One patient launch for the whole class (state with odd characters, nonce)."""
        cls.nonce = "n-" + secrets.token_hex(8)
        cls.flow_result = cls.token_resp = cls.flow = None
        cls.setup_error = None
        self = cls("test_token_response")
        try:
            res, verifier, params, flow = self.get_code("app", APP, PATIENT_SCOPE, "alice", PASSWORDS["alice"],
                                                        state=ODD_STATE, nonce=cls.nonce)
            cls.flow_result, cls.flow, cls.params = res, flow, params
            if res.kind == "redirect" and res.code:
                cls.token_resp = self.exchange(res.code, verifier, "app", APP)
        except Exception as e:  # reported by every test instead of one setUpClass error
            cls.setup_error = "%s: %s" % (type(e).__name__, e)

    def setUp(self):
        if self.setup_error:
            self.fail("the standalone launch failed: " + self.setup_error)

    def tok(self):
        r = self.token_resp
        self.assertIsNotNone(r, "no code came back: %r" % self.flow_result)
        self.assertEqual(r.status, 200, r)
        return r.json

    def test_redirect_with_code_and_exact_state(self):
        """RFC 6749 4.1.2: redirect to the registered redirect_uri with code
        and state exactly as sent (here with spaces, +, /, =, &, %, <, >,
        quotes and a non-ASCII letter); no token in the redirect."""
        res = self.flow_result
        self.assertRedirectTo(res, APP)
        self.assertEqual(res.params.get("state"), ODD_STATE)
        self.assertTrue(res.params.get("code"))
        self.assertEqual([k for k, _ in res.pairs].count("state"), 1, res.url)
        self.assertNotIn("access_token", res.params)

    def test_login_and_consent_pages_seen(self):
        """Issue 5: server-rendered login and consent pages (a patient user
        is not shown the patient picker: its patient is itself)."""
        kinds = set()
        for _, r in self.flow.pages:
            for f in parse_forms(r.body):
                kinds.add(AuthFlow.classify(f))
        self.assertIn("login", kinds)
        self.assertIn("consent", kinds)
        self.assertNotIn("pick", kinds)

    def test_token_response(self):
        """app-launch.html#response-5: access_token, token_type Bearer,
        expires_in, scope, patient, need_patient_banner, id_token (openid),
        refresh_token (offline_access); RFC 6749 5.1 headers."""
        r = self.token_resp
        self.assertIsNotNone(r, self.flow_result)
        self.assertEqual(r.status, 200, r)
        self.assertNoStore(r)
        self.assertTrue((r.header("content-type") or "").startswith("application/json"), r)
        t = r.json
        self.assertTrue(t.get("access_token"))
        self.assertEqual(t.get("token_type"), "Bearer")
        self.assertIsInstance(t.get("expires_in"), int)
        self.assertTrue(0 < t["expires_in"] <= 3600, t)
        self.assertEqual(scope_set(t.get("scope")), scope_set(PATIENT_SCOPE))
        self.assertEqual(t.get("patient"), "pa")
        self.assertIsInstance(t.get("need_patient_banner"), bool)
        self.assertTrue(t.get("id_token"))
        self.assertTrue(t.get("refresh_token"))

    def test_access_token_works(self):
        """The granted scopes work for the patient in context (scopes-and-launch-context.html)."""
        t = self.tok()
        r = self.api("GET", "Patient/pa", t["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["id"], "pa")
        r = self.api("GET", "Observation?patient=pa", t["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual({e["resource"]["id"] for e in r.json.get("entry") or []}, {"obs-a"})

    def test_access_token_is_signed_jwt(self):
        """Issue 5 "Tokens": the access token is an RS256 JWT verifiable with
        /auth/jwks, aud = FHIR base, iss, exp <= 1 h, jti, client_id, scope,
        patient."""
        t = self.tok()
        header, c = verify_rs256(t["access_token"], self.jwks())
        self.assertEqual(header["alg"], "RS256")
        self.assertIn(self.base(), aud_list(c))
        self.assertEqual(c.get("iss"), self.issuer())
        self.assertTrue(c.get("jti"))
        self.assertEqual(c.get("client_id"), "app")
        self.assertEqual(scope_set(c.get("scope")), scope_set(t["scope"]))
        self.assertEqual(c.get("patient"), "pa")
        self.assertLessEqual(c["exp"] - c["iat"], 3600)
        self.assertGreater(c["exp"], time.time())

    def test_id_token(self):
        """OpenID Connect Core 3.1.3.7 and SMART scopes-and-launch-context.html
        (fhirUser): RS256 signature against the JWKS, iss = issuer, sub,
        aud = client_id, exp, iat, nonce echoed, fhirUser an absolute
        resolvable URL of the user's Patient."""
        t = self.tok()
        header, c = verify_rs256(t["id_token"], self.jwks())
        self.assertEqual(c.get("iss"), self.issuer())
        self.assertTrue(c.get("sub"))
        self.assertIn("app", aud_list(c))
        if isinstance(c.get("aud"), list) and len(c["aud"]) > 1:
            self.assertEqual(c.get("azp"), "app")
        self.assertGreater(c.get("exp", 0), time.time())
        self.assertLessEqual(c.get("iat", 1 << 40), time.time() + 60)
        self.assertEqual(c.get("nonce"), self.nonce)
        self.assertEqual(c.get("fhirUser"), self.base() + "/Patient/pa")
        r = self.api("GET", c["fhirUser"], t["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json.get("id"), "pa")

    def test_id_token_is_not_an_access_token(self):
        """Issue 5 "Enforcement": a token whose aud is not the FHIR base (the
        id_token: aud = client_id) gets 401 invalid_token."""
        self.assert401(self.api("GET", "Patient/pa", self.tok()["id_token"]))


class TestStandaloneVariants(LaunchCase):
    CLIENTS = STD_CLIENTS + (
        {"id": "evil-name", "type": "public", "redirect": APP, "name": '<script>alert("x")</script>&amp;'},)

    def test_practitioner_patient_picker(self):
        """app-launch.html (launch/patient, standalone): a user-level login gets
        the patient picker; the token carries the picked patient and
        patient/ scopes then confine to it; id_token fhirUser is the
        Practitioner."""
        scope = "openid fhirUser launch/patient patient/*.rs"
        res, verifier, _, flow = self.get_code("app", APP, scope, "drsmith", PASSWORDS["drsmith"], patient="pb")
        self.assertRedirectTo(res, APP)
        kinds = {AuthFlow.classify(f) for _, r in flow.pages for f in parse_forms(r.body)}
        self.assertIn("pick", kinds)
        r = self.exchange(res.code, verifier, "app", APP)
        self.assertEqual(r.status, 200, r)
        t = r.json
        self.assertEqual(t.get("patient"), "pb")
        _, idc = verify_rs256(t["id_token"], self.jwks())
        self.assertEqual(idc.get("fhirUser"), self.base() + "/Practitioner/pr1")
        self.assertEqual(self.api("GET", "Patient/pb", t["access_token"]).status, 200)
        r = self.api("GET", "Observation", t["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual({e["resource"]["id"] for e in r.json.get("entry") or []}, {"obs-b"})
        self.assertIn(self.api("GET", "Patient/pa", t["access_token"]).status, (403, 404))

    def test_untick_scope(self):
        """Issue 5: the consent page lets the user untick a requested scope;
        it is then missing from the granted scope (RFC 6749 5.1: scope
        returned when it differs) and not usable."""
        t = self.login_token("app", APP, PATIENT_SCOPE, "alice", PASSWORDS["alice"],
                             untick=("patient/Observation.rs",))
        granted = scope_set(t.get("scope"))
        self.assertNotIn("patient/Observation.rs", granted)
        self.assertIn("patient/Patient.r", granted)
        self.assertOutcome(self.api("GET", "Observation?patient=pa", t["access_token"]), 403)
        self.assertEqual(self.api("GET", "Patient/pa", t["access_token"]).status, 200)

    def test_deny(self):
        """RFC 6749 4.1.2.1: the user denies -> redirect with
        error=access_denied and the exact state, no code."""
        res, _, params, _ = self.get_code("app", APP, PATIENT_SCOPE, "alice", PASSWORDS["alice"], approve=False,
                                          state=ODD_STATE)
        self.assertRedirectTo(res, APP)
        self.assertEqual(res.params.get("error"), "access_denied")
        self.assertEqual(res.params.get("state"), ODD_STATE)
        self.assertNotIn("code", res.params)

    def test_no_refresh_or_id_token_unless_granted(self):
        """Issue 5: refresh_token only with offline_access/online_access,
        id_token only with openid."""
        t = self.login_token("app", APP, "launch/patient patient/Patient.r", "alice", PASSWORDS["alice"])
        self.assertNotIn("refresh_token", t)
        self.assertNotIn("id_token", t)
        self.assertEqual(t.get("patient"), "pa")

    def test_online_access_gives_refresh_token(self):
        """scopes-and-launch-context.html (online_access) / issue 5."""
        t = self.login_token("app", APP, "launch/patient patient/Patient.r online_access", "alice",
                             PASSWORDS["alice"])
        self.assertTrue(t.get("refresh_token"))

    def test_v1_scopes_accepted(self):
        """Issue 5: v1 scopes (patient/Observation.read) are accepted and
        grant read/search (scopes-and-launch-context.html#scopes-for-requesting-fhir-resources, v1)."""
        t = self.login_token("app", APP, "launch/patient patient/Observation.read", "alice", PASSWORDS["alice"])
        self.assertEqual(self.api("GET", "Observation?patient=pa", t["access_token"]).status, 200)
        self.assertEqual(self.api("GET", "Observation/obs-a", t["access_token"]).status, 200)
        self.assertOutcome(self.api("POST", "Observation", t["access_token"],
                                    {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                                     "subject": {"reference": "Patient/pa"}}), 403)

    def test_redirect_uri_query_kept(self):
        """RFC 6749 3.1.2: a registered redirect URI's query is retained when
        code and state are added."""
        res, verifier, _, _ = self.get_code("app", APP_Q, "launch/patient patient/Patient.r", "alice",
                                            PASSWORDS["alice"])
        self.assertRedirectTo(res, APP_Q)
        self.assertEqual(res.params.get("tenant"), "1")
        r = self.exchange(res.code, verifier, "app", APP_Q)
        self.assertEqual(r.status, 200, r)

    def test_authorize_post(self):
        """SMART 2.2 capability authorize-post: the authorize request may be
        a form POST."""
        res, verifier, _, _ = self.get_code("app", APP, "launch/patient patient/Patient.r", "alice",
                                            PASSWORDS["alice"], method="POST")
        self.assertRedirectTo(res, APP)
        self.assertEqual(self.exchange(res.code, verifier, "app", APP).status, 200)

    def test_page_headers(self):
        """Issue 5 / oauth.h: pages are not cached, not framable
        (frame-ancestors 'none', X-Frame-Options DENY), HTML; the request
        cookie is HttpOnly and SameSite=Strict; forms carry a CSRF token."""
        flow = AuthFlow(self.server)
        res = flow.authorize(self.auth_params("app", APP, "launch/patient patient/Patient.r",
                                              challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"))
        self.assertEqual(res.kind, "page", res)
        r = res.resp
        self.assertEqual(r.status, 200, r)
        self.assertTrue((r.header("content-type") or "").startswith("text/html"), r)
        self.assertIn("no-store", (r.header("cache-control") or "").lower())
        self.assertIn("frame-ancestors 'none'", r.header("content-security-policy") or "")
        self.assertEqual((r.header("x-frame-options") or "").upper(), "DENY")
        self.assertTrue(flow.set_cookie_lines, "no cookie binds the authorization to the browser")
        for line in flow.set_cookie_lines:
            low = line.lower().replace(" ", "")
            self.assertIn("httponly", low, line)
            self.assertIn("samesite=strict", low, line)
        forms = parse_forms(r.body)
        self.assertTrue(forms, r)
        from smartutil import csrf_field
        self.assertTrue(all(csrf_field(f) for f in forms if f["method"] == "post"), forms)

    def test_pages_escape(self):
        """Issue 5: everything on the pages is escaped (client name and state
        with markup never appear raw)."""
        evil_state = '"><img src=x onerror=alert(1)>'
        res, _, _, flow = self.get_code("evil-name", APP, "launch/patient patient/Patient.r", "alice",
                                        PASSWORDS["alice"], state=evil_state)
        self.assertTrue(flow.pages)
        for url, r in flow.pages:
            text = r.text
            self.assertNotIn('<script>alert("x")', text, url)
            self.assertNotIn("<img src=x", text, url)
        self.assertEqual(res.params.get("state"), evil_state)

    def test_wrong_password(self):
        """A wrong password issues no code (and does not leave the server)."""
        res, _, _, flow = self.get_code("app", APP, "launch/patient patient/Patient.r", "alice", "not-her-password")
        self.assertIn("login", [AuthFlow.classify(f) for _, r in flow.pages for f in parse_forms(r.body)])
        self.assertNotEqual(res.kind, "redirect", res)
        self.assertNoCode(res)


class TestEhrLaunch(LaunchCase):
    SCOPE = "launch openid fhirUser patient/*.rs"

    def ehr_flow(self, client, redirect, launch, user="drsmith"):
        return self.get_code(client, redirect, self.SCOPE, user, PASSWORDS[user], launch=launch)

    def test_launch_url(self):
        """Issue 5 / app-launch.html#step-1: `fhird launch` prints the client's
        launch URL with iss = the FHIR base and an opaque launch value."""
        url, launch, iss = self.ehr_launch("app", "pa")
        self.assertTrue(url.startswith(APP_LAUNCH + "?"), url)
        self.assertEqual(iss, self.base())
        self.assertTrue(launch)
        _, launch2, _ = self.ehr_launch("app", "pa")
        self.assertNotEqual(launch, launch2)

    def test_ehr_launch_context(self):
        """app-launch.html (EHR launch, scope launch): the token response
        carries the launch's patient and encounter; fhirContext, when sent,
        is an array of objects with reference/canonical/identifier and names
        Patient/Encounter only with a role other than launch (SMART 2.2)."""
        _, launch, _ = self.ehr_launch("app", "pa", encounter="enc-a")
        res, verifier, _, _ = self.ehr_flow("app", APP, launch)
        self.assertRedirectTo(res, APP)
        r = self.exchange(res.code, verifier, "app", APP)
        self.assertEqual(r.status, 200, r)
        t = r.json
        self.assertEqual(t.get("patient"), "pa")
        self.assertEqual(t.get("encounter"), "enc-a")
        self.assertIsInstance(t.get("need_patient_banner"), bool)
        ctx = t.get("fhirContext")
        if ctx is not None:
            self.assertIsInstance(ctx, list)
            for item in ctx:
                self.assertIsInstance(item, dict)
                self.assertTrue({"reference", "canonical", "identifier"} & set(item), item)
                refv = item.get("reference") or ""
                if refv.startswith(("Patient/", "Encounter/")):
                    self.assertNotIn(item.get("role", "launch"), ("launch",), item)
        self.assertEqual(self.api("GET", "Encounter/enc-a", t["access_token"]).status, 200)
        self.assertEqual(self.api("GET", "Patient/pa", t["access_token"]).status, 200)
        self.assertIn(self.api("GET", "Patient/pb", t["access_token"]).status, (403, 404))

    def test_ehr_launch_without_encounter(self):
        """No --encounter: patient context only."""
        _, launch, _ = self.ehr_launch("app", "pb")
        res, verifier, _, _ = self.ehr_flow("app", APP, launch)
        self.assertRedirectTo(res, APP)
        t = self.exchange(res.code, verifier, "app", APP).json
        self.assertEqual(t.get("patient"), "pb")
        self.assertNotIn("encounter", t)

    def test_launch_single_use(self):
        """Issue 5: the launch value is single-use: a second authorization with
        it issues no code."""
        _, launch, _ = self.ehr_launch("app", "pa")
        res, verifier, _, _ = self.ehr_flow("app", APP, launch)
        self.assertEqual(self.exchange(res.code, verifier, "app", APP).status, 200)
        res2, _, params, _ = self.ehr_flow("app", APP, launch)
        self.assertNoCode(res2)
        if res2.kind == "redirect":
            self.assertTrue(res2.error, res2)
            self.assertEqual(res2.params.get("state"), params["state"])

    def test_launch_bound_to_client(self):
        """Issue 5: the launch value belongs to the client it was made for."""
        _, launch, _ = self.ehr_launch("app", "pa")
        res, _, _, _ = self.ehr_flow("app2", APP2, launch)
        self.assertNoCode(res)
        self.assertGenuineLaunchWorks()

    def assertGenuineLaunchWorks(self):
        """Control for the refusals: a fresh launch value of the right client gives a code."""
        _, launch, _ = self.ehr_launch("app", "pa")
        res, verifier, _, _ = self.ehr_flow("app", APP, launch)
        self.assertEqual(res.kind, "redirect", res)
        self.assertTrue(res.code, res)

    def test_forged_launch(self):
        """Issue 5 ("the launch parameter was decoded without verification"):
        an unknown or altered launch value issues no code."""
        _, launch, _ = self.ehr_launch("app", "pa")
        altered = launch[:-1] + ("A" if launch[-1] != "A" else "B")
        for value in (altered, b64u('{"patient":"pb"}'), "pb", "x" * 40):
            with self.subTest(launch=value):
                self.assertNoCode(self.ehr_flow("app", APP, value)[0])
        self.assertGenuineLaunchWorks()


class TestConfidentialClient(LaunchCase):
    SCOPE = "launch/patient patient/Patient.r offline_access"

    def test_client_secret_basic(self):
        """RFC 6749 2.3.1 (HTTP Basic, form-urlencoded id:secret)."""
        res, verifier, _, _ = self.get_code("conf", CONF, self.SCOPE, "alice", PASSWORDS["alice"])
        self.assertRedirectTo(res, CONF)
        r = self.exchange(res.code, verifier, "conf", CONF, secret=self.secrets["conf"], method="basic")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json.get("patient"), "pa")
        self.assertEqual(self.api("GET", "Patient/pa", r.json["access_token"]).status, 200)

    def test_client_secret_post(self):
        """RFC 6749 2.3.1 (client_id and client_secret in the body)."""
        res, verifier, _, _ = self.get_code("conf", CONF, self.SCOPE, "alice", PASSWORDS["alice"])
        r = self.exchange(res.code, verifier, "conf", CONF, secret=self.secrets["conf"], method="post")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json.get("refresh_token"))

    def test_confidential_client_must_authenticate(self):
        """RFC 6749 3.2.1: a confidential client authenticates at the token
        endpoint; client_id alone -> 401 invalid_client (issue 5)."""
        res, verifier, _, _ = self.get_code("conf", CONF, self.SCOPE, "alice", PASSWORDS["alice"])
        r = self.exchange(res.code, verifier, "conf", CONF)
        self.assertOAuthError(r, 401, "invalid_client")

    def test_secret_printed_once(self):
        """Issue 5 / registry.h: the secret is printed at registration only;
        `fhird client list` never shows it."""
        from smartutil import cli
        rc, out, err = cli("client", "list", "--db", self.server.db)
        self.assertEqual(rc, 0, err)
        self.assertIn("conf", out)
        self.assertNotIn(self.secrets["conf"], out + err)
