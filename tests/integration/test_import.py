"""`fhird import` (the import issue): NDJSON and Bundle files loaded straight
into the database, then read back through a real server on that database.

What is asserted: bad lines are named FILE:LINE and --on-error skip|stop
decide what happens to the rest (exit 1 either way); a transaction Bundle's
urn:uuid references are rewritten so that every reference resolves;
importing the same resources again makes version 2, not duplicates;
validation failures name the element, never the resource's contents; the
demo Bundles (data/demo/) import completely and their references resolve;
usage errors exit 2.
"""
import glob
import json
import os
import shutil
import tempfile
import unittest

import fhirtest
from fhirtest import Server, db_for_dir, run_cli

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DEMO = sorted(glob.glob(os.path.join(ROOT, "data", "demo", "*.json")))


def patient(pid, family="Example"):
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family, "given": ["Test"]}],
            "gender": "female", "birthDate": "1970-01-01"}


def references(node, out):
    """Every Reference.reference string anywhere in node."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "reference" and isinstance(v, str):
                out.append(v)
            else:
                references(v, out)
    elif isinstance(node, list):
        for v in node:
            references(v, out)
    return out


class ImportCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fhird-import-")
        self.db = db_for_dir(self.dir)  # a PostgreSQL URL in a PG run (fhirtest)
        self.server = None

    def tearDown(self):
        if self.server:
            rc = self.server.stop()
            self.server.cleanup()
            self.assertEqual(rc, 0, "server exited with %s" % rc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, lines):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line if isinstance(line, str) else json.dumps(line))
                f.write("\n")
        return path

    def write_json(self, name, doc):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
        return path

    def run_import(self, *args, timeout=120):
        return run_cli("import", "--db", self.db, *args, timeout=timeout)

    def serve(self):
        self.server = Server(workdir=self.dir)
        return self.server

    def get(self, path):
        return self.server.request("GET", path)

    def assertReadable(self, rtype, rid, version="1"):
        r = self.get("%s/%s" % (rtype, rid))
        self.assertEqual(r.status, 200, "%s/%s: %s" % (rtype, rid, r.body[:300]))
        self.assertEqual(r.json["id"], rid)
        self.assertEqual(r.json["meta"]["versionId"], version)
        return r.json


class TestNdjson(ImportCase):
    def bad_line_file(self):
        # line 3 is malformed JSON; the three others are good
        return self.write("data.ndjson", [patient("p1"), patient("p2"), '{"resourceType":"Patient","id":"p3",',
                                          patient("p4")])

    def test_skip_reports_file_and_line_and_imports_the_rest(self):
        path = self.bad_line_file()
        rc, out, err = self.run_import("--on-error", "skip", path)
        self.assertEqual(rc, 1, err)
        self.assertIn("%s:3:" % path, err)
        self.assertNotIn("%s:1:" % path, err)
        self.assertNotIn("%s:4:" % path, err)
        self.assertIn("imported 3 resources (1 skipped)", out)
        self.serve()
        for pid in ("p1", "p2", "p4"):
            self.assertReadable("Patient", pid)
        self.assertEqual(self.get("Patient/p3").status, 404)

    def test_stop_ends_at_the_bad_line(self):
        path = self.bad_line_file()
        rc, out, err = self.run_import("--on-error", "stop", path)
        self.assertEqual(rc, 1, err)
        self.assertIn("%s:3:" % path, err)
        self.assertIn("stopped", err)
        self.serve()
        self.assertReadable("Patient", "p1")
        self.assertReadable("Patient", "p2")
        self.assertEqual(self.get("Patient/p4").status, 404)

    def test_stop_is_the_default(self):
        rc, _, err = self.run_import(self.bad_line_file())
        self.assertEqual(rc, 1)
        self.assertIn("stopped", err)

    def test_reimport_makes_new_versions_not_duplicates(self):
        path = self.write("data.ndjson", [patient("r%d" % i) for i in range(5)] + [""])
        for _ in range(2):
            rc, out, err = self.run_import(path)
            self.assertEqual(rc, 0, err)
            self.assertIn("imported 5 resources (0 skipped)", out)
        self.serve()
        for i in range(5):
            self.assertReadable("Patient", "r%d" % i, version="2")
        r = self.get("Patient/_history?_count=100")
        self.assertEqual(r.status, 200)
        entries = r.json.get("entry") or []
        self.assertEqual(len(entries), 10)  # 5 resources x 2 versions, nothing else
        self.assertEqual({e["resource"]["id"] for e in entries}, {"r%d" % i for i in range(5)})

    def test_resource_without_id_gets_a_new_one(self):
        res = patient("x")
        del res["id"]
        path = self.write("noid.ndjson", [res])
        rc, out, err = self.run_import(path)
        self.assertEqual(rc, 0, err)
        self.serve()
        entries = self.get("Patient/_history").json.get("entry") or []
        self.assertEqual(len(entries), 1)
        self.assertRegex(entries[0]["resource"]["id"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

    def test_validation_failure_names_file_line_and_element_not_contents(self):
        bad = patient("v2", family="Secretfamilyname")
        bad["favouriteColour"] = "Secretcolour"
        bad_id = patient("v3")
        bad_id["id"] = "not a valid id"
        path = self.write("val.ndjson", [patient("v1"), bad, bad_id, {"resourceType": "NoSuchType"}, patient("v5")])
        rc, out, err = self.run_import("--on-error", "skip", path)
        self.assertEqual(rc, 1, err)
        self.assertIn("%s:2: Patient.favouriteColour" % path, err)
        self.assertIn("%s:3:" % path, err)
        self.assertIn("%s:4:" % path, err)
        for secret in ("Secretfamilyname", "Secretcolour", "not a valid id", "NoSuchType"):
            self.assertNotIn(secret, err)
            self.assertNotIn(secret, out)
        self.assertIn("imported 2 resources (3 skipped)", out)

    def test_meta_is_server_owned(self):
        res = patient("m1")
        res["meta"] = {"versionId": "77", "lastUpdated": "2001-01-01T00:00:00Z", "tag": [{"code": "t"}]}
        rc, _, err = self.run_import(self.write("meta.ndjson", [res]))
        self.assertEqual(rc, 0, err)
        self.serve()
        got = self.assertReadable("Patient", "m1")
        self.assertNotEqual(got["meta"]["lastUpdated"], "2001-01-01T00:00:00Z")
        self.assertEqual(got["meta"]["tag"], [{"code": "t"}])


class TestBundle(ImportCase):
    def transaction(self):
        pu, eu, ou = ("urn:uuid:%s" % u for u in (
            "0f1e2d3c-4b5a-4697-8877-665544332211", "1f1e2d3c-4b5a-4697-8877-665544332211",
            "2f1e2d3c-4b5a-4697-8877-665544332211"))
        return {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": ou, "resource": {
                "resourceType": "Observation", "status": "final", "code": {"text": "heart rate"},
                "subject": {"reference": pu}, "encounter": {"reference": eu},
                "performer": [{"reference": "urn:uuid:3f1e2d3c-4b5a-4697-8877-665544332211"}],
                "valueQuantity": {"value": 72, "unit": "/min"}},
             "request": {"method": "POST", "url": "Observation"}},
            {"fullUrl": eu, "resource": {
                "resourceType": "Encounter", "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": {"reference": pu}},
             "request": {"method": "POST", "url": "Encounter"}},
            {"fullUrl": pu, "resource": patient("will-be-replaced"),
             "request": {"method": "PUT", "url": "Patient/tx-patient"}},
            {"fullUrl": "urn:uuid:3f1e2d3c-4b5a-4697-8877-665544332211",
             "resource": {"resourceType": "Practitioner", "name": [{"family": "Doc"}]},
             "request": {"method": "POST", "url": "Practitioner"}},
        ]}

    def test_transaction_references_resolve(self):
        b = self.transaction()
        b["entry"][2]["resource"].pop("id")
        rc, out, err = self.run_import(self.write_json("tx.json", b))
        self.assertEqual(rc, 0, err)
        self.assertIn("imported 4 resources (0 skipped)", out)
        self.serve()
        obs = self.assertReadable("Observation", "2f1e2d3c-4b5a-4697-8877-665544332211")
        self.assertEqual(obs["subject"]["reference"], "Patient/tx-patient")
        self.assertEqual(obs["encounter"]["reference"], "Encounter/1f1e2d3c-4b5a-4697-8877-665544332211")
        enc = self.assertReadable("Encounter", "1f1e2d3c-4b5a-4697-8877-665544332211")
        refs = references(obs, []) + references(enc, [])
        self.assertEqual(len(refs), 4)
        for ref in refs:
            self.assertNotIn("urn:", ref)
            self.assertEqual(self.get(ref).status, 200, ref)

    def test_transaction_is_all_or_nothing(self):
        b = self.transaction()
        b["entry"][2]["resource"].pop("id")
        b["entry"][1]["resource"]["colour"] = "blue"  # unknown element
        rc, out, err = self.run_import("--on-error", "skip", self.write_json("tx.json", b))
        self.assertEqual(rc, 1)
        self.assertIn("Bundle.entry[1]: Encounter.colour", err)
        self.assertIn("imported 0 resources (4 skipped)", out)
        self.serve()
        self.assertEqual(self.get("Patient/tx-patient").status, 404)
        self.assertEqual(self.get("Observation/2f1e2d3c-4b5a-4697-8877-665544332211").status, 404)

    def test_put_id_must_match_url(self):
        b = self.transaction()  # the Patient says id "will-be-replaced", the URL tx-patient
        rc, _, err = self.run_import(self.write_json("tx.json", b))
        self.assertEqual(rc, 1)
        self.assertIn("Bundle.entry[2]", err)

    def test_duplicate_full_url_is_refused(self):
        b = self.transaction()
        b["entry"][2]["resource"].pop("id")
        b["entry"][3]["fullUrl"] = b["entry"][0]["fullUrl"]  # bdl-7
        rc, _, err = self.run_import(self.write_json("tx.json", b))
        self.assertEqual(rc, 1)
        self.assertIn("Bundle.entry[3]", err)

    def test_batch_entries_are_independent_and_delete_works(self):
        b = {"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": patient("b1"), "request": {"method": "PUT", "url": "Patient/b1"}},
            {"resource": patient("b2"), "request": {"method": "PUT", "url": "Patient/b2"}},
            {"request": {"method": "DELETE", "url": "Patient/b2"}},
            {"resource": dict(patient("b3"), bogus=1), "request": {"method": "PUT", "url": "Patient/b3"}},
            {"request": {"method": "GET", "url": "Patient/b1"}},
            {"resource": patient("b4"), "request": {"method": "POST", "url": "Patient", "ifNoneExist": "x=y"}},
        ]}
        rc, out, err = self.run_import("--on-error", "skip", self.write_json("batch.json", b))
        self.assertEqual(rc, 1)
        for i in (3, 4, 5):
            self.assertIn("Bundle.entry[%d]" % i, err)
        self.assertIn("imported 3 resources (3 skipped)", out)
        self.serve()
        self.assertReadable("Patient", "b1")
        self.assertEqual(self.get("Patient/b2").status, 410)
        self.assertEqual(self.get("Patient/b3").status, 404)

    def test_collection_and_single_resource_files(self):
        coll = {"resourceType": "Bundle", "type": "collection", "entry": [
            {"fullUrl": "http://example.org/fhir/Patient/c1", "resource": patient("c1")},
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                          "subject": {"reference": "http://example.org/fhir/Patient/c1"}}}]}
        rc, _, err = self.run_import(self.write_json("coll.json", coll), self.write_json("one.json", patient("s1")))
        self.assertEqual(rc, 0, err)
        self.serve()
        self.assertReadable("Patient", "c1")
        self.assertReadable("Patient", "s1")
        obs = [e["resource"] for e in self.get("Observation/_history").json["entry"]]
        self.assertEqual(len(obs), 1)
        self.assertEqual(obs[0]["subject"]["reference"], "Patient/c1")

    def test_malformed_document_is_reported_once(self):
        path = os.path.join(self.dir, "broken.json")
        with open(path, "w") as f:
            f.write('{\n  "resourceType": "Bundle",\n  "type": "transaction",\n  "entry": [\n')
        rc, _, err = self.run_import("--on-error", "skip", path)
        self.assertEqual(rc, 1)
        self.assertEqual(err.count(path), 1, err)


class TestDemo(ImportCase):
    @unittest.skipUnless(len(DEMO) == 2, "data/demo bundles missing")
    def test_demo_bundles_import_completely_and_references_resolve(self):
        rc, out, err = self.run_import(*DEMO)
        self.assertEqual(rc, 0, err)
        self.assertIn("imported 740 resources (0 skipped) from 2 files", out)
        self.serve()
        self.assertReadable("Patient", "85")
        self.assertReadable("Patient", "355")
        refs, seen_subject = set(), 0
        for path in DEMO:
            with open(path) as f:
                bundle = json.load(f)
            for e in bundle["entry"]:
                res, req = e["resource"], e["request"]
                rid = req["url"].split("/")[1] if req["method"] == "PUT" else e["fullUrl"][len("urn:uuid:"):]
                got = self.assertReadable(res["resourceType"], rid)
                for ref in references(got, []):
                    self.assertNotIn("urn:uuid:", ref)
                    refs.add(ref)
                if res["resourceType"] == "Observation" and "85" in path and not seen_subject:
                    self.assertEqual(got["subject"]["reference"], "Patient/85")
                    seen_subject = 1
        self.assertTrue(seen_subject)
        self.assertGreater(len(refs), 50)
        for ref in sorted(refs):
            if ref.startswith("#"):
                continue  # contained
            self.assertEqual(self.get(ref).status, 200, ref)


class TestUsage(ImportCase):
    def test_unknown_option_is_one_line_and_exit_2(self):
        rc, out, err = self.run_import("--frobnicate", "x.ndjson")
        self.assertEqual(rc, 2)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("--frobnicate", err)

    def test_bad_values_and_no_files(self):
        for args in (("--on-error", "maybe", "x.ndjson"), ("--batch", "0", "x.ndjson"), ("--batch", "12x", "x"), ()):
            rc, _, err = self.run_import(*args)
            self.assertEqual(rc, 2, args)
            self.assertTrue(err.strip(), args)

    def test_help(self):
        rc, out, _ = run_cli("import", "--help")
        self.assertEqual(rc, 0)
        self.assertIn("--on-error", out)
        rc, out, _ = run_cli("--help")
        self.assertIn("import", out)

    def test_missing_file(self):
        path = os.path.join(self.dir, "nope.ndjson")
        rc, _, err = self.run_import(path)
        self.assertEqual(rc, 1)
        self.assertIn(path, err)

    def test_db_from_environment(self):
        path = self.write("env.ndjson", [patient("e1")])
        rc, _, err = run_cli("import", path, env={"FHIRD_DB": self.db})
        self.assertEqual(rc, 0, err)
        if fhirtest.PG:
            # the database named by the URL got the resource
            n = fhirtest.pg_sql(self.db, "SELECT count(*) FROM current WHERE type = 'Patient' AND id = 'e1'")
            self.assertEqual(n.stdout.strip(), "1")
        else:
            self.assertTrue(os.path.exists(self.db))


if __name__ == "__main__":
    unittest.main()
