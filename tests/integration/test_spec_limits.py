"""Connection limits: per-address connection cap, idle/partial-request timeout,
URL length limit set by flag, header size limit."""
import socket
import time

from itutil import SpecCase, read_response, run_threads, wait_closed

REQ = b"GET /fhir/metadata HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=30)


class TestConnPerIp(SpecCase):
    SERVER_ARGS = ("--max-conn-per-ip", "2")

    def third_connection_outcome(self):
        """What a third connection gets: 'closed', 'timeout' or the status it got."""
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        try:
            try:
                s.sendall(REQ)
            except (BrokenPipeError, ConnectionResetError):
                return "closed"
            try:
                r = read_response(s)
                return r.status
            except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
                return "closed"
            except socket.timeout:
                return "timeout"
            except Exception:  # RemoteDisconnected, BadStatusLine: closed without a response
                return "closed"
        finally:
            s.close()

    def test_third_connection_refused(self):
        a, b = connect(self.server.port), connect(self.server.port)
        try:
            for c in (a, b):  # two idle keep-alive connections, each has had a response
                c.sendall(REQ)
                self.assertEqual(read_response(c).status, 200)
            outcome = self.third_connection_outcome()
            self.assertNotEqual(outcome, 200, "a third connection from the same address was served")
            # one slot frees up when a connection closes
            a.close()
            deadline = time.monotonic() + 10
            while True:
                outcome = self.third_connection_outcome()
                if outcome == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            self.assertEqual(outcome, 200, "no connection accepted after one of the two closed")
        finally:
            a.close()
            b.close()


class TestConnTimeout(SpecCase):
    SERVER_ARGS = ("--conn-timeout-s", "1")

    # Each stalled client, on its own connection; all run at once to keep the test short.
    STALLS = {
        "partial request line": [b"GET /fhir/metad"],
        "partial headers": [b"GET /fhir/metadata HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "],
        "partial body": [b"POST /fhir/Patient HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/fhir+json\r\nContent-Length: 100\r\n\r\n"
                         b"{\"resourceType\":"],
        "silent": [],
        "idle keep-alive": [REQ],
    }

    def stall(self, name):
        s = connect(self.server.port)
        try:
            for chunk in self.STALLS[name]:
                s.sendall(chunk)
            if name == "idle keep-alive":
                if read_response(s).status != 200:
                    return "first request failed"
            closed, data = wait_closed(s, 10)
            if not closed:
                return "still open after 10 s (conn_timeout_s is 1)"
            if data.startswith(b"HTTP/1.1 200"):
                return "got a 200: %r" % data[:200]
            return "ok"
        finally:
            s.close()

    def test_stalled_connections_dropped(self):
        names = sorted(self.STALLS)
        results = {}

        def one(i):
            results[names[i]] = self.stall(names[i])

        run_threads(len(names), one)
        for name in names:
            with self.subTest(client=name):
                self.assertEqual(results[name], "ok")

    def test_active_connection_is_served(self):
        r = self.fetch("GET", "metadata")
        self.assertStatus(r, 200)


class TestUrlLimitFlag(SpecCase):
    SERVER_ARGS = ("--max-url-bytes", "256")

    def test_url_limit(self):
        ok = "metadata?x=" + "a" * 150
        self.assertStatus(self.fetch("GET", ok), 200)
        self.assertOutcome(self.fetch("GET", "metadata?x=" + "a" * 300), 414)


class TestDefaultUrlLimit(SpecCase):
    def test_10000_char_url(self):
        self.assertOutcome(self.fetch("GET", "metadata?x=" + "a" * 10000), 414)
        self.assertOutcome(self.fetch("GET", "Patient/" + "a" * 10000), 414)

    def test_just_under_default(self):
        self.assertStatus(self.fetch("GET", "metadata?x=" + "a" * 8000), 200)


class TestHeaderLimit(SpecCase):
    SERVER_ARGS = ("--max-header-bytes", "16384")

    def test_huge_header_not_served(self):
        s = connect(self.server.port)
        try:
            s.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
            try:
                r = read_response(s)
                self.assertGreaterEqual(r.status, 400)
                self.assertLess(r.status, 500)
            except (ConnectionResetError, ConnectionAbortedError):
                pass
        finally:
            s.close()

    def test_normal_headers_served(self):
        self.assertStatus(self.fetch("GET", "metadata", headers={"X-Small": "a" * 1000}), 200)
