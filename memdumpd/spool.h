/*
 * spool: the InfluxDB record of every finished dump, never lost. spool_add()
 * first writes the point (line protocol) to DUMP_DIR/.memdumpd/spool/<id>.lp
 * (0600, atomic), then wakes the sender thread, which writes each spooled point
 * through lib/influx and deletes its file only once InfluxDB accepted it; while
 * InfluxDB is down it retries with backoff (1 s doubling to 60 s). Files left by
 * an earlier run are sent at start. Thread-safe; one sender thread per spool.
 */
#ifndef MEMDUMPD_SPOOL_H
#define MEMDUMPD_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "job.h"

struct spool;

/* Borrowed strings are copied; token may be "" (none). */
struct spool *spool_new(const char *dump_dir, const char *influx_url, const char *db,
                        const char *token, struct err *e);
void spool_free(struct spool *sp);
/* Send to another InfluxDB from now on (SIGHUP); copied. Waiting points go there,
 * retried at once. */
void spool_set_target(struct spool *sp, const char *influx_url, const char *db, const char *token);

/* Spool the record of a finished dump: its file is written before returning or,
 * when that fails (disk full; logged here), the point is kept in memory and the
 * sender writes the file or the point later. -1 (e) only for a point that cannot
 * be formed. */
int spool_add(struct spool *sp, const struct job *j, struct err *e);

/* For health: was the last write accepted, how many points wait, last error. */
void spool_status(struct spool *sp, bool *ok, int *pending, char *err_buf, size_t cap);

/* Pure: the mem_dumps point of a finished job, new line ending in '\n'. */
int spool_line(const struct job *j, char **out, size_t *len, struct err *e);

#endif
