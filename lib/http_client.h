/*
 * http_client: the only module that includes libcurl.
 *
 * A struct http_client owns one CURL easy handle, so consecutive requests to the
 * same host reuse one keep-alive connection. It is NOT thread-safe: use one per
 * thread (or per peer). Every request has a total timeout and a connect timeout,
 * CURLOPT_NOSIGNAL is set, redirects are not followed, and response bodies are
 * capped (ERR_TOO_LARGE past the cap). libcurl's global init happens once, in
 * http_client_global_init(), which main() calls before starting threads.
 * Ownership: requests are borrowed; a response's body is owned by the response
 * until http_client_response_release().
 */
#ifndef MEMDUMP_HTTP_CLIENT_H
#define MEMDUMP_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define HTTP_RESPONSE_MAX_DEFAULT (16u << 20) /* 16 MiB */

struct http_client;

struct http_request {
	const char *method; /* "GET", "POST", "DELETE", ... */
	const char *url;    /* absolute URL */
	const char *body;   /* may be NULL */
	size_t body_len;
	const char *content_type; /* for body; NULL: none */
	const char *bearer;       /* Authorization: Bearer <bearer> when non-NULL and non-empty */
	const char *auth_scheme;  /* scheme word for bearer ("Bearer" when NULL, e.g. "Token") */
	size_t max_response;      /* 0: HTTP_RESPONSE_MAX_DEFAULT */
	long timeout_ms;          /* 0: the client's default */
};

struct http_response {
	long status; /* HTTP status, 0 when no answer */
	char *body;  /* NUL-terminated, owned */
	size_t body_len;
	char content_type[128];
	double total_s; /* time the exchange took */
	bool reused;    /* answered on a kept-alive connection (no new connect) */
};

void http_client_global_init(void);
/* At exit, after every client is freed (lets LeakSanitizer see a clean heap). */
void http_client_global_cleanup(void);

/* default_timeout_ms applies to requests whose timeout_ms is 0. Never fails. */
struct http_client *http_client_new(long default_timeout_ms);
void http_client_free(struct http_client *c);

/*
 * Perform one request. Returns 0 when an HTTP answer arrived (any status; check
 * resp->status), -1 with e on transport failure: ERR_UNAVAILABLE (connection
 * refused, DNS), ERR_TIMEOUT, ERR_TOO_LARGE (answer over the cap), ERR_PROTOCOL.
 * The message names the URL (without credentials).
 */
int http_client_do(struct http_client *c, const struct http_request *req,
                   struct http_response *resp, struct err *e);
/* resp is zeroed first in every case; on -1 it holds no body (release is still safe). */

/*
 * Perform n requests concurrently (curl multi), request i on client i; one slow
 * peer does not delay the others beyond its own timeout. rc[i] is what
 * http_client_do would have returned for request i, errs[i] its error.
 */
void http_client_do_many(struct http_client **clients, const struct http_request *reqs,
                         struct http_response *resps, int *rc, struct err *errs, size_t n);

void http_client_response_release(struct http_response *resp);

/* Percent-encode s for a URL query or path segment into a new string. */
char *http_client_url_escape(const char *s);

#endif
