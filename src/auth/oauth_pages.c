/*
 * oauth_pages.c - the HTML the authorization endpoint shows a person:
 * the error page (no redirect is safe), login, patient picker and consent.
 *
 * Server-rendered, no JavaScript, no external resources. Every value that
 * did not come from this file goes through oauth_html_escape(), including
 * the ones we generated ourselves (request ids, CSRF tokens), so that no
 * page depends on an argument about where a string came from. The
 * response headers forbid framing (clickjacking of the consent button),
 * caching (the pages carry one-time tokens), referrers (the authorize URL
 * carries state and the code challenge) and any script or external load.
 */
#include "oauth_int.h"

#include "core/err.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>

#define PAGE_MAX (256 * 1024)

static const char page_style[] =
	"body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#222;margin:0}"
	"main{max-width:32rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;"
	"box-shadow:0 1px 4px rgba(0,0,0,.15)}"
	"h1{font-size:1.3rem;margin-top:0}label{display:block;margin:.8rem 0}"
	"input[type=text],input[type=password]{display:block;width:100%;box-sizing:border-box;padding:.5rem;"
	"margin-top:.3rem}"
	"button{padding:.5rem 1.2rem;margin:1rem .5rem 0 0}.msg{color:#9e2d2d}"
	"fieldset label{margin:.4rem 0}code{font-size:.85rem;color:#555}";

void oauth_page_headers(http_request *req, http_response *resp, const char *redirect_origin)
{
	const char *csp = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; "
			  "frame-ancestors 'none'";

	/* form-action also governs the redirect that answers a form post
	 * (CSP 3, 6.4.1), so the client's origin must be allowed for the
	 * 302 after consent; oauth_origin() vetted its characters. */
	if (redirect_origin && *redirect_origin && req) {
		char *c = arena_printf(req->arena,
				       "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
				       "form-action 'self' %s; frame-ancestors 'none'",
				       redirect_origin);
		if (c)
			csp = c;
	}
	http_response_header(resp, "Content-Security-Policy", csp);
	http_response_header(resp, "X-Frame-Options", "DENY");
	http_response_header(resp, "Referrer-Policy", "no-referrer");
	http_response_header(resp, "Pragma", "no-cache");
}

static int page_begin(buf_t *b, const char *title)
{
	int rc = buf_append_str(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
				   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>");
	if (rc == 0)
		rc = oauth_html_escape(b, title);
	if (rc == 0)
		rc = buf_printf(b, "</title><style>%s</style></head><body><main><h1>", page_style);
	if (rc == 0)
		rc = oauth_html_escape(b, title);
	if (rc == 0)
		rc = buf_append_str(b, "</h1>\n");
	return rc;
}

/* Appends <p>pre<b>value</b>post</p> with value escaped. */
static int page_para(buf_t *b, const char *pre, const char *value, const char *post)
{
	int rc = buf_append_str(b, "<p>");
	if (rc == 0)
		rc = oauth_html_escape(b, pre);
	if (rc == 0 && value) {
		rc = buf_append_str(b, "<b>");
		if (rc == 0)
			rc = oauth_html_escape(b, value);
		if (rc == 0)
			rc = buf_append_str(b, "</b>");
	}
	if (rc == 0 && post)
		rc = oauth_html_escape(b, post);
	if (rc == 0)
		rc = buf_append_str(b, "</p>\n");
	return rc;
}

static int page_message(buf_t *b, const char *msg)
{
	int rc = 0;
	if (msg && *msg) {
		rc = buf_append_str(b, "<p class=\"msg\" role=\"alert\">");
		if (rc == 0)
			rc = oauth_html_escape(b, msg);
		if (rc == 0)
			rc = buf_append_str(b, "</p>\n");
	}
	return rc;
}

/* <form method="post" action="{issuer path}/{step}"> and the hidden
 * request id and CSRF token every step checks. */
static int page_form(buf_t *b, const oauth_t *o, const char *step, const oauth_page_ctx *p)
{
	int rc = buf_append_str(b, "<form method=\"post\" action=\"");
	if (rc == 0)
		rc = oauth_html_escape(b, o->ipath_str);
	if (rc == 0)
		rc = buf_printf(b, "/%s\"><input type=\"hidden\" name=\"req\" value=\"", step);
	if (rc == 0)
		rc = oauth_html_escape(b, p->reqid);
	if (rc == 0)
		rc = buf_append_str(b, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
	if (rc == 0)
		rc = oauth_html_escape(b, p->csrf);
	if (rc == 0)
		rc = buf_append_str(b, "\">\n");
	return rc;
}

static void page_send(http_request *req, http_response *resp, buf_t *b, int rc, int status,
		      const char *redirect_origin)
{
	char *html;
	size_t len;

	if (rc == 0)
		rc = buf_append_str(b, "</main></body></html>\n");
	html = rc == 0 ? buf_detach(b, &len) : NULL;
	buf_fini(b);
	if (!html) {
		log_error("msg=\"oauth: cannot render a page\" err=%s", err_name(rc ? rc : ERR_NOMEM));
		resp->status = 500;
		return;
	}
	oauth_page_headers(req, resp, redirect_origin);
	resp->status = status;
	http_response_set_body(resp, "text/html; charset=utf-8", html, len);
}

void oauth_page_error(oauth_t *o, http_response *resp, int status, const char *message)
{
	buf_t b;
	int rc;

	buf_init(&b, PAGE_MAX);
	rc = page_begin(&b, "Sign-in problem");
	if (rc == 0)
		rc = page_para(&b, message, NULL, NULL);
	if (rc == 0)
		rc = page_para(&b, "Go back to the application and try again.", NULL, NULL);
	page_send(NULL, resp, &b, rc, status, NULL);
}

void oauth_page_login(oauth_t *o, http_request *req, http_response *resp, const oauth_page_ctx *p)
{
	buf_t b;
	int rc;

	buf_init(&b, PAGE_MAX);
	rc = page_begin(&b, "Sign in");
	if (rc == 0)
		rc = page_para(&b, "Sign in to let ", p->client_name, " access your health records.");
	if (rc == 0)
		rc = page_message(&b, p->message);
	if (rc == 0)
		rc = page_form(&b, o, "login", p);
	if (rc == 0)
		rc = buf_append_str(&b, "<label>Username <input type=\"text\" name=\"username\" "
					"autocomplete=\"username\" required autofocus></label>\n"
					"<label>Password <input type=\"password\" name=\"password\" "
					"autocomplete=\"current-password\" required></label>\n"
					"<button type=\"submit\" name=\"action\" value=\"login\">Sign in</button>"
					"<button type=\"submit\" name=\"action\" value=\"deny\" formnovalidate>"
					"Cancel</button>\n</form>\n");
	page_send(req, resp, &b, rc, 200, p->redirect_origin);
}

void oauth_page_pick(oauth_t *o, http_request *req, http_response *resp, const oauth_page_ctx *p)
{
	buf_t b;
	int rc;

	buf_init(&b, PAGE_MAX);
	rc = page_begin(&b, "Choose a patient");
	if (rc == 0)
		rc = page_para(&b, "Signed in as ", p->username, ".");
	if (rc == 0)
		rc = page_para(&b, "", p->client_name, " asks to work with one patient's records. Which patient?");
	if (rc == 0)
		rc = page_message(&b, p->message);
	if (rc == 0)
		rc = page_form(&b, o, "pick", p);
	if (rc == 0 && json_array_size(p->patients) > 0) {
		size_t i;
		const json_t *pt;
		rc = buf_append_str(&b, "<fieldset><legend>Patients</legend>\n");
		json_array_foreach (p->patients, i, pt) {
			if (rc == 0)
				rc = buf_append_str(&b, "<label><input type=\"radio\" name=\"patient\" value=\"");
			if (rc == 0)
				rc = oauth_html_escape(&b, oauth_jstr(pt, "id"));
			if (rc == 0)
				rc = buf_append_str(&b, "\"> ");
			if (rc == 0)
				rc = oauth_html_escape(&b, oauth_jstr(pt, "label"));
			if (rc == 0)
				rc = buf_append_str(&b, " <code>");
			if (rc == 0)
				rc = oauth_html_escape(&b, oauth_jstr(pt, "id"));
			if (rc == 0)
				rc = buf_append_str(&b, "</code></label>\n");
		}
		if (rc == 0)
			rc = buf_append_str(&b, "</fieldset>\n");
	}
	if (rc == 0)
		rc = buf_printf(&b, "<label>%s <input type=\"text\" name=\"patient_id\" "
				    "pattern=\"[A-Za-z0-9.\\-]{1,64}\"></label>\n",
				json_array_size(p->patients) > 0 ? "Or another patient id" : "Patient id");
	if (rc == 0)
		rc = buf_append_str(&b, "<button type=\"submit\" name=\"action\" value=\"pick\">Continue</button>"
					"<button type=\"submit\" name=\"action\" value=\"deny\" formnovalidate>"
					"Cancel</button>\n</form>\n");
	page_send(req, resp, &b, rc, 200, p->redirect_origin);
}

/* A short human description of one scope token (SMART App Launch 2.2,
 * scopes-and-launch-context.html). Unknown shapes get none. */
static int page_scope_text(buf_t *b, const char *tok)
{
	static const struct {
		const char *scope, *text;
	} fixed[] = {
		{ "openid", "Know who you are" },
		{ "fhirUser", "Know your FHIR user record" },
		{ "profile", "Read your profile" },
		{ "launch", "Use the context of the session it was opened from" },
		{ "launch/patient", "Know which patient is selected" },
		{ "launch/encounter", "Know which encounter is selected" },
		{ "offline_access", "Keep access after you sign out, until it is revoked" },
		{ "online_access", "Keep access while you are signed in" },
	};
	const char *slash = strchr(tok, '/'), *dot, *who, *type;
	char letters[8] = "", verbs[80] = "";
	size_t tlen;
	int rc;

	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (strcmp(tok, fixed[i].scope) == 0)
			return oauth_html_escape(b, fixed[i].text);
	if (!slash || !(dot = strchr(slash, '.')))
		return 0;
	if (strncmp(tok, "patient/", 8) == 0)
		who = " of the selected patient";
	else if (strncmp(tok, "user/", 5) == 0)
		who = " you may see";
	else if (strncmp(tok, "system/", 7) == 0)
		who = " (system access)";
	else
		return 0;
	/* v1 words map to v2 letters (read = rs, write = cud, * = cruds) */
	if (strncmp(dot + 1, "read", 4) == 0 && (dot[5] == '\0' || dot[5] == '?'))
		memcpy(letters, "rs", 3);
	else if (strncmp(dot + 1, "write", 5) == 0 && (dot[6] == '\0' || dot[6] == '?'))
		memcpy(letters, "cud", 4);
	else if (dot[1] == '*')
		memcpy(letters, "cruds", 6);
	else
		for (size_t i = 1, j = 0; dot[i] && dot[i] != '?' && j + 1 < sizeof letters; i++)
			letters[j++] = dot[i];
	for (const char *l = letters; *l; l++) {
		const char *v = *l == 'c' ? "create" : *l == 'r' ? "read" : *l == 'u' ? "update" :
			      *l == 'd' ? "delete" : *l == 's' ? "search" : NULL;
		size_t n = strlen(verbs);
		if (!v)
			return 0;
		snprintf(verbs + n, sizeof verbs - n, "%s%s", n ? ", " : "", v);
	}
	if (!*verbs)
		return 0;
	verbs[0] = (char)(verbs[0] - 'a' + 'A');
	type = slash + 1;
	tlen = (size_t)(dot - type);
	rc = buf_printf(b, "%s ", verbs);
	if (rc == 0) {
		if (tlen == 1 && *type == '*') {
			rc = buf_append_str(b, "all records");
		} else {
			char t[64];
			snprintf(t, sizeof t, "%.*s", (int)(tlen < sizeof t ? tlen : sizeof t - 1), type);
			rc = oauth_html_escape(b, t);
			if (rc == 0)
				rc = buf_append_str(b, " records");
		}
	}
	if (rc == 0)
		rc = oauth_html_escape(b, who);
	if (rc == 0 && strchr(dot, '?'))
		rc = buf_append_str(b, " (some categories only)");
	return rc;
}

void oauth_page_consent(oauth_t *o, http_request *req, http_response *resp, const oauth_page_ctx *p)
{
	buf_t b;
	int rc;

	buf_init(&b, PAGE_MAX);
	rc = page_begin(&b, "Allow access?");
	if (rc == 0)
		rc = page_para(&b, "Signed in as ", p->username, ".");
	if (rc == 0)
		rc = page_para(&b, "", p->client_name, " asks for the permissions below. Untick any you do not want "
						       "to give.");
	if (rc == 0 && p->patient && *p->patient)
		rc = page_para(&b, "Patient: ", p->patient, NULL);
	if (rc == 0)
		rc = page_message(&b, p->message);
	if (rc == 0)
		rc = page_form(&b, o, "consent", p);
	if (rc == 0)
		rc = buf_append_str(&b, "<fieldset><legend>Permissions</legend>\n");
	for (const char *s = p->scope; rc == 0 && *s;) {
		size_t l = strcspn(s, " ");
		char tok[SCOPE_MAX_LEN + 1];
		if (l == 0) {
			s++;
			continue;
		}
		snprintf(tok, sizeof tok, "%.*s", (int)l, s);
		s += l;
		rc = buf_append_str(&b, "<label><input type=\"checkbox\" name=\"scope\" value=\"");
		if (rc == 0)
			rc = oauth_html_escape(&b, tok);
		if (rc == 0)
			rc = buf_append_str(&b, "\" checked> ");
		if (rc == 0)
			rc = page_scope_text(&b, tok);
		if (rc == 0)
			rc = buf_append_str(&b, " <code>");
		if (rc == 0)
			rc = oauth_html_escape(&b, tok);
		if (rc == 0)
			rc = buf_append_str(&b, "</code></label>\n");
	}
	if (rc == 0)
		rc = buf_append_str(&b, "</fieldset>\n"
					"<button type=\"submit\" name=\"action\" value=\"approve\">Allow</button>"
					"<button type=\"submit\" name=\"action\" value=\"deny\">Deny</button>\n</form>\n");
	page_send(req, resp, &b, rc, 200, p->redirect_origin);
}
