/*
 * journal: memdumpd's memory across restarts. One JSON file per dump (the dump
 * object, job.h) under DUMP_DIR/.memdumpd/journal/<id>.json, replaced atomically
 * (write temp 0600, fsync, rename, fsync folder) at every state change.
 * journal_load() hands every readable record to a callback; unreadable ones are
 * renamed <id>.json.bad and logged. No threads of its own; calls on different
 * ids may run concurrently.
 */
#ifndef MEMDUMPD_JOURNAL_H
#define MEMDUMPD_JOURNAL_H

#include "err.h"
#include "job.h"

struct journal;

/* DUMP_DIR/.memdumpd/journal is created (0700) when missing. */
struct journal *journal_open(const char *dump_dir, struct err *e);
void journal_free(struct journal *jn);

int journal_write(struct journal *jn, const struct job *j, struct err *e);
void journal_remove(struct journal *jn, const char *id);
/* cb steals each job. Returns the number of records loaded. */
int journal_load(struct journal *jn, void (*cb)(struct job *j, void *arg), void *arg);

/* Remove the ".NAME.tmp" files atomicfile_write leaves when the process dies
 * between create and rename; call before any writer uses dir. */
void journal_tmp_sweep(const char *dir);

#endif
