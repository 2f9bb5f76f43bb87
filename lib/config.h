/*
 * config: every setting of every program, as one table (name, type, default,
 * bounds, help, which programs use it). Values come from defaults, then the
 * environment, then the -c FILE (KEY=value lines; the file wins). Every value is
 * validated when set; an error names the origin (file:line or environment), the
 * key, the value and what is allowed. Unknown keys in a file are errors.
 * A struct config is immutable once loaded; reload builds a new one.
 * Not thread-safe while loading; read-only sharing afterwards is fine.
 */
#ifndef MEMDUMP_CONFIG_H
#define MEMDUMP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"

enum config_key {
	CFG_SERVICE_URL,     /* MEMDUMP_SERVICE_URL: list of memdumpd base URLs */
	CFG_SERVICE_TIMEOUT, /* seconds */
	CFG_SERVICE_TOKEN,   /* secret */
	CFG_REDIS_URL,
	CFG_INFLUX_URL,
	CFG_INFLUX_DB,
	CFG_INFLUX_TOKEN, /* secret */
	CFG_DUMP_DIR,
	CFG_LIBVIRT_URI,
	CFG_LISTEN,         /* memdumpd HOST:PORT */
	CFG_MAX_CONCURRENT, /* dumps at once per memdumpd */
	CFG_MAX_WAIT,       /* seconds before a dump is given up */
	CFG_POLL_INTERVAL,  /* seconds */
	CFG_API_LISTEN,     /* unix:PATH or HOST:PORT */
	CFG_API_WORKERS,
	CFG_LOG_LEVEL,
	CFG_HOST_NAME,    /* memdumpd's name for itself in records; default: hostname */
	CFG_DISK_RESERVE, /* MiB memdumpd keeps free in DUMP_DIR beyond a dump's size */
	CFG_RECORD_TTL,   /* seconds a finished dump stays in Redis */
	/* access control (docs/security.md) */
	CFG_AUTH,              /* MEMDUMP_AUTH: local (default) or none */
	CFG_ACCOUNTS,          /* the accounts file */
	CFG_TRUST_REMOTE_USER, /* yes: the web server's REMOTE_USER is an identity */
	CFG_SESSION_IDLE,      /* seconds a dashboard session lives unused */
	CFG_SESSION_MAX,       /* seconds a dashboard session lives at most */
	CFG_COOKIE_SECURE,     /* auto|always|never: the session cookie's Secure */
	CFG_LOGIN_WINDOW,      /* seconds over which failed logins are counted */
	CFG_LOGIN_FAILURES_USER,
	CFG_LOGIN_FAILURES_ADDR,
	CFG_TRIGGER_RATE,    /* VMs one user may trigger per minute */
	CFG_USER_MAX_ACTIVE, /* queued + running dumps one user may have */
	CFG_AUDIT_SPOOL,     /* folder of audit events not yet in InfluxDB */
	CFG__MAX
};

/* Which programs use a key (for --help, -t and -c files shared by all three). */
enum config_prog {
	CFG_P_MEMDUMPD = 1u << 0,
	CFG_P_POLLER = 1u << 1,
	CFG_P_API = 1u << 2,
	CFG_P_TOOL = 1u << 3,
	CFG_P_ADMIN = 1u << 4, /* memdump-admin */
};

#define CONFIG_VALUE_MAX 4096
#define CONFIG_URLS_MAX 64

struct config;

/* New config holding the defaults (never fails). */
struct config *config_new(void);
void config_free(struct config *c);

/* Set one key by its name from a given origin ("environment", "f.conf:3");
 * ERR_NOT_FOUND for an unknown name, ERR_INVALID for a bad value. */
int config_set(struct config *c, const char *name, const char *value, const char *origin,
               struct err *e);
/* Every known key present in the environment. */
int config_load_env(struct config *c, struct err *e);
/* KEY=value lines; '#' comments and blank lines ignored. */
int config_load_file(struct config *c, const char *path, struct err *e);

/*
 * Pure parser of one config line (no I/O): returns 1 and fills key/value for a
 * setting, 0 for a blank or comment line, -1 (and e) for a malformed line.
 * Surrounding blanks are trimmed; the value may be wrapped in double quotes.
 */
int config_parse_line(const char *line, size_t len, char *key, size_t keycap, char *value,
                      size_t valcap, struct err *e);

/* defaults + environment + file (when not NULL); new, or NULL with e filled. */
struct config *config_load(const char *file, struct err *e);

const char *config_str(const struct config *c, enum config_key k); /* borrowed; "" if unset */
long long config_num(const struct config *c, enum config_key k);
bool config_is_set(const struct config *c, enum config_key k); /* secrets: non-empty */
/* MEMDUMP_SERVICE_URL split on commas, trailing '/' removed (borrowed). */
const char *const *config_service_urls(const struct config *c, size_t *n);
const char *config_key_name(enum config_key k);

/* The effective values of a program's keys, secrets masked (for -t). */
void config_print(const struct config *c, unsigned prog, FILE *out);

/*
 * The common command line: --help, -c FILE, -t. Returns a new config to run
 * with, or NULL with *exit_code set (0 after --help or a successful -t, 64 for a
 * usage error, 78 for a configuration error; the message has been printed).
 * *file_out (may be NULL) receives the -c path (borrowed from argv) for reloads.
 */
struct config *config_from_args(unsigned prog, const char *progname, const char *summary, int argc,
                                char **argv, const char **file_out, int *exit_code);

#endif
