/*
 * audit_chain.c - the audit trail's hash chain: the canonical bytes of a
 * record, its hash, and `fhird audit verify`, which walks the chain and
 * names the first record that was altered, inserted or deleted.
 *
 *   hash(n) = SHA-256(hash(n-1) || canonical(n)),  hash(0) = 32 zero bytes
 *
 * canonical(n) is a netstring ("<decimal length>:<bytes>,") of every
 * stored field, the seq included, so that no field can change, and no
 * record move, without changing the hash; netstrings make the encoding
 * unambiguous whatever bytes the fields hold.
 *
 * What the walk can tell, record by record (r, after the last good one p):
 *   - r's hash does not match its own content and stored prev: r was
 *     altered (or forged without knowing how to hash). If it matches with
 *     seq - 1 instead, r was renumbered: a record was inserted before it.
 *   - r.seq jumps past p.seq + 1: the records between were deleted.
 *   - r is intact but its prev is not p's hash: p was inserted (when r's
 *     prev is the hash of the record before p) or replaced.
 * After the last record, the head checkpoint (store.h) must name it: a
 * checkpoint further on means the tail was cut off. A chain rewritten
 * from some record to the end, checkpoint included, is consistent again;
 * only a head kept outside the database (--expect) catches that.
 */
#include "audit.h"

#include "core/err.h"
#include "core/log.h"

#include <inttypes.h>
#include <nettle/sha2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decimal digits of v at the end of buf (no NUL); returns where they
 * start. (snprintf would do, at several times the cost, twenty times per
 * record on the writer thread.) */
static char *ch_dec(uint64_t v, char *end)
{
	do
		*--end = (char)('0' + v % 10);
	while (v /= 10);
	return end;
}

static void ch_net(struct sha256_ctx *c, const void *p, size_t n)
{
	char buf[24], *end = buf + sizeof buf - 1, *d;

	*end = ':';
	d = ch_dec(n, end);
	sha256_update(c, (size_t)(end + 1 - d), (const uint8_t *)d);
	if (n)
		sha256_update(c, n, (const uint8_t *)p);
	sha256_update(c, 1, (const uint8_t *)",");
}

static void ch_str(struct sha256_ctx *c, const char *s)
{
	ch_net(c, s, strlen(s));
}

static void ch_int(struct sha256_ctx *c, int64_t v)
{
	char b[24], *end = b + sizeof b, *d = ch_dec(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, end);
	if (v < 0)
		*--d = '-';
	ch_net(c, d, (size_t)(end - d));
}

void audit_chain_hash(const unsigned char prev[STORE_AUDIT_HASH], const store_audit_rec *r,
		      unsigned char out[STORE_AUDIT_HASH])
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, STORE_AUDIT_HASH, prev);
	ch_str(&c, "fhird-audit-1"); /* the format: a new one gets a new tag */
	ch_int(&c, r->seq);
	ch_int(&c, r->recorded_us);
	ch_int(&c, r->kind);
	ch_int(&c, r->status);
	ch_int(&c, r->outcome);
	ch_str(&c, r->action);
	ch_str(&c, r->subtype);
	ch_str(&c, r->outcome_desc);
	ch_str(&c, r->client_id);
	ch_str(&c, r->subject);
	ch_str(&c, r->fhir_user);
	ch_str(&c, r->patient);
	ch_str(&c, r->entity_type);
	ch_str(&c, r->entity_id);
	ch_str(&c, r->address);
	ch_str(&c, r->observer);
	ch_str(&c, r->issuer);
	ch_int(&c, r->query != NULL);
	ch_str(&c, r->query ? r->query : "");
	sha256_digest(&c, STORE_AUDIT_HASH, out);
}

struct ch_walk {
	audit_verify_result *res;
	int64_t expect_seq;
	const unsigned char *expect_hash;
	int expect_seen;
	int64_t prev_seq;
	unsigned char prev[STORE_AUDIT_HASH];
	unsigned char prev2[STORE_AUDIT_HASH]; /* the hash before prev */
};

static int ch_fail(struct ch_walk *w, int64_t seq, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int ch_fail(struct ch_walk *w, int64_t seq, const char *fmt, ...)
{
	va_list ap;
	w->res->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(w->res->why, sizeof w->res->why, fmt, ap);
	va_end(ap);
	return ERR_INVALID;
}

static int ch_step(void *ctx, const store_audit_rec *r)
{
	struct ch_walk *w = ctx;
	unsigned char h[STORE_AUDIT_HASH];
	int self, link;

	audit_chain_hash(r->prev, r, h);
	self = memcmp(h, r->hash, sizeof h) == 0;
	link = memcmp(r->prev, w->prev, sizeof h) == 0;
	if (r->seq <= w->prev_seq || r->seq <= 0)
		return ch_fail(w, r->seq, "record %" PRId64 " has an impossible sequence number (inserted)", r->seq);
	if (!self) {
		store_audit_rec moved = *r;
		moved.seq = r->seq - 1;
		audit_chain_hash(r->prev, &moved, h);
		if (memcmp(h, r->hash, sizeof h) == 0 && r->seq - 1 == w->prev_seq)
			return ch_fail(w, r->seq - 1,
				       "record %" PRId64 " was inserted: the records from it on were renumbered "
				       "(record %" PRId64 " was %" PRId64 " when it was written)",
				       r->seq - 1, r->seq, r->seq - 1);
		moved.seq = r->seq + 1;
		audit_chain_hash(r->prev, &moved, h);
		if (memcmp(h, r->hash, sizeof h) == 0)
			return ch_fail(w, r->seq,
				       "record %" PRId64 " was deleted: the records after it were renumbered "
				       "(record %" PRId64 " was %" PRId64 " when it was written)",
				       r->seq, r->seq, r->seq + 1);
		return ch_fail(w, r->seq, "record %" PRId64 " was altered: its hash does not match its content", r->seq);
	}
	if (r->seq != w->prev_seq + 1) {
		if (r->seq == w->prev_seq + 2)
			return ch_fail(w, w->prev_seq + 1, "record %" PRId64 " was deleted: the chain jumps from %" PRId64
				       " to %" PRId64, w->prev_seq + 1, w->prev_seq, r->seq);
		return ch_fail(w, w->prev_seq + 1,
			       "records %" PRId64 " to %" PRId64 " were deleted: the chain jumps from %" PRId64 " to %" PRId64,
			       w->prev_seq + 1, r->seq - 1, w->prev_seq, r->seq);
	}
	if (!link) {
		if (w->prev_seq >= 1 && memcmp(r->prev, w->prev2, sizeof h) == 0)
			return ch_fail(w, w->prev_seq,
				       "record %" PRId64 " was inserted: record %" PRId64 " follows the record before it",
				       w->prev_seq, r->seq);
		return ch_fail(w, r->seq,
			       "record %" PRId64 " does not chain to record %" PRId64 " (one of them was replaced)",
			       r->seq, w->prev_seq);
	}
	if (w->expect_seq == r->seq) {
		w->expect_seen = 1;
		if (memcmp(r->hash, w->expect_hash, sizeof h) != 0)
			return ch_fail(w, r->seq,
				       "record %" PRId64 " no longer has the hash given with --expect: the chain was "
				       "rewritten up to or after it",
				       r->seq);
	}
	memcpy(w->prev2, w->prev, sizeof h);
	memcpy(w->prev, r->hash, sizeof h);
	w->prev_seq = r->seq;
	w->res->count++;
	w->res->last_seq = r->seq;
	memcpy(w->res->last_hash, r->hash, sizeof h);
	return 0;
}

int audit_verify(store_t *s, int64_t expect_seq, const unsigned char *expect_hash, audit_verify_result *out)
{
	struct ch_walk w;
	const store_audit_head *hd = &out->head;
	int rc;

	memset(out, 0, sizeof *out);
	memset(&w, 0, sizeof w);
	w.res = out;
	w.expect_seq = expect_hash ? expect_seq : 0;
	w.expect_hash = expect_hash;
	rc = store_audit_walk(s, &out->head, ch_step, &w);
	if (rc)
		return rc;
	/* The tail: rows and checkpoint are moved in one transaction, so they
	 * agree unless someone changed one of them. */
	if (!hd->present && out->count > 0)
		return ch_fail(&w, 0, "the head checkpoint is missing (audit_meta was altered)");
	if (hd->present && hd->seq > out->last_seq)
		return ch_fail(&w, out->last_seq + 1,
			       "records %" PRId64 " to %" PRId64 " are missing: the tail of the chain was cut off",
			       out->last_seq + 1, hd->seq);
	if (hd->present && hd->seq < out->last_seq)
		return ch_fail(&w, hd->seq + 1,
			       "records %" PRId64 " to %" PRId64 " are not covered by the head checkpoint (added "
			       "outside fhird)",
			       hd->seq + 1, out->last_seq);
	if (hd->present && memcmp(hd->hash, out->last_hash, STORE_AUDIT_HASH) != 0)
		return ch_fail(&w, out->last_seq,
			       "record %" PRId64 " does not match the head checkpoint (the chain was rewritten)",
			       out->last_seq);
	if (w.expect_seq > 0 && !w.expect_seen)
		return ch_fail(&w, w.expect_seq, "record %" PRId64 " given with --expect is not in the chain",
			       w.expect_seq);
	return 0;
}

static void ch_hex(const unsigned char *h, char out[2 * STORE_AUDIT_HASH + 1])
{
	for (size_t i = 0; i < STORE_AUDIT_HASH; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* "SEQ:HEX" -> seq and hash. */
static int ch_expect_parse(const char *s, int64_t *seq, unsigned char hash[STORE_AUDIT_HASH])
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (end == s || *end != ':' || v <= 0 || strlen(end + 1) != 2 * STORE_AUDIT_HASH)
		return ERR_INVALID;
	end++;
	for (size_t i = 0; i < STORE_AUDIT_HASH; i++) {
		unsigned x;
		char b[3] = { end[2 * i], end[2 * i + 1], 0 };
		if (!strchr("0123456789abcdefABCDEF", b[0]) || !strchr("0123456789abcdefABCDEF", b[1]) ||
		    sscanf(b, "%2x", &x) != 1)
			return ERR_INVALID;
		hash[i] = (unsigned char)x;
	}
	*seq = v;
	return 0;
}

static void ch_usage(FILE *f)
{
	fprintf(f, "usage: fhird audit verify [--db FILE] [--expect SEQ:HASH]\n\n"
		   "Walks the audit trail's hash chain and reports the first record that was\n"
		   "altered, inserted or deleted. --expect checks that record SEQ still has HASH\n"
		   "(a head printed by an earlier run and kept outside the database).\n"
		   "Exit status: 0 intact, 1 broken or unreadable, 2 usage.\n");
}

int audit_main(int argc, char **argv)
{
	const char *db = "./data/fhird.db";
	unsigned char want[STORE_AUDIT_HASH];
	int64_t want_seq = 0;
	int have_want = 0, rc;
	store_options so;
	store_t *store = NULL;
	audit_verify_result res;
	char hex[2 * STORE_AUDIT_HASH + 1];

	if (argc < 3 || strcmp(argv[2], "verify") != 0) {
		if (argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
			ch_usage(stdout);
			return 0;
		}
		ch_usage(stderr);
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--db") && i + 1 < argc) {
			db = argv[++i];
		} else if (!strcmp(argv[i], "--expect") && i + 1 < argc) {
			if (ch_expect_parse(argv[++i], &want_seq, want)) {
				fprintf(stderr, "fhird audit verify: --expect takes SEQ:HASH (64 hex digits)\n");
				return 2;
			}
			have_want = 1;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			ch_usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "fhird audit verify: unknown argument '%s'\n", argv[i]);
			return 2;
		}
	}
	log_init(LOG_WARN);
	memset(&so, 0, sizeof so);
	so.path = db;
	so.readers = 1;
	rc = store_open(&so, &store);
	if (!rc)
		rc = audit_verify(store, want_seq, have_want ? want : NULL, &res);
	store_close(store);
	if (rc == ERR_INVALID) {
		if (res.bad_seq > 0)
			printf("audit trail BROKEN at record %" PRId64 ": %s\n", res.bad_seq, res.why);
		else
			printf("audit trail BROKEN: %s\n", res.why);
		printf("%" PRId64 " records checked before the failure\n", res.count);
		return 1;
	}
	if (rc) {
		fprintf(stderr, "fhird audit verify: cannot read the audit trail (%s)\n", err_name(rc));
		return 1;
	}
	ch_hex(res.last_hash, hex);
	printf("audit trail ok: %" PRId64 " records\n", res.count);
	if (res.count)
		printf("head: %" PRId64 ":%s\n", res.last_seq, hex);
	return 0;
}
