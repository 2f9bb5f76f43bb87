/*
 * test_audit: the audit trail's pure half (lib/audit.c): the hash is stable and
 * covers every field, the point's format, cleaning and caps, and the verifier
 * finds a removed, reordered, edited and replaced event; GET /audit's filter
 * and InfluxQL (fcgi/auditq.c); the spool and auditlog on a real folder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../fcgi/auditq.h"
#include "audit.h"
#include "json_util.h"
#include "xmalloc.h"

#define T0 1795372200000LL /* 2026-11-22T18:30:00Z */

static const struct audit_event ev1 = {
    .action = "trigger",
    .result = "ok",
    .request_id = "r-1",
    .user = "alice",
    .auth = "token",
    .role = "operator",
    .client = "127.0.0.1",
    .vm = "web-server",
    .dump_id = "20261122T183000Z-0123456789ab",
    .detail = "vms=1",
    .status = 202,
};

static void test_hash_stable(void **state)
{
	struct audit_rec r;
	struct err e;
	size_t len;
	char *text;

	(void)state;
	assert_int_equal(audit_rec_build(&r, &ev1, "kvm1-42-0a0b0c0d", 1, T0, AUDIT_ZERO_HASH, &e),
	                 0);
	text = audit_canonical(&r, &len);
	assert_string_equal(text, "memdump-audit-v1\n"
	                          "prev=64:" AUDIT_ZERO_HASH "\n"
	                          "chain=16:kvm1-42-0a0b0c0d\n"
	                          "seq=1:1\n"
	                          "at=24:2026-11-22T18:30:00.000Z\n"
	                          "action=7:trigger\n"
	                          "result=2:ok\n"
	                          "request_id=3:r-1\n"
	                          "user=5:alice\n"
	                          "auth=5:token\n"
	                          "role=8:operator\n"
	                          "client=9:127.0.0.1\n"
	                          "vm=10:web-server\n"
	                          "dump_id=29:20261122T183000Z-0123456789ab\n"
	                          "status=3:202\n"
	                          "detail=5:vms=1\n");
	assert_int_equal(len, strlen(text));
	free(text);
	/* sha256 of the text above (computed once with sha256sum) */
	assert_string_equal(r.hash,
	                    "068594699c0fcf4a8e0c957961eb91ef0d260189b75ebcd2c2f96710d9900b18");
	audit_rec_release(&r);
}

static void test_line(void **state)
{
	struct audit_rec r;
	struct audit_event ev = ev1;
	struct err e;
	char *line;
	size_t len;

	(void)state;
	ev.detail = "a \"quoted\" \\ detail,\nnext";
	ev.user = "bob, the = admin";
	assert_int_equal(audit_rec_build(&r, &ev, "c1", 2, T0, AUDIT_ZERO_HASH, &e), 0);
	assert_int_equal(audit_line(&r, T0 * 1000000 + 7, &line, &len, &e), 0);
	char *want = xasprintf(
	    "mem_dump_audit,action=trigger,chain=c1,result=ok seq=2i,"
	    "at=\"2026-11-22T18:30:00.000Z\",status=202i,request_id=\"r-1\","
	    "user=\"bob, the = admin\",auth=\"token\",role=\"operator\",client=\"127.0.0.1\","
	    "vm=\"web-server\",dump_id=\"20261122T183000Z-0123456789ab\","
	    "detail=\"a \\\"quoted\\\" \\\\ detail,?next\",prev=\"%s\",hash=\"%s\" "
	    "1795372200000000007\n",
	    AUDIT_ZERO_HASH, r.hash);
	assert_string_equal(line, want);
	assert_int_equal(len, strlen(line));
	free(want);
	free(line);
	audit_rec_release(&r);
}

static void test_clean_and_caps(void **state)
{
	char big[1000], out[AUDIT_DETAIL_MAX + 1];
	struct audit_rec r;
	struct audit_event ev = ev1;
	struct err e;

	(void)state;
	assert_int_equal(audit_text_clean("a\x01\xff\xc3\xa9", 10, out), 5);
	assert_string_equal(out, "a??\xc3\xa9");
	/* never cut inside a UTF-8 sequence */
	assert_int_equal(audit_text_clean("ab\xc3\xa9", 3, out), 2);
	assert_int_equal(audit_text_clean(NULL, 3, out), 0);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ev.detail = big;
	ev.user = big;
	assert_int_equal(audit_rec_build(&r, &ev, "c1", 1, T0, AUDIT_ZERO_HASH, &e), 0);
	assert_int_equal(strlen(r.detail), AUDIT_DETAIL_MAX);
	assert_int_equal(strlen(r.user), AUDIT_TEXT_MAX);
	audit_rec_release(&r);
	ev.action = "Trigger";
	assert_int_equal(audit_rec_build(&r, &ev, "c1", 1, T0, AUDIT_ZERO_HASH, &e), -1);
	ev.action = "trigger";
	assert_int_equal(audit_rec_build(&r, &ev, "c 1", 1, T0, AUDIT_ZERO_HASH, &e), -1);
	assert_int_equal(audit_rec_build(&r, &ev, "c1", 0, T0, AUDIT_ZERO_HASH, &e), -1);
	assert_int_equal(audit_rec_build(&r, &ev, "c1", 1, T0, "00", &e), -1);
}

/* A chain of n records as InfluxDB would answer SELECT * (columns in its order). */
static json_t *chain_series(const char *chain, int n)
{
	json_t *values = json_array();
	char prev[AUDIT_HASH_HEX + 1];

	memcpy(prev, AUDIT_ZERO_HASH, sizeof(prev));
	for (int i = 1; i <= n; i++) {
		struct audit_rec r;
		struct audit_event ev = ev1;
		char detail[32];

		snprintf(detail, sizeof(detail), "event %d", i);
		ev.detail = detail;
		assert_int_equal(audit_rec_build(&r, &ev, chain, i, T0 + i, prev, NULL), 0);
		json_array_append_new(
		    values, json_pack("[I,s,s,s,s,s,s,s,s,s,s,s,s,s,I,I,s,s]", (json_int_t)(T0 + i),
		                      r.action, r.at, r.auth, r.chain, r.client, r.detail,
		                      r.dump_id, r.hash, r.prev, r.request_id, r.result, r.role,
		                      "x", (json_int_t)r.seq, (json_int_t)r.status, r.user, r.vm));
		memcpy(prev, r.hash, sizeof(prev));
		audit_rec_release(&r);
	}
	return json_pack("[{s:s, s:[s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s], s:o}]", "name",
	                 AUDIT_MEASUREMENT, "columns", "time", "action", "at", "auth", "chain",
	                 "client", "detail", "dump_id", "hash", "prev", "request_id", "result",
	                 "role", "unrelated", "seq", "status", "user", "vm", "values", values);
}

static json_t *rows_of(json_t *series)
{
	return json_object_get(json_array_get(series, 0), "values");
}

/* Verify series; the findings as text lines, "intact" when none (new). */
static char *verify(json_t *series, bool from_start)
{
	struct audit_recs rs = {0};
	struct audit_report rep;
	char *out = xstrdup("");

	assert_int_equal(audit_recs_from_series(series, &rs, 1000, NULL), 0);
	audit_verify(&rs, from_start, &rep);
	for (size_t i = 0; i < rep.n_findings; i++) {
		char *t = audit_finding_text(&rep.findings[i]), *n = xasprintf("%s%s\n", out, t);

		free(t);
		free(out);
		out = n;
	}
	if (rep.n_findings == 0) {
		free(out);
		out = xasprintf("intact %zu %zu", rep.events, rep.chains);
	}
	audit_report_release(&rep);
	audit_recs_release(&rs);
	json_decref(series);
	return out;
}

static void test_verify_intact(void **state)
{
	json_t *a = chain_series("a", 5), *b = chain_series("b", 3);
	char *t;

	(void)state;
	json_array_extend(a, b); /* GROUP BY-less answers may hold several series */
	json_decref(b);
	t = verify(a, true);
	assert_string_equal(t, "intact 8 2");
	free(t);
}

static void test_verify_removal(void **state)
{
	json_t *s = chain_series("a", 6);
	char *t;

	(void)state;
	json_array_remove(rows_of(s), 2); /* seq 3 */
	t = verify(s, true);
	assert_string_equal(t, "chain a: event seq 3 missing\n");
	free(t);
	s = chain_series("a", 6);
	json_array_remove(rows_of(s), 0); /* seq 1 */
	json_array_remove(rows_of(s), 0); /* seq 2 */
	t = verify(s, true);
	assert_string_equal(t, "chain a: events seq 1 to 2 missing\n");
	free(t);
	/* with --since the chain's start is not expected */
	s = chain_series("a", 6);
	json_array_remove(rows_of(s), 0);
	t = verify(s, false);
	assert_string_equal(t, "intact 5 1");
	free(t);
}

static void test_verify_reorder(void **state)
{
	json_t *s = chain_series("a", 5), *r3 = json_array_get(rows_of(s), 2),
	       *r4 = json_array_get(rows_of(s), 3);
	json_t *t3 = json_incref(json_array_get(r3, 0));
	char *t;

	(void)state;
	/* swap the times of seq 3 and 4 */
	json_array_set(r3, 0, json_array_get(r4, 0));
	json_array_set_new(r4, 0, t3);
	t = verify(s, true);
	assert_string_equal(t, "chain a: event seq 4 out of order\n");
	free(t);
}

static void test_verify_edit(void **state)
{
	json_t *s = chain_series("a", 5);
	char *t;

	(void)state;
	json_array_set_new(json_array_get(rows_of(s), 1), 6, json_string("event 2 edited"));
	t = verify(s, true);
	assert_string_equal(t, "chain a: event seq 2 edited\n");
	free(t);
}

/* An event replaced by another with a correct hash of its own: the next link breaks. */
static void test_verify_replaced(void **state)
{
	json_t *s = chain_series("a", 4), *forged = chain_series("a", 2);
	char *t;

	(void)state;
	/* forged seq 2 links to the zero hash... use its seq-2 row with a recomputed hash */
	{
		struct audit_rec r;
		struct audit_event ev = ev1;
		const char *prev =
		    json_string_value(json_array_get(json_array_get(rows_of(s), 0), 8));

		ev.detail = "forged";
		assert_int_equal(audit_rec_build(&r, &ev, "a", 2, T0 + 2, prev, NULL), 0);
		json_array_set_new(json_array_get(rows_of(s), 1), 6, json_string(r.detail));
		json_array_set_new(json_array_get(rows_of(s), 1), 8, json_string(r.hash));
		audit_rec_release(&r);
	}
	json_decref(forged);
	t = verify(s, true);
	assert_string_equal(t, "chain a: event seq 3 does not link to the event before it\n");
	free(t);
}

static void test_verify_gap_and_malformed(void **state)
{
	json_t *s = chain_series("a", 9);
	char *t;

	(void)state;
	for (int i = 0; i < 4; i++)
		json_array_remove(rows_of(s), 3); /* seq 4..7 */
	json_array_set_new(json_array_get(rows_of(s), 0), 14, json_string("one"));
	t = verify(s, true);
	assert_string_equal(t, "a row of mem_dump_audit is not an audit event (malformed)\n"
	                       "chain a: event seq 1 missing\n"
	                       "chain a: events seq 4 to 7 missing\n");
	free(t);
}

/* The head check: heads[] against the records of series (new text, like verify). */
static char *verify_heads(json_t *series, const struct audit_head *heads, size_t n,
                          const long long *spooled)
{
	struct audit_recs rs = {0};
	struct audit_report rep;
	char *out = xstrdup("");

	assert_int_equal(audit_recs_from_series(series, &rs, 1000, NULL), 0);
	audit_verify(&rs, true, &rep);
	audit_verify_heads(&rs, heads, n, spooled, &rep);
	for (size_t i = 0; i < rep.n_findings; i++) {
		char *t = audit_finding_text(&rep.findings[i]), *m = xasprintf("%s%s\n", out, t);

		free(t);
		free(out);
		out = m;
	}
	audit_report_release(&rep);
	audit_recs_release(&rs);
	json_decref(series);
	return out;
}

static void test_verify_heads(void **state)
{
	json_t *s = chain_series("a", 5);
	json_t *last = json_array_get(rows_of(s), 4);
	struct audit_head h[2];
	long long spooled[2] = {0, 0};
	char *t;

	(void)state;
	memset(h, 0, sizeof(h));
	snprintf(h[0].chain, sizeof(h[0].chain), "a");
	h[0].seq = 5;
	snprintf(h[0].hash, sizeof(h[0].hash), "%s", json_string_value(json_array_get(last, 8)));
	snprintf(h[1].chain, sizeof(h[1].chain), "gone");
	assert_int_equal(audit_head_parse("3 " AUDIT_ZERO_HASH, &h[1]), 0);
	assert_int_equal(audit_head_parse("3 xyz", &h[1]), -1);
	assert_int_equal(audit_head_parse("0 " AUDIT_ZERO_HASH, &h[1]), -1);
	h[1].seq = 3;
	/* intact: the head is the last event; a whole chain removed is missing */
	t = verify_heads(json_deep_copy(s), h, 2, spooled);
	assert_string_equal(t, "chain gone: events seq 1 to 3 missing\n");
	free(t);
	/* the tail removed: seq 4 and 5 */
	json_array_remove(rows_of(s), 4);
	json_array_remove(rows_of(s), 3);
	t = verify_heads(json_deep_copy(s), h, 1, spooled);
	assert_string_equal(t, "chain a: events seq 4 to 5 missing\n");
	free(t);
	/* ... unless they still wait in the spool */
	spooled[0] = 5;
	t = verify_heads(json_deep_copy(s), h, 1, spooled);
	assert_string_equal(t, "");
	free(t);
	json_decref(s);
	/* the last event replaced by one with a hash of its own */
	s = chain_series("a", 5);
	h[0].hash[0] = h[0].hash[0] == 'a' ? 'b' : 'a';
	spooled[0] = 0;
	t = verify_heads(s, h, 1, spooled);
	assert_string_equal(t, "chain a: event seq 5 does not link to the event before it\n");
	free(t);
}

static void test_query_filter(void **state)
{
	struct query q;
	struct auditq_filter f;
	struct err e;
	char *ql;

	(void)state;
	assert_int_equal(query_parse("user=o%27brien&action=user.add&result=ok&vm=web-server&"
	                             "since=2026-11-01&until=2026-11-22&limit=5&offset=10",
	                             auditq_keys, &q, &e),
	                 0);
	assert_int_equal(auditq_filter_parse(&q, T0, &f, &e), 0);
	ql = auditq_events_ql(&f);
	assert_string_equal(ql, "SELECT * FROM mem_dump_audit WHERE time >= 1793491200000ms AND "
	                        "time < 1795305600000ms AND \"user\" = 'o\\'brien' AND \"action\" "
	                        "= 'user.add' AND \"vm\" = 'web-server' AND \"result\" = 'ok' "
	                        "ORDER BY time DESC LIMIT 5 OFFSET 10");
	free(ql);
	ql = auditq_count_ql(&f);
	assert_non_null(strstr(ql, "SELECT COUNT(seq) FROM mem_dump_audit WHERE"));
	free(ql);
	auditq_filter_release(&f);
	query_release(&q);
	static const char *const bad[] = {
	    "limit=0", "limit=1001",      "result=maybe", "action=A B",
	    "vm=..",   "since=yesterday", "user=a%01b",   "since=2026-11-22&until=2026-11-01",
	    NULL};
	for (int i = 0; bad[i] != NULL; i++) {
		assert_int_equal(query_parse(bad[i], auditq_keys, &q, &e), 0);
		assert_int_equal(auditq_filter_parse(&q, T0, &f, &e), -1);
		assert_int_equal(e.code, ERR_INVALID);
		query_release(&q);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_stable),
	    cmocka_unit_test(test_line),
	    cmocka_unit_test(test_clean_and_caps),
	    cmocka_unit_test(test_verify_intact),
	    cmocka_unit_test(test_verify_removal),
	    cmocka_unit_test(test_verify_reorder),
	    cmocka_unit_test(test_verify_edit),
	    cmocka_unit_test(test_verify_replaced),
	    cmocka_unit_test(test_verify_gap_and_malformed),
	    cmocka_unit_test(test_verify_heads),
	    cmocka_unit_test(test_query_filter),
	};

	jsonu_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
