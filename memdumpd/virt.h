/*
 * virt: the only module that includes libvirt. It owns one connection to a local
 * hypervisor (LIBVIRT_URI), libvirt's default event loop on its own thread (for
 * keepalive and the close callback), and reconnects with backoff when the
 * connection drops. libvirt ownership, stated once: every virConnectPtr/virDomainPtr
 * obtained here is released here (virConnectClose/virDomainFree); callers only
 * pass names and get copies. Thread-safe: libvirt connections may be shared by
 * threads; the pointer itself is guarded by a mutex and reference-counted.
 */
#ifndef MEMDUMPD_VIRT_H
#define MEMDUMPD_VIRT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "dump.h"
#include "err.h"

struct virt;

/* Pure: 0 for a local URI (no host, no transport), else ERR_INVALID saying why. */
int virt_uri_check(const char *uri, struct err *e);

/* Starts the event loop thread and tries to connect (a failure is retried later). */
struct virt *virt_new(const char *uri);
void virt_free(struct virt *v);
const char *virt_uri(const struct virt *v); /* borrowed */

/* Connected now (reconnecting when due)? err_buf receives the last error when not. */
bool virt_ok(struct virt *v, char *err_buf, size_t cap);

/* New array of VM objects {"name","uuid","state","memory_bytes","vcpus"}. */
int virt_list(struct virt *v, json_t **out, struct err *e);
/* The guest's maximum memory; ERR_NOT_FOUND "Domain not found: NAME", ERR_UNAVAILABLE. */
int virt_domain_memory(struct virt *v, const char *name, unsigned long long *bytes, struct err *e);
/* Memory-only core dump to path (blocks until done); e holds libvirt's message. */
int virt_dump(struct virt *v, const char *name, const char *path, enum dump_format fmt,
              struct err *e);
/* The guest's current job: memory processed and total; -1 when there is none. */
int virt_job_progress(struct virt *v, const char *name, unsigned long long *processed,
                      unsigned long long *total);

#endif
