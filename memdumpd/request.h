/*
 * request: the pure parsers of what clients send memdumpd (no I/O, no state):
 * the POST /api/dumps body, the GET /api/dumps query string and the Range header.
 * Every input is untrusted: lengths are capped, errors are ERR_INVALID (bad syntax
 * or value) or ERR_TOO_LARGE with a message fit for the client. Thread-safe.
 */
#ifndef MEMDUMPD_REQUEST_H
#define MEMDUMPD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "dump.h"
#include "err.h"

#define REQUEST_BODY_MAX (64u * 1024)
#define REQUEST_LIMIT_DEFAULT 200
#define REQUEST_LIMIT_MAX 1000

/* POST /api/dumps: {"vm": NAME, "format": FMT?, "requested_by": USER?}; unknown
 * members are refused; USER follows dump_user_check, null is the same as absent. */
struct request_create {
	char vm[DUMP_VM_NAME_MAX + 1];
	enum dump_format format;
	char requested_by[DUMP_USER_MAX + 1]; /* "" when absent */
	bool bad_json;                        /* set on failure when the body is not JSON at all */
};
int request_create_parse(const char *body, size_t len, struct request_create *out, struct err *e);

/* GET /api/dumps?state=S&vm=NAME&limit=N; each key at most once. */
struct request_list {
	bool has_state;
	enum dump_state state;
	bool has_vm;
	char vm[DUMP_VM_NAME_MAX + 1];
	int limit;
};
/* Percent-decoded key/value pairs as MHD hands them over, one call per pair. */
void request_list_init(struct request_list *q);
int request_list_add(struct request_list *q, const char *key, const char *value, struct err *e);

/*
 * Range header for a file of `size` bytes: "bytes=A-B", "bytes=A-" or "bytes=-N",
 * one range only. Returns 1 and [*first, *last] (inclusive) for a satisfiable range,
 * -1 with e for anything else (the caller answers 416).
 */
int request_range_parse(const char *header, unsigned long long size, unsigned long long *first,
                        unsigned long long *last, struct err *e);

#endif
