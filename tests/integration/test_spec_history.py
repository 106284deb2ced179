"""history at instance, type and system level (hl7.org/fhir/R4/http.html#history):
Bundle type "history", newest first, request/response per entry, _count paging
with next/previous links stable under concurrent writes, _since, _at, errors."""
import datetime

from itutil import (INSTANT_RE, SpecCase, entry_key, format_instant, link, observation, parse_instant,
                    patient, q, query_params, with_params, history_all)

US = datetime.timedelta(microseconds=1)
KNOWN_PARAMS = {"_count", "_since", "_at", "_format", "_pretty"}


class HistoryCase(SpecCase):
    def hist(self, path):
        r = self.fetch("GET", path)
        self.assertStatus(r, 200)
        self.assertFhirJson(r)
        b = r.json
        self.assertEqual(b.get("resourceType"), "Bundle")
        self.assertEqual(b.get("type"), "history")
        self.assertTrue(link(b, "self"), "Bundle without a self link")
        return b

    def keys(self, bundle_or_entries):
        entries = bundle_or_entries.get("entry") or [] if isinstance(bundle_or_entries, dict) else bundle_or_entries
        return [entry_key(e) for e in entries]

    def cursor_param(self, url):
        names = [k for k, _ in query_params(url) if k not in KNOWN_PARAMS]
        self.assertEqual(len(names), 1, "expected exactly one cursor parameter in %s" % url)
        return names[0]


class TestInstanceHistory(HistoryCase):
    """POST v1, PUT v2, PUT v3, DELETE v4, PUT v5 (re-create) of one Patient."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls.server
        r = s.request("POST", "Patient", patient(family="V1"), fresh=True)
        assert r.status == 201, r.body
        cls.pid = pid = r.json["id"]
        cls.bodies = {"1": r.json}
        for vid, fam in (("2", "V2"), ("3", "V3")):
            r = s.request("PUT", "Patient/" + pid, patient(family=fam, id=pid), fresh=True)
            assert r.status == 200, r.body
            cls.bodies[vid] = r.json
        r = s.request("DELETE", "Patient/" + pid, fresh=True)
        assert r.status == 204, r.body
        r = s.request("PUT", "Patient/" + pid, patient(family="V5", id=pid), fresh=True)
        assert r.status == 201, r.body
        cls.bodies["5"] = r.json

    def test_bundle_newest_first(self):
        b = self.hist("Patient/%s/_history" % self.pid)
        self.assertEqual(self.keys(b), [("Patient", self.pid, v) for v in "54321"])

    def test_entry_request_and_response(self):
        entries = self.hist("Patient/%s/_history" % self.pid)["entry"]
        expect = {"5": ("PUT", ("200", "201")), "4": ("DELETE", ("204",)), "3": ("PUT", ("200",)),
                  "2": ("PUT", ("200",)), "1": ("POST", ("201",))}
        for e in entries:
            vid = entry_key(e)[2]
            with self.subTest(version=vid):
                method, statuses = expect[vid]
                self.assertEqual(e["request"]["method"], method)
                self.assertEqual(e["request"]["url"], "Patient" if method == "POST" else "Patient/" + self.pid)
                self.assertTrue(e["response"]["status"].split(" ")[0] in statuses, e["response"])
                self.assertEqual(e["response"]["etag"], 'W/"%s"' % vid)
                self.assertRegex(e["response"]["lastModified"], INSTANT_RE)
                if method == "DELETE":
                    self.assertNotIn("resource", e)
                else:
                    res = e["resource"]
                    self.assertEqual(res["meta"]["versionId"], vid)
                    self.assertEqual(res, self.bodies[vid])
                    self.assertEqual(parse_instant(e["response"]["lastModified"]),
                                     parse_instant(res["meta"]["lastUpdated"]))
                    self.assertTrue(e["fullUrl"].startswith("http"), e["fullUrl"])
                    self.assertIn("/fhir/Patient/" + self.pid, e["fullUrl"])

    def test_last_modified_strictly_decreasing(self):
        entries = self.hist("Patient/%s/_history" % self.pid)["entry"]
        times = [parse_instant(e["response"]["lastModified"]) for e in entries]
        for a, b in zip(times, times[1:]):
            self.assertGreater(a, b)

    def test_history_matches_vread(self):
        for e in self.hist("Patient/%s/_history" % self.pid)["entry"]:
            t, i, vid = entry_key(e)
            with self.subTest(version=vid):
                r = self.fetch("GET", "%s/%s/_history/%s" % (t, i, vid))
                if e["request"]["method"] == "DELETE":
                    self.assertOutcome(r, 410)
                else:
                    self.assertStatus(r, 200)
                    self.assertEqual(r.json, e["resource"])
                    self.assertEtag(r, vid)

    def test_update_as_create_entry(self):
        r = self.fetch("PUT", "Patient/hist-put-create", patient(id="hist-put-create"))
        self.assertStatus(r, 201)
        (e,) = self.hist("Patient/hist-put-create/_history")["entry"]
        self.assertEqual(e["request"]["method"], "PUT")
        self.assertEqual(e["request"]["url"], "Patient/hist-put-create")
        self.assertTrue(e["response"]["status"].startswith("201"), e["response"])

    def test_count_paging_walk_and_previous(self):
        first = self.hist("Patient/%s/_history?_count=2" % self.pid)
        self.assertEqual(len(first["entry"]), 2)
        entries, pages = history_all(self.server, "Patient/%s/_history?_count=2" % self.pid)
        self.assertEqual([len(p.get("entry") or []) for p in pages], [2, 2, 1])
        self.assertEqual(self.keys(entries), [("Patient", self.pid, v) for v in "54321"])
        self.assertIsNone(link(pages[-1], "next"))
        for p in pages:
            self.assertTrue(link(p, "self"))
        prev = link(pages[1], "previous")
        self.assertTrue(prev, "page 2 has no previous link")
        self.assertEqual(self.keys(self.hist(prev)), self.keys(pages[0]))
        prev = link(pages[2], "previous")
        self.assertEqual(self.keys(self.hist(prev)), self.keys(pages[1]))


class TestTypeAndSystemHistory(HistoryCase):
    """Seven writes over three resources, in a known order."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls.server
        writes = []  # (key, method)

        def ok(r, status):
            assert r.status == status, (r.status, r.body)
            return r

        a = ok(s.request("POST", "Patient", patient(family="A"), fresh=True), 201).json["id"]
        writes.append((("Patient", a, "1"), "POST"))
        ok(s.request("PUT", "Patient/type-b", patient(family="B", id="type-b"), fresh=True), 201)
        writes.append((("Patient", "type-b", "1"), "PUT"))
        o = ok(s.request("POST", "Observation", observation(), fresh=True), 201).json["id"]
        writes.append((("Observation", o, "1"), "POST"))
        ok(s.request("PUT", "Patient/" + a, patient(family="A2", id=a), fresh=True), 200)
        writes.append((("Patient", a, "2"), "PUT"))
        ok(s.request("PUT", "Observation/" + o, observation(id=o, status="amended"), fresh=True), 200)
        writes.append((("Observation", o, "2"), "PUT"))
        ok(s.request("DELETE", "Patient/type-b", fresh=True), 204)
        writes.append((("Patient", "type-b", "2"), "DELETE"))
        ok(s.request("PUT", "Patient/" + a, patient(family="A3", id=a), fresh=True), 200)
        writes.append((("Patient", a, "3"), "PUT"))
        cls.a, cls.o = a, o
        cls.writes = [k for k, _ in writes]
        # the time of each write, from the system history (deletes have no meta)
        r = s.request("GET", "_history?_count=100", fresh=True)
        assert r.status == 200, r.body
        cls.when = {entry_key(e): parse_instant(e["response"]["lastModified"]) for e in r.json.get("entry", [])}

    def expect(self, keys):
        """keys newest first."""
        return list(reversed(keys))

    def test_type_history(self):
        b = self.hist("Patient/_history")
        self.assertEqual(self.keys(b), self.expect([k for k in self.writes if k[0] == "Patient"]))
        for e in b["entry"]:
            if e["request"]["method"] == "POST":
                self.assertEqual(e["request"]["url"], "Patient")
            else:
                self.assertEqual(e["request"]["url"], "Patient/" + entry_key(e)[1])

    def test_type_history_of_unused_type_is_empty(self):
        b = self.hist("Device/_history")
        self.assertEqual(b.get("entry") or [], [])

    def test_system_history(self):
        b = self.hist("_history")
        self.assertEqual(self.keys(b), self.expect(self.writes))
        methods = [e["request"]["method"] for e in b["entry"]]
        self.assertEqual(methods, ["PUT", "DELETE", "PUT", "PUT", "POST", "PUT", "POST"])

    def test_system_paging(self):
        entries, pages = history_all(self.server, "_history?_count=2")
        self.assertEqual([len(p.get("entry") or []) for p in pages], [2, 2, 2, 1])
        self.assertEqual(self.keys(entries), self.expect(self.writes))
        self.assertEqual(self.keys(self.hist(link(pages[1], "previous"))), self.keys(pages[0]))

    def test_type_paging(self):
        entries, pages = history_all(self.server, "Patient/_history?_count=3")
        self.assertEqual([len(p.get("entry") or []) for p in pages], [3, 2])
        self.assertEqual(self.keys(entries), self.expect([k for k in self.writes if k[0] == "Patient"]))

    def test_since_inclusive(self):
        for k in range(len(self.writes)):
            t = self.when[self.writes[k]]
            with self.subTest(since_write=k):
                b = self.hist("_history?_since=" + q(format_instant(t)))
                self.assertEqual(self.keys(b), self.expect(self.writes[k:]))
                b = self.hist("_history?_since=" + q(format_instant(t + US)))
                self.assertEqual(self.keys(b), self.expect(self.writes[k + 1:]))

    def test_since_levels_and_offsets(self):
        t = self.when[self.writes[3]]
        later = [w for w in self.writes[3:]]
        b = self.hist("Patient/_history?_since=" + q(format_instant(t)))
        self.assertEqual(self.keys(b), self.expect([w for w in later if w[0] == "Patient"]))
        b = self.hist("Patient/%s/_history?_since=%s" % (self.a, q(format_instant(t))))
        self.assertEqual(self.keys(b), self.expect([w for w in later if w[1] == self.a]))
        # the same instant written with a +01:00 offset
        plus1 = t.astimezone(datetime.timezone(datetime.timedelta(hours=1))).strftime("%Y-%m-%dT%H:%M:%S.%f+01:00")
        b = self.hist("_history?_since=" + q(plus1))
        self.assertEqual(self.keys(b), self.expect(later))
        self.assertEqual(self.keys(self.hist("_history?_since=2000-01-01T00:00:00Z")), self.expect(self.writes))
        self.assertEqual(self.keys(self.hist("_history?_since=2999-01-01T00:00:00Z")), [])

    def current_at(self, t, pred=lambda k: True):
        cur = {}
        for w in self.writes:
            if self.when[w] <= t and pred(w):
                cur[(w[0], w[1])] = w
        return sorted(cur.values(), key=lambda w: self.when[w], reverse=True)

    def test_at_instance(self):
        a1, a2 = ("Patient", self.a, "1"), ("Patient", self.a, "2")
        path = "Patient/%s/_history?_at=" % self.a
        self.assertEqual(self.keys(self.hist(path + q(format_instant(self.when[a1])))), [a1])
        self.assertEqual(self.keys(self.hist(path + q(format_instant(self.when[a2] - US)))), [a1])
        self.assertEqual(self.keys(self.hist(path + q(format_instant(self.when[a2])))), [a2])
        self.assertEqual(self.keys(self.hist(path + q(format_instant(self.when[a1] - US)))), [])

    def test_at_type_and_system(self):
        t = self.when[self.writes[4]]  # after O2: A2, B1 and O2 are current
        self.assertEqual(self.current_at(t), [("Observation", self.o, "2"), ("Patient", self.a, "2"),
                                              ("Patient", "type-b", "1")])
        b = self.hist("_history?_at=" + q(format_instant(t)))
        self.assertEqual(self.keys(b), self.current_at(t))
        b = self.hist("Patient/_history?_at=" + q(format_instant(t)))
        self.assertEqual(self.keys(b), self.current_at(t, lambda k: k[0] == "Patient"))

    def test_bad_parameters(self):
        for p in ("_count=abc", "_count=-1", "_count=1.5", "_count=1e3", "_since=garbage",
                  "_since=2020-13-01T00:00:00Z", "_at=garbage", "_at=2020-02-30"):
            for level in ("_history", "Patient/_history", "Patient/%s/_history" % self.a):
                with self.subTest(level=level, param=p):
                    self.assertOutcome(self.fetch("GET", "%s?%s" % (level, p)), 400)

    def test_tampered_cursor(self):
        for level in ("_history", "Patient/_history", "Patient/%s/_history" % self.a):
            with self.subTest(level=level):
                b = self.hist(level + "?_count=1")
                nxt = link(b, "next")
                self.assertTrue(nxt)
                self.assertStatus(self.fetch("GET", nxt), 200)
                name = self.cursor_param(nxt)
                params = query_params(nxt)
                value = dict(params)[name]
                mid = len(value) // 2
                flipped = value[:mid] + ("A" if value[mid] != "A" else "B") + value[mid + 1:]
                for bad in (flipped, value[:-1], value + "x", "garbage"):
                    forged = with_params(nxt, [(k, bad if k == name else v) for k, v in params])
                    self.assertOutcome(self.fetch("GET", forged), 400)


class TestPagingUnderWrites(HistoryCase):
    """Pages come from the snapshot taken at the first page: later writes do not
    appear, nothing is skipped or repeated."""

    def test_instance(self):
        r = self.make(patient(family="P1"))
        pid = r.json["id"]
        for n in range(2, 8):
            self.assertStatus(self.fetch("PUT", "Patient/" + pid, patient(family="P%d" % n, id=pid)), 200)
        first = self.hist("Patient/%s/_history?_count=3" % pid)
        for n in (8, 9):
            self.assertStatus(self.fetch("PUT", "Patient/" + pid, patient(family="P%d" % n, id=pid)), 200)
        keys = self.keys(first)
        url, pages = link(first, "next"), [first]
        while url:
            self.assertStatus(self.fetch("POST", "Patient", patient()), 201)  # unrelated writes too
            self.assertStatus(self.fetch("PUT", "Patient/" + pid, patient(id=pid)), 200)
            p = self.hist(url)
            pages.append(p)
            keys += self.keys(p)
            url = link(p, "next")
        self.assertEqual(keys, [("Patient", pid, str(v)) for v in range(7, 0, -1)])
        self.assertEqual(self.keys(self.hist(link(pages[1], "previous"))), self.keys(first))

    def test_type_and_system(self):
        for _ in range(5):
            self.make(observation())
        for level in ("Observation/_history", "_history"):
            with self.subTest(level=level):
                before = self.keys(history_all(self.server, level + "?_count=1000")[0])
                first = self.hist(level + "?_count=2")
                keys, url = self.keys(first), link(first, "next")
                while url:
                    self.make(observation())
                    self.make(patient())
                    p = self.hist(url)
                    keys += self.keys(p)
                    url = link(p, "next")
                self.assertEqual(keys, before)
                self.assertEqual(len(set(keys)), len(keys))


class TestPageSizes(HistoryCase):
    SERVER_ARGS = ("--page-default", "2", "--page-max", "3")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for _ in range(5):
            r = cls.server.request("POST", "Patient", patient(), fresh=True)
            assert r.status == 201, r.body

    def test_page_default(self):
        b = self.hist("Patient/_history")
        self.assertEqual(len(b["entry"]), 2)
        self.assertTrue(link(b, "next"))

    def test_page_max_caps_count(self):
        b = self.hist("Patient/_history?_count=100")
        self.assertEqual(len(b["entry"]), 3)
        entries, pages = history_all(self.server, "Patient/_history?_count=100")
        self.assertEqual(len(entries), 5)
        self.assertEqual(len(set(self.keys(entries))), 5)
