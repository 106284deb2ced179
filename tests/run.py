#!/usr/bin/env python3
"""run.py - fhird's test runner: unit tests (cmocka binaries), integration
tests (tests/integration/test_*.py against the real server binary) and the
adversarial security suite (tests/security/test_*.py, same harness).

    python3 tests/run.py --build build [--only unit|integration|security] [-k SUBSTRING]
                         [--pg off|only|also]

--pg also (make check): after the SQLite run, the integration and security
suites (and the PostgreSQL unit tests, test_*_pg*) run again against a
throwaway PostgreSQL cluster (tests/pgcluster.py), named pg-integration/...
and pg-security/...; --pg only runs just that.

Prints one line per test and ends with exactly `N passed, M failed`.
Exit status 1 when anything failed or nothing ran.
"""
import argparse
import os
import re
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TAP_LINE = re.compile(r"^(not ok|ok) \d+ - (.*)$")
TAP_SKIP = re.compile(r"^(?:not ok|ok) \d+ # SKIP\s*(.*)$")


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.failures = []
        self.known = []

    def ok(self, name):
        self.passed += 1
        print("PASS %s" % name, flush=True)

    def fail(self, name, detail=""):
        self.failed += 1
        self.failures.append(name)
        print("FAIL %s" % name, flush=True)
        if detail:
            print(detail.rstrip(), flush=True)


def run_unit(build, tally, pattern, pg_only=False):
    bindir = os.path.join(build, "tests")
    if not os.path.isdir(bindir):
        return
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP")
    for name in sorted(os.listdir(bindir)):
        path = os.path.join(bindir, name)
        if not name.startswith("test_") or not os.access(path, os.X_OK) or os.path.isdir(path):
            continue
        if pg_only and "_pg" not in name:
            continue
        try:
            p = subprocess.run([path], env=env, capture_output=True, timeout=600)
            # bytes: a test may print anything; decoding must not stop the run
            out = p.stdout.decode("utf-8", "replace")
            err = p.stderr.decode("utf-8", "replace")
            rc = p.returncode
        except subprocess.TimeoutExpired:
            out, err, rc = "", "timeout after 600 s", -1
        seen_fail = False
        matched = not pattern or pattern in name
        lines = out.splitlines()
        for i, line in enumerate(lines):
            m = TAP_LINE.match(line.strip())
            if not m:
                s = TAP_SKIP.match(line.strip())
                if s and (not pattern or pattern in "unit/%s/%s" % (name, s.group(1))):
                    print("SKIP unit/%s/%s" % (name, s.group(1)), flush=True)
                continue
            tname = "unit/%s/%s" % (name, m.group(2))
            if pattern and pattern not in tname:
                continue
            matched = True
            if m.group(1) == "ok":
                tally.ok(tname)
            else:
                seen_fail = True
                # cmocka's diagnostics for this test: the "# ..." lines after it
                diag = []
                for d in lines[i + 1:]:
                    if not d.startswith("#") or d.startswith("# ok - ") or d.startswith("# not ok - "):
                        break
                    diag.append(d)
                tally.fail(tname, "\n".join(diag) or (out[-2000:] + "\n" + err[-2000:]))
        if rc != 0 and not seen_fail and matched:
            tally.fail("unit/%s (exit %d)" % (name, rc), out[-3000:] + "\n" + err[-3000:])


class TallyResult(unittest.TestResult):
    def __init__(self, tally, prefix="integration"):
        super().__init__()
        self.tally = tally
        self.prefix = prefix
        self._start = {}

    def startTest(self, test):
        super().startTest(test)
        self._start[test.id()] = time.monotonic()

    def addSuccess(self, test):
        super().addSuccess(test)
        self.tally.ok(self._name(test))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.tally.fail(self._name(test), self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self.tally.fail(self._name(test), self._exc_info_to_string(err, test))

    def addSubTest(self, test, subtest, err):
        # A failing subtest fails its test: unittest then calls neither
        # addSuccess nor addFailure for the test itself, so count it here.
        super().addSubTest(test, subtest, err)
        if err is not None:
            if issubclass(err[0], unittest.SkipTest):
                print("SKIP %s: %s" % (self._name(subtest), err[1]), flush=True)
            else:
                self.tally.fail(self._name(subtest), self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        print("SKIP %s: %s" % (self._name(test), reason), flush=True)

    def addExpectedFailure(self, test, err):
        # a known open finding (marked @unittest.expectedFailure with the
        # reason next to it): listed, not counted as passed
        super().addExpectedFailure(test, err)
        self.tally.known.append(self._name(test))
        print("KNOWN %s (open finding, expected to fail)" % self._name(test), flush=True)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.tally.fail(self._name(test), "unexpected success")

    def _name(self, test):
        return self.prefix + "/" + test.id()


def filter_suite(suite, pattern):
    out = unittest.TestSuite()
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            out.addTests(filter_suite(t, pattern))
        elif not pattern or pattern in t.id():
            out.addTest(t)
    return out


def run_python_suite(build, tally, pattern, kind, prefix=""):
    """Runs tests/<kind>/test_*.py against the binary; names are <kind>/<test id>.
    The security suite imports the integration helpers (fhirtest, smartutil)."""
    binary = os.path.abspath(os.path.join(build, "fhird"))
    if not os.access(binary, os.X_OK):
        tally.fail("%s (no binary at %s)" % (kind, binary))
        return
    os.environ["FHIRD_BIN"] = binary
    idir = os.path.join(HERE, "integration")
    if idir not in sys.path:
        sys.path.insert(0, idir)
    sdir = os.path.join(HERE, kind)
    if sdir not in sys.path:
        sys.path.insert(0, sdir)
    suite = unittest.defaultTestLoader.discover(sdir, pattern="test_*.py", top_level_dir=sdir)
    suite = filter_suite(suite, pattern)
    result = TallyResult(tally, prefix + kind)
    suite.run(result)


def run_integration(build, tally, pattern, prefix=""):
    run_python_suite(build, tally, pattern, "integration", prefix)


def run_security(build, tally, pattern, prefix=""):
    run_python_suite(build, tally, pattern, "security", prefix)


def run_on_pg(a, tally):
    """The integration and security suites again, against a throwaway
    PostgreSQL cluster (tests/pgcluster.py): every server gets a database of
    its own (FHIRD_TEST_PG). Test names get the prefix pg-. The unit tests
    that can use PostgreSQL get the cluster too (FHIRD_TEST_PG)."""
    sys.path.insert(0, HERE)
    import pgcluster
    if not pgcluster.available():
        if a.pg == "only":
            tally.fail("pg (PostgreSQL server binaries not installed: make deps)")
        else:
            print("SKIP pg: PostgreSQL server binaries not installed (make deps)", flush=True)
        return
    cluster = pgcluster.Cluster()
    # a SIGTERM (a CI timeout, a kill) must still stop the cluster: as an
    # exception, it runs the finally below
    import signal

    def _term(signum, frame):
        raise KeyboardInterrupt("SIGTERM")  # unittest lets it through (SystemExit it records as an error)
    signal.signal(signal.SIGTERM, _term)
    try:
        cluster.start()
    except Exception as e:  # the run must say why, not crash
        tally.fail("pg (cluster did not start)", str(e))
        cluster.stop()
        return
    old = os.environ.get("FHIRD_TEST_PG")
    os.environ["FHIRD_TEST_PG"] = cluster.url()
    os.environ["FHIRD_TEST_PG_DIR"] = cluster.dir  # test_pg_nodes restarts it
    # fhirtest reads the variable at import: load it afresh for this run
    for m in [m for m in sys.modules if m in ("fhirtest", "smartutil", "itutil", "secutil")
              or m.startswith("test_")]:
        del sys.modules[m]
    try:
        if a.only in (None, "unit"):
            run_unit(a.build, tally, a.pattern, pg_only=a.pg == "also")
        if a.only in (None, "integration"):
            run_integration(a.build, tally, a.pattern, "pg-")
        if a.only in (None, "security"):
            run_security(a.build, tally, a.pattern, "pg-")
    finally:
        os.environ.pop("FHIRD_TEST_PG_DIR", None)
        if old is None:
            os.environ.pop("FHIRD_TEST_PG", None)
        else:
            os.environ["FHIRD_TEST_PG"] = old
        cluster.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--only", choices=["unit", "integration", "security"])
    ap.add_argument("-k", dest="pattern", default="")
    ap.add_argument("--pg", choices=["off", "only", "also"], default="off",
                    help="PostgreSQL: off (SQLite only), only (the suites against a throwaway cluster), "
                         "also (SQLite, then integration + security again on PostgreSQL)")
    a = ap.parse_args()
    tally = Tally()
    t0 = time.monotonic()
    if a.pg != "only":
        if a.only in (None, "unit"):
            run_unit(a.build, tally, a.pattern)
        if a.only in (None, "integration"):
            run_integration(a.build, tally, a.pattern)
        if a.only in (None, "security"):
            run_security(a.build, tally, a.pattern)
    if a.pg != "off":
        run_on_pg(a, tally)
    if tally.failures:
        print("\nfailed:")
        for f in tally.failures:
            print("  " + f)
    print("(%.1f s)" % (time.monotonic() - t0))
    if tally.known:
        print("%d known open findings (expected failures): %s" % (len(tally.known), ", ".join(tally.known)))
    print("%d passed, %d failed" % (tally.passed, tally.failed))
    sys.exit(1 if tally.failed or tally.passed == 0 else 0)


if __name__ == "__main__":
    main()
