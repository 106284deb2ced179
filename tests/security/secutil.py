"""secutil.py - shared helpers of the adversarial suite (tests/security/).

The suite is written from the outside: from issue 6 ("Adversarial test
suite"), the FHIR R4 / SMART App Launch 2.2 / OAuth / JOSE / HTTP
specifications and fhird's documented choices (docs/http-behaviour.md,
docs/search.md, docs/auth.md). It reuses the integration harness
(tests/integration/fhirtest.py, itutil.py, smartutil.py), which tests/run.py
puts on sys.path; running a module directly works too (the path is set here).

Every case asserts the exact answer. Where a specification allows several
answers, the accepted set is spelled out next to the clause that allows it.
"""
import os
import re
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
IDIR = os.path.join(HERE, "..", "integration")
if os.path.abspath(IDIR) not in [os.path.abspath(p) for p in sys.path]:
    sys.path.insert(0, os.path.abspath(IDIR))

from itutil import FHIR_JSON_CT, ISSUE_TYPES, norm_ct  # noqa: E402

# ------------------------------------------------------------ issue types
# hl7.org/fhir/R4/valueset-issue-type.html (codesystem-issue-type.html): the
# hierarchy. Where fhird's documents do not name the code, an answer is
# accepted when its code is the natural one or its parent in that hierarchy.
INVALID = frozenset({"invalid", "structure", "required", "value", "invariant"})   # "invalid" and children
# a resource that is JSON but fails validation (422): the "invalid" subtree,
# or "processing" (fhird uses it for unknown elements; the code system
# leaves the choice open)
VALIDATION = INVALID | frozenset({"processing"})
AUTHN = frozenset({"login", "unknown", "expired", "security"})   # "security" minus forbidden/suppressed
FORBIDDEN = frozenset({"forbidden", "security"})
NOT_FOUND = frozenset({"not-found"})
NOT_SUPPORTED = frozenset({"not-supported"})
TOO_BIG = frozenset({"too-long", "too-costly"})     # processing children: size / cost
TOO_COSTLY = frozenset({"too-costly", "too-long"})
PROCESSING = frozenset({"processing", "not-found", "multiple-matches", "business-rule", "conflict"})

# ------------------------------------------------------------ leak markers
# What an error body must never carry (issue 6 "Information leaks"): SQL and
# schema words, SQLite's own messages, library names, source locations,
# paths, stack traces and sanitizer reports.
LEAK_PATTERNS = [
    (re.compile(r"\bSELECT\b"), "SQL SELECT"),
    (re.compile(r"\bINSERT\s+INTO\b", re.I), "SQL INSERT"),
    (re.compile(r"\bDELETE\s+FROM\b", re.I), "SQL DELETE"),
    (re.compile(r"\bUPDATE\s+\w+\s+SET\b", re.I), "SQL UPDATE"),
    (re.compile(r"\bWHERE\b"), "SQL WHERE"),
    (re.compile(r"\bJOIN\b"), "SQL JOIN"),
    (re.compile(r"sqlite", re.I), "sqlite"),
    (re.compile(r"\bix_\w+"), "index name"),
    (re.compile(r"no such (table|column|function)", re.I), "SQLite message"),
    (re.compile(r"syntax error", re.I), "parser message"),
    (re.compile(r"unrecognized token", re.I), "SQLite message"),
    (re.compile(r"database (is locked|disk image)", re.I), "SQLite message"),
    (re.compile(r"jansson|microhttpd|gnutls|rhonabwy|nettle|argon2", re.I), "library name"),
    (re.compile(r"\.[ch]:\d+"), "source location"),
    (re.compile(r"\bsrc/"), "source path"),
    (re.compile(r"/work\b|/home/|/tmp/|/var/|/usr/|/etc/passwd|root:x:0:0"), "file path"),
    (re.compile(r"Traceback|AddressSanitizer|UndefinedBehaviorSanitizer|Segmentation fault|SIGSEGV|"
                r"backtrace|core dumped|assertion failed|Assertion `", re.I), "crash report"),
    (re.compile(r"#\d+ 0x[0-9a-f]+"), "stack frame"),
]


def strip_echo(text, echoed, min_len=6):
    """text without the parts that repeat the request's own values: every
    run of at least min_len characters shared with an echoed value (a
    diagnostic may quote the value whole, cut short or split)."""
    import difflib
    for e in sorted((e for e in echoed if e), key=len, reverse=True):
        while True:
            m = difflib.SequenceMatcher(None, text, e, autojunk=False).find_longest_match(0, len(text), 0, len(e))
            if m.size < min(min_len, len(e)):
                break
            text = text[:m.a] + "\x00" + text[m.a + m.size:]
    return text


def json_strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from json_strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from json_strings(x)


def leaks(text, echoed=()):
    """The leak markers found in text (for a JSON body: in its strings),
    after removing what repeats the values the request itself carried."""
    import json
    try:
        parts = list(json_strings(json.loads(text)))
    except ValueError:
        parts = [text]
    found = []
    for part in parts:
        part = strip_echo(part, echoed)
        found += [name for rx, name in LEAK_PATTERNS if rx.search(part) and name not in found]
    return found


# ------------------------------------------------------------ assertions


class SecAsserts:
    """Mixed into the test classes (SpecCase / SmartCase subclasses)."""

    def show(self, r):
        hs = r.headers if isinstance(r.headers, list) else list(r.headers.items())
        return "HTTP %s %r %r" % (r.status, hs, r.body[:1200])

    def assertNoInternals(self, r, echoed=()):
        found = leaks(r.body.decode("utf-8", "replace"), echoed)
        self.assertFalse(found, "internal details %s in %s" % (found, self.show(r)))

    def assertOO(self, r, status, codes, echoed=()):
        """Exact status, Content-Type application/fhir+json, an
        OperationOutcome whose first issue is error/fatal with a code in
        codes, and no internals."""
        self.assertEqual(r.status, status, self.show(r))
        self.assertEqual(norm_ct(r.header("content-type")), FHIR_JSON_CT, self.show(r))
        self.assertIsInstance(r.json, dict, self.show(r))
        self.assertEqual(r.json.get("resourceType"), "OperationOutcome", self.show(r))
        issues = r.json.get("issue")
        self.assertTrue(isinstance(issues, list) and issues, self.show(r))
        self.assertIn(issues[0].get("severity"), ("error", "fatal"), self.show(r))
        self.assertIn(issues[0].get("code"), ISSUE_TYPES, self.show(r))
        self.assertIn(issues[0].get("code"), codes, self.show(r))
        self.assertNoInternals(r, echoed)

    def assertBundleIds(self, r, expected, rtype=None):
        """200 searchset whose (match and include) entries are exactly expected ("Type/id")."""
        self.assertEqual(r.status, 200, self.show(r))
        self.assertIsInstance(r.json, dict, self.show(r))
        self.assertEqual(r.json.get("resourceType"), "Bundle", self.show(r))
        got = set()
        for e in r.json.get("entry") or []:
            res = e.get("resource") or {}
            if res.get("resourceType") == "OperationOutcome":
                continue
            if rtype is None or res.get("resourceType") == rtype:
                got.add("%s/%s" % (res.get("resourceType"), res.get("id")))
        self.assertEqual(got, set(expected), self.show(r))
        return got


# ------------------------------------------------------------ raw HTTP


class RawResponse:
    """A response read from a socket: status, header lines as sent, body."""

    def __init__(self, raw_head, status, headers, body):
        self.raw_head = raw_head
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body
        try:
            import json
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")


def read_raw_response(sock, method="GET", timeout=30):
    """Reads one response; keeps the raw header block (to check that no
    header was split)."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            break
        buf += d
    head, sep, rest = buf.partition(b"\r\n\r\n")
    if not sep:
        raise ConnectionError("no complete response head: %r" % buf[:300])
    lines = head.split(b"\r\n")
    m = re.match(rb"^HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        raise ConnectionError("not an HTTP status line: %r" % lines[0])
    status = int(m.group(1))
    headers = []
    for ln in lines[1:]:
        name, _, value = ln.partition(b":")
        headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
    body = rest
    hmap = {k.lower(): v for k, v in headers}
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return RawResponse(head, status, headers, b"")
    if "content-length" in hmap:
        n = int(hmap["content-length"])
        while len(body) < n:
            d = sock.recv(65536)
            if not d:
                break
            body += d
        body = body[:n]
    elif "chunked" in hmap.get("transfer-encoding", "").lower():
        data = body
        out = b""
        while True:
            while b"\r\n" not in data:
                d = sock.recv(65536)
                if not d:
                    break
                data += d
            size_line, _, data = data.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            while len(data) < size + 2:
                d = sock.recv(65536)
                if not d:
                    break
                data += d
            out += data[:size]
            data = data[size + 2:]
        body = out
    else:
        while True:
            try:
                d = sock.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not d:
                break
            body += d
    return RawResponse(head, status, headers, body)


def raw_request(port, data, method="GET", timeout=30):
    """Sends bytes exactly as given on a fresh connection and reads one response."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        return read_raw_response(s, method, timeout)
    finally:
        s.close()


def header_lines_well_formed(raw_head):
    """Every header line of a response head is `name: value` with a token
    name; returns the offending lines."""
    bad = []
    for ln in raw_head.split(b"\r\n")[1:]:
        if not re.match(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[ \t]*[^\r\n]*$", ln):
            bad.append(ln)
        if b"\n" in ln or b"\r" in ln:
            bad.append(ln)
    return bad


# ------------------------------------------------------------ a listener


class Listener:
    """A TCP listener on 127.0.0.1:0 that records every connection made to it
    (the XXE tests point external entities at it)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop:
            try:
                c, addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            c.settimeout(1)
            try:
                data = c.recv(4096)
            except OSError:
                data = b""
            self.connections.append((addr, data))
            try:
                c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nxxe-payload-4711")
            except OSError:
                pass
            c.close()

    def close(self):
        self._stop = True
        self.thread.join(5)
        self.sock.close()


def wait_quiet(seconds):
    """A fixed grace period for the one check that has to prove a negative
    (no outbound connection was made after the request was answered)."""
    time.sleep(seconds)
