/*
 * history: the pure half of /records and /stats over InfluxDB's mem_dumps
 * measurement (schema in docs/influxdb.md): the query parameters validated into
 * a struct history_filter, the InfluxQL statements built from it (every string
 * through influx_ql_quote, every statement bounded by time, one statement per
 * query), and the v1 answers' series turned into the API's JSON. No I/O.
 * Returned strings and json_t are new.
 */
#ifndef MEMDUMP_HISTORY_H
#define MEMDUMP_HISTORY_H

#include <jansson.h>

#include "err.h"
#include "query.h"

#define HISTORY_MEASUREMENT "mem_dumps"
#define HISTORY_LIMIT_DEFAULT 100
#define HISTORY_LIMIT_MAX 1000
#define HISTORY_OFFSET_MAX 100000
#define HISTORY_WINDOW_MS (365LL * 86400 * 1000) /* default since: a year before until */
#define HISTORY_SKEW_MS (86400LL * 1000)         /* default until: now + a day */
#define HISTORY_DAYS 30                          /* per_day of /stats */

struct history_filter {
	long long limit, offset;
	char *vm;                     /* NULL: any */
	char *state;                  /* NULL: any */
	char *requested_by;           /* NULL: any (a field, /records only) */
	long long since_ms, until_ms; /* [since, until) */
	char *scope; /* InfluxQL condition of the caller's scope (authz_influx_where), or NULL */
};

/* The query keys /records accepts, and those /stats accepts. */
extern const char *const history_records_keys[];
extern const char *const history_stats_keys[];

/* The paging and time range /records, /stats and /audit share: limit 1..HISTORY_LIMIT_MAX
 * (default HISTORY_LIMIT_DEFAULT), offset 0..HISTORY_OFFSET_MAX (default 0); until
 * (default now + HISTORY_SKEW_MS) and since (default HISTORY_WINDOW_MS before until,
 * never before the epoch) as RFC 3339 times or dates, since < until. ERR_INVALID naming
 * the parameter. */
int history_page_parse(const struct query *q, long long *limit, long long *offset, struct err *e);
int history_range_parse(const struct query *q, long long now_ms, long long *since_ms,
                        long long *until_ms, struct err *e);

/* Validate q against now: ERR_INVALID naming the parameter and what is allowed. */
int history_filter_parse(const struct query *q, long long now_ms, struct history_filter *f,
                         struct err *e);
void history_filter_release(struct history_filter *f);

char *history_records_ql(const struct history_filter *f);
char *history_count_ql(const struct history_filter *f);

/* Rows of a SELECT * answer -> array of records, newest first as given. */
json_t *history_records_from_series(const json_t *series);
/* The count of a COUNT answer (0 when no series). */
long long history_count_from_series(const json_t *series);

/* /stats: the five statements and the assembly of their answers. */
enum history_stat { HS_BY_STATE, HS_DURATIONS, HS_LAST, HS_PER_VM, HS_PER_DAY, HS__MAX };
char *history_stats_ql(enum history_stat which, const struct history_filter *f, long long now_ms);
/* series[i] is the answer of statement i (borrowed). */
json_t *history_stats_build(json_t *const series[HS__MAX], const struct history_filter *f,
                            long long now_ms);

#endif
