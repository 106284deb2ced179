"""A patient and a token together (Observation?patient=X&category=Y, the
commonest US Core search): hand-made fixtures for the cases where a server
that answers it from a (patient, token) index (SQLite: ix_pt) could go
wrong - a code in two systems, a code without a system, system|code and
|code, a resource moved to another patient or to another code by an update,
a deleted one, a reference written as Patient/id or as an absolute URL on
our base, a subject that is not a Patient, other clauses next to the pair,
paging forward and back. Every expected set and order is derived by hand
from the fixtures below and search.html#token / #reference; the default
order of a page is by resource id (docs/search.md).

Fixture state after populate: o-mv moved from pa to pb and o-cat from
laboratory to vital-signs (updates), o-del is deleted.
"""
import json
import os
import sqlite3
import unittest

from fhirtest import Server, run_cli, skip_on_pg
from itutil import link
from test_search_common import SearchCase, delete, put_all, stop_shared

OBSCAT = "http://terminology.hl7.org/CodeSystem/observation-category"
OTHER = "urn:test:other-category"
LOINC = "http://loinc.org"
HR = {"coding": [{"system": LOINC, "code": "8867-4"}]}


def obs(rid, subject, cats, status="final"):
    """An Observation of subject with category codings cats [(system|None, code)]."""
    coding = []
    for system, code in cats:
        c = {"code": code}
        if system:
            c["system"] = system
        coding.append(c)
    return {"resourceType": "Observation", "id": rid, "status": status, "code": HR,
            "subject": {"reference": subject}, "category": [{"coding": coding}]}


VS = [(OBSCAT, "vital-signs")]
LAB = [(OBSCAT, "laboratory")]

PATIENTS = [{"resourceType": "Patient", "id": "pa"}, {"resourceType": "Patient", "id": "pb"}]
GROUPS = [{"resourceType": "Group", "id": "g1", "type": "person", "actual": True}]
OBSERVATIONS = [
    obs("o-a1", "Patient/pa", VS),
    obs("o-a2", "Patient/pa", LAB),
    obs("o-a3", "Patient/pa", [(OBSCAT, "vital-signs"), (OTHER, "vital-signs")]),  # one code, two systems
    obs("o-a4", "Patient/pa", [(None, "vital-signs")]),                           # no system
    obs("o-a6", "Patient/pa", VS),
    obs("o-a7", "Patient/pa", VS),
    obs("o-b1", "Patient/pb", VS),
    obs("o-mv", "Patient/pa", VS),
    obs("o-cat", "Patient/pa", LAB),
    obs("o-del", "Patient/pa", VS),
    obs("o-grp", "Group/g1", VS),
]
UPDATES = [obs("o-mv", "Patient/pb", VS), obs("o-cat", "Patient/pa", VS)]

# pa's current Observations with vital-signs in any system, in id order
PA_VS = ["o-a1", "o-a3", "o-a4", "o-a5", "o-a6", "o-a7", "o-cat"]


def tearDownModule():
    stop_shared(__name__)


class PatientTokenCase(SearchCase):
    SERVER_ARGS = ("--log-level", "debug")

    @classmethod
    def populate(cls, s, names, state):
        put_all(s, PATIENTS + GROUPS + OBSERVATIONS)
        # o-a5: the subject as an absolute reference on our base, preliminary
        a5 = obs("o-a5", s.base + "/Patient/pa", VS, status="preliminary")
        put_all(s, [a5])
        put_all(s, UPDATES)
        delete(s, "Observation/o-del")


class TestPatientToken(PatientTokenCase):
    CASES = [
        ("Observation?patient=pa&category=vital-signs", set(PA_VS)),
        ("Observation?patient=Patient/pa&category=vital-signs", set(PA_VS)),
        ("Observation?patient={base}/Patient/pa&category=vital-signs", set(PA_VS)),
        ("Observation?category=vital-signs&patient=pa", set(PA_VS)),
        # subject=Patient/pa names the same resources (Observation.patient is
        # Observation.subject where it is a Patient)
        ("Observation?subject=Patient/pa&category=vital-signs", set(PA_VS)),
        # system|code: o-a4 has no system; o-a3 has this one among two
        ("Observation?patient=pa&category=%s|vital-signs" % OBSCAT, set(PA_VS) - {"o-a4"}),
        ("Observation?patient=pa&category=%s|vital-signs" % OTHER, {"o-a3"}),
        # |code: only codings without a system
        ("Observation?patient=pa&category=|vital-signs", {"o-a4"}),
        ("Observation?patient=pa&category=urn:none|vital-signs", set()),
        # o-cat left laboratory, so only o-a2 stays
        ("Observation?patient=pa&category=laboratory", {"o-a2"}),
        # o-mv moved to pb; o-grp's subject is a Group, in no patient's set
        ("Observation?patient=pb&category=vital-signs", {"o-b1", "o-mv"}),
        ("Observation?patient=nobody&category=vital-signs", set()),
        ("Observation?subject=Group/g1&category=vital-signs", {"o-grp"}),
        # other clauses next to the pair still apply (o-a5 is preliminary)
        ("Observation?patient=pa&category=vital-signs&status=preliminary", {"o-a5"}),
        ("Observation?patient=pa&category=vital-signs&status=final", set(PA_VS) - {"o-a5"}),
        ("Observation?patient=pa&category=vital-signs&category=%s|vital-signs" % OTHER, {"o-a3"}),
        ("Observation?patient=pa&category=vital-signs&_id=o-a1,o-a2", {"o-a1"}),
        # another token parameter, and OR on the token
        ("Observation?patient=pa&code=%s|8867-4" % LOINC, set(PA_VS) | {"o-a2"}),
        ("Observation?patient=pa&category=vital-signs,laboratory", set(PA_VS) | {"o-a2"}),
        ("Observation?patient=pa&category:not=vital-signs", {"o-a2"}),
        # in a compartment (search.html#compartments): patient=X inside
        # Patient/X's compartment selects the same resources; inside another
        # patient's compartment, nothing
        ("Patient/pa/Observation?category=vital-signs", set(PA_VS)),
        ("Patient/pa/Observation?patient=pa&category=vital-signs", set(PA_VS)),
        ("Patient/pa/Observation?patient=Patient/pa&category=laboratory", {"o-a2"}),
        ("Patient/pa/Observation?patient=pb&category=vital-signs", set()),
        ("Patient/pb/Observation?patient=pb&category=vital-signs", {"o-b1", "o-mv"}),
        ("Patient/pb/Observation?patient=pa&category=vital-signs", set()),
    ]

    def test_sets(self):
        self.run_table(self.CASES)

    def test_each_once_in_id_order_across_pages(self):
        for count in (1, 2, 3, 100):
            with self.subTest(count=count):
                entries, pages = self.search_all("Observation?patient=pa&category=vital-signs&_count=%d" % count)
                self.assertEqual(self.ordered(entries), PA_VS)
                self.assertEqual(len(pages), -(-len(PA_VS) // count))

    def test_previous_links_walk_back(self):
        entries, pages = self.search_all("Observation?patient=pa&category=vital-signs&_count=2")
        back, seen = [], 0
        page = pages[-1]
        while True:
            back = self.ordered(page.get("entry") or []) + back
            prev = link(page, "previous")
            if not prev:
                break
            seen += 1
            self.assertLess(seen, 10)
            page = self.get_page(prev)
        self.assertEqual(back, PA_VS)

    @skip_on_pg("ix_pt is the SQLite schema's")
    def test_answered_from_the_patient_token_key(self):
        """The queries above exercise the (patient, token) key: the debug log
        shows the statement (no values in it)."""
        for q in ("Observation?patient=pa&category=vital-signs",
                  "Patient/pa/Observation?patient=pa&category=vital-signs"):
            before = len(self.server.stderr())
            self.get_bundle(q)
            self.assertIn("FROM ix_pt t WHERE t.pat = ?", self.server.stderr()[before:], q)


@skip_on_pg("an upgrade of a SQLite file")
class TestUpgradeFromSchema4(unittest.TestCase):
    """A database written before ix_pt (schema 4, index layout "live") is
    migrated and reindexed at open: the search then finds what it holds."""

    def test_reindexed_at_open(self):
        s = Server()
        try:
            put_all(s, PATIENTS + OBSERVATIONS[:3])
            self.assertEqual(s.stop(), 0)
            db = sqlite3.connect(s.db)
            db.executescript("DROP TABLE ix_pt; PRAGMA user_version = 4; "
                             "UPDATE meta SET value = 'live' WHERE key = 'index_layout';")
            db.close()
            s.start()
            self.assertIn("schema=5", s.stderr())
            r = s.request("GET", "Observation?patient=pa&category=vital-signs")
            self.assertEqual(r.status, 200)
            self.assertEqual(sorted(e["resource"]["id"] for e in r.json.get("entry", [])), ["o-a1", "o-a3"])
            self.assertEqual(s.stop(), 0)
        finally:
            s.cleanup()


def vs_ids(server, query="Observation?patient=pa&category=vital-signs"):
    r = server.request("GET", query)
    assert r.status == 200, r.body[:300]
    return sorted(e["resource"]["id"] for e in r.json.get("entry", []))


@skip_on_pg("ix_pt and fhird import's bulk fill are SQLite's")
class TestBulkLoad(unittest.TestCase):
    """fhird import fills ix_pt once at its end (store_options.bulk); the
    marker meta('ix_pt_pending') stands for a fill still to be made: a
    server that sees it searches without ix_pt, and an open completes it."""

    LOADED = ["o-a1", "o-a3", "o-a4", "o-a6", "o-a7", "o-del", "o-mv"]  # vital-signs of pa, as loaded

    def setUp(self):
        self.s = None
        self.dir = None

    def tearDown(self):
        if self.s:
            self.s.cleanup()

    def load(self):
        s = Server()
        self.assertEqual(s.stop(), 0)
        path = os.path.join(s.dir, "load.ndjson")
        with open(path, "w") as f:
            for res in PATIENTS + GROUPS + OBSERVATIONS:
                f.write(json.dumps(res) + "\n")
        rc, out, err = run_cli("import", "--quiet", "--db", s.db, path)
        self.assertEqual(rc, 0, err)
        self.s = s
        return s

    def sql(self, db, script, query=None):
        c = sqlite3.connect(db)
        try:
            c.executescript(script)
            return c.execute(query).fetchall() if query else None
        finally:
            c.close()

    def test_import_fills_ix_pt(self):
        s = self.load()
        self.assertEqual(self.sql(s.db, "", "SELECT count(*) FROM meta WHERE key = 'ix_pt_pending'"), [(0,)])
        # what ix_pt_write would have written row by row: a reindex writes it so
        rows = self.sql(s.db, "", "SELECT * FROM ix_pt ORDER BY 1, 2, 3, 4, 5, 6")
        self.assertTrue(rows)
        rc, _, err = run_cli("reindex", "--db", s.db)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.sql(s.db, "", "SELECT * FROM ix_pt ORDER BY 1, 2, 3, 4, 5, 6"), rows)
        s.start()
        self.assertEqual(vs_ids(s), self.LOADED)
        self.assertEqual(s.stop(), 0)

    def test_cut_short_import_completed_at_open(self):
        s = self.load()
        # as if the load had stopped before its fill: rows from seq 3 on missing
        self.sql(s.db, "DELETE FROM ix_pt WHERE seq >= 3; "
                       "INSERT INTO meta(key, value) VALUES('ix_pt_pending', '3');")
        s.start()
        self.assertIn("completing the patient-token index", s.stderr())
        self.assertEqual(vs_ids(s), self.LOADED)
        self.assertEqual(s.stop(), 0)
        self.assertEqual(self.sql(s.db, "", "SELECT count(*) FROM meta WHERE key = 'ix_pt_pending'"), [(0,)])

    def test_server_does_without_ix_pt_while_a_load_fills_it(self):
        s = self.load()
        s.extra += ["--log-level", "debug"]
        s.start()
        self.assertEqual(vs_ids(s), self.LOADED)
        self.assertIn("FROM ix_pt t WHERE t.pat = ?", s.stderr())
        # another process starts a load: marker set, its rows not there yet
        self.sql(s.db, "INSERT INTO meta(key, value) VALUES('ix_pt_pending', '1'); DELETE FROM ix_pt;")
        before = len(s.stderr())
        self.assertEqual(vs_ids(s), self.LOADED)
        self.assertNotIn("FROM ix_pt t", s.stderr()[before:])
        self.assertIn("FROM ix_ref r WHERE", s.stderr()[before:])
        self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
