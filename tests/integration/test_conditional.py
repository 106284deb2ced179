"""Conditional create, update and delete (hl7.org/fhir/R4/http.html#ccreate,
#cond-update, #cdelete) on the parameters supported for now: _id and
identifier ([system]|[value], search.html#token). Only current, non-deleted
resources of the named type match; other parameters are refused (400)."""
import threading

from itutil import SpecCase, history_all, observation, patient, q, request, run_threads

S = "http://example.org/cond"


def ident(value, system=S):
    i = {"value": value}
    if system is not None:
        i["system"] = system
    return i


class CondCase(SpecCase):
    def cond_create(self, res, criteria, headers=None):
        h = {"If-None-Exist": criteria}
        h.update(headers or {})
        return self.fetch("POST", res["resourceType"], res, h)

    def cond_update(self, res, query, headers=None):
        return self.fetch("PUT", "%s?%s" % (res["resourceType"], query), res, headers)

    def cond_delete(self, rtype, query):
        return self.fetch("DELETE", "%s?%s" % (rtype, query))

    def versions(self, path):
        """Number of versions in a history (instance, type or system)."""
        entries, _ = history_all(self.server, path + ("&" if "?" in path else "?") + "_count=1000")
        return len(entries)

    def get(self, path):
        return self.fetch("GET", path)

    def assertLocation(self, r, rtype, rid, vid):
        loc = r.header("location") or r.header("content-location")
        self.assertIsNotNone(loc, self.describe(r))
        self.assertTrue(loc.endswith("/%s/%s/_history/%s" % (rtype, rid, vid)), loc)
        self.assertEtag(r, vid)


class TestConditionalCreate(CondCase):
    def test_no_match_creates(self):
        before = self.versions("Patient/_history")
        r = self.cond_create(patient(family="CcNew", identifier=[ident("cc-new")]), "identifier=%s|cc-new" % S)
        self.assertStatus(r, 201)
        pid = r.json["id"]
        self.assertEqual(r.json["meta"]["versionId"], "1")
        self.assertEqual(r.json["identifier"], [ident("cc-new")])
        self.assertLocation(r, "Patient", pid, 1)
        self.assertEqual(self.versions("Patient/_history"), before + 1)
        self.assertEqual(self.get("Patient/" + pid).json, r.json)

    def test_one_match_returns_existing(self):
        existing = self.make(patient(family="CcOne", identifier=[ident("cc-one")])).json
        before = self.versions("_history")
        r = self.cond_create(patient(family="CcOther", identifier=[ident("cc-one")]), "identifier=%s|cc-one" % S)
        self.assertStatus(r, 200)
        self.assertEqual(r.json, existing)
        self.assertLocation(r, "Patient", existing["id"], 1)
        self.assertEqual(self.versions("_history"), before, "a matched conditional create wrote a version")
        self.assertEqual(self.get("Patient/" + existing["id"]).json, existing)

    def test_one_match_after_updates(self):
        """The match is answered with its current version."""
        existing = self.make(patient(family="CcUpd", identifier=[ident("cc-upd")])).json
        pid = existing["id"]
        u = self.fetch("PUT", "Patient/" + pid, patient(family="CcUpd2", id=pid, identifier=[ident("cc-upd")]))
        self.assertStatus(u, 200)
        r = self.cond_create(patient(identifier=[ident("cc-upd")]), "identifier=%s|cc-upd" % S)
        self.assertStatus(r, 200)
        self.assertEqual(r.json, u.json)
        self.assertLocation(r, "Patient", pid, 2)

    def test_two_matches_412(self):
        for fam in ("CcTwoA", "CcTwoB"):
            self.make(patient(family=fam, identifier=[ident("cc-two")]))
        before = self.versions("_history")
        r = self.cond_create(patient(identifier=[ident("cc-two")]), "identifier=%s|cc-two" % S)
        self.assertOutcome(r, 412)
        self.assertEqual(self.versions("_history"), before)

    def test_value_only_any_system(self):
        existing = self.make(patient(identifier=[ident("cc-anysys-77", "http://example.org/other-system")])).json
        r = self.cond_create(patient(), "identifier=cc-anysys-77")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["id"], existing["id"])

    def test_id(self):
        self.assertStatus(self.fetch("PUT", "Patient/cc-abc", patient(id="cc-abc")), 201)
        before = self.versions("_history")
        r = self.cond_create(patient(family="CcIdOther"), "_id=cc-abc")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["id"], "cc-abc")
        self.assertEqual(self.versions("_history"), before)
        r = self.cond_create(patient(family="CcIdNone"), "_id=cc-none")
        self.assertStatus(r, 201)
        self.assertEqual(r.json["name"][0]["family"], "CcIdNone")

    def test_id_and_identifier_are_anded(self):
        existing = self.make(patient(identifier=[ident("cc-and")])).json
        r = self.cond_create(patient(), "_id=%s&identifier=%s|cc-and" % (existing["id"], S))
        self.assertStatus(r, 200)
        self.assertEqual(r.json["id"], existing["id"])
        r = self.cond_create(patient(family="CcAndNew"), "_id=%s&identifier=%s|cc-and-other" % (existing["id"], S))
        self.assertStatus(r, 201)
        self.assertNotEqual(r.json["id"], existing["id"])

    def test_percent_encoded_criteria(self):
        existing = self.make(patient(identifier=[ident("cc enc 1")])).json
        r = self.cond_create(patient(), "identifier=%s" % q("%s|cc enc 1" % S))
        self.assertStatus(r, 200)
        self.assertEqual(r.json["id"], existing["id"])

    def test_deleted_does_not_match(self):
        gone = self.make(patient(identifier=[ident("cc-del")])).json
        self.assertStatus(self.fetch("DELETE", "Patient/" + gone["id"]), 204)
        r = self.cond_create(patient(family="CcDelNew", identifier=[ident("cc-del")]), "identifier=%s|cc-del" % S)
        self.assertStatus(r, 201)
        self.assertNotEqual(r.json["id"], gone["id"])

    def test_only_current_version_matches(self):
        p = self.make(patient(identifier=[ident("cc-old")])).json
        pid = p["id"]
        self.assertStatus(self.fetch("PUT", "Patient/" + pid, patient(id=pid, identifier=[ident("cc-new2")])), 200)
        r = self.cond_create(patient(family="CcOldNew"), "identifier=%s|cc-old" % S)
        self.assertStatus(r, 201)
        self.assertNotEqual(r.json["id"], pid)
        r = self.cond_create(patient(), "identifier=%s|cc-new2" % S)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["id"], pid)
        self.assertEqual(r.json["meta"]["versionId"], "2")
        # an update that removes the identifier altogether
        self.assertStatus(self.fetch("PUT", "Patient/" + pid, patient(id=pid)), 200)
        r = self.cond_create(patient(family="CcGoneNew"), "identifier=%s|cc-new2" % S)
        self.assertStatus(r, 201)
        self.assertNotEqual(r.json["id"], pid)

    def test_other_types_do_not_match(self):
        self.make(observation(identifier=[ident("cc-obs")]))
        r = self.cond_create(patient(family="CcObs"), "identifier=%s|cc-obs" % S)
        self.assertStatus(r, 201)

    def test_unsupported_parameter_400(self):
        # criteria are a search (http.html#ccreate); one the server would
        # ignore could match too much, so unknown parameters are refused
        self.make(patient(family="CcName", identifier=[ident("cc-name")]))
        before = self.versions("_history")
        for crit in ("foo=bar", "family=CcName&foo=bar", "_text=x", "birthdate=notadate"):
            with self.subTest(criteria=crit):
                self.assertOutcome(self.cond_create(patient(), crit), 400)
        self.assertEqual(self.versions("_history"), before)

    def test_any_search_parameter(self):
        # since the search issue, every search parameter is a criterion
        p = self.make(patient(family="CcAny", identifier=[ident("cc-any")])).json
        before = self.versions("_history")
        for crit in ("family=CcAny", "name=ccany", "family=CcAny&gender=male",
                     "identifier=%s|cc-any&family=CcAny" % S):
            with self.subTest(criteria=crit):
                r = self.cond_create(patient(), crit)
                self.assertStatus(r, 200)
                self.assertEqual(r.json["id"], p["id"])
        self.assertEqual(self.versions("_history"), before)
        # criteria that match nothing create
        self.assertStatus(self.cond_create(patient(family="CcAny"), "family=CcAny&gender=female"), 201)

    def test_capability(self):
        r = self.get("metadata")
        self.assertStatus(r, 200)
        resources = r.json["rest"][0]["resource"]
        self.assertTrue(any(x["type"] == "Patient" for x in resources))
        wrong = [(x["type"], x.get("conditionalCreate"), x.get("conditionalUpdate"), x.get("conditionalDelete"))
                 for x in resources
                 if (x.get("conditionalCreate"), x.get("conditionalUpdate"), x.get("conditionalDelete"))
                 != (True, True, "single")]
        self.assertEqual(wrong[:5], [], "%d types without conditionalCreate/Update true, "
                                        "conditionalDelete single" % len(wrong))


class TestConditionalUpdate(CondCase):
    def test_no_match_creates_with_server_id(self):
        r = self.cond_update(patient(family="CuNew", identifier=[ident("cu-new")]), "identifier=%s|cu-new" % S)
        self.assertStatus(r, 201)
        pid = r.json["id"]
        self.assertEqual(r.json["meta"]["versionId"], "1")
        self.assertLocation(r, "Patient", pid, 1)
        self.assertEqual(self.get("Patient/" + pid).json, r.json)

    def test_no_match_creates_with_body_id(self):
        r = self.cond_update(patient(id="cu-body-id", identifier=[ident("cu-bid")]), "identifier=%s|cu-bid" % S)
        self.assertStatus(r, 201)
        self.assertEqual(r.json["id"], "cu-body-id")
        self.assertLocation(r, "Patient", "cu-body-id", 1)
        self.assertStatus(self.get("Patient/cu-body-id"), 200)

    def test_one_match_updates(self):
        p = self.make(patient(family="CuOne", identifier=[ident("cu-one")])).json
        pid = p["id"]
        r = self.cond_update(patient(family="CuOne2", identifier=[ident("cu-one")]), "identifier=%s|cu-one" % S)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["id"], pid)
        self.assertEqual(r.json["meta"]["versionId"], "2")
        self.assertEqual(r.json["name"][0]["family"], "CuOne2")
        self.assertEtag(r, 2)
        self.assertEqual(self.get("Patient/" + pid).json, r.json)
        self.assertEqual(self.versions("Patient/%s/_history" % pid), 2)
        # the body may name the matched id
        r = self.cond_update(patient(id=pid, family="CuOne3", identifier=[ident("cu-one")]),
                             "identifier=%s|cu-one" % S)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["meta"]["versionId"], "3")

    def test_one_match_by_id(self):
        self.assertStatus(self.fetch("PUT", "Patient/cu-byid", patient(id="cu-byid")), 201)
        r = self.cond_update(patient(family="CuById2"), "_id=cu-byid")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["id"], "cu-byid")
        self.assertEqual(r.json["meta"]["versionId"], "2")

    def test_one_match_other_body_id_400(self):
        p = self.make(patient(family="CuMis", identifier=[ident("cu-mis")])).json
        r = self.cond_update(patient(id="cu-someone-else", family="CuMis2", identifier=[ident("cu-mis")]),
                             "identifier=%s|cu-mis" % S)
        self.assertOutcome(r, 400)
        self.assertEqual(self.get("Patient/" + p["id"]).json, p)
        self.assertStatus(self.get("Patient/cu-someone-else"), 404)

    def test_two_matches_412(self):
        ps = [self.make(patient(family=f, identifier=[ident("cu-two")])).json for f in ("CuTwoA", "CuTwoB")]
        before = self.versions("_history")
        r = self.cond_update(patient(family="CuTwoX", identifier=[ident("cu-two")]), "identifier=%s|cu-two" % S)
        self.assertOutcome(r, 412)
        self.assertEqual(self.versions("_history"), before)
        for p in ps:
            self.assertEqual(self.get("Patient/" + p["id"]).json, p)

    def test_changed_identifier_no_longer_matches(self):
        p = self.make(patient(identifier=[ident("cu-old")])).json
        r = self.cond_update(patient(identifier=[ident("cu-changed")]), "identifier=%s|cu-old" % S)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["id"], p["id"])
        r = self.cond_update(patient(family="CuOldAgain", identifier=[ident("cu-old")]), "identifier=%s|cu-old" % S)
        self.assertStatus(r, 201)
        self.assertNotEqual(r.json["id"], p["id"])

    def test_deleted_not_matched(self):
        p = self.make(patient(identifier=[ident("cu-del")])).json
        self.assertStatus(self.fetch("DELETE", "Patient/" + p["id"]), 204)
        r = self.cond_update(patient(family="CuDelNew", identifier=[ident("cu-del")]), "identifier=%s|cu-del" % S)
        self.assertStatus(r, 201)
        self.assertNotEqual(r.json["id"], p["id"])
        self.assertStatus(self.get("Patient/" + p["id"]), 410)

    def test_invalid_body_422(self):
        p = self.make(patient(identifier=[ident("cu-inv")])).json
        r = self.cond_update(patient(foo=1, identifier=[ident("cu-inv")]), "identifier=%s|cu-inv" % S)
        self.assertOutcome(r, 422)
        self.assertEqual(self.get("Patient/" + p["id"]).json, p)

    def test_unsupported_parameter_400(self):
        before = self.versions("_history")
        for query in ("foo=bar", "identifier=%s|cu-x&foo=x" % S, "_count=1"):
            with self.subTest(query=query):
                self.assertOutcome(self.cond_update(patient(), query), 400)
        self.assertEqual(self.versions("_history"), before)


class TestConditionalDelete(CondCase):
    def test_no_match(self):
        before = self.versions("_history")
        r = self.cond_delete("Patient", "identifier=%s|cd-none" % S)
        self.assertStatus(r, (204, 404))
        self.assertEqual(self.versions("_history"), before)

    def test_one_match(self):
        keep = self.make(patient(identifier=[ident("cd-keep")])).json
        p = self.make(patient(identifier=[ident("cd-one")])).json
        r = self.cond_delete("Patient", "identifier=%s|cd-one" % S)
        self.assertStatus(r, 204)
        self.assertOutcome(self.get("Patient/" + p["id"]), 410)
        self.assertEqual(self.get("Patient/" + keep["id"]).json, keep)
        # now nothing matches: no further version is written
        before = self.versions("_history")
        self.assertStatus(self.cond_delete("Patient", "identifier=%s|cd-one" % S), (204, 404))
        self.assertEqual(self.versions("_history"), before)

    def test_by_id(self):
        self.assertStatus(self.fetch("PUT", "Patient/cd-byid", patient(id="cd-byid")), 201)
        self.assertStatus(self.cond_delete("Patient", "_id=cd-byid"), 204)
        self.assertStatus(self.get("Patient/cd-byid"), 410)

    def test_two_matches_412(self):
        ps = [self.make(patient(family=f, identifier=[ident("cd-two")])).json for f in ("CdTwoA", "CdTwoB")]
        before = self.versions("_history")
        self.assertOutcome(self.cond_delete("Patient", "identifier=%s|cd-two" % S), 412)
        self.assertEqual(self.versions("_history"), before)
        for p in ps:
            self.assertEqual(self.get("Patient/" + p["id"]).json, p)

    def test_deleted_do_not_count(self):
        a = self.make(patient(identifier=[ident("cd-half")])).json
        b = self.make(patient(identifier=[ident("cd-half")])).json
        self.assertStatus(self.fetch("DELETE", "Patient/" + a["id"]), 204)
        self.assertStatus(self.cond_delete("Patient", "identifier=%s|cd-half" % S), 204)
        self.assertStatus(self.get("Patient/" + b["id"]), 410)

    def test_other_types_untouched(self):
        o = self.make(observation(identifier=[ident("cd-obs")])).json
        self.assertStatus(self.cond_delete("Patient", "identifier=%s|cd-obs" % S), (204, 404))
        self.assertEqual(self.get("Observation/" + o["id"]).json, o)

    def test_unsupported_parameter_400(self):
        p = self.make(patient(family="CdName", identifier=[ident("cd-name")])).json
        for query in ("foo=CdName", "identifier=%s|cd-name&foo=CdName" % S, "name:nosuchmodifier=x"):
            with self.subTest(query=query):
                self.assertOutcome(self.cond_delete("Patient", query), 400)
        self.assertEqual(self.get("Patient/" + p["id"]).json, p)
        # a search parameter other than identifier selects too
        self.assertStatus(self.cond_delete("Patient", "family=CdName"), 204)
        self.assertOutcome(self.get("Patient/" + p["id"]), 410)


class TestConditionalDeleteMultiple(CondCase):
    SERVER_ARGS = ("--conditional-delete-multiple",)

    def test_deletes_all_matches(self):
        ps = [self.make(patient(identifier=[ident("cdm")])).json for _ in range(3)]
        other = self.make(patient(identifier=[ident("cdm-other")])).json
        self.assertStatus(self.cond_delete("Patient", "identifier=%s|cdm" % S), 204)
        for p in ps:
            self.assertOutcome(self.get("Patient/" + p["id"]), 410)
        self.assertEqual(self.get("Patient/" + other["id"]).json, other)

    def test_single_match_still_works(self):
        p = self.make(patient(identifier=[ident("cdm-one")])).json
        self.assertStatus(self.cond_delete("Patient", "identifier=%s|cdm-one" % S), 204)
        self.assertStatus(self.get("Patient/" + p["id"]), 410)

    def test_capability(self):
        r = self.get("metadata")
        self.assertStatus(r, 200)
        resources = r.json["rest"][0]["resource"]
        self.assertTrue(any(x["type"] == "Patient" for x in resources))
        wrong = [(x["type"], x.get("conditionalDelete")) for x in resources if x.get("conditionalDelete") != "multiple"]
        self.assertEqual(wrong[:5], [], "%d types without conditionalDelete multiple" % len(wrong))


class TestIdentifierMatching(CondCase):
    """The four token forms, probed with conditional creates whose bodies carry
    no identifier (so a probe that creates cannot change later matches)."""

    S1 = "http://example.org/im/one"
    S2 = "http://example.org/im/two"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ids = {}
        for key, idents in (("p1", [ident("im-v1", cls.S1)]),
                            ("p2", [ident("im-v1", None)]),
                            ("p3", [ident("im-v1", cls.S2)]),
                            ("p4", [ident("im-v2", cls.S1)]),
                            ("p5", [ident("im-a", "http://example.org/im/five"),
                                    ident("im-b", "http://example.org/im/five")])):
            r = cls.server.request("POST", "Patient", patient(identifier=idents), fresh=True)
            assert r.status == 201, r.body
            cls.ids[key] = r.json["id"]

    def probe(self, criteria):
        """'none' (created), the matched key, or 'many' (412)."""
        r = self.cond_create(patient(family="Probe"), criteria)
        if r.status == 201:
            return "none"
        if r.status == 412:
            self.assertOutcome(r, 412)
            return "many"
        self.assertStatus(r, 200)
        for k, v in self.ids.items():
            if r.json["id"] == v:
                return k
        self.fail("matched an unexpected resource: %s" % self.describe(r))

    def test_forms(self):
        cases = [
            ("identifier=%s|im-v1" % self.S1, "p1"),          # system and value
            ("identifier=%s|im-v1" % self.S2, "p3"),
            ("identifier=im-v1", "many"),                        # any system: p1, p2, p3
            ("identifier=im-v2", "p4"),
            ("identifier=|im-v1", "p2"),                         # no system only
            ("identifier=|im-v2", "none"),
            ("identifier=%s|" % self.S1, "many"),               # any value in S1: p1, p4
            ("identifier=%s|" % self.S2, "p3"),
            ("identifier=http://example.org/im/none|", "none"),
            ("identifier=http://example.org/im/five|im-b", "p5"),  # any of several identifiers
            ("identifier=http://example.org/im/five|", "p5"),
            ("identifier=%s|im-v2" % self.S2, "none"),           # system and value of different identifiers
            ("identifier=%s|im-v" % self.S1, "none"),            # exact value, no prefix match
            ("identifier=http://example.org/im|im-v1", "none"),   # exact system, no prefix match
        ]
        for criteria, want in cases:
            with self.subTest(criteria=criteria):
                self.assertEqual(self.probe(criteria), want)


class TestConditionalRaces(CondCase):
    """The match and the write are one step: concurrent conditional writes with the
    same criteria never create two resources."""
    THREADS = 8

    def race(self, send):
        results = []
        lock = threading.Lock()
        start = threading.Barrier(self.THREADS)

        def worker(t):
            start.wait(30)
            r = send(t)
            with lock:
                results.append((r.status, r.json.get("id") if isinstance(r.json, dict) else None, r.body[:300]))

        run_threads(self.THREADS, worker)
        return results

    def test_concurrent_conditional_creates(self):
        crit = "identifier=%s|race-create" % S
        results = self.race(lambda t: request(self.server, "POST", "Patient",
                                              patient(family="Race%d" % t, identifier=[ident("race-create")]),
                                              {"If-None-Exist": crit}))
        statuses = sorted(st for st, _, _ in results)
        self.assertEqual(statuses, [200] * (self.THREADS - 1) + [201], results)
        self.assertEqual(len({i for _, i, _ in results}), 1, results)
        r = self.cond_create(patient(), crit)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["meta"]["versionId"], "1")

    def test_concurrent_conditional_updates(self):
        crit = "identifier=%s|race-update" % S
        results = self.race(lambda t: request(self.server, "PUT", "Patient?" + crit,
                                              patient(family="Race%d" % t, identifier=[ident("race-update")])))
        statuses = sorted(st for st, _, _ in results)
        self.assertEqual(statuses, [200] * (self.THREADS - 1) + [201], results)
        ids = {i for _, i, _ in results}
        self.assertEqual(len(ids), 1, results)
        pid = ids.pop()
        self.assertEqual(self.get("Patient/" + pid).json["meta"]["versionId"], str(self.THREADS))
