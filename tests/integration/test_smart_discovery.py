"""SMART App Launch 2.2 discovery (hl7.org/fhir/smart-app-launch/conformance.html):
[base]/.well-known/smart-configuration, the OpenID Connect discovery document
at the issuer (openid.net/specs/openid-connect-discovery-1_0.html 3/4), the
JWKS (RFC 7517) and the CapabilityStatement's security section
(rest.security.service SMART-on-FHIR, the oauth-uris extension). Issue 5,
"Endpoints" and "Tokens" (keys generated on first start, rotation)."""

from fhirtest import Server
from smartutil import (SmartCase, aud_list, b64u_int, backend_client, ClientKey, http_req, jwt_split, verify_rs256,
                       STD_SEED)

SMART_CONF = "/fhir/.well-known/smart-configuration"
OIDC_CONF = "/auth/.well-known/openid-configuration"

CAPABILITIES = ("launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric",
                "client-confidential-asymmetric", "sso-openid-connect", "context-banner", "context-style",
                "context-ehr-patient", "context-ehr-encounter", "context-standalone-patient",
                "permission-offline", "permission-patient", "permission-user", "permission-v1",
                "permission-v2", "authorize-post")
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


class TestDiscovery(SmartCase):
    def conf(self, headers=None):
        r = self.http("GET", SMART_CONF, headers=headers)
        self.assertEqual(r.status, 200, r)
        self.assertTrue((r.header("content-type") or "").startswith("application/json"), r)
        self.assertIsInstance(r.json, dict, r)
        return r

    def test_smart_configuration_endpoints(self):
        """SMART 2.2 conformance.html (Metadata: issuer, jwks_uri REQUIRED with
        sso-openid-connect; authorization_endpoint, token_endpoint REQUIRED;
        introspection/revocation RECOMMENDED); issue 5: URLs of our endpoints,
        issuer = origin + /auth; no token needed."""
        c = self.conf().json
        o = self.server.origin
        self.assertEqual(c.get("issuer"), o + "/auth")
        self.assertEqual(c.get("jwks_uri"), o + "/auth/jwks")
        self.assertEqual(c.get("authorization_endpoint"), o + "/auth/authorize")
        self.assertEqual(c.get("token_endpoint"), o + "/auth/token")
        self.assertEqual(c.get("introspection_endpoint"), o + "/auth/introspect")
        self.assertEqual(c.get("revocation_endpoint"), o + "/auth/revoke")

    def test_smart_configuration_lists(self):
        """SMART 2.2 conformance.html: grant_types_supported (REQUIRED),
        token_endpoint_auth_methods_supported, scopes_supported,
        response_types_supported (RECOMMENDED); issue 5: private_key_jwt
        with RS384 and ES384."""
        c = self.conf().json
        self.assertLessEqual({"authorization_code", "refresh_token", "client_credentials"},
                             set(c.get("grant_types_supported") or []))
        self.assertLessEqual({"client_secret_basic", "client_secret_post", "private_key_jwt"},
                             set(c.get("token_endpoint_auth_methods_supported") or []))
        self.assertLessEqual({"RS384", "ES384"}, set(c.get("token_endpoint_auth_signing_alg_values_supported") or []))
        self.assertIn("code", c.get("response_types_supported") or [])
        scopes = set(c.get("scopes_supported") or [])
        self.assertLessEqual({"openid", "fhirUser", "launch", "launch/patient", "offline_access"}, scopes)
        for k in ("grant_types_supported", "token_endpoint_auth_methods_supported", "scopes_supported",
                  "response_types_supported", "capabilities", "code_challenge_methods_supported"):
            self.assertIsInstance(c.get(k), list, k)

    def test_code_challenge_methods_s256_only(self):
        """SMART 2.2 conformance.html: code_challenge_methods_supported REQUIRED,
        SHALL include S256, SHALL NOT include plain; issue 5: exactly ["S256"]."""
        self.assertEqual(self.conf().json.get("code_challenge_methods_supported"), ["S256"])

    def test_capabilities(self):
        """SMART 2.2 conformance.html#capabilities; issue 5 lists the ones we claim."""
        caps = self.conf().json.get("capabilities") or []
        for cap in CAPABILITIES:
            self.assertIn(cap, caps)
        self.assertEqual(len(caps), len(set(caps)), "duplicate capabilities: %r" % caps)

    def test_cors_and_no_auth(self):
        """Issue 5: the discovery documents are public (no token) and CORS-open (*)."""
        for path in (SMART_CONF, OIDC_CONF, "/auth/jwks"):
            with self.subTest(path=path):
                r = self.http("GET", path, headers={"Origin": "https://some-app.example.com"})
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("access-control-allow-origin"), "*", r)

    def test_openid_configuration(self):
        """OpenID Connect Discovery 1.0 section 3/4: at issuer +
        /.well-known/openid-configuration, issuer identical to the issuer
        URL, with the REQUIRED members; id_tokens are RS256 (issue 5)."""
        r = self.http("GET", OIDC_CONF)
        self.assertEqual(r.status, 200, r)
        self.assertTrue((r.header("content-type") or "").startswith("application/json"), r)
        c = r.json
        smart = self.conf().json
        self.assertEqual(c.get("issuer"), self.server.origin + "/auth")
        self.assertEqual(c.get("issuer"), smart.get("issuer"))
        self.assertEqual(c.get("jwks_uri"), smart.get("jwks_uri"))
        self.assertEqual(c.get("authorization_endpoint"), smart.get("authorization_endpoint"))
        self.assertEqual(c.get("token_endpoint"), smart.get("token_endpoint"))
        self.assertIn("code", c.get("response_types_supported") or [])
        self.assertTrue(c.get("subject_types_supported"), c)
        self.assertIn("RS256", c.get("id_token_signing_alg_values_supported") or [])

    def test_jwks_public_rsa_keys(self):
        """RFC 7517/7518 6.3.1: RSA public keys (kty, n, e) with a kid; issue 5:
        only public keys, generated by the server (RSA >= 2048 bits)."""
        r = self.http("GET", "/auth/jwks")
        self.assertEqual(r.status, 200, r)
        keys = (r.json or {}).get("keys")
        self.assertIsInstance(keys, list, r)
        self.assertTrue(keys, r)
        kids = [k.get("kid") for k in keys]
        self.assertEqual(len(kids), len(set(kids)), "kids not unique: %r" % kids)
        for k in keys:
            self.assertEqual(k.get("kty"), "RSA", k)
            self.assertTrue(k.get("kid"), k)
            self.assertGreaterEqual(b64u_int(k["n"]).bit_length(), 2048, k)
            self.assertGreater(b64u_int(k["e"]), 1, k)
            if "alg" in k:
                self.assertEqual(k["alg"], "RS256", k)
            if "use" in k:
                self.assertEqual(k["use"], "sig", k)
            for m in PRIVATE_MEMBERS:
                self.assertNotIn(m, k, "private member %r published" % m)

    def test_capability_statement_security(self):
        """SMART 2.2 conformance.html (CapabilityStatement, deprecated but
        required by issue 5): rest.security.service has the SMART-on-FHIR
        coding and the oauth-uris extension names the same URLs as the
        smart-configuration; metadata needs no token."""
        r = self.http("GET", "/fhir/metadata")
        self.assertEqual(r.status, 200, r)
        rest = r.json["rest"][0]
        sec = rest.get("security") or {}
        codings = [c for s in sec.get("service") or [] for c in s.get("coding") or []]
        self.assertIn(("http://terminology.hl7.org/CodeSystem/restful-security-service", "SMART-on-FHIR"),
                      [(c.get("system"), c.get("code")) for c in codings], sec)
        ext = [e for e in sec.get("extension") or [] if e.get("url") == OAUTH_URIS]
        self.assertEqual(len(ext), 1, sec)
        uris = {e.get("url"): e.get("valueUri") for e in ext[0].get("extension") or []}
        smart = self.conf().json
        self.assertEqual(uris.get("authorize"), smart["authorization_endpoint"])
        self.assertEqual(uris.get("token"), smart["token_endpoint"])
        for name, key in (("introspect", "introspection_endpoint"), ("revoke", "revocation_endpoint")):
            if name in uris:
                self.assertEqual(uris[name], smart[key])

    def test_no_builtin_key(self):
        """Issue 5: the server generates its signing keys on first start, never
        a built-in default key: a second fresh database has other keys."""
        mine = {(k["kid"], k["n"]) for k in self.jwks()["keys"]}
        with Server("--auth", "smart") as other:
            r = http_req(other, "GET", "/auth/jwks")
            self.assertEqual(r.status, 200, r)
            theirs = {(k["kid"], k["n"]) for k in r.json["keys"]}
            self.assertFalse({n for _, n in mine} & {n for _, n in theirs}, "two databases share an RSA key")


class TestLongIssuer(SmartCase):
    """The CapabilityStatement's oauth-uris and the smart-configuration are
    made from one list of URLs (oauth_urls_make): with an issuer of 700
    characters (no limit in the settings) both name the whole URL - the
    CapabilityStatement once cut its URLs at 599 bytes."""
    ISSUER = "http://fhir.example.test/" + "a" * 675 + "/auth"
    SERVER_ARGS = ("--issuer", ISSUER)

    def test_same_long_urls_in_both(self):
        self.assertEqual(len(self.ISSUER), 705)
        smart = self.http("GET", SMART_CONF).json
        self.assertEqual(smart["token_endpoint"], self.ISSUER + "/token")
        r = self.http("GET", "/fhir/metadata")
        self.assertEqual(r.status, 200, r)
        sec = r.json["rest"][0]["security"]
        ext = [e for e in sec.get("extension") or [] if e.get("url") == OAUTH_URIS]
        uris = {e["url"]: e["valueUri"] for e in ext[0]["extension"]}
        self.assertEqual(uris, {"authorize": self.ISSUER + "/authorize", "token": self.ISSUER + "/token",
                                "introspect": self.ISSUER + "/introspect", "revoke": self.ISSUER + "/revoke"})
        self.assertEqual(uris["authorize"], smart["authorization_endpoint"])
        self.assertEqual(uris["introspect"], smart["introspection_endpoint"])
        self.assertEqual(uris["revoke"], smart["revocation_endpoint"])


class TestKeyRotation(SmartCase):
    """Issue 5: `fhird keys rotate` adds a signing key; the old one keeps
    verifying until its tokens expire (token.h). A fixed --base-url keeps the
    token audience across the restart that makes the server sign with the
    new key."""
    PUBLIC = "http://fhir.example.test/fhir"
    SERVER_ARGS = ("--base-url", PUBLIC)
    SEED = STD_SEED
    CLIENTS = (backend_client("bk", ["rsa"]),)

    @classmethod
    def make_keys(cls):
        cls.keys["rsa"] = ClientKey(cls.workdir, "RSA", "rot-rsa")

    @classmethod
    def base(cls):
        return cls.PUBLIC

    @classmethod
    def issuer(cls):
        return "http://fhir.example.test/auth"

    @classmethod
    def token_url(cls):
        return "http://fhir.example.test/auth/token"

    def test_rotation(self):
        """Issue 5 / token.h: after `fhird keys rotate` the old token verifies at once and after a restart; new tokens
        carry the new kid; the JWKS lists both."""
        conf = self.http("GET", SMART_CONF).json
        self.assertEqual(conf.get("token_endpoint"), self.token_url())
        t1 = self.backend_token("bk", self.keys["rsa"], "system/*.rs")["access_token"]
        kid1 = jwt_split(t1)[0]["kid"]
        self.assertEqual(self.api("GET", "Patient/pa", t1).status, 200)
        rc, out, err = __import__("smartutil").cli("keys", "rotate", "--db", self.server.db)
        self.assertEqual(rc, 0, out + err)
        # still valid at once on the running server
        self.assertEqual(self.api("GET", "Patient/pa", t1).status, 200)
        # restart: the newest key signs, the old one still verifies
        self.assertEqual(self.server.stop(), 0)
        self.server.start()
        jwks = self.jwks()
        kids = {k["kid"] for k in jwks["keys"]}
        self.assertIn(kid1, kids)
        self.assertGreaterEqual(len(kids), 2)
        self.assertEqual(self.api("GET", "Patient/pa", t1).status, 200)
        t2 = self.backend_token("bk", self.keys["rsa"], "system/*.rs")["access_token"]
        h2, c2 = verify_rs256(t2, jwks)
        self.assertNotEqual(h2["kid"], kid1)
        self.assertIn(self.PUBLIC, aud_list(c2))
        self.assertEqual(self.api("GET", "Patient/pa", t2).status, 200)
