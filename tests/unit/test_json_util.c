/*
 * test_json_util: jsonu_parse (caps, duplicates, depth) and the RFC 3339 time
 * reader/writer through the data-folder cases json_body and time, plus the
 * member accessors and the error object.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_util.h"
#include "support/caserender.h"
#include "support/datacase.h"

static void test_cases_json_body(void **state)
{
	(void)state;
	assert_int_equal(datacase_run("json_body", caserender_json_body), 0);
}

static void test_cases_time(void **state)
{
	(void)state;
	assert_int_equal(datacase_run("time", caserender_time), 0);
}

static void test_accessors(void **state)
{
	json_t *o = json_pack("{s:s,s:i,s:f,s:b}", "s", "x", "i", 42, "f", 1.5, "b", 1);
	long long n;
	double d;

	(void)state;
	assert_string_equal(jsonu_str(o, "s"), "x");
	assert_null(jsonu_str(o, "i"));
	assert_null(jsonu_str(NULL, "s"));
	assert_int_equal(jsonu_int(o, "i", &n), 0);
	assert_int_equal(n, 42);
	assert_int_equal(jsonu_int(o, "f", &n), -1);
	assert_int_equal(jsonu_num(o, "i", &d), 0);
	assert_true(d == 42.0);
	assert_int_equal(jsonu_num(o, "b", &d), -1);
	json_decref(o);
}

static void test_error_object(void **state)
{
	json_t *e = jsonu_error_new("vm_not_found", "Domain not found: %s", "a\"b");
	char *text = jsonu_dump(e);

	(void)state;
	assert_string_equal(text,
	                    "{\"error\":{\"code\":\"vm_not_found\",\"message\":\"Domain not found: "
	                    "a\\\"b\"}}");
	free(text);
	json_decref(e);
}

static void test_time_round_trip(void **state)
{
	char iso[32];
	long long ms;

	(void)state;
	jsonu_time_format(1795372203250LL, iso);
	assert_int_equal(jsonu_time_parse(iso, &ms, NULL), 0);
	assert_true(ms == 1795372203250LL);
}

/* Times from peers (InfluxDB rows, memdumpd) may be before 1970 or absurdly large:
 * the text is still a well-formed RFC 3339 time (floored, clamped to years 0-9999). */
static void test_time_format_out_of_range(void **state)
{
	char iso[32];

	(void)state;
	jsonu_time_format(-1, iso);
	assert_string_equal(iso, "1969-12-31T23:59:59.999Z");
	jsonu_time_format(-1500, iso);
	assert_string_equal(iso, "1969-12-31T23:59:58.500Z");
	jsonu_time_format(253402300799999LL, iso);
	assert_string_equal(iso, "9999-12-31T23:59:59.999Z");
	jsonu_time_format(LLONG_MAX, iso);
	assert_string_equal(iso, "9999-12-31T23:59:59.999Z");
	jsonu_time_format(LLONG_MIN, iso);
	assert_string_equal(iso, "0000-01-01T00:00:00.000Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases_json_body), cmocka_unit_test(test_cases_time),
	    cmocka_unit_test(test_accessors),       cmocka_unit_test(test_error_object),
	    cmocka_unit_test(test_time_round_trip), cmocka_unit_test(test_time_format_out_of_range),
	};

	jsonu_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
