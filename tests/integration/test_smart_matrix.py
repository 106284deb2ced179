"""The whole compartment matrix (issue 5 "Tests": "for every resource type in
the Patient compartment and every interaction, a token for patient A never
returns or changes patient B's data").

For each of the 66 resource types that compartmentdefinition-patient.json
links to a patient through search parameters, two resources are generated
from the R4 definitions (profiles-resources.json for the required top-level
elements, search-parameters.json for where the compartment parameter
points): one in A's compartment, one in B's. A patient/*.cruds token for A
then tries every interaction on B's resource and on B's compartment:

  read, vread, instance history    404, exactly as an id that does not exist
  search (no criteria, _id=B's)    A's resource found, B's never
  Patient/B/[type]                 403; Patient/A/[type] finds A's
  update, patch                    refused (403/404); B's version unchanged
  delete                           answered as for a missing id; B unchanged
  update-as-create (free id)       refused like an update of B's resource
  create pointing at B             403; pointing at A: 201

The generator is table-driven from the spec files, so a type the server
treats differently from the ten hand-written ones in
test_smart_compartment.py still gets every check. AuditEvent is left out:
it is the audit trail, which no patient token reads and nobody writes
(test_audit.py)."""
import json
import os

from smartutil import (APP, PASSWORDS, STD_USERS, ClientKey, SmartCase, backend_client, fhir_patient, ids_of)

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "fhir-r4")
if not os.path.isdir(SHARED):
    SHARED = "/work/shared/fhir-r4"

PRIMITIVE = {
    "boolean": True, "integer": 1, "positiveInt": 1, "unsignedInt": 1, "decimal": 1,
    "string": "x", "markdown": "x", "code": "unknown", "id": "x1", "uri": "http://example.org/x",
    "url": "http://example.org/x", "canonical": "http://example.org/x", "oid": "urn:oid:1.2.3",
    "uuid": "urn:uuid:0c9bd5d8-1b2b-4b52-9a3f-2b0b7a9d7f11", "base64Binary": "aGVsbG8=",
    "date": "2020-01-01", "dateTime": "2020-01-01T00:00:00Z", "instant": "2020-01-01T00:00:00Z",
    "time": "10:00:00",
}
COMPLEX = {
    "CodeableConcept": {"text": "x"}, "Coding": {"code": "x"}, "Period": {"start": "2020-01-01"},
    "Identifier": {"value": "x"}, "Money": {"value": 1}, "Quantity": {"value": 1}, "Reference": {"display": "x"},
    "Attachment": {"contentType": "text/plain"}, "Timing": {"event": ["2020-01-01"]}, "Range": {"low": {"value": 1}},
    "Ratio": {"numerator": {"value": 1}}, "Annotation": {"text": "x"}, "HumanName": {"text": "x"},
}


def load(name):
    with open(os.path.join(SHARED, name)) as f:
        return json.load(f)


def definitions():
    """type -> {path: element} from the snapshots."""
    out = {}
    for e in load("profiles-resources.json")["entry"]:
        r = e["resource"]
        if r.get("resourceType") != "StructureDefinition" or r.get("kind") != "resource":
            continue
        out[r["id"]] = {el["path"]: el for el in r["snapshot"]["element"]}
    return out


def expressions():
    out = {}
    for e in load("search-parameters.json")["entry"]:
        r = e["resource"]
        for b in r.get("base", []):
            out[(b, r["code"])] = r.get("expression") or ""
    return out


def value_for(el):
    t = el["type"][0]["code"]
    if t in PRIMITIVE:
        return PRIMITIVE[t]
    return COMPLEX.get(t, {"id": "x"})


def complete(els, path, obj):
    """Adds to obj, a BackboneElement at path, the elements its definition
    requires (min >= 1), and does the same in every BackboneElement below:
    the server validates every level (json.html, validate.h)."""
    for cpath, el in els.items():
        if "." not in cpath or cpath.rsplit(".", 1)[0] != path:
            continue
        name = cpath.rsplit(".", 1)[1]
        if el.get("min", 0) >= 1 and "contentReference" not in el:
            if name.endswith("[x]"):
                t = el["type"][0]["code"]
                name = name[:-3] + t[0].upper() + t[1:]
            if name not in obj:
                v = value_for(el)
                obj[name] = [v] if el.get("max") == "*" else v
        if el.get("type") and el["type"][0]["code"] in ("BackboneElement", "Element") and name in obj:
            for item in obj[name] if isinstance(obj[name], list) else [obj[name]]:
                if isinstance(item, dict):
                    complete(els, cpath, item)
    return obj


def link_path(rtype, expr):
    """The element path of rtype's branch of a compartment expression, or None."""
    for branch in expr.split("|"):
        b = branch.strip().replace(".where(resolve() is Patient)", "")
        if not b.startswith(rtype + ".") or "(" in b or "[" in b:
            continue
        return b[len(rtype) + 1:].split(".")
    return None


def build(defs, exprs, rtype, params, rid, pid):
    """A resource of rtype in Patient/pid's compartment, or None when no
    compartment parameter has a plain path."""
    els = defs[rtype]
    res = {"resourceType": rtype, "id": rid}
    for path, el in els.items():
        parts = path.split(".")
        if len(parts) != 2 or el.get("min", 0) < 1:
            continue
        name = parts[1]
        if name.endswith("[x]"):
            t = el["type"][0]["code"]
            name = name[:-3] + t[0].upper() + t[1:]
        v = value_for(el)
        res[name] = [v] if el.get("max") == "*" else v
    for p in params:
        steps = link_path(rtype, exprs.get((rtype, p), ""))
        if not steps:
            continue
        ref = {"reference": "Patient/%s" % pid}
        # build from the innermost step outwards, with each step's cardinality
        node = ref
        for i in range(len(steps) - 1, -1, -1):
            el = els.get(".".join([rtype] + steps[:i + 1]))
            if el is None:
                node = None
                break
            if el["type"][0]["code"] not in ("Reference", "BackboneElement", "Element") and i == len(steps) - 1:
                node = None  # not a Reference at the end: skip this parameter
                break
            node = [node] if el.get("max") == "*" else node
            if i > 0:
                node = {steps[i]: node}
        if node is None:
            continue
        if isinstance(node, dict) and len(steps) > 1:
            res[steps[0]] = [node] if els[rtype + "." + steps[0]].get("max") == "*" else node
        elif len(steps) > 1:
            res[steps[0]] = node if els[rtype + "." + steps[0]].get("max") == "*" else node[0]
        else:
            res[steps[0]] = node
        return complete(els, rtype, res)
    return None


def matrix():
    defs, exprs = definitions(), expressions()
    out = {}
    for entry in load("compartmentdefinition-patient.json")["resource"]:
        t, params = entry["code"], entry.get("param") or []
        if t == "Patient" or not params or t not in defs:
            continue
        if t == "AuditEvent":
            continue  # the audit trail: server-written, auditors only (issue 6, test_audit.py)
        a = build(defs, exprs, t, params, "mx-%s-a" % t.lower(), "pa")
        b = build(defs, exprs, t, params, "mx-%s-b" % t.lower(), "pb")
        if a and b:
            out[t] = (a, b)
    return out


MATRIX = matrix()


class TestCompartmentMatrix(SmartCase):
    USERS = STD_USERS
    CLIENTS = ({"id": "app", "type": "public", "redirect": APP}, backend_client("bk", ["rsa"]))

    @classmethod
    def seed_resources(cls):
        out = [fhir_patient("pa", "Alphaname"), fhir_patient("pb", "Betaname")]
        for a, b in MATRIX.values():
            out += [a, b]
        return out

    @classmethod
    def make_keys(cls):
        cls.keys["rsa"] = ClientKey(cls.workdir, "RSA", "mx-rsa")

    @classmethod
    def after_setup(cls):
        cls.tok = cls.admin = None

    def setUp(self):
        if TestCompartmentMatrix.tok is None:
            t = self.login_token("app", APP, "launch/patient patient/*.cruds", "alice", PASSWORDS["alice"])
            self.assertEqual(t.get("patient"), "pa")
            TestCompartmentMatrix.tok = t["access_token"]
            TestCompartmentMatrix.admin = self.backend_token("bk", self.keys["rsa"], "system/*.cruds")[
                "access_token"]

    def a(self, method, path, body=None, headers=None):
        return self.api(method, path, self.tok, body, headers)

    def b_version(self, t, bid):
        r = self.api("GET", "%s/%s" % (t, bid), self.admin)
        self.assertEqual(r.status, 200, r)
        return r.json["meta"]["versionId"]

    def test_matrix_covers_the_compartment(self):
        """Every compartment type with a plain reference path is generated
        (the few left out need FHIRPath the generator does not build)."""
        self.assertGreaterEqual(len(MATRIX), 60, sorted(MATRIX))

    def test_reads(self):
        for t, (a, b) in sorted(MATRIX.items()):
            with self.subTest(type=t):
                self.assertEqual(self.a("GET", "%s/%s" % (t, a["id"])).status, 200)
                missing = self.a("GET", "%s/mx-nosuch" % t)
                self.assertEqual(missing.status, 404, missing)
                for path in ("%s/%s" % (t, b["id"]), "%s/%s/_history/1" % (t, b["id"]),
                             "%s/%s/_history" % (t, b["id"])):
                    r = self.a("GET", path)
                    self.assertEqual(r.status, 404, r)
                    self.assertNotIn("Betaname", r.text)
                    self.assertNotIn('"pb"', r.text)

    def test_searches(self):
        for t, (a, b) in sorted(MATRIX.items()):
            with self.subTest(type=t):
                r = self.a("GET", "%s?_count=1000" % t)
                self.assertEqual(r.status, 200, r)
                got = ids_of(r.json)
                self.assertIn("%s/%s" % (t, a["id"]), got)
                self.assertNotIn("%s/%s" % (t, b["id"]), got)
                r = self.a("GET", "%s?_id=%s" % (t, b["id"]))
                self.assertEqual(r.status, 200, r)
                self.assertEqual(ids_of(r.json), set())
                r = self.a("GET", "Patient/pb/%s" % t)
                self.assertEqual(r.status, 403, r)
                r = self.a("GET", "Patient/pa/%s" % t)
                self.assertEqual(r.status, 200, r)
                self.assertIn("%s/%s" % (t, a["id"]), ids_of(r.json))

    def test_writes_on_b_refused(self):
        for t, (a, b) in sorted(MATRIX.items()):
            with self.subTest(type=t):
                before = self.b_version(t, b["id"])
                changed = dict(b, language="de")
                r = self.a("PUT", "%s/%s" % (t, b["id"]), changed)
                self.assertIn(r.status, (403, 404), r)
                patch = [{"op": "add", "path": "/language", "value": "fr"}]
                r = self.a("PATCH", "%s/%s" % (t, b["id"]), json.dumps(patch).encode(),
                           {"Content-Type": "application/json-patch+json"})
                self.assertIn(r.status, (403, 404), r)
                # for A's token B's resource does not exist: the same answer as a missing id
                missing = self.a("DELETE", "%s/mx-nosuch" % t)
                r = self.a("DELETE", "%s/%s" % (t, b["id"]))
                self.assertIn(r.status, (204, 403, 404), r)
                self.assertEqual(r.status, missing.status, r)
                # update-as-create: a free id answers like B's taken one
                fresh = self.a("PUT", "%s/mx-free-%s" % (t, t.lower()), dict(a, id="mx-free-%s" % t.lower()))
                self.assertIn(fresh.status, (403, 404), fresh)
                self.assertEqual(self.b_version(t, b["id"]), before, "B's %s was changed" % t)
                # re-pointing A's own resource at B is refused too
                r = self.a("PUT", "%s/%s" % (t, a["id"]), dict(b, id=a["id"]))
                self.assertIn(r.status, (403, 404), r)

    def test_creates(self):
        for t, (a, b) in sorted(MATRIX.items()):
            with self.subTest(type=t):
                new_b = {k: v for k, v in b.items() if k != "id"}
                r = self.a("POST", t, new_b)
                self.assertEqual(r.status, 403, r)
                new_a = {k: v for k, v in a.items() if k != "id"}
                r = self.a("POST", t, new_a)
                self.assertEqual(r.status, 201, r)
