/*
 * virt: libvirt adapter (see virt.h).
 * DESIGN: one shared connection; virt_conn_get() hands out a reference (taken
 * under the mutex) and reconnects when the close callback has fired, at most once
 * per backoff step (1 s doubling to 30 s). The event loop thread runs
 * virEventRunDefaultImpl() until virt_free() wakes it with a zero timeout.
 * libvirt's own error printing is silenced; messages travel in struct err.
 * The close callback (run by libvirt under its own lock) only stores an atomic and
 * never takes the mutex, so unregistering it under the mutex cannot deadlock.
 */
#include "virt.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "xmalloc.h"

#define VIRT_BACKOFF_MIN_MS 1000
#define VIRT_BACKOFF_MAX_MS 30000

struct virt {
	char *uri;
	pthread_mutex_t lock;
	virConnectPtr conn; /* NULL when disconnected */
	/* the connection whose close callback fired; atomic so the callback (run by
	 * libvirt under its own lock) never takes v->lock: no lock-order deadlock */
	_Atomic(virConnectPtr) closed_conn;
	long long next_try_ms;
	long long backoff_ms;
	char last_error[256];
	pthread_t loop;
	atomic_bool stop;
};

static void virt_silent(void *opaque, virErrorPtr error)
{
	(void)opaque;
	(void)error;
}

static const char *virt_errmsg(void)
{
	const char *m = virGetLastErrorMessage();

	return m != NULL ? m : "unknown libvirt error";
}

int virt_uri_check(const char *uri, struct err *e)
{
	const char *sep = strstr(uri, "://");
	size_t scheme_len;

	if (sep == NULL)
		return err_set(e, ERR_INVALID, "'%s' is not a libvirt URI like qemu:///system",
		               uri);
	scheme_len = (size_t)(sep - uri);
	/* qemu:///system and qemu+unix:///system are local; any host or other transport is not */
	if ((memchr(uri, '+', scheme_len) != NULL &&
	     !(scheme_len > 5 && memcmp(sep - 5, "+unix", 5) == 0)) ||
	    sep[3] != '/')
		return err_set(e, ERR_INVALID,
		               "'%s' is a remote libvirt URI: memdumpd must run on the KVM host "
		               "it dumps (the FIFO and DUMP_DIR are local); use a local URI such "
		               "as qemu:///system or qemu:///session",
		               uri);
	return 0;
}

static void virt_close_cb(virConnectPtr conn, int reason, void *opaque)
{
	struct virt *v = opaque;

	atomic_store(&v->closed_conn, conn);
	log_warn("libvirt_closed", "reason=%d", reason);
}

static void *virt_loop(void *arg)
{
	struct virt *v = arg;

	while (!atomic_load(&v->stop)) {
		if (virEventRunDefaultImpl() < 0)
			log_error("libvirt_event_loop", "error=%s", log_q(virt_errmsg()));
	}
	return NULL;
}

static void virt_wake_cb(int timer, void *opaque)
{
	(void)opaque;
	virEventRemoveTimeout(timer);
}

/* With v->lock held: drop a closed connection, open one when due. */
static void virt_reconnect_locked(struct virt *v)
{
	virConnectPtr c;
	long long now = clock_monotonic_ms();

	if (v->conn != NULL && atomic_load(&v->closed_conn) == v->conn) {
		virConnectUnregisterCloseCallback(v->conn, virt_close_cb);
		virConnectClose(v->conn);
		v->conn = NULL;
		atomic_store(&v->closed_conn, NULL);
		snprintf(v->last_error, sizeof(v->last_error), "connection to %s lost", v->uri);
	}
	if (v->conn != NULL || now < v->next_try_ms)
		return;
	c = virConnectOpen(v->uri);
	if (c == NULL) {
		snprintf(v->last_error, sizeof(v->last_error), "%s", virt_errmsg());
		v->backoff_ms = v->backoff_ms == 0 ? VIRT_BACKOFF_MIN_MS : v->backoff_ms * 2;
		if (v->backoff_ms > VIRT_BACKOFF_MAX_MS)
			v->backoff_ms = VIRT_BACKOFF_MAX_MS;
		v->next_try_ms = now + v->backoff_ms;
		log_warn("libvirt_connect_failed", "uri=%s retry_ms=%lld error=%s", log_q(v->uri),
		         v->backoff_ms, log_q(v->last_error));
		return;
	}
	if (virConnectSetKeepAlive(c, 5, 3) < 0)
		log_warn("libvirt_keepalive", "error=%s", log_q(virt_errmsg()));
	if (virConnectRegisterCloseCallback(c, virt_close_cb, v, NULL) < 0)
		log_warn("libvirt_close_callback", "error=%s", log_q(virt_errmsg()));
	v->conn = c;
	atomic_store(&v->closed_conn, NULL);
	v->backoff_ms = 0;
	v->next_try_ms = 0;
	v->last_error[0] = '\0';
	log_info("libvirt_connected", "uri=%s", log_q(v->uri));
}

/* A new reference to the connection, or NULL with e (ERR_UNAVAILABLE). */
static virConnectPtr virt_conn_get(struct virt *v, struct err *e)
{
	virConnectPtr c = NULL;

	pthread_mutex_lock(&v->lock);
	virt_reconnect_locked(v);
	if (v->conn != NULL && virConnectRef(v->conn) == 0)
		c = v->conn;
	else
		err_set(e, ERR_UNAVAILABLE, "libvirt (%s) is unavailable: %s", v->uri,
		        v->last_error[0] ? v->last_error : "not connected");
	pthread_mutex_unlock(&v->lock);
	return c;
}

struct virt *virt_new(const char *uri)
{
	struct virt *v = xcalloc(1, sizeof(*v));

	v->uri = xstrdup(uri);
	pthread_mutex_init(&v->lock, NULL);
	atomic_init(&v->stop, false);
	virSetErrorFunc(NULL, virt_silent);
	if (virEventRegisterDefaultImpl() < 0)
		log_error("libvirt_event_impl", "error=%s", log_q(virt_errmsg()));
	if (pthread_create(&v->loop, NULL, virt_loop, v) != 0) {
		log_error("thread_create", "what=libvirt_event_loop");
		abort();
	}
	pthread_mutex_lock(&v->lock);
	virt_reconnect_locked(v);
	pthread_mutex_unlock(&v->lock);
	return v;
}

void virt_free(struct virt *v)
{
	virConnectPtr conn;

	if (v == NULL)
		return;
	pthread_mutex_lock(&v->lock);
	conn = v->conn;
	v->conn = NULL;
	pthread_mutex_unlock(&v->lock);
	if (conn != NULL) {
		virConnectUnregisterCloseCallback(conn, virt_close_cb);
		virConnectClose(conn);
	}
	atomic_store(&v->stop, true);
	virEventAddTimeout(0, virt_wake_cb, NULL, NULL);
	pthread_join(v->loop, NULL);
	pthread_mutex_destroy(&v->lock);
	free(v->uri);
	free(v);
}

static const char *virt_uri(void *self)
{
	const struct virt *v = self;

	return v->uri;
}

static bool virt_ok(void *self, char *err_buf, size_t cap)
{
	struct virt *v = self;
	bool ok;

	pthread_mutex_lock(&v->lock);
	virt_reconnect_locked(v);
	ok = v->conn != NULL && atomic_load(&v->closed_conn) != v->conn;
	if (!ok && err_buf != NULL)
		snprintf(err_buf, cap, "%s", v->last_error[0] ? v->last_error : "not connected");
	pthread_mutex_unlock(&v->lock);
	return ok;
}

static const char *const virt_state_names[VIR_DOMAIN_PMSUSPENDED + 1] = {
    [VIR_DOMAIN_NOSTATE] = "unknown",   [VIR_DOMAIN_RUNNING] = "running",
    [VIR_DOMAIN_BLOCKED] = "blocked",   [VIR_DOMAIN_PAUSED] = "paused",
    [VIR_DOMAIN_SHUTDOWN] = "shutdown", [VIR_DOMAIN_SHUTOFF] = "shutoff",
    [VIR_DOMAIN_CRASHED] = "crashed",   [VIR_DOMAIN_PMSUSPENDED] = "pmsuspended",
};

static const char *virt_state_name(int s)
{
	return (s >= 0 && s <= VIR_DOMAIN_PMSUSPENDED) ? virt_state_names[s] : "unknown";
}

static int virt_list(void *self, json_t **out, struct err *e)
{
	struct virt *v = self;
	virConnectPtr c;
	virDomainPtr *doms = NULL;
	int n, i, rc = -1;
	json_t *arr;

	*out = NULL;
	if ((c = virt_conn_get(v, e)) == NULL)
		return -1;
	n = virConnectListAllDomains(c, &doms, 0);
	if (n < 0) {
		err_set(e, ERR_UNAVAILABLE, "listing domains failed: %s", virt_errmsg());
		goto out;
	}
	arr = json_array();
	for (i = 0; i < n; i++) {
		char uuid[VIR_UUID_STRING_BUFLEN] = "";
		virDomainInfo info;
		const char *name = virDomainGetName(doms[i]);
		json_t *o;

		if (name == NULL || virDomainGetInfo(doms[i], &info) < 0)
			continue; /* undefined meanwhile */
		virDomainGetUUIDString(doms[i], uuid);
		o = json_object();
		json_object_set_new(o, "name", json_string(name));
		json_object_set_new(o, "uuid", json_string(uuid));
		json_object_set_new(o, "state", json_string(virt_state_name(info.state)));
		json_object_set_new(o, "memory_bytes",
		                    json_integer((json_int_t)info.maxMem * 1024));
		json_object_set_new(o, "vcpus", json_integer(info.nrVirtCpu));
		if (json_object_get(o, "name") != NULL)
			json_array_append_new(arr, o);
		else
			json_decref(o); /* not UTF-8: jansson refused the name */
	}
	*out = arr;
	rc = 0;
out:
	for (i = 0; i < n; i++)
		virDomainFree(doms[i]);
	free(doms);
	virConnectClose(c);
	return rc;
}

/* New domain reference or NULL with ERR_NOT_FOUND / ERR_UNAVAILABLE. */
static virDomainPtr virt_lookup(virConnectPtr c, const char *name, struct err *e)
{
	virDomainPtr d = virDomainLookupByName(c, name);
	virErrorPtr ve;

	if (d != NULL)
		return d;
	ve = virGetLastError();
	if (ve != NULL && ve->code == VIR_ERR_NO_DOMAIN)
		err_set(e, ERR_NOT_FOUND, "Domain not found: %s", name);
	else
		err_set(e, ERR_UNAVAILABLE, "looking up domain '%s' failed: %s", name,
		        virt_errmsg());
	return NULL;
}

static int virt_domain_memory(void *self, const char *name, unsigned long long *bytes,
                              struct err *e)
{
	struct virt *v = self;
	virConnectPtr c;
	virDomainPtr d;
	virDomainInfo info;
	int rc = -1;

	if ((c = virt_conn_get(v, e)) == NULL)
		return -1;
	if ((d = virt_lookup(c, name, e)) == NULL)
		goto out;
	if (virDomainGetInfo(d, &info) < 0) {
		err_set(e, ERR_UNAVAILABLE, "reading domain '%s' failed: %s", name, virt_errmsg());
	} else {
		*bytes = (unsigned long long)info.maxMem * 1024;
		rc = 0;
	}
	virDomainFree(d);
out:
	virConnectClose(c);
	return rc;
}

static const unsigned int virt_formats[DUMP_FMT__MAX] = {
    [DUMP_FMT_ELF] = VIR_DOMAIN_CORE_DUMP_FORMAT_RAW,
    [DUMP_FMT_KDUMP_ZLIB] = VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_ZLIB,
    [DUMP_FMT_KDUMP_LZO] = VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_LZO,
    [DUMP_FMT_KDUMP_SNAPPY] = VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_SNAPPY,
};

static int virt_dump(void *self, const char *name, const char *path, enum dump_format fmt,
                     struct err *e)
{
	struct virt *v = self;
	virConnectPtr c;
	virDomainPtr d;
	int rc = -1;

	if ((c = virt_conn_get(v, e)) == NULL)
		return -1;
	if ((d = virt_lookup(c, name, e)) == NULL)
		goto out;
	if (virDomainCoreDumpWithFormat(d, path, virt_formats[fmt], VIR_DUMP_MEMORY_ONLY) < 0)
		err_set(e, ERR_UNAVAILABLE, "%s", virt_errmsg());
	else
		rc = 0;
	virDomainFree(d);
out:
	virConnectClose(c);
	return rc;
}

static int virt_job_progress(void *self, const char *name, unsigned long long *processed,
                             unsigned long long *total)
{
	struct virt *v = self;
	virConnectPtr c;
	virDomainPtr d;
	virTypedParameterPtr params = NULL;
	int nparams = 0, type = 0, rc = -1;

	if ((c = virt_conn_get(v, NULL)) == NULL)
		return -1;
	if ((d = virt_lookup(c, name, NULL)) == NULL)
		goto out;
	if (virDomainGetJobStats(d, &type, &params, &nparams, 0) == 0 &&
	    type != VIR_DOMAIN_JOB_NONE &&
	    virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_MEMORY_PROCESSED, processed) ==
	        1 &&
	    virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_MEMORY_TOTAL, total) == 1)
		rc = 0;
	virTypedParamsFree(params, nparams);
	virDomainFree(d);
out:
	virConnectClose(c);
	return rc;
}

void virt_ops_init(struct virt_ops *ops, struct virt *v)
{
	ops->self = v;
	ops->ok = virt_ok;
	ops->uri = virt_uri;
	ops->list = virt_list;
	ops->domain_memory = virt_domain_memory;
	ops->dump = virt_dump;
	ops->job_progress = virt_job_progress;
}
