/*
 * record: the InfluxDB record (measurement mem_dumps) of every finished dump,
 * never lost: it goes through the generic disk spool (lib/spool.h) in
 * DUMP_DIR/.memdumpd/spool, one file <dump id>.lp per record, timestamps in ms.
 * Thread-safe as the spool is.
 */
#ifndef MEMDUMPD_RECORD_H
#define MEMDUMPD_RECORD_H

#include <stddef.h>

#include "err.h"
#include "job.h"
#include "spool.h"

/* The spool of memdumpd's records; DUMP_DIR/.memdumpd must exist (journal_open). */
struct spool *record_spool_new(const char *dump_dir, const char *influx_url, const char *db,
                               const char *token, struct err *e);

/* Spool the record of a finished dump: its file is written before returning or,
 * when that fails (disk full; logged by the spool), the point is kept in memory
 * and the sender writes the file or the point later. -1 (e) only for a point that
 * cannot be formed. */
int record_spool(struct spool *sp, const struct job *j, struct err *e);

/* Pure: the mem_dumps point of a finished job, new line ending in '\n'. */
int record_line(const struct job *j, char **out, size_t *len, struct err *e);

#endif
