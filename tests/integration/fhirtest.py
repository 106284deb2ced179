"""fhirtest.py - harness for fhird integration tests (Python standard library only).

Server(...) starts the real binary (env FHIRD_BIN) on 127.0.0.1:0 with a fresh
temporary database; readiness is the port file the server writes once it
listens (no sleeps, no fixed ports). request() speaks HTTP(S) over a
keep-alive connection per server.

With FHIRD_TEST_PG set (a postgresql:// URL of a throwaway cluster's
maintenance database, see tests/pgcluster.py and tests/run.py --pg), each
server directory gets a fresh PostgreSQL database instead of a SQLite file:
Server.db is then that database's URL, and pg_sql() runs SQL on it.
"""
import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("FHIRD_BIN") or os.path.join(os.path.dirname(__file__), "..", "..", "build", "fhird")
READY_TIMEOUT = 60

# The PostgreSQL cluster the suite runs against, or "" for SQLite.
PG = os.environ.get("FHIRD_TEST_PG", "")
_pg_names = itertools.count(1)


def pg_sql(url, sql, check=True):
    """Runs SQL on a PostgreSQL database with psql; returns the CompletedProcess
    (stdout: unaligned rows, no headers)."""
    return subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                          capture_output=True, text=True, timeout=120, check=check)


def pg_new_db():
    """A fresh, empty database on the cluster named by FHIRD_TEST_PG: its URL.
    A schema of its own in the cluster's database, named by search_path in
    the URL's options: as isolated as a database for fhird (every table,
    function and trigger is made in it), and it costs milliseconds where
    CREATE / DROP DATABASE cost a checkpoint each."""
    name = "it_%d_%d" % (os.getpid(), next(_pg_names))
    pg_sql(PG, 'CREATE SCHEMA "%s"' % name)
    return PG + "?options=-c%%20search_path%%3D%s" % name


def pg_drop_db(url):
    name = url.rsplit("%3D", 1)[1]
    pg_sql(PG, 'DROP SCHEMA IF EXISTS "%s" CASCADE' % name, check=False)


def db_for_dir(directory, name="fhird.db"):
    """The database of a test directory: the SQLite file, or under PG the
    database made for that directory on first use (remembered in a file
    there, so servers and tools sharing a directory share the database)."""
    if not PG:
        return os.path.join(directory, name)
    marker = os.path.join(directory, name + ".pg-url")
    if os.path.exists(marker):
        with open(marker) as f:
            return f.read().strip()
    url = pg_new_db()
    with open(marker, "w") as f:
        f.write(url)
    return url


def skip_on_pg(reason):
    """Decorator: skips a test (or class) under PostgreSQL, with the reason."""
    return unittest.skipIf(bool(PG), "PostgreSQL run: " + reason)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        return self.headers.get(name.lower())


def run_cli(*args, env=None, timeout=30):
    """Runs the binary with args; returns (exit status, stdout, stderr)."""
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("FHIRD_") and k != "FHIRD_BIN":
            del e[k]
    if env:
        e.update(env)
    p = subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=timeout, env=e)
    return p.returncode, p.stdout, p.stderr


def make_cert(directory):
    """Self-signed P-256 certificate for localhost / 127.0.0.1."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True)
    return cert, key


class Server:
    def __init__(self, *extra, env=None, tls=False, workdir=None):
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="fhird-it-")
        self.extra = list(extra)
        self.env = env or {}
        self.tls = tls
        self.proc = None
        self.conn = None
        self.cert = self.key = None
        if tls:
            self.cert, self.key = make_cert(self.dir)
        self.start()

    @property
    def db(self):
        """The --db given: the SQLite file, or a postgresql:// URL (FHIRD_TEST_PG)."""
        return db_for_dir(self.dir)

    def start(self):
        portfile = os.path.join(self.dir, "port")
        if os.path.exists(portfile):
            os.unlink(portfile)
        args = [BIN, "serve", "--listen", "127.0.0.1:0", "--port-file", portfile, "--db", self.db]
        if not any(a == "--auth" or a.startswith("--auth=") for a in self.extra):
            args += ["--auth", "off"]
        if self.tls:
            args += ["--tls-cert", self.cert, "--tls-key", self.key]
        args += self.extra
        env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRD_") or k == "FHIRD_BIN"}
        env.update(self.env)
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if os.path.exists(portfile):
                with open(portfile) as f:
                    txt = f.read().strip()
                if txt:
                    self.port = int(txt)
                    break
            if self.proc.poll() is not None:
                raise RuntimeError("fhird exited with %d before it was ready:\n%s" % (self.proc.returncode, self.stderr()))
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("fhird not ready after %d s" % READY_TIMEOUT)
            time.sleep(0.02)
        scheme = "https" if self.tls else "http"
        self.origin = "%s://127.0.0.1:%d" % (scheme, self.port)
        self.base = self.origin + "/fhir"
        self.conn = None

    def ssl_context(self, minv=None, maxv=None):
        ctx = ssl.create_default_context(cafile=self.cert)
        if minv:
            ctx.minimum_version = minv
        if maxv:
            ctx.maximum_version = maxv
        return ctx

    def connect(self, timeout=60):
        if self.tls:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.ssl_context())
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, fresh=False):
        """path is relative to the FHIR base ("Patient/1") or absolute ("/x")."""
        if path.startswith("http://") or path.startswith("https://"):
            path = path[path.index("/", 8):]
        elif not path.startswith("/"):
            path = "/fhir/" + path if path else "/fhir"
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/fhir+json")
        elif isinstance(body, str):
            body = body.encode()
        for attempt in range(2):
            conn = self.connect() if fresh else (self.conn or self.connect())
            try:
                conn.request(method, path, body=body, headers=h)
                r = conn.getresponse()
                data = r.read()
                resp = Response(r.status, r.getheaders(), data)
                if not fresh:
                    self.conn = conn if not r.will_close else None
                if r.will_close or fresh:
                    conn.close()
                return resp
            except (ConnectionError, http.client.RemoteDisconnected, BrokenPipeError):
                conn.close()
                self.conn = None
                if attempt or fresh:
                    raise

    def stderr(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit status."""
        if self.conn:
            self.conn.close()
            self.conn = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if self.proc.returncode != 0:
            # a failed shutdown (e.g. a sanitizer report) must be visible
            import sys
            sys.stderr.write("fhird exited with %s; stderr tail:\n%s\n" % (self.proc.returncode, self.stderr()[-4000:]))
        return self.proc.returncode

    def kill9(self):
        if self.conn:
            self.conn.close()
            self.conn = None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.stop()
        if self.own_dir:
            if PG and os.path.exists(os.path.join(self.dir, "fhird.db.pg-url")):
                pg_drop_db(self.db)
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


LEAK_MARKERS = ("sqlite", "SQL", "postgres", "/tmp", ".c:", "jansson", "microhttpd")


class FhirTestCase(unittest.TestCase):
    """One server per test class (setUpClass); SERVER_ARGS adds flags."""
    SERVER_ARGS = ()
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = Server(*cls.SERVER_ARGS)

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            rc = cls.server.stop()
            cls.server.cleanup()
            # a clean SIGTERM shutdown exits 0 (under ASan this also means no leaks)
            assert rc == 0, "server exited with %s" % rc

    def req(self, method, path, body=None, headers=None):
        return self.server.request(method, path, body, headers)

    def assertOutcome(self, r, status):
        """status matches and the body is an OperationOutcome that leaks nothing."""
        self.assertEqual(r.status, status, r.body[:500])
        self.assertIsNotNone(r.json, "error body is not JSON: %r" % r.body[:200])
        self.assertEqual(r.json.get("resourceType"), "OperationOutcome")
        issue = r.json["issue"][0]
        self.assertIn(issue["severity"], ("error", "fatal"))
        self.assertTrue(issue.get("code"))
        text = r.body.decode(errors="replace")
        for m in LEAK_MARKERS:
            self.assertNotIn(m, text)
        self.assertTrue(r.header("content-type").startswith("application/fhir+json"))

    def create(self, resource):
        r = self.req("POST", resource["resourceType"], resource)
        self.assertEqual(r.status, 201, r.body)
        return r

    def put(self, resource, headers=None):
        return self.req("PUT", "%s/%s" % (resource["resourceType"], resource["id"]), resource, headers)
