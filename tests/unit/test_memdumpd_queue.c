/*
 * test_memdumpd_queue: memdumpd's queue, journal and spool together on a real
 * folder, without guests: libvirt's built-in test:///default driver, an
 * InfluxDB URL nobody answers, and max_concurrent 0 so that nothing is ever
 * dumped. The folder is on tmpfs (/dev/shm) when it exists: it lists the newest
 * file first, so a test decides in which order the restore meets the records.
 * Failures to write (a full disk) are made with a folder squatting the name of
 * the temporary file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../memdumpd/job.h"
#include "../../memdumpd/journal.h"
#include "../../memdumpd/queue.h"
#include "../../memdumpd/record.h"
#include "../../memdumpd/virt.h"
#include "json_util.h"
#include "xmalloc.h"

#define T0 1795372200000LL /* 2026-11-22T18:30:00Z */

struct fixture {
	char dir[64];
	struct journal *jn;
	struct spool *sp;
	struct virt *v;
	struct virt_ops vo;
	struct queue *q;
};

static void fx_rm_rf(const char *dir)
{
	char *cmd[] = {"rm", "-rf", (char *)dir, NULL};
	pid_t pid = fork();

	if (pid == 0) {
		execvp(cmd[0], cmd);
		_exit(127);
	}
	assert_true(pid > 0);
	while (waitpid(pid, NULL, 0) < 0)
		;
}

static void fx_init(struct fixture *fx)
{
	struct err e = {0};
	struct stat st;

	memset(fx, 0, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "%s/mdq-XXXXXX",
	         stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp");
	assert_non_null(mkdtemp(fx->dir));
	fx->jn = journal_open(fx->dir, &e);
	assert_non_null(fx->jn);
}

/* A record of an earlier run, written through the journal. */
static void fx_record(struct fixture *fx, int n, enum dump_state state, long long created_ms)
{
	char id[DUMP_ID_SIZE], vm[32], *path;
	struct job *j;
	struct err e = {0};

	snprintf(id, sizeof(id), "20261122T183000Z-%012x", n);
	snprintf(vm, sizeof(vm), "vm-%d", n);
	path = xasprintf("%s/%s/%s-%s.elf", fx->dir, vm, vm, id);
	j = job_new(id, vm, "kvm1", path, DUMP_FMT_ELF, created_ms);
	j->state = state;
	if (state != DUMP_QUEUED)
		j->started_ms = created_ms + 10;
	if (state == DUMP_COMPLETED) {
		j->finished_ms = created_ms + 20;
		j->size_bytes = 4096;
		memset(j->sha256, 'a', 64);
	}
	assert_int_equal(journal_write(fx->jn, j, &e), 0);
	job_free(j);
	free(path);
}

static void fx_start(struct fixture *fx)
{
	struct err e = {0};
	struct queue_config qc = {fx->dir, "kvm1", 0, 0, 0};

	fx->sp = record_spool_new(fx->dir, "http://127.0.0.1:9", "db", "", &e);
	assert_non_null(fx->sp);
	fx->v = virt_new("test:///default");
	virt_ops_init(&fx->vo, fx->v);
	fx->q = queue_new(&qc, &fx->vo, fx->jn, fx->sp);
}

static void fx_done(struct fixture *fx)
{
	queue_free(fx->q);
	virt_free(fx->v);
	spool_free(fx->sp);
	journal_free(fx->jn);
	fx_rm_rf(fx->dir);
}

/* The text of DIR/SUB/NAME, new, or NULL when missing. */
static char *fx_read(struct fixture *fx, const char *sub, const char *name)
{
	char *path = xasprintf("%s/.memdumpd/%s/%s", fx->dir, sub, name);
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t n;

	free(path);
	if (f == NULL)
		return NULL;
	buf = xcalloc(1, JOB_RECORD_MAX + 1);
	n = fread(buf, 1, JOB_RECORD_MAX, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Wait (at most 20 s) until DIR/SUB/NAME exists and holds want. */
static bool fx_wait_file(struct fixture *fx, const char *sub, const char *name, const char *want)
{
	for (int i = 0; i < 400; i++) {
		char *text = fx_read(fx, sub, name);
		bool ok = text != NULL && strstr(text, want) != NULL;
		struct timespec ts = {0, 50 * 1000 * 1000};

		free(text);
		if (ok)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

static json_t *fx_list(struct fixture *fx)
{
	struct request_list f;

	request_list_init(&f);
	f.limit = REQUEST_LIMIT_MAX;
	return queue_list(fx->q, &f);
}

/* Records that were running when memdumpd stopped become failed, each exactly
 * once. */
static void test_restore_running_once(void **state)
{
	struct fixture fx;
	json_t *arr, *d;
	size_t i;
	int failed = 0;

	(void)state;
	fx_init(&fx);
	for (int n = 1; n <= 20; n++)
		fx_record(&fx, n, n % 2 ? DUMP_RUNNING : DUMP_COMPLETED, T0 + n * 1000);
	fx_start(&fx);
	arr = fx_list(&fx);
	assert_int_equal(json_array_size(arr), 20);
	json_array_foreach(arr, i, d) {
		const char *st = json_string_value(json_object_get(d, "state"));

		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(jsonu_str(json_array_get(arr, k), "dump_id"),
			                        jsonu_str(d, "dump_id"));
		if (strcmp(st, "failed") == 0) {
			assert_string_equal(jsonu_str(d, "error"), "interrupted by restart");
			failed++;
		} else {
			assert_string_equal(st, "completed");
		}
	}
	assert_int_equal(failed, 10);
	json_decref(arr);
	fx_done(&fx);
}

/* A running record with its size and hash (every byte written and synced, only the
 * rename or the final record missing): the file of that size, at its final name or
 * still as .part, completes it; any other file leaves it failed. */
static void fx_committing(struct fixture *fx, int n, const char *file_suffix, long long file_size)
{
	char id[DUMP_ID_SIZE], vm[32], *path, *dir, *file;
	struct job *j;
	struct err e = {0};
	FILE *f;

	snprintf(id, sizeof(id), "20261122T183000Z-%012x", n);
	snprintf(vm, sizeof(vm), "vm-%d", n);
	dir = xasprintf("%s/%s", fx->dir, vm);
	path = xasprintf("%s/%s-%s.elf", dir, vm, id);
	j = job_new(id, vm, "kvm1", path, DUMP_FMT_ELF, T0);
	j->state = DUMP_RUNNING;
	j->started_ms = T0 + 10;
	j->size_bytes = 8192;
	memset(j->sha256, 'b', 64);
	assert_int_equal(journal_write(fx->jn, j, &e), 0);
	job_free(j);
	assert_int_equal(mkdir(dir, 0700), 0);
	file = xasprintf("%s%s", path, file_suffix);
	f = fopen(file, "w");
	assert_non_null(f);
	for (long long i = 0; i < file_size; i++)
		fputc('m', f);
	fclose(f);
	free(file);
	free(path);
	free(dir);
}

static void test_restore_completes_a_dump_whose_record_was_missing(void **state)
{
	struct fixture fx;
	json_t *arr, *d;
	size_t i;
	struct stat st;
	char *path, *text;

	(void)state;
	fx_init(&fx);
	fx_committing(&fx, 1, "", 8192);      /* renamed, final record missing */
	fx_committing(&fx, 2, ".part", 8192); /* synced, rename missing */
	fx_committing(&fx, 3, ".part", 100);  /* not what was recorded: failed */
	fx_start(&fx);
	arr = fx_list(&fx);
	assert_int_equal(json_array_size(arr), 3);
	json_array_foreach(arr, i, d) {
		const char *id = jsonu_str(d, "dump_id");
		bool ok = id[strlen(id) - 1] != '3';

		assert_string_equal(jsonu_str(d, "state"), ok ? "completed" : "failed");
		if (ok) {
			assert_int_equal(json_integer_value(json_object_get(d, "size_bytes")),
			                 8192);
			assert_int_equal(strspn(jsonu_str(d, "sha256"), "b"), 64);
			assert_true(json_is_null(json_object_get(d, "error")));
			assert_int_equal(stat(jsonu_str(d, "path"), &st), 0);
		} else {
			assert_string_equal(jsonu_str(d, "error"), "interrupted by restart");
			assert_true(json_is_null(json_object_get(d, "sha256")));
		}
	}
	json_decref(arr);
	/* the .part of #2 is now the dump; #3's is gone; the records say so */
	path = xasprintf("%s/vm-2/vm-2-20261122T183000Z-000000000002.elf.part", fx.dir);
	assert_int_equal(stat(path, &st), -1);
	free(path);
	path = xasprintf("%s/vm-3/vm-3-20261122T183000Z-000000000003.elf.part", fx.dir);
	assert_int_equal(stat(path, &st), -1);
	free(path);
	text = fx_read(&fx, "journal", "20261122T183000Z-000000000002.json");
	assert_non_null(strstr(text, "\"completed\""));
	free(text);
	text = fx_read(&fx, "journal", "20261122T183000Z-000000000003.json");
	assert_non_null(strstr(text, "\"failed\""));
	assert_null(strstr(text, "bbbb"));
	free(text);
	fx_done(&fx);
}

/* Beyond QUEUE_FINISHED_MAX, the oldest finished records go, whatever the order
 * of the files in the folder. */
static void test_restore_prunes_oldest(void **state)
{
	struct fixture fx;
	json_t *arr;
	char name[64];
	char *text;
	int total = QUEUE_FINISHED_MAX + 1;

	(void)state;
	fx_init(&fx);
	/* the one running (the newest of all) written first, then the completed ones
	 * oldest first: tmpfs lists the newest file first, so the restore meets every
	 * completed record before the running one */
	fx_record(&fx, total + 1, DUMP_RUNNING, T0 + (long long)(total + 1) * 1000);
	for (int n = 1; n <= total; n++)
		fx_record(&fx, n, DUMP_COMPLETED, T0 + (long long)n * 1000);
	fx_start(&fx);
	arr = fx_list(&fx);
	assert_int_equal(json_array_size(arr), QUEUE_FINISHED_MAX);
	/* newest first: the interrupted one, then completed total, total-1, ... */
	snprintf(name, sizeof(name), "20261122T183000Z-%012x", total + 1);
	assert_string_equal(jsonu_str(json_array_get(arr, 0), "dump_id"), name);
	snprintf(name, sizeof(name), "20261122T183000Z-%012x", total);
	assert_string_equal(jsonu_str(json_array_get(arr, 1), "dump_id"), name);
	snprintf(name, sizeof(name), "20261122T183000Z-%012x", 3);
	assert_string_equal(jsonu_str(json_array_get(arr, QUEUE_FINISHED_MAX - 1), "dump_id"),
	                    name);
	json_decref(arr);
	snprintf(name, sizeof(name), "20261122T183000Z-%012x.json", total);
	text = fx_read(&fx, "journal", name);
	assert_non_null(text);
	free(text);
	snprintf(name, sizeof(name), "20261122T183000Z-%012x.json", 1);
	assert_null(fx_read(&fx, "journal", name));
	fx_done(&fx);
}

/* A final state whose journal write failed (disk full) is written once it can
 * be. */
static void test_journal_write_retried(void **state)
{
	struct fixture fx;
	struct err e = {0};
	json_t *d = NULL;
	char *block, *text;
	const char *id = "20261122T183000Z-000000000001";

	(void)state;
	fx_init(&fx);
	fx_record(&fx, 1, DUMP_QUEUED, T0);
	fx_start(&fx);
	block = xasprintf("%s/.memdumpd/journal/.%s.json.tmp", fx.dir, id);
	assert_int_equal(mkdir(block, 0700), 0);
	assert_int_equal(queue_cancel(fx.q, id, &d, &e), 0);
	assert_string_equal(jsonu_str(d, "state"), "cancelled");
	json_decref(d);
	text = fx_read(&fx, "journal", "20261122T183000Z-000000000001.json");
	assert_non_null(strstr(text, "\"queued\""));
	free(text);
	assert_int_equal(rmdir(block), 0);
	assert_true(
	    fx_wait_file(&fx, "journal", "20261122T183000Z-000000000001.json", "\"cancelled\""));
	free(block);
	fx_done(&fx);
}

/* The InfluxDB point of a finished dump whose spool file could not be written
 * (disk full) is kept and spooled once it can be. */
static void test_spool_write_retried(void **state)
{
	struct fixture fx;
	struct err e = {0};
	json_t *d = NULL;
	char *block;
	const char *id = "20261122T183000Z-000000000001";

	(void)state;
	fx_init(&fx);
	fx_record(&fx, 1, DUMP_QUEUED, T0);
	fx_start(&fx);
	block = xasprintf("%s/.memdumpd/spool/.%s.lp.tmp", fx.dir, id);
	assert_int_equal(mkdir(block, 0700), 0);
	assert_int_equal(queue_cancel(fx.q, id, &d, &e), 0);
	json_decref(d);
	assert_int_equal(rmdir(block), 0);
	assert_true(
	    fx_wait_file(&fx, "spool", "20261122T183000Z-000000000001.lp", "state=cancelled"));
	free(block);
	fx_done(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_restore_running_once),
	    cmocka_unit_test(test_restore_completes_a_dump_whose_record_was_missing),
	    cmocka_unit_test(test_restore_prunes_oldest),
	    cmocka_unit_test(test_journal_write_retried),
	    cmocka_unit_test(test_spool_write_retried),
	};

	jsonu_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
