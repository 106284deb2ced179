"""TLS policy seen from outside with Debian's `openssl s_client` (issue 6:
"TLS: 1.0/1.1 and weak ciphers refused (test with openssl s_client)").

The policy is the GnuTLS priority string of the tls_priorities setting
(src/core/config.c): SECURE, TLS 1.3 and 1.2 only, without CBC ciphers,
SHA-1 MACs, RSA key exchange and finite-field DHE. So at TLS 1.2 only
ECDHE key exchange with an AEAD cipher (AES-GCM and ChaCha20-Poly1305 are tested)
is accepted.

A refusal proves something only if the client really offered the weak
thing. Every refused s_client command is therefore run twice: against
fhird, where the handshake must fail (no ServerHello, no cipher), and -
unchanged but for the port - against a permissive `openssl s_server` with
a certificate of the same kind, where it must succeed: so the client did
offer a usable handshake of exactly that kind, and fhird's policy is what
refused it. The ClientHello being sent is also checked in the -msg trace.

Debian's OpenSSL 3 cannot offer RC4, DES, 3DES or EXPORT suites at all;
those are offered by a ClientHello built here byte by byte, whose builder
is shown to work by getting a ServerHello for an allowed suite.

Two servers: one with an ECDSA P-256 certificate (make_cert), one with an
RSA-2048 certificate (for the RSA-authenticated suites: RSA key exchange,
DHE-RSA, ECDHE-RSA).
"""
import os
import re
import socket
import struct
import subprocess
import unittest

from fhirtest import Server, make_cert

LEVEL0 = ":@SECLEVEL=0"  # let the local OpenSSL offer what it considers weak


def make_rsa_cert(directory):
    cert = os.path.join(directory, "rsa-cert.pem")
    key = os.path.join(directory, "rsa-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


class Handshake:
    """What one s_client run shows."""

    def __init__(self, out):
        self.out = out
        self.sent_hello = bool(re.search(r"^>>> .*ClientHello", out, re.M))
        self.got_server_hello = bool(re.search(r"^<<< .*ServerHello", out, re.M))
        m = re.search(r"^New, (\S+), Cipher is (\S+)", out, re.M)
        self.version, self.cipher = (m.group(1), m.group(2)) if m else (None, None)
        self.http_status = None
        m = re.search(r"^HTTP/1\.1 (\d{3}) ", out, re.M)
        if m:
            self.http_status = int(m.group(1))

    @property
    def established(self):
        return self.got_server_hello and self.cipher not in (None, "(NONE)")


def s_client(port, cafile, args, http=False):
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost",
           "-CAfile", cafile, "-msg"] + list(args)
    data = b""
    if http:
        cmd.append("-ign_eof")  # read the answer until the server closes
        data = b"GET /fhir/Patient?_count=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    p = subprocess.run(cmd, input=data, capture_output=True, timeout=60)
    return Handshake(p.stdout.decode("latin-1") + p.stderr.decode("latin-1"))


class PermissiveServer:
    """`openssl s_server` taking one connection, with everything the local
    OpenSSL can do enabled for one protocol version."""

    def __init__(self, cert, key, version_flag):
        cmd = ["openssl", "s_server", "-accept", "0", "-naccept", "1", "-cert", cert, "-key", key,
               "-cipher", "ALL:eNULL" + LEVEL0, version_flag]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.port = None
        lines = []
        for raw in self.proc.stdout:  # readiness: the line naming the bound port
            line = raw.decode("latin-1")
            lines.append(line)
            m = re.match(r"^ACCEPT .*:(\d+)\s*$", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            self.close()
            raise RuntimeError("s_server did not start: %s" % "".join(lines))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.proc.stdin.close()


# ---------------------------------------------------------------- a hand-made ClientHello

def client_hello(suites):
    """A TLS 1.2 ClientHello offering exactly `suites` (16-bit ids), with the
    extensions an ECDHE handshake needs (groups, point formats, signature
    algorithms for ECDSA and RSA certificates)."""
    def ext(t, body):
        return struct.pack(">HH", t, len(body)) + body
    groups = struct.pack(">HHH", 4, 0x001d, 0x0017)                              # x25519, secp256r1
    sigalgs = struct.pack(">HHHHH", 8, 0x0403, 0x0804, 0x0401, 0x0201)           # ecdsa/pss/rsa sha256, rsa sha1
    name = b"localhost"
    sni = struct.pack(">HBH", len(name) + 3, 0, len(name)) + name
    exts = ext(0, sni) + ext(10, groups) + ext(11, b"\x01\x00") + ext(13, sigalgs) + ext(0xff01, b"\x00")
    body = (b"\x03\x03" + os.urandom(32) + b"\x00" + struct.pack(">H", 2 * len(suites)) +
            b"".join(struct.pack(">H", s) for s in suites) + b"\x01\x00" + struct.pack(">H", len(exts)) + exts)
    hs = b"\x01" + struct.pack(">I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def first_answer(port, suites):
    """'server_hello', 'alert' or 'closed': the server's first reply."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        s.sendall(client_hello(suites))
        head = b""
        while len(head) < 6:
            try:
                d = s.recv(6 - len(head))
            except ConnectionResetError:
                d = b""
            if not d:
                return "closed"
            head += d
    finally:
        s.close()
    if head[0] == 0x16 and head[5] == 0x02:
        return "server_hello"
    if head[0] == 0x15:
        return "alert"
    return "other %r" % head


class TestTlsOpenssl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ec = cls.rsa = None
        cls.ec = Server(tls=True)
        cls.ec_cert, cls.ec_key = cls.ec.cert, cls.ec.key
        cls.rsa_cert, cls.rsa_key = make_rsa_cert(cls.ec.dir)
        try:
            cls.rsa = Server("--tls-cert", cls.rsa_cert, "--tls-key", cls.rsa_key)
        except BaseException:
            cls.ec.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.rsa:
            cls.rsa.cleanup()
        if cls.ec:
            cls.ec.cleanup()

    def fhird(self, kind):
        return (self.ec.port, self.ec_cert, self.ec_key) if kind == "ec" else (self.rsa.port, self.rsa_cert,
                                                                               self.rsa_key)

    def assertRefused(self, kind, args):
        port, cert, key = self.fhird(kind)
        h = s_client(port, cert, args)
        self.assertTrue(h.sent_hello, "no ClientHello was sent:\n" + h.out[-3000:])
        self.assertFalse(h.got_server_hello, "fhird answered with a ServerHello:\n" + h.out[-3000:])
        self.assertFalse(h.established, h.out[-3000:])
        # the same client command against a server that allows everything
        srv = PermissiveServer(cert, key, next(a for a in args if a.startswith("-tls1")))
        try:
            ctl = s_client(srv.port, cert, args)
        finally:
            srv.close()
        self.assertTrue(ctl.established, "the control server did not accept the client either, so the client "
                                         "did not offer what this case is about:\n" + ctl.out[-3000:])
        return ctl.cipher

    def assertAccepted(self, kind, args, version, cipher_re):
        port, cert, _ = self.fhird(kind)
        h = s_client(port, cert, args, http=True)
        self.assertTrue(h.established, h.out[-3000:])
        self.assertEqual(h.version, version, h.out[-3000:])
        self.assertRegex(h.cipher, cipher_re)
        self.assertEqual(h.http_status, 200, h.out[-3000:])

    # -- refused
    def test_old_protocol_versions_refused(self):
        for flag in ("-tls1", "-tls1_1"):
            for kind in ("ec", "rsa"):
                with self.subTest(version=flag, cert=kind):
                    self.assertRefused(kind, [flag, "-cipher", "ALL" + LEVEL0])

    def test_weak_tls12_suites_refused(self):
        cases = (
            ("NULL encryption", "ec", "eNULL"),
            ("NULL encryption", "rsa", "eNULL"),
            ("anonymous (aNULL)", "ec", "aNULL"),
            ("MD5 MAC", "rsa", "NULL-MD5"),
            ("CBC with SHA-1", "ec", "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA"),
            ("CBC with SHA-1", "rsa", "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA"),
            ("CBC with SHA-2", "ec", "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384"),
            ("CBC with SHA-2", "rsa", "ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384"),
            ("RSA key exchange (no forward secrecy)", "rsa", "AES128-GCM-SHA256:AES256-GCM-SHA384"),
            ("finite-field DHE", "rsa", "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-CHACHA20-POLY1305"),
        )
        for name, kind, suites in cases:
            with self.subTest(case=name, cert=kind):
                self.assertRefused(kind, ["-tls1_2", "-cipher", suites + LEVEL0])

    def test_suites_openssl_cannot_offer_refused(self):
        """RC4, DES, 3DES and EXPORT (Debian's OpenSSL 3 has none of them)."""
        port = {"ec": self.ec.port, "rsa": self.rsa.port}
        # the builder works: an allowed suite gets a ServerHello
        self.assertEqual(first_answer(port["ec"], [0xC02B]), "server_hello")    # ECDHE-ECDSA-AES128-GCM-SHA256
        self.assertEqual(first_answer(port["rsa"], [0xC02F]), "server_hello")   # ECDHE-RSA-AES128-GCM-SHA256
        cases = (
            ("RC4", [0x0004, 0x0005, 0xC007, 0xC011]),
            ("3DES", [0x000A, 0xC008, 0xC012, 0x0016]),
            ("DES", [0x0009, 0x0015]),
            ("EXPORT", [0x0003, 0x0006, 0x0008, 0x0014]),
        )
        for name, suites in cases:
            for kind in ("ec", "rsa"):
                with self.subTest(case=name, cert=kind):
                    self.assertIn(first_answer(port[kind], suites), ("alert", "closed"))

    # -- accepted
    def test_tls12_ecdhe_aead_accepted(self):
        for kind, suite in (("ec", "ECDHE-ECDSA-AES128-GCM-SHA256"), ("ec", "ECDHE-ECDSA-AES256-GCM-SHA384"),
                            ("ec", "ECDHE-ECDSA-CHACHA20-POLY1305"), ("rsa", "ECDHE-RSA-AES128-GCM-SHA256"),
                            ("rsa", "ECDHE-RSA-CHACHA20-POLY1305")):
            with self.subTest(cert=kind, suite=suite):
                self.assertAccepted(kind, ["-tls1_2", "-cipher", suite], "TLSv1.2", "^%s$" % re.escape(suite))

    def test_tls13_accepted(self):
        for kind in ("ec", "rsa"):
            for suite in ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"):
                with self.subTest(cert=kind, suite=suite):
                    self.assertAccepted(kind, ["-tls1_3", "-ciphersuites", suite], "TLSv1.3",
                                        "^%s$" % re.escape(suite))

    def test_default_client_gets_tls13(self):
        port, cert, _ = self.fhird("ec")
        h = s_client(port, cert, [], http=True)
        self.assertTrue(h.established, h.out[-3000:])
        self.assertEqual(h.version, "TLSv1.3")
        self.assertEqual(h.http_status, 200)


if __name__ == "__main__":
    unittest.main()
