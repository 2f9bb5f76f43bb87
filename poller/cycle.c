/*
 * cycle: see cycle.h.
 *
 * DESIGN: the merge works on copies. Step 1 collects every dump the hosts
 * listed (with "service" added, overdue ones turned failed); step 2 settles the
 * active entries no host listed (lost, no longer configured, overdue); step 3
 * turns the differences with the snapshot into writes and events; then each
 * VM's latest dump, the inventory and the health objects. Nothing is written
 * when nothing changed, except health and the poller key (they say "alive").
 */
#include "cycle.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dump.h"
#include "json_util.h"

static bool cycle_is_final(const json_t *d)
{
	return dump_state_name_is_final(jsonu_str(d, "state"));
}

static long long cycle_time(const json_t *d, const char *key)
{
	const char *s = jsonu_str(d, key);
	long long ms;

	if (s == NULL || jsonu_time_parse(s, &ms, NULL) < 0)
		return -1;
	return ms;
}

static void cycle_set_time(json_t *d, const char *key, long long ms)
{
	char t[32];

	jsonu_time_format(ms, t);
	json_object_set_new(d, key, json_string(t));
}

/* Turn d (a copy we own) into a failed dump finished at finished_ms. */
static void cycle_fail(json_t *d, long long finished_ms, const char *reason)
{
	long long started = cycle_time(d, "started_at");

	json_object_set_new(d, "state", json_string(dump_state_name(DUMP_FAILED)));
	json_object_set_new(d, "error", json_string(reason));
	cycle_set_time(d, "finished_at", finished_ms);
	if (started >= 0 && finished_ms >= started)
		json_object_set_new(d, "duration_s",
		                    json_real((double)(finished_ms - started) / 1e3));
	json_object_set_new(d, "rate_bps", json_null());
	json_object_set_new(d, "eta_s", json_null());
}

/* Overdue: not final and created more than max_wait ago; fail it (deterministic
 * finished_at, so the same answer next cycle gives the same object). */
static bool cycle_fail_overdue(const struct cycle_input *in, json_t *d, const char *why)
{
	long long created = cycle_time(d, "created_at");
	char reason[512];

	if (cycle_is_final(d) || created < 0 || in->now_ms - created < in->max_wait_s * 1000)
		return false;
	snprintf(reason, sizeof(reason), "gave up after %lld s (MEMDUMP_MAX_WAIT) in state %s: %s",
	         in->max_wait_s, jsonu_str(d, "state"), why);
	cycle_fail(d, created + in->max_wait_s * 1000, reason);
	return true;
}

static const struct cycle_host *cycle_host_find(const struct cycle_input *in, const char *url)
{
	for (size_t i = 0; url != NULL && i < in->n_hosts; i++)
		if (strcmp(in->hosts[i].url, url) == 0)
			return &in->hosts[i];
	return NULL;
}

json_t *cycle_missing(const struct store_snapshot *snap, const char *url, const json_t *dumps)
{
	json_t *out = json_array(), *listed = json_object(), *d;
	const char *id;
	size_t i;

	json_array_foreach(dumps, i, d)
		if ((id = jsonu_str(d, "dump_id")) != NULL)
			json_object_set_new(listed, id, json_true());
	json_object_foreach(snap->active, id, d) {
		const char *svc = jsonu_str(d, "service");

		if (svc != NULL && strcmp(svc, url) == 0 && json_object_get(listed, id) == NULL)
			json_array_append_new(out, json_string(id));
	}
	json_decref(listed);
	return out;
}

/* Step 1: every listed dump, copied, with its service; overdue ones failed. */
static json_t *cycle_collect(const struct cycle_input *in)
{
	json_t *seen = json_object(), *d;
	size_t i;

	for (size_t h = 0; h < in->n_hosts; h++) {
		const struct cycle_host *host = &in->hosts[h];
		char why[400];

		snprintf(why, sizeof(why), "memdumpd at %s still reports it unfinished", host->url);
		json_array_foreach(host->dumps, i, d) {
			const char *id = jsonu_str(d, "dump_id");
			json_t *c;

			if (id == NULL || json_object_get(seen, id) != NULL)
				continue;
			c = json_deep_copy(d);
			json_object_set_new(c, "service", json_string(host->url));
			cycle_fail_overdue(in, c, why);
			json_object_set_new(seen, id, c);
		}
	}
	return seen;
}

/* Step 2: an active entry no host listed: new failed copy, or NULL to leave it. */
static json_t *cycle_settle_unlisted(const struct cycle_input *in, const char *id,
                                     const json_t *prev)
{
	const char *svc = jsonu_str(prev, "service");
	const struct cycle_host *host = cycle_host_find(in, svc);
	json_t *c = json_deep_copy(prev);
	char why[512];

	if (svc == NULL) {
		cycle_fail(c, in->now_ms, "no memdumpd is recorded for this dump");
		return c;
	}
	if (host == NULL) {
		snprintf(why, sizeof(why),
		         "memdumpd at %s is no longer in MEMDUMP_SERVICE_URL; its dumps are not "
		         "tracked",
		         svc);
		cycle_fail(c, in->now_ms, why);
		return c;
	}
	if (host->dumps != NULL && json_object_get(host->gone, id) != NULL) {
		snprintf(why, sizeof(why), "unknown to memdumpd at %s (restarted or lost)", svc);
		cycle_fail(c, in->now_ms, why);
		return c;
	}
	snprintf(why, sizeof(why), "memdumpd at %s %s", svc,
	         host->dumps == NULL ? "is unreachable" : "could not confirm it");
	if (cycle_fail_overdue(in, c, why))
		return c;
	json_decref(c);
	return NULL;
}

static json_t *cycle_event(const struct cycle_input *in, const json_t *d)
{
	json_t *ev = json_object(), *progress = json_object_get(d, "progress");
	const char *svc = jsonu_str(d, "service");

	json_object_set_new(ev, "dump_id", json_string(jsonu_str(d, "dump_id")));
	json_object_set_new(ev, "vm", json_string(jsonu_str(d, "vm")));
	json_object_set_new(ev, "state", json_string(jsonu_str(d, "state")));
	json_object_set(ev, "progress", progress ? progress : json_null());
	json_object_set_new(ev, "service", svc ? json_string(svc) : json_null());
	cycle_set_time(ev, "at", in->now_ms);
	return ev;
}

static bool cycle_state_changed(const json_t *prev, const json_t *d)
{
	const char *a = jsonu_str(prev, "state"), *b = jsonu_str(d, "state");

	return prev == NULL || a == NULL || b == NULL || strcmp(a, b) != 0;
}

/* Seconds a finished dump still has to live in Redis (at least 1). */
static long long cycle_ttl(const struct cycle_input *in, const json_t *d)
{
	long long fin = cycle_time(d, "finished_at");
	long long left = in->record_ttl_s;

	if (fin >= 0 && fin <= in->now_ms)
		left -= (in->now_ms - fin) / 1000;
	return left;
}

static void cycle_dump_put(struct store_cycle_write *w, const json_t *d, long long ttl,
                           bool only_if_new)
{
	json_t *o = json_object();

	json_object_set(o, "dump", (json_t *)d);
	json_object_set_new(o, "ttl_s", json_integer(ttl));
	json_object_set_new(o, "only_if_new", json_boolean(only_if_new));
	json_array_append_new(w->dumps, o);
}

/* Step 3: one dump's writes, given its state in the snapshot (prev, may be NULL). */
/*
 * An active dump Redis does not have: news (publish its state) when it reached that
 * state after its host's previous answer, or on this poller's first answer from the
 * host (subscribers learn what is running); otherwise it is a rebuild after a FLUSHALL
 * or a Redis restart, and its event went out when it happened.
 */
static bool cycle_active_is_news(const struct cycle_input *in, const json_t *d)
{
	const struct cycle_host *h = cycle_host_find(in, jsonu_str(d, "service"));
	const char *state = jsonu_str(d, "state");
	const char *key =
	    state != NULL && strcmp(state, "running") == 0 ? "started_at" : "created_at";

	return h == NULL || h->events_since_ms <= 0 || cycle_time(d, key) > h->events_since_ms;
}

/*
 * A finished dump its host reports in another final state than the one Redis keeps as
 * its VM's latest: the poller settled it itself (MEMDUMP_MAX_WAIT, or "unknown to
 * memdumpd" while a restarting memdumpd had not restored it yet) and memdumpd, the
 * source of truth, has now finished it. Its record is rewritten, not kept. This
 * covers a poller that restarted meanwhile (no previous answer to compare with);
 * otherwise a dump that finished since the host's previous answer is rewritten anyway.
 */
static bool cycle_corrects_latest(const struct cycle_input *in, const json_t *d)
{
	const json_t *last = json_object_get(in->snap->latest, jsonu_str(d, "vm"));
	const char *a = jsonu_str(last, "dump_id"), *b = jsonu_str(d, "dump_id");

	return a != NULL && b != NULL && strcmp(a, b) == 0 && cycle_is_final(last) &&
	       cycle_state_changed(last, d);
}

static void cycle_dump_writes(const struct cycle_input *in, struct store_cycle_write *w,
                              const char *id, const json_t *prev, const json_t *d)
{
	if (cycle_is_final(d)) {
		long long ttl = cycle_ttl(in, d);

		if (prev != NULL) {
			json_array_append_new(w->active_del, json_string(id));
			cycle_dump_put(w, d, ttl < 1 ? 1 : ttl, false);
			if (cycle_state_changed(prev, d))
				json_array_append_new(w->events, cycle_event(in, d));
		} else if (ttl >= 1) {
			const struct cycle_host *h = cycle_host_find(in, jsonu_str(d, "service"));
			/* finished since the host's previous answer: news, and memdumpd's word
			 * replaces whatever the poller recorded meanwhile (it gave up on it) */
			bool news = h != NULL && h->events_since_ms > 0 &&
			            cycle_time(d, "finished_at") > h->events_since_ms;
			bool corrects = cycle_corrects_latest(in, d);

			cycle_dump_put(w, d, ttl, !(news || corrects));
			if (news || corrects)
				json_array_append_new(w->events, cycle_event(in, d));
		}
		return;
	}
	if (prev != NULL && json_equal((json_t *)prev, (json_t *)d))
		return;
	json_object_set(w->active_set, id, (json_t *)d);
	cycle_dump_put(w, d, 0, false);
	if (prev != NULL ? cycle_state_changed(prev, d) : cycle_active_is_news(in, d))
		json_array_append_new(w->events, cycle_event(in, d));
}

/* a newer than b (created_at, then dump_id)? */
static bool cycle_newer(const json_t *a, const json_t *b)
{
	const char *ca = jsonu_str(a, "created_at"), *cb = jsonu_str(b, "created_at");
	int c = strcmp(ca ? ca : "", cb ? cb : "");

	if (c == 0) {
		ca = jsonu_str(a, "dump_id");
		cb = jsonu_str(b, "dump_id");
		c = strcmp(ca ? ca : "", cb ? cb : "");
	}
	return c > 0;
}

/* Each VM's newest dump among those this cycle knows (current: id -> dump). */
static void cycle_latest(const struct cycle_input *in, struct store_cycle_write *w, json_t *current)
{
	json_t *best = json_object(), *d;
	const char *id, *vm;

	json_object_foreach(current, id, d) {
		json_t *b;

		if ((vm = jsonu_str(d, "vm")) == NULL)
			continue;
		b = json_object_get(best, vm);
		if (b == NULL || cycle_newer(d, b))
			json_object_set(best, vm, d);
	}
	json_object_foreach(best, vm, d) {
		json_t *old = json_object_get(in->snap->latest, vm);

		if (json_is_object(old) && (cycle_newer(old, d) || json_equal(old, d)))
			continue;
		json_object_set(w->latest_set, vm, d);
	}
	json_decref(best);
}

static const char *cycle_host_name(const struct cycle_input *in, const struct cycle_host *h)
{
	const char *name = jsonu_str(h->health, "host");

	if (name == NULL)
		name = jsonu_str(json_object_get(in->snap->health, h->url), "host");
	return name;
}

static void cycle_inventory(const struct cycle_input *in, struct store_cycle_write *w)
{
	json_t *claimed = json_object(), *v;
	const char *name;
	size_t i;

	for (size_t k = 0; k < in->n_hosts; k++) {
		const struct cycle_host *h = &in->hosts[k];
		const char *hn = cycle_host_name(in, h);

		json_array_foreach(h->vms, i, v) {
			json_t *c;

			name = jsonu_str(v, "name");
			if (name == NULL || json_object_get(claimed, name) != NULL)
				continue; /* a name two hosts use: the first listed host wins */
			c = json_deep_copy(v);
			json_object_set_new(c, "host", hn ? json_string(hn) : json_null());
			json_object_set_new(c, "service", json_string(h->url));
			json_object_set_new(c, "reachable", json_true());
			json_object_set_new(claimed, name, json_string(h->url));
			if (!json_equal(c, json_object_get(in->snap->vms, name)))
				json_object_set(w->vms_set, name, c);
			json_decref(c);
		}
	}
	json_object_foreach(in->snap->vms, name, v) {
		const char *svc = jsonu_str(v, "service");
		const struct cycle_host *h = cycle_host_find(in, svc);

		if (json_object_get(claimed, name) != NULL)
			continue;
		if (h == NULL || h->vms != NULL) {
			/* gone from its host's list, or from the configuration */
			json_array_append_new(w->vms_del, json_string(name));
		} else if (!json_is_false(json_object_get(v, "reachable"))) {
			json_t *c = json_deep_copy(v);

			json_object_set_new(c, "reachable", json_false());
			json_object_set_new(w->vms_set, name, c);
		}
	}
	json_decref(claimed);
}

static void cycle_copy_member(json_t *to, const json_t *from, const json_t *prev, const char *key)
{
	json_t *v = json_object_get(from, key);

	if (v == NULL)
		v = json_object_get(prev, key);
	json_object_set(to, key, v ? v : json_null());
}

static void cycle_health(const struct cycle_input *in, struct store_cycle_write *w)
{
	static const char *const copied[] = {"status", "version", "uptime_s", "libvirt",
	                                     "disk",   "queue",   "influx"};
	char now[32];
	const char *url;
	json_t *v;

	jsonu_time_format(in->now_ms, now);
	for (size_t k = 0; k < in->n_hosts; k++) {
		const struct cycle_host *h = &in->hosts[k];
		const json_t *prev = json_object_get(in->snap->health, h->url);
		const char *hn = cycle_host_name(in, h);
		bool up = h->health != NULL;
		json_t *o = json_object(), *t;

		json_object_set_new(o, "service", json_string(h->url));
		json_object_set_new(o, "host", hn ? json_string(hn) : json_null());
		json_object_set_new(o, "reachable", json_boolean(up));
		if (up) {
			json_object_set_new(o, "last_success", json_string(now));
			json_object_set_new(o, "down_since", json_null());
			json_object_set_new(
			    o, "latency_ms",
			    json_real((double)(long long)(h->latency_ms * 10) / 10));
		} else {
			t = json_object_get(prev, "last_success");
			json_object_set(o, "last_success", json_is_string(t) ? t : json_null());
			t = json_object_get(prev, "down_since");
			if (json_is_string(t) && json_is_false(json_object_get(prev, "reachable")))
				json_object_set(o, "down_since", t);
			else
				json_object_set_new(o, "down_since", json_string(now));
			json_object_set_new(o, "latency_ms", json_null());
		}
		json_object_set_new(o, "last_error",
		                    h->error ? json_string(h->error) : json_null());
		json_object_set_new(o, "checked_at", json_string(now));
		for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++)
			cycle_copy_member(o, h->health, prev, copied[i]);
		json_object_set_new(w->health_set, h->url, o);
	}
	json_object_foreach(in->snap->health, url, v)
		if (cycle_host_find(in, url) == NULL)
			json_array_append_new(w->health_del, json_string(url));
}

void cycle_merge(const struct cycle_input *in, struct store_cycle_write *w, size_t *active_left)
{
	json_t *seen, *current, *d, *prev;
	const char *id;
	size_t left = 0;

	memset(w, 0, sizeof(*w));
	w->active_set = json_object();
	w->active_del = json_array();
	w->dumps = json_array();
	w->latest_set = json_object();
	w->vms_set = json_object();
	w->vms_del = json_array();
	w->health_set = json_object();
	w->health_del = json_array();
	w->events = json_array();

	seen = cycle_collect(in);
	current = json_copy(seen); /* shallow: id -> dump known this cycle */
	json_object_foreach(in->snap->active, id, prev) {
		if (!json_is_object(prev)) {
			json_array_append_new(w->active_del, json_string(id)); /* not ours */
			continue;
		}
		if (json_object_get(seen, id) != NULL)
			continue;
		d = cycle_settle_unlisted(in, id, prev);
		if (d == NULL) {
			left++;
			continue;
		}
		json_object_set_new(current, id, d);
	}
	json_object_foreach(current, id, d) {
		prev = json_object_get(in->snap->active, id);
		cycle_dump_writes(in, w, id, json_is_object(prev) ? prev : NULL, d);
		if (!cycle_is_final(d))
			left++;
	}
	cycle_latest(in, w, current);
	cycle_inventory(in, w);
	cycle_health(in, w);
	json_decref(current);
	json_decref(seen);
	if (active_left != NULL)
		*active_left = left;
}

void cycle_write_release(struct store_cycle_write *w)
{
	if (w == NULL)
		return;
	json_decref(w->active_set);
	json_decref(w->active_del);
	json_decref(w->dumps);
	json_decref(w->latest_set);
	json_decref(w->vms_set);
	json_decref(w->vms_del);
	json_decref(w->health_set);
	json_decref(w->health_del);
	json_decref(w->events);
	json_decref(w->poller);
	memset(w, 0, sizeof(*w));
}
