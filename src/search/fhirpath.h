/*
 * fhirpath.h - the subset of FHIRPath (hl7.org/fhirpath/N1) that the R4
 * and US Core search parameters' expressions use, compiled once into a
 * small tree and evaluated over a parsed resource (jansson) for index
 * extraction (extract.c).
 *
 * The language accepted:
 *   paths           Observation.code.coding   (arrays flatten; a leading
 *                   capitalised name is the context's resource type, or
 *                   Resource/DomainResource; a lowercase one is an element)
 *   choice elements Observation.value selects valueQuantity, valueString...
 *                   (the name followed by a FHIR type name), and the node
 *                   remembers that type
 *   indexer         Bundle.entry[0]
 *   union           a | b       (no duplicate removal: callers dedupe rows)
 *   parentheses     (a as Quantity).text
 *   type operators  a as T, a is T, a.as(T), a.ofType(T), a.is(T)
 *   functions       where(crit), exists(), exists(crit), first(),
 *                   extension('url'), resolve() (only as `resolve() is T`)
 *   comparison      a = 'text', a != false   (against one literal)
 *   boolean         a and b     (three-valued, as the spec says)
 *   literals        'string' (escapes \' \\ \/ \" \n \r \t \f), true, false
 *   %resource       the resource being evaluated
 * Anything else is a compile error, so that a new expression the table
 * acquires is reported (extract.h, search_extract_supported) rather than
 * silently mis-evaluated.
 *
 * Types: a node selected through a choice element ([x]) or a type operator
 * carries its FHIR datatype; other nodes are FHIRPATH_T_UNKNOWN and the
 * caller infers what it needs from the JSON shape (the generated type
 * tables, types.h, describe top-level elements only and carry no datatype
 * names). `as` on an unknown node keeps it when the JSON shape fits the
 * type (object for complex types, scalar for primitives), because every
 * such use in the tables is on an element of that declared type.
 *
 * Ownership: a compiled fhirpath_expr is immutable; evaluating it from
 * several threads at once is safe (each with its own fhirpath_vec).
 * Nodes point into the evaluated JSON (or at jansson's static true/false
 * for boolean results) and are valid as long as it is.
 */
#ifndef FHIRD_SEARCH_FHIRPATH_H
#define FHIRD_SEARCH_FHIRPATH_H

#include <jansson.h>
#include <stddef.h>

/* FHIR datatypes a node can be known to have. The order of the named
 * types is the byte order of their capitalised names (choice suffixes). */
enum fhirpath_type {
	FHIRPATH_T_UNKNOWN = 0,
	FHIRPATH_T_ADDRESS,
	FHIRPATH_T_AGE,
	FHIRPATH_T_ANNOTATION,
	FHIRPATH_T_ATTACHMENT,
	FHIRPATH_T_BASE64BINARY,
	FHIRPATH_T_BOOLEAN,
	FHIRPATH_T_CANONICAL,
	FHIRPATH_T_CODE,
	FHIRPATH_T_CODEABLECONCEPT,
	FHIRPATH_T_CODING,
	FHIRPATH_T_CONTACTDETAIL,
	FHIRPATH_T_CONTACTPOINT,
	FHIRPATH_T_CONTRIBUTOR,
	FHIRPATH_T_COUNT,
	FHIRPATH_T_DATAREQUIREMENT,
	FHIRPATH_T_DATE,
	FHIRPATH_T_DATETIME,
	FHIRPATH_T_DECIMAL,
	FHIRPATH_T_DISTANCE,
	FHIRPATH_T_DOSAGE,
	FHIRPATH_T_DURATION,
	FHIRPATH_T_EXPRESSION,
	FHIRPATH_T_HUMANNAME,
	FHIRPATH_T_ID,
	FHIRPATH_T_IDENTIFIER,
	FHIRPATH_T_INSTANT,
	FHIRPATH_T_INTEGER,
	FHIRPATH_T_MARKDOWN,
	FHIRPATH_T_META,
	FHIRPATH_T_MONEY,
	FHIRPATH_T_OID,
	FHIRPATH_T_PARAMETERDEFINITION,
	FHIRPATH_T_PERIOD,
	FHIRPATH_T_POSITIVEINT,
	FHIRPATH_T_QUANTITY,
	FHIRPATH_T_RANGE,
	FHIRPATH_T_RATIO,
	FHIRPATH_T_REFERENCE,
	FHIRPATH_T_RELATEDARTIFACT,
	FHIRPATH_T_SAMPLEDDATA,
	FHIRPATH_T_SIGNATURE,
	FHIRPATH_T_STRING,
	FHIRPATH_T_TIME,
	FHIRPATH_T_TIMING,
	FHIRPATH_T_TRIGGERDEFINITION,
	FHIRPATH_T_UNSIGNEDINT,
	FHIRPATH_T_URI,
	FHIRPATH_T_URL,
	FHIRPATH_T_USAGECONTEXT,
	FHIRPATH_T_UUID,
	FHIRPATH_T_XHTML,
	FHIRPATH_T_RESOURCE,    /* a resource (has resourceType) */
	FHIRPATH_T__COUNT
};

/* One item of a result collection. */
typedef struct fhirpath_node {
	const json_t *v;
	enum fhirpath_type type;
} fhirpath_node;

/* A growable collection, reused across evaluations (caller-owned; start
 * it zeroed, release it with fhirpath_vec_fini). */
typedef struct fhirpath_vec {
	fhirpath_node *v;
	size_t n, cap;
} fhirpath_vec;

/* Most nodes one evaluation may hold at a time, results and scratch
 * (ERR_TOOBIG beyond). A resource cannot come near it: it is a bound on
 * memory, not a limit on data. */
#define FHIRPATH_MAX_NODES (1u << 22)

/* Longest expression source accepted (ERR_INVALID beyond). It bounds the
 * tree, hence the recursion of compiling, evaluating and freeing it; the
 * tables' longest per-type expression is under 200 bytes. */
#define FHIRPATH_MAX_SOURCE 1024

typedef struct fhirpath_expr fhirpath_expr;

/* Compiles src (NUL-terminated) into *out (malloc'd; fhirpath_free).
 * 0; ERR_INVALID for a syntax error, anything outside the subset above or
 * a source longer than FHIRPATH_MAX_SOURCE, with a message in diag
 * (diaglen bytes, optional, NUL-terminated); ERR_NOMEM. */
int fhirpath_compile(const char *src, fhirpath_expr **out, char *diag, size_t diaglen);

/* Frees a compiled expression; NULL does nothing. */
void fhirpath_free(fhirpath_expr *e);

/* Evaluates e with the context item ctx ($this; the resource itself for a
 * parameter's expression, an item for a composite's component) inside
 * resource (%resource; also where resolve() looks for contained
 * resources). The result is appended to vec: it is vec->v[n0 .. vec->n)
 * where n0 is vec->n on entry; space beyond is used as scratch. 0,
 * ERR_NOMEM, ERR_TOOBIG (FHIRPATH_MAX_NODES); on error vec->n is n0. */
int fhirpath_eval(const fhirpath_expr *e, const json_t *resource, fhirpath_node ctx, fhirpath_vec *vec);

void fhirpath_vec_fini(fhirpath_vec *vec);

/* 1 when e names type t in a type operator (as, is, ofType), e.g. to find
 * expressions that select Range values. */
int fhirpath_uses_type(const fhirpath_expr *e, enum fhirpath_type t);

/* The type named name[0..len) ("dateTime" or "DateTime", "Quantity"),
 * FHIRPATH_T_UNKNOWN when it is not a FHIR datatype. */
enum fhirpath_type fhirpath_type_find(const char *name, size_t len);

/* The FHIR name of t ("dateTime", "CodeableConcept"); "" for unknown. */
const char *fhirpath_type_name(enum fhirpath_type t);

#endif
