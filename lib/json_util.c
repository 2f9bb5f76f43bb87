/*
 * json_util: see json_util.h.
 */
#include "json_util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xmalloc.h"

void jsonu_init(void)
{
	json_set_alloc_funcs(xmalloc, free);
}

static bool jsonu_depth_ok(const json_t *v, int depth_left)
{
	size_t i;
	const char *key;
	json_t *child;

	if (!json_is_object(v) && !json_is_array(v))
		return true;
	if (depth_left <= 0)
		return false;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, child)
			if (!jsonu_depth_ok(child, depth_left - 1))
				return false;
	} else {
		json_array_foreach(v, i, child)
			if (!jsonu_depth_ok(child, depth_left - 1))
				return false;
	}
	return true;
}

json_t *jsonu_parse(const char *buf, size_t len, size_t max_bytes, int max_depth, struct err *e)
{
	json_error_t je;
	json_t *v;

	if (len > max_bytes) {
		err_set(e, ERR_TOO_LARGE, "JSON body of %zu bytes exceeds the limit of %zu bytes",
		        len, max_bytes);
		return NULL;
	}
	if (len == 0) {
		err_set(e, ERR_INVALID, "empty body; expected JSON");
		return NULL;
	}
	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (v == NULL) {
		err_set(e, ERR_INVALID, "invalid JSON at line %d column %d: %s", je.line, je.column,
		        je.text);
		return NULL;
	}
	if (!jsonu_depth_ok(v, max_depth)) {
		json_decref(v);
		err_set(e, ERR_INVALID, "JSON nested deeper than %d levels", max_depth);
		return NULL;
	}
	return v;
}

const char *jsonu_str(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

int jsonu_int(const json_t *obj, const char *key, long long *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v))
		return -1;
	*out = json_integer_value(v);
	return 0;
}

int jsonu_num(const json_t *obj, const char *key, double *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_number(v))
		return -1;
	*out = json_number_value(v);
	return 0;
}

char *jsonu_dump(const json_t *v)
{
	/* 15 significant digits: 0.011, not 0.010999999999999999 */
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));

	return s != NULL ? s : xstrdup("null");
}

json_t *jsonu_error_new(const char *code, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
}

/* Years 0000-9999, the range RFC 3339 text can hold. */
#define JSONU_TIME_MIN_MS (-62167219200000LL)
#define JSONU_TIME_MAX_MS 253402300799999LL

void jsonu_time_format(long long unix_ms, char out[32])
{
	long long ms = unix_ms < JSONU_TIME_MIN_MS   ? JSONU_TIME_MIN_MS
	               : unix_ms > JSONU_TIME_MAX_MS ? JSONU_TIME_MAX_MS
	                                             : unix_ms;
	long long rem = ((ms % 1000) + 1000) % 1000; /* floored: -1 ms is 23:59:59.999 */
	time_t secs = (time_t)((ms - rem) / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
}

static int jsonu_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int jsonu_time_parse(const char *s, long long *unix_ms, struct err *e)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, off = 0;
	struct tm tm;

	if (strlen(s) > 40)
		goto bad;
	if (jsonu_digits(&p, 4, &y) < 0 || *p++ != '-' || jsonu_digits(&p, 2, &mo) < 0 ||
	    *p++ != '-' || jsonu_digits(&p, 2, &d) < 0)
		goto bad;
	if (*p != '\0') {
		if ((*p != 'T' && *p != 't' && *p != ' ') || (p++, jsonu_digits(&p, 2, &h) < 0) ||
		    *p++ != ':' || jsonu_digits(&p, 2, &mi) < 0 || *p++ != ':' ||
		    jsonu_digits(&p, 2, &sec) < 0)
			goto bad;
		if (*p == '.') {
			int scale = 100;

			p++;
			if (!isdigit((unsigned char)*p))
				goto bad;
			for (; isdigit((unsigned char)*p); p++, scale /= 10)
				ms += scale * (*p - '0');
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om;

			if (jsonu_digits(&p, 2, &oh) < 0 || *p++ != ':' ||
			    jsonu_digits(&p, 2, &om) < 0 || oh > 23 || om > 59)
				goto bad;
			off = sign * (oh * 60 + om);
		} else {
			goto bad;
		}
		if (*p != '\0')
			goto bad;
	}
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		goto bad;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	{
		time_t t = timegm(&tm);
		struct tm check;

		gmtime_r(&t, &check);
		if (check.tm_mday != d && sec != 60)
			goto bad;
		*unix_ms = ((long long)t - (long long)off * 60) * 1000 + ms;
		if (*unix_ms < 0)
			goto bad; /* before 1970 through its offset */
	}
	return 0;
bad:
	return err_set(e, ERR_INVALID,
	               "'%.48s' is not a time; allowed: YYYY-MM-DD or RFC 3339 "
	               "(YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM))",
	               s);
}
