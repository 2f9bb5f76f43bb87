/*
 * virt: the hypervisor interface (struct virt_ops) and its libvirt implementation,
 * the only module that includes libvirt. It owns one connection to a local
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

/*
 * virt_ops: what the rest of memdumpd asks of a hypervisor, as a table of
 * functions over an opaque self, so that tests can put a fake in its place.
 * virt_ops_init() gives the libvirt one below; the same contracts hold for any.
 */
struct virt_ops {
	void *self;
	/* Connected now (reconnecting when due)? err_buf (may be NULL) gets the last error. */
	bool (*ok)(void *self, char *err_buf, size_t cap);
	const char *(*uri)(void *self); /* borrowed */
	/* New array of VM objects {"name","uuid","state","memory_bytes","vcpus"}. */
	int (*list)(void *self, json_t **out, struct err *e);
	/* The guest's maximum memory; ERR_NOT_FOUND "Domain not found: NAME", ERR_UNAVAILABLE. */
	int (*domain_memory)(void *self, const char *name, unsigned long long *bytes,
	                     struct err *e);
	/* Memory-only core dump written to path (a FIFO); blocks until done. */
	int (*dump)(void *self, const char *name, const char *path, enum dump_format fmt,
	            struct err *e);
	/* The guest's current job: memory processed and total; -1 when there is none. */
	int (*job_progress)(void *self, const char *name, unsigned long long *processed,
	                    unsigned long long *total);
};

/* Pure: 0 for a local URI (no host, no transport), else ERR_INVALID saying why. */
int virt_uri_check(const char *uri, struct err *e);

/* Starts the event loop thread and tries to connect (a failure is retried later). */
struct virt *virt_new(const char *uri);
void virt_free(struct virt *v);
/* Fill ops with the libvirt implementation over v (borrowed). */
void virt_ops_init(struct virt_ops *ops, struct virt *v);

#endif
