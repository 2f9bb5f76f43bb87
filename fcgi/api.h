/*
 * api: the API's endpoints (handlers). A struct api_ctx belongs to one worker process
 * and holds its connections: one Redis store, one InfluxDB client, one memdumpd
 * client per MEMDUMP_SERVICE_URL (all keep-alive, all with timeouts). api_handle
 * routes one request and fills the response; it never fails as a whole: every
 * outcome, including a dependency being down, is a JSON response.
 */
#ifndef MEMDUMP_API_H
#define MEMDUMP_API_H

#include "auditlog.h"
#include "config.h"
#include "err.h"
#include "exchange.h"

struct api_ctx;

/* cfg is borrowed and must outlive the context. New, or NULL with e. */
struct api_ctx *api_ctx_new(const struct config *cfg, struct err *e);
void api_ctx_free(struct api_ctx *ctx);

/* The worker's audit chain (borrowed; lives as long as ctx). */
struct auditlog *api_ctx_audit(struct api_ctx *ctx);

void api_handle(struct api_ctx *ctx, const struct exch_req *q, struct exch_resp *r);

#endif
