/*
 * store_url: see store_url.h.
 */
#include "store_url.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "urlcode.h"
#include "xmalloc.h"

void store_url_release(struct store_url *u)
{
	if (u == NULL)
		return;
	free(u->host);
	free(u->path);
	free(u->username);
	free(u->password);
	memset(u, 0, sizeof(*u));
}

/* Decimal in [min, max] spanning exactly s[0..len). */
static int store_num(const char *s, size_t len, long min, long max, int *out)
{
	long v = 0;

	if (len == 0 || len > 9)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

static bool store_host_ok(const char *h, size_t len)
{
	if (len == 0 || len > 255)
		return false;
	if (h[0] == '[') {
		if (len < 3 || h[len - 1] != ']')
			return false;
		for (size_t i = 1; i < len - 1; i++)
			if (!(isxdigit((unsigned char)h[i]) || h[i] == ':' || h[i] == '.'))
				return false;
		return true;
	}
	for (size_t i = 0; i < len; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return false;
	}
	return true;
}

static int store_url_unix(const char *p, struct store_url *out, struct err *e)
{
	const char *q = strchr(p, '?');
	size_t plen = q ? (size_t)(q - p) : strlen(p);

	if (plen < 2 || p[0] != '/' || plen >= 108)
		return err_set(e, ERR_INVALID,
		               "Redis URL: unix socket path must be absolute and under 108 bytes");
	for (size_t i = 0; i < plen; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return err_set(e, ERR_INVALID,
			               "Redis URL: control character in the socket path");
	if (q != NULL) {
		if (strncmp(q, "?db=", 4) != 0 ||
		    store_num(q + 4, strlen(q + 4), 0, STORE_DB_MAX, &out->db) < 0)
			return err_set(e, ERR_INVALID,
			               "Redis URL: the only query allowed is ?db=N (N 0 to %d)",
			               STORE_DB_MAX);
	}
	out->path = xstrndup(p, plen);
	return 0;
}

static int store_url_tcp(const char *p, struct store_url *out, struct err *e)
{
	const char *at, *slash, *hostend, *colon;
	size_t hlen;

	slash = strchr(p, '/');
	if (slash == NULL)
		slash = p + strlen(p);
	/* credentials: the last '@' before the path (a password may hold '@' as %40) */
	at = memrchr(p, '@', (size_t)(slash - p));
	if (at != NULL) {
		const char *c = memchr(p, ':', (size_t)(at - p));

		if (c == NULL || c + 1 == at)
			return err_set(e, ERR_INVALID,
			               "Redis URL: credentials must be [USER]:PASSWORD@ "
			               "(percent-encode special characters)");
		if (c > p && urlcode_decode(p, (size_t)(c - p), false, &out->username) < 0)
			return err_set(e, ERR_INVALID, "Redis URL: bad %%-escape in the user name");
		if (urlcode_decode(c + 1, (size_t)(at - c - 1), false, &out->password) < 0)
			return err_set(e, ERR_INVALID, "Redis URL: bad %%-escape in the password");
		p = at + 1;
	}
	if (p[0] == '[') {
		hostend = memchr(p, ']', (size_t)(slash - p));
		if (hostend == NULL)
			return err_set(e, ERR_INVALID, "Redis URL: unterminated [IPv6] host");
		hostend++;
	} else {
		colon = memchr(p, ':', (size_t)(slash - p));
		hostend = colon ? colon : slash;
	}
	hlen = (size_t)(hostend - p);
	if (!store_host_ok(p, hlen))
		return err_set(e, ERR_INVALID,
		               "Redis URL: missing or invalid host (a name, IPv4 or [IPv6])");
	if (p[0] == '[')
		out->host = xstrndup(p + 1, hlen - 2);
	else
		out->host = xstrndup(p, hlen);
	out->port = 6379;
	if (hostend < slash) {
		if (*hostend != ':' ||
		    store_num(hostend + 1, (size_t)(slash - hostend - 1), 1, 65535, &out->port) < 0)
			return err_set(e, ERR_INVALID, "Redis URL: port must be 1 to 65535");
	}
	if (*slash == '/' && slash[1] != '\0') {
		if (store_num(slash + 1, strlen(slash + 1), 0, STORE_DB_MAX, &out->db) < 0)
			return err_set(e, ERR_INVALID,
			               "Redis URL: database must be a number 0 to %d (no query)",
			               STORE_DB_MAX);
	}
	return 0;
}

int store_url_parse(const char *url, struct store_url *out, struct err *e)
{
	size_t len = strlen(url);
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > STORE_URL_MAX)
		return err_set(e, ERR_INVALID, "Redis URL longer than %d bytes", STORE_URL_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f)
			return err_set(e, ERR_INVALID,
			               "Redis URL: blank or control character at byte %zu", i);
	if (strncmp(url, "redis://", 8) == 0)
		rc = store_url_tcp(url + 8, out, e);
	else if (strncmp(url, "unix://", 7) == 0)
		rc = store_url_unix(url + 7, out, e);
	else
		rc = err_set(e, ERR_INVALID,
		             "Redis URL must start with redis:// or unix:// "
		             "(redis://[:PASSWORD@]HOST[:PORT][/DB] or unix:///PATH[?db=N])");
	if (rc < 0)
		store_url_release(out);
	return rc;
}

/* ---- connection ------------------------------------------------------------------- */
