/*
 * atomicfile: files replaced atomically and durably, for the spool and
 * memdumpd's journal: write DIR/.NAME.tmp (mode 0600), fsync it, rename it to
 * DIR/NAME, fsync DIR. A crash leaves either the old file or the new one, plus
 * at most a stale ".NAME.tmp" that the owner of the folder sweeps. No state, no
 * threads; calls on different names may run concurrently.
 */
#ifndef MEMDUMP_ATOMICFILE_H
#define MEMDUMP_ATOMICFILE_H

#include <stddef.h>

#include "err.h"

/* As root, give the new file to the owner of dir (when that is not root), so that
 * unprivileged processes sharing the folder can read it. */
#define ATOMICFILE_DIR_OWNER 1u

/* Write data to dir/name atomically (see above); flags: ATOMICFILE_*. ERR_IO. */
int atomicfile_write(const char *dir, const char *name, const char *data, size_t len,
                     unsigned flags, struct err *e);
/* Make a rename in folder dir durable (fsync the folder; a failure is logged). */
void atomicfile_sync_dir(const char *dir);
/* Create path as a folder with mode 0700 if missing; refuse a non-folder. ERR_IO. */
int atomicfile_mkdir(const char *path, struct err *e);

#endif
