/*
 * query: see query.h. application/x-www-form-urlencoded decoding ('+' is a
 * space) with caps on every length and count.
 */
#include "query.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "urlcode.h"
#include "xmalloc.h"

static int query_allowed(const char *key, const char *const *allowed)
{
	for (; allowed != NULL && *allowed != NULL; allowed++)
		if (strcmp(*allowed, key) == 0)
			return 1;
	return 0;
}

int query_parse(const char *raw, const char *const *allowed, struct query *out, struct err *e)
{
	const char *p = raw ? raw : "";
	size_t total = strlen(p);

	memset(out, 0, sizeof(*out));
	if (total > QUERY_MAX)
		return err_set(e, ERR_TOO_LARGE, "query string longer than %d bytes", QUERY_MAX);
	while (*p != '\0') {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;
		char *key = NULL, *value = NULL;

		if (len == 0) { /* "a=1&&b=2" or a trailing '&' */
			p += amp ? 1 : 0;
			continue;
		}
		if (out->n == QUERY_PARAMS_MAX) {
			err_set(e, ERR_TOO_LARGE, "more than %d query parameters",
			        QUERY_PARAMS_MAX);
			goto fail;
		}
		if (urlcode_decode(p, klen, true, &key) < 0 ||
		    urlcode_decode(eq ? eq + 1 : p + len, eq ? len - klen - 1 : 0, true, &value) <
		        0) {
			free(key);
			err_set(
			    e, ERR_INVALID,
			    "malformed query string: bad %%-escape or NUL byte in parameter %zu",
			    out->n + 1);
			goto fail;
		}
		if (strlen(key) == 0 || strlen(key) > QUERY_KEY_MAX ||
		    !query_allowed(key, allowed)) {
			err_set(e, ERR_INVALID, "unknown query parameter '%.*s'", QUERY_KEY_MAX,
			        key);
			free(key);
			free(value);
			goto fail;
		}
		if (strlen(value) > QUERY_VALUE_MAX) {
			err_set(e, ERR_TOO_LARGE, "query parameter '%s' longer than %d bytes", key,
			        QUERY_VALUE_MAX);
			free(key);
			free(value);
			goto fail;
		}
		if (query_get(out, key) != NULL) {
			err_set(e, ERR_INVALID, "query parameter '%s' given twice", key);
			free(key);
			free(value);
			goto fail;
		}
		out->key[out->n] = key;
		out->value[out->n++] = value;
		p += len + (amp ? 1 : 0);
	}
	return 0;
fail:
	query_release(out);
	return -1;
}

const char *query_get(const struct query *q, const char *key)
{
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->key[i], key) == 0)
			return q->value[i];
	return NULL;
}

void query_release(struct query *q)
{
	if (q == NULL)
		return;
	for (size_t i = 0; i < q->n; i++) {
		free(q->key[i]);
		free(q->value[i]);
	}
	memset(q, 0, sizeof(*q));
}

int query_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || !((*s >= '0' && *s <= '9') || *s == '-'))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}
