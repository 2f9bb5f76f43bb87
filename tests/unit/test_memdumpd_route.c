/*
 * test_memdumpd_route: memdumpd's route table (mdroute) and the exchange's error
 * mapping, as pure functions: which endpoint a method and path reach, and when
 * the answer is 404, 405 (with its Allow list) or 400 for a path under
 * /api/dumps/ that does not name a dump id, whatever follows it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "../../memdumpd/mdexch.h"
#include "../../memdumpd/mdroute.h"

#define ID "20261122T183000Z-0123456789ab"

static enum mdroute_result match(const char *method, const char *path, struct mdroute *rt)
{
	struct err e = {0};

	return mdroute_match(method, path, rt, &e);
}

static void test_endpoints(void **state)
{
	struct mdroute rt;

	(void)state;
	assert_int_equal(match("GET", "/api/health", &rt), MDROUTE_OK);
	assert_int_equal(rt.id, MDROUTE_HEALTH);
	assert_true(rt.open);
	assert_int_equal(match("HEAD", "/api/health", &rt), MDROUTE_OK);
	assert_int_equal(match("GET", "/api/vms", &rt), MDROUTE_OK);
	assert_int_equal(rt.id, MDROUTE_VMS);
	assert_false(rt.open);
	assert_int_equal(match("GET", "/api/dumps", &rt), MDROUTE_OK);
	assert_int_equal(rt.id, MDROUTE_LIST);
	assert_int_equal(match("POST", "/api/dumps", &rt), MDROUTE_OK);
	assert_int_equal(rt.id, MDROUTE_CREATE);
	assert_int_equal(match("GET", "/api/dumps/" ID, &rt), MDROUTE_OK);
	assert_int_equal(rt.id, MDROUTE_GET);
	assert_string_equal(rt.dump_id, ID);
	assert_int_equal(match("DELETE", "/api/dumps/" ID, &rt), MDROUTE_OK);
	assert_int_equal(rt.id, MDROUTE_CANCEL);
	assert_int_equal(match("HEAD", "/api/dumps/" ID "/file", &rt), MDROUTE_OK);
	assert_int_equal(rt.id, MDROUTE_FILE);
	assert_string_equal(rt.dump_id, ID);
	assert_string_equal(mdroute_name(MDROUTE_FILE), "file");
}

static void test_methods(void **state)
{
	struct mdroute rt;

	(void)state;
	assert_int_equal(match("POST", "/api/health", &rt), MDROUTE_BAD_METHOD);
	assert_string_equal(rt.allow, "GET");
	assert_true(rt.open); /* answered before the token check */
	assert_int_equal(match("HEAD", "/api/vms", &rt), MDROUTE_BAD_METHOD);
	assert_string_equal(rt.allow, "GET");
	assert_false(rt.open);
	assert_int_equal(match("PUT", "/api/dumps", &rt), MDROUTE_BAD_METHOD);
	assert_string_equal(rt.allow, "GET, POST");
	assert_int_equal(match("HEAD", "/api/dumps/" ID, &rt), MDROUTE_BAD_METHOD);
	assert_string_equal(rt.allow, "GET, DELETE");
	assert_int_equal(match("DELETE", "/api/dumps/" ID "/file", &rt), MDROUTE_BAD_METHOD);
	assert_string_equal(rt.allow, "GET, HEAD");
}

static void test_not_found(void **state)
{
	struct mdroute rt;
	const char *paths[] = {"/",
	                       "",
	                       "/api",
	                       "/api/",
	                       "/api/health/",
	                       "//api/health",
	                       "/api/dumpsx",
	                       "/api/dumps/" ID "/",
	                       "/api/dumps/" ID "/files",
	                       "/api/dumps/" ID "/file/x",
	                       "api/health"};

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		assert_int_equal(match("GET", paths[i], &rt), MDROUTE_NOT_FOUND);
	assert_int_equal(mdroute_match(NULL, "/api/vms", &rt, NULL), MDROUTE_NOT_FOUND);
}

static void test_bad_id(void **state)
{
	struct mdroute rt;
	struct err e = {0};

	(void)state;
	assert_int_equal(mdroute_match("GET", "/api/dumps/", &rt, &e), MDROUTE_BAD_ID);
	assert_non_null(strstr(e.msg, "a dump id looks like"));
	assert_int_equal(mdroute_match("PUT", "/api/dumps/abc/file/x/y", &rt, &e), MDROUTE_BAD_ID);
	/* the right length but not an id: dump_id_check's own message */
	assert_int_equal(mdroute_match("GET", "/api/dumps/20261122T183000Z-0123456789aZ", &rt, &e),
	                 MDROUTE_BAD_ID);
	assert_int_equal(e.code, ERR_INVALID);
	assert_null(strstr(e.msg, "a dump id looks like"));
}

static void test_error_mapping(void **state)
{
	(void)state;
	assert_int_equal(mdexch_status_of(ERR_INVALID), 400);
	assert_int_equal(mdexch_status_of(ERR_NOT_FOUND), 404);
	assert_int_equal(mdexch_status_of(ERR_CONFLICT), 409);
	assert_int_equal(mdexch_status_of(ERR_NO_SPACE), 507);
	assert_int_equal(mdexch_status_of(ERR_UNAVAILABLE), 503);
	assert_int_equal(mdexch_status_of(ERR_IO), 500);
	assert_string_equal(mdexch_code_of(ERR_NO_SPACE), "insufficient_storage");
	assert_string_equal(mdexch_code_of(ERR_UNAVAILABLE), "libvirt_unavailable");
	assert_string_equal(mdexch_code_of(ERR_IO), "internal_error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_endpoints),     cmocka_unit_test(test_methods),
	    cmocka_unit_test(test_not_found),     cmocka_unit_test(test_bad_id),
	    cmocka_unit_test(test_error_mapping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
