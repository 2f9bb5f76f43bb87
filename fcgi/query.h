/*
 * query: the URL query string of a GET request, decoded and validated (pure).
 * query_parse splits "a=1&b=x%20y" into at most QUERY_PARAMS_MAX decoded pairs,
 * refusing bad percent-encoding, NUL bytes, over-long keys or values, duplicate
 * and (given the allowed list) unknown keys. Errors are ERR_INVALID or
 * ERR_TOO_LARGE with a message naming the parameter. A struct query owns its
 * strings; query_release() frees them.
 */
#ifndef MEMDUMP_QUERY_H
#define MEMDUMP_QUERY_H

#include <stddef.h>

#include "err.h"

#define QUERY_MAX 4096 /* bytes of the raw query string */
#define QUERY_PARAMS_MAX 16
#define QUERY_KEY_MAX 32
#define QUERY_VALUE_MAX 512

struct query {
	char *key[QUERY_PARAMS_MAX];
	char *value[QUERY_PARAMS_MAX];
	size_t n;
};

/* allowed: NULL-terminated list of accepted keys. */
int query_parse(const char *raw, const char *const *allowed, struct query *out, struct err *e);
/* Borrowed value of key, NULL when absent. */
const char *query_get(const struct query *q, const char *key);
void query_release(struct query *q);

/* Strict decimal integer in [min, max] (no sign other than '-', no blanks). */
int query_int(const char *s, long long min, long long max, long long *out);

#endif
