/*
 * queue: jobs, scheduler, workers and the progress monitor (see queue.h).
 * DESIGN: entries live in an array in creation order. A state change happens
 * under q->lock and is journalled there, so what a client sees is on disk. A
 * worker owns its stream; the monitor and cancel reach it only through
 * entry->st under the lock, and the worker clears entry->st before freeing it.
 * Cancelling a running dump closes its FIFO; the worker then records the final
 * state (cancelled, or failed with the reason for timeouts and shutdown).
 * THREADS: callers (HTTP threads), one detached worker per running dump, one
 * monitor thread. q->cond is broadcast whenever a dump finishes.
 */
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "clock.h"
#include "job.h"
#include "journal.h"
#include "log.h"
#include "stream.h"
#include "xmalloc.h"

#define QUEUE_MONITOR_MS 500
#define QUEUE_CANCEL_WAIT_S 15
#define QUEUE_STOP_WAIT_S 30 /* at shutdown, for workers to leave libvirt */

struct queue;

struct entry {
	struct queue *q; /* borrowed: the owner */
	struct job *job;
	struct stream *st; /* while the worker streams */
	bool cancel;
	enum dump_state cancel_state; /* DUMP_CANCELLED or DUMP_FAILED */
	char *cancel_reason;          /* error text for the final state */
	unsigned long long processed; /* from libvirt's job stats */
	bool finishing;               /* the worker is recording the outcome */
	bool journal_dirty;           /* the last journal write failed: the monitor retries */
};

struct queue {
	char *dump_dir;
	char *host;
	int max_concurrent;
	int max_wait_s;
	unsigned long long reserve_bytes;
	const struct virt_ops *virt;
	struct journal *journal;
	struct spool *spool;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct entry **v;
	size_t n, cap;
	int running;
	int workers;
	bool stopping;
	pthread_t monitor;
};

static void entry_free(struct entry *en)
{
	if (en == NULL)
		return;
	job_free(en->job);
	free(en->cancel_reason);
	free(en);
}

/* DUMP_DIR/<vm>/.<id>.fifo next to the final file. */
static char *queue_fifo_path(const struct job *j)
{
	const char *slash = strrchr(j->path, '/');
	int dirlen = slash != NULL ? (int)(slash - j->path) : 0;

	return xasprintf("%.*s/.%s.fifo", dirlen, j->path, j->id);
}

/* With the lock: the dump object, with the bytes received so far. */
static json_t *queue_json(struct entry *en)
{
	if (en->st != NULL && en->job->state == DUMP_RUNNING)
		en->job->bytes_written = stream_bytes(en->st);
	return job_to_json(en->job);
}

static struct entry *queue_find(struct queue *q, const char *id)
{
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->v[i]->job->id, id) == 0)
			return q->v[i];
	return NULL;
}

static struct entry *queue_active_for(struct queue *q, const char *vm)
{
	for (size_t i = 0; i < q->n; i++)
		if (!dump_state_is_final(q->v[i]->job->state) && strcmp(q->v[i]->job->vm, vm) == 0)
			return q->v[i];
	return NULL;
}

static void queue_append(struct queue *q, struct entry *en)
{
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 64;
		q->v = xrealloc(q->v, q->cap * sizeof(*q->v));
	}
	q->v[q->n++] = en;
}

/* With the lock: journal an entry's job. A failure (disk full) is logged once and
 * the state still changes; the monitor writes the record again until it succeeds,
 * so a restart never finds a finished dump recorded as queued or running. */
static void queue_journal(struct queue *q, struct entry *en)
{
	struct err e = {0};

	if (journal_write(q->journal, en->job, &e) < 0) {
		if (!en->journal_dirty)
			log_error("journal_write_failed", "id=%s error=%s retry=1", en->job->id,
			          log_q(e.msg));
		en->journal_dirty = true;
	} else if (en->journal_dirty) {
		log_info("journal_write_recovered", "id=%s", en->job->id);
		en->journal_dirty = false;
	}
}

/* With the lock: drop the oldest finished entries beyond the cap. */
static void queue_prune(struct queue *q)
{
	size_t finished = 0, i, w;

	for (i = 0; i < q->n; i++)
		finished += dump_state_is_final(q->v[i]->job->state);
	for (i = 0, w = 0; i < q->n; i++) {
		struct entry *en = q->v[i];

		if (finished > QUEUE_FINISHED_MAX && dump_state_is_final(en->job->state)) {
			journal_remove(q->journal, en->job->id);
			entry_free(en);
			finished--;
			continue;
		}
		q->v[w++] = en;
	}
	q->n = w;
}

/* With the lock: a job reached a final state; journal, spool, wake waiters (no prune). */
static void queue_record_final(struct queue *q, struct entry *en)
{
	struct job *j = en->job;
	struct err e = {0};

	if (j->finished_ms == 0)
		j->finished_ms = clock_realtime_ms();
	j->rate_bps = -1;
	j->eta_s = -1;
	if (j->state == DUMP_COMPLETED)
		j->progress = 100;
	queue_journal(q, en);
	if (record_spool(q->spool, j, &e) < 0)
		log_error("spool_add_failed", "id=%s error=%s", j->id, log_q(e.msg));
	log_info("dump_finished", "id=%s vm=%s state=%s bytes=%llu sha256=%s error=%s", j->id,
	         log_q(j->vm), dump_state_name(j->state), j->bytes_written,
	         j->sha256[0] ? j->sha256 : "-", log_q(j->error));
	pthread_cond_broadcast(&q->cond);
}

/* With the lock: queue_record_final, then drop the oldest finished (may free en). */
static void queue_finished(struct queue *q, struct entry *en)
{
	queue_record_final(q, en);
	queue_prune(q);
}

static void queue_schedule(struct queue *q);

/* Create the VM's folder (0700) under DUMP_DIR. */
static int queue_vm_dir(const char *path, struct err *e)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int rc = 0;

	if (slash != NULL)
		*slash = '\0';
	rc = atomicfile_mkdir(dir, e);
	free(dir);
	return rc;
}

static void *queue_worker(void *arg)
{
	struct entry *en = arg;
	struct queue *q = en->q;
	struct stream *st = NULL;
	struct err e = {0}, se = {0};
	char *vm, *path, *fifo, sha[65] = "";
	enum dump_format fmt;
	unsigned long long size = 0;
	int rc = -1, src = -1;
	bool cancelled = false;

	pthread_mutex_lock(&q->lock);
	vm = xstrdup(en->job->vm);
	path = xstrdup(en->job->path);
	fifo = queue_fifo_path(en->job);
	fmt = en->job->format;
	pthread_mutex_unlock(&q->lock);

	if (queue_vm_dir(path, &e) == 0)
		st = stream_new(fifo, path, &e);
	if (st != NULL) {
		bool early_cancel;

		pthread_mutex_lock(&q->lock);
		en->st = st;
		early_cancel = en->cancel;
		if (early_cancel)
			stream_cancel(st);
		pthread_mutex_unlock(&q->lock);
		if (early_cancel) {
			/* cancelled before libvirt was asked: never pause the guest for it */
			rc = err_set(&e, ERR_CONFLICT, "cancelled before it started");
		} else {
			log_info("dump_started", "id=%s vm=%s format=%s", en->job->id, log_q(vm),
			         dump_format_name(fmt));
			rc = q->virt->dump(q->virt->self, vm, fifo, fmt, &e);
		}
		stream_dump_returned(st);
		src = stream_wait(st, sha, &size, &se);
		/* From here on the dump is done one way or the other: a late cancel
		 * (or shutdown) no longer applies, so the file and the state agree. */
		pthread_mutex_lock(&q->lock);
		en->finishing = true;
		cancelled = en->cancel;
		pthread_mutex_unlock(&q->lock);
		if (!cancelled && rc == 0 && src == 0) {
			/* Two steps, so a crash between them loses nothing: the journal
			 * first says "running, every byte hashed and synced" (size and
			 * hash), then the rename; a restart that finds that record
			 * completes the dump from the file (queue_fail_interrupted). */
			pthread_mutex_lock(&q->lock);
			memcpy(en->job->sha256, sha, sizeof(sha));
			en->job->size_bytes = (long long)size;
			queue_journal(q, en);
			pthread_mutex_unlock(&q->lock);
			if (stream_commit(st, &se) < 0)
				src = -1;
		}
	}

	pthread_mutex_lock(&q->lock);
	en->st = NULL;
	pthread_mutex_unlock(&q->lock);
	stream_free(st); /* removes the FIFO and, unless committed, PATH.part */

	pthread_mutex_lock(&q->lock);
	struct job *j = en->job;
	if (st != NULL)
		j->bytes_written = size > 0 ? size : j->bytes_written;
	if (cancelled || (st == NULL && en->cancel)) {
		j->state = en->cancel_state;
		job_set_error(j, en->cancel_reason);
	} else if (st == NULL) {
		j->state = DUMP_FAILED;
		job_set_error(j, e.msg);
	} else if (rc < 0) {
		j->state = DUMP_FAILED;
		job_set_error(j, e.msg);
	} else if (src < 0) {
		j->state = DUMP_FAILED;
		job_set_error(j, se.msg);
		j->sha256[0] = '\0'; /* the rename failed: no file to vouch for */
		j->size_bytes = -1;
	} else {
		j->state = DUMP_COMPLETED;
		j->size_bytes = (long long)size;
		j->bytes_written = size;
		memcpy(j->sha256, sha, sizeof(sha));
	}
	q->running--;
	queue_finished(q, en);
	q->workers--;
	queue_schedule(q);
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	free(vm);
	free(path);
	free(fifo);
	return NULL;
}

/* With the lock: start queued dumps while there is room. */
static void queue_schedule(struct queue *q)
{
	for (size_t i = 0; i < q->n && !q->stopping && q->running < q->max_concurrent; i++) {
		struct entry *en = q->v[i];
		pthread_t t;
		pthread_attr_t attr;

		if (en->job->state != DUMP_QUEUED)
			continue;
		en->job->state = DUMP_RUNNING;
		en->job->started_ms = clock_realtime_ms();
		en->job->progress = 0;
		queue_journal(q, en);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, queue_worker, en) != 0) {
			en->job->state = DUMP_FAILED;
			job_set_error(en->job, "memdumpd could not start a worker thread");
			queue_finished(q, en);
			pthread_attr_destroy(&attr);
			return; /* queue_finished may have pruned: restart on the next event */
		}
		pthread_attr_destroy(&attr);
		q->running++;
		q->workers++;
	}
}

/* With the lock: ask a running dump to stop; the worker records final_state. */
static void queue_stop_running(struct entry *en, enum dump_state final_state, const char *why)
{
	if (en->cancel || en->finishing)
		return;
	en->cancel = true;
	en->cancel_state = final_state;
	en->cancel_reason = xstrdup(why);
	if (en->st != NULL)
		stream_cancel(en->st);
}

struct monitor_item {
	char id[DUMP_ID_SIZE];
	char *vm;
};

static void *queue_monitor(void *arg)
{
	struct queue *q = arg;

	pthread_mutex_lock(&q->lock);
	while (!q->stopping) {
		struct monitor_item *items;
		size_t n = 0, i;
		struct timespec until;
		long long now;

		items = xcalloc(q->n + 1, sizeof(*items));
		for (i = 0; i < q->n; i++) {
			if (q->v[i]->journal_dirty)
				queue_journal(q, q->v[i]);
			if (q->v[i]->job->state != DUMP_RUNNING)
				continue;
			memcpy(items[n].id, q->v[i]->job->id, DUMP_ID_SIZE);
			items[n++].vm = xstrdup(q->v[i]->job->vm);
		}
		pthread_mutex_unlock(&q->lock);
		(void)q->virt->ok(q->virt->self, NULL, 0); /* reconnects when due */
		for (i = 0; i < n; i++) {
			unsigned long long done = 0, total = 0;
			int ok = q->virt->job_progress(q->virt->self, items[i].vm, &done, &total);
			struct entry *en;

			pthread_mutex_lock(&q->lock);
			en = queue_find(q, items[i].id);
			now = clock_realtime_ms();
			if (en != NULL && en->job->state == DUMP_RUNNING) {
				struct job *j = en->job;
				double el = (double)(now - j->started_ms) / 1000.0;

				if (en->st != NULL)
					j->bytes_written = stream_bytes(en->st);
				if (ok == 0 && total > 0) {
					int p = (int)(done * 100 / total);

					j->bytes_total = total;
					j->progress = p > 99 ? 99 : p;
					en->processed = done;
				}
				if (el > 0.2 && j->bytes_written > 0) {
					j->rate_bps = (long long)((double)j->bytes_written / el);
					if (en->processed > 0 && j->bytes_total >= en->processed)
						j->eta_s =
						    (long long)((double)(j->bytes_total -
						                         en->processed) /
						                ((double)en->processed / el));
				}
				if (q->max_wait_s > 0 &&
				    now - j->started_ms > q->max_wait_s * 1000LL) {
					char *why = xasprintf(
					    "the dump ran longer than MEMDUMP_MAX_WAIT (%d s) "
					    "and was stopped",
					    q->max_wait_s);
					log_warn("dump_timeout", "id=%s vm=%s", j->id,
					         log_q(j->vm));
					queue_stop_running(en, DUMP_FAILED, why);
					free(why);
				}
			}
			pthread_mutex_unlock(&q->lock);
			free(items[i].vm);
		}
		free(items);
		pthread_mutex_lock(&q->lock);
		until = clock_deadline_ms(QUEUE_MONITOR_MS);
		if (!q->stopping)
			pthread_cond_timedwait(&q->cond, &q->lock, &until);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* journal_load callback: adopt a record from an earlier run. Nothing is written
 * here: the journal folder is being read (see queue_fail_interrupted). */
static void queue_restore_one(struct job *j, void *arg)
{
	struct queue *q = arg;
	struct entry *en = xcalloc(1, sizeof(*en));

	en->q = q;
	en->job = j;
	queue_append(q, en);
}

/* A regular file of exactly `size` bytes at path (its mtime in *mtime_ms)? */
static bool queue_file_is(const char *path, long long size, long long *mtime_ms)
{
	struct stat st;

	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || (long long)st.st_size != size)
		return false;
	*mtime_ms = (long long)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	return true;
}

/*
 * A dump recorded running with its size and hash had every byte written, hashed and
 * synced; only the rename (or the journal write after it) was missing when memdumpd
 * stopped. Complete it from the file: true when PATH (or PATH.part, renamed now)
 * has exactly that size.
 */
static bool queue_complete_interrupted(struct job *j, const char *part)
{
	long long mtime = 0;
	char *dir;

	if (j->sha256[0] == '\0' || j->size_bytes < 0)
		return false;
	if (!queue_file_is(j->path, j->size_bytes, &mtime)) {
		if (!queue_file_is(part, j->size_bytes, &mtime) || rename(part, j->path) < 0)
			return false;
		dir = xstrdup(j->path);
		*strrchr(dir, '/') = '\0';
		atomicfile_sync_dir(dir);
		free(dir);
	}
	j->state = DUMP_COMPLETED;
	j->bytes_written = (unsigned long long)j->size_bytes;
	j->finished_ms = mtime > j->started_ms ? mtime : j->started_ms;
	log_info("dump_recovered",
	         "id=%s vm=%s note=\"complete before the restart; only its "
	         "record was missing\"",
	         j->id, log_q(j->vm));
	return true;
}

/* With the lock, once the journal is loaded and sorted: dumps that were running
 * when memdumpd stopped become failed (partial file and FIFO removed, recorded),
 * except those whose file was complete (queue_complete_interrupted). */
static void queue_fail_interrupted(struct queue *q)
{
	for (size_t i = 0; i < q->n; i++) {
		struct job *j = q->v[i]->job;
		char *part, *fifo;

		if (j->state != DUMP_RUNNING)
			continue;
		part = xasprintf("%s.part", j->path);
		fifo = queue_fifo_path(j);
		if (unlink(fifo) < 0 && errno != ENOENT)
			log_warn("fifo_unlink", "path=%s errno=%d", log_q(fifo), errno);
		j->rate_bps = j->eta_s = -1;
		if (!queue_complete_interrupted(j, part)) {
			if (unlink(part) < 0 && errno != ENOENT)
				log_warn("part_unlink", "path=%s errno=%d", log_q(part), errno);
			j->state = DUMP_FAILED;
			j->sha256[0] = '\0';
			j->size_bytes = -1;
			job_set_error(j, "interrupted by restart");
		}
		free(part);
		free(fifo);
		queue_record_final(q, q->v[i]);
	}
}

static int queue_cmp_created(const void *a, const void *b)
{
	const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;

	if (x->job->created_ms != y->job->created_ms)
		return x->job->created_ms < y->job->created_ms ? -1 : 1;
	return strcmp(x->job->id, y->job->id);
}

struct queue *queue_new(const struct queue_config *cfg, const struct virt_ops *v,
                        struct journal *jn, struct spool *sp)
{
	struct queue *q = xcalloc(1, sizeof(*q));
	int loaded;

	q->dump_dir = xstrdup(cfg->dump_dir);
	q->host = xstrdup(cfg->host);
	q->max_concurrent = cfg->max_concurrent;
	q->max_wait_s = cfg->max_wait_s;
	q->reserve_bytes = cfg->reserve_bytes;
	q->virt = v;
	q->journal = jn;
	q->spool = sp;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	pthread_mutex_lock(&q->lock);
	loaded = journal_load(jn, queue_restore_one, q);
	if (q->n > 1)
		qsort(q->v, q->n, sizeof(*q->v), queue_cmp_created);
	queue_fail_interrupted(q);
	queue_prune(q);
	log_info("journal_loaded", "records=%d kept=%zu", loaded, q->n);
	queue_schedule(q);
	pthread_mutex_unlock(&q->lock);
	if (pthread_create(&q->monitor, NULL, queue_monitor, q) != 0) {
		log_error("thread_create", "what=monitor");
		abort();
	}
	return q;
}

int queue_free(struct queue *q)
{
	struct timespec until;

	if (q == NULL)
		return 0;
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	for (size_t i = 0; i < q->n; i++)
		if (q->v[i]->job->state == DUMP_RUNNING)
			queue_stop_running(q->v[i], DUMP_FAILED, "interrupted by restart");
	pthread_cond_broadcast(&q->cond);
	until = clock_deadline_ms(QUEUE_STOP_WAIT_S * 1000LL);
	while (q->workers > 0) {
		if (pthread_cond_timedwait(&q->cond, &q->lock, &until) == ETIMEDOUT &&
		    q->workers > 0) {
			/* libvirt never returned (a hung QEMU): what the workers use cannot be
			 * freed; the journal still says running, so the next start fails them */
			log_error("stop_stuck", "workers=%d wait_s=%d", q->workers,
			          QUEUE_STOP_WAIT_S);
			pthread_mutex_unlock(&q->lock);
			return -1;
		}
	}
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->monitor, NULL);
	for (size_t i = 0; i < q->n; i++) {
		if (q->v[i]->journal_dirty)
			queue_journal(q, q->v[i]); /* a last try; logged by the first failure */
		entry_free(q->v[i]);
	}
	free(q->v);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q->dump_dir);
	free(q->host);
	free(q);
	return 0;
}

/* With the lock: bytes still to come from active dumps (for the disk guard). */
static unsigned long long queue_pending_bytes(struct queue *q)
{
	unsigned long long sum = 0;

	for (size_t i = 0; i < q->n; i++) {
		const struct job *j = q->v[i]->job;

		if (!dump_state_is_final(j->state) && j->bytes_total > j->bytes_written)
			sum += j->bytes_total - j->bytes_written;
	}
	return sum;
}

int queue_create(struct queue *q, const char *vm, enum dump_format fmt, const char *requested_by,
                 json_t **out, char conflict_id[DUMP_ID_SIZE], struct err *e)
{
	struct entry *en;
	unsigned long long mem = 0, need, avail;
	struct statvfs sv;
	char id[DUMP_ID_SIZE], comp[DUMP_VM_NAME_MAX + 1];
	char *path;
	int rc = -1;

	conflict_id[0] = '\0';
	pthread_mutex_lock(&q->lock);
	en = queue_active_for(q, vm);
	if (en != NULL) {
		memcpy(conflict_id, en->job->id, DUMP_ID_SIZE);
		pthread_mutex_unlock(&q->lock);
		return err_set(e, ERR_CONFLICT, "VM '%s' already has dump %s in progress (%s)", vm,
		               conflict_id, dump_state_name(en->job->state));
	}
	pthread_mutex_unlock(&q->lock);

	if (q->virt->domain_memory(q->virt->self, vm, &mem, e) < 0)
		return -1;
	if (statvfs(q->dump_dir, &sv) < 0)
		return err_set(e, ERR_IO, "cannot check free space in DUMP_DIR: %s",
		               strerror(errno));
	avail = (unsigned long long)sv.f_bavail * sv.f_frsize;

	pthread_mutex_lock(&q->lock);
	if (q->stopping) {
		err_set(e, ERR_UNAVAILABLE, "memdumpd is shutting down");
		goto out;
	}
	en = queue_active_for(q, vm);
	if (en != NULL) {
		memcpy(conflict_id, en->job->id, DUMP_ID_SIZE);
		err_set(e, ERR_CONFLICT, "VM '%s' already has dump %s in progress (%s)", vm,
		        conflict_id, dump_state_name(en->job->state));
		goto out;
	}
	need = mem + q->reserve_bytes + queue_pending_bytes(q);
	if (avail < need) {
		err_set(e, ERR_NO_SPACE,
		        "not enough space in DUMP_DIR for a dump of '%s': %llu MiB free, %llu MiB "
		        "needed (guest memory %llu MiB + dumps in progress + "
		        "MEMDUMP_DISK_RESERVE_MB %llu)",
		        vm, avail >> 20, need >> 20, mem >> 20, q->reserve_bytes >> 20);
		goto out;
	}
	dump_id_new(id, time(NULL));
	dump_vm_path_component(vm, comp);
	path = xasprintf("%s/%s/%s-%s%s", q->dump_dir, comp, comp, id, dump_format_ext(fmt));
	en = xcalloc(1, sizeof(*en));
	en->q = q;
	en->job = job_new(id, vm, q->host, path, fmt, clock_realtime_ms());
	en->job->bytes_total = mem;
	job_set_requested_by(en->job, requested_by);
	free(path);
	if (journal_write(q->journal, en->job, e) < 0) {
		entry_free(en);
		goto out;
	}
	queue_append(q, en);
	log_info("dump_queued", "id=%s vm=%s format=%s requested_by=%s", id, log_q(vm),
	         dump_format_name(fmt), log_q(requested_by != NULL ? requested_by : "-"));
	queue_schedule(q);
	en = queue_find(q, id);
	*out = en != NULL ? queue_json(en) : json_null();
	rc = 0;
out:
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int queue_get(struct queue *q, const char *id, json_t **out, struct err *e)
{
	struct entry *en;
	int rc = -1;

	pthread_mutex_lock(&q->lock);
	en = queue_find(q, id);
	if (en == NULL) {
		err_set(e, ERR_NOT_FOUND, "no dump with id %s", id);
	} else {
		*out = queue_json(en);
		rc = 0;
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

json_t *queue_list(struct queue *q, const struct request_list *f)
{
	json_t *arr = json_array();
	int count = 0;

	pthread_mutex_lock(&q->lock);
	for (size_t i = q->n; i > 0 && count < f->limit; i--) {
		const struct job *j = q->v[i - 1]->job;

		if (f->has_state && j->state != f->state)
			continue;
		if (f->has_vm && strcmp(j->vm, f->vm) != 0)
			continue;
		json_array_append_new(arr, queue_json(q->v[i - 1]));
		count++;
	}
	pthread_mutex_unlock(&q->lock);
	return arr;
}

int queue_cancel(struct queue *q, const char *id, json_t **out, struct err *e)
{
	struct entry *en;
	struct timespec until;
	int rc = -1;

	pthread_mutex_lock(&q->lock);
	en = queue_find(q, id);
	if (en == NULL) {
		err_set(e, ERR_NOT_FOUND, "no dump with id %s", id);
		goto out;
	}
	if (dump_state_is_final(en->job->state)) {
		err_set(e, ERR_CONFLICT, "dump %s has already finished (%s)", id,
		        dump_state_name(en->job->state));
		goto out;
	}
	log_info("dump_cancel", "id=%s vm=%s state=%s", id, log_q(en->job->vm),
	         dump_state_name(en->job->state));
	if (en->job->state == DUMP_QUEUED) {
		en->job->state = DUMP_CANCELLED;
		job_set_error(en->job, "cancelled while queued");
		*out = job_to_json(en->job);
		queue_finished(q, en);
		rc = 0;
		goto out;
	}
	queue_stop_running(en, DUMP_CANCELLED, "cancelled while running");
	until = clock_deadline_ms(QUEUE_CANCEL_WAIT_S * 1000LL);
	while ((en = queue_find(q, id)) != NULL && !dump_state_is_final(en->job->state))
		if (pthread_cond_timedwait(&q->cond, &q->lock, &until) != 0)
			break;
	if (en == NULL) {
		err_set(e, ERR_NOT_FOUND, "no dump with id %s", id);
		goto out;
	}
	*out = job_to_json(en->job);
	rc = 0;
out:
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int queue_file(struct queue *q, const char *id, char **path, unsigned long long *size,
               char sha256[65], struct err *e)
{
	struct entry *en;
	int rc = -1;

	pthread_mutex_lock(&q->lock);
	en = queue_find(q, id);
	if (en == NULL) {
		err_set(e, ERR_NOT_FOUND, "no dump with id %s", id);
	} else if (en->job->state != DUMP_COMPLETED) {
		err_set(e, ERR_CONFLICT, "dump %s is %s: only a completed dump has a file", id,
		        dump_state_name(en->job->state));
	} else {
		*path = xstrdup(en->job->path);
		*size = (unsigned long long)en->job->size_bytes;
		memcpy(sha256, en->job->sha256, 65);
		rc = 0;
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

void queue_counts(struct queue *q, int *running, int *queued, int *max_concurrent)
{
	int r = 0, w = 0;

	pthread_mutex_lock(&q->lock);
	for (size_t i = 0; i < q->n; i++) {
		r += q->v[i]->job->state == DUMP_RUNNING;
		w += q->v[i]->job->state == DUMP_QUEUED;
	}
	*max_concurrent = q->max_concurrent;
	pthread_mutex_unlock(&q->lock);
	*running = r;
	*queued = w;
}

void queue_set_limits(struct queue *q, const struct queue_config *cfg)
{
	pthread_mutex_lock(&q->lock);
	q->max_concurrent = cfg->max_concurrent;
	q->max_wait_s = cfg->max_wait_s;
	q->reserve_bytes = cfg->reserve_bytes;
	queue_schedule(q);
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}
