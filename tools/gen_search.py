#!/usr/bin/env python3
"""gen_search.py - generate src/search/params_gen.c, the search-parameter tables.

Regenerate (from the repository root; Python 3 standard library only):

    python3 tools/gen_search.py [SHARED_DIR [OUT]]

SHARED_DIR defaults to <repo>/../shared and OUT to src/search/params_gen.c.
The contract is src/search/params.h. Inputs, relative to SHARED_DIR:

  fhir-r4/search-parameters.json          the 1,378 R4 SearchParameters
  fhir-r4/profiles-resources.json         which resource types are concrete
  fhir-r4/compartmentdefinition-patient.json
  us-core/us_core_610.tgz                 package/SearchParameter-*.json and
                                          package/CapabilityStatement-us-core-server.json

What it emits:

  - one row per (concrete resource type, code), sorted by (rtype, code) in
    byte order. A SearchParameter with several bases becomes one row per
    base; its FHIRPath expression is cut down to the top-level union
    branches ("a | b", split at parenthesis depth 0 outside quotes) that
    start with "T." or "(T." or equal "T" for that row's type T.
  - the Resource-level parameters (_id, _lastUpdated, ...) get a row for
    every concrete type, DomainResource's _text one for every type that is
    a DomainResource (not Bundle, Binary, Parameters); "Resource." in the
    expression becomes "T.".
  - US Core 6.1.0: a US Core SearchParameter whose (base, code) is already
    a row marks it us_core = 1 and the R4 definition stays; any other is
    added as a new row. Every (type, code) listed in the US Core server
    CapabilityStatement is marked us_core = 1 as well.
  - reference targets as shared NULL-terminated arrays (an empty array
    means any type); composite components resolved through their
    definition URL; the Patient compartment (types with at least one
    parameter); a SHA-256 over a canonical text of the rows
    (search_params_hash), which changes whenever an index would.
  - the lookups declared in params.h (binary search with strcmp).

Anything the generator has to guess about is printed as a warning on
stderr; input it does not understand at all (a duplicate row, an unknown
parameter type) stops it. The output is deterministic and committed.
"""
import hashlib
import json
import os
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_SHARED = os.path.join(ROOT, "..", "shared")
DEFAULT_OUT = os.path.join(ROOT, "src", "search", "params_gen.c")

FHIR_VERSION = "4.0.1"
US_CORE_TGZ = "us-core/us_core_610.tgz"
US_CORE_CS = "package/CapabilityStatement-us-core-server.json"

TYPE_ENUM = {
    "number": "SEARCH_T_NUMBER",
    "date": "SEARCH_T_DATE",
    "string": "SEARCH_T_STRING",
    "token": "SEARCH_T_TOKEN",
    "reference": "SEARCH_T_REFERENCE",
    "composite": "SEARCH_T_COMPOSITE",
    "quantity": "SEARCH_T_QUANTITY",
    "uri": "SEARCH_T_URI",
    "special": "SEARCH_T_SPECIAL",
}

warnings = []


def die(msg):
    sys.stderr.write("gen_search: %s\n" % msg)
    sys.exit(1)


def warn(msg):
    warnings.append(msg)
    sys.stderr.write("gen_search: warning: %s\n" % msg)


def c_str(s):
    """s as a C string literal: quotes and backslashes escaped, anything
    outside printable ASCII as octal, and "??" broken up (trigraphs)."""
    if s is None:
        return "NULL"
    out = ['"']
    prev = ""
    for ch in s:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "?" and prev == "?":
            out.append("\\?")
        elif 0x20 <= o < 0x7F:
            out.append(ch)
        else:
            for b in ch.encode("utf-8"):
                out.append("\\%03o" % b)
        prev = ch
    out.append('"')
    return "".join(out)


def split_union(expr):
    """The top-level branches of a FHIRPath union: split on '|' at bracket
    depth 0, outside '...', "..." and `...` (with backslash escapes)."""
    branches = []
    depth = 0
    quote = None
    start = 0
    i = 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                die("unbalanced parentheses in %r" % expr)
        elif ch == "|" and depth == 0:
            branches.append(expr[start:i].strip())
            start = i + 1
        i += 1
    if quote or depth:
        die("unterminated quote or parenthesis in %r" % expr)
    branches.append(expr[start:].strip())
    return [b for b in branches if b]


def branch_is_for(branch, t):
    return branch == t or branch.startswith(t + ".") or branch.startswith("(" + t + ".")


def branch_type(branch):
    """The leading identifier of a branch ("(Goal.target..." -> "Goal")."""
    s = branch.lstrip("(").lstrip()
    n = 0
    while n < len(s) and (s[n].isalnum() or s[n] == "_"):
        n += 1
    return s[:n]


def expr_for(sp, t, types):
    """sp's expression cut down to the branches for type t (rule above)."""
    expr = sp.get("expression")
    if expr is None:
        return None
    branches = split_union(expr)
    mine = [b for b in branches if branch_is_for(b, t)]
    if mine:
        return " | ".join(mine)
    lead = branch_type(branches[0]) if branches else ""
    where = "%s %s/%s" % (sp["url"], t, sp["code"])
    if len(branches) == 1 and lead in sp.get("base", []):
        warn("%s: expression %r names base %s, not %s; kept as is" % (where, expr, lead, t))
        return branches[0]
    if all(branch_type(b) not in types for b in branches):
        warn("%s: expression %r has no type prefix; kept as is" % (where, expr))
        return " | ".join(branches)
    die("%s: no branch of %r is for %s" % (where, expr, t))


def load_json_file(path):
    with open(path, "rb") as f:
        raw = f.read()
    return json.loads(raw.decode("utf-8")), hashlib.sha256(raw).hexdigest()


def concrete_types(profiles):
    """{type: is_domain_resource} for the concrete R4 resource types."""
    types = {}
    skipped = []
    for entry in profiles.get("entry", []):
        sd = entry.get("resource", {})
        if sd.get("resourceType") != "StructureDefinition":
            continue
        if sd.get("kind") != "resource" or sd.get("abstract") or sd.get("derivation") != "specialization":
            continue
        if sd.get("fhirVersion") != FHIR_VERSION:
            skipped.append("%s (%s)" % (sd["type"], sd.get("fhirVersion")))
            continue
        base = sd.get("baseDefinition", "")
        types[sd["type"]] = base.endswith("/DomainResource")
    return types, skipped


class Row:
    __slots__ = ("rtype", "code", "type", "expr", "targets", "comps", "url", "us_core", "sp")

    def __init__(self, rtype, code, sp, expr, us_core):
        self.rtype = rtype
        self.code = code
        self.type = sp["type"]
        self.expr = expr
        self.targets = sorted(sp.get("target", [])) if sp["type"] == "reference" else None
        self.comps = None
        self.url = sp["url"]
        self.us_core = us_core
        self.sp = sp

    def canon(self):
        return json.dumps([self.rtype, self.code, self.type, self.expr, self.targets, self.comps],
                          separators=(",", ":"), ensure_ascii=True)


def add_param(rows, types, sp, us_core, origin):
    """Rows for one SearchParameter (R4 or US Core). A US Core parameter
    whose (type, code) is already a row only marks it."""
    if sp.get("type") not in TYPE_ENUM:
        die("%s: unknown search parameter type %r" % (sp.get("url"), sp.get("type")))
    for base in sp.get("base", []):
        if base in ("Resource", "DomainResource"):
            for t in sorted(t for t in types if base == "Resource" or types[t]):
                expr = sp.get("expression")
                if expr is not None:
                    parts = []
                    for b in split_union(expr):
                        if branch_is_for(b, base):
                            lead = "(" if b.startswith("(") else ""
                            b = lead + t + b[len(lead) + len(base):]
                        else:
                            warn("%s: branch %r does not start with %s" % (sp["url"], b, base))
                        parts.append(b)
                    expr = " | ".join(parts)
                put_row(rows, Row(t, sp["code"], sp, expr, us_core), origin)
            continue
        if base not in types:
            warn("%s: base %s is not a concrete R4 resource type; skipped" % (sp["url"], base))
            continue
        put_row(rows, Row(base, sp["code"], sp, expr_for(sp, base, types), us_core), origin)
    for t in sp.get("target", []):
        if t not in types:
            warn("%s: target %s is not a concrete R4 resource type" % (sp["url"], t))


def put_row(rows, row, origin):
    key = (row.rtype, row.code)
    old = rows.get(key)
    if old is None:
        rows[key] = row
        return
    if origin == "us-core":
        old.us_core = 1
        if old.type != row.type:
            warn("%s/%s: US Core type %s differs from R4 %s; R4 kept" % (row.rtype, row.code, row.type, old.type))
        return
    die("%s/%s defined twice (%s, %s)" % (row.rtype, row.code, old.url, row.url))


def resolve_components(rows, by_url):
    for row in rows.values():
        if row.type != "composite":
            continue
        comps = []
        for c in row.sp.get("component", []):
            d = by_url.get(c.get("definition"))
            if d is None:
                warn("%s/%s: component definition %s not found; typed special" %
                     (row.rtype, row.code, c.get("definition")))
                code = c.get("definition", "").rsplit("/", 1)[-1]
                comps.append([code, "special", c.get("expression")])
            else:
                comps.append([d["code"], d["type"], c.get("expression")])
        if not comps:
            warn("%s/%s: composite without components" % (row.rtype, row.code))
        row.comps = comps


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SHARED
    out_path = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_OUT
    r4 = os.path.join(shared, "fhir-r4")

    profiles, _ = load_json_file(os.path.join(r4, "profiles-resources.json"))
    types, skipped = concrete_types(profiles)
    if not types:
        die("no resource types")
    spbundle, sp_digest = load_json_file(os.path.join(r4, "search-parameters.json"))
    compartment, cp_digest = load_json_file(os.path.join(r4, "compartmentdefinition-patient.json"))

    tgz = os.path.join(shared, US_CORE_TGZ)
    with open(tgz, "rb") as f:
        uc_digest = hashlib.sha256(f.read()).hexdigest()
    us_params = []
    with tarfile.open(tgz, "r:gz") as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)
        cs = None
        for m in members:
            if m.name.startswith("package/SearchParameter-") and m.name.endswith(".json"):
                us_params.append(json.loads(tar.extractfile(m).read().decode("utf-8")))
            elif m.name == US_CORE_CS:
                cs = json.loads(tar.extractfile(m).read().decode("utf-8"))
    if cs is None:
        die("%s: no %s" % (tgz, US_CORE_CS))

    r4_params = [e["resource"] for e in spbundle.get("entry", [])
                 if e.get("resource", {}).get("resourceType") == "SearchParameter"]
    by_url = {}
    for sp in r4_params + us_params:
        if sp["url"] in by_url:
            die("SearchParameter %s defined twice" % sp["url"])
        by_url[sp["url"]] = sp

    rows = {}
    for sp in r4_params:
        add_param(rows, types, sp, 0, "r4")
    n_r4 = len(rows)
    for sp in us_params:
        add_param(rows, types, sp, 1, "us-core")
    n_us_new = len(rows) - n_r4

    for rest in cs.get("rest", []):
        for res in rest.get("resource", []):
            for p in res.get("searchParam", []):
                row = rows.get((res["type"], p["name"]))
                if row is None:
                    warn("US Core CapabilityStatement lists %s/%s, which has no row" % (res["type"], p["name"]))
                else:
                    row.us_core = 1

    resolve_components(rows, by_url)

    ordered = [rows[k] for k in sorted(rows, key=lambda k: (k[0].encode(), k[1].encode()))]
    h = hashlib.sha256()
    for row in ordered:
        h.update(row.canon().encode("ascii"))
        h.update(b"\n")
    digest = h.hexdigest()

    # Patient compartment.
    comp_types = []
    for res in compartment.get("resource", []):
        params = res.get("param", [])
        if not params:
            continue
        t = res["code"]
        if t not in types:
            warn("compartment: %s is not a concrete resource type" % t)
        for code in params:
            if (t, code) not in rows:
                warn("compartment: %s/%s is not a search parameter row; emitted anyway" % (t, code))
        comp_types.append((t, params))
    comp_types.sort(key=lambda c: c[0].encode())

    # Shared target and component arrays, named in order of first use.
    tnames = {}
    cnames = {}
    for row in ordered:
        if row.targets is not None:
            tnames.setdefault(tuple(row.targets), "tg_%d" % len(tnames))
        if row.comps is not None:
            cnames.setdefault(json.dumps(row.comps), "cp_%d" % len(cnames))

    out = []
    w = out.append
    w("/*\n")
    w(" * params_gen.c - GENERATED by tools/gen_search.py; do not edit.\n")
    w(" *\n")
    w(" * Sources (shared/):\n")
    w(" *   fhir-r4/search-parameters.json sha256 %s\n" % sp_digest)
    w(" *   fhir-r4/compartmentdefinition-patient.json sha256 %s\n" % cp_digest)
    w(" *   %s sha256 %s\n" % (US_CORE_TGZ, uc_digest))
    w(" *   fhir-r4/profiles-resources.json (the %d concrete R4 %s resource types" % (len(types), FHIR_VERSION))
    if skipped:
        w(";\n *     left out as not R4 %s: %s" % (FHIR_VERSION, ", ".join(skipped)))
    w(")\n")
    w(" * %d rows (%d from R4, %d added by US Core 6.1.0), %d with us_core = 1.\n" %
      (len(ordered), n_r4, n_us_new, sum(r.us_core for r in ordered)))
    w(" * Regenerate: make gen (python3 tools/gen_search.py).\n")
    w(" */\n")
    w('#include "params.h"\n\n#include <stddef.h>\n#include <string.h>\n')

    w("\n/* Reference targets, sorted, NULL-terminated; { NULL } means any type. */\n")
    for tg, name in tnames.items():
        w("static const char *const %s[] = { %s };\n" % (name, ", ".join([c_str(t) for t in tg] + ["NULL"])))

    w("\n/* Composite components. */\n")
    for cj, name in cnames.items():
        comps = json.loads(cj)
        w("static const search_comp %s[] = {\n" % name)
        for code, ty, expr in comps:
            w("\t{ %s, %s, %s },\n" % (c_str(code), TYPE_ENUM[ty], c_str(expr)))
        w("};\n")

    w("\nconst search_param search_params[] = {\n")
    for i, row in enumerate(ordered):
        tg = tnames[tuple(row.targets)] if row.targets is not None else "NULL"
        if row.comps is not None:
            cp, nc = cnames[json.dumps(row.comps)], len(row.comps)
        else:
            cp, nc = "NULL", 0
        w("\t/* %d */ { %s, %s, %s, %s, %s, %s, %d, %s, %d },\n" %
          (i, c_str(row.rtype), c_str(row.code), TYPE_ENUM[row.type], c_str(row.expr), tg, cp, nc,
           c_str(row.url), row.us_core))
    w("};\n\n")
    w("const size_t search_nparams = %d;\n\n" % len(ordered))
    w("const char search_params_hash[] = %s;\n" % c_str(digest[:16]))

    w("\n/* Patient compartment (compartmentdefinition-patient.json). */\n")
    for t, params in comp_types:
        w("static const char *const cm_%s[] = { %s };\n" % (t, ", ".join([c_str(p) for p in params] + ["NULL"])))
    w("\nstatic const struct {\n\tconst char *rtype;\n\tconst char *const *params;\n} compartment[] = {\n")
    for t, _ in comp_types:
        w("\t{ %s, cm_%s },\n" % (c_str(t), t))
    w("};\n\n")
    w("const char *const search_compartment_types[] = {\n")
    for t, _ in comp_types:
        w("\t%s,\n" % c_str(t))
    w("\tNULL\n};\n")

    w(LOOKUPS)

    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(out))
    os.replace(tmp, out_path)
    print("gen_search: %d rows (%d R4, %d US Core additions), %d compartment types, hash %s, %d warnings -> %s" %
          (len(ordered), n_r4, n_us_new, len(comp_types), digest[:16], len(warnings), out_path))


LOOKUPS = r"""
/* Lookups. The rows are sorted by (rtype, code) in strcmp order, the
 * compartment table by rtype. */

static int row_cmp(const search_param *p, const char *rtype, const char *code)
{
	int c = strcmp(p->rtype, rtype);
	return c ? c : strcmp(p->code, code);
}

const search_param *search_param_find(const char *rtype, const char *code)
{
	size_t lo = 0, hi = search_nparams;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = row_cmp(&search_params[mid], rtype, code);
		if (c == 0)
			return &search_params[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The first row whose rtype compares greater than rtype (upper = 1) or
 * not less than it (upper = 0). */
static size_t rtype_bound(const char *rtype, int upper)
{
	size_t lo = 0, hi = search_nparams;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(search_params[mid].rtype, rtype);
		if (c < 0 || (upper && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void search_params_of(const char *rtype, size_t *first, size_t *n)
{
	size_t lo = rtype_bound(rtype, 0);

	*first = lo;
	*n = rtype_bound(rtype, 1) - lo;
}

const char *const *search_compartment_params(const char *rtype)
{
	size_t lo = 0, hi = sizeof compartment / sizeof compartment[0];

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(compartment[mid].rtype, rtype);
		if (c == 0)
			return compartment[mid].params;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
"""


if __name__ == "__main__":
    main()
