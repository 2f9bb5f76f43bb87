/*
 * err: the one error type of the project.
 *
 * Functions that can fail return 0 / -1 (or an enum) and fill a caller-supplied
 * struct err with a code and a human message. A NULL struct err is allowed: the
 * failure is then only signalled by the return value. No allocation, no threads;
 * err_errno() is the thread-safe strerror.
 */
#ifndef MEMDUMP_ERR_H
#define MEMDUMP_ERR_H

#include <stddef.h>

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
/* The text of errno value errnum, thread-safe (strerror_r): in buf (n bytes) or a
 * static string of the C library; never NULL. */
const char *err_errno(int errnum, char *buf, size_t n);
/* err_errno with a buffer that lives until the end of the enclosing block, for
 * use inside one call: err_set(e, ERR_IO, "open %s: %s", path, ERR_ERRNO(errno)). */
#define ERR_ERRNO_MAX 128
#define ERR_ERRNO(errnum) err_errno((errnum), (char[ERR_ERRNO_MAX]){0}, ERR_ERRNO_MAX)

/* Stable lowercase name of a code ("invalid", "not_found", ...), for JSON and logs. */
const char *err_code_name(enum err_code code);

#endif
