/*
 * journal: one atomically replaced JSON file per dump (see journal.h). The record
 * format is job_to_json(); reading goes through job_from_json(), which treats the
 * file as untrusted. Files larger than JOB_RECORD_MAX are refused unread.
 */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "json_util.h"
#include "log.h"
#include "xmalloc.h"

struct journal {
	char *dir;
};

void journal_tmp_sweep(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name);

		if (de->d_name[0] != '.' || nl < 6 || strcmp(de->d_name + nl - 4, ".tmp") != 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_info("stale_tmp_removed", "dir=%s file=%s", log_q(dir),
			         log_q(de->d_name));
	}
	closedir(d);
}

struct journal *journal_open(const char *dump_dir, struct err *e)
{
	char *top = xasprintf("%s/.memdumpd", dump_dir);
	char *dir = xasprintf("%s/journal", top);
	struct journal *jn = NULL;

	if (atomicfile_mkdir(top, e) < 0 || atomicfile_mkdir(dir, e) < 0) {
		free(dir);
		goto out;
	}
	journal_tmp_sweep(dir);
	jn = xcalloc(1, sizeof(*jn));
	jn->dir = dir;
out:
	free(top);
	return jn;
}

void journal_free(struct journal *jn)
{
	if (jn == NULL)
		return;
	free(jn->dir);
	free(jn);
}

int journal_write(struct journal *jn, const struct job *j, struct err *e)
{
	json_t *o = job_record_json(j);
	char *text = jsonu_dump(o);
	char name[DUMP_ID_SIZE + 8];
	int rc;

	snprintf(name, sizeof(name), "%s.json", j->id);
	rc = atomicfile_write(jn->dir, name, text, strlen(text), 0, e);
	free(text);
	json_decref(o);
	return rc;
}

void journal_remove(struct journal *jn, const char *id)
{
	char *p = xasprintf("%s/%s.json", jn->dir, id);

	if (unlink(p) < 0 && errno != ENOENT)
		log_warn("journal_remove", "path=%s errno=%d", log_q(p), errno);
	free(p);
}

/* Read a whole small file (at most max bytes); new buffer or NULL with e. */
static char *journal_read(const char *path, size_t max, size_t *len, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	char *buf = NULL;
	ssize_t n;

	if (fd < 0) {
		err_set(e, ERR_IO, "cannot open: %s", ERR_ERRNO(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		err_set(e, ERR_TOO_LARGE, "not a regular file of at most %zu bytes", max);
		goto out;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	n = read(fd, buf, (size_t)st.st_size);
	if (n != st.st_size) {
		err_set(e, ERR_IO, "short read");
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
	*len = (size_t)n;
out:
	close(fd);
	return buf;
}

int journal_load(struct journal *jn, void (*cb)(struct job *j, void *arg), void *arg)
{
	DIR *d = opendir(jn->dir);
	struct dirent *de;
	int count = 0;

	if (d == NULL) {
		log_error("journal_open", "dir=%s errno=%d", log_q(jn->dir), errno);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name), len = 0;
		char *path, *buf;
		struct job *j = NULL;
		struct err e = {0};

		if (nl != DUMP_ID_LEN + 5 || strcmp(de->d_name + DUMP_ID_LEN, ".json") != 0)
			continue;
		path = xasprintf("%s/%s", jn->dir, de->d_name);
		buf = journal_read(path, JOB_RECORD_MAX, &len, &e);
		if (buf != NULL)
			j = job_from_json(buf, len, &e);
		if (j != NULL && strncmp(j->id, de->d_name, DUMP_ID_LEN) != 0) {
			err_set(&e, ERR_INVALID, "dump_id does not match the file name");
			job_free(j);
			j = NULL;
		}
		if (j == NULL) {
			char *bad = xasprintf("%s.bad", path);

			log_error("journal_bad_record", "path=%s error=%s", log_q(path),
			          log_q(e.msg));
			if (rename(path, bad) < 0)
				log_warn("journal_rename", "errno=%d", errno);
			free(bad);
		} else {
			cb(j, arg);
			count++;
		}
		free(buf);
		free(path);
	}
	closedir(d);
	return count;
}
