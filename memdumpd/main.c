/*
 * memdumpd: start-up and shutdown of the dump service (docs/memdumpd.md).
 * Like OpenBSD daemons: parse and check the configuration, check DUMP_DIR and
 * LIBVIRT_URI, open journal, spool, libvirt and the queue, bind, then wait for
 * signals. SIGTERM/SIGINT stop cleanly (running dumps end as failed "interrupted
 * by restart", queued ones stay queued in the journal); SIGHUP is logged only
 * (restart to apply new configuration). Every thread starts with these signals blocked.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "http_client.h"
#include "httpd.h"
#include "journal.h"
#include "json_util.h"
#include "log.h"
#include "queue.h"
#include "spool.h"
#include "virt.h"

static int main_check_dump_dir(const char *dir, struct err *e)
{
	struct stat st;

	if (dir[0] != '/')
		return err_set(e, ERR_INVALID, "DUMP_DIR '%s' must be an absolute path", dir);
	if (stat(dir, &st) < 0)
		return err_set(e, ERR_IO,
		               "DUMP_DIR '%s': %s (create it, owned by the user "
		               "memdumpd runs as, mode 0700)",
		               dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return err_set(e, ERR_IO, "DUMP_DIR '%s' is not a folder", dir);
	if (access(dir, W_OK | X_OK) < 0)
		return err_set(e, ERR_IO, "DUMP_DIR '%s' is not writable by uid %u: %s", dir,
		               (unsigned)getuid(), strerror(errno));
	if (st.st_mode & 0077)
		log_warn("dump_dir_mode",
		         "dir=%s mode=%04o hint=\"dumps hold guest secrets: "
		         "chmod 0700\"",
		         log_q(dir), (unsigned)(st.st_mode & 07777));
	return 0;
}

int main(int argc, char **argv)
{
	struct config *cfg;
	struct err e = {0};
	struct journal *jn = NULL;
	struct spool *sp = NULL;
	struct virt *v = NULL;
	struct queue *q = NULL;
	struct httpd *h = NULL;
	struct queue_config qc;
	struct httpd_ctx hc;
	enum log_level lvl = LOG_LVL_INFO;
	char host[256] = "";
	const char *dump_dir;
	sigset_t sigs;
	int code = 0, sig;

	cfg = config_from_args(CFG_P_MEMDUMPD, "memdumpd",
	                       "captures KVM guest memory through libvirt and serves the dumps",
	                       argc, argv, NULL, &code);
	if (cfg == NULL)
		return code;
	umask(077);
	log_level_parse(config_str(cfg, CFG_LOG_LEVEL), &lvl);
	log_init("memdumpd", lvl);
	jsonu_init();
	dump_dir = config_str(cfg, CFG_DUMP_DIR);
	if (virt_uri_check(config_str(cfg, CFG_LIBVIRT_URI), &e) < 0) {
		fprintf(stderr, "memdumpd: LIBVIRT_URI: %s\n", e.msg);
		config_free(cfg);
		return 78;
	}
	if (main_check_dump_dir(dump_dir, &e) < 0) {
		fprintf(stderr, "memdumpd: %s\n", e.msg);
		config_free(cfg);
		return 78;
	}
	if (config_str(cfg, CFG_HOST_NAME)[0] != '\0')
		snprintf(host, sizeof(host), "%s", config_str(cfg, CFG_HOST_NAME));
	else if (gethostname(host, sizeof(host) - 1) < 0)
		snprintf(host, sizeof(host), "localhost");

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	http_client_global_init();

	code = 1;
	if ((jn = journal_open(dump_dir, &e)) == NULL ||
	    (sp = spool_new(dump_dir, config_str(cfg, CFG_INFLUX_URL),
	                    config_str(cfg, CFG_INFLUX_DB), config_str(cfg, CFG_INFLUX_TOKEN),
	                    &e)) == NULL) {
		log_error("startup_failed", "error=%s", log_q(e.msg));
		goto out;
	}
	v = virt_new(config_str(cfg, CFG_LIBVIRT_URI));
	qc.dump_dir = dump_dir;
	qc.host = host;
	qc.max_concurrent = (int)config_num(cfg, CFG_MAX_CONCURRENT);
	qc.max_wait_s = (int)config_num(cfg, CFG_MAX_WAIT);
	qc.reserve_bytes = (unsigned long long)config_num(cfg, CFG_DISK_RESERVE) << 20;
	q = queue_new(&qc, v, jn, sp);
	hc.queue = q;
	hc.virt = v;
	hc.spool = sp;
	hc.token = config_str(cfg, CFG_SERVICE_TOKEN);
	hc.host = host;
	hc.dump_dir = dump_dir;
	hc.max_concurrent = qc.max_concurrent;
	if ((h = httpd_start(config_str(cfg, CFG_LISTEN), &hc, &e)) == NULL) {
		log_error("startup_failed", "error=%s", log_q(e.msg));
		goto out;
	}
	log_info("started", "listen=%s dump_dir=%s libvirt=%s host=%s max_concurrent=%d",
	         log_q(config_str(cfg, CFG_LISTEN)), log_q(dump_dir),
	         log_q(config_str(cfg, CFG_LIBVIRT_URI)), log_q(host), qc.max_concurrent);
	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("sighup", "note=\"nothing to reopen: logs go to stderr; restart "
			                   "to apply a new configuration\"");
			continue;
		}
		log_info("stopping", "signal=%d", sig);
		break;
	}
	code = 0;
out:
	httpd_stop(h);
	if (queue_free(q) < 0)
		_exit(1); /* a worker is stuck in libvirt: nothing below is safe to free */
	virt_free(v);
	spool_free(sp);
	journal_free(jn);
	config_free(cfg);
	http_client_global_cleanup();
	return code;
}
