"""HTTPS: TLS 1.2 and 1.3 work, TLS 1.0/1.1 are refused, AEAD + forward secrecy,
https:// in Location and links, no plain HTTP on the TLS port."""
import http.client
import socket
import ssl
import warnings

from itutil import SpecCase, link, patient

OLD_VERSIONS = (("TLSv1", ssl.TLSVersion.TLSv1), ("TLSv1.1", ssl.TLSVersion.TLSv1_1))


class TestTls(SpecCase):
    @classmethod
    def setUpClass(cls):
        from fhirtest import Server
        cls.server = Server(tls=True)

    def ctx(self, version):
        return self.server.ssl_context(version, version)

    def get_metadata(self, ctx):
        c = http.client.HTTPSConnection("127.0.0.1", self.server.port, timeout=30, context=ctx)
        try:
            c.request("GET", "/fhir/metadata")
            r = c.getresponse()
            body = r.read()
            return r.status, c.sock.version(), c.sock.cipher(), body
        finally:
            c.close()

    def test_tls12(self):
        status, version, cipher, body = self.get_metadata(self.ctx(ssl.TLSVersion.TLSv1_2))
        self.assertEqual(status, 200)
        self.assertEqual(version, "TLSv1.2")
        self.assertIn(b"CapabilityStatement", body)
        # AEAD with forward secrecy
        name = cipher[0]
        self.assertTrue(name.startswith("ECDHE-") or name.startswith("DHE-"), cipher)
        self.assertTrue("GCM" in name or "CHACHA20" in name or "CCM" in name, cipher)

    def test_tls13(self):
        status, version, cipher, body = self.get_metadata(self.ctx(ssl.TLSVersion.TLSv1_3))
        self.assertEqual(status, 200)
        self.assertEqual(version, "TLSv1.3")
        self.assertIn(b"CapabilityStatement", body)

    def test_old_versions_refused(self):
        for label, v in OLD_VERSIONS:
            with self.subTest(version=label):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    ctx = self.server.ssl_context()
                    try:
                        ctx.minimum_version = v
                        ctx.maximum_version = v
                        # let the local OpenSSL offer the old protocol at all
                        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
                    except (ValueError, ssl.SSLError) as e:
                        self.skipTest("local OpenSSL cannot offer %s: %s" % (label, e))
                sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=30)
                try:
                    with self.assertRaises((ssl.SSLError, ConnectionResetError, BrokenPipeError)) as cm:
                        tls = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
                        tls.close()
                    e = cm.exception
                    if isinstance(e, ssl.SSLError) and "NO_PROTOCOLS_AVAILABLE" in str(e):
                        self.skipTest("local OpenSSL refused to offer %s: %s" % (label, e))
                finally:
                    sock.close()

    def test_default_requests_and_https_urls(self):
        r = self.fetch("POST", "Patient", patient())
        self.assertStatus(r, 201)
        loc = r.header("location")
        self.assertTrue(loc.startswith("https://"), loc)
        self.assertTrue(loc.endswith("/fhir/Patient/%s/_history/1" % r.json["id"]), loc)
        h = self.fetch("GET", "Patient/%s/_history" % r.json["id"])
        self.assertStatus(h, 200)
        self.assertTrue(link(h.json, "self").startswith("https://"), h.json.get("link"))
        self.assertTrue(h.json["entry"][0]["fullUrl"].startswith("https://"))

    def test_plain_http_on_tls_port_gets_no_response(self):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=30)
        try:
            s.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    data += d
            except (ConnectionResetError, socket.timeout):
                pass
        finally:
            s.close()
        self.assertNotIn(b"CapabilityStatement", data)
        self.assertFalse(data.startswith(b"HTTP/1.1 200"), data[:200])

    def test_untrusted_client_still_fails_verification(self):
        # the server presents the generated certificate (sanity check of the setup)
        ctx = ssl.create_default_context()  # system CAs only
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.get_metadata(ctx)
