"""Token attacks at the FHIR API (issue 6 "Token attacks"). Every forged,
altered or foreign token gets 401 with `WWW-Authenticate: Bearer
error="invalid_token"` (RFC 6750 3.1: "The access token provided is expired,
revoked, malformed, or invalid for other reasons") and an OperationOutcome.

The attacks: alg none in all casings with and without a signature part;
HS256/384/512 keyed with our published RSA key (PEM, DER, JWK JSON as served,
the whole JWKS document, modulus bytes); signature stripped; payload altered
under the original signature (patient, scope, exp, aud, iss); validly signed
tokens (re-signed with the server's own key, read from the store as
smartutil does) that are expired, not yet valid (nbf, iat in the future), for
another aud or iss; revoked (RFC 7009); signed by another key (a second
fhird's key, a fresh key under our kid); ECDSA signatures of zeros; kid path
traversal, SQL, overlong, absent, of another type; duplicate JSON members in
header and payload (RFC 7515 4 / RFC 7519 4: reject, or use the last one - a
token that is invalid under either reading must be refused); embedded key
headers (jwk, jku, x5u, x5c); the JWS JSON serializations; extra or
missing segments; 100k-deep JSON in the header.

test_smart_tokens.py holds the first versions of several of these; this is
the compact, complete table.
"""
import base64
import hashlib
import hmac
import json
import secrets

from fhirtest import Server
from secutil import AUTHN, SecAsserts
from smartutil import (APP, PASSWORDS, STD_SEED, STD_USERS, ClientKey, SmartCase, b64u, b64u_int, b64u_json,
                       backend_client, jwt_make, jwt_split, now, rsa_public_pem, rsa_sign_jwk,
                       server_private_jwks, tamper)


def raw_jws(header_json, payload_json, signer):
    """A compact JWS from header and payload given as JSON TEXT (so that they
    may hold duplicate members); signer(signing input) -> signature bytes."""
    si = b64u(header_json.encode()) + "." + b64u(payload_json.encode())
    return si + "." + b64u(signer(si.encode()))


class TokenAttackCase(SecAsserts, SmartCase):
    SEED = STD_SEED
    USERS = STD_USERS
    CLIENTS = ({"id": "app", "type": "public", "redirect": APP}, backend_client("bk", ["rsa"]))

    @classmethod
    def make_keys(cls):
        cls.keys["rsa"] = ClientKey(cls.workdir, "RSA", "sec-tok-rsa")
        # a key nobody registered, claiming the server's kid later
        cls.keys["rogue"] = ClientKey(cls.workdir, "RSA", "rogue", bits=2048)
        cls.keys["rogue_ec"] = ClientKey(cls.workdir, "EC", "rogue-ec")

    @classmethod
    def after_setup(cls):
        cls._tok = None

    def tok(self):
        """A patient token for alice (pa): patient/*.rs."""
        cls = type(self)
        if cls._tok is None:
            t = self.login_token("app", APP, "launch/patient patient/*.rs", "alice", PASSWORDS["alice"])
            self.assertEqual(t.get("patient"), "pa")
            cls._tok = t["access_token"]
        return cls._tok

    def server_key(self):
        keys = server_private_jwks(self.server.db)
        kid = jwt_split(self.tok())[0]["kid"]
        key = [k for k in keys if k["kid"] == kid]
        if not key:
            self.skipTest("the server's signing key was not found in the store")
        return key[0]

    def sign_server(self, si):
        return rsa_sign_jwk(self.server_key(), si, "sha256")

    def assertRefused(self, token, path="Patient/pa"):
        """RFC 6750 3.1 and issue 6: 401, Bearer error="invalid_token", an
        OperationOutcome (code in the security subtree), no leak, the token
        not echoed."""
        r = self.api("GET", path, token)
        self.assertOO(r, 401, AUTHN, echoed=())
        www = r.header("www-authenticate") or ""
        self.assertRegex(www, r'^[Bb]earer\b', self.show(r))
        self.assertRegex(www, r'error="invalid_token"', self.show(r))
        if len(token) > 16:
            self.assertNotIn(token[-16:], r.text)
        return r

    def control(self):
        """The genuine token works (so each refusal is about the change)."""
        r = self.api("GET", "Patient/pa", self.tok())
        self.assertEqual(r.status, 200, r)


class TestAlgorithmAttacks(TokenAttackCase):

    def test_alg_none_all_casings(self):
        """RFC 8725 3.1 / RFC 7518 3.6: alg none (none, None, NONE, nOnE,
        with whitespace) never verifies - with an empty signature part,
        without the third part, with the original signature; kid kept or
        dropped; the patient claim widened to B."""
        self.control()
        at = self.tok()
        h, c, _, _ = jwt_split(at)
        orig_sig = at.split(".")[2]
        for alg in ("none", "None", "NONE", "nOnE", "none ", " none", ""):
            for keep_kid in (True, False):
                hh = dict(h, alg=alg)
                if not keep_kid:
                    hh.pop("kid", None)
                for cc_ in (c, dict(c, patient="pb")):
                    si = b64u_json(hh) + "." + b64u_json(cc_)
                    for tok in (si + ".", si, si + "." + orig_sig):
                        with self.subTest(alg=alg, kid=keep_kid, patient=cc_.get("patient"), parts=tok.count(".") + 1,
                                          sig=tok.endswith(orig_sig)):
                            self.assertRefused(tok)
                            self.assertRefused(tok, "Patient/pb")
        hh = dict(h)
        hh.pop("alg")
        self.assertRefused(b64u_json(hh) + "." + b64u_json(c) + ".")

    def test_hmac_with_our_public_key(self):
        """RFC 8725 2.1/3.1: HS256/384/512 keyed with the server's public key
        as an attacker can fetch it from /auth/jwks: PEM (with and without
        the final newline), DER, the JWK as served, the JWK re-serialised,
        the whole JWKS document, the modulus bytes, the base64url modulus."""
        r = self.http("GET", "/auth/jwks")
        self.assertEqual(r.status, 200, r)
        jwks_body = r.body
        at = self.tok()
        h, c, _, _ = jwt_split(at)
        c = dict(c, patient="pb", scope="patient/*.cruds")
        k = [k for k in r.json["keys"] if k.get("kid") == h["kid"]][0]
        n, e = b64u_int(k["n"]), b64u_int(k["e"])
        pem = rsa_public_pem(n, e)
        der = base64.b64decode(b"".join(pem.strip().splitlines()[1:-1]))
        start = jwks_body.find(b'{"kty"') if b'{"kty"' in jwks_body else jwks_body.find(b"{", 1)
        keys = {"pem": pem, "pem-stripped": pem.strip(), "der": der, "jwk-json": json.dumps(k).encode(),
                "jwk-compact": json.dumps(k, separators=(",", ":")).encode(), "jwks-document": jwks_body,
                "jwk-as-served": jwks_body[start:] if start > 0 else jwks_body,
                "modulus": n.to_bytes((n.bit_length() + 7) // 8, "big"), "modulus-b64u": k["n"].encode()}
        for name, key in keys.items():
            for alg, hf in (("HS256", hashlib.sha256), ("HS384", hashlib.sha384), ("HS512", hashlib.sha512)):
                with self.subTest(key=name, alg=alg):
                    tok = jwt_make(dict(h, alg=alg), c, lambda si: hmac.new(key, si, hf).digest())
                    self.assertRefused(tok, "Patient/pb")

    def test_ecdsa_zero_signatures(self):
        """CVE-2022-21449 class: ECDSA signatures r = s = 0 (raw and DER),
        alg ES256/ES384/ES512, under our kid and under none."""
        at = self.tok()
        h, c, _, _ = jwt_split(at)
        c = dict(c, patient="pb")
        for alg, size in (("ES256", 32), ("ES384", 48), ("ES512", 66)):
            for sig in (b"\x00" * (2 * size), b"0\x06\x02\x01\x00\x02\x01\x00", b""):
                for kid in (h["kid"], None):
                    hh = dict(h, alg=alg)
                    if kid is None:
                        hh.pop("kid")
                    with self.subTest(alg=alg, sig_len=len(sig), kid=kid):
                        self.assertRefused(jwt_make(hh, c, lambda si: sig), "Patient/pb")

    def test_other_algorithms_with_valid_rs256_signature(self):
        """RFC 8725 2.1: the header's alg is pinned to RS256; a valid RS256
        signature under alg RS384/RS512/PS256 (or lower case) is refused."""
        at = self.tok()
        h, c, _, _ = jwt_split(at)
        for alg in ("RS384", "RS512", "PS256", "rs256", "RS256 ", "HS256"):
            with self.subTest(alg=alg):
                self.assertRefused(jwt_make(dict(h, alg=alg), c, self.sign_server))

    def test_signed_by_another_key(self):
        """Issue 6 "from another key": a second fhird's signing key (its own
        database), a fresh RSA key under our kid and under its own kid, an
        EC key - refused; a token of the second fhird is refused here."""
        at = self.tok()
        h, c, _, _ = jwt_split(at)
        rogue = self.keys["rogue"]
        with Server("--auth", "smart") as other:
            r = self.http_other(other, "/auth/jwks")
            self.assertEqual(r.status, 200)
            theirs = server_private_jwks(other.db)
            self.assertTrue(theirs, "the second server's key was not found in its store")
            for k in theirs:
                for kid in (k["kid"], h["kid"]):
                    with self.subTest(key="second fhird", kid=kid):
                        self.assertRefused(jwt_make(dict(h, kid=kid), c, lambda si: rsa_sign_jwk(k, si, "sha256")))
        for kid in (h["kid"], rogue.kid):
            with self.subTest(key="fresh RSA key", kid=kid):
                self.assertRefused(jwt_make(dict(h, kid=kid), c, rogue.signer("RS256")))
        ec = self.keys["rogue_ec"]
        self.assertRefused(jwt_make(dict(h, alg="ES384"), c, ec.signer("ES384")))

    def http_other(self, other, path):
        from smartutil import http_req
        return http_req(other, "GET", path)

    def test_embedded_key_headers(self):
        """RFC 8725 3.10 / issue 5: keys named by the token itself (jwk, jku,
        x5u, x5c) are never used: an attacker's key embedded, with our kid or
        its own, signature by the attacker's key -> 401."""
        at = self.tok()
        h, c, _, _ = jwt_split(at)
        c = dict(c, patient="pb")
        rogue = self.keys["rogue"]
        cert_like = base64.b64encode(rogue.spki).decode()
        for extra in ({"jwk": rogue.jwk(alg="RS256")}, {"jwk": rogue.jwk(alg="RS256"), "kid": rogue.kid},
                      {"jku": "http://127.0.0.1:9/jwks.json"}, {"jku": self.server.origin + "/auth/jwks"},
                      {"x5u": "http://127.0.0.1:9/cert.pem"}, {"x5c": [cert_like]}):
            with self.subTest(header=sorted(extra)):
                self.assertRefused(jwt_make(dict(h, **extra), c, rogue.signer("RS256")), "Patient/pb")


class TestAlteredAndExpired(TokenAttackCase):

    def test_signature_stripped_or_altered(self):
        """Signature removed, emptied, truncated, one bit flipped, replaced
        by another token's signature."""
        at = self.tok()
        hp, sig = at.rsplit(".", 1)
        raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
        flipped = bytearray(raw)
        flipped[-1] ^= 1
        other = self.backend_token("bk", self.keys["rsa"], "system/*.rs")["access_token"]
        for name, tok in (("stripped", hp), ("empty", hp + "."), ("truncated", hp + "." + sig[:-8]),
                          ("bit flipped", hp + "." + b64u(bytes(flipped))),
                          ("zeros", hp + "." + b64u(b"\x00" * len(raw))),
                          ("other token's", hp + "." + other.rsplit(".", 1)[1]),
                          ("padding", hp + "." + sig + "=="), ("doubled", hp + "." + sig + sig)):
            with self.subTest(signature=name):
                self.assertRefused(tok)

    def test_payload_altered(self):
        """JWS integrity: claims changed under the original signature."""
        at = self.tok()
        for change in ({"patient": "pb"}, {"scope": "patient/*.cruds"}, {"scope": "system/*.cruds"},
                       {"exp": now() + 86400 * 365}, {"aud": "https://evil.example/fhir"},
                       {"iss": "https://evil.example/auth"}, {"fhirUser": "Practitioner/pr1"},
                       {"client_id": "bk"}, {"jti": secrets.token_hex(8)}):
            with self.subTest(change=sorted(change)):
                self.assertRefused(tamper(at, change), "Patient/pb" if "patient" in change else "Patient/pa")
        # the same claims re-encoded (whitespace, key order): a different signing input
        h, c, _, _ = jwt_split(at)
        sig = at.rsplit(".", 1)[1]
        reenc = b64u(json.dumps(c, indent=1).encode())
        self.assertRefused(at.split(".")[0] + "." + reenc + "." + sig)

    def resigned(self, header=None, claims=None, drop=()):
        at = self.tok()
        h, c, _, _ = jwt_split(at)
        h.update(header or {})
        c.update(claims or {})
        for d in drop:
            c.pop(d, None)
        return jwt_make(h, c, self.sign_server)

    def test_resigned_control(self):
        """Control: the token re-signed unchanged with the server's key works
        (so the refusals below are about the claims)."""
        r = self.api("GET", "Patient/pa", self.resigned())
        self.assertEqual(r.status, 200, r)

    def test_expired_and_not_yet_valid(self):
        """RFC 7519 4.1.4 (exp: MUST NOT be accepted on or after), 4.1.5 (nbf:
        MUST NOT be accepted before); issue 6 "not yet valid": iat in the
        future too. Validly signed tokens."""
        t = now()
        for name, claims, drop in (
                ("exp now-1", {"exp": t - 1}, ()), ("exp now-3600", {"exp": t - 3600, "iat": t - 7200}, ()),
                ("exp 0", {"exp": 0}, ()), ("exp negative", {"exp": -1}, ()),
                ("exp string", {"exp": str(t + 600)}, ()), ("exp null", {"exp": None}, ()),
                ("exp missing", {}, ("exp",)),
                ("nbf +1h", {"nbf": t + 3600}, ()), ("nbf +1d", {"nbf": t + 86400}, ()),
                ("iat +1h", {"iat": t + 3600}, ()), ("iat +1y", {"iat": t + 86400 * 365}, ())):
            with self.subTest(case=name):
                self.assertRefused(self.resigned(claims=claims, drop=drop))

    def test_wrong_aud_or_iss(self):
        """RFC 7519 4.1.3 (aud: reject when we are not in it) and the issuer
        check (docs/auth.md): validly signed tokens for another audience or
        issuer."""
        base, iss = self.base(), self.issuer()
        for name, claims, drop in (
                ("aud other", {"aud": "https://evil.example/fhir"}, ()), ("aud base/", {"aud": base + "/"}, ()),
                ("aud issuer", {"aud": iss}, ()), ("aud upper", {"aud": base.upper()}, ()),
                ("aud list without us", {"aud": ["https://evil.example/fhir"]}, ()), ("aud empty list", {"aud": []}, ()),
                ("aud missing", {}, ("aud",)), ("aud number", {"aud": 1}, ()),
                ("iss other", {"iss": "https://evil.example/auth"}, ()), ("iss base", {"iss": base}, ()),
                ("iss missing", {}, ("iss",)), ("iss slash", {"iss": iss + "/"}, ())):
            with self.subTest(case=name):
                self.assertRefused(self.resigned(claims=claims, drop=drop))

    def test_revoked(self):
        """RFC 7009 2.1 and docs/auth.md (revocation looked up on every
        request): an access token revoked at /auth/revoke -> 401 at once; a
        revoked refresh token takes its grant's access tokens with it
        (RFC 7009 2.1: SHOULD; fhird stores revocations by grant family)."""
        t = self.login_token("app", APP, "launch/patient patient/*.rs offline_access", "alice", PASSWORDS["alice"])
        self.assertEqual(self.api("GET", "Patient/pa", t["access_token"]).status, 200)
        r = self.form_post("/auth/revoke", [("token", t["access_token"]), ("client_id", "app"),
                                            ("token_type_hint", "access_token")])
        self.assertEqual(r.status, 200, r)
        self.assertRefused(t["access_token"])
        t = self.login_token("app", APP, "launch/patient patient/*.rs offline_access", "alice", PASSWORDS["alice"])
        r = self.form_post("/auth/revoke", [("token", t["refresh_token"]), ("client_id", "app")])
        self.assertEqual(r.status, 200, r)
        self.assertRefused(t["access_token"])


class TestMalformedTokens(TokenAttackCase):

    def test_kid_injection(self):
        """Issue 6: kid path traversal, SQL, very long, absent, empty, of a
        non-existent key, of the wrong JSON type; with the original
        signature, and HS256 keyed with what such a kid would load
        (/dev/null -> empty key, a SQL-selected constant)."""
        at = self.tok()
        h, c, _, _ = jwt_split(at)
        c2 = dict(c, patient="pb")
        kids = ["../../etc/passwd", "../../../../../../dev/null", "/dev/null", "file:///etc/passwd",
                "' OR 1=1 --", "x' UNION SELECT 'secret' --", "\"; DROP TABLE auth; --", "%00", "\u0000",
                "k" * 10000, "no-such-kid-" + secrets.token_hex(4), "", h["kid"] + "x", h["kid"].upper(),
                1, None, ["a"], {"a": 1}]
        for kid in kids:
            hh = dict(h, kid=kid)
            label = repr(kid)[:40]
            with self.subTest(kid=label, sig="original"):
                self.assertRefused(tamper(at, {"patient": "pb"}, {"kid": kid}), "Patient/pb")
            for key in (b"", b"secret", b"\x00"):
                with self.subTest(kid=label, sig="HS256", key=key):
                    self.assertRefused(jwt_make(dict(hh, alg="HS256"), c2, lambda si: hmac.new(key, si, hashlib.sha256)
                                                .digest()), "Patient/pb")
        hh = dict(h)
        hh.pop("kid")
        with self.subTest(kid="absent, valid signature"):
            # docs/auth.md: the key is selected by kid; no kid selects none
            self.assertRefused(jwt_make(hh, c, self.sign_server))

    def test_duplicate_members(self):
        """RFC 7515 4 / RFC 7519 4: with duplicate member names a JWS/JWT is
        rejected, or the lexically last member is used. Each token below is
        validly signed by the server and invalid under both readings (only a
        first-member reading would accept it): 401."""
        key = self.server_key()
        at = self.tok()
        h, c, _, _ = jwt_split(at)
        hdr = json.dumps(h, separators=(",", ":"))
        pl = json.dumps(c, separators=(",", ":"))

        def sign(si):
            return rsa_sign_jwk(key, si, "sha256")

        cases = {
            "header alg RS256 then none": hdr[:-1] + ',"alg":"none"}',
            "header kid ours then bogus": hdr[:-1] + ',"kid":"bogus"}',
        }
        for name, hj in cases.items():
            with self.subTest(case=name):
                self.assertRefused(raw_jws(hj, pl, sign))
        t = now()
        pcases = {
            "exp valid then expired": pl[:-1] + ',"exp":%d}' % (t - 60),
            "aud ours then other": pl[:-1] + ',"aud":"https://evil.example/fhir"}',
            "iss ours then other": pl[:-1] + ',"iss":"https://evil.example/auth"}',
        }
        for name, pj in pcases.items():
            with self.subTest(case=name):
                self.assertRefused(raw_jws(hdr, pj, sign))
        # the same duplicates under the original signature (tampered) as well
        with self.subTest(case="duplicate patient, original signature"):
            self.assertRefused(raw_jws(hdr, pl[:-1] + ',"patient":"pb"}', lambda si: b64u_dec_sig(at)), "Patient/pb")

    def test_serializations_and_segments(self):
        """RFC 6750 2.1 (b64token) / RFC 7515 7: only the compact
        serialization; the JSON serializations (flattened, general, raw or
        base64url-wrapped), extra or missing segments, JWE-shaped tokens,
        whitespace inside -> 401."""
        at = self.tok()
        p0, p1, p2 = at.split(".")
        flattened = json.dumps({"protected": p0, "payload": p1, "signature": p2})
        general = json.dumps({"payload": p1, "signatures": [{"protected": p0, "signature": p2}]})
        for name, tok in (("flattened JSON", flattened), ("general JSON", general),
                          ("flattened JSON b64u", b64u(flattened.encode())), ("general JSON b64u", b64u(general.encode())),
                          ("4 segments", at + ".x"), ("4 segments empty", at + "."), ("JWE-shaped", at + ".a.b"),
                          ("leading dot", "." + at), ("double dot", p0 + ".." + p1 + "." + p2),
                          ("2 segments", p0 + "." + p1), ("1 segment", p0), ("inner space", p0 + ". " + p1 + "." + p2),
                          ("swapped", p1 + "." + p0 + "." + p2), ("standard base64", at.replace("-", "+").replace("_", "/")
                                                                  if ("-" in at or "_" in at) else at + "+"),
                          ("percent-encoded dots", at.replace(".", "%2E"))):
            with self.subTest(token=name):
                self.assertRefused(tok)

    def test_hostile_json_in_token(self):
        """A header or payload that is 100k-deep JSON, not an object, huge
        numbers, invalid UTF-8, NUL: 401 and the server keeps serving."""
        at = self.tok()
        p0, p1, p2 = at.split(".")
        deep = "[" * 20000 + "]" * 20000
        for name, hj, pj in (("deep header", '{"alg":"RS256","x":%s}' % deep, None),
                             ("deep payload", None, '{"sub":%s}' % deep),
                             ("header array", '["RS256"]', None), ("payload string", None, '"x"'),
                             ("huge exp", None, '{"exp":1e999999,"aud":"x"}'),
                             ("bad utf-8", None, None), ("NUL", '{"alg":"RS256\\u0000","kid":"x"}', None)):
            with self.subTest(case=name):
                if name == "bad utf-8":
                    tok = p0 + "." + b64u(b'{"sub":"\xc3\x28"}') + "." + p2
                else:
                    tok = (b64u(hj.encode()) if hj else p0) + "." + (b64u(pj.encode()) if pj else p1) + "." + p2
                self.assertRefused(tok)
        self.assertEqual(self.api("GET", "Patient/pa", at).status, 200)


def b64u_dec_sig(token):
    s = token.rsplit(".", 1)[1]
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
