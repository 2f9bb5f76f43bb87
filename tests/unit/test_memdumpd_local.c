/*
 * test_memdumpd_local: memdumpd's refusal of remote libvirt URIs (virt_uri_check) and
 * the start-up sweep of temp files a crash left in its journal and spool folders.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../memdumpd/journal.h"
#include "../../memdumpd/virt.h"
#include "err.h"

static void test_local_uris(void **state)
{
	static const char *const ok[] = {"qemu:///system", "qemu:///session", "qemu+unix:///system",
	                                 "test:///default", NULL};
	static const char *const bad[] = {"qemu+ssh://kvm1/system",
	                                  "qemu://kvm1/system",
	                                  "qemu+tcp:///system",
	                                  "qemu+tls://h/system",
	                                  "system",
	                                  NULL};
	struct err e;

	(void)state;
	for (int i = 0; ok[i] != NULL; i++)
		assert_int_equal(virt_uri_check(ok[i], &e), 0);
	for (int i = 0; bad[i] != NULL; i++) {
		assert_int_equal(virt_uri_check(bad[i], &e), -1);
		assert_non_null(strstr(e.msg, bad[i]));
	}
}

static void touch(const char *dir, const char *name)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static bool exists(const char *dir, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

static void test_tmp_sweep(void **state)
{
	char dir[] = "/tmp/md-sweep-XXXXXX";

	(void)state;
	assert_non_null(mkdtemp(dir));
	touch(dir, ".20261122T183000Z-0123456789ab.json.tmp");
	touch(dir, ".x.lp.tmp");
	touch(dir, "20261122T183000Z-0123456789ab.json");
	touch(dir, "keep.tmp"); /* not one of ours: no leading dot */
	journal_tmp_sweep(dir);
	assert_false(exists(dir, ".20261122T183000Z-0123456789ab.json.tmp"));
	assert_false(exists(dir, ".x.lp.tmp"));
	assert_true(exists(dir, "20261122T183000Z-0123456789ab.json"));
	assert_true(exists(dir, "keep.tmp"));
	{
		char p[512];

		snprintf(p, sizeof(p), "%s/20261122T183000Z-0123456789ab.json", dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/keep.tmp", dir);
		unlink(p);
	}
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_local_uris),
	    cmocka_unit_test(test_tmp_sweep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
