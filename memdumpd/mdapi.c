/*
 * mdapi: see mdapi.h. The token is kept as its SHA-256 so that comparing it takes
 * the same time whatever the client sent. File answers hand an open descriptor
 * to the adapter (which streams it); the file is checked against the size the
 * queue recorded so a changed file is a 410, never a wrong download.
 */
#include "mdapi.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "dump.h"
#include "json_util.h"
#include "log.h"
#include "mdroute.h"
#include "request.h"
#include "xmalloc.h"

#define MDAPI_VERSION "0.1.0"

struct mdapi {
	struct mdapi_config cfg; /* cfg.token is not kept: token_sha */
	time_t started;
	pthread_mutex_t token_lock;
	bool token_set;
	unsigned char token_sha[SHA256_DIGEST_LENGTH];
};

struct mdapi *mdapi_new(const struct mdapi_config *cfg)
{
	struct mdapi *a = xcalloc(1, sizeof(*a));

	a->cfg = *cfg;
	a->cfg.token = NULL;
	a->started = time(NULL);
	pthread_mutex_init(&a->token_lock, NULL);
	mdapi_set_token(a, cfg->token);
	return a;
}

void mdapi_free(struct mdapi *a)
{
	if (a == NULL)
		return;
	pthread_mutex_destroy(&a->token_lock);
	OPENSSL_cleanse(a->token_sha, sizeof(a->token_sha));
	free(a);
}

void mdapi_set_token(struct mdapi *a, const char *token)
{
	pthread_mutex_lock(&a->token_lock);
	a->token_set = token != NULL && token[0] != '\0';
	if (a->token_set)
		SHA256((const unsigned char *)token, strlen(token), a->token_sha);
	pthread_mutex_unlock(&a->token_lock);
}

/* Constant-time check of "Authorization: Bearer TOKEN" (compare SHA-256 digests). */
static bool mdapi_authorized(struct mdapi *a, const struct mdexch_req *q)
{
	const char *hdr = mdexch_header(q, "Authorization");
	unsigned char want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];
	bool set;

	pthread_mutex_lock(&a->token_lock);
	set = a->token_set;
	memcpy(want, a->token_sha, sizeof(want));
	pthread_mutex_unlock(&a->token_lock);
	if (!set)
		return true;
	if (hdr == NULL || strncmp(hdr, "Bearer ", 7) != 0)
		return false;
	SHA256((const unsigned char *)hdr + 7, strlen(hdr + 7), got);
	return CRYPTO_memcmp(want, got, sizeof(want)) == 0;
}

static void mdapi_health(struct mdapi *a, struct mdexch_resp *r)
{
	const struct virt_ops *vo = a->cfg.virt;
	json_t *o = json_object(), *lv = json_object(), *dk = json_object(), *qu = json_object(),
	       *ix = json_object();
	char verr[256] = "", ierr[256] = "";
	bool vok = vo->ok(vo->self, verr, sizeof(verr)), iok = false;
	int running = 0, queued = 0, spooled = 0, max_concurrent = 0;
	struct statvfs sv;

	spool_status(a->cfg.spool, &iok, &spooled, ierr, sizeof(ierr));
	queue_counts(a->cfg.queue, &running, &queued, &max_concurrent);
	json_object_set_new(o, "status", json_string(vok && iok ? "ok" : "degraded"));
	json_object_set_new(o, "host", json_string(a->cfg.host));
	json_object_set_new(o, "version", json_string(MDAPI_VERSION));
	json_object_set_new(o, "uptime_s", json_integer(time(NULL) - a->started));
	json_object_set_new(lv, "ok", json_boolean(vok));
	json_object_set_new(lv, "uri", json_string(vo->uri(vo->self)));
	json_object_set_new(lv, "error", vok ? json_null() : json_string(verr));
	json_object_set_new(o, "libvirt", lv);
	json_object_set_new(dk, "path", json_string(a->cfg.dump_dir));
	if (statvfs(a->cfg.dump_dir, &sv) == 0) {
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
	mdexch_resp_json(r, 200, o);
}

static void mdapi_vms(struct mdapi *a, struct mdexch_resp *r)
{
	const struct virt_ops *vo = a->cfg.virt;
	json_t *vms = NULL, *o;
	struct err e = {0};

	if (vo->list(vo->self, &vms, &e) < 0) {
		mdexch_resp_error(r, 503, "libvirt_unavailable", e.msg);
		return;
	}
	o = json_object();
	json_object_set_new(o, "host", json_string(a->cfg.host));
	json_object_set_new(o, "vms", vms);
	mdexch_resp_json(r, 200, o);
}

static bool mdapi_is_json(const char *ct)
{
	return ct != NULL && strncasecmp(ct, "application/json", 16) == 0 &&
	       (ct[16] == '\0' || ct[16] == ';');
}

static void mdapi_create(struct mdapi *a, const struct mdexch_req *q, struct mdexch_resp *r)
{
	struct request_create rq;
	struct err e = {0};
	char conflict[DUMP_ID_SIZE] = "";
	json_t *dump = NULL, *o, *err;

	if (q->body_too_large) {
		mdexch_resp_error(r, 413, "payload_too_large", "the body exceeds 65536 bytes");
		return;
	}
	if (!mdapi_is_json(mdexch_header(q, "Content-Type"))) {
		mdexch_resp_error(r, 415, "unsupported_media_type",
		                  "send the body as Content-Type: application/json");
		return;
	}
	if (request_create_parse(q->body ? q->body : "", q->body_len, &rq, &e) < 0) {
		mdexch_resp_error(r, 400, rq.bad_json ? "invalid_json" : "invalid_field", e.msg);
		return;
	}
	if (queue_create(a->cfg.queue, rq.vm, rq.format,
	                 rq.requested_by[0] != '\0' ? rq.requested_by : NULL, &dump, conflict,
	                 &e) < 0) {
		switch (e.code) {
		case ERR_NOT_FOUND:
			mdexch_resp_error(r, 404, "vm_not_found", e.msg);
			return;
		case ERR_CONFLICT:
			err = jsonu_error_new("dump_in_progress", "%s", e.msg);
			json_object_set_new(json_object_get(err, "error"), "dump_id",
			                    json_string(conflict));
			mdexch_resp_json(r, 409, err);
			return;
		default:
			mdexch_resp_err(r, &e);
			return;
		}
	}
	o = json_object();
	json_object_set_new(o, "dump", dump);
	mdexch_resp_json(r, 202, o);
}

static void mdapi_list(struct mdapi *a, const struct mdexch_req *q, struct mdexch_resp *r)
{
	struct request_list f;
	struct err e = {0};
	json_t *o;

	request_list_init(&f);
	for (size_t i = 0; i < q->n_args; i++) {
		if (request_list_add(&f, q->args[i].key, q->args[i].value, &e) < 0) {
			mdexch_resp_error(r, 400, "invalid_field", e.msg);
			return;
		}
	}
	o = json_object();
	json_object_set_new(o, "host", json_string(a->cfg.host));
	json_object_set_new(o, "dumps", queue_list(a->cfg.queue, &f));
	mdexch_resp_json(r, 200, o);
}

static void mdapi_file(struct mdapi *a, const struct mdexch_req *q, const char *id,
                       struct mdexch_resp *r)
{
	char *path = NULL, sha[65], hdr[128], *disp;
	unsigned long long size = 0, first = 0, last = 0;
	const char *range = mdexch_header(q, "Range"), *base;
	struct err e = {0};
	struct stat st;
	int fd, status = 200;

	if (queue_file(a->cfg.queue, id, &path, &size, sha, &e) < 0) {
		mdexch_resp_err(r, &e);
		return;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (unsigned long long)st.st_size != size) {
		if (fd >= 0)
			close(fd);
		log_error("dump_file_missing", "id=%s path=%s", id, log_q(path));
		mdexch_resp_error(r, 410, "file_gone",
		                  "the dump's file is missing or changed on disk");
		goto out;
	}
	if (range != NULL) {
		if (request_range_parse(range, size, &first, &last, &e) < 0) {
			json_t *err = jsonu_error_new("range_not_satisfiable", "%s", e.msg);

			close(fd);
			r->status = 416;
			r->body = jsonu_dump(err);
			r->body_len = strlen(r->body);
			json_decref(err);
			snprintf(hdr, sizeof(hdr), "bytes */%llu", size);
			mdexch_resp_header(r, "Content-Type", "application/json");
			mdexch_resp_header(r, "Content-Range", hdr);
			goto out;
		}
		status = 206;
	} else {
		last = size == 0 ? 0 : size - 1;
	}
	r->status = status;
	if (strcmp(q->method, "HEAD") == 0 || size == 0) {
		close(fd);
	} else {
		r->fd = fd;
		r->file_off = first;
		r->file_len = last - first + 1;
	}
	base = strrchr(path, '/');
	disp = xasprintf("attachment; filename=\"%s\"", base ? base + 1 : path);
	mdexch_resp_header(r, "Content-Type", "application/octet-stream");
	mdexch_resp_header(r, "Content-Disposition", disp);
	mdexch_resp_header(r, "Accept-Ranges", "bytes");
	mdexch_resp_header(r, "X-Dump-SHA256", sha);
	if (status == 206) {
		snprintf(hdr, sizeof(hdr), "bytes %llu-%llu/%llu", first, last, size);
		mdexch_resp_header(r, "Content-Range", hdr);
	}
	free(disp);
out:
	free(path);
}

static void mdapi_dump(struct mdapi *a, const char *id, bool cancel, struct mdexch_resp *r)
{
	struct err e = {0};
	json_t *dump = NULL, *o;
	int status = 200;

	if (cancel) {
		if (queue_cancel(a->cfg.queue, id, &dump, &e) < 0) {
			mdexch_resp_err(r, &e);
			return;
		}
		/* not stopped within the cancel's wait: accepted, still stopping */
		if (!dump_state_name_is_final(jsonu_str(dump, "state")))
			status = 202;
	} else if (queue_get(a->cfg.queue, id, &dump, &e) < 0) {
		mdexch_resp_err(r, &e);
		return;
	}
	o = json_object();
	json_object_set_new(o, "dump", dump);
	mdexch_resp_json(r, status, o);
}

void mdapi_handle(struct mdapi *a, const struct mdexch_req *q, struct mdexch_resp *r)
{
	struct mdroute rt;
	struct err e = {0};
	enum mdroute_result m = mdroute_match(q->method, q->path, &rt, &e);

	log_debug("request", "method=%s url=%s", log_q(q->method), log_q(q->path));
	if (!((m == MDROUTE_OK || m == MDROUTE_BAD_METHOD) && rt.open) && !mdapi_authorized(a, q)) {
		log_warn("unauthorized", "method=%s url=%s", log_q(q->method), log_q(q->path));
		mdexch_resp_error(r, 401, "unauthorized",
		                  "this memdumpd needs Authorization: Bearer TOKEN "
		                  "(MEMDUMP_SERVICE_TOKEN)");
		mdexch_resp_header(r, "WWW-Authenticate", "Bearer");
		return;
	}
	switch (m) {
	case MDROUTE_NOT_FOUND:
		mdexch_resp_error(r, 404, "not_found", "no such endpoint");
		return;
	case MDROUTE_BAD_ID:
		mdexch_resp_error(r, 400, "invalid_id", e.msg);
		return;
	case MDROUTE_BAD_METHOD: {
		char *msg = xasprintf("allowed methods here: %s", rt.allow);

		mdexch_resp_error(r, 405, "method_not_allowed", msg);
		mdexch_resp_header(r, "Allow", rt.allow);
		free(msg);
		return;
	}
	case MDROUTE_OK:
		break;
	}
	switch (rt.id) {
	case MDROUTE_HEALTH:
		mdapi_health(a, r);
		break;
	case MDROUTE_VMS:
		mdapi_vms(a, r);
		break;
	case MDROUTE_LIST:
		mdapi_list(a, q, r);
		break;
	case MDROUTE_CREATE:
		mdapi_create(a, q, r);
		break;
	case MDROUTE_GET:
	case MDROUTE_CANCEL:
		mdapi_dump(a, rt.dump_id, rt.id == MDROUTE_CANCEL, r);
		break;
	case MDROUTE_FILE:
		mdapi_file(a, q, rt.dump_id, r);
		break;
	case MDROUTE__MAX:
		mdexch_resp_error(r, 500, "internal_error", "no handler");
		break;
	}
}
