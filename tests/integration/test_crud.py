"""create, read, vread, update, delete: hl7.org/fhir/R4/http.html."""
import email.utils
import re
import time

from fhirtest import FhirTestCase

ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
INSTANT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def patient(**kw):
    p = {"resourceType": "Patient", "name": [{"family": "Chalmers", "given": ["Peter"]}], "gender": "male"}
    p.update(kw)
    return p


class TestCreate(FhirTestCase):
    def test_create_assigns_id_version_and_headers(self):
        r = self.req("POST", "Patient", patient(id="client-chosen", meta={"versionId": "42", "lastUpdated": "2001-01-01T00:00:00Z"}))
        self.assertEqual(r.status, 201)
        body = r.json
        self.assertEqual(body["resourceType"], "Patient")
        self.assertTrue(ID_RE.match(body["id"]))
        self.assertNotEqual(body["id"], "client-chosen")  # http.html#create: client id ignored
        self.assertEqual(body["meta"]["versionId"], "1")
        self.assertTrue(INSTANT_RE.match(body["meta"]["lastUpdated"]))
        self.assertNotEqual(body["meta"]["lastUpdated"], "2001-01-01T00:00:00Z")
        self.assertTrue(r.header("Location").endswith("/fhir/Patient/%s/_history/1" % body["id"]))
        self.assertTrue(r.header("Location").startswith("http://127.0.0.1:"))
        self.assertEqual(r.header("ETag"), 'W/"1"')
        self.assertIsNotNone(email.utils.parsedate_to_datetime(r.header("Last-Modified")))
        self.assertTrue(r.header("Content-Type").startswith("application/fhir+json"))
        # the created resource is readable and identical
        g = self.req("GET", "Patient/" + body["id"])
        self.assertEqual(g.status, 200)
        self.assertEqual(g.json, body)

    def test_create_application_json(self):
        r = self.req("POST", "Patient", patient(), {"Content-Type": "application/json"})
        self.assertEqual(r.status, 201)

    def test_prefer_minimal(self):
        r = self.req("POST", "Patient", patient(), {"Prefer": "return=minimal"})
        self.assertEqual(r.status, 201)
        self.assertEqual(r.body, b"")
        self.assertTrue(r.header("Location"))
        self.assertEqual(r.header("ETag"), 'W/"1"')

    def test_prefer_operation_outcome(self):
        r = self.req("POST", "Patient", patient(), {"Prefer": "return=OperationOutcome"})
        self.assertEqual(r.status, 201)
        self.assertEqual(r.json["resourceType"], "OperationOutcome")

    def test_prefer_representation(self):
        r = self.req("POST", "Patient", patient(), {"Prefer": "return=representation"})
        self.assertEqual(r.status, 201)
        self.assertEqual(r.json["resourceType"], "Patient")

    def test_create_other_types(self):
        obs = {"resourceType": "Observation", "status": "final", "code": {"text": "weight"},
               "valueQuantity": {"value": 70, "unit": "kg"}, "effectiveDateTime": "2020-01-01T10:00:00Z"}
        r = self.create(obs)
        self.assertEqual(r.json["valueQuantity"]["value"], 70)

    def test_create_wrong_type_in_url(self):
        r = self.req("POST", "Observation", patient())
        self.assertOutcome(r, 400)


class TestRead(FhirTestCase):
    def test_read_and_conditional_read(self):
        r = self.create(patient())
        pid = r.json["id"]
        g = self.req("GET", "Patient/" + pid)
        self.assertEqual(g.status, 200)
        self.assertEqual(g.header("ETag"), 'W/"1"')
        lm = g.header("Last-Modified")
        self.assertIsNotNone(lm)
        # If-None-Match with the current version -> 304, empty body
        n = self.req("GET", "Patient/" + pid, headers={"If-None-Match": 'W/"1"'})
        self.assertEqual(n.status, 304)
        self.assertEqual(n.body, b"")
        n = self.req("GET", "Patient/" + pid, headers={"If-None-Match": 'W/"7"'})
        self.assertEqual(n.status, 200)
        # If-Modified-Since at or after Last-Modified -> 304; earlier -> 200
        n = self.req("GET", "Patient/" + pid, headers={"If-Modified-Since": lm})
        self.assertEqual(n.status, 304)
        n = self.req("GET", "Patient/" + pid, headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
        self.assertEqual(n.status, 200)

    def test_read_unknown(self):
        self.assertOutcome(self.req("GET", "Patient/does-not-exist"), 404)
        self.assertOutcome(self.req("GET", "Foo/1"), 404)

    def test_read_bad_id(self):
        self.assertOutcome(self.req("GET", "Patient/bad%24id"), 400)
        self.assertOutcome(self.req("GET", "Patient/" + "a" * 65), 400)
        # 64 characters is still a valid id (absent, so 404)
        self.assertOutcome(self.req("GET", "Patient/" + "a" * 64), 404)

    def test_head(self):
        r = self.create(patient())
        h = self.req("HEAD", "Patient/" + r.json["id"])
        self.assertEqual(h.status, 200)
        self.assertEqual(h.body, b"")
        self.assertEqual(h.header("ETag"), 'W/"1"')

    def test_pretty(self):
        r = self.create(patient())
        g = self.req("GET", "Patient/%s?_pretty=true" % r.json["id"])
        self.assertEqual(g.status, 200)
        self.assertIn(b"\n", g.body)
        self.assertEqual(g.json, r.json)
        g = self.req("GET", "Patient/%s" % r.json["id"])
        self.assertNotIn(b"\n", g.body)


class TestUpdate(FhirTestCase):
    def test_update_versions_and_vread(self):
        r = self.put(patient(id="u1"))
        self.assertEqual(r.status, 201)  # update-as-create
        self.assertTrue(r.header("Location").endswith("/fhir/Patient/u1/_history/1"))
        self.assertEqual(r.json["meta"]["versionId"], "1")
        r = self.put(patient(id="u1", gender="female"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("ETag"), 'W/"2"')
        self.assertEqual(r.json["meta"]["versionId"], "2")
        v1 = self.req("GET", "Patient/u1/_history/1")
        self.assertEqual(v1.status, 200)
        self.assertEqual(v1.json["gender"], "male")
        self.assertEqual(v1.header("ETag"), 'W/"1"')
        v2 = self.req("GET", "Patient/u1/_history/2")
        self.assertEqual(v2.json["gender"], "female")
        self.assertOutcome(self.req("GET", "Patient/u1/_history/3"), 404)
        self.assertEqual(self.req("GET", "Patient/u1").json["meta"]["versionId"], "2")
        # lastUpdated moves forward
        self.assertGreater(v2.json["meta"]["lastUpdated"], v1.json["meta"]["lastUpdated"])

    def test_update_id_rules(self):
        body = patient()
        self.assertOutcome(self.req("PUT", "Patient/noid", body), 400)
        self.assertOutcome(self.req("PUT", "Patient/one", patient(id="two")), 400)
        self.assertOutcome(self.req("PUT", "Patient/one", {"resourceType": "Observation", "id": "one",
                                                           "status": "final", "code": {"text": "x"}}), 400)

    def test_if_match(self):
        self.assertEqual(self.put(patient(id="m1")).status, 201)
        r = self.put(patient(id="m1"), {"If-Match": 'W/"5"'})
        self.assertOutcome(r, 412)
        r = self.put(patient(id="m1"), {"If-Match": 'W/"1"'})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("ETag"), 'W/"2"')
        r = self.put(patient(id="m1"), {"If-Match": 'W/"1"'})  # stale now
        self.assertOutcome(r, 412)
        self.assertOutcome(self.put(patient(id="m1"), {"If-Match": "garbage"}), 400)

    def test_server_owns_meta(self):
        r = self.put(patient(id="meta1", meta={"versionId": "99", "lastUpdated": "1999-01-01T00:00:00Z",
                                                  "tag": [{"system": "http://x", "code": "y"}]}))
        self.assertEqual(r.json["meta"]["versionId"], "1")
        self.assertNotEqual(r.json["meta"]["lastUpdated"], "1999-01-01T00:00:00Z")
        self.assertEqual(r.json["meta"]["tag"], [{"system": "http://x", "code": "y"}])


class TestDelete(FhirTestCase):
    def test_delete_gone_idempotent_recreate(self):
        self.assertEqual(self.put(patient(id="d1")).status, 201)
        self.assertEqual(self.put(patient(id="d1", gender="female")).status, 200)
        r = self.req("DELETE", "Patient/d1")
        self.assertEqual(r.status, 204)
        self.assertOutcome(self.req("GET", "Patient/d1"), 410)
        hist = self.req("GET", "Patient/d1/_history").json
        self.assertEqual(len(hist["entry"]), 3)
        # deleting again: still 204, no new version
        self.assertEqual(self.req("DELETE", "Patient/d1").status, 204)
        self.assertEqual(len(self.req("GET", "Patient/d1/_history").json["entry"]), 3)
        # the delete version is 410, earlier versions still readable
        self.assertOutcome(self.req("GET", "Patient/d1/_history/3"), 410)
        self.assertEqual(self.req("GET", "Patient/d1/_history/1").status, 200)
        # update after delete creates a new version
        r = self.put(patient(id="d1"))
        self.assertEqual(r.status, 201)
        self.assertEqual(r.json["meta"]["versionId"], "4")
        self.assertEqual(self.req("GET", "Patient/d1").status, 200)

    def test_delete_never_existing(self):
        self.assertEqual(self.req("DELETE", "Patient/never-there").status, 204)
        self.assertOutcome(self.req("GET", "Patient/never-there"), 404)
