/*
 * json_util: the project's helpers on jansson (prefix jsonu_).
 * jansson ownership rule, stated once: functions named *_new or documented "new"
 * return a reference the caller must json_decref(); "borrowed" references live as
 * long as their container; json_object_set_new()/json_array_append_new() steal.
 * jsonu_init() routes jansson's allocations through xmalloc (abort on OOM).
 * Pure functions, thread-safe.
 */
#ifndef MEMDUMP_JSON_UTIL_H
#define MEMDUMP_JSON_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define JSONU_MAX_DEPTH 32

void jsonu_init(void);

/*
 * Parse exactly one JSON value from buf[0..len): ERR_TOO_LARGE above max_bytes,
 * ERR_INVALID (with line, column and jansson's reason) for bad syntax, NUL bytes,
 * duplicate keys, or nesting deeper than max_depth. Returns new or NULL.
 */
json_t *jsonu_parse(const char *buf, size_t len, size_t max_bytes, int max_depth, struct err *e);

/* Borrowed string member, or NULL when absent or not a string. */
const char *jsonu_str(const json_t *obj, const char *key);
/* Integer member (JSON integer only); -1 when absent or not an integer. */
int jsonu_int(const json_t *obj, const char *key, long long *out);
/* Number member (integer or real); -1 when absent or not a number. */
int jsonu_num(const json_t *obj, const char *key, double *out);

/* Compact UTF-8 text of v (reals with 15 significant digits), new (free() it); never NULL. */
char *jsonu_dump(const json_t *v);

/* New {"error":{"code":code,"message":...}}. */
json_t *jsonu_error_new(const char *code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* RFC 3339 UTC text with milliseconds for a Unix time in ms: "2026-11-22T18:30:00.123Z"
 * (times outside the years 0000-9999 are clamped to them). */
void jsonu_time_format(long long unix_ms, char out[32]);
/* Parse RFC 3339 ("2026-11-22T18:30:00Z", fraction and +hh:mm offset allowed) or a
 * plain date "2026-11-22" (midnight UTC) to Unix ms; -1 and e when malformed. */
int jsonu_time_parse(const char *s, long long *unix_ms, struct err *e);

#endif
