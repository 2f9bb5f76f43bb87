/*
 * poller: see poller.h.
 *
 * DESIGN: one loop. Each turn: hold the lease (standby pollers stop there and
 * retry every second); WATCH + read the snapshot; GET /api/health, /api/vms and
 * /api/dumps of every host at once (http_client_do_many, one client per request
 * so connections are kept alive); ask by id for active dumps a host did not
 * list; merge (cycle.c); MULTI/EXEC. A conflict (an API trigger or a new leader
 * wrote a watched key meanwhile) redoes the turn at once: nothing older than the
 * fetch can overwrite what the API queued after it. Sleeps renew the lease.
 * Every outage is logged once when it starts and once when it ends.
 */
#include "poller.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cycle.h"
#include "http_client.h"
#include "json_util.h"
#include "log.h"
#include "redis_store.h"
#include "svc.h"
#include "xmalloc.h"

#define POLLER_LEASE_MS 8000          /* a dead leader is replaced within this */
#define POLLER_RENEW_MS 2000          /* the leader renews at least this often */
#define POLLER_STANDBY_MS 1000        /* a standby asks for the lease this often */
#define POLLER_FETCH_MAX_MS 4000      /* cap on one poll request (keeps the lease safe) */
#define POLLER_CONFIRM_BUDGET_MS 2000 /* per cycle, for GET /api/dumps/{id} */
#define POLLER_REDIS_TIMEOUT_MS 2000
#define POLLER_REDIS_BACKOFF_MAX_MS 8000
#define POLLER_HOST_BACKOFF_MAX_MS 10000
#define POLLER_CONFLICT_RETRIES 3

enum poller_call { PC_HEALTH, PC_VMS, PC_DUMPS, PC__MAX };

static const char *const poller_paths[PC__MAX] = {"/api/health", "/api/vms", "/api/dumps"};
static const char *const poller_members[PC__MAX] = {NULL, "vms", "dumps"};

struct poller_host {
	char *url;
	struct svc *svc[PC__MAX];
	struct http_client *http[PC__MAX];
	int up;                    /* -1 unknown, 0 down, 1 up (for state-change logs) */
	int failures;              /* consecutive failed cycles (backoff) */
	long long next_try_ms;     /* monotonic: skip this host until then */
	long long events_since_ms; /* wall: its /api/dumps answer of the last committed cycle */
	char last_error[ERR_MSG_MAX];
};

struct poller {
	struct config *cfg;
	const char *file;
	char id[128];
	struct store *store;
	struct poller_host *hosts;
	size_t n_hosts;
	bool leader;
	int redis_up; /* -1 unknown, 0 down, 1 up */
	int redis_failures;
	long long leader_since_ms;
	long long last_renew_mono;
};

static volatile sig_atomic_t poller_stop_flag;
static volatile sig_atomic_t poller_reload_flag;

static void poller_on_signal(int sig)
{
	if (sig == SIGHUP)
		poller_reload_flag = 1;
	else
		poller_stop_flag = 1;
}

void poller_signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = poller_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* ---- configuration -------------------------------------------------------------------- */

static void poller_hosts_free(struct poller_host *hosts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (int c = 0; c < PC__MAX; c++) {
			svc_free(hosts[i].svc[c]);
			http_client_free(hosts[i].http[c]);
		}
		free(hosts[i].url);
	}
	free(hosts);
}

static long poller_fetch_timeout_ms(const struct config *cfg)
{
	long long t = config_num(cfg, CFG_SERVICE_TIMEOUT) * 1000;

	return t < POLLER_FETCH_MAX_MS ? (long)t : POLLER_FETCH_MAX_MS;
}

/* Build hosts from p->cfg (which must be valid); st (steals) is its store. */
static void poller_apply_config(struct poller *p, struct store *st)
{
	const char *const *urls;
	const char *token = config_str(p->cfg, CFG_SERVICE_TOKEN);
	long timeout = poller_fetch_timeout_ms(p->cfg);
	struct poller_host *old = p->hosts;
	size_t n_old = p->n_hosts;
	enum log_level lvl;
	size_t n;

	if (log_level_parse(config_str(p->cfg, CFG_LOG_LEVEL), &lvl) == 0)
		log_set_level(lvl);
	urls = config_service_urls(p->cfg, &n);
	p->hosts = xcalloc(n ? n : 1, sizeof(*p->hosts));
	p->n_hosts = n;
	for (size_t i = 0; i < n; i++) {
		struct poller_host *h = &p->hosts[i];

		h->url = xstrdup(urls[i]);
		h->up = -1;
		for (size_t k = 0; k < n_old; k++) /* a reload keeps a host's event window */
			if (strcmp(old[k].url, h->url) == 0)
				h->events_since_ms = old[k].events_since_ms;
		for (int c = 0; c < PC__MAX; c++) {
			h->svc[c] = svc_new(urls[i], token, timeout);
			h->http[c] = http_client_new(timeout);
		}
	}
	poller_hosts_free(old, n_old);
	store_free(p->store);
	p->store = st;
	p->redis_up = -1;
}

/* The store for cfg's REDIS_URL, or NULL with the error logged as event. The config
 * table only checks the URL's scheme; store_new parses it fully. */
static struct store *poller_store_new(const struct config *cfg, const char *event)
{
	struct store *st;
	struct err e;

	st = store_new(config_str(cfg, CFG_REDIS_URL), POLLER_REDIS_TIMEOUT_MS, &e);
	if (st == NULL)
		log_error(event, "key=REDIS_URL error=%s", log_q(e.msg));
	return st;
}

struct poller *poller_new(struct config *cfg, const char *file)
{
	struct poller *p;
	struct store *st = poller_store_new(cfg, "config_error");
	char host[64] = "localhost";

	if (st == NULL) {
		config_free(cfg);
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->cfg = cfg;
	p->file = file;
	gethostname(host, sizeof(host) - 1);
	snprintf(p->id, sizeof(p->id), "%s:%ld", host, (long)getpid());
	poller_apply_config(p, st);
	return p;
}

void poller_free(struct poller *p)
{
	if (p == NULL)
		return;
	poller_hosts_free(p->hosts, p->n_hosts);
	store_free(p->store);
	config_free(p->cfg);
	free(p);
}

static void poller_reload(struct poller *p)
{
	struct config *c;
	struct store *st;
	struct err e;

	c = config_load(p->file, &e);
	if (c == NULL) {
		log_error("reload_failed", "error=%s (keeping the running configuration)",
		          log_q(e.msg));
		return;
	}
	st = poller_store_new(c, "reload_failed");
	if (st == NULL) {
		config_free(c);
		return;
	}
	config_free(p->cfg);
	p->cfg = c;
	poller_apply_config(p, st);
	log_info("reloaded", "hosts=%zu file=%s", p->n_hosts, log_q(p->file ? p->file : "-"));
}

/* ---- Redis state ------------------------------------------------------------------------- */

static void poller_redis_ok(struct poller *p)
{
	if (p->redis_up != 1)
		log_info("redis_up", "redis=%s", log_q(store_address(p->store)));
	p->redis_up = 1;
	p->redis_failures = 0;
}

/* Log the outage once; returns the backoff delay in ms. */
static long poller_redis_failed(struct poller *p, const struct err *e)
{
	long delay = 1000L << (p->redis_failures < 3 ? p->redis_failures : 3);

	if (delay > POLLER_REDIS_BACKOFF_MAX_MS)
		delay = POLLER_REDIS_BACKOFF_MAX_MS;
	if (p->redis_up != 0)
		log_error("redis_down", "error=%s retry=backoff up to %d s", log_q(e->msg),
		          POLLER_REDIS_BACKOFF_MAX_MS / 1000);
	p->redis_up = 0;
	p->redis_failures++;
	if (p->leader) {
		log_warn("lease_unknown", "id=%s (cannot renew while Redis is down)", log_q(p->id));
		p->leader = false;
	}
	return delay;
}

/* Hold or take the lease; 1 leader, 0 standby, -1 Redis error (e). */
static int poller_lease(struct poller *p, struct err *e)
{
	bool held;

	if (store_lease_hold(p->store, p->id, POLLER_LEASE_MS, &held, e) < 0)
		return -1;
	p->last_renew_mono = clock_monotonic_ms();
	if (held && !p->leader) {
		p->leader_since_ms = clock_realtime_ms();
		log_info("leader", "id=%s lease_ms=%d", log_q(p->id), POLLER_LEASE_MS);
	} else if (!held && p->leader) {
		log_warn("standby", "id=%s reason=\"lease held by another poller\"", log_q(p->id));
	} else if (!held && p->redis_up != 1) {
		log_info("standby", "id=%s reason=\"lease held by another poller\"", log_q(p->id));
	}
	p->leader = held;
	return held ? 1 : 0;
}

/* ---- one cycle --------------------------------------------------------------------------- */

struct poller_fetch {
	json_t *answer[PC__MAX];
	json_t *gone;
	char error[ERR_MSG_MAX];
	double latency_ms;
	long long dumps_at_ms; /* wall time the /api/dumps answer arrived, 0 when none */
	bool skipped;
};

static void poller_fetch_release(struct poller_fetch *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (int c = 0; c < PC__MAX; c++)
			json_decref(f[i].answer[c]);
		json_decref(f[i].gone);
	}
}

static void poller_host_state(struct poller_host *h, const struct poller_fetch *f)
{
	bool ok = f->answer[PC_HEALTH] != NULL;

	if (ok && h->up != 1)
		log_info("host_up", "service=%s", log_q(h->url));
	else if (!ok && h->up != 0 && !f->skipped)
		log_warn("host_down", "service=%s error=%s", log_q(h->url), log_q(f->error));
	else if (!f->skipped && f->error[0] && strcmp(f->error, h->last_error) != 0)
		log_warn("host_error", "service=%s error=%s", log_q(h->url), log_q(f->error));
	if (!f->skipped)
		snprintf(h->last_error, sizeof(h->last_error), "%s", f->error);
	if (ok) {
		h->up = 1;
		h->failures = 0;
		h->next_try_ms = 0;
	} else if (!f->skipped) {
		long delay = 1000L << (h->failures < 4 ? h->failures : 4);

		h->up = 0;
		h->failures++;
		h->next_try_ms =
		    clock_monotonic_ms() +
		    (delay < POLLER_HOST_BACKOFF_MAX_MS ? delay : POLLER_HOST_BACKOFF_MAX_MS);
	}
}

/* GET health, vms and dumps of every host due, all at once. */
static void poller_fetch_all(struct poller *p, struct poller_fetch *f)
{
	size_t n = p->n_hosts * PC__MAX, k = 0;
	struct http_client **clients = xcalloc(n ? n : 1, sizeof(*clients));
	struct http_request *reqs = xcalloc(n ? n : 1, sizeof(*reqs));
	struct http_response *resps = xcalloc(n ? n : 1, sizeof(*resps));
	struct err *errs = xcalloc(n ? n : 1, sizeof(*errs));
	size_t *owner = xcalloc(n ? n : 1, sizeof(*owner));
	int *rc = xcalloc(n ? n : 1, sizeof(*rc));
	long long now = clock_monotonic_ms(), wall;

	for (size_t i = 0; i < p->n_hosts; i++) {
		struct poller_host *h = &p->hosts[i];

		if (h->up == 0 && now < h->next_try_ms) {
			f[i].skipped = true;
			snprintf(f[i].error, sizeof(f[i].error), "%s", h->last_error);
			continue;
		}
		for (int c = 0; c < PC__MAX; c++) {
			svc_request_get(h->svc[c], poller_paths[c], &reqs[k]);
			clients[k] = h->http[c];
			owner[k] = i * PC__MAX + (size_t)c;
			k++;
		}
	}
	wall = clock_realtime_ms();
	http_client_do_many(clients, reqs, resps, rc, errs, k);
	for (size_t j = 0; j < k; j++) {
		size_t i = owner[j] / PC__MAX;
		int c = (int)(owner[j] % PC__MAX);
		struct err e;

		if (svc_parse(p->hosts[i].svc[c], rc[j], &errs[j], &resps[j], poller_members[c],
		              &f[i].answer[c], &e) < 0) {
			if (f[i].error[0] == '\0')
				snprintf(f[i].error, sizeof(f[i].error), "%s", e.msg);
		} else if (c == PC_HEALTH) {
			f[i].latency_ms = resps[j].total_s * 1000.0;
		} else if (c == PC_DUMPS) {
			f[i].dumps_at_ms = wall + (long long)(resps[j].total_s * 1000.0);
		}
		http_client_response_release(&resps[j]);
	}
	free(clients);
	free(reqs);
	free(resps);
	free(errs);
	free(owner);
	free(rc);
}

/* Ask each host by id for the active dumps it did not list (bounded in time). */
static void poller_confirm(struct poller *p, const struct store_snapshot *snap,
                           struct poller_fetch *f)
{
	long long deadline = clock_monotonic_ms() + POLLER_CONFIRM_BUDGET_MS;
	/* a call may take the whole fetch timeout: start one only if the cycle can still
	 * commit (one Redis timeout) before the lease renewed at its start runs out */
	long long lease_end = p->last_renew_mono + POLLER_LEASE_MS - POLLER_REDIS_TIMEOUT_MS;
	long timeout = poller_fetch_timeout_ms(p->cfg);

	for (size_t i = 0; i < p->n_hosts; i++) {
		json_t *missing, *id;
		size_t k;

		if (f[i].answer[PC_DUMPS] == NULL)
			continue;
		missing = cycle_missing(snap, p->hosts[i].url, f[i].answer[PC_DUMPS]);
		json_array_foreach(missing, k, id) {
			json_t *d = NULL;
			struct err e;

			if (clock_monotonic_ms() > deadline ||
			    clock_monotonic_ms() + timeout > lease_end)
				break;
			if (svc_dump_get(p->hosts[i].svc[PC_DUMPS], json_string_value(id), &d,
			                 &e) == 0) {
				json_array_append_new(f[i].answer[PC_DUMPS], d);
			} else if (e.code == ERR_NOT_FOUND) {
				if (f[i].gone == NULL)
					f[i].gone = json_object();
				json_object_set_new(f[i].gone, json_string_value(id), json_true());
			}
		}
		json_decref(missing);
	}
}

static void poller_log_events(const json_t *events)
{
	size_t i;
	json_t *ev;

	json_array_foreach(events, i, ev)
		log_info("dump_state", "id=%s vm=%s state=%s service=%s",
		         log_q(jsonu_str(ev, "dump_id")), log_q(jsonu_str(ev, "vm")),
		         log_q(jsonu_str(ev, "state")), log_q(jsonu_str(ev, "service")));
}

/*
 * One cycle as the leader: 0 done (*active_left set), -1 Redis failed (e),
 * 1 conflict (redo).
 */
static int poller_cycle(struct poller *p, size_t *active_left, struct err *e)
{
	struct store_snapshot snap;
	struct store_cycle_write w = {0};
	struct cycle_host *hosts = NULL;
	struct poller_fetch *f = NULL;
	struct cycle_input in;
	long long t0 = clock_monotonic_ms();
	char now[32];
	int rc = -1;

	if (store_cycle_begin(p->store, &snap, e) < 0)
		return -1;
	f = xcalloc(p->n_hosts ? p->n_hosts : 1, sizeof(*f));
	hosts = xcalloc(p->n_hosts ? p->n_hosts : 1, sizeof(*hosts));
	poller_fetch_all(p, f);
	poller_confirm(p, &snap, f);
	for (size_t i = 0; i < p->n_hosts; i++) {
		hosts[i].url = p->hosts[i].url;
		hosts[i].health = f[i].answer[PC_HEALTH];
		hosts[i].vms = f[i].answer[PC_VMS];
		hosts[i].dumps = f[i].answer[PC_DUMPS];
		hosts[i].gone = f[i].gone;
		hosts[i].error = f[i].error[0] ? f[i].error : NULL;
		hosts[i].latency_ms = f[i].latency_ms;
		hosts[i].events_since_ms = p->hosts[i].events_since_ms;
		poller_host_state(&p->hosts[i], &f[i]);
	}
	in.now_ms = clock_realtime_ms();
	in.max_wait_s = config_num(p->cfg, CFG_MAX_WAIT);
	in.record_ttl_s = config_num(p->cfg, CFG_RECORD_TTL);
	in.snap = &snap;
	in.hosts = hosts;
	in.n_hosts = p->n_hosts;
	cycle_merge(&in, &w, active_left);

	w.poller = json_object();
	json_object_set_new(w.poller, "id", json_string(p->id));
	jsonu_time_format(in.now_ms, now);
	json_object_set_new(w.poller, "last_cycle", json_string(now));
	json_object_set_new(w.poller, "cycle_ms", json_integer(clock_monotonic_ms() - t0));
	json_object_set_new(w.poller, "hosts", json_integer((json_int_t)p->n_hosts));
	jsonu_time_format(p->leader_since_ms, now);
	json_object_set_new(w.poller, "leader_since", json_string(now));
	json_object_set_new(w.poller, "active", json_integer((json_int_t)*active_left));
	w.poller_ttl_s = 3 * config_num(p->cfg, CFG_POLL_INTERVAL);

	if (store_cycle_commit(p->store, &w, e) == 0) {
		poller_log_events(w.events);
		for (size_t i = 0; i < p->n_hosts; i++)
			if (f[i].dumps_at_ms > 0)
				p->hosts[i].events_since_ms = f[i].dumps_at_ms;
		rc = 0;
	} else if (e->code == ERR_CONFLICT) {
		log_debug("cycle_conflict", "reason=%s", log_q(e->msg));
		rc = 1;
	}
	cycle_write_release(&w);
	poller_fetch_release(f, p->n_hosts);
	free(f);
	free(hosts);
	store_snapshot_release(&snap);
	return rc;
}

/* Sleep ms (in short steps, so signals act at once), renewing the lease as leader. */
static void poller_sleep(struct poller *p, long ms)
{
	long long end = clock_monotonic_ms() + ms;

	while (!poller_stop_flag && !poller_reload_flag) {
		long long now = clock_monotonic_ms();
		struct timespec ts = {0, 100 * 1000000L};
		struct err e;

		if (now >= end)
			break;
		if (end - now < 100)
			ts.tv_nsec = (long)(end - now) * 1000000L;
		if (p->leader && now - p->last_renew_mono >= POLLER_RENEW_MS &&
		    poller_lease(p, &e) < 0) {
			poller_redis_failed(p, &e);
			break;
		}
		nanosleep(&ts, NULL);
	}
}

int poller_run(struct poller *p)
{
	int conflicts = 0;

	log_info("started", "id=%s hosts=%zu interval_s=%lld", log_q(p->id), p->n_hosts,
	         config_num(p->cfg, CFG_POLL_INTERVAL));
	while (!poller_stop_flag) {
		size_t active_left = 0;
		struct err e;
		int rc;

		if (poller_reload_flag) {
			poller_reload_flag = 0;
			poller_reload(p);
		}
		rc = poller_lease(p, &e);
		if (rc < 0) {
			poller_sleep(p, poller_redis_failed(p, &e));
			continue;
		}
		poller_redis_ok(p);
		if (rc == 0) {
			poller_sleep(p, POLLER_STANDBY_MS);
			continue;
		}
		rc = poller_cycle(p, &active_left, &e);
		if (rc < 0) {
			poller_sleep(p, poller_redis_failed(p, &e));
			continue;
		}
		if (rc == 1 && ++conflicts <= POLLER_CONFLICT_RETRIES)
			continue; /* redo at once with a fresh snapshot */
		conflicts = 0;
		poller_sleep(p,
		             active_left > 0 ? 1000 : config_num(p->cfg, CFG_POLL_INTERVAL) * 1000);
	}
	if (p->leader) {
		struct err e;

		if (store_lease_release(p->store, p->id, &e) < 0)
			log_warn("lease_release_failed", "error=%s", log_q(e.msg));
	}
	log_info("stopped", "id=%s", log_q(p->id));
	return 0;
}
