"""PostgreSQL: several fhird nodes on one database (issue 7).

Runs only in the PostgreSQL pass (tests/run.py --pg, FHIRD_TEST_PG). Two
fhird processes share one database and nothing else:
- concurrent updates of one resource through both nodes lose nothing: every
  2xx names a distinct version, and together they are the consecutive
  versions after the first (FHIR http.html#update: versionId changes with
  each update; the server assigns it);
- concurrent If-Match updates of the same version: exactly one wins, the
  others get 412 (http.html#concurrency);
- concurrent conditional creates with one identifier through both nodes
  create exactly one resource (http.html#ccreate);
- the database dropping every connection (as in a restart) makes requests in
  that window fail with 503 and never crashes a node; it then serves again.
"""
import os
import shutil
import sys
import tempfile
import threading
import unittest

import fhirtest
from fhirtest import Server

PG_ONLY = unittest.skipUnless(fhirtest.PG, "runs in the PostgreSQL pass only (tests/run.py --pg)")


def patient(pid, family, ident=None):
    p = {"resourceType": "Patient", "id": pid, "name": [{"family": family}]}
    if ident:
        p["identifier"] = [{"system": "http://example.org/mrn", "value": ident}]
    return p


def version_of(r):
    etag = r.header("etag") or ""
    return int(etag.replace('W/"', "").rstrip('"')) if etag.startswith('W/"') else None


def in_threads(n, fn):
    """Runs fn(i) in n threads started together; returns the results by i."""
    out = [None] * n
    errors = []
    gate = threading.Barrier(n)

    def run(i):
        try:
            gate.wait(timeout=60)
            out[i] = fn(i)
        except Exception as e:  # reported below, not swallowed
            errors.append(repr(e))
    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    if errors:
        raise AssertionError("thread failed: %s" % errors[0])
    return out


@PG_ONLY
class TestTwoNodes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = Server()
        cls.b = Server(workdir=cls.a.dir)  # the same directory: the same database
        assert cls.a.db == cls.b.db

    @classmethod
    def tearDownClass(cls):
        rcs = []
        for s in (cls.b, cls.a):
            rcs.append(s.stop())
        cls.a.cleanup()
        assert rcs == [0, 0], rcs

    def node(self, i):
        return self.a if i % 2 == 0 else self.b

    def test_concurrent_updates_lose_nothing(self):
        r = self.a.request("PUT", "Patient/race", patient("race", "v1"))
        self.assertEqual(r.status, 201, r.body)
        threads, each = 6, 5

        def work(i):
            seen = []
            for k in range(each):
                # fresh connections: both nodes' pools are in play
                resp = self.node(i).request("PUT", "Patient/race", patient("race", "t%d-%d" % (i, k)), fresh=True)
                seen.append((resp.status, version_of(resp), resp.json.get("meta", {}).get("versionId")
                             if resp.json else None))
            return seen
        results = [x for per in in_threads(threads, work) for x in per]
        for status, v, body_v in results:
            self.assertEqual(status, 200, results)
            self.assertEqual(str(v), body_v)  # the ETag and the body agree
        versions = sorted(v for _, v, _ in results)
        self.assertEqual(versions, list(range(2, 2 + threads * each)), "lost or duplicated versions")
        # the history has every one of them, once, on both nodes
        for s in (self.a, self.b):
            h = s.request("GET", "Patient/race/_history?_count=1000")
            self.assertEqual(h.status, 200)
            vids = sorted(int(e["resource"]["meta"]["versionId"]) for e in h.json["entry"])
            self.assertEqual(vids, list(range(1, 2 + threads * each)))
        cur = self.b.request("GET", "Patient/race")
        self.assertEqual(version_of(cur), 1 + threads * each)

    def test_if_match_exactly_one_winner(self):
        r = self.b.request("PUT", "Patient/ifm", patient("ifm", "start"))
        self.assertEqual(r.status, 201, r.body)
        threads = 6
        for rnd in range(3):
            v = version_of(self.a.request("GET", "Patient/ifm"))

            def work(i):
                resp = self.node(i).request("PUT", "Patient/ifm", patient("ifm", "r%d-%d" % (rnd, i)),
                                            {"If-Match": 'W/"%d"' % v}, fresh=True)
                return resp.status, version_of(resp)
            res = in_threads(threads, work)
            winners = [x for x in res if x[0] == 200]
            self.assertEqual(len(winners), 1, res)
            self.assertEqual(winners[0][1], v + 1)
            self.assertEqual(sorted(s for s, _ in res), [200] + [412] * (threads - 1), res)
            self.assertEqual(version_of(self.b.request("GET", "Patient/ifm")), v + 1)

    def test_conditional_create_once(self):
        probe = self.a.request("GET", "Patient?identifier=http://example.org/mrn|probe")
        if probe.status == 501:
            self.skipTest("search is not in this build's PostgreSQL backend yet (pg_search_stub.c)")
        self.assertEqual(probe.status, 200, probe.body)
        threads = 8

        def work(i):
            body = patient("ignored", "Once", "cc-1")
            del body["id"]
            resp = self.node(i).request("POST", "Patient", body,
                                        {"If-None-Exist": "identifier=http://example.org/mrn|cc-1"}, fresh=True)
            return resp.status, resp.json.get("id") if resp.json else None
        res = in_threads(threads, work)
        self.assertEqual(sorted(s for s, _ in res), [200] * (threads - 1) + [201], res)
        ids = set(i for _, i in res)
        self.assertEqual(len(ids), 1, res)  # every answer names the one resource
        found = self.b.request("GET", "Patient?identifier=http://example.org/mrn|cc-1")
        self.assertEqual(found.status, 200)
        self.assertEqual([e["resource"]["id"] for e in found.json.get("entry", [])], list(ids))


@PG_ONLY
class TestConnectionsDropped(unittest.TestCase):
    """Every fhird connection terminated by the server (what a restart or a
    failover does to them): requests fail with 503 meanwhile, never 500 and
    never a crash, and the node then serves from fresh connections."""

    def test_terminate_backends(self):
        with Server() as s:
            self.assertEqual(s.request("PUT", "Patient/re", patient("re", "Before")).status, 201)
            ours = fhirtest.pg_sql(fhirtest.PG, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fhird'")
            self.assertGreater(int(ours.stdout.strip()), 0)
            fhirtest.pg_sql(fhirtest.PG, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                         "WHERE application_name = 'fhird'")
            statuses = []
            # A pool of at most readers + 4 connections: each stale one fails
            # one request, so within a bounded number of requests they all
            # succeed again.
            for k in range(40):
                r = s.request("GET", "Patient/re", fresh=True)
                statuses.append(r.status)
                self.assertIn(r.status, (200, 503), statuses)
                if r.status == 503:
                    self.assertEqual(r.json["resourceType"], "OperationOutcome")
            self.assertEqual(statuses[-10:], [200] * 10, statuses)
            w = s.request("PUT", "Patient/re", patient("re", "After"))
            self.assertEqual(w.status, 200, w.body)
            self.assertEqual(version_of(w), 2)
            self.assertIsNone(s.proc.poll(), "fhird exited")
            self.assertEqual(s.stop(), 0)



@PG_ONLY
class TestSimultaneousStart(unittest.TestCase):
    """Three nodes started at once on an empty database: the migration runs
    once under its advisory lock, every node starts and serves, and they see
    each other's writes."""

    def test_three_nodes_start_together(self):
        url = fhirtest.pg_new_db()
        dirs = [tempfile.mkdtemp(prefix="fhird-it-") for _ in range(3)]
        for d in dirs:
            with open(os.path.join(d, "fhird.db.pg-url"), "w") as f:
                f.write(url)  # fhirtest.db_for_dir: every node on this database
        servers = in_threads(3, lambda i: Server(workdir=dirs[i]))
        try:
            for i, s in enumerate(servers):
                r = s.request("PUT", "Patient/n%d" % i, patient("n%d" % i, "Node"))
                self.assertEqual(r.status, 201, r.body)
            for s in servers:
                for i in range(3):
                    self.assertEqual(s.request("GET", "Patient/n%d" % i).status, 200)
            migrated = sum(s.stderr().count('msg="database migrated"') for s in servers)
            self.assertEqual(migrated, 1, [s.stderr() for s in servers])
            v = fhirtest.pg_sql(url, "SELECT value FROM meta WHERE key = 'schema_version'").stdout.strip()
            self.assertEqual(v, "4")
        finally:
            rcs = [s.stop() for s in servers]
            for d in dirs:
                shutil.rmtree(d, ignore_errors=True)
            fhirtest.pg_drop_db(url)
        self.assertEqual(rcs, [0, 0, 0])


@PG_ONLY
class TestDatabaseRestart(unittest.TestCase):
    """The database restarts under a running node: while it is down,
    requests get 503 (ERR_BUSY) and the node stays up; once it is back, the
    node serves reads and writes again without being restarted."""

    def test_restart(self):
        d = os.environ.get("FHIRD_TEST_PG_DIR")
        if not d:
            self.skipTest("the cluster's directory is not known (FHIRD_TEST_PG_DIR, set by tests/run.py --pg)")
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
        import pgcluster
        cluster = pgcluster.Cluster.attach(d, fhirtest.PG)
        with Server() as s:
            self.assertEqual(s.request("PUT", "Patient/rs", patient("rs", "Before")).status, 201)
            cluster.halt()
            try:
                for path, body in (("Patient/rs", None), ("Patient/rs/_history", None)):
                    r = s.request("GET", path, fresh=True)
                    self.assertEqual(r.status, 503, r.body)
                    self.assertEqual(r.json["resourceType"], "OperationOutcome")
                r = s.request("PUT", "Patient/rs", patient("rs", "During"), fresh=True)
                self.assertEqual(r.status, 503, r.body)
                self.assertIsNone(s.proc.poll(), "fhird exited while the database was down")
            finally:
                cluster.resume()
            r = s.request("GET", "Patient/rs", fresh=True)
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.json["name"][0]["family"], "Before")  # the failed PUT wrote nothing
            w = s.request("PUT", "Patient/rs", patient("rs", "After"), fresh=True)
            self.assertEqual(w.status, 200, w.body)
            self.assertEqual(version_of(w), 2)
            self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
