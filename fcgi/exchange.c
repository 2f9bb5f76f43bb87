/*
 * exchange: see exchange.h. Status table, JSON responses, header hygiene and
 * the CSRF gate. No I/O.
 */
#include "exchange.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_util.h"
#include "xmalloc.h"

static const struct {
	int status;
	const char *text;
} exch_statuses[] = {
    {200, "OK"},
    {202, "Accepted"},
    {204, "No Content"},
    {400, "Bad Request"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {409, "Conflict"},
    {413, "Payload Too Large"},
    {415, "Unsupported Media Type"},
    {422, "Unprocessable Entity"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

const char *exch_status_text(int status)
{
	for (size_t i = 0; i < sizeof(exch_statuses) / sizeof(exch_statuses[0]); i++)
		if (exch_statuses[i].status == status)
			return exch_statuses[i].text;
	return "Unknown";
}

void exch_resp_json(struct exch_resp *r, int status, json_t *v)
{
	free(r->body);
	r->status = status;
	r->body = jsonu_dump(v);
	r->body_len = strlen(r->body);
	r->content_type = "application/json";
	json_decref(v);
}

void exch_resp_body(struct exch_resp *r, int status, char *body, size_t len)
{
	free(r->body);
	r->status = status;
	r->body = body;
	r->body_len = len;
	r->content_type = "application/json";
}

void exch_resp_error(struct exch_resp *r, int status, const char *code, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	exch_resp_json(r, status, jsonu_error_new(code, "%s", msg));
}

void exch_resp_error_with(struct exch_resp *r, int status, const char *code, const char *key,
                          json_t *extra_value, const char *msg)
{
	json_t *v = jsonu_error_new(code, "%s", msg);

	json_object_set_new(json_object_get(v, "error"), key, extra_value);
	exch_resp_json(r, status, v);
}

int exch_resp_header(struct exch_resp *r, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	if (r->n_headers >= EXCH_HEADERS_MAX || nl + vl + 2 >= EXCH_HEADER_MAX ||
	    strpbrk(value, "\r\n") != NULL || strpbrk(name, "\r\n: ") != NULL)
		return -1;
	r->headers[r->n_headers++] = xasprintf("%s: %s", name, value);
	return 0;
}

void exch_resp_headers_drop(struct exch_resp *r, size_t from)
{
	while (r->n_headers > from)
		free(r->headers[--r->n_headers]);
}

void exch_resp_release(struct exch_resp *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_headers; i++)
		free(r->headers[i]);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

bool exch_media_is_json(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* Origin is "scheme://host[:port]" (RFC 6454); it matches when host[:port]
 * equals the Host header, ignoring case. "null" and anything else never match. */
bool exch_origin_matches(const char *origin, const char *host)
{
	const char *p;

	if (origin == NULL || host == NULL || *host == '\0')
		return false;
	if (strncasecmp(origin, "http://", 7) == 0)
		p = origin + 7;
	else if (strncasecmp(origin, "https://", 8) == 0)
		p = origin + 8;
	else
		return false;
	if (strchr(p, '/') != NULL)
		return false;
	return strcasecmp(p, host) == 0;
}

int exch_require_json_same_origin(const struct exch_req *q, struct exch_resp *r)
{
	if (!exch_media_is_json(q->content_type)) {
		exch_resp_error(
		    r, 415, "unsupported_media_type",
		    "this call needs a JSON request: send 'Content-Type: application/json'");
		return -1;
	}
	if (q->origin != NULL && !exch_origin_matches(q->origin, q->host)) {
		exch_resp_error(r, 403, "forbidden_origin",
		                "cross-origin request refused: Origin does not match Host");
		return -1;
	}
	return 0;
}
