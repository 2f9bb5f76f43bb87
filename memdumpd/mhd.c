/*
 * mhd: see mhd.h. libmicrohttpd ownership, stated once: a struct mhd_conn per
 * request lives from the first callback to MHD_OPTION_NOTIFY_COMPLETED; the
 * strings MHD hands over (URL, method, headers, query pairs) live as long as the
 * request, so the exchange borrows them. Responses are created, queued and
 * destroyed here; a body is handed over with MHD_RESPMEM_MUST_FREE and a file
 * descriptor given to MHD_create_response_from_fd_at_offset64 is closed by MHD.
 */
#include "mhd.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mdexch.h"
#include "xmalloc.h"

#define MHD_CONN_LIMIT 128
#define MHD_IDLE_TIMEOUT_S 60

struct mhd {
	struct MHD_Daemon *daemon;
	struct mdapi *api; /* borrowed */
};

struct mhd_conn {
	char *body;
	size_t len;
	bool too_large;
};

/* Collects what MHD_get_connection_values hands over. */
struct mhd_pairs {
	struct mdexch_pair *v;
	size_t n, cap, max;
};

static enum MHD_Result mhd_pair_add(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
	struct mhd_pairs *p = cls;

	(void)kind;
	if (p->n == p->max)
		return MHD_NO;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->v = xrealloc(p->v, p->cap * sizeof(*p->v));
	}
	p->v[p->n].key = key;
	p->v[p->n++].value = value;
	return MHD_YES;
}

/* Send r (its body and fd go to MHD); r is released. */
static enum MHD_Result mhd_send(struct MHD_Connection *c, struct mdexch_resp *r)
{
	struct MHD_Response *mr;
	enum MHD_Result ret;

	if (r->fd >= 0) {
		mr = MHD_create_response_from_fd_at_offset64(r->file_len, r->fd,
		                                             (uint64_t)r->file_off);
		if (mr != NULL)
			r->fd = -1;
	} else if (r->body != NULL) {
		mr = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
		if (mr != NULL)
			r->body = NULL;
	} else {
		mr = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	}
	if (mr == NULL) {
		log_error("response_create_failed", "status=%d", r->status);
		mdexch_resp_release(r);
		return MHD_NO;
	}
	for (size_t i = 0; i < r->n_headers; i++)
		MHD_add_response_header(mr, r->headers[i].key, r->headers[i].value);
	ret = MHD_queue_response(c, (unsigned)r->status, mr);
	MHD_destroy_response(mr);
	mdexch_resp_release(r);
	return ret;
}

static enum MHD_Result mhd_handler(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
	struct mhd *h = cls;
	struct mhd_conn *cn = *con_cls;
	struct mhd_pairs hdrs = {NULL, 0, 0, SIZE_MAX}, args = {NULL, 0, 0, MDEXCH_ARGS_MAX};
	struct mdexch_req q;
	struct mdexch_resp r;
	enum MHD_Result ret;

	(void)version;
	if (cn == NULL) {
		*con_cls = xcalloc(1, sizeof(struct mhd_conn));
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		if (!cn->too_large && cn->len + n <= MDEXCH_BODY_MAX) {
			cn->body = xrealloc(cn->body, cn->len + n + 1);
			memcpy(cn->body + cn->len, upload_data, n);
			cn->len += n;
			cn->body[cn->len] = '\0';
		} else {
			cn->too_large = true;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* headers: as many as MHD's connection memory held; query pairs: capped */
	MHD_get_connection_values(c, MHD_HEADER_KIND, mhd_pair_add, &hdrs);
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, mhd_pair_add, &args);
	memset(&q, 0, sizeof(q));
	q.method = method;
	q.path = url;
	q.headers = hdrs.v;
	q.n_headers = hdrs.n;
	q.args = args.v;
	q.n_args = args.n;
	q.body = cn->body;
	q.body_len = cn->len;
	q.body_too_large = cn->too_large;
	mdexch_resp_init(&r);
	mdapi_handle(h->api, &q, &r);
	ret = mhd_send(c, &r);
	free(hdrs.v);
	free(args.v);
	return ret;
}

static void mhd_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
	struct mhd_conn *cn = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (cn != NULL) {
		free(cn->body);
		free(cn);
		*con_cls = NULL;
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_warn("httpd", "message=%s", log_q(buf));
}

struct mhd *mhd_start(const char *listen, struct mdapi *api, struct err *e)
{
	struct addrinfo hints = {0}, *ai = NULL;
	char host[256];
	const char *colon = strrchr(listen, ':');
	size_t hl;
	struct mhd *h;
	int rc;

	if (colon == NULL || (hl = (size_t)(colon - listen)) >= sizeof(host)) {
		err_set(e, ERR_INVALID, "MEMDUMP_LISTEN '%s' is not HOST:PORT", listen);
		return NULL;
	}
	memcpy(host, listen, hl);
	host[hl] = '\0';
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
	if (rc != 0) {
		err_set(e, ERR_INVALID, "MEMDUMP_LISTEN '%s': %s", listen, gai_strerror(rc));
		return NULL;
	}
	h = xcalloc(1, sizeof(*h));
	h->api = api;
	h->daemon = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG |
	        (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	    0, NULL, NULL, mhd_handler, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)MHD_CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)MHD_IDLE_TIMEOUT_S,
	    MHD_OPTION_NOTIFY_COMPLETED, mhd_completed, NULL, MHD_OPTION_END);
	freeaddrinfo(ai);
	if (h->daemon == NULL) {
		err_set(e, ERR_IO, "cannot listen on %s (MEMDUMP_LISTEN): %s", listen,
		        errno ? ERR_ERRNO(errno) : "libmicrohttpd refused");
		free(h);
		return NULL;
	}
	return h;
}

void mhd_stop(struct mhd *h)
{
	if (h == NULL)
		return;
	MHD_stop_daemon(h->daemon);
	free(h);
}
