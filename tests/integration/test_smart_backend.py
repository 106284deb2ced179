"""SMART Backend Services (hl7.org/fhir/smart-app-launch/backend-services.html,
client-confidential-asymmetric.html): client_credentials with a private_key_jwt
client assertion (RFC 7523 2.2/3, RFC 7521 4.2) signed RS384 or ES384 with a
registered JWKS, and every rule of issue 5 for assertions: iss = sub =
client_id, aud = the token URL, exp at most 5 minutes ahead, jti never reused
within its lifetime, kid selecting exactly one registered key of the matching
kty, alg pinned (no none, no HS256 with a public key, no RS256), jku only when
it equals the registered JWKS URL. Failures are invalid_client with 401
(client-confidential-asymmetric.html "Response", RFC 6749 5.2)."""
import hashlib
import hmac
import secrets

from smartutil import (ASSERTION_TYPE, ClientKey, SmartCase, STD_SEED, aud_list, b64u_int, backend_client,
                       client_assertion, jwt_make, rsa_public_pem, scope_set, tamper, verify_rs256, now)


class TestBackendServices(SmartCase):
    SEED = STD_SEED
    CLIENTS = (
        backend_client("bk", ["rsa", "ec"]),
        backend_client("bk2", ["rsa2"]),
        {"id": "app", "type": "public", "redirect": "https://app.example.org/cb"},
        backend_client("bk-narrow", ["rsa3"], scope="system/Observation.rs"),
    )

    @classmethod
    def make_keys(cls):
        d = cls.workdir
        cls.keys["rsa"] = ClientKey(d, "RSA", "bk-rsa-1", bits=2048)
        cls.keys["ec"] = ClientKey(d, "EC", "bk-ec-1")
        cls.keys["rsa2"] = ClientKey(d, "RSA", "bk2-rsa", bits=3072)
        cls.keys["rsa3"] = ClientKey(d, "RSA", "bk3-rsa", bits=2048)
        # an unregistered key that claims a registered kid
        cls.keys["rogue"] = ClientKey(d, "RSA", "bk-rsa-1", bits=2048)
        cls.keys["rogue_ec"] = ClientKey(d, "EC", "bk-ec-1")

    def cc(self, assertion, scope="system/*.rs", assertion_type=ASSERTION_TYPE, extra=()):
        p = [("grant_type", "client_credentials"), ("scope", scope)]
        if assertion_type is not None:
            p.append(("client_assertion_type", assertion_type))
        if assertion is not None:
            p.append(("client_assertion", assertion))
        p += list(extra)
        return self.token_req(p)

    def assertion(self, key="rsa", client="bk", **kw):
        return client_assertion(self.keys[key], client, self.token_url(), **kw)

    def assertRefused(self, r):
        self.assertOAuthError(r, 401, "invalid_client")

    # ---- success

    def check_token(self, r, scope, client="bk"):
        self.assertEqual(r.status, 200, r)
        self.assertNoStore(r)
        t = r.json
        self.assertEqual(t.get("token_type"), "Bearer")
        self.assertIsInstance(t.get("expires_in"), int)
        self.assertTrue(0 < t["expires_in"] <= 3600, t)
        self.assertEqual(scope_set(t.get("scope")), scope_set(scope))
        _, c = verify_rs256(t["access_token"], self.jwks())
        self.assertIn(self.base(), aud_list(c))
        self.assertEqual(c.get("client_id"), client)
        self.assertEqual(c.get("iss"), self.issuer())
        return t

    def test_rs384(self):
        """backend-services.html#obtaining-an-access-token with RS384."""
        t = self.check_token(self.cc(self.assertion("rsa")), "system/*.rs")
        self.assertEqual(self.api("GET", "Patient/pa", t["access_token"]).status, 200)

    def test_rs384_3072_bit_key(self):
        """client-confidential-asymmetric.html: RSA keys of 2048 bits or more (3072 here)."""
        self.check_token(self.cc(self.assertion("rsa2", client="bk2")), "system/*.rs", client="bk2")

    def test_es384(self):
        """client-confidential-asymmetric.html: ES384 (P-384, raw r||s signature)."""
        t = self.check_token(self.cc(self.assertion("ec")), "system/*.rs")
        self.assertEqual(self.api("GET", "Patient/pb", t["access_token"]).status, 200)

    def test_backend_token_can_search(self):
        """A system/*.rs token searches across patients; writes need c/u/d."""
        t = self.check_token(self.cc(self.assertion("rsa")), "system/*.rs")
        r = self.api("GET", "Patient?_count=50", t["access_token"])
        self.assertEqual(r.status, 200, r)
        ids = {e["resource"]["id"] for e in r.json.get("entry") or []}
        self.assertLessEqual({"pa", "pb"}, ids)
        r = self.api("GET", "Observation?subject=Patient/pb", t["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual({e["resource"]["id"] for e in r.json.get("entry") or []}, {"obs-b"})
        self.assertOutcome(self.api("POST", "Patient", t["access_token"],
                                    {"resourceType": "Patient", "name": [{"family": "New"}]}), 403)

    def test_scope_limited_to_registration(self):
        """Issue 5 / scope.h: the grant is at most what the client is
        registered for: a backend client registered for system/Observation.rs
        gets no Patient access (scope narrowed, or invalid_scope)."""
        r = self.cc(self.assertion("rsa3", client="bk-narrow"), scope="system/*.rs")
        if r.status == 200:
            self.assertNotIn("system/*.rs", scope_set(r.json.get("scope")))
            self.assertOutcome(self.api("GET", "Patient/pa", r.json["access_token"]), 403)
        else:
            self.assertOAuthError(r, 400, "invalid_scope")

    # ---- assertion rules

    def test_jti_reuse(self):
        """backend-services.html / issue 5: a jti is never accepted twice within its lifetime."""
        jti = secrets.token_hex(16)
        self.assertEqual(self.cc(self.assertion("rsa", jti=jti)).status, 200)
        self.assertRefused(self.cc(self.assertion("rsa", jti=jti)))
        self.assertRefused(self.cc(self.assertion("ec", jti=jti)))
        self.assertEqual(self.cc(self.assertion("rsa")).status, 200)

    def test_replayed_assertion(self):
        """The very same assertion twice (same jti) -> the second is refused."""
        a = self.assertion("ec")
        self.assertEqual(self.cc(a).status, 200)
        self.assertRefused(self.cc(a))

    def test_exp_too_far_ahead(self):
        """client-confidential-asymmetric.html: exp no more than five minutes in the future."""
        for secs in (400, 3600, 86400 * 365):
            with self.subTest(exp_in=secs):
                self.assertRefused(self.cc(self.assertion("rsa", exp_in=secs)))

    def test_expired(self):
        """client-confidential-asymmetric.html: an assertion whose exp has passed -> invalid_client."""
        for secs in (-120, -3600):
            with self.subTest(exp_in=secs):
                self.assertRefused(self.cc(self.assertion("rsa", exp_in=secs)))

    def test_missing_claims(self):
        """RFC 7523 3: iss, sub, aud, exp are required; SMART requires jti."""
        for claim in ("iss", "sub", "aud", "exp", "jti"):
            with self.subTest(missing=claim):
                self.assertRefused(self.cc(self.assertion("rsa", drop=(claim,))))

    def test_wrong_aud(self):
        """RFC 7523 3 / issue 5: aud = the token endpoint URL exactly."""
        for aud in (self.base(), self.issuer(), self.token_url() + "/", self.server.origin + "/token",
                    "https://other.example.com/auth/token"):
            with self.subTest(aud=aud):
                self.assertRefused(self.cc(self.assertion("rsa", claims_extra={"aud": aud})))

    def test_iss_not_sub(self):
        """client-confidential-asymmetric.html: iss and sub both the client_id."""
        self.assertRefused(self.cc(self.assertion("rsa", claims_extra={"sub": "bk2"})))
        self.assertRefused(self.cc(self.assertion("rsa", claims_extra={"iss": "bk2"})))
        # a registered client naming itself with another client's key
        self.assertRefused(self.cc(self.assertion("rsa2", client="bk")))

    def test_unknown_client(self):
        """RFC 7523 3 / RFC 6749 5.2: iss/sub naming no registered client -> invalid_client."""
        self.assertRefused(self.cc(self.assertion("rsa", client="nobody")))

    def test_unknown_kid(self):
        """Issue 5: kid must select a registered key (also: no kid at all)."""
        self.assertRefused(self.cc(self.assertion("rsa", kid="no-such-kid")))
        self.assertRefused(self.cc(self.assertion("rsa", kid="")))
        self.assertRefused(self.cc(self.assertion("rsa", kid=False)))

    def test_kid_of_other_kty(self):
        """Issue 5: kid selects a key of the matching kty: RS384 naming the EC key's kid, ES384 naming the RSA key's."""
        self.assertRefused(self.cc(self.assertion("rsa", kid=self.keys["ec"].kid)))
        self.assertRefused(self.cc(self.assertion("ec", kid=self.keys["rsa"].kid)))

    def test_signed_by_unregistered_key(self):
        """A key that is not registered, under a registered kid -> the signature fails."""
        self.assertRefused(self.cc(self.assertion("rogue")))
        self.assertRefused(self.cc(self.assertion("rogue_ec")))

    def test_alg_none(self):
        """RFC 8725 3.1 / issue 5: never alg none (any casing), unsigned."""
        for alg in ("none", "None", "NONE", "nOnE"):
            with self.subTest(alg=alg):
                self.assertRefused(self.cc(self.assertion("rsa", alg=alg, signer=lambda si: b"")))

    def test_hs256_with_public_key(self):
        """RFC 8725 2.1/3.1: no symmetric algorithm keyed with the registered public key."""
        k = self.keys["rsa"]
        pem = k.public_pem()
        variants = {"pem": pem, "pem-stripped": pem.strip(), "der": k.spki,
                    "n": b64u_int(k.public["n"]).to_bytes(256, "big"),
                    "jwk-json": __import__("json").dumps(k.jwk()).encode(),
                    "rebuilt-pem": rsa_public_pem(b64u_int(k.public["n"]), b64u_int(k.public["e"]))}
        for name, secret in variants.items():
            for alg, h in (("HS256", hashlib.sha256), ("HS384", hashlib.sha384)):
                with self.subTest(key=name, alg=alg):
                    signer = (lambda s, hh: (lambda si: hmac.new(s, si, hh).digest()))(secret, h)
                    self.assertRefused(self.cc(self.assertion("rsa", alg=alg, signer=signer)))

    def test_rs256_instead_of_rs384(self):
        """Issue 5: RS384 and ES384 only; a correct RS256 signature is refused (so are RS512, PS384, ES256)."""
        self.assertRefused(self.cc(self.assertion("rsa", alg="RS256")))
        self.assertRefused(self.cc(self.assertion("rsa", alg="RS512")))
        self.assertRefused(self.cc(self.assertion("rsa", alg="PS384", signer=self.keys["rsa"].signer("RS384"))))
        self.assertRefused(self.cc(self.assertion("ec", alg="ES256", signer=self.keys["ec"].signer("ES384"))))

    def test_es384_der_signature(self):
        """RFC 7518 3.4: ECDSA JWS signatures are raw r||s, not DER."""
        k = self.keys["ec"]
        from smartutil import openssl
        self.assertRefused(self.cc(self.assertion("ec", signer=lambda si: openssl("dgst", "-sha384", "-sign", k.path,
                                                                                   data=si))))

    def test_jku_not_registered(self):
        """Issue 5 / backend-services.html: a jku header is honoured only when
        it equals the registered JWKS URL (this client registered a JWKS
        file, so any jku is refused); embedded keys (jwk, x5c) are never used."""
        for jku in ("https://attacker.example.com/jwks.json", self.server.origin + "/auth/jwks"):
            with self.subTest(jku=jku):
                self.assertRefused(self.cc(self.assertion("rsa", header_extra={"jku": jku})))
        rogue = self.keys["rogue"]
        self.assertRefused(self.cc(self.assertion("rogue", header_extra={"jwk": rogue.jwk()})))

    def test_tampered_assertion(self):
        """A signed assertion whose claims were changed afterwards."""
        a = self.assertion("rsa")
        self.assertRefused(self.cc(tamper(a, {"exp": now() + 200, "jti": secrets.token_hex(16)})))
        self.assertRefused(self.cc(tamper(a, {"sub": "bk2", "iss": "bk2"})))

    def test_assertion_type(self):
        """RFC 7521 4.2: client_assertion_type must be the JWT bearer URN."""
        for at in ("urn:ietf:params:oauth:client-assertion-type:saml2-bearer", "jwt", None):
            with self.subTest(client_assertion_type=at):
                r = self.cc(self.assertion("rsa"), assertion_type=at)
                self.assertIn(r.status, (400, 401), r)
                self.assertIn((r.json or {}).get("error"), ("invalid_client", "invalid_request"), r)
                self.assertNotIn("access_token", r.json or {}, r)
        r = self.cc(None)
        self.assertIn((r.json or {}).get("error"), ("invalid_client", "invalid_request"), r)

    def test_malformed_assertion(self):
        """RFC 7521 4.2 / RFC 6749 5.2: a malformed assertion gets no token (invalid_client or invalid_request)."""
        for a in ("", "a.b", "a.b.c", "x" * 5000, "..", jwt_make({"alg": "RS384"}, ["not", "an", "object"])):
            with self.subTest(assertion=a[:20]):
                r = self.cc(a)
                self.assertIn(r.status, (400, 401), r)
                self.assertIn((r.json or {}).get("error"), ("invalid_client", "invalid_request"), r)

    def test_public_client_cannot_use_client_credentials(self):
        """RFC 6749 4.4: client_credentials only for confidential clients;
        a public client gets no token (unauthorized_client or invalid_client)."""
        r = self.token_req({"grant_type": "client_credentials", "scope": "system/*.rs"}, "app")
        self.assertIn(r.status, (400, 401), r)
        self.assertIn((r.json or {}).get("error"), ("unauthorized_client", "invalid_client"), r)
        self.assertNotIn("access_token", r.json or {})

    def test_backend_has_no_patient_or_user_scopes(self):
        """Issue 5: system/ scopes only from Backend Services - and Backend
        Services cannot obtain patient/ or user/ access (no user, no patient):
        refused (invalid_scope) or not granted."""
        r = self.cc(self.assertion("rsa"), scope="patient/*.rs user/*.rs")
        if r.status == 200:
            granted = scope_set(r.json.get("scope"))
            self.assertFalse({s for s in granted if s.startswith(("patient/", "user/"))}, granted)
        else:
            self.assertOAuthError(r, 400, "invalid_scope")
