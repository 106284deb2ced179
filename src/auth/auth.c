/*
 * auth.c - see auth.h. Deliberately small until the SMART server lands:
 * the important property now is that there is exactly one place where
 * every request is authorized, and that "smart" fails closed.
 */
#include "auth.h"

#include "core/err.h"

#include <stdlib.h>

struct auth {
	const config_t *cfg;
};

int auth_new(const config_t *cfg, auth_t **out)
{
	auth_t *a = calloc(1, sizeof *a);
	if (!a)
		return ERR_NOMEM;
	a->cfg = cfg;
	*out = a;
	return 0;
}

void auth_free(auth_t *a)
{
	free(a);
}

int auth_request_authorize(const auth_t *a, const http_request *req, const auth_target *target, auth_access *out)
{
	out->full = 0;
	out->subject = "anonymous";
	if (target->interaction == AUTH_I_PUBLIC)
		return 0;
	if (a->cfg->auth == CONFIG_AUTH_OFF) {
		out->full = 1;
		out->subject = "auth-off";
		return 0;
	}
	/* SMART mode without a token verifier yet: nothing is authorized. */
	return ERR_UNAUTHORIZED;
}

const char *auth_challenge(const auth_t *a)
{
	return "Bearer realm=\"fhird\"";
}
