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

/* Create path as a folder with mode 0700 if missing; refuse a non-folder. */
int journal_mkdir(const char *path, struct err *e);
/* Remove the ".NAME.tmp" files journal_file_replace leaves when the process dies
 * between create and rename; call before any writer uses dir. */
void journal_tmp_sweep(const char *dir);
/* Make a rename in folder dir durable (fsync the folder; a failure is logged). */
void journal_sync_dir(const char *dir);
/* Write data to path atomically with mode 0600 (temp file, fsync, rename, fsync dir). */
int journal_file_replace(const char *dir, const char *name, const char *data, size_t len,
                         struct err *e);

#endif
