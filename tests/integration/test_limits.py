"""Abuse limits (issue 6 "Abuse limits", docs/limits.md): login backoff per
account and per address, rate limits (429 + Retry-After, RFC 6585 4) on the
FHIR API and the token endpoint, the database statement time limit
(too-costly), slow clients (slowloris: headers and bodies trickled below the
idle timeout), the per-address connection cap.

Every limit is configured small here and the loopback exemption is turned
off where the limit is per address (every test client is 127.0.0.1). Waits
follow the server's Retry-After (1-2 s), never a guessed sleep."""
import socket
import threading
import time
import urllib.parse

from itutil import SpecCase, read_response, wait_closed
from smartutil import (APP, ASSERTION_TYPE, PASSWORDS, STD_CLIENTS, STD_SEED, STD_USERS, AuthFlow, ClientKey,
                       SmartCase, backend_client, client_assertion, parse_forms, pkce_pair)

REQ = b"GET /fhir/metadata HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
SCOPE = "openid fhirUser launch/patient patient/Patient.r"


def retry_after(r):
    v = r.header("retry-after")
    assert v is not None and v.isdigit() and int(v) >= 1, "Retry-After %r" % v
    return int(v)


class LoginCase(SmartCase):
    SEED = STD_SEED
    CLIENTS = STD_CLIENTS
    USERS = STD_USERS

    def start_login(self):
        """A pending authorization request at its login page: (flow, login form)."""
        flow = AuthFlow(self.server)
        _, challenge = pkce_pair()
        res = flow.authorize(self.auth_params("app", APP, SCOPE, challenge=challenge))
        self.assertEqual(res.kind, "page", res)
        self.assertEqual(res.resp.status, 200, res.resp)
        return flow, self.login_form(res.resp)

    def login_form(self, resp):
        forms = [f for f in parse_forms(resp.body) if AuthFlow.classify(f) == "login"]
        self.assertTrue(forms, "no login form on %r" % resp)
        return forms[0]

    def login(self, flow, form, user, password):
        """Submits the login form; returns the raw response (page or redirect)."""
        res = flow.submit(form, flow.fill_login(form, user, password))
        return res

    def assertWaitPage(self, res):
        """429 with Retry-After, the login form again (the request lives on), no code."""
        self.assertEqual(res.kind, "page", res)
        r = res.resp
        self.assertEqual(r.status, 429, r)
        self.assertIn("text/html", r.header("content-type") or "")
        self.login_form(r)
        self.assertIn("Too many failed sign-in attempts", r.text)
        return retry_after(r)

    def assertSignedIn(self, res):
        """The login step passed: the next page (consent) or a code."""
        if res.kind == "redirect":
            self.assertIn("code", res.params, res)
            return
        self.assertEqual(res.resp.status, 200, res.resp)
        kinds = [AuthFlow.classify(f) for f in parse_forms(res.resp.body)]
        self.assertNotIn("login", kinds, "still at the login page: %r" % res.resp)


class TestLoginBackoffAccount(LoginCase):
    """Per-account backoff: after login_free_failures (3) failures every
    attempt waits login_backoff_ms (1 s, doubling); the right password
    during the wait gets the same page as a wrong one; other accounts are
    not affected; after the wait the right password works."""
    SERVER_ARGS = ("--login-free-failures", "3", "--login-backoff-ms", "1000", "--login-backoff-max-s", "2")

    def test_account_backoff(self):
        flow, form = self.start_login()
        for i in range(3):
            res = self.login(flow, form, "alice", "wrong-%d" % i)
            self.assertEqual(res.resp.status, 200, res.resp)  # checked and refused
            form = self.login_form(res.resp)
        # in the delay: the right password is not even looked at
        right = self.login(flow, form, "alice", PASSWORDS["alice"])
        wait = self.assertWaitPage(right)
        self.assertLessEqual(wait, 2)
        wrong = self.login(flow, self.login_form(right.resp), "alice", "wrong-again")
        self.assertWaitPage(wrong)
        self.assertEqual(right.resp.body, wrong.resp.body, "the right password must get the same page")
        # another account, same address (loopback is exempt per address): unaffected
        flow2, form2 = self.start_login()
        self.assertSignedIn(self.login(flow2, form2, "bob", PASSWORDS["bob"]))
        # after the wait the same pending request signs in
        time.sleep(wait + 0.05)
        self.assertSignedIn(self.login(flow, self.login_form(wrong.resp), "alice", PASSWORDS["alice"]))
        # and the success cleared the account: a new failure is free again
        flow3, form3 = self.start_login()
        res = self.login(flow3, form3, "alice", "wrong-after")
        self.assertEqual(res.resp.status, 200, res.resp)


class TestLoginDeviceCookie(LoginCase):
    """Strangers guessing at an account cannot keep its owner out: a
    browser that signed in as the account before carries a device cookie
    (HttpOnly, SameSite=Strict) and is counted apart, so it signs in while
    the account is in a delay for everyone else."""
    SERVER_ARGS = ("--login-free-failures", "3", "--login-backoff-ms", "60000")

    def test_owner_signs_in_during_backoff(self):
        owner, form = self.start_login()
        self.assertSignedIn(self.login(owner, form, "alice", PASSWORDS["alice"]))
        lines = [c for c in owner.set_cookie_lines if c.startswith("fhird_device=")]
        self.assertTrue(lines, owner.set_cookie_lines)
        attrs = lines[-1].lower().replace(" ", "")
        for a in ("httponly", "samesite=strict", "path=/auth", "max-age="):
            self.assertIn(a, attrs)
        # a stranger's guesses put the account in a (one-minute) delay
        stranger, sform = self.start_login()
        for i in range(3):
            res = self.login(stranger, sform, "alice", "guess-%d" % i)
            sform = self.login_form(res.resp)
        self.assertWaitPage(self.login(stranger, sform, "alice", PASSWORDS["alice"]))
        # the owner's browser: a new sign-in, cookie jar kept
        _, challenge = pkce_pair()
        res = owner.authorize(self.auth_params("app", APP, SCOPE, challenge=challenge))
        self.assertSignedIn(self.login(owner, self.login_form(res.resp), "alice", PASSWORDS["alice"]))
        # without the cookie the same browser waits like everyone else
        owner.cookies.pop("fhird_device", None)
        res = owner.authorize(self.auth_params("app", APP, SCOPE, challenge=challenge))
        self.assertWaitPage(self.login(owner, self.login_form(res.resp), "alice", PASSWORDS["alice"]))


class TestLoginBackoffAddress(LoginCase):
    """Per-address backoff (loopback exemption off): one address guessing
    many accounts waits after login_addr_free_failures (3), for every
    account, the right password included."""
    SERVER_ARGS = ("--rate-exempt-loopback=false", "--rate-auth-addr", "1000", "--rate-auth-addr-burst", "1000",
                   "--login-free-failures", "10", "--login-addr-free-failures", "3", "--login-backoff-ms", "1000")

    def test_address_backoff(self):
        flow, form = self.start_login()
        for name in ("nobody1", "nobody2", "bob"):
            res = self.login(flow, form, name, "guess")
            self.assertEqual(res.resp.status, 200, res.resp)
            form = self.login_form(res.resp)
        wait = self.assertWaitPage(self.login(flow, form, "alice", PASSWORDS["alice"]))
        flow2, form2 = self.start_login()
        self.assertWaitPage(self.login(flow2, form2, "drsmith", PASSWORDS["drsmith"]))
        time.sleep(wait + 0.05)
        self.assertSignedIn(self.login(flow2, form2, "drsmith", PASSWORDS["drsmith"]))


class TestRateLimitApi(SpecCase):
    """FHIR API per address: rate_api_addr 1/s, burst 3 -> the fourth
    request at once is 429 with Retry-After and a 'throttled'
    OperationOutcome naming the setting; after Retry-After it is served."""
    SERVER_ARGS = ("--rate-exempt-loopback=false", "--rate-api-addr", "1", "--rate-api-addr-burst", "3")

    def test_api_address_limit(self):
        for _ in range(3):
            self.assertStatus(self.fetch("GET", "metadata"), 200)
        r = self.fetch("GET", "Patient?name=x")
        self.assertOutcome(r, 429)
        self.assertEqual(r.json["issue"][0]["code"], "throttled")
        self.assertIn("rate_api_addr", r.json["issue"][0]["diagnostics"])
        wait = retry_after(r)
        self.assertLessEqual(wait, 1)
        time.sleep(wait + 0.05)
        self.assertStatus(self.fetch("GET", "metadata"), 200)


class TestRateLimitAuthAddress(SpecCase):
    """The authorization server per address: rate_auth_addr 1/s, burst 2.
    The token endpoint answers an OAuth error: 429, Retry-After,
    error temporarily_unavailable (see oauth_int.h for why)."""
    SERVER_ARGS = ("--auth", "smart", "--rate-exempt-loopback=false", "--rate-auth-addr", "1",
                   "--rate-auth-addr-burst", "2")

    def token(self):
        body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "nobody"})
        return self.fetch("POST", "/auth/token", body, {"Content-Type": "application/x-www-form-urlencoded"})

    def test_token_endpoint_address_limit(self):
        for _ in range(2):
            r = self.token()
            self.assertIn(r.status, (400, 401), self.describe(r))
        r = self.token()
        self.assertStatus(r, 429)
        self.assertEqual(r.json.get("error"), "temporarily_unavailable", self.describe(r))
        self.assertIn("rate_auth_addr", r.json.get("error_description", ""))
        self.assertTrue((r.header("content-type") or "").startswith("application/json"))
        self.assertEqual(r.header("cache-control"), "no-store")
        retry_after(r)
        # the FHIR API has its own buckets
        self.assertStatus(self.fetch("GET", "metadata"), 200)


class TestRateLimitClients(SmartCase):
    """Per OAuth client (address limits off): rate_auth_client 1/s burst 2
    on the token endpoint, rate_api_client 1/s burst 2 on the FHIR API;
    another client keeps its own budget."""
    SEED = STD_SEED
    CLIENTS = (backend_client("svc1", ["k1"]), backend_client("svc2", ["k2"]))
    SERVER_ARGS = ("--rate-exempt-loopback=false", "--rate-api-addr", "0", "--rate-auth-addr", "0",
                   "--rate-auth-client", "1", "--rate-auth-client-burst", "2",
                   "--rate-api-client", "1", "--rate-api-client-burst", "2")

    @classmethod
    def make_keys(cls):
        cls.keys["k1"] = ClientKey(cls.workdir, "RSA", "svc1-key")
        cls.keys["k2"] = ClientKey(cls.workdir, "RSA", "svc2-key")

    def test_client_limits(self):
        t1 = self.backend_token("svc1", self.keys["k1"], "system/*.rs")["access_token"]
        self.backend_token("svc1", self.keys["k1"], "system/*.rs")
        r = self.token_req({"grant_type": "client_credentials", "scope": "system/*.rs",
                            "client_assertion_type": ASSERTION_TYPE,
                            "client_assertion": client_assertion(self.keys["k1"], "svc1", self.token_url())})
        self.assertOAuthError(r, 429, "temporarily_unavailable")
        self.assertIn("rate_auth_client", r.json.get("error_description", ""))
        retry_after(r)
        t2 = self.backend_token("svc2", self.keys["k2"], "system/*.rs")["access_token"]

        for _ in range(2):
            self.assertEqual(self.api("GET", "Patient/pa", t1).status, 200)
        r = self.api("GET", "Patient/pa", t1)
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.json["issue"][0]["code"], "throttled")
        self.assertIn("rate_api_client", r.json["issue"][0]["diagnostics"])
        retry_after(r)
        self.assertEqual(self.api("GET", "Patient/pa", t2).status, 200)
        # a request without a valid token is not charged to any client
        self.assertEqual(self.api("GET", "Patient/pa", "not-a-token").status, 401)


class TestStatementTimeout(SpecCase):
    """db_statement_timeout_ms 5: a search that sorts 3,000 patients needs
    more and is stopped with 400 too-costly naming the setting; cheap reads
    and searches on the same server are served."""
    SERVER_ARGS = ("--db-statement-timeout-ms", "5")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        entries = [{"resource": {"resourceType": "Patient", "id": "p%d" % i,
                                 "name": [{"family": "Fam%d" % i, "given": ["G%d" % i]}],
                                 "birthDate": "19%02d-01-01" % (i % 100)},
                    "request": {"method": "PUT", "url": "Patient/p%d" % i}} for i in range(3000)]
        r = cls.server.request("POST", "", {"resourceType": "Bundle", "type": "batch", "entry": entries})
        assert r.status == 200, r.body[:500]

    def test_expensive_search_stopped(self):
        r = self.fetch("GET", "Patient?birthdate=gt1900&_sort=birthdate,name&_count=1000&_total=accurate")
        self.assertOutcome(r, 400)
        self.assertEqual(r.json["issue"][0]["code"], "too-costly")
        self.assertIn("db_statement_timeout_ms", r.json["issue"][0]["diagnostics"])

    def test_cheap_requests_served(self):
        self.assertStatus(self.fetch("GET", "Patient/p7"), 200)
        r = self.fetch("GET", "Patient?_id=p7")
        self.assertStatus(r, 200)
        self.assertEqual(len(r.json.get("entry", [])), 1)


def trickle(port, data, gap, stop):
    """Sends data one byte every gap seconds until sent or the server
    closes; returns (bytes sent, closed by the server, seconds taken)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t0 = time.monotonic()
    sent = 0
    try:
        for b in data:
            if stop.is_set():
                break
            try:
                s.sendall(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                return sent, True, time.monotonic() - t0
            sent += 1
            s.settimeout(gap)
            try:
                if s.recv(65536) == b"":
                    return sent, True, time.monotonic() - t0
            except socket.timeout:
                pass
            except (ConnectionResetError, ConnectionAbortedError):
                return sent, True, time.monotonic() - t0
        closed, _ = wait_closed(s, 5)
        return sent, closed, time.monotonic() - t0
    finally:
        s.close()


class TestSlowClients(SpecCase):
    """Slowloris: bytes arrive every 0.3 s, well inside the idle timeout
    (conn_timeout_s 5), so only the request deadline can stop them:
    header_timeout_s 2 for the headers, body_min_rate 100 B/s for a body.
    Other clients are served meanwhile; a slow but steady body is not cut."""
    SERVER_ARGS = ("--conn-timeout-s", "5", "--header-timeout-s", "2", "--body-min-rate", "100")

    def test_trickled_headers_dropped(self):
        data = b"GET /fhir/metadata HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 100 + b"\r\n\r\n"
        out = {}
        stop = threading.Event()
        t = threading.Thread(target=lambda: out.update(r=trickle(self.server.port, data, 0.3, stop)), daemon=True)
        t.start()
        try:
            time.sleep(0.5)
            self.assertStatus(self.fetch("GET", "metadata"), 200)  # others are served meanwhile
            t.join(20)
        finally:
            stop.set()
        sent, closed, took = out["r"]
        self.assertTrue(closed, "the trickling connection was not closed")
        self.assertLess(sent, len(data), "the whole request got through")
        self.assertLess(took, 10)

    def test_trickled_body_dropped(self):
        head = (b"POST /fhir/Patient HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n"
                b"Content-Length: 200\r\n\r\n")
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        try:
            s.sendall(head)
            stop = threading.Event()
            body = b'{"resourceType":"Patient"' + b" " * 173 + b"}"
            sent, closed, _ = self._trickle_on(s, body, 0.3, stop)
        finally:
            s.close()
        self.assertTrue(closed)
        self.assertLess(sent, len(body))

    def _trickle_on(self, s, data, gap, stop):
        sent = 0
        for b in data:
            try:
                s.sendall(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                return sent, True, 0
            sent += 1
            s.settimeout(gap)
            try:
                d = s.recv(65536)
                if d == b"" or d.startswith(b"HTTP/"):
                    return sent, True, 0
            except socket.timeout:
                pass
            except (ConnectionResetError, ConnectionAbortedError):
                return sent, True, 0
        return sent, False, 0

    def test_steady_slow_body_served(self):
        body = b'{"resourceType":"Patient","name":[{"family":"' + b"x" * 3000 + b'"}]}'
        head = (b"POST /fhir/Patient HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body))
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        try:
            s.sendall(head)
            # 3 KB over about 3 s: far above 100 B/s, past header_timeout_s
            for i in range(0, len(body), 100):
                s.sendall(body[i:i + 100])
                time.sleep(0.1)
            r = read_response(s, "POST")
            self.assertEqual(r.status, 201, r.body[:300])
        finally:
            s.close()


class TestConnectionCap(SpecCase):
    """max_conn_per_ip 2: a third connection from 127.0.0.1 is not served
    while two are open, and another address (127.0.0.2) still is - the cap
    is per address, not a total."""
    SERVER_ARGS = ("--max-conn-per-ip", "2")

    def outcome(self, source):
        s = socket.socket()
        s.settimeout(10)
        try:
            s.bind((source, 0))
            s.connect(("127.0.0.1", self.server.port))
            s.sendall(REQ)
            return read_response(s).status
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, socket.timeout):
            return "closed"
        except Exception:  # RemoteDisconnected, BadStatusLine: closed without a response
            return "closed"
        finally:
            s.close()

    def test_cap_is_per_address(self):
        held = []
        try:
            for _ in range(2):
                c = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
                held.append(c)
                c.sendall(REQ)
                self.assertEqual(read_response(c).status, 200)
            self.assertEqual(self.outcome("127.0.0.1"), "closed")
            self.assertEqual(self.outcome("127.0.0.2"), 200)
        finally:
            for c in held:
                c.close()


class TestWorkLimitsNamed(SpecCase):
    """Bounded work per request: each limit is answered with an
    OperationOutcome whose diagnostics name the setting to change."""
    SERVER_ARGS = ("--max-body-bytes", "1024", "--max-json-depth", "4", "--max-bundle-entries", "1",
                   "--search-max-clauses", "2", "--search-chain-depth", "1", "--search-max-includes", "1",
                   "--search-max-values", "2", "--page-default", "5", "--page-max", "5")

    def assertNames(self, r, status, setting):
        self.assertOutcome(r, status)
        self.assertIn(setting, r.json["issue"][0].get("diagnostics", ""), self.describe(r))

    def test_each_limit_named(self):
        pad = {"resourceType": "Patient", "name": [{"family": "x" * 2000}]}
        self.assertNames(self.fetch("POST", "Patient", pad), 413, "max_body_bytes")
        deep = {"resourceType": "Patient", "extension": [{"url": "http://x", "extension": [{"url": "http://y"}]}]}
        self.assertNames(self.fetch("POST", "Patient", deep), 400, "max_json_depth")
        bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": "metadata"}}, {"request": {"method": "GET", "url": "metadata"}}]}
        self.assertNames(self.fetch("POST", "", bundle), 413, "max_bundle_entries")
        self.assertNames(self.fetch("GET", "Patient?name=a&gender=male&birthdate=2000"), 400, "search_max_clauses")
        self.assertNames(self.fetch("GET", "Observation?subject:Patient.organization.name=x"), 400,
                         "search_chain_depth")
        self.assertNames(self.fetch("GET", "Observation?_include=Observation:subject&_include=Observation:performer"),
                         400, "search_max_includes")
        self.assertNames(self.fetch("GET", "Patient?name=a,b,c"), 400, "search_max_values")
        self.assertNames(self.fetch("GET", "metadata?x=" + "a" * 9000), 414, "max_url_bytes")
        # _count over page_max is not an error: the server returns fewer (search.html#count)
        r = self.fetch("GET", "Patient?_count=50")
        self.assertStatus(r, 200)
