/*
 * influx_lp: the line-protocol builder declared in influx.h. Pure, no I/O.
 *
 * DESIGN: the escaping rules are the ones both InfluxDB 1.x and 3 read back
 * to the same bytes (docs/influxdb.md): in the measurement, tag keys, tag values
 * and field keys, ',' '=' and ' ' are escaped with a backslash; a backslash is
 * written as is, which both servers keep literally, except where it would merge
 * with the next byte (last byte, or before '\\' ',' '=' ' '): such names are
 * refused rather than stored wrongly. Control bytes are refused there too. String
 * field values are quoted with '"' and '\\' escaped; every other byte, newlines
 * included, is written as is: both servers read a newline inside a quoted field
 * as part of the value (an escape like \n would be stored as two characters).
 * Every text must be valid UTF-8 (InfluxDB 3 refuses anything else). A failed
 * call leaves the point unchanged.
 */
#include "influx.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "xmalloc.h"

#define LP_KEYS_MAX 64            /* tags + fields of one point */
#define LP_NAME_MAX 256           /* measurement, keys, tag values */
#define LP_STRING_MAX (64u << 10) /* string field values (1.x's limit) */

struct lp_buf {
	char *p;
	size_t len, cap;
};

struct influx_lp {
	char *measurement;
	struct lp_buf tags;   /* ",k=v,k=v" */
	struct lp_buf fields; /* "k=v,k=v" */
	char *keys[LP_KEYS_MAX];
	bool key_is_tag[LP_KEYS_MAX];
	size_t nkeys;
	size_t nfields;
};

static void lp_buf_reserve(struct lp_buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	size_t want = b->cap != 0 ? b->cap : 128;
	while (want < b->len + more + 1)
		want *= 2;
	b->p = xrealloc(b->p, want);
	b->cap = want;
}

static void lp_buf_putc(struct lp_buf *b, char c)
{
	lp_buf_reserve(b, 1);
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

static void lp_buf_put(struct lp_buf *b, const char *s, size_t n)
{
	lp_buf_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static bool lp_utf8_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t k = dump_utf8_seq(p + i, n - i, NULL);

		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

/* Check a measurement, tag key, tag value or field key; what names it in the
 * message ("tag value of 'vm'"). */
static int lp_name_check(const char *s, const char *what, struct err *e)
{
	size_t n = strlen(s);

	if (n == 0)
		return err_set(e, ERR_INVALID, "%s is empty; line protocol needs a value", what);
	if (n > LP_NAME_MAX)
		return err_set(e, ERR_INVALID, "%s is %zu bytes; the limit is %d", what, n,
		               LP_NAME_MAX);
	if (!lp_utf8_ok(s, n))
		return err_set(e, ERR_INVALID, "%s is not valid UTF-8", what);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7F)
			return err_set(
			    e, ERR_INVALID,
			    "%s contains control byte 0x%02x; not allowed in line protocol "
			    "names and tag values",
			    what, c);
		if (c == '\\' && (i + 1 == n || strchr("\\,= ", s[i + 1]) != NULL))
			return err_set(
			    e, ERR_INVALID,
			    "%s has a backslash at its end or before '\\', ',', '=' or ' '; "
			    "InfluxDB cannot store that exactly",
			    what);
	}
	return 0;
}

static void lp_put_escaped_name(struct lp_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == ',' || *s == '=' || *s == ' ')
			lp_buf_putc(b, '\\');
		lp_buf_putc(b, *s);
	}
}

struct influx_lp *influx_lp_new(const char *measurement)
{
	struct influx_lp *lp = xcalloc(1, sizeof(*lp));

	lp->measurement = xstrdup(measurement != NULL ? measurement : "");
	return lp;
}

void influx_lp_free(struct influx_lp *lp)
{
	if (lp == NULL)
		return;
	for (size_t i = 0; i < lp->nkeys; i++)
		free(lp->keys[i]);
	free(lp->tags.p);
	free(lp->fields.p);
	free(lp->measurement);
	free(lp);
}

/* Common checks for a new tag or field key; on success the key is recorded. */
static int lp_key_add(struct influx_lp *lp, const char *key, bool is_tag, struct err *e)
{
	char what[64];

	snprintf(what, sizeof(what), "%s key", is_tag ? "tag" : "field");
	if (lp_name_check(key, what, e) < 0)
		return -1;
	if (strcmp(key, "time") == 0)
		return err_set(e, ERR_INVALID, "%s 'time' is reserved by InfluxDB", what);
	if (lp->nkeys >= LP_KEYS_MAX)
		return err_set(e, ERR_TOO_LARGE, "more than %d tags and fields in one point",
		               LP_KEYS_MAX);
	for (size_t i = 0; i < lp->nkeys; i++)
		if (strcmp(lp->keys[i], key) == 0)
			return err_set(e, ERR_INVALID, "key '%.64s' given twice in one point", key);
	lp->keys[lp->nkeys] = xstrdup(key);
	lp->key_is_tag[lp->nkeys] = is_tag;
	lp->nkeys++;
	return 0;
}

int influx_lp_tag(struct influx_lp *lp, const char *key, const char *value, struct err *e)
{
	char what[LP_NAME_MAX + 32];

	snprintf(what, sizeof(what), "tag value of '%.64s'", key);
	if (lp_name_check(value, what, e) < 0 || lp_key_add(lp, key, true, e) < 0)
		return -1;
	lp_buf_putc(&lp->tags, ',');
	lp_put_escaped_name(&lp->tags, key);
	lp_buf_putc(&lp->tags, '=');
	lp_put_escaped_name(&lp->tags, value);
	return 0;
}

static void lp_field_start(struct influx_lp *lp, const char *key)
{
	if (lp->nfields > 0)
		lp_buf_putc(&lp->fields, ',');
	lp_put_escaped_name(&lp->fields, key);
	lp_buf_putc(&lp->fields, '=');
	lp->nfields++;
}

int influx_lp_field_str(struct influx_lp *lp, const char *key, const char *value, struct err *e)
{
	size_t n = strlen(value);

	if (n > LP_STRING_MAX)
		return err_set(e, ERR_TOO_LARGE,
		               "string field '%.64s' is %zu bytes; the limit is %u", key, n,
		               LP_STRING_MAX);
	if (!lp_utf8_ok(value, n))
		return err_set(e, ERR_INVALID, "string field '%.64s' is not valid UTF-8", key);
	if (lp_key_add(lp, key, false, e) < 0)
		return -1;
	lp_field_start(lp, key);
	lp_buf_putc(&lp->fields, '"');
	for (const char *p = value; *p != '\0'; p++) {
		switch (*p) {
		case '"':
		case '\\':
			lp_buf_putc(&lp->fields, '\\');
			lp_buf_putc(&lp->fields, *p);
			break;
		default:
			lp_buf_putc(&lp->fields, *p);
		}
	}
	lp_buf_putc(&lp->fields, '"');
	return 0;
}

int influx_lp_field_int(struct influx_lp *lp, const char *key, long long value, struct err *e)
{
	char num[32];
	int n;

	if (lp_key_add(lp, key, false, e) < 0)
		return -1;
	lp_field_start(lp, key);
	n = snprintf(num, sizeof(num), "%lldi", value);
	lp_buf_put(&lp->fields, num, (size_t)n);
	return 0;
}

int influx_lp_field_float(struct influx_lp *lp, const char *key, double value, struct err *e)
{
	char num[40];
	int n;

	if (!isfinite(value))
		return err_set(e, ERR_INVALID,
		               "float field '%.64s' is not a finite number; InfluxDB stores no "
		               "NaN or infinity",
		               key);
	if (lp_key_add(lp, key, false, e) < 0)
		return -1;
	lp_field_start(lp, key);
	/* the shortest of %.15g..%.17g that reads back as the same double */
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(num, sizeof(num), "%.*g", prec, value);
		if (strtod(num, NULL) == value)
			break;
	}
	lp_buf_put(&lp->fields, num, (size_t)n);
	return 0;
}

int influx_lp_finish(struct influx_lp *lp, long long time_ms, char **out, size_t *len,
                     struct err *e)
{
	struct lp_buf line = {0};
	char ts[32];
	int n;

	*out = NULL;
	*len = 0;
	if (lp_name_check(lp->measurement, "measurement", e) < 0)
		return -1;
	if (lp->measurement[0] == '#')
		return err_set(e, ERR_INVALID, "measurement starts with '#' (a comment line)");
	if (lp->nfields == 0)
		return err_set(e, ERR_INVALID, "a point needs at least one field");
	if (time_ms < 0)
		return err_set(e, ERR_INVALID, "time %lld ms is before 1970", time_ms);
	for (const char *p = lp->measurement; *p != '\0'; p++) {
		if (*p == ',' || *p == ' ')
			lp_buf_putc(&line, '\\');
		lp_buf_putc(&line, *p);
	}
	if (lp->tags.len > 0)
		lp_buf_put(&line, lp->tags.p, lp->tags.len);
	lp_buf_putc(&line, ' ');
	lp_buf_put(&line, lp->fields.p, lp->fields.len);
	n = snprintf(ts, sizeof(ts), " %lld\n", time_ms);
	lp_buf_put(&line, ts, (size_t)n);
	*out = line.p;
	*len = line.len;
	return 0;
}

char *influx_ql_quote(const char *s)
{
	struct lp_buf b = {0};

	lp_buf_putc(&b, '\'');
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '\'':
		case '\\':
			lp_buf_putc(&b, '\\');
			lp_buf_putc(&b, *s);
			break;
		case '\n':
			lp_buf_put(&b, "\\n", 2);
			break;
		default:
			lp_buf_putc(&b, *s);
		}
	}
	lp_buf_putc(&b, '\'');
	return b.p;
}
