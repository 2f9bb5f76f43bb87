/*
 * dump: what a dump is, shared by all programs: its states, its formats, the
 * rules for dump ids and VM names, and how a VM name becomes a safe path
 * component. Pure functions (dump_id_new reads the kernel's random source).
 */
#ifndef MEMDUMP_DUMP_H
#define MEMDUMP_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "err.h"

enum dump_state {
	DUMP_QUEUED,
	DUMP_RUNNING,
	DUMP_COMPLETED,
	DUMP_FAILED,
	DUMP_CANCELLED,
	DUMP_STATE__MAX
};

const char *dump_state_name(enum dump_state s);
int dump_state_parse(const char *s, enum dump_state *out);
bool dump_state_is_final(enum dump_state s);
/* A state name that is a final state (NULL and unknown names are not). */
bool dump_state_name_is_final(const char *name);

/* Formats libvirt's virDomainCoreDumpWithFormat knows (memory-only). */
enum dump_format {
	DUMP_FMT_ELF,
	DUMP_FMT_KDUMP_ZLIB,
	DUMP_FMT_KDUMP_LZO,
	DUMP_FMT_KDUMP_SNAPPY,
	DUMP_FMT__MAX
};

const char *dump_format_name(enum dump_format f); /* "elf", "kdump-zlib", ... */
const char *dump_format_ext(enum dump_format f);  /* ".elf", ".kdump" */
/* ERR_INVALID naming the allowed formats when unknown. */
int dump_format_parse(const char *s, enum dump_format *out, struct err *e);

/* Dump ids: "20261122T183000Z-0123456789ab" (UTC creation time, 48 random bits). */
#define DUMP_ID_LEN 29
#define DUMP_ID_SIZE (DUMP_ID_LEN + 1)
void dump_id_new(char out[DUMP_ID_SIZE], time_t now);
int dump_id_check(const char *id, struct err *e);

/*
 * VM names: 1..DUMP_VM_NAME_MAX bytes of valid UTF-8, no control characters, no
 * '/' or '\\' (InfluxDB tags cannot carry every backslash), not "." or "..". libvirt allows more;
 * we refuse what we cannot handle safely everywhere (paths, URLs, Redis keys, logs).
 */
#define DUMP_VM_NAME_MAX 128
int dump_vm_name_check(const char *name, size_t len, struct err *e);

/*
 * User names (who requested a dump, the accounts file's names): 1..DUMP_USER_MAX
 * bytes of [A-Za-z0-9_.@-]. ERR_INVALID saying what is allowed.
 */
#define DUMP_USER_MAX 64
/* The project's one UTF-8 decoder step: the length of the valid UTF-8 sequence
 * at p (n >= 1 bytes left): 1..4, or 0 when invalid (truncated, overlong forms,
 * surrogates, above U+10FFFF). *cp (may be NULL) gets the code point. Any
 * Unicode scalar value is valid here, C0 and C1 controls included. */
size_t dump_utf8_seq(const unsigned char *p, size_t n, unsigned *cp);
/* dump_utf8_seq() that also refuses the C1 controls U+0080..U+009F (names). */
size_t dump_utf8_len(const unsigned char *p, size_t n);

int dump_user_check(const char *name, size_t len, struct err *e);

/* A filesystem-safe form of a valid VM name: bytes outside [A-Za-z0-9._-] become
 * '_', a leading '.' becomes '_'. out must hold DUMP_VM_NAME_MAX + 1 bytes. */
void dump_vm_path_component(const char *name, char *out);

#endif
