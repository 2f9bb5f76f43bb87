/*
 * redis_store_int: what lib/redis_store.c (connection, pipelines, the API's reads
 * and writes) shares with lib/redis_cycle.c (the poller's lease, snapshot and
 * commit). Private to those two files: the only ones that include hiredis.
 */
#ifndef MEMDUMP_REDIS_STORE_INT_H
#define MEMDUMP_REDIS_STORE_INT_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <sys/time.h>

#include "redis_store.h"
#include "store_url.h"

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

/* One command's arguments, owned. */
struct store_argv {
	int n, cap;
	char **v;
	size_t *len;
};

/* A unit of work on a connected store (store_call runs it, retrying once). */
typedef int (*store_fn)(struct store *st, void *arg, struct err *e);

void store_argv_add(struct store_argv *a, const char *s);
void store_argv_add_json(struct store_argv *a, const json_t *v);
void store_argv_clear(struct store_argv *a);
void store_argv_free(struct store_argv *a);
void store_append(struct store *st, struct store_argv *a, int *queued);
int store_replies(struct store *st, int n, redisReply **r, struct err *e);
void store_replies_free(redisReply **r, int n);
int store_reply_error(struct store *st, const redisReply *r, struct err *e);
int store_call(struct store *st, store_fn fn, void *arg, struct err *e);
int store_reply_hash(struct store *st, const redisReply *r, json_t **out, struct err *e);

#endif
