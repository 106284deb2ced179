"""Cross-patient access (issue 6 "Adversarial test suite", first bullet):
a `patient/*.cruds` token for patient A (pa) attacks patient B's (pb) data
through every route the issue names that the integration tests do not already
walk. Covered elsewhere and not repeated here: read/vread/history of B's
resources of all 66 compartment types (test_smart_matrix.py), plain
`_id=a,b` lists, chains, `_has` with codes, typed `_include`/`_revinclude`,
batch/transaction entries touching B (test_smart_compartment.py).

The rules asserted (docs/auth.md "Enforcement", hl7.org/fhir/R4/http.html,
search.html, compartmentdefinition-patient.html):
  * a search naming another patient through a compartment parameter -> 403;
    otherwise searches are narrowed to A's compartment (200, only A's rows);
  * B's resources answer like missing ids (read/vread/history/PATCH 404,
    DELETE 204 with nothing written, PUT 403 like a PUT to a free id);
    `Patient/[other]` (and its `$everything`) is 403 from the URL alone;
  * type- and system-level history and system-level search are 403;
  * conditional criteria only match inside the compartment;
  * a body naming another id than the URL -> 400 (R4 http.html#update).
"""
import json
import secrets
import urllib.parse

from secutil import FORBIDDEN, INVALID, NOT_FOUND, PROCESSING, SecAsserts
from smartutil import (APP, PASSWORDS, STD_USERS, ClientKey, SmartCase, backend_client, fhir_observation,
                       fhir_patient, ref)

PATCH_CT = "application/json-patch+json"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
B_MARKERS = ("Betaname", "8302-2", "bfocus", "b-derived", "B-MRN", "obs-b-ident")


def seed():
    pa = fhir_patient("pa", "Alphaname", "Anna")
    pa["identifier"] = [{"system": "urn:sec", "value": "A-MRN"}]
    pb = fhir_patient("pb", "Betaname", "Berta")
    pb["identifier"] = [{"system": "urn:sec", "value": "B-MRN"}]
    obs_b = fhir_observation("obs-b", "pb", code="8302-2",
                             identifier=[{"system": "urn:sec", "value": "obs-b-ident"}])
    # A's resource that points at B's (hasMember, derivedFrom)
    link = fhir_observation("obs-a-link", "pa", code="a-link", hasMember=[ref("Observation", "obs-b")],
                            derivedFrom=[ref("Observation", "obs-b")])
    # B's resource that points at A's (derivedFrom) and one that focuses on A
    derived = fhir_observation("obs-b-derived", "pb", code="b-derived", derivedFrom=[ref("Observation", "obs-a")])
    focus = fhir_observation("obs-b-focus", "pb", code="bfocus", focus=[ref("Patient", "pa")])
    enc_b = {"resourceType": "Encounter", "id": "enc-b", "status": "finished",
             "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
             "subject": ref("Patient", "pb")}
    cond_a = {"resourceType": "Condition", "id": "cond-a", "subject": ref("Patient", "pa"),
              "encounter": ref("Encounter", "enc-b"), "code": {"text": "cond"}}
    out = [pa, pb, fhir_observation("obs-a", "pa"), obs_b, link, derived, focus, enc_b, cond_a,
           {"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "Smith"}]}]
    for n in ("w1", "w2", "w3", "w4", "w5", "w6"):
        out.append(fhir_observation("obs-a-" + n, "pa"))
    return out


B_REFS = {"Patient/pb", "Observation/obs-b", "Observation/obs-b-derived", "Observation/obs-b-focus",
          "Encounter/enc-b"}


def ids(r):
    out = set()
    for e in (r.json or {}).get("entry") or []:
        res = e.get("resource") or {}
        if res.get("resourceType") != "OperationOutcome":
            out.add("%s/%s" % (res.get("resourceType"), res.get("id")))
    return out


class CrossPatientCase(SecAsserts, SmartCase):
    USERS = STD_USERS
    CLIENTS = ({"id": "app", "type": "public", "redirect": APP}, backend_client("bk", ["rsa"]))

    @classmethod
    def seed_resources(cls):
        return seed()

    @classmethod
    def make_keys(cls):
        cls.keys["rsa"] = ClientKey(cls.workdir, "RSA", "sec-cp-rsa")

    @classmethod
    def after_setup(cls):
        cls.tok = cls.admin = cls.b_versions = None

    def setUp(self):
        cls = type(self)
        if cls.tok is None:
            t = self.login_token("app", APP, "launch/patient patient/*.cruds", "alice", PASSWORDS["alice"])
            self.assertEqual(t.get("patient"), "pa")
            cls.tok = t["access_token"]
            cls.admin = self.backend_token("bk", self.keys["rsa"], "system/*.cruds")["access_token"]
            cls.b_versions = self.versions()

    # -- helpers
    def a(self, method, path, body=None, headers=None):
        return self.api(method, path, self.tok, body, headers)

    def versions(self):
        out = {}
        for r_ in sorted(B_REFS):
            r = self.api("GET", r_, self.admin)
            self.assertEqual(r.status, 200, r)
            out[r_] = (r.json["meta"]["versionId"], json.dumps(r.json, sort_keys=True))
        return out

    def assertBUnchanged(self):
        self.assertEqual(self.versions(), self.b_versions, "B's data was changed")

    def assertNoBData(self, r):
        """None of B's data in the answer (for a Bundle: in its resources; a
        self link may echo what the request itself said)."""
        if isinstance(r.json, dict) and r.json.get("resourceType") == "Bundle":
            text = json.dumps([e.get("resource") for e in r.json.get("entry") or []])
            self.assertFalse(ids(r) & B_REFS, "B's resources returned: %s" % (ids(r) & B_REFS))
        else:
            text = r.text
        for m in B_MARKERS:
            self.assertNotIn(m, text, self.show(r))

    def search_ok(self, r, expected):
        self.assertBundleIds(r, expected)
        self.assertNoBData(r)

    def forbidden(self, r):
        self.assertOO(r, 403, FORBIDDEN)
        self.assertNoBData(r)

    def not_found(self, r):
        self.assertOO(r, 404, NOT_FOUND)
        self.assertNoBData(r)

    def post_form(self, path, body):
        return self.a("POST", path, body.encode() if isinstance(body, str) else body, FORM)

    def new_obs(self, pid="pa", **extra):
        r = fhir_observation("x", pid, **extra)
        r.pop("id")
        return r

    def admin_search(self, q):
        r = self.api("GET", q, self.admin)
        self.assertEqual(r.status, 200, r)
        return ids(r)


class TestSearchRoutes(CrossPatientCase):
    """Search routes to B's data the compartment tests do not walk."""

    def test_id_lists_mixing_a_and_b(self):
        """Issue 6: `_id` lists mixing A's and B's ids (any order, AND-ed,
        through POST _search, with includes) return A's resources only."""
        cases = (
            ("GET", "Observation?_id=obs-b,obs-a", None, {"Observation/obs-a"}),
            ("GET", "Observation?_id=obs-b,obs-b-derived,obs-b-focus", None, set()),
            ("GET", "Observation?_id=obs-a&_id=obs-b", None, set()),
            ("GET", "Observation?_id=obs-a,obs-b&_id=obs-b", None, set()),
            ("GET", "Observation?_id=OBS-B,obs-a", None, {"Observation/obs-a"}),
            ("GET", "Observation?_id=obs-a,obs-b&_include=Observation:subject", None,
             {"Observation/obs-a", "Patient/pa"}),
            ("GET", "Observation?_id=obs-a-link,obs-b&_include=Observation:has-member", None,
             {"Observation/obs-a-link"}),
            ("GET", "Encounter?_id=enc-b", None, set()),
            ("GET", "Patient?_id=pb,pa", None, {"Patient/pa"}),
            ("GET", "Patient?_id=pb", None, set()),
            ("GET", "Patient/pa/Observation?_id=obs-b,obs-a", None, {"Observation/obs-a"}),
            ("POST", "Observation/_search", "_id=obs-a,obs-b", {"Observation/obs-a"}),
            ("POST", "Observation/_search?_id=obs-b", "", set()),
            ("POST", "Observation/_search?_id=obs-a", "_id=obs-b", set()),
            ("POST", "Patient/_search", "_id=pa,pb", {"Patient/pa"}),
        )
        for method, path, body, expected in cases:
            with self.subTest(method=method, path=path, body=body):
                r = self.a("GET", path) if method == "GET" else self.post_form(path, body)
                self.search_ok(r, expected)

    def test_system_search_refused(self):
        """docs/auth.md: system-level search is refused for confined tokens
        (403), so `_type` + `_id` lists cannot reach B either."""
        for method, path, body in (("GET", "?_type=Observation&_id=obs-a,obs-b", None),
                                   ("GET", "?_id=obs-b", None),
                                   ("POST", "_search", "_type=Observation&_id=obs-b"),
                                   ("POST", "_search?_type=Patient", "_id=pb")):
            with self.subTest(method=method, path=path, body=body):
                r = self.a("GET", path) if method == "GET" else self.post_form(path, body)
                self.forbidden(r)

    def test_post_search_naming_b(self):
        """Issue 6: POST _search with patient=B in the form body, in the URL,
        or split between them (search.html: URL and body parameters are
        combined) -> 403, exactly as the GET (docs/auth.md)."""
        cases = (
            ("Observation/_search", "patient=pb"),
            ("Observation/_search?patient=pb", ""),
            ("Observation/_search?patient=pa", "patient=pb"),
            ("Observation/_search?patient=pb", "patient=pa"),
            ("Observation/_search", "subject=Patient/pb"),
            ("Observation/_search", "subject=Patient%2Fpb"),
            ("Observation/_search", "patient=pa,pb"),
            ("Observation/_search", "patient=pb&code=8302-2"),
            ("Observation/_search", "subject:Patient=pb"),
            ("Observation/_search", "patient:Patient=pb"),
            ("Observation/_search", "patient=%s/Patient/pb" % urllib.parse.quote(self.base(), safe="")),
            ("Observation/_search", "patient=Patient/pb/_history/1"),
            ("Encounter/_search", "patient=pb"),
            ("Patient/pa/Observation/_search", "patient=pb"),
            ("Patient/pa/Observation/_search?subject=Patient/pb", ""),
        )
        for path, body in cases:
            with self.subTest(path=path, body=body):
                self.forbidden(self.post_form(path, body))
        with self.subTest(control="patient=pa"):
            r = self.post_form("Observation/_search", "patient=pa&_id=obs-a,obs-b")
            self.search_ok(r, {"Observation/obs-a"})

    def test_get_naming_b_with_modifiers(self):
        """The same rule for GET spellings the compartment tests do not use:
        type modifiers, `/_history/n` (ignored per docs/search.md), an id
        that does not exist (403 too: no probing), an OR list."""
        for q in ("Observation?subject:Patient=pb", "Observation?patient:Patient=pb",
                  "Observation?patient=Patient/pb/_history/1", "Observation?patient=PB",
                  "Observation?patient=pa,pb", "Observation?patient=pa&patient=pb",
                  "Condition?patient=pb&_include=Condition:encounter", "Patient/pa/Observation?patient=pb"):
            with self.subTest(query=q):
                self.forbidden(self.a("GET", q))

    def test_has_reaching_b(self):
        """Issue 6: `_has` whose inner resource is B's selects nothing: the
        result would tell A what B's record holds (B's Observation derived
        from / focusing on A's data, B's Encounter A's Condition refers to)."""
        for q in ("Patient?_has:Observation:subject:_id=obs-b",
                  "Patient?_has:Observation:focus:_id=obs-b-focus",
                  "Patient?_has:Observation:focus:code=bfocus",
                  "Observation?_has:Observation:derived-from:code=b-derived",
                  "Observation?_has:Observation:derived-from:_id=obs-b-derived",
                  "Observation?_has:Observation:derived-from:identifier=urn:sec|nosuch,urn:sec|obs-b-ident",
                  "Encounter?_has:Condition:encounter:_id=cond-a",
                  "Patient?_has:Observation:subject:_has:Observation:has-member:_id=obs-a-link"):
            with self.subTest(query=q):
                self.search_ok(self.a("GET", q), set())
        # naming B through a compartment parameter inside _has: docs/auth.md's
        # 403 rule ("a search that names another patient through a compartment
        # parameter") or an empty result; never A's obs-a.
        r = self.a("GET", "Observation?_has:Observation:derived-from:patient=pb")
        if r.status == 403:
            self.forbidden(r)
        else:
            self.search_ok(r, set())

    def test_chain_through_b(self):
        """Chains from A's resources into B's (A's Condition -> B's Encounter,
        A's Observation -> B's Observation) must not act as an oracle on B's
        data: no match (docs/auth.md lists this as a known gap)."""
        for q in ("Condition?encounter:Encounter._id=enc-b", "Condition?encounter.status=finished",
                  "Observation?has-member:Observation._id=obs-b", "Observation?derived-from:Observation.code=8302-2",
                  "Observation?has-member.identifier=urn:sec|obs-b-ident"):
            with self.subTest(query=q):
                self.search_ok(self.a("GET", q), set())

    def test_everything_with_type(self):
        """Issue 6: `$everything` with `_type` (and `_since`, paging) holds A's
        compartment only; another patient's `$everything` is 403 whatever the
        parameters or path spelling."""
        a_obs = {r_ for r_ in self.admin_search("Observation?patient=pa&_count=1000")}
        self.assertIn("Observation/obs-a-link", a_obs)
        cases = (
            ("Patient/pa/$everything?_type=Observation&_count=1000", a_obs),
            ("Patient/pa/$everything?_type=Encounter", set()),
            ("Patient/pa/$everything?_type=Patient", {"Patient/pa"}),
            ("Patient/pa/$everything?_type=Observation,Encounter,Patient&_count=1000", a_obs | {"Patient/pa"}),
            ("Patient/pa/$everything?_type=Observation&_since=2000-01-01T00:00:00Z&_count=1000", a_obs),
        )
        for q, expected in cases:
            with self.subTest(query=q):
                self.search_ok(self.a("GET", q), expected)
        with self.subTest(query="paged"):
            url, seen, pages = "Patient/pa/$everything?_type=Observation&_count=2", set(), 0
            while url:
                r = self.a("GET", url)
                self.assertEqual(r.status, 200, r)
                self.assertNoBData(r)
                seen |= ids(r)
                url = next((lk["url"] for lk in r.json.get("link", []) if lk.get("relation") == "next"), None)
                pages += 1
                self.assertLess(pages, 50)
            self.assertEqual(seen, a_obs)
        for q in ("Patient/pb/$everything?_type=Observation", "Patient/pb/$everything?_type=Patient",
                  "Patient/pb/$everything?_since=2000-01-01T00:00:00Z", "Patient//pb/$everything",
                  "Patient/pb/$everything/", "Patient/%70b/$everything"):
            with self.subTest(query=q):
                self.forbidden(self.a("GET", q))

    def test_path_spellings(self):
        """The URL check of `Patient/[other]` and the router must agree on
        what the id is: empty segments, a trailing slash and percent-encoded
        letters (RFC 3986 2.3/6.2.2.2: %70 is 'p') still name B -> 403;
        B's Observation the same way -> 404 like a missing id."""
        for q in ("Patient//pb", "Patient/pb/", "/fhir//Patient/pb", "Patient/%70b", "Patient/p%62",
                  "Patient/pb/_history", "Patient/pb/_history/1", "Patient/%70b/Observation"):
            with self.subTest(path=q):
                self.forbidden(self.a("GET", q))
        for q in ("Observation//obs-b", "Observation/obs-b/", "Observation/%6fbs-b", "/fhir//Observation/obs-b"):
            with self.subTest(path=q):
                self.not_found(self.a("GET", q))
        # RFC 3986 6.2.2.3: removing dot segments is optional for a server:
        # Patient/pa/../pb is either B's Patient (403) or an unknown path (404)
        r = self.a("GET", "Patient/pa/../pb")
        self.assertIn(r.status, (403, 404), r)
        self.assertOO(r, r.status, FORBIDDEN | NOT_FOUND)
        self.assertNoBData(r)


class TestWildcardIncludes(CrossPatientCase):
    """On a server of its own, `_revinclude=*` cases last: a crash there
    (SIGSEGV at the time of writing) must not take other cases down."""

    def test_include_wildcards(self):
        """Issue 6: `_include=*` / `_revinclude=*` (and `:iterate`) from A's
        resources that reference B's, or that B's reference, add nothing of
        B's (docs/auth.md: includes only add what the token may read)."""
        cases = (
            ("Observation?_id=obs-a-link&_include=*", {"Observation/obs-a-link", "Patient/pa"}),
            ("Observation?_id=obs-a-link&_include=*&_include:iterate=*", {"Observation/obs-a-link", "Patient/pa"}),
            ("Observation?_id=obs-a-link&_include:iterate=Observation:has-member",
             {"Observation/obs-a-link"}),
            ("Condition?_id=cond-a&_include=*", {"Condition/cond-a", "Patient/pa"}),
            ("Patient/pa/Observation?_id=obs-a-link&_include=*", {"Observation/obs-a-link", "Patient/pa"}),
            ("Observation?_id=obs-a&_revinclude=Observation:derived-from", {"Observation/obs-a"}),
            # _revinclude=* last (see the class docstring)
            ("Observation?_id=obs-a&_revinclude=*", {"Observation/obs-a"}),
            ("Observation?_id=obs-a&_revinclude=*&_revinclude:iterate=*", {"Observation/obs-a"}),
            ("Encounter?_id=enc-b&_revinclude=*", set()),
            ("Condition?_id=cond-a&_include=Condition:encounter&_revinclude=*", {"Condition/cond-a"}),
        )
        for q, expected in cases:
            with self.subTest(query=q):
                self.search_ok(self.a("GET", q), expected)
        with self.subTest(query="Patient?_id=pa&_revinclude=*"):
            r = self.a("GET", "Patient?_id=pa&_revinclude=*&_count=1000")
            self.assertEqual(r.status, 200, r)
            self.assertNoBData(r)
            got = ids(r)
            self.assertLessEqual({"Patient/pa", "Observation/obs-a", "Condition/cond-a"}, got)
            self.assertNotIn("Observation/obs-b-focus", got)


class TestHistoryAndParity(CrossPatientCase):
    """History `_since` on B's resources, and the answers for B's ids equal
    those for ids that do not exist (issue 6 "Information leaks": 404 vs 403
    never tell whether another patient's resource exists)."""

    def pair(self, method, path_b, path_missing, body_b=None, body_missing=None, headers=None):
        rb = self.a(method, path_b, body_b, headers)
        rm = self.a(method, path_missing, body_missing, headers)
        return rb, rm

    def assertSameAnswer(self, rb, rm, b_id, m_id):
        self.assertEqual(rb.status, rm.status, "B: %s\nmissing: %s" % (self.show(rb), self.show(rm)))
        norm = lambda r, i: r.text.replace(i, "<ID>")  # noqa: E731
        self.assertEqual(norm(rb, b_id), norm(rm, m_id), "bodies differ")
        for h in ("etag", "last-modified", "location", "content-location"):
            self.assertEqual(rb.header(h), rm.header(h), "header %s differs" % h)
        self.assertNoBData(rb)

    def test_history_since_on_b(self):
        """Issue 6: instance history with `_since`/`_at`/`_count` of B's
        resource -> 404 like a missing id; type and system history (with
        `_since`) -> 403 for confined tokens (docs/auth.md)."""
        m = "nosuch-" + secrets.token_hex(4)
        for suffix in ("_history?_since=2000-01-01T00:00:00Z", "_history?_since=2000-01-01T00:00:00Z&_count=1",
                       "_history?_at=2999-01-01", "_history/1?_since=2000-01-01T00:00:00Z"):
            with self.subTest(suffix=suffix):
                rb, rm = self.pair("GET", "Observation/obs-b/" + suffix, "Observation/%s/%s" % (m, suffix))
                self.not_found(rb)
                self.assertSameAnswer(rb, rm, "obs-b", m)
        for q in ("Observation/_history?_since=2000-01-01T00:00:00Z", "_history?_since=2000-01-01T00:00:00Z",
                  "Encounter/_history?_since=2000-01-01T00:00:00Z&_count=1000",
                  "Patient/pb/_history?_since=2000-01-01T00:00:00Z"):
            with self.subTest(query=q):
                self.forbidden(self.a("GET", q))

    def test_parity_observation(self):
        """Issue 6 / docs/auth.md: for A's token B's Observation does not
        exist. read, vread, history, HEAD-less conditional reads, PATCH (also
        with If-Match), DELETE, PUT (also with If-Match): the very same
        status, body (modulo the id) and headers as for a random id -
        read/vread/history/PATCH 404, DELETE 204, PUT 403."""
        patch = json.dumps([{"op": "replace", "path": "/status", "value": "cancelled"}]).encode()
        for name, method, suffix, expect, body, headers in (
                ("read", "GET", "", 404, None, None),
                ("vread", "GET", "/_history/1", 404, None, None),
                ("vread 2", "GET", "/_history/2", 404, None, None),
                ("history", "GET", "/_history", 404, None, None),
                ("read If-None-Match", "GET", "", 404, None, {"If-None-Match": 'W/"1"'}),
                ("read If-Modified-Since", "GET", "", 404, None, {"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}),
                ("patch", "PATCH", "", 404, patch, {"Content-Type": PATCH_CT}),
                ("patch If-Match right version", "PATCH", "", 404, patch,
                 {"Content-Type": PATCH_CT, "If-Match": 'W/"1"'}),
                ("patch If-Match wrong version", "PATCH", "", 404, patch,
                 {"Content-Type": PATCH_CT, "If-Match": 'W/"99"'}),
                ("delete", "DELETE", "", 204, None, None),
        ):
            with self.subTest(interaction=name):
                m = "nosuch-" + secrets.token_hex(4)
                rb, rm = self.pair(method, "Observation/obs-b" + suffix, "Observation/%s%s" % (m, suffix),
                                   body, body, headers)
                self.assertSameAnswer(rb, rm, "obs-b", m)
                if expect == 204:
                    self.assertEqual(rb.status, 204, self.show(rb))
                    self.assertEqual(rb.body, b"")
                else:
                    self.assertOO(rb, expect, NOT_FOUND)
        for name, headers in (("put", None), ("put If-Match right version", {"If-Match": 'W/"1"'}),
                              ("put If-Match wrong version", {"If-Match": 'W/"99"'})):
            with self.subTest(interaction=name):
                m = "nosuch-" + secrets.token_hex(4)
                body_b = fhir_observation("obs-b", "pa")
                body_m = fhir_observation(m, "pa")
                rb, rm = self.pair("PUT", "Observation/obs-b", "Observation/" + m, body_b, body_m, headers)
                self.assertSameAnswer(rb, rm, "obs-b", m)
                self.assertOO(rb, 403, FORBIDDEN)
                self.assertEqual(self.api("GET", "Observation/" + m, self.admin).status, 404)
        self.assertBUnchanged()

    def test_parity_patient(self):
        """`Patient/[other]` for read/vread/history is 403 from the URL
        (docs/auth.md); every interaction answers B's Patient exactly as a
        Patient id that does not exist."""
        patch = json.dumps([{"op": "replace", "path": "/active", "value": False}]).encode()
        for name, method, suffix, body, headers in (
                ("read", "GET", "", None, None), ("vread", "GET", "/_history/1", None, None),
                ("history", "GET", "/_history", None, None),
                ("read If-None-Match", "GET", "", None, {"If-None-Match": 'W/"1"'}),
                ("patch", "PATCH", "", patch, {"Content-Type": PATCH_CT}),
                ("delete", "DELETE", "", None, None)):
            with self.subTest(interaction=name):
                m = "nosuch-" + secrets.token_hex(4)
                rb, rm = self.pair(method, "Patient/pb" + suffix, "Patient/%s%s" % (m, suffix), body, body, headers)
                self.assertSameAnswer(rb, rm, "pb", m)
                if method == "GET":
                    self.assertOO(rb, 403, FORBIDDEN)
        with self.subTest(interaction="put"):
            m = "nosuch-" + secrets.token_hex(4)
            rb, rm = self.pair("PUT", "Patient/pb", "Patient/" + m, fhir_patient("pb", "Mine"), fhir_patient(m, "Mine"))
            self.assertSameAnswer(rb, rm, "pb", m)
            self.assertOO(rb, 403, FORBIDDEN)
        self.assertBUnchanged()

    def test_parity_searches(self):
        """`_id=B` and `_id=missing`, and batch GETs of both, answer alike
        (an empty searchset; the same entry status)."""
        m = "nosuch-" + secrets.token_hex(4)
        rb, rm = self.a("GET", "Observation?_id=obs-b"), self.a("GET", "Observation?_id=" + m)
        self.search_ok(rb, set())
        self.search_ok(rm, set())
        self.assertEqual(rb.json.get("total"), rm.json.get("total"))
        batch = {"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": "Observation/obs-b"}},
            {"request": {"method": "GET", "url": "Observation/" + m}},
            {"request": {"method": "GET", "url": "Observation/obs-b/_history/1"}},
            {"request": {"method": "GET", "url": "Observation/%s/_history/1" % m}},
            {"request": {"method": "GET", "url": "Patient/pb"}},
            {"request": {"method": "GET", "url": "Patient/" + m}}]}
        r = self.a("POST", "", batch)
        self.assertEqual(r.status, 200, r)
        self.assertNoBData(r)
        st = [e["response"]["status"].split()[0] for e in r.json["entry"]]
        self.assertEqual(st[0], "404", r)
        self.assertEqual(st[0], st[1], r)
        self.assertEqual(st[2], st[3], r)
        self.assertEqual(st[4], st[5], r)


class TestWrites(CrossPatientCase):
    """Writes that name another id than the URL, conditional writes whose
    criteria match only B's resources, Bundle tricks, and writes that put a
    resource into B's compartment."""

    def test_body_id_differs_from_url(self):
        """Issue 6 / R4 http.html#update ("If no id element is provided, or
        the id disagrees with the id in the URL, the server SHALL respond
        with an HTTP 400"): a body naming B's (or any other) id is 400;
        through a PATCH (docs: changing id is 400), a conditional update
        (docs: a different body id is 400) and a transaction entry too."""
        cases = (
            ("PUT", "Observation/obs-a-w1", fhir_observation("obs-b", "pa"), None),
            ("PUT", "Observation/obs-a-w1", fhir_observation("obs-b", "pb"), None),
            ("PUT", "Observation/obs-a-w1", fhir_observation("OBS-A-W1", "pa"), None),
            ("PUT", "Observation/obs-a-w1", {k: v for k, v in fhir_observation("x", "pa").items() if k != "id"}, None),
            ("PUT", "Patient/pa", fhir_patient("pb", "Alphaname"), None),
            ("PUT", "Observation?_id=obs-a-w1", fhir_observation("obs-b", "pa"), None),
            ("PATCH", "Observation/obs-a-w1",
             json.dumps([{"op": "replace", "path": "/id", "value": "obs-b"}]).encode(), PATCH_CT),
        )
        for method, path, body, ct in cases:
            with self.subTest(method=method, path=path, body_id=body.get("id") if isinstance(body, dict) else "patch"):
                r = self.a(method, path, body, {"Content-Type": ct} if ct else None)
                self.assertOO(r, 400, INVALID)
        with self.subTest(case="transaction entry"):
            tx = {"resourceType": "Bundle", "type": "transaction", "entry": [
                {"request": {"method": "PUT", "url": "Observation/obs-a-w1"},
                 "resource": fhir_observation("obs-b", "pa")}]}
            r = self.a("POST", "", tx)
            self.assertOO(r, 400, INVALID)
        with self.subTest(case="batch entry"):
            batch = {"resourceType": "Bundle", "type": "batch", "entry": [
                {"request": {"method": "PUT", "url": "Observation/obs-a-w1"},
                 "resource": fhir_observation("obs-b", "pa")}]}
            r = self.a("POST", "", batch)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["entry"][0]["response"]["status"].split()[0], "400", r)
        # B's URL, any body id: the answer for a free id (no update-as-create
        # for confined tokens) - 400 (the id check) or 403 (authorization
        # first); either way the same for B's id and a free one.
        m = "nosuch-" + secrets.token_hex(4)
        rb = self.a("PUT", "Observation/obs-b", fhir_observation("obs-a-w1", "pa"))
        rm = self.a("PUT", "Observation/" + m, fhir_observation("obs-a-w1", "pa"))
        self.assertEqual((rb.status, rb.json.get("issue")), (rm.status, rm.json.get("issue")))
        self.assertIn(rb.status, (400, 403), rb)
        r = self.api("GET", "Observation/obs-a-w1", self.admin)
        self.assertEqual(r.json["meta"]["versionId"], "1", "obs-a-w1 was changed")
        self.assertBUnchanged()

    def test_conditional_create_matching_only_b(self):
        """Issue 6: If-None-Exist criteria that match only B's resource
        (docs/auth.md: conditional criteria only match inside the compartment)
        -> 0 matches -> 201, a new resource of A's; B's resource never comes
        back. Control: criteria matching A's resource -> 200 with it."""
        for crit in ("_id=obs-b", "identifier=urn:sec|obs-b-ident", "code=8302-2", "_id=obs-b&code=8302-2",
                     "code=http://loinc.org|8302-2", "_id=obs-b-focus"):
            with self.subTest(criteria=crit):
                r = self.a("POST", "Observation", self.new_obs(), {"If-None-Exist": crit})
                self.assertEqual(r.status, 201, self.show(r))
                self.assertNoBData(r)
                loc = r.header("location") or ""
                self.assertNotIn("obs-b", loc)
                self.assertTrue(loc.startswith(self.base() + "/Observation/"), loc)
        with self.subTest(control="_id=obs-a"):
            r = self.a("POST", "Observation", self.new_obs(), {"If-None-Exist": "_id=obs-a"})
            self.assertEqual(r.status, 200, self.show(r))
            self.assertEqual(r.json.get("id"), "obs-a")
        with self.subTest(case="transaction ifNoneExist"):
            tx = {"resourceType": "Bundle", "type": "transaction", "entry": [
                {"fullUrl": "urn:uuid:0b5e3a3c-1a6f-4d7e-9a55-1c1f0e6b2a01",
                 "request": {"method": "POST", "url": "Observation", "ifNoneExist": "_id=obs-b"},
                 "resource": self.new_obs()}]}
            r = self.a("POST", "", tx)
            self.assertEqual(r.status, 200, self.show(r))
            self.assertNoBData(r)
            e = r.json["entry"][0]
            self.assertEqual(e["response"]["status"].split()[0], "201", r)
            self.assertNotIn("obs-b", e["response"].get("location", ""))
        self.assertBUnchanged()

    def test_conditional_update_and_delete_matching_only_b(self):
        """Conditional update/delete whose criteria match only B's resource:
        0 matches inside the compartment, so the update would be an
        update-as-create, which confined tokens do not get (docs/auth.md:
        403, "it creates with POST") - exactly the answer for criteria that
        match nothing at all, with or without a body id; a conditional
        delete deletes nothing (204). B is unchanged."""
        cases = (("_id=obs-b", fhir_observation("obs-b", "pa")), ("_id=obs-b", self.new_obs()),
                 ("identifier=urn:sec|obs-b-ident", self.new_obs()), ("code=8302-2", self.new_obs()))
        for crit, body in cases:
            with self.subTest(update=crit, body_id=body.get("id")):
                m = "nosuch-" + secrets.token_hex(4)
                mbody = dict(body, id=m) if "id" in body else body
                rb = self.a("PUT", "Observation?" + crit, body)
                rm = self.a("PUT", "Observation?_id=" + m, mbody)
                self.assertOO(rb, 403, FORBIDDEN)
                self.assertEqual((rb.status, rb.json.get("issue")), (rm.status, rm.json.get("issue")))
        for crit in ("_id=obs-b", "identifier=urn:sec|obs-b-ident", "code=8302-2", "_id=obs-b,obs-b-focus"):
            with self.subTest(delete=crit):
                r = self.a("DELETE", "Observation?" + crit)
                self.assertEqual(r.status, 204, self.show(r))
        # criteria naming B through a compartment parameter: docs/auth.md's
        # search rule (403) or "conditional criteria only match inside the
        # compartment" (0 matches: 204) - both hide whether B has any
        r = self.a("DELETE", "Observation?patient=pb")
        if r.status == 403:
            self.forbidden(r)
        else:
            self.assertEqual(r.status, 204, self.show(r))
        self.assertBUnchanged()

    def test_bundle_reference_tricks(self):
        """Issue 6: transaction entries whose fullUrl / urn:uuid / conditional
        references lead to B. A conditional reference is resolved as a
        search (docs/http-behaviour.md), i.e. inside A's compartment: B's
        identifier matches nothing -> 412 exactly as an unknown identifier
        (http.html#trules: no match fails the transaction); nothing written."""
        marker = "tx-" + secrets.token_hex(6)

        def mine(subject, **extra):
            o = self.new_obs(identifier=[{"system": "urn:sec", "value": marker}], **extra)
            o["subject"] = {"reference": subject}
            return o

        def tx(*entries):
            return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}

        u1, u2 = "urn:uuid:6f1c2a9e-3b7d-4c1e-8f00-00000000%04x" % 1, "urn:uuid:6f1c2a9e-3b7d-4c1e-8f00-00000000%04x" % 2
        # conditional references: B's identifier vs an unknown one
        for crit, probe in (("Patient?identifier=urn:sec|B-MRN", "Patient?identifier=urn:sec|NOSUCH-" + marker),
                            ("Patient?_id=pb", "Patient?_id=nosuch-" + marker),
                            ("Patient?name=Betaname", "Patient?name=Nosuchname" + marker.replace("-", "")),
                            ("Patient?identifier=B-MRN", "Patient?identifier=NOSUCH-" + marker)):
            with self.subTest(conditional_reference=crit):
                rb, rm = [self.a("POST", "", tx({"fullUrl": u1, "request": {"method": "POST", "url": "Observation"},
                                                  "resource": mine(c)})) for c in (crit, probe)]
                self.assertOO(rm, 412, PROCESSING)
                self.assertOO(rb, 412, PROCESSING)
                self.assertEqual(rb.json["issue"][0].get("code"), rm.json["issue"][0].get("code"))
                self.assertNoBData(rb)
        # fullUrl naming B's resource on a POST of A's: a new id; B untouched
        with self.subTest(case="POST with B's fullUrl"):
            r = self.a("POST", "", tx({"fullUrl": self.base() + "/Observation/obs-b",
                                       "request": {"method": "POST", "url": "Observation"},
                                       "resource": mine("Patient/pa")}))
            self.assertEqual(r.status, 200, self.show(r))
            self.assertNoBData(r)
            loc = r.json["entry"][0]["response"]["location"]
            self.assertNotIn("obs-b", loc)
        # a urn:uuid that stands for B's Patient (entry PUTting Patient/pb) -> 403, nothing written
        with self.subTest(case="urn:uuid bound to a PUT of Patient/pb"):
            r = self.a("POST", "", tx(
                {"fullUrl": u2, "request": {"method": "PUT", "url": "Patient/pb"}, "resource": fhir_patient("pb", "Betaname")},
                {"fullUrl": u1, "request": {"method": "POST", "url": "Observation"}, "resource": mine(u2)}))
            self.assertOO(r, 403, FORBIDDEN)
        # an absolute reference to B on A's new resource -> 403 (a write for B)
        for subj in (self.base() + "/Patient/pb", "Patient/pb/_history/1"):
            with self.subTest(subject=subj):
                r = self.a("POST", "", tx({"fullUrl": u1, "request": {"method": "POST", "url": "Observation"},
                                           "resource": mine(subj)}))
                self.assertOO(r, 403, FORBIDDEN)
        r = self.api("GET", "Observation?identifier=urn:sec|%s&_count=100" % marker, self.admin)
        self.assertEqual(r.status, 200, r)
        subjects = {e["resource"]["subject"]["reference"] for e in r.json.get("entry") or []}
        self.assertLessEqual(subjects, {"Patient/pa"}, "a resource pointing at B was written: %s" % subjects)
        self.assertBUnchanged()

    def test_writes_into_b_compartment(self):
        """Issue 6 "writes that point a resource at another patient": a new or
        changed resource that would sit in B's compartment (subject, or any
        other compartment parameter such as Observation.performer, naming B)
        is B's data -> 403, even when it also names A; nothing written."""
        marker = "wr-" + secrets.token_hex(6)
        ident = [{"system": "urn:sec", "value": marker}]
        creates = {
            "subject B": dict(self.new_obs("pb"), identifier=ident),
            "subject B absolute": dict(self.new_obs("pa"), identifier=ident,
                                       subject={"reference": self.base() + "/Patient/pb"}),
            "subject B, performer A": dict(self.new_obs("pb"), identifier=ident, performer=[ref("Patient", "pa")]),
            "subject A, performer B": dict(self.new_obs("pa"), identifier=ident, performer=[ref("Patient", "pb")]),
        }
        for name, body in creates.items():
            with self.subTest(create=name):
                self.forbidden(self.a("POST", "Observation", body))
        updates = {
            "performer B": dict(fhir_observation("obs-a-w2", "pa"), performer=[ref("Patient", "pb")]),
            "subject B, performer A": dict(fhir_observation("obs-a-w2", "pb"), performer=[ref("Patient", "pa")]),
        }
        for name, body in updates.items():
            with self.subTest(update=name):
                self.forbidden(self.a("PUT", "Observation/obs-a-w2", body))
        with self.subTest(patch="add performer B"):
            p = [{"op": "add", "path": "/performer", "value": [{"reference": "Patient/pb"}]}]
            self.forbidden(self.a("PATCH", "Observation/obs-a-w3", json.dumps(p).encode(), {"Content-Type": PATCH_CT}))
        r = self.api("GET", "Observation?identifier=urn:sec|%s" % marker, self.admin)
        self.assertEqual(ids(r), set(), "written: %s" % ids(r))
        for oid in ("obs-a-w2", "obs-a-w3"):
            r = self.api("GET", "Observation/" + oid, self.admin)
            self.assertEqual(r.json["meta"]["versionId"], "1", "%s was changed: %r" % (oid, r))
        self.assertBUnchanged()
