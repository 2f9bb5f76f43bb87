/*
 * poller: the memdump-poller daemon loop (docs/poller.md). Holds the lease,
 * polls every memdumpd concurrently, merges (cycle.h) and writes Redis through
 * redis_store; backs off when Redis or a host is down, logging one line per
 * state change. Single-threaded; signals only set flags (SIGTERM/SIGINT: stop
 * and release the lease, SIGHUP: reload the configuration).
 */
#ifndef MEMDUMP_POLLER_POLLER_H
#define MEMDUMP_POLLER_POLLER_H

#include "config.h"

struct poller;

/* Steals cfg; file (borrowed, may be NULL) is re-read on SIGHUP. NULL (error
 * logged) when cfg's REDIS_URL cannot be parsed. */
struct poller *poller_new(struct config *cfg, const char *file);
void poller_free(struct poller *p);
/* Install the signal handlers (once, before poller_run). */
void poller_signals_install(void);
/* Run until SIGTERM/SIGINT; returns the exit status (0). */
int poller_run(struct poller *p);

#endif
