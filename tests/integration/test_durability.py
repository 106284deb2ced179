"""Concurrency, kill -9 durability and graceful shutdown."""
import threading
import time
import unittest

from fhirtest import Server


def patient(i):
    return {"resourceType": "Patient", "name": [{"family": "Burst%d" % i}]}


class TestConcurrency(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server()

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0
        cls.s.cleanup()

    def test_concurrent_if_match_updates_lose_nothing(self):
        s = self.s
        self.assertEqual(s.request("PUT", "Patient/hot", {"resourceType": "Patient", "id": "hot"}).status, 201)
        successes = []
        errors = []

        def worker(n):
            conn_server = s
            done = 0
            while done < 10:
                r = conn_server.request("GET", "Patient/hot", fresh=True)
                vid = r.json["meta"]["versionId"]
                body = {"resourceType": "Patient", "id": "hot", "gender": "other",
                        "name": [{"family": "w%d-%d" % (n, done)}]}
                u = conn_server.request("PUT", "Patient/hot", body, {"If-Match": 'W/"%s"' % vid}, fresh=True)
                if u.status == 200:
                    successes.append(u.json["meta"]["versionId"])
                    done += 1
                elif u.status != 412:
                    errors.append(u.status)
                    return

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(successes), 80)
        # every success got its own version number
        self.assertEqual(len(set(successes)), 80)
        cur = s.request("GET", "Patient/hot").json
        self.assertEqual(cur["meta"]["versionId"], str(1 + 80))
        hist = s.request("GET", "Patient/hot/_history?_count=1000").json
        vids = [int(e["response"]["etag"][3:-1]) for e in hist["entry"]]
        self.assertEqual(vids, list(range(81, 0, -1)))

    def test_concurrent_creates(self):
        s = self.s
        ids = []
        lock = threading.Lock()

        def worker(n):
            for i in range(25):
                r = s.request("POST", "Patient", patient(i), fresh=True)
                assert r.status == 201, r.status
                with lock:
                    ids.append(r.json["id"])

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(ids), 200)
        self.assertEqual(len(set(ids)), 200)
        for pid in ids[::10]:
            self.assertEqual(s.request("GET", "Patient/" + pid).status, 200)


class TestKill9(unittest.TestCase):
    def test_acknowledged_writes_survive_kill9(self):
        s = Server()
        acked = []
        lock = threading.Lock()
        stop = threading.Event()

        def worker(n):
            i = 0
            while not stop.is_set():
                try:
                    r = s.request("POST", "Patient", patient(i), fresh=True)
                except OSError:
                    return  # the server died under us: this write was never acknowledged
                if r.status == 201:
                    with lock:
                        acked.append((r.json["id"], r.json["meta"]["versionId"]))
                i += 1

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.01)
        s.kill9()  # mid-burst: writers are still sending
        stop.set()
        for t in threads:
            t.join()
        self.assertGreaterEqual(len(acked), 300)
        s.start()  # same directory, same database
        try:
            missing = [pid for pid, _ in acked if s.request("GET", "Patient/" + pid).status != 200]
            self.assertEqual(missing, [])
            hist = s.request("GET", "Patient/_history?_count=1000").json
            self.assertGreaterEqual(len(hist["entry"]), min(1000, len(acked)))
        finally:
            self.assertEqual(s.stop(), 0)
            s.cleanup()


class TestGracefulShutdown(unittest.TestCase):
    def test_sigterm_during_writes(self):
        s = Server()
        acked = []
        stop = threading.Event()

        def worker():
            i = 0
            while not stop.is_set():
                try:
                    r = s.request("POST", "Patient", patient(i), fresh=True)
                except OSError:
                    return
                if r.status == 201:
                    acked.append(r.json["id"])
                i += 1

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        while len(acked) < 50:
            time.sleep(0.01)
        rc = s.stop()
        stop.set()
        for t in threads:
            t.join()
        self.assertEqual(rc, 0)
        self.assertIn("msg=stopped", s.stderr())
        s.start()
        try:
            for pid in acked:
                self.assertEqual(s.request("GET", "Patient/" + pid).status, 200)
        finally:
            self.assertEqual(s.stop(), 0)
            s.cleanup()
