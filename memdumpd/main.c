/*
 * memdumpd: start-up and shutdown of the dump service (docs/memdumpd.md).
 * Like OpenBSD daemons: parse and check the configuration, check DUMP_DIR and
 * LIBVIRT_URI, open journal, spool, libvirt and the queue, bind, then wait for
 * signals. SIGTERM/SIGINT stop cleanly (running dumps end as failed "interrupted
 * by restart", queued ones stay queued in the journal); SIGHUP reads the
 * configuration again (environment + -c FILE) and applies what can change while
 * dumps run; the rest needs a restart (main_reload). Every thread starts with these
 * signals blocked.
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
#include "journal.h"
#include "json_util.h"
#include "log.h"
#include "mdapi.h"
#include "mhd.h"
#include "queue.h"
#include "record.h"
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
		               dir, ERR_ERRNO(errno));
	if (!S_ISDIR(st.st_mode))
		return err_set(e, ERR_IO, "DUMP_DIR '%s' is not a folder", dir);
	if (access(dir, W_OK | X_OK) < 0)
		return err_set(e, ERR_IO, "DUMP_DIR '%s' is not writable by uid %u: %s", dir,
		               (unsigned)getuid(), ERR_ERRNO(errno));
	if (st.st_mode & 0077)
		log_warn("dump_dir_mode",
		         "dir=%s mode=%04o hint=\"dumps hold guest secrets: "
		         "chmod 0700\"",
		         log_q(dir), (unsigned)(st.st_mode & 07777));
	return 0;
}

/* Keys that only a restart applies: what was bound, opened or named at start. */
static const enum config_key main_restart_keys[] = {CFG_LISTEN, CFG_DUMP_DIR, CFG_LIBVIRT_URI,
                                                    CFG_HOST_NAME};

static void main_queue_config(const struct config *cfg, struct queue_config *qc)
{
	qc->max_concurrent = (int)config_num(cfg, CFG_MAX_CONCURRENT);
	qc->max_wait_s = (int)config_num(cfg, CFG_MAX_WAIT);
	qc->reserve_bytes = (unsigned long long)config_num(cfg, CFG_DISK_RESERVE) << 20;
}

/*
 * SIGHUP: read the configuration again. A configuration with an error changes
 * nothing. Otherwise the log level, MEMDUMP_SERVICE_TOKEN, the queue limits
 * (MEMDUMP_MAX_CONCURRENT, MEMDUMP_MAX_WAIT, MEMDUMP_DISK_RESERVE_MB) and the InfluxDB
 * target apply at once; a changed key of main_restart_keys is named in the log and
 * keeps its running value. Returns the configuration now in force (cfg stays the
 * owner of the strings the running modules borrowed, so it is never freed here).
 */
static struct config *main_reload(const char *file, const struct config *cfg, struct config *live,
                                  struct queue *q, struct spool *sp, struct mdapi *api)
{
	struct config *c;
	struct queue_config qc = {0};
	enum log_level lvl = LOG_LVL_INFO;
	struct err e = {0};
	char restart[256] = "";

	c = config_load(file, &e);
	if (c == NULL) {
		log_error("reload_failed", "error=%s (keeping the running configuration)",
		          log_q(e.msg));
		return live;
	}
	for (size_t i = 0; i < sizeof(main_restart_keys) / sizeof(main_restart_keys[0]); i++) {
		enum config_key k = main_restart_keys[i];

		if (strcmp(config_str(cfg, k), config_str(c, k)) != 0)
			snprintf(restart + strlen(restart), sizeof(restart) - strlen(restart),
			         "%s%s", restart[0] ? "," : "", config_key_name(k));
	}
	log_level_parse(config_str(c, CFG_LOG_LEVEL), &lvl);
	log_set_level(lvl);
	mdapi_set_token(api, config_str(c, CFG_SERVICE_TOKEN));
	main_queue_config(c, &qc);
	queue_set_limits(q, &qc);
	spool_set_target(sp, config_str(c, CFG_INFLUX_URL), config_str(c, CFG_INFLUX_DB),
	                 config_str(c, CFG_INFLUX_TOKEN));
	/* no URLs or tokens in the log: an InfluxDB URL may carry credentials */
	log_info("reloaded",
	         "file=%s log_level=%s max_concurrent=%d max_wait_s=%d disk_reserve_mb=%lld "
	         "influx_db=%s token=%s",
	         log_q(file ? file : "-"), log_level_name(lvl), qc.max_concurrent, qc.max_wait_s,
	         config_num(c, CFG_DISK_RESERVE), log_q(config_str(c, CFG_INFLUX_DB)),
	         config_str(c, CFG_SERVICE_TOKEN)[0] ? "set" : "none");
	if (restart[0])
		log_warn("reload_needs_restart",
		         "keys=%s note=\"changed, still running with the "
		         "values from the start: restart memdumpd to apply them\"",
		         restart);
	if (live != cfg)
		config_free(live);
	return c;
}

int main(int argc, char **argv)
{
	struct config *cfg, *live;
	const char *file = NULL;
	struct err e = {0};
	struct journal *jn = NULL;
	struct spool *sp = NULL;
	struct virt *v = NULL;
	struct virt_ops vo;
	struct queue *q = NULL;
	struct mdapi *api = NULL;
	struct mhd *h = NULL;
	struct queue_config qc;
	struct mdapi_config ac;
	enum log_level lvl = LOG_LVL_INFO;
	char host[256] = "";
	const char *dump_dir;
	sigset_t sigs;
	int code = 0, sig;

	cfg = config_from_args(CFG_P_MEMDUMPD, "memdumpd",
	                       "captures KVM guest memory through libvirt and serves the dumps",
	                       argc, argv, &file, &code);
	if (cfg == NULL)
		return code;
	live = cfg;
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
	    (sp = record_spool_new(dump_dir, config_str(cfg, CFG_INFLUX_URL),
	                           config_str(cfg, CFG_INFLUX_DB),
	                           config_str(cfg, CFG_INFLUX_TOKEN), &e)) == NULL) {
		log_error("startup_failed", "error=%s", log_q(e.msg));
		goto out;
	}
	v = virt_new(config_str(cfg, CFG_LIBVIRT_URI));
	qc.dump_dir = dump_dir;
	qc.host = host;
	main_queue_config(cfg, &qc);
	virt_ops_init(&vo, v);
	q = queue_new(&qc, &vo, jn, sp);
	ac.queue = q;
	ac.virt = &vo;
	ac.spool = sp;
	ac.token = config_str(cfg, CFG_SERVICE_TOKEN);
	ac.host = host;
	ac.dump_dir = dump_dir;
	api = mdapi_new(&ac);
	if ((h = mhd_start(config_str(cfg, CFG_LISTEN), api, &e)) == NULL) {
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
			live = main_reload(file, cfg, live, q, sp, api);
			continue;
		}
		log_info("stopping", "signal=%d", sig);
		break;
	}
	code = 0;
out:
	mhd_stop(h);
	mdapi_free(api);
	if (queue_free(q) < 0)
		_exit(1); /* a worker is stuck in libvirt: nothing below is safe to free */
	virt_free(v);
	spool_free(sp);
	journal_free(jn);
	if (live != cfg)
		config_free(live);
	config_free(cfg);
	http_client_global_cleanup();
	return code;
}
