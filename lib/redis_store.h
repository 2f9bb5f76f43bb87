/*
 * redis_store: the only module that includes hiredis, and the only one that
 * knows the Redis key schema (docs/redis-schema.md). The poller writes through
 * it, the API workers read (and record triggers) through it. Two files: the
 * connection and the API's calls in redis_store.c, the poller's lease and cycle
 * in redis_cycle.c (redis_store_int.h is what they share).
 * A struct store owns one connection, opened lazily and reopened after an error
 * (the next call retries; no call blocks longer than the timeout). Not
 * thread-safe: one per thread/process. Values in Redis are compact JSON texts;
 * functions hand out new json_t references (caller json_decref()s) and borrow
 * the ones they are given, except the raw reads (struct store_raw), which hand
 * out the reply bytes themselves. Errors: ERR_UNAVAILABLE "Redis at HOST:PORT is
 * unreachable: ..." when Redis is down, ERR_PROTOCOL for unexpected replies.
 */
#ifndef MEMDUMP_REDIS_STORE_H
#define MEMDUMP_REDIS_STORE_H

#include <jansson.h>
#include <stdbool.h>

#include "err.h"
#include "store_url.h"

struct store;

struct store *store_new(const char *redis_url, long timeout_ms, struct err *e);
void store_free(struct store *st);
/* "HOST:PORT" or "unix:PATH" (no credentials), for logs; borrowed. */
const char *store_address(const struct store *st);
int store_ping(struct store *st, struct err *e);

/* ---- reads for the API (each one Redis round trip) ---- */

/*
 * Raw reads for the hot endpoints: the values exactly as Redis holds them (the
 * JSON texts the poller and the API wrote), not parsed. Bytes are borrowed from
 * the replies the struct holds until store_raw_release(); a value larger than
 * STORE_VALUE_MAX or not a string is left out. Checking that a value is JSON is
 * the caller's job (fcgi/rawjson.h).
 */
struct store_bytes {
	const char *p; /* NULL: none */
	size_t len;
};
struct store_pair {
	struct store_bytes field, value;
};
struct store_pairs {
	struct store_pair *v; /* hash fields in Redis's order */
	size_t n;
};
#define STORE_RAW_REPLIES 5
/* Which live-state keys a raw read fetches, pipelined in one round trip: */
enum store_raw_read {
	/* hashes[0] HGETALL memdump:active, hashes[1] HGETALL memdump:health;
	 * strings[0] GET memdump:last_trigger, strings[1] GET memdump:poller */
	STORE_RAW_STATUS,
	/* hashes[0] memdump:vms, hashes[1] memdump:latest, hashes[2] memdump:health
	 * (empty when that key is not a hash) */
	STORE_RAW_INVENTORY,
	STORE_RAW__MAX
};
struct store_raw {
	struct store_pairs hashes[3]; /* unused ones empty */
	struct store_bytes strings[2];
	void *replies_[STORE_RAW_REPLIES]; /* private: what the bytes point into */
	struct store_pair *pairs_;         /* private: one array behind every hashes[i].v */
};
int store_raw_get(struct store *st, enum store_raw_read which, struct store_raw *out,
                  struct err *e);
/* Frees what a raw read holds; safe on a zeroed or released struct. */
void store_raw_release(struct store_raw *raw);
/* The VM's current or latest dump; ERR_NOT_FOUND when none is known. */
int store_vm_latest_get(struct store *st, const char *vm, json_t **out, struct err *e);
/* One dump by id (any state); ERR_NOT_FOUND. */
int store_dump_get(struct store *st, const char *dump_id, json_t **out, struct err *e);
/* Inventory entries for the given VM names (one HMGET): object name -> VM object
 * (missing names are absent). */
int store_inventory_lookup(struct store *st, const char *const *names, size_t n, json_t **out,
                           struct err *e);

/* ---- writes by the API ---- */

/* Record dumps just queued by a trigger (array of dump objects, each with dump_id
 * and vm) and the trigger summary (object, or NULL), atomically in one round trip
 * (a Lua script). A dump the poller already stored is left alone (the poller's copy
 * is newer); a VM's latest entry is replaced only by a dump created no earlier. */
int store_trigger_record(struct store *st, const json_t *dumps, const json_t *trigger,
                         struct err *e);

/* ---- access control (lib/redis_auth.c) ---- */

/* Dashboard sessions, by id (the SHA-256 hex of the cookie value, never the
 * value): put stores value (borrowed) for ttl_s; touch reads it and renews the
 * TTL (new object in *out; ERR_NOT_FOUND when it expired or never existed); del
 * ends it (no error when it was gone already). */
int store_session_put(struct store *st, const char *id, const json_t *value, long ttl_s,
                      struct err *e);
int store_session_touch(struct store *st, const char *id, long ttl_s, json_t **out, struct err *e);
int store_session_del(struct store *st, const char *id, struct err *e);

/* Rate-limit counters memdump:limit:KIND:SUBJECT: add by (0: only read; negative
 * takes back) and get
 * the window's count and the seconds left in it (window_s for a new window). */
int store_limit_hit(struct store *st, const char *kind, const char *subject, long long by,
                    long window_s, long long *count, long *ttl_s, struct err *e);
int store_limit_clear(struct store *st, const char *kind, const char *subject, struct err *e);

/* Audit chain heads memdump:audit:head:<chain> = "SEQ HASH" (90 days): put after each
 * event; get every head (SCAN), a new object chain -> "SEQ HASH". */
int store_audit_head_put(struct store *st, const char *chain, long long seq, const char *hash,
                         struct err *e);
int store_audit_heads_get(struct store *st, json_t **out, struct err *e);

/* ---- the poller (docs/poller.md) ---- */

/*
 * The lease memdump:lease makes one poller the active one. store_lease_hold
 * renews it when id holds it, else takes it when free (SET NX PX), atomically
 * (Lua); *held says whether id holds it now. store_lease_release deletes it
 * only when id holds it.
 */
int store_lease_hold(struct store *st, const char *id, long ttl_ms, bool *held, struct err *e);
int store_lease_release(struct store *st, const char *id, struct err *e);

/*
 * One poll cycle: store_cycle_begin WATCHes memdump:active, memdump:latest and
 * memdump:lease on this connection and reads what the merge needs (all new
 * objects): active (dump_id -> dump), latest (vm -> dump), vms (name -> VM),
 * health (url -> health). store_cycle_commit then applies the writes in one
 * MULTI/EXEC; it fails with ERR_CONFLICT (and writes nothing) when a watched key
 * changed since begin (an API trigger, another poller took the lease) or the
 * connection was reopened in between: the caller redoes the cycle. One of the four
 * hashes holding another type (WRONGTYPE) reads as empty, is logged, and is deleted
 * by the commit before the cycle's writes, so the cycle rebuilds it.
 */
struct store_snapshot {
	json_t *active;
	json_t *latest;
	json_t *vms;
	json_t *health;
};
int store_cycle_begin(struct store *st, struct store_snapshot *snap, struct err *e);
void store_snapshot_release(struct store_snapshot *snap);

/* A cycle's writes (all borrowed; NULL members are skipped). */
struct store_cycle_write {
	json_t *active_set; /* object dump_id -> dump: HSET memdump:active */
	json_t *active_del; /* array of dump_id: HDEL memdump:active */
	/* array of {"dump":obj, "ttl_s":n (0: no TTL), "only_if_new":bool}:
	 * SET memdump:dump:{id} [EX n] [NX] */
	json_t *dumps;
	json_t *latest_set; /* object vm -> dump: HSET memdump:latest */
	json_t *vms_set;    /* object name -> VM: HSET memdump:vms */
	json_t *vms_del;    /* array of names: HDEL memdump:vms */
	json_t *health_set; /* object url -> health: HSET memdump:health */
	json_t *health_del; /* array of urls: HDEL memdump:health */
	json_t *events;     /* array of event objects: PUBLISH memdump:events */
	json_t *poller;     /* memdump:poller, with EX poller_ttl_s */
	long poller_ttl_s;
};
int store_cycle_commit(struct store *st, const struct store_cycle_write *w, struct err *e);

#endif
