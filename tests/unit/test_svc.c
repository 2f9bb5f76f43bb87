/*
 * test_svc: svc_parse over the data-folder cases (memdumpd answers,
 * good and bad), transport errors passed through unchanged, request building,
 * and ids checked before any network call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_util.h"
#include "svc.h"
#include "support/caserender.h"
#include "support/datacase.h"

static void test_cases_svc_answer(void **state)
{
	(void)state;
	assert_int_equal(datacase_run("svc_answer", caserender_svc_answer), 0);
}

static void test_transport_error_passes_through(void **state)
{
	struct http_response resp = {0};
	struct err te, e;
	json_t *v = (json_t *)1;

	(void)state;
	err_set(&te, ERR_TIMEOUT, "GET http://h:1/api/dumps: no answer in time");
	assert_int_equal(svc_parse(NULL, -1, &te, &resp, "dumps", &v, &e), -1);
	assert_null(v);
	assert_int_equal(e.code, ERR_TIMEOUT);
	assert_string_equal(e.msg, te.msg);
}

static void test_request_get(void **state)
{
	struct svc *s = svc_new("http://127.0.0.1:1/", "sekret", 1000);
	struct http_request req;

	(void)state;
	assert_string_equal(svc_url(s), "http://127.0.0.1:1");
	svc_request_get(s, "/api/dumps", &req);
	assert_string_equal(req.method, "GET");
	assert_string_equal(req.url, "http://127.0.0.1:1/api/dumps");
	assert_string_equal(req.bearer, "sekret");
	assert_true(req.max_response > 0);
	svc_free(s);
	svc_free(NULL);
}

static void test_bad_id_refused_before_network(void **state)
{
	/* port 1 on loopback refuses; an id check failure must come first */
	struct svc *s = svc_new("http://127.0.0.1:1", NULL, 1000);
	json_t *v = NULL;
	struct err e;

	(void)state;
	assert_int_equal(svc_dump_get(s, "../../etc/passwd", &v, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_null(v);
	assert_int_equal(svc_dump_cancel(s, "20261122T183000Z-0123456789ab", &v, &e), -1);
	assert_int_equal(e.code, ERR_UNAVAILABLE);
	/* a requested_by memdumpd would refuse is refused here, naming it */
	assert_int_equal(svc_dump_create(s, "web", NULL, "bad name", &v, NULL, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_non_null(strstr(e.msg, "requested_by"));
	assert_null(v);
	assert_int_equal(svc_dump_create(s, "web", NULL, "alice", &v, NULL, &e), -1);
	assert_int_equal(e.code, ERR_UNAVAILABLE);
	svc_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases_svc_answer),
	    cmocka_unit_test(test_transport_error_passes_through),
	    cmocka_unit_test(test_request_get),
	    cmocka_unit_test(test_bad_id_refused_before_network),
	};
	int rc;

	jsonu_init();
	http_client_global_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	http_client_global_cleanup();
	return rc;
}
