/*
 * exchange: one API request as the worker received it and the response a
 * handler builds for it, with no I/O (worker.c moves them to and from FastCGI).
 * A struct exch_req borrows every string from the FastCGI request; a struct
 * exch_resp owns its headers and body until exch_resp_release(). Also the pure
 * checks every state-changing call passes: JSON media type and same origin.
 */
#ifndef MEMDUMP_EXCHANGE_H
#define MEMDUMP_EXCHANGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct identity;

#define EXCH_BODY_MAX (64u * 1024u) /* request body cap (nginx client_max_body_size too) */
#define EXCH_HEADERS_MAX 12
#define EXCH_HEADER_MAX 1024

struct exch_req {
	const char *method;       /* REQUEST_METHOD */
	const char *path;         /* PATH_INFO: decoded, normalised by nginx */
	const char *query;        /* QUERY_STRING, raw ("" when none) */
	const char *content_type; /* CONTENT_TYPE or NULL */
	const char *origin;       /* HTTP_ORIGIN or NULL */
	const char *host;         /* HTTP_HOST or NULL */
	const char *accel_prefix; /* MEMDUMP_ACCEL_PREFIX fastcgi_param (trusted), or NULL */
	const char *body;         /* NUL-terminated copy, may be NULL */
	size_t body_len;
	bool body_too_large; /* more than EXCH_BODY_MAX bytes were sent */
	/* credentials and attribution (fcgi/auth.c) */
	const char *authorization; /* HTTP_AUTHORIZATION or NULL */
	const char *cookie;        /* HTTP_COOKIE or NULL */
	const char *remote_user;   /* MEMDUMP_REMOTE_USER fastcgi_param (trusted only with
	                            * MEMDUMP_TRUST_REMOTE_USER=yes) */
	const char *remote_groups; /* MEMDUMP_REMOTE_GROUPS fastcgi_param, comma-separated */
	const char *remote_addr;   /* REMOTE_ADDR */
	const char *request_id;    /* MEMDUMP_REQUEST_ID fastcgi_param ($request_id) or "" */
	bool https;                /* HTTPS=on: cookies get Secure */
	/* set by the auth gate before any handler runs; never NULL in a handler */
	const struct identity *who;
};

struct exch_resp {
	int status;
	char *headers[EXCH_HEADERS_MAX]; /* "Name: value", owned */
	size_t n_headers;
	char *body; /* owned, may be NULL */
	size_t body_len;
	const char *content_type; /* static string */
};

/* Reason phrase for a status ("Accepted"), "Unknown" for others. */
const char *exch_status_text(int status);

/* Set status and a JSON body (steals v). */
void exch_resp_json(struct exch_resp *r, int status, json_t *v);
/* Set status and a JSON body already serialised (steals body, a malloc'd buffer). */
void exch_resp_body(struct exch_resp *r, int status, char *body, size_t len);
/* {"error":{"code","message"}} with status. */
void exch_resp_error(struct exch_resp *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Same, with one more member in "error" (steals extra_value). */
void exch_resp_error_with(struct exch_resp *r, int status, const char *code, const char *key,
                          json_t *extra_value, const char *msg);
/* Add a header; values with CR, LF or NUL, or too long, are dropped (returns -1). */
int exch_resp_header(struct exch_resp *r, const char *name, const char *value);
/* Remove the headers added since r->n_headers was `from` (undo a half-built answer). */
void exch_resp_headers_drop(struct exch_resp *r, size_t from);
void exch_resp_release(struct exch_resp *r);

/* The CSRF gate of state-changing calls: 415 unless the media type is
 * application/json (parameters allowed), 403 when an Origin is present and its
 * host[:port] differs from Host. Returns 0 or fills r and returns -1. */
int exch_require_json_same_origin(const struct exch_req *q, struct exch_resp *r);

/* Pure parts, exposed for tests. */
bool exch_media_is_json(const char *content_type);
bool exch_origin_matches(const char *origin, const char *host);

#endif
