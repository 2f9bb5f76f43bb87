/*
 * influx_parse: the pure readers of InfluxDB answers declared in influx.h
 * (influx_parse_answer for /query, influx_parse_write_answer for /write). No I/O.
 *
 * DESIGN: one function finds InfluxDB's error text in any of the forms the two
 * servers use (docs/influxdb.md): 1.x {"error": "..."} and
 * {"results":[{"statement_id":0,"error":"..."}]} (the latter with status 200),
 * InfluxDB 3 {"error": "...", "data": [...]} and {"code": "...", "message": "..."},
 * or a plain-text body. The HTTP status decides the error code; the text only
 * explains. Error text from the server is copied with control bytes replaced, so
 * it is safe in logs and JSON. A series is checked for what callers rely on
 * (columns are strings, each row has one value per column) before it is returned.
 */
#include "influx.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "json_util.h"

#define IX_TEXT_MAX 300 /* bytes of server text kept in an error message */

/* Copy at most IX_TEXT_MAX bytes of s (n bytes) into out, control bytes as '?'. */
static void ix_clean_text(const char *s, size_t n, char *out, size_t outcap)
{
	size_t k = 0;

	if (n > IX_TEXT_MAX)
		n = IX_TEXT_MAX;
	for (size_t i = 0; i < n && k + 1 < outcap; i++) {
		unsigned char c = (unsigned char)s[i];

		out[k++] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
	}
	out[k] = '\0';
	while (k > 0 && (out[k - 1] == '?' || out[k - 1] == ' '))
		out[--k] = '\0'; /* a trailing newline is no part of the message */
}

static enum err_code ix_status_code(long status)
{
	if (status == 401 || status == 403)
		return ERR_AUTH;
	if (status == 404)
		return ERR_NOT_FOUND;
	if (status == 413)
		return ERR_TOO_LARGE;
	if (status >= 400 && status < 500)
		return ERR_INVALID;
	if (status >= 500 && status < 600)
		return ERR_UNAVAILABLE;
	return ERR_PROTOCOL;
}

/* InfluxDB's error text in an answer object, in any known form, into out; false if none. */
static bool ix_error_text(const json_t *root, char *out, size_t outcap)
{
	const json_t *err = json_object_get(root, "error");
	const json_t *results = json_object_get(root, "results");
	const char *text = NULL;
	const json_t *data;
	char first[IX_TEXT_MAX + 1];

	if (json_is_string(err))
		text = json_string_value(err);
	else if (json_is_object(err))
		text = jsonu_str(err, "message");
	if (text == NULL)
		text = jsonu_str(root, "message");
	if (text == NULL && json_is_array(results))
		text = jsonu_str(json_array_get(results, 0), "error");
	if (text == NULL)
		return false;
	ix_clean_text(text, strlen(text), out, outcap);
	/* InfluxDB 3's partial write: the first refused line says why. */
	data = json_object_get(root, "data");
	if (json_is_array(data) && json_is_object(json_array_get(data, 0))) {
		const json_t *d = json_array_get(data, 0);
		const char *why = jsonu_str(d, "error_message");
		long long line = 0;

		if (why != NULL) {
			size_t len = strlen(out);

			ix_clean_text(why, strlen(why), first, sizeof(first));
			if (jsonu_int(d, "line_number", &line) == 0)
				snprintf(out + len, outcap - len, " (line %lld: %s)", line, first);
			else
				snprintf(out + len, outcap - len, " (%s)", first);
		}
	}
	return true;
}

/* The error of a non-2xx answer (or a 2xx carrying an error): code from status. */
static int ix_fail(long status, const json_t *root, const char *body, size_t len,
                   const char *action, struct err *e)
{
	char text[IX_TEXT_MAX * 2 + 32];
	enum err_code code = ix_status_code(status);

	if (root != NULL && ix_error_text(root, text, sizeof(text))) {
		/* text found */
	} else if (len > 0) {
		ix_clean_text(body, len, text, sizeof(text));
	} else {
		snprintf(text, sizeof(text), "empty answer");
	}
	if (status >= 200 && status < 300)
		code = ERR_INVALID; /* 1.x: the statement failed, the HTTP exchange did not */
	return err_set(e, code, "InfluxDB %s (HTTP %ld): %s", action, status, text);
}

/* InfluxDB 3 adds a column "iox::measurement" (the measurement's name, already in
 * the series name) to some answers; drop it so callers see 1.x's shape. */
static void ix_drop_iox_column(json_t *columns, json_t *values)
{
	size_t i, col;
	json_t *v, *row;

	json_array_foreach(columns, col, v) {
		if (strcmp(json_string_value(v), "iox::measurement") != 0)
			continue;
		if (json_array_size(columns) == 1)
			return; /* the only column: keep the series well-formed */
		json_array_remove(columns, col);
		json_array_foreach(values, i, row)
			json_array_remove(row, col);
		return;
	}
}

/* Check one series object; "values" is added (empty) when absent. */
static int ix_series_check(json_t *s, size_t idx, struct err *e)
{
	json_t *columns = json_object_get(s, "columns");
	json_t *values = json_object_get(s, "values");
	json_t *tags = json_object_get(s, "tags");
	json_t *name = json_object_get(s, "name");
	json_t *v;
	const char *k;
	size_t i, ncol;

	if (!json_is_object(s))
		return err_set(e, ERR_PROTOCOL, "InfluxDB answer: series %zu is not an object",
		               idx);
	if (name != NULL && !json_is_string(name))
		return err_set(e, ERR_PROTOCOL, "InfluxDB answer: series %zu has a non-string name",
		               idx);
	if (!json_is_array(columns) || json_array_size(columns) == 0)
		return err_set(e, ERR_PROTOCOL, "InfluxDB answer: series %zu has no columns", idx);
	ncol = json_array_size(columns);
	json_array_foreach(columns, i, v)
		if (!json_is_string(v))
			return err_set(e, ERR_PROTOCOL,
			               "InfluxDB answer: series %zu column %zu is not a string",
			               idx, i);
	if (tags != NULL) {
		if (!json_is_object(tags))
			return err_set(
			    e, ERR_PROTOCOL,
			    "InfluxDB answer: series %zu has tags that are not an object", idx);
		json_object_foreach(tags, k, v)
			if (!json_is_string(v))
				return err_set(e, ERR_PROTOCOL,
				               "InfluxDB answer: series %zu tag is not a string",
				               idx);
	}
	if (values == NULL)
		json_object_set_new(s, "values", values = json_array());
	if (!json_is_array(values))
		return err_set(e, ERR_PROTOCOL, "InfluxDB answer: series %zu values not an array",
		               idx);
	json_array_foreach(values, i, v)
		if (!json_is_array(v) || json_array_size(v) != ncol)
			return err_set(
			    e, ERR_PROTOCOL,
			    "InfluxDB answer: series %zu row %zu does not have %zu values", idx, i,
			    ncol);
	ix_drop_iox_column(columns, values);
	return 0;
}

int influx_parse_answer(long status, const char *body, size_t len, json_t **out, struct err *e)
{
	json_t *root = NULL, *results, *first, *series;
	struct err je;
	size_t i;
	json_t *s;
	int rc = -1;

	*out = NULL;
	if (len > 0)
		root = jsonu_parse(body, len, INFLUX_ANSWER_MAX, JSONU_MAX_DEPTH, &je);
	if (status < 200 || status >= 300) {
		rc = ix_fail(status, json_is_object(root) ? root : NULL, body, len,
		             "refused the query", e);
		goto out;
	}
	if (root == NULL) {
		if (len == 0)
			err_set(e, ERR_PROTOCOL, "InfluxDB answered the query with an empty body");
		else
			err_set(e, ERR_PROTOCOL, "InfluxDB's query answer is not JSON: %s", je.msg);
		goto out;
	}
	if (!json_is_object(root)) {
		err_set(e, ERR_PROTOCOL, "InfluxDB's query answer is not a JSON object");
		goto out;
	}
	results = json_object_get(root, "results");
	if (json_object_get(root, "error") != NULL || jsonu_str(root, "message") != NULL ||
	    (json_is_array(results) && jsonu_str(json_array_get(results, 0), "error") != NULL)) {
		rc = ix_fail(status, root, body, len, "refused the query", e);
		goto out;
	}
	if (!json_is_array(results) || json_array_size(results) == 0) {
		err_set(e, ERR_PROTOCOL, "InfluxDB's query answer has no \"results\" array");
		goto out;
	}
	first = json_array_get(results, 0);
	if (!json_is_object(first)) {
		err_set(e, ERR_PROTOCOL, "InfluxDB's query answer: results[0] is not an object");
		goto out;
	}
	series = json_object_get(first, "series");
	if (series == NULL) {
		*out = json_array();
		rc = 0;
		goto out;
	}
	if (!json_is_array(series)) {
		err_set(e, ERR_PROTOCOL, "InfluxDB's query answer: \"series\" is not an array");
		goto out;
	}
	json_array_foreach(series, i, s)
		if (ix_series_check(s, i, e) < 0)
			goto out;
	*out = json_incref(series);
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int influx_parse_write_answer(long status, const char *body, size_t len, struct err *e)
{
	json_t *root = NULL;
	int rc;

	if (status >= 200 && status < 300)
		return 0;
	if (len > 0)
		root = jsonu_parse(body, len, INFLUX_ANSWER_MAX, JSONU_MAX_DEPTH, NULL);
	rc =
	    ix_fail(status, json_is_object(root) ? root : NULL, body, len, "refused the points", e);
	json_decref(root);
	return rc;
}
