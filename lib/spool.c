/*
 * spool: on-disk queue of InfluxDB points (see spool.h).
 * DESIGN: one file per point, named by the caller (a dump id, an audit chain and
 * seq), so a point is written at most once per file and a crash between
 * "accepted" and "deleted" only repeats a write of the same point (same series
 * and time: InfluxDB keeps one). Names are unique per writer, so processes that
 * share the folder never write the same file; any of them may send and delete
 * any file. A point whose file cannot be written (disk full) is kept in memory
 * and the sender writes its file later, or sends it straight to InfluxDB,
 * whichever works first: only a crash while both fail loses it. Temp files
 * (".NAME.tmp") are removed when older than SPOOL_TMP_STALE_S: younger ones may
 * be another process's write in progress.
 * THREADS: the sender thread owns struct influx; the mutex guards the status
 * fields, the points kept in memory, the round counter and the wake-up condition.
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

#include "atomicfile.h"
#include "clock.h"
#include "influx.h"
#include "log.h"
#include "xmalloc.h"

#define SPOOL_TIMEOUT_MS 10000
#define SPOOL_BACKOFF_MIN 1
#define SPOOL_BACKOFF_MAX 60
#define SPOOL_IDLE_S 30 /* rescan of the folder (other processes' files) when idle */
#define SPOOL_FILE_MAX (256u * 1024)
#define SPOOL_TMP_STALE_S 600

/* A point whose spool file could not be written yet. */
struct spool_mem {
	char name[SPOOL_NAME_MAX + 4]; /* <name>.lp */
	char *line;
	size_t len;
	struct spool_mem *next;
};

struct spool {
	char *dir;
	char precision[4];
	struct influx *ix;      /* the sender thread's */
	struct influx *next_ix; /* under lock: replaces ix at the sender's next round */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;  /* wakes the sender */
	pthread_cond_t round; /* signalled at the end of each round */
	unsigned long rounds_started, rounds_done;
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
		if (atomicfile_write(sp->dir, m->name, m->line, m->len, ATOMICFILE_DIR_OWNER,
		                     &fe) == 0 ||
		    influx_write_prec(sp->ix, m->line, m->len, sp->precision, &we) == 0) {
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

/* Read one spooled file: new text, or NULL with *gone when it no longer exists
 * (another sender took it). */
static char *spool_read(const char *path, size_t *len, bool *gone)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	char *buf = NULL;

	*gone = false;
	if (fd < 0) {
		*gone = errno == ENOENT;
		return NULL;
	}
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

/* Put a file aside as path+suffix (unless another sender already did). */
static void spool_set_aside(const char *path, const char *suffix)
{
	char *bad = xasprintf("%s%s", path, suffix);

	if (rename(path, bad) < 0 && errno != ENOENT)
		log_warn("spool_rename", "path=%s errno=%d", log_q(path), errno);
	free(bad);
}

/* Remove a temp file a dead writer left (only when old: it may be in progress). */
static void spool_tmp_sweep_one(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	struct stat st;

	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    time(NULL) - st.st_mtime > SPOOL_TMP_STALE_S && unlink(path) == 0)
		log_info("stale_tmp_removed", "dir=%s file=%s", log_q(dir), log_q(name));
	free(path);
}

/* Send every spooled point once; returns how many are left, fills e on failure. */
static int spool_flush(struct spool *sp, struct err *e)
{
	DIR *d = opendir(sp->dir);
	struct dirent *de;
	int left = 0;
	bool failed = false;

	if (d == NULL) {
		err_set(e, ERR_IO, "cannot open %s: %s", sp->dir, ERR_ERRNO(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name), len = 0;
		char *path, *text;
		struct err we = {0};
		bool gone;

		if (nl > 4 && de->d_name[0] == '.' && strcmp(de->d_name + nl - 4, ".tmp") == 0) {
			spool_tmp_sweep_one(sp->dir, de->d_name);
			continue;
		}
		if (nl < 4 || de->d_name[0] == '.' || strcmp(de->d_name + nl - 3, ".lp") != 0)
			continue;
		if (failed) {
			left++;
			continue;
		}
		path = xasprintf("%s/%s", sp->dir, de->d_name);
		text = spool_read(path, &len, &gone);
		if (text == NULL) {
			if (!gone) {
				log_error("spool_bad_file", "path=%s", log_q(path));
				spool_set_aside(path, ".bad");
			}
		} else if (influx_write_prec(sp->ix, text, len, sp->precision, &we) == 0) {
			unlink(path);
			log_info("influx_written", "file=%s", log_q(de->d_name));
		} else if ((we.code == ERR_NOT_FOUND || we.code == ERR_INVALID) &&
		           strstr(we.msg, "database not found") != NULL && /* 1.x: 404 */
		           influx_create_db(sp->ix, NULL) == 0 &&
		           influx_write_prec(sp->ix, text, len, sp->precision, &we) == 0) {
			unlink(path);
			log_info("influx_written", "file=%s created_db=1", log_q(de->d_name));
		} else if (we.code == ERR_INVALID) {
			/* InfluxDB refused the point itself: keep it aside, do not block others */
			log_error("influx_rejected", "file=%s error=%s", log_q(de->d_name),
			          log_q(we.msg));
			spool_set_aside(path, ".rejected");
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
		sp->rounds_started++;
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
		sp->rounds_done = sp->rounds_started;
		pthread_cond_broadcast(&sp->round);
		until = clock_deadline_ms(
		    1000LL * (r < 0 ? backoff : (inmem > 0 ? SPOOL_BACKOFF_MIN : SPOOL_IDLE_S)));
		while (!sp->stop && !sp->wake)
			if (pthread_cond_timedwait(&sp->cond, &sp->lock, &until) != 0)
				break;
	}
	pthread_mutex_unlock(&sp->lock);
	return NULL;
}

struct spool *spool_new(const char *dir, const char *precision, const char *influx_url,
                        const char *db, const char *token, struct err *e)
{
	struct spool *sp;

	if (strcmp(precision, "ms") != 0 && strcmp(precision, "ns") != 0) {
		err_set(e, ERR_INVALID, "spool precision '%s': allowed ms, ns", precision);
		return NULL;
	}
	if (atomicfile_mkdir(dir, e) < 0)
		return NULL;
	sp = xcalloc(1, sizeof(*sp));
	sp->dir = xstrdup(dir);
	snprintf(sp->precision, sizeof(sp->precision), "%s", precision);
	sp->ix = influx_new(influx_url, db, token, SPOOL_TIMEOUT_MS);
	sp->ok = true;
	pthread_mutex_init(&sp->lock, NULL);
	pthread_cond_init(&sp->cond, NULL);
	pthread_cond_init(&sp->round, NULL);
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
	pthread_cond_destroy(&sp->round);
	pthread_cond_destroy(&sp->cond);
	pthread_mutex_destroy(&sp->lock);
	free(sp->dir);
	free(sp);
}

static bool spool_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > SPOOL_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int spool_add(struct spool *sp, const char *name, const char *line, size_t len, struct err *e)
{
	char file[SPOOL_NAME_MAX + 4];
	struct spool_mem *m = NULL;
	struct err fe = {0};

	if (!spool_name_ok(name))
		return err_set(e, ERR_INVALID, "spool name must be 1 to %d of [A-Za-z0-9._-]",
		               SPOOL_NAME_MAX);
	if (len == 0 || len > SPOOL_FILE_MAX)
		return err_set(e, ERR_INVALID, "a spooled point has 1 to %u bytes", SPOOL_FILE_MAX);
	snprintf(file, sizeof(file), "%s.lp", name);
	if (atomicfile_write(sp->dir, file, line, len, ATOMICFILE_DIR_OWNER, &fe) < 0) {
		log_error("spool_write_failed", "name=%s error=%s kept=memory", name,
		          log_q(fe.msg));
		m = xcalloc(1, sizeof(*m));
		memcpy(m->name, file, sizeof(file));
		m->line = xstrndup(line, len);
		m->len = len;
	}
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
	return m != NULL ? 1 : 0;
}

int spool_drain(struct spool *sp, long timeout_ms, struct err *e)
{
	struct timespec until;
	unsigned long want;
	int rc = 0;

	until = clock_deadline_ms(timeout_ms);
	pthread_mutex_lock(&sp->lock);
	want = sp->rounds_started + 1;
	sp->wake = true;
	pthread_cond_signal(&sp->cond);
	while (sp->rounds_done < want)
		if (pthread_cond_timedwait(&sp->round, &sp->lock, &until) != 0)
			break;
	if (sp->rounds_done < want)
		rc = err_set(e, ERR_TIMEOUT, "the spool's sender did not finish a round in %ld ms",
		             timeout_ms);
	else if (!sp->ok || sp->pending > 0)
		rc =
		    err_set(e, sp->ok ? ERR_IO : ERR_UNAVAILABLE, "%d points wait in the spool: %s",
		            sp->pending, sp->last_error[0] ? sp->last_error : "not sent yet");
	pthread_mutex_unlock(&sp->lock);
	return rc;
}

void spool_status(struct spool *sp, bool *ok, int *pending, char *err_buf, size_t cap)
{
	pthread_mutex_lock(&sp->lock);
	*ok = sp->ok;
	*pending = sp->pending;
	snprintf(err_buf, cap, "%s", sp->last_error);
	pthread_mutex_unlock(&sp->lock);
}
