/*
 * dump: see dump.h.
 */
#include "dump.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static const char *const dump_state_names[DUMP_STATE__MAX] = {
    [DUMP_QUEUED] = "queued", [DUMP_RUNNING] = "running",     [DUMP_COMPLETED] = "completed",
    [DUMP_FAILED] = "failed", [DUMP_CANCELLED] = "cancelled",
};

static const char *const dump_format_names[DUMP_FMT__MAX] = {
    [DUMP_FMT_ELF] = "elf",
    [DUMP_FMT_KDUMP_ZLIB] = "kdump-zlib",
    [DUMP_FMT_KDUMP_LZO] = "kdump-lzo",
    [DUMP_FMT_KDUMP_SNAPPY] = "kdump-snappy",
};

const char *dump_state_name(enum dump_state s)
{
	return (s >= 0 && s < DUMP_STATE__MAX) ? dump_state_names[s] : "unknown";
}

int dump_state_parse(const char *s, enum dump_state *out)
{
	for (int i = 0; i < DUMP_STATE__MAX; i++) {
		if (strcmp(s, dump_state_names[i]) == 0) {
			*out = (enum dump_state)i;
			return 0;
		}
	}
	return -1;
}

bool dump_state_is_final(enum dump_state s)
{
	return s == DUMP_COMPLETED || s == DUMP_FAILED || s == DUMP_CANCELLED;
}

bool dump_state_name_is_final(const char *name)
{
	enum dump_state s;

	return name != NULL && dump_state_parse(name, &s) == 0 && dump_state_is_final(s);
}

const char *dump_format_name(enum dump_format f)
{
	return (f >= 0 && f < DUMP_FMT__MAX) ? dump_format_names[f] : "unknown";
}

const char *dump_format_ext(enum dump_format f)
{
	return f == DUMP_FMT_ELF ? ".elf" : ".kdump";
}

int dump_format_parse(const char *s, enum dump_format *out, struct err *e)
{
	for (int i = 0; i < DUMP_FMT__MAX; i++) {
		if (strcmp(s, dump_format_names[i]) == 0) {
			*out = (enum dump_format)i;
			return 0;
		}
	}
	return err_set(e, ERR_INVALID,
	               "unknown format '%.32s'; allowed: elf, kdump-zlib, kdump-lzo, kdump-snappy",
	               s);
}

void dump_id_new(char out[DUMP_ID_SIZE], time_t now)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[6] = {0};
	struct tm tm;
	size_t got = 0;

	while (got < sizeof(rnd)) {
		ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);

		if (n > 0)
			got += (size_t)n;
	}
	gmtime_r(&now, &tm);
	snprintf(out, DUMP_ID_SIZE, "%04d%02d%02dT%02d%02d%02dZ-", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	for (size_t i = 0; i < sizeof(rnd); i++) {
		out[17 + 2 * i] = hex[rnd[i] >> 4];
		out[17 + 2 * i + 1] = hex[rnd[i] & 15];
	}
	out[DUMP_ID_LEN] = '\0';
}

int dump_id_check(const char *id, struct err *e)
{
	size_t len = strnlen(id, DUMP_ID_LEN + 1);

	if (len != DUMP_ID_LEN)
		goto bad;
	for (size_t i = 0; i < DUMP_ID_LEN; i++) {
		char c = id[i];
		bool ok;

		if (i < 8 || (i > 8 && i < 15))
			ok = c >= '0' && c <= '9';
		else if (i == 8)
			ok = c == 'T';
		else if (i == 15)
			ok = c == 'Z';
		else if (i == 16)
			ok = c == '-';
		else
			ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
		if (!ok)
			goto bad;
	}
	return 0;
bad:
	return err_set(e, ERR_INVALID,
	               "malformed dump id; expected YYYYMMDDTHHMMSSZ-xxxxxxxxxxxx (12 hex digits)");
}

size_t dump_utf8_seq(const unsigned char *p, size_t n, unsigned *cpp)
{
	size_t len;
	unsigned cp;

	if (p[0] < 0x80) {
		len = 1;
		cp = p[0];
		goto done;
	}
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
done:
	if (cpp != NULL)
		*cpp = cp;
	return len;
}

size_t dump_utf8_len(const unsigned char *p, size_t n)
{
	unsigned cp;
	size_t len = dump_utf8_seq(p, n, &cp);

	if (len != 0 && cp >= 0x80 && cp < 0xa0)
		return 0;
	return len;
}

int dump_vm_name_check(const char *name, size_t len, struct err *e)
{
	const unsigned char *p = (const unsigned char *)name;

	if (len == 0)
		return err_set(e, ERR_INVALID, "empty VM name");
	if (len > DUMP_VM_NAME_MAX)
		return err_set(e, ERR_INVALID, "VM name of %zu bytes exceeds the limit of %d bytes",
		               len, DUMP_VM_NAME_MAX);
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return err_set(e, ERR_INVALID, "VM name may not be '.' or '..'");
	for (size_t i = 0; i < len;) {
		size_t n;

		if (p[i] == '/' || p[i] == '\\')
			return err_set(e, ERR_INVALID, "VM name may not contain '%c'", p[i]);
		if (p[i] < 0x20 || p[i] == 0x7f)
			return err_set(
			    e, ERR_INVALID,
			    "VM name may not contain control characters (byte 0x%02x at %zu)", p[i],
			    i);
		n = dump_utf8_len(p + i, len - i);
		if (n == 0)
			return err_set(e, ERR_INVALID, "VM name is not valid UTF-8 (at byte %zu)",
			               i);
		i += n;
	}
	return 0;
}

int dump_user_check(const char *name, size_t len, struct err *e)
{
	if (len == 0 || len > DUMP_USER_MAX)
		return err_set(e, ERR_INVALID, "a user name has 1 to %d characters, not %zu",
		               DUMP_USER_MAX, len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '@' || c == '-'))
			return err_set(e, ERR_INVALID,
			               "a user name may hold only A-Z a-z 0-9 _ . @ - (byte 0x%02x "
			               "at %zu)",
			               c, i);
	}
	return 0;
}

void dump_vm_path_component(const char *name, char *out)
{
	size_t i;

	for (i = 0; name[i] != '\0' && i < DUMP_VM_NAME_MAX; i++) {
		unsigned char c = (unsigned char)name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';

		out[i] = ok ? (char)c : '_';
	}
	if (i > 0 && out[0] == '.')
		out[0] = '_';
	out[i] = '\0';
}
