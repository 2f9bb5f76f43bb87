/*
 * stream: one dump's byte path. It creates a FIFO (0600) for libvirt to write the
 * dump into; a reader thread drains it into a bounded ring (8 MiB), a writer thread
 * writes the ring to PATH.part (0600) and fdatasyncs it at EOF, and a hasher thread
 * computes SHA-256 (OpenSSL EVP) of the same bytes; stream_commit() renames the part
 * to PATH. Cancel closes the FIFO so libvirt's iohelper receives SIGPIPE and the dump
 * stops at once (the guest keeps running). The creating thread owns the stream and
 * its threads; stream_cancel() and stream_bytes() may be called from any thread.
 */
#ifndef MEMDUMPD_STREAM_H
#define MEMDUMPD_STREAM_H

#include <stdbool.h>

#include "err.h"

struct stream;

/* Make FIFO and PATH.part (both must not exist... a stale FIFO is replaced) and start
 * reading. New, or NULL with e (ERR_IO). */
struct stream *stream_new(const char *fifo_path, const char *final_path, struct err *e);
/* libvirt's dump call has returned: no writer will come any more. */
void stream_dump_returned(struct stream *s);
/* Stop reading now (idempotent, any thread). */
void stream_cancel(struct stream *s);
unsigned long long stream_bytes(struct stream *s);
/* Wait for both threads; 0 with the hash and size when every byte up to EOF was
 * written, hashed and synced, -1 with e otherwise (cancelled, write error, no data). */
int stream_wait(struct stream *s, char sha256[65], unsigned long long *size, struct err *e);
/* Rename PATH.part to PATH and sync the folder; after stream_wait() returned 0. */
int stream_commit(struct stream *s, struct err *e);
/* Stop, remove the FIFO and (unless committed) PATH.part, free. NULL is fine. */
void stream_free(struct stream *s);

#endif
