/*
 * test_memdumpd_runner: memdumpd's queue, runner, monitor and recovery driving a
 * fake hypervisor (support/fakevirt) instead of libvirt: real FIFOs, real
 * streams, a real journal and spool in a temporary folder, no QEMU. The fake
 * writes a known pattern, so the SHA-256 and size are known; it can hold a dump
 * part-way, so the test sees it running, its progress, a cancel, a timeout or a
 * shutdown. Every wait has a generous deadline; nothing asserts on time.
 */
#include <setjmp.h>
#include <signal.h>
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
#include "../../memdumpd/mdapi.h"
#include "../../memdumpd/queue.h"
#include "../../memdumpd/record.h"
#include "json_util.h"
#include "support/fakevirt.h"
#include "xmalloc.h"

#define MIB (1024u * 1024u)
#define DUMP_BYTES (3 * MIB + 12345) /* whole slots and a partial last one */

struct fixture {
	char dir[64];
	struct journal *jn;
	struct spool *sp;
	struct fakevirt *fv;
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

static void fx_open(struct fixture *fx)
{
	struct err e = {0};

	fx->jn = journal_open(fx->dir, &e);
	assert_non_null(fx->jn);
	fx->sp = record_spool_new(fx->dir, "http://127.0.0.1:9", "db", "", &e);
	assert_non_null(fx->sp);
}

static void fx_start(struct fixture *fx, int max_concurrent, int max_wait_s)
{
	struct queue_config qc = {fx->dir, "kvm1", max_concurrent, max_wait_s, 0};

	fx->q = queue_new(&qc, fakevirt_ops(fx->fv), fx->jn, fx->sp);
}

static void fx_init(struct fixture *fx, int max_concurrent, int max_wait_s)
{
	memset(fx, 0, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/mdr-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->fv = fakevirt_new(64 * MIB, DUMP_BYTES);
	fx_open(fx);
	fx_start(fx, max_concurrent, max_wait_s);
}

/* Stop the queue and close journal and spool (the folder stays). */
static void fx_stop(struct fixture *fx)
{
	assert_int_equal(queue_free(fx->q), 0);
	fx->q = NULL;
	spool_free(fx->sp);
	journal_free(fx->jn);
}

static void fx_done(struct fixture *fx)
{
	fx_stop(fx);
	fakevirt_free(fx->fv);
	fx_rm_rf(fx->dir);
}

/* Create a dump of vm; its dump object (new). */
static json_t *fx_create(struct fixture *fx, const char *vm)
{
	char conflict[DUMP_ID_SIZE];
	struct err e = {0};
	json_t *d = NULL;

	assert_int_equal(queue_create(fx->q, vm, DUMP_FMT_ELF, "alice", &d, conflict, &e), 0);
	return d;
}

static json_t *fx_get(struct fixture *fx, const char *id)
{
	struct err e = {0};
	json_t *d = NULL;

	assert_int_equal(queue_get(fx->q, id, &d, &e), 0);
	return d;
}

/* Wait (at most 30 s) until dump id is in state; its dump object (new). */
static json_t *fx_wait_state(struct fixture *fx, const char *id, const char *state)
{
	for (int i = 0; i < 3000; i++) {
		json_t *d = fx_get(fx, id);
		struct timespec ts = {0, 10 * 1000 * 1000};

		if (strcmp(jsonu_str(d, "state"), state) == 0)
			return d;
		json_decref(d);
		nanosleep(&ts, NULL);
	}
	fail_msg("dump %s never became %s", id, state);
	return NULL;
}

/* The text of DIR/.memdumpd/SUB/NAME, new, or NULL. */
static char *fx_read(struct fixture *fx, const char *sub, const char *name)
{
	char *path = xasprintf("%s/.memdumpd/%s/%s", fx->dir, sub, name);
	FILE *f = fopen(path, "r");
	char *buf;
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

static bool fx_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Neither PATH.part nor the FIFO is left next to the dump's path. */
static void assert_no_leftovers(const json_t *d)
{
	const char *path = jsonu_str(d, "path");
	char *part = xasprintf("%s.part", path);
	char *dir = xstrdup(path);
	char *fifo;

	*strrchr(dir, '/') = '\0';
	fifo = xasprintf("%s/.%s.fifo", dir, jsonu_str(d, "dump_id"));
	assert_false(fx_exists(part));
	assert_false(fx_exists(fifo));
	free(part);
	free(fifo);
	free(dir);
}

/* A dump runs to completion: hash and size of the pattern, file at its path,
 * the journal and the InfluxDB spool say completed. */
static void test_dump_completes(void **state)
{
	struct fixture fx;
	json_t *d;
	char want[65], *id, *name, *text;
	struct stat st;

	(void)state;
	fx_init(&fx, 2, 0);
	d = fx_create(&fx, "web");
	assert_string_equal(jsonu_str(d, "state"), "running");
	assert_string_equal(jsonu_str(d, "requested_by"), "alice");
	id = xstrdup(jsonu_str(d, "dump_id"));
	json_decref(d);
	d = fx_wait_state(&fx, id, "completed");
	fakevirt_sha256(DUMP_BYTES, want);
	assert_string_equal(jsonu_str(d, "sha256"), want);
	assert_int_equal(json_integer_value(json_object_get(d, "size_bytes")), DUMP_BYTES);
	assert_int_equal(json_integer_value(json_object_get(d, "bytes_written")), DUMP_BYTES);
	assert_int_equal(json_integer_value(json_object_get(d, "progress")), 100);
	assert_true(json_is_null(json_object_get(d, "error")));
	assert_int_equal(stat(jsonu_str(d, "path"), &st), 0);
	assert_int_equal(st.st_size, DUMP_BYTES);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_no_leftovers(d);
	name = xasprintf("%s.json", id);
	text = fx_read(&fx, "journal", name);
	assert_non_null(strstr(text, "\"completed\""));
	assert_non_null(strstr(text, want));
	free(text);
	free(name);
	name = xasprintf("%s.lp", id);
	text = fx_read(&fx, "spool", name);
	assert_non_null(text);
	assert_non_null(strstr(text, "state=completed"));
	free(text);
	free(name);
	assert_int_equal(fakevirt_dumps(fx.fv, "web"), 1);
	json_decref(d);
	free(id);
	fx_done(&fx);
}

/* With one slot: the second dump waits queued, starts when the first ends, and
 * a second dump of a VM with one active is refused naming the active one. */
static void test_queued_then_runs(void **state)
{
	struct fixture fx;
	json_t *a, *b;
	char conflict[DUMP_ID_SIZE], *ida, *idb;
	struct err e = {0};
	json_t *d = NULL;

	(void)state;
	fx_init(&fx, 1, 0);
	fakevirt_hold(fx.fv, "web", MIB);
	a = fx_create(&fx, "web");
	ida = xstrdup(jsonu_str(a, "dump_id"));
	assert_true(fakevirt_wait_held(fx.fv, "web", MIB));
	b = fx_create(&fx, "db");
	idb = xstrdup(jsonu_str(b, "dump_id"));
	assert_string_equal(jsonu_str(b, "state"), "queued");
	assert_int_equal(queue_create(fx.q, "web", DUMP_FMT_ELF, NULL, &d, conflict, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_string_equal(conflict, ida);
	assert_int_equal(queue_create(fx.q, FAKEVIRT_MISSING, DUMP_FMT_ELF, NULL, &d, conflict, &e),
	                 -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(fakevirt_dumps(fx.fv, "db"), 0);
	fakevirt_release(fx.fv);
	json_decref(fx_wait_state(&fx, ida, "completed"));
	json_decref(fx_wait_state(&fx, idb, "completed"));
	assert_int_equal(fakevirt_dumps(fx.fv, "db"), 1);
	json_decref(a);
	json_decref(b);
	free(ida);
	free(idb);
	fx_done(&fx);
}

/* Cancel of a queued dump (never dumped) and of a running one (the FIFO is
 * closed, the dump call fails, nothing is left on disk). */
static void test_cancel(void **state)
{
	struct fixture fx;
	json_t *a, *b, *d = NULL;
	struct err e = {0};
	char *name, *text;

	(void)state;
	fx_init(&fx, 1, 0);
	fakevirt_hold(fx.fv, "web", 2 * MIB);
	a = fx_create(&fx, "web");
	assert_true(fakevirt_wait_held(fx.fv, "web", 2 * MIB));
	b = fx_create(&fx, "db");
	assert_int_equal(queue_cancel(fx.q, jsonu_str(b, "dump_id"), &d, &e), 0);
	assert_string_equal(jsonu_str(d, "state"), "cancelled");
	assert_string_equal(jsonu_str(d, "error"), "cancelled while queued");
	json_decref(d);
	assert_int_equal(queue_cancel(fx.q, jsonu_str(a, "dump_id"), &d, &e), 0);
	assert_string_equal(jsonu_str(d, "state"), "cancelled");
	assert_string_equal(jsonu_str(d, "error"), "cancelled while running");
	assert_true(json_is_null(json_object_get(d, "sha256")));
	assert_false(fx_exists(jsonu_str(d, "path")));
	assert_no_leftovers(d);
	json_decref(d);
	/* a finished dump cannot be cancelled again */
	assert_int_equal(queue_cancel(fx.q, jsonu_str(a, "dump_id"), &d, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_int_equal(fakevirt_dumps(fx.fv, "db"), 0);
	name = xasprintf("%s.lp", jsonu_str(a, "dump_id"));
	text = fx_read(&fx, "spool", name);
	assert_non_null(strstr(text, "state=cancelled"));
	free(text);
	free(name);
	json_decref(a);
	json_decref(b);
	fx_done(&fx);
}

/* A dump that runs longer than MEMDUMP_MAX_WAIT is stopped by the monitor and
 * ends failed, saying why. */
static void test_timeout(void **state)
{
	struct fixture fx;
	json_t *a, *d;

	(void)state;
	fx_init(&fx, 1, 1);
	fakevirt_hold(fx.fv, "web", MIB);
	a = fx_create(&fx, "web");
	d = fx_wait_state(&fx, jsonu_str(a, "dump_id"), "failed");
	assert_string_equal(jsonu_str(d, "error"),
	                    "the dump ran longer than MEMDUMP_MAX_WAIT (1 s) and was stopped");
	assert_true(json_is_null(json_object_get(d, "sha256")));
	assert_no_leftovers(d);
	json_decref(d);
	json_decref(a);
	fx_done(&fx);
}

/* The monitor reports the hypervisor's progress and the bytes on disk while a
 * dump runs. */
static void test_progress(void **state)
{
	struct fixture fx;
	json_t *a, *d = NULL;
	const char *id;
	int i;

	(void)state;
	fx_init(&fx, 1, 0);
	fakevirt_hold(fx.fv, "web", 2 * MIB);
	a = fx_create(&fx, "web");
	id = jsonu_str(a, "dump_id");
	assert_true(fakevirt_wait_held(fx.fv, "web", 2 * MIB));
	for (i = 0; i < 3000; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};

		d = fx_get(&fx, id);
		if (json_integer_value(json_object_get(d, "bytes_written")) == 2 * MIB &&
		    json_integer_value(json_object_get(d, "progress")) > 0 &&
		    json_is_integer(json_object_get(d, "rate_bps")))
			break;
		json_decref(d);
		d = NULL;
		nanosleep(&ts, NULL);
	}
	assert_non_null(d);
	assert_string_equal(jsonu_str(d, "state"), "running");
	assert_int_equal(json_integer_value(json_object_get(d, "progress")),
	                 (int)(2ull * MIB * 100 / DUMP_BYTES));
	assert_int_equal(json_integer_value(json_object_get(d, "bytes_total")), DUMP_BYTES);
	json_decref(d);
	fakevirt_release(fx.fv);
	json_decref(fx_wait_state(&fx, id, "completed"));
	json_decref(a);
	fx_done(&fx);
}

/* Shutdown with a dump running and one queued, then a start on the same folder:
 * the running one is failed "interrupted by restart" with nothing left of it,
 * the queued one stays queued in the journal and runs after the restart. */
static void test_restart(void **state)
{
	struct fixture fx;
	json_t *a, *b, *d;
	char *ida, *idb, *name, *text;

	(void)state;
	fx_init(&fx, 1, 0);
	fakevirt_hold(fx.fv, "web", MIB);
	a = fx_create(&fx, "web");
	ida = xstrdup(jsonu_str(a, "dump_id"));
	assert_true(fakevirt_wait_held(fx.fv, "web", MIB));
	b = fx_create(&fx, "db");
	idb = xstrdup(jsonu_str(b, "dump_id"));
	fx_stop(&fx);
	name = xasprintf("%s.json", idb);
	text = fx_read(&fx, "journal", name);
	assert_non_null(strstr(text, "\"queued\""));
	free(text);
	free(name);

	fakevirt_hold(fx.fv, NULL, 0);
	fx_open(&fx);
	fx_start(&fx, 1, 0);
	d = fx_get(&fx, ida);
	assert_string_equal(jsonu_str(d, "state"), "failed");
	assert_string_equal(jsonu_str(d, "error"), "interrupted by restart");
	assert_no_leftovers(d);
	assert_false(fx_exists(jsonu_str(d, "path")));
	json_decref(d);
	json_decref(fx_wait_state(&fx, idb, "completed"));
	json_decref(a);
	json_decref(b);
	free(ida);
	free(idb);
	fx_done(&fx);
}

/* A journal that says running (memdumpd was killed) with a stale PATH.part and
 * FIFO: after the start it is failed "interrupted by restart", both removed. */
static void test_recovery_after_kill(void **state)
{
	struct fixture fx;
	struct err e = {0};
	const char *id = "20261122T183000Z-0000000000aa";
	char *dir, *path, *part, *fifo;
	struct job *j;
	json_t *d;
	FILE *f;

	(void)state;
	memset(&fx, 0, sizeof(fx));
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/mdr-XXXXXX");
	assert_non_null(mkdtemp(fx.dir));
	fx.fv = fakevirt_new(64 * MIB, DUMP_BYTES);
	fx_open(&fx);
	dir = xasprintf("%s/web", fx.dir);
	path = xasprintf("%s/web-%s.elf", dir, id);
	part = xasprintf("%s.part", path);
	fifo = xasprintf("%s/.%s.fifo", dir, id);
	j = job_new(id, "web", "kvm1", path, DUMP_FMT_ELF, 1795372200000LL);
	j->state = DUMP_RUNNING;
	j->started_ms = 1795372200010LL;
	assert_int_equal(journal_write(fx.jn, j, &e), 0);
	job_free(j);
	assert_int_equal(mkdir(dir, 0700), 0);
	f = fopen(part, "w");
	assert_non_null(f);
	fputs("partial", f);
	fclose(f);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	fx_start(&fx, 1, 0);
	d = fx_get(&fx, id);
	assert_string_equal(jsonu_str(d, "state"), "failed");
	assert_string_equal(jsonu_str(d, "error"), "interrupted by restart");
	assert_false(fx_exists(part));
	assert_false(fx_exists(fifo));
	json_decref(d);
	free(dir);
	free(path);
	free(part);
	free(fifo);
	fx_done(&fx);
}

/* The handlers over the exchange, with no HTTP server: create, list, a ranged
 * download of the completed file, and the token. */
static void test_handlers(void **state)
{
	struct fixture fx;
	struct mdapi_config ac;
	struct mdapi *api;
	struct mdexch_pair hdr[3] = {{"Content-Type", "application/json"},
	                             {"Authorization", "Bearer s3cret"},
	                             {"Range", "bytes=10-19"}};
	struct mdexch_pair args[1] = {{"state", "completed"}};
	struct mdexch_req q;
	struct mdexch_resp r;
	const char *body = "{\"vm\":\"web\"}";
	char path[128], buf[16], *id;
	json_t *v;

	(void)state;
	fx_init(&fx, 1, 0);
	ac = (struct mdapi_config){fx.q, fakevirt_ops(fx.fv), fx.sp, "s3cret", "kvm1", fx.dir};
	api = mdapi_new(&ac);

	memset(&q, 0, sizeof(q));
	q.method = "POST";
	q.path = "/api/dumps";
	q.headers = hdr;
	q.n_headers = 1; /* no token */
	q.body = body;
	q.body_len = strlen(body);
	mdexch_resp_init(&r);
	mdapi_handle(api, &q, &r);
	assert_int_equal(r.status, 401);
	mdexch_resp_release(&r);

	q.n_headers = 2;
	mdapi_handle(api, &q, &r);
	assert_int_equal(r.status, 202);
	v = jsonu_parse(r.body, r.body_len, 1 << 16, 8, NULL);
	id = xstrdup(jsonu_str(json_object_get(v, "dump"), "dump_id"));
	json_decref(v);
	mdexch_resp_release(&r);
	json_decref(fx_wait_state(&fx, id, "completed"));

	q.method = "GET";
	q.body = NULL;
	q.body_len = 0;
	q.args = args;
	q.n_args = 1;
	mdapi_handle(api, &q, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, id));
	mdexch_resp_release(&r);

	snprintf(path, sizeof(path), "/api/dumps/%s/file", id);
	q.path = path;
	q.n_args = 0;
	q.n_headers = 3;
	mdapi_handle(api, &q, &r);
	assert_int_equal(r.status, 206);
	assert_true(r.fd >= 0);
	assert_int_equal(r.file_off, 10);
	assert_int_equal(r.file_len, 10);
	assert_int_equal(pread(r.fd, buf, 10, 10), 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal((unsigned char)buf[i], fakevirt_byte(10 + (size_t)i));
	mdexch_resp_release(&r);

	q.method = "PUT";
	mdapi_handle(api, &q, &r);
	assert_int_equal(r.status, 405);
	mdexch_resp_release(&r);

	mdapi_free(api);
	free(id);
	fx_done(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dump_completes),
	    cmocka_unit_test(test_queued_then_runs),
	    cmocka_unit_test(test_cancel),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_progress),
	    cmocka_unit_test(test_restart),
	    cmocka_unit_test(test_recovery_after_kill),
	    cmocka_unit_test(test_handlers),
	};

	signal(SIGPIPE, SIG_IGN); /* the fake writes into FIFOs that a cancel closes */
	jsonu_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
