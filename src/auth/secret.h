/*
 * secret.h - server secrets that every fhird process on one database must
 * share: the MAC keys of paging cursors and of login device cookies. A
 * cursor issued by one node is followed on another behind a load balancer;
 * a key made up per process would turn every such cursor into a 400.
 *
 * The first process to need a secret generates it from the OS and stores it
 * (STORE_AUTH_SECRET, created only if absent); every other process reads
 * that one. Two processes starting at once: the store lets only one insert
 * win and the loser reads the winner's. Owned by the caller: out is a
 * buffer of len bytes. Secrets are never logged.
 */
#ifndef FHIRD_AUTH_SECRET_H
#define FHIRD_AUTH_SECRET_H

#include "store/store.h"

#include <stddef.h>

#define AUTH_SECRET_MAX 64

/* Fills out[0..len) with the secret called name (len <= AUTH_SECRET_MAX),
 * creating it on first use. ERR_DB, ERR_IO (no randomness), ERR_INVALID
 * (a stored record that is not a secret of this length). */
int auth_secret_get(store_t *s, const char *name, unsigned char *out, size_t len);

#endif
