"""smartutil.py - helpers for the SMART App Launch integration tests
(test_smart_*.py). Python standard library only; keys and client signatures
come from the `openssl` command line.

  * JOSE: base64url, compact JWS building/splitting, RS256/RS384 PKCS#1 v1.5
    verification in pure Python (pow(sig, e, n) against the DigestInfo),
    signing with a private JWK (n, d) in pure Python, HS256.
  * Client keys (ClientKey): RSA or EC P-384 (or P-256) keys made by `openssl genpkey`,
    their public JWK from the DER SubjectPublicKeyInfo, RS256/RS384/ES384
    signatures by `openssl dgst` (ECDSA DER -> raw r||s).
  * HTTP (http_req): one fresh connection per request, every header kept
    (several Set-Cookie lines), no redirect following.
  * AuthFlow: drives the authorization server's HTML pages like a browser
    without JavaScript: a cookie jar, forms parsed with html.parser (hidden
    inputs, CSRF token, checkboxes, radios, selects, submit buttons), posted
    back as application/x-www-form-urlencoded, internal redirects followed
    and the final redirect to the client's redirect_uri returned unfollowed.
  * SmartCase: a test class base. It seeds FHIR data on an `--auth off`
    server, stops it and starts `--auth smart` on the same database, then
    registers clients and users with the CLI (`fhird client add`,
    `fhird user add --password-stdin`).
  * Store access for the two things HTTP cannot reach deterministically
    (the server's private signing key, to forge validly signed tokens with
    an exp in the past or another aud; and the expiry of an authorization
    code): read/written with sqlite3 through the store contract of
    src/store/store.h and src/auth/token.h (records (kind, key) -> JSON,
    with an expiry; STORE_AUTH_KEY values {"jwk": <private JWK>}). The
    tests using them skip - saying why - when the records cannot be found.
"""
import base64
import hashlib
import hmac
import html.parser
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse

from fhirtest import BIN, Server
from itutil import SpecCase

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# ---------------------------------------------------------------- encoding


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_dec(s):
    if isinstance(s, bytes):
        s = s.decode()
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64u_json(obj):
    return b64u(json.dumps(obj, separators=(",", ":")).encode())


def int_b64u(i, length=None):
    n = length or max(1, (i.bit_length() + 7) // 8)
    return b64u(i.to_bytes(n, "big"))


def b64u_int(s):
    return int.from_bytes(b64u_dec(s), "big")


def now():
    return int(time.time())


# ---------------------------------------------------------------- ASN.1 DER


def der_next(data, pos):
    """(tag, content, next position) of the DER element at pos."""
    tag = data[pos]
    ln = data[pos + 1]
    pos += 2
    if ln & 0x80:
        n = ln & 0x7F
        ln = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    return tag, data[pos:pos + ln], pos + ln


def der_items(content):
    out, pos = [], 0
    while pos < len(content):
        t, v, pos = der_next(content, pos)
        out.append((t, v))
    return out


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def der_int(i):
    return der(0x02, i.to_bytes(i.bit_length() // 8 + 1, "big"))


OID_RSA = bytes.fromhex("2a864886f70d010101")
OID_EC = bytes.fromhex("2a8648ce3d0201")
OID_P384 = bytes.fromhex("2b81040022")
OID_P256 = bytes.fromhex("2a8648ce3d030107")
EC_CURVES = {OID_P384: ("P-384", 48), OID_P256: ("P-256", 32)}


def jwk_from_spki(spki):
    """Public JWK members (kty, n/e or crv/x/y) of a DER SubjectPublicKeyInfo."""
    (_, seq), = der_items(spki)
    (_, alg), (_, bits) = der_items(seq)
    alg_items = der_items(alg)
    oid = alg_items[0][1]
    key = bits[1:]  # BIT STRING: unused-bits byte first
    if oid == OID_RSA:
        (_, seq2), = der_items(key)
        (_, n), (_, e) = der_items(seq2)
        return {"kty": "RSA", "n": int_b64u(int.from_bytes(n, "big")), "e": int_b64u(int.from_bytes(e, "big"))}
    if oid == OID_EC:
        if alg_items[1][1] not in EC_CURVES:
            raise ValueError("only P-384 and P-256 EC keys are used here")
        crv, size = EC_CURVES[alg_items[1][1]]
        if key[0] != 4 or len(key) != 1 + 2 * size:
            raise ValueError("not an uncompressed %s point" % crv)
        return {"kty": "EC", "crv": crv, "x": b64u(key[1:1 + size]), "y": b64u(key[1 + size:])}
    raise ValueError("unknown key algorithm")


def rsa_public_pem(n, e):
    """PEM SubjectPublicKeyInfo of an RSA public key (for HS256-with-public-key forgeries)."""
    spki = der(0x30, der(0x30, der(0x06, OID_RSA) + der(0x05, b"")) +
               der(0x03, b"\x00" + der(0x30, der_int(n) + der_int(e))))
    body = base64.b64encode(spki).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n").encode()


def ecdsa_der_to_raw(sig, size=48):
    (_, seq), = der_items(sig)
    (_, r), (_, s) = der_items(seq)
    r = int.from_bytes(r, "big")
    s = int.from_bytes(s, "big")
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


# ---------------------------------------------------------------- RSA PKCS#1 v1.5

DIGEST_INFO = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


def emsa_pkcs1(msg, k, hname):
    t = DIGEST_INFO[hname] + hashlib.new(hname, msg).digest()
    return b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t


def rsa_verify(n, e, msg, sig, hname="sha256"):
    k = (n.bit_length() + 7) // 8
    if len(sig) != k:
        return False
    m = pow(int.from_bytes(sig, "big"), e, n)
    if m >= n:
        return False
    return m.to_bytes(k, "big") == emsa_pkcs1(msg, k, hname)


def rsa_sign_jwk(jwk, msg, hname="sha256"):
    """PKCS#1 v1.5 signature with a private RSA JWK (n, d) - pure Python."""
    n, d = b64u_int(jwk["n"]), b64u_int(jwk["d"])
    k = (n.bit_length() + 7) // 8
    m = int.from_bytes(emsa_pkcs1(msg, k, hname), "big")
    return pow(m, d, n).to_bytes(k, "big")


# ---------------------------------------------------------------- JWT


def jwt_split(token):
    """(header, claims, signature bytes, signing input bytes); ValueError if malformed."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS: %d parts" % len(parts))
    return (json.loads(b64u_dec(parts[0])), json.loads(b64u_dec(parts[1])), b64u_dec(parts[2]),
            (parts[0] + "." + parts[1]).encode())


def jwt_make(header, claims, signer=None):
    """Compact JWS; signer(signing_input bytes) -> signature bytes (None: empty signature)."""
    si = b64u_json(header) + "." + b64u_json(claims)
    sig = signer(si.encode()) if signer else b""
    return si + "." + b64u(sig)


def hs256_signer(key):
    return lambda si: hmac.new(key, si, hashlib.sha256).digest()


def verify_rs256(token, jwks):
    """Verifies an RS256 JWS against a JWK Set (kid selects the key).
    Returns (header, claims); raises AssertionError with the reason."""
    header, claims, sig, si = jwt_split(token)
    if header.get("alg") != "RS256":
        raise AssertionError("alg is %r, not RS256" % header.get("alg"))
    kid = header.get("kid")
    keys = [k for k in jwks.get("keys", []) if k.get("kty") == "RSA" and k.get("kid") == kid]
    if len(keys) != 1:
        raise AssertionError("kid %r selects %d keys of the JWKS" % (kid, len(keys)))
    k = keys[0]
    if not rsa_verify(b64u_int(k["n"]), b64u_int(k["e"]), si, sig, "sha256"):
        raise AssertionError("RS256 signature does not verify against kid %r" % kid)
    return header, claims


def resign_with(token, jwk, header_changes=None, claim_changes=None, drop=()):
    """token with claims changed and signed again with a private JWK (RS256)."""
    header, claims, _, _ = jwt_split(token)
    header.update(header_changes or {})
    claims.update(claim_changes or {})
    for d in drop:
        claims.pop(d, None)
    return jwt_make(header, claims, lambda si: rsa_sign_jwk(jwk, si, "sha256"))


def pkce_pair():
    verifier = b64u(secrets.token_bytes(32))  # 43 characters of [A-Za-z0-9_-]
    challenge = b64u(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge


# ---------------------------------------------------------------- client keys


def openssl(*args, data=None):
    p = subprocess.run(["openssl"] + list(args), input=data, capture_output=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), p.stderr.decode(errors="replace")))
    return p.stdout


DEFAULT = object()  # "not given" for auth_params (None means "leave out")


class ClientKey:
    """A client's key pair made by openssl: kind "RSA" (bits) or "EC" (curve
    P-384, or P-256 for ES256)."""

    def __init__(self, directory, kind, kid, bits=2048, alg=None, curve="P-384"):
        self.kind = kind
        self.kid = kid
        # unique per key: two keys may share a kid on purpose (a rogue key)
        self.path = os.path.join(directory, "key-%s-%s.pem" % (kid, os.urandom(4).hex()))
        if kind == "RSA":
            openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:%d" % bits, "-out", self.path)
            self.alg = alg or "RS384"
        elif kind == "EC":
            openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:%s" % curve, "-out", self.path)
            self.alg = alg or ("ES256" if curve == "P-256" else "ES384")
        else:
            raise ValueError(kind)
        self.spki = openssl("pkey", "-in", self.path, "-pubout", "-outform", "DER")
        self.public = jwk_from_spki(self.spki)

    def jwk(self, with_alg=True, **extra):
        k = dict(self.public, kid=self.kid, use="sig")
        if with_alg:
            k["alg"] = self.alg
        k.update(extra)
        return k

    def public_pem(self):
        return openssl("pkey", "-in", self.path, "-pubout")

    def sign(self, data, alg=None):
        """Signature of data for alg (RS256/RS384/RS512 or ES384, raw r||s)."""
        alg = alg or self.alg
        digest = {"256": "-sha256", "384": "-sha384", "512": "-sha512"}[alg[2:]]
        sig = openssl("dgst", digest, "-sign", self.path, data=data)
        if alg.startswith("ES"):
            return ecdsa_der_to_raw(sig, 32 if self.public.get("crv") == "P-256" else 48)
        return sig

    def signer(self, alg=None):
        return lambda si: self.sign(si, alg)


def jwks_file(directory, name, keys):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        json.dump({"keys": keys}, f)
    return path


def client_assertion(key, client_id, aud, alg=None, kid=None, header_extra=None, claims_extra=None,
                     exp_in=240, jti=None, signer=None, drop=()):
    """A private_key_jwt client assertion (SMART Backend Services / RFC 7523)."""
    alg = alg or key.alg
    header = {"alg": alg, "typ": "JWT", "kid": key.kid if kid is None else kid}
    if kid is False:  # no kid header at all
        del header["kid"]
    header.update(header_extra or {})
    t = now()
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "exp": t + exp_in,
              "jti": jti or secrets.token_hex(16)}
    claims.update(claims_extra or {})
    for d in drop:
        claims.pop(d, None)
    if signer is None:
        signer = key.signer(alg)
    return jwt_make(header, claims, signer)


# ---------------------------------------------------------------- HTTP


class HttpResp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value), as sent
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "HTTP %s %r %r" % (self.status, self.headers, self.body[:1500])


def path_of(url):
    """Path + query of an absolute URL, or url itself when relative."""
    if url.startswith("http://") or url.startswith("https://"):
        u = urllib.parse.urlsplit(url)
        return (u.path or "/") + ("?" + u.query if u.query else "")
    return url


def http_req(server, method, url, body=None, headers=None):
    """One request on a fresh connection; url absolute (any host: sent to
    server) or a path. body: bytes, str, dict/list (JSON) or a list of
    pairs (form). Redirects are not followed."""
    h = dict(headers or {})
    if isinstance(body, (dict,)) and h.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        body = urllib.parse.urlencode(body).encode()
    elif isinstance(body, (dict,)):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/fhir+json")
    elif isinstance(body, list):
        body = urllib.parse.urlencode(body).encode()
        h.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif isinstance(body, str):
        body = body.encode()
    conn = server.connect()
    try:
        conn.request(method, path_of(url), body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        return HttpResp(r.status, r.getheaders(), data)
    finally:
        conn.close()


def basic_auth(client_id, secret):
    """RFC 6749 2.3.1: form-urlencode id and secret, then Basic."""
    raw = "%s:%s" % (urllib.parse.quote_plus(client_id), urllib.parse.quote_plus(secret))
    return "Basic " + base64.b64encode(raw.encode()).decode()


def bearer(token):
    return {"Authorization": "Bearer " + token}


def query_of(url):
    """Single-valued dict of a URL's query (the last value wins) plus the list form."""
    pairs = urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True)
    return dict(pairs), pairs


# ---------------------------------------------------------------- HTML forms


class PageParser(html.parser.HTMLParser):
    """Forms of a page: action, method, inputs (attribute dicts), selects
    (name, options), buttons (attributes + text)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self._form = None
        self._select = None
        self._option = None
        self._button = None
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        a = {k.lower(): (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": (a.get("method") or "get").lower(),
                          "inputs": [], "selects": [], "buttons": []}
            self.forms.append(self._form)
        elif tag == "title":
            self._in_title = True
        elif self._form is None:
            return
        elif tag == "input":
            self._form["inputs"].append(a)
        elif tag == "button":
            b = dict(a)
            b["text"] = ""
            self._form["buttons"].append(b)
            self._button = b
        elif tag == "select":
            self._select = {"name": a.get("name"), "options": []}
            self._form["selects"].append(self._select)
        elif tag == "option" and self._select is not None:
            o = dict(a)
            o["text"] = ""
            self._select["options"].append(o)
            self._option = o

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "button":
            self._button = None
        elif tag == "select":
            self._select = None
        elif tag == "option":
            self._option = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._button is not None:
            self._button["text"] += data
        if self._option is not None:
            self._option["text"] += data
        if self._in_title:
            self.title += data


def parse_forms(body):
    p = PageParser()
    p.feed(body.decode("utf-8", "replace") if isinstance(body, bytes) else body)
    p.close()
    return p.forms


def submit_controls(form):
    out = []
    for i in form["inputs"]:
        if (i.get("type") or "").lower() in ("submit", "image"):
            out.append({"name": i.get("name"), "value": i.get("value", ""), "text": i.get("value", "")})
    for b in form["buttons"]:
        if (b.get("type") or "submit").lower() == "submit":
            out.append({"name": b.get("name"), "value": b.get("value", ""), "text": b.get("text", "")})
    return out


def form_pairs(form):
    """What a browser sends for form without a submit button: hidden/text
    values, checked checkboxes and radios, selected options."""
    pairs = []
    for i in form["inputs"]:
        t = (i.get("type") or "text").lower()
        name = i.get("name")
        if not name or "disabled" in i or t in ("submit", "image", "button", "reset", "file"):
            continue
        if t in ("checkbox", "radio"):
            if "checked" in i:
                pairs.append((name, i.get("value", "on")))
        else:
            pairs.append((name, i.get("value", "")))
    for s in form["selects"]:
        if not s["name"] or not s["options"]:
            continue
        sel = [o for o in s["options"] if "selected" in o] or s["options"][:1]
        for o in sel:
            pairs.append((s["name"], o.get("value", o["text"].strip())))
    return pairs


def csrf_field(form):
    for i in form["inputs"]:
        if "csrf" in (i.get("name") or "").lower():
            return i.get("name")
    return None


ALLOW_RE = re.compile(r"allow|approve|grant|accept|authori[sz]e|consent|yes|continue|ok\b", re.I)
DENY_RE = re.compile(r"deny|reject|decline|cancel|refuse|\bno\b", re.I)


class FlowResult:
    """Where a flow ended: kind "redirect" (to the client: url, params) or
    "page" (an HTML page the flow could not continue from: resp)."""

    def __init__(self, kind, resp, url=None):
        self.kind = kind
        self.resp = resp
        self.url = url
        self.params, self.pairs = query_of(url) if url else ({}, [])

    @property
    def code(self):
        return self.params.get("code")

    @property
    def error(self):
        return self.params.get("error")

    def __repr__(self):
        return "FlowResult(%s, %s, %r)" % (self.kind, self.url, self.resp)


class AuthFlow:
    """A browser without JavaScript at the authorization server."""

    def __init__(self, server, public_origins=()):
        self.server = server
        self.cookies = {}
        self.set_cookie_lines = []
        self.pages = []       # every HTML page seen: (url, HttpResp)
        self.last = None
        self.last_url = None
        origin = urllib.parse.urlsplit(server.origin)
        self.internal = {origin.netloc} | {urllib.parse.urlsplit(o).netloc for o in public_origins}

    # -- transport
    def cookie_header(self):
        return "; ".join("%s=%s" % kv for kv in self.cookies.items())

    def request(self, method, url, pairs=None, use_cookies=True, headers=None):
        h = dict(headers or {})
        if use_cookies and self.cookies:
            h["Cookie"] = self.cookie_header()
        body = None
        if pairs is not None and method == "POST":
            body = urllib.parse.urlencode(pairs).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        elif pairs is not None:
            sep = "&" if "?" in url else "?"
            url = url + sep + urllib.parse.urlencode(pairs)
        r = http_req(self.server, method, url, body, h)
        for line in r.all("set-cookie"):
            self.set_cookie_lines.append(line)
            nv = line.split(";", 1)[0]
            name, _, value = nv.partition("=")
            name = name.strip()
            attrs = line.lower()
            if not value or "max-age=0" in attrs.replace(" ", ""):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value.strip()
        self.last = r
        self.last_url = url
        return r

    def is_internal(self, location):
        u = urllib.parse.urlsplit(location)
        return (not u.netloc or u.netloc in self.internal) and not (u.scheme and u.scheme not in ("http", "https"))

    def absolute(self, ref):
        base = self.last_url if self.last_url and self.last_url.startswith("http") else self.server.origin + "/"
        if not base.startswith("http"):
            base = self.server.origin + base
        return urllib.parse.urljoin(base, ref)

    def settle(self, r, max_redirects=10):
        """Follows redirects within the server; returns a FlowResult at a
        page or at a redirect leaving the server (not followed)."""
        for _ in range(max_redirects):
            if r.status in (301, 302, 303, 307, 308) and r.header("location"):
                loc = self.absolute(r.header("location"))
                if not self.is_internal(loc):
                    return FlowResult("redirect", r, loc)
                r = self.request("GET", loc)
                continue
            if r.status == 200 and "html" in (r.header("content-type") or ""):
                self.pages.append((self.last_url, r))
            return FlowResult("page", r)
        raise AssertionError("more than %d redirects inside the server" % max_redirects)

    # -- authorization
    def authorize(self, params, method="GET", endpoint=None):
        url = endpoint or (self.server.origin + "/auth/authorize")
        pairs = list(params.items()) if isinstance(params, dict) else list(params)
        r = self.request(method, url, pairs)
        return self.settle(r)

    @staticmethod
    def classify(form):
        path = urllib.parse.urlsplit(form["action"]).path
        for kind in ("login", "pick", "consent"):
            if path.endswith("/" + kind):
                return kind
        types = {(i.get("type") or "text").lower() for i in form["inputs"]}
        if "password" in types:
            return "login"
        if "radio" in types or form["selects"]:
            return "pick"
        if "checkbox" in types or submit_controls(form):
            return "consent"
        return None

    def page_forms(self, res):
        return [(self.classify(f), f) for f in parse_forms(res.resp.body)]

    def submit(self, form, pairs):
        action = self.absolute(form["action"] or self.last_url)
        method = "POST" if form["method"] == "post" else "GET"
        return self.settle(self.request(method, action, pairs))

    def fill_login(self, form, username, password):
        pairs = []
        user_done = False
        for name, value in form_pairs(form):
            pairs.append((name, value))
        for i in form["inputs"]:
            t = (i.get("type") or "text").lower()
            name = i.get("name")
            if not name:
                continue
            if t == "password":
                pairs = [(n, v) for n, v in pairs if n != name] + [(name, password)]
            elif t in ("text", "email") and not user_done:
                pairs = [(n, v) for n, v in pairs if n != name] + [(name, username)]
                user_done = True
        sub = submit_controls(form)
        if sub and sub[0]["name"]:
            pairs.append((sub[0]["name"], sub[0]["value"]))
        return pairs

    def fill_pick(self, form, patient):
        pairs = [(n, v) for n, v in form_pairs(form)]
        wanted = {patient, "Patient/" + patient}
        for i in form["inputs"]:
            if (i.get("type") or "").lower() == "radio" and i.get("value") in wanted:
                pairs = [(n, v) for n, v in pairs if n != i.get("name")] + [(i["name"], i["value"])]
                break
        else:
            for s in form["selects"]:
                vals = [o.get("value", o["text"].strip()) for o in s["options"]]
                hit = [v for v in vals if v in wanted]
                if hit:
                    pairs = [(n, v) for n, v in pairs if n != s["name"]] + [(s["name"], hit[0])]
                    break
            else:
                return None
        sub = [s for s in submit_controls(form) if not DENY_RE.search((s["value"] or "") + " " + s["text"])]
        if sub and sub[0]["name"]:
            pairs.append((sub[0]["name"], sub[0]["value"]))
        return pairs

    def pick_buttons(self, form, patient):
        """A picker made of one submit button per patient (name=patient value=id)."""
        wanted = {patient, "Patient/" + patient}
        for s in submit_controls(form):
            if s["value"] in wanted and s["name"]:
                return form_pairs(form) + [(s["name"], s["value"])]
        return None

    def fill_consent(self, form, untick, approve):
        drop = set(untick)
        pairs = []
        for name, value in form_pairs(form):
            if (name in drop or value in drop) and self._is_checkbox(form, name, value):
                continue
            pairs.append((name, value))
        rx = ALLOW_RE if approve else DENY_RE
        for s in submit_controls(form):
            label = "%s %s %s" % (s["name"] or "", s["value"] or "", s["text"] or "")
            if approve and DENY_RE.search(label):
                continue
            if rx.search(label):
                if s["name"]:
                    pairs.append((s["name"], s["value"]))
                return pairs
        return None

    @staticmethod
    def _is_checkbox(form, name, value):
        for i in form["inputs"]:
            if (i.get("type") or "").lower() == "checkbox" and i.get("name") == name and i.get("value", "on") == value:
                return True
        return False

    def complete(self, res, username=None, password=None, patient=None, untick=(), approve=True, max_pages=12):
        """Drives login / picker / consent pages from res until the flow
        leaves the server; returns the final FlowResult."""
        for _ in range(max_pages):
            if res.kind == "redirect" or res.resp.status != 200:
                return res
            forms = self.page_forms(res)
            kinds = [k for k, _ in forms]
            if "login" in kinds:
                if username is None:
                    return res
                form = forms[kinds.index("login")][1]
                res = self.submit(form, self.fill_login(form, username, password))
                continue
            if "pick" in kinds:
                form = forms[kinds.index("pick")][1]
                if patient is None:
                    return res
                pairs = self.fill_pick(form, patient)
                if pairs is None:
                    raise AssertionError("patient %s is not offered by the picker: %r" % (patient, form))
                res = self.submit(form, pairs)
                continue
            consent = [f for k, f in forms if k == "consent"]
            if consent:
                for form in consent:
                    pb = self.pick_buttons(form, patient) if patient else None
                    if pb is not None:
                        res = self.submit(form, pb)
                        break
                    pairs = self.fill_consent(form, untick, approve)
                    if pairs is not None:
                        res = self.submit(form, pairs)
                        break
                else:
                    raise AssertionError("no %s button on the consent page: %r" % (
                        "allow" if approve else "deny", consent))
                continue
            return res
        raise AssertionError("the flow did not finish within %d pages" % max_pages)


# ---------------------------------------------------------------- CLI


def cli(*args, input=None, timeout=60):
    """The binary's subcommands (like fhirtest.run_cli, with stdin)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("FHIRD_") or k == "FHIRD_BIN"}
    p = subprocess.run([BIN] + list(args), input=input, capture_output=True, text=True, timeout=timeout, env=e)
    return p.returncode, p.stdout, p.stderr


SECRET_RE = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{32,}(?![A-Za-z0-9_-])")


def parse_secret(out, client_id):
    for line in out.splitlines():
        if "secret" in line.lower():
            m = SECRET_RE.findall(line.split(":", 1)[-1] if ":" in line else line)
            m = [x for x in m if x != client_id]
            if m:
                return m[-1]
    m = [x for x in SECRET_RE.findall(out) if x != client_id]
    if len(m) == 1:
        return m[0]
    raise AssertionError("cannot find the client secret in %r" % out)


# ---------------------------------------------------------------- store access


def _auth_table(conn):
    """(table, column names) of the authorization records: the table with a
    kind column, a key column and an expiry column."""
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'"):
        cols = [r[1] for r in conn.execute("PRAGMA table_info(%s)" % json.dumps(name))]
        low = [c.lower() for c in cols]
        if "kind" in low and any(c.startswith("exp") for c in low) and "auth" in name.lower():
            return name, cols
    return None, None


def _pg_private_jwks(db):
    import fhirtest
    out = []
    p = fhirtest.pg_sql(db, "SELECT value FROM auth_rec", check=False)
    for line in p.stdout.splitlines():
        try:
            j = json.loads(line)
        except ValueError:
            continue
        k = j.get("jwk") if isinstance(j, dict) else None
        if isinstance(k, dict) and k.get("kty") == "RSA" and k.get("d") and k.get("kid"):
            out.append(k)
    return out


def server_private_jwks(db):
    """Private RSA JWKs found in the store's STORE_AUTH_KEY records
    ({"jwk": {...d...}}); [] when none can be found. db: a SQLite file or
    a postgresql:// URL (the suite run against PostgreSQL)."""
    if db.startswith("postgresql://"):
        return _pg_private_jwks(db)
    out = []
    try:
        conn = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    except sqlite3.Error:
        return out
    try:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            cols = [r[1] for r in conn.execute("PRAGMA table_info(%s)" % json.dumps(name))]
            for c in cols:
                try:
                    rows = conn.execute("SELECT %s FROM %s" % (json.dumps(c), json.dumps(name))).fetchall()
                except sqlite3.Error:
                    continue
                for (v,) in rows:
                    if isinstance(v, bytes):
                        v = v.decode("utf-8", "replace")
                    if not isinstance(v, str) or '"jwk"' not in v or '"d"' not in v:
                        continue
                    try:
                        j = json.loads(v)
                    except ValueError:
                        continue
                    k = j.get("jwk") if isinstance(j, dict) else None
                    if isinstance(k, dict) and k.get("kty") == "RSA" and k.get("d") and k.get("kid"):
                        out.append(k)
    finally:
        conn.close()
    return out


STORE_AUTH_CODE = 4  # enum store_auth_kind in src/store/store.h


def expire_auth_records(db, kind):
    """Sets the expiry of every live record of kind to the past (1 us
    after the epoch); returns how many, or None when the table is not found.
    db: a SQLite file or a postgresql:// URL."""
    if db.startswith("postgresql://"):
        import fhirtest
        p = fhirtest.pg_sql(db, "WITH u AS (UPDATE auth_rec SET exp_us = 1 WHERE kind = %d RETURNING 1) "
                                "SELECT count(*) FROM u" % int(kind))
        return int(p.stdout.strip())
    conn = sqlite3.connect(db, timeout=30)
    try:
        table, cols = _auth_table(conn)
        if not table:
            return None
        kind_col = [c for c in cols if c.lower() == "kind"][0]
        exp_col = [c for c in cols if c.lower() in ("exp_us", "exp", "expires_us", "expires")]
        if not exp_col:
            return None
        cur = conn.execute("UPDATE %s SET %s = 1 WHERE %s = ?" % (json.dumps(table), json.dumps(exp_col[0]),
                                                                  json.dumps(kind_col)), (kind,))
        conn.commit()
        return cur.rowcount
    finally:
        conn.close()


# ---------------------------------------------------------------- fixtures

FULL_SCOPE = ("openid fhirUser profile launch launch/patient launch/encounter offline_access online_access "
              "patient/*.cruds user/*.cruds")


def ref(t, i):
    return {"reference": "%s/%s" % (t, i)}


def fhir_patient(pid, family, given="Test"):
    return {"resourceType": "Patient", "id": pid, "active": True,
            "name": [{"family": family, "given": [given]}], "gender": "female", "birthDate": "1980-01-01"}


def fhir_observation(oid, pid, code="29463-7", **extra):
    r = {"resourceType": "Observation", "id": oid, "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
         "subject": ref("Patient", pid),
         "valueQuantity": {"value": 70, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}
    r.update(extra)
    return r


class SmartCase(SpecCase):
    """One `--auth smart` server per class on a database seeded by an
    `--auth off` server (SEED: resources PUT there), with CLIENTS and USERS
    registered through the CLI.

    CLIENTS: dicts {id, type, redirect (str or list), scope, launch_url,
    name, jwks: [ClientKey or JWK dict] or a callable(cls) -> keys,
    jwks_url}. USERS: (username, fhirUser, password)."""

    AUTH = "smart"
    SERVER_ARGS = ()
    SEED = ()
    CLIENTS = ()
    USERS = ()
    server = None

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="fhird-smart-")
        cls.keys = {}
        cls.secrets = {}
        try:
            seed = list(cls.seed_resources())
            if seed:
                s = Server("--auth", "off", workdir=cls.workdir)
                try:
                    for res in seed:
                        r = s.request("PUT", "%s/%s" % (res["resourceType"], res["id"]), res)
                        if r.status not in (200, 201):
                            raise RuntimeError("seeding %s/%s: %s %r" % (res["resourceType"], res["id"], r.status,
                                                                       r.body[:500]))
                finally:
                    s.stop()
            cls.make_keys()
            cls.server = Server("--auth", cls.AUTH, *cls.SERVER_ARGS, workdir=cls.workdir)
            cls.setup_server()
            for c in cls.CLIENTS:
                cls.register_client(c)
            for u in cls.USERS:
                cls.add_user(*u)
            cls.after_setup()
        except BaseException:
            if cls.server:
                cls.server.stop()
            shutil.rmtree(cls.workdir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            rc = cls.server.stop()
            cls.server = None
            shutil.rmtree(cls.workdir, ignore_errors=True)
            assert rc == 0, "server exited with %s" % rc
        else:
            shutil.rmtree(cls.workdir, ignore_errors=True)

    @classmethod
    def seed_resources(cls):
        return cls.SEED

    @classmethod
    def make_keys(cls):
        """Hook: generate client keys into cls.keys before the server starts."""

    @classmethod
    def setup_server(cls):
        """Hook: runs once the smart server listens, before registration."""

    @classmethod
    def after_setup(cls):
        """Hook: runs after clients and users are registered."""

    # -- URLs
    @classmethod
    def base(cls):
        return cls.server.base

    @classmethod
    def issuer(cls):
        return cls.server.origin + "/auth"

    @classmethod
    def token_url(cls):
        return cls.server.origin + "/auth/token"

    # -- registration
    @classmethod
    def register_client(cls, c):
        args = ["client", "add", "--id", c["id"], "--type", c["type"], "--scope", c.get("scope", FULL_SCOPE),
                "--db", cls.server.db]
        redirects = c.get("redirect") or []
        if isinstance(redirects, str):
            redirects = [redirects]
        for u in redirects:
            args += ["--redirect-uri", u]
        if c.get("launch_url"):
            args += ["--launch-url", c["launch_url"]]
        if c.get("name"):
            args += ["--name", c["name"]]
        if c.get("jwks_url"):
            args += ["--jwks-url", c["jwks_url"]]
        jwks = c.get("jwks")
        if callable(jwks):
            jwks = jwks(cls)
        if jwks:
            keys = [k.jwk() if isinstance(k, ClientKey) else k for k in jwks]
            args += ["--jwks-file", jwks_file(cls.workdir, "jwks-%s.json" % c["id"], keys)]
        rc, out, err = cli(*args)
        if rc != 0:
            raise RuntimeError("fhird %s -> %d: %s %s" % (" ".join(args), rc, out, err))
        if c["type"] == "confidential":
            cls.secrets[c["id"]] = parse_secret(out, c["id"])
        return out

    @classmethod
    def add_user(cls, username, fhir_user, password):
        rc, out, err = cli("user", "add", "--username", username, "--fhir-user", fhir_user, "--password-stdin",
                           "--db", cls.server.db, input=password + "\n")
        if rc != 0:
            raise RuntimeError("fhird user add %s -> %d: %s %s" % (username, rc, out, err))

    @classmethod
    def ehr_launch(cls, client_id, patient, encounter=None):
        """fhird launch: returns (launch URL, launch value, iss)."""
        args = ["launch", "--client", client_id, "--patient", patient, "--base-url", cls.base(),
                "--db", cls.server.db]
        if encounter:
            args[5:5] = ["--encounter", encounter]
        rc, out, err = cli(*args)
        if rc != 0:
            raise AssertionError("fhird launch -> %d: %s %s" % (rc, out, err))
        m = re.search(r"https?://\S+", out)
        if not m:
            raise AssertionError("no launch URL in %r" % out)
        url = m.group(0)
        q, _ = query_of(url)
        return url, q.get("launch"), q.get("iss")

    # -- HTTP
    def http(self, method, url, body=None, headers=None):
        return http_req(self.server, method, url, body, headers)

    def api(self, method, path, token=None, body=None, headers=None):
        """A FHIR request (path relative to the base) with a bearer token."""
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if not path.startswith("/") and not path.startswith("http"):
            path = "/fhir/" + path if path else "/fhir"
        return http_req(self.server, method, path, body, h)

    def token_req(self, params, client=None, secret=None, method="basic", headers=None):
        """POST /auth/token (form). client/secret: client_secret_basic
        (method "basic") or client_secret_post ("post"); without a secret
        client_id goes in the body (public client)."""
        pairs = list(params.items()) if isinstance(params, dict) else list(params)
        h = dict(headers or {})
        if client and secret is not None and method == "basic":
            h["Authorization"] = basic_auth(client, secret)
        elif client and secret is not None:
            pairs += [("client_id", client), ("client_secret", secret)]
        elif client:
            pairs.append(("client_id", client))
        h["Content-Type"] = "application/x-www-form-urlencoded"
        return http_req(self.server, "POST", "/auth/token", urllib.parse.urlencode(pairs).encode(), h)

    def form_post(self, path, pairs, headers=None):
        h = dict(headers or {})
        h["Content-Type"] = "application/x-www-form-urlencoded"
        return http_req(self.server, "POST", path, urllib.parse.urlencode(pairs).encode(), h)

    def jwks(self):
        r = self.http("GET", "/auth/jwks")
        self.assertEqual(r.status, 200, r)
        return r.json

    # -- flows
    def auth_params(self, client_id, redirect, scope, state=DEFAULT, aud=DEFAULT, challenge=None, nonce=None,
                    **extra):
        """state/aud: left out when None, a default when not given."""
        p = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect, "scope": scope,
             "state": secrets.token_urlsafe(12) if state is DEFAULT else state,
             "aud": self.base() if aud is DEFAULT else aud}
        for k in ("state", "aud"):
            if p[k] is None:
                del p[k]
        if challenge is not None:
            p["code_challenge"] = challenge
            p["code_challenge_method"] = "S256"
        if nonce is not None:
            p["nonce"] = nonce
        for k, v in extra.items():
            if v is None:
                p.pop(k, None)
            else:
                p[k] = v
        return p

    def get_code(self, client_id, redirect, scope, user=None, password=None, patient=None, untick=(),
                 approve=True, state=None, nonce=None, method="GET", **extra):
        """Authorize with PKCE and drive the pages; returns (FlowResult,
        verifier, params sent, flow)."""
        verifier, challenge = pkce_pair()
        if state is not None:
            extra["state"] = state
        params = self.auth_params(client_id, redirect, scope, challenge=challenge, nonce=nonce, **extra)
        flow = AuthFlow(self.server)
        res = flow.authorize(params, method=method)
        res = flow.complete(res, user, password, patient=patient, untick=untick, approve=approve)
        return res, verifier, params, flow

    def exchange(self, code, verifier, client_id, redirect, secret=None, method="basic", **extra):
        p = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}
        if verifier is not None:
            p["code_verifier"] = verifier
        p.update(extra)
        if secret is not None:
            return self.token_req(p, client_id, secret, method)
        return self.token_req(p, client_id)

    def login_token(self, client_id, redirect, scope, user, password, patient=None, untick=(), secret=None,
                    nonce=None, **extra):
        """The whole authorization-code flow; asserts success; returns the token response JSON."""
        res, verifier, params, _ = self.get_code(client_id, redirect, scope, user, password, patient=patient,
                                                 untick=untick, nonce=nonce, **extra)
        self.assertEqual(res.kind, "redirect", "flow ended on a page: %r" % res)
        self.assertIn("code", res.params, "no code in %s" % res.url)
        r = self.exchange(res.code, verifier, client_id, redirect, secret)
        self.assertEqual(r.status, 200, r)
        return r.json

    def backend_token(self, client_id, key, scope, **kw):
        a = client_assertion(key, client_id, self.token_url(), **kw)
        r = self.token_req({"grant_type": "client_credentials", "scope": scope,
                            "client_assertion_type": ASSERTION_TYPE, "client_assertion": a})
        self.assertEqual(r.status, 200, r)
        return r.json

    # -- assertions
    def assertOAuthError(self, r, status, *errors):
        """RFC 6749 5.2: status, JSON body with error one of errors."""
        self.assertEqual(r.status, status, r)
        self.assertIsInstance(r.json, dict, r)
        self.assertIn(r.json.get("error"), errors, r)
        self.assertNotIn("access_token", r.json, r)
        ct = (r.header("content-type") or "").lower()
        self.assertTrue(ct.startswith("application/json"), r)

    def assert401(self, r, error_code=True):
        """RFC 6750 3 / the issue: 401, WWW-Authenticate: Bearer (error=
        "invalid_token" when a token was presented) and an OperationOutcome."""
        self.assertOutcome(r, 401)
        www = r.header("www-authenticate") or ""
        self.assertTrue(www.lower().startswith("bearer"), r)
        if error_code:
            self.assertRegex(www, r'error="invalid_token"', r)

    def assert403(self, r):
        self.assertOutcome(r, 403)

    def assertOutcome(self, r, status):
        if not hasattr(r, "all"):
            return super().assertOutcome(r, status)
        # HttpResp: the same checks as SpecCase.assertOutcome
        from itutil import FHIR_JSON_CT, ISSUE_TYPES, norm_ct
        self.assertEqual(r.status, status, r)
        self.assertEqual(norm_ct(r.header("content-type")), FHIR_JSON_CT, r)
        self.assertIsInstance(r.json, dict, r)
        self.assertEqual(r.json.get("resourceType"), "OperationOutcome", r)
        issues = r.json.get("issue")
        self.assertTrue(isinstance(issues, list) and issues, r)
        self.assertIn(issues[0].get("severity"), ("error", "fatal"), r)
        self.assertIn(issues[0].get("code"), ISSUE_TYPES, r)
        text = r.text
        for m in ("SQL", ".c:", "/tmp"):
            self.assertNotIn(m, text, r)
        self.assertNotIn("sqlite", text.lower(), r)

    def assertNoStore(self, r):
        """RFC 6749 5.1: Cache-Control: no-store and Pragma: no-cache."""
        cc = (r.header("cache-control") or "").lower()
        self.assertIn("no-store", cc, r)
        self.assertEqual((r.header("pragma") or "").lower(), "no-cache", r)

    def assertNoCode(self, res):
        """No authorization code came out of a flow."""
        if res.kind == "redirect":
            self.assertNotIn("code", res.params, res)
        else:
            loc = res.resp.header("location") or ""
            self.assertNotIn("code=", loc, res)


def scope_set(s):
    return set((s or "").split())


def ids_of(bundle, rtype=None):
    out = set()
    for e in (bundle or {}).get("entry") or []:
        res = e.get("resource") or {}
        if rtype is None or res.get("resourceType") == rtype:
            out.add("%s/%s" % (res.get("resourceType"), res.get("id")))
    return out


# ---------------------------------------------------------------- shared fixtures

APP = "https://app.example.org/cb"
APP_Q = "https://app.example.org/cb?tenant=1"
APP_LAUNCH = "https://app.example.org/launch"
APP2 = "https://other.example.net/callback"
CONF = "https://conf.example.org/cb"

PASSWORDS = {"alice": "alice-pw-4711", "bob": "bob-pw-4712", "drsmith": "smith-pw-4713"}
STD_USERS = (("alice", "Patient/pa", PASSWORDS["alice"]), ("bob", "Patient/pb", PASSWORDS["bob"]),
             ("drsmith", "Practitioner/pr1", PASSWORDS["drsmith"]))
STD_CLIENTS = (
    {"id": "app", "type": "public", "redirect": [APP, APP_Q], "launch_url": APP_LAUNCH, "name": "Test App"},
    {"id": "app2", "type": "public", "redirect": APP2, "launch_url": "https://other.example.net/launch"},
    {"id": "conf", "type": "confidential", "redirect": CONF},
)
STD_SEED = (
    fhir_patient("pa", "Alphaname", "Anna"),
    fhir_patient("pb", "Betaname", "Berta"),
    {"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "Smith", "given": ["Sam"]}]},
    {"resourceType": "Encounter", "id": "enc-a", "status": "finished",
     "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
     "subject": ref("Patient", "pa")},
    fhir_observation("obs-a", "pa"),
    fhir_observation("obs-b", "pb", code="8302-2"),
)


def backend_client(cid, keys_attr, scope="system/*.cruds"):
    """A backend client whose JWKS is made of cls.keys[name] for names in keys_attr."""
    return {"id": cid, "type": "backend", "scope": scope,
            "jwks": lambda cls: [cls.keys[n] for n in keys_attr]}


def aud_list(claims):
    """RFC 7519 4.1.3: aud is a string or an array of strings."""
    a = claims.get("aud")
    return a if isinstance(a, list) else [a]


def tamper(token, claim_changes=None, header_changes=None):
    """token with claims/header changed but the ORIGINAL signature kept."""
    parts = token.split(".")
    header = json.loads(b64u_dec(parts[0]))
    claims = json.loads(b64u_dec(parts[1]))
    header.update(header_changes or {})
    claims.update(claim_changes or {})
    return b64u_json(header) + "." + b64u_json(claims) + "." + parts[2]
