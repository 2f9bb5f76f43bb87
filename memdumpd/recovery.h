/*
 * recovery: what a start finds of the previous run. It loads every journal
 * record into the queue (oldest first); a dump that was running when memdumpd
 * stopped becomes failed "interrupted by restart" (its FIFO and PATH.part
 * removed), unless its record already had size and hash and the file (PATH, or
 * PATH.part renamed now) has exactly that size: then it is completed. Each
 * outcome is journalled and spooled once. Runs in queue_new, before any thread.
 */
#ifndef MEMDUMPD_RECOVERY_H
#define MEMDUMPD_RECOVERY_H

#include "queue_int.h"

/* With q->lock held, q empty: restore the journal; returns the records loaded. */
int recovery_restore(struct queue *q);

#endif
