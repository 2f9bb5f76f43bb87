/*
 * job: the dump object and its JSON form (see job.h). Times are stored as Unix ms
 * and written as RFC 3339 with milliseconds; a journal record is exactly the dump
 * object, so reading one back checks every member it relies on.
 */
#include "job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "xmalloc.h"

struct job *job_new(const char *id, const char *vm, const char *host, const char *path,
                    enum dump_format format, long long created_ms)
{
	struct job *j = xcalloc(1, sizeof(*j));

	snprintf(j->id, sizeof(j->id), "%s", id);
	j->vm = xstrdup(vm);
	j->host = xstrdup(host);
	j->path = xstrdup(path);
	j->format = format;
	j->state = DUMP_QUEUED;
	j->rate_bps = -1;
	j->eta_s = -1;
	j->size_bytes = -1;
	j->created_ms = created_ms;
	return j;
}

void job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->vm);
	free(j->host);
	free(j->path);
	free(j->error);
	free(j->requested_by);
	free(j);
}

void job_set_error(struct job *j, const char *msg)
{
	free(j->error);
	j->error = msg != NULL ? xstrndup(msg, JOB_ERROR_MAX) : NULL;
}

void job_set_requested_by(struct job *j, const char *user)
{
	free(j->requested_by);
	j->requested_by = user != NULL ? xstrndup(user, DUMP_USER_MAX) : NULL;
}

static json_t *job_time_new(long long ms)
{
	char buf[32];

	if (ms <= 0)
		return json_null();
	jsonu_time_format(ms, buf);
	return json_string(buf);
}

static json_t *job_num_new(long long v)
{
	return v < 0 ? json_null() : json_integer(v);
}

json_t *job_to_json(const struct job *j)
{
	json_t *o = json_object();
	bool done = j->state == DUMP_COMPLETED;

	json_object_set_new(o, "dump_id", json_string(j->id));
	json_object_set_new(o, "vm", json_string(j->vm));
	json_object_set_new(o, "host", json_string(j->host));
	json_object_set_new(o, "format", json_string(dump_format_name(j->format)));
	json_object_set_new(o, "state", json_string(dump_state_name(j->state)));
	json_object_set_new(o, "progress", json_integer(j->progress));
	json_object_set_new(o, "bytes_written", json_integer((json_int_t)j->bytes_written));
	json_object_set_new(o, "bytes_total", json_integer((json_int_t)j->bytes_total));
	json_object_set_new(o, "rate_bps", job_num_new(j->rate_bps));
	json_object_set_new(o, "eta_s", job_num_new(j->eta_s));
	json_object_set_new(o, "created_at", job_time_new(j->created_ms));
	json_object_set_new(o, "started_at", job_time_new(j->started_ms));
	json_object_set_new(o, "finished_at", job_time_new(j->finished_ms));
	if (j->started_ms > 0 && j->finished_ms >= j->started_ms)
		json_object_set_new(o, "duration_s",
		                    json_real((double)(j->finished_ms - j->started_ms) / 1000.0));
	else
		json_object_set_new(o, "duration_s", json_null());
	json_object_set_new(o, "path", json_string(j->path));
	json_object_set_new(o, "size_bytes", done ? job_num_new(j->size_bytes) : json_null());
	json_object_set_new(o, "sha256",
	                    done && j->sha256[0] ? json_string(j->sha256) : json_null());
	json_object_set_new(o, "error", j->error ? json_string(j->error) : json_null());
	json_object_set_new(o, "requested_by",
	                    j->requested_by ? json_string(j->requested_by) : json_null());
	return o;
}

json_t *job_record_json(const struct job *j)
{
	json_t *o = job_to_json(j);

	if (j->sha256[0] != '\0') {
		json_object_set_new(o, "size_bytes", job_num_new(j->size_bytes));
		json_object_set_new(o, "sha256", json_string(j->sha256));
	}
	return o;
}

/* A time member: null/absent -> 0, else RFC 3339. */
static int job_time_get(const json_t *o, const char *key, long long *out, struct err *e)
{
	const json_t *v = json_object_get(o, key);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || jsonu_time_parse(json_string_value(v), out, e) < 0)
		return err_set(e, ERR_INVALID, "member '%s' is not an RFC 3339 time", key);
	return 0;
}

static int job_uint_get(const json_t *o, const char *key, long long *out, struct err *e)
{
	const json_t *v = json_object_get(o, key);

	*out = -1;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return err_set(e, ERR_INVALID, "member '%s' must be a non-negative integer", key);
	*out = json_integer_value(v);
	return 0;
}

/* A required string member without NUL bytes, at most max bytes. */
static const char *job_str_get(const json_t *o, const char *key, size_t max, struct err *e)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL || !json_is_string(v)) {
		err_set(e, ERR_INVALID, "member '%s' must be a string", key);
		return NULL;
	}
	if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v)) {
		err_set(e, ERR_INVALID, "member '%s' is too long or holds a NUL byte", key);
		return NULL;
	}
	return json_string_value(v);
}

struct job *job_from_json(const char *buf, size_t len, struct err *e)
{
	json_t *o;
	struct job *j = NULL;
	const char *id, *vm, *host, *path, *s;
	enum dump_format fmt;
	enum dump_state st;
	long long n;
	const json_t *v;

	o = jsonu_parse(buf, len, JOB_RECORD_MAX, 4, e);
	if (o == NULL)
		return NULL;
	if (!json_is_object(o)) {
		err_set(e, ERR_INVALID, "a journal record must be a JSON object");
		goto fail;
	}
	if ((id = job_str_get(o, "dump_id", DUMP_ID_LEN, e)) == NULL || dump_id_check(id, e) < 0)
		goto fail;
	if ((vm = job_str_get(o, "vm", DUMP_VM_NAME_MAX, e)) == NULL ||
	    dump_vm_name_check(vm, strlen(vm), e) < 0)
		goto fail;
	if ((host = job_str_get(o, "host", 255, e)) == NULL)
		goto fail;
	if ((path = job_str_get(o, "path", JOB_PATH_MAX, e)) == NULL)
		goto fail;
	if (path[0] != '/') {
		err_set(e, ERR_INVALID, "member 'path' must be absolute");
		goto fail;
	}
	if ((s = job_str_get(o, "format", 32, e)) == NULL || dump_format_parse(s, &fmt, e) < 0)
		goto fail;
	if ((s = job_str_get(o, "state", 32, e)) == NULL || dump_state_parse(s, &st) < 0) {
		err_set(e, ERR_INVALID, "member 'state' is not a dump state");
		goto fail;
	}
	j = job_new(id, vm, host, path, fmt, 0);
	j->state = st;
	if (job_time_get(o, "created_at", &j->created_ms, e) < 0 ||
	    job_time_get(o, "started_at", &j->started_ms, e) < 0 ||
	    job_time_get(o, "finished_at", &j->finished_ms, e) < 0)
		goto fail;
	if (job_uint_get(o, "progress", &n, e) < 0)
		goto fail;
	j->progress = n > 100 ? 100 : (n < 0 ? 0 : (int)n);
	if (job_uint_get(o, "bytes_written", &n, e) < 0)
		goto fail;
	j->bytes_written = n < 0 ? 0 : (unsigned long long)n;
	if (job_uint_get(o, "bytes_total", &n, e) < 0)
		goto fail;
	j->bytes_total = n < 0 ? 0 : (unsigned long long)n;
	if (job_uint_get(o, "size_bytes", &j->size_bytes, e) < 0)
		goto fail;
	v = json_object_get(o, "sha256");
	if (v != NULL && !json_is_null(v)) {
		if ((s = job_str_get(o, "sha256", 64, e)) == NULL)
			goto fail;
		if (strlen(s) != 64 || strspn(s, "0123456789abcdef") != 64) {
			err_set(e, ERR_INVALID, "member 'sha256' must be 64 lowercase hex digits");
			goto fail;
		}
		memcpy(j->sha256, s, 65);
	}
	v = json_object_get(o, "error");
	if (v != NULL && !json_is_null(v)) {
		if ((s = job_str_get(o, "error", JOB_ERROR_MAX, e)) == NULL)
			goto fail;
		job_set_error(j, s);
	}
	v = json_object_get(o, "requested_by"); /* absent in records of older versions */
	if (v != NULL && !json_is_null(v)) {
		if ((s = job_str_get(o, "requested_by", DUMP_USER_MAX, e)) == NULL)
			goto fail;
		if (dump_user_check(s, strlen(s), e) < 0) {
			err_prefix(e, "member 'requested_by'");
			goto fail;
		}
		job_set_requested_by(j, s);
	}
	if (st == DUMP_COMPLETED && (j->size_bytes < 0 || j->sha256[0] == '\0')) {
		err_set(e, ERR_INVALID, "a completed record needs size_bytes and sha256");
		goto fail;
	}
	json_decref(o);
	return j;
fail:
	json_decref(o);
	job_free(j);
	return NULL;
}
