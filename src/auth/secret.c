/*
 * secret.c - shared server secrets (secret.h), kept as STORE_AUTH_SECRET
 * records {"k": "<hex>"}.
 */
#include "secret.h"

#include "auth/jose.h"
#include "core/err.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static int secret_decode(const char *value, unsigned char *out, size_t len)
{
	json_t *v = json_loads(value, 0, NULL);
	const char *hex = v ? json_string_value(json_object_get(v, "k")) : NULL;
	int rc = ERR_INVALID;

	if (!hex || strlen(hex) != 2 * len)
		goto fail;
	for (size_t i = 0; i < len; i++) {
		unsigned b;
		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			goto fail;
		out[i] = (unsigned char)b;
	}
	rc = 0;
fail:
	json_decref(v);
	return rc;
}

/* Reads the stored secret. ERR_NOTFOUND when there is none yet. */
static int secret_read(store_t *s, const char *name, unsigned char *out, size_t len)
{
	store_auth_rec r;
	int rc;

	memset(&r, 0, sizeof r);
	rc = store_auth_get(s, STORE_AUTH_SECRET, name, &r);
	if (!rc)
		rc = secret_decode(r.value, out, len);
	if (r.value)
		explicit_bzero(r.value, strlen(r.value));
	store_auth_rec_clear(&r);
	return rc;
}

int auth_secret_get(store_t *s, const char *name, unsigned char *out, size_t len)
{
	unsigned char fresh[AUTH_SECRET_MAX];
	char value[2 * AUTH_SECRET_MAX + 16];
	size_t o;
	int rc;

	if (!s || !name || !out || len == 0 || len > AUTH_SECRET_MAX)
		return ERR_INVALID;
	rc = secret_read(s, name, out, len);
	if (rc != ERR_NOTFOUND)
		return rc;
	if (jose_random(fresh, len))
		return ERR_IO;
	o = (size_t)snprintf(value, sizeof value, "{\"k\":\"");
	for (size_t i = 0; i < len; i++)
		o += (size_t)snprintf(value + o, sizeof value - o, "%02x", fresh[i]);
	snprintf(value + o, sizeof value - o, "\"}");
	/* replace=0: of two processes starting at once, one insert wins; the
	 * other gets ERR_CONFLICT and reads the winner's secret. */
	rc = store_auth_put(s, STORE_AUTH_SECRET, name, NULL, value, 0, 0);
	explicit_bzero(value, sizeof value);
	if (rc == 0)
		memcpy(out, fresh, len);
	else if (rc == ERR_CONFLICT)
		rc = secret_read(s, name, out, len);
	explicit_bzero(fresh, sizeof fresh);
	return rc;
}
