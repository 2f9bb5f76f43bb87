/*
 * recovery: the previous run's journal (see recovery.h).
 * DESIGN: records are adopted while the journal folder is read and judged only
 * once all are loaded and sorted by creation, so nothing is written into the
 * folder being listed and the list keeps creation order whatever the folder's.
 */
#include "recovery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "log.h"
#include "xmalloc.h"

/* journal_load callback: adopt a record from an earlier run. Nothing is written
 * here: the journal folder is being read (see recovery_fail_interrupted). */
static void recovery_adopt(struct job *j, void *arg)
{
	struct queue *q = arg;
	struct queue_entry *en = xcalloc(1, sizeof(*en));

	en->q = q;
	en->job = j;
	queue_append(q, en);
}

/* A regular file of exactly `size` bytes at path (its mtime in *mtime_ms)? */
static bool recovery_file_is(const char *path, long long size, long long *mtime_ms)
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
static bool recovery_complete(struct job *j, const char *part)
{
	long long mtime = 0;
	char *dir;

	if (j->sha256[0] == '\0' || j->size_bytes < 0)
		return false;
	if (!recovery_file_is(j->path, j->size_bytes, &mtime)) {
		if (!recovery_file_is(part, j->size_bytes, &mtime) || rename(part, j->path) < 0)
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
 * except those whose file was complete (recovery_complete). */
static void recovery_fail_interrupted(struct queue *q)
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
		if (!recovery_complete(j, part)) {
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

static int recovery_cmp_created(const void *a, const void *b)
{
	const struct queue_entry *x = *(struct queue_entry *const *)a,
	                         *y = *(struct queue_entry *const *)b;

	if (x->job->created_ms != y->job->created_ms)
		return x->job->created_ms < y->job->created_ms ? -1 : 1;
	return strcmp(x->job->id, y->job->id);
}

int recovery_restore(struct queue *q)
{
	int loaded = journal_load(q->journal, recovery_adopt, q);

	if (q->n > 1)
		qsort(q->v, q->n, sizeof(*q->v), recovery_cmp_created);
	recovery_fail_interrupted(q);
	return loaded;
}
