/*
 * test_store_pg.c - test_store.c on the PostgreSQL backend (a fresh schema
 * per test in the cluster named by FHIRD_TEST_PG; skipped without one).
 */
#define FHIRD_TEST_PG_BACKEND 1
#include "test_store.c"
