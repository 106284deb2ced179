"""Issue 7: a search answers the same on PostgreSQL as on SQLite.

The same resources go into a server on SQLite and a server on PostgreSQL;
then every search below is walked page by page along the next links to the
end and back along the previous links, on each server. Required of the
PostgreSQL backend: the same resources in the same order (sort keys with
missing values last, then type and id; text compared by bytes, so "Z" comes
before "a" and non-ASCII after ASCII), the same totals, the same has-more
decisions (same links), and cursors that carry the same position: the same
sort-key values of the same JSON kinds (integer for dates, a real for
quantities, a string for text), which is what lets a cursor of one node
page on another.

The data is chosen to tell byte order from other orders and NULLs from
values: names that differ only in case, accented and non-Latin names and
an emoji (4-byte UTF-8), patients without a name or birth date, quantities
that are whole numbers and fractions, negative and large.

PostgreSQL comes from FHIRD_TEST_PG (the suite's cluster) when set, else a
throwaway cluster of our own (tests/pgcluster.py); skipped when no
PostgreSQL server is installed.
"""
import base64
import json
import os
import shutil
import sys
import tempfile
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import pgcluster  # noqa: E402
import fhirtest  # noqa: E402
from fhirtest import Server  # noqa: E402

PATIENTS = [
    ("p01", ["Smith"], "1970-01-01", "male", "Practitioner/d1"),
    ("p02", ["smith"], "1970", "female", "Practitioner/d2"),
    ("p03", ["Zoë"], "1980-05", "female", "Practitioner/d1"),
    ("p04", ["Émile"], "1980-05-17", "male", None),
    ("p05", ["日本"], None, "other", "Practitioner/d2"),
    ("p06", ["😀 Grin"], "2001-02-03", "unknown", None),
    ("p07", None, "1990-12-31", "male", "Practitioner/d1"),
    ("p08", ["Ab"], None, None, None),
    ("p09", ["aB"], "1970-01-01", "female", None),
    ("p10", ["Smithers", "Anne"], "1955", "female", "Practitioner/d2"),
    ("p11", ["Z"], "2010-06-01", "male", None),
    ("p12", ["a"], "1970-01-02", None, "Practitioner/d1"),
]

# identifier values: their byte order is not their order in any locale
MRN = {"p01": "B", "p02": "a", "p03": "Z", "p04": "\u00e9", "p05": "\u65e5", "p06": "\U0001F600",
       "p07": "b", "p08": "A1", "p09": "a0", "p10": "\u00c9", "p11": "z", "p12": "_"}

# (id, patient, value or None, unit, date)
OBSERVATIONS = [
    ("o01", "p01", 5, "kg", "2020-01-01"),
    ("o02", "p01", 5.5, "kg", "2020-01-02"),
    ("o03", "p01", -3, "kg", "2019-12-31"),
    ("o04", "p02", 1000, "g", "2020-03-01T10:00:00Z"),
    ("o05", "p02", 100.25, "g", "2021"),
    ("o06", "p03", None, None, "2020-01-01"),
    ("o07", "p03", 5, "kg", None),
    ("o08", "p04", 0.1, "kg", "2020-06"),
    ("o09", "p06", 99.99, "kg", "2022-02-02"),
    ("o10", "p01", 7, "kg", "2020-01-01"),
    ("o11", "p09", 5, "kg", "2018-01-01"),
]

VALUESETS = [
    ("v1", "http://ex.org/fhir/ValueSet/a"),
    ("v2", "http://ex.org/fhir/ValueSet/a/b"),
    ("v3", "http://ex.org/fhir/ValueSet/ab"),
    ("v4", "http://ex.org/other"),
]

# Searches walked on both servers (page size from _count).
SEARCHES = [
    "Patient?_count=3",
    "Patient?_sort=name&_count=2",
    "Patient?_sort=-name&_count=2",
    "Patient?_sort=birthdate,name&_count=3",
    "Patient?_sort=-birthdate,-_id&_count=4",
    "Patient?_sort=gender,-birthdate&_count=3&_total=accurate",
    "Patient?_sort=general-practitioner,_id&_count=2",
    "Patient?_sort=_id&_count=5",
    "Patient?_sort=identifier&_count=3",
    "Patient?_sort=-identifier,name&_count=5",
    "Patient?identifier=http://ex.org/mrn|%C3%A9",
    "Patient?name=sm&_count=2&_total=accurate",
    "Patient?name=SMITH&_sort=name",
    "Patient?name:exact=Smith",
    "Patient?name:contains=mi&_sort=-name",
    "Patient?name=emile",
    "Patient?name=%E6%97%A5",
    "Patient?name=%F0%9F%98%80",
    "Patient?name=z&_sort=name",
    "Patient?birthdate=1970&_sort=birthdate&_count=2",
    "Patient?birthdate=ge1980&birthdate=lt2005&_sort=-birthdate",
    "Patient?birthdate:missing=true",
    "Patient?gender=female,male&_sort=name&_count=2&_total=accurate",
    "Patient?gender:not=male&_sort=_id",
    "Patient?general-practitioner=Practitioner/d1&_count=2",
    "Patient?_has:Observation:patient:value-quantity=gt4&_sort=_id",
    "Observation?_sort=value-quantity&_count=3",
    "Observation?_sort=-value-quantity,_id&_count=3",
    "Observation?_sort=date,-value-quantity&_count=4",
    "Observation?_sort=-date&_count=3&_total=accurate",
    "Observation?value-quantity=5&_sort=_id",
    "Observation?value-quantity=gt4&_sort=-value-quantity",
    "Observation?value-quantity=le5.5&value-quantity=ge-3&_sort=value-quantity",
    "Observation?value-quantity=ap100",
    "Observation?value-quantity=5||kg&_count=1",
    "Observation?subject=Patient/p01&_sort=-date&_count=2",
    "Observation?subject=Patient/p01&_count=1",
    "Observation?patient.name=smith&_sort=_id",
    "Observation?patient:Patient.birthdate=1970&_count=2",
    "Observation?value-quantity:missing=true",
    "Patient/p01/Observation?_sort=value-quantity&_count=2",
    "Patient/p01/Observation?_count=2",
    "Patient/p01/$everything?_count=3",
    "ValueSet?url:below=http://ex.org/fhir/ValueSet/a&_sort=url",
    "ValueSet?url:above=http://ex.org/fhir/ValueSet/a/b/c",
    "ValueSet?_sort=-url&_count=1",
    "?_type=Patient,Observation&_sort=_id&_count=5",
    "?_id=p01,o01,v1&_count=2",
    "Patient?_count=0&_total=accurate",
]


def cursor_payload(url):
    """The position a next/previous link carries: the cursor's JSON without
    its issue time (the MAC is per server and not compared)."""
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    c = q["_cursor"][0]
    b64 = c.rsplit(".", 1)[0]
    data = json.loads(base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)))
    data.pop("t", None)
    # kinds matter as much as values: 5 and 5.0 are different keys
    data["k"] = [[type(v).__name__, v] for v in data.get("k", [])]
    return data


def link(bundle, rel):
    for l in bundle.get("link", []):
        if l["relation"] == rel:
            return l["url"]
    return None


def ids(bundle):
    return [e["resource"]["resourceType"] + "/" + e["resource"]["id"] for e in bundle.get("entry", [])
            if e.get("search", {}).get("mode", "match") == "match"]


class ParityCase(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.cluster = None
        cls.pg_url = None
        cls.tmp = tempfile.mkdtemp(prefix="fhird-parity-")
        if fhirtest.PG:
            cls.pg_url = fhirtest.pg_new_db()
        elif pgcluster.available():
            cls.cluster = pgcluster.Cluster().start()
            cls.pg_url = cls.cluster.create_db("parity")
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise unittest.SkipTest("PostgreSQL server binaries not installed")
        lite_dir = os.path.join(cls.tmp, "lite")
        os.mkdir(lite_dir)
        # the last --db given wins: the SQLite file even when the harness
        # itself runs on PostgreSQL
        cls.lite = Server("--db", os.path.join(lite_dir, "lite.db"))
        cls.pg = Server("--db", cls.pg_url)
        for s in (cls.lite, cls.pg):
            cls.load(s)

    @classmethod
    def tearDownClass(cls):
        for s in (getattr(cls, "lite", None), getattr(cls, "pg", None)):
            if s:
                s.cleanup()
        if cls.cluster:
            cls.cluster.stop()
        elif cls.pg_url:
            fhirtest.pg_drop_db(cls.pg_url)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def load(cls, s):
        def put(res):
            r = s.request("PUT", "%s/%s" % (res["resourceType"], res["id"]), res)
            assert r.status in (200, 201), (r.status, r.body[:300])

        for pid, names, birth, gender, gp in PATIENTS:
            p = {"resourceType": "Patient", "id": pid,
                 "identifier": [{"system": "http://ex.org/mrn", "value": MRN[pid]}]}
            if names:
                p["name"] = [{"family": names[0], "given": names[1:]}] if len(names) > 1 else [{"family": names[0]}]
            if birth:
                p["birthDate"] = birth
            if gender:
                p["gender"] = gender
            if gp:
                p["generalPractitioner"] = [{"reference": gp}]
            put(p)
        for oid, pid, value, unit, date in OBSERVATIONS:
            o = {"resourceType": "Observation", "id": oid, "status": "final",
                 "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                 "subject": {"reference": "Patient/" + pid}}
            if value is not None:
                o["valueQuantity"] = {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                                      "code": unit}
            if date:
                o["effectiveDateTime"] = date
            put(o)
        for vid, url in VALUESETS:
            put({"resourceType": "ValueSet", "id": vid, "status": "active", "url": url})

    def walk(self, s, search):
        """Pages forward to the end, then back to the start: what each page
        showed, its links' positions, and the total."""
        pages, positions, totals = [], [], []
        r = s.request("GET", search)
        self.assertEqual(r.status, 200, (search, r.body[:500]))
        b = json.loads(r.body)
        seen = 0
        while True:
            pages.append(ids(b))
            totals.append(b.get("total"))
            nxt = link(b, "next")
            positions.append(("next", cursor_payload(nxt) if nxt else None))
            seen += 1
            self.assertLess(seen, 50, search)
            if not nxt:
                break
            r = s.request("GET", nxt)
            self.assertEqual(r.status, 200, (nxt, r.body[:500]))
            b = json.loads(r.body)
        # and back
        while True:
            prev = link(b, "previous")
            positions.append(("previous", cursor_payload(prev) if prev else None))
            if not prev:
                break
            r = s.request("GET", prev)
            self.assertEqual(r.status, 200, (prev, r.body[:500]))
            b = json.loads(r.body)
            pages.append(ids(b))
            seen += 1
            self.assertLess(seen, 100, search)
        return pages, positions, totals

    def test_same_pages_positions_totals(self):
        for search in SEARCHES:
            with self.subTest(search=search):
                lite = self.walk(self.lite, search)
                pg = self.walk(self.pg, search)
                self.assertEqual(pg[0], lite[0], "pages differ: " + search)
                self.assertEqual(pg[2], lite[2], "totals differ: " + search)
                self.assertEqual(pg[1], lite[1], "cursor positions differ: " + search)

    def test_walks_cover_every_match_once(self):
        """The walk itself is sound on PostgreSQL: forward pages are disjoint
        and together equal one big page; walking back shows the same pages
        in reverse (so the parity above compares complete answers)."""
        for search in SEARCHES:
            if "_count=0" in search:
                continue
            with self.subTest(search=search):
                pages, _, _ = self.walk(self.pg, search)
                big = search.split("_count=")[0].rstrip("&?")
                sep = "&" if "?" in big else "?"
                r = self.pg.request("GET", big + sep + "_count=100")
                self.assertEqual(r.status, 200, r.body[:300])
                whole = ids(json.loads(r.body))
                forward = []
                i = 0
                while i < len(pages):
                    forward += pages[i]
                    i += 1
                    if sum(len(p) for p in pages[:i]) >= len(whole):
                        break
                self.assertEqual(forward, whole, search)
                self.assertEqual(len(set(forward)), len(forward), search)
                back = pages[i:]
                if back:
                    self.assertEqual(back, list(reversed(pages[:i]))[1:len(back) + 1], search)

    def test_byte_order(self):
        """Text sorts by its UTF-8 bytes on PostgreSQL as on SQLite: "B" and
        "Z" before "a", ASCII before "é", "é" before CJK before an emoji
        (the order a locale-aware collation would not give)."""
        for desc in (False, True):
            with self.subTest(desc=desc):
                r = self.pg.request("GET", "Patient?_sort=%sidentifier&_count=100" % ("-" if desc else ""))
                self.assertEqual(r.status, 200, r.body[:300])
                want = sorted(((MRN[pid].encode(), pid) for pid in MRN), reverse=desc)
                self.assertEqual(ids(json.loads(r.body)), ["Patient/" + pid for _, pid in want])


if __name__ == "__main__":
    unittest.main()
