"""Durability: every acknowledged write survives kill -9; SIGTERM during a burst
exits 0 and loses nothing acknowledged; a restart keeps data and history."""
import http.client
import signal
import threading
import unittest
import urllib.parse

from fhirtest import Server
from itutil import entry_key, history_all, link, patient, request, strip_meta

BURST_THREADS = 4
KILL_AFTER_CREATES = 300
ACK_WAIT_S = 120


class Burst:
    """BURST_THREADS clients creating Patients (and updating every third one) in a
    loop until stopped or the server goes away; records what was acknowledged."""

    def __init__(self, server):
        self.server = server
        self.cond = threading.Condition()
        self.creates = {}   # id -> body of version 1
        self.versions = {}  # (id, vid) -> body
        self.statuses = []  # statuses other than 200/201
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(t,), daemon=True) for t in range(BURST_THREADS)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def wait_creates(self, n, timeout=ACK_WAIT_S):
        with self.cond:
            return self.cond.wait_for(lambda: len(self.creates) >= n or self.stop.is_set(), timeout)

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)
            assert not t.is_alive(), "burst thread did not stop"

    def run(self, t):
        n = 0
        try:
            while not self.stop.is_set():
                body = patient(family="Burst%d" % t, given=["n%d" % n])
                r = request(self.server, "POST", "Patient", body)
                if r.status != 201:
                    self.statuses.append(r.status)
                    return
                pid = r.json["id"]
                with self.cond:
                    self.creates[pid] = body
                    self.versions[(pid, r.json["meta"]["versionId"])] = body
                    self.cond.notify_all()
                if n % 3 == 0:
                    body2 = dict(body, id=pid, gender="female")
                    u = request(self.server, "PUT", "Patient/" + pid, body2)
                    if u.status != 200:
                        self.statuses.append(u.status)
                        return
                    with self.cond:
                        self.versions[(pid, u.json["meta"]["versionId"])] = body2
                n += 1
        except (OSError, http.client.HTTPException):
            return  # the server went away mid-request: that write was not acknowledged
        finally:
            with self.cond:
                self.cond.notify_all()


class DurabilityCase(unittest.TestCase):
    def verify(self, server, burst):
        bad = []
        for (pid, vid), body in sorted(burst.versions.items()):
            r = request(server, "GET", "Patient/%s/_history/%s" % (pid, vid))
            if r.status != 200:
                bad.append(("vread", pid, vid, r.status))
                continue
            sent = {k: v for k, v in body.items() if k != "id"}
            if strip_meta(r.json) != sent:
                bad.append(("content", pid, vid))
        for pid in sorted(burst.creates):
            r = request(server, "GET", "Patient/" + pid)
            if r.status != 200:
                bad.append(("read", pid, r.status))
                continue
            newest = max(int(v) for (p, v) in burst.versions if p == pid)
            if int(r.json["meta"]["versionId"]) < newest:
                bad.append(("lost update", pid, r.json["meta"]["versionId"], newest))
        self.assertEqual(bad, [], "acknowledged writes missing after restart: %s" % bad[:20])


class TestKill9(DurabilityCase):
    def test_acknowledged_writes_survive_kill9(self):
        s = Server()
        self.addCleanup(s.cleanup)
        burst = Burst(s).start()
        try:
            self.assertTrue(burst.wait_creates(KILL_AFTER_CREATES),
                            "only %d creates in %d s" % (len(burst.creates), ACK_WAIT_S))
            self.assertEqual(burst.statuses, [])
            s.kill9()  # mid-burst: the clients are still sending
        finally:
            burst.join()
        self.assertGreaterEqual(len(burst.creates), KILL_AFTER_CREATES)
        s.start()  # same directory, same database
        self.verify(s, burst)
        self.assertEqual(s.stop(), 0)


class TestSigtermDuringBurst(DurabilityCase):
    def test_graceful_shutdown(self):
        s = Server()
        self.addCleanup(s.cleanup)
        burst = Burst(s).start()
        try:
            self.assertTrue(burst.wait_creates(60), "only %d creates" % len(burst.creates))
            s.proc.send_signal(signal.SIGTERM)
            rc = s.proc.wait(30)
        finally:
            burst.join()
        self.assertEqual(rc, 0, s.stderr()[-3000:])
        # requests answered during shutdown were answered properly (done, or 503)
        self.assertEqual([st for st in burst.statuses if st != 503], [])
        s.start()
        self.verify(s, burst)
        r = request(s, "POST", "Patient", patient())
        self.assertEqual(r.status, 201)
        self.assertEqual(s.stop(), 0)


class TestRestart(unittest.TestCase):
    def test_data_and_history_survive_restart(self):
        s = Server()
        self.addCleanup(s.cleanup)
        a = request(s, "POST", "Patient", patient(family="Keep")).json["id"]
        self.assertEqual(request(s, "PUT", "Patient/" + a, patient(family="Keep2", id=a)).status, 200)
        self.assertEqual(request(s, "PUT", "Patient/gone", patient(id="gone")).status, 201)
        self.assertEqual(request(s, "DELETE", "Patient/gone").status, 204)
        before_read = request(s, "GET", "Patient/" + a)
        before_hist, _ = history_all(s, "_history")
        self.assertEqual(s.stop(), 0)
        s.start()
        after_read = request(s, "GET", "Patient/" + a)
        self.assertEqual(after_read.status, 200)
        self.assertEqual(after_read.json, before_read.json)
        self.assertEqual(after_read.header("etag"), before_read.header("etag"))
        self.assertEqual(after_read.header("last-modified"), before_read.header("last-modified"))
        self.assertEqual(request(s, "GET", "Patient/gone").status, 410)
        after_hist, _ = history_all(s, "_history")
        strip = lambda es: [{k: v for k, v in e.items() if k != "fullUrl"} for e in es]  # noqa: E731
        self.assertEqual(strip(after_hist), strip(before_hist))
        # new versions continue from the stored ones
        r = request(s, "PUT", "Patient/" + a, patient(family="Keep3", id=a))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["meta"]["versionId"], "3")
        self.assertEqual(s.stop(), 0)

    def test_cursor_from_before_restart_followed(self):
        """docs/http-behaviour.md: the cursor key is kept in the database
        (shared by every node, kept across restarts), so a history next link
        made before a restart is followed after it: the walk goes on over the
        same snapshot (no entry twice, none lost), and a tampered one is 400."""
        s = Server()
        self.addCleanup(s.cleanup)
        for _ in range(3):
            self.assertEqual(request(s, "POST", "Patient", patient()).status, 201)
        first = request(s, "GET", "_history?_count=1")
        nxt = link(first.json, "next")
        self.assertTrue(nxt)
        self.assertEqual(s.stop(), 0)
        s.start()
        # a write after the restart is not in the old snapshot
        self.assertEqual(request(s, "POST", "Patient", patient()).status, 201)
        keys = [entry_key(e) for e in first.json["entry"]]
        while nxt:
            r = request(s, "GET", nxt)
            self.assertEqual(r.status, 200, r.body[:300])
            keys += [entry_key(e) for e in r.json.get("entry", [])]
            nxt = link(r.json, "next")
        self.assertEqual(len(keys), 3)
        self.assertEqual(len(set(keys)), 3)
        u = urllib.parse.urlsplit(link(first.json, "next"))
        qs = urllib.parse.parse_qsl(u.query)
        self.assertIn("_cursor", dict(qs))
        qs = [(k, (v[:-3] + ("AAA" if not v.endswith("AAA") else "BBB")) if k == "_cursor" else v) for k, v in qs]
        bad = u.path + "?" + urllib.parse.urlencode(qs)
        r = request(s, "GET", bad)
        self.assertEqual(r.status, 400, r.body[:300])
        self.assertEqual(r.json["resourceType"], "OperationOutcome")
        self.assertEqual(s.stop(), 0)
