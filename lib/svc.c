/*
 * svc: see svc.h. Calls to one memdumpd.
 *
 * DESIGN: every call is "build a request, http_client_do, svc_parse". svc_parse
 * is pure (no I/O) and is shared with the poller's concurrent path
 * (http_client_do_many). It checks an answer for what callers rely on before
 * handing it out: a dump has a valid dump_id, a vm and a known state; a VM has a
 * name; lists are arrays of those. Text copied from memdumpd into messages has
 * its control bytes replaced. One struct svc per thread and host.
 */
#include "svc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "json_util.h"
#include "xmalloc.h"

#define SVC_ANSWER_MAX (16u << 20)
#define SVC_TEXT_MAX 300

struct svc {
	char *base;  /* without trailing '/' */
	char *token; /* "" when none */
	long timeout_ms;
	struct http_client *http;
	char *req_url; /* the URL of the last request built (svc_request_get) */
};

struct svc *svc_new(const char *base_url, const char *token, long timeout_ms)
{
	struct svc *s = xcalloc(1, sizeof(*s));
	size_t n = strlen(base_url);

	while (n > 0 && base_url[n - 1] == '/')
		n--;
	s->base = xstrndup(base_url, n);
	s->token = xstrdup(token != NULL ? token : "");
	s->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
	s->http = http_client_new(s->timeout_ms);
	return s;
}

void svc_free(struct svc *s)
{
	if (s == NULL)
		return;
	http_client_free(s->http);
	free(s->base);
	free(s->token);
	free(s->req_url);
	free(s);
}

const char *svc_url(const struct svc *s)
{
	return s->base;
}

static void svc_request(struct svc *s, const char *method, const char *path,
                        struct http_request *req)
{
	free(s->req_url);
	s->req_url = xasprintf("%s%s", s->base, path);
	memset(req, 0, sizeof(*req));
	req->method = method;
	req->url = s->req_url;
	req->bearer = s->token;
	req->max_response = SVC_ANSWER_MAX;
}

void svc_request_get(struct svc *s, const char *path, struct http_request *req)
{
	svc_request(s, "GET", path, req);
}

/* Peer text made safe for messages: capped, control bytes as '?'. */
static void svc_clean(const char *t, char *out, size_t cap)
{
	size_t k = 0;

	for (size_t i = 0; t[i] != '\0' && i < SVC_TEXT_MAX && k + 1 < cap; i++) {
		unsigned char c = (unsigned char)t[i];

		out[k++] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
	}
	out[k] = '\0';
	while (k > 0 && (out[k - 1] == '?' || out[k - 1] == ' '))
		out[--k] = '\0'; /* a trailing newline is no part of the message */
}

static enum err_code svc_status_code(long status)
{
	switch (status) {
	case 401:
	case 403:
		return ERR_AUTH;
	case 404:
		return ERR_NOT_FOUND;
	case 409:
		return ERR_CONFLICT;
	case 413:
		return ERR_TOO_LARGE;
	case 415:
		return ERR_UNSUPPORTED;
	case 507:
		return ERR_NO_SPACE;
	default:
		break;
	}
	if (status >= 400 && status < 500)
		return ERR_INVALID;
	if (status >= 500 && status < 600)
		return ERR_UNAVAILABLE;
	return ERR_PROTOCOL;
}

static int svc_dump_check(const json_t *d, const char *what, struct err *e)
{
	const char *id = jsonu_str(d, "dump_id");
	const char *state = jsonu_str(d, "state");
	enum dump_state st;

	if (!json_is_object(d))
		return err_set(e, ERR_PROTOCOL, "%s is not an object", what);
	if (id == NULL || dump_id_check(id, NULL) < 0)
		return err_set(e, ERR_PROTOCOL, "%s has no valid dump_id", what);
	if (jsonu_str(d, "vm") == NULL)
		return err_set(e, ERR_PROTOCOL, "%s has no vm", what);
	if (state == NULL || dump_state_parse(state, &st) < 0)
		return err_set(e, ERR_PROTOCOL, "%s has no known state", what);
	return 0;
}

/* Check the member an answer was asked for. */
static int svc_member_check(const json_t *v, const char *member, struct err *e)
{
	size_t i;
	json_t *x;
	char what[64];

	if (member == NULL)
		return json_is_object(v) ? 0 : err_set(e, ERR_PROTOCOL, "answer is not an object");
	if (v == NULL)
		return err_set(e, ERR_PROTOCOL, "answer has no \"%s\"", member);
	if (strcmp(member, "dump") == 0)
		return svc_dump_check(v, "\"dump\"", e);
	if (strcmp(member, "dumps") == 0 || strcmp(member, "vms") == 0) {
		if (!json_is_array(v))
			return err_set(e, ERR_PROTOCOL, "\"%s\" is not an array", member);
		json_array_foreach(v, i, x) {
			snprintf(what, sizeof(what), "%s[%zu]", member, i);
			if (member[0] == 'd' && svc_dump_check(x, what, e) < 0)
				return -1;
			if (member[0] == 'v' &&
			    (!json_is_object(x) || jsonu_str(x, "name") == NULL))
				return err_set(e, ERR_PROTOCOL, "%s has no name", what);
		}
	}
	return 0;
}

int svc_parse(struct svc *s, int rc, const struct err *transport, const struct http_response *resp,
              const char *member, json_t **out, struct err *e)
{
	json_t *root = NULL, *v;
	struct err pe;
	char text[SVC_TEXT_MAX + 1];
	const char *base = s != NULL ? s->base : "(no URL)";
	int ret = -1;

	*out = NULL;
	if (rc < 0) {
		if (e != NULL && transport != NULL)
			*e = *transport;
		else
			err_set(e, ERR_UNAVAILABLE, "memdumpd %s did not answer", base);
		return -1;
	}
	if (resp->body_len > 0)
		root =
		    jsonu_parse(resp->body, resp->body_len, SVC_ANSWER_MAX, JSONU_MAX_DEPTH, &pe);
	if (resp->status < 200 || resp->status >= 300) {
		const json_t *err = json_object_get(root, "error");
		const char *msg = json_is_object(err) ? jsonu_str(err, "message") : NULL;
		const char *code = json_is_object(err) ? jsonu_str(err, "code") : NULL;

		if (msg != NULL)
			svc_clean(msg, text, sizeof(text));
		else if (resp->body != NULL)
			svc_clean(resp->body, text, sizeof(text));
		else
			text[0] = '\0';
		if (code != NULL) {
			char c[64];

			svc_clean(code, c, sizeof(c));
			err_set(e, svc_status_code(resp->status), "memdumpd %s: %s (%s, HTTP %ld)",
			        base, text, c, resp->status);
		} else {
			err_set(e, svc_status_code(resp->status), "memdumpd %s: HTTP %ld: %s", base,
			        resp->status, text[0] != '\0' ? text : "no explanation");
		}
		goto out;
	}
	if (root == NULL) {
		err_set(e, ERR_PROTOCOL, "memdumpd %s: answer is not JSON: %s", base,
		        resp->body_len > 0 ? pe.msg : "empty body");
		goto out;
	}
	if (!json_is_object(root)) {
		err_set(e, ERR_PROTOCOL, "memdumpd %s: answer is not a JSON object", base);
		goto out;
	}
	v = member != NULL ? json_object_get(root, member) : root;
	if (svc_member_check(v, member, e) < 0) {
		err_prefix(e, "memdumpd %s", base);
		goto out;
	}
	*out = json_incref(v);
	ret = 0;
out:
	json_decref(root);
	return ret;
}

/* One call: method path [body] -> member of the answer. On ERR_CONFLICT the
 * error's dump_id goes to *conflict_id when asked for. */
static int svc_call(struct svc *s, const char *method, const char *path, const char *body,
                    const char *member, json_t **out, char **conflict_id, struct err *e)
{
	struct http_request req;
	struct http_response resp = {0};
	struct err te;
	int rc;

	svc_request(s, method, path, &req);
	if (body != NULL) {
		req.body = body;
		req.body_len = strlen(body);
		req.content_type = "application/json";
	}
	rc = http_client_do(s->http, &req, &resp, &te);
	rc = svc_parse(s, rc, &te, &resp, member, out, e);
	if (rc < 0 && conflict_id != NULL && resp.status == 409 && resp.body_len > 0) {
		json_t *root =
		    jsonu_parse(resp.body, resp.body_len, SVC_ANSWER_MAX, JSONU_MAX_DEPTH, NULL);
		const char *id = jsonu_str(json_object_get(root, "error"), "dump_id");

		if (id != NULL && dump_id_check(id, NULL) == 0)
			*conflict_id = xstrdup(id);
		json_decref(root);
	}
	http_client_response_release(&resp);
	return rc;
}

int svc_health(struct svc *s, json_t **out, struct err *e)
{
	return svc_call(s, "GET", "/api/health", NULL, NULL, out, NULL, e);
}

int svc_vms(struct svc *s, json_t **out, struct err *e)
{
	return svc_call(s, "GET", "/api/vms", NULL, "vms", out, NULL, e);
}

int svc_dumps(struct svc *s, json_t **out, struct err *e)
{
	return svc_call(s, "GET", "/api/dumps", NULL, "dumps", out, NULL, e);
}

static int svc_dump_by_id(struct svc *s, const char *method, const char *dump_id, json_t **out,
                          struct err *e)
{
	char path[64];

	*out = NULL;
	if (dump_id_check(dump_id, e) < 0)
		return -1;
	snprintf(path, sizeof(path), "/api/dumps/%s", dump_id); /* ids are [0-9A-Za-z-] */
	return svc_call(s, method, path, NULL, "dump", out, NULL, e);
}

int svc_dump_get(struct svc *s, const char *dump_id, json_t **out, struct err *e)
{
	return svc_dump_by_id(s, "GET", dump_id, out, e);
}

int svc_dump_cancel(struct svc *s, const char *dump_id, json_t **out, struct err *e)
{
	return svc_dump_by_id(s, "DELETE", dump_id, out, e);
}

int svc_dump_create(struct svc *s, const char *vm, const char *format, const char *requested_by,
                    json_t **out, char **conflict_id, struct err *e)
{
	json_t *req = json_object();
	char *body;
	int rc;

	*out = NULL;
	if (conflict_id != NULL)
		*conflict_id = NULL;
	json_object_set_new(req, "vm", json_string(vm));
	if (format != NULL)
		json_object_set_new(req, "format", json_string(format));
	if (json_object_get(req, "vm") == NULL ||
	    (format != NULL && json_object_get(req, "format") == NULL)) {
		json_decref(req);
		return err_set(e, ERR_INVALID, "VM name or format is not valid UTF-8");
	}
	if (requested_by != NULL) {
		if (dump_user_check(requested_by, strlen(requested_by), e) < 0) {
			json_decref(req);
			err_prefix(e, "requested_by");
			return -1;
		}
		json_object_set_new(req, "requested_by", json_string(requested_by));
	}
	body = jsonu_dump(req);
	json_decref(req);
	rc = svc_call(s, "POST", "/api/dumps", body, "dump", out, conflict_id, e);
	free(body);
	return rc;
}
