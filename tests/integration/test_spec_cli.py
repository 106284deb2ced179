"""The command line: help, version, usage errors (exit 2), refused settings,
signals. Each refused start must exit by itself (a server that starts instead
is killed after a timeout and the test fails)."""
import os
import re
import shutil
import signal
import socket
import tempfile
import unittest

from fhirtest import Server, make_cert, run_cli
from itutil import SpecCase


class CliCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fhird-cli-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def serve(self, *args, env=None):
        """fhird serve with a private port file and database, expected to exit."""
        if os.path.exists(os.path.join(self.tmp, "port")):
            os.unlink(os.path.join(self.tmp, "port"))
        base = ["serve", "--port-file", os.path.join(self.tmp, "port"), "--db", os.path.join(self.tmp, "x.db")]
        return run_cli(*(base + list(args)), env=env, timeout=20)

    def assertUsageError(self, res):
        rc, out, err = res
        self.assertEqual(rc, 2, "exit %s, stdout %r, stderr %r" % (rc, out, err))
        lines = [ln for ln in err.splitlines() if ln.strip()]
        self.assertEqual(len(lines), 1, "expected a one-line error on stderr, got %r" % err)
        self.assertNotIn("level=info", err)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "port")), "the server started listening")


class TestHelpAndVersion(CliCase):
    def test_help(self):
        rc, out, err = run_cli("--help")
        self.assertEqual(rc, 0, err)
        self.assertIn("usage", out.lower())
        self.assertIn("serve", out)
        self.assertIn("version", out)

    def test_serve_help(self):
        rc, out, err = run_cli("serve", "--help")
        self.assertEqual(rc, 0, err)
        self.assertIn("usage", out.lower())
        for flag in ("--listen", "--db", "--base-url", "--tls-cert", "--tls-key", "--config", "--auth",
                     "--insecure-http", "--port-file", "--max-body-bytes", "--max-header-bytes",
                     "--max-url-bytes", "--max-json-depth", "--max-conn-per-ip", "--max-connections",
                     "--conn-timeout-s", "--threads", "--page-default", "--page-max", "--log-level"):
            self.assertIn(flag, out)

    def test_version(self):
        rc, out, err = run_cli("version")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"^fhird [0-9A-Za-z.+\-]+\n?$")


class TestUsageErrors(CliCase):
    def test_no_command(self):
        rc, out, err = run_cli()
        self.assertEqual(rc, 2)
        self.assertTrue(err.strip())

    def test_unknown_command(self):
        self.assertUsageError(run_cli("frobnicate"))

    def test_unknown_flag(self):
        self.assertUsageError(self.serve("--no-such-flag"))
        self.assertUsageError(self.serve("--no-such-flag", "1"))

    def test_missing_value(self):
        self.assertUsageError(self.serve("--max-body-bytes"))

    def test_bad_values(self):
        for args in (("--max-body-bytes", "abc"), ("--max-body-bytes", "-5"), ("--max-body-bytes", "1023"),
                     ("--max-body-bytes", "12kb"), ("--max-url-bytes", "255"), ("--max-json-depth", "3"),
                     ("--max-conn-per-ip", "x"), ("--conn-timeout-s", "soon"), ("--threads", "many"),
                     ("--page-default", "ten"), ("--log-level", "loud"), ("--auth", "maybe"),
                     ("--listen", "not-an-address")):
            with self.subTest(args=args):
                self.assertUsageError(self.serve("--listen", "127.0.0.1:0", *args))

    def test_bad_env_value(self):
        self.assertUsageError(self.serve("--listen", "127.0.0.1:0", env={"FHIRD_MAX_BODY_BYTES": "lots"}))

    def test_minimum_values_accepted(self):
        with Server("--max-body-bytes", "1024", "--max-url-bytes", "256", "--max-json-depth", "4") as s:
            r = s.request("GET", "metadata", fresh=True)
            self.assertEqual(r.status, 200)
            self.assertEqual(s.stop(), 0)


class TestRefusedSettings(CliCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cert, cls.key = make_cert(cls.tmp)

    def test_public_plain_http_refused(self):
        self.assertUsageError(self.serve("--listen", "0.0.0.0:0", "--auth", "smart"))
        self.assertUsageError(self.serve("--listen", "0.0.0.0:0", "--auth", "off"))

    def test_auth_off_on_public_address_refused(self):
        self.assertUsageError(self.serve("--listen", "0.0.0.0:0", "--insecure-http", "--auth", "off"))
        self.assertUsageError(self.serve("--listen", "0.0.0.0:0", "--tls-cert", self.cert, "--tls-key", self.key,
                                         "--auth", "off"))

    def test_cert_without_key_refused(self):
        self.assertUsageError(self.serve("--listen", "127.0.0.1:0", "--auth", "off", "--tls-cert", self.cert))

    def test_key_without_cert_refused(self):
        self.assertUsageError(self.serve("--listen", "127.0.0.1:0", "--auth", "off", "--tls-key", self.key))


class TestPublicInsecureSmart(SpecCase):
    """--listen 0.0.0.0:0 --insecure-http --auth smart starts, and the log warns."""
    SERVER_ARGS = ("--listen", "0.0.0.0:0", "--insecure-http", "--auth", "smart")

    def test_starts_and_warns(self):
        r = self.fetch("GET", "metadata")  # the harness speaks to 127.0.0.1
        self.assertStatus(r, 200)
        self.assertTrue(re.search(r"(?m)^.*level=warn.*$", self.server.stderr()), self.server.stderr())

    def test_protected_requests_401(self):
        r = self.fetch("GET", "Patient/1")
        self.assertOutcome(r, 401)


class TestSignals(unittest.TestCase):
    def _stop_with(self, sig):
        s = Server()
        try:
            self.assertEqual(s.request("GET", "metadata", fresh=True).status, 200)
            # an idle keep-alive connection must not hold the shutdown up
            c = socket.create_connection(("127.0.0.1", s.port), timeout=30)
            c.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n")
            c.recv(1)
            s.proc.send_signal(sig)
            rc = s.proc.wait(30)
            c.close()
            self.assertEqual(rc, 0, s.stderr()[-2000:])
        finally:
            s.cleanup()

    def test_sigterm_exit_0(self):
        self._stop_with(signal.SIGTERM)

    def test_sigint_exit_0(self):
        self._stop_with(signal.SIGINT)
