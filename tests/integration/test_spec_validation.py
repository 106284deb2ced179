"""Request bodies: 400 for what is not a FHIR JSON resource, 422 for a resource
that fails validation, 413 at the body limit (exact boundary), 405/501/404.
Complements test_errors.py."""
import socket

from itutil import SpecCase, observation, patient, read_response


def raw_post(server, body, path="/fhir/Patient", chunked=False):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    try:
        head = "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n" % path
        if chunked:
            data = head.encode() + b"Transfer-Encoding: chunked\r\n\r\n"
            for i in range(0, len(body), 700):
                part = body[i:i + 700]
                data += b"%x\r\n" % len(part) + part + b"\r\n"
            data += b"0\r\n\r\n"
        else:
            data = head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_response(s, "POST")
    finally:
        s.close()


def sized(n):
    """A valid Patient of exactly n bytes."""
    import json
    base = len(json.dumps(patient(family="")).encode())
    return json.dumps(patient(family="x" * (n - base))).encode()


class TestBadBodies(SpecCase):
    def post(self, data, path="Patient"):
        return self.fetch("POST", path, data, headers={"Content-Type": "application/fhir+json"})

    def test_malformed_json_400(self):
        for body in (b'{"resourceType":"Patient"', b"{'resourceType':'Patient'}", b'{"resourceType":"Patient",}',
                     b'{"resourceType":"Patient"} x', b'{"resourceType":"Patient","active":tru}',
                     b'{"resourceType":"Patient","multipleBirthInteger":NaN}', b"", b" ", b"\x00"):
            with self.subTest(body=body):
                self.assertOutcome(self.post(body), 400)

    def test_not_an_object_400(self):
        for body in (b"[]", b'"Patient"', b"42", b"null", b"true", b'[{"resourceType":"Patient"}]'):
            with self.subTest(body=body):
                self.assertOutcome(self.post(body), 400)

    def test_resource_type_400(self):
        for body in (b'{"resourceType":"Foo"}', b'{"resourceType":5}', b'{"resourceType":null}', b'{"active":true}',
                     b'{"resourceType":"patient"}', b'{"resourceType":"Resource"}', b'{"resourceType":"DomainResource"}'):
            with self.subTest(body=body):
                self.assertOutcome(self.post(body), 400)

    def test_invalid_utf8_400(self):
        for bad in (b"\xff\xfe", b"\xc0\xaf", b"\x80", b"\xe2\x82", b"\xf4\x90\x80\x80", b"\xed\xa0\x80"):
            with self.subTest(bytes=bad):
                body = b'{"resourceType":"Patient","name":[{"family":"a' + bad + b'b"}]}'
                self.assertOutcome(self.post(body), 400)

    def test_valid_utf8_accepted(self):
        body = '{"resourceType":"Patient","name":[{"family":"Ødegård 李 \U0001F600"}]}'.encode("utf-8")
        r = self.post(body)
        self.assertStatus(r, 201)
        self.assertEqual(r.json["name"][0]["family"], "Ødegård 李 \U0001F600")

    def test_deep_nesting_400(self):
        deep = b'{"resourceType":"Patient","extension":' + b"[" * 200 + b"]" * 200 + b"}"
        self.assertOutcome(self.post(deep), 400)

    def test_validation_422(self):
        for res in (patient(foo=1), patient(birthDate="1990-13-45"), patient(active="yes"), patient(gender=1),
                    patient(birthDate="1990-1-1"), patient(name=[]), patient(identifier="not-an-array"),
                    {"resourceType": "Observation", "code": {"text": "x"}},
                    {"resourceType": "Observation", "status": "final"},
                    observation(status=["final"]), observation(effectiveDateTime="yesterday")):
            with self.subTest(resource=res):
                self.assertOutcome(self.fetch("POST", res["resourceType"], res), 422)

    def test_422_on_update_too(self):
        self.assertOutcome(self.fetch("PUT", "Patient/v422", patient(id="v422", active="yes")), 422)
        self.assertOutcome(self.fetch("GET", "Patient/v422"), 404)


class TestBodyLimit(SpecCase):
    SERVER_ARGS = ("--max-body-bytes", "2048")

    def test_exact_boundary(self):
        self.assertEqual(len(sized(2048)), 2048)
        for chunked in (False, True):
            with self.subTest(chunked=chunked):
                self.assertStatus(raw_post(self.server, sized(2048), chunked=chunked), 201)
                self.assertOutcome(raw_post(self.server, sized(2049), chunked=chunked), 413)
                self.assertOutcome(raw_post(self.server, sized(4096), chunked=chunked), 413)

    def test_large_declared_length(self):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=60)
        try:
            s.sendall(b"POST /fhir/Patient HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n"
                      b"Content-Length: 1073741824\r\n\r\n{")
            self.assertOutcome(read_response(s, "POST"), 413)
        finally:
            s.close()

    def test_server_still_serves_after_413(self):
        raw_post(self.server, sized(4096))
        self.assertStatus(self.fetch("GET", "metadata"), 200)


class TestMethods(SpecCase):
    def test_405_has_allow(self):
        for method, path in (("DELETE", "Patient"), ("PUT", "Patient"), ("POST", "Patient/123")):
            with self.subTest(method=method, path=path):
                r = self.fetch(method, path, b"{}", headers={"Content-Type": "application/fhir+json"})
                self.assertOutcome(r, 405)
                self.assertTrue(r.header("allow"), "405 without an Allow header (RFC 9110 15.5.6)")
                self.assertNotIn(method, [m.strip() for m in r.header("allow").split(",")])

    def test_not_implemented_501(self):
        # an operation we do not define
        self.assertOutcome(self.fetch("GET", "Patient/$no-such-operation"), 501)

    def test_outside_base_404(self):
        for path in ("/foo", "/fhirx/Patient/1", "/FHIR/metadata", "/favicon.ico"):
            with self.subTest(path=path):
                self.assertOutcome(self.fetch("GET", path), 404)
