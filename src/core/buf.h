/*
 * buf.h - a growable byte buffer with a maximum size (after curl's dynbuf).
 *
 * The maximum is given when the buffer is created; appending past it fails
 * with ERR_TOOBIG and leaves the buffer as it was, so a caller can answer
 * 413 instead of growing without bound. The data is always NUL-terminated
 * (the terminator is not counted in len). The buffer owns data until
 * buf_detach() hands it to the caller (free() it).
 */
#ifndef FHIRD_CORE_BUF_H
#define FHIRD_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
} buf_t;

/* Empty buffer that will never hold more than max bytes. */
void buf_init(buf_t *b, size_t max);

/* Frees the data; the buffer is empty and reusable. NULL-safe. */
void buf_fini(buf_t *b);

/* Length back to 0, memory kept. */
void buf_reset(buf_t *b);

/* ERR_TOOBIG past max, ERR_NOMEM when malloc fails, else 0. */
int buf_append(buf_t *b, const void *data, size_t len);
int buf_append_str(buf_t *b, const char *s);
int buf_append_char(buf_t *b, char c);
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf_t *b, const char *fmt, va_list ap);

/* Returns the data (malloc'd, NUL-terminated, never NULL on success) and
 * sets *len; the buffer is left empty. NULL when allocation fails. */
char *buf_detach(buf_t *b, size_t *len);

#endif
