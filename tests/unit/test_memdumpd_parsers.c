/*
 * test_memdumpd_parsers: memdumpd's pure parsers (request body, list query,
 * Range header, journal record and the InfluxDB line of a finished dump, each with
 * requested_by) by
 * unit tests and the data-folder cases in tests/data/memdumpd_{body,range,journal}/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../memdumpd/job.h"
#include "../../memdumpd/request.h"
#include "../../memdumpd/record.h"
#include "json_util.h"
#include "support/caserender_memdumpd.h"
#include "support/datacase.h"

static void test_body_cases(void **state)
{
	(void)state;
	assert_int_equal(datacase_run("memdumpd_body", caserender_memdumpd_body), 0);
}

static void test_range_cases(void **state)
{
	(void)state;
	assert_int_equal(datacase_run("memdumpd_range", caserender_memdumpd_range), 0);
}

static void test_journal_cases(void **state)
{
	(void)state;
	assert_int_equal(datacase_run("memdumpd_journal", caserender_memdumpd_journal), 0);
}

static void test_list_query(void **state)
{
	struct request_list q;
	struct err e = {0};

	(void)state;
	request_list_init(&q);
	assert_int_equal(q.limit, REQUEST_LIMIT_DEFAULT);
	assert_int_equal(request_list_add(&q, "state", "running", &e), 0);
	assert_true(q.has_state && q.state == DUMP_RUNNING);
	assert_int_equal(request_list_add(&q, "state", "running", &e), -1);
	assert_int_equal(request_list_add(&q, "vm", "web server", &e), 0);
	assert_string_equal(q.vm, "web server");
	assert_int_equal(request_list_add(&q, "limit", "1000", &e), 0);
	assert_int_equal(q.limit, 1000);
	assert_int_equal(request_list_add(&q, "limit", "1001", &e), -1);
	assert_int_equal(request_list_add(&q, "limit", "-1", &e), -1);
	assert_int_equal(request_list_add(&q, "limit", NULL, &e), -1);
	assert_int_equal(request_list_add(&q, "other", "x", &e), -1);
	assert_non_null(strstr(e.msg, "unknown query parameter"));
	request_list_init(&q);
	assert_int_equal(request_list_add(&q, "vm", "../x", &e), -1);
}

static void test_record_line(void **state)
{
	struct job *j = job_new("20261122T183000Z-0123456789ab", "web server", "kvm1",
	                        "/var/dumps/web_server/x.elf", DUMP_FMT_ELF, 1795372200000LL);
	struct err e = {0};
	char *line = NULL;
	size_t len = 0;

	(void)state;
	j->state = DUMP_COMPLETED;
	j->started_ms = 1795372200000LL;
	j->finished_ms = 1795372201500LL;
	j->size_bytes = 268435456;
	memset(j->sha256, 'a', 64);
	assert_int_equal(record_line(j, &line, &len, &e), 0);
	assert_string_equal(
	    line, "mem_dumps,format=elf,host=kvm1,state=completed,vm=web\\ server "
	          "dump_id=\"20261122T183000Z-0123456789ab\","
	          "path=\"/var/dumps/web_server/x.elf\",size_bytes=268435456i,"
	          "sha256=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
	          "duration_s=1.5,error=\"\",started_at=\"2026-11-22T18:30:00.000Z\","
	          "finished_at=\"2026-11-22T18:30:01.500Z\" 1795372201500\n");
	assert_int_equal(len, strlen(line));
	free(line);
	/* who asked: a string field (not a tag), absent when unknown */
	job_set_requested_by(j, "alice@corp");
	assert_int_equal(record_line(j, &line, &len, &e), 0);
	assert_non_null(strstr(line, ",error=\"\",requested_by=\"alice@corp\",started_at="));
	assert_null(strstr(line, "requested_by=alice"));
	free(line);
	job_set_requested_by(j, NULL);
	assert_int_equal(record_line(j, &line, &len, &e), 0);
	assert_null(strstr(line, "requested_by"));
	free(line);
	job_free(j);
}

static void test_create_requested_by(void **state)
{
	struct request_create rq;
	struct err e = {0};
	const char *b = "{\"vm\":\"web\",\"requested_by\":\"alice\"}";

	(void)state;
	assert_int_equal(request_create_parse(b, strlen(b), &rq, &e), 0);
	assert_string_equal(rq.requested_by, "alice");
	b = "{\"vm\":\"web\"}";
	assert_int_equal(request_create_parse(b, strlen(b), &rq, &e), 0);
	assert_string_equal(rq.requested_by, "");
	b = "{\"vm\":\"web\",\"requested_by\":\"a/b\"}";
	assert_int_equal(request_create_parse(b, strlen(b), &rq, &e), -1);
	assert_false(rq.bad_json);
	assert_non_null(strstr(e.msg, "requested_by"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_body_cases),    cmocka_unit_test(test_range_cases),
	    cmocka_unit_test(test_journal_cases), cmocka_unit_test(test_list_query),
	    cmocka_unit_test(test_record_line),   cmocka_unit_test(test_create_requested_by),
	};

	jsonu_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
