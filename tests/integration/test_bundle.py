"""batch and transaction Bundles: POST [base] (hl7.org/fhir/R4/http.html#transaction,
http.html#trules, bundle.html): response shape, per-entry status/location/etag,
atomicity (nothing written on any failure, the failing entry named as
Bundle.entry[i]), processing order DELETE, POST, PUT/PATCH, GET/HEAD with the
response in request order, urn:uuid:/urn:oid: fullUrl -> Type/id reference
rewriting, conditional entries (ifMatch, ifNoneExist), limits, authorization,
the demo transaction Bundles, and concurrent transactions."""
import itertools
import json
import os
import re
import threading

from itutil import (SpecCase, etag_vid, history_all, observation, patient, request, run_threads)

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO_DIR = os.path.join(HERE, "..", "..", "data", "demo")

STATUS_RE = re.compile(r"^([1-5][0-9][0-9])(?: .*)?$")
REF_RE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")
INSTANT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

_seq = itertools.count(1)
_seq_lock = threading.Lock()


def urn():
    """A fresh urn:uuid: (deterministic: a counter inside a version-4 shaped uuid)."""
    with _seq_lock:
        n = next(_seq)
    return "urn:uuid:%08x-0000-4000-8000-%012x" % (os.getpid() & 0xffffffff, n)


def bundle(btype, *entries):
    return {"resourceType": "Bundle", "type": btype, "entry": list(entries)}


def entry(method, url, resource=None, full_url=None, **extra):
    """A Bundle entry; extra goes into entry.request (ifMatch, ifNoneExist, ...)."""
    e = {"request": {"method": method, "url": url}}
    e["request"].update(extra)
    if full_url is not None:
        e["fullUrl"] = full_url
    if resource is not None:
        e["resource"] = resource
    return e


def refs_in(value, out=None):
    """Every string value of a "reference" property anywhere in value."""
    if out is None:
        out = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "reference" and isinstance(v, str):
                out.append(v)
            else:
                refs_in(v, out)
    elif isinstance(value, list):
        for v in value:
            refs_in(v, out)
    return out


class BundleCase(SpecCase):
    def post_bundle(self, b, headers=None):
        return self.fetch("POST", "", b, headers)

    def assertResponseBundle(self, r, btype, n):
        """200, a Bundle of type btype-response with n entries; returns the entries."""
        self.assertStatus(r, 200)
        self.assertFhirJson(r)
        self.assertEqual(r.json.get("resourceType"), "Bundle", self.describe(r))
        self.assertEqual(r.json.get("type"), btype + "-response", self.describe(r))
        entries = r.json.get("entry") or []
        self.assertEqual(len(entries), n, self.describe(r))
        for e in entries:
            self.assertIn("response", e, self.describe(r))
        return entries

    def code(self, e):
        """The 3-digit status code of a response entry (status must start with it)."""
        st = e["response"].get("status")
        self.assertIsInstance(st, str, e)
        m = STATUS_RE.match(st)
        self.assertIsNotNone(m, "entry status %r does not start with a 3-digit code" % st)
        return int(m.group(1))

    def assertEntryStatus(self, e, codes):
        c = self.code(e)
        if isinstance(codes, int):
            codes = (codes,)
        self.assertIn(c, codes, json.dumps(e)[:1500])
        return c

    def assertWrite(self, e, rtype, codes, vid, rid=None):
        """A write entry: status, location Type/id/_history/vid, etag, lastModified. Returns the id."""
        self.assertEntryStatus(e, codes)
        resp = e["response"]
        loc = resp.get("location")
        self.assertIsInstance(loc, str, e)
        m = re.search(r"(?:^|/)%s/([A-Za-z0-9\-.]{1,64})/_history/([0-9]+)$" % rtype, loc)
        self.assertIsNotNone(m, "location %r is not %s/id/_history/n" % (loc, rtype))
        self.assertEqual(m.group(2), str(vid), loc)
        if rid is not None:
            self.assertEqual(m.group(1), rid, loc)
        self.assertEqual(resp.get("etag"), 'W/"%s"' % vid, e)
        self.assertRegex(resp.get("lastModified") or "", INSTANT_RE)
        res = e.get("resource")
        if res is not None:
            self.assertEqual(res.get("resourceType"), rtype)
            self.assertEqual(res.get("id"), m.group(1))
            self.assertEqual(res["meta"]["versionId"], str(vid))
        return m.group(1)

    def assertEntryOutcome(self, e):
        out = e["response"].get("outcome")
        self.assertIsInstance(out, dict, "failed entry without response.outcome: %s" % json.dumps(e)[:800])
        self.assertEqual(out.get("resourceType"), "OperationOutcome")
        self.assertIn(out["issue"][0].get("severity"), ("error", "fatal"))

    def assertNamesEntry(self, r, indexes):
        """Some issue's diagnostics or expression names Bundle.entry[i], i in indexes."""
        if isinstance(indexes, int):
            indexes = (indexes,)
        texts = []
        for issue in r.json.get("issue") or []:
            texts.append(issue.get("diagnostics") or "")
            texts.extend(issue.get("expression") or [])
            texts.extend(issue.get("location") or [])
        blob = "\n".join(texts)
        self.assertTrue(any("Bundle.entry[%d]" % i in blob for i in indexes),
                        "OperationOutcome does not name Bundle.entry%s: %s" % (list(indexes), r.body[:1000]))

    def system_count(self):
        entries, _ = history_all(self.server, "_history?_count=1000")
        return len(entries)

    def get(self, path):
        return self.fetch("GET", path)


class TestBundleRequests(BundleCase):
    """What POST [base] accepts at all."""

    def test_not_batch_or_transaction_400(self):
        before = self.system_count()
        bodies = [patient(), {"resourceType": "Bundle"}]
        for t in ("collection", "document", "message", "searchset", "history", "batch-response",
                  "transaction-response", "Batch", "TRANSACTION", "", 5, None):
            b = bundle(t, entry("POST", "Patient", patient()))
            bodies.append(b)
        for body in bodies:
            with self.subTest(body=json.dumps(body)[:80]):
                self.assertOutcome(self.post_bundle(body), 400)
        self.assertEqual(self.system_count(), before, "a refused Bundle wrote something")

    def test_not_json_or_not_an_object_400(self):
        for raw in (b"", b"{", b"[]", b'[{"resourceType":"Bundle","type":"batch"}]', b'"Bundle"',
                    b'{"resourceType":"Bundle","type":"batch"'):
            with self.subTest(body=raw):
                self.assertOutcome(self.fetch("POST", "", raw, {"Content-Type": "application/fhir+json"}), 400)

    def test_malformed_entries(self):
        for b in ({"resourceType": "Bundle", "type": "batch", "entry": {"request": {}}},
                  {"resourceType": "Bundle", "type": "transaction", "entry": "x"}):
            with self.subTest(bundle=b):
                self.assertOutcome(self.post_bundle(b), (400, 422))

    def test_empty_bundles(self):
        for t in ("batch", "transaction"):
            with self.subTest(type=t):
                for b in ({"resourceType": "Bundle", "type": t}, {"resourceType": "Bundle", "type": t, "entry": []}):
                    self.assertResponseBundle(self.post_bundle(b), t, 0)

    def test_capability_statement(self):
        r = self.get("metadata")
        self.assertStatus(r, 200)
        codes = {i.get("code") for i in r.json["rest"][0].get("interaction") or []}
        self.assertIn("batch", codes)
        self.assertIn("transaction", codes)
        self.assertIn("history-system", codes)


class TestBatch(BundleCase):
    def test_response_shape_and_order(self):
        existing = self.make(patient(family="BatchRead")).json
        victim = self.make(patient(family="BatchVictim")).json
        urn_p = urn()
        b = bundle("batch",
                   entry("POST", "Patient", patient(family="BatchNew"), urn_p),
                   entry("PUT", "Patient/batch-put-1", patient(family="BatchPut", id="batch-put-1")),
                   entry("GET", "Patient/" + existing["id"]),
                   entry("GET", "Patient/batch-missing-1"),
                   entry("DELETE", "Patient/" + victim["id"]),
                   entry("POST", "Observation", observation()))
        entries = self.assertResponseBundle(self.post_bundle(b), "batch", 6)
        new_id = self.assertWrite(entries[0], "Patient", 201, 1)
        self.assertNotEqual(new_id, urn_p.rsplit(":", 1)[1])
        self.assertWrite(entries[1], "Patient", 201, 1, "batch-put-1")
        self.assertEntryStatus(entries[2], 200)
        self.assertEqual(entries[2]["resource"], existing)
        self.assertEntryStatus(entries[3], 404)
        self.assertEntryOutcome(entries[3])
        self.assertNotIn("resource", entries[3])
        self.assertEntryStatus(entries[4], (200, 204))
        obs_id = self.assertWrite(entries[5], "Observation", 201, 1)
        # entry.resource is what is stored
        for e, path in ((entries[0], "Patient/" + new_id), (entries[1], "Patient/batch-put-1"),
                        (entries[5], "Observation/" + obs_id)):
            g = self.get(path)
            self.assertStatus(g, 200)
            self.assertEqual(e["resource"], g.json)
        self.assertEqual(entries[0]["resource"]["name"][0]["family"], "BatchNew")
        self.assertStatus(self.get("Patient/" + victim["id"]), 410)
        # the batch answer itself
        r2 = self.post_bundle(bundle("batch", entry("PUT", "Patient/batch-put-1",
                                                    patient(family="BatchPut2", id="batch-put-1"))))
        e = self.assertResponseBundle(r2, "batch", 1)[0]
        self.assertWrite(e, "Patient", 200, 2, "batch-put-1")
        self.assertEqual(e["resource"]["name"][0]["family"], "BatchPut2")

    def test_failing_entries_are_independent(self):
        before = self.system_count()
        b = bundle("batch",
                   entry("POST", "Patient", patient(family="IndepOk1")),
                   entry("POST", "Patient", patient(foo=1)),                                 # invalid
                   entry("PUT", "Patient/indep-a", patient(id="indep-b")),                   # id mismatch
                   entry("PUT", "Patient/indep-c", observation(id="indep-c")),               # type mismatch
                   entry("GET", "Foo/1"),                                                    # unknown type
                   entry("PUT", "Patient/bad$id", patient(id="bad$id")),                     # bad id
                   entry("POST", "Patient"),                                                 # no resource
                   entry("PUT", "Patient/indep-ok2", patient(family="IndepOk2", id="indep-ok2")))
        entries = self.assertResponseBundle(self.post_bundle(b), "batch", 8)
        ok1 = self.assertWrite(entries[0], "Patient", 201, 1)
        for i, codes in ((1, (400, 422)), (2, 400), (3, 400), (4, (400, 404)), (5, 400), (6, (400, 422))):
            with self.subTest(entry=i):
                self.assertEntryStatus(entries[i], codes)
                self.assertEntryOutcome(entries[i])
                self.assertNotIn("location", entries[i]["response"])
        self.assertWrite(entries[7], "Patient", 201, 1, "indep-ok2")
        self.assertEqual(self.system_count(), before + 2)
        self.assertStatus(self.get("Patient/" + ok1), 200)
        self.assertStatus(self.get("Patient/indep-ok2"), 200)
        for pid in ("indep-a", "indep-b", "indep-c"):
            self.assertStatus(self.get("Patient/" + pid), 404)

    def test_if_match(self):
        self.assertStatus(self.fetch("PUT", "Patient/bim1", patient(id="bim1")), 201)
        self.assertStatus(self.fetch("PUT", "Patient/bim1", patient(id="bim1", gender="female")), 200)
        self.assertStatus(self.fetch("PUT", "Patient/bim2", patient(id="bim2")), 201)
        self.assertStatus(self.fetch("PUT", "Patient/bim3", patient(id="bim3")), 201)
        self.assertStatus(self.fetch("PUT", "Patient/bim4", patient(id="bim4")), 201)
        b = bundle("batch",
                   entry("PUT", "Patient/bim1", patient(id="bim1", family="Stale"), ifMatch='W/"1"'),
                   entry("PUT", "Patient/bim2", patient(id="bim2", family="Fresh"), ifMatch='W/"1"'),
                   entry("DELETE", "Patient/bim3", ifMatch='W/"5"'),
                   entry("DELETE", "Patient/bim4", ifMatch='W/"1"'))
        entries = self.assertResponseBundle(self.post_bundle(b), "batch", 4)
        self.assertEntryStatus(entries[0], 412)
        self.assertEntryOutcome(entries[0])
        self.assertWrite(entries[1], "Patient", 200, 2, "bim2")
        self.assertEntryStatus(entries[2], 412)
        self.assertEntryOutcome(entries[2])
        self.assertEntryStatus(entries[3], (200, 204))
        g = self.get("Patient/bim1")
        self.assertEqual(g.json["meta"]["versionId"], "2")
        self.assertEqual(g.json["gender"], "female")
        self.assertEqual(self.get("Patient/bim2").json["name"][0]["family"], "Fresh")
        self.assertStatus(self.get("Patient/bim3"), 200)
        self.assertStatus(self.get("Patient/bim4"), 410)

    def test_read_vread_history_entries(self):
        self.assertStatus(self.fetch("PUT", "Patient/brh1", patient(id="brh1", family="One")), 201)
        v2 = self.fetch("PUT", "Patient/brh1", patient(id="brh1", family="Two"))
        self.assertStatus(v2, 200)
        b = bundle("batch", entry("GET", "Patient/brh1"), entry("GET", "Patient/brh1/_history/1"),
                   entry("GET", "Patient/brh1/_history"), entry("GET", "Patient/brh1/_history/9"))
        entries = self.assertResponseBundle(self.post_bundle(b), "batch", 4)
        self.assertEntryStatus(entries[0], 200)
        self.assertEqual(entries[0]["resource"], v2.json)
        self.assertEntryStatus(entries[1], 200)
        self.assertEqual(entries[1]["resource"]["meta"]["versionId"], "1")
        self.assertEqual(entries[1]["resource"]["name"][0]["family"], "One")
        self.assertEntryStatus(entries[2], 200)
        h = entries[2]["resource"]
        self.assertEqual(h["resourceType"], "Bundle")
        self.assertEqual(h["type"], "history")
        self.assertEqual([e["resource"]["meta"]["versionId"] for e in h["entry"]], ["2", "1"])
        self.assertEntryStatus(entries[3], 404)

    def test_prefer_minimal(self):
        b = bundle("batch", entry("POST", "Patient", patient(family="Minimal")),
                   entry("PUT", "Patient/bmin1", patient(id="bmin1")))
        entries = self.assertResponseBundle(self.post_bundle(b, {"Prefer": "return=minimal"}), "batch", 2)
        pid = self.assertWrite(entries[0], "Patient", 201, 1)
        self.assertWrite(entries[1], "Patient", 201, 1, "bmin1")
        for e in entries:
            self.assertNotIn("resource", e)
        self.assertStatus(self.get("Patient/" + pid), 200)

    def test_if_none_exist(self):
        ident = {"system": "http://example.org/batch-ine", "value": "b1"}
        existing = self.make(patient(family="IneExisting", identifier=[ident])).json
        b = bundle("batch",
                   entry("POST", "Patient", patient(family="IneDup", identifier=[ident]),
                         ifNoneExist="identifier=http://example.org/batch-ine|b1"),
                   entry("POST", "Patient", patient(family="IneNew"),
                         ifNoneExist="identifier=http://example.org/batch-ine|nomatch"))
        before = self.system_count()
        entries = self.assertResponseBundle(self.post_bundle(b), "batch", 2)
        self.assertWrite(entries[0], "Patient", 200, 1, existing["id"])
        self.assertWrite(entries[1], "Patient", 201, 1)
        self.assertEqual(self.system_count(), before + 1)


# Failing entries for the atomicity checks: (name, entries to append, accepted statuses,
# indexes of the entry that must be named, relative to the appended ones).
def failing_cases():
    return [
        ("invalid POST", [entry("POST", "Patient", patient(foo=1))], (400, 422), (0,)),
        ("invalid PUT", [entry("PUT", "Patient/txf-inv", patient(id="txf-inv", birthDate="1990-13-45"))],
         (400, 422), (0,)),
        ("stale ifMatch PUT", [entry("PUT", "Patient/txf-v2", patient(id="txf-v2", family="X"), ifMatch='W/"1"')],
         (412,), (0,)),
        ("stale ifMatch DELETE", [entry("DELETE", "Patient/txf-v2", ifMatch='W/"7"')], (412,), (0,)),
        ("unknown type", [entry("POST", "Foo", patient())], (400, 404), (0,)),
        ("bad id in url", [entry("PUT", "Patient/bad$id", patient(id="bad$id"))], (400,), (0,)),
        ("id mismatch", [entry("PUT", "Patient/txf-a", patient(id="txf-b"))], (400,), (0,)),
        ("type mismatch", [entry("PUT", "Patient/txf-c", observation(id="txf-c"))], (400,), (0,)),
        ("no request", [{"resource": patient()}], (400,), (0,)),
        ("bad method", [entry("FROB", "Patient", patient())], (400,), (0,)),
        ("POST without resource", [entry("POST", "Patient")], (400, 422), (0,)),
        ("same id twice", [entry("PUT", "Patient/txf-dup", patient(id="txf-dup")),
                           entry("PUT", "Patient/txf-dup", patient(id="txf-dup", family="Again"))], (400,), (0, 1)),
        ("PUT and DELETE of one id", [entry("PUT", "Patient/txf-v2", patient(id="txf-v2")),
                                      entry("DELETE", "Patient/txf-v2")], (400,), (0, 1)),
        ("ifNoneExist with 2 matches", [entry("POST", "Patient", patient(),
                                              ifNoneExist="identifier=http://example.org/txf|twice")], (412,), (0,)),
    ]


class TestTransaction(BundleCase):
    def test_creates_and_rewrites_references(self):
        up, uo, upr = urn(), urn(), urn()
        oid = "urn:oid:1.2.3.4.5.%d" % os.getpid()
        obs = observation(
            subject={"reference": up, "display": "the patient"},
            performer=[{"reference": oid}, {"reference": upr}],
            identifier=[{"system": "urn:ietf:rfc:3986", "value": up}],
            specimen={"reference": "#spec1"},
            contained=[{"resourceType": "Specimen", "id": "spec1", "subject": {"reference": up}}],
            extension=[
                {"url": "http://example.org/fhir/StructureDefinition/about", "valueReference": {"reference": up}},
                {"url": "http://example.org/fhir/StructureDefinition/nested",
                 "extension": [{"url": "inner", "valueReference": {"reference": oid}}]},
                {"url": "http://example.org/fhir/StructureDefinition/text", "valueString": up},
            ])
        pat = patient(family="TxRefs", managingOrganization={"reference": oid},
                      generalPractitioner=[{"reference": upr}])
        put_pat = patient(family="TxPut", id="tx-put-1", generalPractitioner=[{"reference": upr}])
        b = bundle("transaction",
                   entry("POST", "Observation", obs, uo),          # refers forward to the others
                   entry("POST", "Patient", pat, up),
                   entry("PUT", "Patient/tx-put-1", put_pat, urn()),
                   entry("POST", "Organization", {"resourceType": "Organization", "name": "TxOrg"}, oid),
                   entry("POST", "Practitioner", {"resourceType": "Practitioner",
                                                  "name": [{"family": "TxDoc"}]}, upr))
        before = self.system_count()
        entries = self.assertResponseBundle(self.post_bundle(b), "transaction", 5)
        obs_id = self.assertWrite(entries[0], "Observation", 201, 1)
        pid = self.assertWrite(entries[1], "Patient", 201, 1)
        self.assertWrite(entries[2], "Patient", 201, 1, "tx-put-1")
        org_id = self.assertWrite(entries[3], "Organization", 201, 1)
        pr_id = self.assertWrite(entries[4], "Practitioner", 201, 1)
        self.assertEqual(self.system_count(), before + 5)
        for u, i in ((uo, obs_id), (up, pid), (upr, pr_id)):
            self.assertNotEqual(i, u.rsplit(":", 1)[1], "a urn:uuid became the id")
        stored = {}
        for path in ("Observation/" + obs_id, "Patient/" + pid, "Patient/tx-put-1", "Organization/" + org_id,
                     "Practitioner/" + pr_id):
            g = self.get(path)
            self.assertStatus(g, 200)
            stored[path] = g.json
        for e, path in zip(entries, stored):
            self.assertEqual(e["resource"], stored[path])
        o = stored["Observation/" + obs_id]
        self.assertEqual(o["subject"], {"reference": "Patient/" + pid, "display": "the patient"})
        self.assertEqual(o["performer"], [{"reference": "Organization/" + org_id},
                                          {"reference": "Practitioner/" + pr_id}])
        self.assertEqual(o["contained"][0]["subject"]["reference"], "Patient/" + pid)
        self.assertEqual(o["specimen"]["reference"], "#spec1")
        self.assertEqual(o["extension"][0]["valueReference"]["reference"], "Patient/" + pid)
        self.assertEqual(o["extension"][1]["extension"][0]["valueReference"]["reference"], "Organization/" + org_id)
        # only references are rewritten
        self.assertEqual(o["extension"][2]["valueString"], up)
        self.assertEqual(o["identifier"][0]["value"], up)
        p = stored["Patient/" + pid]
        self.assertEqual(p["managingOrganization"]["reference"], "Organization/" + org_id)
        self.assertEqual(p["generalPractitioner"][0]["reference"], "Practitioner/" + pr_id)
        self.assertEqual(stored["Patient/tx-put-1"]["generalPractitioner"][0]["reference"], "Practitioner/" + pr_id)
        for res in stored.values():
            for ref in refs_in(res):
                self.assertFalse(ref.startswith("urn:"), "unresolved %s in %s" % (ref, res["resourceType"]))

    def test_put_keeps_id_and_updates(self):
        b = bundle("transaction", entry("PUT", "Patient/85", patient(id="85", family="Keep"), urn()))
        e = self.assertResponseBundle(self.post_bundle(b), "transaction", 1)[0]
        self.assertWrite(e, "Patient", 201, 1, "85")
        b = bundle("transaction", entry("PUT", "Patient/85", patient(id="85", family="Keep2"), urn()))
        e = self.assertResponseBundle(self.post_bundle(b), "transaction", 1)[0]
        self.assertWrite(e, "Patient", 200, 2, "85")
        self.assertEqual(e["resource"]["name"][0]["family"], "Keep2")
        g = self.get("Patient/85")
        self.assertEqual(g.json["meta"]["versionId"], "2")
        self.assertEqual(g.json["name"][0]["family"], "Keep2")
        # a reference to the urn of a PUT entry becomes that entry's Type/id
        u = urn()
        b = bundle("transaction", entry("POST", "Observation", observation(subject={"reference": u})),
                   entry("PUT", "Patient/85", patient(id="85", family="Keep3"), u))
        entries = self.assertResponseBundle(self.post_bundle(b), "transaction", 2)
        oid = self.assertWrite(entries[0], "Observation", 201, 1)
        self.assertWrite(entries[1], "Patient", 200, 3, "85")
        self.assertEqual(self.get("Observation/" + oid).json["subject"]["reference"], "Patient/85")

    def test_processing_order(self):
        sysv = "http://example.org/tx-order"
        self.assertStatus(self.fetch("PUT", "Patient/ord-del", patient(
            id="ord-del", identifier=[{"system": sysv, "value": "1"}])), 201)
        b = bundle("transaction",
                   entry("GET", "Patient/ord-put"),                   # GETs last: sees the PUT below
                   entry("DELETE", "Patient/ord-del"),                # DELETEs first
                   entry("POST", "Patient", patient(family="OrdNew", identifier=[{"system": sysv, "value": "1"}]),
                         urn(), ifNoneExist="identifier=%s|1" % sysv),  # after the DELETE: no match
                   entry("PUT", "Patient/ord-put", patient(id="ord-put", family="OrdPut")))
        entries = self.assertResponseBundle(self.post_bundle(b), "transaction", 4)
        self.assertEntryStatus(entries[0], 200)
        self.assertEqual(entries[0]["resource"]["id"], "ord-put")
        self.assertEqual(entries[0]["resource"]["name"][0]["family"], "OrdPut")
        self.assertEntryStatus(entries[1], (200, 204))
        new_id = self.assertWrite(entries[2], "Patient", 201, 1)
        self.assertNotEqual(new_id, "ord-del")
        self.assertWrite(entries[3], "Patient", 201, 1, "ord-put")
        self.assertStatus(self.get("Patient/ord-del"), 410)
        self.assertStatus(self.get("Patient/" + new_id), 200)

    def test_if_none_exist_resolves_to_existing(self):
        ident = {"system": "http://example.org/tx-ine", "value": "v1"}
        existing = self.make(patient(family="TxIne", identifier=[ident])).json
        u = urn()
        b = bundle("transaction",
                   entry("POST", "Patient", patient(family="TxIneDup", identifier=[ident]), u,
                         ifNoneExist="identifier=http://example.org/tx-ine|v1"),
                   entry("POST", "Observation", observation(subject={"reference": u})))
        before = self.system_count()
        entries = self.assertResponseBundle(self.post_bundle(b), "transaction", 2)
        self.assertWrite(entries[0], "Patient", 200, 1, existing["id"])
        oid = self.assertWrite(entries[1], "Observation", 201, 1)
        self.assertEqual(self.system_count(), before + 1, "the matched create wrote a version")
        self.assertEqual(self.get("Observation/" + oid).json["subject"]["reference"], "Patient/" + existing["id"])
        self.assertEqual(self.get("Patient/" + existing["id"]).json, existing)

    def test_if_match(self):
        self.assertStatus(self.fetch("PUT", "Patient/tim1", patient(id="tim1")), 201)
        b = bundle("transaction", entry("PUT", "Patient/tim1", patient(id="tim1", family="M2"), ifMatch='W/"1"'))
        e = self.assertResponseBundle(self.post_bundle(b), "transaction", 1)[0]
        self.assertWrite(e, "Patient", 200, 2, "tim1")
        b = bundle("transaction", entry("DELETE", "Patient/tim1", ifMatch='W/"2"'))
        e = self.assertResponseBundle(self.post_bundle(b), "transaction", 1)[0]
        self.assertEntryStatus(e, (200, 204))
        self.assertStatus(self.get("Patient/tim1"), 410)

    def test_get_entries(self):
        self.assertStatus(self.fetch("PUT", "Patient/tget1", patient(id="tget1", family="G1")), 201)
        self.assertStatus(self.fetch("PUT", "Patient/tget1", patient(id="tget1", family="G2")), 200)
        b = bundle("transaction", entry("GET", "Patient/tget1"), entry("GET", "Patient/tget1/_history/1"),
                   entry("GET", "Patient/tget1/_history"))
        entries = self.assertResponseBundle(self.post_bundle(b), "transaction", 3)
        for e in entries:
            self.assertEntryStatus(e, 200)
        self.assertEqual(entries[0]["resource"]["name"][0]["family"], "G2")
        self.assertEqual(entries[1]["resource"]["name"][0]["family"], "G1")
        self.assertEqual(entries[2]["resource"]["type"], "history")
        self.assertEqual(len(entries[2]["resource"]["entry"]), 2)

    def test_prefer_minimal(self):
        b = bundle("transaction", entry("POST", "Patient", patient(family="TxMin"), urn()))
        e = self.assertResponseBundle(self.post_bundle(b, {"Prefer": "return=minimal"}), "transaction", 1)[0]
        pid = self.assertWrite(e, "Patient", 201, 1)
        self.assertNotIn("resource", e)
        self.assertStatus(self.get("Patient/" + pid), 200)

    def test_atomic_failures(self):
        # fixtures the failing entries refer to
        self.assertStatus(self.fetch("PUT", "Patient/txf-v2", patient(id="txf-v2")), 201)
        self.assertStatus(self.fetch("PUT", "Patient/txf-v2", patient(id="txf-v2", family="V2")), 200)
        victim = self.fetch("PUT", "Patient/txf-victim", patient(id="txf-victim"))
        self.assertStatus(victim, 201)
        for fam in ("Twice1", "Twice2"):
            self.make(patient(family=fam, identifier=[{"system": "http://example.org/txf", "value": "twice"}]))
        for n, (name, bad, codes, named) in enumerate(failing_cases()):
            for where in ("first", "last"):
                with self.subTest(case=name, where=where):
                    u = urn()
                    good = [entry("POST", "Patient", patient(family="TxfNew%d" % n), u),
                            entry("PUT", "Patient/txf-put-%d" % n, patient(id="txf-put-%d" % n)),
                            entry("DELETE", "Patient/txf-victim"),
                            entry("POST", "Observation", observation(subject={"reference": u}), urn())]
                    entries = bad + good if where == "first" else good + bad
                    offset = 0 if where == "first" else len(good)
                    before = self.system_count()
                    r = self.post_bundle(bundle("transaction", *entries))
                    self.assertOutcome(r, codes)
                    self.assertNamesEntry(r, [offset + i for i in named])
                    self.assertEqual(self.system_count(), before, "a failed transaction wrote something")
                    self.assertStatus(self.get("Patient/txf-put-%d" % n), 404)
                    g = self.get("Patient/txf-victim")
                    self.assertStatus(g, 200)
                    self.assertEqual(g.json, victim.json)
                    g = self.get("Patient/txf-v2")
                    self.assertEqual(g.json["meta"]["versionId"], "2")
                    self.assertEqual(g.json["name"][0]["family"], "V2")
                    for pid in ("txf-inv", "txf-a", "txf-b", "txf-c", "txf-dup"):
                        self.assertStatus(self.get("Patient/" + pid), 404)

    def test_duplicate_full_url_refused(self):
        """bdl-7 (bundle.html): fullUrl is unique in a Bundle (unless the entries carry
        different meta.versionId). A transaction naming two entries with one urn
        cannot say which one a reference means: refused, nothing written."""
        u = urn()
        b = bundle("transaction",
                   entry("POST", "Patient", patient(family="DupA"), u),
                   entry("POST", "Patient", patient(family="DupB"), u),
                   entry("POST", "Observation", observation(subject={"reference": u}), urn()))
        before = self.system_count()
        self.assertOutcome(self.post_bundle(b), (400, 422))
        self.assertEqual(self.system_count(), before)

    def test_batch_and_transaction_same_shape(self):
        """The transaction-response answers PUT and POST like the batch-response."""
        for t in ("batch", "transaction"):
            with self.subTest(type=t):
                b = bundle(t, entry("PUT", "Patient/shape-%s" % t, patient(id="shape-%s" % t)))
                e = self.assertResponseBundle(self.post_bundle(b), t, 1)[0]
                self.assertWrite(e, "Patient", 201, 1, "shape-%s" % t)
                self.assertEqual(e["resource"], self.get("Patient/shape-%s" % t).json)


class TestBundleLimits(BundleCase):
    SERVER_ARGS = ("--max-bundle-entries", "5", "--max-body-bytes", "4096")

    def test_too_many_entries_413(self):
        before = self.system_count()
        for t in ("batch", "transaction"):
            with self.subTest(type=t):
                b = bundle(t, *[entry("POST", "Patient", patient(family="Lim%d" % i)) for i in range(6)])
                self.assertOutcome(self.post_bundle(b), 413)
        self.assertEqual(self.system_count(), before)

    def test_at_the_limit_ok(self):
        for t in ("batch", "transaction"):
            with self.subTest(type=t):
                b = bundle(t, *[entry("POST", "Patient", {"resourceType": "Patient", "active": True})
                                for _ in range(5)])
                entries = self.assertResponseBundle(self.post_bundle(b), t, 5)
                for e in entries:
                    self.assertWrite(e, "Patient", 201, 1)

    def test_body_limit_413(self):
        before = self.system_count()
        b = bundle("transaction", entry("POST", "Patient", patient(family="x" * 5000)))
        self.assertOutcome(self.post_bundle(b), 413)
        self.assertEqual(self.system_count(), before)


class TestBundleAuth(BundleCase):
    SERVER_ARGS = ("--auth", "smart")

    def test_unauthenticated_bundle_401(self):
        for t in ("batch", "transaction"):
            for b in (bundle(t, entry("GET", "Patient/1")),
                      bundle(t, entry("POST", "Patient", patient()), entry("GET", "metadata"))):
                with self.subTest(type=t, bundle=json.dumps(b)[:80]):
                    r = self.post_bundle(b)
                    self.assertOutcome(r, 401)
                    self.assertTrue((r.header("www-authenticate") or "").startswith("Bearer"), self.describe(r))


class TestDemoBundles(BundleCase):
    def load(self, name, patient_id):
        with open(os.path.join(DEMO_DIR, name), "rb") as f:
            raw = f.read()
        src = json.loads(raw)
        r = self.fetch("POST", "", raw, {"Content-Type": "application/fhir+json"})
        n = len(src["entry"])
        entries = self.assertResponseBundle(r, "transaction", n)
        paths = []
        for i, (req, e) in enumerate(zip(src["entry"], entries)):
            rtype = req["request"]["url"].split("/")[0]
            with self.subTest(entry=i):
                self.assertEntryStatus(e, (200, 201))
                loc = e["response"].get("location") or ""
                m = re.search(r"(?:^|/)%s/([A-Za-z0-9\-.]{1,64})/_history/[0-9]+$" % rtype, loc)
                self.assertIsNotNone(m, "entry %d location %r" % (i, loc))
                if req["request"]["method"] == "POST":
                    self.assertNotEqual(m.group(1), req["fullUrl"].rsplit(":", 1)[1])
                paths.append("%s/%s" % (rtype, m.group(1)))
        self.assertIn("Patient/" + patient_id, paths)
        self.assertEqual(len(set(paths)), n, "two entries got the same Type/id")
        # every stored resource: its references are Type/id (or local #) and resolve
        targets = set()
        for p in paths:
            g = self.get(p)
            self.assertStatus(g, 200)
            for ref in refs_in(g.json):
                if ref.startswith("#"):
                    continue
                self.assertRegex(ref, REF_RE, "%s holds a reference that is not Type/id" % p)
                targets.add(ref)
        self.assertIn("Patient/" + patient_id, targets)
        for t in sorted(targets):
            self.assertStatus(self.get(t), 200)
        g = self.get("Patient/" + patient_id)
        self.assertStatus(g, 200)
        self.assertEqual(g.json["id"], patient_id)

    def test_demo_patient_85(self):
        self.load("uscore_bundle_patient_85.json", "85")

    def test_demo_patient_355(self):
        self.load("uscore_bundle_patient_355.json", "355")


THREADS = 6
TX_PER_THREAD = 5
MAX_ATTEMPTS = 2000


class TestConcurrentTransactions(BundleCase):
    def test_no_lost_updates(self):
        self.assertStatus(self.fetch("PUT", "Patient/shared", patient(id="shared", family="Shared")), 201)
        lock = threading.Lock()
        won = []
        bad = []

        def worker(t):
            done = attempts = 0
            while done < TX_PER_THREAD:
                attempts += 1
                if attempts > MAX_ATTEMPTS:
                    raise AssertionError("thread %d: %d attempts" % (t, attempts))
                g = request(self.server, "GET", "Patient/shared")
                if g.status != 200:
                    bad.append(("GET", g.status, g.body[:300]))
                    return
                vid = etag_vid(g.header("etag"))
                b = bundle("transaction",
                           entry("PUT", "Patient/shared", patient(id="shared", family="Shared",
                                                                  given=["t%d" % t, "n%d" % done]),
                                 ifMatch='W/"%s"' % vid),
                           entry("POST", "Observation", observation(subject={"reference": "Patient/shared"},
                                                                    note=[{"text": "t%d n%d" % (t, done)}])))
                r = request(self.server, "POST", "", b)
                if r.status == 412:
                    continue
                if r.status != 200 or not isinstance(r.json, dict):
                    bad.append(("POST", r.status, r.body[:300]))
                    return
                es = r.json.get("entry") or []
                codes = [e["response"]["status"][:3] for e in es]
                if codes != ["200", "201"]:
                    bad.append(("codes", codes))
                    return
                new_vid = etag_vid(es[0]["response"].get("etag"))
                if new_vid != str(int(vid) + 1):
                    bad.append(("version", vid, new_vid))
                with lock:
                    won.append(new_vid)
                done += 1

        run_threads(THREADS, worker)
        self.assertEqual(bad, [])
        total = THREADS * TX_PER_THREAD
        self.assertEqual(len(won), total)
        self.assertEqual(sorted(int(v) for v in won), list(range(2, total + 2)))
        g = self.get("Patient/shared")
        self.assertEqual(g.json["meta"]["versionId"], str(1 + total))
        obs, _ = history_all(self.server, "Observation/_history?_count=1000")
        self.assertEqual(len(obs), total, "Observations written by failed (412) transactions")
        notes = sorted(e["resource"]["note"][0]["text"] for e in obs)
        self.assertEqual(len(set(notes)), total)
