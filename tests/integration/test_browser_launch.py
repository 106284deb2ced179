"""End-to-end browser test (issue 5, "Tests": "Debian's chromium (headless)
runs a small test page that uses the npm package fhirclient (SMART's
JavaScript client) to do a standalone launch against the server and read
the patient").

One `--auth smart` server (SmartCase: seeded on an `--auth off` server,
then clients and users registered with the CLI) and a static HTTP server on
another loopback port that serves the app: tests/browser/app/launch.html,
index.html and fhirclient's browser bundle from tests/browser/node_modules
(installed by `make`, see tests/browser/package.json). The app's origin
differs from the server's, so everything fhirclient does is cross-origin:
the discovery document (CORS *), the token endpoint (CORS for the client's
origin) and the FHIR reads (preflight for Authorization; src/auth/cors.c).

tests/browser/launch.mjs drives chromium through puppeteer-core: it opens
launch.html?iss=<base>, fills fhird's login form, approves the consent page
and reads what index.html wrote after FHIR.oauth2.ready() and
client.patient.read(). The browser runs once per class; each test asserts
one part of its result. Every wait is on a navigation or a selector.
"""
import http.server
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import urllib.parse

from smartutil import SmartCase, fhir_patient

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.normpath(os.path.join(HERE, "..", "browser"))
APP_DIR = os.path.join(BROWSER_DIR, "app")
DRIVER = os.path.join(BROWSER_DIR, "launch.mjs")
NODE_MODULES = os.path.join(BROWSER_DIR, "node_modules")
FHIRCLIENT_JS = os.path.join(NODE_MODULES, "fhirclient", "build", "fhir-client.js")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NODE = shutil.which("node") or "/usr/bin/node"
CLIENT_ID = "browser-app"
SCOPE = "openid fhirUser launch/patient patient/*.rs"
PATIENT = fhir_patient("bt-a", "Browserova", "Bea")
OTHER = fhir_patient("bt-b", "Otherson", "Olaf")
USERNAME = "bea"
STEP_TIMEOUT_MS = 60000   # each wait inside the browser
RUN_TIMEOUT_S = 300       # the whole driver, chromium start included


class StaticApp:
    """The test app's origin: a threaded http.server on 127.0.0.1:0 that
    serves exactly three files and records every request it saw."""

    FILES = {
        "/launch.html": (os.path.join(APP_DIR, "launch.html"), "text/html; charset=utf-8"),
        "/index.html": (os.path.join(APP_DIR, "index.html"), "text/html; charset=utf-8"),
        "/fhir-client.js": (FHIRCLIENT_JS, "text/javascript; charset=utf-8"),
    }

    def __init__(self):
        self.log = []
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = urllib.parse.urlsplit(self.path).path
                entry = app.FILES.get(path)
                if not entry:
                    self.send_error(404)
                    return
                with open(entry[0], "rb") as f:
                    body = f.read()
                self.send_response(200)
                self.send_header("Content-Type", entry[1])
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt, *args):
                app.log.append(fmt % args)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.origin = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="static-app", daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


def prerequisites():
    """What is missing to run the browser, or None."""
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append("chromium (Debian package; `make deps` installs it)")
    if not os.access(NODE, os.X_OK):
        missing.append("node (Debian package nodejs; `make deps`)")
    for p in (os.path.join(NODE_MODULES, "puppeteer-core", "package.json"), FHIRCLIENT_JS):
        if not os.path.exists(p):
            missing.append("%s (`make browser-deps` runs npm ci in tests/browser)" % os.path.relpath(p, BROWSER_DIR))
    return "; ".join(missing) or None


class TestBrowserStandaloneLaunch(SmartCase):
    SEED = (PATIENT, OTHER)
    USERS = ()

    @classmethod
    def setUpClass(cls):
        cls.run_out = None
        cls.run_error = None
        cls.driver_stderr = ""
        cls.app = None
        cls.password = "pw-" + secrets.token_urlsafe(12)
        missing = prerequisites()
        if missing:
            # not a skip: make check must not pass without having run the browser
            cls.run_error = "browser test prerequisites missing: " + missing
            return
        cls.app = StaticApp()
        cls.redirect = cls.app.origin + "/index.html"
        cls.CLIENTS = ({"id": CLIENT_ID, "type": "public", "redirect": cls.redirect,
                        "scope": "openid fhirUser launch launch/patient patient/*.rs",
                        "name": "fhird browser test"},)
        cls.USERS = ((USERNAME, "Patient/" + PATIENT["id"], cls.password),)
        try:
            super().setUpClass()
        except BaseException:
            cls.app.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.server:
                super().tearDownClass()
        finally:
            if cls.app:
                cls.app.stop()

    @classmethod
    def after_setup(cls):
        """Runs the browser once; the tests look at what it found."""
        launch = "%s/launch.html?%s" % (cls.app.origin, urllib.parse.urlencode(
            {"iss": cls.server.base, "client_id": CLIENT_ID, "other": OTHER["id"]}))
        cfg = {"url": launch, "username": USERNAME, "password": cls.password, "chromium": CHROMIUM,
               "timeout_ms": STEP_TIMEOUT_MS}
        home = tempfile.mkdtemp(prefix="fhird-browser-", dir=cls.workdir)
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=home, XDG_CACHE_HOME=home, TMPDIR=home)
        # its own process group: on a timeout chromium goes with node
        p = subprocess.Popen([NODE, DRIVER, json.dumps(cfg)], cwd=BROWSER_DIR, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            stdout, cls.driver_stderr = p.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            stdout, cls.driver_stderr = p.communicate()
            cls.run_error = "the driver did not finish within %d s" % RUN_TIMEOUT_S
        lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
        if not lines:
            cls.run_error = cls.run_error or "the driver printed no result (exit %s):\n%s" % (p.returncode,
                                                                                           stdout[-3000:])
            return
        cls.run_out = json.loads(lines[-1])
        if not cls.run_out.get("ok") and not cls.run_error:
            if cls.run_out.get("step") == "finished":
                cls.run_error = "the app page reported an error (data-status=%r)" % cls.run_out.get("status")
            else:
                cls.run_error = "the launch stopped at step %r" % cls.run_out.get("step")

    # -- diagnostics
    def diagnostics(self):
        o = self.run_out or {}
        parts = ["step: %s" % o.get("step"), "page URL: %s" % o.get("url"),
                 "page text:\n%s" % (o.get("body") or "")[:3000]]
        if o.get("error"):
            parts.append("driver error:\n%s" % o["error"][:3000])
        if o.get("console"):
            parts.append("browser console:\n  " + "\n  ".join(o["console"][-40:]))
        if o.get("failed"):
            parts.append("failed requests:\n  " + "\n  ".join(o["failed"][-40:]))
        if o.get("result") is not None:
            parts.append("app result: %s" % json.dumps(o["result"])[:3000])
        if getattr(self, "driver_stderr", ""):
            parts.append("driver stderr:\n%s" % self.driver_stderr[-3000:])
        if self.app:
            parts.append("static server log:\n  " + "\n  ".join(self.app.log[-40:]))
        if self.server:
            parts.append("fhird stderr (tail):\n%s" % self.server.stderr()[-4000:])
        return "\n".join(parts)

    def details(self):
        """The diagnostics once per class (the first failing test), then a pointer."""
        cls = type(self)
        if getattr(cls, "details_shown", False):
            return "(diagnostics: see the first failing test of %s)" % cls.__name__
        cls.details_shown = True
        return self.diagnostics()

    def result(self):
        """The app's result, or a failure with everything known about the run."""
        if self.run_error:
            self.fail("%s\n%s" % (self.run_error, self.details()))
        r = self.run_out.get("result")
        if not isinstance(r, dict):
            self.fail("the app page wrote no JSON result\n%s" % self.details())
        return r

    # -- tests
    def test_launch_reads_the_patient(self):
        """fhirclient completed the standalone launch (authorize with PKCE,
        fhird's login and consent pages, code exchange) and
        client.patient.read() returned exactly the patient the user is."""
        r = self.result()
        p = r.get("patient") or {}
        self.assertEqual(p.get("resourceType"), "Patient", self.details())
        self.assertEqual(p.get("id"), PATIENT["id"], r)
        self.assertEqual(p.get("name"), PATIENT["name"], r)
        self.assertEqual(r.get("serverUrl"), self.server.base)

    def test_token_carries_patient_context(self):
        """The token response fhirclient got names the launch patient
        (client.patient.id, SMART app-launch.html#response-5), the access
        token's patient claim is the same, the scopes asked for were
        granted, and the id_token's fhirUser is the user's Patient."""
        r = self.result()
        t = r.get("token") or {}
        self.assertEqual(r.get("patientId"), PATIENT["id"], r)
        self.assertEqual(t.get("patient"), PATIENT["id"], r)
        self.assertEqual((t.get("claims") or {}).get("patient"), PATIENT["id"], r)
        self.assertEqual((t.get("claims") or {}).get("client_id"), CLIENT_ID, r)
        aud = (t.get("claims") or {}).get("aud")
        self.assertIn(self.server.base, aud if isinstance(aud, list) else [aud], r)
        self.assertEqual((t.get("token_type") or "").lower(), "bearer", r)
        self.assertEqual(set((t.get("scope") or "").split()), set(SCOPE.split()), r)
        self.assertTrue(t.get("has_id_token"), r)
        self.assertEqual(r.get("fhirUser"), "Patient/" + PATIENT["id"], r)

    def test_other_patient_refused(self):
        """client.request("Patient/<other>") with the same token fails with
        403 or 404 - an HTTP status the app can read (CORS headers on the
        error too), not a network error."""
        r = self.result()
        other = r.get("other") or {}
        self.assertIn(other.get("status"), (403, 404), "%r\n%s" % (other, self.details()))

    def test_cross_origin_path(self):
        """The reads really were cross-origin: the server answered a CORS
        preflight for the patient read (access log: OPTIONS ... 204), and
        the static server served the app pages and fhirclient."""
        self.result()
        log = self.server.stderr()
        pre = [ln for ln in log.splitlines() if "msg=access" in ln and "method=OPTIONS" in ln and
               'path="/fhir/Patient/%s"' % PATIENT["id"] in ln]
        self.assertTrue(pre, "no preflight in the access log:\n%s" % log[-4000:])
        self.assertTrue(any("status=204" in ln for ln in pre), pre)
        served = "\n".join(self.app.log)
        for f in ("/launch.html", "/index.html?", "/fhir-client.js"):
            self.assertIn("GET " + f, served, served)
