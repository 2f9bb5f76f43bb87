/*
 * record: see record.h. The point's format is docs/influxdb.md's mem_dumps.
 */
#include "record.h"

#include <stdlib.h>

#include "influx.h"
#include "json_util.h"
#include "xmalloc.h"

int record_line(const struct job *j, char **out, size_t *len, struct err *e)
{
	struct influx_lp *lp = influx_lp_new("mem_dumps");
	char t[32];
	int rc = -1;
	double dur = 0;

	if (j->started_ms > 0 && j->finished_ms >= j->started_ms)
		dur = (double)(j->finished_ms - j->started_ms) / 1000.0;
	if (influx_lp_tag(lp, "format", dump_format_name(j->format), e) < 0 ||
	    influx_lp_tag(lp, "host", j->host, e) < 0 ||
	    influx_lp_tag(lp, "state", dump_state_name(j->state), e) < 0 ||
	    influx_lp_tag(lp, "vm", j->vm, e) < 0)
		goto out;
	if (influx_lp_field_str(lp, "dump_id", j->id, e) < 0 ||
	    influx_lp_field_str(lp, "path", j->path, e) < 0 ||
	    influx_lp_field_int(lp, "size_bytes", j->size_bytes < 0 ? 0 : j->size_bytes, e) < 0 ||
	    influx_lp_field_str(lp, "sha256", j->sha256, e) < 0 ||
	    influx_lp_field_float(lp, "duration_s", dur, e) < 0 ||
	    influx_lp_field_str(lp, "error", j->error ? j->error : "", e) < 0)
		goto out;
	/* no field when unknown: queries then read null, as for points of older versions */
	if (j->requested_by != NULL &&
	    influx_lp_field_str(lp, "requested_by", j->requested_by, e) < 0)
		goto out;
	if (j->started_ms > 0) {
		jsonu_time_format(j->started_ms, t);
		if (influx_lp_field_str(lp, "started_at", t, e) < 0)
			goto out;
	}
	jsonu_time_format(j->finished_ms, t);
	if (influx_lp_field_str(lp, "finished_at", t, e) < 0)
		goto out;
	rc = influx_lp_finish(lp, j->finished_ms, out, len, e);
out:
	influx_lp_free(lp);
	return rc;
}

struct spool *record_spool_new(const char *dump_dir, const char *influx_url, const char *db,
                               const char *token, struct err *e)
{
	char *dir = xasprintf("%s/.memdumpd/spool", dump_dir);
	struct spool *sp = spool_new(dir, "ms", influx_url, db, token, e);

	free(dir);
	return sp;
}

int record_spool(struct spool *sp, const struct job *j, struct err *e)
{
	char *line = NULL;
	size_t len = 0;
	int rc;

	if (record_line(j, &line, &len, e) < 0)
		return -1;
	rc = spool_add(sp, j->id, line, len, e);
	free(line);
	return rc < 0 ? -1 : 0;
}
