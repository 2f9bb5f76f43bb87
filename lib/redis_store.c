/*
 * redis_store: see redis_store.h and docs/redis-schema.md.
 *
 * DESIGN: every public call is "connect if needed, append commands, read their
 * replies" on one hiredis context. hiredis ownership, stated once: a redisReply
 * from redisGetReply is ours (freeReplyObject), argv given to
 * redisAppendCommandArgv is copied at once, and a context with c->err set is
 * dead (redisFree, reopen on the next call). Reads retry once on a fresh
 * connection when a reused one turns out to be broken (Redis restarted).
 * Timeouts: connect and every socket read/write are bounded by timeout_ms.
 * The poller's calls (lease, cycle) are in redis_cycle.c; what both files
 * share is declared in redis_store_int.h.
 */
#include "redis_store_int.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "dump.h"
#include "json_util.h"
#include "xmalloc.h"

struct store *store_new(const char *redis_url, long timeout_ms, struct err *e)
{
	struct store *st = xcalloc(1, sizeof(*st));

	if (store_url_parse(redis_url, &st->url, e) < 0) {
		free(st);
		return NULL;
	}
	if (timeout_ms <= 0)
		timeout_ms = 2000;
	st->timeout_ms = timeout_ms;
	st->tv.tv_sec = timeout_ms / 1000;
	st->tv.tv_usec = (timeout_ms % 1000) * 1000;
	if (st->url.path)
		snprintf(st->where, sizeof(st->where), "unix:%s", st->url.path);
	else if (strchr(st->url.host, ':'))
		snprintf(st->where, sizeof(st->where), "[%s]:%d", st->url.host, st->url.port);
	else
		snprintf(st->where, sizeof(st->where), "%s:%d", st->url.host, st->url.port);
	return st;
}

const char *store_address(const struct store *st)
{
	return st->where;
}

static void store_drop(struct store *st)
{
	if (st->c != NULL) {
		redisFree(st->c);
		st->c = NULL;
	}
}

void store_free(struct store *st)
{
	if (st == NULL)
		return;
	store_drop(st);
	store_url_release(&st->url);
	free(st);
}

/* The error of a dead context (then dropped): ERR_TIMEOUT or ERR_UNAVAILABLE. */
static int store_io_error(struct store *st, const char *fallback, struct err *e)
{
	int rc;

	if (st->c != NULL && st->c->err == REDIS_ERR_IO &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINPROGRESS))
		rc = err_set(e, ERR_TIMEOUT, "Redis at %s did not answer within %ld ms", st->where,
		             st->timeout_ms);
	else
		rc = err_set(e, ERR_UNAVAILABLE, "Redis at %s is unreachable: %s", st->where,
		             st->c != NULL && st->c->errstr[0] ? st->c->errstr : fallback);
	store_drop(st);
	return rc;
}

/* Send one command and read its reply (used while connecting). */
static redisReply *store_command(struct store *st, int argc, const char **argv, struct err *e)
{
	redisReply *r = redisCommandArgv(st->c, argc, argv, NULL);

	if (r == NULL)
		store_io_error(st, "connection lost", e);
	return r;
}

static int store_connect(struct store *st, struct err *e)
{
	redisReply *r = NULL;
	char db[16];
	int rc = -1;

	if (st->c != NULL)
		return 0;
	if (st->url.path)
		st->c = redisConnectUnixWithTimeout(st->url.path, st->tv);
	else
		st->c = redisConnectWithTimeout(st->url.host, st->url.port, st->tv);
	if (st->c == NULL)
		return err_set(e, ERR_UNAVAILABLE, "Redis at %s: cannot allocate a connection",
		               st->where);
	if (st->c->err)
		return store_io_error(st, "connect failed", e);
	if (redisSetTimeout(st->c, st->tv) != REDIS_OK)
		return store_io_error(st, "cannot set the socket timeout", e);
	if (st->url.password) {
		const char *a3[] = {"AUTH", st->url.username, st->url.password};
		const char *a2[] = {"AUTH", st->url.password};

		r = st->url.username ? store_command(st, 3, a3, e) : store_command(st, 2, a2, e);
		if (r == NULL)
			goto out;
		if (r->type == REDIS_REPLY_ERROR) {
			err_set(e, ERR_AUTH, "Redis at %s refused the credentials: %.200s",
			        st->where, r->str);
			store_drop(st);
			goto out;
		}
		freeReplyObject(r);
		r = NULL;
	}
	if (st->url.db != 0) {
		const char *a[] = {"SELECT", db};

		snprintf(db, sizeof(db), "%d", st->url.db);
		if ((r = store_command(st, 2, a, e)) == NULL)
			goto out;
		if (r->type == REDIS_REPLY_ERROR) {
			err_set(e, ERR_INVALID, "Redis at %s refused database %d: %.200s",
			        st->where, st->url.db, r->str);
			store_drop(st);
			goto out;
		}
	}
	st->conn_gen++;
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

/* ---- command building and pipelines ------------------------------------------------ */

static void store_argv_add_n(struct store_argv *a, const char *s, size_t len)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 8;
		a->v = xrealloc(a->v, (size_t)a->cap * sizeof(*a->v));
		a->len = xrealloc(a->len, (size_t)a->cap * sizeof(*a->len));
	}
	a->v[a->n] = xstrndup(s, len);
	a->len[a->n] = len;
	a->n++;
}

void store_argv_add(struct store_argv *a, const char *s)
{
	store_argv_add_n(a, s, strlen(s));
}

void store_argv_add_json(struct store_argv *a, const json_t *v)
{
	char *s = jsonu_dump(v);

	store_argv_add(a, s);
	free(s);
}

void store_argv_clear(struct store_argv *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
}

void store_argv_free(struct store_argv *a)
{
	store_argv_clear(a);
	free(a->v);
	free(a->len);
	memset(a, 0, sizeof(*a));
}

/* Queue a's command on the connection (no I/O yet) and clear a; counts in *queued. */
void store_append(struct store *st, struct store_argv *a, int *queued)
{
	if (redisAppendCommandArgv(st->c, a->n, (const char **)a->v, a->len) != REDIS_OK)
		abort(); /* only fails when out of memory: the xmalloc policy */
	(*queued)++;
	store_argv_clear(a);
}

/* Read n replies (new, into r[0..n)); on I/O error frees them, drops the connection. */
int store_replies(struct store *st, int n, redisReply **r, struct err *e)
{
	for (int i = 0; i < n; i++)
		r[i] = NULL;
	for (int i = 0; i < n; i++) {
		void *p = NULL;

		if (redisGetReply(st->c, &p) != REDIS_OK || p == NULL) {
			for (int j = 0; j < i; j++)
				freeReplyObject(r[j]);
			for (int j = 0; j < n; j++)
				r[j] = NULL;
			return store_io_error(st, "connection lost", e);
		}
		r[i] = p;
	}
	return 0;
}

void store_replies_free(redisReply **r, int n)
{
	for (int i = 0; i < n; i++)
		if (r[i] != NULL)
			freeReplyObject(r[i]);
}

int store_reply_error(struct store *st, const redisReply *r, struct err *e)
{
	return err_set(e, ERR_PROTOCOL, "Redis at %s answered an error: %.300s", st->where,
	               r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply type");
}

/*
 * Run fn on a connected store; when it fails because a reused connection broke
 * (the connection is gone afterwards), reconnect and run it once more.
 */

int store_call(struct store *st, store_fn fn, void *arg, struct err *e)
{
	bool fresh = st->c == NULL;
	int rc;

	if (store_connect(st, e) < 0)
		return -1;
	rc = fn(st, arg, e);
	if (rc < 0 && st->c == NULL && !fresh) {
		if (store_connect(st, e) < 0)
			return -1;
		rc = fn(st, arg, e);
	}
	return rc;
}

/* A string reply's JSON (new), NULL when nil, not a string, or not JSON. */
static json_t *store_reply_json(const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_STRING)
		return NULL;
	return jsonu_parse(r->str, r->len, STORE_VALUE_MAX, JSONU_MAX_DEPTH, NULL);
}

/* HGETALL reply -> new object field -> JSON value (null for a value that is not JSON). */
int store_reply_hash(struct store *st, const redisReply *r, json_t **out, struct err *e)
{
	json_t *o;

	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
		return store_reply_error(st, r, e);
	o = json_object();
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i];
		json_t *v;

		if (k->type != REDIS_REPLY_STRING || memchr(k->str, '\0', k->len) != NULL)
			continue;
		v = store_reply_json(r->element[i + 1]);
		json_object_set_new(o, k->str, v ? v : json_null());
	}
	*out = o;
	return 0;
}

/* ---- simple reads -------------------------------------------------------------------- */

static int store_ping_fn(struct store *st, void *arg, struct err *e)
{
	struct store_argv a = {0};
	redisReply *r;
	int q = 0, rc;

	(void)arg;
	store_argv_add(&a, "PING");
	store_append(st, &a, &q);
	store_argv_free(&a);
	if (store_replies(st, 1, &r, e) < 0)
		return -1;
	rc = r->type == REDIS_REPLY_STATUS ? 0 : store_reply_error(st, r, e);
	freeReplyObject(r);
	return rc;
}

int store_ping(struct store *st, struct err *e)
{
	return store_call(st, store_ping_fn, NULL, e);
}

/* Queue one command of constant words (hiredis formats it into its buffer at once). */
static void store_append_words(struct store *st, int argc, const char *const *argv, int *queued)
{
	if (redisAppendCommandArgv(st->c, argc, (const char **)argv, NULL) != REDIS_OK)
		abort(); /* only fails when out of memory: the xmalloc policy */
	(*queued)++;
}

void store_raw_release(struct store_raw *raw)
{
	if (raw == NULL)
		return;
	store_replies_free((redisReply **)raw->replies_, STORE_RAW_REPLIES);
	free(raw->pairs_);
	memset(raw, 0, sizeof(*raw));
}

static bool store_raw_value_ok(const redisReply *v)
{
	return v->type == REDIS_REPLY_STRING && v->len <= STORE_VALUE_MAX;
}

/* Point out->hashes[i] at the HGETALL replies r[i] (hashes[i] empty where r[i] is
 * NULL), with one array for all of them; a reply that is not a hash is an error. */
static int store_raw_hashes(struct store *st, redisReply *const *r, struct store_raw *out,
                            struct err *e)
{
	size_t total = 0, k = 0;

	for (int i = 0; i < 3; i++) {
		if (r[i] == NULL)
			continue;
		if (r[i]->type != REDIS_REPLY_ARRAY || r[i]->elements % 2 != 0)
			return store_reply_error(st, r[i], e);
		total += r[i]->elements / 2;
	}
	out->pairs_ = xmalloc((total ? total : 1) * sizeof(*out->pairs_));
	for (int i = 0; i < 3; i++) {
		out->hashes[i].v = out->pairs_ + k;
		out->hashes[i].n = 0;
		for (size_t j = 0; r[i] != NULL && j + 1 < r[i]->elements; j += 2) {
			const redisReply *f = r[i]->element[j], *v = r[i]->element[j + 1];
			struct store_pair *p = &out->pairs_[k];

			if (f->type != REDIS_REPLY_STRING || !store_raw_value_ok(v))
				continue;
			p->field.p = f->str;
			p->field.len = f->len;
			p->value.p = v->str;
			p->value.len = v->len;
			k++;
			out->hashes[i].n++;
		}
	}
	return 0;
}

/* What each raw read fetches: up to 3 hashes (HGETALL) then up to 2 strings (GET),
 * pipelined; bit i of lenient: hashes[i] holding another type reads as empty. */
static const struct store_raw_spec {
	const char *hashes[3], *strings[2];
	unsigned lenient;
} store_raw_specs[STORE_RAW__MAX] = {
    [STORE_RAW_STATUS] = {{K_ACTIVE, K_HEALTH, NULL}, {K_TRIGGER, K_POLLER}, 0},
    /* health only names the services that are down: not worth failing /vms for */
    [STORE_RAW_INVENTORY] = {{K_VMS, K_LATEST, K_HEALTH}, {NULL, NULL}, 1u << 2},
};

struct store_raw_arg {
	const struct store_raw_spec *spec;
	struct store_raw *out;
};

static int store_raw_fn(struct store *st, void *arg, struct err *e)
{
	const struct store_raw_arg *ra = arg;
	const struct store_raw_spec *sp = ra->spec;
	struct store_raw *out = ra->out;
	const char *keys[STORE_RAW_REPLIES];
	redisReply *r[STORE_RAW_REPLIES], *h[3] = {NULL, NULL, NULL};
	int nh = 0, n = 0, q = 0;

	for (int i = 0; i < 3 && sp->hashes[i] != NULL; i++)
		keys[n++] = sp->hashes[i];
	nh = n;
	for (int i = 0; i < 2 && sp->strings[i] != NULL; i++)
		keys[n++] = sp->strings[i];
	for (int i = 0; i < n; i++) {
		const char *cmd[2] = {i < nh ? "HGETALL" : "GET", keys[i]};

		store_append_words(st, 2, cmd, &q);
	}
	if (store_replies(st, n, r, e) < 0)
		return -1;
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < nh; i++) {
		bool hash = r[i]->type == REDIS_REPLY_ARRAY && r[i]->elements % 2 == 0;

		h[i] = hash || !(sp->lenient & (1u << i)) ? r[i] : NULL;
	}
	if (store_raw_hashes(st, h, out, e) < 0) {
		free(out->pairs_);
		memset(out, 0, sizeof(*out));
		store_replies_free(r, n);
		return -1;
	}
	for (int i = nh; i < n; i++)
		if (store_raw_value_ok(r[i])) {
			out->strings[i - nh].p = r[i]->str;
			out->strings[i - nh].len = r[i]->len;
		}
	for (int i = 0; i < n; i++)
		out->replies_[i] = r[i];
	return 0;
}

int store_raw_get(struct store *st, enum store_raw_read which, struct store_raw *out, struct err *e)
{
	struct store_raw_arg ra = {&store_raw_specs[which], out};

	memset(out, 0, sizeof(*out));
	return store_call(st, store_raw_fn, &ra, e);
}

struct store_get_arg {
	const char *cmd, *key, *field; /* field NULL: GET key */
	const char *what;              /* for ERR_NOT_FOUND */
	json_t **out;
};

static int store_get_fn(struct store *st, void *arg, struct err *e)
{
	struct store_get_arg *g = arg;
	struct store_argv a = {0};
	redisReply *r;
	int q = 0, rc = -1;

	store_argv_add(&a, g->cmd);
	store_argv_add(&a, g->key);
	if (g->field)
		store_argv_add(&a, g->field);
	store_append(st, &a, &q);
	store_argv_free(&a);
	if (store_replies(st, 1, &r, e) < 0)
		return -1;
	if (r->type == REDIS_REPLY_NIL) {
		err_set(e, ERR_NOT_FOUND, "%s", g->what);
	} else if (r->type != REDIS_REPLY_STRING) {
		store_reply_error(st, r, e);
	} else if ((*g->out = store_reply_json(r)) == NULL) {
		err_set(e, ERR_PROTOCOL, "Redis at %s holds a value that is not JSON in %s",
		        st->where, g->key);
	} else {
		rc = 0;
	}
	freeReplyObject(r);
	return rc;
}

int store_vm_latest_get(struct store *st, const char *vm, json_t **out, struct err *e)
{
	struct store_get_arg g = {"HGET", K_LATEST, vm, "no dump known for this VM", out};

	return store_call(st, store_get_fn, &g, e);
}

int store_dump_get(struct store *st, const char *dump_id, json_t **out, struct err *e)
{
	char key[sizeof(K_DUMP) + 64];
	struct store_get_arg g = {"GET", key, NULL, "no such dump", out};

	if (strlen(dump_id) > 63)
		return err_set(e, ERR_NOT_FOUND, "no such dump");
	snprintf(key, sizeof(key), K_DUMP "%s", dump_id);
	return store_call(st, store_get_fn, &g, e);
}

struct store_lookup_arg {
	const char *const *names;
	size_t n;
	json_t **out;
};

static int store_lookup_fn(struct store *st, void *arg, struct err *e)
{
	struct store_lookup_arg *l = arg;
	struct store_argv a = {0};
	redisReply *r;
	json_t *o;
	int q = 0;

	store_argv_add(&a, "HMGET");
	store_argv_add(&a, K_VMS);
	for (size_t i = 0; i < l->n; i++)
		store_argv_add(&a, l->names[i]);
	store_append(st, &a, &q);
	store_argv_free(&a);
	if (store_replies(st, 1, &r, e) < 0)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != l->n) {
		store_reply_error(st, r, e);
		freeReplyObject(r);
		return -1;
	}
	o = json_object();
	for (size_t i = 0; i < l->n; i++) {
		json_t *v = store_reply_json(r->element[i]);

		if (json_is_object(v))
			json_object_set(o, l->names[i], v);
		json_decref(v);
	}
	freeReplyObject(r);
	*l->out = o;
	return 0;
}

int store_inventory_lookup(struct store *st, const char *const *names, size_t n, json_t **out,
                           struct err *e)
{
	struct store_lookup_arg l = {names, n, out};

	if (n == 0) {
		*out = json_object();
		return 0;
	}
	return store_call(st, store_lookup_fn, &l, e);
}

/* ---- writes by the API -------------------------------------------------------------- */

/* ARGV[1]: trigger summary ('' for none); then per dump: id, vm, JSON, created_at. */
static const char store_trigger_lua[] =
    "for i = 2, #ARGV, 4 do\n"
    "  local id, vm, js, ca = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3]\n"
    "  if redis.call('EXISTS', '" K_DUMP "' .. id) == 0 then\n"
    "    redis.call('HSET', '" K_ACTIVE "', id, js)\n"
    "    redis.call('SET', '" K_DUMP "' .. id, js)\n"
    "    local cur = redis.call('HGET', '" K_LATEST "', vm)\n"
    "    local newer = true\n"
    "    if cur then\n"
    "      local ok, o = pcall(cjson.decode, cur)\n"
    "      if ok and type(o) == 'table' and type(o.created_at) == 'string'\n"
    "         and o.created_at > ca then newer = false end\n"
    "    end\n"
    "    if newer then redis.call('HSET', '" K_LATEST "', vm, js) end\n"
    "  end\n"
    "end\n"
    "if ARGV[1] ~= '' then redis.call('SET', '" K_TRIGGER "', ARGV[1]) end\n"
    "return 1\n";

struct store_trigger_arg {
	const json_t *dumps, *trigger;
};

static int store_trigger_fn(struct store *st, void *arg, struct err *e)
{
	struct store_trigger_arg *t = arg;
	struct store_argv a = {0};
	redisReply *r;
	size_t i;
	json_t *d;
	int q = 0, rc;

	store_argv_add(&a, "EVAL");
	store_argv_add(&a, store_trigger_lua);
	store_argv_add(&a, "0");
	if (t->trigger)
		store_argv_add_json(&a, t->trigger);
	else
		store_argv_add(&a, "");
	json_array_foreach(t->dumps, i, d) {
		const char *ca = jsonu_str(d, "created_at");

		store_argv_add(&a, jsonu_str(d, "dump_id"));
		store_argv_add(&a, jsonu_str(d, "vm"));
		store_argv_add_json(&a, d);
		store_argv_add(&a, ca ? ca : "");
	}
	store_append(st, &a, &q);
	store_argv_free(&a);
	if (store_replies(st, 1, &r, e) < 0)
		return -1;
	rc = r->type == REDIS_REPLY_INTEGER ? 0 : store_reply_error(st, r, e);
	freeReplyObject(r);
	return rc;
}

int store_trigger_record(struct store *st, const json_t *dumps, const json_t *trigger,
                         struct err *e)
{
	struct store_trigger_arg t = {dumps, trigger};
	size_t i;
	json_t *d;

	if (!json_is_array(dumps))
		return err_set(e, ERR_INVALID, "store_trigger_record: dumps must be an array");
	json_array_foreach(dumps, i, d) {
		const char *id = jsonu_str(d, "dump_id"), *vm = jsonu_str(d, "vm");

		if (id == NULL || vm == NULL || dump_id_check(id, NULL) < 0)
			return err_set(e, ERR_INVALID,
			               "store_trigger_record: dump %zu lacks a valid dump_id or vm",
			               i);
	}
	return store_call(st, store_trigger_fn, &t, e);
}
