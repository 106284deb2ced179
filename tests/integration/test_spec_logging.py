"""The access log on stderr: one logfmt line per request with method, path,
query parameter names (never values), status, bytes, duration; no secrets."""
from itutil import SpecCase, access_lines, patient, wait_for

SECRET = "SECRETVALUE"


class TestAccessLog(SpecCase):
    def lines_for(self, path, n=1):
        wait_for(lambda: len(access_lines(self.server, path)) >= n, 10, "%d access line(s) for %s" % (n, path))
        return access_lines(self.server, path)

    def test_query_values_never_logged(self):
        r = self.fetch("GET", "metadata?_pretty=true&x=" + SECRET)
        self.assertStatus(r, 200)
        (line,) = self.lines_for("/fhir/metadata")
        self.assertEqual(line.get("method"), "GET")
        self.assertEqual(line.get("status"), "200")
        names = line.get("query", "")
        self.assertIn("_pretty", names)
        self.assertIn("x", names.replace("_pretty", ""))
        self.assertNotIn(SECRET, self.server.stderr())
        self.assertNotIn("true", names)

    def test_fields(self):
        r = self.fetch("GET", "Patient/no-such-patient")
        self.assertStatus(r, 404)
        (line,) = self.lines_for("/fhir/Patient/no-such-patient")
        self.assertEqual(line.get("level"), "info")
        self.assertTrue(line.get("ts"))
        self.assertEqual(line.get("method"), "GET")
        self.assertEqual(line.get("status"), "404")
        self.assertTrue(line.get("bytes", "").isdigit(), line)
        self.assertEqual(int(line["bytes"]), len(r.body))
        self.assertTrue(line.get("dur_us", "").isdigit(), line)

    def test_one_line_per_request(self):
        for _ in range(3):
            self.assertStatus(self.fetch("GET", "Patient/count-me"), 404)
        self.assertEqual(len(self.lines_for("/fhir/Patient/count-me", 3)), 3)

    def test_post_logged_without_body_or_auth(self):
        body = patient(family="PHI" + SECRET + "FAMILY")
        r = self.fetch("POST", "Patient", body, headers={"Authorization": "Bearer TOK" + SECRET})
        self.assertStatus(r, 201)
        lines = self.lines_for("/fhir/Patient")
        self.assertTrue(any(ln.get("method") == "POST" and ln.get("status") == "201" for ln in lines), lines)
        log = self.server.stderr()
        self.assertNotIn(SECRET, log)

    def test_hostile_path_cannot_forge_log_lines(self):
        r = self.fetch("GET", "/fhir/Patient/a%0Alevel=error%20msg=forged%0D%0Ats=x")
        self.assertIn(r.status, (400, 404))
        wait_for(lambda: any("forged" in ln.get("path", "") for ln in access_lines(self.server)), 10,
                 "the access line")
        for ln in self.server.stderr().splitlines():
            self.assertTrue(ln.startswith("ts="), "stderr line that is not a log line: %r" % ln)
            self.assertNotIn("msg=forged", ln.split(" path=")[0], ln)
