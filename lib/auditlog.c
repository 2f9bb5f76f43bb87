/*
 * auditlog: see auditlog.h. Timestamps are nanoseconds, strictly increasing in
 * the chain (InfluxDB keeps one point per series and time); the spool file of
 * an event is "<chain>-<seq, 12 digits>.lp", unique across processes.
 */
#include "auditlog.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "redis_store.h"
#include "spool.h"
#include "xmalloc.h"

#define AUDITLOG_REDIS_TIMEOUT_MS 500

struct auditlog {
	char chain[AUDIT_CHAIN_MAX + 1];
	long long seq;
	long long last_ns;
	char prev[AUDIT_HASH_HEX + 1];
	struct spool *spool;
	struct store *heads; /* Redis: the chain's head (seq, hash), for verify */
	bool heads_failing;  /* logged once until it works again */
};

/* "<hostname>-<pid>-<8 hex>", hostname cut and limited to [A-Za-z0-9.-]. */
static void auditlog_chain_id(char out[AUDIT_CHAIN_MAX + 1])
{
	char host[64] = "host";
	unsigned char rnd[4] = {0};
	size_t n;

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "host");
	host[sizeof(host) - 1] = '\0';
	for (n = 0; host[n] != '\0'; n++) {
		char c = host[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-'))
			host[n] = '-';
	}
	if (n == 0)
		snprintf(host, sizeof(host), "host");
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		memcpy(rnd, &ts.tv_nsec, sizeof(rnd));
	}
	snprintf(out, AUDIT_CHAIN_MAX + 1, "%s-%ld-%02x%02x%02x%02x", host, (long)getpid(), rnd[0],
	         rnd[1], rnd[2], rnd[3]);
}

struct auditlog *auditlog_new(const struct config *cfg, struct err *e)
{
	struct auditlog *l = xcalloc(1, sizeof(*l));

	l->spool =
	    spool_new(config_str(cfg, CFG_AUDIT_SPOOL), "ns", config_str(cfg, CFG_INFLUX_URL),
	              config_str(cfg, CFG_INFLUX_DB), config_str(cfg, CFG_INFLUX_TOKEN), e);
	if (l->spool == NULL) {
		err_prefix(e, "MEMDUMP_AUDIT_SPOOL");
		free(l);
		return NULL;
	}
	auditlog_chain_id(l->chain);
	memcpy(l->prev, AUDIT_ZERO_HASH, sizeof(l->prev));
	l->heads = store_new(config_str(cfg, CFG_REDIS_URL), AUDITLOG_REDIS_TIMEOUT_MS, e);
	if (l->heads == NULL) {
		err_prefix(e, "REDIS_URL");
		spool_free(l->spool);
		free(l);
		return NULL;
	}
	return l;
}

void auditlog_free(struct auditlog *l)
{
	if (l == NULL)
		return;
	spool_free(l->spool);
	store_free(l->heads);
	free(l);
}

const char *auditlog_chain(const struct auditlog *l)
{
	return l->chain;
}

long long auditlog_seq(const struct auditlog *l)
{
	return l->seq;
}

void auditlog_emit(struct auditlog *l, const struct audit_event *ev)
{
	struct audit_rec r;
	struct timespec ts;
	struct err e = {0};
	long long now_ns;
	char *line = NULL, name[AUDIT_CHAIN_MAX + 16];
	size_t len = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	now_ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	if (now_ns <= l->last_ns)
		now_ns = l->last_ns + 1;
	if (audit_rec_build(&r, ev, l->chain, l->seq + 1, now_ns / 1000000, l->prev, &e) < 0) {
		log_error("audit_bad_event", "action=%s error=%s", log_q(ev->action), log_q(e.msg));
		return;
	}
	log_info("audit",
	         "chain=%s seq=%lld action=%s result=%s status=%lld request_id=%s user=%s auth=%s "
	         "role=%s client=%s vm=%s dump_id=%s detail=%s hash=%s",
	         r.chain, r.seq, r.action, r.result, r.status, log_q(r.request_id), log_q(r.user),
	         log_q(r.auth), log_q(r.role), log_q(r.client), log_q(r.vm), log_q(r.dump_id),
	         log_q(r.detail), r.hash);
	if (audit_line(&r, now_ns, &line, &len, &e) < 0) {
		log_error("audit_bad_event", "chain=%s seq=%lld error=%s", r.chain, r.seq,
		          log_q(e.msg));
		goto out;
	}
	snprintf(name, sizeof(name), "%s-%012lld", r.chain, r.seq);
	if (spool_add(l->spool, name, line, len, &e) < 0) {
		log_error("audit_spool_failed", "chain=%s seq=%lld error=%s", r.chain, r.seq,
		          log_q(e.msg));
		goto out;
	}
	/* the chain moves on once the event is in the log and the spool */
	l->seq = r.seq;
	l->last_ns = now_ns;
	memcpy(l->prev, r.hash, sizeof(l->prev));
	/* the head outside InfluxDB lets verify see a removed tail; without Redis the
	 * chain itself still holds (verify says heads were not checked) */
	if (store_audit_head_put(l->heads, r.chain, r.seq, r.hash, &e) < 0) {
		if (!l->heads_failing)
			log_warn("audit_head_failed", "chain=%s error=%s", r.chain, log_q(e.msg));
		l->heads_failing = true;
	} else {
		l->heads_failing = false;
	}
out:
	free(line);
	audit_rec_release(&r);
}

int auditlog_flush(struct auditlog *l, long timeout_ms, struct err *e)
{
	return spool_drain(l->spool, timeout_ms, e);
}
