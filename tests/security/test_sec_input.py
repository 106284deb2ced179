"""Input attacks (issue 6 "Input attacks"), against an `--auth off` server
(the parsers are the same behind `--auth smart`; the token module feeds the
same hostile JSON to the token parser).

  * SQL metacharacters ' " ; -- /* \\ % _ and NUL in every search parameter
    type (string, token, reference, date, number, quantity, uri, composite,
    _id and the result parameters) and in ids: a malformed value is 400; a
    well-formed one gives exactly the right result - `%` and `_` are literal
    characters, never wildcards - and the database is intact afterwards.
    Where the specification allows both (R4 search.html "Handling Errors":
    servers SHOULD reject syntactically incorrect values; a token or _id
    may hold any string), 400 or the correct empty result is accepted.
  * path traversal in ids and `_format`; CRLF in values that reach headers
    (and Host-header poisoning of Location and links); 100k-deep JSON; a
    100 MB body (answered 413 before it is read); duplicate JSON keys;
    invalid UTF-8 in JSON and URLs; NUL in JSON strings and keys;
    `__proto__` keys; 10,000 OR values; oversize URLs and headers; XML with
    external entities (415, and no connection to the entity's host).
"""
import unittest
import json
import select
import socket
import time
import urllib.parse

from itutil import SpecCase
from secutil import (INVALID, NOT_FOUND, NOT_SUPPORTED, TOO_BIG, TOO_COSTLY, VALIDATION, Listener, SecAsserts,
                     header_lines_well_formed, raw_request, read_raw_response, wait_quiet)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON_CT = {"Content-Type": "application/fhir+json"}
PATCH_CT = {"Content-Type": "application/json-patch+json"}

P1 = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Smith", "given": ["Ann"]}], "gender": "female",
      "birthDate": "1980-01-01", "identifier": [{"system": "urn:sys", "value": "MRN1"}]}
P2 = {"resourceType": "Patient", "id": "p2", "name": [{"family": "O'Brien", "given": ["Sean"]}], "gender": "male",
      "birthDate": "1990-05-05", "identifier": [{"system": "urn:sys", "value": "MRN2"}]}
P3 = {"resourceType": "Patient", "id": "p3", "name": [{"family": "100%_real", "given": ["Zed"]}],
      "identifier": [{"system": "urn:sys", "value": "MRN_3"}]}
O1 = {"resourceType": "Observation", "id": "o1", "status": "final",
      "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}, "subject": {"reference": "Patient/p1"},
      "effectiveDateTime": "2020-01-01",
      "valueQuantity": {"value": 72, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}
RA1 = {"resourceType": "RiskAssessment", "id": "ra1", "status": "final", "subject": {"reference": "Patient/p1"},
       "prediction": [{"probabilityDecimal": 0.5}]}
VS1 = {"resourceType": "ValueSet", "id": "vs1", "url": "http://example.org/vs/1", "status": "active"}
SEED = (P1, P2, P3, O1, RA1, VS1)
ALL_PATIENTS = {"Patient/p1", "Patient/p2", "Patient/p3"}

BAD = 400          # the value is malformed: 400
EITHER = None      # 400, or the correct (empty) result (see the module docstring)

# parameter -> [(value, expected)]: expected is a set of "Type/id", BAD or EITHER
STRING = [
    ("Smith", {"Patient/p1"}), ("'", set()), ("O'", {"Patient/p2"}), ("O'Brien", {"Patient/p2"}),
    ("o'brien", {"Patient/p2"}), ('"', set()), (";", set()), ("--", set()), ("/*", set()), ("*/", set()),
    ("\\\\", set()), ("\\", BAD), ("Smith\\", BAD), ("%", set()), ("10%", set()), ("100%", {"Patient/p3"}),
    ("100%_", {"Patient/p3"}), ("100%_r", {"Patient/p3"}), ("_", set()), ("1_0", set()), ("S_ith", set()),
    ("Sm%h", set()), ("' OR '1'='1", set()), ("' OR 1=1 --", set()), ("Smith' --", set()),
    ("Smith'; DROP TABLE resources; --", set()), ("%' OR '%'='", set()), ("Smith/*", set()),
    ("\x00", EITHER), ("Smith\x00", EITHER), ("Smith\x00' OR 1=1 --", EITHER),
]
STRING_MODIFIED = [
    ("name:contains", "%", {"Patient/p3"}), ("name:contains", "_", {"Patient/p3"}),
    ("name:contains", "'", {"Patient/p2"}), ("name:contains", "0%_r", {"Patient/p3"}),
    ("name:contains", "m_t", set()), ("name:contains", "S%h", set()), ("name:exact", "O'Brien", {"Patient/p2"}),
    ("name:exact", "100%_real", {"Patient/p3"}), ("name:exact", "100%", set()), ("name:exact", "Smit_", set()),
    ("family", "O'Brien' OR 'x'='x", set()), ("given", "%", set()), ("given", "_ed", set()),
]
TOKEN = [
    ("identifier", "urn:sys|MRN1", {"Patient/p1"}), ("identifier", "'", set()), ("identifier", "urn:sys|'", set()),
    ("identifier", "'|MRN1", set()), ("identifier", "urn:sys|MRN%", set()), ("identifier", "urn:sys|MRN_3", {"Patient/p3"}),
    ("identifier", "urn:sys|MRNX3", set()), ("identifier", "urn:sys|MRN_", set()), ("identifier", "%|MRN1", set()),
    ("identifier", "urn:sy_|MRN1", set()), ("identifier", "urn:sys|MRN1' OR '1'='1", set()),
    ("identifier", "MRN1;--", set()), ("identifier", "\\", BAD), ("identifier", "urn:sys\\|MRN1", set()),
    ("identifier", "MRN1\x00", EITHER), ("gender", "female'", set()), ("gender", "%", set()), ("gender", "_emale", set()),
    ("gender", "female' OR '1'='1", set()),
]
OBS_TOKEN = [("code", "2946%", set()), ("code", "29463_7", set()), ("code", "http://loinc.org|29463-7", {"Observation/o1"}),
             ("code", "http://loinc.org|29463-7' --", set()), ("code", "http://loinc.or_|29463-7", set())]
REFERENCE = [
    ("subject", "Patient/p1", {"Observation/o1"}), ("subject", "p1", {"Observation/o1"}), ("subject", "Patient/'", BAD),
    ("subject", "'", BAD), ("subject", "Patient/p1'", BAD), ("subject", "Patient/p%", BAD), ("subject", "Patient/p_", BAD),
    ("subject", "Patient/p1;--", BAD), ("subject", "Patient/p1' OR '1'='1", BAD), ("subject", "p1\x00", BAD),
    ("subject", "http://evil.example/Patient/'", set()), ("subject", "http://evil.example/Patient/%", set()),
    ("patient", "'", BAD), ("patient", "p%", BAD),
]
DATE = [("1980-01-01", {"Patient/p1"}), ("ge1985-01-01", {"Patient/p2"})] + [(v, BAD) for v in (
    "'", "1980-01-01'", "1980-01-01;", "1980-01-01--", "1980-01-01/*", "1980%", "1980-01-0_", "ge1980' OR '1'='1",
    "\\", "1980-01-01\x00", "1980-01-01 OR 1=1", "%27")]
NUMBER = [("0.5", {"RiskAssessment/ra1"}), ("gt0.4", {"RiskAssessment/ra1"})] + [(v, BAD) for v in (
    "'", "0.5'", "0.5;", "0.5--", "0.5 OR 1=1", "%", "_", "0x10", "NaN", "Infinity", "-Infinity", "1e", "\\",
    "0.5\x00", "gt0.4'", "0.5/*")]
QUANTITY = [
    ("72", {"Observation/o1"}), ("72|http://unitsofmeasure.org|kg", {"Observation/o1"}), ("'", BAD), ("72'", BAD),
    ("NaN", BAD), ("72;--", BAD), ("72|'|kg", set()), ("72||'", set()), ("72|%|%", set()), ("72|_|_", set()),
    ("72|http://unitsofmeasure.org|k_", set()), ("72|http://unitsofmeasure.org|%", set()),
    ("72||kg' OR '1'='1", set()),
]
URI = [
    ("url", "http://example.org/vs/1", {"ValueSet/vs1"}), ("url", "'", set()), ("url", "http://example.org/vs/%", set()),
    ("url", "http://example.org/vs/_", set()), ("url", "http://example.org/vs/1' OR '1'='1", set()),
    ("url:below", "http://example.org/vs/", {"ValueSet/vs1"}), ("url:below", "http://example.org/v_/", set()),
    ("url:below", "http://example.org/%", set()), ("url:below", "'", set()), ("url:below", "%", set()),
    ("url:below", "_", set()), ("url", "\\", BAD),
]
COMPOSITE = [
    ("http://loinc.org|29463-7$72", {"Observation/o1"}), ("'$72", set()), ("%$72", set()), ("_$72", set()),
    ("http://loinc.org|2946_-7$72", set()), ("http://loinc.org|29463-7$'", BAD), ("http://loinc.org|29463-7$72'", BAD),
    ("http://loinc.org|29463-7$72|%|%", set()), ("http://loinc.org|29463-7$72|_|_", set()),
]
IDS = [("p1", {"Patient/p1"}), ("'", EITHER), ("p%", EITHER), ("p_", EITHER), ("p1' OR '1'='1", EITHER),
       ("p1\x00", EITHER), ("p1,'", {"Patient/p1"}), ("p1;--", EITHER)]


def q(v):
    return urllib.parse.quote(v, safe="")


class InputCase(SecAsserts, SpecCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for res in SEED:
            r = cls.server.request("PUT", "%s/%s" % (res["resourceType"], res["id"]), res)
            assert r.status in (200, 201), (res["id"], r.status, r.body)

    def get(self, path, headers=None):
        return self.fetch("GET", path, headers=headers)

    def check_value(self, rtype, param, value, expected):
        r = self.get("%s?%s=%s" % (rtype, param, q(value)))
        self.check(r, rtype, expected, echoed=(value,))

    def check(self, r, rtype, expected, echoed=()):
        if expected is BAD:
            self.assertOO(r, 400, INVALID, echoed)
        elif expected is EITHER:
            if r.status == 400:
                self.assertOO(r, 400, INVALID, echoed)
            else:
                self.assertBundleIds(r, set())
        else:
            self.assertBundleIds(r, expected)

    def assertIntact(self):
        """The database is intact: every seeded resource reads back as
        written, the counts are right, a write works."""
        for res in SEED:
            r = self.get("%s/%s" % (res["resourceType"], res["id"]))
            self.assertEqual(r.status, 200, self.show(r))
            self.assertEqual(r.json["meta"]["versionId"], "1", self.show(r))
        r = self.get("Patient?_summary=count")
        self.assertEqual(r.status, 200, self.show(r))
        self.assertGreaterEqual(r.json.get("total"), 3)
        r = self.get("Patient?_id=p1,p2,p3")
        self.assertBundleIds(r, ALL_PATIENTS)


class TestSqlMetacharacters(InputCase):

    def test_string(self):
        """string: starts-with, case-insensitive; ' " ; -- /* are plain
        characters; % and _ are literal (a LIKE wildcard would make `10%`
        match "100%_real" and `S_ith` match "Smith"); a trailing lone
        backslash is malformed (docs/search.md escaping) -> 400."""
        for param in ("name", "family"):
            for value, expected in STRING:
                with self.subTest(param=param, value=value):
                    self.check_value("Patient", param, value, expected)
        for param, value, expected in STRING_MODIFIED:
            with self.subTest(param=param, value=value):
                self.check_value("Patient", param, value, expected)
        self.assertIntact()

    def test_token(self):
        """token: exact match on system and code; metacharacters literal."""
        for param, value, expected in TOKEN:
            with self.subTest(param=param, value=value):
                self.check_value("Patient", param, value, expected)
        for param, value, expected in OBS_TOKEN:
            with self.subTest(param=param, value=value):
                self.check_value("Observation", param, value, expected)
        self.assertIntact()

    def test_reference(self):
        """reference: `[type]/[id]` or `[id]` with an id that is not an id
        (R4 datatypes.html id: [A-Za-z0-9\\-\\.]{1,64}) is malformed -> 400;
        an absolute URL matches as written (docs/search.md) -> empty."""
        for param, value, expected in REFERENCE:
            with self.subTest(param=param, value=value):
                self.check_value("Observation", param, value, expected)
        self.assertIntact()

    def test_date(self):
        """date: anything that is not an R4 date/dateTime with a prefix -> 400."""
        for param, rtype in (("birthdate", "Patient"), ("date", "Observation")):
            for value, expected in DATE:
                if rtype == "Observation" and expected is not BAD:
                    continue
                with self.subTest(param=param, value=value):
                    self.check_value(rtype, param, value, expected)
        self.check_value("Observation", "date", "2020-01-01", {"Observation/o1"})
        self.assertIntact()

    def test_number(self):
        """number: an R4 decimal with an optional prefix, else 400 (NaN,
        Infinity and hex are not FHIR decimals)."""
        for value, expected in NUMBER:
            with self.subTest(value=value):
                self.check_value("RiskAssessment", "probability", value, expected)
        self.assertIntact()

    def test_quantity(self):
        """quantity: the number part must be a decimal (400); system and code
        match exactly, % and _ literal."""
        for value, expected in QUANTITY:
            with self.subTest(value=value):
                self.check_value("Observation", "value-quantity", value, expected)
        self.assertIntact()

    def test_uri(self):
        """uri: exact; `:below` a prefix match in which % and _ are literal."""
        for param, value, expected in URI:
            with self.subTest(param=param, value=value):
                self.check_value("ValueSet", param, value, expected)
        self.assertIntact()

    def test_composite(self):
        """composite (token$quantity): each component by its own rules."""
        for value, expected in COMPOSITE:
            with self.subTest(value=value):
                self.check_value("Observation", "code-value-quantity", value, expected)
        self.assertIntact()

    def test_id_and_special(self):
        """`_id` (400, or no match), `_lastUpdated` (a date: 400), `_tag`,
        `_profile`, `_source` (token/uri: literal, no match)."""
        for value, expected in IDS:
            with self.subTest(param="_id", value=value):
                self.check_value("Patient", "_id", value, expected)
        for param, value, expected in (("_lastUpdated", "'", BAD), ("_lastUpdated", "gt2000-01-01' --", BAD),
                                       ("_tag", "'", set()), ("_tag", "%|%", set()), ("_profile", "%", set()),
                                       ("_profile", "http://x/_", set()), ("_source", "_", set()),
                                       ("_security", "' OR 1=1 --", set())):
            with self.subTest(param=param, value=value):
                self.check_value("Patient", param, value, expected)
        self.assertIntact()

    def test_result_parameters(self):
        """_count, _sort, _include, _revinclude, _type with metacharacters.
        A malformed number or an unknown resource type is 400 in both
        handling modes; an unknown parameter in _sort/_include is ignored
        under the default lenient handling (all patients) and 400 under
        `Prefer: handling=strict` (docs/search.md)."""
        for path in ("Patient?_count=1%3B", "Patient?_count=1%20OR%201%3D1", "Patient?_count=%27",
                     "Patient?_include=%27:name", "Patient?_revinclude=Observation%27:subject",
                     "/fhir?_type=Patient%27", "/fhir?_type=Patient,Observation%3B--"):
            with self.subTest(path=path):
                self.assertOO(self.get(path), 400, INVALID, echoed=(urllib.parse.unquote(path),))
        for path in ("Patient?_sort=%27", "Patient?_sort=name%3BDROP", "Patient?_sort=name,%27--",
                     "Patient?_include=Patient:%27", "Patient?_sort=__proto__", "Patient?_sort=-%27%20--"):
            with self.subTest(path=path, handling="lenient"):
                self.assertBundleIds(self.get(path), ALL_PATIENTS)
            with self.subTest(path=path, handling="strict"):
                self.assertOO(self.get(path, {"Prefer": "handling=strict"}), 400, INVALID,
                              echoed=(urllib.parse.unquote(path),))
        self.assertIntact()

    def test_parameter_names(self):
        """Metacharacters in parameter names: unknown parameters are ignored
        under the default lenient handling (all patients) and 400 under
        `Prefer: handling=strict` (docs/search.md; search.html#errors)."""
        for name in ("name'", "name%3B--", "na%25me", "name%2F*", "__proto__", "constructor", "name%00"):
            with self.subTest(name=name):
                r = self.get("Patient?%s=x" % name)
                if name.endswith("%00"):
                    self.assertOO(r, 400, INVALID)
                    continue
                self.assertBundleIds(r, ALL_PATIENTS)
                self.assertOO(self.get("Patient?%s=x" % name, {"Prefer": "handling=strict"}), 400, INVALID)
        self.assertIntact()

    def test_post_search_form(self):
        """The same values in a POST _search form body (search.html: same
        results as GET)."""
        for param, value, expected in [("name", v, e) for v, e in STRING[:20]] + \
                [(p, v, e) for p, v, e in TOKEN[:10]]:
            with self.subTest(param=param, value=value):
                r = self.fetch("POST", "Patient/_search", ("%s=%s" % (param, q(value))).encode(), FORM)
                self.check(r, "Patient", expected, echoed=(value,))
        self.assertIntact()

    def test_ids_in_paths(self):
        """R4 datatypes.html id [A-Za-z0-9\\-\\.]{1,64} and docs/http-behaviour.md:
        an id (or version id) that is not one -> 400 for read, vread,
        history, update, patch and delete; nothing is written."""
        bad_ids = ["%27", "p1%27", "p1%27%20OR%20%271%27%3D%271", "%25", "p_1", "p1%3B", "p1--%20", "p1%2F*",
                   "p1%5C", "%00", "p1%00", "p1%20", "%22", "p1%27%3B%20DROP%20TABLE%20x%3B--", "a" * 65]
        for bid in bad_ids:
            for method, suffix, body, headers in (
                    ("GET", "", None, None), ("GET", "/_history", None, None), ("DELETE", "", None, None),
                    ("PUT", "", json.dumps(dict(P1, id=urllib.parse.unquote(bid))).encode(), JSON_CT),
                    ("PATCH", "", b'[{"op":"replace","path":"/active","value":true}]', PATCH_CT)):
                with self.subTest(id=bid, method=method, suffix=suffix):
                    r = self.fetch(method, "Patient/%s%s" % (bid, suffix), body, headers)
                    self.assertOO(r, 400, INVALID, echoed=(urllib.parse.unquote(bid),))
        for vid in ("1%27", "1%3B--", "1%25", "1_", "%00"):
            with self.subTest(vid=vid):
                self.assertOO(self.get("Patient/p1/_history/" + vid), 400, INVALID,
                              echoed=(urllib.parse.unquote(vid),))
        self.assertOO(self.get("Patient/p1/_history?_since=%27"), 400, INVALID, echoed=("'",))
        self.assertIntact()


class TestPathTraversal(InputCase):

    def test_ids(self):
        """Path traversal in ids: %2F is data inside a segment (RFC 3986 2.2),
        so the id is `../../etc/passwd`, which is not an id -> 400 for every
        method; no file content in any answer. `..` itself matches the id
        pattern: a read of a missing id (404)."""
        for bid in ("..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%5C..%5Cwindows%5Cwin.ini",
                    "%2F..%2F..%2Fetc%2Fpasswd", "....%2F%2F....%2F%2Fetc%2Fpasswd", "..%252F..%252Fetc%252Fpasswd",
                    "%c0%ae%c0%ae%c0%afetc", "..%00", ".%2e%2Fetc", "%2Fetc%2Fpasswd", "..%2F..%2F..%2Fproc%2Fself%2Fenviron"):
            for method, suffix, body, headers in (("GET", "", None, None), ("GET", "/_history/1", None, None),
                                                  ("DELETE", "", None, None),
                                                  ("PUT", "", json.dumps(P1).encode(), JSON_CT)):
                with self.subTest(id=bid, method=method, suffix=suffix):
                    r = self.fetch(method, "Patient/%s%s" % (bid, suffix), body, headers)
                    self.assertOO(r, 400, INVALID, echoed=(urllib.parse.unquote(bid), urllib.parse.unquote(
                        urllib.parse.unquote(bid))))
            with self.subTest(id=bid, where="version id"):
                self.assertOO(self.get("Patient/p1/_history/" + bid), 400, INVALID,
                              echoed=(urllib.parse.unquote(bid), urllib.parse.unquote(urllib.parse.unquote(bid))))
        for bid in ("..", "...", ".", "-.-"):
            with self.subTest(valid_id=bid):
                r = self.get("Patient/" + bid)
                self.assertOO(r, 404, NOT_FOUND)
        self.assertIntact()

    def test_format(self):
        """`_format` and `Accept` naming files: not a JSON type -> 406
        (docs/http-behaviour.md); a NUL is malformed (400) or simply not JSON
        (406)."""
        for fmt in ("../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "file:///etc/passwd",
                    "json/../../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "xml", "html", "..%5C..%5Cwin.ini"):
            with self.subTest(_format=fmt):
                r = self.get("Patient/p1?_format=" + fmt)
                self.assertOO(r, 406, NOT_SUPPORTED, echoed=(urllib.parse.unquote(fmt),))
                r = self.get("metadata?_format=" + fmt)
                self.assertOO(r, 406, NOT_SUPPORTED, echoed=(urllib.parse.unquote(fmt),))
        r = self.get("Patient/p1?_format=json%00../../etc/passwd")
        self.assertIn(r.status, (400, 406), self.show(r))
        self.assertOO(r, r.status, INVALID | NOT_SUPPORTED)
        for acc in ("../../etc/passwd", "/etc/passwd", "file:///etc/passwd"):
            with self.subTest(accept=acc):
                self.assertOO(self.get("Patient/p1", {"Accept": acc}), 406, NOT_SUPPORTED, echoed=(acc,))


class TestHeaderInjection(InputCase):

    def raw(self, data, method="GET"):
        return raw_request(self.server.port, data, method)

    def assertNotSplit(self, r):
        self.assertEqual(header_lines_well_formed(r.raw_head), [], r.raw_head)
        names = [k.lower() for k, _ in r.headers]
        self.assertNotIn("x-injected", names, r.raw_head)
        self.assertFalse([v for k, v in r.headers if k.lower() == "set-cookie" and "injected" in v], r.raw_head)

    def test_crlf_in_url_values(self):
        """Issue 6: CR LF in a value that may reach a header (an id that would
        end up in Location, a search value in links, `_count`) never splits
        the response head; ids and numbers with CR LF are malformed (400)."""
        inj = "%0D%0AX-Injected:%201%0D%0ASet-Cookie:%20injected=1"
        for method, path, body, expect in (
                ("GET", "/fhir/Patient/p1" + inj, b"", 400),
                ("PUT", "/fhir/Patient/x" + inj, json.dumps(dict(P1, id="x")).encode(), 400),
                ("DELETE", "/fhir/Patient/x" + inj, b"", 400),
                ("GET", "/fhir/Patient/p1/_history/1" + inj, b"", 400),
                ("GET", "/fhir/Patient?_count=1" + inj, b"", 400),
                ("GET", "/fhir/Patient?name=zz" + inj, b"", (200, 400)),
                ("GET", "/fhir/Patient?_format=json" + inj, b"", (400, 406))):
            with self.subTest(method=method, path=path):
                head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n" \
                       "Content-Length: %d\r\nConnection: close\r\n\r\n" % (method, path, len(body))
                r = self.raw(head.encode() + body, method)
                self.assertNotSplit(r)
                if isinstance(expect, tuple):
                    self.assertIn(r.status, expect, r.raw_head)
                    if r.status == 200:
                        self.assertEqual(r.json.get("total", 0), 0)
                else:
                    self.assertEqual(r.status, expect, r.raw_head)

    def test_crlf_in_request_headers(self):
        """RFC 9112 5.2 (a request with obs-fold: reject with 400, or replace
        each obs-fold by SP before interpreting the value) and RFC 9110 5.5
        (CR, LF or NUL in a field value: reject, or replace by SP). For each
        If-Match below both readings give 400 (malformed, docs/http-behaviour.md)
        or 412 (a stale version) - never a write that ignores the
        precondition; nothing is injected."""
        cases = (("obs-fold, junk", b'If-Match: W/"1"\r\n X-Injected: 1\r\n', (400,)),
                 ("obs-fold, stale version + junk", b'If-Match: W/"9"\r\n X-Injected: 1\r\n', (400,)),
                 ("obs-fold, stale version on the continuation", b'If-Match:\r\n W/"9"\r\n', (400, 412)),
                 ("bare CR", b'If-Match: W/"1"\rX-Injected: 1\r\n', (400,)),
                 ("NUL", b'If-Match: W/"1\x00"\r\n', (400,)))
        for n, (name, hdr, expect) in enumerate(cases):
            with self.subTest(case=name):
                rid = "fold%d" % n
                body = json.dumps(dict(P1, id=rid)).encode()
                self.assertEqual(self.fetch("PUT", "Patient/" + rid, body, JSON_CT).status, 201)
                head = (b"PUT /fhir/Patient/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n"
                        b"Content-Length: %d\r\nConnection: close\r\n" % (rid.encode(), len(body))) + hdr + b"\r\n"
                r = self.raw(head + body, "PUT")
                self.assertIn(r.status, expect, r.raw_head + r.body)
                self.assertNotSplit(r)
                self.assertEqual(self.get("Patient/" + rid).json["meta"]["versionId"], "1",
                                 "the update was made although If-Match did not hold")
        for name, hdr in (("Prefer bare CR", b"Prefer: return=minimal\rX-Injected: 1\r\n"),
                          ("Prefer obs-fold", b"Prefer: return=minimal\r\n X-Injected: 1\r\n")):
            with self.subTest(case=name):
                # reject (400), or read "return=minimal X-Injected: 1", whose
                # unknown part is ignored (RFC 7240 2: a preference not
                # understood is ignored): 201; never a split response
                body = b'{"resourceType":"Patient","active":true}'
                head = (b"POST /fhir/Patient HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n"
                        b"Content-Length: %d\r\nConnection: close\r\n" % len(body)) + hdr + b"\r\n"
                r = self.raw(head + body, "POST")
                self.assertIn(r.status, (400, 201), r.raw_head + r.body)
                self.assertNotSplit(r)
        with self.subTest(case="If-None-Exist with encoded CR LF"):
            crit = "name=zz%0D%0AX-Injected:%201"
            p = dict(P1)
            p.pop("id")
            r = self.fetch("POST", "Patient", p, {"If-None-Exist": crit})
            self.assertIn(r.status, (201, 400), self.show(r))
            self.assertNotIn("x-injected", r.headers)
            loc = r.header("location") or ""
            self.assertNotIn("\r", loc)
            self.assertNotIn("\n", loc)
        self.assertIntact()

    def test_host_header_poisoning(self):
        """The base URL is the configured one (docs: --base-url, default
        http(s)://LISTEN/fhir), never taken from Host, X-Forwarded-Host or
        Forwarded: Location, fullUrl and links point at our base."""
        base = self.server.base
        for hdrs in ({"Host": "evil.example"}, {"X-Forwarded-Host": "evil.example"},
                     {"Forwarded": "host=evil.example;proto=https"}, {"X-Forwarded-Proto": "gopher"},
                     {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Prefix": "/evil"}):
            with self.subTest(headers=hdrs):
                p = dict(P1)
                p.pop("id")
                r = self.fetch("POST", "Patient", p, dict(hdrs, **JSON_CT))
                self.assertEqual(r.status, 201, self.show(r))
                self.assertTrue(r.header("location").startswith(base + "/Patient/"), r.header("location"))
                r = self.fetch("GET", "Patient?_id=p1", headers=hdrs)
                self.assertEqual(r.status, 200, self.show(r))
                for lk in r.json.get("link", []):
                    self.assertTrue(lk["url"].startswith(base), lk)
                for e in r.json.get("entry", []):
                    self.assertTrue(e["fullUrl"].startswith(base), e)
                self.assertNotIn(b"evil", r.body)


class TestHostileJson(InputCase):

    def post(self, body, path="Patient", headers=None):
        return self.fetch("POST", path, body, dict(JSON_CT, **(headers or {})))

    def assertAlive(self):
        r = self.get("metadata")
        self.assertEqual(r.status, 200, "the server stopped answering")
        self.assertIntact()

    def test_deep_json(self):
        """Issue 6: 100,000-deep JSON (arrays, objects, inside a resource, a
        Bundle, a JSON Patch) -> 400 (docs: deeper than max_json_depth), no
        crash."""
        n = 100000
        arrays = b"[" * n + b"]" * n
        objects = b'{"a":' * n + b"1" + b"}" * n
        cases = {
            "resource with deep arrays": b'{"resourceType":"Patient","extension":' + arrays + b"}",
            "deep objects": objects,
            "deep arrays": arrays,
            "resourceType last": b'{"extension":' + arrays + b',"resourceType":"Patient"}',
            "unbalanced": b'{"resourceType":"Patient","extension":' + b"[" * n,
        }
        for name, body in cases.items():
            with self.subTest(case=name):
                self.assertOO(self.post(body), 400, INVALID)
        tx = b'{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Patient"},' \
             b'"resource":{"resourceType":"Patient","extension":' + arrays + b"}}]}"
        self.assertOO(self.fetch("POST", "", tx, JSON_CT), 400, INVALID)
        patch = b'[{"op":"add","path":"/extension","value":' + arrays + b"}]"
        self.assertOO(self.fetch("PATCH", "Patient/p1", patch, PATCH_CT), 400, INVALID)
        self.assertAlive()

    def test_duplicate_keys(self):
        """RFC 8259 4 (names SHOULD be unique) and docs/http-behaviour.md:
        duplicate keys -> 400, at any depth, also when the two spellings only
        become equal after unescaping (\\u0065 is 'e'), in a Bundle entry and
        in a JSON Patch operation."""
        cases = {
            "top level": b'{"resourceType":"Patient","gender":"male","gender":"female"}',
            "nested": b'{"resourceType":"Patient","name":[{"family":"a","family":"b"}]}',
            "resourceType": b'{"resourceType":"Patient","resourceType":"Observation"}',
            "escaped equal": b'{"resourceType":"Patient","gender":"male","gend\\u0065r":"female"}',
            "meta.versionId": b'{"resourceType":"Patient","meta":{"versionId":"1","versionId":"2"}}',
        }
        for name, body in cases.items():
            with self.subTest(case=name):
                self.assertOO(self.post(body), 400, INVALID)
        for body in (b'{"resourceType":"Patient","id":"p1","id":"p2"}', b'{"resourceType":"Patient","id":"p2","id":"p1"}'):
            with self.subTest(case="id in PUT", body=body):
                self.assertOO(self.fetch("PUT", "Patient/p1", body, JSON_CT), 400, INVALID)
        tx = b'{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Patient"},' \
             b'"resource":{"resourceType":"Patient","gender":"male","gender":"female"}}]}'
        self.assertOO(self.fetch("POST", "", tx, JSON_CT), 400, INVALID)
        patch = b'[{"op":"replace","op":"remove","path":"/gender","value":"male"}]'
        self.assertOO(self.fetch("PATCH", "Patient/p1", patch, PATCH_CT), 400, INVALID)
        self.assertAlive()

    def test_invalid_utf8_in_json(self):
        """RFC 8259 8.1 (JSON text is UTF-8) and docs/http-behaviour.md:
        invalid UTF-8 anywhere in a body -> 400: a bad continuation, an
        overlong '/', a UTF-16 surrogate, beyond U+10FFFF, 0xFF, a lone
        continuation byte, a truncated sequence, in a key."""
        for name, bad in (("bad continuation", b"\xc3\x28"), ("overlong", b"\xc0\xaf"), ("surrogate", b"\xed\xa0\x80"),
                          ("beyond U+10FFFF", b"\xf4\x90\x80\x80"), ("0xFF", b"\xff"), ("continuation", b"\x80"),
                          ("truncated", b"\xe2\x82"), ("5-byte", b"\xf8\x88\x80\x80\x80")):
            with self.subTest(case=name, where="value"):
                self.assertOO(self.post(b'{"resourceType":"Patient","name":[{"family":"a' + bad + b'"}]}'), 400, INVALID)
            with self.subTest(case=name, where="key"):
                self.assertOO(self.post(b'{"resourceType":"Patient","gen' + bad + b'der":"male"}'), 400, INVALID)
        # escaped lone surrogates: not Unicode characters (RFC 8259 8.2 leaves
        # the behaviour open; a FHIR string is a sequence of Unicode
        # characters): rejected, as malformed (400) or invalid (422)
        for esc in (b"\\ud800", b"\\udc00", b"\\ud800\\u0041"):
            with self.subTest(escape=esc):
                r = self.post(b'{"resourceType":"Patient","name":[{"family":"a' + esc + b'"}]}')
                self.assertIn(r.status, (400, 422), self.show(r))
                self.assertOO(r, r.status, INVALID)
        self.assertAlive()

    def test_invalid_utf8_in_urls(self):
        """Issue 6: invalid UTF-8 in URLs -> 400: percent-encoded in search
        values, parameter names and ids, and raw bytes in the request line."""
        for path in ("Patient?name=%C3%28", "Patient?name=%C0%AF", "Patient?name=%ED%A0%80", "Patient?name=%FF",
                     "Patient?identifier=urn:sys|%C3%28", "Patient?%C3%28=x", "Patient/%C3%28", "Patient/p%C0%AE",
                     "Patient?_id=%F4%90%80%80"):
            with self.subTest(path=path):
                self.assertOO(self.get(path), 400, INVALID)
        for raw in (b"/fhir/Patient/\xff", b"/fhir/Patient?name=\xc3\x28", b"/fhir/Patient?na\xffme=x"):
            with self.subTest(raw=raw):
                r = raw_request(self.server.port, b"GET " + raw + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                self.assertEqual(r.status, 400, r.raw_head)
        self.assertAlive()

    def test_nul_in_json(self):
        """NUL in JSON strings (escaped \\u0000: valid JSON, RFC 8259 7). R4
        datatypes.html: "Strings SHOULD not contain Unicode character points
        below 32, except for u0009, u000D and u000A" - a server may refuse
        it (http.html: 400 cannot parse / 422 fails validation) or keep it
        exactly; it must never cut the string at the NUL (a key
        "gender\\u0000x" is not "gender", "Patient\\u0000Observation" is
        not "Patient", an id "p1\\u0000x" is not "p1"). A raw NUL byte in a
        string is not JSON (RFC 8259 7: control characters MUST be escaped)."""
        r = self.post(b'{"resourceType":"Patient","name":[{"family":"abc\\u0000def"}]}')
        if r.status == 201:
            got = self.get("Patient/" + r.json["id"])
            self.assertEqual(got.json["name"][0]["family"], "abc\x00def", "the NUL string was not kept exactly")
        else:
            self.assertIn(r.status, (400, 422), self.show(r))
            self.assertOO(r, r.status, INVALID)
        for name, body in (("key", b'{"resourceType":"Patient","gender\\u0000x":"male"}'),
                           ("resourceType", b'{"resourceType":"Patient\\u0000Observation"}'),
                           ("code", b'{"resourceType":"Patient","gender":"male\\u0000"}')):
            with self.subTest(case=name):
                r = self.post(body)
                self.assertIn(r.status, (400, 422), self.show(r))
                self.assertOO(r, r.status, INVALID)
        with self.subTest(case="id in PUT"):
            self.assertOO(self.fetch("PUT", "Patient/p1", b'{"resourceType":"Patient","id":"p1\\u0000x"}', JSON_CT),
                          400, INVALID)
        with self.subTest(case="raw NUL byte"):
            self.assertOO(self.post(b'{"resourceType":"Patient","name":[{"family":"abc\x00def"}]}'), 400, INVALID)
        self.assertAlive()

    def test_proto_keys(self):
        """`__proto__`, `constructor`, `prototype` are unknown elements ->
        422 (docs/http-behaviour.md: unknown element; R4 json.html: "the
        allowable properties are listed"), at the top and nested in a data
        type; through a JSON Patch: adding them at the top fails validation
        (422), adding below a missing parent cannot apply (RFC 5789 2.2:
        409 "Conflicting state", or 422 as docs/http-behaviour.md says for an
        operation that cannot apply); nothing of them is stored."""
        for body in ({"resourceType": "Patient", "__proto__": {"gender": "male"}},
                     {"resourceType": "Patient", "constructor": {"prototype": {"polluted": True}}},
                     {"resourceType": "Patient", "prototype": 1},
                     {"resourceType": "Patient", "name": [{"family": "x", "__proto__": {"polluted": True}}]},
                     {"resourceType": "Patient", "identifier": [{"value": "x", "constructor": {"prototype": 1}}]}):
            with self.subTest(body=body):
                self.assertOO(self.post(json.dumps(body).encode()), 422, VALIDATION)
        for patch, codes in (([{"op": "add", "path": "/__proto__", "value": {"polluted": True}}], (422,)),
                             ([{"op": "add", "path": "/name/0/__proto__", "value": {"polluted": True}}], (422,)),
                             ([{"op": "add", "path": "/__proto__/polluted", "value": True}], (409, 422))):
            with self.subTest(patch=patch):
                r = self.fetch("PATCH", "Patient/p1", json.dumps(patch).encode(), PATCH_CT)
                self.assertIn(r.status, codes, self.show(r))
                self.assertOO(r, r.status, VALIDATION | {"conflict"})
        r = self.post(json.dumps({"resourceType": "Patient", "gender": "other"}).encode())
        self.assertEqual(r.status, 201, self.show(r))
        got = self.get("Patient/" + r.json["id"]).json
        self.assertEqual(set(got), {"resourceType", "id", "meta", "gender"}, got)
        self.assertAlive()

    def test_nested_validation(self):
        """docs/http-behaviour.md: an unknown element or a wrong JSON type is
        422 - found by the `__proto__` cases above to hold only at the top
        level. Inside data types and backbone elements too (R4 json.html:
        "the allowable properties are listed"; datatypes.html: family is a
        string, given an array of strings): a resource that breaks them is
        not stored."""
        bodies = {
            "family a number": {"resourceType": "Patient", "name": [{"family": 1}]},
            "given not an array": {"resourceType": "Patient", "name": [{"given": "x"}]},
            "unknown element in HumanName": {"resourceType": "Patient", "name": [{"family": "x", "foo": 1}]},
            "unknown element in Identifier": {"resourceType": "Patient", "identifier": [{"value": "x", "bogus": {}}]},
            "Identifier.value an object": {"resourceType": "Patient", "identifier": [{"value": {"$gt": ""}}]},
            "Coding.code a number": {"resourceType": "Observation", "status": "final",
                                     "code": {"coding": [{"system": "http://loinc.org", "code": 29463}]}},
            "Quantity.value a string": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                                        "valueQuantity": {"value": "72; DROP"}},
            "Reference.reference an object": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                                              "subject": {"reference": {"id": "p1"}}},
            "unknown element in a backbone": {"resourceType": "Patient", "contact": [{"name": {"family": "x"},
                                                                                      "polluted": True}]},
        }
        for name, body in bodies.items():
            with self.subTest(case=name):
                r = self.fetch("POST", body["resourceType"], json.dumps(body).encode(), JSON_CT)
                self.assertOO(r, 422, VALIDATION)
        self.assertAlive()


class TestLimits(InputCase):

    def test_many_or_values(self):
        """Issue 6 / `fhird serve --help` ("search_max_values: comma-separated
        OR values in one search parameter (400 beyond)", default 1000): 10,000
        OR values -> 400 too-costly, through POST _search (a GET that long is
        a 414 first); 1001 -> 400; up to 1000 values are a valid search and
        are served (200) for every parameter type; more than 64 AND clauses
        (search_max_clauses) -> 400."""
        vals = ",".join("v%d" % i for i in range(10000))
        for param in ("name", "_id", "identifier", "birthdate"):
            with self.subTest(param=param, n=10000):
                v = vals if param != "birthdate" else ",".join(["1980-01-01"] * 10000)
                r = self.fetch("POST", "Patient/_search", ("%s=%s" % (param, v)).encode(), FORM)
                self.assertOO(r, 400, TOO_COSTLY)
        with self.subTest(get=10000):
            self.assertOO(self.get("Patient?name=" + vals), 414, TOO_BIG)
        with self.subTest(n=1001):
            over = ",".join("v%d" % i for i in range(1001))
            self.assertOO(self.fetch("POST", "Patient/_search", ("name=" + over).encode(), FORM), 400, TOO_COSTLY)
        for param, last, expected in (("name", "Smith", {"Patient/p1"}), ("identifier", "urn:sys|MRN1", {"Patient/p1"}),
                                      ("gender", "female", {"Patient/p1"}), ("_id", "p1", {"Patient/p1"}),
                                      ("birthdate", "1980-01-01", {"Patient/p1"})):
            for n in (500, 1000):
                with self.subTest(param=param, n=n):
                    if param == "birthdate":
                        v = ",".join("19%02d-02-%02d" % (i % 100, i % 28 + 1) for i in range(n - 1))
                    else:
                        v = ",".join("v%d" % i for i in range(n - 1))
                    r = self.fetch("POST", "Patient/_search", ("%s=%s,%s" % (param, v, q(last))).encode(), FORM)
                    self.assertBundleIds(r, expected)
        with self.subTest(and_clauses=64):
            self.assertBundleIds(self.fetch("POST", "Patient/_search", "&".join(["name=Smith"] * 64).encode(), FORM),
                                 {"Patient/p1"})
        with self.subTest(and_clauses=65):
            self.assertOO(self.fetch("POST", "Patient/_search", "&".join(["name=Smith"] * 65).encode(), FORM), 400,
                          TOO_COSTLY)
        self.assertIntact()

    def test_oversize_url(self):
        """RFC 9112 3 ("A server that receives a request-target longer than
        any URI it wishes to parse MUST respond with a 414") and
        docs/http-behaviour.md (max_url_bytes, 8192): a long query, a long
        id, a request line longer than the header memory."""
        for path in ("Patient?name=" + "a" * 9000, "Patient/" + "a" * 9000, "Patient?" + "a=b&" * 3000):
            with self.subTest(len=len(path)):
                self.assertOO(self.get(path), 414, TOO_BIG)
        # more parameters than the server handles, in a URL under max_url_bytes:
        # also a 414 with an OperationOutcome (test_errors.py), never a dropped connection
        for n in (500, 1000, 2000):
            with self.subTest(parameters=n):
                self.assertOO(self.get("Patient?" + "a=b&" * n), 414, TOO_BIG)
        r = raw_request(self.server.port, b"GET /fhir/Patient?name=" + b"a" * 100000 +
                        b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        self.assertEqual(r.status, 414, r.raw_head)

    def test_oversize_headers(self):
        """RFC 6585 5 (431 Request Header Fields Too Large) and
        docs/http-behaviour.md (the header limit, max_header_bytes 65536,
        answers 431): one huge header, very many headers, a huge cookie;
        a normal amount is served."""
        for name, hdrs in (("one 100 KB header", b"X-Big: " + b"a" * 100000 + b"\r\n"),
                           ("3000 headers", b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 30) for i in range(3000))),
                           ("100 KB cookie", b"Cookie: c=" + b"a" * 100000 + b"\r\n"),
                           ("100 KB Authorization", b"Authorization: Bearer " + b"a" * 100000 + b"\r\n")):
            with self.subTest(case=name):
                r = raw_request(self.server.port, b"GET /fhir/metadata HTTP/1.1\r\nHost: 127.0.0.1\r\n" + hdrs +
                                b"Connection: close\r\n\r\n")
                self.assertEqual(r.status, 431, r.raw_head)
        r = raw_request(self.server.port, b"GET /fhir/metadata HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                        b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 30) for i in range(100)) + b"Connection: close\r\n\r\n")
        self.assertEqual(r.status, 200, r.raw_head)

    def huge_body_head(self, method, path, extra=b""):
        ct = b"application/x-www-form-urlencoded" if path.endswith(b"_search") else b"application/fhir+json"
        return (b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
                b"Content-Length: 104857600\r\n" % (method, path, ct)) + extra + b"\r\n"

    def test_100mb_body_refused_early(self):
        """Issue 6 / docs/http-behaviour.md (over max_body_bytes: 413 before
        the body is read when Content-Length says so): a declared 100 MB body
        gets its 413 OperationOutcome after a few KB were sent; with
        `Expect: 100-continue` the 413 comes instead of 100 Continue
        (RFC 9110 10.1.1)."""
        for method, path in ((b"POST", b"/fhir/Patient"), (b"PUT", b"/fhir/Patient/big"), (b"POST", b"/fhir"),
                             (b"POST", b"/fhir/Patient/_search")):
            with self.subTest(method=method, path=path):
                s = socket.create_connection(("127.0.0.1", self.server.port), timeout=15)
                try:
                    t0 = time.monotonic()
                    s.sendall(self.huge_body_head(method, path) + b'{"resourceType":"Patient","x":"' + b"a" * 65536)
                    r = read_raw_response(s, timeout=15)
                    took = time.monotonic() - t0
                finally:
                    s.close()
                self.assertEqual(r.status, 413, r.raw_head)
                self.assertEqual(r.json.get("resourceType"), "OperationOutcome", r.body[:300])
                self.assertIn(r.json["issue"][0].get("code"), TOO_BIG, r.body[:300])
                self.assertLess(took, 10)
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=15)
        try:
            s.sendall(self.huge_body_head(b"POST", b"/fhir/Patient", b"Expect: 100-continue\r\n"))
            r = read_raw_response(s, timeout=15)
        finally:
            s.close()
        self.assertEqual(r.status, 413, r.raw_head)
        self.assertIntact()

    def test_chunked_body_cut_off(self):
        """A chunked body (no Content-Length) streamed without end:
        docs/http-behaviour.md (body over max_body_bytes: 413) - the server
        answers 413 once max_body_bytes (16 MiB) is passed and stops
        reading; it neither drains the stream nor drops the connection
        without an answer."""
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=30)
        sent, how, r, err = 0, "sent 100 MB unanswered", None, None
        try:
            s.sendall(b"POST /fhir/Patient HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"10000\r\n" + b"a" * 65536 + b"\r\n"
            while sent < 100 * 1024 * 1024:
                readable, _, _ = select.select([s], [], [], 0)
                if readable:
                    how = "the server answered or closed"
                    break
                try:
                    s.sendall(chunk)
                except (BrokenPipeError, ConnectionResetError) as e:
                    how = "the server closed the connection (%s)" % type(e).__name__
                    break
                sent += 65536
            try:
                r = read_raw_response(s, timeout=15)
            except (ConnectionError, OSError) as e:
                err = e
        finally:
            s.close()
        mb = sent / 1048576.0
        self.assertLess(mb, 40, "%.1f MB of a body capped at 16 MiB were accepted; then %s" % (mb, how))
        self.assertIsNotNone(r, "no response after %.1f MB (%s): %s" % (mb, how, err))
        self.assertEqual(r.status, 413, r.raw_head)
        self.assertEqual(self.get("metadata").status, 200)


XML_BODIES = {
    "external entity http": '<?xml version="1.0"?><!DOCTYPE Patient [<!ENTITY xxe SYSTEM "http://127.0.0.1:{port}/xxe">]>'
                            '<Patient xmlns="http://hl7.org/fhir"><name><family value="&xxe;"/></name></Patient>',
    "external entity file": '<?xml version="1.0"?><!DOCTYPE Patient [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                            '<Patient xmlns="http://hl7.org/fhir"><name><family value="&xxe;"/></name></Patient>',
    "parameter entity": '<?xml version="1.0"?><!DOCTYPE Patient [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p"> %p;]>'
                        '<Patient xmlns="http://hl7.org/fhir"/>',
    "external DTD": '<?xml version="1.0"?><!DOCTYPE Patient SYSTEM "http://127.0.0.1:{port}/dtd">'
                    '<Patient xmlns="http://hl7.org/fhir"/>',
    "XInclude": '<Patient xmlns="http://hl7.org/fhir" xmlns:xi="http://www.w3.org/2001/XInclude">'
                '<xi:include href="http://127.0.0.1:{port}/xi" parse="text"/></Patient>',
    "billion laughs": '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                      + "".join('<!ENTITY lol%d "%s">' % (i, ("&lol%d;" % (i - 1) if i > 1 else "&lol;") * 10)
                                for i in range(1, 10))
                      + ']><Patient xmlns="http://hl7.org/fhir"><name><family value="&lol9;"/></name></Patient>',
    "Bundle with entity": '<?xml version="1.0"?><!DOCTYPE Bundle [<!ENTITY xxe SYSTEM "http://127.0.0.1:{port}/b">]>'
                          '<Bundle xmlns="http://hl7.org/fhir"><type value="transaction"/><entry><resource>'
                          '<Patient><name><family value="&xxe;"/></name></Patient></resource>'
                          '<request><method value="POST"/><url value="Patient"/></request></entry></Bundle>',
}


class TestXml(InputCase):

    def test_xml_external_entities(self):
        """Issue 6: XML bodies (fhird speaks JSON only) -> 415 Unsupported
        Media Type with an OperationOutcome (docs/http-behaviour.md), for
        every XML media type and every write route, and no outbound
        connection: a listener the entities point at sees nothing. Sent as
        JSON (or without a type, read as JSON) they are bad JSON (400)."""
        lst = Listener()
        try:
            routes = (("POST", "Patient"), ("PUT", "Patient/xxe1"), ("POST", ""), ("PATCH", "Patient/p1"),
                      ("POST", "Patient/_search"))
            for name, tmpl in XML_BODIES.items():
                body = tmpl.replace("{port}", str(lst.port)).encode()
                for ct in ("application/fhir+xml", "application/xml", "text/xml", "application/xml+fhir",
                           "application/fhir+xml; charset=utf-8", "application/xml-patch+xml"):
                    for method, path in routes:
                        with self.subTest(body=name, content_type=ct, method=method, path=path):
                            r = self.fetch(method, path, body, {"Content-Type": ct})
                            self.assertOO(r, 415, NOT_SUPPORTED)
                for ct in ("application/fhir+json", None):
                    with self.subTest(body=name, content_type=ct):
                        r = self.fetch("POST", "Patient", body, {"Content-Type": ct} if ct else {})
                        self.assertOO(r, 400, INVALID)
            wait_quiet(1.0)
            self.assertEqual(lst.connections, [], "the server connected to the entity's host")
        finally:
            lst.close()
        r = self.get("Patient?name=xxe-payload")
        self.assertBundleIds(r, set())
        self.assertIntact()

    def test_xml_accept(self):
        """Asking for XML (Accept, _format) is 406 (docs/http-behaviour.md)."""
        self.assertOO(self.get("Patient/p1", {"Accept": "application/fhir+xml"}), 406, NOT_SUPPORTED)
        self.assertOO(self.get("Patient/p1?_format=application/fhir%2Bxml"), 406, NOT_SUPPORTED)


class TestRevincludeWildcard(InputCase):

    def test_revinclude_wildcard(self):
        """R4 search.html: `_revinclude=*` (and docs/search.md: `*`) adds the
        resources that refer to the matches through any reference parameter.
        The server answers (200) with exactly those; it must not crash."""
        r = self.get("Patient?_id=p1&_revinclude=*")
        self.assertBundleIds(r, {"Patient/p1", "Observation/o1", "RiskAssessment/ra1"})
        r = self.get("Patient?_revinclude=*")
        self.assertBundleIds(r, ALL_PATIENTS | {"Observation/o1", "RiskAssessment/ra1"})
        self.assertEqual(self.get("metadata").status, 200)
