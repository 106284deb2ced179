"""Content negotiation (hl7.org/fhir/R4/http.html#mime-type, #parameters):
JSON only; Accept and _format; request Content-Type; _pretty; response headers."""
import json

from itutil import FHIR_JSON_CT, SpecCase, norm_ct, observation, patient


class TestResponseFormat(SpecCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.server.request("POST", "Patient", patient(), fresh=True)
        assert r.status == 201, r.body
        cls.pid = r.json["id"]

    def test_content_type_on_every_kind_of_response(self):
        for method, path, body, status in (("GET", "metadata", None, 200), ("GET", "Patient/" + self.pid, None, 200),
                                           ("GET", "Patient/%s/_history/1" % self.pid, None, 200),
                                           ("GET", "Patient/%s/_history" % self.pid, None, 200),
                                           ("GET", "_history", None, 200), ("POST", "Observation", observation(), 201),
                                           ("GET", "Patient/nope", None, 404)):
            with self.subTest(method=method, path=path):
                r = self.fetch(method, path, body)
                self.assertStatus(r, status)
                self.assertEqual(norm_ct(r.header("content-type")), FHIR_JSON_CT)

    def test_accept_variants_json(self):
        for accept in ("application/fhir+json", "application/json", "*/*", "application/*",
                       "application/fhir+json; fhirVersion=4.0", "application/fhir+xml;q=0.9, application/fhir+json",
                       "application/fhir+xml, application/json;q=0.5"):
            with self.subTest(accept=accept):
                r = self.fetch("GET", "Patient/" + self.pid, headers={"Accept": accept})
                self.assertStatus(r, 200)
                self.assertIn(norm_ct(r.header("content-type")).split(";")[0],
                              ("application/fhir+json", "application/json"))
                self.assertEqual(r.json["id"], self.pid)

    def test_accept_without_json_406(self):
        for accept in ("application/fhir+xml", "application/xml", "text/xml", "text/html", "image/png"):
            with self.subTest(accept=accept):
                self.assertOutcome(self.fetch("GET", "Patient/" + self.pid, headers={"Accept": accept}), 406)

    def test_format_parameter(self):
        for fmt in ("json", "application/json", "application/fhir%2Bjson"):
            with self.subTest(_format=fmt):
                r = self.fetch("GET", "Patient/%s?_format=%s" % (self.pid, fmt))
                self.assertStatus(r, 200)
                self.assertEqual(r.json["id"], self.pid)
        for fmt in ("xml", "text/xml", "application/fhir%2Bxml", "ttl", "html"):
            with self.subTest(_format=fmt):
                self.assertOutcome(self.fetch("GET", "Patient/%s?_format=%s" % (self.pid, fmt)), 406)

    def test_format_overrides_accept(self):
        r = self.fetch("GET", "Patient/%s?_format=json" % self.pid, headers={"Accept": "application/fhir+xml"})
        self.assertStatus(r, 200)
        r = self.fetch("GET", "Patient/%s?_format=xml" % self.pid, headers={"Accept": "application/fhir+json"})
        self.assertOutcome(r, 406)

    def test_406_create_writes_nothing(self):
        before = self.fetch("GET", "Practitioner/_history").json.get("entry") or []
        r = self.fetch("POST", "Practitioner", {"resourceType": "Practitioner", "active": True},
                       headers={"Accept": "application/fhir+xml"})
        self.assertOutcome(r, 406)
        after = self.fetch("GET", "Practitioner/_history").json.get("entry") or []
        self.assertEqual(len(after), len(before))

    def test_pretty(self):
        for path in ("Patient/" + self.pid, "metadata", "Patient/%s/_history" % self.pid, "Patient/nope"):
            with self.subTest(path=path):
                plain = self.fetch("GET", path)
                pretty = self.fetch("GET", path + "?_pretty=true")
                self.assertEqual(pretty.status, plain.status)
                self.assertIn(b"\n", pretty.body.strip())
                if plain.json.get("resourceType") == "Bundle":
                    # links name the request (with _pretty); entries must be identical
                    self.assertEqual(pretty.json.get("entry"), plain.json.get("entry"))
                elif plain.json.get("resourceType") != "OperationOutcome":
                    self.assertEqual(pretty.json, plain.json)
                else:
                    self.assertEqual(pretty.json["issue"][0]["code"], plain.json["issue"][0]["code"])

    def test_security_headers(self):
        for path in ("metadata", "Patient/" + self.pid, "Patient/nope"):
            with self.subTest(path=path):
                r = self.fetch("GET", path)
                self.assertIn("no-store", (r.header("cache-control") or "").lower())
                self.assertEqual((r.header("x-content-type-options") or "").lower(), "nosniff")


class TestRequestFormat(SpecCase):
    def test_json_media_types_accepted(self):
        for ct in ("application/fhir+json", "application/json", "application/fhir+json; charset=utf-8",
                   "application/json;charset=UTF-8", "application/fhir+json; fhirVersion=4.0"):
            with self.subTest(content_type=ct):
                r = self.fetch("POST", "Patient", patient(), headers={"Content-Type": ct})
                self.assertStatus(r, 201)

    def test_missing_content_type_read_as_json(self):
        # bytes bodies go out without a Content-Type header (fhirtest adds one only for dicts)
        r = self.fetch("POST", "Patient", json.dumps(patient()).encode())
        self.assertStatus(r, 201)

    def test_other_media_types_415(self):
        for ct in ("application/fhir+xml", "application/xml", "text/plain", "application/x-www-form-urlencoded",
                   "multipart/form-data; boundary=x", "application/fhir+json; charset=iso-8859-1"):
            with self.subTest(content_type=ct):
                r = self.fetch("POST", "Patient", json.dumps(patient()).encode(), headers={"Content-Type": ct})
                self.assertOutcome(r, 415)
                r = self.fetch("PUT", "Patient/ct415", json.dumps(patient(id="ct415")).encode(),
                               headers={"Content-Type": ct})
                self.assertOutcome(r, 415)
        self.assertEqual(self.fetch("GET", "Patient/ct415").status, 404)
