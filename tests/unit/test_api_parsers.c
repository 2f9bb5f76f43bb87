/*
 * test_api_parsers: memdump-api's pure parts — router, query strings and the
 * /records filter with its InfluxQL, the trigger body, the CSRF checks, the
 * /stats assembly — by unit tests and by the data-folder cases in
 * tests/data/{route,query,trigger}/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../fcgi/exchange.h"
#include "../../fcgi/history.h"
#include "../../fcgi/query.h"
#include "../../fcgi/route.h"
#include "../../fcgi/trigger.h"
#include "json_util.h"
#include "support/caserender_api.h"
#include "support/datacase.h"

static void test_route_cases(void **state)
{
	(void)state;
	assert_int_equal(datacase_run("route", caserender_route), 0);
}

static void test_query_cases(void **state)
{
	(void)state;
	assert_int_equal(datacase_run("query", caserender_query), 0);
}

static void test_trigger_cases(void **state)
{
	(void)state;
	assert_int_equal(datacase_run("trigger", caserender_trigger), 0);
}

static void test_audit_query_cases(void **state)
{
	(void)state;
	assert_int_equal(datacase_run("audit_query", caserender_audit_query), 0);
}

static void test_credentials_cases(void **state)
{
	(void)state;
	assert_int_equal(datacase_run("credentials", caserender_credentials), 0);
}

static void test_route_arg_cap(void **state)
{
	char path[ROUTE_ARG_MAX + 64];
	struct route rt;

	(void)state;
	memset(path, 'a', sizeof(path));
	memcpy(path, "/api/memory-dumps/status/", 25);
	path[25 + ROUTE_ARG_MAX] = '\0';
	assert_int_equal(route_match("GET", path, &rt), ROUTE_OK);
	assert_int_equal(strlen(rt.arg), ROUTE_ARG_MAX);
	path[25 + ROUTE_ARG_MAX] = 'a';
	path[26 + ROUTE_ARG_MAX] = '\0';
	assert_int_equal(route_match("GET", path, &rt), ROUTE_NOT_FOUND);
	assert_int_equal(route_match(NULL, "/api/memory-dumps/status", &rt), ROUTE_NOT_FOUND);
}

static void test_query_caps(void **state)
{
	static const char *const keys[] = {"a", NULL};
	char big[QUERY_MAX + 8];
	struct query q;
	struct err e;

	(void)state;
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(query_parse(big, keys, &q, &e), -1);
	assert_int_equal(e.code, ERR_TOO_LARGE);
	assert_int_equal(query_parse("a=1&&", keys, &q, &e), 0);
	assert_string_equal(query_get(&q, "a"), "1");
	query_release(&q);
	assert_int_equal(query_parse("a=x+y%21", keys, &q, &e), 0);
	assert_string_equal(query_get(&q, "a"), "x y!");
	query_release(&q);
	assert_int_equal(query_parse("a", keys, &q, &e), 0);
	assert_string_equal(query_get(&q, "a"), "");
	query_release(&q);
}

static void test_query_int(void **state)
{
	long long v;

	(void)state;
	assert_int_equal(query_int("10", 1, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(query_int("11", 1, 10, &v), -1);
	assert_int_equal(query_int(" 1", 1, 10, &v), -1);
	assert_int_equal(query_int("+1", 1, 10, &v), -1);
	assert_int_equal(query_int("1x", 1, 10, &v), -1);
	assert_int_equal(query_int("", 1, 10, &v), -1);
	assert_int_equal(query_int("99999999999999999999999", 1, 10, &v), -1);
}

static void test_csrf(void **state)
{
	struct exch_req q = {0};
	struct exch_resp r = {0};

	(void)state;
	assert_true(exch_media_is_json("application/json"));
	assert_true(exch_media_is_json("Application/JSON; charset=utf-8"));
	assert_false(exch_media_is_json("application/jsonp"));
	assert_false(exch_media_is_json("text/plain"));
	assert_false(exch_media_is_json(NULL));
	assert_true(exch_origin_matches("http://h:8080", "h:8080"));
	assert_true(exch_origin_matches("https://H", "h"));
	assert_false(exch_origin_matches("http://h:8081", "h:8080"));
	assert_false(exch_origin_matches("null", "h"));
	assert_false(exch_origin_matches("http://h/", "h"));
	assert_false(exch_origin_matches("http://h", NULL));
	q.content_type = "application/json";
	q.origin = "http://evil";
	q.host = "good";
	assert_int_equal(exch_require_json_same_origin(&q, &r), -1);
	assert_int_equal(r.status, 403);
	exch_resp_release(&r);
	q.origin = NULL;
	assert_int_equal(exch_require_json_same_origin(&q, &r), 0);
	assert_int_equal(exch_resp_header(&r, "X-A", "bad\r\nInjected: 1"), -1);
	assert_int_equal(exch_resp_header(&r, "X-A", "ok"), 0);
	exch_resp_release(&r);
}

static void test_stats_build(void **state)
{
	const char *txt[HS__MAX] = {
	    "[{\"name\":\"mem_dumps\",\"tags\":{\"state\":\"completed\"},\"columns\":[\"time\","
	    "\"count\",\"bytes\"],\"values\":[[0,3,300]]},"
	    "{\"name\":\"mem_dumps\",\"tags\":{\"state\":\"failed\"},\"columns\":[\"time\","
	    "\"count\",\"bytes\"],\"values\":[[0,1,null]]}]",
	    "[{\"name\":\"mem_dumps\",\"columns\":[\"time\",\"mean\",\"p95\"],\"values\":[[0,2.5,4]"
	    "]}]",
	    "[]",
	    "[{\"name\":\"mem_dumps\",\"tags\":{\"vm\":\"a\",\"state\":\"completed\"},\"columns\":["
	    "\"time\",\"count\",\"bytes\"],\"values\":[[0,3,300]]}]",
	    "[{\"name\":\"mem_dumps\",\"tags\":{\"state\":\"completed\"},\"columns\":[\"time\","
	    "\"count\",\"bytes\"],\"values\":[[1795305600000,2,200]]}]",
	};
	json_t *series[HS__MAX], *out;
	struct history_filter f = {.limit = 1, .since_ms = 0, .until_ms = CASERENDER_NOW_MS};
	long long v;
	double d;

	(void)state;
	for (int i = 0; i < HS__MAX; i++)
		series[i] = json_loads(txt[i], 0, NULL);
	out = history_stats_build(series, &f, CASERENDER_NOW_MS);
	assert_int_equal(jsonu_int(out, "total", &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(jsonu_int(out, "bytes_total", &v), 0);
	assert_int_equal(v, 300);
	assert_int_equal(jsonu_num(out, "success_rate", &d), 0);
	assert_true(d > 0.74 && d < 0.76);
	assert_true(json_is_null(json_object_get(out, "last_dump")));
	assert_int_equal(json_array_size(json_object_get(out, "per_day")), HISTORY_DAYS);
	assert_int_equal(
	    jsonu_int(json_array_get(json_object_get(out, "per_day"), HISTORY_DAYS - 1),
	              "completed", &v),
	    0);
	assert_int_equal(v, 2);
	json_decref(out);
	for (int i = 0; i < HS__MAX; i++)
		json_decref(series[i]);
}

/* InfluxDB answering numbers no count can be (1e300, -1e300, a time far out of range):
 * they count as 0 instead of being converted to long long (undefined behaviour; on
 * x86 a total of LLONG_MIN), and the sums saturate instead of overflowing. */
static void test_stats_build_garbage_numbers(void **state)
{
	const char *txt[HS__MAX] = {
	    "[{\"tags\":{\"state\":\"completed\"},\"columns\":[\"time\",\"count\",\"bytes\"],"
	    "\"values\":[[0,1e300,-1e300]]},"
	    "{\"tags\":{\"state\":\"failed\"},\"columns\":[\"time\",\"count\",\"bytes\"],"
	    "\"values\":[[0,2,9e15]]},"
	    "{\"tags\":{\"state\":\"cancelled\"},\"columns\":[\"time\",\"count\",\"bytes\"],"
	    "\"values\":[[0,1,9e18]]}]",
	    "[]",
	    "[]",
	    "[]",
	    "[{\"tags\":{\"state\":\"completed\"},\"columns\":[\"time\",\"count\",\"bytes\"],"
	    "\"values\":[[1e300,2,200],[-1e300,2,200]]}]",
	};
	json_t *series[HS__MAX], *out, *count;
	struct history_filter f = {.limit = 1, .since_ms = 0, .until_ms = CASERENDER_NOW_MS};
	long long v;

	(void)state;
	for (int i = 0; i < HS__MAX; i++)
		series[i] = json_loads(txt[i], 0, NULL);
	out = history_stats_build(series, &f, CASERENDER_NOW_MS);
	assert_int_equal(jsonu_int(out, "total", &v), 0);
	assert_int_equal(v, 3); /* the 1e300 count is not a count */
	assert_int_equal(jsonu_int(out, "completed", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(jsonu_int(out, "bytes_total", &v), 0);
	assert_int_equal(v, 0); /* -1e300, 9e15 and 9e18 are all out of range */
	json_decref(out);
	count = json_loads("[{\"columns\":[\"time\",\"count\"],\"values\":[[0,1e300]]}]", 0, NULL);
	assert_int_equal(history_count_from_series(count), 0);
	json_decref(count);
	for (int i = 0; i < HS__MAX; i++)
		json_decref(series[i]);
}

/* Rows of SELECT * -> records: requested_by from its column; null for points written
 * before the field existed (no such column, or null in the row). */
static void test_records_requested_by(void **state)
{
	const char *txt = "[{\"name\":\"mem_dumps\",\"columns\":[\"time\",\"dump_id\",\"vm\","
	                  "\"requested_by\",\"state\"],\"values\":["
	                  "[1795372201500,\"d1\",\"web\",\"alice\",\"completed\"],"
	                  "[1795372200000,\"d0\",\"web\",null,\"failed\"]]},"
	                  "{\"name\":\"mem_dumps\",\"columns\":[\"time\",\"dump_id\",\"vm\"],"
	                  "\"values\":[[1795372100000,\"old\",\"db\"]]}]";
	json_t *series = json_loads(txt, 0, NULL), *out, *r;

	(void)state;
	assert_non_null(series);
	out = history_records_from_series(series);
	assert_int_equal(json_array_size(out), 3);
	r = json_array_get(out, 0);
	assert_string_equal(jsonu_str(r, "requested_by"), "alice");
	assert_string_equal(jsonu_str(r, "time"), "2026-11-22T18:30:01.500Z");
	r = json_array_get(out, 1);
	assert_non_null(json_object_get(r, "requested_by"));
	assert_true(json_is_null(json_object_get(r, "requested_by")));
	r = json_array_get(out, 2);
	assert_string_equal(jsonu_str(r, "dump_id"), "old");
	assert_non_null(json_object_get(r, "requested_by"));
	assert_true(json_is_null(json_object_get(r, "requested_by")));
	json_decref(out);
	json_decref(series);
}

/* requested_by is a /records filter only; /stats refuses it as before. */
static void test_requested_by_keys(void **state)
{
	struct query q;
	struct err e = {0};

	(void)state;
	assert_int_equal(query_parse("requested_by=alice", history_records_keys, &q, &e), 0);
	query_release(&q);
	assert_int_equal(query_parse("requested_by=alice", history_stats_keys, &q, &e), -1);
	assert_non_null(strstr(e.msg, "requested_by"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_route_cases),
	    cmocka_unit_test(test_query_cases),
	    cmocka_unit_test(test_trigger_cases),
	    cmocka_unit_test(test_credentials_cases),
	    cmocka_unit_test(test_audit_query_cases),
	    cmocka_unit_test(test_route_arg_cap),
	    cmocka_unit_test(test_query_caps),
	    cmocka_unit_test(test_query_int),
	    cmocka_unit_test(test_csrf),
	    cmocka_unit_test(test_stats_build),
	    cmocka_unit_test(test_stats_build_garbage_numbers),
	    cmocka_unit_test(test_records_requested_by),
	    cmocka_unit_test(test_requested_by_keys),
	};

	jsonu_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
