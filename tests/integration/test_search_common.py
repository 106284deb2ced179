"""test_search_common.py - helpers shared by the test_search_*.py files (no tests here).

Search (hl7.org/fhir/R4/search.html) answers with a searchset Bundle; the helpers
check its shape on every call (type, absolute self link on the server's base,
entry.fullUrl = [base]/Type/id, entry.search.mode) and follow `next` links, so a
table case compares the WHOLE result set, whatever the page size.

Names of resources in the tables:
  - hand-made fixtures are PUT with their ids, and named by them;
  - the Inferno US Core Bundles (data/demo/uscore_bundle_patient_{85,355}.json)
    are transaction Bundles whose entries are PUT Patient/85 (resp. 355) and
    otherwise POST entries with urn:uuid fullUrls. POST entries get new server
    ids (docs/http-behaviour.md), so a resource of those Bundles is named by the
    first 8 hex digits of its fullUrl uuid (unique over both Bundles), e.g.
    "b8b254a2"; the Patients are "85" and "355". load_inferno() reads the
    transaction-response (entries in request order) to map names to server ids.
  - a query may name a server id as {Type/name} and the base as {base};
    expand() substitutes them and percent-encodes every name and value
    (so ',' '|' '$' '\\' reach the server encoded and are decoded by it).
"""
import json
import os
import re
import urllib.parse

from fhirtest import Server
from itutil import SpecCase, link, request

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO_DIR = os.path.join(HERE, "..", "..", "data", "demo")
INFERNO_FILES = ("uscore_bundle_patient_85.json", "uscore_bundle_patient_355.json")
SUBSETTED = ("http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "SUBSETTED")
MAX_PAGES = 1000
LOC_RE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})/_history/[0-9]+$")
PLACEHOLDER_RE = re.compile(r"\{([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]+)\}")


class Names:
    """(type, name) <-> (type, server id). Unknown names/ids map to themselves."""

    def __init__(self):
        self.sid_of = {}
        self.name_of = {}

    def add(self, rtype, name, sid):
        if (rtype, name) in self.sid_of and self.sid_of[(rtype, name)] != sid:
            raise AssertionError("name %s/%s used twice" % (rtype, name))
        self.sid_of[(rtype, name)] = sid
        self.name_of[(rtype, sid)] = name

    def sid(self, rtype, name):
        return self.sid_of.get((rtype, name), name)

    def name(self, rtype, sid):
        return self.name_of.get((rtype, sid), sid)


def inferno_name(entry):
    """The name a test gives to an entry of the Inferno Bundles."""
    req = entry["request"]
    if req["method"] == "PUT":
        return req["url"].split("/", 1)[1]
    return entry["fullUrl"].rsplit(":", 1)[1][:8]


def inferno_bundles():
    out = []
    for fn in INFERNO_FILES:
        with open(os.path.join(DEMO_DIR, fn), "rb") as f:
            raw = f.read()
        out.append((raw, json.loads(raw)))
    return out


def load_inferno(server, names):
    """POSTs both transaction Bundles as they are and records every entry's server id."""
    for raw, b in inferno_bundles():
        r = request(server, "POST", "", raw, {"Content-Type": "application/fhir+json"})
        if r.status != 200 or not isinstance(r.json, dict):
            raise AssertionError("loading the Inferno Bundle failed: %s %r" % (r.status, r.body[:800]))
        resp = r.json.get("entry") or []
        if len(resp) != len(b["entry"]):
            raise AssertionError("transaction-response has %d entries for %d" % (len(resp), len(b["entry"])))
        for e, out in zip(b["entry"], resp):
            m = LOC_RE.search(out["response"].get("location") or "")
            if not m or m.group(1) != e["resource"]["resourceType"]:
                raise AssertionError("unexpected location %r" % out["response"])
            names.add(m.group(1), inferno_name(e), m.group(2))


def inferno_subject_names(rtype, patient):
    """Names of the Inferno resources of rtype whose subject, patient or beneficiary
    is Patient/<patient> (read from the Bundle files: the urn:uuid of the Patient entry)."""
    out = set()
    for _, b in inferno_bundles():
        purn = [e["fullUrl"] for e in b["entry"] if e["request"]["url"] == "Patient/" + patient]
        for e in b["entry"]:
            res = e["resource"]
            if res["resourceType"] != rtype:
                continue
            for k in ("subject", "patient", "beneficiary"):
                ref = res.get(k).get("reference") if isinstance(res.get(k), dict) else None
                if ref and ref in purn:
                    out.add(inferno_name(e))
    return out


def encode_query(qs):
    """'a=b|c&d:e=f,g' -> each name and value percent-encoded (':' kept in names)."""
    if not qs:
        return ""
    parts = []
    for pair in qs.split("&"):
        name, eq, value = pair.partition("=")
        parts.append(urllib.parse.quote(name, safe=":._-") + (eq and "=" + urllib.parse.quote(value, safe="")))
    return "&".join(parts)


def put_all(server, resources):
    for res in resources:
        r = request(server, "PUT", "%s/%s" % (res["resourceType"], res["id"]), res)
        if r.status not in (200, 201):
            raise AssertionError("PUT %s/%s -> %s %r" % (res["resourceType"], res["id"], r.status, r.body[:800]))


def delete(server, path):
    r = request(server, "DELETE", path)
    if r.status != 204:
        raise AssertionError("DELETE %s -> %s %r" % (path, r.status, r.body[:500]))


_SHARED = {}


def stop_shared(module):
    """tearDownModule of a test_search_* file: stops the module's server (exit 0 expected)."""
    entry = _SHARED.pop(module, None)
    if entry and entry[0] is not None:
        rc = entry[0].stop()
        entry[0].cleanup()
        assert rc == 0, "server exited with %s" % rc


class SearchCase(SpecCase):
    """SpecCase with a searchset checker. One server per test module: the first
    class of a module starts it and calls populate(server, names, state); the
    other classes of the module reuse it (tests must not write, unless a class
    sets OWN_SERVER); the module's tearDownModule calls stop_shared(__name__)."""
    names = None
    state = None
    OWN_SERVER = False

    @classmethod
    def populate(cls, server, names, state):
        """Loads the data the module's tests search. Override."""

    @classmethod
    def setUpClass(cls):
        key = cls.__module__ + ("." + cls.__name__ if cls.OWN_SERVER else "")
        if key not in _SHARED:
            server = Server(*cls.SERVER_ARGS)
            names, state = Names(), {}
            try:
                cls.populate(server, names, state)
            except BaseException as e:
                rc = server.stop()
                server.cleanup()
                _SHARED[key] = (None, None, e)
                raise AssertionError("loading the search data failed (server exit %s): %s" % (rc, e)) from e
            _SHARED[key] = (server, names, state)
        server, names, state = _SHARED[key]
        if server is None:
            raise AssertionError("loading the search data failed: %s" % state)
        cls.server, cls.names, cls.state = server, names, state

    @classmethod
    def tearDownClass(cls):
        if cls.OWN_SERVER:
            stop_shared(cls.__module__ + "." + cls.__name__)

    # ---- queries -------------------------------------------------------
    def substitute(self, text):
        """{base} and {Type/name} replaced by the base URL and server ids."""
        text = text.replace("{base}", self.server.base)
        return PLACEHOLDER_RE.sub(lambda m: self.names.sid(m.group(1), m.group(2)), text)

    def expand(self, query):
        """substitute(), then names and values percent-encoded; "?..." is [base]?..."""
        path, q, qs = self.substitute(query).partition("?")
        if not path:
            path = self.server.base          # system level: [base]?...
        return path + (q + encode_query(qs) if q else "")

    def ref(self, rtype, name):
        return "%s/%s" % (rtype, self.names.sid(rtype, name))

    # ---- searchset checks ----------------------------------------------
    def check_searchset(self, r, what):
        self.assertStatus(r, 200)
        self.assertFhirJson(r)
        b = r.json
        self.assertEqual(b.get("resourceType"), "Bundle", what)
        self.assertEqual(b.get("type"), "searchset", what)
        self_link = link(b, "self")
        self.assertTrue(self_link, "searchset without a self link: %s" % what)
        self.assertTrue(self_link.startswith(self.server.base),
                        "self link %r not on the base %s" % (self_link, self.server.base))
        for lk in b.get("link") or []:
            self.assertTrue(lk.get("url", "").startswith(self.server.base), "link %r is not absolute on the base" % lk)
        for e in b.get("entry") or []:
            res = e.get("resource")
            self.assertIsInstance(res, dict, "entry without resource in %s" % what)
            self.assertEqual(e.get("fullUrl"), "%s/%s/%s" % (self.server.base, res.get("resourceType"), res.get("id")),
                             "fullUrl of an entry in %s" % what)
            self.assertIn((e.get("search") or {}).get("mode"), ("match", "include", "outcome"), e.get("search"))
        return b

    def get_bundle(self, query, headers=None):
        """GET one page (query through expand()); returns the Bundle."""
        path = self.expand(query)
        return self.check_searchset(self.fetch("GET", path, headers=headers), path)

    def get_page(self, url, headers=None):
        return self.check_searchset(self.fetch("GET", url, headers=headers), url)

    def follow(self, first, headers=None):
        """All pages from a first Bundle on: returns (entries, pages)."""
        pages, seen = [first], set()
        entries = list(first.get("entry") or [])
        nxt = link(first, "next")
        while nxt:
            self.assertNotIn(nxt, seen, "paging loops at %s" % nxt)
            self.assertLess(len(pages), MAX_PAGES, "more than %d pages" % MAX_PAGES)
            seen.add(nxt)
            b = self.get_page(nxt, headers)
            pages.append(b)
            entries.extend(b.get("entry") or [])
            nxt = link(b, "next")
        return entries, pages

    def search_all(self, query, headers=None):
        """GET query and every next page: returns (entries, pages)."""
        return self.follow(self.get_bundle(query, headers), headers)

    def post_search(self, rtype, form, url_query="", headers=None):
        """POST [base]/[type]/_search (rtype None: POST [base]/_search) with a form body."""
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        path = self.expand(("%s/_search" % rtype if rtype else "_search") + ("?" + url_query if url_query else ""))
        body = encode_query(self.substitute(form))
        r = self.fetch("POST", path, body, h)
        return self.check_searchset(r, "POST %s %s" % (path, body))

    # ---- entry sets ----------------------------------------------------
    def names_of(self, entries, mode="match", typed=False):
        """Names of the entries of mode, as a set; typed: "Type/name". Asserts no duplicates."""
        out = []
        for e in entries:
            if (e.get("search") or {}).get("mode") != mode:
                continue
            res = e["resource"]
            n = self.names.name(res["resourceType"], res["id"])
            out.append("%s/%s" % (res["resourceType"], n) if typed else n)
        dups = sorted({x for x in out if out.count(x) > 1})
        self.assertEqual(dups, [], "entries of mode %s appear more than once" % mode)
        return set(out)

    def ordered(self, entries, mode="match"):
        return [self.names.name(e["resource"]["resourceType"], e["resource"]["id"])
                for e in entries if (e.get("search") or {}).get("mode") == mode]

    def assertSameSet(self, got, want, query):
        want = set(want)
        if got != want:
            self.fail("%s\n  missing:    %s\n  unexpected: %s" % (query, sorted(want - got), sorted(got - want)))

    def assertSearch(self, query, want, typed=False, headers=None):
        """The match entries over all pages of query are exactly want (names)."""
        entries, _ = self.search_all(query, headers)
        self.assertSameSet(self.names_of(entries, typed=typed), want, query)
        return entries

    def run_table(self, cases, typed=False):
        for query, want in cases:
            with self.subTest(query=query):
                self.assertSearch(query, want, typed=typed)

    def assertRejected(self, query, statuses=(400,), headers=None, method="GET"):
        path = self.expand(query)
        r = self.fetch(method, path, headers=headers)
        self.assertOutcome(r, statuses)
        return r

    def assertAlive(self):
        r = self.fetch("GET", "metadata")
        self.assertStatus(r, 200)


def has_subsetted(res):
    return any((t.get("system"), t.get("code")) == SUBSETTED for t in (res.get("meta") or {}).get("tag") or [])
