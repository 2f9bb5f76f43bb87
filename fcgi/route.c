/*
 * route: see route.h. A declared table of (pattern, method) rows; a pattern is
 * a list of literal segments with at most one "*" segment (the argument).
 */
#include "route.h"

#include <string.h>

struct route_row {
	enum route_id id;
	const char *name;
	const char *segs[3]; /* literal or "*"; NULL-terminated */
	const char *method;
	const char *allow;
};

static const struct route_row route_table[ROUTE__MAX] = {
    {ROUTE_TRIGGER, "trigger", {"trigger", NULL}, "POST", "POST"},
    {ROUTE_STATUS, "status", {"status", NULL}, "GET", "GET, HEAD"},
    {ROUTE_STATUS_VM, "status_vm", {"status", "*", NULL}, "GET", "GET, HEAD"},
    {ROUTE_RECORDS, "records", {"records", NULL}, "GET", "GET, HEAD"},
    {ROUTE_STATS, "stats", {"stats", NULL}, "GET", "GET, HEAD"},
    {ROUTE_VMS, "vms", {"vms", NULL}, "GET", "GET, HEAD"},
    {ROUTE_DUMP, "dump", {"dumps", "*", NULL}, "DELETE", "DELETE"},
    {ROUTE_DUMP_DOWNLOAD, "download", {"dumps", "*", "download"}, "GET", "GET, HEAD"},
    {ROUTE_AUDIT, "audit", {"audit", NULL}, "GET", "GET, HEAD"},
};

const char *route_name(enum route_id id)
{
	return (id >= 0 && id < ROUTE__MAX) ? route_table[id].name : "?";
}

/* Split rest ("a/b/c") into at most 3 segments; -1 when there are more or one
 * is empty. Segments point into rest (lengths in len[]). */
static int route_split(const char *rest, const char *seg[3], size_t len[3])
{
	int n = 0;

	for (;;) {
		const char *slash = strchr(rest, '/');
		size_t l = slash ? (size_t)(slash - rest) : strlen(rest);

		if (n == 3 || l == 0)
			return -1;
		seg[n] = rest;
		len[n++] = l;
		if (slash == NULL)
			return n;
		rest = slash + 1;
	}
}

/* Do the segments match row's pattern? Copies the "*" segment to arg. */
static int route_row_match(const struct route_row *row, const char *const seg[3],
                           const size_t len[3], int n, char *arg)
{
	int i;

	arg[0] = '\0';
	for (i = 0; i < n; i++) {
		const char *want = row->segs[i];

		if (want == NULL)
			return 0;
		if (strcmp(want, "*") == 0) {
			if (len[i] > ROUTE_ARG_MAX)
				return 0;
			memcpy(arg, seg[i], len[i]);
			arg[len[i]] = '\0';
		} else if (strlen(want) != len[i] || memcmp(want, seg[i], len[i]) != 0) {
			return 0;
		}
	}
	return i == 3 || row->segs[i] == NULL;
}

enum route_result route_match(const char *method, const char *path, struct route *out)
{
	size_t plen = strlen(ROUTE_PREFIX);
	const char *rest;
	const struct route_row *path_hit = NULL;
	char arg[ROUTE_ARG_MAX + 1];
	const char *seg[3];
	size_t len[3];
	int n;

	memset(out, 0, sizeof(*out));
	if (method == NULL || path == NULL || strncmp(path, ROUTE_PREFIX, plen) != 0 ||
	    path[plen] != '/')
		return ROUTE_NOT_FOUND;
	rest = path + plen + 1;
	n = route_split(rest, seg, len);
	if (n < 0)
		return ROUTE_NOT_FOUND;
	for (int i = 0; i < ROUTE__MAX; i++) {
		const struct route_row *row = &route_table[i];

		if (!route_row_match(row, seg, len, n, arg))
			continue;
		if (strcmp(method, row->method) == 0 ||
		    (strcmp(method, "HEAD") == 0 && strcmp(row->method, "GET") == 0)) {
			out->id = row->id;
			memcpy(out->arg, arg, sizeof(arg));
			return ROUTE_OK;
		}
		if (path_hit == NULL)
			path_hit = row;
	}
	if (path_hit == NULL)
		return ROUTE_NOT_FOUND;
	out->id = path_hit->id;
	out->allow = path_hit->allow;
	return ROUTE_BAD_METHOD;
}
