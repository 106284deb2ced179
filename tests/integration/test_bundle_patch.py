"""PATCH entries in Bundles: the JSON Patch travels base64-encoded in a
Binary (http.html#transaction), in batch and transaction alike."""
import base64
import json

from fhirtest import FhirTestCase


def patch_entry(url, ops, if_match=None):
    req = {"method": "PATCH", "url": url}
    if if_match:
        req["ifMatch"] = if_match
    return {"request": req,
            "resource": {"resourceType": "Binary", "contentType": "application/json-patch+json",
                         "data": base64.b64encode(json.dumps(ops).encode()).decode()}}


def bundle(btype, *entries):
    return {"resourceType": "Bundle", "type": btype, "entry": list(entries)}


class TestBundlePatch(FhirTestCase):
    def put(self, pid, **kw):
        body = {"resourceType": "Patient", "id": pid, "active": True}
        body.update(kw)
        r = self.req("PUT", "Patient/" + pid, body)
        self.assertIn(r.status, (200, 201))

    def test_transaction_patch(self):
        self.put("bp1")
        r = self.req("POST", "", bundle("transaction",
                                         patch_entry("Patient/bp1", [{"op": "replace", "path": "/active", "value": False}]),
                                         {"request": {"method": "POST", "url": "Observation"},
                                          "resource": {"resourceType": "Observation", "status": "final",
                                                       "code": {"text": "x"}, "subject": {"reference": "Patient/bp1"}}}))
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.json["entry"][0]["response"]["status"].startswith("200"))
        cur = self.req("GET", "Patient/bp1").json
        self.assertIs(cur["active"], False)
        self.assertEqual(cur["meta"]["versionId"], "2")

    def test_transaction_failed_patch_writes_nothing(self):
        self.put("bp2")
        before = len(self.req("GET", "_history?_count=1000").json.get("entry", []))
        r = self.req("POST", "", bundle("transaction",
                                         {"request": {"method": "POST", "url": "Patient"},
                                          "resource": {"resourceType": "Patient"}},
                                         patch_entry("Patient/bp2", [{"op": "test", "path": "/active", "value": False}])))
        self.assertOutcome(r, 422)
        self.assertIn("Bundle.entry[1]", r.json["issue"][0]["expression"])
        r = self.req("POST", "", bundle("transaction",
                                         patch_entry("Patient/bp2", [{"op": "replace", "path": "/active", "value": False}],
                                                     if_match='W/"9"')))
        self.assertOutcome(r, 412)
        after = len(self.req("GET", "_history?_count=1000").json.get("entry", []))
        self.assertEqual(before, after)
        self.assertEqual(self.req("GET", "Patient/bp2").json["meta"]["versionId"], "1")

    def test_batch_patch(self):
        self.put("bp3")
        r = self.req("POST", "", bundle("batch",
                                         patch_entry("Patient/bp3", [{"op": "add", "path": "/gender", "value": "other"}]),
                                         patch_entry("Patient/absent-bp", [{"op": "remove", "path": "/active"}])))
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.json["entry"][0]["response"]["status"].startswith("200"))
        self.assertTrue(r.json["entry"][1]["response"]["status"].startswith("404"))
        self.assertEqual(self.req("GET", "Patient/bp3").json["gender"], "other")

    def test_transaction_patch_if_match_is_exact(self):
        # version 2 is current; W/"12" names another version and must fail
        self.put("bp4")
        self.put("bp4", gender="male")
        ops = [{"op": "replace", "path": "/active", "value": False}]
        self.assertOutcome(self.req("POST", "", bundle("transaction", patch_entry("Patient/bp4", ops, 'W/"12"'))), 412)
        self.assertOutcome(self.req("POST", "", bundle("transaction", patch_entry("Patient/bp4", ops, "junk"))), 412)
        r = self.req("POST", "", bundle("transaction", patch_entry("Patient/bp4", ops, 'W/"2"')))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.req("GET", "Patient/bp4").json["meta"]["versionId"], "3")
