/*
 * api: see api.h. Each endpoint validates its input (route, query,
 * trigger), then talks to its dependencies, then maps their errors: Redis down
 * -> 503 redis_unavailable, InfluxDB down -> 503 influx_unavailable, memdumpd
 * down -> 503 service_unavailable, garbage from any of them -> 502 bad_gateway.
 * Design notes for download: the worker answers with X-Accel-Redirect to the
 * internal nginx location named by the trusted fastcgi_param
 * MEMDUMP_ACCEL_PREFIX, plus private headers nginx reads ($upstream_http_*) and
 * never forwards: the owning memdumpd's URL and its Authorization value.
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auditlog.h"
#include "auditq.h"
#include "auth.h"
#include "authz.h"
#include "clock.h"
#include "dump.h"
#include "history.h"
#include "influx.h"
#include "json_util.h"
#include "livejson.h"
#include "log.h"
#include "query.h"
#include "rawjson.h"
#include "redis_store.h"
#include "route.h"
#include "svc.h"
#include "trigger.h"
#include "xmalloc.h"

#define API_REDIS_TIMEOUT_MS 2000
#define API_INFLUX_TIMEOUT_MS 10000
#define API_REFUSED_PER_S 50 /* refusal events per worker and second */

struct api_ctx {
	const struct config *cfg;
	struct store *store;
	struct influx *influx;
	struct svc **svcs;
	size_t n_svcs;
	char *auth; /* "Bearer TOKEN" for memdumpd, or NULL */
	/* refusal events this second (a flood of bad requests must not fill the spool's
	 * disk): past API_REFUSED_PER_S the rest are counted into one summary event */
	long long refused_sec;
	int refused_n;
	long long refused_dropped;
	struct auth *gate;
	struct auditlog *audit;
};

struct api_ctx *api_ctx_new(const struct config *cfg, struct err *e)
{
	struct api_ctx *ctx = xcalloc(1, sizeof(*ctx));
	const char *const *urls;
	long svc_ms = (long)config_num(cfg, CFG_SERVICE_TIMEOUT) * 1000;

	ctx->cfg = cfg;
	ctx->store = store_new(config_str(cfg, CFG_REDIS_URL), API_REDIS_TIMEOUT_MS, e);
	if (ctx->store == NULL)
		goto fail;
	ctx->gate = auth_new(cfg, ctx->store, e);
	if (ctx->gate == NULL)
		goto fail;
	if (config_num(cfg, CFG_AUTH) == 1)
		log_warn("auth_disabled", "msg=\"MEMDUMP_AUTH=none: anyone who reaches the API may "
		                          "trigger, cancel and download every dump\"");
	ctx->audit = auditlog_new(cfg, e);
	if (ctx->audit == NULL)
		goto fail;
	ctx->influx = influx_new(config_str(cfg, CFG_INFLUX_URL), config_str(cfg, CFG_INFLUX_DB),
	                         config_str(cfg, CFG_INFLUX_TOKEN), API_INFLUX_TIMEOUT_MS);
	urls = config_service_urls(cfg, &ctx->n_svcs);
	ctx->svcs = xcalloc(ctx->n_svcs ? ctx->n_svcs : 1, sizeof(*ctx->svcs));
	for (size_t i = 0; i < ctx->n_svcs; i++)
		ctx->svcs[i] = svc_new(urls[i], config_str(cfg, CFG_SERVICE_TOKEN), svc_ms);
	if (config_is_set(cfg, CFG_SERVICE_TOKEN))
		ctx->auth = xasprintf("Bearer %s", config_str(cfg, CFG_SERVICE_TOKEN));
	return ctx;
fail:
	api_ctx_free(ctx);
	return NULL;
}

void api_ctx_free(struct api_ctx *ctx)
{
	if (ctx == NULL)
		return;
	auth_free(ctx->gate);
	auditlog_free(ctx->audit);
	store_free(ctx->store);
	influx_free(ctx->influx);
	for (size_t i = 0; i < ctx->n_svcs; i++)
		svc_free(ctx->svcs[i]);
	free(ctx->svcs);
	if (ctx->auth != NULL) {
		explicit_bzero(ctx->auth, strlen(ctx->auth));
		free(ctx->auth);
	}
	free(ctx);
}

struct auditlog *api_ctx_audit(struct api_ctx *ctx)
{
	return ctx->audit;
}

/* The memdumpd client for a service URL we are configured with; NULL otherwise
 * (a URL in Redis that is not in our configuration is never called). */
static struct svc *api_svc(struct api_ctx *ctx, const char *url)
{
	for (size_t i = 0; url != NULL && i < ctx->n_svcs; i++)
		if (strcmp(svc_url(ctx->svcs[i]), url) == 0)
			return ctx->svcs[i];
	return NULL;
}

/* Map a dependency failure to 503/502 naming it. */
static void api_dep_error(struct exch_resp *r, const char *dep_code, const struct err *e)
{
	if (e->code == ERR_PROTOCOL || e->code == ERR_TOO_LARGE)
		exch_resp_error(r, 502, "bad_gateway", "%s", e->msg);
	else
		exch_resp_error(r, 503, dep_code, "%s", e->msg);
	log_warn("dependency_error", "code=%s msg=%s", dep_code, log_q(e->msg));
}

static void api_store_error(struct exch_resp *r, const struct err *e)
{
	api_dep_error(r, "redis_unavailable", e);
}

static void api_influx_error(struct exch_resp *r, const struct err *e)
{
	/* InfluxDB refusing our (validated) query is its fault or ours: 502 */
	if (e->code == ERR_INVALID) {
		exch_resp_error(r, 502, "bad_gateway", "InfluxDB refused the query: %s", e->msg);
		log_warn("influx_refused", "msg=%s", log_q(e->msg));
		return;
	}
	api_dep_error(r, "influx_unavailable", e);
}

static int api_query(const struct exch_req *q, const char *const *keys, struct query *out,
                     struct exch_resp *r)
{
	struct err e;

	if (query_parse(q->query, keys, out, &e) < 0) {
		exch_resp_error(r, 400, "invalid_query", "%s", e.msg);
		return -1;
	}
	return 0;
}

/* ---- access: audit events and scopes -------------------------------------------------- */

/* One audit event (docs/security.md) for this request: logged and spooled for
 * InfluxDB by the worker's chain (lib/auditlog.h). */
static void api_event(struct api_ctx *ctx, const struct exch_req *q, const char *action,
                      const char *result, int status, const char *vm, const char *dump_id,
                      const char *detail)
{
	const struct identity *who = q->who;
	struct audit_event ev = {
	    .action = action,
	    .result = result,
	    .request_id = q->request_id,
	    .user = who ? who->user : "",
	    .auth = who ? authz_method_name(who->method) : "",
	    .role = who && who->n_grants > 0 ? accounts_role_name(authz_role_max(who)) : "",
	    .client = q->remote_addr,
	    .vm = vm,
	    .dump_id = dump_id,
	    .detail = detail,
	    .status = status,
	};

	long long sec = clock_realtime_ms() / 1000;
	/* actions and successes are always recorded; refusals and failed attempts (which
	 * anyone can send) at most API_REFUSED_PER_S a second, the rest counted */
	bool limited = strcmp(result, "ok") != 0 && strcmp(action, "trigger") != 0 &&
	               strcmp(action, "cancel") != 0 && strcmp(action, "download") != 0;

	if (sec != ctx->refused_sec) {
		if (ctx->refused_dropped > 0) {
			char d[96];
			struct audit_event sum = {
			    .action = "refused", .result = "refused", .detail = d, .status = 429};

			snprintf(d, sizeof(d), "%lld more refusals in one second not recorded",
			         ctx->refused_dropped);
			auditlog_emit(ctx->audit, &sum);
		}
		ctx->refused_sec = sec;
		ctx->refused_n = 0;
		ctx->refused_dropped = 0;
	}
	if (limited && ++ctx->refused_n > API_REFUSED_PER_S) {
		ctx->refused_dropped++;
		return;
	}
	auditlog_emit(ctx->audit, &ev);
}

/* The role q's identity has for a VM on a host. */
static enum role api_role(const struct exch_req *q, const char *vm, const char *host)
{
	return authz_role_for(q->who, vm, host);
}

/* livejson's filter: VMs and dumps the identity sees (vm/host are not NUL-terminated). */
static bool api_view_visible(void *arg, const char *vm, size_t vm_len, const char *host,
                             size_t host_len)
{
	const struct identity *who = arg;
	char v[DUMP_VM_NAME_MAX + 1], h[256];

	if (vm_len > DUMP_VM_NAME_MAX || host_len >= sizeof(h))
		return false;
	memcpy(v, vm, vm_len);
	v[vm_len] = '\0';
	memcpy(h, host, host_len);
	h[host_len] = '\0';
	return authz_role_for(who, v, host_len ? h : NULL) >= ROLE_VIEWER;
}

static void api_view(struct api_ctx *ctx, const struct exch_req *q, struct livejson_view *v)
{
	v->visible = authz_unscoped(q->who, ROLE_VIEWER) ? NULL : api_view_visible;
	v->arg = (void *)q->who;
	v->auth = auth_mode(ctx->gate);
}

/* Queued and running dumps requested by user (0 when Redis cannot say: the trigger
 * then meets Redis's error itself). */
static long long api_user_active(struct api_ctx *ctx, const char *user)
{
	struct store_raw raw;
	long long n = 0;
	char buf[ACCOUNTS_NAME_MAX + 1];

	if (store_raw_get(ctx->store, STORE_RAW_STATUS, &raw, NULL) < 0)
		return 0;
	for (size_t i = 0; i < raw.hashes[0].n; i++) {
		const struct store_bytes *v = &raw.hashes[0].v[i].value;
		struct rawjson_member m[1] = {{.name = "requested_by"}};
		const char *s;
		size_t len;
		bool compact;

		if (rawjson_object_scan(v->p, v->len, m, 1, &compact) < 0 || !m[0].found ||
		    rawjson_string_decode(v->p + m[0].val, m[0].val_len, buf, sizeof(buf), &s,
		                          &len) < 0)
			continue;
		if (len == strlen(user) && memcmp(s, user, len) == 0)
			n++;
	}
	store_raw_release(&raw);
	return n;
}

/* ---- POST /trigger ---------------------------------------------------------------- */

static const char *api_refusal_code(enum err_code c)
{
	switch (c) {
	case ERR_NOT_FOUND:
		return "vm_not_found";
	case ERR_CONFLICT:
		return "dump_in_progress";
	case ERR_NO_SPACE:
		return "insufficient_storage";
	case ERR_INVALID:
	case ERR_UNSUPPORTED:
		return "invalid_field";
	case ERR_PROTOCOL:
	case ERR_TOO_LARGE:
		return "bad_gateway";
	default:
		return "service_unavailable";
	}
}

static json_t *api_refused(const char *vm, const char *code, const char *msg, const char *dump_id)
{
	json_t *o = json_object(), *err = json_object();

	json_object_set_new(o, "vm", json_string(vm));
	json_object_set_new(o, "status", json_string("refused"));
	json_object_set_new(err, "code", json_string(code));
	json_object_set_new(err, "message", json_string(msg));
	if (dump_id != NULL)
		json_object_set_new(err, "dump_id", json_string(dump_id));
	json_object_set_new(o, "error", err);
	return o;
}

static void api_trigger(struct api_ctx *ctx, const struct exch_req *q, struct exch_resp *r)
{
	struct trigger_req t;
	struct err e;
	json_t *inv = NULL, *results = json_array(), *dumps = json_array(), *summary, *names;
	bool down[CONFIG_URLS_MAX] = {false};
	size_t accepted = 0;
	long long mine = 0;
	char now[32];

	if (exch_require_json_same_origin(q, r) < 0)
		goto out_noreq;
	if (q->body_too_large) {
		exch_resp_error(r, 413, "payload_too_large", "request body larger than %u bytes",
		                EXCH_BODY_MAX);
		goto out_noreq;
	}
	switch (trigger_parse(q->body ? q->body : "", q->body_len, &t, &e)) {
	case TRIGGER_OK:
		break;
	case TRIGGER_BAD_JSON:
		exch_resp_error(r, 400, "invalid_json", "%s", e.msg);
		goto out_noreq;
	case TRIGGER_TOO_LARGE:
		exch_resp_error(r, 413, "payload_too_large", "%s", e.msg);
		goto out_noreq;
	case TRIGGER_BAD_FIELD:
		exch_resp_error(r, 422, "invalid_field", "%s", e.msg);
		goto out_noreq;
	}
	if (auth_trigger_allow(ctx->gate, q->who, t.n, r) < 0) {
		api_event(ctx, q, "refused", "refused", 429, NULL, NULL, "trigger rate limit");
		goto out;
	}
	if (store_inventory_lookup(ctx->store, (const char *const *)t.vms, t.n, &inv, &e) < 0) {
		api_store_error(r, &e);
		goto out;
	}
	mine = api_user_active(ctx, q->who->user);
	for (size_t i = 0; i < t.n; i++) {
		const char *vm = t.vms[i];
		const char *url = jsonu_str(json_object_get(inv, vm), "service");
		const char *host = jsonu_str(json_object_get(inv, vm), "host");
		struct svc *s = api_svc(ctx, url);
		json_t *dump = NULL, *o;
		char *conflict = NULL;
		size_t si = 0;
		enum role role = api_role(q, vm, host);

		if (json_object_get(inv, vm) == NULL || role < ROLE_VIEWER) {
			/* out of scope: exactly as if no memdumpd knew it */
			json_array_append_new(
			    results, api_refused(vm, "vm_not_found",
			                         "no memdumpd reports a VM of this name", NULL));
			api_event(ctx, q, "trigger", "refused", 404, vm, NULL, "vm_not_found");
			continue;
		}
		if (role < ROLE_OPERATOR) {
			char msg[128];

			snprintf(msg, sizeof(msg),
			         "dumping this VM needs the operator role (yours: %s)",
			         accounts_role_name(role));
			json_array_append_new(results, api_refused(vm, "forbidden", msg, NULL));
			api_event(ctx, q, "trigger", "refused", 403, vm, NULL, "forbidden");
			continue;
		}
		if (mine >= auth_user_max_active(ctx->gate)) {
			char msg[160];

			snprintf(msg, sizeof(msg),
			         "%s already has %lld dumps queued or running "
			         "(MEMDUMP_USER_MAX_ACTIVE=%lld)",
			         q->who->user, mine, auth_user_max_active(ctx->gate));
			json_array_append_new(results,
			                      api_refused(vm, "too_many_dumps", msg, NULL));
			api_event(ctx, q, "trigger", "refused", 429, vm, NULL, "too_many_dumps");
			continue;
		}
		if (s == NULL) {
			json_array_append_new(
			    results,
			    api_refused(vm, "service_unavailable",
			                "the VM's memdumpd is not in MEMDUMP_SERVICE_URL", NULL));
			api_event(ctx, q, "trigger", "failed", 503, vm, NULL,
			          "service_unavailable");
			continue;
		}
		while (ctx->svcs[si] != s)
			si++;
		if (down[si]) {
			json_array_append_new(
			    results, api_refused(vm, "service_unavailable",
			                         "the VM's memdumpd did not answer", NULL));
			api_event(ctx, q, "trigger", "failed", 503, vm, NULL,
			          "service_unavailable");
			continue;
		}
		if (svc_dump_create(s, vm, t.format, q->who->user, &dump, &conflict, &e) < 0) {
			if (e.code == ERR_UNAVAILABLE || e.code == ERR_TIMEOUT)
				down[si] = true;
			json_array_append_new(
			    results, api_refused(vm, api_refusal_code(e.code), e.msg, conflict));
			log_info("trigger_refused", "vm=%s code=%s msg=%s", log_q(vm),
			         api_refusal_code(e.code), log_q(e.msg));
			api_event(ctx, q, "trigger", "refused", 0, vm, conflict,
			          api_refusal_code(e.code));
			free(conflict);
			continue;
		}
		json_object_set_new(dump, "service", json_string(svc_url(s)));
		o = json_object();
		json_object_set_new(o, "vm", json_string(vm));
		json_object_set_new(o, "status", json_string("accepted"));
		json_object_set(o, "dump_id", json_object_get(dump, "dump_id"));
		json_object_set(o, "state", json_object_get(dump, "state"));
		json_object_set(o, "host", json_object_get(dump, "host"));
		json_object_set(o, "dump", dump);
		json_array_append_new(results, o);
		json_array_append_new(dumps, dump);
		accepted++;
		mine++;
		api_event(ctx, q, "trigger", "ok", 202, vm, jsonu_str(dump, "dump_id"), NULL);
		log_info("trigger_accepted", "vm=%s dump_id=%s", log_q(vm),
		         log_q(jsonu_str(dump, "dump_id")));
	}
	jsonu_time_format(clock_realtime_ms(), now);
	names = json_array();
	for (size_t i = 0; i < t.n; i++)
		json_array_append_new(names, json_string(t.vms[i]));
	summary = json_pack("{s:s, s:o, s:I, s:I}", "at", now, "vms", names, "accepted",
	                    (json_int_t)accepted, "refused", (json_int_t)(t.n - accepted));
	/* memdumpd holds the truth now; if Redis is down the poller catches up */
	if (store_trigger_record(ctx->store, dumps, summary, &e) < 0)
		log_warn("trigger_record_failed", "msg=%s", log_q(e.msg));
	json_object_set_new(summary, "requested", json_integer((json_int_t)t.n));
	json_object_set(summary, "results", results);
	exch_resp_json(r, 202, summary);
out:
	trigger_req_release(&t);
out_noreq:
	json_decref(inv);
	json_decref(results);
	json_decref(dumps);
}

/* ---- GET /status, /status/{vm}, /vms ------------------------------------------------ */

static void api_status(struct api_ctx *ctx, const struct exch_req *q, struct exch_resp *r)
{
	struct store_raw raw;
	struct livejson_view view;
	struct query qs;
	struct err e;
	size_t len;
	char now[32], *body;

	if (api_query(q, NULL, &qs, r) < 0)
		return;
	query_release(&qs);
	if (store_raw_get(ctx->store, STORE_RAW_STATUS, &raw, &e) < 0) {
		api_store_error(r, &e);
		return;
	}
	jsonu_time_format(clock_realtime_ms(), now);
	api_view(ctx, q, &view);
	body = livejson_status(&raw, now, &view, &len);
	store_raw_release(&raw);
	exch_resp_body(r, 200, body, len);
}

static void api_status_vm(struct api_ctx *ctx, const struct exch_req *q, const char *vm,
                          struct exch_resp *r)
{
	struct query qs;
	struct err e;
	json_t *dump = NULL;

	if (api_query(q, NULL, &qs, r) < 0)
		return;
	query_release(&qs);
	if (dump_vm_name_check(vm, strlen(vm), &e) < 0) {
		exch_resp_error(r, 422, "invalid_field", "VM name: %s", e.msg);
		return;
	}
	if (store_vm_latest_get(ctx->store, vm, &dump, &e) < 0 ||
	    api_role(q, vm, jsonu_str(dump, "host")) < ROLE_VIEWER) {
		if (e.code == ERR_NOT_FOUND || dump != NULL)
			exch_resp_error(r, 404, "not_found", "no dump is known for VM '%.128s'",
			                vm);
		else
			api_store_error(r, &e);
		json_decref(dump);
		return;
	}
	exch_resp_json(r, 200, json_pack("{s:s, s:o}", "vm", vm, "dump", dump));
}

static void api_vms(struct api_ctx *ctx, const struct exch_req *q, struct exch_resp *r)
{
	struct store_raw raw;
	struct livejson_view view;
	struct query qs;
	struct err e;
	size_t len;
	char *body;

	if (api_query(q, NULL, &qs, r) < 0)
		return;
	query_release(&qs);
	if (store_raw_get(ctx->store, STORE_RAW_INVENTORY, &raw, &e) < 0) {
		api_store_error(r, &e);
		return;
	}
	api_view(ctx, q, &view);
	view.auth = NULL;
	body = livejson_vms(&raw, &view, &len);
	store_raw_release(&raw);
	exch_resp_body(r, 200, body, len);
}

/* ---- GET /records, /stats ----------------------------------------------------------- */

static void api_records(struct api_ctx *ctx, const struct exch_req *q, struct exch_resp *r)
{
	struct history_filter f;
	struct query qs;
	struct err e;
	json_t *rows = NULL, *count = NULL;
	char *ql = NULL, *cql = NULL;

	if (api_query(q, history_records_keys, &qs, r) < 0)
		return;
	if (history_filter_parse(&qs, clock_realtime_ms(), &f, &e) < 0) {
		exch_resp_error(r, 422, "invalid_field", "%s", e.msg);
		goto out_q;
	}
	f.scope = authz_influx_where(q->who, ROLE_VIEWER);
	ql = history_records_ql(&f);
	cql = history_count_ql(&f);
	if (influx_query(ctx->influx, ql, &rows, &e) < 0 ||
	    influx_query(ctx->influx, cql, &count, &e) < 0) {
		api_influx_error(r, &e);
		goto out;
	}
	exch_resp_json(r, 200,
	               json_pack("{s:o, s:I, s:I, s:I}", "records",
	                         history_records_from_series(rows), "total",
	                         (json_int_t)history_count_from_series(count), "limit",
	                         (json_int_t)f.limit, "offset", (json_int_t)f.offset));
out:
	free(ql);
	free(cql);
	json_decref(rows);
	json_decref(count);
	history_filter_release(&f);
out_q:
	query_release(&qs);
}

static void api_stats(struct api_ctx *ctx, const struct exch_req *q, struct exch_resp *r)
{
	struct history_filter f;
	struct query qs;
	struct err e;
	json_t *series[HS__MAX] = {NULL};
	long long now = clock_realtime_ms();

	if (api_query(q, history_stats_keys, &qs, r) < 0)
		return;
	if (history_filter_parse(&qs, now, &f, &e) < 0) {
		exch_resp_error(r, 422, "invalid_field", "%s", e.msg);
		goto out_q;
	}
	f.scope = authz_influx_where(q->who, ROLE_VIEWER);
	for (int i = 0; i < HS__MAX; i++) {
		char *ql = history_stats_ql((enum history_stat)i, &f, now);
		int rc = influx_query(ctx->influx, ql, &series[i], &e);

		free(ql);
		if (rc < 0) {
			api_influx_error(r, &e);
			goto out;
		}
	}
	exch_resp_json(r, 200, history_stats_build(series, &f, now));
out:
	for (int i = 0; i < HS__MAX; i++)
		json_decref(series[i]);
	history_filter_release(&f);
out_q:
	query_release(&qs);
}

/* ---- DELETE /dumps/{id}, GET /dumps/{id}/download ----------------------------------- */

/* Look the dump up and find its memdumpd; fills r and returns NULL on failure. A
 * dump out of q's scope is not found; one whose VM q may see but not act on with
 * need is 403. */
static struct svc *api_dump_owner(struct api_ctx *ctx, const struct exch_req *q, const char *id,
                                  enum role need, json_t **dump, char vm[DUMP_VM_NAME_MAX + 1],
                                  struct exch_resp *r)
{
	struct err e;
	struct svc *s;
	enum role role;

	*dump = NULL;
	if (dump_id_check(id, &e) < 0) {
		exch_resp_error(r, 404, "not_found", "no dump with this id (%s)", e.msg);
		return NULL;
	}
	if (store_dump_get(ctx->store, id, dump, &e) < 0) {
		if (e.code == ERR_NOT_FOUND)
			exch_resp_error(r, 404, "not_found", "no dump with id %s", id);
		else
			api_store_error(r, &e);
		return NULL;
	}
	/* for the audit event, also when refused */
	snprintf(vm, DUMP_VM_NAME_MAX + 1, "%s",
	         jsonu_str(*dump, "vm") ? jsonu_str(*dump, "vm") : "");
	role = api_role(q, jsonu_str(*dump, "vm"), jsonu_str(*dump, "host"));
	if (role < need) {
		if (role < ROLE_VIEWER)
			exch_resp_error(r, 404, "not_found", "no dump with id %s", id);
		else
			exch_resp_error(r, 403, "forbidden",
			                "this needs the %s role for this VM (yours: %s)",
			                accounts_role_name(need), accounts_role_name(role));
		json_decref(*dump);
		*dump = NULL;
		return NULL;
	}
	s = api_svc(ctx, jsonu_str(*dump, "service"));
	if (s == NULL) {
		exch_resp_error(r, 503, "service_unavailable",
		                "the memdumpd that owns dump %s is not configured here", id);
		json_decref(*dump);
		*dump = NULL;
	}
	return s;
}

static void api_cancel(struct api_ctx *ctx, const struct exch_req *q, const char *id,
                       char vm[DUMP_VM_NAME_MAX + 1], struct exch_resp *r)
{
	struct svc *s;
	json_t *dump, *cancelled = NULL;
	struct err e;

	if (exch_require_json_same_origin(q, r) < 0)
		return;
	if ((s = api_dump_owner(ctx, q, id, ROLE_OPERATOR, &dump, vm, r)) == NULL)
		return;
	if (svc_dump_cancel(s, id, &cancelled, &e) < 0) {
		if (e.code == ERR_CONFLICT)
			exch_resp_error(r, 409, "conflict", "%s", e.msg);
		else if (e.code == ERR_NOT_FOUND)
			exch_resp_error(r, 404, "not_found", "%s", e.msg);
		else
			api_dep_error(r, "service_unavailable", &e);
		goto out;
	}
	json_object_set_new(cancelled, "service", json_string(svc_url(s)));
	log_info("dump_cancel", "dump_id=%s", id);
	/* 202: memdumpd did not see it stop within its wait; it is still stopping */
	exch_resp_json(r, dump_state_name_is_final(jsonu_str(cancelled, "state")) ? 200 : 202,
	               json_pack("{s:o}", "dump", cancelled));
out:
	json_decref(dump);
}

static void api_download(struct api_ctx *ctx, const struct exch_req *q, const char *id,
                         char vmname[DUMP_VM_NAME_MAX + 1], struct exch_resp *r)
{
	char comp[DUMP_VM_NAME_MAX + 1], *v;
	const char *vm, *sha, *state, *fmt;
	enum dump_format f = DUMP_FMT_ELF;
	struct svc *s;
	json_t *dump;
	size_t mark;
	int bad = 0;

	if (q->accel_prefix == NULL || q->accel_prefix[0] != '/') {
		exch_resp_error(r, 501, "not_implemented",
		                "downloads need the web server's X-Accel-Redirect location "
		                "(fastcgi_param MEMDUMP_ACCEL_PREFIX)");
		return;
	}
	if ((s = api_dump_owner(ctx, q, id, ROLE_INVESTIGATOR, &dump, vmname, r)) == NULL)
		return;
	state = jsonu_str(dump, "state");
	vm = jsonu_str(dump, "vm");
	sha = jsonu_str(dump, "sha256");
	if (state == NULL || strcmp(state, "completed") != 0) {
		exch_resp_error(r, 409, "conflict",
		                "dump %s is %s, not completed: nothing to download", id,
		                state ? state : "in an unknown state");
		goto out;
	}
	if (vm == NULL || dump_vm_name_check(vm, strlen(vm), NULL) < 0 || sha == NULL ||
	    strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64) {
		exch_resp_error(r, 502, "bad_gateway",
		                "dump %s in Redis lacks a valid vm or sha256", id);
		goto out;
	}
	fmt = jsonu_str(dump, "format");
	if (fmt != NULL)
		dump_format_parse(fmt, &f, NULL);
	dump_vm_path_component(vm, comp);
	mark = r->n_headers;
	v = xasprintf("%s%s", q->accel_prefix, id);
	bad |= exch_resp_header(r, "X-Accel-Redirect", v);
	free(v);
	v = xasprintf("attachment; filename=\"%s-%s%s\"", comp, id, dump_format_ext(f));
	/* the web server sends it as Content-Disposition with the file only: an error
	 * (memdumpd down) must not be saved as the dump */
	bad |= exch_resp_header(r, "X-Memdump-Disposition", v);
	free(v);
	bad |= exch_resp_header(r, "X-Dump-SHA256", sha);
	bad |= exch_resp_header(r, "X-Memdump-Service", svc_url(s));
	if (ctx->auth != NULL)
		bad |= exch_resp_header(r, "X-Memdump-Authorization", ctx->auth);
	if (bad) {
		/* e.g. a MEMDUMP_SERVICE_TOKEN too long for a header: say so, never half a
		 * redirect that memdumpd would answer with 401 */
		exch_resp_headers_drop(r, mark);
		log_error("download_headers", "dump_id=%s msg=\"a header did not fit\"", id);
		exch_resp_error(r, 500, "internal",
		                "the download of %s could not be prepared (a header did not fit; "
		                "see memdump-api's log)",
		                id);
		goto out;
	}
	r->status = 200;
	log_info("dump_download", "dump_id=%s vm=%s", id, log_q(vm));
out:
	json_decref(dump);
}

/* The audit event of a refused or answered session call. */
static void api_audit_outcome(struct api_ctx *ctx, const struct exch_req *q, const char *action,
                              const struct auth_outcome *out, int status)
{
	struct identity shown;
	struct exch_req qa = *q;

	if (q->who == NULL) {
		/* not (yet) an identity: name what the attempt claimed */
		memset(&shown, 0, sizeof(shown));
		snprintf(shown.user, sizeof(shown.user), "%s", out->user);
		shown.method = out->method;
		qa.who = &shown;
	}
	api_event(ctx, &qa, action, out->result, status, NULL, NULL, out->detail);
}

static void api_dispatch(struct api_ctx *ctx, const struct exch_req *q, const struct route *rt,
                         struct exch_resp *r)
{
	char vm[DUMP_VM_NAME_MAX + 1] = "";

	switch (rt->id) {
	case ROUTE_TRIGGER:
		api_trigger(ctx, q, r);
		break;
	case ROUTE_STATUS:
		api_status(ctx, q, r);
		break;
	case ROUTE_STATUS_VM:
		api_status_vm(ctx, q, rt->arg, r);
		break;
	case ROUTE_RECORDS:
		api_records(ctx, q, r);
		break;
	case ROUTE_STATS:
		api_stats(ctx, q, r);
		break;
	case ROUTE_VMS:
		api_vms(ctx, q, r);
		break;
	case ROUTE_DUMP:
		api_cancel(ctx, q, rt->arg, vm, r);
		api_event(ctx, q, "cancel", r->status < 300 ? "ok" : "refused", r->status, vm,
		          rt->arg, NULL);
		break;
	case ROUTE_DUMP_DOWNLOAD:
		api_download(ctx, q, rt->arg, vm, r);
		api_event(ctx, q, "download", r->status < 300 ? "ok" : "refused", r->status, vm,
		          rt->arg, NULL);
		break;
	case ROUTE_SESSION:
		auth_session_get(ctx->gate, q, q->who, r);
		break;
	case ROUTE_AUDIT:
		auditq_handle(ctx->influx, q, r);
		break;
	case ROUTE_LOGIN:
	case ROUTE_LOGOUT:
	case ROUTE__MAX:
		exch_resp_error(r, 500, "internal", "unrouted request");
		break;
	}
}

void api_handle(struct api_ctx *ctx, const struct exch_req *q0, struct exch_resp *r)
{
	struct exch_req q = *q0;
	struct identity who;
	struct auth_outcome out;
	struct route rt;

	q.who = NULL;
	switch (route_match(q.method, q.path, &rt)) {
	case ROUTE_NOT_FOUND:
		exch_resp_error(r, 404, "not_found", "no such API path (see docs/api.md)");
		return;
	case ROUTE_BAD_METHOD:
		exch_resp_error(r, 405, "method_not_allowed", "this path answers %s only",
		                rt.allow);
		exch_resp_header(r, "Allow", rt.allow);
		return;
	case ROUTE_OK:
		break;
	}
	if (rt.id == ROUTE_LOGIN) {
		auth_login(ctx->gate, &q, &who, &out, r);
		if (strcmp(out.result, "ok") == 0)
			q.who = &who;
		api_audit_outcome(ctx, &q, "login", &out, r->status);
		return;
	}
	if (rt.id == ROUTE_LOGOUT) {
		auth_logout(ctx->gate, &q, &out, r);
		if (out.user[0] != '\0' || strcmp(out.result, "ok") != 0)
			api_audit_outcome(ctx, &q, "logout", &out, r->status);
		return;
	}
	if (auth_identify(ctx->gate, &q, &who, &out, r) < 0) {
		/* "who am I?" without credentials is a question, not an attempt */
		if (!(rt.id == ROUTE_SESSION && r->status == 401 &&
		      strcmp(out.detail, "no credentials") == 0))
			api_audit_outcome(ctx, &q, "refused", &out, r->status);
		return;
	}
	q.who = &who;
	if (auth_require(&who, rt.need, rt.unscoped, r) < 0) {
		api_event(ctx, &q, "refused", "refused", 403, NULL, NULL, route_name(rt.id));
		return;
	}
	api_dispatch(ctx, &q, &rt, r);
}
