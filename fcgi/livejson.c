/*
 * livejson: see livejson.h. DESIGN: per list, one array of items (the pair, its
 * sort keys as byte ranges, whether it is compact); keys without escapes point
 * into the reply bytes, escaped ones are decoded into one arena sized by the
 * sum of the values (a decoded string is never longer than its token). The
 * output size is bounded before writing (compaction only shrinks), so the body
 * is one allocation and every write is a memcpy.
 */
#include "livejson.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rawjson.h"
#include "xmalloc.h"

#define LIVEJSON_FIXED 256 /* member names, brackets and numbers of either body */

struct livejson_key {
	const char *p;
	size_t len;
	bool set; /* the member exists and is a string */
};

struct livejson_item {
	const struct store_pair *pair;
	bool compact;
	bool down; /* health: "reachable" is false */
	struct livejson_key k1, k2;
	struct rawjson_member m1;  /* the member k1 comes from (health: "service") */
	struct rawjson_member cut; /* VMs: their own "latest" member, replaced */
	const struct store_pair *latest;
	bool latest_compact;
};

struct livejson_arena {
	char *buf;
	size_t cap, used;
};

struct livejson_out {
	char *p;
	size_t len, cap;
};

enum livejson_kind { LJ_ACTIVE, LJ_HEALTH, LJ_VMS };

static void livejson_put(struct livejson_out *o, const char *s, size_t n)
{
	if (o->cap - o->len < n)
		abort(); /* the size bound is wrong: a bug, not an input */
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void livejson_puts(struct livejson_out *o, const char *s)
{
	livejson_put(o, s, strlen(s));
}

static void livejson_put_json(struct livejson_out *o, const char *s, size_t n, bool compact)
{
	if (o->cap - o->len < n)
		abort();
	o->len += rawjson_copy(o->p + o->len, s, n, compact);
}

static void livejson_put_size(struct livejson_out *o, size_t n)
{
	char num[24];
	int k = snprintf(num, sizeof(num), "%zu", n);

	livejson_put(o, num, (size_t)k);
}

/* The string member m of text as a key (decoded into the arena when escaped). */
static void livejson_key(struct livejson_key *k, const char *text, const struct rawjson_member *m,
                         struct livejson_arena *a)
{
	const char *tok = text + m->val;

	k->p = "";
	k->len = 0;
	k->set = false;
	if (!m->found || tok[0] != '"')
		return;
	if (!m->escaped) {
		k->p = tok + 1;
		k->len = m->val_len - 2;
		k->set = true;
		return;
	}
	if (a->buf == NULL)
		a->buf = xmalloc(a->cap ? a->cap : 1);
	if (rawjson_string_decode(tok, m->val_len, a->buf + a->used, a->cap - a->used, &k->p,
	                          &k->len) < 0)
		return;
	a->used += k->len;
	k->set = true;
}

static int livejson_key_cmp(const struct livejson_key *x, const struct livejson_key *y)
{
	int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);

	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static int livejson_bytes_cmp(const struct store_bytes *x, const struct store_bytes *y)
{
	int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);

	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static int livejson_item_cmp(const void *a, const void *b)
{
	const struct livejson_item *x = *(struct livejson_item *const *)a;
	const struct livejson_item *y = *(struct livejson_item *const *)b;
	int c = livejson_key_cmp(&x->k1, &y->k1);

	if (c == 0)
		c = livejson_key_cmp(&x->k2, &y->k2);
	if (c == 0)
		c = livejson_bytes_cmp(&x->pair->field, &y->pair->field);
	return c;
}

/* The valid objects of h as items, sorted for kind: a new array of *n pointers to
 * them, the items stored behind it in the same allocation (one free()). */
static struct livejson_item **livejson_collect(const struct store_pairs *h, enum livejson_kind kind,
                                               const struct livejson_view *view,
                                               struct livejson_arena *a, size_t *n)
{
	static const char *const names[][4] = {
	    [LJ_ACTIVE] = {"created_at", "dump_id", "vm", "host"},
	    [LJ_HEALTH] = {"service", "reachable", "vm", "host"},
	    [LJ_VMS] = {"name", "latest", "vm", "host"},
	};
	bool filter = view != NULL && view->visible != NULL && kind != LJ_HEALTH;
	size_t cnt = h->n ? h->n : 1, k = 0;
	struct livejson_item **order = xmalloc(cnt * (sizeof(*order) + sizeof(**order)));
	struct livejson_item *items = (struct livejson_item *)(order + cnt);

	for (size_t i = 0; i < h->n; i++) {
		const struct store_pair *p = &h->v[i];
		struct rawjson_member m[4] = {{.name = names[kind][0]},
		                              {.name = names[kind][1]},
		                              {.name = names[kind][2]},
		                              {.name = names[kind][3]}};
		struct livejson_item *it = &items[k];

		memset(it, 0, sizeof(*it));
		if (rawjson_object_scan(p->value.p, p->value.len, m, filter ? 4 : 2, &it->compact) <
		    0)
			continue;
		if (filter) {
			struct livejson_key vm, host;

			livejson_key(&vm, p->value.p, kind == LJ_VMS ? &m[0] : &m[2], a);
			livejson_key(&host, p->value.p, &m[3], a);
			if (!view->visible(view->arg, vm.p, vm.len, host.p, host.len))
				continue;
		}
		it->pair = p;
		it->m1 = m[0];
		livejson_key(&it->k1, p->value.p, &m[0], a);
		if (kind == LJ_ACTIVE)
			livejson_key(&it->k2, p->value.p, &m[1], a);
		else
			it->k2.p = "";
		if (kind == LJ_HEALTH)
			it->down = m[1].found && m[1].val_len == 5 &&
			           memcmp(p->value.p + m[1].val, "false", 5) == 0;
		if (kind == LJ_VMS)
			it->cut = m[1];
		order[k] = it;
		k++;
	}
	qsort(order, k, sizeof(*order), livejson_item_cmp);
	*n = k;
	return order;
}

static size_t livejson_total(const struct store_pairs *h)
{
	size_t t = 0;

	for (size_t i = 0; i < h->n; i++)
		t += h->v[i].value.len;
	return t;
}

/* A single value: the object, or null when absent or not one valid object. */
static void livejson_put_single(struct livejson_out *o, const struct store_bytes *b)
{
	bool compact;

	if (b->p != NULL && rawjson_object_scan(b->p, b->len, NULL, 0, &compact) == 0)
		livejson_put_json(o, b->p, b->len, compact);
	else
		livejson_puts(o, "null");
}

static void livejson_put_list(struct livejson_out *o, struct livejson_item *const *items, size_t n)
{
	livejson_puts(o, "[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			livejson_puts(o, ",");
		livejson_put_json(o, items[i]->pair->value.p, items[i]->pair->value.len,
		                  items[i]->compact);
	}
	livejson_puts(o, "]");
}

char *livejson_status(const struct store_raw *raw, const char *generated_at,
                      const struct livejson_view *view, size_t *len)
{
	bool hide_trigger = view != NULL && view->visible != NULL;
	const struct store_pairs *active = &raw->hashes[0], *health = &raw->hashes[1];
	struct livejson_arena a = {NULL, livejson_total(active) + livejson_total(health), 0};
	struct livejson_item **act, **svc;
	struct livejson_out o;
	size_t n_act, n_svc;

	/* the filter decodes vm and host too: at most every value's length again */
	if (hide_trigger)
		a.cap *= 2;
	act = livejson_collect(active, LJ_ACTIVE, view, &a, &n_act);
	svc = livejson_collect(health, LJ_HEALTH, view, &a, &n_svc);
	o.cap = LIVEJSON_FIXED + strlen(generated_at) + a.cap + active->n + health->n +
	        raw->strings[0].len + raw->strings[1].len +
	        (view != NULL && view->auth != NULL ? strlen(view->auth) : 0);
	o.p = xmalloc(o.cap);
	o.len = 0;
	livejson_puts(&o, "{\"generated_at\":\"");
	livejson_puts(&o, generated_at);
	livejson_puts(&o, "\",\"active\":");
	livejson_put_list(&o, act, n_act);
	livejson_puts(&o, ",\"active_count\":");
	livejson_put_size(&o, n_act);
	livejson_puts(&o, ",\"services\":");
	livejson_put_list(&o, svc, n_svc);
	livejson_puts(&o, ",\"last_trigger\":");
	if (hide_trigger)
		livejson_puts(&o, "null");
	else
		livejson_put_single(&o, &raw->strings[0]);
	livejson_puts(&o, ",\"poller\":");
	livejson_put_single(&o, &raw->strings[1]);
	if (view != NULL && view->auth != NULL) {
		/* a fixed word of ours ("local", "none"), never client text */
		livejson_puts(&o, ",\"auth\":\"");
		livejson_puts(&o, view->auth);
		livejson_puts(&o, "\"");
	}
	livejson_puts(&o, "}");
	free(act);
	free(svc);
	free(a.buf);
	*len = o.len;
	return o.p;
}

static int livejson_pair_cmp(const void *a, const void *b)
{
	const struct store_pair *const *x = a, *const *y = b;

	return livejson_bytes_cmp(&(*x)->field, &(*y)->field);
}

/* The memdump:latest entry whose field is key (sorted: by field), or NULL. */
static const struct store_pair *livejson_find(const struct store_pair *const *sorted, size_t n,
                                              const struct livejson_key *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct store_bytes k = {key->p, key->len};
		int c = livejson_bytes_cmp(&sorted[mid]->field, &k);

		if (c == 0)
			return sorted[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* One VM object without its own "latest" member, then "latest": obj|null. */
static void livejson_put_vm(struct livejson_out *o, const struct livejson_item *it)
{
	const struct store_bytes *v = &it->pair->value;

	if (it->cut.found) {
		livejson_put_json(o, v->p, it->cut.cut, it->compact);
		livejson_put_json(o, v->p + it->cut.cut + it->cut.cut_len,
		                  v->len - it->cut.cut - it->cut.cut_len, it->compact);
	} else {
		livejson_put_json(o, v->p, v->len, it->compact);
	}
	o->len--; /* the closing brace (the copy is compact: it is the last byte) */
	if (o->p[o->len - 1] != '{')
		livejson_puts(o, ",");
	livejson_puts(o, "\"latest\":");
	if (it->latest != NULL)
		livejson_put_json(o, it->latest->value.p, it->latest->value.len,
		                  it->latest_compact);
	else
		livejson_puts(o, "null");
	livejson_puts(o, "}");
}

char *livejson_vms(const struct store_raw *raw, const struct livejson_view *view, size_t *len)
{
	const struct store_pairs *vms = &raw->hashes[0], *latest = &raw->hashes[1];
	const struct store_pairs *health = &raw->hashes[2];
	struct livejson_arena a = {NULL, livejson_total(vms) + livejson_total(health), 0};
	const struct store_pair **sorted;
	struct livejson_item **vm, **svc;
	struct livejson_out o;
	size_t n_vm, n_svc, n_down = 0;

	if (view != NULL && view->visible != NULL)
		a.cap *= 2;
	vm = livejson_collect(vms, LJ_VMS, view, &a, &n_vm);
	svc = livejson_collect(health, LJ_HEALTH, view, &a, &n_svc);
	sorted = xmalloc((latest->n ? latest->n : 1) * sizeof(*sorted));
	for (size_t i = 0; i < latest->n; i++)
		sorted[i] = &latest->v[i];
	qsort(sorted, latest->n, sizeof(*sorted), livejson_pair_cmp);
	o.cap = LIVEJSON_FIXED + livejson_total(vms) + livejson_total(health) + health->n;
	for (size_t i = 0; i < n_vm; i++) {
		const struct store_pair *l = NULL;

		if (vm[i]->k1.set)
			l = livejson_find(sorted, latest->n, &vm[i]->k1);
		if (l != NULL && rawjson_object_scan(l->value.p, l->value.len, NULL, 0,
		                                     &vm[i]->latest_compact) == 0)
			vm[i]->latest = l;
		o.cap += sizeof(",\"latest\":") + (vm[i]->latest ? vm[i]->latest->value.len : 4);
	}
	o.p = xmalloc(o.cap);
	o.len = 0;
	livejson_puts(&o, "{\"vms\":[");
	for (size_t i = 0; i < n_vm; i++) {
		if (i > 0)
			livejson_puts(&o, ",");
		livejson_put_vm(&o, vm[i]);
	}
	livejson_puts(&o, "],\"count\":");
	livejson_put_size(&o, n_vm);
	livejson_puts(&o, ",\"services_down\":[");
	for (size_t i = 0; i < n_svc; i++) {
		const struct store_bytes *v = &svc[i]->pair->value;

		if (!svc[i]->down || !svc[i]->k1.set)
			continue;
		if (n_down++ > 0)
			livejson_puts(&o, ",");
		/* the string token as written (escapes kept) */
		livejson_put(&o, v->p + svc[i]->m1.val, svc[i]->m1.val_len);
	}
	livejson_puts(&o, "]}");
	free(vm);
	free(svc);
	free(sorted);
	free(a.buf);
	*len = o.len;
	return o.p;
}
