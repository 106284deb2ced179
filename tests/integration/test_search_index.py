"""Search indexes over their life: written with each version, rebuilt by
`fhird reindex` and at start when the parameter table changed, used by the
conditional interactions; and paging cursors that expire (issue 4)."""
import json
import os
import sqlite3
import time
import unittest
import urllib.parse

import fhirtest

from fhirtest import Server, run_cli


def ids(bundle):
    return sorted(e["resource"]["id"] for e in bundle.get("entry", [])
                  if e.get("search", {}).get("mode") == "match")


def patient(pid, family, ident):
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family}],
            "identifier": [{"system": "http://example.org/mrn", "value": ident}]}



def sql_on(db, sql):
    """Runs SQL on the server's database (SQLite file or PostgreSQL URL)."""
    if fhirtest.PG:
        fhirtest.pg_sql(db, sql)
        return
    conn = sqlite3.connect(db)
    conn.executescript(sql)
    conn.commit()
    conn.close()

def sql_scalar(db, sql):
    """One integer from a query on the server's database."""
    if fhirtest.PG:
        return int(fhirtest.pg_sql(db, sql).stdout.strip())
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


IX_TABLES = ("ix_tok", "ix_str", "ix_ref", "ix_date", "ix_num", "ix_uri", "ix_comp")


def stale_rows(db):
    """Index rows that belong to no current, live version."""
    return sum(sql_scalar(db, "SELECT count(*) FROM %s WHERE seq NOT IN "
                              "(SELECT seq FROM current WHERE deleted = 0)" % t) for t in IX_TABLES)


def live_rows(db, rtype, rid):
    return sum(sql_scalar(db, "SELECT count(*) FROM %s WHERE seq = (SELECT seq FROM current WHERE "
                              "type = '%s' AND id = '%s')" % (t, rtype, rid)) for t in IX_TABLES)


class TestIndexLife(unittest.TestCase):
    def setUp(self):
        self.srv = Server()

    def tearDown(self):
        self.srv.stop()

    def get(self, path, headers=None):
        r = self.srv.request("GET", path, headers=headers)
        self.assertEqual(r.status, 200, r.body[:300])
        return r.json

    def test_old_and_deleted_versions_are_not_found(self):
        s = self.srv
        s.request("PUT", "Patient/ix1", patient("ix1", "Oldname", "m-1"))
        s.request("PUT", "Patient/ix2", patient("ix2", "Gone", "m-2"))
        self.assertEqual(ids(self.get("Patient?family=oldname")), ["ix1"])
        s.request("PUT", "Patient/ix1", patient("ix1", "Newname", "m-1"))
        s.request("DELETE", "Patient/ix2")
        self.assertEqual(ids(self.get("Patient?family=oldname")), [])
        self.assertEqual(ids(self.get("Patient?family=newname")), ["ix1"])
        self.assertEqual(ids(self.get("Patient?family=gone")), [])
        self.assertEqual(ids(self.get("Patient?identifier=http://example.org/mrn|m-2")), [])
        # re-created after the delete: found again, under its new values only
        s.request("PUT", "Patient/ix2", patient("ix2", "Back", "m-2b"))
        self.assertEqual(ids(self.get("Patient?family=back")), ["ix2"])
        self.assertEqual(ids(self.get("Patient?identifier=m-2")), [])

    def test_index_holds_current_live_versions_only(self):
        # backend.h STORE_INDEX_LAYOUT "live": an update or a delete takes
        # the rows of the version it replaces out of every index table
        s = self.srv
        for i in range(3):
            s.request("PUT", "Patient/lv1", patient("lv1", "Livename%d" % i, "lv-%d" % i))
        s.request("PUT", "Patient/lv2", patient("lv2", "Dropped", "lv-x"))
        s.request("DELETE", "Patient/lv2")
        obs = {"resourceType": "Observation", "id": "lvo", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
               "subject": {"reference": "Patient/lv1"}, "effectiveDateTime": "2020-01-01",
               "valueQuantity": {"value": 60, "system": "http://unitsofmeasure.org", "code": "/min"}}
        s.request("PUT", "Observation/lvo", obs)
        obs["valueQuantity"]["value"] = 61
        s.request("PUT", "Observation/lvo", obs)
        self.assertEqual(ids(self.get("Patient?identifier=lv-0")), [])
        self.assertEqual(ids(self.get("Patient?identifier=lv-2")), ["lv1"])
        self.assertEqual(ids(self.get("Observation?subject=Patient/lv1&code=8867-4")), ["lvo"])
        self.assertEqual(ids(self.get("Observation?value-quantity=60")), [])
        s.stop()
        self.assertEqual(stale_rows(s.db), 0)
        self.assertGreater(live_rows(s.db, "Patient", "lv1"), 0)
        self.assertGreater(live_rows(s.db, "Observation", "lvo"), 0)

    def test_import_replacing_within_one_batch_leaves_no_rows(self):
        # an NDJSON file naming one id twice: the second line replaces the
        # first inside one import batch, whose rows are written at its end
        s = self.srv
        s.stop()
        path = os.path.join(s.dir, "twice.ndjson")
        with open(path, "w") as f:
            f.write(json.dumps(patient("tw1", "Firstname", "tw-1")) + "\n")
            f.write(json.dumps(patient("tw2", "Other", "tw-2")) + "\n")
            f.write(json.dumps(patient("tw1", "Secondname", "tw-1b")) + "\n")
        rc, out, err = run_cli("import", "--db", s.db, path)
        self.assertEqual(rc, 0, err)
        self.assertEqual(stale_rows(s.db), 0)
        s.start()
        self.assertEqual(ids(self.get("Patient?family=firstname")), [])
        self.assertEqual(ids(self.get("Patient?identifier=tw-1")), [])
        self.assertEqual(ids(self.get("Patient?family=secondname")), ["tw1"])
        self.assertEqual(ids(self.get("Patient?identifier=tw-1b")), ["tw1"])

    def test_older_index_layout_is_rebuilt_at_start(self):
        # a database from before the "live" layout kept rows of replaced
        # versions and has no index_layout in meta: the start rebuilds
        s = self.srv
        s.request("PUT", "Patient/ol1", patient("ol1", "Before", "ol-1"))
        s.request("PUT", "Patient/ol1", patient("ol1", "After", "ol-2"))
        s.stop()
        old = sql_scalar(s.db, "SELECT min(seq) FROM version WHERE type = 'Patient' AND id = 'ol1'")
        sql_on(s.db, "INSERT INTO ix_tok(p, code, seq, sys) SELECT p, 'ol-1', %d, sys FROM ix_tok "
                     "WHERE code = 'ol-2'; DELETE FROM meta WHERE key = 'index_layout'" % old)
        self.assertGreater(stale_rows(s.db), 0)
        s.start()
        self.assertEqual(ids(self.get("Patient?identifier=ol-2")), ["ol1"])
        self.assertEqual(ids(self.get("Patient?identifier=ol-1")), [])
        s.stop()
        self.assertEqual(stale_rows(s.db), 0)
        # SQLite's layout adds ix_pt (schema 5) to the shared "live" one
        layout = "live" if fhirtest.PG else "live+pt"
        self.assertEqual(sql_scalar(s.db, "SELECT count(*) FROM meta WHERE key = 'index_layout' "
                                          "AND value = '%s'" % layout), 1)

    def test_reindex_command_and_rebuild_at_start(self):
        s = self.srv
        for i in range(5):
            s.request("PUT", "Patient/r%d" % i, patient("r%d" % i, "Reindex", "r-%d" % i))
        s.stop()
        # wipe one index table and forget the hash: the next start rebuilds
        sql_on(s.db, "DELETE FROM ix_str; DELETE FROM meta WHERE key = 'search_params_hash'")
        s.start()
        self.assertEqual(ids(self.get("Patient?family=reindex")), ["r%d" % i for i in range(5)])
        s.stop()
        # fhird reindex rebuilds on demand
        sql_on(s.db, "DELETE FROM ix_str")
        rc, out, err = run_cli("reindex", "--db", s.db)
        self.assertEqual(rc, 0, err)
        self.assertIn("reindexed 5 resources", out)
        s.start()
        self.assertEqual(ids(self.get("Patient?family=reindex")), ["r%d" % i for i in range(5)])

    def test_reindex_usage_error(self):
        rc, out, err = run_cli("reindex", "--bogus")
        self.assertEqual(rc, 2)

    def test_conditional_update_on_any_parameter(self):
        s = self.srv
        s.request("PUT", "Patient/cu1", patient("cu1", "Condfamily", "c-1"))
        body = patient("ignored", "Condfamily", "c-1")
        del body["id"]
        body["gender"] = "female"
        body["id"] = "other"
        r = s.request("PUT", "Patient?family=condfamily&identifier=c-1", body)
        self.assertEqual(r.status, 400, "a body id other than the match's (http.html#cond-update)")
        del body["id"]
        r = s.request("PUT", "Patient?family=condfamily&identifier=c-1", body)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json["id"], "cu1")
        self.assertEqual(r.json["meta"]["versionId"], "2")
        self.assertEqual(ids(self.get("Patient?gender=female&family=condfamily")), ["cu1"])


class TestCursorExpiry(unittest.TestCase):
    def setUp(self):
        self.srv = Server("--cursor-ttl-s", "1")

    def tearDown(self):
        self.srv.stop()

    def test_expired_cursor_is_400(self):
        s = self.srv
        for i in range(3):
            s.request("PUT", "Patient/e%d" % i, patient("e%d" % i, "Expiry", "e-%d" % i))
        r = s.request("GET", "Patient?family=expiry&_count=1")
        nxt = [l["url"] for l in r.json["link"] if l["relation"] == "next"][0]
        self.assertEqual(s.request("GET", nxt).status, 200)
        time.sleep(2.2)  # the TTL is wall-clock time: nothing to poll for
        r = s.request("GET", nxt)
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json["resourceType"], "OperationOutcome")

    def test_cursor_of_another_query_is_400(self):
        s = self.srv
        for i in range(3):
            s.request("PUT", "Patient/q%d" % i, patient("q%d" % i, "Crossq", "q-%d" % i))
        r = s.request("GET", "Patient?family=crossq&_count=1")
        nxt = [l["url"] for l in r.json["link"] if l["relation"] == "next"][0]
        cursor = urllib.parse.parse_qs(urllib.parse.urlparse(nxt).query)["_cursor"][0]
        r = s.request("GET", "Patient?family=other&_count=1&_cursor=" + urllib.parse.quote(cursor))
        self.assertEqual(r.status, 400)


if __name__ == "__main__":
    unittest.main()


class TestIncludeCap(unittest.TestCase):
    """search_include_max bounds the included resources of one page; the cut is
    reported as an OperationOutcome entry (search.mode = outcome)."""

    def setUp(self):
        self.srv = Server("--search-include-max", "2")

    def tearDown(self):
        self.srv.stop()

    def test_revinclude_cap(self):
        s = self.srv
        s.request("PUT", "Patient/cap", patient("cap", "Capped", "cap-1"))
        for i in range(5):
            s.request("PUT", "Observation/cap%d" % i, {
                "resourceType": "Observation", "id": "cap%d" % i, "status": "final",
                "code": {"text": "x"}, "subject": {"reference": "Patient/cap"}})
        r = s.request("GET", "Patient?_id=cap&_revinclude=Observation:subject")
        self.assertEqual(r.status, 200, r.body[:300])
        modes = [e["search"]["mode"] for e in r.json["entry"]]
        self.assertEqual(modes.count("match"), 1)
        self.assertEqual(modes.count("include"), 2)
        self.assertEqual(modes.count("outcome"), 1)
        oo = [e["resource"] for e in r.json["entry"] if e["search"]["mode"] == "outcome"][0]
        self.assertEqual(oo["resourceType"], "OperationOutcome")
        self.assertEqual(oo["issue"][0]["code"], "too-costly")
        # exactly at the cap: everything, no outcome
        s.request("PUT", "Patient/cap2", patient("cap2", "Capped", "cap-2"))
        for i in range(2):
            s.request("PUT", "Observation/cap2-%d" % i, {
                "resourceType": "Observation", "id": "cap2-%d" % i, "status": "final",
                "code": {"text": "x"}, "subject": {"reference": "Patient/cap2"}})
        r = s.request("GET", "Patient?_id=cap2&_revinclude=Observation:subject")
        self.assertEqual(r.status, 200)
        self.assertEqual(sorted(e["resource"]["id"] for e in r.json["entry"] if e["search"]["mode"] == "include"),
                         ["cap2-0", "cap2-1"])
        self.assertNotIn("outcome", [e["search"]["mode"] for e in r.json["entry"]])
