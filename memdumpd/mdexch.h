/*
 * mdexch: one memdumpd API request as the adapter (mhd.c) received it and the
 * answer a handler builds for it, with no I/O and no libmicrohttpd. A struct
 * mdexch_req borrows every string from the adapter for the request's duration; a
 * struct mdexch_resp owns its headers, its body and its file descriptor until
 * mdexch_resp_release() or until the adapter takes them. Also the one mapping of
 * an error code to an HTTP status and a JSON error code (mdexch_status_of and
 * mdexch_code_of). Pure; thread-safe.
 */
#ifndef MEMDUMPD_MDEXCH_H
#define MEMDUMPD_MDEXCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "request.h"

#define MDEXCH_BODY_MAX REQUEST_BODY_MAX /* request body cap: more is a 413 */
#define MDEXCH_ARGS_MAX 16               /* query pairs kept (three keys exist) */
#define MDEXCH_HEADERS_OUT_MAX 8

struct mdexch_pair {
	const char *key;   /* borrowed */
	const char *value; /* borrowed, NULL for "?key" without '=' */
};

struct mdexch_req {
	const char *method;                /* "GET", ... */
	const char *path;                  /* decoded path, no query string */
	const struct mdexch_pair *args;    /* decoded query pairs in order, n_args of them */
	size_t n_args;                     /* at most MDEXCH_ARGS_MAX */
	const struct mdexch_pair *headers; /* request headers in order (names as sent) */
	size_t n_headers;
	const char *body; /* NUL-terminated, may be NULL */
	size_t body_len;
	bool body_too_large; /* more than MDEXCH_BODY_MAX bytes were sent */
};

struct mdexch_resp {
	int status;
	struct mdexch_pair headers[MDEXCH_HEADERS_OUT_MAX]; /* key static, value owned */
	size_t n_headers;
	char *body; /* owned (malloc), may be NULL */
	size_t body_len;
	/* a file answer instead of body: fd >= 0 (owned), file_len bytes from file_off */
	int fd;
	unsigned long long file_off, file_len;
};

/* The first header of that name (case-insensitive) or NULL; borrowed. */
const char *mdexch_header(const struct mdexch_req *q, const char *name);

/* An empty answer: status 0, no headers, no body, fd -1. */
void mdexch_resp_init(struct mdexch_resp *r);
/* Add a header (name static, value copied); beyond MDEXCH_HEADERS_OUT_MAX it is dropped. */
void mdexch_resp_header(struct mdexch_resp *r, const char *name, const char *value);
/* Status and a JSON body (steals v), with Content-Type: application/json and
 * Cache-Control: no-store. */
void mdexch_resp_json(struct mdexch_resp *r, int status, json_t *v);
/* {"error":{"code","message"}} with status. */
void mdexch_resp_error(struct mdexch_resp *r, int status, const char *code, const char *msg);
/* The error of e, status and code from the mapping below. */
void mdexch_resp_err(struct mdexch_resp *r, const struct err *e);
/* Free headers and body, close the fd; r is empty again. */
void mdexch_resp_release(struct mdexch_resp *r);

/* The one mapping of an error code to what the client sees. */
int mdexch_status_of(enum err_code code);
const char *mdexch_code_of(enum err_code code);

#endif
