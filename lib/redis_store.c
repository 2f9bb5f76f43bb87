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
 * The cycle functions keep WATCH state on the connection: conn_gen tells
 * store_cycle_commit whether the connection was reopened since begin.
 */
#include "redis_store.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "dump.h"
#include "json_util.h"
#include "log.h"
#include "xmalloc.h"

#define K_ACTIVE "memdump:active"
#define K_DUMP "memdump:dump:"
#define K_LATEST "memdump:latest"
#define K_VMS "memdump:vms"
#define K_HEALTH "memdump:health"
#define K_POLLER "memdump:poller"
#define K_TRIGGER "memdump:last_trigger"
#define K_LEASE "memdump:lease"
#define K_EVENTS "memdump:events"

/* Values we read back were written by us; anything larger is not ours. */
#define STORE_VALUE_MAX (4u << 20)

struct store {
	struct store_url url;
	char where[300]; /* "HOST:PORT" or "unix:PATH", for messages */
	struct timeval tv;
	long timeout_ms;
	redisContext *c;
	unsigned long conn_gen;  /* bumped on every (re)connect */
	unsigned long watch_gen; /* conn_gen at store_cycle_begin; 0: no cycle */
	unsigned reset;          /* bit i: store_cycle_hashes[i] had another type; DEL it */
};

/* The hashes a poller cycle reads whole and rewrites (store_cycle_begin/commit). */
static const char *const store_cycle_hashes[4] = {K_ACTIVE, K_LATEST, K_VMS, K_HEALTH};

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

/* One command's arguments, owned. */
struct store_argv {
	int n, cap;
	char **v;
	size_t *len;
};

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

static void store_argv_add(struct store_argv *a, const char *s)
{
	store_argv_add_n(a, s, strlen(s));
}

static void store_argv_add_json(struct store_argv *a, const json_t *v)
{
	char *s = jsonu_dump(v);

	store_argv_add(a, s);
	free(s);
}

static void store_argv_clear(struct store_argv *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
}

static void store_argv_free(struct store_argv *a)
{
	store_argv_clear(a);
	free(a->v);
	free(a->len);
	memset(a, 0, sizeof(*a));
}

/* Queue a's command on the connection (no I/O yet) and clear a; counts in *queued. */
static void store_append(struct store *st, struct store_argv *a, int *queued)
{
	if (redisAppendCommandArgv(st->c, a->n, (const char **)a->v, a->len) != REDIS_OK)
		abort(); /* only fails when out of memory: the xmalloc policy */
	(*queued)++;
	store_argv_clear(a);
}

/* Read n replies (new, into r[0..n)); on I/O error frees them, drops the connection. */
static int store_replies(struct store *st, int n, redisReply **r, struct err *e)
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

static void store_replies_free(redisReply **r, int n)
{
	for (int i = 0; i < n; i++)
		if (r[i] != NULL)
			freeReplyObject(r[i]);
}

static int store_reply_error(struct store *st, const redisReply *r, struct err *e)
{
	return err_set(e, ERR_PROTOCOL, "Redis at %s answered an error: %.300s", st->where,
	               r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply type");
}

/*
 * Run fn on a connected store; when it fails because a reused connection broke
 * (the connection is gone afterwards), reconnect and run it once more.
 */
typedef int (*store_fn)(struct store *st, void *arg, struct err *e);

static int store_call(struct store *st, store_fn fn, void *arg, struct err *e)
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
static int store_reply_hash(struct store *st, const redisReply *r, json_t **out, struct err *e)
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

static int store_status_raw_fn(struct store *st, void *arg, struct err *e)
{
	static const char *const cmds[4][2] = {
	    {"HGETALL", K_ACTIVE}, {"HGETALL", K_HEALTH}, {"GET", K_TRIGGER}, {"GET", K_POLLER}};
	struct store_raw *out = arg;
	redisReply *r[4], *h[3];
	int q = 0;

	for (int i = 0; i < 4; i++)
		store_append_words(st, 2, cmds[i], &q);
	if (store_replies(st, 4, r, e) < 0)
		return -1;
	memset(out, 0, sizeof(*out));
	h[0] = r[0];
	h[1] = r[1];
	h[2] = NULL;
	if (store_raw_hashes(st, h, out, e) < 0) {
		free(out->pairs_);
		memset(out, 0, sizeof(*out));
		store_replies_free(r, 4);
		return -1;
	}
	for (int i = 0; i < 2; i++)
		if (store_raw_value_ok(r[i + 2])) {
			out->strings[i].p = r[i + 2]->str;
			out->strings[i].len = r[i + 2]->len;
		}
	for (int i = 0; i < 4; i++)
		out->replies_[i] = r[i];
	return 0;
}

int store_status_raw_get(struct store *st, struct store_raw *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	return store_call(st, store_status_raw_fn, out, e);
}

static int store_inventory_raw_fn(struct store *st, void *arg, struct err *e)
{
	static const char *const cmds[3][2] = {
	    {"HGETALL", K_VMS}, {"HGETALL", K_LATEST}, {"HGETALL", K_HEALTH}};
	struct store_raw *out = arg;
	redisReply *r[3], *h[3];
	int q = 0;

	for (int i = 0; i < 3; i++)
		store_append_words(st, 2, cmds[i], &q);
	if (store_replies(st, 3, r, e) < 0)
		return -1;
	memset(out, 0, sizeof(*out));
	h[0] = r[0];
	h[1] = r[1];
	/* health only names the services that are down: not worth failing /vms for */
	h[2] = r[2]->type == REDIS_REPLY_ARRAY && r[2]->elements % 2 == 0 ? r[2] : NULL;
	if (store_raw_hashes(st, h, out, e) < 0) {
		free(out->pairs_);
		memset(out, 0, sizeof(*out));
		store_replies_free(r, 3);
		return -1;
	}
	for (int i = 0; i < 3; i++)
		out->replies_[i] = r[i];
	return 0;
}

int store_inventory_raw_get(struct store *st, struct store_raw *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	return store_call(st, store_inventory_raw_fn, out, e);
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

/* ---- the poller ---------------------------------------------------------------------- */

static const char store_lease_hold_lua[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end\n"
    "if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end\n"
    "return 0\n";

static const char store_lease_release_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end\n"
    "return 0\n";

struct store_lease_arg {
	const char *script, *id;
	long ttl_ms;
	bool *held;
};

static int store_lease_fn(struct store *st, void *arg, struct err *e)
{
	struct store_lease_arg *l = arg;
	struct store_argv a = {0};
	char ttl[24];
	redisReply *r;
	int q = 0, rc = 0;

	snprintf(ttl, sizeof(ttl), "%ld", l->ttl_ms);
	store_argv_add(&a, "EVAL");
	store_argv_add(&a, l->script);
	store_argv_add(&a, "1");
	store_argv_add(&a, K_LEASE);
	store_argv_add(&a, l->id);
	store_argv_add(&a, ttl);
	store_append(st, &a, &q);
	store_argv_free(&a);
	if (store_replies(st, 1, &r, e) < 0)
		return -1;
	if (r->type != REDIS_REPLY_INTEGER)
		rc = store_reply_error(st, r, e);
	else if (l->held)
		*l->held = r->integer == 1;
	freeReplyObject(r);
	return rc;
}

int store_lease_hold(struct store *st, const char *id, long ttl_ms, bool *held, struct err *e)
{
	struct store_lease_arg l = {store_lease_hold_lua, id, ttl_ms, held};

	*held = false;
	return store_call(st, store_lease_fn, &l, e);
}

int store_lease_release(struct store *st, const char *id, struct err *e)
{
	struct store_lease_arg l = {store_lease_release_lua, id, 0, NULL};

	return store_call(st, store_lease_fn, &l, e);
}

void store_snapshot_release(struct store_snapshot *snap)
{
	if (snap == NULL)
		return;
	json_decref(snap->active);
	json_decref(snap->latest);
	json_decref(snap->vms);
	json_decref(snap->health);
	memset(snap, 0, sizeof(*snap));
}

static int store_begin_fn(struct store *st, void *arg, struct err *e)
{
	const char *const *hashes = store_cycle_hashes;
	struct store_snapshot *snap = arg;
	json_t **slots[4] = {&snap->active, &snap->latest, &snap->vms, &snap->health};
	struct store_argv a = {0};
	redisReply *r[6];
	int q = 0, rc = -1;

	store_argv_add(&a, "UNWATCH");
	store_append(st, &a, &q);
	store_argv_add(&a, "WATCH");
	store_argv_add(&a, K_ACTIVE);
	store_argv_add(&a, K_LATEST);
	store_argv_add(&a, K_LEASE);
	store_append(st, &a, &q);
	for (int i = 0; i < 4; i++) {
		store_argv_add(&a, "HGETALL");
		store_argv_add(&a, hashes[i]);
		store_append(st, &a, &q);
	}
	store_argv_free(&a);
	if (store_replies(st, 6, r, e) < 0)
		return -1;
	if (r[1]->type != REDIS_REPLY_STATUS) {
		store_reply_error(st, r[1], e);
		goto out;
	}
	st->reset = 0;
	for (int i = 0; i < 4; i++) {
		const redisReply *h = r[i + 2];

		/* Our key holds something else (a mistaken command, an old schema): the
		 * cycle rebuilds it from the hosts' answers instead of failing forever. */
		if (h->type == REDIS_REPLY_ERROR && strncmp(h->str, "WRONGTYPE", 9) == 0) {
			log_warn("redis_wrong_type", "key=%s action=\"rebuilt by this cycle\"",
			         hashes[i]);
			*slots[i] = json_object();
			st->reset |= 1u << i;
		} else if (store_reply_hash(st, h, slots[i], e) < 0) {
			goto out;
		}
	}
	st->watch_gen = st->conn_gen;
	rc = 0;
out:
	if (rc < 0)
		store_snapshot_release(snap);
	store_replies_free(r, 6);
	return rc;
}

int store_cycle_begin(struct store *st, struct store_snapshot *snap, struct err *e)
{
	memset(snap, 0, sizeof(*snap));
	st->watch_gen = 0;
	return store_call(st, store_begin_fn, snap, e);
}

/* HSET key f1 v1 f2 v2 ... from an object (nothing when empty). */
static void store_hset(struct store *st, struct store_argv *a, const char *key, const json_t *obj,
                       int *q)
{
	const char *k;
	json_t *v;

	if (json_object_size(obj) == 0)
		return;
	store_argv_add(a, "HSET");
	store_argv_add(a, key);
	json_object_foreach((json_t *)obj, k, v) {
		store_argv_add(a, k);
		store_argv_add_json(a, v);
	}
	store_append(st, a, q);
}

static void store_hdel(struct store *st, struct store_argv *a, const char *key, const json_t *names,
                       int *q)
{
	size_t i;
	json_t *v;

	if (json_array_size(names) == 0)
		return;
	store_argv_add(a, "HDEL");
	store_argv_add(a, key);
	json_array_foreach(names, i, v)
		if (json_is_string(v))
			store_argv_add(a, json_string_value(v));
	if (a->n > 2)
		store_append(st, a, q);
	else
		store_argv_clear(a);
}

static void store_cycle_queue(struct store *st, const struct store_cycle_write *w, int *q)
{
	struct store_argv a = {0};
	size_t i;
	json_t *v;

	store_hset(st, &a, K_ACTIVE, w->active_set, q);
	store_hdel(st, &a, K_ACTIVE, w->active_del, q);
	json_array_foreach(w->dumps, i, v) {
		const json_t *d = json_object_get(v, "dump");
		const char *id = jsonu_str(d, "dump_id");
		long long ttl = 0;
		char key[sizeof(K_DUMP) + 64], num[24];

		if (id == NULL || strlen(id) > 63)
			continue;
		snprintf(key, sizeof(key), K_DUMP "%s", id);
		jsonu_int(v, "ttl_s", &ttl);
		store_argv_add(&a, "SET");
		store_argv_add(&a, key);
		store_argv_add_json(&a, d);
		if (ttl > 0) {
			snprintf(num, sizeof(num), "%lld", ttl);
			store_argv_add(&a, "EX");
			store_argv_add(&a, num);
		}
		if (json_is_true(json_object_get(v, "only_if_new")))
			store_argv_add(&a, "NX");
		store_append(st, &a, q);
	}
	store_hset(st, &a, K_LATEST, w->latest_set, q);
	store_hset(st, &a, K_VMS, w->vms_set, q);
	store_hdel(st, &a, K_VMS, w->vms_del, q);
	store_hset(st, &a, K_HEALTH, w->health_set, q);
	store_hdel(st, &a, K_HEALTH, w->health_del, q);
	if (w->poller) {
		char num[24];

		snprintf(num, sizeof(num), "%ld", w->poller_ttl_s > 0 ? w->poller_ttl_s : 15);
		store_argv_add(&a, "SET");
		store_argv_add(&a, K_POLLER);
		store_argv_add_json(&a, w->poller);
		store_argv_add(&a, "EX");
		store_argv_add(&a, num);
		store_append(st, &a, q);
	}
	json_array_foreach(w->events, i, v) {
		store_argv_add(&a, "PUBLISH");
		store_argv_add(&a, K_EVENTS);
		store_argv_add_json(&a, v);
		store_append(st, &a, q);
	}
	store_argv_free(&a);
}

int store_cycle_commit(struct store *st, const struct store_cycle_write *w, struct err *e)
{
	struct store_argv a = {0};
	redisReply **r = NULL;
	int q = 0, rc = -1;

	if (st->c == NULL || st->watch_gen == 0 || st->watch_gen != st->conn_gen) {
		st->watch_gen = 0;
		return err_set(e, ERR_CONFLICT,
		               "the connection to Redis at %s was reopened during the cycle",
		               st->where);
	}
	st->watch_gen = 0;
	store_argv_add(&a, "MULTI");
	store_append(st, &a, &q);
	for (int i = 0; i < 4; i++) {
		if (st->reset & (1u << i)) {
			store_argv_add(&a, "DEL");
			store_argv_add(&a, store_cycle_hashes[i]);
			store_append(st, &a, &q);
		}
	}
	st->reset = 0;
	store_cycle_queue(st, w, &q);
	store_argv_add(&a, "EXEC");
	store_append(st, &a, &q);
	store_argv_free(&a);
	r = xcalloc((size_t)q, sizeof(*r));
	if (store_replies(st, q, r, e) < 0)
		goto out;
	for (int i = 1; i < q - 1; i++)
		if (r[i]->type == REDIS_REPLY_ERROR) {
			store_reply_error(st, r[i], e);
			goto out;
		}
	if (r[q - 1]->type == REDIS_REPLY_NIL) {
		err_set(e, ERR_CONFLICT, "Redis keys changed during the cycle (trigger or lease)");
		goto out;
	}
	if (r[q - 1]->type != REDIS_REPLY_ARRAY) {
		store_reply_error(st, r[q - 1], e);
		goto out;
	}
	for (size_t i = 0; i < r[q - 1]->elements; i++)
		if (r[q - 1]->element[i]->type == REDIS_REPLY_ERROR) {
			store_reply_error(st, r[q - 1]->element[i], e);
			goto out;
		}
	rc = 0;
out:
	if (r != NULL)
		store_replies_free(r, q);
	free(r);
	return rc;
}
