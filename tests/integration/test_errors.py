"""Error statuses, OperationOutcome bodies, content negotiation, methods."""
import socket

from fhirtest import FhirTestCase


class TestBodyErrors(FhirTestCase):
    def post_raw(self, data, ctype="application/fhir+json", path="Patient"):
        return self.req("POST", path, data, {"Content-Type": ctype})

    def test_bad_json(self):
        self.assertOutcome(self.post_raw(b'{"resourceType": "Patient",'), 400)
        self.assertOutcome(self.post_raw(b""), 400)

    def test_not_an_object(self):
        self.assertOutcome(self.post_raw(b'[{"resourceType":"Patient"}]'), 400)
        self.assertOutcome(self.post_raw(b'"Patient"'), 400)

    def test_unknown_or_missing_resource_type(self):
        self.assertOutcome(self.post_raw(b'{"resourceType":"Foo"}'), 400)
        self.assertOutcome(self.post_raw(b'{"name":[]}'), 400)

    def test_duplicate_keys(self):
        self.assertOutcome(self.post_raw(b'{"resourceType":"Patient","gender":"male","gender":"female"}'), 400)

    def test_invalid_utf8(self):
        self.assertOutcome(self.post_raw(b'{"resourceType":"Patient","name":[{"family":"\xc3\x28"}]}'), 400)
        self.assertOutcome(self.post_raw(b'{"resourceType":"Patient","name":[{"family":"\xed\xa0\x80"}]}'), 400)

    def test_too_deep(self):
        deep = b'{"resourceType":"Patient","extension":[' + b'{"extension":[' * 100 + b']}' * 100 + b']}'
        self.assertOutcome(self.post_raw(deep), 400)

    def test_validation_422(self):
        for body in (b'{"resourceType":"Patient","foo":1}',
                     b'{"resourceType":"Patient","birthDate":"1990-13-45"}',
                     b'{"resourceType":"Patient","active":"yes"}',
                     b'{"resourceType":"Patient","name":[]}',
                     b'{"resourceType":"Patient","name":{"family":"x"}}',
                     b'{"resourceType":"Patient","gender":""}',
                     b'{"resourceType":"Patient","contained":[{"id":"x"}]}'):
            with self.subTest(body=body):
                r = self.post_raw(body)
                self.assertOutcome(r, 422)
                self.assertTrue(r.json["issue"][0].get("diagnostics"))
        r = self.post_raw(b'{"resourceType":"Observation","code":{"text":"x"}}', path="Observation")
        self.assertOutcome(r, 422)
        self.assertIn("Observation.status", r.json["issue"][0].get("expression", []))

    def test_primitive_extensions_accepted(self):
        r = self.post_raw(b'{"resourceType":"Patient","birthDate":"1970-01-01",'
                          b'"_birthDate":{"extension":[{"url":"http://x","valueString":"y"}]}}')
        self.assertEqual(r.status, 201, r.body)

    def test_media_types(self):
        self.assertOutcome(self.post_raw(b"<Patient/>", "application/fhir+xml"), 415)
        self.assertOutcome(self.post_raw(b'{"resourceType":"Patient"}', "text/plain"), 415)
        self.assertOutcome(self.post_raw(b'{"resourceType":"Patient"}', "application/x-www-form-urlencoded"), 415)
        r = self.post_raw(b'{"resourceType":"Patient"}', "application/fhir+json; charset=utf-8")
        self.assertEqual(r.status, 201)


class TestNegotiation(FhirTestCase):
    def test_accept(self):
        self.assertOutcome(self.req("GET", "metadata", headers={"Accept": "application/fhir+xml"}), 406)
        self.assertEqual(self.req("GET", "metadata", headers={"Accept": "application/json"}).status, 200)
        self.assertEqual(self.req("GET", "metadata", headers={"Accept": "application/fhir+json"}).status, 200)
        self.assertEqual(self.req("GET", "metadata", headers={"Accept": "text/html, */*;q=0.8"}).status, 200)

    def test_format_param(self):
        self.assertOutcome(self.req("GET", "metadata?_format=xml"), 406)
        self.assertEqual(self.req("GET", "metadata?_format=json").status, 200)
        self.assertEqual(self.req("GET", "metadata?_format=application/fhir%2Bjson").status, 200)
        # _format wins over Accept
        self.assertEqual(self.req("GET", "metadata?_format=json", headers={"Accept": "application/xml"}).status, 200)


class TestMethodsAndPaths(FhirTestCase):
    def test_methods(self):
        # PATCH exists now: an absent resource is a 404
        self.assertOutcome(self.req("PATCH", "Patient/x", b"[]", {"Content-Type": "application/json-patch+json"}), 404)
        self.assertOutcome(self.req("DELETE", "Patient"), 405)
        self.assertOutcome(self.req("POST", "Patient/123", {"resourceType": "Patient"}), 405)
        self.assertOutcome(self.req("PUT", "metadata", {"resourceType": "Patient"}), 405)

    def test_not_yet_implemented(self):
        self.assertOutcome(self.req("GET", "Patient/1/$no-such-operation"), 501)
        # batch exists now: an empty batch is answered with an empty batch-response
        r = self.req("POST", "", {"resourceType": "Bundle", "type": "batch"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["type"], "batch-response")

    def test_unknown_paths(self):
        self.assertOutcome(self.req("GET", "/foo"), 404)
        self.assertOutcome(self.req("GET", "/"), 404)
        self.assertOutcome(self.req("GET", "Patient/1/_history/1/extra"), 404)
        self.assertOutcome(self.req("GET", "Patient/1/_history/abc"), 404)

    def test_bad_escapes(self):
        self.assertOutcome(self.req("GET", "Patient/a%zz"), 400)
        self.assertOutcome(self.req("GET", "Patient/a%00b"), 400)


class TestLimits(FhirTestCase):
    SERVER_ARGS = ("--max-body-bytes", "2048", "--max-json-depth", "8")

    def test_body_too_large_content_length(self):
        body = b'{"resourceType":"Patient","id":"' + b"a" * 4096 + b'"}'
        self.assertOutcome(self.req("POST", "Patient", body, {"Content-Type": "application/fhir+json"}), 413)

    def test_body_too_large_chunked(self):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=30)
        try:
            chunk = b"a" * 1000
            req = (b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
                   b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            for _ in range(5):
                req += b"%x\r\n" % len(chunk) + chunk + b"\r\n"
            req += b"0\r\n\r\n"
            s.sendall(req)
            data = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
        finally:
            s.close()
        self.assertIn(b"HTTP/1.1 413", data)
        self.assertIn(b"OperationOutcome", data)

    def test_depth_limit_configurable(self):
        deep = b'{"resourceType":"Patient","extension":[' + b'{"extension":[' * 5 + b']}' * 5 + b']}'
        self.assertOutcome(self.req("POST", "Patient", deep, {"Content-Type": "application/fhir+json"}), 400)
        ok = b'{"resourceType":"Patient","name":[{"given":["a"]}]}'
        self.assertEqual(self.req("POST", "Patient", ok, {"Content-Type": "application/fhir+json"}).status, 201)

    def test_url_too_long(self):
        self.assertOutcome(self.req("GET", "Patient/x?a=" + "b" * 9000), 414)
        self.assertOutcome(self.req("GET", "Patient/" + "x" * 9000), 414)
        # more query parameters than the server handles: also a 414
        self.assertOutcome(self.req("GET", "Patient/x?" + "a=b&" * 400), 414)
