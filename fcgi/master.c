/*
 * master: see master.h. DESIGN: a fixed table of worker slots, each with a pid,
 * the configuration generation it runs and its start time. A worker that exits
 * less than MASTER_STABLE_S after its start counts as a crash; consecutive
 * crashes double the respawn delay (MASTER_BACKOFF_MIN_MS .. _MAX_MS). Workers
 * being retired or stopped get SIGTERM again every second until they are gone,
 * and SIGKILL after MASTER_STOP_GRACE_S.
 */
#include "master.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "http_client.h"
#include "log.h"
#include "worker.h"
#include "xmalloc.h"

#define MASTER_BACKLOG 128
#define MASTER_STABLE_S 5
#define MASTER_BACKOFF_MIN_MS 100
#define MASTER_BACKOFF_MAX_MS 10000
#define MASTER_STOP_GRACE_S 30
#define MASTER_RETIRED_MAX 1024

struct master_slot {
	pid_t pid;      /* 0: empty, waiting for respawn */
	double started; /* monotonic seconds */
};

struct master {
	struct config *cfg;
	const char *cfg_file;
	int fd;
	char *unix_path; /* to unlink at exit */
	struct master_slot *slots;
	size_t n_slots;
	pid_t retired[MASTER_RETIRED_MAX]; /* old generation, asked to stop */
	size_t n_retired;
	int crashes; /* consecutive quick deaths */
	bool stopping;
	double next_spawn; /* no respawn before this time */
};

static double master_now(void)
{
	return (double)clock_monotonic_ms() / 1000.0;
}

static int master_listen_unix(struct master *m, const char *path)
{
	struct sockaddr_un sa;
	mode_t old;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("listen_failed", "addr=%s msg=\"path too long\"", log_q(path));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	unlink(path); /* a stale socket of an earlier run */
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
	    listen(fd, MASTER_BACKLOG) < 0) {
		umask(old);
		log_error("listen_failed", "addr=%s errno=%d msg=%s", log_q(path), errno,
		          log_q(ERR_ERRNO(errno)));
		close(fd);
		return -1;
	}
	umask(old);
	m->unix_path = xstrdup(path);
	return fd;
}

static int master_listen_tcp(const char *hostport)
{
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints, *res = NULL;
	char host[256];
	int fd = -1, one = 1, rc;
	size_t hl;

	if (colon == NULL || (hl = (size_t)(colon - hostport)) >= sizeof(host))
		return -1;
	memcpy(host, hostport, hl);
	host[hl] = '\0';
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res)) != 0) {
		log_error("listen_failed", "addr=%s msg=%s", log_q(hostport),
		          log_q(gai_strerror(rc)));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, MASTER_BACKLOG) < 0) {
		log_error("listen_failed", "addr=%s errno=%d msg=%s", log_q(hostport), errno,
		          log_q(ERR_ERRNO(errno)));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int master_listen(struct master *m)
{
	const char *addr = config_str(m->cfg, CFG_API_LISTEN);

	if (strncmp(addr, "unix:", 5) == 0)
		return master_listen_unix(m, addr + 5);
	return master_listen_tcp(addr);
}

/* Fork one worker into slot i. */
static void master_spawn(struct master *m, size_t i)
{
	pid_t pid = fork();

	if (pid < 0) {
		log_error("fork_failed", "errno=%d", errno);
		return;
	}
	if (pid == 0) {
		int status;

		free(m->slots);
		free(m->unix_path);
		status = worker_run(m->fd, m->cfg);
		close(m->fd);
		config_free(m->cfg);
		http_client_global_cleanup();
		_exit(status);
	}
	m->slots[i].pid = pid;
	m->slots[i].started = master_now();
	log_info("worker_spawned", "pid=%ld slot=%zu", (long)pid, i);
}

static void master_fill(struct master *m)
{
	double now = master_now();

	if (now < m->next_spawn)
		return;
	for (size_t i = 0; i < m->n_slots; i++)
		if (m->slots[i].pid == 0)
			master_spawn(m, i);
}

static void master_signal_all(struct master *m, int sig, bool current)
{
	for (size_t i = 0; current && i < m->n_slots; i++)
		if (m->slots[i].pid > 0)
			kill(m->slots[i].pid, sig);
	for (size_t i = 0; i < m->n_retired; i++)
		kill(m->retired[i], sig);
}

/* Reap every exited child; note crashes of current workers. */
static void master_reap(struct master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		bool found = false;

		for (size_t i = 0; i < m->n_retired; i++)
			if (m->retired[i] == pid) {
				m->retired[i] = m->retired[--m->n_retired];
				found = true;
				break;
			}
		for (size_t i = 0; !found && i < m->n_slots; i++) {
			double lived;

			if (m->slots[i].pid != pid)
				continue;
			found = true;
			lived = master_now() - m->slots[i].started;
			m->slots[i].pid = 0;
			if (m->stopping)
				break;
			log_warn("worker_died", "pid=%ld slot=%zu status=%d signal=%d lived_s=%.1f",
			         (long)pid, i, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			         WIFSIGNALED(status) ? WTERMSIG(status) : 0, lived);
			if (lived < MASTER_STABLE_S) {
				long ms = MASTER_BACKOFF_MIN_MS
				          << (m->crashes < 7 ? m->crashes : 7);

				if (ms > MASTER_BACKOFF_MAX_MS)
					ms = MASTER_BACKOFF_MAX_MS;
				m->crashes++;
				m->next_spawn = master_now() + (double)ms / 1000.0;
				if (m->crashes > 1)
					log_warn("worker_crash_loop",
					         "crashes=%d next_spawn_ms=%ld", m->crashes, ms);
			} else {
				m->crashes = 0;
			}
		}
	}
}

static void master_reload(struct master *m)
{
	enum log_level lvl;
	struct config *nc;
	struct err e;
	size_t n;

	nc = config_load(m->cfg_file, &e);
	if (nc == NULL) {
		log_error("reload_failed", "msg=%s", log_q(e.msg));
		return;
	}
	if (strcmp(config_str(nc, CFG_API_LISTEN), config_str(m->cfg, CFG_API_LISTEN)) != 0)
		log_warn("reload_listen_ignored",
		         "msg=\"MEMDUMP_API_LISTEN changes need a restart\"");
	for (size_t i = 0; i < m->n_slots; i++) {
		if (m->slots[i].pid <= 0)
			continue;
		if (m->n_retired < MASTER_RETIRED_MAX) {
			m->retired[m->n_retired++] = m->slots[i].pid;
			kill(m->slots[i].pid, SIGTERM);
		} else {
			kill(m->slots[i].pid,
			     SIGKILL); /* cannot track it: do not leave it behind */
		}
	}
	config_free(m->cfg);
	m->cfg = nc;
	if (log_level_parse(config_str(nc, CFG_LOG_LEVEL), &lvl) == 0)
		log_set_level(lvl);
	n = (size_t)config_num(nc, CFG_API_WORKERS);
	free(m->slots);
	m->slots = xcalloc(n, sizeof(*m->slots));
	m->n_slots = n;
	m->crashes = 0;
	m->next_spawn = 0;
	log_info("reloaded", "workers=%zu retiring=%zu", n, m->n_retired);
}

static size_t master_alive(const struct master *m)
{
	size_t n = m->n_retired;

	for (size_t i = 0; i < m->n_slots; i++)
		n += m->slots[i].pid > 0;
	return n;
}

int master_run(struct config *cfg, const char *cfg_file)
{
	struct master m;
	sigset_t set;
	double stop_at = 0, last_kick = 0;
	int status = 0;

	memset(&m, 0, sizeof(m));
	m.cfg = cfg;
	m.cfg_file = cfg_file;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	m.fd = master_listen(&m);
	if (m.fd < 0) {
		status = 1;
		goto out;
	}
	m.n_slots = (size_t)config_num(cfg, CFG_API_WORKERS);
	m.slots = xcalloc(m.n_slots, sizeof(*m.slots));
	log_info("started", "listen=%s workers=%zu", log_q(config_str(cfg, CFG_API_LISTEN)),
	         m.n_slots);
	for (;;) {
		struct timespec ts = {0, 200 * 1000 * 1000};
		siginfo_t si;
		int sig;

		master_reap(&m);
		if (!m.stopping)
			master_fill(&m);
		else if (master_alive(&m) == 0)
			break;
		if (m.n_retired > 0 || m.stopping) {
			double now = master_now();

			if (now - last_kick >= 1.0) { /* a SIGTERM may have missed an accept */
				master_signal_all(&m, SIGTERM, m.stopping);
				last_kick = now;
			}
			if (m.stopping && now > stop_at) {
				log_warn("stop_grace_expired", "alive=%zu", master_alive(&m));
				master_signal_all(&m, SIGKILL, true);
			}
		}
		sig = sigtimedwait(&set, &si, &ts);
		if (sig == SIGHUP && !m.stopping) {
			master_reload(&m);
		} else if ((sig == SIGTERM || sig == SIGINT) && !m.stopping) {
			log_info("stopping", "signal=%d", sig);
			m.stopping = true;
			stop_at = master_now() + MASTER_STOP_GRACE_S;
			master_signal_all(&m, SIGTERM, true);
			last_kick = master_now();
		}
	}
	log_info("stopped", "listen=%s", log_q(config_str(m.cfg, CFG_API_LISTEN)));
out:
	if (m.fd >= 0)
		close(m.fd);
	if (m.unix_path != NULL)
		unlink(m.unix_path);
	free(m.unix_path);
	free(m.slots);
	config_free(m.cfg);
	return status;
}
