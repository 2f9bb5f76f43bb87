/*
 * caserender: see caserender.h. Errors render as "error: <code>: <message>".
 * JSON results render compact with sorted keys, so expected files are stable.
 */
#include "caserender.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "http_client.h"
#include "influx.h"
#include "json_util.h"
#include "svc.h"
#include "xmalloc.h"

#define CR_BODY_MAX 4096 /* json_body's cap, small so cases can exceed it */
#define CR_DEPTH_MAX 8   /* json_body's depth cap */
#define CR_FIELD_MAX 1024

static char *cr_error(const struct err *e)
{
	return xasprintf("error: %s: %s\n", err_code_name(e->code), e->msg);
}

static char *cr_json(const json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	char *out = xasprintf("%s\n", text != NULL ? text : "null");

	free(text);
	return out;
}

/* The input without one trailing newline (case files usually end in one). */
static size_t cr_chomp(const char *input, size_t len)
{
	return len > 0 && input[len - 1] == '\n' ? len - 1 : len;
}

char *caserender_config_line(const char *input, size_t len)
{
	char key[128], value[CONFIG_VALUE_MAX];
	struct err e = {0};
	int r = config_parse_line(input, cr_chomp(input, len), key, sizeof(key), value,
	                          sizeof(value), &e);

	if (r < 0)
		return cr_error(&e);
	if (r == 0)
		return xstrdup("blank\n");
	return xasprintf("key=%s\nvalue=%s\n", key, value);
}

char *caserender_json_body(const char *input, size_t len)
{
	struct err e = {0};
	json_t *v = jsonu_parse(input, len, CR_BODY_MAX, CR_DEPTH_MAX, &e);
	char *out;

	if (v == NULL)
		return cr_error(&e);
	out = cr_json(v);
	json_decref(v);
	return out;
}

char *caserender_time(const char *input, size_t len)
{
	struct err e = {0};
	char *s = xstrndup(input, cr_chomp(input, len));
	char iso[32];
	long long ms;
	char *out;

	if (strlen(s) != cr_chomp(input, len)) {
		err_set(&e, ERR_INVALID, "NUL byte in input");
		out = cr_error(&e);
	} else if (jsonu_time_parse(s, &ms, &e) < 0) {
		out = cr_error(&e);
	} else {
		jsonu_time_format(ms, iso);
		out = xasprintf("ms=%lld\niso=%s\n", ms, iso);
	}
	free(s);
	return out;
}

/* Decode \n \r \t \\ \s (space) \xHH in place; false on a bad escape. */
static bool cr_unescape(char *s)
{
	char *o = s;

	for (char *p = s; *p != '\0'; p++) {
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		p++;
		switch (*p) {
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 's':
			*o++ = ' ';
			break;
		case '\\':
			*o++ = '\\';
			break;
		case 'x': {
			char hex[3] = {0};
			char *end;
			long v;

			if (p[1] == '\0' || p[2] == '\0')
				return false;
			hex[0] = p[1];
			hex[1] = p[2];
			v = strtol(hex, &end, 16);
			if (*end != '\0' || v == 0)
				return false; /* NUL cannot travel in a C string */
			*o++ = (char)v;
			p += 2;
			break;
		}
		default:
			return false;
		}
	}
	*o = '\0';
	return true;
}

/*
 * influx_lp: one item per line, fields separated by TAB, escapes as cr_unescape:
 *   measurement NAME | tag K V | str K V | int K N | float K X | time MS
 * The first failing call renders as the error; else the finished line.
 */
char *caserender_influx_lp(const char *input, size_t len)
{
	struct influx_lp *lp = NULL;
	struct err e = {0};
	char *text = xstrndup(input, len), *save = NULL, *line, *out = NULL, *res = NULL;
	long long t = 0, n;
	size_t res_len;
	int lineno = 0;

	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *f[3] = {line, NULL, NULL};
		char *end;
		int nf = 1;

		lineno++;
		for (char *p = line; *p != '\0' && nf < 3; p++)
			if (*p == '\t') {
				*p = '\0';
				f[nf++] = p + 1;
			}
		for (int i = 0; i < nf; i++)
			if (!cr_unescape(f[i])) {
				err_set(&e, ERR_INVALID, "case line %d: bad escape", lineno);
				goto fail;
			}
		if (strcmp(f[0], "measurement") == 0 && nf == 2 && lp == NULL) {
			lp = influx_lp_new(f[1]);
			continue;
		}
		if (lp == NULL) {
			err_set(&e, ERR_INVALID, "case line %d: expected 'measurement NAME' first",
			        lineno);
			goto fail;
		}
		if (strcmp(f[0], "time") == 0 && nf == 2) {
			errno = 0;
			t = strtoll(f[1], &end, 10);
			if (errno != 0 || *end != '\0') {
				err_set(&e, ERR_INVALID, "case line %d: bad time", lineno);
				goto fail;
			}
			continue;
		}
		if (nf != 3) {
			err_set(&e, ERR_INVALID, "case line %d: expected KIND<TAB>KEY<TAB>VALUE",
			        lineno);
			goto fail;
		}
		if (strcmp(f[0], "tag") == 0) {
			if (influx_lp_tag(lp, f[1], f[2], &e) < 0)
				goto fail;
		} else if (strcmp(f[0], "str") == 0) {
			if (influx_lp_field_str(lp, f[1], f[2], &e) < 0)
				goto fail;
		} else if (strcmp(f[0], "int") == 0) {
			errno = 0;
			n = strtoll(f[2], &end, 10);
			if (errno != 0 || *end != '\0') {
				err_set(&e, ERR_INVALID, "case line %d: bad int", lineno);
				goto fail;
			}
			if (influx_lp_field_int(lp, f[1], n, &e) < 0)
				goto fail;
		} else if (strcmp(f[0], "float") == 0) {
			double d = strtod(f[2], &end);

			if (*end != '\0') {
				err_set(&e, ERR_INVALID, "case line %d: bad float", lineno);
				goto fail;
			}
			if (influx_lp_field_float(lp, f[1], d, &e) < 0)
				goto fail;
		} else {
			err_set(&e, ERR_INVALID, "case line %d: unknown item", lineno);
			goto fail;
		}
	}
	if (lp == NULL) {
		err_set(&e, ERR_INVALID, "case has no measurement");
		goto fail;
	}
	if (influx_lp_finish(lp, t, &res, &res_len, &e) < 0)
		goto fail;
	out = res;
	goto done;
fail:
	out = cr_error(&e);
done:
	influx_lp_free(lp);
	free(text);
	return out;
}

/* Split "HEADER\nBODY": header into a new string, body pointer and length. */
static char *cr_head(const char *input, size_t len, const char **body, size_t *blen)
{
	const char *nl = memchr(input, '\n', len);
	size_t hlen = nl != NULL ? (size_t)(nl - input) : len;

	*body = nl != NULL ? nl + 1 : input + len;
	*blen = len - (size_t)(*body - input);
	return xstrndup(input, hlen);
}

/* influx_answer: first line "query STATUS" or "write STATUS", then the body. */
char *caserender_influx_answer(const char *input, size_t len)
{
	const char *body;
	size_t blen;
	char *head = cr_head(input, len, &body, &blen);
	char kind[16] = "";
	long status = 0;
	struct err e = {0};
	json_t *series = NULL;
	char *out;

	if (sscanf(head, "%15s %ld", kind, &status) != 2) {
		err_set(&e, ERR_INVALID, "case: first line must be 'query|write STATUS'");
		out = cr_error(&e);
	} else if (strcmp(kind, "write") == 0) {
		out = influx_parse_write_answer(status, body, blen, &e) < 0 ? cr_error(&e)
		                                                            : xstrdup("ok\n");
	} else if (influx_parse_answer(status, body, blen, &series, &e) < 0) {
		out = cr_error(&e);
	} else {
		out = cr_json(series);
	}
	json_decref(series);
	free(head);
	return out;
}

/* svc_answer: first line "STATUS MEMBER" (MEMBER "-": the whole object), then the body. */
char *caserender_svc_answer(const char *input, size_t len)
{
	const char *body;
	size_t blen;
	char *head = cr_head(input, len, &body, &blen);
	char member[32] = "";
	long status = 0;
	struct err e = {0};
	struct http_response resp = {0};
	json_t *v = NULL;
	char *out;

	if (sscanf(head, "%ld %31s", &status, member) != 2) {
		err_set(&e, ERR_INVALID, "case: first line must be 'STATUS MEMBER'");
		out = cr_error(&e);
		goto out;
	}
	resp.status = status;
	resp.body = xmalloc(blen + 1); /* the body may hold NUL bytes */
	memcpy(resp.body, body, blen);
	resp.body[blen] = '\0';
	resp.body_len = blen;
	if (svc_parse(NULL, 0, NULL, &resp, strcmp(member, "-") == 0 ? NULL : member, &v, &e) < 0)
		out = cr_error(&e);
	else
		out = cr_json(v);
	free(resp.body);
	json_decref(v);
out:
	free(head);
	return out;
}
