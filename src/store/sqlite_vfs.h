/*
 * sqlite_vfs.h - the "fhird" SQLite VFS (internal to src/store/): the
 * default unix VFS, except that a connection's main database file is
 * memory-mapped whole by this module, on a 2 MiB boundary and with
 * MADV_HUGEPAGE, instead of by SQLite's own mmap code.
 *
 * Why, in short (docs/search.md has the measurements):
 * - Debian's SQLite caps its mmap at 2 GiB (SQLITE_MAX_MMAP_SIZE), so in a
 *   bigger database every page past 2 GiB costs a pread(2), and lands in
 *   page cache that nobody maps - the first thing a reclaimer evicts.
 * - Random reads of a file mapped 4 KiB page by page degrade badly on the
 *   VMs this runs on (PVM guests whose kernel samples page accesses with
 *   DAMON): 25M touches/s fell to 0.23M/s within 30 s over a 2.7 GB file,
 *   while the same file cached in 2 MiB folios and mapped by PMD stayed at
 *   25-30M/s. MADV_HUGEPAGE makes the kernel read the file into 2 MiB
 *   folios; the aligned mapping lets it map them whole.
 *
 * Every positive PRAGMA mmap_size means "map the whole file" (the value
 * is no longer a size); 0 turns fetching off for that connection. SQLite
 * falls back to xRead whenever a fetch gives no pointer, so any failure
 * here only costs speed.
 */
#ifndef FHIRD_STORE_SQLITE_VFS_H
#define FHIRD_STORE_SQLITE_VFS_H

#include <stdint.h>

#define SQ_VFS_NAME "fhird"

/* Registers the VFS (once per process; not the default VFS: connections
 * name it). 0, or ERR_DB when SQLite has no default VFS to wrap. */
int sq_vfs_register(void);

/* Asks the kernel to drop the file's clean, unmapped cached pages, so
 * that the first mapping reads it back in 2 MiB folios (pages a writer
 * left in the cache are in 4 KiB ones). Only a cost when the cache was
 * warm; a no-op when the file does not exist or a connection of this
 * process has it open. Call it before opening the store's connections. */
void sq_vfs_recache(const char *path);

/* sqlite3_file_control(db, "main", SQ_VFS_FCNTL_STATS, uint64_t[3]), for
 * tests: [0] fetches served from the mapping, [1] fetches that gave no
 * pointer (SQLite then read the page), [2] 1 if the file is mapped. */
#define SQ_VFS_FCNTL_STATS 0x66680001

#endif
