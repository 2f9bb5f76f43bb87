/*
 * audit_cmd: memdump-admin's side of the audit trail. audit_cmd_event records
 * one account change (user.add, token.revoke, ...) made by the person running
 * memdump-admin (SUDO_USER, else the login name), in a chain of its own for this
 * run: spooled in MEMDUMP_AUDIT_SPOOL, then sent to InfluxDB (left in the spool
 * for memdump-api to send when InfluxDB is down). audit_cmd_verify is
 * `memdump-admin audit verify [...]`: reads mem_dump_audit back and checks every
 * chain; returns the exit code (0 intact, 1 broken, 69 InfluxDB unavailable).
 */
#ifndef MEMDUMP_ADMIN_AUDIT_CMD_H
#define MEMDUMP_ADMIN_AUDIT_CMD_H

#include "config.h"
#include "err.h"

int audit_cmd_event(const struct config *cfg, const char *action, const char *target_user,
                    const char *detail, struct err *e);
int audit_cmd_verify(const struct config *cfg, int argc, char **argv);

#endif
