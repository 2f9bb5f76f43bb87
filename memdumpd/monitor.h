/*
 * monitor: the queue's one watcher thread. About twice a second it asks the
 * hypervisor for each running dump's progress (processed/total -> progress,
 * rate, eta), stops a dump that ran longer than MEMDUMP_MAX_WAIT (failed, with
 * the reason), retries journal writes that failed (a full disk), and lets the
 * hypervisor connection reconnect. It runs from queue_new to queue_free; the
 * hypervisor is called without q->lock.
 */
#ifndef MEMDUMPD_MONITOR_H
#define MEMDUMPD_MONITOR_H

#include "queue_int.h"

/* Start the thread (aborts when it cannot: memdumpd cannot work without it). */
void monitor_start(struct queue *q);
/* Wait for it; q->stopping is set and q->cond broadcast by the caller. */
void monitor_join(struct queue *q);

#endif
