/*
 * stream: FIFO -> SHA-256 -> PATH.part (see stream.h).
 * DESIGN: the FIFO is opened O_RDONLY|O_NONBLOCK before libvirt is asked to dump,
 * so libvirt's open for writing never blocks. Linux reports POLLHUP on a FIFO only
 * after a writer has come and gone, so poll() tells "not yet" from "done". An
 * eventfd wakes the reader for cancel and for "libvirt returned". After a cancel
 * the reader keeps opening and closing the FIFO until libvirt's call returns, so a
 * writer that had not opened it yet cannot hang on open().
 * THREADS: one reader thread per stream; counters are atomics.
 */
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "xmalloc.h"

#define STREAM_BUF (1u << 20)

struct stream {
	char *fifo;
	char *final;
	char *part;
	int fifo_fd;
	int part_fd;
	int wake_fd;
	pthread_t thread;
	bool thread_started;
	bool committed;
	atomic_bool cancel;
	atomic_bool returned;
	atomic_ullong bytes;
	/* results, read after join */
	int result; /* 0 ok, -1 error */
	struct err err;
	char sha256[65];
};

static void stream_wake(struct stream *s)
{
	uint64_t one = 1;

	if (write(s->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("stream_wake", "errno=%d", errno);
}

static int stream_write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Grow the pipe to the largest size an unprivileged process may set. */
static void stream_grow_pipe(int fd)
{
	char buf[32] = "";
	long max = 1 << 20;
	FILE *f = fopen("/proc/sys/fs/pipe-max-size", "re");

	if (f != NULL) {
		if (fgets(buf, sizeof(buf), f) != NULL)
			max = strtol(buf, NULL, 10);
		fclose(f);
	}
	if (max > 0 && fcntl(fd, F_SETPIPE_SZ, (int)max) < 0)
		log_debug("pipe_size", "wanted=%ld errno=%d", max, errno);
}

/* After a cancel: let a writer that is about to open the FIFO fail instead of hang. */
static void stream_drain_writers(struct stream *s)
{
	struct timespec ts = {0, 50 * 1000 * 1000};

	while (!atomic_load(&s->returned)) {
		int fd = open(s->fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

		if (fd >= 0)
			close(fd);
		nanosleep(&ts, NULL);
	}
}

/* Hash and keep n bytes just read from the FIFO; -1 (s->err) when the .part write fails. */
static int stream_take(struct stream *s, EVP_MD_CTX *md, const unsigned char *buf, size_t n)
{
	EVP_DigestUpdate(md, buf, n);
	if (stream_write_all(s->part_fd, buf, n) < 0)
		return err_set(&s->err, ERR_IO, "writing %s failed: %s", s->part, strerror(errno));
	atomic_fetch_add(&s->bytes, (unsigned long long)n);
	return 0;
}

static void *stream_reader(void *arg)
{
	struct stream *s = arg;
	unsigned char *buf = xmalloc(STREAM_BUF);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	bool eof = false;

	s->result = -1;
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		err_set(&s->err, ERR_INTERNAL, "SHA-256 context could not be set up");
		goto out;
	}
	while (!eof) {
		struct pollfd p[2] = {{s->fifo_fd, POLLIN, 0}, {s->wake_fd, POLLIN, 0}};
		ssize_t n;

		if (atomic_load(&s->cancel)) {
			err_set(&s->err, ERR_CONFLICT, "cancelled");
			goto out;
		}
		if (poll(p, 2, 1000) < 0) {
			if (errno == EINTR)
				continue;
			err_set(&s->err, ERR_IO, "poll on the dump FIFO failed: %s",
			        strerror(errno));
			goto out;
		}
		if (p[1].revents & POLLIN) {
			uint64_t v;

			if (read(s->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("stream_wake_read", "errno=%d", errno);
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(s->fifo_fd, buf, STREAM_BUF);
			if (n > 0) {
				if (stream_take(s, md, buf, (size_t)n) < 0)
					goto out;
				continue;
			}
			if (n == 0) {
				eof = true;
				continue;
			}
			if (errno != EAGAIN && errno != EINTR) {
				err_set(&s->err, ERR_IO, "reading the dump FIFO failed: %s",
				        strerror(errno));
				goto out;
			}
			continue;
		}
		/* Nothing to read: libvirt returned without (more) data to come. */
		if (atomic_load(&s->returned) && !(p[0].revents & POLLIN)) {
			n = read(s->fifo_fd, buf, STREAM_BUF);
			if (n > 0) {
				if (stream_take(s, md, buf, (size_t)n) < 0)
					goto out;
				continue;
			}
			eof = true;
		}
	}
	if (atomic_load(&s->bytes) == 0) {
		err_set(&s->err, ERR_IO, "no data arrived through the dump FIFO");
		goto out;
	}
	if (fsync(s->part_fd) < 0) {
		err_set(&s->err, ERR_IO, "fsync of %s failed: %s", s->part, strerror(errno));
		goto out;
	}
	EVP_DigestFinal_ex(md, digest, &dlen);
	for (unsigned int i = 0; i < dlen && i < 32; i++)
		snprintf(s->sha256 + 2 * i, 3, "%02x", digest[i]);
	s->result = 0;
out:
	/* Closing the read end is what stops libvirt's iohelper (SIGPIPE). */
	close(s->fifo_fd);
	s->fifo_fd = -1;
	if (s->result < 0)
		stream_drain_writers(s);
	EVP_MD_CTX_free(md);
	free(buf);
	return NULL;
}

struct stream *stream_new(const char *fifo_path, const char *final_path, struct err *e)
{
	struct stream *s = xcalloc(1, sizeof(*s));

	s->fifo = xstrdup(fifo_path);
	s->final = xstrdup(final_path);
	s->part = xasprintf("%s.part", final_path);
	s->fifo_fd = s->part_fd = s->wake_fd = -1;
	atomic_init(&s->cancel, false);
	atomic_init(&s->returned, false);
	atomic_init(&s->bytes, 0);
	if (unlink(s->fifo) < 0 && errno != ENOENT) {
		err_set(e, ERR_IO, "removing stale %s failed: %s", s->fifo, strerror(errno));
		goto fail;
	}
	if (mkfifo(s->fifo, 0600) < 0) {
		err_set(e, ERR_IO, "mkfifo %s failed: %s", s->fifo, strerror(errno));
		goto fail;
	}
	s->fifo_fd = open(s->fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (s->fifo_fd < 0) {
		err_set(e, ERR_IO, "opening %s failed: %s", s->fifo, strerror(errno));
		goto fail;
	}
	stream_grow_pipe(s->fifo_fd);
	s->part_fd = open(s->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->part_fd < 0) {
		err_set(e, ERR_IO, "creating %s failed: %s", s->part, strerror(errno));
		goto fail;
	}
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		err_set(e, ERR_IO, "eventfd failed: %s", strerror(errno));
		goto fail;
	}
	if (pthread_create(&s->thread, NULL, stream_reader, s) != 0) {
		err_set(e, ERR_INTERNAL, "cannot start the reader thread");
		goto fail;
	}
	s->thread_started = true;
	return s;
fail:
	stream_free(s);
	return NULL;
}

void stream_dump_returned(struct stream *s)
{
	atomic_store(&s->returned, true);
	stream_wake(s);
}

void stream_cancel(struct stream *s)
{
	atomic_store(&s->cancel, true);
	stream_wake(s);
}

unsigned long long stream_bytes(struct stream *s)
{
	return atomic_load(&s->bytes);
}

int stream_wait(struct stream *s, char sha256[65], unsigned long long *size, struct err *e)
{
	if (s->thread_started) {
		pthread_join(s->thread, NULL);
		s->thread_started = false;
	}
	if (s->result < 0) {
		if (e != NULL)
			*e = s->err;
		return -1;
	}
	memcpy(sha256, s->sha256, 65);
	*size = atomic_load(&s->bytes);
	return 0;
}

int stream_commit(struct stream *s, struct err *e)
{
	char *dir = xstrdup(s->final);
	int dfd, rc = -1;

	if (close(s->part_fd) < 0) {
		s->part_fd = -1;
		err_set(e, ERR_IO, "closing %s failed: %s", s->part, strerror(errno));
		goto out;
	}
	s->part_fd = -1;
	if (rename(s->part, s->final) < 0) {
		err_set(e, ERR_IO, "renaming %s failed: %s", s->part, strerror(errno));
		goto out;
	}
	s->committed = true;
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			log_warn("fsync_dir", "errno=%d", errno);
		close(dfd);
	}
	rc = 0;
out:
	free(dir);
	return rc;
}

void stream_free(struct stream *s)
{
	if (s == NULL)
		return;
	if (s->thread_started) {
		stream_cancel(s);
		atomic_store(&s->returned, true);
		pthread_join(s->thread, NULL);
	}
	if (s->fifo_fd >= 0)
		close(s->fifo_fd);
	if (s->part_fd >= 0)
		close(s->part_fd);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	if (unlink(s->fifo) < 0 && errno != ENOENT)
		log_warn("fifo_unlink", "path=%s errno=%d", log_q(s->fifo), errno);
	if (!s->committed && unlink(s->part) < 0 && errno != ENOENT)
		log_warn("part_unlink", "path=%s errno=%d", log_q(s->part), errno);
	free(s->fifo);
	free(s->final);
	free(s->part);
	free(s);
}
