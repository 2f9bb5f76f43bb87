/*
 * fakevirt: a hypervisor for memdumpd's unit tests behind struct virt_ops. Its
 * dump writes a known byte pattern into the FIFO the runner made, in chunks, and
 * can stop after a number of bytes until released (so a test sees a dump
 * running, its progress, a cancel or a timeout), noticing a closed FIFO as
 * libvirt's iohelper does (EPIPE: the dump call fails). job_progress reports
 * the bytes written so far. Thread-safe (one mutex); owned by the test.
 */
#ifndef MEMDUMP_TEST_FAKEVIRT_H
#define MEMDUMP_TEST_FAKEVIRT_H

#include <stdbool.h>
#include <stddef.h>

#include "../../../memdumpd/virt.h"

struct fakevirt;

/* Every VM has memory_bytes of memory and dumps dump_bytes bytes (the pattern). */
struct fakevirt *fakevirt_new(unsigned long long memory_bytes, size_t dump_bytes);
void fakevirt_free(struct fakevirt *f);
/* The ops over f (f must outlive their users). */
const struct virt_ops *fakevirt_ops(struct fakevirt *f);
/* Dumps of vm stop after `after` bytes until fakevirt_release (NULL: none hold). */
void fakevirt_hold(struct fakevirt *f, const char *vm, size_t after);
void fakevirt_release(struct fakevirt *f);
/* Wait (at most 20 s) until a dump of vm has written `bytes` bytes and holds. */
bool fakevirt_wait_held(struct fakevirt *f, const char *vm, size_t bytes);
/* Dump calls made for vm so far. */
int fakevirt_dumps(struct fakevirt *f, const char *vm);
/* A VM that does not exist (domain_memory says ERR_NOT_FOUND). */
#define FAKEVIRT_MISSING "no-such-vm"

/* The pattern's byte i, and its SHA-256 over n bytes (lowercase hex). */
unsigned char fakevirt_byte(size_t i);
void fakevirt_sha256(size_t n, char out[65]);

#endif
