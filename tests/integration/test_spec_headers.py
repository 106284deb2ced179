"""Security response headers on every path (issue 6, "Headers and transport";
SECURITY.md, "Response headers"), over TLS and over plain HTTP.

Every response fhird makes carries, exactly once each:
  Cache-Control: no-store             (RFC 9111 5.2.2.5; RFC 6749 5.1 for tokens)
  X-Content-Type-Options: nosniff     (Fetch standard, "X-Content-Type-Options")
  Referrer-Policy: no-referrer        (Referrer Policy, W3C)
  X-Frame-Options: DENY               (RFC 7034)
  Content-Security-Policy with frame-ancestors 'none' (CSP 3); for anything
    but the HTML pages exactly "default-src 'none'; frame-ancestors 'none'"
  Strict-Transport-Security: max-age=31536000; includeSubDomains over TLS
    only (RFC 6797 7.2: never over plain HTTP)

The walk covers the FHIR API (200, 201, 401, 403, 404, 405, 413, 414, 429,
400 for a malformed request line), the discovery documents, JWKS, the token
endpoint, the HTML pages, a 302 from the authorization endpoint and CORS
preflights. The 429 comes from a second server whose per-address rate
limit is one request.
"""
import http.client
import os
import secrets
import select
import shutil
import socket
import ssl
import tempfile
import unittest
import urllib.parse

from fhirtest import Server
from smartutil import (ASSERTION_TYPE, ClientKey, SmartCase, client_assertion, http_req, pkce_pair)

APP = "https://app.example.org/cb"
APP_ORIGIN = "https://app.example.org"
HSTS = "max-age=31536000; includeSubDomains"
API_CSP = "default-src 'none'; frame-ancestors 'none'"
ONCE = {"cache-control": "no-store", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
        "x-frame-options": "DENY"}


def csp_directives(v):
    out = {}
    for part in v.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


class RawResp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return "HTTP %s %r %r" % (self.status, self.headers, self.body[:300])


class HeadersCase:
    """The walk; mixed into a SmartCase below, once without TLS and once with."""
    TLS = False

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="fhird-headers-")
        cls.keys = {}
        cls.secrets = {}
        cls.server = cls.throttled = None
        try:
            cls.server = Server("--auth", "smart", "--max-body-bytes", "1048576", workdir=cls.workdir, tls=cls.TLS)
            cls.keys["bk"] = ClientKey(cls.workdir, "EC", "hdr-bk-1")
            cls.register_client({"id": "hdr-backend", "type": "backend", "jwks": [cls.keys["bk"]],
                                 "scope": "system/Patient.cruds system/Observation.rs"})
            cls.register_client({"id": "hdr-app", "type": "public", "redirect": APP,
                                 "scope": "openid fhirUser launch/patient patient/*.rs"})
            # a second server whose address limit is one FHIR request (its 429)
            cls.throttled = Server("--auth", "off", "--rate-exempt-loopback=false", "--rate-api-addr", "1",
                                   "--rate-api-addr-burst", "1", tls=cls.TLS)
            cls.token = cls.backend_token()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for s in (cls.server, cls.throttled):
            if s:
                s.stop()
                s.cleanup()
        cls.server = cls.throttled = None
        shutil.rmtree(cls.workdir, ignore_errors=True)

    @classmethod
    def backend_token(cls):
        assertion = client_assertion(cls.keys["bk"], "hdr-backend", cls.token_url())
        body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "system/Patient.cruds system/Observation.rs",
                                       "client_assertion_type": ASSERTION_TYPE,
                                       "client_assertion": assertion}).encode()
        r = http_req(cls.server, "POST", "/auth/token", body, {"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status == 200, r
        return r.json["access_token"]

    # -- raw requests (for what http.client will not send), over TLS when on
    def raw(self, data, server=None):
        server = server or self.server
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        if server.tls:
            sock = server.ssl_context().wrap_socket(sock, server_hostname="127.0.0.1")
        try:
            sock.sendall(data)
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = sock.recv(65536)
                if not d:
                    break
                buf += d
        finally:
            sock.close()
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.assertTrue(lines[0].startswith("HTTP/1.1 "), buf[:300])
        headers = [tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:]]
        return RawResp(int(lines[0].split()[1]), headers, body)

    def endless_chunked(self, path):
        """POSTs a chunked body that never ends; returns (bytes sent, the
        answer). The server must answer 413 once max_body_bytes (1 MiB
        here) is passed, while the body is still arriving."""
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=30)
        if self.server.tls:
            sock = self.server.ssl_context().wrap_socket(sock, server_hostname="127.0.0.1")
        sent = 0
        try:
            sock.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n"
                         b"Authorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n"
                         % (path.encode(), self.token.encode()))
            chunk = b"10000\r\n" + b"a" * 65536 + b"\r\n"
            while sent < 16 * 1048576:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable or (self.server.tls and sock.pending()):
                    break
                try:
                    sock.sendall(chunk)
                except OSError:  # closed after answering (ssl.SSLError is one too)
                    break
                sent += 65536
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = sock.recv(65536)
                if not d:
                    break
                buf += d
        finally:
            sock.close()
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.assertTrue(lines[0].startswith("HTTP/1.1 "), "no answer after %d bytes: %r" % (sent, buf[:300]))
        headers = [tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:]]
        return sent, RawResp(int(lines[0].split()[1]), headers, body)

    def test_endless_chunked_body(self):
        """Finding F9: the 413 for a chunked body comes while it is still
        being sent, with the same headers as every other answer."""
        for path in ("/fhir/Patient", "/fhir"):
            sent, r = self.endless_chunked(path)
            self.check("chunked body past the limit " + path, r, 413)
            self.assertEqual(r.all("connection"), ["close"], r)
            self.assertLess(sent, 8 * 1048576, "the answer came only after %d bytes" % sent)
        self.assertEqual(self.req("GET", "/fhir/metadata").status, 200)

    def auth(self):
        return {"Authorization": "Bearer " + self.token}

    # -- the assertion
    def assertSecurityHeaders(self, r, html=False):
        for name, value in ONCE.items():
            self.assertEqual(r.all(name), [value], "%s in %r" % (name, r))
        csp = r.all("content-security-policy")
        self.assertEqual(len(csp), 1, r)
        d = csp_directives(csp[0])
        self.assertEqual(d.get("frame-ancestors"), ["'none'"], r)
        self.assertEqual(d.get("default-src"), ["'none'"], r)
        if html:
            self.assertNotIn("script-src", d, r)
        else:
            self.assertEqual(csp[0], API_CSP, r)
        if self.server.tls:
            self.assertEqual(r.all("strict-transport-security"), [HSTS], r)
        else:
            self.assertEqual(r.all("strict-transport-security"), [], r)

    def check(self, name, r, status, html=False):
        with self.subTest(case=name, status=status):
            self.assertEqual(r.status, status, r)
            if html:
                self.assertTrue(r.all("content-type")[0].startswith("text/html"), r)
            self.assertSecurityHeaders(r, html)

    def req(self, method, path, body=None, headers=None, server=None):
        return http_req(server or self.server, method, path, body, headers)

    # -- the walk
    def test_fhir_api(self):
        self.check("metadata", self.req("GET", "/fhir/metadata"), 200)
        self.check("no token", self.req("GET", "/fhir/Patient"), 401)
        r = self.req("POST", "/fhir/Patient", {"resourceType": "Patient", "gender": "female"}, self.auth())
        self.check("create", r, 201)
        pid = r.json["id"]
        self.check("read", self.req("GET", "/fhir/Patient/" + pid, headers=self.auth()), 200)
        self.check("search", self.req("GET", "/fhir/Patient?gender=female", headers=self.auth()), 200)
        self.check("history", self.req("GET", "/fhir/Patient/%s/_history" % pid, headers=self.auth()), 200)
        self.check("missing", self.req("GET", "/fhir/Patient/nobody-here", headers=self.auth()), 404)
        self.check("scope lacks delete", self.req("DELETE", "/fhir/Observation/x", headers=self.auth()), 403)
        self.check("method", self.req("DELETE", "/fhir/metadata", headers=self.auth()), 405)
        self.check("URL too long", self.req("GET", "/fhir/Patient?name=" + "a" * 9000, headers=self.auth()), 414)
        self.check("body too large",
                   self.raw(b"POST /fhir/Patient HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n"
                            b"Content-Length: 100000000000\r\nConnection: close\r\n\r\n"), 413)
        self.check("space in the request line",
                   self.raw(b"GET /fhir/meta data HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"), 400)
        self.check("obs-fold", self.raw(b"GET /fhir/metadata HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n x\r\n"
                                        b"Connection: close\r\n\r\n"), 400)

    def test_rate_limited(self):
        first = self.req("GET", "/fhir/metadata", server=self.throttled)
        self.check("first", first, 200)
        # one request per second, burst one: the next ones are refused
        # (unless a second passed; then the one after that)
        for _ in range(20):
            r = self.req("GET", "/fhir/metadata", server=self.throttled)
            if r.status != 200:
                break
        self.check("429", r, 429)
        self.assertTrue(r.all("retry-after"), r)

    def test_public_documents(self):
        self.check("smart-configuration", self.req("GET", "/fhir/.well-known/smart-configuration"), 200)
        self.check("openid-configuration", self.req("GET", "/auth/.well-known/openid-configuration"), 200)
        self.check("jwks", self.req("GET", "/auth/jwks"), 200)
        self.check("jwks method", self.req("POST", "/auth/jwks", b"", {"Content-Type": "text/plain"}), 405)
        self.check("unknown auth endpoint", self.req("GET", "/auth/nothing"), 404)

    def test_token_endpoint(self):
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        assertion = client_assertion(self.keys["bk"], "hdr-backend", self.token_url())
        r = self.req("POST", "/auth/token", urllib.parse.urlencode(
            {"grant_type": "client_credentials", "scope": "system/Patient.rs",
             "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}).encode(), form)
        self.check("token issued", r, 200)
        self.assertEqual(r.all("pragma"), ["no-cache"], r)
        r = self.req("POST", "/auth/token", b"grant_type=password&username=a&password=b", form)
        self.check("token refused, no client", r, 401)
        r = self.req("POST", "/auth/token", b"grant_type=password&client_id=hdr-app&username=a&password=b", form)
        self.check("token refused, grant", r, 400)
        self.check("introspect without client", self.req("POST", "/auth/introspect", b"token=x", form), 401)
        r = self.req("OPTIONS", "/auth/token", headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST"})
        self.check("token preflight", r, 204)
        self.assertEqual(r.all("access-control-allow-origin"), [APP_ORIGIN], r)
        r = self.req("OPTIONS", "/fhir/Patient", headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "GET",
                                                          "Access-Control-Request-Headers": "authorization"})
        self.check("FHIR preflight", r, 204)
        self.assertEqual(r.all("access-control-allow-origin"), [APP_ORIGIN], r)

    def test_html_pages(self):
        self.check("authorize without parameters", self.req("GET", "/auth/authorize"), 400, html=True)
        _, challenge = pkce_pair()
        p = {"response_type": "code", "client_id": "hdr-app", "redirect_uri": APP,
             "scope": "openid fhirUser launch/patient patient/*.rs", "state": secrets.token_urlsafe(8),
             "aud": self.server.base, "code_challenge": challenge, "code_challenge_method": "S256"}
        self.check("login page", self.req("GET", "/auth/authorize?" + urllib.parse.urlencode(p)), 200, html=True)
        self.check("form page by GET", self.req("GET", "/auth/login"), 405, html=True)
        # an error the client's redirect_uri is trusted with: a 302 to it
        bad = dict(p, response_type="token")
        r = self.req("GET", "/auth/authorize?" + urllib.parse.urlencode(bad))
        self.check("redirect with an error", r, 302)
        self.assertTrue(r.all("location")[0].startswith(APP + "?"), r)


class TestHeadersPlain(HeadersCase, SmartCase):
    TLS = False


class TestHeadersTls(HeadersCase, SmartCase):
    TLS = True


if __name__ == "__main__":
    unittest.main()
