"""history at instance, type and system level: hl7.org/fhir/R4/http.html#history."""
import re
import time
import urllib.parse

from fhirtest import FhirTestCase, Server


def links(bundle):
    return {l["relation"]: l["url"] for l in bundle.get("link", [])}


class TestHistory(FhirTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls.server
        for i in range(3):
            s.request("PUT", "Patient/h1", {"resourceType": "Patient", "id": "h1", "gender": ["male", "female", "other"][i]})
        s.request("DELETE", "Patient/h1")
        s.request("POST", "Observation", {"resourceType": "Observation", "status": "final", "code": {"text": "x"}})

    def test_instance_history(self):
        r = self.req("GET", "Patient/h1/_history")
        self.assertEqual(r.status, 200)
        b = r.json
        self.assertEqual(b["resourceType"], "Bundle")
        self.assertEqual(b["type"], "history")
        e = b["entry"]
        self.assertEqual([x["request"]["method"] for x in e], ["DELETE", "PUT", "PUT", "PUT"])
        self.assertEqual([x["response"]["etag"] for x in e], ['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"'])
        self.assertNotIn("resource", e[0])  # the delete has no resource
        self.assertTrue(e[0]["response"]["status"].startswith("204"))
        self.assertTrue(e[3]["response"]["status"].startswith("201"))
        self.assertTrue(e[2]["response"]["status"].startswith("200"))
        for x in e[1:]:
            self.assertEqual(x["request"]["url"], "Patient/h1")
            self.assertTrue(x["fullUrl"].endswith("/fhir/Patient/h1"))
            self.assertEqual(x["resource"]["id"], "h1")
            self.assertEqual(x["resource"]["meta"]["versionId"], x["response"]["etag"][3:-1])
            self.assertTrue(x["response"]["lastModified"])
        self.assertIn("self", links(b))

    def test_type_and_system_history(self):
        t = self.req("GET", "Observation/_history").json
        self.assertEqual(len(t["entry"]), 1)
        self.assertEqual(t["entry"][0]["request"], {"method": "POST", "url": "Observation"})
        self.assertTrue(t["entry"][0]["response"]["status"].startswith("201"))
        s = self.req("GET", "_history").json
        types = [x["fullUrl"].split("/")[-2] for x in s["entry"]]
        self.assertEqual(types[0], "Observation")  # newest first
        self.assertEqual(len(s["entry"]), 5)

    def test_unknown_instance(self):
        self.assertOutcome(self.req("GET", "Patient/nope/_history"), 404)

    def test_bad_params(self):
        for q in ("_count=abc", "_count=-1", "_since=garbage", "_at=2020-13", "_cursor=zzz"):
            with self.subTest(q=q):
                self.assertOutcome(self.req("GET", "_history?" + q), 400)


class TestHistoryPaging(FhirTestCase):
    def test_paging_stable_under_writes(self):
        s = self.server
        for i in range(7):
            s.request("PUT", "Patient/p%d" % i, {"resourceType": "Patient", "id": "p%d" % i})
        first = self.req("GET", "Patient/_history?_count=3").json
        self.assertEqual(len(first["entry"]), 3)
        self.assertNotIn("previous", links(first))
        seen = [x["fullUrl"] for x in first["entry"]]
        page = first
        pages = [first]
        while "next" in links(page):
            # a write between page fetches must not appear or shift pages
            s.request("PUT", "Patient/late%d" % len(pages), {"resourceType": "Patient", "id": "late%d" % len(pages)})
            page = self.req("GET", links(page)["next"]).json
            pages.append(page)
            seen += [x["fullUrl"] for x in page["entry"]]
        self.assertEqual([u.split("/")[-1] for u in seen], ["p%d" % i for i in range(6, -1, -1)])
        # previous from page 2 gives page 1's entries
        prev = self.req("GET", links(pages[1])["previous"]).json
        self.assertEqual([x["fullUrl"] for x in prev["entry"]], [x["fullUrl"] for x in first["entry"]])

    def test_tampered_cursor(self):
        for i in range(3):
            self.server.request("POST", "Patient", {"resourceType": "Patient"})
        b = self.req("GET", "_history?_count=1").json
        nxt = links(b)["next"]
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(nxt).query)
        cursor = q["_cursor"][0]
        # alter one character of the cursor: must be refused, not served
        i = 0
        bad = cursor[:i] + ("1" if cursor[i] != "1" else "2") + cursor[i + 1:]
        r = self.req("GET", "_history?_count=1&_cursor=" + urllib.parse.quote(bad))
        self.assertOutcome(r, 400)
        r = self.req("GET", "_history?_count=1&_cursor=" + urllib.parse.quote(cursor + "0"))
        self.assertOutcome(r, 400)
        self.assertEqual(self.req("GET", nxt).status, 200)

    def test_since_and_at(self):
        s = self.server
        a = s.request("PUT", "Patient/t1", {"resourceType": "Patient", "id": "t1", "gender": "male"}).json
        b = s.request("PUT", "Patient/t1", {"resourceType": "Patient", "id": "t1", "gender": "female"}).json
        lu1, lu2 = a["meta"]["lastUpdated"], b["meta"]["lastUpdated"]
        since = self.req("GET", "Patient/t1/_history?_since=" + urllib.parse.quote(lu2)).json
        self.assertEqual([x["response"]["etag"] for x in since["entry"]], ['W/"2"'])
        at = self.req("GET", "Patient/t1/_history?_at=" + urllib.parse.quote(lu1)).json
        self.assertEqual([x["response"]["etag"] for x in at["entry"]], ['W/"1"'])
        # _at a year: every version current during that year
        year = lu1[:4]
        at = self.req("GET", "Patient/t1/_history?_at=" + year).json
        self.assertEqual(len(at["entry"]), 2)
        # _since in the future: nothing
        fut = self.req("GET", "Patient/t1/_history?_since=2999-01-01T00:00:00Z").json
        self.assertEqual(fut.get("entry", []), [])

    def test_count_capped(self):
        r = self.req("GET", "_history?_count=100000")
        self.assertEqual(r.status, 200)
