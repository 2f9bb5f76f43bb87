/*
 * redis_auth: the access-control keys of redis_store (docs/redis-schema.md):
 * dashboard sessions and the counters behind the rate limits. A session is one
 * string memdump:session:<sha256 hex of the cookie value> holding compact JSON,
 * with a TTL of the idle timeout that every use renews (GETEX); a counter is
 * memdump:limit:<kind>:<subject>, INCRBY'd with a TTL set by its first hit
 * (EXPIRE NX), so each window starts at its first event. Same connection,
 * pipelining and retry rules as redis_store.c (see redis_store_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "redis_store_int.h"
#include "xmalloc.h"

#define K_SESSION "memdump:session:"
#define K_LIMIT "memdump:limit:"
#define STORE_KEY_MAX 320

struct store_session_arg {
	const char *key;
	const json_t *value; /* put */
	long ttl_s;          /* put, touch */
	json_t **out;        /* touch */
	int op;              /* 0 put, 1 touch, 2 del */
};

static int store_session_fn(struct store *st, void *arg, struct err *e)
{
	static const char *const cmds[] = {"SET", "GETEX", "DEL"};
	struct store_session_arg *s = arg;
	struct store_argv a = {0};
	char ttl[24];
	redisReply *r;
	int q = 0, rc = -1;

	snprintf(ttl, sizeof(ttl), "%ld", s->ttl_s);
	store_argv_add(&a, cmds[s->op]);
	store_argv_add(&a, s->key);
	if (s->op == 0)
		store_argv_add_json(&a, s->value);
	if (s->op != 2) {
		store_argv_add(&a, "EX");
		store_argv_add(&a, ttl);
	}
	store_append(st, &a, &q);
	store_argv_free(&a);
	if (store_replies(st, 1, &r, e) < 0)
		return -1;
	if (s->op == 1 && r->type == REDIS_REPLY_NIL) {
		err_set(e, ERR_NOT_FOUND, "no such session");
	} else if (s->op == 1 && r->type == REDIS_REPLY_STRING) {
		*s->out = jsonu_parse(r->str, r->len, STORE_VALUE_MAX, JSONU_MAX_DEPTH, NULL);
		if (*s->out != NULL && json_is_object(*s->out))
			rc = 0;
		else
			err_set(e, ERR_PROTOCOL, "Redis at %s holds a session that is not JSON",
			        st->where);
	} else if ((s->op == 0 && r->type == REDIS_REPLY_STATUS) ||
	           (s->op == 2 && r->type == REDIS_REPLY_INTEGER)) {
		rc = 0;
	} else {
		store_reply_error(st, r, e);
	}
	freeReplyObject(r);
	return rc;
}

static int store_session_key(char *key, const char *id, struct err *e)
{
	if (strlen(id) != 64 || strspn(id, "0123456789abcdef") != 64)
		return err_set(e, ERR_INVALID, "a session id is 64 lower-case hex digits");
	snprintf(key, STORE_KEY_MAX, K_SESSION "%s", id);
	return 0;
}

int store_session_put(struct store *st, const char *id, const json_t *value, long ttl_s,
                      struct err *e)
{
	char key[STORE_KEY_MAX];
	struct store_session_arg s = {key, value, ttl_s, NULL, 0};

	if (store_session_key(key, id, e) < 0)
		return -1;
	return store_call(st, store_session_fn, &s, e);
}

int store_session_touch(struct store *st, const char *id, long ttl_s, json_t **out, struct err *e)
{
	char key[STORE_KEY_MAX];
	struct store_session_arg s = {key, NULL, ttl_s, out, 1};

	*out = NULL;
	if (store_session_key(key, id, e) < 0)
		return -1;
	return store_call(st, store_session_fn, &s, e);
}

int store_session_del(struct store *st, const char *id, struct err *e)
{
	char key[STORE_KEY_MAX];
	struct store_session_arg s = {key, NULL, 0, NULL, 2};

	if (store_session_key(key, id, e) < 0)
		return -1;
	return store_call(st, store_session_fn, &s, e);
}

struct store_limit_arg {
	const char *key;
	long long by; /* 0: read only; negative takes back */
	long window_s;
	long long *count;
	long *ttl_s;
};

static int store_limit_fn(struct store *st, void *arg, struct err *e)
{
	struct store_limit_arg *l = arg;
	struct store_argv a = {0};
	char by[24], win[24];
	redisReply *r[3];
	int q = 0, rc = -1;

	snprintf(by, sizeof(by), "%lld", l->by);
	snprintf(win, sizeof(win), "%ld", l->window_s);
	if (l->by != 0) {
		store_argv_add(&a, "INCRBY");
		store_argv_add(&a, l->key);
		store_argv_add(&a, by);
		store_append(st, &a, &q);
		store_argv_add(&a, "EXPIRE");
		store_argv_add(&a, l->key);
		store_argv_add(&a, win);
		store_argv_add(&a, "NX");
		store_append(st, &a, &q);
	} else {
		store_argv_add(&a, "GET");
		store_argv_add(&a, l->key);
		store_append(st, &a, &q);
	}
	store_argv_add(&a, "TTL");
	store_argv_add(&a, l->key);
	store_append(st, &a, &q);
	store_argv_free(&a);
	if (store_replies(st, q, r, e) < 0)
		return -1;
	*l->count = 0;
	if (r[0]->type == REDIS_REPLY_INTEGER) {
		*l->count = r[0]->integer;
	} else if (r[0]->type == REDIS_REPLY_STRING) {
		char *end;

		*l->count = strtoll(r[0]->str, &end, 10);
		if (*end != '\0')
			goto bad;
	} else if (r[0]->type != REDIS_REPLY_NIL) {
		goto bad;
	}
	if (r[q - 1]->type != REDIS_REPLY_INTEGER)
		goto bad;
	/* -2: no key; -1: no TTL (cannot happen after EXPIRE NX; count it as a window) */
	*l->ttl_s = r[q - 1]->integer > 0 ? (long)r[q - 1]->integer : l->window_s;
	rc = 0;
	goto out;
bad:
	store_reply_error(st, r[0]->type == REDIS_REPLY_ERROR ? r[0] : r[q - 1], e);
out:
	store_replies_free(r, q);
	return rc;
}

int store_limit_hit(struct store *st, const char *kind, const char *subject, long long by,
                    long window_s, long long *count, long *ttl_s, struct err *e)
{
	char key[STORE_KEY_MAX];
	struct store_limit_arg l = {key, by, window_s, count, ttl_s};

	if (snprintf(key, sizeof(key), K_LIMIT "%s:%s", kind, subject) >= (int)sizeof(key))
		return err_set(e, ERR_INVALID, "limit key too long");
	return store_call(st, store_limit_fn, &l, e);
}

int store_limit_clear(struct store *st, const char *kind, const char *subject, struct err *e)
{
	char key[STORE_KEY_MAX];
	struct store_session_arg s = {key, NULL, 0, NULL, 2};

	if (snprintf(key, sizeof(key), K_LIMIT "%s:%s", kind, subject) >= (int)sizeof(key))
		return err_set(e, ERR_INVALID, "limit key too long");
	return store_call(st, store_session_fn, &s, e);
}

/* ---- audit chain heads ---------------------------------------------------------------- */

#define K_AUDIT_HEAD "memdump:audit:head:"
#define STORE_HEAD_TTL "7776000" /* 90 days: verify runs well within it */
#define STORE_HEADS_MAX 100000

struct store_head_arg {
	const char *chain, *value; /* put */
	json_t *out;               /* get: object chain -> "SEQ HASH" */
};

static int store_head_put_fn(struct store *st, void *arg, struct err *e)
{
	struct store_head_arg *h = arg;
	struct store_argv a = {0};
	char key[STORE_KEY_MAX];
	redisReply *r;
	int q = 0, rc;

	snprintf(key, sizeof(key), K_AUDIT_HEAD "%s", h->chain);
	store_argv_add(&a, "SET");
	store_argv_add(&a, key);
	store_argv_add(&a, h->value);
	store_argv_add(&a, "EX");
	store_argv_add(&a, STORE_HEAD_TTL);
	store_append(st, &a, &q);
	store_argv_free(&a);
	if (store_replies(st, 1, &r, e) < 0)
		return -1;
	rc = r->type == REDIS_REPLY_STATUS ? 0 : store_reply_error(st, r, e);
	freeReplyObject(r);
	return rc;
}

int store_audit_head_put(struct store *st, const char *chain, long long seq, const char *hash,
                         struct err *e)
{
	char value[96];
	struct store_head_arg h = {chain, value, NULL};

	if (strlen(chain) > 128)
		return err_set(e, ERR_INVALID, "chain id too long");
	snprintf(value, sizeof(value), "%lld %s", seq, hash);
	return store_call(st, store_head_put_fn, &h, e);
}

/* One SCAN step (cursor in/out) and the GETs of the keys it found, pipelined. */
static int store_heads_fn(struct store *st, void *arg, struct err *e)
{
	struct store_head_arg *h = arg;
	char cursor[32] = "0";
	size_t prefix = strlen(K_AUDIT_HEAD);

	do {
		struct store_argv a = {0};
		redisReply *r, **vals;
		int q = 0;
		size_t nk;

		store_argv_add(&a, "SCAN");
		store_argv_add(&a, cursor);
		store_argv_add(&a, "MATCH");
		store_argv_add(&a, K_AUDIT_HEAD "*");
		store_argv_add(&a, "COUNT");
		store_argv_add(&a, "1000");
		store_append(st, &a, &q);
		if (store_replies(st, 1, &r, e) < 0) {
			store_argv_free(&a);
			return -1;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			store_argv_free(&a);
			store_reply_error(st, r, e);
			freeReplyObject(r);
			return -1;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		nk = r->element[1]->elements;
		q = 0;
		for (size_t i = 0; i < nk; i++) {
			store_argv_add(&a, "GET");
			store_argv_add(&a, r->element[1]->element[i]->str);
			store_append(st, &a, &q);
		}
		store_argv_free(&a);
		vals = xcalloc(nk ? nk : 1, sizeof(*vals));
		if (nk > 0 && store_replies(st, (int)nk, vals, e) < 0) {
			free(vals);
			freeReplyObject(r);
			return -1;
		}
		for (size_t i = 0; i < nk; i++) {
			const redisReply *k = r->element[1]->element[i];

			if (vals[i]->type == REDIS_REPLY_STRING && k->type == REDIS_REPLY_STRING &&
			    k->len > prefix && json_object_size(h->out) < STORE_HEADS_MAX)
				json_object_set_new(h->out, k->str + prefix,
				                    json_string(vals[i]->str));
		}
		store_replies_free(vals, (int)nk);
		free(vals);
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

int store_audit_heads_get(struct store *st, json_t **out, struct err *e)
{
	struct store_head_arg h = {NULL, NULL, json_object()};

	if (store_call(st, store_heads_fn, &h, e) < 0) {
		json_decref(h.out);
		*out = NULL;
		return -1;
	}
	*out = h.out;
	return 0;
}
