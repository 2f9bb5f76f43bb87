/*
 * audit_cmd: placeholder so branch wt-a links; the real module (spool, InfluxDB,
 * chain verification) is written on another branch and replaces this file at
 * merge. Both functions fail with "audit support is not merged yet".
 */
#include "audit_cmd.h"

#include <stdio.h>

int admin_audit_event(const struct config *cfg, const char *action, const char *target_user,
                      const char *detail, struct err *e)
{
	(void)cfg;
	(void)action;
	(void)target_user;
	(void)detail;
	return err_set(e, ERR_UNSUPPORTED, "audit support is not merged yet");
}

int admin_audit_verify(const struct config *cfg, int argc, char **argv)
{
	(void)cfg;
	(void)argc;
	(void)argv;
	fprintf(stderr, "memdump-admin: audit verify: audit support is not merged yet\n");
	return 1;
}
