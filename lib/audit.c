/*
 * audit: see audit.h. The canonical text and the point are built from the same
 * cleaned record, so what is hashed is exactly what InfluxDB stores and gives back.
 * Verification sorts the records by (chain, seq, time) and walks each chain once.
 */
#include "audit.h"

#include <openssl/sha.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "influx.h"
#include "json_util.h"
#include "xmalloc.h"

size_t audit_text_clean(const char *in, size_t cap, char *out)
{
	const unsigned char *s = (const unsigned char *)(in != NULL ? in : "");
	size_t n = strlen((const char *)s), i = 0, o = 0;

	while (i < n) {
		size_t l = dump_utf8_seq(s + i, n - i, NULL);

		if (l == 0 || (l == 1 && (s[i] < 0x20 || s[i] == 0x7F))) {
			if (o + 1 > cap)
				break;
			out[o++] = '?';
			i++;
			continue;
		}
		if (o + l > cap)
			break;
		memcpy(out + o, s + i, l);
		o += l;
		i += l;
	}
	out[o] = '\0';
	return o;
}

static char *audit_clean_dup(const char *in, size_t cap)
{
	char *out = xmalloc(cap + 1);

	audit_text_clean(in, cap, out);
	return out;
}

static bool audit_name_ok(const char *s, size_t max, bool upper)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-' || (upper && c >= 'A' && c <= 'Z')))
			return false;
	}
	return true;
}

static bool audit_hex_ok(const char *s)
{
	if (s == NULL || strlen(s) != AUDIT_HASH_HEX)
		return false;
	for (int i = 0; i < AUDIT_HASH_HEX; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int audit_rec_build(struct audit_rec *r, const struct audit_event *ev, const char *chain,
                    long long seq, long long at_ms, const char *prev, struct err *e)
{
	memset(r, 0, sizeof(*r));
	if (!audit_name_ok(chain, AUDIT_CHAIN_MAX, true))
		return err_set(e, ERR_INVALID, "audit chain id must be 1 to %d of [A-Za-z0-9._-]",
		               AUDIT_CHAIN_MAX);
	if (!audit_name_ok(ev->action, AUDIT_NAME_MAX, false) ||
	    !audit_name_ok(ev->result, AUDIT_NAME_MAX, false))
		return err_set(e, ERR_INVALID,
		               "audit action and result must be 1 to %d of [a-z0-9._-]",
		               AUDIT_NAME_MAX);
	if (seq < 1 || !audit_hex_ok(prev) || at_ms < 0)
		return err_set(e, ERR_INVALID, "audit seq must be >= 1 and prev 64 hex digits");
	r->chain = xstrdup(chain);
	r->seq = seq;
	jsonu_time_format(at_ms, r->at);
	r->action = xstrdup(ev->action);
	r->result = xstrdup(ev->result);
	r->request_id = audit_clean_dup(ev->request_id, AUDIT_TEXT_MAX);
	r->user = audit_clean_dup(ev->user, AUDIT_TEXT_MAX);
	r->auth = audit_clean_dup(ev->auth, AUDIT_TEXT_MAX);
	r->role = audit_clean_dup(ev->role, AUDIT_TEXT_MAX);
	r->client = audit_clean_dup(ev->client, AUDIT_TEXT_MAX);
	r->vm = audit_clean_dup(ev->vm, AUDIT_TEXT_MAX);
	r->dump_id = audit_clean_dup(ev->dump_id, AUDIT_TEXT_MAX);
	r->detail = audit_clean_dup(ev->detail, AUDIT_DETAIL_MAX);
	r->status = ev->status;
	memcpy(r->prev, prev, AUDIT_HASH_HEX + 1);
	audit_hash(r, r->hash);
	return 0;
}

void audit_rec_release(struct audit_rec *r)
{
	if (r == NULL)
		return;
	free(r->chain);
	free(r->action);
	free(r->result);
	free(r->request_id);
	free(r->user);
	free(r->auth);
	free(r->role);
	free(r->client);
	free(r->vm);
	free(r->dump_id);
	free(r->detail);
	memset(r, 0, sizeof(*r));
}

struct audit_buf {
	char *p;
	size_t len, cap;
};

static void audit_put(struct audit_buf *b, const char *name, const char *value)
{
	size_t vl = strlen(value), need = strlen(name) + vl + 32;
	int n;

	if (b->len + need > b->cap) {
		b->cap = (b->len + need) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	n = snprintf(b->p + b->len, b->cap - b->len, "%s=%zu:", name, vl);
	b->len += (size_t)n;
	memcpy(b->p + b->len, value, vl);
	b->len += vl;
	b->p[b->len++] = '\n';
	b->p[b->len] = '\0';
}

char *audit_canonical(const struct audit_rec *r, size_t *len)
{
	struct audit_buf b = {0};
	char num[32];
	static const char head[] = "memdump-audit-v1\n";

	b.cap = 1024;
	b.p = xmalloc(b.cap);
	memcpy(b.p, head, sizeof(head));
	b.len = sizeof(head) - 1;
	audit_put(&b, "prev", r->prev);
	audit_put(&b, "chain", r->chain);
	snprintf(num, sizeof(num), "%lld", r->seq);
	audit_put(&b, "seq", num);
	audit_put(&b, "at", r->at);
	audit_put(&b, "action", r->action);
	audit_put(&b, "result", r->result);
	audit_put(&b, "request_id", r->request_id);
	audit_put(&b, "user", r->user);
	audit_put(&b, "auth", r->auth);
	audit_put(&b, "role", r->role);
	audit_put(&b, "client", r->client);
	audit_put(&b, "vm", r->vm);
	audit_put(&b, "dump_id", r->dump_id);
	snprintf(num, sizeof(num), "%lld", r->status);
	audit_put(&b, "status", num);
	audit_put(&b, "detail", r->detail);
	*len = b.len;
	return b.p;
}

void audit_hash(const struct audit_rec *r, char out[AUDIT_HASH_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];
	size_t len;
	char *text = audit_canonical(r, &len);

	SHA256((const unsigned char *)text, len, md);
	free(text);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[AUDIT_HASH_HEX] = '\0';
}

int audit_line(const struct audit_rec *r, long long time_ns, char **out, size_t *len, struct err *e)
{
	struct influx_lp *lp = influx_lp_new(AUDIT_MEASUREMENT);
	const char *const names[] = {"request_id", "user",    "auth",   "role", "client",
	                             "vm",         "dump_id", "detail", "prev", "hash"};
	const char *const values[] = {r->request_id, r->user,    r->auth,   r->role, r->client,
	                              r->vm,         r->dump_id, r->detail, r->prev, r->hash};
	int rc = -1;

	*out = NULL;
	*len = 0;
	if (influx_lp_tag(lp, "action", r->action, e) < 0 ||
	    influx_lp_tag(lp, "chain", r->chain, e) < 0 ||
	    influx_lp_tag(lp, "result", r->result, e) < 0 ||
	    influx_lp_field_int(lp, "seq", r->seq, e) < 0 ||
	    influx_lp_field_str(lp, "at", r->at, e) < 0 ||
	    influx_lp_field_int(lp, "status", r->status, e) < 0)
		goto out;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (influx_lp_field_str(lp, names[i], values[i], e) < 0)
			goto out;
	rc = influx_lp_finish(lp, time_ns, out, len, e);
out:
	influx_lp_free(lp);
	return rc;
}

/* ---- reading back ------------------------------------------------------------------- */

static int audit_col(const json_t *s, const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach(json_object_get(s, "columns"), i, c)
		if (json_is_string(c) && strcmp(json_string_value(c), name) == 0)
			return (int)i;
	return -1;
}

/* The string in column name (or the series' tag of that name), NULL when absent or
 * not a string or longer than max. */
static const char *audit_cell_str(const json_t *s, const json_t *row, const char *name, size_t max)
{
	int c = audit_col(s, name);
	const json_t *v = c >= 0 ? json_array_get(row, (size_t)c) : NULL;

	if (v == NULL || json_is_null(v))
		v = json_object_get(json_object_get(s, "tags"), name);
	if (!json_is_string(v) || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

static bool audit_cell_int(const json_t *s, const json_t *row, const char *name, long long *out)
{
	int c = audit_col(s, name);
	const json_t *v = c >= 0 ? json_array_get(row, (size_t)c) : NULL;
	double d;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	if (!json_is_real(v))
		return false;
	d = json_real_value(v);
	if (!(d > -9e15 && d < 9e15) || d != (double)(long long)d)
		return false;
	*out = (long long)d;
	return true;
}

static int audit_rec_from_row(const json_t *s, const json_t *row, struct audit_rec *r)
{
	static const char *const names[] = {"action",  "result", "request_id", "user",
	                                    "auth",    "role",   "client",     "vm",
	                                    "dump_id", "detail", "chain"};
	char **slots[] = {&r->action, &r->result, &r->request_id, &r->user,   &r->auth, &r->role,
	                  &r->client, &r->vm,     &r->dump_id,    &r->detail, &r->chain};
	const char *at, *prev, *hash;

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v = audit_cell_str(s, row, names[i], 4 * AUDIT_DETAIL_MAX);

		if (v == NULL)
			goto bad;
		*slots[i] = xstrdup(v);
	}
	at = audit_cell_str(s, row, "at", sizeof(r->at) - 1);
	prev = audit_cell_str(s, row, "prev", AUDIT_HASH_HEX);
	hash = audit_cell_str(s, row, "hash", AUDIT_HASH_HEX);
	if (at == NULL || prev == NULL || hash == NULL || strlen(r->chain) > AUDIT_CHAIN_MAX ||
	    !audit_cell_int(s, row, "seq", &r->seq) ||
	    !audit_cell_int(s, row, "status", &r->status))
		goto bad;
	if (!audit_cell_int(s, row, "time", &r->time))
		r->time = 0;
	memcpy(r->at, at, strlen(at) + 1);
	memcpy(r->prev, prev, strlen(prev) + 1);
	memcpy(r->hash, hash, strlen(hash) + 1);
	return 0;
bad:
	audit_rec_release(r);
	return -1;
}

int audit_recs_from_series(const json_t *series, struct audit_recs *out, size_t max, struct err *e)
{
	size_t i, j;
	json_t *s, *row;

	json_array_foreach(series, i, s) {
		json_array_foreach(json_object_get(s, "values"), j, row) {
			struct audit_rec r;

			if (audit_rec_from_row(s, row, &r) < 0) {
				out->malformed++;
				continue;
			}
			if (out->n >= max) {
				audit_rec_release(&r);
				return err_set(e, ERR_TOO_LARGE, "more than %zu audit events", max);
			}
			if (out->n == out->cap) {
				out->cap = out->cap ? out->cap * 2 : 64;
				out->v = xrealloc(out->v, out->cap * sizeof(*out->v));
			}
			out->v[out->n++] = r;
		}
	}
	return 0;
}

void audit_recs_release(struct audit_recs *rs)
{
	if (rs == NULL)
		return;
	for (size_t i = 0; i < rs->n; i++)
		audit_rec_release(&rs->v[i]);
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

json_t *audit_rec_json(const struct audit_rec *r)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, "
	                 "s:s, s:s}",
	                 "at", r->at, "chain", r->chain, "seq", (json_int_t)r->seq, "action",
	                 r->action, "result", r->result, "request_id", r->request_id, "user",
	                 r->user, "auth", r->auth, "role", r->role, "client", r->client, "vm",
	                 r->vm, "dump_id", r->dump_id, "status", (json_int_t)r->status, "detail",
	                 r->detail, "prev", r->prev, "hash", r->hash);
}

/* ---- verifying ---------------------------------------------------------------------- */

static const char *const audit_problem_names[AUDIT_PROBLEM__MAX] = {
    "missing",    "edited",    "out of order", "does not link to the event before it",
    "duplicated", "malformed",
};

const char *audit_problem_name(enum audit_problem p)
{
	return p >= 0 && p < AUDIT_PROBLEM__MAX ? audit_problem_names[p] : "?";
}

static int audit_rec_cmp(const void *a, const void *b)
{
	const struct audit_rec *x = a, *y = b;
	int c = strcmp(x->chain, y->chain);

	if (c != 0)
		return c;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return strcmp(x->hash, y->hash);
}

static void audit_find(struct audit_report *rep, const char *chain, long long seq,
                       long long seq_last, enum audit_problem what)
{
	struct audit_finding *f;

	if (rep->n_findings >= AUDIT_FINDINGS_MAX) {
		rep->more++;
		return;
	}
	if (rep->findings == NULL)
		rep->findings = xcalloc(AUDIT_FINDINGS_MAX, sizeof(*rep->findings));
	f = &rep->findings[rep->n_findings++];
	snprintf(f->chain, sizeof(f->chain), "%s", chain);
	f->seq = seq;
	f->seq_last = seq_last;
	f->what = what;
}

void audit_verify(struct audit_recs *rs, bool from_start, struct audit_report *rep)
{
	const struct audit_rec *before = NULL; /* the record of the same chain before r */

	memset(rep, 0, sizeof(*rep));
	rep->events = rs->n;
	if (rs->n > 0)
		qsort(rs->v, rs->n, sizeof(*rs->v), audit_rec_cmp);
	for (size_t i = 0; i < rs->malformed; i++)
		audit_find(rep, "?", 0, 0, AUDIT_MALFORMED);
	for (size_t i = 0; i < rs->n; i++) {
		const struct audit_rec *r = &rs->v[i];
		char h[AUDIT_HASH_HEX + 1];

		if (before != NULL && strcmp(before->chain, r->chain) != 0)
			before = NULL;
		if (before == NULL) {
			rep->chains++;
			if (from_start && r->seq > 1)
				audit_find(rep, r->chain, 1, r->seq - 1, AUDIT_MISSING);
			else if (from_start && r->seq == 1 && strcmp(r->prev, AUDIT_ZERO_HASH) != 0)
				audit_find(rep, r->chain, r->seq, r->seq, AUDIT_BROKEN_LINK);
		}
		audit_hash(r, h);
		if (strcmp(h, r->hash) != 0)
			audit_find(rep, r->chain, r->seq, r->seq, AUDIT_EDITED);
		if (before != NULL) {
			if (r->seq == before->seq) {
				audit_find(rep, r->chain, r->seq, r->seq, AUDIT_DUPLICATE);
				continue; /* keep linking against the first of them */
			}
			if (r->seq > before->seq + 1)
				audit_find(rep, r->chain, before->seq + 1, r->seq - 1,
				           AUDIT_MISSING);
			else if (strcmp(r->prev, before->hash) != 0)
				audit_find(rep, r->chain, r->seq, r->seq, AUDIT_BROKEN_LINK);
			if (r->time < before->time)
				audit_find(rep, r->chain, r->seq, r->seq, AUDIT_OUT_OF_ORDER);
		}
		before = r;
	}
}

int audit_head_parse(const char *s, struct audit_head *h)
{
	char *end;
	long long seq;

	errno = 0;
	seq = strtoll(s, &end, 10);
	if (errno != 0 || end == s || seq < 1 || *end != ' ' || strlen(end + 1) != AUDIT_HASH_HEX ||
	    strspn(end + 1, "0123456789abcdef") != AUDIT_HASH_HEX)
		return -1;
	h->seq = seq;
	memcpy(h->hash, end + 1, AUDIT_HASH_HEX + 1);
	return 0;
}

void audit_verify_heads(const struct audit_recs *rs, const struct audit_head *heads, size_t n,
                        const long long *spooled_last, struct audit_report *rep)
{
	for (size_t k = 0; k < n; k++) {
		const struct audit_head *h = &heads[k];
		const struct audit_rec *last = NULL;
		long long have;

		/* rs is sorted by chain then seq: the chain's last record */
		for (size_t i = 0; i < rs->n; i++)
			if (strcmp(rs->v[i].chain, h->chain) == 0)
				last = &rs->v[i];
		have = last != NULL ? last->seq : 0;
		if (spooled_last != NULL && spooled_last[k] > have)
			have = spooled_last[k];
		if (have < h->seq)
			audit_find(rep, h->chain, have + 1, h->seq, AUDIT_MISSING);
		else if (last != NULL && last->seq == h->seq && strcmp(last->hash, h->hash) != 0)
			audit_find(rep, h->chain, h->seq, h->seq, AUDIT_BROKEN_LINK);
	}
}

void audit_report_release(struct audit_report *rep)
{
	if (rep == NULL)
		return;
	free(rep->findings);
	memset(rep, 0, sizeof(*rep));
}

char *audit_finding_text(const struct audit_finding *f)
{
	if (f->what == AUDIT_MALFORMED)
		return xasprintf("a row of %s is not an audit event (malformed)",
		                 AUDIT_MEASUREMENT);
	if (f->seq_last > f->seq)
		return xasprintf("chain %s: events seq %lld to %lld %s", f->chain, f->seq,
		                 f->seq_last, audit_problem_name(f->what));
	return xasprintf("chain %s: event seq %lld %s", f->chain, f->seq,
	                 audit_problem_name(f->what));
}
