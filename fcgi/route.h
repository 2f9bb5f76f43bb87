/*
 * route: maps (method, path) of a request under /api/memory-dumps to one of the
 * API's endpoints and its path argument (VM name or dump id, still unchecked).
 * Pure function over bytes; answers "no such path" (404) and "wrong method"
 * (405, with the Allow list) itself. HEAD is accepted wherever GET is.
 */
#ifndef MEMDUMP_ROUTE_H
#define MEMDUMP_ROUTE_H

#include <stddef.h>

#define ROUTE_PREFIX "/api/memory-dumps"
#define ROUTE_ARG_MAX 512 /* longer path arguments are refused (404) */

enum route_id {
	ROUTE_TRIGGER,       /* POST   /trigger */
	ROUTE_STATUS,        /* GET    /status */
	ROUTE_STATUS_VM,     /* GET    /status/{vm} */
	ROUTE_RECORDS,       /* GET    /records */
	ROUTE_STATS,         /* GET    /stats */
	ROUTE_VMS,           /* GET    /vms */
	ROUTE_DUMP,          /* DELETE /dumps/{id} */
	ROUTE_DUMP_DOWNLOAD, /* GET    /dumps/{id}/download */
	ROUTE_AUDIT,         /* GET    /audit */
	ROUTE__MAX
};

enum route_result { ROUTE_OK, ROUTE_NOT_FOUND, ROUTE_BAD_METHOD };

struct route {
	enum route_id id;
	char arg[ROUTE_ARG_MAX + 1]; /* the {vm} or {id} segment, "" when none */
	const char *allow;           /* for ROUTE_BAD_METHOD: "GET, HEAD" / "POST" / ... */
};

const char *route_name(enum route_id id);
enum route_result route_match(const char *method, const char *path, struct route *out);

#endif
