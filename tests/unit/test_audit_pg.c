/*
 * test_audit_pg.c - test_audit.c on the PostgreSQL backend: the chain, verify,
 * each kind of tampering done through a libpq connection of its own, the
 * append-only triggers, search and the queue (a fresh schema per test in the
 * cluster named by FHIRD_TEST_PG; skipped without one).
 */
#define FHIRD_TEST_PG_BACKEND 1
#include "test_audit.c"
