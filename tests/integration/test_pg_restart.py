"""PostgreSQL restarts under load (issue 7: "restart PostgreSQL while requests
are running; fhird recovers by itself and no acknowledged write is lost").

A cluster of this test's own (tests/pgcluster.py) so that restarting it
disturbs no other test. While writer threads create Observations and reader
threads read a Patient, the database is
  1. restarted cleanly (pg_ctl -m fast: every session is terminated), and
  2. crashed (pg_ctl -m immediate: no shutdown checkpoint, crash recovery
     at the next start, as after a power cut of the database host).
Expected: during the outage every answer is a 2xx or a 503 with an
OperationOutcome (the issue: "requests in that window fail with 503, not a
crash"); fhird keeps running; once the database is back, requests succeed
again without touching fhird; every create that was acknowledged (201 with
a Location) can be read back afterwards with the content that was sent
(a 2xx is durable, fsync on in the cluster).

Runs when PostgreSQL's server binaries are installed (make deps installs
them), in the suite's default pass only (its cluster is its own either
way)."""
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import pgcluster  # noqa: E402
from fhirtest import Server  # noqa: E402

FHIR_JSON = "application/fhir+json"
RECOVER_S = 60


@unittest.skipUnless(pgcluster.available(), "PostgreSQL server binaries not installed")
@unittest.skipIf(os.environ.get("FHIRD_TEST_PG"), "runs once, in the default pass")
class TestPostgresRestart(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.cluster = pgcluster.Cluster().start()
        try:
            cls.url = cls.cluster.create_db("restart")
            cls.server = Server("--db", cls.url)
        except BaseException:
            cls.cluster.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            rc = cls.server.stop()
            assert rc == 0, "fhird exited with %s" % rc
        finally:
            cls.cluster.stop()

    def req(self, method, path, body=None):
        h = {"Accept": FHIR_JSON}
        if body is not None:
            h["Content-Type"] = FHIR_JSON
            body = json.dumps(body).encode()
        try:
            return self.server.request(method, "/fhir/" + path, body, h, fresh=True)
        except OSError as e:
            return e

    def wait_healthy(self):
        deadline = time.monotonic() + RECOVER_S
        while time.monotonic() < deadline:
            r = self.req("GET", "Patient/anchor")
            if not isinstance(r, Exception) and r.status == 200:
                return
            time.sleep(0.1)
        self.fail("fhird did not recover within %d s after the database came back" % RECOVER_S)

    def run_outage(self, mode):
        r = self.req("PUT", "Patient/anchor", {"resourceType": "Patient", "id": "anchor", "gender": "female"})
        self.assertIn(r.status, (200, 201), r)
        stop = threading.Event()
        lock = threading.Lock()
        acked = {}      # id -> value sent
        answers = []    # (kind, status or exception text)

        def writer(w):
            k = 0
            while not stop.is_set():
                k += 1
                val = "%s-%d-%d" % (mode, w, k)
                body = {"resourceType": "Observation", "status": "final", "code": {"text": val},
                        "subject": {"reference": "Patient/anchor"}}
                r = self.req("POST", "Observation", body)
                with lock:
                    if isinstance(r, Exception):
                        answers.append(("write", repr(r)))
                        continue
                    answers.append(("write", r.status, r.body[:4000] if r.status >= 400 else b""))
                    if r.status == 201:
                        loc = r.header("location")
                        rid = loc.split("/Observation/")[1].split("/")[0]
                        acked[rid] = val

        def reader():
            while not stop.is_set():
                r = self.req("GET", "Patient/anchor")
                with lock:
                    answers.append(("read", repr(r)) if isinstance(r, Exception) else
                                   ("read", r.status, r.body[:4000] if r.status >= 400 else b""))

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(3)] + [threading.Thread(target=reader)]
        for t in threads:
            t.start()
        try:
            # let some writes land, then take the database away
            deadline = time.monotonic() + 30
            while len(acked) < 20 and time.monotonic() < deadline:
                time.sleep(0.05)
            before = len(acked)
            if mode == "fast":
                self.cluster.halt()
            else:
                self.cluster._run([os.path.join(self.cluster.bindir, "pg_ctl"), "-D", self.cluster.data,
                                   "-m", "immediate", "-w", "stop"])
            time.sleep(0.5)  # an outage long enough for requests to meet it
            self.cluster.resume()
            self.wait_healthy()
            # and writes succeed again after the outage
            deadline = time.monotonic() + 30
            with lock:
                target = len(acked) + 10
            while time.monotonic() < deadline:
                with lock:
                    if len(acked) >= target:
                        break
                time.sleep(0.05)
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertIsNone(self.server.proc.poll(), "fhird exited during the outage:\n" + self.server.stderr()[-2000:])
        self.assertGreater(before, 0)
        self.assertGreaterEqual(len(acked), before + 10, "writes did not resume after the outage")
        bad = [a for a in answers if len(a) < 3 or a[1] not in (200, 201, 503)]
        self.assertEqual(bad, [], "answers other than 2xx/503 (or broken connections) during the outage")
        for a in answers:
            if a[1] == 503:
                body = json.loads(a[2] or b"{}") if a[2].startswith(b"{") else {}
                self.assertEqual(body.get("resourceType"), "OperationOutcome", a)
        # every acknowledged create is there, with what was sent
        for rid, val in acked.items():
            r = self.req("GET", "Observation/" + rid)
            self.assertEqual(r.status, 200, "acknowledged Observation/%s lost after the %s restart" % (rid, mode))
            self.assertEqual(json.loads(r.body)["code"]["text"], val)
        return answers

    def test_clean_restart(self):
        self.run_outage("fast")

    def test_crash_restart(self):
        self.run_outage("immediate")


if __name__ == "__main__":
    unittest.main()
