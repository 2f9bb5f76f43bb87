/*
 * stream: FIFO -> PATH.part -> SHA-256 (see stream.h).
 * DESIGN: the FIFO is opened O_RDONLY|O_NONBLOCK before libvirt is asked to dump,
 * so libvirt's open for writing never blocks. Linux reports POLLHUP on a FIFO only
 * after a writer has come and gone, so poll() tells "not yet" from "done". An
 * eventfd wakes the reader for cancel and for "libvirt returned". After a cancel
 * the reader keeps opening and closing the FIFO until libvirt's call returns, so a
 * writer that had not opened it yet cannot hang on open().
 * The reader only drains: splice() moves the FIFO's pages into PATH.part in the
 * kernel (no copy through user space), so the FIFO empties as fast as the page
 * cache takes it, never waiting for the hash (QEMU pauses the guest meanwhile). The
 * hasher follows behind, reading back from PATH.part (page cache) exactly the bytes
 * written, starting write-back every STREAM_WB_STEP so the final fdatasync() only
 * waits for the tail. The file is the buffer: memory stays one hash buffer.
 * THREADS: a reader and a hasher per stream; lock guards state, bytes is atomic.
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

#define STREAM_SPLICE (16u << 20)    /* most bytes one splice() may move */
#define STREAM_HASH_BUF (1u << 20)   /* the hasher's read-back buffer */
#define STREAM_WB_STEP (32ull << 20) /* start write-back of each 32 MiB hashed */

enum stream_state {
	STREAM_RUNNING, /* the reader is still draining the FIFO */
	STREAM_EOF,     /* every byte is in PATH.part; bytes is final */
	STREAM_FAILED,  /* the reader stopped early (reader_err) */
};

struct stream {
	char *fifo;
	char *final;
	char *part;
	int fifo_fd; /* the reader's; closed by it */
	int part_fd; /* the reader appends, the hasher preads and syncs */
	int wake_fd;
	pthread_t reader;
	pthread_t hasher;
	bool reader_started;
	bool hasher_started;
	bool committed;
	atomic_bool cancel;
	atomic_bool returned;
	atomic_ullong bytes; /* in PATH.part; grows under lock */
	pthread_mutex_t lock;
	pthread_cond_t moved; /* bytes grew, state changed or cancel */
	enum stream_state state;
	/* results, read after join */
	struct err reader_err;
	struct err hasher_err;
	int hasher_result; /* 0 ok, -1 hasher_err */
	char sha256[65];
};

static void stream_wake(struct stream *s)
{
	uint64_t one = 1;

	if (write(s->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("stream_wake", "errno=%d", errno);
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

static void stream_set_state(struct stream *s, enum stream_state state)
{
	pthread_mutex_lock(&s->lock);
	s->state = state;
	pthread_cond_broadcast(&s->moved);
	pthread_mutex_unlock(&s->lock);
}

/* Move what the FIFO holds into PATH.part: 1 moved, 0 end of data, -1 with errno
 * EAGAIN (nothing there yet) or s->reader_err. */
static int stream_move(struct stream *s)
{
	ssize_t n = splice(s->fifo_fd, NULL, s->part_fd, NULL, STREAM_SPLICE,
	                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

	if (n > 0) {
		pthread_mutex_lock(&s->lock);
		atomic_fetch_add(&s->bytes, (unsigned long long)n);
		pthread_cond_signal(&s->moved);
		pthread_mutex_unlock(&s->lock);
		return 1;
	}
	if (n == 0)
		return 0;
	if (errno == EAGAIN || errno == EINTR) {
		errno = EAGAIN;
		return -1;
	}
	err_set(&s->reader_err, ERR_IO, "moving the dump FIFO into %s failed: %s", s->part,
	        strerror(errno));
	errno = EIO;
	return -1;
}

static void *stream_reader(void *arg)
{
	struct stream *s = arg;
	enum stream_state end = STREAM_FAILED;
	bool eof = false;

	while (!eof) {
		struct pollfd p[2] = {{s->fifo_fd, POLLIN, 0}, {s->wake_fd, POLLIN, 0}};
		int m;

		if (atomic_load(&s->cancel)) {
			err_set(&s->reader_err, ERR_CONFLICT, "cancelled");
			goto out;
		}
		if (poll(p, 2, 1000) < 0) {
			if (errno == EINTR)
				continue;
			err_set(&s->reader_err, ERR_IO, "poll on the dump FIFO failed: %s",
			        strerror(errno));
			goto out;
		}
		if (p[1].revents & POLLIN) {
			uint64_t v;

			if (read(s->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("stream_wake_read", "errno=%d", errno);
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			m = stream_move(s);
			if (m < 0 && errno != EAGAIN)
				goto out;
			eof = m == 0;
			continue;
		}
		/* Nothing to read: libvirt returned without (more) data to come. */
		if (atomic_load(&s->returned)) {
			m = stream_move(s);
			if (m < 0 && errno != EAGAIN)
				goto out;
			eof = m != 1;
		}
	}
	if (atomic_load(&s->bytes) == 0) {
		err_set(&s->reader_err, ERR_IO, "no data arrived through the dump FIFO");
		goto out;
	}
	end = STREAM_EOF;
out:
	/* Closing the read end is what stops libvirt's iohelper (SIGPIPE). */
	close(s->fifo_fd);
	s->fifo_fd = -1;
	stream_set_state(s, end);
	if (end == STREAM_FAILED)
		stream_drain_writers(s);
	return NULL;
}

/* Hash PATH.part from *done up to avail, starting write-back behind; -1 (hasher_err). */
static int stream_hash_range(struct stream *s, EVP_MD_CTX *md, unsigned char *buf,
                             unsigned long long *done, unsigned long long *synced,
                             unsigned long long avail)
{
	while (*done < avail) {
		size_t want =
		    avail - *done < STREAM_HASH_BUF ? (size_t)(avail - *done) : STREAM_HASH_BUF;
		ssize_t n = pread(s->part_fd, buf, want, (off_t)*done);

		if (atomic_load(&s->cancel))
			return err_set(&s->hasher_err, ERR_CONFLICT, "cancelled");
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(&s->hasher_err, ERR_IO, "reading back %s failed: %s",
			               s->part, strerror(errno));
		if (n == 0)
			return err_set(&s->hasher_err, ERR_IO, "%s is shorter than written",
			               s->part);
		EVP_DigestUpdate(md, buf, (size_t)n);
		*done += (unsigned long long)n;
		if (*done - *synced >= STREAM_WB_STEP) {
			if (sync_file_range(s->part_fd, (off_t)*synced, (off_t)(*done - *synced),
			                    SYNC_FILE_RANGE_WRITE) < 0)
				log_debug("sync_file_range", "errno=%d", errno);
			*synced = *done;
		}
	}
	return 0;
}

static void *stream_hasher(void *arg)
{
	struct stream *s = arg;
	unsigned char *buf = xmalloc(STREAM_HASH_BUF);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	unsigned long long done = 0, synced = 0;

	s->hasher_result = -1;
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		err_set(&s->hasher_err, ERR_INTERNAL, "SHA-256 context could not be set up");
		goto out;
	}
	for (;;) {
		unsigned long long avail;
		enum stream_state state;

		pthread_mutex_lock(&s->lock);
		while ((avail = atomic_load(&s->bytes)) == done && s->state == STREAM_RUNNING &&
		       !atomic_load(&s->cancel))
			pthread_cond_wait(&s->moved, &s->lock);
		state = s->state;
		pthread_mutex_unlock(&s->lock);
		if (state == STREAM_FAILED)
			goto out; /* the reader's error is the one reported */
		if (atomic_load(&s->cancel)) {
			err_set(&s->hasher_err, ERR_CONFLICT, "cancelled");
			goto out;
		}
		if (avail == done)
			break; /* STREAM_EOF and every byte hashed */
		if (stream_hash_range(s, md, buf, &done, &synced, avail) < 0)
			goto out;
	}
	if (fdatasync(s->part_fd) < 0) {
		err_set(&s->hasher_err, ERR_IO, "fdatasync of %s failed: %s", s->part,
		        strerror(errno));
		goto out;
	}
	EVP_DigestFinal_ex(md, digest, &dlen);
	for (unsigned int i = 0; i < dlen && i < 32; i++)
		snprintf(s->sha256 + 2 * i, 3, "%02x", digest[i]);
	s->hasher_result = 0;
out:
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
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->moved, NULL);
	s->state = STREAM_RUNNING;
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
	s->part_fd = open(s->part, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->part_fd < 0) {
		err_set(e, ERR_IO, "creating %s failed: %s", s->part, strerror(errno));
		goto fail;
	}
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		err_set(e, ERR_IO, "eventfd failed: %s", strerror(errno));
		goto fail;
	}
	if (pthread_create(&s->hasher, NULL, stream_hasher, s) != 0) {
		err_set(e, ERR_INTERNAL, "cannot start the hasher thread");
		goto fail;
	}
	s->hasher_started = true;
	if (pthread_create(&s->reader, NULL, stream_reader, s) != 0) {
		err_set(e, ERR_INTERNAL, "cannot start the reader thread");
		goto fail;
	}
	s->reader_started = true;
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
	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->moved);
	pthread_mutex_unlock(&s->lock);
}

unsigned long long stream_bytes(struct stream *s)
{
	return atomic_load(&s->bytes);
}

/* Join both threads (idempotent). */
static void stream_join(struct stream *s)
{
	if (s->reader_started) {
		pthread_join(s->reader, NULL);
		s->reader_started = false;
	}
	if (s->hasher_started) {
		pthread_join(s->hasher, NULL);
		s->hasher_started = false;
	}
}

int stream_wait(struct stream *s, char sha256[65], unsigned long long *size, struct err *e)
{
	stream_join(s);
	if (s->state != STREAM_EOF || s->hasher_result < 0) {
		if (e != NULL)
			*e = s->state != STREAM_EOF ? s->reader_err : s->hasher_err;
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
	if (s->reader_started || s->hasher_started) {
		stream_cancel(s);
		atomic_store(&s->returned, true);
		stream_join(s);
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
	pthread_cond_destroy(&s->moved);
	pthread_mutex_destroy(&s->lock);
	free(s->fifo);
	free(s->final);
	free(s->part);
	free(s);
}
