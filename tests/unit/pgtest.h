/*
 * pgtest.h - for unit tests that run a store test file against the
 * PostgreSQL backend (test_*_pg.c): a fresh schema per test in the
 * throwaway cluster named by FHIRD_TEST_PG (tests/run.py --pg starts one),
 * and its postgresql:// URL with search_path set to it, so every test sees
 * an empty database. Without FHIRD_TEST_PG the PG binaries skip
 * (pgtest_available() is 0).
 */
#ifndef FHIRD_TESTS_PGTEST_H
#define FHIRD_TESTS_PGTEST_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int pgtest_available(void)
{
	const char *u = getenv("FHIRD_TEST_PG");
	return u && *u;
}

static void pgtest_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static int pgtest_sql(const char *sql)
{
	PGconn *c = PQconnectdb(getenv("FHIRD_TEST_PG"));
	PGresult *r;
	int ok;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pgtest: %s", PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	PQsetNoticeProcessor(c, pgtest_quiet, NULL); /* DROP ... CASCADE lists every table */
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "pgtest: %s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

/* Makes a fresh schema; its name into name, the URL into url. */
static int pgtest_new(char *name, size_t ncap, char *url, size_t ucap)
{
	static unsigned counter;
	char sql[128];

	snprintf(name, ncap, "ut_%ld_%u", (long)getpid(), ++counter);
	snprintf(sql, sizeof sql, "CREATE SCHEMA \"%s\"", name);
	if (pgtest_sql(sql))
		return -1;
	snprintf(url, ucap, "%s?options=-c%%20search_path%%3D%s", getenv("FHIRD_TEST_PG"), name);
	return 0;
}

static void pgtest_drop(const char *name)
{
	char sql[128];
	snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS \"%s\" CASCADE", name);
	pgtest_sql(sql);
}

#endif
