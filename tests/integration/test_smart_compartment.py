"""The patient-compartment matrix (issue 5 "Enforcement": `patient/` scopes
confine the token to its patient's compartment - hl7.org/fhir/R4/
compartmentdefinition-patient.html - for every interaction; SMART
scopes-and-launch-context.html patient-specific scopes).

Patients A (pa) and B (pb) each have one resource of ten compartment types.
A token for A with patient/*.cruds:
  * read / vread / instance history of B's resources: 403 or 404, and the
    same status as for an id that does not exist (ids cannot be probed);
  * type and system history, searches without a patient parameter, `_id`
    lists: only A's rows; a search naming another patient -> 403;
  * chains, `_has`, `_include`, `_revinclude` never reach B's resources;
  * Patient/B/$everything -> 403, Patient/A/$everything holds only A's data;
  * batch entries touching B refused per entry, a transaction touching B
    fails whole;
  * create/update/patch/delete of B's resources or for B -> 403/404 with B's
    data unchanged afterwards (checked with a system/*.cruds backend token);
  * a body naming another id than the URL -> 400 (R4 http.html#update).
Data is loaded through an `--auth off` server on the same database first."""
import json
import secrets

from smartutil import (APP, PASSWORDS, STD_USERS, ClientKey, SmartCase, backend_client, fhir_observation,
                       fhir_patient, ids_of, ref)

PATCH_CT = "application/json-patch+json"
B_MARKERS = ("Betaname", "8302-2", "bfocus")


def build(rtype, rid, pid):
    P = ref("Patient", pid)
    if rtype == "Observation":
        return fhir_observation(rid, pid, code="29463-7" if pid == "pa" else "8302-2")
    r = {"resourceType": rtype, "id": rid}
    if rtype == "Condition":
        r.update(subject=P, code={"text": "cond"},
                 clinicalStatus={"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                             "code": "active"}]})
    elif rtype == "Encounter":
        r.update(status="finished", subject=P,
                 **{"class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}})
    elif rtype == "MedicationRequest":
        r.update(status="active", intent="order", medicationCodeableConcept={"text": "med"}, subject=P)
    elif rtype == "AllergyIntolerance":
        r.update(patient=P, code={"text": "peanut"},
                 clinicalStatus={"coding": [{
                     "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                     "code": "active"}]})
    elif rtype == "Procedure":
        r.update(status="completed", subject=P, code={"text": "proc"})
    elif rtype == "Immunization":
        r.update(status="completed", patient=P, occurrenceDateTime="2020-01-01",
                 vaccineCode={"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}]})
    elif rtype == "DiagnosticReport":
        r.update(status="final", code={"text": "panel"}, subject=P)
    elif rtype == "DocumentReference":
        r.update(status="current", subject=P,
                 content=[{"attachment": {"contentType": "text/plain", "data": "aGVsbG8="}}])
    elif rtype == "CarePlan":
        r.update(status="active", intent="plan", subject=P)
    else:
        raise ValueError(rtype)
    return r


# type -> search parameters naming the patient
TYPES = {
    "Observation": ("patient", "subject"),
    "Condition": ("patient", "subject"),
    "Encounter": ("patient", "subject"),
    "MedicationRequest": ("patient", "subject"),
    "AllergyIntolerance": ("patient",),
    "Procedure": ("patient", "subject"),
    "Immunization": ("patient",),
    "DiagnosticReport": ("patient", "subject"),
    "DocumentReference": ("patient", "subject"),
    "CarePlan": ("patient", "subject"),
}


def rid(rtype, who):
    return "%s-%s" % (rtype.lower(), who)


def seed():
    out = [fhir_patient("pa", "Alphaname", "Anna"), fhir_patient("pb", "Betaname", "Berta")]
    for t in TYPES:
        out.append(build(t, rid(t, "a"), "pa"))
        out.append(build(t, rid(t, "b"), "pb"))
    # A's resources reaching B's: hasMember/derivedFrom, result, encounter
    for r in out:
        if r["id"] == "diagnosticreport-a":
            r["result"] = [ref("Observation", "observation-b")]
        if r["id"] == "condition-a":
            r["encounter"] = ref("Encounter", "encounter-b")
    out.append(fhir_observation("obs-a-link", "pa", code="a-link",
                                hasMember=[ref("Observation", "observation-b")],
                                derivedFrom=[ref("Observation", "observation-b")]))
    # B's resource pointing at A outside A's compartment (focus is no compartment parameter)
    focus = fhir_observation("obs-b-focus", "pb", focus=[ref("Patient", "pa")])
    focus["code"] = {"coding": [{"system": "http://example.org/codes", "code": "bfocus"}]}
    out.append(focus)
    # A's resources the write tests may change
    for n in ("a2", "a3", "a4"):
        out.append(fhir_observation("observation-" + n, "pa"))
    return out


A_REFS = {"Patient/pa"} | {"%s/%s" % (t, rid(t, "a")) for t in TYPES}
B_REFS = {"Patient/pb", "Observation/obs-b-focus"} | {"%s/%s" % (t, rid(t, "b")) for t in TYPES}


class TestPatientCompartment(SmartCase):
    USERS = STD_USERS
    CLIENTS = ({"id": "app", "type": "public", "redirect": APP}, backend_client("bk", ["rsa"]))

    @classmethod
    def seed_resources(cls):
        return seed()

    @classmethod
    def make_keys(cls):
        cls.keys["rsa"] = ClientKey(cls.workdir, "RSA", "cmp-rsa")

    @classmethod
    def after_setup(cls):
        cls.tok = cls.admin = None
        cls.b_versions = None

    def setUp(self):
        if TestPatientCompartment.tok is None:
            t = self.login_token("app", APP, "launch/patient patient/*.cruds", "alice", PASSWORDS["alice"])
            self.assertEqual(t.get("patient"), "pa")
            TestPatientCompartment.tok = t["access_token"]
            TestPatientCompartment.admin = self.backend_token("bk", self.keys["rsa"], "system/*.cruds")[
                "access_token"]
            TestPatientCompartment.b_versions = self.versions(sorted(B_REFS))

    # -- helpers
    def a(self, method, path, body=None, headers=None):
        return self.api(method, path, self.tok, body, headers)

    def versions(self, refs):
        """versionId of each reference, read with the system token."""
        out = {}
        for r_ in refs:
            r = self.api("GET", r_, self.admin)
            self.assertEqual(r.status, 200, r)
            out[r_] = r.json["meta"]["versionId"]
        return out

    def assertBUnchanged(self):
        self.assertEqual(self.versions(sorted(B_REFS)), self.b_versions, "B's data was changed")

    def assertNoBData(self, r):
        """None of B's data in the answer: the resources of a Bundle, or the
        whole body otherwise (markers the request itself carried, which a
        Bundle's self link or a diagnostic may echo, are not counted)."""
        if isinstance(r.json, dict) and r.json.get("resourceType") == "Bundle":
            text = json.dumps([e.get("resource") for e in r.json.get("entry") or []])
        else:
            text = r.text
        for m in B_MARKERS:
            self.assertNotIn(m, text, r)

    def assertNotFoundOrForbidden(self, r, same_as=None):
        self.assertIn(r.status, (403, 404), r)
        self.assertOutcome(r, r.status)
        self.assertNoBData(r)
        if same_as is not None:
            self.assertEqual(r.status, same_as.status,
                             "B's resource and a missing one answer differently: %r vs %r" % (r, same_as))

    def search_refs(self, r):
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json.get("resourceType"), "Bundle", r)
        return ids_of(r.json)

    def assertSearchClean(self, r, allow_403=True, must=()):
        """200 with none of B's resources (or 403 where allowed)."""
        if allow_403 and r.status == 403:
            self.assertOutcome(r, 403)
            return set()
        refs = self.search_refs(r)
        self.assertFalse(refs & B_REFS, "B's resources returned: %s" % (refs & B_REFS))
        self.assertNoBData(r)
        for m in must:
            self.assertIn(m, refs)
        return refs

    # -- read, vread, history
    def test_read(self):
        """Issue 5: read of B's resources (every type, Patient/B too): 403/404
        exactly like a missing id; A's own: 200."""
        for t in list(TYPES) + ["Patient"]:
            with self.subTest(type=t):
                b = "pb" if t == "Patient" else rid(t, "b")
                missing = self.a("GET", "%s/nosuch-%s" % (t, secrets.token_hex(4)))
                self.assertNotFoundOrForbidden(self.a("GET", "%s/%s" % (t, b)), missing)
                own = "pa" if t == "Patient" else rid(t, "a")
                self.assertEqual(self.a("GET", "%s/%s" % (t, own)).status, 200)

    def test_vread(self):
        """Issue 5: vread of B's resources answers like a missing id (403/404)."""
        for t in list(TYPES) + ["Patient"]:
            with self.subTest(type=t):
                b = "pb" if t == "Patient" else rid(t, "b")
                missing = self.a("GET", "%s/nosuch-%s/_history/1" % (t, secrets.token_hex(4)))
                self.assertNotFoundOrForbidden(self.a("GET", "%s/%s/_history/1" % (t, b)), missing)

    def test_instance_history(self):
        """Issue 5: instance history of B's resources answers like a missing id (403/404)."""
        for t in list(TYPES) + ["Patient"]:
            with self.subTest(type=t):
                b = "pb" if t == "Patient" else rid(t, "b")
                missing = self.a("GET", "%s/nosuch-%s/_history" % (t, secrets.token_hex(4)))
                r = self.a("GET", "%s/%s/_history" % (t, b))
                self.assertNotFoundOrForbidden(r, missing)

    def test_own_older_versions(self):
        """Older versions of A's own resource stay readable (vread, instance
        history): the index keeps the rows of current versions only, so the
        compartment of an older version comes from its stored body. A
        resource moved from A to B: A keeps the version that was A's, never
        B's."""
        obs = build("Observation", "obs-hist-a", "pa")
        self.assertIn(self.api("PUT", "Observation/obs-hist-a", self.admin, obs).status, (200, 201))
        self.assertEqual(self.api("PUT", "Observation/obs-hist-a", self.admin, dict(obs, status="amended")).status,
                         200)
        self.assertEqual(self.a("GET", "Observation/obs-hist-a/_history/1").status, 200)
        self.assertEqual(self.a("GET", "Observation/obs-hist-a/_history/2").status, 200)
        r = self.a("GET", "Observation/obs-hist-a/_history")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sorted(e["resource"]["meta"]["versionId"] for e in r.json.get("entry", [])), ["1", "2"])
        moved = build("Observation", "obs-moved-a", "pa")
        self.assertIn(self.api("PUT", "Observation/obs-moved-a", self.admin, moved).status, (200, 201))
        self.assertEqual(self.api("PUT", "Observation/obs-moved-a", self.admin,
                                  build("Observation", "obs-moved-a", "pb")).status, 200)
        self.assertEqual(self.a("GET", "Observation/obs-moved-a/_history/1").status, 200)
        missing = self.a("GET", "Observation/nosuch-%s/_history/2" % secrets.token_hex(4))
        self.assertNotFoundOrForbidden(self.a("GET", "Observation/obs-moved-a/_history/2"), missing)
        self.assertNotFoundOrForbidden(self.a("GET", "Observation/obs-moved-a"))

    def test_type_and_system_history(self):
        """Issue 5: type- and system-level history: 403 or only A's versions."""
        for t in list(TYPES) + ["Patient"]:
            with self.subTest(type=t):
                self.assertSearchClean(self.a("GET", "%s/_history?_count=200" % t))
        with self.subTest(level="system"):
            self.assertSearchClean(self.a("GET", "_history?_count=500"))

    # -- search
    def test_search_naming_other_patient(self):
        """Issue 5: a search naming another patient (existing or not) -> 403."""
        for t, params in TYPES.items():
            for p in params:
                for v in ("pb", "Patient/pb", self.base() + "/Patient/pb", "Patient/pb,Patient/pa", "nosuch"):
                    if p == "subject" and "/" not in v:
                        continue  # a bare id is ambiguous for a multi-type reference parameter
                    with self.subTest(type=t, param=p, value=v):
                        r = self.a("GET", "%s?%s=%s" % (t, p, v))
                        self.assertOutcome(r, 403)
                        self.assertNoBData(r)
            with self.subTest(type=t, compartment="Patient/pb/" + t):
                self.assertOutcome(self.a("GET", "Patient/pb/%s" % t), 403)

    def test_search_narrowed(self):
        """No patient parameter: only A's resources; A's own parameter works."""
        for t, params in TYPES.items():
            with self.subTest(type=t):
                refs = self.assertSearchClean(self.a("GET", "%s?_count=200" % t), allow_403=False,
                                              must=("%s/%s" % (t, rid(t, "a")),))
                self.assertTrue(refs)
                refs = self.assertSearchClean(self.a("GET", "%s?%s=Patient/pa" % (t, params[-1])),
                                              allow_403=False, must=("%s/%s" % (t, rid(t, "a")),))
                refs = self.assertSearchClean(self.a("GET", "Patient/pa/%s" % t), allow_403=False,
                                              must=("%s/%s" % (t, rid(t, "a")),))
        with self.subTest(type="Patient"):
            refs = self.assertSearchClean(self.a("GET", "Patient"), allow_403=False, must=("Patient/pa",))
            self.assertEqual({r for r in refs if r.startswith("Patient/")}, {"Patient/pa"})
        with self.subTest(search="code of B's Observation"):
            self.assertEqual(self.search_refs(self.a("GET", "Observation?code=8302-2")), set())
        with self.subTest(search="POST _search"):
            self.assertSearchClean(self.a("POST", "Observation/_search", b"code=8302-2",
                                          {"Content-Type": "application/x-www-form-urlencoded"}),
                                   allow_403=False)

    def test_id_lists(self):
        """Issue 5: `_id` lists naming B's ids return none of them (search narrowed to the compartment)."""
        for t in TYPES:
            with self.subTest(type=t):
                refs = self.search_refs(self.a("GET", "%s?_id=%s,%s" % (t, rid(t, "a"), rid(t, "b"))))
                self.assertEqual(refs, {"%s/%s" % (t, rid(t, "a"))})
                self.assertEqual(self.search_refs(self.a("GET", "%s?_id=%s" % (t, rid(t, "b")))), set())
        self.assertEqual(self.search_refs(self.a("GET", "Patient?_id=pa,pb")), {"Patient/pa"})
        self.assertEqual(self.search_refs(self.a("GET", "Patient?_id=pb")), set())

    def test_chains(self):
        """Issue 5: chains may not reach outside the compartment."""
        for q in ("Observation?subject:Patient.family=Betaname", "Observation?patient.family=Betaname",
                  "Observation?subject:Patient.name=Betaname", "Condition?subject:Patient.family=Betaname",
                  "Encounter?patient.name=Berta", "Observation?derived-from:Observation.code=8302-2",
                  "Observation?has-member:Observation.code=8302-2", "Condition?encounter.patient=pb",
                  "Condition?encounter:Encounter.status=finished"):
            with self.subTest(query=q):
                refs = self.assertSearchClean(self.a("GET", q))
                if "derived-from" in q or "has-member" in q:
                    self.assertNotIn("Observation/obs-a-link", refs,
                                     "a chain through B's Observation matched")
                if q.startswith("Condition?encounter"):
                    self.assertNotIn("Condition/condition-a", refs, "a chain through B's Encounter matched")

    def test_has(self):
        """Issue 5: _has may not reach outside (B's Observation focusing on A must not select A)."""
        for q, bad in (("Patient?_has:Observation:subject:code=8302-2", "Patient/pb"),
                       ("Patient?_has:Observation:patient:code=8302-2", "Patient/pb"),
                       ("Patient?_has:Observation:focus:code=http://example.org/codes|bfocus", "Patient/pa"),
                       ("Encounter?_has:Condition:encounter:clinical-status=active", "Encounter/encounter-b")):
            with self.subTest(query=q):
                refs = self.assertSearchClean(self.a("GET", q))
                self.assertNotIn(bad, refs)
        refs = self.search_refs(self.a("GET", "Patient?_has:Observation:subject:code=29463-7"))
        self.assertEqual(refs, {"Patient/pa"})

    def test_include_revinclude(self):
        """Issue 5: _include / _revinclude never pull B's resources."""
        for q in ("Observation?_include=Observation:has-member", "Observation?_include=Observation:derived-from",
                  "Observation?_id=obs-a-link&_include=Observation:has-member",
                  "DiagnosticReport?_include=DiagnosticReport:result",
                  "Condition?_include=Condition:encounter", "Observation?_include=Observation:subject",
                  "Observation?_include=Observation:focus",
                  "Patient?_id=pa&_revinclude=Observation:focus",
                  "Patient?_revinclude=Observation:subject", "Patient?_revinclude=Observation:patient",
                  "Observation?_id=observation-b&_revinclude=Observation:has-member",
                  "Encounter?_revinclude=Condition:encounter"):
            with self.subTest(query=q):
                self.assertSearchClean(self.a("GET", q))

    def test_everything(self):
        """R4 patient-operation-everything.html with issue 5: another
        patient's $everything -> 403; one's own holds only one's compartment
        (never B's resources, even those A's resources refer to)."""
        self.assertOutcome(self.a("GET", "Patient/pb/$everything"), 403)
        self.assertOutcome(self.a("GET", "Patient/nosuch/$everything"), 403)
        refs = self.assertSearchClean(self.a("GET", "Patient/pa/$everything?_count=500"), allow_403=False)
        self.assertLessEqual(A_REFS, refs)

    # -- Bundles
    def test_batch_entries(self):
        """Issue 5: batch entries are checked one by one."""
        marker = "bt-" + secrets.token_hex(6)
        obs_b = dict(build("Observation", None, "pb"), identifier=[{"system": "urn:ct", "value": marker}])
        obs_b.pop("id")
        b_changed = dict(build("Observation", "observation-b", "pb"), status="amended")
        batch = {"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": "Observation/observation-a"}},
            {"request": {"method": "GET", "url": "Observation/observation-b"}},
            {"request": {"method": "GET", "url": "Observation/nosuch-" + secrets.token_hex(4)}},
            {"request": {"method": "GET", "url": "Observation?patient=pb"}},
            {"request": {"method": "POST", "url": "Observation"}, "resource": obs_b},
            {"request": {"method": "PUT", "url": "Observation/observation-b"}, "resource": b_changed},
            {"request": {"method": "DELETE", "url": "Observation/observation-b"}},
            {"request": {"method": "DELETE", "url": "Observation/nosuch-" + secrets.token_hex(4)}},
        ]}
        r = self.a("POST", "", batch)
        self.assertEqual(r.status, 200, r)
        self.assertNoBData(r)
        st = [int(e["response"]["status"].split()[0]) for e in r.json["entry"]]
        self.assertEqual(st[0], 200, r)
        self.assertIn(st[1], (403, 404), r)
        self.assertEqual(st[1], st[2], "B's resource and a missing one answer differently in a batch")
        self.assertEqual(st[3], 403, r)
        self.assertEqual(st[4], 403, r)
        self.assertIn(st[5], (403, 404), r)
        # deleting B's resource answers as deleting a missing one (http.html#delete) and changes nothing
        self.assertIn(st[6], (204, 403, 404), r)
        self.assertEqual(st[6], st[7], "B's resource and a missing one answer differently to DELETE")
        self.assertBUnchanged()
        self.assertNotCreated("Observation", marker)

    def assertNotCreated(self, rtype, marker):
        r = self.api("GET", "%s?identifier=urn:ct|%s" % (rtype, marker), self.admin)
        self.assertEqual(r.status, 200, r)
        self.assertFalse(r.json.get("entry"), "created: %r" % r)

    def test_transaction_fails_whole(self):
        """Issue 5 / R4 http.html#transaction: an entry touching B fails the
        whole transaction; A's entries are not written either."""
        marker = "tx-" + secrets.token_hex(6)
        mine = dict(build("Observation", None, "pa"), identifier=[{"system": "urn:ct", "value": marker}])
        mine.pop("id")
        for name, bad in (
                ("update B", {"request": {"method": "PUT", "url": "Observation/observation-b"},
                              "resource": dict(build("Observation", "observation-b", "pb"), status="amended")}),
                ("create for B", {"fullUrl": "urn:uuid:5a0c1d2e-0000-4000-8000-00000000000b",
                                  "request": {"method": "POST", "url": "Observation"},
                                  "resource": {k: v for k, v in build("Observation", "x", "pb").items()
                                               if k != "id"}})):
            with self.subTest(entry=name):
                tx = {"resourceType": "Bundle", "type": "transaction", "entry": [
                    {"fullUrl": "urn:uuid:5a0c1d2e-0000-4000-8000-00000000000a",
                     "request": {"method": "POST", "url": "Observation"}, "resource": mine}, bad]}
                r = self.a("POST", "", tx)
                self.assertIn(r.status, (403, 404), r)
                self.assertOutcome(r, r.status)
                self.assertNoBData(r)
                self.assertNotCreated("Observation", marker)
                self.assertBUnchanged()

    def test_transaction_delete_b_is_a_noop(self):
        """A DELETE of B's resource inside a transaction is what a DELETE of a
        missing id is (R4 http.html#delete: nothing to delete, success): the
        transaction's answer is the same for both, and B is unchanged."""
        answers = []
        for url in ("Observation/observation-b", "Observation/nosuch-" + secrets.token_hex(4)):
            tx = {"resourceType": "Bundle", "type": "transaction",
                  "entry": [{"request": {"method": "DELETE", "url": url}}]}
            r = self.a("POST", "", tx)
            self.assertNoBData(r)
            answers.append((r.status, [e.get("response", {}).get("status") for e in (r.json or {}).get("entry", [])]))
        self.assertEqual(answers[0], answers[1])
        self.assertBUnchanged()

    # -- writes
    def test_create_for_b(self):
        """Issue 5: the resource written must belong to the token's patient."""
        for t in TYPES:
            with self.subTest(type=t):
                marker = "cr-" + secrets.token_hex(6)
                res = build(t, "x", "pb")
                res.pop("id")
                res["identifier"] = [{"system": "urn:ct", "value": marker}]
                self.assertOutcome(self.a("POST", t, res), 403)
                self.assertNotCreated(t, marker)
        with self.subTest(case="no subject at all"):
            marker = "cr-" + secrets.token_hex(6)
            res = build("Observation", "x", "pa")
            res.pop("id")
            res.pop("subject")
            res["identifier"] = [{"system": "urn:ct", "value": marker}]
            self.assertOutcome(self.a("POST", "Observation", res), 403)
            self.assertNotCreated("Observation", marker)
        with self.subTest(case="another Patient"):
            marker = "cr-" + secrets.token_hex(6)
            p = fhir_patient("x", "Newname")
            p.pop("id")
            p["identifier"] = [{"system": "urn:ct", "value": marker}]
            self.assertOutcome(self.a("POST", "Patient", p), 403)
            self.assertNotCreated("Patient", marker)
        with self.subTest(case="own create works"):
            res = build("Observation", "x", "pa")
            res.pop("id")
            self.assertEqual(self.a("POST", "Observation", res).status, 201)

    def test_update_b(self):
        """Issue 5: updating B's resource (as B's or taken over for A) -> 403/404, the same as an update-as-create for
        B; nothing changes."""
        for t in TYPES:
            with self.subTest(type=t):
                b = rid(t, "b")
                body = build(t, b, "pb")
                body["meta"] = {"tag": [{"system": "urn:ct", "code": "changed"}]}
                new_id = "nosuch-" + secrets.token_hex(4)
                missing = self.a("PUT", "%s/%s" % (t, new_id), dict(body, id=new_id))
                self.assertNotFoundOrForbidden(self.a("PUT", "%s/%s" % (t, b), body), missing)
                # taking B's resource over for A
                self.assertNotFoundOrForbidden(self.a("PUT", "%s/%s" % (t, b), build(t, b, "pa")))
                r = self.api("GET", "%s/%s" % (t, new_id), self.admin)
                self.assertEqual(r.status, 404, "update-as-create for B happened: %r" % r)
        self.assertBUnchanged()

    def test_move_own_resource_to_b(self):
        """Issue 5: A's resource may not be moved into B's compartment by update or patch (403, unchanged)."""
        r = self.a("PUT", "Observation/observation-a2", build("Observation", "observation-a2", "pb"))
        self.assertOutcome(r, 403)
        r = self.api("GET", "Observation/observation-a2", self.admin)
        self.assertEqual(r.json["subject"]["reference"], "Patient/pa")
        self.assertEqual(r.json["meta"]["versionId"], "1")
        patch = [{"op": "replace", "path": "/subject/reference", "value": "Patient/pb"}]
        r = self.a("PATCH", "Observation/observation-a3", json.dumps(patch).encode(), {"Content-Type": PATCH_CT})
        self.assertOutcome(r, 403)
        r = self.api("GET", "Observation/observation-a3", self.admin)
        self.assertEqual(r.json["subject"]["reference"], "Patient/pa")

    def test_patch_b(self):
        """Issue 5: PATCH of B's resources -> 403/404 like a missing id; B unchanged."""
        patch = json.dumps([{"op": "replace", "path": "/status", "value": "entered-in-error"}]).encode()
        for t in TYPES:
            with self.subTest(type=t):
                missing = self.a("PATCH", "%s/nosuch-%s" % (t, secrets.token_hex(4)), patch,
                                 {"Content-Type": PATCH_CT})
                r = self.a("PATCH", "%s/%s" % (t, rid(t, "b")), patch, {"Content-Type": PATCH_CT})
                self.assertNotFoundOrForbidden(r, missing)
        steal = json.dumps([{"op": "replace", "path": "/subject/reference", "value": "Patient/pa"}]).encode()
        self.assertNotFoundOrForbidden(self.a("PATCH", "Observation/observation-b", steal,
                                              {"Content-Type": PATCH_CT}))
        self.assertBUnchanged()

    def test_delete_b(self):
        """Issue 5: DELETE of B's resources (Patient/B too) changes nothing and answers exactly as the delete of
        an id that does not exist (R4 http.html#delete: 200/204 for a resource that does not exist - for A's
        token B's resources do not exist), or 403/404; B unchanged."""
        for t in list(TYPES) + ["Patient"]:
            with self.subTest(type=t):
                b = "pb" if t == "Patient" else rid(t, "b")
                missing = self.a("DELETE", "%s/nosuch-%s" % (t, secrets.token_hex(4)))
                r = self.a("DELETE", "%s/%s" % (t, b))
                self.assertIn(r.status, (204, 403, 404), r)
                self.assertEqual(r.status, missing.status, "B's resource and a missing one answer differently")
                self.assertNoBData(r)
        self.assertBUnchanged()

    def test_conditional_writes(self):
        """Conditional delete/update select within the compartment only."""
        self.a("DELETE", "Observation?code=8302-2")
        self.a("DELETE", "Observation?subject=Patient/pb")
        self.a("DELETE", "Observation?_id=observation-b")
        body = {k: v for k, v in build("Observation", "x", "pa").items() if k != "id"}
        r = self.a("PUT", "Observation?_id=observation-b", body)
        self.assertNotEqual(r.status, 200, "a conditional update matched B's resource: %r" % r)
        self.assertBUnchanged()

    def test_body_id_mismatch(self):
        """R4 http.html#update: the body's id must equal the URL's -> 400."""
        r = self.a("PUT", "Observation/observation-a4", build("Observation", "observation-b", "pa"))
        self.assertOutcome(r, 400)
        r = self.a("PUT", "Observation/observation-a4", build("Observation", "observation-b", "pb"))
        self.assertIn(r.status, (400, 403), r)
        self.assertBUnchanged()
        r = self.a("PUT", "Observation/observation-a4", build("Observation", "observation-a4", "pa"))
        self.assertEqual(r.status, 200, r)


class TestUserScopes(SmartCase):
    """Issue 5: `user/` scopes give access as the signed-in user is entitled:
    a user whose fhirUser is a Patient is confined to that patient; a
    Practitioner sees what its scopes allow (not confined)."""
    USERS = STD_USERS
    CLIENTS = ({"id": "app", "type": "public", "redirect": APP},)

    @classmethod
    def seed_resources(cls):
        return seed() + [{"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "Smith"}]}]

    def test_patient_user_confined(self):
        """Issue 5: user/*.cruds for a user whose fhirUser is Patient/A is confined to A."""
        t = self.login_token("app", APP, "openid fhirUser user/*.cruds", "alice", PASSWORDS["alice"])
        tok = t["access_token"]
        for rtype in ("Observation", "Condition", "Encounter"):
            with self.subTest(type=rtype):
                missing = self.api("GET", "%s/nosuch-%s" % (rtype, secrets.token_hex(4)), tok)
                r = self.api("GET", "%s/%s" % (rtype, rid(rtype, "b")), tok)
                self.assertIn(r.status, (403, 404), r)
                self.assertEqual(r.status, missing.status)
                self.assertEqual(self.api("GET", "%s/%s" % (rtype, rid(rtype, "a")), tok).status, 200)
                r = self.api("GET", rtype + "?_count=200", tok)
                self.assertEqual(r.status, 200, r)
                refs = ids_of(r.json)
                self.assertFalse(refs & B_REFS, refs)
                self.assertIn("%s/%s" % (rtype, rid(rtype, "a")), refs)
                self.assertOutcome(self.api("GET", "%s?patient=pb" % rtype, tok), 403)
        self.assertIn(self.api("GET", "Patient/pb", tok).status, (403, 404))
        res = build("Observation", "x", "pb")
        res.pop("id")
        self.assertOutcome(self.api("POST", "Observation", tok, res), 403)

    def test_practitioner_user_not_confined(self):
        """Issue 5: a Practitioner user with user/*.rs reads every patient's data and cannot write (no c)."""
        t = self.login_token("app", APP, "openid fhirUser user/*.rs", "drsmith", PASSWORDS["drsmith"])
        tok = t["access_token"]
        for ref_ in ("Observation/observation-a", "Observation/observation-b", "Patient/pa", "Patient/pb"):
            with self.subTest(read=ref_):
                self.assertEqual(self.api("GET", ref_, tok).status, 200)
        r = self.api("GET", "Observation?patient=pb", tok)
        self.assertEqual(r.status, 200, r)
        self.assertIn("Observation/observation-b", ids_of(r.json))
        res = build("Observation", "x", "pa")
        res.pop("id")
        self.assertOutcome(self.api("POST", "Observation", tok, res), 403)  # .rs: no c
