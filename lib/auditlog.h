/*
 * auditlog: one audit chain per process (an API worker, a memdump-admin run;
 * in lib/ because both link it).
 * It owns the chain id ("<hostname>-<pid>-<8 random hex>"), the next seq, the
 * previous hash and a disk spool in MEMDUMP_AUDIT_SPOOL (created 0700 if absent,
 * shared by every process of the web node; see lib/spool.h). auditlog_emit never
 * fails the caller: it writes one log line (event "audit") and spools the point
 * (file fsynced) before returning; the spool's sender thread delivers it. One
 * thread at a time per struct auditlog. After each event the chain's head (seq, hash)
 * goes to Redis (memdump:audit:head:<chain>), so a removed tail can be seen.
 */
#ifndef MEMDUMP_AUDITLOG_H
#define MEMDUMP_AUDITLOG_H

#include "audit.h"
#include "config.h"
#include "err.h"

struct auditlog;

/* cfg is borrowed (only read here). New, or NULL with e (spool folder unusable). */
struct auditlog *auditlog_new(const struct config *cfg, struct err *e);
void auditlog_free(struct auditlog *l);

void auditlog_emit(struct auditlog *l, const struct audit_event *ev);

/* The chain's id (borrowed) and the number of events emitted so far. */
const char *auditlog_chain(const struct auditlog *l);
long long auditlog_seq(const struct auditlog *l);

/* Wait (at most timeout_ms) until the spool has tried to send what it holds:
 * 0 when everything was accepted, else -1 with why (the points stay spooled). */
int auditlog_flush(struct auditlog *l, long timeout_ms, struct err *e);

#endif
