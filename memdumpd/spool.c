/*
 * spool: on-disk queue of InfluxDB points (see spool.h).
 * DESIGN: one file per point, named by dump id, so a point is written at most
 * once per file and a crash between "accepted" and "deleted" only repeats a
 * write of the same point (same series and time: InfluxDB keeps one).
 * A point whose file cannot be written (disk full) is kept in memory and the
 * sender writes its file later, or sends it straight to InfluxDB, whichever works
 * first: only a crash while both fail loses it.
 * THREADS: the sender thread owns struct influx; the mutex guards the status
 * fields, the points kept in memory and the wake-up condition.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "influx.h"
#include "journal.h"
#include "json_util.h"
#include "log.h"
#include "xmalloc.h"

#define SPOOL_TIMEOUT_MS 10000
#define SPOOL_BACKOFF_MIN 1
#define SPOOL_BACKOFF_MAX 60
#define SPOOL_FILE_MAX (256u * 1024)

/* A point whose spool file could not be written yet. */
struct spool_mem {
	char name[DUMP_ID_SIZE + 4]; /* <id>.lp */
	char *line;
	size_t len;
	struct spool_mem *next;
};

struct spool {
	char *dir;
	struct influx *ix;      /* the sender thread's */
	struct influx *next_ix; /* under lock: replaces ix at the sender's next round */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	bool wake;
	bool ok;
	int pending;
	char last_error[256];
	struct spool_mem *mem; /* points without a file yet */
};

static void spool_mem_free(struct spool_mem *m)
{
	while (m != NULL) {
		struct spool_mem *next = m->next;

		free(m->line);
		free(m);
		m = next;
	}
}

/* Points kept in memory: write their files now, or else send them straight to
 * InfluxDB. Those neither took stay in memory; returns how many. */
static int spool_mem_retry(struct spool *sp)
{
	struct spool_mem *list, *keep = NULL, **tail = &keep, *m;
	int left = 0;

	pthread_mutex_lock(&sp->lock);
	list = sp->mem;
	sp->mem = NULL;
	pthread_mutex_unlock(&sp->lock);
	while ((m = list) != NULL) {
		struct err fe = {0}, we = {0};

		list = m->next;
		m->next = NULL;
		if (journal_file_replace(sp->dir, m->name, m->line, m->len, &fe) == 0 ||
		    influx_write(sp->ix, m->line, m->len, &we) == 0) {
			log_info("spool_recovered", "file=%s", m->name);
			spool_mem_free(m);
			continue;
		}
		*tail = m;
		tail = &m->next;
		left++;
	}
	pthread_mutex_lock(&sp->lock);
	*tail = sp->mem; /* points added meanwhile go after the older ones */
	sp->mem = keep;
	pthread_mutex_unlock(&sp->lock);
	return left;
}

int spool_line(const struct job *j, char **out, size_t *len, struct err *e)
{
	struct influx_lp *lp = influx_lp_new("mem_dumps");
	char t[32];
	int rc = -1;
	double dur = 0;

	if (j->started_ms > 0 && j->finished_ms >= j->started_ms)
		dur = (double)(j->finished_ms - j->started_ms) / 1000.0;
	if (influx_lp_tag(lp, "format", dump_format_name(j->format), e) < 0 ||
	    influx_lp_tag(lp, "host", j->host, e) < 0 ||
	    influx_lp_tag(lp, "state", dump_state_name(j->state), e) < 0 ||
	    influx_lp_tag(lp, "vm", j->vm, e) < 0)
		goto out;
	if (influx_lp_field_str(lp, "dump_id", j->id, e) < 0 ||
	    influx_lp_field_str(lp, "path", j->path, e) < 0 ||
	    influx_lp_field_int(lp, "size_bytes", j->size_bytes < 0 ? 0 : j->size_bytes, e) < 0 ||
	    influx_lp_field_str(lp, "sha256", j->sha256, e) < 0 ||
	    influx_lp_field_float(lp, "duration_s", dur, e) < 0 ||
	    influx_lp_field_str(lp, "error", j->error ? j->error : "", e) < 0)
		goto out;
	/* no field when unknown: queries then read null, as for points of older versions */
	if (j->requested_by != NULL &&
	    influx_lp_field_str(lp, "requested_by", j->requested_by, e) < 0)
		goto out;
	if (j->started_ms > 0) {
		jsonu_time_format(j->started_ms, t);
		if (influx_lp_field_str(lp, "started_at", t, e) < 0)
			goto out;
	}
	jsonu_time_format(j->finished_ms, t);
	if (influx_lp_field_str(lp, "finished_at", t, e) < 0)
		goto out;
	rc = influx_lp_finish(lp, j->finished_ms, out, len, e);
out:
	influx_lp_free(lp);
	return rc;
}

/* Read one spooled file; new text or NULL. */
static char *spool_read(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	char *buf = NULL;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (size_t)st.st_size <= SPOOL_FILE_MAX) {
		buf = xmalloc((size_t)st.st_size + 1);
		if (read(fd, buf, (size_t)st.st_size) != st.st_size) {
			free(buf);
			buf = NULL;
		} else {
			buf[st.st_size] = '\0';
			*len = (size_t)st.st_size;
		}
	}
	close(fd);
	return buf;
}

/* Send every spooled point once; returns how many are left, fills e on failure. */
static int spool_flush(struct spool *sp, struct err *e)
{
	DIR *d = opendir(sp->dir);
	struct dirent *de;
	int left = 0;
	bool failed = false;

	if (d == NULL) {
		err_set(e, ERR_IO, "cannot open %s: %s", sp->dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name), len = 0;
		char *path, *text;
		struct err we = {0};

		if (nl < 4 || de->d_name[0] == '.' || strcmp(de->d_name + nl - 3, ".lp") != 0)
			continue;
		if (failed) {
			left++;
			continue;
		}
		path = xasprintf("%s/%s", sp->dir, de->d_name);
		text = spool_read(path, &len);
		if (text == NULL) {
			log_error("spool_bad_file", "path=%s", log_q(path));
			char *bad = xasprintf("%s.bad", path);
			if (rename(path, bad) < 0)
				log_warn("spool_rename", "errno=%d", errno);
			free(bad);
		} else if (influx_write(sp->ix, text, len, &we) == 0) {
			unlink(path);
			log_info("influx_written", "file=%s", log_q(de->d_name));
		} else if ((we.code == ERR_NOT_FOUND || we.code == ERR_INVALID) &&
		           strstr(we.msg, "database not found") != NULL && /* 1.x: 404 */
		           influx_create_db(sp->ix, NULL) == 0 &&
		           influx_write(sp->ix, text, len, &we) == 0) {
			unlink(path);
			log_info("influx_written", "file=%s created_db=1", log_q(de->d_name));
		} else if (we.code == ERR_INVALID) {
			/* InfluxDB refused the point itself: keep it aside, do not block others */
			char *bad = xasprintf("%s.rejected", path);
			log_error("influx_rejected", "file=%s error=%s", log_q(de->d_name),
			          log_q(we.msg));
			if (rename(path, bad) < 0)
				log_warn("spool_rename", "errno=%d", errno);
			free(bad);
		} else {
			failed = true;
			left++;
			*e = we;
		}
		free(text);
		free(path);
	}
	closedir(d);
	return failed ? -1 - left : left;
}

static void *spool_sender(void *arg)
{
	struct spool *sp = arg;
	int backoff = 0;

	pthread_mutex_lock(&sp->lock);
	while (!sp->stop) {
		struct err e = {0};
		int r, inmem;
		struct timespec until;

		sp->wake = false;
		if (sp->next_ix != NULL) {
			influx_free(sp->ix);
			sp->ix = sp->next_ix;
			sp->next_ix = NULL;
			backoff = 0;
		}
		pthread_mutex_unlock(&sp->lock);
		inmem = spool_mem_retry(sp);
		r = spool_flush(sp, &e);
		pthread_mutex_lock(&sp->lock);
		if (r >= 0) {
			sp->ok = true;
			sp->pending = r + inmem;
			sp->last_error[0] = '\0';
			backoff = 0;
		} else {
			if (sp->ok || backoff == 0)
				log_warn("influx_unavailable", "error=%s", log_q(e.msg));
			sp->ok = false;
			sp->pending = -1 - r + inmem;
			snprintf(sp->last_error, sizeof(sp->last_error), "%s", e.msg);
			backoff = backoff == 0 ? SPOOL_BACKOFF_MIN : backoff * 2;
			if (backoff > SPOOL_BACKOFF_MAX)
				backoff = SPOOL_BACKOFF_MAX;
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += r < 0 ? backoff : (inmem > 0 ? SPOOL_BACKOFF_MIN : 30);
		while (!sp->stop && !sp->wake)
			if (pthread_cond_timedwait(&sp->cond, &sp->lock, &until) != 0)
				break;
	}
	pthread_mutex_unlock(&sp->lock);
	return NULL;
}

struct spool *spool_new(const char *dump_dir, const char *influx_url, const char *db,
                        const char *token, struct err *e)
{
	char *dir = xasprintf("%s/.memdumpd/spool", dump_dir);
	struct spool *sp;

	if (journal_mkdir(dir, e) < 0) {
		free(dir);
		return NULL;
	}
	journal_tmp_sweep(dir);
	sp = xcalloc(1, sizeof(*sp));
	sp->dir = dir;
	sp->ix = influx_new(influx_url, db, token, SPOOL_TIMEOUT_MS);
	sp->ok = true;
	pthread_mutex_init(&sp->lock, NULL);
	pthread_cond_init(&sp->cond, NULL);
	if (pthread_create(&sp->thread, NULL, spool_sender, sp) != 0) {
		log_error("thread_create", "what=spool");
		abort();
	}
	return sp;
}

void spool_set_target(struct spool *sp, const char *influx_url, const char *db, const char *token)
{
	struct influx *ix = influx_new(influx_url, db, token, SPOOL_TIMEOUT_MS);

	pthread_mutex_lock(&sp->lock);
	influx_free(sp->next_ix);
	sp->next_ix = ix;
	sp->wake = true;
	pthread_cond_signal(&sp->cond);
	pthread_mutex_unlock(&sp->lock);
}

void spool_free(struct spool *sp)
{
	if (sp == NULL)
		return;
	pthread_mutex_lock(&sp->lock);
	sp->stop = true;
	pthread_cond_signal(&sp->cond);
	pthread_mutex_unlock(&sp->lock);
	pthread_join(sp->thread, NULL);
	if (sp->next_ix != NULL) { /* a reload the sender did not reach */
		influx_free(sp->ix);
		sp->ix = sp->next_ix;
	}
	if (sp->mem != NULL && spool_mem_retry(sp) > 0) {
		for (struct spool_mem *m = sp->mem; m != NULL; m = m->next)
			log_error("spool_point_lost", "file=%s line=%s", m->name, log_q(m->line));
	}
	spool_mem_free(sp->mem);
	influx_free(sp->ix);
	pthread_cond_destroy(&sp->cond);
	pthread_mutex_destroy(&sp->lock);
	free(sp->dir);
	free(sp);
}

int spool_add(struct spool *sp, const struct job *j, struct err *e)
{
	char *line = NULL;
	size_t len = 0;
	char name[DUMP_ID_SIZE + 4];
	struct spool_mem *m = NULL;
	struct err fe = {0};

	if (spool_line(j, &line, &len, e) < 0)
		return -1;
	snprintf(name, sizeof(name), "%s.lp", j->id);
	if (journal_file_replace(sp->dir, name, line, len, &fe) < 0) {
		log_error("spool_write_failed", "id=%s error=%s kept=memory", j->id, log_q(fe.msg));
		m = xcalloc(1, sizeof(*m));
		memcpy(m->name, name, sizeof(name));
		m->line = line;
		m->len = len;
		line = NULL;
	}
	free(line);
	pthread_mutex_lock(&sp->lock);
	if (m != NULL) {
		struct spool_mem **tail = &sp->mem;

		while (*tail != NULL)
			tail = &(*tail)->next;
		*tail = m;
	}
	sp->wake = true;
	sp->pending++;
	pthread_cond_signal(&sp->cond);
	pthread_mutex_unlock(&sp->lock);
	return 0;
}

void spool_status(struct spool *sp, bool *ok, int *pending, char *err_buf, size_t cap)
{
	pthread_mutex_lock(&sp->lock);
	*ok = sp->ok;
	*pending = sp->pending;
	snprintf(err_buf, cap, "%s", sp->last_error);
	pthread_mutex_unlock(&sp->lock);
}
