/*
 * mdroute: maps (method, path) of a memdumpd request to one endpoint of
 * docs/memdumpd-api.md and its dump id. A declared table; pure. It decides
 * "no such path" (404), "wrong method" (405, with the row's Allow list) and
 * "not a dump id" (400: any path under /api/dumps/ whose next segment is not a
 * dump id) itself; each row also says whether it is open (no token needed).
 */
#ifndef MEMDUMPD_MDROUTE_H
#define MEMDUMPD_MDROUTE_H

#include <stdbool.h>

#include "dump.h"
#include "err.h"

enum mdroute_id {
	MDROUTE_HEALTH, /* GET, HEAD /api/health (open) */
	MDROUTE_VMS,    /* GET       /api/vms */
	MDROUTE_LIST,   /* GET       /api/dumps */
	MDROUTE_CREATE, /* POST      /api/dumps */
	MDROUTE_GET,    /* GET       /api/dumps/{id} */
	MDROUTE_CANCEL, /* DELETE    /api/dumps/{id} */
	MDROUTE_FILE,   /* GET, HEAD /api/dumps/{id}/file */
	MDROUTE__MAX
};

enum mdroute_result { MDROUTE_OK, MDROUTE_NOT_FOUND, MDROUTE_BAD_METHOD, MDROUTE_BAD_ID };

struct mdroute {
	enum mdroute_id id;
	char dump_id[DUMP_ID_SIZE]; /* the {id} segment, checked; "" when none */
	const char *allow;          /* MDROUTE_BAD_METHOD: "GET, DELETE", ... */
	bool open;                  /* OK or BAD_METHOD on an open path: no token needed */
};

const char *mdroute_name(enum mdroute_id id);
/* MDROUTE_BAD_ID fills e (ERR_INVALID, a message for the client). */
enum mdroute_result mdroute_match(const char *method, const char *path, struct mdroute *out,
                                  struct err *e);

#endif
