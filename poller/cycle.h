/*
 * cycle: the poller's decisions, as pure functions (no I/O, no clock): what
 * every memdumpd answered plus what Redis held at the start of the cycle go in,
 * the cycle's Redis writes come out (struct store_cycle_write). Rules are in
 * docs/poller.md: lost and overdue dumps are failed with a reason, finished ones
 * leave the active set with a TTL, a down host keeps its last-known VMs marked
 * unreachable, an event is published per state change. Thread-safe.
 */
#ifndef MEMDUMP_POLLER_CYCLE_H
#define MEMDUMP_POLLER_CYCLE_H

#include <jansson.h>
#include <stddef.h>

#include "redis_store.h"

/* What one memdumpd answered this cycle (all borrowed). */
struct cycle_host {
	const char *url;   /* memdumpd base URL (MEMDUMP_SERVICE_URL entry) */
	json_t *health;    /* GET /api/health object, NULL when it failed */
	json_t *vms;       /* GET /api/vms array, NULL when it failed */
	json_t *dumps;     /* GET /api/dumps array (plus dumps found by id), NULL when it failed */
	json_t *gone;      /* object dump_id -> true: 404 for GET /api/dumps/{id}; may be NULL */
	const char *error; /* the first failure of this host's calls, NULL when none */
	double latency_ms; /* of the health call */
	/* Wall time this host's /api/dumps answer arrived in the last committed cycle
	 * (0: none yet). A finished dump Redis did not have gets an event only when it
	 * finished after this: that answer cannot have reported it, while old records
	 * written back after a FLUSHALL stay silent. Per host, so a slow or dead host
	 * (or the by-id confirmations) cannot widen another host's window. */
	long long events_since_ms;
};

struct cycle_input {
	long long now_ms;
	long long max_wait_s;              /* MEMDUMP_MAX_WAIT */
	long long record_ttl_s;            /* MEMDUMP_RECORD_TTL */
	const struct store_snapshot *snap; /* borrowed */
	const struct cycle_host *hosts;
	size_t n_hosts;
};

/*
 * Ids of active dumps recorded for url that its answer (dumps, borrowed) does not
 * list: new array; the caller asks memdumpd for each (GET /api/dumps/{id}).
 */
json_t *cycle_missing(const struct store_snapshot *snap, const char *url, const json_t *dumps);

/* Fill w (its members new; release with cycle_write_release) and *active_left, the
 * number of dumps active after the writes. */
void cycle_merge(const struct cycle_input *in, struct store_cycle_write *w, size_t *active_left);
void cycle_write_release(struct store_cycle_write *w);

#endif
