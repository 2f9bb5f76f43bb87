/*
 * test_redis_url: store_url_parse, redis_store's pure parser: the data-folder
 * cases in tests/data/redis_url/ and the properties callers rely on (defaults,
 * decoded credentials, release leaves nothing behind, failure leaves no fields).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_store.h"
#include "support/caserender_store.h"
#include "support/datacase.h"

static void test_cases(void **state)
{
	(void)state;
	assert_int_equal(datacase_run("redis_url", caserender_redis_url), 0);
}

static void test_defaults_and_credentials(void **state)
{
	struct store_url u;
	struct err e;

	(void)state;
	assert_int_equal(store_url_parse("redis://db.internal", &u, &e), 0);
	assert_string_equal(u.host, "db.internal");
	assert_int_equal(u.port, 6379);
	assert_int_equal(u.db, 0);
	assert_null(u.password);
	assert_null(u.username);
	assert_null(u.path);
	store_url_release(&u);

	assert_int_equal(store_url_parse("redis://:a%2Fb%40c@h:1/15", &u, &e), 0);
	assert_string_equal(u.password, "a/b@c");
	assert_int_equal(u.port, 1);
	assert_int_equal(u.db, 15);
	store_url_release(&u);
	store_url_release(&u); /* a released URL can be released again */
}

static void test_failure_leaves_nothing(void **state)
{
	struct store_url u;
	struct err e;

	(void)state;
	assert_int_equal(store_url_parse("redis://:secret@host:99999", &u, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_non_null(strstr(e.msg, "port"));
	assert_null(u.host);
	assert_null(u.password);
	assert_null(strstr(e.msg, "secret")); /* a password never reaches a message */
}

static void test_store_new_refuses_bad_url(void **state)
{
	struct err e;

	(void)state;
	assert_null(store_new("redis://", 1000, &e));
	assert_int_equal(e.code, ERR_INVALID);
	store_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_defaults_and_credentials),
	    cmocka_unit_test(test_failure_leaves_nothing),
	    cmocka_unit_test(test_store_new_refuses_bad_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
