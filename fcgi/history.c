/*
 * history: see history.h. InfluxQL text is built here and nowhere else; values
 * from clients reach it only as validated integers or through influx_ql_quote.
 */
#include "history.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "influx.h"
#include "json_util.h"
#include "xmalloc.h"

const char *const history_records_keys[] = {"limit", "offset", "vm",           "state",
                                            "since", "until",  "requested_by", NULL};
const char *const history_stats_keys[] = {"vm", "since", "until", NULL};

static const char *const history_fields[] = {
    "dump_id", "vm",         "host",  "state",      "format",      "path",         "size_bytes",
    "sha256",  "duration_s", "error", "started_at", "finished_at", "requested_by", NULL,
};

static int history_time(const struct query *q, const char *key, long long *out, struct err *e)
{
	const char *v = query_get(q, key);
	struct err te;

	if (v == NULL)
		return 0;
	if (jsonu_time_parse(v, out, &te) < 0 || *out < 0)
		return err_set(e, ERR_INVALID,
		               "'%s' must be an RFC 3339 time like 2026-11-22T18:30:00Z or a date "
		               "like 2026-11-22 (%s)",
		               key, te.msg);
	return 1;
}

int history_page_parse(const struct query *q, long long *limit, long long *offset, struct err *e)
{
	const char *v;

	*limit = HISTORY_LIMIT_DEFAULT;
	*offset = 0;
	if ((v = query_get(q, "limit")) != NULL && query_int(v, 1, HISTORY_LIMIT_MAX, limit) < 0)
		return err_set(e, ERR_INVALID, "'limit' must be an integer from 1 to %d",
		               HISTORY_LIMIT_MAX);
	if ((v = query_get(q, "offset")) != NULL && query_int(v, 0, HISTORY_OFFSET_MAX, offset) < 0)
		return err_set(e, ERR_INVALID, "'offset' must be an integer from 0 to %d",
		               HISTORY_OFFSET_MAX);
	return 0;
}

int history_range_parse(const struct query *q, long long now_ms, long long *since_ms,
                        long long *until_ms, struct err *e)
{
	*until_ms = now_ms + HISTORY_SKEW_MS;
	if (history_time(q, "until", until_ms, e) < 0)
		return -1;
	*since_ms = *until_ms - HISTORY_WINDOW_MS;
	if (*since_ms < 0)
		*since_ms = 0;
	if (history_time(q, "since", since_ms, e) < 0)
		return -1;
	if (*since_ms >= *until_ms)
		return err_set(e, ERR_INVALID, "'since' must be before 'until'");
	return 0;
}

int history_filter_parse(const struct query *q, long long now_ms, struct history_filter *f,
                         struct err *e)
{
	const char *v;

	memset(f, 0, sizeof(*f));
	if (history_page_parse(q, &f->limit, &f->offset, e) < 0)
		return -1;
	if ((v = query_get(q, "vm")) != NULL) {
		struct err ne;

		if (dump_vm_name_check(v, strlen(v), &ne) < 0)
			return err_set(e, ERR_INVALID, "'vm': %s", ne.msg);
		f->vm = xstrdup(v);
	}
	if ((v = query_get(q, "requested_by")) != NULL) {
		struct err ne;

		if (dump_user_check(v, strlen(v), &ne) < 0) {
			err_set(e, ERR_INVALID, "'requested_by': %s", ne.msg);
			goto fail;
		}
		f->requested_by = xstrdup(v);
	}
	if ((v = query_get(q, "state")) != NULL) {
		enum dump_state s;

		if (dump_state_parse(v, &s) < 0) {
			err_set(e, ERR_INVALID,
			        "'state' must be one of queued, running, completed, failed, "
			        "cancelled");
			goto fail;
		}
		f->state = xstrdup(dump_state_name(s));
	}
	if (history_range_parse(q, now_ms, &f->since_ms, &f->until_ms, e) < 0)
		goto fail;
	return 0;
fail:
	history_filter_release(f);
	return -1;
}

void history_filter_release(struct history_filter *f)
{
	if (f == NULL)
		return;
	free(f->vm);
	free(f->state);
	free(f->requested_by);
	free(f->scope);
	memset(f, 0, sizeof(*f));
}

/* " WHERE time >= Xms AND time < Yms [AND vm = '..'] [AND state = '..']
 * [AND requested_by = '..'] [AND (scope)]", new. */
static char *history_where(const struct history_filter *f, long long since, long long until,
                           const char *force_state)
{
	char *vm = f->vm ? influx_ql_quote(f->vm) : NULL;
	const char *st = force_state ? force_state : f->state;
	char *state = st ? influx_ql_quote(st) : NULL;
	char *by = f->requested_by ? influx_ql_quote(f->requested_by) : NULL;
	char *w =
	    xasprintf(" WHERE time >= %lldms AND time < %lldms%s%s%s%s%s%s%s%s%s", since, until,
	              vm ? " AND vm = " : "", vm ? vm : "", state ? " AND state = " : "",
	              state ? state : "", by ? " AND requested_by = " : "", by ? by : "",
	              f->scope ? " AND (" : "", f->scope ? f->scope : "", f->scope ? ")" : "");

	free(vm);
	free(state);
	free(by);
	return w;
}

char *history_records_ql(const struct history_filter *f)
{
	char *w = history_where(f, f->since_ms, f->until_ms, NULL);
	char *q = xasprintf("SELECT * FROM " HISTORY_MEASUREMENT "%s ORDER BY time DESC LIMIT %lld "
	                    "OFFSET %lld",
	                    w, f->limit, f->offset);

	free(w);
	return q;
}

char *history_count_ql(const struct history_filter *f)
{
	char *w = history_where(f, f->since_ms, f->until_ms, NULL);
	char *q = xasprintf("SELECT COUNT(dump_id) FROM " HISTORY_MEASUREMENT "%s", w);

	free(w);
	return q;
}

/* Index of column name in a series' "columns", -1 when absent. */
static int history_col(const json_t *s, const char *name)
{
	const json_t *cols = json_object_get(s, "columns");
	size_t i;
	json_t *c;

	json_array_foreach(cols, i, c)
		if (json_is_string(c) && strcmp(json_string_value(c), name) == 0)
			return (int)i;
	return -1;
}

static json_t *history_cell(const json_t *row, int col)
{
	json_t *v = col < 0 ? NULL : json_array_get(row, (size_t)col);

	return v ? json_incref(v) : json_null();
}

static json_t *history_time_json(const json_t *v)
{
	char buf[32];

	double ms = json_number_value(v);

	/* a number InfluxDB sent: out of range is null, not undefined behaviour */
	if (!json_is_number(v) || !(ms > -1e17 && ms < 1e17))
		return json_null();
	jsonu_time_format((long long)ms, buf);
	return json_string(buf);
}

static json_t *history_record(const json_t *s, const json_t *row)
{
	json_t *r = json_object();

	json_object_set_new(
	    r, "time",
	    history_time_json(json_array_get(
	        row, (size_t)(history_col(s, "time") < 0 ? 0 : history_col(s, "time")))));
	for (int i = 0; history_fields[i] != NULL; i++)
		json_object_set_new(r, history_fields[i],
		                    history_cell(row, history_col(s, history_fields[i])));
	return r;
}

json_t *history_records_from_series(const json_t *series)
{
	json_t *out = json_array();
	size_t i, j;
	json_t *s, *row;

	json_array_foreach(series, i, s) {
		json_array_foreach(json_object_get(s, "values"), j, row)
			json_array_append_new(out, history_record(s, row));
	}
	return out;
}

/* A number InfluxDB sent as a long long: 0 when it is not a number or beyond
 * +-HISTORY_NUM_MAX (converting those would be undefined behaviour). */
#define HISTORY_NUM_MAX 9e15
static long long history_ll(const json_t *v)
{
	double d = json_is_number(v) ? json_number_value(v) : 0;

	return d > -HISTORY_NUM_MAX && d < HISTORY_NUM_MAX ? (long long)d : 0;
}

/* Number in column name of row (0 when null, absent or out of range). */
static long long history_num(const json_t *s, const json_t *row, const char *name)
{
	int c = history_col(s, name);

	return history_ll(c < 0 ? NULL : json_array_get(row, (size_t)c));
}

long long history_count_from_series(const json_t *series)
{
	json_t *s = json_array_get(series, 0);
	json_t *row = json_array_get(json_object_get(s, "values"), 0);

	return row ? history_num(s, row, "count") : 0;
}

char *history_stats_ql(enum history_stat which, const struct history_filter *f, long long now_ms)
{
	long long day = 86400LL * 1000, d1 = (now_ms / day + 1) * day, d0 = d1 - HISTORY_DAYS * day;
	char *w, *q = NULL;

	switch (which) {
	case HS_BY_STATE:
		w = history_where(f, f->since_ms, f->until_ms, NULL);
		q = xasprintf("SELECT COUNT(dump_id) AS count, SUM(size_bytes) AS bytes "
		              "FROM " HISTORY_MEASUREMENT "%s GROUP BY state",
		              w);
		break;
	case HS_DURATIONS:
		w = history_where(f, f->since_ms, f->until_ms, "completed");
		q = xasprintf("SELECT MEAN(duration_s) AS mean, PERCENTILE(duration_s, 95) AS p95 "
		              "FROM " HISTORY_MEASUREMENT "%s",
		              w);
		break;
	case HS_LAST:
		w = history_where(f, f->since_ms, f->until_ms, NULL);
		q = xasprintf("SELECT * FROM " HISTORY_MEASUREMENT "%s ORDER BY time DESC LIMIT 1",
		              w);
		break;
	case HS_PER_VM:
		w = history_where(f, f->since_ms, f->until_ms, NULL);
		q = xasprintf("SELECT COUNT(dump_id) AS count, SUM(size_bytes) AS bytes "
		              "FROM " HISTORY_MEASUREMENT "%s GROUP BY vm, state",
		              w);
		break;
	case HS_PER_DAY:
	default:
		w = history_where(f, d0, d1, NULL);
		q = xasprintf("SELECT COUNT(dump_id) AS count, SUM(size_bytes) AS bytes "
		              "FROM " HISTORY_MEASUREMENT "%s GROUP BY time(1d), state fill(0)",
		              w);
		break;
	}
	free(w);
	return q;
}

static const char *history_tag(const json_t *s, const char *tag)
{
	const char *v = jsonu_str(json_object_get(s, "tags"), tag);

	return v ? v : "";
}

/* Add count/bytes of one state to a per-x object
 * {"count","completed","failed","cancelled","bytes"}. */
/* o[key] += n, saturating (garbage from InfluxDB must not overflow a sum). */
static void history_sum(json_t *o, const char *key, long long n)
{
	long long cur = 0, sum;

	jsonu_int(o, key, &cur);
	if (__builtin_add_overflow(cur, n, &sum))
		sum = n < 0 ? LLONG_MIN : LLONG_MAX;
	json_object_set_new(o, key, json_integer(sum));
}

static void history_add(json_t *o, const char *state, long long count, long long bytes)
{
	static const char *const keys[] = {"count", "bytes", "completed", "failed", "cancelled"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (json_object_get(o, keys[i]) == NULL)
			json_object_set_new(o, keys[i], json_integer(0));
	history_sum(o, "count", count);
	history_sum(o, "bytes", bytes);
	if (strcmp(state, "completed") == 0 || strcmp(state, "failed") == 0 ||
	    strcmp(state, "cancelled") == 0)
		history_sum(o, state, count);
}

static json_t *history_number_or_null(const json_t *s, const json_t *row, const char *name)
{
	int c = history_col(s, name);
	json_t *v = c < 0 ? NULL : json_array_get(row, (size_t)c);

	if (!json_is_number(v) || !isfinite(json_number_value(v)))
		return json_null();
	return json_real(json_number_value(v));
}

json_t *history_stats_build(json_t *const series[HS__MAX], const struct history_filter *f,
                            long long now_ms)
{
	long long day = 86400LL * 1000, d1 = (now_ms / day + 1) * day, d0 = d1 - HISTORY_DAYS * day;
	json_t *out = json_object(), *totals = json_object(), *per_vm = json_object();
	json_t *vms = json_array(), *days = json_array(), *s, *row, *last, *dur, *v;
	long long completed = 0, failed = 0;
	const char *key;
	char buf[32];
	size_t i, j;

	json_array_foreach(series[HS_BY_STATE], i, s) {
		row = json_array_get(json_object_get(s, "values"), 0);
		if (row)
			history_add(totals, history_tag(s, "state"), history_num(s, row, "count"),
			            history_num(s, row, "bytes"));
	}
	history_add(totals, "", 0, 0);
	jsonu_int(totals, "completed", &completed);
	jsonu_int(totals, "failed", &failed);
	json_object_set(out, "total", json_object_get(totals, "count"));
	json_object_set(out, "completed", json_object_get(totals, "completed"));
	json_object_set(out, "failed", json_object_get(totals, "failed"));
	json_object_set(out, "cancelled", json_object_get(totals, "cancelled"));
	json_object_set_new(out, "success_rate",
	                    completed + failed > 0
	                        ? json_real((double)completed / (double)(completed + failed))
	                        : json_null());
	json_object_set(out, "bytes_total", json_object_get(totals, "bytes"));

	dur = json_array_get(series[HS_DURATIONS], 0);
	row = json_array_get(json_object_get(dur, "values"), 0);
	json_object_set_new(out, "duration_mean_s",
	                    row ? history_number_or_null(dur, row, "mean") : json_null());
	json_object_set_new(out, "duration_p95_s",
	                    row ? history_number_or_null(dur, row, "p95") : json_null());

	last = history_records_from_series(series[HS_LAST]);
	json_object_set(out, "last_dump",
	                json_array_size(last) ? json_array_get(last, 0) : json_null());
	json_decref(last);

	json_array_foreach(series[HS_PER_VM], i, s) {
		const char *vm = history_tag(s, "vm");
		json_t *o = json_object_get(per_vm, vm);

		row = json_array_get(json_object_get(s, "values"), 0);
		if (o == NULL) {
			o = json_object();
			json_object_set_new(o, "vm", json_string(vm));
			json_object_set_new(per_vm, vm, o);
		}
		if (row)
			history_add(o, history_tag(s, "state"), history_num(s, row, "count"),
			            history_num(s, row, "bytes"));
	}
	json_object_foreach(per_vm, key, v)
		json_array_append(vms, v);
	json_object_set_new(out, "per_vm", vms);

	for (long long t = d0; t < d1; t += day) {
		json_t *o = json_object();

		jsonu_time_format(t, buf);
		buf[10] = '\0';
		json_object_set_new(o, "date", json_string(buf));
		history_add(o, "", 0, 0);
		json_array_append_new(days, o);
	}
	json_array_foreach(series[HS_PER_DAY], i, s) {
		json_array_foreach(json_object_get(s, "values"), j, row) {
			json_t *tv = json_array_get(row, 0);
			long long t = json_is_number(tv) ? history_ll(tv) : -1;

			if (t >= d0 && t < d1)
				history_add(json_array_get(days, (size_t)((t - d0) / day)),
				            history_tag(s, "state"), history_num(s, row, "count"),
				            history_num(s, row, "bytes"));
		}
	}
	json_object_set_new(out, "per_day", days);
	jsonu_time_format(f->since_ms, buf);
	json_object_set_new(out, "since", json_string(buf));
	jsonu_time_format(f->until_ms, buf);
	json_object_set_new(out, "until", json_string(buf));
	json_decref(totals);
	json_decref(per_vm);
	return out;
}
