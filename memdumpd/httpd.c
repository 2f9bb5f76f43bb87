/*
 * httpd: the libmicrohttpd adapter (see httpd.h).
 * DESIGN: one struct conn per request collects the body (bytes past the cap are
 * counted and dropped, so the answer is a clean 413); the final callback routes
 * on method and path and answers JSON built by the queue. libmicrohttpd
 * ownership: responses are created, queued and destroyed here; JSON text is
 * handed over with MHD_RESPMEM_MUST_FREE; file descriptors given to
 * MHD_create_response_from_fd_at_offset64 are closed by MHD.
 */
#include "httpd.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "dump.h"
#include "json_util.h"
#include "log.h"
#include "request.h"
#include "xmalloc.h"

#define HTTPD_VERSION "0.1.0"
#define HTTPD_CONN_LIMIT 128
#define HTTPD_IDLE_TIMEOUT_S 60

struct httpd {
	struct MHD_Daemon *mhd;
	struct httpd_ctx ctx; /* ctx.token is not kept: token_sha */
	time_t started;
	pthread_mutex_t token_lock;
	bool token_set;
	unsigned char token_sha[SHA256_DIGEST_LENGTH];
};

struct conn {
	char *body;
	size_t len;
	bool too_large;
};

/* Send body (consumed) as JSON; allow (NULL: none) is the Allow header of a 405. */
static enum MHD_Result httpd_send_allow(struct MHD_Connection *c, unsigned status, json_t *body,
                                        const char *allow)
{
	char *text = jsonu_dump(body);
	struct MHD_Response *r;
	enum MHD_Result ret;

	json_decref(body);
	r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	if (allow != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result httpd_send(struct MHD_Connection *c, unsigned status, json_t *body)
{
	return httpd_send_allow(c, status, body, NULL);
}

static enum MHD_Result httpd_error(struct MHD_Connection *c, unsigned status, const char *code,
                                   const char *msg)
{
	return httpd_send(c, status, jsonu_error_new(code, "%s", msg));
}

static unsigned httpd_status_of(enum err_code code)
{
	switch (code) {
	case ERR_INVALID:
		return MHD_HTTP_BAD_REQUEST;
	case ERR_NOT_FOUND:
		return MHD_HTTP_NOT_FOUND;
	case ERR_CONFLICT:
		return MHD_HTTP_CONFLICT;
	case ERR_TOO_LARGE:
		return MHD_HTTP_CONTENT_TOO_LARGE;
	case ERR_UNSUPPORTED:
		return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
	case ERR_UNAVAILABLE:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	case ERR_TIMEOUT:
		return MHD_HTTP_GATEWAY_TIMEOUT;
	case ERR_NO_SPACE:
		return MHD_HTTP_INSUFFICIENT_STORAGE;
	case ERR_AUTH:
		return MHD_HTTP_UNAUTHORIZED;
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

static const char *httpd_code_of(enum err_code code)
{
	switch (code) {
	case ERR_INVALID:
		return "invalid_field";
	case ERR_NOT_FOUND:
		return "not_found";
	case ERR_CONFLICT:
		return "conflict";
	case ERR_NO_SPACE:
		return "insufficient_storage";
	case ERR_UNAVAILABLE:
		return "libvirt_unavailable";
	default:
		return "internal_error";
	}
}

static enum MHD_Result httpd_err(struct MHD_Connection *c, const struct err *e)
{
	return httpd_error(c, httpd_status_of(e->code), httpd_code_of(e->code), e->msg);
}

void httpd_set_token(struct httpd *h, const char *token)
{
	pthread_mutex_lock(&h->token_lock);
	h->token_set = token != NULL && token[0] != '\0';
	if (h->token_set)
		SHA256((const unsigned char *)token, strlen(token), h->token_sha);
	pthread_mutex_unlock(&h->token_lock);
}

/* Constant-time check of "Authorization: Bearer TOKEN" (compare SHA-256 digests). */
static bool httpd_authorized(struct httpd *h, struct MHD_Connection *c)
{
	const char *hdr = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	unsigned char want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];
	bool set;

	pthread_mutex_lock(&h->token_lock);
	set = h->token_set;
	memcpy(want, h->token_sha, sizeof(want));
	pthread_mutex_unlock(&h->token_lock);
	if (!set)
		return true;
	if (hdr == NULL || strncmp(hdr, "Bearer ", 7) != 0)
		return false;
	SHA256((const unsigned char *)hdr + 7, strlen(hdr + 7), got);
	return CRYPTO_memcmp(want, got, sizeof(want)) == 0;
}

static enum MHD_Result httpd_health(struct httpd *h, struct MHD_Connection *c)
{
	json_t *o = json_object(), *lv = json_object(), *dk = json_object(), *qu = json_object(),
	       *ix = json_object();
	char verr[256] = "", ierr[256] = "";
	bool vok = virt_ok(h->ctx.virt, verr, sizeof(verr)), iok = false;
	int running = 0, queued = 0, spooled = 0, max_concurrent = 0;
	struct statvfs sv;

	spool_status(h->ctx.spool, &iok, &spooled, ierr, sizeof(ierr));
	queue_counts(h->ctx.queue, &running, &queued, &max_concurrent);
	json_object_set_new(o, "status", json_string(vok && iok ? "ok" : "degraded"));
	json_object_set_new(o, "host", json_string(h->ctx.host));
	json_object_set_new(o, "version", json_string(HTTPD_VERSION));
	json_object_set_new(o, "uptime_s", json_integer(time(NULL) - h->started));
	json_object_set_new(lv, "ok", json_boolean(vok));
	json_object_set_new(lv, "uri", json_string(virt_uri(h->ctx.virt)));
	json_object_set_new(lv, "error", vok ? json_null() : json_string(verr));
	json_object_set_new(o, "libvirt", lv);
	json_object_set_new(dk, "path", json_string(h->ctx.dump_dir));
	if (statvfs(h->ctx.dump_dir, &sv) == 0) {
		json_object_set_new(dk, "free_bytes",
		                    json_integer((json_int_t)(sv.f_bavail * sv.f_frsize)));
		json_object_set_new(dk, "total_bytes",
		                    json_integer((json_int_t)(sv.f_blocks * sv.f_frsize)));
	} else {
		json_object_set_new(dk, "free_bytes", json_null());
		json_object_set_new(dk, "total_bytes", json_null());
	}
	json_object_set_new(o, "disk", dk);
	json_object_set_new(qu, "running", json_integer(running));
	json_object_set_new(qu, "queued", json_integer(queued));
	json_object_set_new(qu, "max_concurrent", json_integer(max_concurrent));
	json_object_set_new(o, "queue", qu);
	json_object_set_new(ix, "ok", json_boolean(iok));
	json_object_set_new(ix, "spooled", json_integer(spooled));
	json_object_set_new(ix, "error", iok ? json_null() : json_string(ierr));
	json_object_set_new(o, "influx", ix);
	return httpd_send(c, MHD_HTTP_OK, o);
}

static enum MHD_Result httpd_vms(struct httpd *h, struct MHD_Connection *c)
{
	json_t *vms = NULL, *o;
	struct err e = {0};

	if (virt_list(h->ctx.virt, &vms, &e) < 0)
		return httpd_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "libvirt_unavailable", e.msg);
	o = json_object();
	json_object_set_new(o, "host", json_string(h->ctx.host));
	json_object_set_new(o, "vms", vms);
	return httpd_send(c, MHD_HTTP_OK, o);
}

static enum MHD_Result httpd_create(struct httpd *h, struct MHD_Connection *c, struct conn *cn)
{
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	struct request_create rq;
	struct err e = {0};
	char conflict[DUMP_ID_SIZE] = "";
	json_t *dump = NULL, *o;

	if (cn->too_large)
		return httpd_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
		                   "the body exceeds 65536 bytes");
	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';'))
		return httpd_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
		                   "send the body as Content-Type: application/json");
	if (request_create_parse(cn->body ? cn->body : "", cn->len, &rq, &e) < 0)
		return httpd_error(c, MHD_HTTP_BAD_REQUEST,
		                   rq.bad_json ? "invalid_json" : "invalid_field", e.msg);
	if (queue_create(h->ctx.queue, rq.vm, rq.format,
	                 rq.requested_by[0] != '\0' ? rq.requested_by : NULL, &dump, conflict,
	                 &e) < 0) {
		json_t *err;

		switch (e.code) {
		case ERR_NOT_FOUND:
			return httpd_error(c, MHD_HTTP_NOT_FOUND, "vm_not_found", e.msg);
		case ERR_CONFLICT:
			err = jsonu_error_new("dump_in_progress", "%s", e.msg);
			json_object_set_new(json_object_get(err, "error"), "dump_id",
			                    json_string(conflict));
			return httpd_send(c, MHD_HTTP_CONFLICT, err);
		default:
			return httpd_err(c, &e);
		}
	}
	o = json_object();
	json_object_set_new(o, "dump", dump);
	return httpd_send(c, MHD_HTTP_ACCEPTED, o);
}

struct list_args {
	struct request_list q;
	struct err e;
	bool bad;
};

static enum MHD_Result httpd_list_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
	struct list_args *a = cls;

	(void)kind;
	if (!a->bad && request_list_add(&a->q, key, value, &a->e) < 0)
		a->bad = true;
	return a->bad ? MHD_NO : MHD_YES;
}

static enum MHD_Result httpd_list(struct httpd *h, struct MHD_Connection *c)
{
	struct list_args a;
	json_t *o;

	memset(&a, 0, sizeof(a));
	request_list_init(&a.q);
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, httpd_list_arg, &a);
	if (a.bad)
		return httpd_error(c, MHD_HTTP_BAD_REQUEST, "invalid_field", a.e.msg);
	o = json_object();
	json_object_set_new(o, "host", json_string(h->ctx.host));
	json_object_set_new(o, "dumps", queue_list(h->ctx.queue, &a.q));
	return httpd_send(c, MHD_HTTP_OK, o);
}

static enum MHD_Result httpd_file(struct httpd *h, struct MHD_Connection *c, const char *id,
                                  bool head)
{
	char *path = NULL, sha[65];
	unsigned long long size = 0, first = 0, last = 0;
	const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
	const char *base;
	struct err e = {0};
	struct stat st;
	struct MHD_Response *r;
	enum MHD_Result ret;
	unsigned status = MHD_HTTP_OK;
	char hdr[128], *disp;
	int fd;

	if (queue_file(h->ctx.queue, id, &path, &size, sha, &e) < 0)
		return httpd_err(c, &e);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (unsigned long long)st.st_size != size) {
		if (fd >= 0)
			close(fd);
		log_error("dump_file_missing", "id=%s path=%s", id, log_q(path));
		free(path);
		return httpd_error(c, MHD_HTTP_GONE, "file_gone",
		                   "the dump's file is missing or changed on disk");
	}
	if (range != NULL) {
		if (request_range_parse(range, size, &first, &last, &e) < 0) {
			close(fd);
			free(path);
			json_t *err = jsonu_error_new("range_not_satisfiable", "%s", e.msg);
			char *text = jsonu_dump(err);

			json_decref(err);
			snprintf(hdr, sizeof(hdr), "bytes */%llu", size);
			r = MHD_create_response_from_buffer(strlen(text), text,
			                                    MHD_RESPMEM_MUST_FREE);
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
			                        "application/json");
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, hdr);
			ret = MHD_queue_response(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, r);
			MHD_destroy_response(r);
			return ret;
		}
		status = MHD_HTTP_PARTIAL_CONTENT;
	} else {
		last = size == 0 ? 0 : size - 1;
	}
	if (head || size == 0) {
		close(fd);
		r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	} else {
		r = MHD_create_response_from_fd_at_offset64(last - first + 1, fd, (uint64_t)first);
	}
	base = strrchr(path, '/');
	disp = xasprintf("attachment; filename=\"%s\"", base ? base + 1 : path);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
	MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	MHD_add_response_header(r, "X-Dump-SHA256", sha);
	if (status == MHD_HTTP_PARTIAL_CONTENT) {
		snprintf(hdr, sizeof(hdr), "bytes %llu-%llu/%llu", first, last, size);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, hdr);
	}
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	free(disp);
	free(path);
	return ret;
}

static enum MHD_Result httpd_method_not_allowed(struct MHD_Connection *c, const char *allow)
{
	return httpd_send_allow(
	    c, MHD_HTTP_METHOD_NOT_ALLOWED,
	    jsonu_error_new("method_not_allowed", "allowed methods here: %s", allow), allow);
}

static enum MHD_Result httpd_dump_routes(struct httpd *h, struct MHD_Connection *c,
                                         const char *method, const char *rest)
{
	char id[DUMP_ID_SIZE];
	const char *slash = strchr(rest, '/');
	size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
	struct err e = {0};
	json_t *dump = NULL, *o;
	unsigned int status = MHD_HTTP_OK;

	if (idlen != DUMP_ID_LEN) {
		return httpd_error(c, MHD_HTTP_BAD_REQUEST, "invalid_id",
		                   "a dump id looks like 20261122T183000Z-0123456789ab");
	}
	memcpy(id, rest, idlen);
	id[idlen] = '\0';
	if (dump_id_check(id, &e) < 0)
		return httpd_error(c, MHD_HTTP_BAD_REQUEST, "invalid_id", e.msg);
	if (slash != NULL) {
		if (strcmp(slash, "/file") != 0)
			return httpd_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint");
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return httpd_method_not_allowed(c, "GET, HEAD");
		return httpd_file(h, c, id, strcmp(method, "HEAD") == 0);
	}
	if (strcmp(method, "GET") == 0) {
		if (queue_get(h->ctx.queue, id, &dump, &e) < 0)
			return httpd_err(c, &e);
	} else if (strcmp(method, "DELETE") == 0) {
		if (queue_cancel(h->ctx.queue, id, &dump, &e) < 0)
			return httpd_err(c, &e);
		/* not stopped within the cancel's wait: accepted, still stopping */
		if (!dump_state_name_is_final(jsonu_str(dump, "state")))
			status = MHD_HTTP_ACCEPTED;
	} else {
		return httpd_method_not_allowed(c, "GET, DELETE");
	}
	o = json_object();
	json_object_set_new(o, "dump", dump);
	return httpd_send(c, status, o);
}

static enum MHD_Result httpd_route(struct httpd *h, struct MHD_Connection *c, const char *url,
                                   const char *method, struct conn *cn)
{
	if (strcmp(url, "/api/health") == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return httpd_method_not_allowed(c, "GET");
		return httpd_health(h, c);
	}
	if (!httpd_authorized(h, c)) {
		log_warn("unauthorized", "method=%s url=%s", log_q(method), log_q(url));
		return httpd_error(c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
		                   "this memdumpd needs Authorization: Bearer TOKEN "
		                   "(MEMDUMP_SERVICE_TOKEN)");
	}
	if (strcmp(url, "/api/vms") == 0) {
		if (strcmp(method, "GET") != 0)
			return httpd_method_not_allowed(c, "GET");
		return httpd_vms(h, c);
	}
	if (strcmp(url, "/api/dumps") == 0) {
		if (strcmp(method, "GET") == 0)
			return httpd_list(h, c);
		if (strcmp(method, "POST") == 0)
			return httpd_create(h, c, cn);
		return httpd_method_not_allowed(c, "GET, POST");
	}
	if (strncmp(url, "/api/dumps/", 11) == 0)
		return httpd_dump_routes(h, c, method, url + 11);
	return httpd_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint");
}

static enum MHD_Result httpd_handler(void *cls, struct MHD_Connection *c, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
	struct httpd *h = cls;
	struct conn *cn = *con_cls;

	(void)version;
	if (cn == NULL) {
		*con_cls = xcalloc(1, sizeof(struct conn));
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		if (!cn->too_large && cn->len + n <= REQUEST_BODY_MAX) {
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
	log_debug("request", "method=%s url=%s", log_q(method), log_q(url));
	return httpd_route(h, c, url, method, cn);
}

static void httpd_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                            enum MHD_RequestTerminationCode toe)
{
	struct conn *cn = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (cn != NULL) {
		free(cn->body);
		free(cn);
		*con_cls = NULL;
	}
}

static void httpd_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_warn("httpd", "message=%s", log_q(buf));
}

struct httpd *httpd_start(const char *listen, const struct httpd_ctx *ctx, struct err *e)
{
	struct addrinfo hints = {0}, *ai = NULL;
	char host[256];
	const char *colon = strrchr(listen, ':');
	size_t hl;
	struct httpd *h;
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
	h->ctx = *ctx;
	h->ctx.token = NULL;
	h->started = time(NULL);
	pthread_mutex_init(&h->token_lock, NULL);
	httpd_set_token(h, ctx->token);
	h->mhd =
	    MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	                         MHD_USE_ERROR_LOG | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	                     0, NULL, NULL, httpd_handler, h, MHD_OPTION_EXTERNAL_LOGGER,
	                     httpd_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
	                     MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTPD_CONN_LIMIT,
	                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTPD_IDLE_TIMEOUT_S,
	                     MHD_OPTION_NOTIFY_COMPLETED, httpd_completed, NULL, MHD_OPTION_END);
	freeaddrinfo(ai);
	if (h->mhd == NULL) {
		err_set(e, ERR_IO, "cannot listen on %s (MEMDUMP_LISTEN): %s", listen,
		        errno ? strerror(errno) : "libmicrohttpd refused");
		pthread_mutex_destroy(&h->token_lock);
		free(h);
		return NULL;
	}
	return h;
}

void httpd_stop(struct httpd *h)
{
	if (h == NULL)
		return;
	MHD_stop_daemon(h->mhd);
	pthread_mutex_destroy(&h->token_lock);
	OPENSSL_cleanse(h->token_sha, sizeof(h->token_sha));
	free(h);
}
