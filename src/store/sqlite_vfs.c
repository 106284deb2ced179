/*
 * sqlite_vfs.c - the "fhird" VFS: unix, with main database files mapped
 * whole, PMD-aligned and MADV_HUGEPAGE (see sqlite_vfs.h for why).
 *
 * A main database file is a struct vf_file followed by the unix VFS's own
 * file object; every method but xFetch/xUnfetch (and the mmap size file
 * control, which would let unix map too) is the unix one. Other files
 * (WAL, journals, temp) are plain unix files.
 *
 * All connections of the process to one file share one mapping (struct
 * vf_shared, found by device and inode): the kernel's access sampling
 * walks every mapping of a page it samples, so five connections mapping
 * the file each would cost it five times the work - done on our CPUs.
 * The mapping reserves far more than the file (VF_RESERVE, or twice the
 * file): a growing file stays inside it, so it is never moved and a page
 * SQLite holds stays valid until the last connection closes. Each
 * connection hands out only bytes below its map_size - the file's size
 * when it last asked - so nothing past the end of the file is touched
 * (that would be SIGBUS). A file that outgrows the reservation is read
 * with xRead past it.
 */
#include "sqlite_vfs.h"

#include "core/err.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define VF_ALIGN ((size_t)2 << 20)    /* a PMD: one 2 MiB folio maps whole */
#define VF_RESERVE ((size_t)64 << 30)  /* address space, not memory */
#define VF_FALLBACK ((size_t)64 << 20) /* when the reservation is refused */

struct vf_shared {
	dev_t dev;
	ino_t ino;
	int fd;             /* read-only, kept open while mapped (vf_attach) */
	unsigned char *map; /* map_len bytes of the file, from offset 0 */
	size_t map_len;
	unsigned refs; /* connections using it (under vf_maps_lock) */
	struct vf_shared *next;
};

struct vf_file {
	sqlite3_file base;      /* pMethods = &vf_io */
	sqlite3_file *real;     /* the unix file, in the same allocation */
	struct vf_shared *sh;   /* the mapping, NULL: none (SQLite reads) */
	sqlite3_int64 map_size; /* bytes that may be handed out (<= file size) */
	sqlite3_int64 limit;    /* PRAGMA mmap_size: 0 turns fetching off */
	uint64_t mapped;        /* fetches served, for tests (SQ_VFS_FCNTL_STATS) */
	uint64_t unmapped;      /* fetches that gave no pointer */
};

/* The unix file object follows ours, aligned for anything. */
#define VF_REAL_OFFSET ((sizeof(struct vf_file) + 15) & ~(size_t)15)

static sqlite3_vfs vf_vfs;
static pthread_mutex_t vf_maps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vf_shared *vf_list;

static sqlite3_vfs *vf_real(void)
{
	return (sqlite3_vfs *)vf_vfs.pAppData;
}

/* Maps [0, len) of fd at a VF_ALIGN boundary: reserve len + VF_ALIGN of
 * address space, put the file at the first aligned address in it, give
 * back the rest. NULL when refused. */
static unsigned char *vf_map(int fd, size_t len)
{
	unsigned char *r, *a;
	uintptr_t head;

	r = mmap(NULL, len + VF_ALIGN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		return NULL;
	head = (VF_ALIGN - ((uintptr_t)r & (VF_ALIGN - 1))) & (VF_ALIGN - 1);
	a = r + head;
	if (mmap(a, len, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
		munmap(r, len + VF_ALIGN);
		return NULL;
	}
	if (head)
		munmap(r, head);
	if (VF_ALIGN - head)
		munmap(a + len, VF_ALIGN - head);
	/* Faults read the file in 2 MiB folios (when the kernel has THP for
	 * files); a refusal only loses that. */
	(void)madvise(a, len, MADV_HUGEPAGE);
	return a;
}

/* How much to map of a file of size bytes: twice it (room to grow), at
 * least floor, in whole VF_ALIGN units. */
static size_t vf_len(off_t size, size_t floor)
{
	size_t len = (size_t)size * 2;

	return (len < floor ? floor : len + VF_ALIGN - 1) & ~(VF_ALIGN - 1);
}

/* The mapping of the file with this identity, under vf_maps_lock. */
static struct vf_shared *vf_find(dev_t dev, ino_t ino)
{
	struct vf_shared *sh;

	for (sh = vf_list; sh; sh = sh->next)
		if (sh->dev == dev && sh->ino == ino)
			return sh;
	return NULL;
}

/* The process's mapping of the file at name (one more user of it), made
 * on first use. NULL: no mapping, SQLite reads instead.
 *
 * A descriptor is opened only for the first mapping and closed only when
 * the last connection has closed its own: closing any descriptor of a file
 * drops every POSIX lock the process holds on it, SQLite's included (a
 * connection of another process could then checkpoint and cut the WAL
 * under our readers: that was seen, as SQLITE_IOERR_SHORT_READ). */
static struct vf_shared *vf_attach(const char *name)
{
	struct vf_shared *sh = NULL;
	struct stat st, fst;
	size_t len;
	int fd = -1;

	if (stat(name, &st) != 0 || st.st_size < 0 || (uint64_t)st.st_size > SIZE_MAX / 4)
		return NULL;
	pthread_mutex_lock(&vf_maps_lock);
	sh = vf_find(st.st_dev, st.st_ino);
	if (sh) {
		sh->refs++;
		goto done;
	}
	/* No connection of ours has this file open (vf_close detaches after
	 * SQLite's own close), so this descriptor's close can drop no lock. */
	fd = open(name, O_RDONLY | O_CLOEXEC);
	/* A file replaced between the two looks is left unmapped; its
	 * descriptor is closed (the narrow race of a file swapped under an
	 * opening connection is the one case that may drop a lock). */
	if (fd < 0 || fstat(fd, &fst) != 0 || fst.st_dev != st.st_dev || fst.st_ino != st.st_ino)
		goto done;
	sh = calloc(1, sizeof *sh);
	if (!sh)
		goto done;
	len = vf_len(fst.st_size, VF_RESERVE);
	sh->map = vf_map(fd, len);
	if (!sh->map) {
		len = vf_len(fst.st_size, VF_FALLBACK);
		sh->map = vf_map(fd, len);
	}
	/* Kept even unmapped (fetches then give no pointer): it holds the
	 * descriptor, which must stay open as long as SQLite's. */
	sh->dev = st.st_dev;
	sh->ino = st.st_ino;
	sh->fd = fd;
	fd = -1;
	sh->map_len = sh->map ? len : 0;
	sh->refs = 1;
	sh->next = vf_list;
	vf_list = sh;
done:
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&vf_maps_lock);
	return sh;
}

/* One user less; the last one unmaps and closes (after SQLite closed its
 * own descriptor: see vf_attach). */
static void vf_detach(struct vf_shared *sh)
{
	struct vf_shared **pp;

	if (!sh)
		return;
	pthread_mutex_lock(&vf_maps_lock);
	if (--sh->refs == 0) {
		for (pp = &vf_list; *pp; pp = &(*pp)->next)
			if (*pp == sh) {
				*pp = sh->next;
				break;
			}
		if (sh->map)
			munmap(sh->map, sh->map_len);
		close(sh->fd);
		free(sh);
	}
	pthread_mutex_unlock(&vf_maps_lock);
}

static int vf_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **pp)
{
	struct vf_file *f = (struct vf_file *)file;
	sqlite3_int64 size = 0;

	*pp = NULL;
	if (!f->sh || !f->sh->map || f->limit <= 0 || off < 0 || amt <= 0)
		return SQLITE_OK;
	if (off + amt > f->map_size && f->real->pMethods->xFileSize(f->real, &size) == SQLITE_OK && size > 0)
		f->map_size = (uint64_t)size < f->sh->map_len ? size : (sqlite3_int64)f->sh->map_len;
	if (off + amt > f->map_size) {
		f->unmapped++;
		return SQLITE_OK;
	}
	*pp = f->sh->map + off;
	f->mapped++;
	return SQLITE_OK;
}

/* p NULL: SQLite says the file may have changed under it (another
 * connection's write, a truncation): forget its size, so the next fetch
 * asks again before handing out anything. */
static int vf_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
	struct vf_file *f = (struct vf_file *)file;

	(void)off;
	if (!p)
		f->map_size = 0;
	return SQLITE_OK;
}

static int vf_close(sqlite3_file *file)
{
	struct vf_file *f = (struct vf_file *)file;

	int rc = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;

	vf_detach(f->sh);
	f->sh = NULL;
	return rc;
}

static int vf_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct vf_file *f = (struct vf_file *)file;
	int rc = f->real->pMethods->xTruncate(f->real, size);

	if (rc == SQLITE_OK && f->map_size > size)
		f->map_size = size;
	return rc;
}

static int vf_file_control(sqlite3_file *file, int op, void *arg)
{
	struct vf_file *f = (struct vf_file *)file;

	/* Kept from unix, which would otherwise map the file a second time. */
	if (op == SQLITE_FCNTL_MMAP_SIZE) {
		sqlite3_int64 want = *(sqlite3_int64 *)arg, was = f->limit;
		if (want >= 0)
			f->limit = want;
		*(sqlite3_int64 *)arg = was;
		return SQLITE_OK;
	}
	if (op == SQ_VFS_FCNTL_STATS) {
		uint64_t *out = arg;
		out[0] = f->mapped;
		out[1] = f->unmapped;
		out[2] = f->sh ? 1 : 0;
		return SQLITE_OK;
	}
	return f->real->pMethods->xFileControl(f->real, op, arg);
}

/* ---- the methods that are unix's own ------------------------------------ */

#define VF_REAL(file) (((struct vf_file *)(file))->real)

static int vf_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
	return VF_REAL(file)->pMethods->xRead(VF_REAL(file), buf, amt, off);
}
static int vf_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 off)
{
	return VF_REAL(file)->pMethods->xWrite(VF_REAL(file), buf, amt, off);
}
static int vf_sync(sqlite3_file *file, int flags)
{
	return VF_REAL(file)->pMethods->xSync(VF_REAL(file), flags);
}
static int vf_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	return VF_REAL(file)->pMethods->xFileSize(VF_REAL(file), size);
}
static int vf_lock(sqlite3_file *file, int lock)
{
	return VF_REAL(file)->pMethods->xLock(VF_REAL(file), lock);
}
static int vf_unlock(sqlite3_file *file, int lock)
{
	return VF_REAL(file)->pMethods->xUnlock(VF_REAL(file), lock);
}
static int vf_check_reserved(sqlite3_file *file, int *out)
{
	return VF_REAL(file)->pMethods->xCheckReservedLock(VF_REAL(file), out);
}
static int vf_sector_size(sqlite3_file *file)
{
	return VF_REAL(file)->pMethods->xSectorSize(VF_REAL(file));
}
static int vf_device(sqlite3_file *file)
{
	return VF_REAL(file)->pMethods->xDeviceCharacteristics(VF_REAL(file));
}
static int vf_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **pp)
{
	return VF_REAL(file)->pMethods->xShmMap(VF_REAL(file), pg, pgsz, extend, pp);
}
static int vf_shm_lock(sqlite3_file *file, int off, int n, int flags)
{
	return VF_REAL(file)->pMethods->xShmLock(VF_REAL(file), off, n, flags);
}
static void vf_shm_barrier(sqlite3_file *file)
{
	VF_REAL(file)->pMethods->xShmBarrier(VF_REAL(file));
}
static int vf_shm_unmap(sqlite3_file *file, int del)
{
	return VF_REAL(file)->pMethods->xShmUnmap(VF_REAL(file), del);
}

static const sqlite3_io_methods vf_io = {
	.iVersion = 3,
	.xClose = vf_close,
	.xRead = vf_read,
	.xWrite = vf_write,
	.xTruncate = vf_truncate,
	.xSync = vf_sync,
	.xFileSize = vf_file_size,
	.xLock = vf_lock,
	.xUnlock = vf_unlock,
	.xCheckReservedLock = vf_check_reserved,
	.xFileControl = vf_file_control,
	.xSectorSize = vf_sector_size,
	.xDeviceCharacteristics = vf_device,
	.xShmMap = vf_shm_map,
	.xShmLock = vf_shm_lock,
	.xShmBarrier = vf_shm_barrier,
	.xShmUnmap = vf_shm_unmap,
	.xFetch = vf_fetch,
	.xUnfetch = vf_unfetch,
};

/* ---- the VFS ----------------------------------------------------------- */

static int vf_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
	struct vf_file *f = (struct vf_file *)file;
	sqlite3_vfs *real = vf_real();
	int rc;

	(void)vfs;
	if (!(flags & SQLITE_OPEN_MAIN_DB) || !name)
		return real->xOpen(real, name, file, flags, out_flags);
	memset(f, 0, sizeof *f);
	f->real = (sqlite3_file *)((char *)file + VF_REAL_OFFSET);
	f->real->pMethods = NULL;
	rc = real->xOpen(real, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		/* Ours stays without methods, so SQLite will not call xClose:
		 * close what unix may have left open ourselves. */
		if (f->real->pMethods)
			f->real->pMethods->xClose(f->real);
		return rc;
	}
	/* Right after SQLite's open, by the same name: the same file. */
	f->sh = vf_attach(name);
	f->base.pMethods = &vf_io;
	return SQLITE_OK;
}

static int vf_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
	(void)v;
	return vf_real()->xDelete(vf_real(), name, sync_dir);
}
static int vf_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
	(void)v;
	return vf_real()->xAccess(vf_real(), name, flags, out);
}
static int vf_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
	(void)v;
	return vf_real()->xFullPathname(vf_real(), name, n, out);
}
static void *vf_dlopen(sqlite3_vfs *v, const char *name)
{
	(void)v;
	return vf_real()->xDlOpen(vf_real(), name);
}
static void vf_dlerror(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	vf_real()->xDlError(vf_real(), n, out);
}
static void (*vf_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
	(void)v;
	return vf_real()->xDlSym(vf_real(), h, sym);
}
static void vf_dlclose(sqlite3_vfs *v, void *h)
{
	(void)v;
	vf_real()->xDlClose(vf_real(), h);
}
static int vf_randomness(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return vf_real()->xRandomness(vf_real(), n, out);
}
static int vf_sleep(sqlite3_vfs *v, int us)
{
	(void)v;
	return vf_real()->xSleep(vf_real(), us);
}
static int vf_current_time(sqlite3_vfs *v, double *out)
{
	(void)v;
	return vf_real()->xCurrentTime(vf_real(), out);
}
static int vf_last_error(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return vf_real()->xGetLastError ? vf_real()->xGetLastError(vf_real(), n, out) : 0;
}
static int vf_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	(void)v;
	return vf_real()->xCurrentTimeInt64(vf_real(), out);
}

static int vf_register_rc;
static pthread_once_t vf_once = PTHREAD_ONCE_INIT;

static void vf_register_once(void)
{
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);

	vf_register_rc = ERR_DB;
	/* xCurrentTimeInt64 is a version-2 method; unix has had it for ever. */
	if (!real || real->iVersion < 2 || !real->xCurrentTimeInt64)
		return;
	vf_vfs.iVersion = 2;
	vf_vfs.szOsFile = (int)(VF_REAL_OFFSET + (size_t)real->szOsFile);
	vf_vfs.mxPathname = real->mxPathname;
	vf_vfs.zName = SQ_VFS_NAME;
	vf_vfs.pAppData = real;
	vf_vfs.xOpen = vf_open;
	vf_vfs.xDelete = vf_delete;
	vf_vfs.xAccess = vf_access;
	vf_vfs.xFullPathname = vf_full_pathname;
	vf_vfs.xDlOpen = vf_dlopen;
	vf_vfs.xDlError = vf_dlerror;
	vf_vfs.xDlSym = vf_dlsym;
	vf_vfs.xDlClose = vf_dlclose;
	vf_vfs.xRandomness = vf_randomness;
	vf_vfs.xSleep = vf_sleep;
	vf_vfs.xCurrentTime = vf_current_time;
	vf_vfs.xGetLastError = vf_last_error;
	vf_vfs.xCurrentTimeInt64 = vf_current_time64;
	if (sqlite3_vfs_register(&vf_vfs, 0) == SQLITE_OK)
		vf_register_rc = 0;
}

int sq_vfs_register(void)
{
	pthread_once(&vf_once, vf_register_once);
	return vf_register_rc;
}

void sq_vfs_recache(const char *path)
{
	struct stat st;
	int fd;

	/* Only for a file no connection of ours has open: closing this
	 * descriptor would drop their locks (see vf_attach). */
	pthread_mutex_lock(&vf_maps_lock);
	if (stat(path, &st) == 0 && !vf_find(st.st_dev, st.st_ino)) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			close(fd);
		}
	}
	pthread_mutex_unlock(&vf_maps_lock);
}
