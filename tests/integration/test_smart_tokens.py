"""Bearer tokens at the FHIR API (issue 5 "Tokens" and "Enforcement"; RFC 6750
2.1/3/3.1; RFC 8725 2.1/3.1 algorithm pinning; SMART
scopes-and-launch-context.html v1/v2 scopes and their interactions):
missing/invalid/expired/tampered/alg-none/HS256-with-public-key/wrong-aud
tokens -> 401 with WWW-Authenticate: Bearer error="invalid_token" and an
OperationOutcome; valid but insufficient -> 403 with an OperationOutcome;
read/vread -> r, search/history -> s, create -> c, update/patch -> u,
delete -> d, a Bundle entry checked as the interaction it performs;
granular v2 constraints; metadata and the well-known documents public."""
import hashlib
import hmac
import json
import secrets

from fhirtest import Server
from smartutil import (APP, PASSWORDS, ClientKey, SmartCase, STD_SEED, STD_USERS, b64u_int, backend_client,
                       client_assertion, fhir_observation, http_req, jwt_make, jwt_split, resign_with,
                       rsa_public_pem, server_private_jwks, tamper, now, ASSERTION_TYPE)

OBS_NEW = {"resourceType": "Observation", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
           "subject": {"reference": "Patient/pa"}}
LAB = "http://terminology.hl7.org/CodeSystem/observation-category"
PATCH_CT = "application/json-patch+json"


def cat(code):
    return [{"coding": [{"system": LAB, "code": code}]}]


SEED = STD_SEED + (
    fhir_observation("obs-lab", "pa", code="2345-7", category=cat("laboratory")),
    fhir_observation("obs-vital", "pa", code="8867-4", category=cat("vital-signs")),
)


class TokenCase(SmartCase):
    SEED = SEED
    USERS = STD_USERS
    CLIENTS = (backend_client("bk", ["rsa"]),
               {"id": "app", "type": "public", "redirect": APP})

    @classmethod
    def make_keys(cls):
        cls.keys["rsa"] = ClientKey(cls.workdir, "RSA", "tok-rsa")

    def sys_token(self, scope="system/*.cruds"):
        return self.backend_token("bk", self.keys["rsa"], scope)["access_token"]


class TestBearerValidation(TokenCase):
    """RFC 6750 3.1 and issue 5: every FHIR request needs a valid token."""

    @classmethod
    def after_setup(cls):
        cls._tok = None

    def tok(self):
        if TestBearerValidation._tok is None:
            TestBearerValidation._tok = self.sys_token("system/*.rs")
        return TestBearerValidation._tok

    def test_valid_token_control(self):
        """Control: the backend token used below works."""
        self.assertEqual(self.api("GET", "Patient/pa", self.tok()).status, 200)

    def test_missing_token(self):
        """RFC 6750 3: no credentials -> 401 + WWW-Authenticate: Bearer (RFC 6750
        3.1: no error code needed without a token) + OperationOutcome."""
        for method, path, body in (("GET", "Patient/pa", None), ("GET", "Observation?patient=pa", None),
                                   ("POST", "Observation", OBS_NEW), ("DELETE", "Observation/obs-a", None),
                                   ("GET", "Patient/pa/$everything", None), ("GET", "_history", None),
                                   ("POST", "", {"resourceType": "Bundle", "type": "batch", "entry": []})):
            with self.subTest(method=method, path=path):
                self.assert401(self.api(method, path, None, body), error_code=False)

    def test_garbage_tokens(self):
        """RFC 6750 3.1: a malformed token -> 401 error="invalid_token"."""
        for tok in ("garbage", "a.b.c", "a.b", "..", "e30.e30.", "x" * 12000, self.tok() + "x",
                    self.tok()[:-4], "." + self.tok()):
            with self.subTest(token=tok[:30]):
                self.assert401(self.api("GET", "Patient/pa", tok))

    def test_other_schemes(self):
        """Only a Bearer credential is accepted (Basic, a bare token -> 401)."""
        for auth in ("Basic YWxpY2U6cGFzcw==", self.tok(), "Bearer", "Bearer  "):
            with self.subTest(authorization=auth[:20]):
                r = http_req(self.server, "GET", "/fhir/Patient/pa", headers={"Authorization": auth})
                self.assert401(r, error_code=False)

    def test_bearer_scheme_case_insensitive(self):
        """RFC 7235 2.1 (auth-scheme is case-insensitive) with RFC 6750 2.1."""
        r = http_req(self.server, "GET", "/fhir/Patient/pa", headers={"Authorization": "bearer " + self.tok()})
        self.assertEqual(r.status, 200, r)

    def test_alg_none(self):
        """RFC 8725 3.1 / issue 5: never parse alg none - with or without the
        original signature, any casing."""
        at = self.tok()
        h, c, _, _ = jwt_split(at)
        sig = at.split(".")[2]
        for alg in ("none", "None", "NONE"):
            with self.subTest(alg=alg):
                hh = dict(h, alg=alg)
                self.assert401(self.api("GET", "Patient/pa", jwt_make(hh, c)))
                self.assert401(self.api("GET", "Patient/pa", jwt_make(hh, c) + sig))
                hh.pop("kid", None)
                self.assert401(self.api("GET", "Patient/pa", jwt_make(hh, c)))

    def test_hs256_with_public_key(self):
        """RFC 8725 2.1 / issue 5: never a symmetric algorithm with the
        server's asymmetric key (the published JWKS key as PEM, DER, modulus
        bytes, JWK JSON), with the scope widened."""
        at = self.tok()
        h, c, _, _ = jwt_split(at)
        c = dict(c, scope="system/*.cruds")
        keys = [k for k in self.jwks()["keys"] if k["kid"] == h["kid"]]
        self.assertEqual(len(keys), 1)
        k = keys[0]
        n, e = b64u_int(k["n"]), b64u_int(k["e"])
        pem = rsa_public_pem(n, e)
        secrets_ = {"pem": pem, "pem-no-newline": pem.strip(), "n": n.to_bytes((n.bit_length() + 7) // 8, "big"),
                    "jwk": json.dumps(k).encode(), "jwk-compact": json.dumps(k, separators=(",", ":")).encode()}
        for name, key in secrets_.items():
            for alg, hf in (("HS256", hashlib.sha256), ("HS384", hashlib.sha384), ("HS512", hashlib.sha512)):
                with self.subTest(key=name, alg=alg):
                    tok = jwt_make(dict(h, alg=alg), c, lambda si: hmac.new(key, si, hf).digest())
                    self.assert401(self.api("GET", "Patient/pa", tok))
                    self.assert401(self.api("POST", "Observation", tok, OBS_NEW))

    def test_tampered_payload(self):
        """JWS integrity: any change to the claims with the original signature -> 401."""
        at = self.tok()
        for change in ({"scope": "system/*.cruds"}, {"exp": now() + 86400}, {"patient": "pb"},
                       {"client_id": "other"}, {"sub": "admin"}, {"iat": now() - 10}):
            with self.subTest(change=change):
                self.assert401(self.api("GET", "Patient/pa", tamper(at, change)))

    def test_tampered_header_and_signature(self):
        """RFC 8725 3.1 / issue 5: kid, alg or jku changed in the header, or the signature altered/removed -> 401."""
        at = self.tok()
        self.assert401(self.api("GET", "Patient/pa", tamper(at, header_changes={"kid": "no-such-kid"})))
        self.assert401(self.api("GET", "Patient/pa", tamper(at, header_changes={"alg": "RS384"})))
        self.assert401(self.api("GET", "Patient/pa", tamper(at, header_changes={"alg": "PS256"})))
        self.assert401(self.api("GET", "Patient/pa", tamper(at, header_changes={"jku": "https://evil.example/j"})))
        h, p, s = at.split(".")
        flipped = s[:10] + ("A" if s[10] != "A" else "B") + s[11:]
        self.assert401(self.api("GET", "Patient/pa", ".".join((h, p, flipped))))
        self.assert401(self.api("GET", "Patient/pa", ".".join((h, p, ""))))

    def forge(self, **changes):
        keys = server_private_jwks(self.server.db)
        if not keys:
            self.skipTest("the server's signing key was not found in the store")
        at = self.tok()
        kid = jwt_split(at)[0]["kid"]
        key = [k for k in keys if k["kid"] == kid]
        self.assertTrue(key, "the token's kid is not among the stored keys")
        return resign_with(at, key[0], claim_changes=changes)

    def test_forged_claims_with_server_key(self):
        """Issue 5: iss, aud and exp are checked after the signature (token.h:
        no leeway on exp). Tokens re-signed with the server's own key (from
        the store): unchanged -> 200 (control), expired / wrong aud / wrong
        iss / no exp -> 401."""
        self.assertEqual(self.api("GET", "Patient/pa", self.forge()).status, 200)
        for name, change in (("expired", {"exp": now() - 5, "iat": now() - 600}),
                             ("expired long ago", {"exp": now() - 86400, "iat": now() - 90000}),
                             ("aud other base", {"aud": "https://other.example.com/fhir"}),
                             ("aud trailing slash", {"aud": self.base() + "/"}),
                             ("aud issuer", {"aud": self.issuer()}),
                             ("iss other", {"iss": "https://evil.example.com/auth"}),
                             ("exp string", {"exp": str(now() + 600)})):
            with self.subTest(case=name):
                self.assert401(self.api("GET", "Patient/pa", self.forge(**change)))
        keys = server_private_jwks(self.server.db)
        at = self.tok()
        key = [k for k in keys if k["kid"] == jwt_split(at)[0]["kid"]][0]
        self.assert401(self.api("GET", "Patient/pa", resign_with(at, key, drop=("exp",))))
        self.assert401(self.api("GET", "Patient/pa", resign_with(at, key, drop=("aud",))))

    def test_token_of_another_server(self):
        """Issue 5: wrong aud/issuer/key: a token from a second server instance
        (its own key and base URL) is refused with 401, and ours there."""
        key = self.keys["rsa"]
        with Server("--auth", "smart") as other:
            from smartutil import cli, jwks_file
            rc, out, err = cli("client", "add", "--id", "bk", "--type", "backend", "--scope", "system/*.cruds",
                               "--jwks-file", jwks_file(other.dir, "j.json", [key.jwk()]), "--db", other.db)
            self.assertEqual(rc, 0, out + err)
            a = client_assertion(key, "bk", other.origin + "/auth/token")
            r = http_req(other, "POST", "/auth/token",
                         [("grant_type", "client_credentials"), ("scope", "system/*.rs"),
                          ("client_assertion_type", ASSERTION_TYPE), ("client_assertion", a)])
            self.assertEqual(r.status, 200, r)
            theirs = r.json["access_token"]
            self.assertEqual(http_req(other, "GET", "/fhir/Patient", headers={"Authorization": "Bearer " + theirs})
                             .status, 200)
            self.assert401(self.api("GET", "Patient/pa", theirs))
            r = http_req(other, "GET", "/fhir/Patient", headers={"Authorization": "Bearer " + self.tok()})
            self.assertEqual(r.status, 401, r)

    def test_refresh_token_is_not_an_access_token(self):
        """RFC 6750 / issue 5: a refresh token presented as a bearer token -> 401."""
        t = self.login_token("app", APP, "launch/patient patient/Patient.r offline_access", "alice",
                             PASSWORDS["alice"])
        self.assert401(self.api("GET", "Patient/pa", t["refresh_token"]))

    def test_public_documents(self):
        """Issue 5: metadata and the well-known documents need no token."""
        for path in ("/fhir/metadata", "/fhir/.well-known/smart-configuration",
                     "/auth/.well-known/openid-configuration", "/auth/jwks"):
            with self.subTest(path=path):
                self.assertEqual(http_req(self.server, "GET", path).status, 200)

    def test_token_not_echoed(self):
        """A refused token is not reflected in the response."""
        tok = "tok" + secrets.token_hex(20)
        r = self.api("GET", "Patient/pa", tok)
        self.assertNotIn(tok, r.text)
        self.assertNotIn(tok, r.header("www-authenticate") or "")


# The interactions and their letters (issue 5: read/vread -> r,
# search/history -> s, create -> c, update/patch -> u, delete -> d).
def i_read(case, tok):
    return case.api("GET", "Observation/obs-a", tok), (200,)


def i_vread(case, tok):
    return case.api("GET", "Observation/obs-a/_history/1", tok), (200,)


def i_search(case, tok):
    return case.api("GET", "Observation?code=29463-7", tok), (200,)


def i_search_post(case, tok):
    return case.api("POST", "Observation/_search", tok, b"code=29463-7",
                    {"Content-Type": "application/x-www-form-urlencoded"}), (200,)


def i_history(case, tok):
    return case.api("GET", "Observation/obs-a/_history", tok), (200,)


def i_type_history(case, tok):
    return case.api("GET", "Observation/_history", tok), (200,)


def i_create(case, tok):
    return case.api("POST", "Observation", tok, OBS_NEW), (201,)


def fresh(case):
    r = case.api("POST", "Observation", case.admin, OBS_NEW)
    case.assertEqual(r.status, 201, r)
    return r.json["id"]


def i_update(case, tok):
    oid = fresh(case)
    body = dict(OBS_NEW, id=oid, status="amended")
    return case.api("PUT", "Observation/" + oid, tok, body), (200,)


def i_patch(case, tok):
    oid = fresh(case)
    return case.api("PATCH", "Observation/" + oid, tok,
                    json.dumps([{"op": "replace", "path": "/status", "value": "amended"}]).encode(),
                    {"Content-Type": PATCH_CT}), (200,)


def i_delete(case, tok):
    oid = fresh(case)
    return case.api("DELETE", "Observation/" + oid, tok), (200, 204)


INTERACTIONS = (("read", "r", i_read), ("vread", "r", i_vread), ("search", "s", i_search),
                ("search-post", "s", i_search_post), ("history", "s", i_history),
                ("type-history", "s", i_type_history), ("create", "c", i_create), ("update", "u", i_update),
                ("patch", "u", i_patch), ("delete", "d", i_delete))

SCOPES = (  # scope, letters granted on Observation, whether Patient is covered
    ("system/Observation.rs", "rs", False),
    ("system/Observation.r", "r", False),
    ("system/Observation.s", "s", False),
    ("system/Observation.c", "c", False),
    ("system/Observation.u", "u", False),
    ("system/Observation.d", "d", False),
    ("system/Observation.cud", "cud", False),
    ("system/Observation.cruds", "cruds", False),
    ("system/Observation.read", "rs", False),
    ("system/Observation.write", "cud", False),
    ("system/Observation.*", "cruds", False),
    ("system/*.rs", "rs", True),
    ("system/*.read", "rs", True),
    ("system/*.cud", "cud", True),
)


class TestScopeInteractions(TokenCase):
    """scopes-and-launch-context.html (v2 letters c r u d s; v1 read = rs,
    write = cud, * = cruds) and issue 5's interaction -> letter mapping;
    insufficient scope -> 403 + OperationOutcome."""

    @classmethod
    def after_setup(cls):
        cls.admin = None

    def setUp(self):
        if TestScopeInteractions.admin is None:
            TestScopeInteractions.admin = self.sys_token("system/*.cruds")
        self.admin = TestScopeInteractions.admin

    def test_letters(self):
        """scopes-and-launch-context.html: each v1/v2 scope allows exactly the interactions of its letters; the rest
        403."""
        for scope, letters, patient_ok in SCOPES:
            tok = self.sys_token(scope)
            for name, letter, fn in INTERACTIONS:
                with self.subTest(scope=scope, interaction=name):
                    r, ok = fn(self, tok)
                    if letter in letters:
                        self.assertIn(r.status, ok, r)
                    else:
                        self.assert403(r)
            with self.subTest(scope=scope, interaction="read Patient"):
                r = self.api("GET", "Patient/pa", tok)
                if patient_ok and "r" in letters:
                    self.assertEqual(r.status, 200, r)
                else:
                    self.assert403(r)

    def test_batch_entries_checked(self):
        """Issue 5: a Bundle entry is checked as the interaction it performs:
        in a batch the refused entry gets 403, the others succeed; a
        transaction with a refused entry fails as a whole (nothing written)."""
        tok = self.sys_token("system/Observation.rs")
        marker = "batch-" + secrets.token_hex(6)
        obs = dict(OBS_NEW, identifier=[{"system": "urn:test", "value": marker}])
        batch = {"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": "Observation/obs-a"}},
            {"request": {"method": "POST", "url": "Observation"}, "resource": obs},
            {"request": {"method": "GET", "url": "Patient/pa"}}]}
        r = self.api("POST", "", tok, batch)
        self.assertEqual(r.status, 200, r)
        st = [e["response"]["status"].split()[0] for e in r.json["entry"]]
        self.assertEqual(st, ["200", "403", "403"], r)
        tx = dict(batch, type="transaction")
        tx["entry"] = [{"fullUrl": "urn:uuid:7f1a4a2e-0000-4000-8000-000000000001",
                        "request": {"method": "POST", "url": "Observation"}, "resource": obs},
                       {"request": {"method": "GET", "url": "Observation/obs-a"}}]
        r = self.api("POST", "", tok, tx)
        self.assert403(r)
        r = self.api("GET", "Observation?identifier=urn:test|" + marker, self.admin)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json.get("total", len(r.json.get("entry") or [])), 0, r)
        self.assertFalse(r.json.get("entry"), r)

    def test_granular_category_scope(self):
        """scopes-and-launch-context.html#finer-grained-resource-constraints-using-search-parameters:
        system/Observation.rs?category=...|laboratory reaches laboratory
        Observations only (others 403/404; searches never return them)."""
        tok = self.sys_token("system/Observation.rs?category=%s|laboratory" % LAB)
        r = self.api("GET", "Observation/obs-lab", tok)
        self.assertEqual(r.status, 200, r)
        r = self.api("GET", "Observation/obs-vital", tok)
        self.assertIn(r.status, (403, 404), r)
        r = self.api("GET", "Observation?category=%s|laboratory" % LAB, tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual({e["resource"]["id"] for e in r.json.get("entry") or []}, {"obs-lab"})
        r = self.api("GET", "Observation", tok)
        if r.status == 200:
            self.assertEqual({e["resource"]["id"] for e in r.json.get("entry") or []}, {"obs-lab"})
        else:
            self.assert403(r)
        self.assert403(self.api("POST", "Observation", tok, dict(OBS_NEW, category=cat("laboratory"))))

    def test_patient_scope_cannot_create(self):
        """scopes-and-launch-context.html: patient/Observation.rs grants read
        and search of the patient's Observations, not create (403), and no
        other type (403)."""
        t = self.login_token("app", APP, "launch/patient patient/Observation.rs", "alice", PASSWORDS["alice"])
        tok = t["access_token"]
        self.assertEqual(self.api("GET", "Observation?patient=pa", tok).status, 200)
        self.assertEqual(self.api("GET", "Observation/obs-a", tok).status, 200)
        self.assert403(self.api("POST", "Observation", tok, OBS_NEW))
        self.assert403(self.api("PUT", "Observation/obs-a", tok, fhir_observation("obs-a", "pa")))
        self.assert403(self.api("DELETE", "Observation/obs-a", tok))
        self.assert403(self.api("GET", "Patient/pa", tok))
        self.assert403(self.api("GET", "Condition?patient=pa", tok))
