/*
 * memdump-admin: accounts, groups, API tokens and audit verification
 * (docs/security.md). Edits the accounts file (MEMDUMP_ACCOUNTS) atomically:
 * every change is a read-modify-write under an flock on "<accounts>.lock",
 * saved by accounts_save, then recorded with audit_cmd_event (a failure there
 * is only a warning: the change is saved). Arguments are checked with the
 * accounts module's validators before any prompt or lock. Exit codes: 0 ok,
 * 64 usage, 65 bad data (accounts file, password), 78 configuration, 1 other.
 * Single-threaded; everything is freed before exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "accounts.h"
#include "audit_cmd.h"
#include "config.h"
#include "err.h"
#include "kdf.h"
#include "log.h"
#include "xmalloc.h"

#define ADM_USAGE 64
#define ADM_DATA 65
#define ADM_CONFIG 78
#define ADM_OTHER 1
#define ADM_POS_MAX 2
#define ADM_DAYS_MAX 36500

static const char adm_usage_text[] =
    "usage: memdump-admin [-c FILE] [-t] [--help] COMMAND ...\n"
    "accounts, groups, API tokens and audit verification (docs/security.md)\n"
    "\n"
    "  -c FILE  read KEY=value lines (they override the environment)\n"
    "  -t       check the configuration and the accounts file, print them and exit\n"
    "  --help   this text\n"
    "\n"
    "commands (ROLE: none, viewer, operator, investigator, admin; lists are comma-separated,\n"
    "an empty list \"\" means any; globs use '*' and '?'):\n"
    "  user add NAME --role ROLE [--groups G,..] [--vms GLOB,..] [--hosts GLOB,..]\n"
    "           [--password-stdin | --no-password]   (default: ask twice on the terminal)\n"
    "  user set NAME [--role ROLE] [--groups G,..] [--vms GLOB,..] [--hosts GLOB,..]\n"
    "           [--enable | --disable]\n"
    "  user passwd NAME [--password-stdin]\n"
    "  user del NAME                                  (also removes the user's tokens)\n"
    "  user list [--json]\n"
    "  group add NAME --role ROLE [--vms GLOB,..] [--hosts GLOB,..]\n"
    "  group set NAME [--role ROLE] [--vms GLOB,..] [--hosts GLOB,..]\n"
    "  group del NAME                                 (also leaves every user's groups=)\n"
    "  group list [--json]\n"
    "  token add USER [--expires-days N | --expires-at UNIX] [--label TEXT]\n"
    "                                                 (prints the token once, on stdout)\n"
    "  token revoke ID\n"
    "  token list [USER] [--json]\n"
    "  audit verify [...]                             (checks every audit chain)\n"
    "\n"
    "--password-stdin reads the first line of stdin (without its newline).\n"
    "exit: 0 ok, 1 failure, 64 usage, 65 bad data, 78 configuration\n"
    "settings (environment or -c FILE): MEMDUMP_ACCOUNTS, MEMDUMP_AUDIT_SPOOL, INFLUX_URL,\n"
    "INFLUX_DB, INFLUX_TOKEN, REDIS_URL, MEMDUMP_LOG_LEVEL (memdump-admin -t shows them)\n";

__attribute__((format(printf, 2, 3))) static int adm_fail(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("memdump-admin: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* ---- arguments ------------------------------------------------------------------------- */

struct adm_opt {
	const char *name; /* "--role" */
	bool has_arg;
	bool set;
	const char *value; /* borrowed from argv */
};

/* Options (any order, "--x VALUE" or "--x=VALUE") and up to max_pos positionals. */
static int adm_args(const char *cmd, int argc, char **argv, struct adm_opt *opts, size_t n_opts,
                    const char **pos, size_t min_pos, size_t max_pos, size_t *n_pos)
{
	*n_pos = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		struct adm_opt *o = NULL;
		const char *eq;
		size_t nlen;

		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			if (strcmp(a, "--") == 0 || a[0] == '-')
				return adm_fail(ADM_USAGE, "%s: unknown option '%s' (see --help)",
				                cmd, a);
			if (*n_pos == max_pos)
				return adm_fail(
				    ADM_USAGE, "%s: unexpected argument '%s' (see --help)", cmd, a);
			pos[(*n_pos)++] = a;
			continue;
		}
		eq = strchr(a, '=');
		nlen = eq != NULL ? (size_t)(eq - a) : strlen(a);
		for (size_t k = 0; k < n_opts; k++)
			if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, a, nlen) == 0)
				o = &opts[k];
		if (o == NULL)
			return adm_fail(ADM_USAGE, "%s: unknown option '%.*s' (see --help)", cmd,
			                (int)nlen, a);
		if (o->set)
			return adm_fail(ADM_USAGE, "%s: %s given twice", cmd, o->name);
		o->set = true;
		if (!o->has_arg) {
			if (eq != NULL)
				return adm_fail(ADM_USAGE, "%s: %s takes no value", cmd, o->name);
			continue;
		}
		if (eq != NULL) {
			o->value = eq + 1;
		} else {
			if (i + 1 == argc)
				return adm_fail(ADM_USAGE, "%s: %s needs a value", cmd, o->name);
			o->value = argv[++i];
		}
	}
	if (*n_pos < min_pos)
		return adm_fail(ADM_USAGE, "%s: missing %s (see --help)", cmd,
		                min_pos - *n_pos > 1 || max_pos > 1 ? "arguments" : "argument");
	return 0;
}

static int adm_name_arg(const char *cmd, const char *what, const char *name)
{
	struct err e = {0};

	if (accounts_name_check(name, &e) < 0)
		return adm_fail(ADM_USAGE, "%s: %s: %s", cmd, what, e.msg);
	return 0;
}

static int adm_role_arg(const char *cmd, const char *value, enum role *r)
{
	if (accounts_role_parse(value, r) < 0)
		return adm_fail(ADM_USAGE,
		                "%s: --role '%.80s' is not none, viewer, operator, investigator or "
		                "admin",
		                cmd, value);
	return 0;
}

/* --groups/--vms/--hosts value -> new list. */
static int adm_list_arg(const char *cmd, const struct adm_opt *o, bool patterns, char ***v,
                        size_t *n)
{
	struct err e = {0};

	if (accounts_list_parse(o->value, patterns, v, n, &e) < 0)
		return adm_fail(ADM_USAGE, "%s: %s '%.200s': %s", cmd, o->name, o->value, e.msg);
	return 0;
}

static void adm_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Strict decimal in [min, max]. */
static int adm_num_arg(const char *cmd, const struct adm_opt *o, long long min, long long max,
                       long long *out)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(o->value, &end, 10);
	if (o->value[0] < '0' || o->value[0] > '9' || *end != '\0' || errno != 0 || v < min ||
	    v > max)
		return adm_fail(ADM_USAGE, "%s: %s '%.40s' is not a whole number from %lld to %lld",
		                cmd, o->name, o->value, min, max);
	*out = v;
	return 0;
}

/* ---- passwords ------------------------------------------------------------------------- */

/* One line from fd (without "\n" or "\r\n") into buf of KDF_PASSWORD_MAX + 1. */
static int adm_read_line(int fd, char *buf, size_t *len, struct err *e)
{
	size_t n = 0;
	char c;

	for (;;) {
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_set(e, ERR_IO, "reading the password: %s", strerror(errno));
		if (r == 0 || c == '\n')
			break;
		if (n == KDF_PASSWORD_MAX) {
			explicit_bzero(buf, KDF_PASSWORD_MAX + 1);
			return err_set(e, ERR_TOO_LARGE, "password longer than %d bytes",
			               KDF_PASSWORD_MAX);
		}
		buf[n++] = c;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*len = n;
	return 0;
}

static int adm_tty_read(int tty, const char *prompt, char *buf, size_t *len, struct err *e)
{
	struct termios old, quiet;
	int rc;

	if (tcgetattr(tty, &old) < 0)
		return err_set(e, ERR_IO, "/dev/tty: %s", strerror(errno));
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (write(tty, prompt, strlen(prompt)) < 0 || tcsetattr(tty, TCSAFLUSH, &quiet) < 0)
		return err_set(e, ERR_IO, "/dev/tty: %s", strerror(errno));
	rc = adm_read_line(tty, buf, len, e);
	tcsetattr(tty, TCSAFLUSH, &old);
	if (write(tty, "\n", 1) < 0 && rc == 0)
		rc = err_set(e, ERR_IO, "/dev/tty: %s", strerror(errno));
	return rc;
}

/* The password (stdin's first line, or asked twice on /dev/tty) hashed into hash. */
static int adm_password(const char *cmd, const char *user, bool from_stdin, char hash[KDF_HASH_MAX])
{
	char pw[KDF_PASSWORD_MAX + 1], again[KDF_PASSWORD_MAX + 1], prompt[128];
	size_t n = 0, n2 = 0;
	struct err e = {0};
	int code = 0, tty = -1;

	if (from_stdin) {
		if (adm_read_line(STDIN_FILENO, pw, &n, &e) < 0) {
			code = adm_fail(ADM_DATA, "%s: --password-stdin: %s", cmd, e.msg);
			goto out;
		}
	} else {
		tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (tty < 0) {
			code = adm_fail(ADM_USAGE,
			                "%s: no terminal to ask the password on (%s): use "
			                "--password-stdin%s",
			                cmd, strerror(errno),
			                strcmp(cmd, "user add") == 0 ? " or --no-password" : "");
			goto out;
		}
		snprintf(prompt, sizeof(prompt), "Password for %s: ", user);
		if (adm_tty_read(tty, prompt, pw, &n, &e) < 0 ||
		    adm_tty_read(tty, "Again: ", again, &n2, &e) < 0) {
			code = adm_fail(ADM_DATA, "%s: %s", cmd, e.msg);
			goto out;
		}
		if (n != n2 || memcmp(pw, again, n) != 0) {
			code = adm_fail(ADM_DATA, "%s: the passwords do not match", cmd);
			goto out;
		}
	}
	if (kdf_password_check(pw, n, &e) < 0) {
		code = adm_fail(ADM_DATA, "%s: password: %s", cmd, e.msg);
		goto out;
	}
	if (kdf_hash(pw, hash, &e) < 0)
		code = adm_fail(ADM_OTHER, "%s: %s", cmd, e.msg);
out:
	if (tty >= 0)
		close(tty);
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(again, sizeof(again));
	return code;
}

/* ---- the accounts file ----------------------------------------------------------------- */

struct adm {
	const struct config *cfg;
	const char *path; /* borrowed from cfg */
	int lock_fd;
	struct accounts *a;
};

static int adm_load_error(const struct err *e)
{
	return adm_fail(e->code == ERR_INVALID || e->code == ERR_TOO_LARGE ? ADM_DATA : ADM_OTHER,
	                "%s", e->msg);
}

/* Load the accounts (absent: empty); lock first when changing them. */
static int adm_open(struct adm *s, bool change)
{
	struct err e = {0};

	if (change) {
		char *lock = xasprintf("%s.lock", s->path);

		s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX) < 0) {
			int code = adm_fail(ADM_OTHER, "cannot lock %s: %s", lock, strerror(errno));

			free(lock);
			return code;
		}
		free(lock);
	}
	if (accounts_load(s->path, &s->a, &e) < 0) {
		if (e.code != ERR_NOT_FOUND)
			return adm_load_error(&e);
		s->a = accounts_new();
	}
	return 0;
}

static void adm_close(struct adm *s)
{
	accounts_free(s->a);
	s->a = NULL;
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the flock */
	s->lock_fd = -1;
}

/* Save, then record the change (a failed record is a warning: the change stands). */
static int adm_commit(struct adm *s, const char *action, const char *target, const char *detail)
{
	struct err e = {0};

	if (accounts_save(s->path, s->a, &e) < 0)
		return adm_fail(ADM_OTHER, "%s: not saved: %s", action, e.msg);
	if (audit_cmd_event(s->cfg, action, target, detail, &e) < 0)
		fprintf(stderr, "memdump-admin: warning: %s %s saved, but not audited: %s\n",
		        action, target, e.msg);
	return 0;
}

static char *adm_join(char *const *v, size_t n)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	s = xcalloc(1, len);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strncat(s, ",", len - strlen(s) - 1);
		strncat(s, v[i], len - strlen(s) - 1);
	}
	return s;
}

static json_t *adm_strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static int adm_print_json(json_t *v)
{
	char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_decref(v);
	if (text == NULL)
		return adm_fail(ADM_OTHER, "cannot encode JSON");
	puts(text);
	free(text);
	return 0;
}

static void adm_time(long long t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, cap, "%lld", t);
}

/* ---- user ------------------------------------------------------------------------------ */

struct adm_scope_args {
	char **groups, **vms, **hosts;
	size_t n_groups, n_vms, n_hosts;
};

static void adm_scope_args_free(struct adm_scope_args *sa)
{
	adm_strv_free(sa->groups, sa->n_groups);
	adm_strv_free(sa->vms, sa->n_vms);
	adm_strv_free(sa->hosts, sa->n_hosts);
}

/* The given ones of --role, --groups (groups NULL: a group has none), --vms and --hosts
 * into *role and sa; 0 or the exit code of the message printed. */
static int adm_scope_args_parse(const char *cmd, const struct adm_opt *role_o,
                                const struct adm_opt *groups, const struct adm_opt *vms,
                                const struct adm_opt *hosts, enum role *role,
                                struct adm_scope_args *sa)
{
	int code = 0;

	if ((role_o->set && (code = adm_role_arg(cmd, role_o->value, role)) != 0) ||
	    (groups != NULL && groups->set &&
	     (code = adm_list_arg(cmd, groups, false, &sa->groups, &sa->n_groups)) != 0) ||
	    (vms->set && (code = adm_list_arg(cmd, vms, true, &sa->vms, &sa->n_vms)) != 0) ||
	    (hosts->set && (code = adm_list_arg(cmd, hosts, true, &sa->hosts, &sa->n_hosts)) != 0))
		return code;
	return 0;
}

/* Give a record the lists of sa whose options were set (steals them; sa is emptied). */
static void adm_scope_args_apply(struct adm_scope_args *sa, const struct adm_opt *groups,
                                 const struct adm_opt *vms, const struct adm_opt *hosts,
                                 char ***rec_groups, size_t *rec_n_groups, struct scope *sc)
{
	if (groups != NULL && groups->set)
		accounts_list_set(rec_groups, rec_n_groups, sa->groups, sa->n_groups);
	if (vms->set)
		accounts_list_set(&sc->vms, &sc->n_vms, sa->vms, sa->n_vms);
	if (hosts->set)
		accounts_list_set(&sc->hosts, &sc->n_hosts, sa->hosts, sa->n_hosts);
	memset(sa, 0, sizeof(*sa));
}

/* "role=R groups=.. vms=.. hosts=.." of what was given (new). */
static char *adm_detail(const char *role, const struct adm_opt *groups, const struct adm_opt *vms,
                        const struct adm_opt *hosts, const char *extra)
{
	return xasprintf("%s%s%s%s%s%s%s%s%s%s", role ? "role=" : "", role ? role : "",
	                 groups && groups->set ? " groups=" : "",
	                 groups && groups->set ? groups->value : "", vms->set ? " vms=" : "",
	                 vms->set ? vms->value : "", hosts->set ? " hosts=" : "",
	                 hosts->set ? hosts->value : "", extra ? " " : "", extra ? extra : "");
}

static int adm_user_add(struct adm *s, int argc, char **argv)
{
	const char *cmd = "user add", *pos[1];
	struct adm_opt o[] = {{"--role", true, false, NULL},
	                      {"--groups", true, false, NULL},
	                      {"--vms", true, false, NULL},
	                      {"--hosts", true, false, NULL},
	                      {"--password-stdin", false, false, NULL},
	                      {"--no-password", false, false, NULL}};
	struct adm_scope_args sa = {0};
	char hash[KDF_HASH_MAX] = "";
	struct account_user *u;
	struct err e = {0};
	char *detail = NULL;
	enum role role;
	size_t np;
	int code;

	if ((code = adm_args(cmd, argc, argv, o, 6, pos, 1, 1, &np)) != 0)
		return code;
	if ((code = adm_name_arg(cmd, "NAME", pos[0])) != 0)
		return code;
	if (!o[0].set)
		return adm_fail(ADM_USAGE, "%s: --role ROLE is required", cmd);
	if (o[4].set && o[5].set)
		return adm_fail(ADM_USAGE,
		                "%s: --password-stdin and --no-password exclude each other", cmd);
	if ((code = adm_scope_args_parse(cmd, &o[0], &o[1], &o[2], &o[3], &role, &sa)) != 0)
		goto out;
	/* Refuse an existing name before asking for a password. */
	if ((code = adm_open(s, false)) != 0)
		goto out;
	if (accounts_user(s->a, pos[0]) != NULL) {
		code = adm_fail(ADM_OTHER, "%s: user '%s' already exists", cmd, pos[0]);
		goto out;
	}
	adm_close(s);
	if (!o[5].set && (code = adm_password(cmd, pos[0], o[4].set, hash)) != 0)
		goto out;
	if ((code = adm_open(s, true)) != 0)
		goto out;
	u = accounts_user_add(s->a, pos[0], &e);
	if (u == NULL) {
		code = adm_fail(ADM_OTHER, "%s: %s", cmd, e.msg);
		goto out;
	}
	u->role = role;
	u->hash = hash[0] ? xstrdup(hash) : NULL;
	adm_scope_args_apply(&sa, &o[1], &o[2], &o[3], &u->groups, &u->n_groups, &u->scope);
	detail =
	    adm_detail(o[0].value, &o[1], &o[2], &o[3], hash[0] ? "password=yes" : "password=no");
	code = adm_commit(s, "user.add", pos[0], detail);
out:
	explicit_bzero(hash, sizeof(hash));
	adm_scope_args_free(&sa);
	free(detail);
	return code;
}

static int adm_user_set(struct adm *s, int argc, char **argv)
{
	const char *cmd = "user set", *pos[1];
	struct adm_opt o[] = {{"--role", true, false, NULL},    {"--groups", true, false, NULL},
	                      {"--vms", true, false, NULL},     {"--hosts", true, false, NULL},
	                      {"--enable", false, false, NULL}, {"--disable", false, false, NULL}};
	struct adm_scope_args sa = {0};
	struct account_user *u;
	char *detail = NULL;
	enum role role = ROLE_NONE;
	size_t np;
	int code;

	if ((code = adm_args(cmd, argc, argv, o, 6, pos, 1, 1, &np)) != 0)
		return code;
	if ((code = adm_name_arg(cmd, "NAME", pos[0])) != 0)
		return code;
	if (!o[0].set && !o[1].set && !o[2].set && !o[3].set && !o[4].set && !o[5].set)
		return adm_fail(ADM_USAGE,
		                "%s: nothing to change (give --role, --groups, --vms, --hosts, "
		                "--enable or --disable)",
		                cmd);
	if (o[4].set && o[5].set)
		return adm_fail(ADM_USAGE, "%s: --enable and --disable exclude each other", cmd);
	if ((code = adm_scope_args_parse(cmd, &o[0], &o[1], &o[2], &o[3], &role, &sa)) != 0)
		goto out;
	if ((code = adm_open(s, true)) != 0)
		goto out;
	u = accounts_user(s->a, pos[0]);
	if (u == NULL) {
		code = adm_fail(ADM_OTHER, "%s: no user '%s'", cmd, pos[0]);
		goto out;
	}
	if (o[0].set)
		u->role = role;
	adm_scope_args_apply(&sa, &o[1], &o[2], &o[3], &u->groups, &u->n_groups, &u->scope);
	if (o[4].set || o[5].set)
		u->disabled = o[5].set;
	detail = adm_detail(o[0].set ? o[0].value : NULL, &o[1], &o[2], &o[3],
	                    o[4].set   ? "disabled=0"
	                    : o[5].set ? "disabled=1"
	                               : NULL);
	code = adm_commit(s, "user.set", pos[0], detail[0] == ' ' ? detail + 1 : detail);
out:
	adm_scope_args_free(&sa);
	free(detail);
	return code;
}

static int adm_user_passwd(struct adm *s, int argc, char **argv)
{
	const char *cmd = "user passwd", *pos[1];
	struct adm_opt o[] = {{"--password-stdin", false, false, NULL}};
	char hash[KDF_HASH_MAX] = "";
	struct account_user *u;
	size_t np;
	int code;

	if ((code = adm_args(cmd, argc, argv, o, 1, pos, 1, 1, &np)) != 0)
		return code;
	if ((code = adm_name_arg(cmd, "NAME", pos[0])) != 0)
		return code;
	if ((code = adm_open(s, false)) != 0)
		return code;
	if (accounts_user(s->a, pos[0]) == NULL)
		return adm_fail(ADM_OTHER, "%s: no user '%s'", cmd, pos[0]);
	adm_close(s);
	if ((code = adm_password(cmd, pos[0], o[0].set, hash)) != 0)
		goto out;
	if ((code = adm_open(s, true)) != 0)
		goto out;
	u = accounts_user(s->a, pos[0]);
	if (u == NULL) {
		code = adm_fail(ADM_OTHER, "%s: no user '%s'", cmd, pos[0]);
		goto out;
	}
	free(u->hash);
	u->hash = xstrdup(hash);
	code = adm_commit(s, "user.passwd", pos[0], "");
out:
	explicit_bzero(hash, sizeof(hash));
	return code;
}

/* "user del NAME" and "group del NAME": del removes the record and returns how many
 * others it touched (detail "count_key=N"), or -1 when there is no such record. */
static int adm_del(struct adm *s, int argc, char **argv, const char *kind,
                   int (*del)(struct accounts *, const char *), const char *count_key)
{
	char cmd[16], action[16], detail[64];
	const char *pos[1];
	size_t np;
	int code, n;

	snprintf(cmd, sizeof(cmd), "%s del", kind);
	snprintf(action, sizeof(action), "%s.del", kind);
	if ((code = adm_args(cmd, argc, argv, NULL, 0, pos, 1, 1, &np)) != 0)
		return code;
	if ((code = adm_name_arg(cmd, "NAME", pos[0])) != 0)
		return code;
	if ((code = adm_open(s, true)) != 0)
		return code;
	n = del(s->a, pos[0]);
	if (n < 0)
		return adm_fail(ADM_OTHER, "%s: no %s '%s'", cmd, kind, pos[0]);
	snprintf(detail, sizeof(detail), "%s=%d", count_key, n);
	return adm_commit(s, action, pos[0], detail);
}

static int adm_user_del(struct adm *s, int argc, char **argv)
{
	return adm_del(s, argc, argv, "user", accounts_user_del, "tokens_removed");
}

static int adm_user_list(struct adm *s, int argc, char **argv)
{
	struct adm_opt o[] = {{"--json", false, false, NULL}};
	json_t *arr;
	size_t np;
	int code;

	if ((code = adm_args("user list", argc, argv, o, 1, NULL, 0, 0, &np)) != 0)
		return code;
	if ((code = adm_open(s, false)) != 0)
		return code;
	if (o[0].set) {
		arr = json_array();
		for (size_t i = 0; i < s->a->n_users; i++) {
			const struct account_user *u = &s->a->users[i];

			json_array_append_new(
			    arr, json_pack("{s:s, s:s, s:o, s:o, s:o, s:b, s:b}", "name", u->name,
			                   "role", accounts_role_name(u->role), "groups",
			                   adm_strv_json(u->groups, u->n_groups), "vms",
			                   adm_strv_json(u->scope.vms, u->scope.n_vms), "hosts",
			                   adm_strv_json(u->scope.hosts, u->scope.n_hosts),
			                   "password", u->hash != NULL, "disabled", u->disabled));
		}
		return adm_print_json(arr);
	}
	printf("%-24s %-12s %-20s %-20s %-16s %-8s %s\n", "NAME", "ROLE", "GROUPS", "VMS", "HOSTS",
	       "PASSWORD", "STATE");
	for (size_t i = 0; i < s->a->n_users; i++) {
		const struct account_user *u = &s->a->users[i];
		char *g = adm_join(u->groups, u->n_groups),
		     *v = adm_join(u->scope.vms, u->scope.n_vms),
		     *h = adm_join(u->scope.hosts, u->scope.n_hosts);

		printf("%-24s %-12s %-20s %-20s %-16s %-8s %s\n", u->name,
		       accounts_role_name(u->role), g[0] ? g : "-", v[0] ? v : "*", h[0] ? h : "*",
		       u->hash ? "yes" : "no", u->disabled ? "disabled" : "enabled");
		free(g);
		free(v);
		free(h);
	}
	return 0;
}

/* ---- group ----------------------------------------------------------------------------- */

static int adm_group_add_set(struct adm *s, int argc, char **argv, bool add)
{
	const char *cmd = add ? "group add" : "group set", *pos[1];
	struct adm_opt o[] = {{"--role", true, false, NULL},
	                      {"--vms", true, false, NULL},
	                      {"--hosts", true, false, NULL}};
	struct adm_scope_args sa = {0};
	struct account_group *g;
	struct err e = {0};
	char *detail = NULL;
	enum role role = ROLE_NONE;
	size_t np;
	int code;

	if ((code = adm_args(cmd, argc, argv, o, 3, pos, 1, 1, &np)) != 0)
		return code;
	if ((code = adm_name_arg(cmd, "NAME", pos[0])) != 0)
		return code;
	if (add && !o[0].set)
		return adm_fail(ADM_USAGE, "%s: --role ROLE is required", cmd);
	if (!add && !o[0].set && !o[1].set && !o[2].set)
		return adm_fail(ADM_USAGE, "%s: nothing to change (give --role, --vms or --hosts)",
		                cmd);
	if ((code = adm_scope_args_parse(cmd, &o[0], NULL, &o[1], &o[2], &role, &sa)) != 0)
		goto out;
	if ((code = adm_open(s, true)) != 0)
		goto out;
	g = add ? accounts_group_add(s->a, pos[0], &e) : accounts_group(s->a, pos[0]);
	if (g == NULL) {
		code = add ? adm_fail(ADM_OTHER, "%s: %s", cmd, e.msg)
		           : adm_fail(ADM_OTHER, "%s: no group '%s'", cmd, pos[0]);
		goto out;
	}
	if (o[0].set)
		g->role = role;
	adm_scope_args_apply(&sa, NULL, &o[1], &o[2], NULL, NULL, &g->scope);
	detail = adm_detail(o[0].set ? o[0].value : NULL, NULL, &o[1], &o[2], NULL);
	code = adm_commit(s, add ? "group.add" : "group.set", pos[0],
	                  detail[0] == ' ' ? detail + 1 : detail);
out:
	adm_scope_args_free(&sa);
	free(detail);
	return code;
}

static int adm_group_del(struct adm *s, int argc, char **argv)
{
	return adm_del(s, argc, argv, "group", accounts_group_del, "users_left");
}

static int adm_group_list(struct adm *s, int argc, char **argv)
{
	struct adm_opt o[] = {{"--json", false, false, NULL}};
	json_t *arr;
	size_t np;
	int code;

	if ((code = adm_args("group list", argc, argv, o, 1, NULL, 0, 0, &np)) != 0)
		return code;
	if ((code = adm_open(s, false)) != 0)
		return code;
	if (o[0].set) {
		arr = json_array();
		for (size_t i = 0; i < s->a->n_groups; i++) {
			const struct account_group *g = &s->a->groups[i];

			json_array_append_new(
			    arr, json_pack("{s:s, s:s, s:o, s:o}", "name", g->name, "role",
			                   accounts_role_name(g->role), "vms",
			                   adm_strv_json(g->scope.vms, g->scope.n_vms), "hosts",
			                   adm_strv_json(g->scope.hosts, g->scope.n_hosts)));
		}
		return adm_print_json(arr);
	}
	printf("%-24s %-12s %-24s %s\n", "NAME", "ROLE", "VMS", "HOSTS");
	for (size_t i = 0; i < s->a->n_groups; i++) {
		const struct account_group *g = &s->a->groups[i];
		char *v = adm_join(g->scope.vms, g->scope.n_vms),
		     *h = adm_join(g->scope.hosts, g->scope.n_hosts);

		printf("%-24s %-12s %-24s %s\n", g->name, accounts_role_name(g->role),
		       v[0] ? v : "*", h[0] ? h : "*");
		free(v);
		free(h);
	}
	return 0;
}

/* ---- token ----------------------------------------------------------------------------- */

static int adm_token_add(struct adm *s, int argc, char **argv)
{
	const char *cmd = "token add", *pos[1];
	struct adm_opt o[] = {{"--expires-days", true, false, NULL},
	                      {"--expires-at", true, false, NULL},
	                      {"--label", true, false, NULL}};
	char token[ACCOUNTS_TOKEN_LEN + 1], *detail;
	long long now = (long long)time(NULL), expires = 0, v;
	struct account_token *t;
	struct err e = {0};
	size_t np;
	int code;

	if ((code = adm_args(cmd, argc, argv, o, 3, pos, 1, 1, &np)) != 0)
		return code;
	if ((code = adm_name_arg(cmd, "USER", pos[0])) != 0)
		return code;
	if (o[0].set && o[1].set)
		return adm_fail(ADM_USAGE, "%s: --expires-days and --expires-at exclude each other",
		                cmd);
	if (o[0].set) {
		if ((code = adm_num_arg(cmd, &o[0], 1, ADM_DAYS_MAX, &v)) != 0)
			return code;
		expires = now + v * 86400;
	}
	if (o[1].set && (code = adm_num_arg(cmd, &o[1], now + 1, 253402300799LL, &expires)) != 0)
		return code;
	if (o[2].set && accounts_label_check(o[2].value, &e) < 0)
		return adm_fail(ADM_USAGE, "%s: --label: %s", cmd, e.msg);
	if ((code = adm_open(s, true)) != 0)
		return code;
	if (accounts_user(s->a, pos[0]) == NULL)
		return adm_fail(ADM_OTHER, "%s: no user '%s'", cmd, pos[0]);
	t = accounts_token_new(s->a, pos[0], now, expires, o[2].set ? o[2].value : NULL, token, &e);
	if (t == NULL)
		return adm_fail(ADM_OTHER, "%s: %s", cmd, e.msg);
	detail = xasprintf("id=%s expires=%lld%s%s", t->id, expires, t->label ? " label=" : "",
	                   t->label ? t->label : "");
	if (accounts_save(s->path, s->a, &e) < 0) {
		code = adm_fail(ADM_OTHER, "%s: not saved: %s", cmd, e.msg);
	} else {
		printf("%s\n", token);
		fflush(stdout);
		if (audit_cmd_event(s->cfg, "token.add", pos[0], detail, &e) < 0)
			fprintf(stderr,
			        "memdump-admin: warning: token.add %s saved, but not audited: %s\n",
			        pos[0], e.msg);
	}
	explicit_bzero(token, sizeof(token));
	free(detail);
	return code;
}

static int adm_token_revoke(struct adm *s, int argc, char **argv)
{
	const char *cmd = "token revoke", *pos[1];
	struct account_token *t;
	char *user, *detail;
	size_t np;
	int code;

	if ((code = adm_args(cmd, argc, argv, NULL, 0, pos, 1, 1, &np)) != 0)
		return code;
	if (strlen(pos[0]) != ACCOUNTS_TOKEN_ID_LEN ||
	    strspn(pos[0], "0123456789abcdef") != ACCOUNTS_TOKEN_ID_LEN)
		return adm_fail(ADM_USAGE, "%s: ID '%.80s' is not %d lower-case hex digits", cmd,
		                pos[0], ACCOUNTS_TOKEN_ID_LEN);
	if ((code = adm_open(s, true)) != 0)
		return code;
	t = accounts_token(s->a, pos[0]);
	if (t == NULL)
		return adm_fail(ADM_OTHER, "%s: no token '%s'", cmd, pos[0]);
	user = xstrdup(t->user);
	detail = xasprintf("id=%s", pos[0]);
	accounts_token_del(s->a, pos[0]);
	code = adm_commit(s, "token.revoke", user, detail);
	free(user);
	free(detail);
	return code;
}

static int adm_token_list(struct adm *s, int argc, char **argv)
{
	struct adm_opt o[] = {{"--json", false, false, NULL}};
	const char *pos[1] = {NULL};
	char created[32], expires[32];
	json_t *arr = NULL;
	size_t np;
	int code;

	if ((code = adm_args("token list", argc, argv, o, 1, pos, 0, 1, &np)) != 0)
		return code;
	if (np == 1 && (code = adm_name_arg("token list", "USER", pos[0])) != 0)
		return code;
	if ((code = adm_open(s, false)) != 0)
		return code;
	if (o[0].set)
		arr = json_array();
	else
		printf("%-12s %-24s %-20s %-20s %s\n", "ID", "USER", "CREATED", "EXPIRES", "LABEL");
	for (size_t i = 0; i < s->a->n_tokens; i++) {
		const struct account_token *t = &s->a->tokens[i];

		if (np == 1 && strcmp(t->user, pos[0]) != 0)
			continue;
		if (arr != NULL) {
			json_array_append_new(
			    arr,
			    json_pack("{s:s, s:s, s:I, s:o, s:o}", "id", t->id, "user", t->user,
			              "created", (json_int_t)t->created, "expires",
			              t->expires ? json_integer(t->expires) : json_null(), "label",
			              t->label ? json_string(t->label) : json_null()));
			continue;
		}
		adm_time(t->created, created, sizeof(created));
		if (t->expires)
			adm_time(t->expires, expires, sizeof(expires));
		else
			snprintf(expires, sizeof(expires), "never");
		printf("%-12s %-24s %-20s %-20s %s\n", t->id, t->user, created, expires,
		       t->label ? t->label : "-");
	}
	return arr != NULL ? adm_print_json(arr) : 0;
}

/* ---- main ------------------------------------------------------------------------------ */

/* -t: the settings, then the accounts file when it exists. */
static int adm_check(const struct config *cfg)
{
	const char *path = config_str(cfg, CFG_ACCOUNTS);
	struct accounts *a = NULL;
	struct err e = {0};

	config_print(cfg, CFG_P_ADMIN, stdout);
	if (accounts_load(path, &a, &e) < 0) {
		if (e.code != ERR_NOT_FOUND)
			return adm_load_error(&e);
		printf("memdump-admin: %s does not exist yet (user add creates it)\n", path);
	} else {
		printf("memdump-admin: %s: %zu users, %zu groups, %zu tokens\n", path, a->n_users,
		       a->n_groups, a->n_tokens);
		accounts_free(a);
	}
	printf("memdump-admin: configuration OK\n");
	return 0;
}

static int adm_run(struct adm *s, int argc, char **argv)
{
	static const struct {
		const char *noun, *verb;
		int (*fn)(struct adm *, int, char **);
	} cmds[] = {
	    {"user", "add", adm_user_add},         {"user", "set", adm_user_set},
	    {"user", "passwd", adm_user_passwd},   {"user", "del", adm_user_del},
	    {"user", "list", adm_user_list},       {"group", "del", adm_group_del},
	    {"group", "list", adm_group_list},     {"token", "add", adm_token_add},
	    {"token", "revoke", adm_token_revoke}, {"token", "list", adm_token_list},
	};
	const char *noun = argv[0], *verb = argc > 1 ? argv[1] : NULL;

	if (strcmp(noun, "audit") == 0) {
		if (verb == NULL || strcmp(verb, "verify") != 0)
			return adm_fail(ADM_USAGE, "audit: unknown command '%s' (audit verify)",
			                verb ? verb : "");
		return audit_cmd_verify(s->cfg, argc - 1, argv + 1);
	}
	if (strcmp(noun, "user") != 0 && strcmp(noun, "group") != 0 && strcmp(noun, "token") != 0)
		return adm_fail(ADM_USAGE,
		                "unknown command '%.80s' (user, group, token, audit; see --help)",
		                noun);
	if (verb == NULL)
		return adm_fail(ADM_USAGE, "%s: missing subcommand (see --help)", noun);
	if (strcmp(noun, "group") == 0 && strcmp(verb, "add") == 0)
		return adm_group_add_set(s, argc - 2, argv + 2, true);
	if (strcmp(noun, "group") == 0 && strcmp(verb, "set") == 0)
		return adm_group_add_set(s, argc - 2, argv + 2, false);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].noun, noun) == 0 && strcmp(cmds[i].verb, verb) == 0)
			return cmds[i].fn(s, argc - 2, argv + 2);
	return adm_fail(ADM_USAGE, "%s: unknown subcommand '%.80s' (see --help)", noun, verb);
}

int main(int argc, char **argv)
{
	const char *file = NULL;
	bool test = false;
	struct adm s = {.lock_fd = -1};
	struct config *cfg;
	struct err e = {0};
	enum log_level lvl = LOG_LVL_INFO;
	int i = 1, code;

	log_init("admin", LOG_LVL_INFO);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(adm_usage_text, stdout);
			return 0;
		}
		if (strcmp(argv[i], "-t") == 0) {
			test = true;
		} else if (strcmp(argv[i], "-c") == 0) {
			if (i + 1 == argc)
				return adm_fail(ADM_USAGE, "-c needs a FILE");
			file = argv[++i];
		} else if (strncmp(argv[i], "-c", 2) == 0) {
			file = argv[i] + 2;
		} else {
			return adm_fail(ADM_USAGE, "unknown option '%.80s' (see --help)", argv[i]);
		}
	}
	if (!test && i == argc) {
		fputs(adm_usage_text, stderr);
		return ADM_USAGE;
	}
	if (test && i < argc)
		return adm_fail(ADM_USAGE, "-t takes no command (got '%.80s')", argv[i]);
	cfg = config_load(file, &e);
	if (cfg == NULL)
		return adm_fail(ADM_CONFIG, "configuration error: %s", e.msg);
	if (log_level_parse(config_str(cfg, CFG_LOG_LEVEL), &lvl) == 0)
		log_set_level(lvl);
	if (test) {
		code = adm_check(cfg);
	} else {
		s.cfg = cfg;
		s.path = config_str(cfg, CFG_ACCOUNTS);
		code = adm_run(&s, argc - i, argv + i);
		adm_close(&s);
	}
	config_free(cfg);
	return code;
}
