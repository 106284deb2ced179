"""PATCH with JSON Patch (hl7.org/fhir/R4/http.html#patch, RFC 6902, RFC 6901
pointers): the result is a new version validated like an update, If-Match is
honoured, a failed test op or an error anywhere writes nothing, id /
resourceType / meta.versionId cannot be patched, malformed documents are 400."""
import copy
import json

from itutil import SpecCase, history_all, observation, patient, strip_meta

PATCH_CT = "application/json-patch+json"


class PatchCase(SpecCase):
    def patch(self, path, ops, headers=None, content_type=PATCH_CT):
        body = ops if isinstance(ops, bytes) else json.dumps(ops).encode()
        h = {}
        if content_type is not None:
            h["Content-Type"] = content_type
        h.update(headers or {})
        return self.fetch("PATCH", path, body, h)

    def get(self, path):
        return self.fetch("GET", path)

    def fresh(self, res=None):
        """Creates res (default: a Patient); returns (path, stored body)."""
        r = self.make(res or patient())
        return "%s/%s" % (r.json["resourceType"], r.json["id"]), r.json

    def assertPatched(self, r, before, expected_content):
        """200, the next version, headers, the content, and it is what is stored."""
        self.assertStatus(r, 200)
        self.assertFhirJson(r)
        self.assertEqual(r.json["resourceType"], before["resourceType"])
        self.assertEqual(r.json["id"], before["id"])
        vid = str(int(before["meta"]["versionId"]) + 1)
        self.assertEqual(r.json["meta"]["versionId"], vid)
        self.assertEtag(r, vid)
        self.assertImfDate(r.header("last-modified"))
        self.assertGreaterEqual(r.json["meta"]["lastUpdated"], before["meta"]["lastUpdated"])
        self.assertEqual(strip_meta(r.json), strip_meta(expected_content))
        g = self.get("%s/%s" % (before["resourceType"], before["id"]))
        self.assertStatus(g, 200)
        self.assertEqual(g.json, r.json)

    def assertUnchanged(self, path, before):
        g = self.get(path)
        self.assertStatus(g, 200)
        self.assertEqual(g.json, before, "a failed PATCH changed the resource")
        entries, _ = history_all(self.server, path + "/_history?_count=1000")
        self.assertEqual(len(entries), int(before["meta"]["versionId"]), "a failed PATCH wrote a version")


def edited(res, fn):
    out = copy.deepcopy(res)
    fn(out)
    return out


class TestPatchApplies(PatchCase):
    def test_replace(self):
        path, before = self.fresh()
        r = self.patch(path, [{"op": "replace", "path": "/active", "value": False}])
        self.assertPatched(r, before, edited(before, lambda x: x.update(active=False)))
        h, _ = history_all(self.server, path + "/_history")
        self.assertEqual([e["resource"]["meta"]["versionId"] for e in h], ["2", "1"])
        self.assertEqual(h[1]["resource"], before)
        # and again: version 3
        r2 = self.patch(path, [{"op": "replace", "path": "/name/0/family", "value": "Again"}])
        self.assertPatched(r2, r.json, edited(r.json, lambda x: x["name"][0].update(family="Again")))

    def test_add_remove_and_array_positions(self):
        path, before = self.fresh(patient(given=["A", "B"]))
        ops = [{"op": "add", "path": "/telecom", "value": [{"system": "phone", "value": "555-0100"}]},
               {"op": "remove", "path": "/gender"},
               {"op": "add", "path": "/name/0/given/0", "value": "Zero"},     # insert before
               {"op": "add", "path": "/name/0/given/-", "value": "Last"},     # append
               {"op": "add", "path": "/name/0/given/2", "value": "Mid"},      # insert in the middle
               {"op": "add", "path": "/telecom/-", "value": {"system": "email", "value": "a@example.org"}},
               {"op": "remove", "path": "/telecom/0"},
               {"op": "add", "path": "/name/0/family", "value": "Replaced"}]  # add on a member replaces it

        def want(x):
            del x["gender"]
            x["name"][0]["given"] = ["Zero", "A", "Mid", "B", "Last"]
            x["name"][0]["family"] = "Replaced"
            x["telecom"] = [{"system": "email", "value": "a@example.org"}]
        self.assertPatched(self.patch(path, ops), before, edited(before, want))

    def test_move_and_copy(self):
        path, before = self.fresh(patient(given=["A", "B", "C"]))
        ops = [{"op": "move", "from": "/name/0/given/0", "path": "/name/0/given/2"},   # [B, C, A]
               {"op": "copy", "from": "/name/0/given/1", "path": "/name/0/given/0"},   # [C, B, C, A]
               {"op": "move", "from": "/name/0/family", "path": "/name/0/text"},
               {"op": "copy", "from": "/name/0", "path": "/name/-"},
               {"op": "replace", "path": "/name/1/use", "value": "usual"}]

        def want(x):
            n = x["name"][0]
            n["given"] = ["C", "B", "C", "A"]
            n["text"] = n.pop("family")
            x["name"].append(dict(copy.deepcopy(n), use="usual"))
        self.assertPatched(self.patch(path, ops), before, edited(before, want))

    def test_test_op_numbers_and_objects(self):
        obs = observation(valueQuantity={"value": 70, "unit": "kg", "system": "http://unitsofmeasure.org",
                                         "code": "kg"})
        path, before = self.fresh(obs)
        ops = [{"op": "test", "path": "/valueQuantity/value", "value": 70.0},
               {"op": "test", "path": "/valueQuantity/value", "value": 70},
               {"op": "test", "path": "/valueQuantity",                         # member order is irrelevant
                "value": {"code": "kg", "system": "http://unitsofmeasure.org", "unit": "kg", "value": 70.0}},
               {"op": "test", "path": "/code/coding/0/code", "value": "29463-7"},
               {"op": "test", "path": "/status", "value": "final"},
               {"op": "replace", "path": "/status", "value": "amended"}]
        r = self.patch(path, ops)
        self.assertPatched(r, before, edited(before, lambda x: x.update(status="amended")))
        # other spellings of the number 70 in the patch document itself
        raw = (b'[{"op":"test","path":"/valueQuantity/value","value":7e1},'
               b'{"op":"test","path":"/valueQuantity/value","value":70.00},'
               b'{"op":"test","path":"/valueQuantity/value","value":700E-1},'
               b'{"op":"replace","path":"/status","value":"corrected"}]')
        self.assertPatched(self.patch(path, raw), r.json, edited(r.json, lambda x: x.update(status="corrected")))

    def test_unknown_members_ignored(self):
        """RFC 6902 section 4: members not defined for the operation are ignored."""
        path, before = self.fresh()
        ops = [{"op": "remove", "path": "/gender", "value": 1, "from": "/nothing", "x-note": "ignored"},
               {"op": "replace", "path": "/active", "value": False, "from": 5}]

        def want(x):
            del x["gender"]
            x["active"] = False
        self.assertPatched(self.patch(path, ops), before, edited(before, want))

    def test_escaped_pointer_tokens(self):
        """~1 is '/' and ~0 is '~' in a member name (RFC 6901 section 4): members added
        under such names and removed again, the result is valid."""
        path, before = self.fresh()
        ops = [{"op": "add", "path": "/x~1y", "value": 1},
               {"op": "add", "path": "/c~0d", "value": 2},
               {"op": "add", "path": "/p~01q", "value": 3},
               {"op": "test", "path": "/x~1y", "value": 1},
               {"op": "test", "path": "/c~0d", "value": 2},
               {"op": "test", "path": "/p~01q", "value": 3},
               {"op": "move", "from": "/x~1y", "path": "/e~0f"},
               {"op": "test", "path": "/e~0f", "value": 1},
               {"op": "remove", "path": "/e~0f"},
               {"op": "remove", "path": "/c~0d"},
               {"op": "remove", "path": "/p~01q"},
               {"op": "replace", "path": "/active", "value": False}]
        self.assertPatched(self.patch(path, ops), before, edited(before, lambda x: x.update(active=False)))

    def test_escaped_names_reach_the_validator_decoded(self):
        """The member a pointer names is its decoded form: '/x~1y~0z' adds "x/y~z",
        '/p~01q' adds "p~1q" (not "p/q"); both are unknown elements (422)."""
        path, before = self.fresh()
        for pointer, name, wrong in (("/x~1y~0z", "x/y~z", None), ("/p~01q", "p~1q", "p/q")):
            with self.subTest(pointer=pointer):
                r = self.patch(path, [{"op": "add", "path": pointer, "value": 1}])
                self.assertOutcome(r, 422)
                text = json.dumps(r.json, ensure_ascii=False)
                self.assertIn(name, text, "the unknown element is not named decoded")
                if wrong:
                    self.assertNotIn(wrong, text, "~01 decoded as '/' (RFC 6901: ~1 first, then ~0)")
        self.assertUnchanged(path, before)

    def test_meta_tag_patchable(self):
        path, before = self.fresh()
        tag = {"system": "http://example.org/tags", "code": "patched"}
        r = self.patch(path, [{"op": "add", "path": "/meta/tag", "value": [tag]}])
        self.assertStatus(r, 200)
        self.assertEqual(r.json["meta"]["tag"], [tag])
        self.assertEqual(r.json["meta"]["versionId"], "2")

    def test_if_match(self):
        path, before = self.fresh()
        r = self.patch(path, [{"op": "replace", "path": "/active", "value": False}], {"If-Match": 'W/"1"'})
        self.assertPatched(r, before, edited(before, lambda x: x.update(active=False)))
        v2 = r.json
        stale = self.patch(path, [{"op": "replace", "path": "/active", "value": True}], {"If-Match": 'W/"1"'})
        self.assertOutcome(stale, 412)
        self.assertUnchanged(path, v2)
        r = self.patch(path, [{"op": "replace", "path": "/active", "value": True}], {"If-Match": 'W/"2"'})
        self.assertPatched(r, v2, edited(v2, lambda x: x.update(active=True)))

    def test_other_types(self):
        path, before = self.fresh({"resourceType": "Organization", "name": "Org"})
        r = self.patch(path, [{"op": "add", "path": "/alias", "value": ["O"]}])
        self.assertPatched(r, before, edited(before, lambda x: x.update(alias=["O"])))

    def test_capability(self):
        r = self.get("metadata")
        self.assertStatus(r, 200)
        res = {x["type"]: x for x in r.json["rest"][0]["resource"]}
        for t in ("Patient", "Observation"):
            codes = {i["code"] for i in res[t]["interaction"]}
            self.assertIn("patch", codes, t)


class TestPatchRefused(PatchCase):
    def test_missing_404_deleted_410(self):
        self.assertOutcome(self.patch("Patient/patch-never", [{"op": "replace", "path": "/active", "value": False}]),
                           404)
        self.assertStatus(self.get("Patient/patch-never"), 404)
        path, _ = self.fresh()
        self.assertStatus(self.fetch("DELETE", path), 204)
        self.assertOutcome(self.patch(path, [{"op": "replace", "path": "/active", "value": False}]), 410)
        self.assertStatus(self.get(path), 410)
        self.assertOutcome(self.patch("Foo/1", [{"op": "remove", "path": "/active"}]), 404)
        self.assertOutcome(self.patch("Patient/bad$id", [{"op": "remove", "path": "/active"}]), 400)

    def test_invalid_result_422(self):
        path, before = self.fresh()
        for ops in ([{"op": "add", "path": "/foo", "value": 1}],
                    [{"op": "replace", "path": "/birthDate", "value": "1990-13-45"}],
                    [{"op": "replace", "path": "/active", "value": "yes"}],
                    [{"op": "add", "path": "/name/-", "value": "not a HumanName"}],
                    [{"op": "replace", "path": "/active", "value": False}, {"op": "add", "path": "/foo", "value": 1}]):
            with self.subTest(ops=ops):
                self.assertOutcome(self.patch(path, ops), 422)
        self.assertUnchanged(path, before)

    def test_protected_elements(self):
        path, before = self.fresh()
        cases = []
        for target, value in (("/id", "someone-else"), ("/resourceType", "Observation"), ("/meta/versionId", "7")):
            cases += [[{"op": "replace", "path": target, "value": value}],
                      [{"op": "remove", "path": target}],
                      [{"op": "add", "path": target, "value": value}],
                      [{"op": "move", "from": "/birthDate", "path": target}],
                      [{"op": "copy", "from": "/birthDate", "path": target}]]
        cases.append([{"op": "copy", "from": "/id", "path": "/meta/versionId"}])
        cases.append([{"op": "replace", "path": "", "value": {"resourceType": "Patient", "id": "someone-else"}}])
        cases.append([{"op": "replace", "path": "", "value": {"resourceType": "Observation", "id": before["id"],
                                                              "status": "final", "code": {"text": "x"}}}])
        for ops in cases:
            with self.subTest(ops=ops):
                self.assertOutcome(self.patch(path, ops), (400, 422))
        self.assertUnchanged(path, before)
        self.assertStatus(self.get("Patient/someone-else"), 404)

    def test_failed_test_op(self):
        path, before = self.fresh(observation(valueQuantity={"value": 70, "unit": "kg"}))
        for ops in ([{"op": "test", "path": "/valueQuantity/value", "value": 71}],
                    [{"op": "test", "path": "/valueQuantity/value", "value": "70"}],
                    [{"op": "test", "path": "/status", "value": "Final"}],
                    [{"op": "test", "path": "/valueQuantity", "value": {"value": 70}}],
                    [{"op": "test", "path": "/valueQuantity/value", "value": 70.5}],
                    [{"op": "test", "path": "/code/coding", "value": []}],
                    [{"op": "replace", "path": "/status", "value": "amended"},
                     {"op": "test", "path": "/status", "value": "final"}]):
            with self.subTest(ops=ops):
                self.assertOutcome(self.patch(path, ops + [{"op": "replace", "path": "/status", "value": "amended"}]),
                                   (412, 422))
        self.assertUnchanged(path, before)

    def test_operation_cannot_apply(self):
        """Well-formed operations whose target does not exist: an error, nothing written."""
        path, before = self.fresh(patient(given=["A", "B"]))
        for ops in ([{"op": "remove", "path": "/telecom"}],
                    [{"op": "replace", "path": "/deceasedBoolean", "value": True}],
                    [{"op": "add", "path": "/name/0/given/5", "value": "X"}],
                    [{"op": "add", "path": "/name/0/given/01", "value": "X"}],
                    [{"op": "add", "path": "/name/0/given/-1", "value": "X"}],
                    [{"op": "remove", "path": "/name/0/given/2"}],
                    [{"op": "remove", "path": "/name/0/given/-"}],
                    [{"op": "add", "path": "/name/0/given/x", "value": "X"}],
                    [{"op": "add", "path": "/active/x", "value": "X"}],
                    [{"op": "replace", "path": "/name/0/given/-", "value": "X"}],
                    [{"op": "add", "path": "/contact/0/gender", "value": "male"}],
                    [{"op": "move", "from": "/nothing", "path": "/active"}],
                    [{"op": "move", "from": "/name/0", "path": "/name/0/text"}],   # into its own child
                    [{"op": "test", "path": "/nothing", "value": 1}],
                    [{"op": "replace", "path": "/active", "value": False}, {"op": "remove", "path": "/nothing"}]):
            with self.subTest(ops=ops):
                r = self.patch(path, ops)
                self.assertOutcome(r, (400, 409, 412, 422))
        self.assertUnchanged(path, before)

    def test_malformed_document_400(self):
        path, before = self.fresh()
        docs = [b"[", b"", b"{}", b'"replace"', b"5", b"null", b"[1]", b'[["op"]]',
                {"op": "replace", "path": "/active", "value": False},
                [{"op": "frob", "path": "/active", "value": False}],
                [{"op": "REPLACE", "path": "/active", "value": False}],
                [{"path": "/active", "value": False}],
                [{"op": 1, "path": "/active", "value": False}],
                [{"op": "replace", "value": False}],
                [{"op": "replace", "path": 5, "value": False}],
                [{"op": "replace", "path": "/name~2", "value": False}],
                [{"op": "replace", "path": "/name~", "value": False}],
                [{"op": "replace", "path": "active", "value": False}],
                [{"op": "add", "path": "/active"}],
                [{"op": "replace", "path": "/active"}],
                [{"op": "test", "path": "/active"}],
                [{"op": "move", "path": "/active"}],
                [{"op": "copy", "path": "/active"}],
                [{"op": "copy", "from": "gender", "path": "/active"}],
                [{"op": "replace", "path": "/active", "value": False}, {"op": "frob", "path": "/x"}]]
        for d in docs:
            with self.subTest(doc=d):
                self.assertOutcome(self.patch(path, d if isinstance(d, bytes) else json.dumps(d).encode()), 400)
        self.assertUnchanged(path, before)

    def test_amplification_refused(self):
        """Each copy doubles an array: 64 of them would need 2^64 elements. Refused
        (4xx), the server keeps serving, nothing written."""
        path, before = self.fresh()
        ops = ([{"op": "add", "path": "/x", "value": [1]}] +
               [{"op": "copy", "from": "/x", "path": "/x/-"}] * 64 + [{"op": "remove", "path": "/x"}])
        self.assertOutcome(self.patch(path, ops), (400, 413, 422))
        self.assertUnchanged(path, before)

    def test_content_type(self):
        path, before = self.fresh()
        ops = [{"op": "replace", "path": "/active", "value": False}]
        for ct in ("application/fhir+json", "text/plain", None):
            with self.subTest(content_type=ct):
                self.assertOutcome(self.patch(path, ops, content_type=ct), (400, 415))
        self.assertUnchanged(path, before)
