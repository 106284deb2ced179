"""The audit trail (issue 6 "Audit trail", docs/audit.md): every FHIR
interaction, login (success and failure), token issue/refresh/revoke and
denied request (401/403) is an AuditEvent modelled on IHE BALP; AuditEvents
are readable and searchable only with an explicitly named
system/AuditEvent.rs scope (not system/*.rs, not patient/ or user/ scopes)
and never writable through the API; the trail is a hash chain that
`fhird audit verify` checks, naming the record that was tampered with.

No sleeps: the AuditEvent endpoint flushes the audit queue before it
answers, so the auditor sees every event recorded before its request."""
import base64
import hashlib
import json
import os
import subprocess

import fhirtest

from smartutil import (ASSERTION_TYPE, client_assertion, APP, FULL_SCOPE, PASSWORDS, STD_SEED, STD_USERS, ClientKey,
                       SmartCase, backend_client, cli,
                       ids_of)

SCOPE = "launch/patient openid fhirUser patient/Patient.r patient/Observation.rs offline_access"
CS_REST = "http://hl7.org/fhir/restful-interaction"
CS_DCM = "http://dicom.nema.org/resources/ontology/DCM"


def audit_db(db):
    """The audit trail's own file next to the database (docs/audit.md)."""
    return db[:-3] + "-audit.db" if db.endswith(".db") else db + "-audit.db"


def sqlite(db, sql):
    """Runs SQL on the audit trail's file with the sqlite3 command line
    tool, as someone with the file would; under PostgreSQL (fhirtest.PG) on
    the database with psql, as someone with a database login would."""
    if fhirtest.PG:
        return fhirtest.pg_sql(db, sql, check=False)
    db = audit_db(db)
    return subprocess.run(["sqlite3", "-cmd", ".timeout 10000", db, sql], capture_output=True, text=True,
                          timeout=60)


def drop_triggers(*names):
    """SQL that drops the append-only triggers (PostgreSQL names the table)."""
    on = " ON audit_event" if fhirtest.PG else ""
    return "".join("DROP TRIGGER %s%s; " % (n, on) for n in names)


RANDOM32 = ("decode(md5(random()::text) || md5(random()::text), 'hex')" if fhirtest.PG else "randomblob(32)")


def audit_rows(db):
    """Every audit record in seq order (prev and hash as bytes, query None
    when NULL) and the head checkpoint, read from the database directly."""
    cols = ("seq, recorded_us, kind, status, outcome, action, subtype, outcome_desc, client_id, subject, "
            "fhir_user, patient, entity_type, entity_id, address, observer, issuer, query, prev, hash")
    if fhirtest.PG:
        p = fhirtest.pg_sql(db, "SELECT json_agg(t ORDER BY seq) FROM (SELECT %s FROM audit_event) t" % cols)
        rows = []
        for r in json.loads(p.stdout):
            vals = [r[c.strip()] for c in cols.split(",")]
            vals[18] = bytes.fromhex(vals[18][2:])
            vals[19] = bytes.fromhex(vals[19][2:])
            rows.append(tuple(vals))
        head = fhirtest.pg_sql(db, "SELECT value FROM audit_meta WHERE key = 'audit_head'").stdout.strip()
        return rows, head
    import sqlite3 as sq
    conn = sq.connect("file:%s?mode=ro" % audit_db(db), uri=True, timeout=30)
    try:
        rows = conn.execute("SELECT %s FROM audit_event ORDER BY seq" % cols).fetchall()
        head = conn.execute("SELECT value FROM audit_meta WHERE key = 'audit_head'").fetchone()[0]
    finally:
        conn.close()
    return rows, head


def agent(ev, code):
    """The agent whose type has code (110153 client, 110152 server, IRCP/AUT user)."""
    for a in ev.get("agent") or []:
        for c in (a.get("type") or {}).get("coding") or []:
            if c.get("code") == code:
                return a
    return None


def user_agent(ev):
    return agent(ev, "IRCP") or agent(ev, "AUT")


def entity(ev, role):
    for e in ev.get("entity") or []:
        if (e.get("role") or {}).get("code") == role:
            return e
    return None


def subtypes(ev):
    return {s.get("code") for s in ev.get("subtype") or []}


class AuditCase(SmartCase):
    SEED = STD_SEED
    USERS = STD_USERS
    CLIENTS = (
        {"id": "app", "type": "public", "redirect": APP, "scope": FULL_SCOPE},
        backend_client("auditor", ["aud"], scope="system/AuditEvent.rs"),
        backend_client("svc", ["svc"], scope="system/*.cruds"),
        # registered for AuditEvent under patient/ and user/: still nothing
        {"id": "app-ae", "type": "public", "redirect": APP,
         "scope": "launch/patient openid fhirUser patient/AuditEvent.rs user/AuditEvent.rs patient/Patient.r"},
    )

    @classmethod
    def make_keys(cls):
        cls.keys["aud"] = ClientKey(cls.workdir, "RSA", "aud-1")
        cls.keys["svc"] = ClientKey(cls.workdir, "RSA", "svc-1")

    _aud = None

    def auditor(self):
        if AuditCase._aud is None or AuditCase._aud[0] is not self.server:
            tok = self.backend_token("auditor", self.keys["aud"], "system/AuditEvent.rs")["access_token"]
            AuditCase._aud = (self.server, tok)
        return AuditCase._aud[1]

    def svc(self, scope="system/*.rs"):
        return self.backend_token("svc", self.keys["svc"], scope)["access_token"]

    def alice(self, scope=SCOPE):
        return self.login_token("app", APP, scope, "alice", PASSWORDS["alice"])

    def events(self, query="", max_pages=50):
        """Every AuditEvent the auditor finds for query (next links followed), newest first."""
        out, url = [], "AuditEvent" + ("?" + query if query else "")
        for _ in range(max_pages):
            r = self.api("GET", url, self.auditor())
            self.assertEqual(r.status, 200, r)
            b = r.json
            self.assertEqual(b["resourceType"], "Bundle")
            self.assertEqual(b["type"], "searchset")
            out += [e["resource"] for e in b.get("entry") or []]
            nxt = [lk["url"] for lk in b.get("link") or [] if lk["relation"] == "next"]
            if not nxt:
                return out
            url = nxt[0]
        raise AssertionError("too many pages")

    def assertBalp(self, ev):
        """The skeleton every recorded event has (BALP): type, recorded,
        outcome, a client agent, the server agent, the source observer."""
        self.assertEqual(ev["resourceType"], "AuditEvent")
        self.assertIn("system", ev["type"])
        self.assertIn(ev["action"], ("C", "R", "U", "D", "E"))
        self.assertRegex(ev["recorded"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$")
        self.assertIn(ev["outcome"], ("0", "4", "8", "12"))
        self.assertIsNotNone(agent(ev, "110153"), ev)
        self.assertIsNotNone(agent(ev, "110152"), ev)
        self.assertEqual(ev["source"]["observer"]["identifier"]["value"], self.base())


class TestRecorded(AuditCase):
    """What is recorded, and how it reads as a BALP AuditEvent."""

    def test_read_with_patient_client_outcome(self):
        """BALP Read: the read of Patient/pa by alice through app: subtype
        read, action R, outcome 0, the client (client_id, source IP), the
        user (fhirUser, requestor), the data entity and the patient entity."""
        t = self.alice()
        self.assertEqual(self.api("GET", "Patient/pa", t["access_token"]).status, 200)
        evs = self.events("entity=Patient/pa&subtype=read&agent=app")
        self.assertTrue(evs, "no AuditEvent for the read")
        ev = evs[0]
        self.assertBalp(ev)
        self.assertEqual(ev["type"]["code"], "rest")
        self.assertEqual(subtypes(ev), {"read"})
        self.assertEqual(ev["subtype"][0]["system"], CS_REST)
        self.assertEqual(ev["action"], "R")
        self.assertEqual(ev["outcome"], "0")
        c = agent(ev, "110153")
        self.assertEqual(c["who"]["identifier"]["value"], "app")
        self.assertEqual(c["network"]["address"], "127.0.0.1")
        u = user_agent(ev)
        self.assertIsNotNone(u, ev)
        self.assertIs(u["requestor"], True)
        self.assertEqual(u["who"]["reference"], "Patient/pa")
        self.assertEqual(entity(ev, "4")["what"]["reference"], "Patient/pa")
        self.assertEqual(entity(ev, "1")["what"]["reference"], "Patient/pa")
        # read and search by id serve the same event
        r = self.api("GET", "AuditEvent/" + ev["id"], self.auditor())
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, ev)
        self.assertEqual(r.header("etag"), 'W/"1"')
        self.assertEqual(self.api("GET", "AuditEvent/%s/_history/1" % ev["id"], self.auditor()).json, ev)

    def test_read_by_system_client_finds_patient(self):
        """The patient of a resource read by an unconfined client (obs-b is
        pb's) is found from the resource; Backend Services have no user."""
        tok = self.svc()
        self.assertEqual(self.api("GET", "Observation/obs-b", tok).status, 200)
        evs = self.events("entity=Observation/obs-b&agent=svc")
        self.assertTrue(evs)
        ev = evs[0]
        self.assertEqual(entity(ev, "1")["what"]["reference"], "Patient/pb")
        self.assertIsNone(user_agent(ev), ev)
        self.assertIs(agent(ev, "110153")["requestor"], True)
        self.assertEqual(self.events("patient=pb&entity=Observation/obs-b")[0]["id"], ev["id"])

    def test_search_records_query_base64(self):
        """BALP Query: a search is recorded with its query, base64 in
        entity.query, and the patient a confined token is limited to."""
        t = self.alice()
        r = self.api("GET", "Observation?code=29463-7&_count=5", t["access_token"])
        self.assertEqual(r.status, 200, r)
        evs = self.events("subtype=search-type&entity-type=Observation&agent=app&patient=pa")
        self.assertTrue(evs)
        ev = evs[0]
        self.assertEqual(ev["action"], "E")
        q = entity(ev, "24")
        self.assertIsNotNone(q, ev)
        self.assertEqual(base64.b64decode(q["query"]).decode(), "code=29463-7&_count=5")
        self.assertEqual(q["type"]["code"], "Observation")
        self.assertEqual(entity(ev, "1")["what"]["reference"], "Patient/pa")

    def test_login_success_and_failure(self):
        """DCM 110114/110122: a failed sign-in (outcome 4, the username
        tried) and a successful one (outcome 0, the fhirUser). One wrong
        password only, by bob: more would start the login backoff
        (docs/limits.md), which other tests' sign-ins must not meet."""
        from smartutil import AuthFlow, pkce_pair
        _, challenge = pkce_pair()
        flow = AuthFlow(self.server)
        res = flow.authorize(self.auth_params("app", APP, SCOPE, challenge=challenge))
        login = [f for k, f in flow.page_forms(res) if k == "login"]
        self.assertTrue(login, res)
        res = flow.submit(login[0], flow.fill_login(login[0], "bob", "not-the-password"))
        self.assertEqual(res.kind, "page", res)  # the login page again
        self.alice()
        logins = self.events("subtype=110122&agent=app")
        failed = [e for e in logins if e["outcome"] == "4" and user_agent(e) and
                  user_agent(e)["who"].get("identifier", {}).get("value") == "bob"]
        ok = [e for e in logins if e["outcome"] == "0" and user_agent(e) and
              user_agent(e)["who"].get("identifier", {}).get("value") == "alice"]
        self.assertTrue(failed, logins)
        self.assertTrue(ok, logins)
        self.assertBalp(failed[0])
        self.assertEqual(failed[0]["type"]["code"], "110114")
        self.assertEqual(failed[0]["type"]["system"], CS_DCM)
        self.assertTrue(failed[0].get("outcomeDesc"))
        self.assertNotIn("reference", user_agent(failed[0])["who"])  # no fhirUser for a failure
        self.assertEqual(user_agent(ok[0])["who"]["reference"], "Patient/pa")

    def test_denied_requests(self):
        """issue 6: every denied request: 403 (a patient token asking for
        another patient) and 401 (no token) are recorded, outcome 8."""
        t = self.alice()
        self.assert403(self.api("GET", "Patient/pb", t["access_token"]))
        self.assert401(self.api("GET", "Observation/obs-a"), error_code=False)
        denied = self.events("outcome=8&entity=Patient/pb")
        self.assertTrue(denied)
        ev = denied[0]
        self.assertEqual(agent(ev, "110153")["who"]["identifier"]["value"], "app")
        self.assertEqual(subtypes(ev), {"read"})
        self.assertEqual(entity(ev, "1")["what"]["reference"], "Patient/pb")
        anon = self.events("outcome=8&entity=Observation/obs-a")
        self.assertTrue(anon)
        self.assertNotIn("who", agent(anon[0], "110153"))
        self.assertEqual(anon[0]["outcomeDesc"], "HTTP 401")

    def test_token_issue_refresh_revoke(self):
        """Token issue, refresh and revocation are recorded (never the
        tokens), and a refused token request too."""
        t = self.alice()
        r = self.token_req({"grant_type": "refresh_token", "refresh_token": t["refresh_token"]}, "app")
        self.assertEqual(r.status, 200, r)
        t2 = r.json
        r = self.form_post("/auth/revoke", [("token", t2["access_token"]), ("client_id", "app")])
        self.assertEqual(r.status, 200, r)
        r = self.token_req({"grant_type": "refresh_token", "refresh_token": "no-such-token"}, "app")
        self.assertEqual(r.status, 400, r)
        evs = self.events("agent=app")
        by = {}
        for e in evs:
            for s in subtypes(e) & {"token-issue", "token-refresh", "token-revoke"}:
                by.setdefault(s, []).append(e)
        self.assertTrue(any(e["outcome"] == "0" for e in by.get("token-issue", [])), by)
        self.assertTrue(any(e["outcome"] == "0" for e in by.get("token-refresh", [])), by)
        self.assertTrue(any(e["outcome"] != "0" for e in by.get("token-refresh", [])), by)
        revoke = by.get("token-revoke")
        self.assertTrue(revoke, by)
        self.assertEqual(user_agent(revoke[0])["who"]["reference"], "Patient/pa")
        issue = [e for e in by["token-issue"] if e["outcome"] == "0"][0]
        self.assertEqual(entity(issue, "1")["what"]["reference"], "Patient/pa")
        # no secret of any kind anywhere in the trail
        text = json.dumps(self.events())
        for secret in (t["access_token"], t["refresh_token"], t2["access_token"], t2["refresh_token"],
                       PASSWORDS["alice"], PASSWORDS["bob"], "not-the-password"):
            self.assertNotIn(secret, text)
        self.assertNotIn(t["access_token"].split(".")[2], text)

    def test_introspection_recorded(self):
        """A successful introspection discloses a token's patient to the
        asking client: recorded (subtype token-introspect, the asking
        client as agent, the token's patient as entity, outcome 0), and so
        is an introspection of a token that is not active; the tokens
        themselves never."""
        t = self.alice()
        a = client_assertion(self.keys["svc"], "svc", self.token_url())
        r = self.form_post("/auth/introspect", [("token", t["access_token"]), ("client_assertion_type", ASSERTION_TYPE),
                                                ("client_assertion", a)])
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json.get("active"), True, r)
        a = client_assertion(self.keys["svc"], "svc", self.token_url())
        r = self.form_post("/auth/introspect", [("token", "not.a.token"), ("client_assertion_type", ASSERTION_TYPE),
                                                ("client_assertion", a)])
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json.get("active"), False, r)
        evs = self.events("agent=svc&subtype=token-introspect")
        # newest first: the inactive answer, then the active one
        self.assertEqual(len(evs), 2, evs)
        inactive, active = [evs[0]], [evs[1]]
        self.assertEqual(len(active), 1, evs)
        self.assertEqual(len(inactive), 1, evs)
        self.assertEqual(active[0]["outcome"], "0")
        self.assertEqual(agent(active[0], "110153")["who"]["identifier"]["value"], "svc")
        self.assertEqual(entity(active[0], "1")["what"]["reference"], "Patient/pa")
        self.assertNotIn("ITI-71", json.dumps(active[0]["type"]) + json.dumps(active[0].get("subtype")))
        self.assertIsNone(entity(inactive[0], "1"))
        self.assertNotIn(t["access_token"], json.dumps(evs))

    def test_backend_token_recorded(self):
        """A Backend Services token issue: the client, no user."""
        self.svc()
        evs = [e for e in self.events("agent=svc&subtype=token-issue") if e["outcome"] == "0"]
        self.assertTrue(evs)
        self.assertIsNone(user_agent(evs[0]))

    def test_write_recorded(self):
        """A create: action C, the id the server chose, the patient."""
        tok = self.svc("system/Observation.cruds")
        obs = {"resourceType": "Observation", "status": "final", "code": {"text": "audit"},
               "subject": {"reference": "Patient/pb"}}
        r = self.api("POST", "Observation", tok, obs)
        self.assertEqual(r.status, 201, r)
        oid = r.json["id"]
        evs = self.events("entity=Observation/" + oid)
        self.assertEqual(len(evs), 1, evs)
        self.assertEqual(evs[0]["action"], "C")
        self.assertEqual(subtypes(evs[0]), {"create"})
        self.assertEqual(entity(evs[0], "1")["what"]["reference"], "Patient/pb")


    def test_batch_and_transaction(self):
        """A batch is recorded, and each entry as its own interaction; a
        transaction is recorded, and each write it committed."""
        tok = self.svc("system/*.cruds")
        batch = {"resourceType": "Bundle", "type": "batch",
                 "entry": [{"request": {"method": "GET", "url": "Encounter/enc-a"}}]}
        r = self.api("POST", "", tok, batch)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(self.events("agent=svc&subtype=batch"))
        read = self.events("agent=svc&entity=Encounter/enc-a&subtype=read")
        self.assertTrue(read)
        self.assertEqual(entity(read[0], "1")["what"]["reference"], "Patient/pa")
        obs = {"resourceType": "Observation", "status": "final", "code": {"text": "tx"},
               "subject": {"reference": "Patient/pa"}}
        tx = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"fullUrl": "urn:uuid:6b0c7e4e-4d7f-4c57-9a55-1d6c2b5c3a01", "resource": obs,
                         "request": {"method": "POST", "url": "Observation"}}]}
        r = self.api("POST", "", tok, tx)
        self.assertEqual(r.status, 200, r)
        oid = r.json["entry"][0]["response"]["location"].split("/Observation/")[1].split("/")[0]
        self.assertTrue(self.events("agent=svc&subtype=transaction&outcome=0"))
        created = self.events("entity=Observation/%s&action=C" % oid)
        self.assertEqual(len(created), 1, created)
        self.assertEqual(entity(created[0], "1")["what"]["reference"], "Patient/pa")


class TestAccessToAuditEvents(AuditCase):
    """Only system/AuditEvent.rs, named explicitly, reads the trail; nobody writes it."""

    def test_patient_token_refused(self):
        t = self.alice()
        self.assert403(self.api("GET", "AuditEvent", t["access_token"]))
        self.assert403(self.api("GET", "AuditEvent/1", t["access_token"]))
        self.assert403(self.api("GET", "Patient/pa/AuditEvent", t["access_token"]))

    def test_patient_scope_naming_auditevent_refused(self):
        """patient/AuditEvent.rs and user/AuditEvent.rs grant nothing."""
        t = self.login_token("app-ae", APP, "launch/patient patient/AuditEvent.rs user/AuditEvent.rs patient/Patient.r",
                             "drsmith", PASSWORDS["drsmith"], patient="pa")
        self.assertIn("patient/AuditEvent.rs", t["scope"].split())
        self.assertIn("user/AuditEvent.rs", t["scope"].split())
        self.assertEqual(self.api("GET", "Patient/pa", t["access_token"]).status, 200)
        self.assert403(self.api("GET", "AuditEvent", t["access_token"]))
        self.assert403(self.api("GET", "AuditEvent?patient=pa", t["access_token"]))

    def test_wildcard_system_token_refused(self):
        """system/*.rs is all the data, not the audit trail."""
        tok = self.svc()
        self.assertEqual(self.api("GET", "Patient/pa", tok).status, 200)
        self.assert403(self.api("GET", "AuditEvent", tok))
        self.assert403(self.api("GET", "AuditEvent/1", tok))
        self.assert403(self.api("GET", "AuditEvent?patient=pa", tok))

    def test_wildcard_client_cannot_obtain_the_scope(self):
        """A client registered for system/*.cruds asking for
        system/AuditEvent.rs is not granted it."""
        from smartutil import ASSERTION_TYPE, client_assertion
        a = client_assertion(self.keys["svc"], "svc", self.token_url())
        r = self.token_req({"grant_type": "client_credentials", "scope": "system/AuditEvent.rs",
                            "client_assertion_type": ASSERTION_TYPE, "client_assertion": a})
        if r.status == 200:
            self.assertNotIn("AuditEvent", r.json.get("scope", ""), r)
            self.assert403(self.api("GET", "AuditEvent", r.json["access_token"]))
        else:
            self.assertOAuthError(r, 400, "invalid_scope")

    def test_writes_refused(self):
        """Nobody creates, updates or deletes AuditEvents through the API."""
        ev = {"resourceType": "AuditEvent", "type": {"code": "rest"}, "recorded": "2024-01-01T00:00:00Z",
              "agent": [{"requestor": True}], "source": {"observer": {"display": "x"}}}
        full = self.svc("system/*.cruds")
        for tok in (self.auditor(), full):
            r = self.api("POST", "AuditEvent", tok, ev)
            self.assertIn(r.status, (403, 405), r)
            self.assertIn(self.api("PUT", "AuditEvent/1", tok, dict(ev, id="1")).status, (403, 405))
            self.assertIn(self.api("DELETE", "AuditEvent/1", tok).status, (403, 405))
        tx = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"resource": ev, "request": {"method": "POST", "url": "AuditEvent"}}]}
        self.assertIn(self.api("POST", "", full, tx).status, (403, 405))
        self.assertEqual(self.events("entity-type=AuditEvent&action=C&outcome=0"), [])

    def test_search_parameters(self):
        """The supported subset; anything else is 400 naming it."""
        r = self.api("GET", "AuditEvent?name=x", self.auditor())
        self.assertOutcome(r, 400)
        self.assertIn("date, patient, agent, entity-type", r.json["issue"][0]["diagnostics"])
        self.assertOutcome(self.api("GET", "AuditEvent?patient:missing=true", self.auditor()), 400)
        self.assertOutcome(self.api("GET", "AuditEvent?outcome=3", self.auditor()), 400)
        self.assertOutcome(self.api("GET", "AuditEvent?date=yesterday", self.auditor()), 400)
        self.assertEqual(self.api("GET", "AuditEvent/999999999", self.auditor()).status, 404)
        self.assertEqual(self.api("GET", "AuditEvent/abc", self.auditor()).status, 404)
        self.assertEqual(self.api("GET", "Patient/pa", self.svc()).status, 200)
        today = self.events("date=ge2000-01-01&date=lt2999")
        self.assertTrue(today)
        self.assertEqual(self.events("date=lt2000-01-01"), [])
        # keyset pages: _count=2 over everything equals one big page (up to
        # the newest event the first walk saw: each page request is an event)
        small = [int(e["id"]) for e in self.events("_count=2")]
        big = [int(e["id"]) for e in self.events("_count=1000")]
        self.assertEqual(small, [i for i in big if i <= small[0]])
        self.assertEqual(small, sorted(small, reverse=True))
        # patient= finds the events with that patient entity
        pa = [int(e["id"]) for e in self.events("patient=pa")]
        every = self.events()
        self.assertEqual(pa, [int(e["id"]) for e in every if int(e["id"]) <= pa[0] and entity(e, "1") and
                              entity(e, "1")["what"]["reference"] == "Patient/pa"])
        # and the compartment form is the same search (five reads first, so
        # that there are five events of pa however few tests ran before)
        for _ in range(5):
            self.assertEqual(self.api("GET", "Patient/pa", self.svc()).status, 200)
        r = self.api("GET", "Patient/pa/AuditEvent?_count=5", self.auditor())
        self.assertEqual(r.status, 200, r)
        first = sorted((int(i.split("/")[1]) for i in ids_of(r.json)), reverse=True)
        self.assertEqual(len(first), 5)
        self.assertEqual(first, [i for i in (int(e["id"]) for e in self.events("patient=pa")) if i <= first[0]][:5])


class TestChainVerify(AuditCase):
    """`fhird audit verify` on the live database, then after tampering with
    the sqlite3 command line tool."""

    def verify(self):
        return cli("audit", "verify", "--db", self.server.db)

    def test_verify_then_tamper(self):
        t = self.alice()
        for p in ("Patient/pa", "Observation/obs-a", "Observation?patient=pa"):
            self.assertEqual(self.api("GET", p, t["access_token"]).status, 200)
        self.assert403(self.api("GET", "Patient/pb", t["access_token"]))
        refused = self.events("outcome=8&entity=Patient/pb")  # also flushes the queue
        self.assertEqual(len(refused), 1, refused)
        seq = refused[0]["id"]
        self.assertGreaterEqual(int(seq), 5)
        rc, out, err = self.verify()
        self.assertEqual(rc, 0, out + err)
        self.assertIn("ok", out)
        head = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("head: ")]
        self.assertTrue(head, out)

        # the table is append-only for anyone who does not drop its triggers
        hide = "UPDATE audit_event SET outcome = 0 WHERE seq = %s" % seq
        p = sqlite(self.server.db, hide)
        self.assertNotEqual(p.returncode, 0, p)
        self.assertIn("append-only", p.stderr)
        self.assertEqual(self.verify()[0], 0)

        # the refusal made to look like a success: named by verify
        p = sqlite(self.server.db, drop_triggers("audit_event_no_update", "audit_event_no_delete") + hide)
        self.assertEqual(p.returncode, 0, p)
        self.assertEqual(self.events("outcome=8&entity=Patient/pb"), [])  # the search believes the column
        rc, out, err = self.verify()
        self.assertEqual(rc, 1, out + err)
        self.assertIn("record %s" % seq, out)
        self.assertIn("altered", out)
        # --expect with the head printed before still names the first break
        rc, out, _ = cli("audit", "verify", "--db", self.server.db, "--expect", head[0])
        self.assertEqual(rc, 1)
        self.assertIn("record %s" % seq, out)


    def test_chain_as_documented(self):
        """docs/audit.md: hash(n) = SHA-256(hash(n-1) || netstrings of the
        fields), recomputed here from the rows without fhird's code."""
        self.assertEqual(self.api("GET", "Patient/pa", self.svc()).status, 200)
        self.events()  # flushes the queue
        rows, head = audit_rows(self.server.db)

        def net(v):
            b = v.encode() if isinstance(v, str) else v
            return str(len(b)).encode() + b":" + b + b","

        prev = bytes(32)
        for r in rows:
            fields = ["fhird-audit-1"] + [str(x) for x in r[:5]] + list(r[5:17]) + \
                     ["0" if r[17] is None else "1", r[17] or ""]
            h = hashlib.sha256(prev + b"".join(net(f) for f in fields)).digest()
            self.assertEqual(r[18], prev, r[0])
            self.assertEqual(r[19], h, r[0])
            prev = h
        self.assertEqual(head, "%d %s" % (rows[-1][0], prev.hex()))


class TestChainDeleteInsert(AuditCase):
    """Deleting a middle record and inserting a forged one are named too."""

    def verify(self):
        return cli("audit", "verify", "--db", self.server.db)

    def test_delete_middle(self):
        t = self.alice()
        for _ in range(3):
            self.assertEqual(self.api("GET", "Patient/pa", t["access_token"]).status, 200)
        self.assertGreaterEqual(len(self.events()), 4)
        p = sqlite(self.server.db, drop_triggers("audit_event_no_delete") + "DELETE FROM audit_event WHERE seq = 2")
        self.assertEqual(p.returncode, 0, p)
        rc, out, err = self.verify()
        self.assertEqual(rc, 1, out + err)
        self.assertIn("record 2 was deleted", out)

        # a forged record appended after the last one (the checkpoint does
        # not cover it, and its hash is made up)
        p = sqlite(self.server.db,
                   "INSERT INTO audit_event SELECT seq + 1000000, recorded_us, kind, status, 0, action, subtype, "
                   "outcome_desc, client_id, subject, fhir_user, patient, entity_type, entity_id, address, observer, "
                   "issuer, query, hash, " + RANDOM32 + " FROM audit_event ORDER BY seq DESC LIMIT 1")
        self.assertEqual(p.returncode, 0, p)
        rc, out, _ = self.verify()
        self.assertEqual(rc, 1)
        self.assertIn("record 2 was deleted", out)  # still the first break


class TestAuditOff(AuditCase):
    """--audit off: nothing is recorded (and the server says so in its log)."""
    SERVER_ARGS = ("--audit", "off")

    def test_nothing_recorded(self):
        self.assertEqual(self.api("GET", "Patient/pa", self.svc()).status, 200)
        self.assertEqual(self.events(), [])
        with open(self.server.log_path, "rb") as f:
            self.assertIn(b"audit trail is off", f.read())


if __name__ == "__main__":
    import unittest
    unittest.main()
