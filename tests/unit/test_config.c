/*
 * test_config: the settings table: config_parse_line through the data-folder
 * cases, and through config_set / config_load_file: bounds, URL lists, unknown
 * keys, and messages that name origin, key, value and what is allowed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "support/caserender.h"
#include "support/datacase.h"

static void test_cases_config_line(void **state)
{
	(void)state;
	assert_int_equal(datacase_run("config_line", caserender_config_line), 0);
}

/* A private temporary file holding text; its path in path (PATH_MAX-free). */
static void write_tmp(char *path, const char *text)
{
	int fd;

	snprintf(path, 64, "%s", "/tmp/memdump-test-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_defaults(void **state)
{
	struct config *c = config_new();
	size_t n;
	const char *const *urls;

	(void)state;
	assert_string_equal(config_str(c, CFG_INFLUX_DB), "vmstats");
	assert_string_equal(config_str(c, CFG_INFLUX_URL), "http://localhost:8181");
	assert_int_equal(config_num(c, CFG_MAX_CONCURRENT), 2);
	assert_false(config_is_set(c, CFG_INFLUX_TOKEN));
	urls = config_service_urls(c, &n);
	assert_int_equal(n, 1);
	assert_string_equal(urls[0], "http://127.0.0.1:5001");
	config_free(c);
	config_free(NULL);
}

static void test_bounds_and_messages(void **state)
{
	struct config *c = config_new();
	struct err e;

	(void)state;
	assert_int_equal(config_set(c, "MEMDUMP_MAX_CONCURRENT", "0", "environment", &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_non_null(strstr(e.msg, "MEMDUMP_MAX_CONCURRENT"));
	assert_non_null(strstr(e.msg, "0"));
	assert_int_equal(config_set(c, "MEMDUMP_MAX_CONCURRENT", "abc", "environment", &e), -1);
	assert_int_equal(config_set(c, "MEMDUMP_MAX_CONCURRENT", "4", "environment", &e), 0);
	assert_int_equal(config_num(c, CFG_MAX_CONCURRENT), 4);
	assert_int_equal(config_set(c, "INFLUX_URL", "ftp://x", "environment", &e), -1);
	assert_int_equal(config_set(c, "NO_SUCH_KEY", "1", "environment", &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	config_free(c);
}

static void test_url_list(void **state)
{
	struct config *c = config_new();
	const char *const *urls;
	struct err e;
	size_t n;

	(void)state;
	assert_int_equal(config_set(c, "MEMDUMP_SERVICE_URL",
	                            "http://10.0.0.1:5001/,http://10.0.0.2:5001", "t", &e),
	                 0);
	urls = config_service_urls(c, &n);
	assert_int_equal(n, 2);
	assert_string_equal(urls[0], "http://10.0.0.1:5001");
	assert_string_equal(urls[1], "http://10.0.0.2:5001");
	assert_int_equal(config_set(c, "MEMDUMP_SERVICE_URL", "http://a:1,,http://b:2", "t", &e),
	                 -1);
	config_free(c);
}

/* Passwords in URLs never reach a message or the -t output. */
static void test_url_credentials_masked(void **state)
{
	struct config *c = config_new();
	struct err e;
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	(void)state;
	assert_int_equal(config_set(c, "REDIS_URL", "redis://:s3cret@127.0.0.1:6379/0\t", "t", &e),
	                 -1);
	assert_null(strstr(e.msg, "s3cret"));
	assert_non_null(strstr(e.msg, "REDIS_URL=redis://***@127.0.0.1:6379/0"));
	assert_int_equal(config_set(c, "MEMDUMP_SERVICE_URL",
	                            "http://u:s3cret@h:1,http://u:s3cret@h:1", "t", &e),
	                 -1);
	assert_null(strstr(e.msg, "s3cret"));
	assert_int_equal(config_set(c, "INFLUX_URL", "http://u:s3cret@h:1?x", "t", &e), -1);
	assert_null(strstr(e.msg, "s3cret"));
	assert_int_equal(config_set(c, "INFLUX_URL", "http://u:s3/cret@h:1 x", "t", &e), -1);
	assert_null(strstr(e.msg, "cret"));
	assert_int_equal(config_set(c, "REDIS_URL", "redis://:s3cret@127.0.0.1:6379/0", "t", &e),
	                 0);
	/* credentials never in a service or InfluxDB URL: the token settings carry them */
	assert_int_equal(config_set(c, "MEMDUMP_SERVICE_URL", "http://u:s3cret@h:1", "t", &e), -1);
	assert_null(strstr(e.msg, "s3cret"));
	assert_non_null(strstr(e.msg, "MEMDUMP_SERVICE_TOKEN"));
	assert_int_equal(config_set(c, "INFLUX_URL", "http://u:s3cret@h:1", "t", &e), -1);
	assert_non_null(strstr(e.msg, "token setting"));
	out = open_memstream(&text, &len);
	assert_non_null(out);
	config_print(c, CFG_P_POLLER, out);
	fclose(out);
	assert_null(strstr(text, "s3cret"));
	assert_non_null(strstr(text, "REDIS_URL=redis://***@127.0.0.1:6379/0"));
	free(text);
	config_free(c);
}

static void test_file_errors_name_file_and_line(void **state)
{
	char path[64];
	struct config *c = config_new();
	struct err e;
	char where[80];

	(void)state;
	write_tmp(path, "# comment\nINFLUX_DB=ok\nBOGUS_KEY=1\n");
	assert_int_equal(config_load_file(c, path, &e), -1);
	snprintf(where, sizeof(where), "%s:3", path);
	assert_non_null(strstr(e.msg, where));
	assert_non_null(strstr(e.msg, "BOGUS_KEY"));
	unlink(path);
	write_tmp(path, "INFLUX_DB=ok\nMEMDUMP_POLL_INTERVAL=-5\n");
	assert_int_equal(config_load_file(c, path, &e), -1);
	snprintf(where, sizeof(where), "%s:2", path);
	assert_non_null(strstr(e.msg, where));
	assert_non_null(strstr(e.msg, "-5"));
	unlink(path);
	write_tmp(path, "INFLUX_DB = \"history\"\n");
	assert_int_equal(config_load_file(c, path, &e), 0);
	assert_string_equal(config_str(c, CFG_INFLUX_DB), "history");
	unlink(path);
	assert_int_equal(config_load_file(c, "/nonexistent/memdump.conf", &e), -1);
	assert_non_null(strstr(e.msg, "/nonexistent/memdump.conf"));
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases_config_line),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_bounds_and_messages),
	    cmocka_unit_test(test_url_list),
	    cmocka_unit_test(test_file_errors_name_file_and_line),
	    cmocka_unit_test(test_url_credentials_masked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
