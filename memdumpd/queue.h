/*
 * queue: every dump memdumpd knows, and the scheduler that runs them. First come
 * first served, at most max_concurrent running, at most one active (queued or
 * running) dump per VM. Each running dump has a runner thread (runner.h: the
 * hypervisor's blocking dump call into a stream); the monitor (monitor.h) polls
 * progress ~2x/s and enforces MEMDUMP_MAX_WAIT; the restore at start is
 * recovery.h. Every state change is journalled before it is visible; every
 * finished dump is spooled for InfluxDB. Finished dumps are kept (newest
 * QUEUE_FINISHED_MAX) for listing and downloads.
 * Thread-safe: one mutex guards all jobs; calls return JSON copies (new).
 */
#ifndef MEMDUMPD_QUEUE_H
#define MEMDUMPD_QUEUE_H

#include <jansson.h>

#include "dump.h"
#include "err.h"
#include "journal.h"
#include "request.h"
#include "record.h"
#include "virt.h"

#define QUEUE_FINISHED_MAX 1000

struct queue_config {
	const char *dump_dir; /* copied */
	const char *host;     /* copied */
	int max_concurrent;
	int max_wait_s;
	unsigned long long reserve_bytes;
};

/* virt, journal and spool are borrowed and must outlive the queue. Loads the
 * journal (recovery.h: running -> failed "interrupted by restart"), then starts work. */
struct queue *queue_new(const struct queue_config *cfg, const struct virt_ops *v,
                        struct journal *jn, struct spool *sp);
/* Stops running dumps (failed "interrupted by restart"; queued ones stay queued in
 * the journal), waits for their threads (at most 30 s), frees. -1 when a runner is
 * still inside the hypervisor then (a hung QEMU): nothing was freed and the caller must exit
 * without touching q or what the workers use. */
int queue_free(struct queue *q);

/* New dump -> *out (new dump object); requested_by (checked by the caller) may be
 * NULL: unknown. ERR_NOT_FOUND, ERR_CONFLICT (*conflict_id names the active dump),
 * ERR_NO_SPACE, ERR_UNAVAILABLE, ERR_IO. */
int queue_create(struct queue *q, const char *vm, enum dump_format fmt, const char *requested_by,
                 json_t **out, char conflict_id[DUMP_ID_SIZE], struct err *e);
int queue_get(struct queue *q, const char *id, json_t **out, struct err *e);
/* New array, newest first. */
json_t *queue_list(struct queue *q, const struct request_list *filter);
/* Cancel a queued or running dump; *out is the dump once cancelled. ERR_CONFLICT
 * when it has already finished. */
int queue_cancel(struct queue *q, const char *id, json_t **out, struct err *e);
/* The file of a completed dump: new path, size and hash. ERR_CONFLICT if not completed. */
int queue_file(struct queue *q, const char *id, char **path, unsigned long long *size,
               char sha256[65], struct err *e);
void queue_counts(struct queue *q, int *running, int *queued, int *max_concurrent);
/* Apply new limits (SIGHUP): cfg's max_concurrent, max_wait_s and reserve_bytes (its
 * strings are ignored). Queued dumps start at once when there is new room; running
 * ones keep going even above a lowered max_concurrent. */
void queue_set_limits(struct queue *q, const struct queue_config *cfg);

#endif
