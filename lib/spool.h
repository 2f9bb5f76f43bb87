/*
 * spool: an on-disk queue of InfluxDB points that are never lost. spool_add()
 * first writes the point (line protocol) to DIR/<name>.lp (0600, atomic; when
 * running as root the file is given to DIR's owner), then wakes the sender thread,
 * which writes each spooled point through lib/influx and deletes its file only
 * once InfluxDB accepted it; while InfluxDB is down it retries with backoff (1 s
 * doubling to 60 s). Files already in DIR (an earlier run's, or another
 * process's) are sent too: several processes may share one folder, a file that
 * vanishes (another sender sent it) is skipped, and a point sent twice is
 * harmless (same series and time). Thread-safe; one sender thread per spool.
 */
#ifndef MEMDUMP_SPOOL_H
#define MEMDUMP_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define SPOOL_NAME_MAX 160 /* of a point's name, [A-Za-z0-9._-] */

struct spool;

/* dir is created (0700) when missing. precision: "ms" or "ns", the unit of the
 * points' timestamps. Borrowed strings are copied; token may be "" (none). */
struct spool *spool_new(const char *dir, const char *precision, const char *influx_url,
                        const char *db, const char *token, struct err *e);
/* Stops the sender; points still waiting stay in their files. */
void spool_free(struct spool *sp);
/* Send to another InfluxDB from now on (SIGHUP); copied. Waiting points go there,
 * retried at once. */
void spool_set_target(struct spool *sp, const char *influx_url, const char *db, const char *token);

/* Spool one point (line ending in '\n') as DIR/<name>.lp. Its file is written (and
 * fsynced) before returning: 0. When that fails (disk full; logged here) the point
 * is kept in memory and the sender writes the file or the point later: 1.
 * -1 (ERR_INVALID) for a bad name or an empty line. */
int spool_add(struct spool *sp, const char *name, const char *line, size_t len, struct err *e);

/* Wait until the sender made one full round that started after this call (at most
 * timeout_ms): 0 when the spool was empty after it, -1 with the last error otherwise. */
int spool_drain(struct spool *sp, long timeout_ms, struct err *e);

/* For health: was the last write accepted, how many points wait, last error. */
void spool_status(struct spool *sp, bool *ok, int *pending, char *err_buf, size_t cap);

#endif
