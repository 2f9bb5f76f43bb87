/*
 * livejson: the bodies of GET /status and GET /vms (docs/api.md) built from the
 * raw values of a store_raw read, without parsing them into trees: each value is
 * checked by rawjson_object_scan and copied (compacted when it is not compact);
 * a value that is not one valid JSON object is left out of a list, or is null in
 * a single-value member (last_trigger, poller, a VM's latest). Lists are sorted
 * as before (active by created_at then dump_id, services by service, VMs by
 * name; ties by hash field). One output buffer sized up front, one array per
 * list, nothing per value. Pure (no I/O); the result is new (free() it).
 */
#ifndef MEMDUMP_LIVEJSON_H
#define MEMDUMP_LIVEJSON_H

#include <stddef.h>

#include <stdbool.h>

#include "redis_store.h"

/* What one caller may see (docs/security.md, scopes). */
struct livejson_view {
	/* NULL: everything. Else asked for each active dump and each VM with its "vm"
	 * (or "name") and "host" strings, decoded, not NUL-terminated (absent: len 0);
	 * false leaves it out, and hides last_trigger (it names VMs). */
	bool (*visible)(void *arg, const char *vm, size_t vm_len, const char *host,
	                size_t host_len);
	void *arg;
	const char *auth; /* /status's "auth" member ("local", "none"), or NULL */
};

/* {"generated_at":..., "active":[...], "active_count":n, "services":[...],
 *  "last_trigger":obj|null, "poller":obj|null[, "auth":...]} from store_raw_get(STORE_RAW_STATUS)'s
 *  raw, as view (NULL: everything) shows it. */
char *livejson_status(const struct store_raw *raw, const char *generated_at,
                      const struct livejson_view *view, size_t *len);

/* {"vms":[VM + "latest":obj|null ...], "count":n, "services_down":[url...]} from
 * store_raw_get(STORE_RAW_INVENTORY)'s raw; a VM object's own "latest" member is replaced. */
char *livejson_vms(const struct store_raw *raw, const struct livejson_view *view, size_t *len);

#endif
