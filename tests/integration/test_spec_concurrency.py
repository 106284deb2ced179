"""Concurrent clients: optimistic locking with If-Match under contention
(hl7.org/fhir/R4/http.html#concurrency), concurrent creates."""
import threading

from itutil import SpecCase, etag_vid, history_all, patient, request, run_threads, strip_meta

THREADS = 8
UPDATES_PER_THREAD = 10
CREATES_PER_THREAD = 25
MAX_ATTEMPTS = 5000  # per thread; far above what contention needs, only a guard


class TestConcurrency(SpecCase):
    def test_if_match_contention(self):
        r = self.make(patient(family="Counter"))
        pid = r.json["id"]
        lock = threading.Lock()
        won = []  # (thread, versionId) of every successful update
        unexpected = []

        def worker(t):
            done = attempts = 0
            while done < UPDATES_PER_THREAD:
                attempts += 1
                if attempts > MAX_ATTEMPTS:
                    raise AssertionError("thread %d: %d attempts without finishing" % (t, attempts))
                g = request(self.server, "GET", "Patient/" + pid)
                if g.status != 200:
                    unexpected.append(("GET", g.status, g.body[:300]))
                    return
                vid = etag_vid(g.header("etag"))
                if vid is None or vid != g.json["meta"]["versionId"]:
                    unexpected.append(("ETag", g.header("etag"), g.json["meta"]))
                    return
                body = patient(family="Counter", id=pid, given=["t%d" % t, "n%d" % done])
                u = request(self.server, "PUT", "Patient/" + pid, body, {"If-Match": 'W/"%s"' % vid})
                if u.status == 412:
                    continue
                if u.status != 200:
                    unexpected.append(("PUT", u.status, u.body[:300]))
                    return
                new = u.json["meta"]["versionId"]
                if new != str(int(vid) + 1) or etag_vid(u.header("etag")) != new:
                    unexpected.append(("version", vid, new, u.header("etag")))
                with lock:
                    won.append((t, new))
                done += 1

        run_threads(THREADS, worker)
        self.assertEqual(unexpected, [])
        total = THREADS * UPDATES_PER_THREAD
        self.assertEqual(len(won), total)
        vids = sorted(int(v) for _, v in won)
        self.assertEqual(vids, list(range(2, total + 2)), "every successful update got its own version")
        final = self.fetch("GET", "Patient/" + pid)
        self.assertStatus(final, 200)
        self.assertEqual(final.json["meta"]["versionId"], str(1 + total))
        self.assertEtag(final, 1 + total)
        entries, _ = history_all(self.server, "Patient/%s/_history?_count=50" % pid)
        hv = [int(e["resource"]["meta"]["versionId"]) for e in entries]
        self.assertEqual(hv, list(range(total + 1, 0, -1)))
        # each version holds what its writer sent
        by_vid = {v: t for t, v in won}
        for e in entries[:-1]:
            v = e["resource"]["meta"]["versionId"]
            self.assertEqual(e["resource"]["name"][0]["given"][0], "t%d" % by_vid[v])

    def test_concurrent_creates(self):
        created = {}  # id -> body sent
        lock = threading.Lock()
        bad = []

        def worker(t):
            for n in range(CREATES_PER_THREAD):
                body = patient(family="Thread%d" % t, given=["n%d" % n],
                               identifier=[{"system": "urn:test", "value": "%d-%d" % (t, n)}])
                r = request(self.server, "POST", "Patient", body)
                if r.status != 201:
                    bad.append((r.status, r.body[:300]))
                    continue
                with lock:
                    if r.json["id"] in created:
                        bad.append(("duplicate id", r.json["id"]))
                    created[r.json["id"]] = body
                if r.json["meta"]["versionId"] != "1":
                    bad.append(("versionId", r.json["meta"]))

        run_threads(THREADS, worker)
        self.assertEqual(bad, [])
        self.assertEqual(len(created), THREADS * CREATES_PER_THREAD)
        ids = sorted(created)

        def reader(t):
            for pid in ids[t::THREADS]:
                g = request(self.server, "GET", "Patient/" + pid)
                if g.status != 200 or strip_meta(g.json) != created[pid]:
                    bad.append(("read", pid, g.status, g.body[:300]))

        run_threads(THREADS, reader)
        self.assertEqual(bad, [])

    def test_reads_during_writes(self):
        r = self.make(patient(family="Busy"))
        pid = r.json["id"]
        stop = threading.Event()
        bad = []

        def writer(_):
            try:
                for n in range(30):
                    u = request(self.server, "PUT", "Patient/" + pid, patient(family="Busy", id=pid,
                                                                              given=["w%d" % n]))
                    if u.status != 200:
                        bad.append(("PUT", u.status))
            finally:
                stop.set()

        def reader(_):
            last = 0
            while not stop.is_set():
                g = request(self.server, "GET", "Patient/" + pid)
                if g.status != 200:
                    bad.append(("GET", g.status))
                    return
                v = int(g.json["meta"]["versionId"])
                if v < last or etag_vid(g.header("etag")) != str(v):
                    bad.append(("went back or mismatched", last, v, g.header("etag")))
                last = v

        def role(i):
            (writer if i == 0 else reader)(i)

        run_threads(4, role)
        self.assertEqual(bad, [])
