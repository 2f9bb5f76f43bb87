/*
 * runner: one running dump, on its own detached thread. It makes the VM's
 * folder and the stream (FIFO -> PATH.part + SHA-256), asks the hypervisor
 * (virt_ops->dump, which blocks) to write the dump into the FIFO, then records
 * the outcome: completed (hash and size journalled before the rename), failed,
 * or what a cancel asked for. The runner owns its stream; others reach it only
 * through entry->st under q->lock, which the runner clears before freeing it.
 * The entry stays owned by the queue; the runner keeps q->workers counted.
 */
#ifndef MEMDUMPD_RUNNER_H
#define MEMDUMPD_RUNNER_H

#include "queue_int.h"

/* With q->lock held: start en's runner thread; -1 when no thread could be made. */
int runner_start(struct queue_entry *en);

#endif
