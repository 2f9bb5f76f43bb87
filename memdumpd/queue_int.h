/*
 * queue_int: what the queue family shares (queue.c, runner.c, monitor.c,
 * recovery.c; nobody else includes it): struct queue, struct queue_entry and the
 * queue.c helpers the others call. Every field is guarded by q->lock unless it
 * says otherwise; every helper here is called with q->lock held.
 */
#ifndef MEMDUMPD_QUEUE_INT_H
#define MEMDUMPD_QUEUE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "job.h"
#include "journal.h"
#include "queue.h"
#include "spool.h"
#include "stream.h"
#include "virt.h"

struct queue_entry {
	struct queue *q; /* borrowed: the owner */
	struct job *job;
	struct stream *st; /* while the runner streams (owned by the runner) */
	bool cancel;
	enum dump_state cancel_state; /* DUMP_CANCELLED or DUMP_FAILED */
	char *cancel_reason;          /* error text for the final state */
	unsigned long long processed; /* from the hypervisor's job stats */
	bool finishing;               /* the runner is recording the outcome */
	bool journal_dirty;           /* the last journal write failed: the monitor retries */
};

struct queue {
	char *dump_dir;
	char *host;
	int max_concurrent;
	int max_wait_s;
	unsigned long long reserve_bytes;
	const struct virt_ops *virt; /* borrowed; thread-safe itself, called without the lock */
	struct journal *journal;     /* borrowed */
	struct spool *spool;         /* borrowed */

	pthread_mutex_t lock;
	pthread_cond_t cond;    /* broadcast whenever a dump finishes or limits change */
	struct queue_entry **v; /* creation order */
	size_t n, cap;
	int running;
	int workers; /* runner threads alive */
	bool stopping;
	pthread_t monitor;
};

/* DUMP_DIR/<vm>/.<id>.fifo next to the final file; new. Needs no lock. */
char *queue_fifo_path(const struct job *j);
struct queue_entry *queue_find(struct queue *q, const char *id);
/* Append an entry (steals en). */
void queue_append(struct queue *q, struct queue_entry *en);
void queue_entry_free(struct queue_entry *en);
/* Journal en's job; a failure marks it dirty (the monitor retries). */
void queue_journal(struct queue *q, struct queue_entry *en);
/* en reached a final state: journal, spool, log, wake waiters (no prune). */
void queue_record_final(struct queue *q, struct queue_entry *en);
/* queue_record_final, then drop the oldest finished (may free en). */
void queue_finished(struct queue *q, struct queue_entry *en);
/* Start queued dumps while there is room. */
void queue_schedule(struct queue *q);
/* Ask a running dump to stop; its runner records final_state with error why. */
void queue_stop_running(struct queue_entry *en, enum dump_state final_state, const char *why);

#endif
