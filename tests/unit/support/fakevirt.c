/*
 * fakevirt: see fakevirt.h. The dump call runs on the runner's thread; a held
 * dump polls its FIFO for POLLERR (the reader closed it: a cancel) every 10 ms.
 */
#include "fakevirt.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "xmalloc.h"

#define FAKEVIRT_CHUNK (64u * 1024)
#define FAKEVIRT_VMS 16

struct fakevirt_vm {
	char name[64];
	int dumps;
	unsigned long long written; /* by the dump in progress, 0 when none */
	bool held;
};

struct fakevirt {
	struct virt_ops ops;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned long long memory_bytes;
	size_t dump_bytes;
	char hold_vm[64];
	size_t hold_after;
	bool released;
	struct fakevirt_vm vms[FAKEVIRT_VMS];
};

unsigned char fakevirt_byte(size_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13);
}

void fakevirt_sha256(size_t n, char out[65])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[4096], d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (size_t off = 0; off < n;) {
		size_t k = n - off < sizeof(buf) ? n - off : sizeof(buf);

		for (size_t i = 0; i < k; i++)
			buf[i] = fakevirt_byte(off + i);
		EVP_DigestUpdate(md, buf, k);
		off += k;
	}
	EVP_DigestFinal_ex(md, d, &dlen);
	EVP_MD_CTX_free(md);
	for (unsigned int i = 0; i < dlen; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* With the lock: vm's slot (made on first use). */
static struct fakevirt_vm *fakevirt_vm(struct fakevirt *f, const char *name)
{
	for (int i = 0; i < FAKEVIRT_VMS; i++) {
		if (f->vms[i].name[0] == '\0')
			snprintf(f->vms[i].name, sizeof(f->vms[i].name), "%s", name);
		if (strcmp(f->vms[i].name, name) == 0)
			return &f->vms[i];
	}
	abort();
}

static bool fakevirt_ok(void *self, char *err_buf, size_t cap)
{
	(void)self;
	if (err_buf != NULL && cap > 0)
		err_buf[0] = '\0';
	return true;
}

static const char *fakevirt_uri(void *self)
{
	(void)self;
	return "fake:///";
}

static int fakevirt_list(void *self, json_t **out, struct err *e)
{
	(void)self;
	(void)e;
	*out = json_array();
	return 0;
}

static int fakevirt_memory(void *self, const char *name, unsigned long long *bytes, struct err *e)
{
	struct fakevirt *f = self;

	if (strcmp(name, FAKEVIRT_MISSING) == 0)
		return err_set(e, ERR_NOT_FOUND, "Domain not found: %s", name);
	*bytes = f->memory_bytes;
	return 0;
}

/* Held: wait for the release; -1 when the FIFO's reader went away meanwhile. */
static int fakevirt_wait_release(struct fakevirt *f, struct fakevirt_vm *vm, int fd)
{
	struct timespec until;

	vm->held = true;
	pthread_cond_broadcast(&f->cond);
	while (!f->released) {
		struct pollfd p = {fd, POLLOUT, 0};

		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)) != 0) {
			vm->held = false;
			return -1;
		}
		until = clock_deadline_ms(10);
		pthread_cond_timedwait(&f->cond, &f->lock, &until);
	}
	vm->held = false;
	return 0;
}

static int fakevirt_dump(void *self, const char *name, const char *path, enum dump_format fmt,
                         struct err *e)
{
	struct fakevirt *f = self;
	struct fakevirt_vm *vm;
	unsigned char buf[FAKEVIRT_CHUNK];
	size_t off = 0, hold_at = (size_t)-1;
	int fd, rc = -1;

	(void)fmt;
	pthread_mutex_lock(&f->lock);
	vm = fakevirt_vm(f, name);
	vm->dumps++;
	vm->written = 0;
	if (strcmp(f->hold_vm, name) == 0)
		hold_at = f->hold_after;
	pthread_mutex_unlock(&f->lock);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, ERR_UNAVAILABLE, "fake: open %s: errno %d", path, errno);
	while (off < f->dump_bytes) {
		size_t k = f->dump_bytes - off < sizeof(buf) ? f->dump_bytes - off : sizeof(buf);
		ssize_t w;

		if (off < hold_at && off + k > hold_at)
			k = hold_at - off;
		if (off == hold_at) {
			pthread_mutex_lock(&f->lock);
			rc = fakevirt_wait_release(f, vm, fd);
			pthread_mutex_unlock(&f->lock);
			hold_at = (size_t)-1;
			if (rc < 0) {
				err_set(e, ERR_UNAVAILABLE, "fake: the FIFO was closed");
				goto out;
			}
			continue;
		}
		for (size_t i = 0; i < k; i++)
			buf[i] = fakevirt_byte(off + i);
		w = write(fd, buf, k);
		if (w <= 0) {
			err_set(e, ERR_UNAVAILABLE, "fake: write: errno %d", errno);
			goto out;
		}
		off += (size_t)w;
		pthread_mutex_lock(&f->lock);
		vm->written = off;
		pthread_mutex_unlock(&f->lock);
	}
	rc = 0;
out:
	close(fd);
	pthread_mutex_lock(&f->lock);
	vm->written = 0;
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int fakevirt_progress(void *self, const char *name, unsigned long long *processed,
                             unsigned long long *total)
{
	struct fakevirt *f = self;
	struct fakevirt_vm *vm;
	int rc = -1;

	pthread_mutex_lock(&f->lock);
	vm = fakevirt_vm(f, name);
	if (vm->written > 0) {
		*processed = vm->written;
		*total = f->dump_bytes;
		rc = 0;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

struct fakevirt *fakevirt_new(unsigned long long memory_bytes, size_t dump_bytes)
{
	struct fakevirt *f = xcalloc(1, sizeof(*f));

	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->memory_bytes = memory_bytes;
	f->dump_bytes = dump_bytes;
	f->ops.self = f;
	f->ops.ok = fakevirt_ok;
	f->ops.uri = fakevirt_uri;
	f->ops.list = fakevirt_list;
	f->ops.domain_memory = fakevirt_memory;
	f->ops.dump = fakevirt_dump;
	f->ops.job_progress = fakevirt_progress;
	return f;
}

void fakevirt_free(struct fakevirt *f)
{
	if (f == NULL)
		return;
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

const struct virt_ops *fakevirt_ops(struct fakevirt *f)
{
	return &f->ops;
}

void fakevirt_hold(struct fakevirt *f, const char *vm, size_t after)
{
	pthread_mutex_lock(&f->lock);
	snprintf(f->hold_vm, sizeof(f->hold_vm), "%s", vm != NULL ? vm : "");
	f->hold_after = after;
	f->released = false;
	pthread_mutex_unlock(&f->lock);
}

void fakevirt_release(struct fakevirt *f)
{
	pthread_mutex_lock(&f->lock);
	f->released = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

bool fakevirt_wait_held(struct fakevirt *f, const char *name, size_t bytes)
{
	struct timespec until = clock_deadline_ms(20000);
	struct fakevirt_vm *vm;
	bool ok;

	pthread_mutex_lock(&f->lock);
	vm = fakevirt_vm(f, name);
	while (!(vm->held && vm->written == bytes))
		if (pthread_cond_timedwait(&f->cond, &f->lock, &until) != 0)
			break;
	ok = vm->held && vm->written == bytes;
	pthread_mutex_unlock(&f->lock);
	return ok;
}

int fakevirt_dumps(struct fakevirt *f, const char *name)
{
	int n;

	pthread_mutex_lock(&f->lock);
	n = fakevirt_vm(f, name)->dumps;
	pthread_mutex_unlock(&f->lock);
	return n;
}
