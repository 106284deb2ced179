"""--auth smart before the SMART server exists: fail closed. Every protected
request gets 401 + WWW-Authenticate: Bearer and an OperationOutcome; metadata
stays public; tokens are never logged."""
from itutil import SpecCase, observation, patient, wait_for

TOKEN = "eyJhbGciOiJub25lIn0.TOKENSECRET4711.sig"


class TestSmartFailsClosed(SpecCase):
    SERVER_ARGS = ("--auth", "smart")

    def assert401(self, r):
        self.assertOutcome(r, 401)
        www = r.header("www-authenticate")
        self.assertIsNotNone(www, "401 without WWW-Authenticate")
        self.assertTrue(www.startswith("Bearer"), www)

    def test_metadata_public(self):
        r = self.fetch("GET", "metadata")
        self.assertStatus(r, 200)
        self.assertFhirJson(r)
        self.assertEqual(r.json["resourceType"], "CapabilityStatement")

    def test_read_without_token(self):
        self.assert401(self.fetch("GET", "Patient/1"))

    def test_every_interaction_without_token(self):
        for method, path, body in (("POST", "Patient", patient()), ("PUT", "Patient/a1", patient(id="a1")),
                                   ("DELETE", "Patient/a1", None), ("GET", "Patient/a1/_history/1", None),
                                   ("GET", "Patient/a1/_history", None), ("GET", "Patient/_history", None),
                                   ("GET", "_history", None), ("POST", "Observation", observation())):
            with self.subTest(method=method, path=path):
                self.assert401(self.fetch(method, path, body))

    def test_bogus_tokens_rejected(self):
        for auth in ("Bearer " + TOKEN, "Bearer", "Basic dXNlcjpwYXNz", TOKEN):
            with self.subTest(authorization=auth):
                self.assert401(self.fetch("GET", "Patient/1", headers={"Authorization": auth}))

    def test_nothing_written_without_token(self):
        self.assert401(self.fetch("PUT", "Patient/never", patient(id="never")))
        self.assert401(self.fetch("GET", "Patient/never"))

    def test_token_not_logged(self):
        self.fetch("GET", "Patient/logcheck", headers={"Authorization": "Bearer " + TOKEN})
        wait_for(lambda: "/fhir/Patient/logcheck" in self.server.stderr(), 10, "the access log line")
        self.assertNotIn("TOKENSECRET4711", self.server.stderr())
