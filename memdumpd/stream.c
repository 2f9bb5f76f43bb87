/*
 * stream: FIFO -> ring of buffers -> PATH.part and SHA-256 (see stream.h).
 * DESIGN: the FIFO is opened O_RDONLY|O_NONBLOCK before libvirt is asked to dump,
 * so libvirt's open for writing never blocks. Linux reports POLLHUP on a FIFO only
 * after a writer has come and gone, so poll() tells "not yet" from "done". An
 * eventfd wakes the reader for cancel and for "libvirt returned". After a cancel
 * the reader keeps opening and closing the FIFO until libvirt's call returns, so a
 * writer that had not opened it yet cannot hang on open().
 * QEMU pauses the guest until the FIFO is drained, so the reader only read()s into
 * a ring of STREAM_SLOTS buffers; a writer thread write()s each full slot to
 * PATH.part while a hasher thread hashes the same slot; a slot is reused once both
 * are done with it. The writer uses O_DIRECT where the filesystem has it: slots are
 * page-aligned and full (1 MiB) until the last, so the bytes go from the ring to the
 * disk without a copy into the page cache and without dirty pages for the final
 * fdatasync() to wait for (on 2 cores that copy and the write-back cost more than
 * the disk). The last, partial slot (and everything, where O_DIRECT is refused) is
 * written through the page cache, with write-back started every STREAM_WB_STEP.
 * (splice() into the file was measured slower: it holds the FIFO's lock while the
 * page cache is written, so libvirt's iohelper cannot refill the FIFO meanwhile.)
 *
 * THREADS: reader, writer, hasher per stream; lock guards the ring counters and
 * states; bytes (written to PATH.part) is atomic for progress.
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

#include "atomicfile.h"
#include "journal.h"
#include "log.h"
#include "xmalloc.h"

#define STREAM_SLOT (1u << 20)       /* one ring buffer: the FIFO's size */
#define STREAM_SLOTS 8               /* 8 MiB in flight per dump at most */
#define STREAM_WB_STEP (32ull << 20) /* buffered: start write-back of each 32 MiB */
#define STREAM_ALIGN 4096u           /* O_DIRECT: memory, length and offset */

enum stream_state {
	STREAM_RUNNING, /* still working */
	STREAM_EOF,     /* reader: every byte is in the ring; writer: in PATH.part, synced */
	STREAM_FAILED,  /* stopped early (its err) */
};

struct stream {
	char *fifo;
	char *final;
	char *part;
	int fifo_fd; /* the reader's; closed by it */
	int part_fd; /* the writer's until join */
	bool direct; /* part_fd has O_DIRECT (the writer's) */
	int wake_fd;
	pthread_t reader;
	pthread_t writer;
	pthread_t hasher;
	bool reader_started;
	bool writer_started;
	bool hasher_started;
	bool committed;
	atomic_bool cancel;
	atomic_bool returned;
	atomic_ullong bytes; /* written to PATH.part */
	EVP_MD_CTX *md;      /* the hasher's */
	unsigned char *ring; /* STREAM_SLOTS * STREAM_SLOT */
	size_t len[STREAM_SLOTS];
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a counter or a state changed, or cancel */
	/* under lock: slot sequence numbers (slot = seq % STREAM_SLOTS) */
	unsigned long long filled;
	unsigned long long written;
	unsigned long long hashed;
	enum stream_state reader_state;
	enum stream_state writer_state;
	/* results, read after join */
	struct err reader_err;
	struct err writer_err;
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

/* True (under lock) when the stream must stop: cancel, or the writer failed. */
static bool stream_stopping(struct stream *s)
{
	return atomic_load(&s->cancel) || s->writer_state == STREAM_FAILED;
}

/* Reader: wait for a free slot; false when the stream stops instead. */
static bool stream_slot_free(struct stream *s)
{
	bool ok;

	pthread_mutex_lock(&s->lock);
	while (!stream_stopping(s) &&
	       s->filled - (s->written < s->hashed ? s->written : s->hashed) >= STREAM_SLOTS)
		pthread_cond_wait(&s->changed, &s->lock);
	ok = !stream_stopping(s);
	pthread_mutex_unlock(&s->lock);
	return ok;
}

static void stream_slot_publish(struct stream *s, size_t n)
{
	pthread_mutex_lock(&s->lock);
	s->len[s->filled % STREAM_SLOTS] = n;
	s->filled++;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

/* Writer and hasher: wait until slot *seq is full; 1 yes, 0 the reader reached EOF
 * and every slot is done, -1 the stream stops (cancel, reader or writer failed). */
static int stream_slot_next(struct stream *s, unsigned long long seq)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	while (seq == s->filled && s->reader_state == STREAM_RUNNING && !stream_stopping(s))
		pthread_cond_wait(&s->changed, &s->lock);
	if (stream_stopping(s) || s->reader_state == STREAM_FAILED)
		rc = -1;
	else
		rc = seq < s->filled ? 1 : 0;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void stream_slot_done(struct stream *s, unsigned long long *seq)
{
	pthread_mutex_lock(&s->lock);
	(*seq)++;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

static void stream_set_state(struct stream *s, enum stream_state *state, enum stream_state v)
{
	pthread_mutex_lock(&s->lock);
	*state = v;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

/* Read what the FIFO holds into slot memory p (room bytes): bytes read, 0 end of data,
 * -1 with errno EAGAIN (nothing there yet) or s->reader_err. */
static ssize_t stream_read(struct stream *s, unsigned char *p, size_t room)
{
	ssize_t n = read(s->fifo_fd, p, room);

	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EINTR) {
		errno = EAGAIN;
		return -1;
	}
	err_set(&s->reader_err, ERR_IO, "reading the dump FIFO failed: %s", ERR_ERRNO(errno));
	errno = EIO;
	return -1;
}

static void *stream_reader(void *arg)
{
	struct stream *s = arg;
	enum stream_state end = STREAM_FAILED;
	unsigned long long total = 0;
	size_t fill = 0;
	bool eof = false;

	while (!eof) {
		struct pollfd p[2] = {{s->fifo_fd, POLLIN, 0}, {s->wake_fd, POLLIN, 0}};
		unsigned char *slot;
		ssize_t n;

		if (fill == 0 && !stream_slot_free(s)) {
			err_set(&s->reader_err, ERR_CONFLICT, "cancelled"); /* or writer failed */
			goto out;
		}
		if (atomic_load(&s->cancel)) {
			err_set(&s->reader_err, ERR_CONFLICT, "cancelled");
			goto out;
		}
		if (poll(p, 2, 1000) < 0) {
			if (errno == EINTR)
				continue;
			err_set(&s->reader_err, ERR_IO, "poll on the dump FIFO failed: %s",
			        ERR_ERRNO(errno));
			goto out;
		}
		if (p[1].revents & POLLIN) {
			uint64_t v;

			if (read(s->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("stream_wake_read", "errno=%d", errno);
		}
		/* Nothing to read and libvirt returned: no (more) data to come. */
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !atomic_load(&s->returned))
			continue;
		slot = s->ring + (size_t)(s->filled % STREAM_SLOTS) * STREAM_SLOT;
		n = stream_read(s, slot + fill, STREAM_SLOT - fill);
		if (n < 0 && errno != EAGAIN)
			goto out;
		if (n > 0) {
			fill += (size_t)n;
			total += (unsigned long long)n;
			if (fill == STREAM_SLOT) {
				stream_slot_publish(s, fill);
				fill = 0;
			}
			continue;
		}
		/* 0 is the end; EAGAIN after libvirt returned too (no writer ever came). */
		eof = n == 0 || !(p[0].revents & (POLLIN | POLLHUP | POLLERR));
	}
	if (fill > 0)
		stream_slot_publish(s, fill);
	if (total == 0) {
		err_set(&s->reader_err, ERR_IO, "no data arrived through the dump FIFO");
		goto out;
	}
	end = STREAM_EOF;
out:
	/* Closing the read end is what stops libvirt's iohelper (SIGPIPE). */
	close(s->fifo_fd);
	s->fifo_fd = -1;
	stream_set_state(s, &s->reader_state, end);
	if (end == STREAM_FAILED)
		stream_drain_writers(s);
	return NULL;
}

/* Buffered from now on (the tail, or a filesystem that refuses O_DIRECT I/O). */
static void stream_direct_off(struct stream *s)
{
	int fl = fcntl(s->part_fd, F_GETFL);

	if (fl < 0 || fcntl(s->part_fd, F_SETFL, fl & ~O_DIRECT) < 0)
		log_warn("direct_io_off", "errno=%d", errno); /* then buffered writes fail */
	s->direct = false;
}

/* Write one slot at the end of PATH.part: 0, or -1 with errno. Under O_DIRECT only
 * whole STREAM_ALIGN blocks go direct; a remainder, or a filesystem whose I/O refuses
 * O_DIRECT although fcntl() took it (EINVAL before any byte), continues buffered. */
static int stream_write_slot(struct stream *s, const unsigned char *p, size_t n)
{
	while (n > 0) {
		size_t want = n;
		ssize_t w;

		if (s->direct && n % STREAM_ALIGN != 0)
			want = n - n % STREAM_ALIGN;
		if (want == 0) {
			stream_direct_off(s);
			continue;
		}
		w = write(s->part_fd, p, want);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EINVAL && s->direct) {
				log_info("direct_io_refused", "path=%s", log_q(s->part));
				stream_direct_off(s);
				continue;
			}
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *stream_writer(void *arg)
{
	struct stream *s = arg;
	enum stream_state end = STREAM_FAILED;
	unsigned long long seq = 0, off = 0, synced = 0;
	int next;

	while ((next = stream_slot_next(s, seq)) == 1) {
		size_t i = (size_t)(seq % STREAM_SLOTS);

		if (stream_write_slot(s, s->ring + i * STREAM_SLOT, s->len[i]) < 0) {
			err_set(&s->writer_err, ERR_IO, "writing %s failed: %s", s->part,
			        ERR_ERRNO(errno));
			goto out;
		}
		off += s->len[i];
		atomic_store(&s->bytes, off);
		stream_slot_done(s, &s->written);
		seq++;
		if (s->direct) {
			synced = off;
		} else if (off - synced >= STREAM_WB_STEP) {
			if (sync_file_range(s->part_fd, (off_t)synced, (off_t)(off - synced),
			                    SYNC_FILE_RANGE_WRITE) < 0)
				log_debug("sync_file_range", "errno=%d", errno);
			synced = off;
		}
	}
	if (next < 0) {
		err_set(&s->writer_err, ERR_CONFLICT, "cancelled");
		goto out;
	}
	if (fdatasync(s->part_fd) < 0) {
		err_set(&s->writer_err, ERR_IO, "fdatasync of %s failed: %s", s->part,
		        ERR_ERRNO(errno));
		goto out;
	}
	end = STREAM_EOF;
out:
	stream_set_state(s, &s->writer_state, end);
	return NULL;
}

static void *stream_hasher(void *arg)
{
	struct stream *s = arg;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	unsigned long long seq = 0;
	int next;

	s->hasher_result = -1;
	while ((next = stream_slot_next(s, seq)) == 1) {
		size_t i = (size_t)(seq % STREAM_SLOTS);

		EVP_DigestUpdate(s->md, s->ring + i * STREAM_SLOT, s->len[i]);
		stream_slot_done(s, &s->hashed);
		seq++;
	}
	if (next < 0) {
		err_set(&s->hasher_err, ERR_CONFLICT, "cancelled");
		return NULL;
	}
	EVP_DigestFinal_ex(s->md, digest, &dlen);
	for (unsigned int i = 0; i < dlen && i < 32; i++)
		snprintf(s->sha256 + 2 * i, 3, "%02x", digest[i]);
	s->hasher_result = 0;
	return NULL;
}

struct stream *stream_new(const char *fifo_path, const char *final_path, struct err *e)
{
	struct stream *s = xcalloc(1, sizeof(*s));
	int fl;

	s->fifo = xstrdup(fifo_path);
	s->final = xstrdup(final_path);
	s->part = xasprintf("%s.part", final_path);
	s->fifo_fd = s->part_fd = s->wake_fd = -1;
	atomic_init(&s->cancel, false);
	atomic_init(&s->returned, false);
	atomic_init(&s->bytes, 0);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->changed, NULL);
	s->reader_state = s->writer_state = STREAM_RUNNING;
	if (posix_memalign((void **)&s->ring, STREAM_ALIGN, (size_t)STREAM_SLOTS * STREAM_SLOT) !=
	    0) {
		s->ring = NULL;
		err_set(e, ERR_INTERNAL, "no memory for the dump's ring buffer");
		goto fail;
	}
	s->md = EVP_MD_CTX_new();
	if (s->md == NULL || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
		err_set(e, ERR_INTERNAL, "SHA-256 context could not be set up");
		goto fail;
	}
	if (unlink(s->fifo) < 0 && errno != ENOENT) {
		err_set(e, ERR_IO, "removing stale %s failed: %s", s->fifo, ERR_ERRNO(errno));
		goto fail;
	}
	if (mkfifo(s->fifo, 0600) < 0) {
		err_set(e, ERR_IO, "mkfifo %s failed: %s", s->fifo, ERR_ERRNO(errno));
		goto fail;
	}
	s->fifo_fd = open(s->fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (s->fifo_fd < 0) {
		err_set(e, ERR_IO, "opening %s failed: %s", s->fifo, ERR_ERRNO(errno));
		goto fail;
	}
	stream_grow_pipe(s->fifo_fd);
	s->part_fd = open(s->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->part_fd < 0) {
		err_set(e, ERR_IO, "creating %s failed: %s", s->part, ERR_ERRNO(errno));
		goto fail;
	}
	/* After open(): an O_DIRECT open that fails would already have created the file. */
	fl = fcntl(s->part_fd, F_GETFL);
	s->direct = fl >= 0 && fcntl(s->part_fd, F_SETFL, fl | O_DIRECT) == 0;
	if (!s->direct)
		log_info("direct_io_unavailable", "path=%s errno=%d", log_q(s->part), errno);
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		err_set(e, ERR_IO, "eventfd failed: %s", ERR_ERRNO(errno));
		goto fail;
	}
	if (pthread_create(&s->hasher, NULL, stream_hasher, s) != 0) {
		err_set(e, ERR_INTERNAL, "cannot start the hasher thread");
		goto fail;
	}
	s->hasher_started = true;
	if (pthread_create(&s->writer, NULL, stream_writer, s) != 0) {
		err_set(e, ERR_INTERNAL, "cannot start the writer thread");
		goto fail;
	}
	s->writer_started = true;
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
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

unsigned long long stream_bytes(struct stream *s)
{
	return atomic_load(&s->bytes);
}

/* Join the threads that run (idempotent). */
static void stream_join(struct stream *s)
{
	if (s->reader_started) {
		pthread_join(s->reader, NULL);
		s->reader_started = false;
	}
	if (s->writer_started) {
		pthread_join(s->writer, NULL);
		s->writer_started = false;
	}
	if (s->hasher_started) {
		pthread_join(s->hasher, NULL);
		s->hasher_started = false;
	}
}

int stream_wait(struct stream *s, char sha256[65], unsigned long long *size, struct err *e)
{
	stream_join(s);
	if (s->reader_state != STREAM_EOF) {
		if (e != NULL)
			*e = s->reader_err.code == ERR_CONFLICT && s->writer_state == STREAM_FAILED
			         ? s->writer_err
			         : s->reader_err;
		return -1;
	}
	if (s->writer_state != STREAM_EOF || s->hasher_result < 0) {
		if (e != NULL)
			*e = s->writer_state != STREAM_EOF ? s->writer_err : s->hasher_err;
		return -1;
	}
	memcpy(sha256, s->sha256, 65);
	*size = atomic_load(&s->bytes);
	return 0;
}

int stream_commit(struct stream *s, struct err *e)
{
	char *dir = xstrdup(s->final);
	int rc = -1;

	if (close(s->part_fd) < 0) {
		s->part_fd = -1;
		err_set(e, ERR_IO, "closing %s failed: %s", s->part, ERR_ERRNO(errno));
		goto out;
	}
	s->part_fd = -1;
	if (rename(s->part, s->final) < 0) {
		err_set(e, ERR_IO, "renaming %s failed: %s", s->part, ERR_ERRNO(errno));
		goto out;
	}
	s->committed = true;
	atomicfile_sync_dir(dirname(dir));
	rc = 0;
out:
	free(dir);
	return rc;
}

void stream_free(struct stream *s)
{
	if (s == NULL)
		return;
	if (s->reader_started || s->writer_started || s->hasher_started) {
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
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->lock);
	EVP_MD_CTX_free(s->md);
	free(s->ring);
	free(s->fifo);
	free(s->final);
	free(s->part);
	free(s);
}
