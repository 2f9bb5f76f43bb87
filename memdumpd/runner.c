/*
 * runner: one dump's thread (see runner.h).
 * DESIGN: a cancel before the hypervisor is asked never pauses the guest; one
 * after it closes the FIFO (stream_cancel) so the dump call returns at once.
 * Once the stream has ended the entry is marked finishing: a late cancel (or
 * shutdown) no longer applies, so the file on disk and the final state agree.
 */
#include "runner.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"
#include "log.h"
#include "stream.h"
#include "xmalloc.h"

/* Create the VM's folder (0700) under DUMP_DIR. */
static int runner_vm_dir(const char *path, struct err *e)
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

static void *runner_main(void *arg)
{
	struct queue_entry *en = arg;
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

	if (runner_vm_dir(path, &e) == 0)
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
			 * completes the dump from the file (recovery.c). */
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

int runner_start(struct queue_entry *en)
{
	pthread_t t;
	pthread_attr_t attr;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, runner_main, en);
	pthread_attr_destroy(&attr);
	return rc == 0 ? 0 : -1;
}
