/*
 * test_poller_cycle: the poller's merge (poller/cycle.c) from JSON inputs: what
 * hosts answered plus the Redis snapshot in, the cycle's writes out. Covers new,
 * progressing and finished dumps, lost and overdue ones, down hosts (inventory
 * kept, marked unreachable; health), events only on state changes, and never
 * replacing a VM's latest dump by an older one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../poller/cycle.h"
#include "json_util.h"

#define URL1 "http://127.0.0.1:5001"
#define URL2 "http://127.0.0.1:5002"
#define ID1 "20261122T183000Z-0123456789ab"
#define ID2 "20261122T182000Z-00000000beef"

static json_t *J(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, 0, &je);

	if (v == NULL)
		fail_msg("bad test JSON: %s: %s", je.text, text);
	return v;
}

static long long T(const char *iso)
{
	long long ms;

	assert_int_equal(jsonu_time_parse(iso, &ms, NULL), 0);
	return ms;
}

struct fixture {
	struct store_snapshot snap;
	struct cycle_host hosts[2];
	struct cycle_input in;
	struct store_cycle_write w;
	size_t left;
};

static void fx_init(struct fixture *f, const char *now)
{
	memset(f, 0, sizeof(*f));
	f->snap.active = json_object();
	f->snap.latest = json_object();
	f->snap.vms = json_object();
	f->snap.health = json_object();
	f->hosts[0].url = URL1;
	f->hosts[1].url = URL2;
	f->in.now_ms = T(now);
	f->in.max_wait_s = 600;
	f->in.record_ttl_s = 86400;
	f->in.snap = &f->snap;
	f->in.hosts = f->hosts;
	f->in.n_hosts = 1;
}

/* A host that answered everything. */
static void fx_up(struct fixture *f, int i, const char *vms, const char *dumps)
{
	f->hosts[i].health =
	    J("{\"status\":\"ok\",\"host\":\"kvm1\",\"queue\":{\"running\":0,\"queued\":0}}");
	f->hosts[i].vms = J(vms);
	f->hosts[i].dumps = J(dumps);
	f->hosts[i].latency_ms = 2.25;
}

static void fx_merge(struct fixture *f)
{
	cycle_merge(&f->in, &f->w, &f->left);
}

static void fx_free(struct fixture *f)
{
	cycle_write_release(&f->w);
	store_snapshot_release(&f->snap);
	for (int i = 0; i < 2; i++) {
		json_decref(f->hosts[i].health);
		json_decref(f->hosts[i].vms);
		json_decref(f->hosts[i].dumps);
		json_decref(f->hosts[i].gone);
	}
}

static const char *dump_json(const char *id, const char *vm, const char *state, const char *created,
                             char *buf, size_t cap)
{
	snprintf(buf, cap,
	         "{\"dump_id\":\"%s\",\"vm\":\"%s\",\"state\":\"%s\",\"progress\":%d,"
	         "\"created_at\":\"%s\",\"started_at\":\"%s\",\"finished_at\":%s,"
	         "\"service\":\"" URL1 "\"}",
	         id, vm, state, strcmp(state, "completed") == 0 ? 100 : 40, created, created,
	         strcmp(state, "completed") == 0 ? "\"2026-11-22T18:30:05.000Z\"" : "null");
	return buf;
}

static void test_new_running_dump(void **state)
{
	struct fixture f;
	char d[512], list[600];
	json_t *a;

	(void)state;
	fx_init(&f, "2026-11-22T18:30:10.000Z");
	snprintf(list, sizeof(list), "[%s]",
	         dump_json(ID1, "web", "running", "2026-11-22T18:30:00.000Z", d, sizeof(d)));
	fx_up(&f, 0, "[{\"name\":\"web\",\"state\":\"running\"}]", list);
	fx_merge(&f);
	a = json_object_get(f.w.active_set, ID1);
	assert_non_null(a);
	assert_string_equal(jsonu_str(a, "service"), URL1);
	assert_int_equal(f.left, 1);
	assert_int_equal(json_array_size(f.w.dumps), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(f.w.dumps, 0), "ttl_s")),
	                 0);
	assert_int_equal(json_array_size(f.w.events), 1);
	assert_string_equal(jsonu_str(json_array_get(f.w.events, 0), "state"), "running");
	assert_non_null(json_object_get(f.w.latest_set, "web"));
	/* inventory: host and service added, reachable */
	a = json_object_get(f.w.vms_set, "web");
	assert_string_equal(jsonu_str(a, "host"), "kvm1");
	assert_string_equal(jsonu_str(a, "service"), URL1);
	assert_true(json_is_true(json_object_get(a, "reachable")));
	/* health */
	a = json_object_get(f.w.health_set, URL1);
	assert_true(json_is_true(json_object_get(a, "reachable")));
	assert_string_equal(jsonu_str(a, "last_success"), "2026-11-22T18:30:10.000Z");
	assert_true(json_is_null(json_object_get(a, "last_error")));
	fx_free(&f);
}

static void test_unchanged_writes_nothing_but_health(void **state)
{
	struct fixture f;
	char d[512], list[600];

	(void)state;
	fx_init(&f, "2026-11-22T18:30:10.000Z");
	dump_json(ID1, "web", "running", "2026-11-22T18:30:00.000Z", d, sizeof(d));
	snprintf(list, sizeof(list), "[%s]", d);
	fx_up(&f, 0, "[{\"name\":\"web\"}]", list);
	json_object_set_new(f.snap.active, ID1, J(d));
	json_object_set_new(f.snap.latest, "web", J(d));
	json_object_set_new(
	    f.snap.vms, "web",
	    J("{\"name\":\"web\",\"host\":\"kvm1\",\"service\":\"" URL1 "\",\"reachable\":true}"));
	fx_merge(&f);
	assert_int_equal(json_object_size(f.w.active_set), 0);
	assert_int_equal(json_array_size(f.w.dumps), 0);
	assert_int_equal(json_array_size(f.w.events), 0);
	assert_int_equal(json_object_size(f.w.latest_set), 0);
	assert_int_equal(json_object_size(f.w.vms_set), 0);
	assert_int_equal(json_array_size(f.w.vms_del), 0);
	assert_int_equal(json_object_size(f.w.health_set), 1);
	assert_int_equal(f.left, 1);
	fx_free(&f);
}

static void test_completion_leaves_active_with_ttl(void **state)
{
	struct fixture f;
	char d[512], list[600];
	json_t *put;

	(void)state;
	fx_init(&f, "2026-11-22T18:30:10.000Z");
	json_object_set_new(
	    f.snap.active, ID1,
	    J(dump_json(ID1, "web", "running", "2026-11-22T18:30:00.000Z", d, sizeof(d))));
	snprintf(list, sizeof(list), "[%s]",
	         dump_json(ID1, "web", "completed", "2026-11-22T18:30:00.000Z", d, sizeof(d)));
	fx_up(&f, 0, "[]", list);
	fx_merge(&f);
	assert_int_equal(json_array_size(f.w.active_del), 1);
	assert_string_equal(json_string_value(json_array_get(f.w.active_del, 0)), ID1);
	put = json_array_get(f.w.dumps, 0);
	/* finished 5 s ago: 86400 - 5 s left */
	assert_int_equal(json_integer_value(json_object_get(put, "ttl_s")), 86395);
	assert_true(json_is_false(json_object_get(put, "only_if_new")));
	assert_int_equal(json_array_size(f.w.events), 1);
	assert_string_equal(jsonu_str(json_array_get(f.w.events, 0), "state"), "completed");
	assert_string_equal(jsonu_str(json_object_get(f.w.latest_set, "web"), "state"),
	                    "completed");
	assert_int_equal(f.left, 0);
	fx_free(&f);
}

static void test_old_finished_dump_rebuilt_only_if_new(void **state)
{
	struct fixture f;
	char d[512], list[600];
	json_t *put;

	(void)state;
	fx_init(&f, "2026-11-22T18:30:10.000Z");
	snprintf(list, sizeof(list), "[%s]",
	         dump_json(ID1, "web", "completed", "2026-11-22T18:30:00.000Z", d, sizeof(d)));
	fx_up(&f, 0, "[]", list);
	fx_merge(&f);
	put = json_array_get(f.w.dumps, 0);
	assert_true(json_is_true(json_object_get(put, "only_if_new")));
	assert_int_equal(json_array_size(f.w.events), 0); /* no event for a rebuild */
	assert_int_equal(json_array_size(f.w.active_del), 0);
	assert_non_null(json_object_get(f.w.latest_set, "web"));
	fx_free(&f);

	/* past its TTL: not written back */
	fx_init(&f, "2026-11-24T18:30:10.000Z");
	snprintf(list, sizeof(list), "[%s]",
	         dump_json(ID1, "web", "completed", "2026-11-22T18:30:00.000Z", d, sizeof(d)));
	fx_up(&f, 0, "[]", list);
	fx_merge(&f);
	assert_int_equal(json_array_size(f.w.dumps), 0);
	fx_free(&f);
}

/* A dump that finished between two cycles (never seen active) still gets its event;
 * one that finished before the previous cycle's answers (a rebuild) does not. */
static void test_unseen_finished_dump_event(void **state)
{
	struct fixture f;
	char d[512], list[600];

	(void)state;
	fx_init(&f, "2026-11-22T18:30:10.000Z");
	f.hosts[0].events_since_ms = T("2026-11-22T18:30:04.000Z"); /* finished at 18:30:05 */
	snprintf(list, sizeof(list), "[%s]",
	         dump_json(ID1, "web", "completed", "2026-11-22T18:30:00.000Z", d, sizeof(d)));
	fx_up(&f, 0, "[]", list);
	fx_merge(&f);
	assert_int_equal(json_array_size(f.w.events), 1);
	assert_string_equal(jsonu_str(json_array_get(f.w.events, 0), "state"), "completed");
	fx_free(&f);

	fx_init(&f, "2026-11-22T18:30:10.000Z");
	f.hosts[0].events_since_ms = T("2026-11-22T18:30:06.000Z");
	snprintf(list, sizeof(list), "[%s]",
	         dump_json(ID1, "web", "completed", "2026-11-22T18:30:00.000Z", d, sizeof(d)));
	fx_up(&f, 0, "[]", list);
	fx_merge(&f);
	assert_int_equal(json_array_size(f.w.events), 0);
	fx_free(&f);
}

/* The window is per host: a dump that finished on a fast host after its answer
 * arrived gets its event even when another host (slow, or confirmed by id) made the
 * previous cycle end later; a host's dump older than its own answer stays silent. */
static void test_unseen_finished_dump_event_per_host(void **state)
{
	struct fixture f;
	char d[512], list[600];
	json_t *ev;

	(void)state;
	fx_init(&f, "2026-11-22T18:30:10.000Z");
	f.in.n_hosts = 2;
	f.hosts[0].events_since_ms = T("2026-11-22T18:30:04.000Z"); /* fast host 1 */
	f.hosts[1].events_since_ms = T("2026-11-22T18:30:08.000Z"); /* host 2 answered late */
	snprintf(list, sizeof(list), "[%s]",
	         dump_json(ID1, "web", "completed", "2026-11-22T18:30:00.000Z", d, sizeof(d)));
	fx_up(&f, 0, "[]", list); /* finished 18:30:05, after host 1's answer */
	fx_up(&f, 1, "[]", "[]");
	fx_merge(&f);
	assert_int_equal(json_array_size(f.w.events), 1);
	ev = json_array_get(f.w.events, 0);
	assert_string_equal(jsonu_str(ev, "dump_id"), ID1);
	assert_string_equal(jsonu_str(ev, "service"), URL1);
	fx_free(&f);

	fx_init(&f, "2026-11-22T18:30:10.000Z");
	f.in.n_hosts = 2;
	f.hosts[0].events_since_ms = T("2026-11-22T18:30:06.000Z"); /* host 1 had reported it */
	f.hosts[1].events_since_ms = T("2026-11-22T18:30:01.000Z");
	fx_up(&f, 0, "[]", list);
	fx_up(&f, 1, "[]", "[]");
	fx_merge(&f);
	assert_int_equal(json_array_size(f.w.events), 0);
	fx_free(&f);
}

static void test_lost_dump_failed_with_reason(void **state)
{
	struct fixture f;
	char d[512];
	json_t *got, *missing;

	(void)state;
	fx_init(&f, "2026-11-22T18:30:10.000Z");
	json_object_set_new(
	    f.snap.active, ID1,
	    J(dump_json(ID1, "web", "queued", "2026-11-22T18:30:00.000Z", d, sizeof(d))));
	fx_up(&f, 0, "[]", "[]");
	missing = cycle_missing(&f.snap, URL1, f.hosts[0].dumps);
	assert_int_equal(json_array_size(missing), 1);
	assert_string_equal(json_string_value(json_array_get(missing, 0)), ID1);
	json_decref(missing);

	/* not confirmed gone (the GET by id failed): left alone */
	fx_merge(&f);
	assert_int_equal(json_array_size(f.w.active_del), 0);
	assert_int_equal(f.left, 1);
	cycle_write_release(&f.w);

	/* memdumpd answered 404 for it */
	f.hosts[0].gone = J("{\"" ID1 "\":true}");
	fx_merge(&f);
	assert_int_equal(json_array_size(f.w.active_del), 1);
	got = json_object_get(json_array_get(f.w.dumps, 0), "dump");
	assert_string_equal(jsonu_str(got, "state"), "failed");
	assert_string_equal(jsonu_str(got, "error"),
	                    "unknown to memdumpd at " URL1 " (restarted or lost)");
	assert_string_equal(jsonu_str(got, "finished_at"), "2026-11-22T18:30:10.000Z");
	assert_string_equal(jsonu_str(json_array_get(f.w.events, 0), "state"), "failed");
	assert_string_equal(jsonu_str(json_object_get(f.w.latest_set, "web"), "state"), "failed");
	assert_int_equal(f.left, 0);
	fx_free(&f);
}

static void test_unconfigured_service_fails_its_dumps(void **state)
{
	struct fixture f;
	char d[512];
	json_t *snap_d;

	(void)state;
	fx_init(&f, "2026-11-22T18:30:10.000Z");
	snap_d = J(dump_json(ID1, "web", "running", "2026-11-22T18:30:00.000Z", d, sizeof(d)));
	json_object_set_new(snap_d, "service", json_string("http://10.9.9.9:5001"));
	json_object_set_new(f.snap.active, ID1, snap_d);
	json_object_set_new(f.snap.health, "http://10.9.9.9:5001", J("{\"reachable\":true}"));
	fx_up(&f, 0, "[]", "[]");
	fx_merge(&f);
	assert_int_equal(json_array_size(f.w.active_del), 1);
	assert_non_null(
	    strstr(jsonu_str(json_object_get(json_array_get(f.w.dumps, 0), "dump"), "error"),
	           "no longer in MEMDUMP_SERVICE_URL"));
	assert_string_equal(json_string_value(json_array_get(f.w.health_del, 0)),
	                    "http://10.9.9.9:5001");
	fx_free(&f);
}

static void test_overdue_dumps(void **state)
{
	struct fixture f;
	char d[512], list[600];
	json_t *got;

	(void)state;
	/* the host is down: the active entry is kept until MEMDUMP_MAX_WAIT passed */
	fx_init(&f, "2026-11-22T18:39:59.000Z");
	json_object_set_new(
	    f.snap.active, ID1,
	    J(dump_json(ID1, "web", "running", "2026-11-22T18:30:00.000Z", d, sizeof(d))));
	f.hosts[0].error = "connection refused";
	fx_merge(&f);
	assert_int_equal(json_array_size(f.w.active_del), 0);
	assert_int_equal(f.left, 1);
	cycle_write_release(&f.w);
	f.in.now_ms = T("2026-11-22T18:40:01.000Z");
	fx_merge(&f);
	assert_int_equal(json_array_size(f.w.active_del), 1);
	got = json_object_get(json_array_get(f.w.dumps, 0), "dump");
	assert_string_equal(jsonu_str(got, "state"), "failed");
	assert_non_null(strstr(jsonu_str(got, "error"), "MEMDUMP_MAX_WAIT"));
	assert_non_null(strstr(jsonu_str(got, "error"), "unreachable"));
	fx_free(&f);

	/* the host still lists it running: failed with a deterministic finish time */
	fx_init(&f, "2026-11-22T18:45:00.000Z");
	snprintf(list, sizeof(list), "[%s]",
	         dump_json(ID1, "web", "running", "2026-11-22T18:30:00.000Z", d, sizeof(d)));
	fx_up(&f, 0, "[]", list);
	fx_merge(&f);
	got = json_object_get(json_array_get(f.w.dumps, 0), "dump");
	assert_string_equal(jsonu_str(got, "state"), "failed");
	assert_string_equal(jsonu_str(got, "finished_at"), "2026-11-22T18:40:00.000Z");
	assert_int_equal(json_object_size(f.w.active_set), 0); /* never re-added */
	assert_int_equal(f.left, 0);
	fx_free(&f);
}

/* The poller gave up on a dump (MEMDUMP_MAX_WAIT); memdumpd then finished it: its word
 * replaces the poller's in the record, the VM's latest, and an event says so. */
static void test_host_corrects_a_dump_the_poller_settled(void **state)
{
	struct fixture f;
	char d[512], list[600];
	json_t *failed, *put;

	(void)state;
	fx_init(&f, "2026-11-22T18:41:00.000Z");
	failed = J(dump_json(ID1, "web", "running", "2026-11-22T18:30:00.000Z", d, sizeof(d)));
	json_object_set_new(failed, "state", json_string("failed"));
	json_object_set_new(failed, "error", json_string("gave up after 600 s (MEMDUMP_MAX_WAIT)"));
	json_object_set_new(f.snap.latest, "web", failed);
	f.hosts[0].events_since_ms = T("2026-11-22T18:40:55.000Z");
	snprintf(list, sizeof(list), "[%s]",
	         dump_json(ID1, "web", "completed", "2026-11-22T18:30:00.000Z", d, sizeof(d)));
	fx_up(&f, 0, "[]", list);
	fx_merge(&f);
	assert_int_equal(json_array_size(f.w.dumps), 1);
	put = json_array_get(f.w.dumps, 0);
	assert_string_equal(jsonu_str(json_object_get(put, "dump"), "state"), "completed");
	assert_true(json_is_false(json_object_get(put, "only_if_new"))); /* rewritten */
	assert_string_equal(jsonu_str(json_object_get(f.w.latest_set, "web"), "state"),
	                    "completed");
	assert_int_equal(json_array_size(f.w.events), 1);
	assert_string_equal(jsonu_str(json_array_get(f.w.events, 0), "state"), "completed");
	cycle_write_release(&f.w);

	/* next cycle: latest now says completed; nothing is rewritten again */
	json_object_set_new(f.snap.latest, "web",
	                    json_deep_copy(json_array_get(f.hosts[0].dumps, 0)));
	fx_merge(&f);
	put = json_array_get(f.w.dumps, 0);
	assert_true(json_is_true(json_object_get(put, "only_if_new")));
	assert_int_equal(json_array_size(f.w.events), 0);
	fx_free(&f);

	/* not the VM's latest any more (a newer dump was queued meanwhile), but it finished
	 * after the host's previous answer (the host was unreachable since): rewritten too,
	 * and the newer latest stays */
	fx_init(&f, "2026-11-22T18:41:00.000Z");
	json_object_set_new(
	    f.snap.latest, "web",
	    J(dump_json(ID2, "web", "queued", "2026-11-22T18:40:30.000Z", d, sizeof(d))));
	f.hosts[0].events_since_ms = T("2026-11-22T18:30:04.000Z"); /* finished 18:30:05 */
	snprintf(list, sizeof(list), "[%s]",
	         dump_json(ID1, "web", "completed", "2026-11-22T18:30:00.000Z", d, sizeof(d)));
	fx_up(&f, 0, "[]", list);
	fx_merge(&f);
	put = json_array_get(f.w.dumps, 0);
	assert_string_equal(jsonu_str(json_object_get(put, "dump"), "state"), "completed");
	assert_true(json_is_false(json_object_get(put, "only_if_new")));
	assert_null(json_object_get(f.w.latest_set, "web"));
	assert_int_equal(json_array_size(f.w.events), 1);
	fx_free(&f);
}

static void test_down_host_keeps_inventory_unreachable(void **state)
{
	struct fixture f;
	json_t *v, *h;

	(void)state;
	fx_init(&f, "2026-11-22T18:30:10.000Z");
	f.in.n_hosts = 2;
	json_object_set_new(f.snap.vms, "web",
	                    J("{\"name\":\"web\",\"service\":\"" URL1 "\",\"reachable\":true}"));
	json_object_set_new(f.snap.vms, "db",
	                    J("{\"name\":\"db\",\"service\":\"" URL2 "\",\"reachable\":true}"));
	json_object_set_new(f.snap.vms, "old",
	                    J("{\"name\":\"old\",\"service\":\"" URL2 "\",\"reachable\":true}"));
	json_object_set_new(f.snap.health, URL1,
	                    J("{\"reachable\":true,\"host\":\"kvm1\",\"last_success\":"
	                      "\"2026-11-22T18:29:00.000Z\",\"disk\":{\"free_bytes\":5}}"));
	f.hosts[0].error = "GET " URL1 "/api/health: connection refused";
	fx_up(&f, 1, "[{\"name\":\"db\"},{\"name\":\"new\"}]", "[]");
	fx_merge(&f);
	v = json_object_get(f.w.vms_set, "web");
	assert_non_null(v);
	assert_true(json_is_false(json_object_get(v, "reachable")));
	assert_non_null(json_object_get(f.w.vms_set, "new"));
	assert_int_equal(json_array_size(f.w.vms_del), 1);
	assert_string_equal(json_string_value(json_array_get(f.w.vms_del, 0)), "old");
	h = json_object_get(f.w.health_set, URL1);
	assert_true(json_is_false(json_object_get(h, "reachable")));
	assert_string_equal(jsonu_str(h, "last_success"), "2026-11-22T18:29:00.000Z");
	assert_string_equal(jsonu_str(h, "down_since"), "2026-11-22T18:30:10.000Z");
	assert_string_equal(jsonu_str(h, "host"), "kvm1");
	assert_non_null(strstr(jsonu_str(h, "last_error"), "connection refused"));
	assert_non_null(json_object_get(json_object_get(h, "disk"), "free_bytes"));
	assert_true(
	    json_is_true(json_object_get(json_object_get(f.w.health_set, URL2), "reachable")));
	fx_free(&f);
}

static void test_latest_never_goes_back(void **state)
{
	struct fixture f;
	char d[512], d2[512], list[600];

	(void)state;
	fx_init(&f, "2026-11-22T18:30:10.000Z");
	/* latest is a newer dump the API queued (on a host that did not list it) */
	json_object_set_new(
	    f.snap.latest, "web",
	    J(dump_json(ID1, "web", "queued", "2026-11-22T18:30:00.000Z", d, sizeof(d))));
	snprintf(list, sizeof(list), "[%s]",
	         dump_json(ID2, "web", "completed", "2026-11-22T18:20:00.000Z", d2, sizeof(d2)));
	f.in.n_hosts = 2;
	fx_up(&f, 1, "[]", list);
	fx_merge(&f);
	assert_null(json_object_get(f.w.latest_set, "web"));
	fx_free(&f);
}

static void test_state_change_events_only(void **state)
{
	struct fixture f;
	char d[512], list[600];
	json_t *prev;

	(void)state;
	fx_init(&f, "2026-11-22T18:30:10.000Z");
	prev = J(dump_json(ID1, "web", "running", "2026-11-22T18:30:00.000Z", d, sizeof(d)));
	json_object_set_new(prev, "progress", json_integer(10));
	json_object_set_new(f.snap.active, ID1, prev);
	snprintf(list, sizeof(list), "[%s]",
	         dump_json(ID1, "web", "running", "2026-11-22T18:30:00.000Z", d, sizeof(d)));
	fx_up(&f, 0, "[]", list);
	fx_merge(&f);
	/* progress moved: written, but no event */
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(f.w.active_set, ID1), "progress")),
	    40);
	assert_int_equal(json_array_size(f.w.events), 0);
	fx_free(&f);
}

/* After a FLUSHALL (the poller has answers from before) an active dump Redis lacks is a
 * rebuild unless it started after the host's previous answer. */
static void test_rebuilt_active_dump_silent(void **state)
{
	struct fixture f;
	char d1[512], d2[512], list[1200];

	(void)state;
	fx_init(&f, "2026-11-22T18:30:10.000Z");
	f.hosts[0].events_since_ms = T("2026-11-22T18:30:05.000Z");
	snprintf(list, sizeof(list), "[%s,%s]",
	         dump_json(ID1, "web", "running", "2026-11-22T18:30:00.000Z", d1, sizeof(d1)),
	         dump_json(ID2, "db", "running", "2026-11-22T18:30:07.000Z", d2, sizeof(d2)));
	fx_up(&f, 0, "[]", list);
	fx_merge(&f);
	assert_non_null(json_object_get(f.w.active_set, ID1)); /* rebuilt ... */
	assert_int_equal(json_array_size(f.w.events), 1); /* ... but only the new one is news */
	assert_string_equal(jsonu_str(json_array_get(f.w.events, 0), "dump_id"), ID2);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_running_dump),
	    cmocka_unit_test(test_rebuilt_active_dump_silent),
	    cmocka_unit_test(test_unchanged_writes_nothing_but_health),
	    cmocka_unit_test(test_completion_leaves_active_with_ttl),
	    cmocka_unit_test(test_old_finished_dump_rebuilt_only_if_new),
	    cmocka_unit_test(test_unseen_finished_dump_event),
	    cmocka_unit_test(test_unseen_finished_dump_event_per_host),
	    cmocka_unit_test(test_lost_dump_failed_with_reason),
	    cmocka_unit_test(test_unconfigured_service_fails_its_dumps),
	    cmocka_unit_test(test_overdue_dumps),
	    cmocka_unit_test(test_host_corrects_a_dump_the_poller_settled),
	    cmocka_unit_test(test_down_host_keeps_inventory_unreachable),
	    cmocka_unit_test(test_latest_never_goes_back),
	    cmocka_unit_test(test_state_change_events_only),
	};

	jsonu_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
