/*
 * test_memdumpd_local: memdumpd's refusal of remote libvirt URIs (virt_uri_check) and
 * the start-up sweep of temp files a crash left in its journal and spool folders, and
 * the journal's round trip through real files (requested_by kept; records of older
 * versions without it still load, as null).
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
#include "json_util.h"

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

struct loaded {
	struct job *j[4];
	int n;
};

static void collect(struct job *j, void *arg)
{
	struct loaded *l = arg;

	assert_true(l->n < 4);
	l->j[l->n++] = j;
}

static const struct job *loaded_find(const struct loaded *l, const char *id)
{
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->j[i]->id, id) == 0)
			return l->j[i];
	return NULL;
}

static void test_journal_requested_by(void **state)
{
	static const char id_new[] = "20261122T183000Z-00000000000a";
	static const char id_none[] = "20261122T183000Z-00000000000b";
	static const char id_old[] = "20261122T183000Z-00000000000c";
	char dir[] = "/tmp/md-journal-XXXXXX", jdir[512], p[600];
	struct journal *jn;
	struct job *j;
	struct loaded l = {0};
	struct err e = {0};
	const struct job *got;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	jn = journal_open(dir, &e);
	assert_non_null(jn);
	j = job_new(id_new, "web-server", "kvm1", "/var/dumps/web-server/a.elf", DUMP_FMT_ELF,
	            1795372200000LL);
	job_set_requested_by(j, "alice");
	assert_int_equal(journal_write(jn, j, &e), 0);
	job_free(j);
	j = job_new(id_none, "db", "kvm1", "/var/dumps/db/b.elf", DUMP_FMT_ELF, 1795372200000LL);
	assert_int_equal(journal_write(jn, j, &e), 0);
	job_free(j);
	/* a record as versions before requested_by wrote it */
	snprintf(jdir, sizeof(jdir), "%s/.memdumpd/journal", dir);
	snprintf(p, sizeof(p), "%s/%s.json", jdir, id_old);
	f = fopen(p, "w");
	assert_non_null(f);
	fprintf(f,
	        "{\"dump_id\":\"%s\",\"vm\":\"old\",\"host\":\"kvm1\",\"format\":\"elf\","
	        "\"state\":\"queued\",\"path\":\"/var/dumps/old/c.elf\","
	        "\"created_at\":\"2026-11-22T18:30:00.120Z\",\"error\":null}",
	        id_old);
	fclose(f);

	assert_int_equal(journal_load(jn, collect, &l), 3);
	got = loaded_find(&l, id_new);
	assert_non_null(got);
	assert_non_null(got->requested_by);
	assert_string_equal(got->requested_by, "alice");
	got = loaded_find(&l, id_none);
	assert_non_null(got);
	assert_null(got->requested_by);
	got = loaded_find(&l, id_old);
	assert_non_null(got);
	assert_null(got->requested_by);
	{
		json_t *o = job_to_json(got);

		assert_true(json_is_null(json_object_get(o, "requested_by")));
		json_decref(o);
	}
	for (int i = 0; i < l.n; i++)
		job_free(l.j[i]);
	journal_remove(jn, id_new);
	journal_remove(jn, id_none);
	journal_remove(jn, id_old);
	journal_free(jn);
	assert_int_equal(rmdir(jdir), 0);
	snprintf(p, sizeof(p), "%s/.memdumpd", dir);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_local_uris),
	    cmocka_unit_test(test_tmp_sweep),
	    cmocka_unit_test(test_journal_requested_by),
	};

	jsonu_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
