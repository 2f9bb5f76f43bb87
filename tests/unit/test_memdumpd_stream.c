/*
 * test_memdumpd_stream: memdumpd's byte path (FIFO -> ring -> PATH.part + SHA-256)
 * with a real FIFO and real files. Sizes cover whole 1 MiB slots (all O_DIRECT), a
 * partial last slot whose length is not a multiple of the O_DIRECT block (the tail
 * goes buffered), a few bytes, and nothing at all. Each runs in a folder on the
 * disk's filesystem (where O_DIRECT works) and, when it exists, on /dev/shm (tmpfs:
 * O_DIRECT or the buffered fallback, depending on the kernel).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../memdumpd/stream.h"
#include "err.h"

static unsigned char pattern_byte(size_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13);
}

static void sha256_hex(const unsigned char *p, size_t n, char out[65])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	assert_int_equal(EVP_Digest(p, n, d, &dlen, EVP_sha256(), NULL), 1);
	for (unsigned int i = 0; i < dlen; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Stream `n` bytes through a stream in `base`; check file, size, hash and mode. */
static void stream_case(const char *base, size_t n)
{
	char tmpl[256], fifo[300], final[300], sha[65] = "", want[65] = "";
	unsigned char *data = malloc(n + 1), *back = malloc(n + 1);
	unsigned long long size = 0;
	struct stream *s;
	struct stat st;
	struct err e;
	int fd;

	assert_non_null(data);
	assert_non_null(back);
	for (size_t i = 0; i < n; i++)
		data[i] = pattern_byte(i);
	snprintf(tmpl, sizeof(tmpl), "%s/memdump-stream-XXXXXX", base);
	assert_non_null(mkdtemp(tmpl));
	snprintf(fifo, sizeof(fifo), "%s/dump.fifo", tmpl);
	snprintf(final, sizeof(final), "%s/dump.elf", tmpl);

	s = stream_new(fifo, final, &e);
	assert_non_null(s);
	fd = open(fifo, O_WRONLY | O_CLOEXEC); /* what libvirt's iohelper does */
	assert_true(fd >= 0);
	/* odd-sized writes, as a pipe delivers them */
	for (size_t off = 0; off < n;) {
		size_t k = n - off < 77777 ? n - off : 77777;
		ssize_t w = write(fd, data + off, k);

		assert_true(w > 0);
		off += (size_t)w;
	}
	close(fd);
	stream_dump_returned(s);

	if (n == 0) {
		assert_int_equal(stream_wait(s, sha, &size, &e), -1);
		assert_non_null(strstr(e.msg, "no data"));
		stream_free(s);
		assert_int_equal(stat(final, &st), -1); /* nothing left behind */
	} else {
		assert_int_equal(stream_wait(s, sha, &size, &e), 0);
		assert_int_equal(size, n);
		sha256_hex(data, n, want);
		assert_string_equal(sha, want);
		assert_int_equal(stream_commit(s, &e), 0);
		stream_free(s);
		assert_int_equal(stat(final, &st), 0);
		assert_int_equal(st.st_size, (off_t)n);
		assert_int_equal(st.st_mode & 0777, 0600);
		fd = open(final, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(read(fd, back, n + 1), (ssize_t)n);
		close(fd);
		assert_memory_equal(back, data, n);
		unlink(final);
	}
	char part[320];
	snprintf(part, sizeof(part), "%s.part", final);
	assert_int_equal(access(part, F_OK), -1);
	assert_int_equal(access(fifo, F_OK), -1);
	assert_int_equal(rmdir(tmpl), 0);
	free(data);
	free(back);
}

static const size_t sizes[] = {
    3u << 20,           /* whole slots only */
    (5u << 20) + 12345, /* partial last slot, unaligned tail */
    (2u << 20) + 8192,  /* partial last slot, aligned */
    4097,               /* less than a slot */
    1,                  /* one byte */
    0,                  /* nothing: an error, no file */
};

static void run_sizes(const char *base)
{
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		stream_case(base, sizes[i]);
}

static void test_stream_disk(void **state)
{
	const char *dir = getenv("MEMDUMP_TEST_DISK_DIR");

	(void)state;
	/* the build folder is on the project's disk; /tmp may be tmpfs elsewhere */
	run_sizes(dir != NULL && *dir != '\0' ? dir : ".");
}

static void test_stream_tmpfs(void **state)
{
	struct stat st;

	(void)state;
	if (stat("/dev/shm", &st) != 0 || !S_ISDIR(st.st_mode) || access("/dev/shm", W_OK) != 0)
		skip();
	run_sizes("/dev/shm");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stream_disk),
	    cmocka_unit_test(test_stream_tmpfs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
