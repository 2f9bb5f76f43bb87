/*
 * auditq: GET /api/memory-dumps/audit, the audit events in InfluxDB's
 * mem_dump_audit, newest first, filtered and paged like /records. The pure half
 * (auditq_filter_parse, auditq_events_ql, auditq_count_ql) validates the query
 * parameters and builds the InfluxQL (strings only through influx_ql_quote);
 * auditq_handle does the two queries on the worker's InfluxDB client. No role check
 * here: the auth gate requires an unscoped admin grant for this route.
 */
#ifndef MEMDUMP_AUDITQ_H
#define MEMDUMP_AUDITQ_H

#include "err.h"
#include "exchange.h"
#include "influx.h"
#include "query.h"

struct auditq_filter {
	long long limit, offset;
	char *user, *action, *vm, *result; /* NULL: any */
	long long since_ms, until_ms;      /* [since, until) */
};

extern const char *const auditq_keys[];

/* ERR_INVALID naming the parameter and what is allowed. */
int auditq_filter_parse(const struct query *q, long long now_ms, struct auditq_filter *f,
                        struct err *e);
void auditq_filter_release(struct auditq_filter *f);
char *auditq_events_ql(const struct auditq_filter *f);
char *auditq_count_ql(const struct auditq_filter *f);

/* The handler: 200 {"events","total","limit","offset"}, 400 invalid_query, 422
 * invalid_field, 503 influx_unavailable, 502 bad_gateway. ix is borrowed. */
void auditq_handle(struct influx *ix, const struct exch_req *q, struct exch_resp *r);

#endif
