"""read / vread / create / update / delete details (hl7.org/fhir/R4/http.html)
beyond test_crud.py: header formats, conditional reads, content fidelity,
If-Match edge cases, deleted resources."""
import datetime
import http.client
import urllib.parse

from itutil import (ID_RE, SpecCase, format_http_date, observation, parse_http_date, parse_instant, patient,
                    strip_meta)

RICH = {
    "resourceType": "Patient",
    "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Zoë 李 &amp; co</div>"},
    "extension": [{"url": "http://example.org/ext/a", "valueString": "a"},
                  {"url": "http://example.org/ext/b", "extension": [{"url": "x", "valueBoolean": False}]}],
    "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345",
                    "period": {"start": "2001-05-06"}}],
    "active": True,
    "name": [{"use": "official", "family": "Ñúñez-Ødegård", "given": ["Zoë", "李"]},
             {"use": "usual", "given": ["Jim"]}],
    "telecom": [{"system": "phone", "value": "(03) 5555 6473", "use": "work", "rank": 1}],
    "gender": "female",
    "birthDate": "1974-12-25",
    "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                                  "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
    "deceasedBoolean": False,
    "address": [{"use": "home", "line": ["534 Erewhon St", "\u00a0line two"], "city": "PleasantVille",
                 "postalCode": "3999"}],
    "contact": [{"relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131",
                                               "code": "N"}]}],
                 "name": {"family": "du Marché", "_family": {"extension": [
                     {"url": "http://hl7.org/fhir/StructureDefinition/humanname-own-prefix", "valueString": "VV"}]}}}],
}


class TestCreateRead(SpecCase):
    def test_create_headers_formats(self):
        r = self.make(patient())
        pid = r.json["id"]
        self.assertRegex(pid, ID_RE)
        loc = r.header("location")
        self.assertTrue(loc.startswith("http://") or loc.startswith("https://"), loc)
        self.assertTrue(loc.endswith("/fhir/Patient/%s/_history/1" % pid), loc)
        self.assertEtag(r, 1)
        self.assertImfDate(r.header("last-modified"))
        self.assertInstant(r.json["meta"]["lastUpdated"])
        self.assertFhirJson(r)
        # Last-Modified is meta.lastUpdated to the second
        lu = parse_instant(r.json["meta"]["lastUpdated"])
        self.assertEqual(parse_http_date(r.header("last-modified")), lu.replace(microsecond=0))

    def test_location_is_followable(self):
        r = self.make(patient())
        u = urllib.parse.urlsplit(r.header("location"))
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        try:
            c.request("GET", u.path)
            g = c.getresponse()
            body = g.read()
        finally:
            c.close()
        self.assertEqual(g.status, 200, body[:300])

    def test_client_id_and_meta_ignored(self):
        r = self.make(patient(id="client-chosen-id", meta={"versionId": "99",
                                                            "lastUpdated": "2000-01-01T00:00:00Z"}))
        self.assertNotEqual(r.json["id"], "client-chosen-id")
        self.assertEqual(r.json["meta"]["versionId"], "1")
        self.assertNotEqual(r.json["meta"]["lastUpdated"], "2000-01-01T00:00:00Z")
        self.assertTrue(r.header("location").endswith("/Patient/%s/_history/1" % r.json["id"]))
        self.assertOutcome(self.fetch("GET", "Patient/client-chosen-id"), 404)

    def test_ids_are_distinct(self):
        ids = {self.make(patient()).json["id"] for _ in range(20)}
        self.assertEqual(len(ids), 20)

    def test_content_fidelity(self):
        r = self.make(RICH)
        self.assertEqual(strip_meta(r.json), RICH)
        g = self.fetch("GET", "Patient/" + r.json["id"])
        self.assertStatus(g, 200)
        self.assertEqual(g.json, r.json)
        self.assertEqual(strip_meta(g.json), RICH)

    def test_prefer_minimal_keeps_headers(self):
        r = self.fetch("POST", "Patient", patient(), headers={"Prefer": "return=minimal"})
        self.assertStatus(r, 201)
        self.assertEqual(r.body, b"")
        self.assertEtag(r, 1)
        self.assertImfDate(r.header("last-modified"))
        loc = r.header("location")
        self.assertRegex(loc, r"/fhir/Patient/[A-Za-z0-9\-.]{1,64}/_history/1$")
        pid = loc.split("/")[-3]
        self.assertStatus(self.fetch("GET", "Patient/" + pid), 200)

    def test_prefer_on_update(self):
        r = self.make(patient())
        pid = r.json["id"]
        u = self.fetch("PUT", "Patient/" + pid, patient(id=pid), headers={"Prefer": "return=minimal"})
        self.assertStatus(u, 200)
        self.assertEqual(u.body, b"")
        self.assertEtag(u, 2)
        u = self.fetch("PUT", "Patient/" + pid, patient(id=pid), headers={"Prefer": "return=OperationOutcome"})
        self.assertStatus(u, 200)
        self.assertEqual(u.json["resourceType"], "OperationOutcome")
        self.assertEtag(u, 3)
        u = self.fetch("PUT", "Patient/" + pid, patient(id=pid), headers={"Prefer": "return=representation"})
        self.assertStatus(u, 200)
        self.assertEqual(u.json["meta"]["versionId"], "4")

    def test_conditional_read(self):
        r = self.make(patient())
        pid = r.json["id"]
        g = self.fetch("GET", "Patient/" + pid)
        self.assertStatus(g, 200)
        self.assertEtag(g, 1)
        lm = parse_http_date(g.header("last-modified"))
        cases = (({"If-None-Match": 'W/"1"'}, 304), ({"If-None-Match": 'W/"2"'}, 200),
                 ({"If-None-Match": '"x", W/"1"'}, 304), ({"If-None-Match": "*"}, 304),
                 ({"If-Modified-Since": format_http_date(lm)}, 304),
                 ({"If-Modified-Since": format_http_date(lm + datetime.timedelta(days=1))}, 304),
                 ({"If-Modified-Since": format_http_date(lm - datetime.timedelta(seconds=1))}, 200),
                 ({"If-Modified-Since": format_http_date(lm - datetime.timedelta(days=400))}, 200),
                 # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
                 ({"If-None-Match": 'W/"2"', "If-Modified-Since": format_http_date(lm)}, 200),
                 ({"If-None-Match": 'W/"1"', "If-Modified-Since": format_http_date(lm - datetime.timedelta(days=1))},
                  304))
        for headers, status in cases:
            with self.subTest(headers=headers):
                c = self.fetch("GET", "Patient/" + pid, headers=headers)
                self.assertStatus(c, status)
                if status == 304:
                    self.assertEqual(c.body, b"")
                    self.assertEtag(c, 1)
                else:
                    self.assertEqual(c.json, g.json)

    def test_unknown_type_and_ids(self):
        for path, status in (("Foo/1", 404), ("patient/1", 404), ("Patient/nobody-here", 404),
                             ("Patient/bad%24id", (400, 404)), ("Patient/" + "a" * 65, (400, 404)),
                             ("Patient/" + "a" * 64, 404), ("Patient/a_b", (400, 404)),
                             ("Patient/nobody-here/_history/1", 404)):
            with self.subTest(path=path):
                self.assertOutcome(self.fetch("GET", path), status)


class TestVersions(SpecCase):
    def test_vread(self):
        r = self.make(observation())
        oid = r.json["id"]
        u = self.fetch("PUT", "Observation/" + oid, observation(id=oid, status="amended"))
        self.assertStatus(u, 200)
        self.assertEtag(u, 2)
        self.assertGreater(parse_instant(u.json["meta"]["lastUpdated"]), parse_instant(r.json["meta"]["lastUpdated"]))
        for vid, body in (("1", r.json), ("2", u.json)):
            v = self.fetch("GET", "Observation/%s/_history/%s" % (oid, vid))
            self.assertStatus(v, 200)
            self.assertEqual(v.json, body)
            self.assertEtag(v, vid)
            self.assertImfDate(v.header("last-modified"))
        self.assertOutcome(self.fetch("GET", "Observation/%s/_history/3" % oid), 404)
        self.assertOutcome(self.fetch("GET", "Observation/%s/_history/999999" % oid), 404)

    def test_stale_if_match_changes_nothing(self):
        r = self.make(patient(family="Orig"))
        pid = r.json["id"]
        self.assertStatus(self.fetch("PUT", "Patient/" + pid, patient(id=pid, family="Second")), 200)
        s = self.fetch("PUT", "Patient/" + pid, patient(id=pid, family="Stale"), headers={"If-Match": 'W/"1"'})
        self.assertOutcome(s, 412)
        g = self.fetch("GET", "Patient/" + pid)
        self.assertEqual(g.json["meta"]["versionId"], "2")
        self.assertEqual(g.json["name"][0]["family"], "Second")

    def test_if_match_absent_resource(self):
        r = self.fetch("PUT", "Patient/if-match-absent", patient(id="if-match-absent"), headers={"If-Match": 'W/"1"'})
        self.assertOutcome(r, 412)
        self.assertOutcome(self.fetch("GET", "Patient/if-match-absent"), 404)

    def test_malformed_if_match(self):
        r = self.make(patient())
        pid = r.json["id"]
        for value in ("garbage", "W/1", 'W/"1', "W/"):
            with self.subTest(if_match=value):
                self.assertOutcome(self.fetch("PUT", "Patient/" + pid, patient(id=pid), headers={"If-Match": value}),
                                   400)
        self.assertEqual(self.fetch("GET", "Patient/" + pid).json["meta"]["versionId"], "1")

    def test_update_body_checks(self):
        r = self.make(patient())
        pid = r.json["id"]
        self.assertOutcome(self.fetch("PUT", "Patient/" + pid, patient()), 400)
        self.assertOutcome(self.fetch("PUT", "Patient/" + pid, patient(id=pid + "x")), 400)
        self.assertOutcome(self.fetch("PUT", "Patient/" + pid, observation(id=pid)), 400)
        self.assertOutcome(self.fetch("PUT", "Patient/" + pid, patient(id=pid, foo=1)), 422)
        self.assertEqual(self.fetch("GET", "Patient/" + pid).json["meta"]["versionId"], "1")


class TestDeleted(SpecCase):
    def test_delete_lifecycle(self):
        r = self.make(patient(family="Del"))
        pid = r.json["id"]
        self.assertStatus(self.fetch("PUT", "Patient/" + pid, patient(id=pid, family="Del2")), 200)
        d = self.fetch("DELETE", "Patient/" + pid)
        self.assertStatus(d, 204)
        self.assertEqual(d.body, b"")
        g = self.fetch("GET", "Patient/" + pid)
        self.assertOutcome(g, 410)
        self.assertEtag(g, 3)
        hist = self.fetch("GET", "Patient/%s/_history" % pid).json["entry"]
        self.assertEqual(len(hist), 3)
        self.assertStatus(self.fetch("DELETE", "Patient/" + pid), 204)
        self.assertEqual(self.fetch("GET", "Patient/%s/_history" % pid).json["entry"], hist)
        self.assertOutcome(self.fetch("GET", "Patient/%s/_history/3" % pid), 410)
        for vid in ("1", "2"):
            v = self.fetch("GET", "Patient/%s/_history/%s" % (pid, vid))
            self.assertStatus(v, 200)
            self.assertEtag(v, vid)
        # conditional headers do not turn a 410 into a 304
        self.assertOutcome(self.fetch("GET", "Patient/" + pid, headers={"If-None-Match": 'W/"3"'}), (410, 304))
        # update after delete: 201, version = delete version + 1
        u = self.fetch("PUT", "Patient/" + pid, patient(id=pid, family="Back"))
        self.assertStatus(u, 201)
        self.assertEqual(u.json["meta"]["versionId"], "4")
        self.assertEtag(u, 4)
        self.assertTrue(u.header("location").endswith("/fhir/Patient/%s/_history/4" % pid), u.header("location"))
        self.assertEqual(self.fetch("GET", "Patient/" + pid).json["name"][0]["family"], "Back")

    def test_delete_never_existing_writes_nothing(self):
        self.assertStatus(self.fetch("DELETE", "Patient/never-existed-1"), 204)
        self.assertOutcome(self.fetch("GET", "Patient/never-existed-1"), 404)
        h = self.fetch("GET", "Patient/never-existed-1/_history")
        self.assertIn(h.status, (200, 404))
        if h.status == 200:
            self.assertEqual(h.json.get("entry") or [], [])

    def test_delete_other_type_same_id(self):
        self.assertStatus(self.fetch("PUT", "Patient/shared-id", patient(id="shared-id")), 201)
        self.assertStatus(self.fetch("PUT", "Observation/shared-id", observation(id="shared-id")), 201)
        self.assertStatus(self.fetch("DELETE", "Observation/shared-id"), 204)
        self.assertStatus(self.fetch("GET", "Patient/shared-id"), 200)
        self.assertOutcome(self.fetch("GET", "Observation/shared-id"), 410)
