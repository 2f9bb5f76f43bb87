/*
 * job: one dump as memdumpd keeps it, and its JSON form (the dump object of
 * docs/architecture.md, which is also the journal record on disk). Pure: no I/O,
 * no locking (queue.c owns the jobs and their lock). job_from_json() is the
 * journal record parser and treats its input as untrusted (unit-tested, fuzzed).
 */
#ifndef MEMDUMPD_JOB_H
#define MEMDUMPD_JOB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "dump.h"
#include "err.h"

#define JOB_RECORD_MAX (16u * 1024)
#define JOB_PATH_MAX 4096
#define JOB_ERROR_MAX 1024

struct job {
	char id[DUMP_ID_SIZE];
	char *vm;           /* owned */
	char *host;         /* owned */
	char *path;         /* owned: final file path */
	char *error;        /* owned, NULL when none */
	char *requested_by; /* owned, NULL when unknown (dump_user_check holds) */
	enum dump_format format;
	enum dump_state state;
	int progress; /* 0..100 */
	unsigned long long bytes_written;
	unsigned long long bytes_total;
	long long rate_bps;                            /* -1: unknown */
	long long eta_s;                               /* -1: unknown */
	long long created_ms, started_ms, finished_ms; /* 0: not yet */
	long long size_bytes;                          /* -1 until completed */
	char sha256[65]; /* "" until every byte is hashed and synced (then, while still
	                  * running, only the rename is left: see queue.c) */
};

/* A new queued job; strings are copied. */
struct job *job_new(const char *id, const char *vm, const char *host, const char *path,
                    enum dump_format format, long long created_ms);
void job_free(struct job *j);
/* Replace the error text (copied, capped at JOB_ERROR_MAX; NULL clears). */
void job_set_error(struct job *j, const char *msg);

/* Replace who requested the dump (copied; NULL clears). The caller has checked it. */
void job_set_requested_by(struct job *j, const char *user);

/* New JSON dump object (size_bytes and sha256 only once completed). */
json_t *job_to_json(const struct job *j);
/* The journal's record: job_to_json plus size_bytes and sha256 whenever they are
 * known, so a record still "running" can say the file was complete. */
json_t *job_record_json(const struct job *j);
/* Parse a journal record (a dump object); new job or NULL with e. */
struct job *job_from_json(const char *buf, size_t len, struct err *e);

#endif
