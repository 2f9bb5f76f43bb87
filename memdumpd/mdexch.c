/*
 * mdexch: see mdexch.h. Answers built in memory; the adapter moves them out.
 */
#include "mdexch.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "json_util.h"
#include "xmalloc.h"

const char *mdexch_header(const struct mdexch_req *q, const char *name)
{
	for (size_t i = 0; i < q->n_headers; i++)
		if (strcasecmp(q->headers[i].key, name) == 0)
			return q->headers[i].value;
	return NULL;
}

void mdexch_resp_init(struct mdexch_resp *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

void mdexch_resp_header(struct mdexch_resp *r, const char *name, const char *value)
{
	if (r->n_headers == MDEXCH_HEADERS_OUT_MAX)
		return;
	r->headers[r->n_headers].key = name;
	r->headers[r->n_headers++].value = xstrdup(value);
}

void mdexch_resp_json(struct mdexch_resp *r, int status, json_t *v)
{
	free(r->body);
	r->status = status;
	r->body = jsonu_dump(v);
	r->body_len = strlen(r->body);
	json_decref(v);
	mdexch_resp_header(r, "Content-Type", "application/json");
	mdexch_resp_header(r, "Cache-Control", "no-store");
}

void mdexch_resp_error(struct mdexch_resp *r, int status, const char *code, const char *msg)
{
	mdexch_resp_json(r, status, jsonu_error_new(code, "%s", msg));
}

void mdexch_resp_err(struct mdexch_resp *r, const struct err *e)
{
	mdexch_resp_error(r, mdexch_status_of(e->code), mdexch_code_of(e->code), e->msg);
}

void mdexch_resp_release(struct mdexch_resp *r)
{
	for (size_t i = 0; i < r->n_headers; i++)
		free((char *)r->headers[i].value);
	free(r->body);
	if (r->fd >= 0)
		close(r->fd);
	mdexch_resp_init(r);
}

int mdexch_status_of(enum err_code code)
{
	switch (code) {
	case ERR_INVALID:
		return 400;
	case ERR_NOT_FOUND:
		return 404;
	case ERR_CONFLICT:
		return 409;
	case ERR_TOO_LARGE:
		return 413;
	case ERR_UNSUPPORTED:
		return 415;
	case ERR_UNAVAILABLE:
		return 503;
	case ERR_TIMEOUT:
		return 504;
	case ERR_NO_SPACE:
		return 507;
	case ERR_AUTH:
		return 401;
	default:
		return 500;
	}
}

const char *mdexch_code_of(enum err_code code)
{
	switch (code) {
	case ERR_INVALID:
		return "invalid_field";
	case ERR_NOT_FOUND:
		return "not_found";
	case ERR_CONFLICT:
		return "conflict";
	case ERR_NO_SPACE:
		return "insufficient_storage";
	case ERR_UNAVAILABLE:
		return "libvirt_unavailable";
	default:
		return "internal_error";
	}
}
