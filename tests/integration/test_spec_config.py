"""Settings from a config file (--config or FHIRD_CONFIG), the environment
(FHIRD_*) and flags; precedence defaults < file < env < flags."""
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from fhirtest import BIN, Server, run_cli
from itutil import link, patient, request, wait_for


def sized_patient(n):
    """A valid Patient as exactly n bytes of JSON."""
    base = json.dumps(patient(family="")).encode()
    pad = n - len(base)
    assert pad >= 0
    return json.dumps(patient(family="x" * pad)).encode()


def post(server, body):
    return request(server, "POST", "Patient", body, {"Content-Type": "application/fhir+json"})


class TestPrecedence(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fhird-cfg-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def conf(self, text):
        p = os.path.join(self.tmp, "fhird.conf")
        with open(p, "w") as f:
            f.write(text)
        return p

    def body_limit_status(self, *args, env=None):
        """Status of a 4096-byte create (and checks a 1000-byte one works)."""
        s = Server(*args, env=env)
        try:
            self.assertEqual(post(s, sized_patient(1000)).status, 201)
            st = post(s, sized_patient(4096)).status
            self.assertEqual(s.stop(), 0)
            return st
        finally:
            s.cleanup()

    def test_sized_patient(self):
        self.assertEqual(len(sized_patient(4096)), 4096)

    def test_env(self):
        self.assertEqual(self.body_limit_status(env={"FHIRD_MAX_BODY_BYTES": "2048"}), 413)

    def test_flag_overrides_env(self):
        self.assertEqual(self.body_limit_status("--max-body-bytes", "65536", env={"FHIRD_MAX_BODY_BYTES": "2048"}),
                         201)

    def test_file(self):
        c = self.conf("max_body_bytes = 2048\n")
        self.assertEqual(self.body_limit_status("--config", c), 413)

    def test_env_overrides_file(self):
        c = self.conf("max_body_bytes = 65536\n")
        self.assertEqual(self.body_limit_status("--config", c, env={"FHIRD_MAX_BODY_BYTES": "2048"}), 413)

    def test_flag_overrides_file(self):
        c = self.conf("max_body_bytes = 2048\n")
        self.assertEqual(self.body_limit_status("--config", c, "--max-body-bytes", "65536"), 201)

    def test_fhird_config_env(self):
        c = self.conf("max_body_bytes = 2048\n")
        self.assertEqual(self.body_limit_status(env={"FHIRD_CONFIG": c}), 413)

    def test_env_auth(self):
        # the harness passes --auth off as a flag, which would win: start without it
        proc, port = self.spawn(["serve", "--listen", "127.0.0.1:0", "--db", os.path.join(self.tmp, "a.db")],
                                {"FHIRD_AUTH": "smart"})
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", "/fhir/Patient/1")
            r = c.getresponse()
            r.read()
            c.close()
            self.assertEqual(r.status, 401)
        finally:
            self.terminate(proc)

    def test_bad_value_in_file(self):
        c = self.conf("max_body_bytes = lots\n")
        rc, out, err = run_cli("serve", "--config", c, "--listen", "127.0.0.1:0",
                               "--db", os.path.join(self.tmp, "x.db"), "--port-file", os.path.join(self.tmp, "p"))
        self.assertEqual(rc, 2, err)
        self.assertEqual(len([ln for ln in err.splitlines() if ln.strip()]), 1, err)

    def test_missing_config_file(self):
        rc, out, err = run_cli("serve", "--config", os.path.join(self.tmp, "nope.conf"), "--listen", "127.0.0.1:0",
                               "--db", os.path.join(self.tmp, "x.db"), "--port-file", os.path.join(self.tmp, "p"))
        self.assertNotEqual(rc, 0)
        self.assertTrue(err.strip())
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "p")))

    # -- a server configured by its file alone ------------------------------

    def spawn(self, args, env=None):
        """Starts fhird with exactly args (+ --port-file); returns (proc, port)."""
        pf = os.path.join(self.tmp, "port")
        e = {k: v for k, v in os.environ.items() if not k.startswith("FHIRD_")}
        e.update(env or {})
        log = open(os.path.join(self.tmp, "stderr.log"), "ab")
        self.addCleanup(log.close)
        proc = subprocess.Popen([BIN] + args + ["--port-file", pf], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=log, env=e, cwd=self.tmp)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))

        def ready():
            if proc.poll() is not None:
                raise AssertionError("fhird exited with %s" % proc.returncode)
            return os.path.exists(pf) and open(pf).read().strip().isdigit()

        wait_for(ready, 30, "the port file")
        return proc, int(open(pf).read().strip())

    def terminate(self, proc):
        proc.terminate()
        self.assertEqual(proc.wait(30), 0)

    def test_everything_from_file(self):
        db = os.path.join(self.tmp, "sub", "from-file.db")
        c = self.conf("# fhird test configuration\n"
                      "\n"
                      "listen = 127.0.0.1:0\n"
                      "db = %s\n"
                      "   # an indented comment\n"
                      "auth = off\n"
                      "max_body_bytes = 2048\n"
                      "page_default = 2\n" % db)
        proc, port = self.spawn(["serve", "--config", c])
        try:
            def call(method, path, body=None):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                try:
                    conn.request(method, "/fhir/" + path, body=body,
                                 headers={"Content-Type": "application/fhir+json"} if body else {})
                    r = conn.getresponse()
                    data = r.read()
                    return r.status, (json.loads(data) if data else None)
                finally:
                    conn.close()

            for _ in range(3):
                self.assertEqual(call("POST", "Patient", sized_patient(1000))[0], 201)
            self.assertEqual(call("POST", "Patient", sized_patient(4096))[0], 413)
            st, bundle = call("GET", "Patient/_history")
            self.assertEqual(st, 200)
            self.assertEqual(len(bundle["entry"]), 2)
            self.assertTrue(link(bundle, "next"))
            self.assertTrue(os.path.exists(db), "database not created at the configured path")
        finally:
            self.terminate(proc)


class TestBaseUrl(unittest.TestCase):
    def test_base_url_flag(self):
        with Server("--base-url", "https://fhir.example.org/fhir") as s:
            r = request(s, "POST", "Patient", patient())
            self.assertEqual(r.status, 201)
            self.assertEqual(r.header("location"),
                             "https://fhir.example.org/fhir/Patient/%s/_history/1" % r.json["id"])
            h = request(s, "GET", "Patient/%s/_history" % r.json["id"])
            self.assertTrue(link(h.json, "self").startswith("https://fhir.example.org/fhir/Patient/"))
            self.assertTrue(h.json["entry"][0]["fullUrl"].startswith("https://fhir.example.org/fhir/Patient/"))
            self.assertEqual(s.stop(), 0)

    def test_default_base_url_is_reachable(self):
        with Server() as s:
            r = request(s, "POST", "Patient", patient())
            loc = r.header("location")
            self.assertTrue(loc.startswith("http://127.0.0.1:%d/fhir/" % s.port), loc)
            self.assertEqual(s.stop(), 0)
