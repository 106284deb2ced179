/*
 * test_store_auth_pg.c - test_store_auth.c on the PostgreSQL backend (a
 * fresh schema per test in the cluster named by FHIRD_TEST_PG; skipped
 * without one): put/get/take semantics, expiry, two stores on one database.
 */
#define FHIRD_TEST_PG_BACKEND 1
#include "test_store_auth.c"
