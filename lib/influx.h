/*
 * influx: the InfluxDB client, over the HTTP APIs both InfluxDB 3 and 1.x
 * serve: /write (line protocol) and /query (InfluxQL, v1 JSON answer).
 * It uses http_client for transport (one struct influx per thread).
 * Differences handled here (docs/influxdb.md): v3 creates a database on first
 * write while 1.x needs CREATE DATABASE; v3 reports errors as top-level
 * {"error": "..."} (or {"message": ...}) with a 4xx/5xx status, 1.x as
 * {"results":[{"error":...}]} with 200 or {"error": ...}; the token is sent as
 * "Authorization: Bearer TOKEN" (v3; 1.x with auth disabled ignores it).
 * Pure parts (line protocol formatting, answer parsing) live in
 * influx_lp.c and influx_parse.c and do no I/O.
 */
#ifndef MEMDUMP_INFLUX_H
#define MEMDUMP_INFLUX_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

struct influx;

/* Cap on one answer body (the query parser refuses more). */
#define INFLUX_ANSWER_MAX (32u << 20)

/* Borrowed strings are copied. timeout_ms bounds every call. */
struct influx *influx_new(const char *url, const char *db, const char *token, long timeout_ms);
void influx_free(struct influx *ix);

/* POST /write?db=DB&precision=ms with line-protocol text. ERR_UNAVAILABLE/ERR_TIMEOUT when
 * down, ERR_INVALID when InfluxDB rejected the points (message says why). */
int influx_write(struct influx *ix, const char *lines, size_t len, struct err *e);
/* The same with the timestamps' precision named: "ms" or "ns". */
int influx_write_prec(struct influx *ix, const char *lines, size_t len, const char *precision,
                      struct err *e);

/* CREATE DATABASE for 1.x; succeeds as a no-op on InfluxDB 3. */
int influx_create_db(struct influx *ix, struct err *e);

/* GET /query?db=DB&epoch=ms&q=... ; *out (new) is the array of series of the
 * first statement's result: [{"name":..,"tags":{..},"columns":[..],"values":[[..]..]}],
 * an empty array when there are no rows. */
int influx_query(struct influx *ix, const char *influxql, json_t **out, struct err *e);

/* GET /ping (served by 1.x and 3): 0 when InfluxDB answers 200/204; ERR_AUTH on 401/403. */
int influx_ping(struct influx *ix, struct err *e);

/* ---- pure parts ---- */

/* Line protocol builder (influx_lp.c). A struct influx_lp accumulates one point:
 * measurement, tags (sorted by the caller), fields, timestamp in ms. Escaping is
 * per the line-protocol spec; control bytes, invalid UTF-8, empty names and
 * backslashes that would merge with the next byte in measurement, keys and tag
 * values are refused (ERR_INVALID); string field values keep every byte (newlines
 * too, inside the quotes), see docs/influxdb.md. A failed call leaves the point unchanged. */
struct influx_lp;
struct influx_lp *influx_lp_new(const char *measurement);
void influx_lp_free(struct influx_lp *lp);
int influx_lp_tag(struct influx_lp *lp, const char *key, const char *value, struct err *e);
int influx_lp_field_str(struct influx_lp *lp, const char *key, const char *value, struct err *e);
int influx_lp_field_int(struct influx_lp *lp, const char *key, long long value, struct err *e);
int influx_lp_field_float(struct influx_lp *lp, const char *key, double value, struct err *e);
/* Finish the point; *out is a new NUL-terminated line ending in '\n'. The time is in
 * the precision of the write (ms for influx_write). */
int influx_lp_finish(struct influx_lp *lp, long long time_ms, char **out, size_t *len,
                     struct err *e);

/* Parse a /query answer body (influx_parse.c): see influx_query for *out. The
 * HTTP status is passed so that both error forms are recognised; errors are
 * ERR_INVALID (InfluxDB refused the query, message = InfluxDB's text), ERR_AUTH
 * (401/403), ERR_NOT_FOUND (404), ERR_UNAVAILABLE (5xx) or ERR_PROTOCOL (not a
 * v1 JSON answer, or a series without columns or with rows of the wrong width). */
int influx_parse_answer(long status, const char *body, size_t len, json_t **out, struct err *e);

/* Judge a /write answer (influx_parse.c): 0 for 2xx; else ERR_INVALID (points
 * refused, message = InfluxDB's reason, for v3 partial writes with the first bad
 * line), ERR_NOT_FOUND (no such database), ERR_AUTH, ERR_TOO_LARGE, ERR_UNAVAILABLE (5xx). */
int influx_parse_write_answer(long status, const char *body, size_t len, struct err *e);

/* Quote s as an InfluxQL string literal ('...', with \ and ' escaped) into a new string. */
char *influx_ql_quote(const char *s);

#endif
