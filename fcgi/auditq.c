/*
 * auditq: see auditq.h. Defaults and caps are /records' (history.h).
 */
#include "auditq.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "clock.h"
#include "dump.h"
#include "history.h"
#include "json_util.h"
#include "log.h"
#include "xmalloc.h"

const char *const auditq_keys[] = {"limit",  "offset", "user",  "action", "vm",
                                   "result", "since",  "until", NULL};

/* [a-z0-9._-]{1,AUDIT_NAME_MAX} */
static bool auditq_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > AUDIT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		      s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

int auditq_filter_parse(const struct query *q, long long now_ms, struct auditq_filter *f,
                        struct err *e)
{
	const char *v;
	char clean[AUDIT_TEXT_MAX + 1];

	memset(f, 0, sizeof(*f));
	if (history_page_parse(q, &f->limit, &f->offset, e) < 0)
		return -1;
	if ((v = query_get(q, "user")) != NULL) {
		if (v[0] == '\0' || strlen(v) > AUDIT_TEXT_MAX ||
		    audit_text_clean(v, AUDIT_TEXT_MAX, clean) != strlen(v) ||
		    strcmp(clean, v) != 0)
			return err_set(e, ERR_INVALID,
			               "'user' must be 1 to %d bytes of UTF-8 text without control "
			               "characters",
			               AUDIT_TEXT_MAX);
		f->user = xstrdup(v);
	}
	if ((v = query_get(q, "action")) != NULL) {
		if (!auditq_name_ok(v)) {
			err_set(e, ERR_INVALID,
			        "'action' must be an action name like trigger, login or user.add");
			goto fail;
		}
		f->action = xstrdup(v);
	}
	if ((v = query_get(q, "result")) != NULL) {
		if (strcmp(v, "ok") != 0 && strcmp(v, "refused") != 0 && strcmp(v, "failed") != 0) {
			err_set(e, ERR_INVALID, "'result' must be one of ok, refused, failed");
			goto fail;
		}
		f->result = xstrdup(v);
	}
	if ((v = query_get(q, "vm")) != NULL) {
		struct err ne;

		if (dump_vm_name_check(v, strlen(v), &ne) < 0) {
			err_set(e, ERR_INVALID, "'vm': %s", ne.msg);
			goto fail;
		}
		f->vm = xstrdup(v);
	}
	if (history_range_parse(q, now_ms, &f->since_ms, &f->until_ms, e) < 0)
		goto fail;
	return 0;
fail:
	auditq_filter_release(f);
	return -1;
}

void auditq_filter_release(struct auditq_filter *f)
{
	if (f == NULL)
		return;
	free(f->user);
	free(f->action);
	free(f->vm);
	free(f->result);
	memset(f, 0, sizeof(*f));
}

/* " AND \"key\" = 'value'" for a set filter, "" otherwise (new). */
static char *auditq_eq(const char *key, const char *value)
{
	char *q, *out;

	if (value == NULL)
		return xstrdup("");
	q = influx_ql_quote(value);
	out = xasprintf(" AND \"%s\" = %s", key, q);
	free(q);
	return out;
}

static char *auditq_where(const struct auditq_filter *f)
{
	char *u = auditq_eq("user", f->user), *a = auditq_eq("action", f->action);
	char *v = auditq_eq("vm", f->vm), *r = auditq_eq("result", f->result);
	char *w = xasprintf(" WHERE time >= %lldms AND time < %lldms%s%s%s%s", f->since_ms,
	                    f->until_ms, u, a, v, r);

	free(u);
	free(a);
	free(v);
	free(r);
	return w;
}

char *auditq_events_ql(const struct auditq_filter *f)
{
	char *w = auditq_where(f);
	char *q = xasprintf("SELECT * FROM " AUDIT_MEASUREMENT "%s ORDER BY time DESC LIMIT %lld "
	                    "OFFSET %lld",
	                    w, f->limit, f->offset);

	free(w);
	return q;
}

char *auditq_count_ql(const struct auditq_filter *f)
{
	char *w = auditq_where(f);
	char *q = xasprintf("SELECT COUNT(seq) FROM " AUDIT_MEASUREMENT "%s", w);

	free(w);
	return q;
}

static void auditq_influx_error(struct exch_resp *r, const struct err *e)
{
	if (e->code == ERR_INVALID)
		exch_resp_error(r, 502, "bad_gateway", "InfluxDB refused the query: %s", e->msg);
	else if (e->code == ERR_PROTOCOL || e->code == ERR_TOO_LARGE)
		exch_resp_error(r, 502, "bad_gateway", "%s", e->msg);
	else
		exch_resp_error(r, 503, "influx_unavailable", "%s", e->msg);
	log_warn("dependency_error", "code=influx msg=%s", log_q(e->msg));
}

void auditq_handle(struct influx *ix, const struct exch_req *q, struct exch_resp *r)
{
	struct auditq_filter f;
	struct query qs;
	struct err e;
	struct audit_recs rs = {0};
	json_t *rows = NULL, *count = NULL, *events;
	char *ql = NULL, *cql = NULL;

	if (query_parse(q->query, auditq_keys, &qs, &e) < 0) {
		exch_resp_error(r, 400, "invalid_query", "%s", e.msg);
		return;
	}
	if (auditq_filter_parse(&qs, clock_realtime_ms(), &f, &e) < 0) {
		exch_resp_error(r, 422, "invalid_field", "%s", e.msg);
		goto out_q;
	}
	ql = auditq_events_ql(&f);
	cql = auditq_count_ql(&f);
	if (influx_query(ix, ql, &rows, &e) < 0 || influx_query(ix, cql, &count, &e) < 0) {
		auditq_influx_error(r, &e);
		goto out;
	}
	if (audit_recs_from_series(rows, &rs, (size_t)HISTORY_LIMIT_MAX, &e) < 0) {
		exch_resp_error(r, 502, "bad_gateway", "%s", e.msg);
		goto out;
	}
	events = json_array();
	for (size_t i = 0; i < rs.n; i++)
		json_array_append_new(events, audit_rec_json(&rs.v[i]));
	exch_resp_json(r, 200,
	               json_pack("{s:o, s:I, s:I, s:I}", "events", events, "total",
	                         (json_int_t)history_count_from_series(count), "limit",
	                         (json_int_t)f.limit, "offset", (json_int_t)f.offset));
out:
	audit_recs_release(&rs);
	free(ql);
	free(cql);
	json_decref(rows);
	json_decref(count);
	auditq_filter_release(&f);
out_q:
	query_release(&qs);
}
