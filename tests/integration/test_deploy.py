"""Unprivileged running (issue 6: "The network-facing process never needs to
write outside its data directory; document how to run it as an unprivileged
user (a systemd unit in contrib/ with sandboxing options)"; docs/deploy.md).

TestWritesOnlyDataDir starts `fhird serve` as an otherwise unused user id
(setpriv, when the suite runs as root), with the working directory `/` and
HOME pointing nowhere, so that only the data directory is its own, and
under `strace -f` recording every file system call that could create,
change or remove a file - attempts that failed included. Over a first start
(signing keys generated), client registration, a token, creates, updates,
a PATCH, deletes, a transaction, searches, history, reads of the audit
trail and a clean stop, every such call must name a path inside the data
directory. The server must also work like that: every request answers as
the spec says, the files it made belong to that user, and the audit trail
verifies afterwards.

TestUnit checks contrib/fhird.service with `systemd-analyze verify` (no
warnings) and its sandbox with `systemd-analyze security --offline`.
"""
import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import unittest
import urllib.parse

from fhirtest import BIN, Response, make_cert
import http.client
from smartutil import ASSERTION_TYPE, ClientKey, client_assertion, jwks_file

HERE = os.path.dirname(os.path.abspath(__file__))
UNIT = os.path.join(HERE, "..", "..", "contrib", "fhird.service")

# syscalls that take a path and may create, change or remove what it names:
# name -> (indexes of the path arguments, index of the flags argument for
# the open family, whose write intent is read from the flags)
WRITE_CALLS = {
    "open": ((0,), 1), "openat": ((1,), 2), "openat2": ((1,), 2), "creat": ((0,), None),
    "mkdir": ((0,), None), "mkdirat": ((1,), None), "rmdir": ((0,), None),
    "unlink": ((0,), None), "unlinkat": ((1,), None),
    "rename": ((0, 1), None), "renameat": ((1, 3), None), "renameat2": ((1, 3), None),
    "link": ((1,), None), "linkat": ((3,), None), "symlink": ((1,), None), "symlinkat": ((2,), None),
    "truncate": ((0,), None), "chmod": ((0,), None), "fchmodat": ((1,), None),
    "chown": ((0,), None), "lchown": ((0,), None), "fchownat": ((1,), None),
    "utime": ((0,), None), "utimes": ((0,), None), "utimensat": ((1,), None), "futimesat": ((1,), None),
    "mknod": ((0,), None), "mknodat": ((1,), None),
    "setxattr": ((0,), None), "lsetxattr": ((0,), None), "removexattr": ((0,), None),
    "lremovexattr": ((0,), None),
}
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")


def split_args(s):
    """Top-level comma split of an strace argument list (strings, braces)."""
    out, depth, cur, i, instr = [], 0, "", 0, False
    while i < len(s):
        ch = s[i]
        if instr:
            cur += ch
            if ch == "\\":
                cur += s[i + 1]
                i += 1
            elif ch == '"':
                instr = False
        elif ch == '"':
            instr = True
            cur += ch
        elif ch in "{[(":
            depth += 1
            cur += ch
        elif ch in "}])":
            depth -= 1
            cur += ch
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
        i += 1
    if cur.strip():
        out.append(cur.strip())
    return out


def unquote(arg):
    m = re.match(r'^"((?:[^"\\]|\\.)*)"', arg)
    if not m:
        return None
    return m.group(1).encode("latin-1").decode("unicode_escape")


def write_attempts(trace_dir, cwd):
    """(syscall, path) of every call that could write, from strace -ff -y files."""
    found = []
    for name in sorted(os.listdir(trace_dir)):
        if not name.startswith("trace."):
            continue
        with open(os.path.join(trace_dir, name), encoding="latin-1") as f:
            for line in f:
                m = re.match(r"^(\w+)\((.*)\)\s+=\s+(.*)$", line.strip())
                if not m or m.group(1) not in WRITE_CALLS:
                    continue
                call, args = m.group(1), split_args(m.group(2))
                paths, flag_i = WRITE_CALLS[call]
                if flag_i is not None and flag_i < len(args):
                    if not any(f in args[flag_i] for f in WRITE_FLAGS):
                        continue
                for pi in paths:
                    if pi >= len(args):
                        continue
                    p = unquote(args[pi])
                    if p is None:  # NULL (utimensat on an fd): the fd's path, from -y
                        fm = re.match(r"^\d+<(.*)>$", args[0])
                        if fm:
                            found.append((call, fm.group(1)))
                        continue
                    if not p.startswith("/"):
                        base = cwd
                        if pi > 0:
                            dm = re.match(r"^\d+<(.*)>$", args[pi - 1])
                            if dm:
                                base = dm.group(1)
                        p = os.path.join(base, p)
                    found.append((call, os.path.normpath(p)))
    return found


def unused_id():
    for i in range(62000, 65000):
        try:
            pwd.getpwuid(i)
        except KeyError:
            try:
                import grp
                grp.getgrgid(i)
            except KeyError:
                return i
    raise RuntimeError("no unused uid")


class TestWritesOnlyDataDir(unittest.TestCase):
    def setUp(self):
        if not shutil.which("strace"):
            self.fail("strace is missing (tools/deps.sh installs it)")
        self.base = tempfile.mkdtemp(prefix="fhird-deploy-")
        os.chmod(self.base, 0o711)  # traversable, not writable, for the service user
        self.data = os.path.join(self.base, "data")
        self.traces = os.path.join(self.base, "traces")
        os.mkdir(self.data, 0o700)
        os.mkdir(os.path.join(self.data, "tmp"), 0o700)
        os.mkdir(self.traces, 0o700)
        self.root = os.geteuid() == 0
        self.uid = unused_id() if self.root else os.geteuid()
        self.gid = self.uid if self.root else os.getegid()
        tls = os.path.join(self.base, "tls")
        os.mkdir(tls, 0o711)
        self.cert, self.key = make_cert(tls)
        os.chmod(self.cert, 0o644)
        os.chmod(self.key, 0o400)
        if self.root:
            for d in (self.data, os.path.join(self.data, "tmp")):
                os.chown(d, self.uid, self.gid)
            os.chown(self.key, self.uid, self.gid)
        self.proc = None

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.base, ignore_errors=True)

    def as_user(self):
        if not self.root:
            return []
        return ["setpriv", "--reuid=%d" % self.uid, "--regid=%d" % self.gid, "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--"]

    def env(self, traced=False):
        # what the unit gives it: nothing of root's environment (but the
        # sanitizer settings of `make asan`)
        e = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "TMPDIR": os.path.join(self.data, "tmp")}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            if k in os.environ:
                e[k] = os.environ[k]
        if traced:
            # LeakSanitizer stops the world with ptrace, which strace holds
            e["ASAN_OPTIONS"] = (e.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
        return e

    def cli(self, *args, input=None):
        p = subprocess.run(self.as_user() + [BIN] + list(args), input=input, capture_output=True, text=True,
                           timeout=120, env=self.env(), cwd="/")
        self.assertEqual(p.returncode, 0, "fhird %s: %s %s" % (" ".join(args), p.stdout, p.stderr))
        return p.stdout

    def start(self):
        portfile = os.path.join(self.data, "port")
        cmd = (["strace", "-f", "-ff", "-qq", "-y", "-s", "4096", "-e", "trace=%file",
                "-o", os.path.join(self.traces, "trace")] + self.as_user() +
               [BIN, "serve", "--listen", "127.0.0.1:0", "--port-file", portfile,
                "--db", os.path.join(self.data, "fhird.db"), "--tls-cert", self.cert, "--tls-key", self.key,
                "--auth", "smart"])
        self.log = open(os.path.join(self.base, "stderr.log"), "wb")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log, env=self.env(traced=True),
                                     cwd="/")
        deadline = time.monotonic() + 120
        while True:
            if os.path.exists(portfile):
                with open(portfile) as f:
                    txt = f.read().strip()
                if txt:
                    self.port = int(txt)
                    return
            if self.proc.poll() is not None:
                self.fail("fhird exited with %s: %s" % (self.proc.returncode, self.stderr()))
            if time.monotonic() > deadline:
                self.fail("fhird not ready: %s" % self.stderr())
            time.sleep(0.02)

    def stderr(self):
        with open(os.path.join(self.base, "stderr.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")[-3000:]

    def server_pid(self):
        """The traced fhird: strace's child (setpriv execs it in place)."""
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open("/proc/%s/stat" % d) as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == self.proc.pid:
                    return int(d)
        self.fail("no fhird process under strace")

    def request(self, method, path, body=None, token=None, ctype="application/fhir+json"):
        import ssl
        ctx = ssl.create_default_context(cafile=self.cert)
        c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=60, context=ctx)
        h = {}
        if token:
            h["Authorization"] = "Bearer " + token
        if body is not None:
            h["Content-Type"] = ctype
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            c.close()

    def test_only_the_data_directory_is_written(self):
        self.start()
        pid = self.server_pid()
        with open("/proc/%d/status" % pid) as f:
            uids = [ln.split()[1:] for ln in f if ln.startswith("Uid:")][0]
        self.assertEqual({int(u) for u in uids}, {self.uid}, "fhird does not run as the service user")

        key = ClientKey(self.base, "EC", "deploy-1")
        jwks = jwks_file(self.base, "jwks.json", [key.jwk()])
        os.chmod(jwks, 0o644)
        scope = "system/Patient.cruds system/Bundle.cruds system/AuditEvent.rs"
        self.cli("client", "add", "--id", "deploy", "--type", "backend", "--scope", scope, "--jwks-file", jwks,
                 "--db", os.path.join(self.data, "fhird.db"))
        origin = "https://127.0.0.1:%d" % self.port
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope,
                                       "client_assertion_type": ASSERTION_TYPE,
                                       "client_assertion": client_assertion(key, "deploy", origin + "/auth/token")})
        r = self.request("POST", "/auth/token", form.encode(), ctype="application/x-www-form-urlencoded")
        self.assertEqual(r.status, 200, r.body)
        tok = r.json["access_token"]

        r = self.request("POST", "/fhir/Patient", {"resourceType": "Patient", "name": [{"family": "Deploy"}]}, tok)
        self.assertEqual(r.status, 201, r.body)
        pid_ = r.json["id"]
        r = self.request("PUT", "/fhir/Patient/dp1", {"resourceType": "Patient", "id": "dp1", "active": True}, tok)
        self.assertEqual(r.status, 201, r.body)
        r = self.request("PATCH", "/fhir/Patient/dp1", b'[{"op":"add","path":"/gender","value":"other"}]', tok,
                         ctype="application/json-patch+json")
        self.assertEqual(r.status, 200, r.body)
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:%08d-0000-4000-8000-000000000000" % i,
             "resource": {"resourceType": "Patient", "name": [{"family": "Tx%d" % i}]},
             "request": {"method": "POST", "url": "Patient"}} for i in range(50)]}
        r = self.request("POST", "/fhir", bundle, tok)
        self.assertEqual(r.status, 200, r.body[:500])
        r = self.request("GET", "/fhir/Patient?_sort=-family&_count=100", token=tok)
        self.assertEqual(r.status, 200, r.body[:500])
        self.assertEqual(r.json["resourceType"], "Bundle")
        self.assertEqual(self.request("GET", "/fhir/Patient/dp1/_history", token=tok).status, 200)
        self.assertEqual(self.request("DELETE", "/fhir/Patient/" + pid_, token=tok).status, 204)
        self.assertEqual(self.request("GET", "/fhir/Patient/" + pid_, token=tok).status, 410)
        r = self.request("GET", "/fhir/AuditEvent?_count=5", token=tok)
        self.assertEqual(r.status, 200, r.body[:500])
        self.assertGreater(len(r.json.get("entry", [])), 0, "no audit events")

        os.kill(pid, signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=60), 0, self.stderr())
        self.proc = None

        attempts = write_attempts(self.traces, "/")
        data = os.path.realpath(self.data)
        self.assertTrue(attempts, "the trace shows no writes at all (strace did not record?)")
        outside = [(c, p) for c, p in attempts if not (p == data or p.startswith(data + "/"))]
        self.assertEqual(outside, [], "written outside the data directory")
        self.assertTrue(any(p.endswith("/fhird-audit.db") for _, p in attempts), attempts)

        # what it made is the service user's, and the audit trail holds
        for name in os.listdir(self.data):
            st = os.stat(os.path.join(self.data, name))
            with self.subTest(file=name):
                self.assertEqual(st.st_uid, self.uid)
        self.assertTrue(os.path.exists(os.path.join(self.data, "fhird-audit.db")))
        self.cli("audit", "verify", "--db", os.path.join(self.data, "fhird.db"))


class TestUnit(unittest.TestCase):
    def setUp(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed")
        self.dir = tempfile.mkdtemp(prefix="fhird-unit-")
        with open(UNIT) as f:
            text = f.read()
        self.assertIn("ExecStart=/usr/local/bin/fhird serve", text)
        # verify checks that the binary exists: point it at the built one
        self.unit = os.path.join(self.dir, "fhird.service")
        with open(self.unit, "w") as f:
            f.write(text.replace("/usr/local/bin/fhird", os.path.abspath(BIN)))

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_verify(self):
        p = subprocess.run(["systemd-analyze", "verify", self.unit], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual((p.stdout + p.stderr).strip(), "", "systemd-analyze verify complains")

    def test_sandbox(self):
        with open(UNIT) as f:
            text = f.read()
        for line in ("User=fhird", "StateDirectory=fhird fhird/tmp", "ProtectSystem=strict", "ProtectHome=yes",
                     "PrivateTmp=yes", "PrivateDevices=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
                     "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "SystemCallFilter=@system-service",
                     "MemoryDenyWriteExecute=yes", "LockPersonality=yes", "RestrictNamespaces=yes", "UMask=0077",
                     "Environment=TMPDIR=/var/lib/fhird/tmp"):
            with self.subTest(line=line.strip()):
                self.assertIn("\n" + line if line.endswith("\n") else "\n" + line + "\n", text)
        p = subprocess.run(["systemd-analyze", "security", "--offline=yes", self.unit], capture_output=True,
                           text=True, timeout=60)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout + p.stderr)
        if not m:
            self.skipTest("this systemd-analyze has no offline security check: %s" % (p.stdout + p.stderr)[-300:])
        self.assertLessEqual(float(m.group(1)), 2.0, p.stdout)


if __name__ == "__main__":
    unittest.main()
