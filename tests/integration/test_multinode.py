"""Several fhird processes on one database (issue 7: "Nothing in fhird may
hold state that only one node knows").

Node A and node B serve the same database and the same public base URL (as
behind a load balancer: B is started with A's --base-url, so tokens and
links name one server). Every check makes the state on one node and uses it
on the other:
- a Backend Services token issued by A is accepted by B; revoked on A, it is
  refused by B on the very next request (RFC 7009 2.2: invalid at once);
- a Backend Services client assertion used at A's token endpoint is
  refused when replayed at B's (its jti is remembered in the database);
- a searchset `next` link and a history `next` link made by A are followed on
  B with the same result as on A (the cursor MAC key is shared);
- concurrent updates of one resource spread over both nodes: with If-Match
  every success is a distinct consecutive version and every loser gets 412
  (http.html#concurrency); without it every update succeeds as its own
  version (no lost update);
- concurrent conditional creates (If-None-Exist) over both nodes create
  exactly one resource (http.html#ccreate: the server decides on what it
  sees atomically).
Runs on whichever backend the suite runs on (SQLite file or PostgreSQL
database, fhirtest.Server.db)."""
import json
import os
import sys
import tempfile
import threading
import shutil
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))

from fhirtest import Server  # noqa: E402
from smartutil import (SmartCase, ClientKey, backend_client, http_req, bearer, basic_auth,  # noqa: E402
                       fhir_patient)

FHIR_JSON = "application/fhir+json"


class TwoNodes(SmartCase):
    SEED = tuple(fhir_patient("mn%d" % i, "Multinode%d" % i) for i in range(7))
    CLIENTS = (backend_client("svc", ("svc",), scope="system/*.cruds"),)
    node_b = None

    @classmethod
    def make_keys(cls):
        cls.keys["svc"] = ClientKey(cls.workdir, "RSA", "svc-1", alg="RS384")

    @classmethod
    def after_setup(cls):
        cls.dir_b = tempfile.mkdtemp(prefix="fhird-node-b-")
        cls.node_b = Server("--auth", "smart", "--base-url", cls.server.base, "--db", cls.server.db,
                            workdir=cls.dir_b)

    @classmethod
    def tearDownClass(cls):
        if cls.node_b:
            cls.node_b.stop()
            shutil.rmtree(cls.dir_b, ignore_errors=True)
        super().tearDownClass()

    # -- helpers
    def token(self):
        return self.backend_token("svc", self.keys["svc"], "system/*.cruds")["access_token"]

    def on(self, node, method, path, token, body=None, headers=None):
        h = {"Authorization": "Bearer " + token, "Accept": FHIR_JSON}
        if body is not None:
            h["Content-Type"] = FHIR_JSON
            body = json.dumps(body).encode()
        h.update(headers or {})
        if not path.startswith("/"):
            path = "/fhir/" + path
        return http_req(node, method, path, body, h)

    @staticmethod
    def rel(url):
        """A link made by one node, as a path for the other (same base URL)."""
        u = urllib.parse.urlsplit(url)
        return u.path + ("?" + u.query if u.query else "")

    @staticmethod
    def next_link(bundle):
        for ln in bundle.get("link", []):
            if ln.get("relation") == "next":
                return ln["url"]
        return None

    @staticmethod
    def ids(bundle):
        return [e["resource"]["id"] for e in bundle.get("entry", [])]


class TestTokensAcrossNodes(TwoNodes):

    def test_token_from_a_is_accepted_by_b(self):
        t = self.token()
        r = self.on(self.node_b, "GET", "Patient/mn1", t)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["id"], "mn1")

    def test_revoked_on_a_refused_by_b_at_once(self):
        t = self.token()
        self.assertEqual(self.on(self.node_b, "GET", "Patient/mn1", t).status, 200)
        # RFC 7009: the backend client authenticates with its assertion
        from smartutil import client_assertion, ASSERTION_TYPE
        a = client_assertion(self.keys["svc"], "svc", self.token_url())
        r = self.form_post("/auth/revoke", [("token", t), ("client_assertion_type", ASSERTION_TYPE),
                                            ("client_assertion", a)])
        self.assertEqual(r.status, 200, r)
        r = self.on(self.node_b, "GET", "Patient/mn1", t)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(self.on(self.server, "GET", "Patient/mn1", t).status, 401)


class TestAssertionReplayAcrossNodes(TwoNodes):

    def test_assertion_replayed_on_other_node_refused(self):
        """SMART Backend Services (client-confidential-asymmetric): the
        server must refuse a client assertion whose jti it has seen before;
        seen by node A means seen by node B (the issue: "a Backend Services
        jti replayed against another node is still refused")."""
        from smartutil import client_assertion, ASSERTION_TYPE
        a = client_assertion(self.keys["svc"], "svc", self.token_url())
        form = [("grant_type", "client_credentials"), ("scope", "system/*.cruds"),
                ("client_assertion_type", ASSERTION_TYPE), ("client_assertion", a)]
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        body = urllib.parse.urlencode(form).encode()
        r = http_req(self.server, "POST", "/auth/token", body, h)
        self.assertEqual(r.status, 200, r)
        r = http_req(self.node_b, "POST", "/auth/token", body, h)
        self.assertIn(r.status, (400, 401), r)
        self.assertIn(r.json.get("error"), ("invalid_client", "invalid_grant"), r)
        self.assertNotIn("access_token", r.json)


class TestCursorsAcrossNodes(TwoNodes):

    def test_search_next_link_followed_on_other_node(self):
        t = self.token()
        r = self.on(self.server, "GET", "Patient?family=Multinode&_count=2&_sort=family", t)
        self.assertEqual(r.status, 200, r)
        first = self.ids(r.json)
        self.assertEqual(first, ["mn0", "mn1"])
        nxt = self.next_link(r.json)
        self.assertIsNotNone(nxt, r.json)
        on_a = self.on(self.server, "GET", self.rel(nxt), t)
        on_b = self.on(self.node_b, "GET", self.rel(nxt), t)
        self.assertEqual(on_b.status, 200, on_b)
        self.assertEqual(self.ids(on_b.json), ["mn2", "mn3"])
        self.assertEqual(self.ids(on_a.json), self.ids(on_b.json))
        # and onwards on A from B's link
        nxt2 = self.next_link(on_b.json)
        r3 = self.on(self.server, "GET", self.rel(nxt2), t)
        self.assertEqual(r3.status, 200, r3)
        self.assertEqual(self.ids(r3.json), ["mn4", "mn5"])

    def test_history_next_link_followed_on_other_node(self):
        t = self.token()
        r = self.on(self.server, "GET", "Patient/_history?_count=3", t)
        self.assertEqual(r.status, 200, r)
        nxt = self.next_link(r.json)
        self.assertIsNotNone(nxt, r.json)
        on_a = self.on(self.server, "GET", self.rel(nxt), t)
        on_b = self.on(self.node_b, "GET", self.rel(nxt), t)
        self.assertEqual(on_b.status, 200, on_b)
        key = lambda b: [(e["resource"]["id"], e["resource"]["meta"]["versionId"]) for e in b["entry"]]  # noqa: E731
        self.assertEqual(key(on_a.json), key(on_b.json))
        self.assertEqual(len(key(on_b.json)), 3)

    def test_tampered_cursor_still_refused_on_other_node(self):
        t = self.token()
        r = self.on(self.server, "GET", "Patient?family=Multinode&_count=2", t)
        nxt = self.rel(self.next_link(r.json))
        u = urllib.parse.urlsplit(nxt)
        params = urllib.parse.parse_qsl(u.query)
        changed = []
        for k, v in params:
            if k.startswith("_cursor") or k in ("_page", "_getpages", "cursor"):
                v = v[:-2] + ("AA" if not v.endswith("AA") else "BB")
            changed.append((k, v))
        self.assertNotEqual(changed, params, "no cursor parameter found in %s" % nxt)
        r = self.on(self.node_b, "GET", u.path + "?" + urllib.parse.urlencode(changed), t)
        self.assertEqual(r.status, 400, r)


class TestWritesAcrossNodes(TwoNodes):

    def test_concurrent_if_match_updates_lose_nothing(self):
        t = self.token()
        pid = "mn6"
        nodes = (self.server, self.node_b)
        results = []
        lock = threading.Lock()

        def worker(i):
            node = nodes[i % 2]
            for _ in range(6):
                r = self.on(node, "GET", "Patient/" + pid, t)
                if r.status != 200:
                    with lock:
                        results.append(("read", r.status, None))
                    continue
                res = r.json
                vid = res["meta"]["versionId"]
                res["gender"] = ["male", "female", "other", "unknown"][i % 4]
                w = self.on(node, "PUT", "Patient/" + pid, t, res, {"If-Match": 'W/"%s"' % vid})
                with lock:
                    results.append(("write", w.status, w.header("etag")))

        start = int(self.on(self.server, "GET", "Patient/" + pid, t).json["meta"]["versionId"])
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        writes = [x for x in results if x[0] == "write"]
        self.assertEqual([x for x in results if x[0] == "read"], [])
        ok = [x for x in writes if x[1] == 200]
        self.assertTrue(all(x[1] in (200, 412) for x in writes), writes)
        self.assertGreaterEqual(len(ok), 1)
        etags = [x[2] for x in ok]
        self.assertEqual(len(set(etags)), len(etags), "two successes got the same version: %r" % etags)
        final = int(self.on(self.node_b, "GET", "Patient/" + pid, t).json["meta"]["versionId"])
        self.assertEqual(final, start + len(ok), "every acknowledged update is one version, nothing lost")
        h = self.on(self.server, "GET", "Patient/%s/_history?_count=100" % pid, t).json
        vids = sorted(int(e["resource"]["meta"]["versionId"]) for e in h["entry"])
        self.assertEqual(vids, list(range(1, final + 1)))

    def test_concurrent_blind_updates_are_consecutive_versions(self):
        t = self.token()
        pid = "mn5"
        nodes = (self.server, self.node_b)
        statuses = []
        lock = threading.Lock()
        start = int(self.on(self.server, "GET", "Patient/" + pid, t).json["meta"]["versionId"])

        def worker(i):
            node = nodes[i % 2]
            for k in range(5):
                body = fhir_patient(pid, "Multinode5", given="W%dN%d" % (i, k))
                w = self.on(node, "PUT", "Patient/" + pid, t, body)
                with lock:
                    statuses.append((w.status, w.header("etag")))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertTrue(all(s == 200 for s, _ in statuses), statuses)
        etags = [e for _, e in statuses]
        self.assertEqual(len(set(etags)), 20, etags)
        final = int(self.on(self.node_b, "GET", "Patient/" + pid, t).json["meta"]["versionId"])
        self.assertEqual(final, start + 20)

    def test_concurrent_conditional_creates_make_one(self):
        t = self.token()
        nodes = (self.server, self.node_b)
        statuses = []
        lock = threading.Lock()
        ident = "urn:mn|race-1"
        body = {"resourceType": "Patient", "identifier": [{"system": "urn:mn", "value": "race-1"}]}

        def worker(i):
            w = self.on(nodes[i % 2], "POST", "Patient", t, body, {"If-None-Exist": "identifier=" + ident})
            with lock:
                statuses.append(w.status)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(sorted(statuses), [200] * 7 + [201], statuses)
        r = self.on(self.node_b, "GET", "Patient?identifier=" + urllib.parse.quote(ident), t)
        self.assertEqual(len(r.json.get("entry", [])), 1, r.json)


if __name__ == "__main__":
    import unittest
    unittest.main()
