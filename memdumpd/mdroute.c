/*
 * mdroute: see mdroute.h. Rows of literal segments and at most one "{id}"
 * segment; a row with head_too answers HEAD like GET. Paths are walked segment
 * by segment, so no length limit applies but the string's own.
 */
#include "mdroute.h"

#include <string.h>

#define MDROUTE_SEGS 4

struct mdroute_row {
	enum mdroute_id id;
	const char *name;
	const char *segs[MDROUTE_SEGS + 1]; /* literal or "{id}"; NULL-terminated */
	const char *method;
	bool head_too;
	const char *allow;
	bool open;
};

static const struct mdroute_row mdroute_table[MDROUTE__MAX] = {
    {MDROUTE_HEALTH, "health", {"api", "health", NULL}, "GET", true, "GET", true},
    {MDROUTE_VMS, "vms", {"api", "vms", NULL}, "GET", false, "GET", false},
    {MDROUTE_LIST, "list", {"api", "dumps", NULL}, "GET", false, "GET, POST", false},
    {MDROUTE_CREATE, "create", {"api", "dumps", NULL}, "POST", false, "GET, POST", false},
    {MDROUTE_GET, "get", {"api", "dumps", "{id}", NULL}, "GET", false, "GET, DELETE", false},
    {MDROUTE_CANCEL,
     "cancel",
     {"api", "dumps", "{id}", NULL},
     "DELETE",
     false,
     "GET, DELETE",
     false},
    {MDROUTE_FILE, "file", {"api", "dumps", "{id}", "file", NULL}, "GET", true, "GET, HEAD", false},
};

const char *mdroute_name(enum mdroute_id id)
{
	return (id >= 0 && id < MDROUTE__MAX) ? mdroute_table[id].name : "?";
}

/* A dump id segment: copied to out, or -1 with e. */
static int mdroute_id_check(const char *seg, size_t len, char out[DUMP_ID_SIZE], struct err *e)
{
	if (len != DUMP_ID_LEN)
		return err_set(e, ERR_INVALID,
		               "a dump id looks like 20261122T183000Z-0123456789ab");
	memcpy(out, seg, len);
	out[len] = '\0';
	return dump_id_check(out, e);
}

/* 1 when path matches row, 0 when not, -1 (e) when its {id} segment is no dump id. */
static int mdroute_row_match(const struct mdroute_row *row, const char *path, char id[DUMP_ID_SIZE],
                             struct err *e)
{
	const char *p = path + 1; /* NULL once every segment is used */

	id[0] = '\0';
	for (int i = 0; row->segs[i] != NULL; i++) {
		const char *slash, *want = row->segs[i];
		size_t len;

		if (p == NULL)
			return 0;
		slash = strchr(p, '/');
		len = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (strcmp(want, "{id}") == 0) {
			if (mdroute_id_check(p, len, id, e) < 0)
				return -1;
		} else if (strlen(want) != len || memcmp(want, p, len) != 0) {
			return 0;
		}
		p = slash != NULL ? slash + 1 : NULL;
	}
	return p == NULL;
}

enum mdroute_result mdroute_match(const char *method, const char *path, struct mdroute *out,
                                  struct err *e)
{
	const struct mdroute_row *path_hit = NULL;
	char id[DUMP_ID_SIZE];

	memset(out, 0, sizeof(*out));
	if (method == NULL || path == NULL || path[0] != '/')
		return MDROUTE_NOT_FOUND;
	for (int i = 0; i < MDROUTE__MAX; i++) {
		const struct mdroute_row *row = &mdroute_table[i];
		int m = mdroute_row_match(row, path, id, e);

		if (m < 0)
			return MDROUTE_BAD_ID;
		if (m == 0)
			continue;
		if (strcmp(method, row->method) == 0 ||
		    (row->head_too && strcmp(method, "HEAD") == 0)) {
			out->id = row->id;
			memcpy(out->dump_id, id, sizeof(id));
			out->open = row->open;
			return MDROUTE_OK;
		}
		if (path_hit == NULL)
			path_hit = row;
	}
	if (path_hit == NULL)
		return MDROUTE_NOT_FOUND;
	out->id = path_hit->id;
	out->allow = path_hit->allow;
	out->open = path_hit->open;
	return MDROUTE_BAD_METHOD;
}
