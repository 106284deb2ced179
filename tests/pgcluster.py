"""pgcluster.py - a throwaway PostgreSQL cluster for the tests (stdlib only).

Cluster() runs initdb into a temporary directory, starts the server on
127.0.0.1 with a port the OS says is free and its socket in that directory,
fsync on (the durability tests depend on it), trust authentication on
loopback only, and waits until it accepts connections (pg_ctl -w, then
pg_isready: no fixed sleeps). create_db() makes a fresh database and returns
its postgresql:// URL; stop() stops the server and removes the directory.

As root (CI), the server runs as the `postgres` user that Debian's package
creates (initdb refuses root). The binaries are Debian's
(/usr/lib/postgresql/<version>/bin), or PG_BIN.

Command line:  python3 tests/pgcluster.py start DIR   prints the conninfo
               python3 tests/pgcluster.py stop DIR
"""
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile

_counter = itertools.count(1)


def pg_bindir():
    env = os.environ.get("PG_BIN")
    if env:
        return env
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if cands:
        return os.path.dirname(cands[-1])
    return ""


def available():
    """True when PostgreSQL's server binaries are installed."""
    b = pg_bindir()
    return bool(b) and os.access(os.path.join(b, "initdb"), os.X_OK)


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Cluster:
    def __init__(self, directory=None):
        self.bindir = pg_bindir()
        if not self.bindir:
            raise RuntimeError("PostgreSQL server binaries not found (install postgresql or set PG_BIN)")
        self.own = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix="fhird-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            os.chmod(self.dir, 0o700)
        self.port = None
        self.started = False

    def _run(self, args, check=True, **kw):
        cmd = list(args)
        if self.user:
            cmd = ["runuser", "-u", self.user, "--"] + cmd
        return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)

    def start(self):
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "postgres", "-A", "trust",
                   "-E", "UTF8", "--locale=C", "--no-instructions"])
        # Try ports until one binds: the OS named it free, but another
        # process may take it before the server binds.
        last = ""
        for _ in range(5):
            self.port = _free_port()
            p = self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l", self.log, "-o", self._opts(),
                           "-w", "-t", "60", "start"], check=False)
            if p.returncode == 0:
                break
            last = p.stdout + p.stderr + self.server_log()
        else:
            raise RuntimeError("PostgreSQL did not start:\n" + last[-3000:])
        self.started = True
        p = self._run([os.path.join(self.bindir, "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-t", "60"],
                      check=False)
        if p.returncode != 0:
            raise RuntimeError("PostgreSQL not ready:\n" + self.server_log()[-3000:])
        return self

    def server_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def url(self, db="postgres"):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, db)

    def psql(self, sql, db="postgres", check=True):
        """Runs SQL with psql (ON_ERROR_STOP); returns the CompletedProcess (unaligned, tuples only)."""
        return subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.url(db), "-c", sql],
                              check=check, capture_output=True, text=True, timeout=120)

    def create_db(self, prefix="fhird"):
        name = "%s_%d_%d" % (prefix, os.getpid(), next(_counter))
        self.psql('CREATE DATABASE "%s"' % name)
        return self.url(name)

    def drop_db(self, url):
        name = url.rsplit("/", 1)[1]
        self.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name, check=False)

    def stop(self):
        if self.started:
            self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop"],
                      check=False)
            self.started = False
        if self.own:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _opts(self):
        return ("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=on -c synchronous_commit=on "
                "-c max_connections=400 -c shared_buffers=64MB -c log_min_messages=warning" % (self.port, self.dir))

    def halt(self):
        """Stops the server (fast shutdown: sessions are terminated), keeping the data."""
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"])

    def resume(self):
        """Starts the server again on the same port after halt()."""
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l", self.log, "-o", self._opts(), "-w",
                   "-t", "60", "start"])

    @classmethod
    def attach(cls, directory, url):
        """The running cluster of another process (tests/run.py) by its directory and URL."""
        c = cls(directory)
        c.own = False
        c.started = True
        c.port = int(url.split("@127.0.0.1:", 1)[1].split("/", 1)[0])
        return c

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit("usage: pgcluster.py start|stop DIR")
    d = sys.argv[2]
    os.makedirs(d, exist_ok=True)
    c = Cluster(d)
    if sys.argv[1] == "start":
        c.start()
        print(c.url())
    else:
        c.started = True
        c.stop()


if __name__ == "__main__":
    main()
