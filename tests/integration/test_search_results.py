"""The searchset itself (hl7.org/fhir/R4/search.html#return and the result
parameters): _include (incl. :iterate, [type]:*, target types), _revinclude
(Provenance:target as US Core asks), entry.search.mode match/include, every
resource once; _sort (asc/desc, several keys, stable); _count, page_max and
paging (next links followed to the end give every match exactly once, also
while writes happen; previous links; a tampered _cursor is a 400);
_total=accurate and _summary=count (Bundle.total counts matches only);
_summary=true/text/data/false and _elements (SUBSETTED tag, never stored);
POST [type]/_search (form body, also with URL parameters) = GET; system-level
search with _type.

Data: the Inferno Bundles (names as in test_search_common.py) plus the small
fixtures below. Expected sets come from the data (see the comments), never
from a server's answer. The server runs with --page-max 100.
"""
from itutil import link, query_params, with_params
from test_search_common import (SearchCase, delete, has_subsetted, inferno_subject_names, load_inferno, put_all,
                                stop_shared)


def S(names):
    return set(names.split())


def tearDownModule():
    stop_shared(__name__)


SORT_TAG = {"system": "urn:sort", "code": "s"}


def sort_patient(rid, family, given, birth, gender):
    return {"resourceType": "Patient", "id": rid, "meta": {"tag": [SORT_TAG]},
            "name": [{"family": family, "given": [given]}], "birthDate": birth, "gender": gender}


# PUT in this order: _lastUpdated order is s-3, s-1, s-5, s-2, s-4.
SORT_PATIENTS = [
    sort_patient("s-3", "Baker", "Xena", "1992-11-30", "female"),
    sort_patient("s-1", "Adams", "Zoe", "1990-03-01", "female"),
    sort_patient("s-5", "Davis", "Vera", "1970-01-01", "female"),
    sort_patient("s-2", "Baker", "Yann", "1985-07-15", "male"),
    sort_patient("s-4", "Clark", "Will", "1985-07-15", "male"),
]
# An include chain: r-obs -> r-pt -> r-org1 -> r-org2; r-obs -> r-enc, r-pr, r-pr-gone (deleted).
INCLUDE_FIXTURES = [
    {"resourceType": "Organization", "id": "r-org2", "name": "Root Org"},
    {"resourceType": "Organization", "id": "r-org1", "name": "Child Org",
     "partOf": {"reference": "Organization/r-org2"}},
    {"resourceType": "Patient", "id": "r-pt", "name": [{"family": "Iterate"}],
     "managingOrganization": {"reference": "Organization/r-org1"}},
    {"resourceType": "Practitioner", "id": "r-pr", "name": [{"family": "Performer"}]},
    {"resourceType": "Practitioner", "id": "r-pr-gone", "name": [{"family": "Gone"}]},
    {"resourceType": "Encounter", "id": "r-enc", "status": "finished",
     "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
     "subject": {"reference": "Patient/r-pt"}},
    {"resourceType": "Observation", "id": "r-obs", "status": "final",
     "code": {"coding": [{"system": "urn:test:r", "code": "r"}]},
     "subject": {"reference": "Patient/r-pt"}, "encounter": {"reference": "Encounter/r-enc"},
     "performer": [{"reference": "Practitioner/r-pr"}, {"reference": "Practitioner/r-pr-gone"}]},
]
PATIENT_SUMMARY = {"resourceType", "id", "meta", "implicitRules", "identifier", "active", "name", "telecom", "gender",
                   "birthDate", "deceasedBoolean", "deceasedDateTime", "address", "managingOrganization", "link"}
OBSERVATION_SUMMARY = {"resourceType", "id", "meta", "implicitRules", "identifier", "basedOn", "partOf", "status",
                       "code", "subject", "focus", "encounter", "effectiveDateTime", "effectivePeriod",
                       "effectiveTiming", "effectiveInstant", "issued", "performer", "valueQuantity",
                       "valueCodeableConcept", "valueString", "valueBoolean", "valueInteger", "valueRange",
                       "valueRatio", "valueSampledData", "valueTime", "valueDateTime", "valuePeriod", "hasMember",
                       "derivedFrom", "component"}


class ResultsCase(SearchCase):
    SERVER_ARGS = ("--page-max", "100")

    @classmethod
    def populate(cls, server, names, state):
        load_inferno(server, names)
        put_all(server, SORT_PATIENTS + INCLUDE_FIXTURES)
        delete(server, "Practitioner/r-pr-gone")

    def includes(self, query):
        """(match names, include "Type/name"s) over all pages of query. An included
        resource may come again on a later page (it is included for that page's
        matches), but never twice on one page, nor as both match and include."""
        entries, pages = self.search_all(query)
        included = set()
        for p in pages:
            page_inc = self.names_of(p.get("entry") or [], mode="include", typed=True)
            page_match = self.names_of(p.get("entry") or [], typed=True)
            self.assertEqual(page_inc & page_match, set(), "both match and include on one page")
            included |= page_inc
        return self.names_of(entries), included

    def assertIncludes(self, query, matches, included):
        got_m, got_i = self.includes(query)
        self.assertSameSet(got_m, matches, query + " (matches)")
        self.assertSameSet(got_i, included, query + " (includes)")


class TestInclude(ResultsCase):
    MR_ACTIVE = "MedicationRequest?patient=85&intent=order&status=active"   # 3722c630 and c98ce29f

    def test_include(self):
        m = S("3722c630 c98ce29f")
        cases = [
            # US Core: MedicationRequest:medication; only 3722c630 has a medicationReference
            (self.MR_ACTIVE + "&_include=MedicationRequest:medication", m, {"Medication/58f7a300"}),
            (self.MR_ACTIVE + "&_include=MedicationRequest:patient", m, {"Patient/85"}),   # once, for both
            (self.MR_ACTIVE + "&_include=MedicationRequest:medication&_include=MedicationRequest:encounter", m,
             {"Medication/58f7a300", "Encounter/73d083ce", "Encounter/6ddb7da9"}),
            # every reference search parameter; reasonReference (Condition/543a4968) has none
            (self.MR_ACTIVE + "&_include=MedicationRequest:*", m,
             {"Medication/58f7a300", "Patient/85", "Encounter/73d083ce", "Encounter/6ddb7da9",
              "Practitioner/8bee2ee3", "Practitioner/c38e2d6b"}),
            (self.MR_ACTIVE + "&_include=MedicationRequest:requester:Practitioner", m,
             {"Practitioner/8bee2ee3", "Practitioner/c38e2d6b"}),
            ("MedicationDispense?patient=85&_include=MedicationDispense:medication", S("1bc16d93 17991da0"),
             {"Medication/58f7a300"}),
            ("PractitionerRole?specialty=http://nucc.org/provider-taxonomy|208D00000X"
             "&practitioner={Practitioner/c38e2d6b}&_include=PractitionerRole:practitioner",
             S("9482b2d2"), {"Practitioner/c38e2d6b"}),
            # US Core PractitionerRole:endpoint; 9482b2d2's endpoint is contained ("#endpoint"): nothing to include
            ("PractitionerRole?practitioner={Practitioner/8bee2ee3}&_include=PractitionerRole:endpoint",
             S("8e81b028"), {"Endpoint/f85b5cca"}),
            ("PractitionerRole?_id={PractitionerRole/9482b2d2}&_include=PractitionerRole:endpoint", S("9482b2d2"),
             set()),
            # US Core CareTeam:participant:[type]; 6edb0666 has members Patient/85, Practitioner/8bee2ee3,
            # Organization/b0e04623 and RelatedPerson/4c5dbb9f
            ("CareTeam?patient=85&status=active&_include=CareTeam:participant:Practitioner", S("6edb0666"),
             {"Practitioner/8bee2ee3"}),
            ("CareTeam?patient=85&status=active&_include=CareTeam:participant:Patient", S("6edb0666"), {"Patient/85"}),
            ("CareTeam?patient=85&status=active&_include=CareTeam:participant:RelatedPerson", S("6edb0666"),
             {"RelatedPerson/4c5dbb9f"}),
            ("CareTeam?patient=85&status=active&_include=CareTeam:participant:PractitionerRole", S("6edb0666"), set()),
            ("CareTeam?patient=85&status=active&_include=CareTeam:participant", S("6edb0666"),
             {"Patient/85", "Practitioner/8bee2ee3", "Organization/b0e04623", "RelatedPerson/4c5dbb9f"}),
            ("Observation?_id=r-obs&_include=Observation:patient", {"r-obs"}, {"Patient/r-pt"}),
            # the deleted r-pr-gone is not included
            ("Observation?_id=r-obs&_include=Observation:performer", {"r-obs"}, {"Practitioner/r-pr"}),
            ("Observation?_id=r-obs&_include=Observation:performer:Practitioner", {"r-obs"}, {"Practitioner/r-pr"}),
            ("Observation?_id=r-obs&_include=Observation:subject:Group", {"r-obs"}, set()),
            ("Observation?_id=r-obs&_include=Observation:*", {"r-obs"},
             {"Patient/r-pt", "Encounter/r-enc", "Practitioner/r-pr"}),
            # :iterate follows the included resources too (search.html#revinclude)
            ("Observation?_id=r-obs&_include=Observation:patient&_include:iterate=Patient:organization", {"r-obs"},
             {"Patient/r-pt", "Organization/r-org1"}),
            ("Observation?_id=r-obs&_include=Observation:patient&_include:iterate=Patient:organization"
             "&_include:iterate=Organization:partof", {"r-obs"},
             {"Patient/r-pt", "Organization/r-org1", "Organization/r-org2"}),
            # a resource that matches is not repeated as an include
            ("Organization?_id=r-org1,r-org2&_include=Organization:partof", {"r-org1", "r-org2"}, set()),
            ("Patient?_id=r-pt&_revinclude=Observation:subject", {"r-pt"}, {"Observation/r-obs"}),
            ("Patient?_id=r-pt&_revinclude=Observation:subject&_revinclude=Encounter:subject", {"r-pt"},
             {"Observation/r-obs", "Encounter/r-enc"}),
            ("Organization?_id=r-org2&_revinclude=Organization:partof&_revinclude:iterate=Patient:organization",
             {"r-org2"}, {"Organization/r-org1", "Patient/r-pt"}),
            # US Core: _revinclude=Provenance:target. 6368d1b9 targets every resource of Bundle 85
            # except itself and Observations f7940ba2 and 55705842
            ("Patient?_id=85&_revinclude=Provenance:target", {"85"}, {"Provenance/6368d1b9"}),
            ("Patient?_id=355&_revinclude=Provenance:target", {"355"}, {"Provenance/85807868"}),
            ("Observation?_id={Observation/f7940ba2}&_revinclude=Provenance:target", {"f7940ba2"}, set()),
            ("Observation?patient=85&code=http://loinc.org|2708-6&_revinclude=Provenance:target",
             S("f7940ba2 55705842 32ef1af4 1800b219"), {"Provenance/6368d1b9"}),
            (self.MR_ACTIVE + "&_include=MedicationRequest:medication&_revinclude=Provenance:target", m,
             {"Medication/58f7a300", "Provenance/6368d1b9"}),
        ]
        for query, matches, included in cases:
            with self.subTest(query=query):
                self.assertIncludes(query, matches, included)

    def test_modes(self):
        """matches are mode "match", included resources "include"."""
        b = self.get_bundle(self.MR_ACTIVE + "&_include=MedicationRequest:medication")
        modes = {(e["resource"]["resourceType"], e["search"]["mode"]) for e in b.get("entry") or []}
        self.assertEqual(modes, {("MedicationRequest", "match"), ("Medication", "include")})

    def test_include_not_counted_in_total(self):
        b = self.get_bundle(self.MR_ACTIVE + "&_include=MedicationRequest:*&_total=accurate")
        self.assertEqual(b.get("total"), 2)


class TestSort(ResultsCase):
    """_sort (search.html#sort): comma-separated keys, "-" for descending.
    s-1 Adams 1990-03-01 F, s-2 Baker 1985-07-15 M, s-3 Baker 1992-11-30 F,
    s-4 Clark 1985-07-15 M, s-5 Davis 1970-01-01 F; written s-3, s-1, s-5, s-2, s-4."""
    T = "Patient?_tag=urn:sort|s"

    CASES = [
        ("&_sort=family,-birthdate", ["s-1", "s-3", "s-2", "s-4", "s-5"]),
        ("&_sort=-family,birthdate", ["s-5", "s-4", "s-2", "s-3", "s-1"]),
        ("&_sort=birthdate,family", ["s-5", "s-2", "s-4", "s-1", "s-3"]),
        ("&_sort=-birthdate,-family", ["s-3", "s-1", "s-4", "s-2", "s-5"]),
        ("&_sort=gender,-birthdate,family", ["s-3", "s-1", "s-5", "s-2", "s-4"]),
        ("&_sort=_id", ["s-1", "s-2", "s-3", "s-4", "s-5"]),
        ("&_sort=-_id", ["s-5", "s-4", "s-3", "s-2", "s-1"]),
        ("&_sort=_lastUpdated", ["s-3", "s-1", "s-5", "s-2", "s-4"]),
        ("&_sort=-_lastUpdated", ["s-4", "s-2", "s-5", "s-1", "s-3"]),
        ("&_sort=birthdate,family&_count=2", ["s-5", "s-2", "s-4", "s-1", "s-3"]),   # across pages
        ("&_sort=-family,birthdate&_count=1", ["s-5", "s-4", "s-2", "s-3", "s-1"]),
    ]

    def test_sort(self):
        for suffix, want in self.CASES:
            with self.subTest(query=self.T + suffix):
                entries, _ = self.search_all(self.T + suffix)
                self.assertEqual(self.ordered(entries), want)

    def test_ties_are_stable(self):
        """s-2 and s-4 share a birth date: either order, but always the same one,
        whatever the page size."""
        orders = []
        for count in (10, 3, 1, 10):
            entries, _ = self.search_all(self.T + "&_sort=birthdate&_count=%d" % count)
            orders.append(self.ordered(entries))
        first = orders[0]
        self.assertEqual(first[0], "s-5")
        self.assertEqual(set(first[1:3]), {"s-2", "s-4"})
        self.assertEqual(first[3:], ["s-1", "s-3"])
        for o in orders[1:]:
            self.assertEqual(o, first)

    def test_sort_on_inferno(self):
        # Immunizations of 85 by occurrenceDateTime: 1977-05-13, 1976-05-07, 1975-05-02, 1974-04-26, 1971-06-11 ...
        b = self.get_bundle("Immunization?patient=85&_sort=-date&_count=5")
        self.assertEqual(self.ordered(b["entry"]), ["47971697", "69851d3f", "b8941bd9", "6c01ed22", "f68553f2"])
        self.assertTrue(link(b, "next"))
        # ... and the oldest: 1945-03-09, 1946-03-15, 1950-04-07
        b = self.get_bundle("Immunization?patient=85&_sort=date&_count=3")
        self.assertEqual(self.ordered(b["entry"]), ["5fcf5168", "630c3981", "f8a1ed77"])
        # all 20, descending, over pages of 6
        entries, pages = self.search_all("Immunization?patient=85&_sort=-date&_count=6")
        self.assertEqual(len(pages), 4)
        self.assertEqual(self.ordered(entries)[:5], ["47971697", "69851d3f", "b8941bd9", "6c01ed22", "f68553f2"])
        self.assertEqual(self.ordered(entries)[-1], "5fcf5168")
        self.assertEqual(set(self.ordered(entries)), inferno_subject_names("Immunization", "85"))


class TestPaging(ResultsCase):
    OBS355 = "Observation?patient=355"     # 140 Observations

    def test_follow_next_to_the_end(self):
        want = inferno_subject_names("Observation", "355")
        self.assertEqual(len(want), 140)
        for count in (7, 20, 33, 100):
            with self.subTest(count=count):
                entries, pages = self.search_all(self.OBS355 + "&_count=%d" % count)
                got = [e for e in entries if e["search"]["mode"] == "match"]
                self.assertEqual(len(got), 140, "every match exactly once")
                self.assertSameSet(self.names_of(entries), want, "paging with _count=%d" % count)
                self.assertEqual(len(pages), -(-140 // count))
                for i, p in enumerate(pages):
                    n = len(p.get("entry") or [])
                    if i < len(pages) - 1:
                        self.assertEqual(n, count, "page %d" % i)
                        self.assertTrue(link(p, "next"))
                    else:
                        self.assertLessEqual(n, count)
                        self.assertIsNone(link(p, "next"), "last page with a next link")
                    if i == 0:
                        self.assertIsNone(link(p, "previous"), "first page with a previous link")
                    else:
                        self.assertTrue(link(p, "previous"), "page %d without a previous link" % i)

    def test_default_page_size(self):
        b = self.get_bundle(self.OBS355)
        self.assertEqual(len(b["entry"]), 20)                 # page_default
        self.assertTrue(link(b, "next"))

    def test_page_max(self):
        """_count above page_max (100 here) is capped, not refused (search.html#count)."""
        b = self.get_bundle("Observation?_count=5000")
        self.assertEqual(len(b["entry"]), 100)
        self.assertTrue(link(b, "next"))
        b = self.get_bundle(self.OBS355 + "&_count=100")
        self.assertEqual(len(b["entry"]), 100)

    def test_small_result_single_page(self):
        b = self.get_bundle("Observation?patient=85&category=laboratory")
        self.assertEqual(len(b["entry"]), 2)
        self.assertIsNone(link(b, "next"))
        self.assertIsNone(link(b, "previous"))

    def test_previous_goes_back(self):
        first = self.get_bundle(self.OBS355 + "&_count=10")
        second = self.get_page(link(first, "next"))
        back = self.get_page(link(second, "previous"))
        self.assertEqual(self.ordered(back["entry"]), self.ordered(first["entry"]))

    def test_tampered_cursor(self):
        first = self.get_bundle(self.OBS355 + "&_count=10")
        nxt = link(first, "next")
        params = query_params(nxt)
        names = [k for k, _ in params]
        self.assertIn("_cursor", names, nxt)
        for how in ("flip", "truncate", "extend", "garbage"):
            with self.subTest(how=how):
                out = []
                for k, v in params:
                    if k == "_cursor":
                        i = len(v) // 2
                        v = {"flip": v[:i] + ("A" if v[i] != "A" else "B") + v[i + 1:], "truncate": v[:i],
                             "extend": v + "AAAA", "garbage": "' OR 1=1 --"}[how]
                    out.append((k, v))
                r = self.fetch("GET", with_params(nxt, out))
                self.assertOutcome(r, 400)
        self.assertOutcome(self.fetch("GET", "Observation?patient=355&_cursor=abc"), 400)
        self.assertStatus(self.fetch("GET", nxt), 200)     # the real one still works

    def test_post_search_pages(self):
        first = self.post_search("Observation", "patient=355&_count=50")
        entries, pages = self.follow(first)
        self.assertEqual(len(pages), 3)
        self.assertSameSet(self.names_of(entries), inferno_subject_names("Observation", "355"), "POST paging")


PW_TAG = {"system": "urn:pw", "code": "p"}


class TestPagingUnderWrites(SearchCase):
    """A search paged while matching resources are created: every resource that
    matched at the first page comes exactly once; new ones at most once."""
    OWN_SERVER = True

    @classmethod
    def populate(cls, server, names, state):
        put_all(server, [{"resourceType": "Patient", "id": "pw-%02d" % i, "meta": {"tag": [PW_TAG]},
                          "name": [{"family": "Pager%02d" % i}]} for i in range(30)])

    def test_writes_between_pages(self):
        first = self.get_bundle("Patient?_tag=urn:pw|p&_count=4")
        seen = [e["resource"]["id"] for e in first["entry"]]
        nxt = link(first, "next")
        added = []
        while nxt:
            n = len(added)
            res = {"resourceType": "Patient", "id": "pw-new-%d" % n, "meta": {"tag": [PW_TAG]},
                   "name": [{"family": "Aaa%d" % n}]}
            self.assertIn(self.fetch("PUT", "Patient/" + res["id"], res).status, (200, 201))
            added.append(res["id"])
            b = self.get_page(nxt)
            seen.extend(e["resource"]["id"] for e in b.get("entry") or [])
            nxt = link(b, "next")
        old = ["pw-%02d" % i for i in range(30)]
        for rid in old:
            self.assertEqual(seen.count(rid), 1, "%s seen %d times" % (rid, seen.count(rid)))
        for rid in added:
            self.assertLessEqual(seen.count(rid), 1, rid)
        self.assertEqual(set(seen) - set(old) - set(added), set())


class TestTotalAndSummary(ResultsCase):
    def test_total(self):
        cases = [
            ("Observation?patient=85&_total=accurate", 66),
            ("Observation?patient=85&category=laboratory&_total=accurate", 2),
            ("Observation?patient=86&_total=accurate", 0),
            ("Observation?patient=85&_total=accurate&_include=Observation:patient", 66),
            ("Patient?_total=accurate", 8),                     # 85, 355, r-pt, s-1..s-5
        ]
        for query, total in cases:
            with self.subTest(query=query):
                b = self.get_bundle(query)
                self.assertEqual(b.get("total"), total)
                entries, _ = self.follow(b)
                self.assertEqual(len([e for e in entries if e["search"]["mode"] == "match"]), total)

    def test_summary_count(self):
        for query, total in (("Observation?patient=85&_summary=count", 66),
                             ("Observation?patient=85&category=laboratory&_summary=count", 2),
                             ("Condition?patient=85&category=problem-list-item&_summary=count", 0),
                             ("Encounter?patient=355&_summary=count", 129)):
            with self.subTest(query=query):
                b = self.get_bundle(query)
                self.assertEqual(b.get("total"), total)
                self.assertFalse(b.get("entry"), "_summary=count with entries")
                self.assertIsNone(link(b, "next"))

    def test_summary_true(self):
        b = self.get_bundle("Patient?_id=85&_summary=true")
        res = b["entry"][0]["resource"]
        self.assertTrue(has_subsetted(res), res.get("meta"))
        keys = {k.lstrip("_") for k in res}
        self.assertTrue(keys <= PATIENT_SUMMARY, keys - PATIENT_SUMMARY)
        self.assertTrue({"identifier", "name", "gender", "birthDate", "address"} <= keys, keys)
        for absent in ("text", "extension", "maritalStatus", "communication", "multipleBirthBoolean"):
            self.assertNotIn(absent, res)
        b = self.get_bundle("Observation?_id={Observation/b8b254a2}&_summary=true")
        res = b["entry"][0]["resource"]
        self.assertTrue(has_subsetted(res), res.get("meta"))
        self.assertTrue(set(res) <= OBSERVATION_SUMMARY, set(res) - OBSERVATION_SUMMARY)
        self.assertNotIn("category", res)        # Observation.category is not a summary element
        self.assertTrue({"status", "code", "subject", "effectiveDateTime"} <= set(res), set(res))

    def test_summary_text_and_data(self):
        full = self.fetch("GET", "Patient/85").json
        b = self.get_bundle("Patient?_id=85&_summary=text")
        res = b["entry"][0]["resource"]
        self.assertTrue(has_subsetted(res), res.get("meta"))
        self.assertTrue(set(res) <= {"resourceType", "id", "meta", "text", "implicitRules"}, set(res))
        self.assertEqual(res.get("text"), full["text"])
        b = self.get_bundle("Patient?_id=85&_summary=data")
        res = b["entry"][0]["resource"]
        self.assertTrue(has_subsetted(res), res.get("meta"))
        self.assertNotIn("text", res)
        self.assertEqual(set(res), set(full) - {"text"})
        b = self.get_bundle("Patient?_id=85&_summary=false")
        res = b["entry"][0]["resource"]
        self.assertFalse(has_subsetted(res))
        self.assertEqual(res, full)

    def test_elements(self):
        b = self.get_bundle("Patient?_id=85&_elements=gender,birthDate")
        res = b["entry"][0]["resource"]
        self.assertTrue(has_subsetted(res), res.get("meta"))
        self.assertEqual({k for k in res if not k.startswith("_")},
                         {"resourceType", "id", "meta", "gender", "birthDate"})
        self.assertEqual((res["gender"], res["birthDate"]), ("male", "1940-03-29"))
        b = self.get_bundle("Observation?patient=85&category=laboratory&_elements=status")
        for e in b["entry"]:
            res = e["resource"]
            self.assertTrue(has_subsetted(res), res.get("meta"))
            self.assertIn("status", res)
            # code is mandatory: a server SHOULD return it anyway (search.html#elements)
            self.assertTrue(set(res) <= {"resourceType", "id", "meta", "status", "code"}, set(res))

    def test_subsetted_never_stored(self):
        self.get_bundle("Patient?_id=85&_summary=true")
        self.get_bundle("Patient?_id=85&_elements=name")
        r = self.fetch("GET", "Patient/85")
        self.assertStatus(r, 200)
        self.assertFalse(has_subsetted(r.json), r.json.get("meta"))
        self.assertIn("communication", r.json)
        self.assertEqual(r.json["meta"]["versionId"], "1")


class TestPostAndSystem(ResultsCase):
    def test_post_equals_get(self):
        cases = [
            ("Observation", "patient=85&category=laboratory", ""),
            ("Observation", "category=laboratory", "patient=85"),          # URL and body parameters together
            ("Observation", "patient=85&code=http://loinc.org|2708-6,http://loinc.org|44250-9", ""),
            ("Patient", "name=Ritchie586&birthdate=1940-09-05", ""),
            ("Condition", "patient=355&category=problem-list-item,health-concern", ""),
            ("MedicationRequest", "patient=85&intent=order&status=active&_include=MedicationRequest:medication", ""),
        ]
        for rtype, form, url_q in cases:
            with self.subTest(rtype=rtype, form=form, url=url_q):
                get_q = "%s?%s" % (rtype, "&".join(x for x in (url_q, form) if x))
                g_entries, _ = self.search_all(get_q)
                p_entries, _ = self.follow(self.post_search(rtype, form, url_q))
                self.assertTrue(self.names_of(g_entries), "empty result: a weak comparison")
                self.assertSameSet(self.names_of(p_entries), self.names_of(g_entries), "POST " + form)
                self.assertSameSet(self.names_of(p_entries, "include", True), self.names_of(g_entries, "include", True),
                                   "POST includes " + form)

    def test_post_self_link_is_a_get(self):
        b = self.post_search("Observation", "patient=85&category=laboratory")
        names = [k for k, _ in query_params(link(b, "self"))]
        self.assertIn("patient", names)
        self.assertIn("category", names)
        entries, _ = self.follow(self.get_page(link(b, "self")))
        self.assertSameSet(self.names_of(entries), S("0254bd52 b8b254a2"), "self link of a POST search")

    def test_system_level(self):
        cases = [
            ("?_type=Patient,Observation&_id=85,{Observation/b8b254a2}", {"Patient/85", "Observation/b8b254a2"}),
            ("?_id=85", {"Patient/85"}),
            ("?_type=Patient&_id=85,355", {"Patient/85", "Patient/355"}),
            ("?_type=Observation&_id=85,355", set()),
            ("?_type=Patient,Observation,Encounter&_id=r-pt,r-obs,r-enc",
             {"Patient/r-pt", "Observation/r-obs", "Encounter/r-enc"}),
            ("?_type=Patient,Observation&_tag=urn:sort|s", {"Patient/s-%d" % i for i in range(1, 6)}),
            ("?_tag=urn:sort|s", {"Patient/s-%d" % i for i in range(1, 6)}),
        ]
        for query, want in cases:
            with self.subTest(query=query):
                self.assertSearch(query, want, typed=True)
        b = self.get_bundle("?_type=Patient,Observation&_id=85,r-obs&_summary=count")
        self.assertEqual(b.get("total"), 2)
        entries, _ = self.follow(self.post_search(None, "_type=Patient&_id=85,355"))
        self.assertSameSet(self.names_of(entries, typed=True), {"Patient/85", "Patient/355"}, "POST [base]/_search")

    def test_system_level_errors(self):
        self.assertRejected("?_type=NotAType&_id=1")
        self.assertRejected("?_type=Patient&_count=abc")


if __name__ == "__main__":
    import unittest
    unittest.main()
