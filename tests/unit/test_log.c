/*
 * test_log: log_q (quoting and escaping of untrusted text, its length cap and
 * its ring of buffers) and the level names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

static void test_log_q_escapes(void **state)
{
	(void)state;
	assert_string_equal(log_q("web-server"), "\"web-server\"");
	assert_string_equal(log_q("a\"b\\c"), "\"a\\\"b\\\\c\"");
	assert_string_equal(log_q("x\ny=1 level=error\x1b"), "\"x\\x0ay=1 level=error\\x1b\"");
	assert_string_equal(log_q(NULL), "-");
	assert_string_equal(log_q(""), "\"\"");
}

static void test_log_q_cap(void **state)
{
	char big[4 * LOG_Q_MAX];
	const char *q;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	q = log_q(big);
	assert_true(strlen(q) < LOG_Q_MAX);
	assert_non_null(strstr(q, "...\""));
}

static void test_log_q_ring(void **state)
{
	const char *first = log_q("one");

	(void)state;
	for (int i = 1; i < LOG_Q_RING; i++)
		assert_ptr_not_equal(log_q("other"), first);
	assert_string_equal(first, "\"one\""); /* still valid within the ring */
}

static void test_levels(void **state)
{
	enum log_level l;

	(void)state;
	assert_int_equal(log_level_parse("warn", &l), 0);
	assert_int_equal(l, LOG_LVL_WARN);
	assert_int_equal(log_level_parse("verbose", &l), -1);
	assert_string_equal(log_level_name(LOG_LVL_DEBUG), "debug");
	log_init("test", LOG_LVL_WARN);
	assert_false(log_enabled(LOG_LVL_INFO));
	assert_true(log_enabled(LOG_LVL_ERROR));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_log_q_escapes),
	    cmocka_unit_test(test_log_q_cap),
	    cmocka_unit_test(test_log_q_ring),
	    cmocka_unit_test(test_levels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
