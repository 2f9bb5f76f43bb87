/*
 * redis_store: the only module that includes hiredis, and the only one that
 * knows the Redis key schema (docs/redis-schema.md). The poller writes through
 * it, the API workers read (and record triggers) through it.
 * A struct store owns one connection, opened lazily and reopened after an error
 * (the next call retries; no call blocks longer than the timeout). Not
 * thread-safe: one per thread/process. Values in Redis are compact JSON texts;
 * functions hand out new json_t references (caller json_decref()s) and borrow
 * the ones they are given. Errors: ERR_UNAVAILABLE "Redis at HOST:PORT is
 * unreachable: ..." when Redis is down, ERR_PROTOCOL for unexpected replies.
 */
#ifndef MEMDUMP_REDIS_STORE_H
#define MEMDUMP_REDIS_STORE_H

#include <jansson.h>
#include <stdbool.h>

#include "err.h"

struct store;

/* Pure parse of REDIS_URL (redis://[:password@]host[:port][/db] or unix:///path[?db=N]).
 * Fields are new strings in *out. */
struct store_url {
	char *host;     /* NULL for unix sockets */
	int port;
	char *path;     /* unix socket path or NULL */
	char *password; /* NULL when none */
	int db;
};
int store_url_parse(const char *url, struct store_url *out, struct err *e);
void store_url_release(struct store_url *u);

struct store *store_new(const char *redis_url, long timeout_ms, struct err *e);
void store_free(struct store *st);
int store_ping(struct store *st, struct err *e);

/* ---- reads for the API (each one Redis round trip) ---- */

/* {"active":[dump...], "services":[health...], "last_trigger":obj|null,
 *  "poller":obj|null} in one pipelined round trip. */
int store_status_get(struct store *st, json_t **out, struct err *e);
/* The VM's current or latest dump; ERR_NOT_FOUND when none is known. */
int store_vm_latest_get(struct store *st, const char *vm, json_t **out, struct err *e);
/* One dump by id (any state); ERR_NOT_FOUND. */
int store_dump_get(struct store *st, const char *dump_id, json_t **out, struct err *e);
/* The inventory: array of VM objects (name, host, service, uuid, state, memory_bytes...),
 * sorted by name. */
int store_inventory_get(struct store *st, json_t **out, struct err *e);
/* Inventory entries for the given VM names (one HMGET): object name -> VM object
 * (missing names are absent). */
int store_inventory_lookup(struct store *st, const char *const *names, size_t n, json_t **out,
			   struct err *e);

/* ---- writes by the API ---- */

/* Record dumps just queued by a trigger (array of dump objects) and the trigger
 * summary (object), in one MULTI/EXEC round trip. */
int store_trigger_record(struct store *st, const json_t *dumps, const json_t *trigger,
			 struct err *e);

#endif
