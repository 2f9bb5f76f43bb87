/*
 * err: see err.h. Messages are truncated to ERR_MSG_MAX - 1 bytes.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const err_names[ERR__MAX] = {
    [ERR_OK] = "ok",
    [ERR_INVALID] = "invalid",
    [ERR_NOT_FOUND] = "not_found",
    [ERR_CONFLICT] = "conflict",
    [ERR_TOO_LARGE] = "too_large",
    [ERR_UNSUPPORTED] = "unsupported",
    [ERR_UNAVAILABLE] = "unavailable",
    [ERR_TIMEOUT] = "timeout",
    [ERR_PROTOCOL] = "protocol",
    [ERR_NO_SPACE] = "no_space",
    [ERR_IO] = "io",
    [ERR_AUTH] = "auth",
    [ERR_INTERNAL] = "internal",
};

int err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

void err_prefix(struct err *e, const char *fmt, ...)
{
	char prefix[ERR_MSG_MAX];
	char old[ERR_MSG_MAX];
	va_list ap;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	snprintf(e->msg, sizeof(e->msg), "%s: %s", prefix, old);
}

void err_clear(struct err *e)
{
	if (e == NULL)
		return;
	e->code = ERR_OK;
	e->msg[0] = '\0';
}

const char *err_code_name(enum err_code code)
{
	if (code < 0 || code >= ERR__MAX)
		return "internal";
	return err_names[code];
}

const char *err_errno(int errnum, char *buf, size_t n)
{
#if defined(_GNU_SOURCE)
	const char *m = strerror_r(errnum, buf, n); /* GNU: buf or a static string */

	return m != NULL ? m : "unknown error";
#else
	if (strerror_r(errnum, buf, n) != 0)
		snprintf(buf, n, "error %d", errnum);
	return buf;
#endif
}
