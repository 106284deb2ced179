"""itutil.py - shared helpers for the spec-driven integration tests, on top of
fhirtest.py (Server, FhirTestCase): stricter OperationOutcome checks, FHIR
primitive syntax, history paging, raw sockets, threads.
Python standard library only.
"""
import datetime
import email.utils
import http.client
import re
import socket
import threading
import urllib.parse

from fhirtest import FhirTestCase, Response

# http://hl7.org/fhir/R4/valueset-issue-type.html
ISSUE_TYPES = frozenset("""
invalid structure required value invariant security login unknown expired forbidden
suppressed processing not-supported duplicate multiple-matches not-found deleted
too-long code-invalid extension too-costly business-rule conflict transient
lock-error no-store exception timeout incomplete throttled informational
""".split())

# Regular expressions of the R4 primitive types (hl7.org/fhir/R4/datatypes.html)
ID_RE = re.compile(r"^[A-Za-z0-9\-\.]{1,64}$")
INSTANT_RE = re.compile(
    r"^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$")
# RFC 9110 5.6.7 IMF-fixdate
IMF_FIXDATE_RE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$")

FHIR_JSON_CT = "application/fhir+json;charset=utf-8"
LEAK_MARKERS_CS = ("SQL", ".c:", "/tmp")
LEAK_MARKERS_CI = ("sqlite",)


def norm_ct(ct):
    return (ct or "").replace(" ", "").lower()


def parse_instant(s):
    """FHIR instant -> aware datetime (microseconds kept, more digits cut)."""
    m = re.match(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$", s)
    if not m:
        raise ValueError("not an instant: %r" % s)
    frac = (m.group(7) or "0")[:6].ljust(6, "0")
    tz = m.group(8)
    if tz == "Z":
        tzinfo = datetime.timezone.utc
    else:
        sign = 1 if tz[0] == "+" else -1
        tzinfo = datetime.timezone(sign * datetime.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    return datetime.datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)),
                             int(m.group(5)), int(m.group(6)), int(frac), tzinfo=tzinfo)


def format_instant(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_http_date(s):
    return email.utils.parsedate_to_datetime(s)


def format_http_date(dt):
    return email.utils.format_datetime(dt.astimezone(datetime.timezone.utc), usegmt=True)


def q(v):
    """Percent-encodes one query parameter value."""
    return urllib.parse.quote(v, safe="")


def link(bundle, relation):
    for lk in bundle.get("link") or []:
        if lk.get("relation") == relation:
            return lk.get("url")
    return None


def query_params(url):
    return urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True)


def with_params(url, params):
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, u.path, urllib.parse.urlencode(params), u.fragment))


def etag_vid(etag):
    m = re.match(r'^W/"([^"]+)"$', etag or "")
    return m.group(1) if m else None


def entry_key(e):
    """(type, id, versionId) of a history entry, from its resource or request/etag."""
    res = e.get("resource")
    if res is not None:
        return (res["resourceType"], res["id"], res["meta"]["versionId"])
    t, _, i = e["request"]["url"].partition("/")
    return (t, i, etag_vid(e["response"]["etag"]))


def patient(family="Chalmers", given=("Peter", "James"), **extra):
    r = {"resourceType": "Patient", "active": True,
         "name": [{"use": "official", "family": family, "given": list(given)}],
         "gender": "male", "birthDate": "1974-12-25"}
    r.update(extra)
    return r


def observation(**extra):
    r = {"resourceType": "Observation", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body Weight"}]},
         "valueQuantity": {"value": 72, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}
    r.update(extra)
    return r


def strip_meta(res):
    return {k: v for k, v in res.items() if k not in ("id", "meta")}


def request(server, method, path, body=None, headers=None):
    """A request on a connection of its own: safe from any thread, never retried."""
    return server.request(method, path, body, headers, fresh=True)


def history_all(server, path, max_pages=2000):
    """Follows next links from path; returns (entries, pages)."""
    entries, pages, seen = [], [], set()
    url = path
    while url:
        if len(pages) >= max_pages:
            raise AssertionError("more than %d history pages" % max_pages)
        if url in seen:
            raise AssertionError("history paging loops at %s" % url)
        seen.add(url)
        r = request(server, "GET", url)
        if r.status != 200 or not isinstance(r.json, dict):
            raise AssertionError("GET %s -> %s %r" % (url, r.status, r.body[:500]))
        pages.append(r.json)
        entries.extend(r.json.get("entry") or [])
        url = link(r.json, "next")
    return entries, pages


def read_response(sock, method="GET"):
    """Parses one HTTP response from a connected socket (keeps it open)."""
    r = http.client.HTTPResponse(sock, method=method)
    r.begin()
    body = r.read()
    return Response(r.status, r.getheaders(), body)


def wait_closed(sock, timeout):
    """Reads until the peer closes. Returns (closed, data): closed is True on EOF
    or reset, False when timeout passed with the connection still open."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                return True, data
            data += d
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        return True, data
    except socket.timeout:
        return False, data


def run_threads(n, target):
    """Runs target(i) on n threads; re-raises the first exception of any."""
    errors = []

    def wrap(i):
        try:
            target(i)
        except BaseException as e:  # noqa: B902 - reported below
            errors.append(e)

    ts = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
        if t.is_alive():
            raise AssertionError("a worker thread did not finish within 300 s")
    if errors:
        raise errors[0]


class SpecCase(FhirTestCase):
    """FhirTestCase with strict checks of the behaviour decisions."""

    def fetch(self, method, path, body=None, headers=None):
        return request(self.server, method, path, body, headers)

    def describe(self, r):
        return "status %s, headers %s, body %r" % (r.status, r.headers, r.body[:1500])

    def assertStatus(self, r, status):
        if isinstance(status, (tuple, list, set, frozenset)):
            self.assertIn(r.status, status, self.describe(r))
        else:
            self.assertEqual(r.status, status, self.describe(r))

    def assertFhirJson(self, r):
        self.assertEqual(norm_ct(r.header("content-type")), FHIR_JSON_CT, self.describe(r))
        self.assertIsInstance(r.json, dict, self.describe(r))

    def assertNoLeak(self, r):
        text = r.body.decode("utf-8", "replace")
        for m in LEAK_MARKERS_CS:
            self.assertNotIn(m, text, "internal detail %r leaked: %s" % (m, self.describe(r)))
        for m in LEAK_MARKERS_CI:
            self.assertNotIn(m, text.lower(), "internal detail %r leaked: %s" % (m, self.describe(r)))
        if self.server is not None:
            self.assertNotIn(self.server.dir, text)

    def assertOutcome(self, r, status):
        """status AND an OperationOutcome (error/fatal, valid issue type), no internals."""
        self.assertStatus(r, status)
        self.assertEqual(norm_ct(r.header("content-type")), FHIR_JSON_CT, self.describe(r))
        self.assertIsInstance(r.json, dict, self.describe(r))
        self.assertEqual(r.json.get("resourceType"), "OperationOutcome", self.describe(r))
        issues = r.json.get("issue")
        self.assertIsInstance(issues, list, self.describe(r))
        self.assertTrue(issues, self.describe(r))
        self.assertIn(issues[0].get("severity"), ("error", "fatal"), self.describe(r))
        self.assertIn(issues[0].get("code"), ISSUE_TYPES, self.describe(r))
        self.assertNoLeak(r)

    def assertEtag(self, r, vid):
        self.assertEqual(r.header("etag"), 'W/"%s"' % vid, self.describe(r))

    def assertImfDate(self, value):
        self.assertIsNotNone(value)
        self.assertRegex(value, IMF_FIXDATE_RE)

    def assertInstant(self, value):
        self.assertIsInstance(value, str)
        self.assertRegex(value, INSTANT_RE)

    def make(self, res, headers=None):
        """POST res; asserts 201; returns the response."""
        r = self.fetch("POST", res["resourceType"], res, headers)
        self.assertEqual(r.status, 201, self.describe(r))
        return r


def wait_for(predicate, timeout, what):
    """Polls predicate until it holds (readiness check, not a fixed sleep)."""
    import time
    deadline = time.monotonic() + timeout
    delay = 0.002
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def access_lines(server, path=None):
    """The parsed access-log lines (logfmt) in the server's stderr."""
    out = []
    for ln in server.stderr().splitlines():
        f = logfmt(ln)
        if f.get("msg") == "access" and (path is None or f.get("path") == path):
            out.append(f)
    return out


def logfmt(line):
    fields = {}
    for m in re.finditer(r'([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|\S*)', line):
        v = m.group(2)
        if v.startswith('"') and v.endswith('"') and len(v) >= 2:
            v = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        fields[m.group(1)] = v
    return fields
