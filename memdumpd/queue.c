/*
 * queue: the dump list and the scheduler (see queue.h).
 * DESIGN: entries live in an array in creation order. A state change happens
 * under q->lock and is journalled there, so what a client sees is on disk.
 * Cancelling a running dump sets entry->cancel and closes its FIFO; its runner
 * then records the final state (cancelled, or failed with the reason for
 * timeouts and shutdown). The runner (runner.c), the monitor (monitor.c) and the
 * restore at start (recovery.c) share the structs of queue_int.h.
 * THREADS: callers (HTTP threads), one runner per running dump, one monitor.
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

#include "clock.h"
#include "log.h"
#include "monitor.h"
#include "queue_int.h"
#include "recovery.h"
#include "runner.h"
#include "xmalloc.h"

#define QUEUE_CANCEL_WAIT_S 15
#define QUEUE_STOP_WAIT_S 30 /* at shutdown, for runners to leave the hypervisor */

void queue_entry_free(struct queue_entry *en)
{
	if (en == NULL)
		return;
	job_free(en->job);
	free(en->cancel_reason);
	free(en);
}

/* DUMP_DIR/<vm>/.<id>.fifo next to the final file. */
char *queue_fifo_path(const struct job *j)
{
	const char *slash = strrchr(j->path, '/');
	int dirlen = slash != NULL ? (int)(slash - j->path) : 0;

	return xasprintf("%.*s/.%s.fifo", dirlen, j->path, j->id);
}

/* With the lock: the dump object, with the bytes received so far. */
static json_t *queue_json(struct queue_entry *en)
{
	if (en->st != NULL && en->job->state == DUMP_RUNNING)
		en->job->bytes_written = stream_bytes(en->st);
	return job_to_json(en->job);
}

struct queue_entry *queue_find(struct queue *q, const char *id)
{
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->v[i]->job->id, id) == 0)
			return q->v[i];
	return NULL;
}

static struct queue_entry *queue_active_for(struct queue *q, const char *vm)
{
	for (size_t i = 0; i < q->n; i++)
		if (!dump_state_is_final(q->v[i]->job->state) && strcmp(q->v[i]->job->vm, vm) == 0)
			return q->v[i];
	return NULL;
}

void queue_append(struct queue *q, struct queue_entry *en)
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
void queue_journal(struct queue *q, struct queue_entry *en)
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
		struct queue_entry *en = q->v[i];

		if (finished > QUEUE_FINISHED_MAX && dump_state_is_final(en->job->state)) {
			journal_remove(q->journal, en->job->id);
			queue_entry_free(en);
			finished--;
			continue;
		}
		q->v[w++] = en;
	}
	q->n = w;
}

/* With the lock: a job reached a final state; journal, spool, wake waiters (no prune). */
void queue_record_final(struct queue *q, struct queue_entry *en)
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
void queue_finished(struct queue *q, struct queue_entry *en)
{
	queue_record_final(q, en);
	queue_prune(q);
}

/* With the lock: start queued dumps while there is room. */
void queue_schedule(struct queue *q)
{
	for (size_t i = 0; i < q->n && !q->stopping && q->running < q->max_concurrent; i++) {
		struct queue_entry *en = q->v[i];

		if (en->job->state != DUMP_QUEUED)
			continue;
		en->job->state = DUMP_RUNNING;
		en->job->started_ms = clock_realtime_ms();
		en->job->progress = 0;
		queue_journal(q, en);
		if (runner_start(en) < 0) {
			en->job->state = DUMP_FAILED;
			job_set_error(en->job, "memdumpd could not start a worker thread");
			queue_finished(q, en);
			return; /* queue_finished may have pruned: restart on the next event */
		}
		q->running++;
		q->workers++;
	}
}

/* With the lock: ask a running dump to stop; the worker records final_state. */
void queue_stop_running(struct queue_entry *en, enum dump_state final_state, const char *why)
{
	if (en->cancel || en->finishing)
		return;
	en->cancel = true;
	en->cancel_state = final_state;
	en->cancel_reason = xstrdup(why);
	if (en->st != NULL)
		stream_cancel(en->st);
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
	loaded = recovery_restore(q);
	queue_prune(q);
	log_info("journal_loaded", "records=%d kept=%zu", loaded, q->n);
	queue_schedule(q);
	pthread_mutex_unlock(&q->lock);
	monitor_start(q);
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
			/* the hypervisor never returned (a hung QEMU): what the runners use
			 * cannot be freed; the journal still says running, so the next start
			 * fails them */
			log_error("stop_stuck", "workers=%d wait_s=%d", q->workers,
			          QUEUE_STOP_WAIT_S);
			pthread_mutex_unlock(&q->lock);
			return -1;
		}
	}
	pthread_mutex_unlock(&q->lock);
	monitor_join(q);
	for (size_t i = 0; i < q->n; i++) {
		if (q->v[i]->journal_dirty)
			queue_journal(q, q->v[i]); /* a last try; logged by the first failure */
		queue_entry_free(q->v[i]);
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
	struct queue_entry *en;
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
		               ERR_ERRNO(errno));
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
		queue_entry_free(en);
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
	struct queue_entry *en;
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
	struct queue_entry *en;
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
	struct queue_entry *en;
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
