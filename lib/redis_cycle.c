/*
 * redis_cycle: the poller's side of the Redis store (see redis_store.h and
 * docs/redis-schema.md): the leader lease, the cycle's snapshot (WATCH + HGETALL)
 * and its one MULTI/EXEC. The cycle keeps WATCH state on the connection:
 * conn_gen tells store_cycle_commit whether the connection was reopened since
 * store_cycle_begin.
 */
#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "log.h"
#include "redis_store_int.h"
#include "xmalloc.h"

/* The hashes a poller cycle reads whole and rewrites (store_cycle_begin/commit). */
static const char *const store_cycle_hashes[4] = {K_ACTIVE, K_LATEST, K_VMS, K_HEALTH};

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
