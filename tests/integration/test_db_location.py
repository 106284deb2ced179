"""--db picks the backend (docs/postgresql.md): a path or sqlite:PATH is a
SQLite file; a postgresql:// or postgres:// URL is a PostgreSQL database,
and one that cannot be reached stops the start (exit status non-zero, said
in the log) without leaving a file named after the URL behind."""
import os
import shutil
import tempfile
import unittest

from fhirtest import Server, free_port, run_cli


class TestDbLocation(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fhird-dbloc-")
        self.cwd = os.getcwd()
        os.chdir(self.tmp)  # a file named after the URL would land here

    def tearDown(self):
        os.chdir(self.cwd)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_sqlite_prefix_is_the_path(self):
        path = os.path.join(self.tmp, "pre.db")
        s = Server("--db", "sqlite:" + path, workdir=self.tmp)
        try:
            r = s.request("PUT", "Patient/p1", {"resourceType": "Patient", "id": "p1"})
            self.assertEqual(r.status, 201, r.body)
        finally:
            self.assertEqual(s.stop(), 0)
        self.assertTrue(os.path.exists(path))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "sqlite:" + path)))
        # the same database through the plain path: the resource is there
        rc, out, err = run_cli("client", "list", "--db", path)
        self.assertEqual(rc, 0, err)

    def test_unreachable_postgresql_refuses_to_start(self):
        port = free_port()  # nothing listens there
        for scheme in ("postgresql", "postgres"):
            url = "%s://fhird@127.0.0.1:%d/fhird?connect_timeout=5" % (scheme, port)
            rc, out, err = run_cli("serve", "--listen", "127.0.0.1:0", "--db", url, "--auth", "off", timeout=60)
            self.assertNotEqual(rc, 0, err)
            self.assertIn("cannot open the database", err)
            self.assertEqual(os.listdir(self.tmp), [])  # no SQLite file named after the URL


if __name__ == "__main__":
    unittest.main()
