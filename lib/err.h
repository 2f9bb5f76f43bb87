/*
 * err: the one error type of the project.
 *
 * Functions that can fail return 0 / -1 (or an enum) and fill a caller-supplied
 * struct err with a code and a human message. A NULL struct err is allowed: the
 * failure is then only signalled by the return value. No allocation, no threads.
 */
#ifndef MEMDUMP_ERR_H
#define MEMDUMP_ERR_H

enum err_code {
	ERR_OK = 0,
	ERR_INVALID,     /* bad input: syntax, type, range */
	ERR_NOT_FOUND,   /* the thing named does not exist */
	ERR_CONFLICT,    /* state forbids it (already running, already finished) */
	ERR_TOO_LARGE,   /* a cap was exceeded */
	ERR_UNSUPPORTED, /* well-formed but not supported (media type, format) */
	ERR_UNAVAILABLE, /* a dependency is down or unreachable */
	ERR_TIMEOUT,     /* a dependency did not answer in time */
	ERR_PROTOCOL,    /* a dependency answered something we cannot understand */
	ERR_NO_SPACE,    /* not enough disk space */
	ERR_IO,          /* local I/O failed */
	ERR_AUTH,        /* missing or wrong credentials */
	ERR_INTERNAL,    /* a bug or an impossible state */
	ERR__MAX
};

#define ERR_MSG_MAX 512

struct err {
	enum err_code code;
	char msg[ERR_MSG_MAX];
};

/* Fill e (if not NULL) with code and a printf-formatted message; returns -1. */
int err_set(struct err *e, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefix the existing message: "prefix: old message". */
void err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_clear(struct err *e);
/* Stable lowercase name of a code ("invalid", "not_found", ...), for JSON and logs. */
const char *err_code_name(enum err_code code);

#endif
