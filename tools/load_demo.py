#!/usr/bin/env python3
"""load_demo.py - load FHIR transaction Bundles into a running fhird, one PUT per entry.

    python3 tools/load_demo.py BASE_URL FILE...
    python3 tools/load_demo.py http://127.0.0.1:8080/fhir data/demo/*.json

It exists so that the demo data (data/demo/) and test data can be loaded
before fhird supports transaction Bundles, and so that it works against any
server that supports update-as-create. Each entry gets a target id:

  - the id of its request URL when the request is `PUT <Type>/<id>`;
  - otherwise the uuid of a `urn:uuid:<uuid>` fullUrl (a valid FHIR id);
  - otherwise the id of an absolute `.../<Type>/<id>` fullUrl, or the
    resource's own id.

Every `"reference": "<fullUrl of an entry>"` anywhere in every resource
(nested elements, contained resources, extensions) is rewritten to
`<Type>/<id>` of that entry, the resource's `id` is set to its target id, and
the resource is sent as `PUT <base>/<Type>/<id>` over one keep-alive
connection. Referenced entries are sent before the entries that refer to
them (where there is no cycle), so a server that checks references also
accepts them.

Exit status: 0 when every PUT answered 2xx; 1 when some failed (the status
and OperationOutcome diagnostics of the first few are printed); 2 for a
usage error, an unreadable file, or a server that cannot be reached.
Python 3 standard library only.
"""

import http.client
import json
import re
import sys
import time
import urllib.parse

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
TYPE_ID = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")
ABS_TYPE_ID = re.compile(r"/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")
MAX_REPORTED = 5
TIMEOUT_S = 60


class LoadError(Exception):
    """A problem with the input or the connection (exit status 2)."""


def entry_target(entry, index):
    """Returns (type, id) for one Bundle entry."""
    res = entry.get("resource")
    if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
        raise LoadError("entry %d has no resource" % index)
    rtype = res["resourceType"]
    req = entry.get("request") or {}
    full = entry.get("fullUrl") or ""
    url = (req.get("url") or "").split("?", 1)[0]
    m = TYPE_ID.match(url)
    if req.get("method") == "PUT" and m and "?" not in (req.get("url") or ""):
        if m.group(1) != rtype:
            raise LoadError("entry %d: request URL %s does not match resourceType %s" % (index, url, rtype))
        return rtype, m.group(2)
    if full.startswith("urn:uuid:"):
        rid = full[len("urn:uuid:"):]
    elif ABS_TYPE_ID.search(full):
        rid = ABS_TYPE_ID.search(full).group(2)
    else:
        rid = res.get("id")
    if not isinstance(rid, str) or not FHIR_ID.match(rid):
        raise LoadError("entry %d (%s): no usable id (fullUrl %r)" % (index, rtype, full))
    return rtype, rid


def rewrite_refs(node, refmap, found):
    """Rewrites, in place, every "reference" naming a key of refmap; records
    the entries referred to in found (a set of "Type/id")."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "reference" and isinstance(v, str):
                if v in refmap:
                    node[k] = refmap[v]
                    found.add(refmap[v])
            elif isinstance(v, (dict, list)):
                rewrite_refs(v, refmap, found)
    elif isinstance(node, list):
        for v in node:
            rewrite_refs(v, refmap, found)


def plan_bundle(bundle, name):
    """Returns the list of (type, id, resource) to PUT, referenced ones first."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise LoadError("%s: not a Bundle" % name)
    entries = bundle.get("entry") or []
    targets = [entry_target(e, i) for i, e in enumerate(entries)]
    refmap = {}
    for e, (rtype, rid) in zip(entries, targets):
        if e.get("fullUrl"):
            refmap[e["fullUrl"]] = "%s/%s" % (rtype, rid)
    order, deps, items = [], {}, {}
    for e, (rtype, rid) in zip(entries, targets):
        key = "%s/%s" % (rtype, rid)
        if key in items:
            raise LoadError("%s: two entries both load %s" % (name, key))
        res = e["resource"]
        found = set()
        rewrite_refs(res, refmap, found)
        res["id"] = rid
        found.discard(key)
        items[key] = (rtype, rid, res)
        deps[key] = sorted(found)
        order.append(key)
    # Depth-first post-order: dependencies first; a cycle is simply cut.
    out, state = [], {}
    for root in order:
        if root in state:
            continue
        stack = [(root, iter(deps[root]))]
        state[root] = 1
        while stack:
            key, it = stack[-1]
            nxt = next((d for d in it if d not in state), None)
            if nxt is None:
                stack.pop()
                out.append(items[key])
            else:
                state[nxt] = 1
                stack.append((nxt, iter(deps[nxt])))
    return out


def diagnostics(body):
    """Short text from an OperationOutcome body, or the start of the body."""
    try:
        oo = json.loads(body)
        msgs = []
        for issue in oo.get("issue", []):
            text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or ""
            msgs.append("%s/%s: %s" % (issue.get("severity", "?"), issue.get("code", "?"), text))
        if msgs:
            return "; ".join(msgs)
    except (ValueError, AttributeError):
        pass
    return body[:200].decode("utf-8", "replace")


class Client:
    """One keep-alive HTTP/1.1 connection to the FHIR base; reconnects once
    when the server closed an idle connection (PUT is idempotent)."""

    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise LoadError("BASE_URL must be http(s)://HOST[:PORT]/PATH, not %r" % base)
        self.scheme, self.netloc, self.path = u.scheme, u.netloc, u.path.rstrip("/")
        self.conn = None

    def _connect(self):
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        self.conn = cls(self.netloc, timeout=TIMEOUT_S)

    def put(self, rtype, rid, body):
        path = "%s/%s/%s" % (self.path, rtype, urllib.parse.quote(rid, safe="-."))
        headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request("PUT", path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    self.close()
                return resp.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self.close()
                if attempt:
                    raise LoadError("%s: connection lost: %s" % (self.netloc, e))
            except OSError as e:
                self.close()
                raise LoadError("cannot talk to %s://%s: %s" % (self.scheme, self.netloc, e))
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def main(argv):
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: python3 tools/load_demo.py BASE_URL FILE...\n")
        return 0 if len(argv) > 1 and argv[1] in ("-h", "--help") else 2
    client = Client(argv[1])
    failures, nfail, total = [], 0, 0
    try:
        for name in argv[2:]:
            try:
                with open(name, "rb") as f:
                    bundle = json.load(f)
            except (OSError, ValueError) as e:
                raise LoadError("%s: %s" % (name, e))
            plan = plan_bundle(bundle, name)
            t0 = time.monotonic()
            ok = 0
            for rtype, rid, res in plan:
                body = json.dumps(res, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
                status, data = client.put(rtype, rid, body)
                if 200 <= status < 300:
                    ok += 1
                else:
                    nfail += 1
                    if len(failures) < MAX_REPORTED:
                        failures.append("PUT %s/%s -> %d %s" % (rtype, rid, status, diagnostics(data)))
            total += ok
            print("%d resources loaded from file %s in %.2f s%s"
                  % (ok, name, time.monotonic() - t0,
                     "" if ok == len(plan) else " (%d failed)" % (len(plan) - ok)))
    except LoadError as e:
        sys.stderr.write("load_demo: %s\n" % e)
        return 2
    finally:
        client.close()
    if nfail:
        sys.stderr.write("load_demo: %d PUT(s) failed; the first %d:\n" % (nfail, len(failures)))
        for line in failures:
            sys.stderr.write("  %s\n" % line)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
