/*
 * test_sqlite_vfs.c - the "fhird" VFS (src/store/sqlite_vfs.c): pages come
 * from one whole-file mapping per process whatever PRAGMA mmap_size says
 * (SQLite's own mmap stops at its compiled cap), 2 MiB-aligned; a file
 * that grows or shrinks under a reader is read correctly (never past its
 * end: that would be SIGBUS); mmap_size = 0 turns fetching off; and
 * opening, closing or recaching never drops a lock SQLite holds (closing
 * any descriptor of a file drops all the process's POSIX locks on it).
 */
#include "store/sqlite_vfs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

struct fx {
	char dir[64];
	char path[128];
	sqlite3 *w; /* writer */
};

static void exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
}

static sqlite3 *open_conn(const char *path, int readonly, const char *mmap_size)
{
	sqlite3 *db = NULL;
	char sql[64];
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	assert_int_equal(sqlite3_open_v2(path, &db, flags, SQ_VFS_NAME), SQLITE_OK);
	snprintf(sql, sizeof sql, "PRAGMA mmap_size = %s", mmap_size);
	exec(db, sql);
	return db;
}

/* rows n0..n1-1 of 600 bytes each: ~7 rows a 4 KiB page */
static void add_rows(sqlite3 *db, int n0, int n1)
{
	char sql[160];
	snprintf(sql, sizeof sql,
		 "WITH RECURSIVE c(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM c WHERE i + 1 < %d) "
		 "INSERT INTO t SELECT i, printf('%%.600c', char(65 + i %% 26)) FROM c",
		 n0, n1);
	exec(db, sql);
	exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
}

/* Reads every row on db; checks each one's payload; returns the count. */
static long read_all(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	long n = 0;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT id, v FROM t ORDER BY id", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int id = sqlite3_column_int(st, 0);
		const unsigned char *v = sqlite3_column_text(st, 1);
		assert_int_equal(sqlite3_column_bytes(st, 1), 600);
		assert_int_equal(v[0], 65 + id % 26);
		assert_int_equal(v[599], 65 + id % 26);
		n++;
	}
	sqlite3_finalize(st);
	return n;
}

static void stats(sqlite3 *db, uint64_t out[3])
{
	assert_int_equal(sqlite3_file_control(db, "main", SQ_VFS_FCNTL_STATS, out), SQLITE_OK);
}

static long file_size(const char *path)
{
	FILE *f = fopen(path, "rb");
	long n;
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fclose(f);
	return n;
}

/* Mappings of path in /proc/self/maps; *aligned: all start on 2 MiB. */
static int count_maps(const char *path, int *aligned)
{
	char line[512];
	int n = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	assert_non_null(f);
	*aligned = 1;
	while (fgets(line, sizeof line, f)) {
		unsigned long start = 0;
		line[strcspn(line, "\n")] = 0;
		size_t ll = strlen(line), pl = strlen(path);
		if (ll < pl || strcmp(line + ll - pl, path) != 0)
			continue;
		sscanf(line, "%lx-", &start);
		if (start & ((2ul << 20) - 1))
			*aligned = 0;
		n++;
	}
	fclose(f);
	return n;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	assert_int_equal(sq_vfs_register(), 0);
	snprintf(f->dir, sizeof f->dir, "/tmp/fhird-vfs-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	/* SQLite's own mmap would stop after one page at this size */
	f->w = open_conn(f->path, 0, "4096");
	exec(f->w, "PRAGMA journal_mode = WAL");
	exec(f->w, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
	add_rows(f->w, 0, 2000);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[96];
	sqlite3_close(f->w);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	free(f);
	return system(cmd) != 0;
}

static void test_pages_come_from_the_mapping(void **state)
{
	struct fx *f = *state;
	sqlite3 *r = open_conn(f->path, 1, "4096");
	uint64_t st[3];

	assert_true(file_size(f->path) > 1000000);
	assert_int_equal(read_all(r), 2000);
	stats(r, st);
	assert_int_equal(st[2], 1);
	/* ~170 leaf pages, far past mmap_size: all mapped, none read */
	assert_true(st[0] >= 150);
	assert_int_equal(st[1], 0);
	sqlite3_close(r);
}

static void test_one_aligned_mapping_per_file(void **state)
{
	struct fx *f = *state;
	sqlite3 *r1 = open_conn(f->path, 1, "1"), *r2 = open_conn(f->path, 1, "1");
	int aligned = 0;

	assert_int_equal(read_all(r1), 2000);
	assert_int_equal(read_all(r2), 2000);
	/* writer + two readers: one mapping of the file between them */
	assert_int_equal(count_maps(f->path, &aligned), 1);
	assert_true(aligned);
	sqlite3_close(r1);
	assert_int_equal(count_maps(f->path, &aligned), 1);
	sqlite3_close(r2);
	sqlite3_close(f->w);
	f->w = NULL;
	assert_int_equal(count_maps(f->path, &aligned), 0);
}

static void test_growth_under_a_reader(void **state)
{
	struct fx *f = *state;
	sqlite3 *r = open_conn(f->path, 1, "1");
	uint64_t a[3], b[3];
	long before = file_size(f->path);

	assert_int_equal(read_all(r), 2000);
	stats(r, a);
	add_rows(f->w, 2000, 12000); /* the file grows ~6x after the reader mapped it */
	assert_true(file_size(f->path) > 5 * before);
	assert_int_equal(read_all(r), 12000);
	stats(r, b);
	assert_true(b[0] - a[0] >= 1000);
	assert_int_equal(b[1], 0);
	sqlite3_close(r);
}

static void test_shrink_under_a_reader(void **state)
{
	struct fx *f = *state;
	sqlite3 *r = open_conn(f->path, 1, "1");
	long before = file_size(f->path);

	assert_int_equal(read_all(r), 2000);
	exec(f->w, "DELETE FROM t WHERE id >= 100");
	exec(f->w, "VACUUM");
	exec(f->w, "PRAGMA wal_checkpoint(TRUNCATE)");
	assert_true(file_size(f->path) < before / 4);
	/* pages past the new end were mapped a moment ago: none is touched */
	assert_int_equal(read_all(r), 100);
	add_rows(f->w, 100, 3000);
	assert_int_equal(read_all(r), 3000);
	sqlite3_close(r);
}

static void test_mmap_size_zero_reads(void **state)
{
	struct fx *f = *state;
	sqlite3 *r = open_conn(f->path, 1, "0");
	uint64_t st[3];

	assert_int_equal(read_all(r), 2000);
	stats(r, st);
	assert_int_equal(st[0], 0);
	sqlite3_close(r);
}

/* In a fresh process image (after fork, SQLite would share this one's
 * lock bookkeeping): 1 if EXCLUSIVE can be had on path, else 0. */
static int lock_probe(const char *path)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 1 : 0;
}

/* 1 if another process can take an EXCLUSIVE lock on path right now. */
static int other_process_gets_exclusive(const char *path)
{
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/proc/self/exe", "test_sqlite_vfs", "--lock-probe", path, (char *)NULL);
		_exit(99);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_true(WEXITSTATUS(status) <= 1);
	return WEXITSTATUS(status);
}

static void test_locks_survive_other_connections(void **state)
{
	struct fx *f = *state;
	sqlite3 *a, *b;
	sqlite3_stmt *st = NULL;

	/* rollback journal: a reader's SHARED lock keeps EXCLUSIVE out */
	exec(f->w, "PRAGMA journal_mode = DELETE");
	a = open_conn(f->path, 1, "1");
	assert_int_equal(sqlite3_prepare_v2(a, "SELECT id FROM t", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW); /* a holds SHARED */
	assert_int_equal(other_process_gets_exclusive(f->path), 0);
	b = open_conn(f->path, 1, "1");
	sqlite3_close(b);
	assert_int_equal(other_process_gets_exclusive(f->path), 0);
	sq_vfs_recache(f->path);
	assert_int_equal(other_process_gets_exclusive(f->path), 0);
	sqlite3_finalize(st);
	assert_int_equal(other_process_gets_exclusive(f->path), 1);
	sqlite3_close(a);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--lock-probe") == 0)
		return lock_probe(argv[2]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pages_come_from_the_mapping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_aligned_mapping_per_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_growth_under_a_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shrink_under_a_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mmap_size_zero_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locks_survive_other_connections, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
