/*
 * datacase: see datacase.h. Case folders are read in strcmp order, so a run is
 * reproducible; trailing newlines are not significant when comparing.
 */
#include "datacase.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xmalloc.h"

#define DATACASE_CASES_MAX 4096

/* Whole file into a new NUL-terminated buffer; NULL when missing or too large. */
static char *datacase_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = xmalloc(DATACASE_INPUT_MAX + 2);
	n = fread(buf, 1, DATACASE_INPUT_MAX + 1, f);
	fclose(f);
	if (n > DATACASE_INPUT_MAX) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int datacase_write(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(text), off = 0;

	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	return close(fd);
}

static size_t datacase_trimmed_len(const char *s)
{
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == '\n')
		n--;
	return n;
}

static int datacase_cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int datacase_run(const char *parser, datacase_render_fn render)
{
	const char *root = getenv("MEMDUMP_TEST_DATA");
	const char *update = getenv("MEMDUMP_UPDATE_EXPECTED");
	char *names[DATACASE_CASES_MAX];
	size_t ncases = 0;
	char *dir;
	DIR *d;
	struct dirent *de;
	int failures = 0;

	dir = xasprintf("%s/%s", root != NULL ? root : "tests/data", parser);
	d = opendir(dir);
	if (d == NULL) {
		fprintf(stderr, "datacase %s: cannot open %s: %s\n", parser, dir, strerror(errno));
		free(dir);
		return 1;
	}
	while ((de = readdir(d)) != NULL && ncases < DATACASE_CASES_MAX)
		if (de->d_name[0] != '.')
			names[ncases++] = xstrdup(de->d_name);
	closedir(d);
	qsort(names, ncases, sizeof(names[0]), datacase_cmp_names);
	if (ncases == 0) {
		fprintf(stderr, "datacase %s: no cases in %s\n", parser, dir);
		failures++;
	}
	for (size_t i = 0; i < ncases; i++) {
		char *in_path = xasprintf("%s/%s/input", dir, names[i]);
		char *exp_path = xasprintf("%s/%s/expected", dir, names[i]);
		size_t in_len = 0, exp_len = 0;
		char *input = datacase_read(in_path, &in_len);
		char *expected = datacase_read(exp_path, &exp_len);
		char *actual = NULL;

		if (input == NULL) {
			fprintf(stderr, "datacase %s/%s: no readable input file\n", parser,
			        names[i]);
			failures++;
			goto next;
		}
		actual = render(input, in_len);
		if (update != NULL && strcmp(update, "1") == 0) {
			if (datacase_write(exp_path, actual) < 0) {
				fprintf(stderr, "datacase %s/%s: cannot write %s\n", parser,
				        names[i], exp_path);
				failures++;
			}
			goto next;
		}
		if (expected == NULL) {
			fprintf(stderr, "datacase %s/%s: no expected file; actual:\n%s\n", parser,
			        names[i], actual);
			failures++;
		} else if (datacase_trimmed_len(expected) != datacase_trimmed_len(actual) ||
		           memcmp(expected, actual, datacase_trimmed_len(actual)) != 0) {
			fprintf(stderr,
			        "datacase %s/%s: FAILED\n--- expected\n%s\n--- actual\n%s\n",
			        parser, names[i], expected, actual);
			failures++;
		}
	next:
		free(actual);
		free(expected);
		free(input);
		free(exp_path);
		free(in_path);
	}
	fprintf(stderr, "datacase %s: %zu cases, %d failed\n", parser, ncases, failures);
	for (size_t i = 0; i < ncases; i++)
		free(names[i]);
	free(dir);
	return failures;
}
