"""The server process: CLI, configuration, CapabilityStatement, auth mode,
TLS, connection limits, access log, graceful shutdown."""
import json
import os
import socket
import ssl
import tempfile
import time
import unittest
import urllib.request

from fhirtest import FhirTestCase, Server, run_cli

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "fhir-r4", "profiles-resources.json")


class TestCli(unittest.TestCase):
    def test_help_and_version(self):
        rc, out, _ = run_cli("--help")
        self.assertEqual(rc, 0)
        self.assertIn("serve", out)
        rc, out, _ = run_cli("serve", "--help")
        self.assertEqual(rc, 0)
        self.assertIn("--listen", out)
        self.assertIn("FHIRD_MAX_BODY_BYTES", out)
        rc, out, _ = run_cli("version")
        self.assertEqual(rc, 0)
        self.assertTrue(out.startswith("fhird "))

    def assertUsageError(self, *args, env=None):
        rc, out, err = run_cli(*args, env=env)
        self.assertEqual(rc, 2, (args, out, err))
        self.assertEqual(len(err.strip().splitlines()), 1, err)

    def test_usage_errors(self):
        self.assertUsageError("frobnicate")
        self.assertUsageError("serve", "--no-such-flag")
        self.assertUsageError("serve", "--max-body-bytes", "lots")
        self.assertUsageError("serve", "--max-body-bytes", "10")  # below the minimum
        self.assertUsageError("serve", "--auth", "maybe")
        self.assertUsageError("serve", "--listen", "nonsense")
        self.assertUsageError("serve", "--threads")
        self.assertUsageError("serve", "--tls-cert", "/x.pem")
        self.assertUsageError("serve", "--config", "/nonexistent/fhird.conf")
        self.assertUsageError("serve", env={"FHIRD_THREADS": "zero"})

    def test_non_loopback_refusals(self):
        # plain HTTP on a non-loopback address needs --insecure-http
        self.assertUsageError("serve", "--listen", "0.0.0.0:0", "--auth", "smart")
        # auth off is loopback only, even with --insecure-http
        self.assertUsageError("serve", "--listen", "0.0.0.0:0", "--insecure-http", "--auth", "off")

    def test_port_in_use_leaves_no_database(self):
        with Server() as s:
            d = tempfile.TemporaryDirectory(prefix="fhird-port-")
            self.addCleanup(d.cleanup)
            db = os.path.join(d.name, "new.db")
            rc, _, _ = run_cli("serve", "--listen", "127.0.0.1:%d" % s.port, "--db", db, "--auth", "off")
            self.assertEqual(rc, 1)
            self.assertFalse(os.path.exists(db))

    def test_insecure_http_starts_and_warns(self):
        with Server("--listen", "0.0.0.0:0", "--insecure-http", "--auth", "smart") as s:
            r = s.request("GET", "metadata")
            self.assertEqual(r.status, 200)
            self.assertEqual(s.stop(), 0)
            self.assertIn("plain HTTP on a non-loopback address", s.stderr())


class TestConfig(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="fhird-cfg-")
        self.addCleanup(self.tmp.cleanup)

    def test_config_file_env_and_flag_precedence(self):
        d = self.tmp.name
        conf = os.path.join(d, "fhird.conf")
        with open(conf, "w") as f:
            f.write("# test config\nmax_body_bytes = 100000\n\nmax_json_depth = 10\n")
        body = json.dumps({"resourceType": "Patient", "id": "x" * 10, "text": {"status": "generated",
                           "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">" + "a" * 3000 + "</div>"}})
        # file: 100000 allows the 3 KB body
        with Server("--config", conf) as s:
            self.assertEqual(s.request("PUT", "Patient/xxxxxxxxxx", body,
                                       {"Content-Type": "application/fhir+json"}).status, 201)
        # env beats file
        with Server("--config", conf, env={"FHIRD_MAX_BODY_BYTES": "2048"}) as s:
            self.assertEqual(s.request("PUT", "Patient/xxxxxxxxxx", body,
                                       {"Content-Type": "application/fhir+json"}).status, 413)
        # flag beats env
        with Server("--config", conf, "--max-body-bytes", "8192", env={"FHIRD_MAX_BODY_BYTES": "2048"}) as s:
            self.assertEqual(s.request("PUT", "Patient/xxxxxxxxxx", body,
                                       {"Content-Type": "application/fhir+json"}).status, 201)

    def test_bad_config_line(self):
        d = self.tmp.name
        conf = os.path.join(d, "bad.conf")
        with open(conf, "w") as f:
            f.write("listen = 127.0.0.1:0\nthis is not a setting\n")
        rc, _, err = run_cli("serve", "--config", conf)
        self.assertEqual(rc, 2)
        self.assertIn(":2:", err)


class TestMetadata(FhirTestCase):
    def test_capability_statement(self):
        r = self.req("GET", "metadata")
        self.assertEqual(r.status, 200)
        cs = r.json
        self.assertEqual(cs["resourceType"], "CapabilityStatement")
        self.assertEqual(cs["fhirVersion"], "4.0.1")
        self.assertEqual(cs["kind"], "instance")
        self.assertEqual(cs["software"]["name"], "fhird")
        self.assertIn("json", cs["format"])
        rest = cs["rest"][0]
        self.assertEqual(rest["mode"], "server")
        self.assertIn({"code": "history-system"}, rest["interaction"])
        types = {r["type"]: r for r in rest["resource"]}
        if os.path.exists(SHARED):
            with open(SHARED) as f:
                sds = json.load(f)
            # every concrete R4 (4.0.1) resource type; the definitions bundle
            # also carries SubscriptionStatus from R4B (4.3.0), which R4 lacks
            want = {e["resource"]["type"] for e in sds["entry"]
                    if e["resource"].get("kind") == "resource" and not e["resource"].get("abstract")
                    and e["resource"].get("fhirVersion", "4.0.1") == "4.0.1"}
            self.assertEqual(set(types), want)
        self.assertGreaterEqual(len(types), 140)
        for name in ("Patient", "Observation", "Bundle", "Binary", "Parameters"):
            codes = {i["code"] for i in types[name]["interaction"]}
            self.assertEqual(codes, {"read", "vread", "update", "patch", "delete", "history-instance", "history-type",
                                     "create", "search-type"})
        # the parameters US Core requires are claimed with their definitions
        obs = {p["name"]: p for p in types["Observation"]["searchParam"]}
        self.assertEqual(obs["patient"]["type"], "reference")
        self.assertEqual(obs["date"]["type"], "date")
        self.assertEqual(obs["code"]["definition"], "http://hl7.org/fhir/SearchParameter/clinical-code")
        self.assertEqual(types["Patient"]["versioning"], "versioned-update")
        self.assertTrue(types["Patient"]["updateCreate"])
        self.assertTrue(cs["implementation"]["url"].endswith("/fhir"))


class TestAuthSmart(FhirTestCase):
    SERVER_ARGS = ("--auth", "smart")

    def test_fails_closed_until_smart_exists(self):
        r = self.req("GET", "Patient/1")
        self.assertOutcome(r, 401)
        self.assertTrue(r.header("WWW-Authenticate").startswith("Bearer"))
        r = self.req("POST", "Patient", {"resourceType": "Patient"})
        self.assertOutcome(r, 401)
        r = self.req("GET", "_history", headers={"Authorization": "Bearer forged.token.here"})
        self.assertOutcome(r, 401)
        self.assertEqual(self.req("GET", "metadata").status, 200)
        self.assertNotIn("forged.token.here", self.server.stderr())


class TestAccessLog(FhirTestCase):
    def test_no_values_in_log(self):
        self.req("GET", "metadata?_pretty=true&x=SECRETVALUE", headers={"Authorization": "Bearer SECRETTOKEN"})
        self.req("POST", "Patient", {"resourceType": "Patient", "name": [{"family": "SECRETNAME"}]})
        # the access line is written when the response has gone out, which
        # may be just after the client read it: wait for it
        deadline = time.monotonic() + 20
        while True:
            log = self.server.stderr()
            lines = [l for l in log.splitlines() if "msg=access" in l]
            if len(lines) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self.assertTrue(any("path=\"/fhir/metadata\"" in l and "status=200" in l and "query=\"_pretty,x\"" in l
                            for l in lines), lines)
        self.assertTrue(any("method=POST" in l and "status=201" in l and "bytes=" in l and "dur_us=" in l
                            for l in lines), lines)
        for secret in ("SECRETVALUE", "SECRETTOKEN", "SECRETNAME"):
            self.assertNotIn(secret, log)


class TestTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server(tls=True)

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0
        cls.s.cleanup()

    def get(self, ctx):
        req = urllib.request.Request(self.s.base + "/metadata")
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.status, r.read()

    def test_tls12_and_13(self):
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=v):
                status, _ = self.get(self.s.ssl_context(v, v))
                self.assertEqual(status, 200)

    def test_old_tls_refused(self):
        for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            with self.subTest(version=v):
                ctx = self.s.ssl_context(v, v)
                try:
                    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
                except ssl.SSLError:
                    pass
                with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                    self.get(ctx)

    def test_plain_http_on_tls_port_fails(self):
        sock = socket.create_connection(("127.0.0.1", self.s.port), timeout=10)
        sock.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = sock.recv(100)
        except OSError:
            data = b""
        sock.close()
        self.assertNotIn(b"200 OK", data)

    def test_base_url_is_https(self):
        r = self.s.request("POST", "Patient", {"resourceType": "Patient"})
        self.assertEqual(r.status, 201)
        self.assertTrue(r.header("Location").startswith("https://127.0.0.1:%d/fhir/Patient/" % self.s.port))


class TestConnectionLimits(unittest.TestCase):
    def test_per_ip_limit(self):
        with Server("--max-conn-per-ip", "2") as s:
            a = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            b = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            # make sure both are accepted and counted
            for c in (a, b):
                c.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertIn(b"200", c.recv(20))
            c3 = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            try:
                c3.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n")
                data = c3.recv(100)
            except OSError:
                data = b""
            self.assertNotIn(b"200", data)
            for c in (a, b, c3):
                c.close()

    def test_slow_client_dropped(self):
        with Server("--conn-timeout-s", "1") as s:
            c = socket.create_connection(("127.0.0.1", s.port), timeout=15)
            c.sendall(b"GET /fhir/meta")
            t0 = time.monotonic()
            try:
                data = c.recv(100)
            except ConnectionResetError:
                data = b""
            self.assertEqual(data, b"")
            self.assertLess(time.monotonic() - t0, 14)
            c.close()


class TestShutdown(unittest.TestCase):
    """SIGTERM: requests already started are answered, new connections are
    closed without an answer, and the process exits 0."""

    def test_inflight_answered_new_connections_closed(self):
        s = Server("--shutdown-grace-s", "30")
        try:
            body = json.dumps({"resourceType": "Patient", "active": True}).encode()
            c = socket.create_connection(("127.0.0.1", s.port), timeout=20)
            # The 100 Continue proves the server has read the request head,
            # so the request counts as started before the signal.
            c.sendall(b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
                      b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
            self.assertTrue(c.recv(100).startswith(b"HTTP/1.1 100"))
            s.proc.send_signal(15)
            deadline = time.monotonic() + 20
            while "shutting down" not in s.stderr() and time.monotonic() < deadline:
                time.sleep(0.02)
            self.assertIn("shutting down", s.stderr())
            # a connection made now is closed without an answer
            got = b""
            for _ in range(50):
                try:
                    n = socket.create_connection(("127.0.0.1", s.port), timeout=10)
                except OSError:
                    break  # refused: the listening socket is already gone
                try:
                    n.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n")
                    got = n.recv(100)
                except OSError:
                    got = b""
                n.close()
                if got == b"":
                    break
                time.sleep(0.02)  # the signal thread has not set the flag yet
            self.assertEqual(got, b"")
            # the request in flight is still answered
            c.sendall(body)
            status = c.makefile("rb").readline()
            c.close()
            self.assertTrue(status.startswith(b"HTTP/1.1 201"), status)
            self.assertEqual(s.proc.wait(30), 0)
        finally:
            s.cleanup()
