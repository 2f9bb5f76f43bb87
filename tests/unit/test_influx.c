/*
 * test_influx: the pure halves of the InfluxDB client: the line-protocol builder
 * (influx_lp), the answer parsers (influx_parse) and influx_ql_quote, through
 * the data-folder cases and a few properties the cases cannot show.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "influx.h"
#include "json_util.h"
#include "support/caserender.h"
#include "support/datacase.h"

static void test_cases_influx_lp(void **state)
{
	(void)state;
	assert_int_equal(datacase_run("influx_lp", caserender_influx_lp), 0);
}

static void test_cases_influx_answer(void **state)
{
	(void)state;
	assert_int_equal(datacase_run("influx_answer", caserender_influx_answer), 0);
}

static void test_failed_call_leaves_point_unchanged(void **state)
{
	struct influx_lp *lp = influx_lp_new("m");
	struct err e;
	char *line;
	size_t len;

	(void)state;
	assert_int_equal(influx_lp_tag(lp, "vm", "a\nb", &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_int_equal(influx_lp_tag(lp, "vm", "ok", &e), 0); /* the key was not taken */
	assert_int_equal(influx_lp_field_float(lp, "x", 0.0 / 0.0, &e), -1);
	assert_int_equal(influx_lp_field_int(lp, "x", 7, &e), 0);
	assert_int_equal(influx_lp_finish(lp, 9, &line, &len, &e), 0);
	assert_string_equal(line, "m,vm=ok x=7i 9\n");
	assert_int_equal(len, strlen(line));
	free(line);
	influx_lp_free(lp);
	influx_lp_free(NULL);
}

static void test_string_field_cap(void **state)
{
	struct influx_lp *lp = influx_lp_new("m");
	char *big = malloc((64u << 10) + 2);
	struct err e;

	(void)state;
	memset(big, 'a', (64u << 10) + 1);
	big[(64u << 10) + 1] = '\0';
	assert_int_equal(influx_lp_field_str(lp, "s", big, &e), -1);
	assert_int_equal(e.code, ERR_TOO_LARGE);
	big[64u << 10] = '\0';
	assert_int_equal(influx_lp_field_str(lp, "s", big, &e), 0);
	free(big);
	influx_lp_free(lp);
}

static void test_ql_quote(void **state)
{
	char *q;

	(void)state;
	q = influx_ql_quote("web-server");
	assert_string_equal(q, "'web-server'");
	free(q);
	q = influx_ql_quote("it's a \\ test\nx");
	assert_string_equal(q, "'it\\'s a \\\\ test\\nx'");
	free(q);
	q = influx_ql_quote("");
	assert_string_equal(q, "''");
	free(q);
}

static void test_answer_is_owned(void **state)
{
	const char body[] = "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\","
	                    "\"columns\":[\"time\"]}]}]}";
	json_t *series = NULL;
	struct err e;

	(void)state;
	assert_int_equal(influx_parse_answer(200, body, strlen(body), &series, &e), 0);
	assert_true(json_is_array(series));
	/* values was absent: callers get an empty array, never a missing member */
	assert_true(json_is_array(json_object_get(json_array_get(series, 0), "values")));
	json_decref(series);
	assert_int_equal(influx_parse_answer(200, "", 0, &series, &e), -1);
	assert_null(series);
	assert_int_equal(e.code, ERR_PROTOCOL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases_influx_lp),
	    cmocka_unit_test(test_cases_influx_answer),
	    cmocka_unit_test(test_failed_call_leaves_point_unchanged),
	    cmocka_unit_test(test_string_field_cap),
	    cmocka_unit_test(test_ql_quote),
	    cmocka_unit_test(test_answer_is_owned),
	};

	jsonu_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
