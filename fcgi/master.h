/*
 * master: the memdump-api parent process. It opens the FastCGI listening socket
 * (unix:PATH, mode 0660, or HOST:PORT), forks MEMDUMP_API_WORKERS workers and
 * keeps that many alive (respawning with a growing delay when they crash in a
 * loop). SIGHUP re-reads the configuration, starts a new generation of workers
 * and asks the old ones (SIGTERM) to finish their request and exit; SIGTERM or
 * SIGINT stops everything cleanly. Single-threaded; signals are taken
 * synchronously with sigtimedwait, so no handler runs in the master.
 */
#ifndef MEMDUMP_MASTER_H
#define MEMDUMP_MASTER_H

#include "config.h"

/* Takes ownership of cfg; cfg_file (may be NULL) is re-read on SIGHUP. Returns the
 * process exit status. */
int master_run(struct config *cfg, const char *cfg_file);

#endif
