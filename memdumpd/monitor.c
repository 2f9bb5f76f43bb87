/*
 * monitor: the progress and timeout watcher (see monitor.h).
 * DESIGN: each round copies the ids and VM names of the running dumps under the
 * lock, asks the hypervisor without it, then looks each dump up again by id
 * (it may have finished or been pruned meanwhile) before changing it.
 */
#include "monitor.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "stream.h"
#include "xmalloc.h"

#define MONITOR_INTERVAL_MS 500

struct monitor_item {
	char id[DUMP_ID_SIZE];
	char *vm;
};

static void *monitor_main(void *arg)
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
			struct queue_entry *en;

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
		until = clock_deadline_ms(MONITOR_INTERVAL_MS);
		if (!q->stopping)
			pthread_cond_timedwait(&q->cond, &q->lock, &until);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

void monitor_start(struct queue *q)
{
	if (pthread_create(&q->monitor, NULL, monitor_main, q) != 0) {
		log_error("thread_create", "what=monitor");
		abort();
	}
}

void monitor_join(struct queue *q)
{
	pthread_join(q->monitor, NULL);
}
