"""Conditional references in transactions (http.html#trules): a reference
"Type?criteria" names the one resource the criteria match."""
from fhirtest import FhirTestCase


def tx(*entries):
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def obs_entry(ref):
    return {"request": {"method": "POST", "url": "Observation"},
            "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                         "subject": {"reference": ref}}}


class TestConditionalReferences(FhirTestCase):
    def test_resolved_to_the_single_match(self):
        self.req("PUT", "Patient/cref1", {"resourceType": "Patient", "id": "cref1",
                                          "identifier": [{"system": "http://cref", "value": "1"}]})
        r = self.req("POST", "", tx(obs_entry("Patient?identifier=http://cref|1")))
        self.assertEqual(r.status, 200, r.body)
        oid = r.json["entry"][0]["response"]["location"].split("/Observation/")[1].split("/")[0]
        self.assertEqual(self.req("GET", "Observation/" + oid).json["subject"]["reference"], "Patient/cref1")

    def test_no_or_many_matches_fail_the_transaction(self):
        before = len(self.req("GET", "Observation/_history?_count=1000").json.get("entry", []))
        self.assertOutcome(self.req("POST", "", tx(obs_entry("Patient?identifier=http://cref|none"))), 412)
        for pid in ("cref2", "cref3"):
            self.req("PUT", "Patient/" + pid, {"resourceType": "Patient", "id": pid,
                                               "identifier": [{"system": "http://cref", "value": "dup"}]})
        r = self.req("POST", "", tx(obs_entry("Patient?identifier=http://cref|dup")))
        self.assertOutcome(r, 412)
        self.assertIn("Bundle.entry[0]", r.json["issue"][0]["expression"])
        # unsupported criteria are refused, not ignored
        self.assertOutcome(self.req("POST", "", tx(obs_entry("Patient?foo=x"))), 400)
        after = len(self.req("GET", "Observation/_history?_count=1000").json.get("entry", []))
        self.assertEqual(before, after)
