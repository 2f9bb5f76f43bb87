/*
 * request: pure parsers of client input (see request.h). The body is parsed with
 * jsonu_parse (size and depth capped), then checked member by member; VM names go
 * through dump_vm_name_check so that nothing unsafe reaches paths or logs.
 */
#include "request.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"

int request_create_parse(const char *body, size_t len, struct request_create *out, struct err *e)
{
	json_t *root = NULL, *v;
	const char *key;
	const char *vm;
	size_t vmlen;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->format = DUMP_FMT_ELF;
	root = jsonu_parse(body, len, REQUEST_BODY_MAX, 4, e);
	if (root == NULL) {
		out->bad_json = true;
		goto out;
	}
	if (!json_is_object(root)) {
		err_set(e, ERR_INVALID, "the body must be a JSON object like {\"vm\": \"NAME\"}");
		goto out;
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, "vm") != 0 && strcmp(key, "format") != 0 &&
		    strcmp(key, "requested_by") != 0) {
			err_set(e, ERR_INVALID,
			        "unknown member '%.64s': allowed are vm, format and requested_by",
			        key);
			goto out;
		}
	}
	v = json_object_get(root, "vm");
	if (v == NULL || !json_is_string(v)) {
		err_set(e, ERR_INVALID, "member 'vm' is required and must be a string");
		goto out;
	}
	vm = json_string_value(v);
	vmlen = json_string_length(v);
	if (dump_vm_name_check(vm, vmlen, e) < 0) {
		err_prefix(e, "member 'vm'");
		goto out;
	}
	memcpy(out->vm, vm, vmlen);
	out->vm[vmlen] = '\0';
	v = json_object_get(root, "format");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v)) {
			err_set(e, ERR_INVALID, "member 'format' must be a string");
			goto out;
		}
		if (strlen(json_string_value(v)) != json_string_length(v)) {
			err_set(e, ERR_INVALID, "member 'format' holds a NUL byte");
			goto out;
		}
		if (dump_format_parse(json_string_value(v), &out->format, e) < 0) {
			err_prefix(e, "member 'format'");
			goto out;
		}
	}
	v = json_object_get(root, "requested_by");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v)) {
			err_set(e, ERR_INVALID, "member 'requested_by' must be a string");
			goto out;
		}
		if (dump_user_check(json_string_value(v), json_string_length(v), e) < 0) {
			err_prefix(e, "member 'requested_by'");
			goto out;
		}
		memcpy(out->requested_by, json_string_value(v), json_string_length(v) + 1);
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

void request_list_init(struct request_list *q)
{
	memset(q, 0, sizeof(*q));
	q->limit = REQUEST_LIMIT_DEFAULT;
}

static int request_int(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || !isdigit((unsigned char)s[0]) || strlen(s) > 19)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int request_list_add(struct request_list *q, const char *key, const char *value, struct err *e)
{
	long long n;
	size_t len;

	if (value == NULL)
		value = "";
	if (strcmp(key, "state") == 0) {
		if (q->has_state)
			return err_set(e, ERR_INVALID, "query parameter 'state' given twice");
		if (dump_state_parse(value, &q->state) < 0)
			return err_set(e, ERR_INVALID,
			               "query parameter 'state': expected queued, running, "
			               "completed, failed or cancelled");
		q->has_state = true;
	} else if (strcmp(key, "vm") == 0) {
		if (q->has_vm)
			return err_set(e, ERR_INVALID, "query parameter 'vm' given twice");
		len = strlen(value);
		if (dump_vm_name_check(value, len, e) < 0) {
			err_prefix(e, "query parameter 'vm'");
			return -1;
		}
		memcpy(q->vm, value, len + 1);
		q->has_vm = true;
	} else if (strcmp(key, "limit") == 0) {
		if (request_int(value, 1, REQUEST_LIMIT_MAX, &n) < 0)
			return err_set(e, ERR_INVALID,
			               "query parameter 'limit': expected an integer 1..%d",
			               REQUEST_LIMIT_MAX);
		q->limit = (int)n;
	} else {
		return err_set(e, ERR_INVALID,
		               "unknown query parameter '%.64s': allowed are state, vm and limit",
		               key);
	}
	return 0;
}

/* Digits only, at most 19 of them (no sign, no blanks). */
static int request_ull(const char *s, size_t n, unsigned long long *out)
{
	unsigned long long v = 0;
	size_t i;

	if (n == 0 || n > 19)
		return -1;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int request_range_parse(const char *header, unsigned long long size, unsigned long long *first,
                        unsigned long long *last, struct err *e)
{
	const char *spec, *dash;
	unsigned long long a, b;
	size_t len;

	if (header == NULL || strncmp(header, "bytes=", 6) != 0)
		return err_set(e, ERR_INVALID, "Range must be 'bytes=FIRST-LAST'");
	spec = header + 6;
	len = strlen(spec);
	if (len > 64 || strchr(spec, ',') != NULL)
		return err_set(e, ERR_INVALID, "only one byte range is supported");
	dash = strchr(spec, '-');
	if (dash == NULL)
		return err_set(e, ERR_INVALID, "Range must be 'bytes=FIRST-LAST'");
	if (dash == spec) { /* suffix: the last N bytes */
		if (request_ull(dash + 1, strlen(dash + 1), &b) < 0 || b == 0)
			return err_set(e, ERR_INVALID, "bad suffix range");
		if (size == 0)
			return err_set(e, ERR_INVALID, "range not satisfiable: the file is empty");
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 1;
	}
	if (request_ull(spec, (size_t)(dash - spec), &a) < 0)
		return err_set(e, ERR_INVALID, "bad first byte position in Range");
	if (dash[1] == '\0') {
		b = size == 0 ? 0 : size - 1;
	} else if (request_ull(dash + 1, strlen(dash + 1), &b) < 0 || b < a) {
		return err_set(e, ERR_INVALID, "bad last byte position in Range");
	}
	if (a >= size)
		return err_set(e, ERR_INVALID, "range not satisfiable: the file has %llu bytes",
		               size);
	if (b >= size)
		b = size - 1;
	*first = a;
	*last = b;
	return 1;
}
