"""Search values longer than an index entry may be (search/value.h:
SEARCH_VALUE_MAX = 1000 bytes).

A resource whose searchable strings, identifiers or URIs are several kB long
is a valid resource: it must be stored (201) and found, on SQLite and on
PostgreSQL alike (PostgreSQL's B-tree entries hold at most ~2.7 kB, so
without the cut such a write failed there). What docs/search.md promises:
values compare on their first 1000 bytes - a search by the full long value
finds the resource (its first 1000 bytes match), as does a search by a
prefix, and a value that differs only after byte 1000 cannot be told apart.
Runs in both passes of the suite (fhirtest.Server picks the backend)."""
import hashlib
import json
import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))

from fhirtest import Server  # noqa: E402

FHIR_JSON = "application/fhir+json"
SYS = "urn:example:long"


def noise(n, seed):
    """n hex digits that do not compress (PostgreSQL compresses an index
    entry before it checks its size, so repeated text would fit)."""
    out, h = "", seed.encode()
    while len(out) < n:
        h = hashlib.sha256(h).digest()
        out += h.hex()
    return out[:n]


class TestLongValues(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        # multi-byte characters straddle the 1000-byte cut: it must not
        # split one (the stored body keeps the whole value)
        cls.family = "Lang" + "".join("\u00e9" + c for c in noise(1500, "family"))  # 4 + 4500 bytes
        cls.ident = "ID-" + noise(4000, "ident")        # 4003 bytes
        cls.url = "http://example.org/" + noise(3000, "url")
        cls.pid = cls.create({"resourceType": "Patient", "name": [{"family": cls.family}],
                              "identifier": [{"system": SYS, "value": cls.ident}]})
        cls.other = cls.create({"resourceType": "Patient", "name": [{"family": "Short"}],
                                "identifier": [{"system": SYS, "value": "ID-short"}]})
        r = cls.server.request("POST", "ValueSet", {"resourceType": "ValueSet", "status": "draft", "url": cls.url},
                               {"Content-Type": FHIR_JSON})
        assert r.status == 201, (r.status, r.body[:500])
        cls.vs = r.json["id"]

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0

    @classmethod
    def create(cls, res):
        r = cls.server.request("POST", res["resourceType"], res, {"Content-Type": FHIR_JSON})
        assert r.status == 201, (r.status, r.body[:500])
        return r.json["id"]

    def ids(self, query):
        """POST [type]/_search with the query as a form (the long values
        would make a GET longer than max_url_bytes)."""
        rtype, _, qs = query.partition("?")
        r = self.server.request("POST", rtype + "/_search", qs.encode(),
                                {"Accept": FHIR_JSON, "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r.body[:500])
        return {e["resource"]["id"] for e in r.json.get("entry", [])}

    def test_stored_whole(self):
        r = self.server.request("GET", "Patient/" + self.pid)
        self.assertEqual(r.status, 200)
        body = json.loads(r.body)
        self.assertEqual(body["name"][0]["family"], self.family)
        self.assertEqual(body["identifier"][0]["value"], self.ident)

    def test_string_prefix_and_full_value(self):
        q = urllib.parse.quote
        self.assertEqual(self.ids("Patient?family=" + q(self.family[:12])), {self.pid})
        self.assertEqual(self.ids("Patient?family=" + q(self.family)), {self.pid})
        self.assertEqual(self.ids("Patient?family:exact=" + q(self.family)), {self.pid})
        self.assertEqual(self.ids("Patient?family=short"), {self.other})

    def test_token_full_value(self):
        q = urllib.parse.quote
        self.assertEqual(self.ids("Patient?identifier=" + q(SYS + "|" + self.ident)), {self.pid})
        self.assertEqual(self.ids("Patient?identifier=" + q(self.ident)), {self.pid})
        # differs within the first 1000 bytes: not found
        self.assertEqual(self.ids("Patient?identifier=" + q("ID-X" + self.ident[4:])), set())

    def test_difference_past_the_cut_is_not_seen(self):
        """The documented cost: only the first 1000 bytes are compared."""
        q = urllib.parse.quote
        changed = self.ident[:1500] + ("0" if self.ident[1500] != "0" else "1") + self.ident[1501:]
        self.assertEqual(self.ids("Patient?identifier=" + q(SYS + "|" + changed)), {self.pid})

    def test_uri(self):
        q = urllib.parse.quote
        self.assertEqual(self.ids("ValueSet?url=" + q(self.url)), {self.vs})


if __name__ == "__main__":
    unittest.main()
