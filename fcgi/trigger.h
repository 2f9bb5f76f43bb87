/*
 * trigger: the body of POST /trigger, parsed and validated (pure):
 *   {"vms": ["web-server", ...], "format": "elf"}   (format optional)
 * 1..TRIGGER_VMS_MAX names, each passing dump_vm_name_check, no duplicates,
 * no other members; format one of dump_format_name(). A struct trigger_req
 * owns its strings until trigger_req_release().
 */
#ifndef MEMDUMP_TRIGGER_H
#define MEMDUMP_TRIGGER_H

#include <stddef.h>

#include "err.h"

#define TRIGGER_VMS_MAX 64 /* names per trigger ("dump all" of a larger fleet: several calls) */
#define TRIGGER_JSON_DEPTH 4

enum trigger_result {
	TRIGGER_OK,
	TRIGGER_BAD_JSON,  /* not one JSON value: 400 invalid_json */
	TRIGGER_BAD_FIELD, /* JSON, but not a valid trigger: 422 invalid_field */
	TRIGGER_TOO_LARGE, /* body over the cap: 413 payload_too_large */
};

struct trigger_req {
	char *vms[TRIGGER_VMS_MAX];
	size_t n;
	char *format; /* NULL: memdumpd's default */
};

enum trigger_result trigger_parse(const char *body, size_t len, struct trigger_req *out,
                                  struct err *e);
void trigger_req_release(struct trigger_req *t);

#endif
