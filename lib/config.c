/*
 * config: see config.h.
 *
 * DESIGN: one row per setting in config_table. Each row's type decides its
 * validator; values are stored as canonical strings (str) and, for numeric
 * types, as numbers (num). Defaults pass through the same validators, so a
 * default can never be a value the program rejects.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store_url.h"
#include "xmalloc.h"

enum config_type {
	CT_STRING,   /* free text, 1..CONFIG_VALUE_MAX-1 printable bytes */
	CT_SECRET,   /* like string; masked in output; may be empty */
	CT_INT,      /* integer within [min, max] */
	CT_HTTP_URL, /* http:// or https:// base URL */
	CT_URL_LIST, /* comma-separated CT_HTTP_URL, 1..CONFIG_URLS_MAX */
	CT_REDIS_URL,
	CT_HOSTPORT, /* HOST:PORT */
	CT_LISTEN,   /* unix:/abs/path or HOST:PORT */
	CT_PATH,     /* absolute path */
	CT_NAME,     /* [A-Za-z0-9_.-]{1,64} */
	CT_LEVEL,    /* debug|info|warn|error */
	CT_CHOICE,   /* one of the row's choices ("a|b|c"); num is its index */
	CT__MAX
};

struct config_row {
	const char *name;
	enum config_type type;
	const char *def; /* NULL: computed in config_new */
	long long min, max;
	unsigned progs;
	const char *help;
	const char *choices; /* CT_CHOICE: "a|b|c" */
};

#define P_ALL (CFG_P_MEMDUMPD | CFG_P_POLLER | CFG_P_API | CFG_P_TOOL | CFG_P_ADMIN)
#define P_SVC_USERS (CFG_P_POLLER | CFG_P_API)

static const struct config_row config_table[CFG__MAX] = {
    [CFG_SERVICE_URL] = {"MEMDUMP_SERVICE_URL", CT_URL_LIST, "http://127.0.0.1:5001", 0, 0,
                         P_SVC_USERS,
                         "memdumpd base URL; a comma-separated list means several KVM hosts", NULL},
    [CFG_SERVICE_TIMEOUT] = {"MEMDUMP_SERVICE_TIMEOUT", CT_INT, "30", 1, 3600, P_SVC_USERS,
                             "seconds for one call to memdumpd", NULL},
    [CFG_SERVICE_TOKEN] = {"MEMDUMP_SERVICE_TOKEN", CT_SECRET, "", 0, 0,
                           CFG_P_MEMDUMPD | P_SVC_USERS,
                           "shared secret memdumpd requires as 'Authorization: Bearer ...'", NULL},
    [CFG_REDIS_URL] = {"REDIS_URL", CT_REDIS_URL, "redis://127.0.0.1:6379/0", 0, 0,
                       P_SVC_USERS | CFG_P_ADMIN,
                       "redis://[:password@]host:port/db or unix:///path/to.sock", NULL},
    [CFG_INFLUX_URL] = {"INFLUX_URL", CT_HTTP_URL, "http://localhost:8181", 0, 0,
                        CFG_P_MEMDUMPD | CFG_P_API | CFG_P_TOOL | CFG_P_ADMIN,
                        "InfluxDB 3 (or 1.x) base URL", NULL},
    [CFG_INFLUX_DB] = {"INFLUX_DB", CT_NAME, "vmstats", 0, 0,
                       CFG_P_MEMDUMPD | CFG_P_API | CFG_P_TOOL | CFG_P_ADMIN, "InfluxDB database",
                       NULL},
    [CFG_INFLUX_TOKEN] = {"INFLUX_TOKEN", CT_SECRET, "", 0, 0,
                          CFG_P_MEMDUMPD | CFG_P_API | CFG_P_TOOL | CFG_P_ADMIN, "InfluxDB token",
                          NULL},
    [CFG_DUMP_DIR] = {"DUMP_DIR", CT_PATH, "/var/dumps", 0, 0, CFG_P_MEMDUMPD | CFG_P_API,
                      "where memdumpd keeps dump files", NULL},
    [CFG_LIBVIRT_URI] = {"LIBVIRT_URI", CT_STRING, "qemu:///system", 0, 0, CFG_P_MEMDUMPD,
                         "local libvirt URI (qemu:///system or qemu:///session)", NULL},
    [CFG_LISTEN] = {"MEMDUMP_LISTEN", CT_HOSTPORT, "127.0.0.1:5001", 0, 0, CFG_P_MEMDUMPD,
                    "memdumpd's listen address HOST:PORT", NULL},
    [CFG_MAX_CONCURRENT] = {"MEMDUMP_MAX_CONCURRENT", CT_INT, "2", 1, 64, CFG_P_MEMDUMPD,
                            "dumps running at once per memdumpd", NULL},
    [CFG_MAX_WAIT] = {"MEMDUMP_MAX_WAIT", CT_INT, "3600", 10, 7 * 86400,
                      CFG_P_MEMDUMPD | CFG_P_POLLER, "seconds before a dump is given up as failed",
                      NULL},
    [CFG_POLL_INTERVAL] = {"MEMDUMP_POLL_INTERVAL", CT_INT, "5", 1, 3600, CFG_P_POLLER,
                           "seconds between polls (1 s while dumps are active)", NULL},
    [CFG_API_LISTEN] = {"MEMDUMP_API_LISTEN", CT_LISTEN, "unix:/run/memdump/api.sock", 0, 0,
                        CFG_P_API, "where memdump-api accepts FastCGI: unix:PATH or HOST:PORT",
                        NULL},
    [CFG_API_WORKERS] = {"MEMDUMP_API_WORKERS", CT_INT, NULL, 1, 256, CFG_P_API,
                         "worker processes (default: twice the cores)", NULL},
    [CFG_LOG_LEVEL] = {"MEMDUMP_LOG_LEVEL", CT_LEVEL, "info", 0, 0, P_ALL,
                       "debug, info, warn or error", NULL},
    [CFG_HOST_NAME] = {"MEMDUMP_HOST_NAME", CT_NAME, NULL, 0, 0, CFG_P_MEMDUMPD,
                       "this KVM host's name in records (default: the hostname)", NULL},
    [CFG_DISK_RESERVE] = {"MEMDUMP_DISK_RESERVE_MB", CT_INT, "1024", 0, 1LL << 40, CFG_P_MEMDUMPD,
                          "MiB to keep free in DUMP_DIR beyond a dump's size", NULL},
    [CFG_RECORD_TTL] = {"MEMDUMP_RECORD_TTL", CT_INT, "86400", 60, 90 * 86400, CFG_P_POLLER,
                        "seconds a finished dump stays in Redis (history is in InfluxDB)", NULL},
    [CFG_AUTH] = {"MEMDUMP_AUTH", CT_CHOICE, "local", 0, 0, CFG_P_API,
                  "local (accounts, sessions, tokens) or none (no access control: warned)",
                  "local|none"},
    [CFG_ACCOUNTS] = {"MEMDUMP_ACCOUNTS", CT_PATH, "/etc/memdump/accounts", 0, 0,
                      CFG_P_API | CFG_P_ADMIN, "accounts, groups and API tokens (0600)", NULL},
    [CFG_TRUST_REMOTE_USER] = {"MEMDUMP_TRUST_REMOTE_USER", CT_CHOICE, "no", 0, 0, CFG_P_API,
                               "yes: the web server's REMOTE_USER (and MEMDUMP_REMOTE_GROUPS) "
                               "is an identity",
                               "no|yes"},
    [CFG_SESSION_IDLE] = {"MEMDUMP_SESSION_IDLE", CT_INT, "1800", 60, 86400, CFG_P_API,
                          "seconds a dashboard session may stay unused", NULL},
    [CFG_SESSION_MAX] = {"MEMDUMP_SESSION_MAX", CT_INT, "43200", 300, 30 * 86400, CFG_P_API,
                         "seconds a dashboard session lasts at most", NULL},
    [CFG_COOKIE_SECURE] = {"MEMDUMP_COOKIE_SECURE", CT_CHOICE, "auto", 0, 0, CFG_P_API,
                           "the session cookie's Secure flag: auto (when the web server "
                           "passes HTTPS=on), always (TLS ends in a proxy before it), never",
                           "auto|always|never"},
    [CFG_LOGIN_WINDOW] = {"MEMDUMP_LOGIN_WINDOW", CT_INT, "900", 10, 86400, CFG_P_API,
                          "seconds over which failed logins are counted", NULL},
    [CFG_LOGIN_FAILURES_USER] = {"MEMDUMP_LOGIN_FAILURES_USER", CT_INT, "5", 1, 1000, CFG_P_API,
                                 "failed logins of one user per window before 429", NULL},
    [CFG_LOGIN_FAILURES_ADDR] = {"MEMDUMP_LOGIN_FAILURES_ADDR", CT_INT, "20", 1, 100000, CFG_P_API,
                                 "failed logins from one address per window before 429", NULL},
    [CFG_TRIGGER_RATE] = {"MEMDUMP_TRIGGER_RATE", CT_INT, "30", 1, 100000, CFG_P_API,
                          "VMs one user may trigger per minute", NULL},
    [CFG_USER_MAX_ACTIVE] = {"MEMDUMP_USER_MAX_ACTIVE", CT_INT, "16", 1, 100000, CFG_P_API,
                             "queued and running dumps one user may have at once", NULL},
    [CFG_AUDIT_SPOOL] = {"MEMDUMP_AUDIT_SPOOL", CT_PATH, "/var/lib/memdump/audit", 0, 0,
                         CFG_P_API | CFG_P_ADMIN,
                         "folder of audit events waiting for InfluxDB (0700)", NULL},
};

struct config {
	char *str[CFG__MAX];
	long long num[CFG__MAX];
	char **urls;
	size_t n_urls;
};

const char *config_key_name(enum config_key k)
{
	return (k >= 0 && k < CFG__MAX) ? config_table[k].name : "?";
}

static bool config_printable(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* host part: a name, an IPv4 address, or [IPv6]; port 1..65535. */
static bool config_hostport_ok(const char *v, size_t len)
{
	const char *colon;
	char *end;
	long port;

	if (len == 0 || len > 300)
		return false;
	colon = memrchr(v, ':', len);
	if (colon == NULL || colon == v)
		return false;
	if (v[0] == '[') {
		if (colon[-1] != ']')
			return false;
	} else {
		for (const char *p = v; p < colon; p++)
			if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '_'))
				return false;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	return errno == 0 && end == v + len && colon[1] != '\0' && port >= 1 && port <= 65535;
}

static bool config_http_url_ok(const char *v, size_t len)
{
	const char *rest;
	size_t hostlen;

	if (strncmp(v, "http://", 7) == 0)
		rest = v + 7;
	else if (strncmp(v, "https://", 8) == 0)
		rest = v + 8;
	else
		return false;
	if (len > 512)
		return false;
	for (const char *p = v; p < v + len; p++)
		if (isspace((unsigned char)*p) || *p == ',' || (unsigned char)*p < 0x20)
			return false;
	hostlen = strcspn(rest, "/?#");
	if (hostlen == 0 || rest[hostlen] == '?' || rest[hostlen] == '#')
		return false;
	/* no user:password@: credentials go in the *_TOKEN settings, never in a URL that
	 * is logged, shown by -t and used as a key */
	return memchr(rest, '@', hostlen) == NULL;
}

/* v for messages and -t output: the user and password of every URL ("scheme://USERINFO@")
 * replaced by "***", so credentials never reach a log or a terminal. */
static void config_mask(const char *v, char *out, size_t cap)
{
	size_t o = 0;

	while (*v != '\0' && o + 1 < cap) {
		const char *sep = strstr(v, "://");
		const char *auth, *at;
		size_t alen, n;

		if (sep == NULL) {
			snprintf(out + o, cap - o, "%s", v);
			return;
		}
		auth = sep + 3;
		/* up to the last '@' of this URL: a password with an unescaped '/' stays hidden */
		alen = strcspn(auth, ", ");
		at = memrchr(auth, '@', alen);
		if (at == NULL)
			alen = strcspn(auth, "/?#, ");
		n = (size_t)(auth - v);
		if (at == NULL)
			n += alen;
		o += (size_t)snprintf(out + o, cap - o, "%.*s%s", (int)n, v, at ? "***" : "");
		v = at ? at : auth + alen;
	}
	out[o < cap ? o : cap - 1] = '\0';
}

static void config_urls_free(struct config *c)
{
	for (size_t i = 0; i < c->n_urls; i++)
		free(c->urls[i]);
	free(c->urls);
	c->urls = NULL;
	c->n_urls = 0;
}

static int config_urls_set(struct config *c, const char *v, const char *what, struct err *e)
{
	char **urls = xcalloc(CONFIG_URLS_MAX, sizeof(*urls));
	char shown[256];
	size_t n = 0;
	const char *p = v;

	while (*p != '\0') {
		size_t len = strcspn(p, ",");
		const char *s = p;

		while (len > 0 && isspace((unsigned char)*s)) {
			s++;
			len--;
		}
		while (len > 0 && isspace((unsigned char)s[len - 1]))
			len--;
		while (len > 0 && s[len - 1] == '/')
			len--;
		if (n == CONFIG_URLS_MAX) {
			err_set(e, ERR_INVALID, "%s: more than %d URLs; allowed: 1 to %d", what,
			        CONFIG_URLS_MAX, CONFIG_URLS_MAX);
			goto fail;
		}
		urls[n] = xstrndup(s, len);
		config_mask(urls[n], shown, sizeof(shown));
		if (!config_http_url_ok(urls[n], len)) {
			err_set(e, ERR_INVALID,
			        "%s: '%.200s' is not a URL; allowed: comma-separated http:// or "
			        "https:// base URLs (no USER:PASSWORD@: use MEMDUMP_SERVICE_TOKEN)",
			        what, shown);
			n++;
			goto fail;
		}
		for (size_t i = 0; i < n; i++) {
			if (strcmp(urls[i], urls[n]) == 0) {
				err_set(e, ERR_INVALID, "%s: '%.200s' is listed twice", what,
				        shown);
				n++;
				goto fail;
			}
		}
		n++;
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	if (n == 0) {
		err_set(e, ERR_INVALID, "%s: empty; allowed: at least one http:// URL", what);
		goto fail;
	}
	config_urls_free(c);
	c->urls = urls;
	c->n_urls = n;
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		free(urls[i]);
	free(urls);
	return -1;
}

/* Validate value for row k; on success store it. */
static int config_store(struct config *c, enum config_key k, const char *value, const char *origin,
                        struct err *e)
{
	const struct config_row *row = &config_table[k];
	size_t len = strlen(value);
	char what[CONFIG_VALUE_MAX / 8], shown[128];
	long long num = 0;

	config_mask(value, shown, sizeof(shown));
	snprintf(what, sizeof(what), "%s: %s=%.120s%s", origin, row->name,
	         row->type == CT_SECRET ? "***" : shown, len > 120 ? "..." : "");
	if (len >= CONFIG_VALUE_MAX)
		return err_set(e, ERR_INVALID, "%s: value longer than %d bytes", what,
		               CONFIG_VALUE_MAX - 1);
	if (!config_printable(value))
		return err_set(e, ERR_INVALID, "%s: control characters are not allowed", what);

	switch (row->type) {
	case CT_STRING:
		if (len == 0)
			return err_set(e, ERR_INVALID, "%s: empty; allowed: any non-empty text",
			               what);
		break;
	case CT_SECRET:
		break;
	case CT_INT: {
		char *end;

		errno = 0;
		num = strtoll(value, &end, 10);
		if (len == 0 || *end != '\0' || errno != 0)
			return err_set(e, ERR_INVALID, "%s: not an integer; allowed: %lld to %lld",
			               what, row->min, row->max);
		if (num < row->min || num > row->max)
			return err_set(e, ERR_INVALID, "%s: out of range; allowed: %lld to %lld",
			               what, row->min, row->max);
		break;
	}
	case CT_HTTP_URL:
		if (!config_http_url_ok(value, len))
			return err_set(
			    e, ERR_INVALID,
			    "%s: not a URL; allowed: http://HOST[:PORT][/PATH] or https://... "
			    "(no USER:PASSWORD@: use the token setting)",
			    what);
		break;
	case CT_URL_LIST:
		if (config_urls_set(c, value, what, e) < 0)
			return -1;
		break;
	case CT_REDIS_URL: {
		struct store_url u;
		struct err ue;

		if (store_url_parse(value, &u, &ue) < 0)
			return err_set(
			    e, ERR_INVALID,
			    "%s: %s; allowed: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or "
			    "unix:///PATH[?db=N]",
			    what, ue.msg);
		store_url_release(&u);
		break;
	}
	case CT_HOSTPORT:
		if (!config_hostport_ok(value, len))
			return err_set(e, ERR_INVALID, "%s: allowed: HOST:PORT (port 1 to 65535)",
			               what);
		break;
	case CT_LISTEN:
		if (strncmp(value, "unix:", 5) == 0) {
			if (value[5] != '/' || len - 5 >= 108)
				return err_set(
				    e, ERR_INVALID,
				    "%s: allowed: unix:/ABSOLUTE/PATH (under 108 bytes) or "
				    "HOST:PORT",
				    what);
		} else if (!config_hostport_ok(value, len)) {
			return err_set(e, ERR_INVALID,
			               "%s: allowed: unix:/ABSOLUTE/PATH or HOST:PORT", what);
		}
		break;
	case CT_PATH:
		if (value[0] != '/' || strstr(value, "/../") != NULL ||
		    (len >= 3 && strcmp(value + len - 3, "/..") == 0))
			return err_set(e, ERR_INVALID, "%s: allowed: an absolute path without '..'",
			               what);
		break;
	case CT_NAME:
		if (len == 0 || len > 64)
			return err_set(e, ERR_INVALID, "%s: allowed: 1 to 64 of A-Z a-z 0-9 _ . -",
			               what);
		for (const char *p = value; *p; p++)
			if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '-'))
				return err_set(e, ERR_INVALID,
				               "%s: allowed: 1 to 64 of A-Z a-z 0-9 _ . -", what);
		break;
	case CT_LEVEL: {
		enum log_level lvl;

		if (log_level_parse(value, &lvl) < 0)
			return err_set(e, ERR_INVALID, "%s: allowed: debug, info, warn, error",
			               what);
		num = lvl;
		break;
	}
	case CT_CHOICE: {
		const char *p = row->choices;
		long long i = 0;

		for (;;) {
			size_t l = strcspn(p, "|");

			if (l == len && memcmp(p, value, len) == 0)
				break;
			if (p[l] == '\0')
				return err_set(e, ERR_INVALID, "%s: allowed: %s", what,
				               row->choices);
			p += l + 1;
			i++;
		}
		num = i;
		break;
	}
	case CT__MAX:
		return err_set(e, ERR_INTERNAL, "%s: bad table row", what);
	}
	free(c->str[k]);
	c->str[k] = xstrdup(value);
	c->num[k] = num;
	return 0;
}

struct config *config_new(void)
{
	struct config *c = xcalloc(1, sizeof(*c));
	struct err e;

	for (int k = 0; k < CFG__MAX; k++) {
		const char *def = config_table[k].def;
		char buf[256];

		if (def == NULL) {
			if (k == CFG_API_WORKERS) {
				long n = sysconf(_SC_NPROCESSORS_ONLN);

				snprintf(buf, sizeof(buf), "%ld",
				         n < 1 ? 2 : (n > 128 ? 256 : 2 * n));
			} else if (k == CFG_HOST_NAME) {
				if (gethostname(buf, sizeof(buf)) != 0)
					snprintf(buf, sizeof(buf), "localhost");
				buf[sizeof(buf) - 1] = '\0';
				for (char *p = buf; *p; p++)
					if (!(isalnum((unsigned char)*p) || *p == '_' ||
					      *p == '.' || *p == '-'))
						*p = '-';
				buf[64] = '\0';
			} else {
				buf[0] = '\0';
			}
			def = buf;
		}
		if (config_store(c, (enum config_key)k, def, "default", &e) < 0) {
			log_error("config_default_invalid", "msg=%s", log_q(e.msg));
			abort();
		}
	}
	return c;
}

void config_free(struct config *c)
{
	if (c == NULL)
		return;
	for (int k = 0; k < CFG__MAX; k++)
		free(c->str[k]);
	config_urls_free(c);
	free(c);
}

int config_set(struct config *c, const char *name, const char *value, const char *origin,
               struct err *e)
{
	for (int k = 0; k < CFG__MAX; k++)
		if (strcmp(config_table[k].name, name) == 0)
			return config_store(c, (enum config_key)k, value, origin, e);
	return err_set(e, ERR_NOT_FOUND, "%s: unknown key '%.64s'", origin, name);
}

int config_load_env(struct config *c, struct err *e)
{
	for (int k = 0; k < CFG__MAX; k++) {
		const char *v = getenv(config_table[k].name);

		if (v != NULL && config_store(c, (enum config_key)k, v, "environment", e) < 0)
			return -1;
	}
	return 0;
}

int config_parse_line(const char *line, size_t len, char *key, size_t keycap, char *value,
                      size_t valcap, struct err *e)
{
	const char *p = line, *end = line + len, *eq;
	size_t klen, vlen;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	if (p == end || *p == '#')
		return 0;
	if (memchr(p, '\0', (size_t)(end - p)) != NULL)
		return err_set(e, ERR_INVALID, "NUL byte in line");
	eq = memchr(p, '=', (size_t)(end - p));
	if (eq == NULL)
		return err_set(e, ERR_INVALID, "expected KEY=value");
	klen = (size_t)(eq - p);
	while (klen > 0 && (p[klen - 1] == ' ' || p[klen - 1] == '\t'))
		klen--;
	if (klen == 0)
		return err_set(e, ERR_INVALID, "empty key before '='");
	for (size_t i = 0; i < klen; i++)
		if (!(isupper((unsigned char)p[i]) || isdigit((unsigned char)p[i]) || p[i] == '_'))
			return err_set(e, ERR_INVALID,
			               "key '%.*s' must be upper-case letters, digits and '_'",
			               (int)(klen > 64 ? 64 : klen), p);
	if (klen >= keycap)
		return err_set(e, ERR_INVALID, "key longer than %zu bytes", keycap - 1);
	eq++;
	while (eq < end && (*eq == ' ' || *eq == '\t'))
		eq++;
	vlen = (size_t)(end - eq);
	if (vlen >= 2 && eq[0] == '"' && eq[vlen - 1] == '"') {
		eq++;
		vlen -= 2;
	} else if (vlen >= 1 && eq[0] == '"') {
		return err_set(e, ERR_INVALID, "unterminated quote in value");
	}
	if (vlen >= valcap)
		return err_set(e, ERR_INVALID, "value longer than %zu bytes", valcap - 1);
	memcpy(key, p, klen);
	key[klen] = '\0';
	memcpy(value, eq, vlen);
	value[vlen] = '\0';
	return 1;
}

int config_load_file(struct config *c, const char *path, struct err *e)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, key[128], *value = xmalloc(CONFIG_VALUE_MAX);
	char origin[600];
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	int rc = -1;

	if (f == NULL) {
		err_set(e, ERR_IO, "%s: cannot open: %s", path, ERR_ERRNO(errno));
		goto out;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		int r;

		lineno++;
		snprintf(origin, sizeof(origin), "%.500s:%u", path, lineno);
		if (lineno > 10000) {
			err_set(e, ERR_TOO_LARGE, "%s: more than 10000 lines", origin);
			goto out;
		}
		r = config_parse_line(line, (size_t)n, key, sizeof(key), value, CONFIG_VALUE_MAX,
		                      e);
		if (r < 0) {
			err_prefix(e, "%s", origin);
			goto out;
		}
		if (r == 1 && config_set(c, key, value, origin, e) < 0)
			goto out;
	}
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	free(line);
	free(value);
	return rc;
}

struct config *config_load(const char *file, struct err *e)
{
	struct config *c = config_new();

	if (config_load_env(c, e) < 0 || (file != NULL && config_load_file(c, file, e) < 0)) {
		config_free(c);
		return NULL;
	}
	return c;
}

const char *config_str(const struct config *c, enum config_key k)
{
	return c->str[k] != NULL ? c->str[k] : "";
}

long long config_num(const struct config *c, enum config_key k)
{
	return c->num[k];
}

bool config_is_set(const struct config *c, enum config_key k)
{
	return c->str[k] != NULL && c->str[k][0] != '\0';
}

const char *const *config_service_urls(const struct config *c, size_t *n)
{
	*n = c->n_urls;
	return (const char *const *)c->urls;
}

void config_print(const struct config *c, unsigned prog, FILE *out)
{
	for (int k = 0; k < CFG__MAX; k++) {
		const struct config_row *row = &config_table[k];

		if (!(row->progs & prog))
			continue;
		if (row->type == CT_SECRET)
			fprintf(out, "%s=%s\n", row->name,
			        config_is_set(c, k) ? "(set)" : "(unset)");
		else {
			char shown[CONFIG_VALUE_MAX + 8];

			config_mask(config_str(c, k), shown, sizeof(shown));
			fprintf(out, "%s=%s\n", row->name, shown);
		}
	}
}

static void config_usage(unsigned prog, const char *progname, const char *summary, FILE *out)
{
	fprintf(out,
	        "usage: %s [-t] [-c FILE]\n%s\n\n"
	        "  -c FILE  read KEY=value lines (they override the environment)\n"
	        "  -t       check the configuration, print it and exit\n"
	        "  --help   this text\n\nsettings (environment or -c FILE):\n",
	        progname, summary);
	for (int k = 0; k < CFG__MAX; k++) {
		const struct config_row *row = &config_table[k];

		if (!(row->progs & prog))
			continue;
		fprintf(out, "  %-26s %s (default: %s)\n", row->name, row->help,
		        row->def == NULL ? "computed" : (row->def[0] ? row->def : "none"));
	}
}

struct config *config_from_args(unsigned prog, const char *progname, const char *summary, int argc,
                                char **argv, const char **file_out, int *exit_code)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
	                                         {NULL, 0, NULL, 0}};
	const char *file = NULL;
	bool test = false;
	struct config *c;
	struct err e;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:th", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			file = optarg;
			break;
		case 't':
			test = true;
			break;
		case 'h':
			config_usage(prog, progname, summary, stdout);
			*exit_code = 0;
			return NULL;
		default:
			config_usage(prog, progname, summary, stderr);
			*exit_code = 64;
			return NULL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", progname,
		        argv[optind]);
		*exit_code = 64;
		return NULL;
	}
	c = config_load(file, &e);
	if (c == NULL) {
		fprintf(stderr, "%s: configuration error: %s\n", progname, e.msg);
		*exit_code = 78;
		return NULL;
	}
	if (test) {
		config_print(c, prog, stdout);
		printf("%s: configuration OK\n", progname);
		config_free(c);
		*exit_code = 0;
		return NULL;
	}
	if (file_out != NULL)
		*file_out = file;
	return c;
}
