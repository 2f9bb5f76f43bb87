/*
 * accounts: see accounts.h. DESIGN: accounts_parse walks the buffer line by
 * line; every field goes through one validator (names, globs, crypt strings,
 * hex, numbers) so the model only ever holds values accounts_format can write
 * back unchanged. Duplicate names are found with a small open-addressing hash
 * of (kind, name) -> line, so a 100000-record file parses in linear time.
 * Comments and blank lines are not part of the model: accounts_save writes one
 * header comment and then users, groups and tokens in model order. Strings are
 * allocated with the xmalloc family and freed with free(). No threads.
 */
#include "accounts.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "dump.h"
#include "xmalloc.h"

#define ACCOUNTS_HASH_MAX 256            /* a crypt(3) string */
#define ACCOUNTS_TIME_MAX 253402300799LL /* 9999-12-31T23:59:59Z */
#define ACCOUNTS_HEADER                                                                            \
	"# memdump accounts (docs/security.md): managed by memdump-admin, mode 0600\n"

static const char *const role_names[ROLE__MAX] = {
    [ROLE_NONE] = "none",         [ROLE_VIEWER] = "viewer",
    [ROLE_OPERATOR] = "operator", [ROLE_INVESTIGATOR] = "investigator",
    [ROLE_ADMIN] = "admin",
};

const char *accounts_role_name(enum role r)
{
	if (r < 0 || r >= ROLE__MAX)
		return "?";
	return role_names[r];
}

int accounts_role_parse(const char *s, enum role *out)
{
	for (int r = 0; r < ROLE__MAX; r++)
		if (strcmp(s, role_names[r]) == 0) {
			*out = (enum role)r;
			return 0;
		}
	return -1;
}

/* ---- validators ---------------------------------------------------------------------- */

int accounts_name_check(const char *name, struct err *e)
{
	size_t n = strlen(name);

	if (n == 0)
		return err_set(e, ERR_INVALID, "empty name");
	if (n > ACCOUNTS_NAME_MAX)
		return err_set(e, ERR_TOO_LARGE, "name longer than %d bytes", ACCOUNTS_NAME_MAX);
	/* the characters of a dump's requested_by (lib/dump.c) */
	if (dump_user_check(name, n, NULL) < 0)
		return err_set(e, ERR_INVALID,
		               "name '%.*s' has a character outside [A-Za-z0-9_.@-]",
		               (int)(n > 64 ? 64 : n), name);
	return 0;
}

/* Printable, non-blank UTF-8 (no ASCII control, space or DEL); 0 or -1. */
static int acc_text_check(const char *s, size_t n, const char *what, struct err *e)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t l = dump_utf8_len(p + i, n - i);

		if (l == 0)
			return err_set(e, ERR_INVALID, "%s is not valid UTF-8", what);
		if (l == 1 && (p[i] <= 0x20 || p[i] == 0x7f))
			return err_set(e, ERR_INVALID, "%s has a blank or control character", what);
		i += l;
	}
	return 0;
}

int accounts_pattern_check(const char *glob, struct err *e)
{
	size_t n = strlen(glob);

	if (n == 0)
		return err_set(e, ERR_INVALID, "empty pattern");
	if (n > ACCOUNTS_PATTERN_MAX)
		return err_set(e, ERR_TOO_LARGE, "pattern longer than %d bytes",
		               ACCOUNTS_PATTERN_MAX);
	if (acc_text_check(glob, n, "pattern", e) < 0)
		return -1;
	if (strpbrk(glob, ",") != NULL)
		return err_set(e, ERR_INVALID, "pattern '%s' has a ','", glob);
	if (strpbrk(glob, "[]{}\\") != NULL)
		return err_set(e, ERR_INVALID,
		               "pattern '%s': only '*' and '?' are wildcards ('[', ']', '{', '}', "
		               "'\\' are not allowed)",
		               glob);
	return 0;
}

int accounts_label_check(const char *label, struct err *e)
{
	size_t n = strlen(label);

	if (n == 0)
		return err_set(e, ERR_INVALID, "empty label");
	if (n > ACCOUNTS_LABEL_MAX)
		return err_set(e, ERR_TOO_LARGE, "label longer than %d bytes", ACCOUNTS_LABEL_MAX);
	return acc_text_check(label, n, "label (printable, no blanks)", e);
}

static bool acc_is_lhex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int acc_token_id_check(const char *id, struct err *e)
{
	if (strlen(id) != ACCOUNTS_TOKEN_ID_LEN || !acc_is_lhex(id, ACCOUNTS_TOKEN_ID_LEN))
		return err_set(e, ERR_INVALID, "token id must be %d lower-case hex digits",
		               ACCOUNTS_TOKEN_ID_LEN);
	return 0;
}

/* "$id$..." with crypt(3)'s characters only. */
static int acc_crypt_check(const char *h, struct err *e)
{
	size_t n = strlen(h), i = 1;

	if (n > ACCOUNTS_HASH_MAX)
		return err_set(e, ERR_TOO_LARGE, "hash longer than %d bytes", ACCOUNTS_HASH_MAX);
	if (n < 4 || h[0] != '$')
		return err_set(e, ERR_INVALID, "hash is not a crypt(3) string ($id$...)");
	while (i < n && ((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= '0' && h[i] <= '9')))
		i++;
	if (i == 1 || i >= n || h[i] != '$')
		return err_set(e, ERR_INVALID, "hash is not a crypt(3) string ($id$...)");
	for (; i < n; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '/' || c == '$' || c == '=' || c == '+' || c == '-' ||
		      c == ','))
			return err_set(e, ERR_INVALID,
			               "hash has a character crypt(3) does not use");
	}
	return 0;
}

static int acc_time_parse(const char *s, long long *out, struct err *e)
{
	long long v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 12)
		return err_set(e, ERR_INVALID, "'%.16s' is not a Unix time", s);
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return err_set(e, ERR_INVALID, "'%.16s' is not a Unix time", s);
		v = v * 10 + (s[i] - '0');
	}
	if ((n > 1 && s[0] == '0') || v > ACCOUNTS_TIME_MAX)
		return err_set(e, ERR_INVALID, "'%.16s' is not a Unix time", s);
	*out = v;
	return 0;
}

/* Room for element n (0-based) of an array of n elements: the capacity doubles at
 * each power of two, so building n elements costs O(n), not a copy per element. */
static void *acc_grow(void *v, size_t n, size_t size)
{
	if (n == 0 || (n & (n - 1)) == 0)
		v = xrealloc(v, (n ? 2 * n : 1) * size);
	return v;
}

/* ---- lists ----------------------------------------------------------------------------- */

static void acc_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int accounts_list_parse(const char *text, bool patterns, char ***out, size_t *n_out, struct err *e)
{
	char **v = NULL;
	size_t n = 0;
	const char *p = text;

	*out = NULL;
	*n_out = 0;
	if (*text == '\0')
		return 0;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		char *item;

		if (n == ACCOUNTS_LIST_MAX) {
			acc_strv_free(v, n);
			return err_set(e, ERR_TOO_LARGE, "more than %d items in a list",
			               ACCOUNTS_LIST_MAX);
		}
		item = xstrndup(p, len);
		if ((patterns ? accounts_pattern_check(item, e) : accounts_name_check(item, e)) <
		    0) {
			free(item);
			acc_strv_free(v, n);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if (strcmp(v[i], item) == 0) {
				err_set(e, ERR_INVALID, "'%s' is listed twice", item);
				free(item);
				acc_strv_free(v, n);
				return -1;
			}
		v = acc_grow(v, n, sizeof(*v));
		v[n++] = item;
		if (end == NULL)
			break;
		p = end + 1;
	}
	*out = v;
	*n_out = n;
	return 0;
}

void accounts_list_set(char ***v, size_t *n, char **nv, size_t nn)
{
	acc_strv_free(*v, *n);
	*v = nv;
	*n = nn;
}

/* ---- model ----------------------------------------------------------------------------- */

struct accounts *accounts_new(void)
{
	return xcalloc(1, sizeof(struct accounts));
}

static void acc_scope_release(struct scope *s)
{
	acc_strv_free(s->vms, s->n_vms);
	acc_strv_free(s->hosts, s->n_hosts);
	memset(s, 0, sizeof(*s));
}

static void acc_user_release(struct account_user *u)
{
	free(u->name);
	free(u->hash);
	acc_strv_free(u->groups, u->n_groups);
	acc_scope_release(&u->scope);
}

static void acc_group_release(struct account_group *g)
{
	free(g->name);
	acc_scope_release(&g->scope);
}

static void acc_token_release(struct account_token *t)
{
	free(t->user);
	free(t->label);
}

void accounts_free(struct accounts *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n_users; i++)
		acc_user_release(&a->users[i]);
	for (size_t i = 0; i < a->n_groups; i++)
		acc_group_release(&a->groups[i]);
	for (size_t i = 0; i < a->n_tokens; i++)
		acc_token_release(&a->tokens[i]);
	free(a->users);
	free(a->groups);
	free(a->tokens);
	free(a);
}

struct account_user *accounts_user(const struct accounts *a, const char *name)
{
	for (size_t i = 0; i < a->n_users; i++)
		if (strcmp(a->users[i].name, name) == 0)
			return &a->users[i];
	return NULL;
}

struct account_group *accounts_group(const struct accounts *a, const char *name)
{
	for (size_t i = 0; i < a->n_groups; i++)
		if (strcmp(a->groups[i].name, name) == 0)
			return &a->groups[i];
	return NULL;
}

struct account_token *accounts_token(const struct accounts *a, const char *id)
{
	for (size_t i = 0; i < a->n_tokens; i++)
		if (strcmp(a->tokens[i].id, id) == 0)
			return &a->tokens[i];
	return NULL;
}

static size_t acc_records(const struct accounts *a)
{
	return a->n_users + a->n_groups + a->n_tokens;
}

/* A new, empty record named name at the end (no checks). */
static struct account_user *acc_user_push(struct accounts *a, const char *name)
{
	struct account_user *u;

	a->users = acc_grow(a->users, a->n_users, sizeof(*a->users));
	u = &a->users[a->n_users++];
	memset(u, 0, sizeof(*u));
	u->name = xstrdup(name);
	return u;
}

static struct account_group *acc_group_push(struct accounts *a, const char *name)
{
	struct account_group *g;

	a->groups = acc_grow(a->groups, a->n_groups, sizeof(*a->groups));
	g = &a->groups[a->n_groups++];
	memset(g, 0, sizeof(*g));
	g->name = xstrdup(name);
	return g;
}

/* Whether one more record may be added: ERR_CONFLICT when what names it exists, ERR_TOO_LARGE
 * at ACCOUNTS_RECORDS_MAX. */
static int acc_add_check(const struct accounts *a, bool exists, const char *what, const char *name,
                         struct err *e)
{
	if (accounts_name_check(name, e) < 0)
		return -1;
	if (exists)
		return err_set(e, ERR_CONFLICT, "%s '%s' already exists", what, name);
	if (acc_records(a) >= ACCOUNTS_RECORDS_MAX)
		return err_set(e, ERR_TOO_LARGE, "more than %d records", ACCOUNTS_RECORDS_MAX);
	return 0;
}

struct account_user *accounts_user_add(struct accounts *a, const char *name, struct err *e)
{
	if (acc_add_check(a, accounts_user(a, name) != NULL, "user", name, e) < 0)
		return NULL;
	return acc_user_push(a, name);
}

struct account_group *accounts_group_add(struct accounts *a, const char *name, struct err *e)
{
	if (acc_add_check(a, accounts_group(a, name) != NULL, "group", name, e) < 0)
		return NULL;
	return acc_group_push(a, name);
}

int accounts_token_del(struct accounts *a, const char *id)
{
	for (size_t i = 0; i < a->n_tokens; i++)
		if (strcmp(a->tokens[i].id, id) == 0) {
			acc_token_release(&a->tokens[i]);
			memmove(&a->tokens[i], &a->tokens[i + 1],
			        (a->n_tokens - i - 1) * sizeof(*a->tokens));
			a->n_tokens--;
			return 0;
		}
	return -1;
}

int accounts_user_del(struct accounts *a, const char *name)
{
	int removed = 0;
	size_t i;

	for (i = 0; i < a->n_users; i++)
		if (strcmp(a->users[i].name, name) == 0)
			break;
	if (i == a->n_users)
		return -1;
	acc_user_release(&a->users[i]);
	memmove(&a->users[i], &a->users[i + 1], (a->n_users - i - 1) * sizeof(*a->users));
	a->n_users--;
	for (size_t t = 0; t < a->n_tokens;)
		if (strcmp(a->tokens[t].user, name) == 0) {
			accounts_token_del(a, a->tokens[t].id);
			removed++;
		} else {
			t++;
		}
	return removed;
}

int accounts_group_del(struct accounts *a, const char *name)
{
	int users = 0;
	size_t i;

	for (i = 0; i < a->n_groups; i++)
		if (strcmp(a->groups[i].name, name) == 0)
			break;
	if (i == a->n_groups)
		return -1;
	acc_group_release(&a->groups[i]);
	memmove(&a->groups[i], &a->groups[i + 1], (a->n_groups - i - 1) * sizeof(*a->groups));
	a->n_groups--;
	for (size_t u = 0; u < a->n_users; u++) {
		struct account_user *us = &a->users[u];

		for (size_t g = 0; g < us->n_groups; g++)
			if (strcmp(us->groups[g], name) == 0) {
				free(us->groups[g]);
				memmove(&us->groups[g], &us->groups[g + 1],
				        (us->n_groups - g - 1) * sizeof(*us->groups));
				us->n_groups--;
				users++;
				break;
			}
	}
	return users;
}

/* ---- tokens ---------------------------------------------------------------------------- */

static const char acc_b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding of n bytes into out (4n/3 rounded up chars + NUL). */
static void acc_b64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = acc_b64url[(acc >> bits) & 0x3f];
		}
	}
	if (bits > 0)
		out[o++] = acc_b64url[(acc << (6 - bits)) & 0x3f];
	out[o] = '\0';
}

int accounts_token_split(const char *token, size_t len, char id[ACCOUNTS_TOKEN_ID_LEN + 1])
{
	if (len != ACCOUNTS_TOKEN_LEN || memcmp(token, "mdt_", 4) != 0 ||
	    !acc_is_lhex(token + 4, ACCOUNTS_TOKEN_ID_LEN) ||
	    token[4 + ACCOUNTS_TOKEN_ID_LEN] != '_')
		return -1;
	for (size_t i = 5 + ACCOUNTS_TOKEN_ID_LEN; i < len; i++)
		if (token[i] == '\0' || strchr(acc_b64url, token[i]) == NULL)
			return -1;
	memcpy(id, token + 4, ACCOUNTS_TOKEN_ID_LEN);
	id[ACCOUNTS_TOKEN_ID_LEN] = '\0';
	return 0;
}

void accounts_token_hash(const char *token, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(token, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		abort(); /* SHA-256 is always there; failing is an out-of-memory */
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

static int acc_random(void *buf, size_t n, struct err *e)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom((char *)buf + got, n - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_set(e, ERR_IO, "getrandom: %s", ERR_ERRNO(errno));
		got += (size_t)r;
	}
	return 0;
}

struct account_token *accounts_token_new(struct accounts *a, const char *user, long long created,
                                         long long expires, const char *label,
                                         char token[ACCOUNTS_TOKEN_LEN + 1], struct err *e)
{
	unsigned char idb[ACCOUNTS_TOKEN_ID_LEN / 2], secret[32];
	char id[ACCOUNTS_TOKEN_ID_LEN + 1], sec[44];
	struct account_token *t = NULL;

	if (accounts_user(a, user) == NULL) {
		err_set(e, ERR_NOT_FOUND, "no user '%s'", user);
		return NULL;
	}
	if (label != NULL && accounts_label_check(label, e) < 0)
		return NULL;
	if (created < 0 || created > ACCOUNTS_TIME_MAX || expires < 0 ||
	    expires > ACCOUNTS_TIME_MAX) {
		err_set(e, ERR_INVALID, "time out of range");
		return NULL;
	}
	if (acc_records(a) >= ACCOUNTS_RECORDS_MAX) {
		err_set(e, ERR_TOO_LARGE, "more than %d records", ACCOUNTS_RECORDS_MAX);
		return NULL;
	}
	do {
		if (acc_random(idb, sizeof(idb), e) < 0)
			return NULL;
		for (size_t i = 0; i < sizeof(idb); i++)
			snprintf(id + 2 * i, 3, "%02x", idb[i]);
	} while (accounts_token(a, id) != NULL);
	if (acc_random(secret, sizeof(secret), e) < 0)
		return NULL;
	acc_b64url_encode(secret, sizeof(secret), sec);
	snprintf(token, ACCOUNTS_TOKEN_LEN + 1, "mdt_%s_%s", id, sec);
	a->tokens = acc_grow(a->tokens, a->n_tokens, sizeof(*a->tokens));
	t = &a->tokens[a->n_tokens++];
	memset(t, 0, sizeof(*t));
	memcpy(t->id, id, sizeof(t->id));
	t->user = xstrdup(user);
	accounts_token_hash(token, ACCOUNTS_TOKEN_LEN, t->hash);
	t->created = created;
	t->expires = expires;
	t->label = label != NULL ? xstrdup(label) : NULL;
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(sec, sizeof(sec));
	return t;
}

/* ---- parse ----------------------------------------------------------------------------- */

/* (kind, name) -> first line, to refuse duplicates in linear time. */
struct acc_seen {
	const struct accounts *a; /* names are looked up here: arrays move on growth */
	struct acc_seen_slot {
		size_t idx;
		size_t line; /* 0: empty slot */
		char kind;   /* 'u', 'g', 't' */
	} * slots;
	size_t cap, used;
};

static const char *acc_seen_name(const struct acc_seen *t, char kind, size_t idx)
{
	return kind == 'u'   ? t->a->users[idx].name
	       : kind == 'g' ? t->a->groups[idx].name
	                     : t->a->tokens[idx].id;
}

static uint64_t acc_fnv(char kind, const char *s)
{
	uint64_t h = 1469598103934665603ULL ^ (unsigned char)kind;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Record idx of kind (line > 0): 0 when new, else the line its name was first on. */
static size_t acc_seen_add(struct acc_seen *t, char kind, size_t idx, size_t line)
{
	const char *name;
	size_t i;

	if (2 * (t->used + 1) > t->cap) {
		struct acc_seen old = *t;

		t->cap = t->cap ? 2 * t->cap : 64;
		t->slots = xcalloc(t->cap, sizeof(*t->slots));
		t->used = 0;
		for (size_t k = 0; k < old.cap; k++)
			if (old.slots[k].line != 0)
				acc_seen_add(t, old.slots[k].kind, old.slots[k].idx,
				             old.slots[k].line);
		free(old.slots);
	}
	name = acc_seen_name(t, kind, idx);
	for (i = acc_fnv(kind, name) & (t->cap - 1); t->slots[i].line != 0;
	     i = (i + 1) & (t->cap - 1))
		if (t->slots[i].kind == kind &&
		    strcmp(acc_seen_name(t, kind, t->slots[i].idx), name) == 0)
			return t->slots[i].line;
	t->slots[i].idx = idx;
	t->slots[i].kind = kind;
	t->slots[i].line = line;
	t->used++;
	return 0;
}

#define ACC_FIELDS_MAX 16

/* Fields of one line: NUL-terminated copies in one buffer. */
struct acc_line {
	char *buf;
	char *f[ACC_FIELDS_MAX];
	size_t n;
};

static int acc_split(const char *s, size_t len, struct acc_line *l, struct err *e)
{
	size_t i = 0, o = 0;

	l->buf = xmalloc(len + 1);
	l->n = 0;
	while (i < len) {
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == len)
			break;
		if (l->n == ACC_FIELDS_MAX)
			return err_set(e, ERR_TOO_LARGE, "more than %d fields", ACC_FIELDS_MAX);
		l->f[l->n++] = l->buf + o;
		while (i < len && s[i] != ' ' && s[i] != '\t')
			l->buf[o++] = s[i++];
		l->buf[o++] = '\0';
	}
	return 0;
}

/* key=value field: value (borrowed) when the key matches. */
static const char *acc_kv(char *field, char **key)
{
	char *eq = strchr(field, '=');

	if (eq == NULL || eq == field)
		return NULL;
	*eq = '\0';
	*key = field;
	return eq + 1;
}

static int acc_dup_key(unsigned *seen, unsigned bit, const char *key, struct err *e)
{
	if (*seen & bit)
		return err_set(e, ERR_INVALID, "%s= given twice", key);
	*seen |= bit;
	return 0;
}

/* The keys users and groups share: role=, vms=, hosts= (seen bits 0, 8, 9). *handled
 * tells whether key was one of them. */
static int acc_common_field(enum role *r, struct scope *s, const char *key, const char *val,
                            bool *handled, unsigned *seen, struct err *e)
{
	*handled = true;
	if (strcmp(key, "role") == 0) {
		if (acc_dup_key(seen, 1u << 0, key, e) < 0)
			return -1;
		if (accounts_role_parse(val, r) < 0)
			return err_set(
			    e, ERR_INVALID,
			    "role '%.32s' is not none, viewer, operator, investigator or admin",
			    val);
		return 0;
	}
	if (strcmp(key, "vms") == 0) {
		if (acc_dup_key(seen, 1u << 8, key, e) < 0 ||
		    accounts_list_parse(val, true, &s->vms, &s->n_vms, e) < 0)
			return err_prefix(e, "vms"), -1;
		return 0;
	}
	if (strcmp(key, "hosts") == 0) {
		if (acc_dup_key(seen, 1u << 9, key, e) < 0 ||
		    accounts_list_parse(val, true, &s->hosts, &s->n_hosts, e) < 0)
			return err_prefix(e, "hosts"), -1;
		return 0;
	}
	*handled = false;
	return 0;
}

/* One KEY=value field of a record; seen collects the keys given (bits per kind). */
typedef int (*acc_field_fn)(void *rec, const char *key, const char *val, unsigned *seen,
                            struct err *e);

/* Hand the fields after the record's name (l->f[2..]) to fn one by one. */
static int acc_fields(struct acc_line *l, acc_field_fn fn, void *rec, unsigned *seen, struct err *e)
{
	for (size_t i = 2; i < l->n; i++) {
		char *key = NULL;
		const char *val = acc_kv(l->f[i], &key);

		if (val == NULL)
			return err_set(e, ERR_INVALID, "'%.64s' is not KEY=value", l->f[i]);
		if (fn(rec, key, val, seen, e) < 0)
			return -1;
	}
	return 0;
}

static int acc_user_field(void *rec, const char *key, const char *val, unsigned *seen,
                          struct err *e)
{
	struct account_user *u = rec;
	bool handled;

	if (acc_common_field(&u->role, &u->scope, key, val, &handled, seen, e) < 0)
		return -1;
	if (handled)
		return 0;
	if (strcmp(key, "hash") == 0) {
		if (acc_dup_key(seen, 1u << 1, key, e) < 0 || acc_crypt_check(val, e) < 0)
			return -1;
		u->hash = xstrdup(val);
	} else if (strcmp(key, "groups") == 0) {
		if (acc_dup_key(seen, 1u << 2, key, e) < 0 ||
		    accounts_list_parse(val, false, &u->groups, &u->n_groups, e) < 0)
			return err_prefix(e, "groups"), -1;
	} else if (strcmp(key, "disabled") == 0) {
		if (acc_dup_key(seen, 1u << 3, key, e) < 0)
			return -1;
		if (strcmp(val, "1") != 0 && strcmp(val, "0") != 0)
			return err_set(e, ERR_INVALID, "disabled= must be 0 or 1");
		u->disabled = val[0] == '1';
	} else {
		return err_set(e, ERR_INVALID, "unknown key '%.32s' for a user", key);
	}
	return 0;
}

static int acc_group_field(void *rec, const char *key, const char *val, unsigned *seen,
                           struct err *e)
{
	struct account_group *g = rec;
	bool handled;

	if (acc_common_field(&g->role, &g->scope, key, val, &handled, seen, e) < 0)
		return -1;
	if (handled)
		return 0;
	return err_set(e, ERR_INVALID, "unknown key '%.32s' for a group", key);
}

static int acc_token_field(void *rec, const char *key, const char *val, unsigned *seen,
                           struct err *e)
{
	struct account_token *t = rec;

	if (strcmp(key, "user") == 0) {
		if (acc_dup_key(seen, 1u << 0, key, e) < 0 || accounts_name_check(val, e) < 0)
			return err_prefix(e, "user"), -1;
		t->user = xstrdup(val);
	} else if (strcmp(key, "hash") == 0) {
		if (acc_dup_key(seen, 1u << 1, key, e) < 0)
			return -1;
		if (strlen(val) != 64 || !acc_is_lhex(val, 64))
			return err_set(e, ERR_INVALID,
			               "token hash must be 64 lower-case hex digits (SHA-256)");
		memcpy(t->hash, val, 65);
	} else if (strcmp(key, "created") == 0) {
		if (acc_dup_key(seen, 1u << 2, key, e) < 0 ||
		    acc_time_parse(val, &t->created, e) < 0)
			return err_prefix(e, "created"), -1;
	} else if (strcmp(key, "expires") == 0) {
		if (acc_dup_key(seen, 1u << 3, key, e) < 0 ||
		    acc_time_parse(val, &t->expires, e) < 0)
			return err_prefix(e, "expires"), -1;
	} else if (strcmp(key, "label") == 0) {
		if (acc_dup_key(seen, 1u << 4, key, e) < 0 || accounts_label_check(val, e) < 0)
			return -1;
		t->label = xstrdup(val);
	} else {
		return err_set(e, ERR_INVALID, "unknown key '%.32s' for a token", key);
	}
	return 0;
}

static int acc_parse_user(struct accounts *a, struct acc_line *l, struct err *e)
{
	struct account_user *u;
	unsigned seen = 0;

	if (l->n < 2)
		return err_set(e, ERR_INVALID, "user without a name");
	if (accounts_name_check(l->f[1], e) < 0)
		return err_prefix(e, "user"), -1;
	u = acc_user_push(a, l->f[1]);
	if (acc_fields(l, acc_user_field, u, &seen, e) < 0)
		return -1;
	if (!(seen & 1u))
		return err_set(e, ERR_INVALID, "user '%s' has no role=", u->name);
	return 0;
}

static int acc_parse_group(struct accounts *a, struct acc_line *l, struct err *e)
{
	struct account_group *g;
	unsigned seen = 0;

	if (l->n < 2)
		return err_set(e, ERR_INVALID, "group without a name");
	if (accounts_name_check(l->f[1], e) < 0)
		return err_prefix(e, "group"), -1;
	g = acc_group_push(a, l->f[1]);
	if (acc_fields(l, acc_group_field, g, &seen, e) < 0)
		return -1;
	if (!(seen & 1u))
		return err_set(e, ERR_INVALID, "group '%s' has no role=", g->name);
	return 0;
}

static int acc_parse_token(struct accounts *a, struct acc_line *l, struct err *e)
{
	struct account_token *t;
	unsigned seen = 0;

	if (l->n < 2)
		return err_set(e, ERR_INVALID, "token without an id");
	if (acc_token_id_check(l->f[1], e) < 0)
		return -1;
	a->tokens = acc_grow(a->tokens, a->n_tokens, sizeof(*a->tokens));
	t = &a->tokens[a->n_tokens++];
	memset(t, 0, sizeof(*t));
	memcpy(t->id, l->f[1], sizeof(t->id));
	if (acc_fields(l, acc_token_field, t, &seen, e) < 0)
		return -1;
	if ((seen & 7u) != 7u)
		return err_set(e, ERR_INVALID, "token %s needs user=, hash= and created=", t->id);
	return 0;
}

int accounts_parse(const char *buf, size_t len, struct accounts **out, struct err *e)
{
	struct accounts *a = accounts_new();
	struct acc_seen seen = {.a = a};
	size_t *token_lines = NULL;
	size_t line = 0, pos = 0;
	int rc = -1;

	*out = NULL;
	if (len > ACCOUNTS_FILE_MAX) {
		err_set(e, ERR_TOO_LARGE, "accounts file larger than %u bytes", ACCOUNTS_FILE_MAX);
		goto out;
	}
	if (memchr(buf, '\0', len) != NULL) {
		const char *z = memchr(buf, '\0', len);

		for (const char *p = buf; p < z; p++)
			line += *p == '\n';
		err_set(e, ERR_INVALID, "line %zu: NUL byte", line + 1);
		goto out;
	}
	while (pos < len) {
		const char *s = buf + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - s) : len - pos;
		struct acc_line l = {0};
		size_t first = 0, dup, idx;
		const char *name;
		char kind;
		int r = 0;

		line++;
		pos += n + (nl != NULL);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] < 0x20 && s[i] != '\t') {
				err_set(e, ERR_INVALID, "line %zu: control character", line);
				goto out;
			}
		while (first < n && (s[first] == ' ' || s[first] == '\t'))
			first++;
		if (first == n || s[first] == '#')
			continue;
		if (acc_records(a) == ACCOUNTS_RECORDS_MAX) {
			err_set(e, ERR_TOO_LARGE, "line %zu: more than %d records", line,
			        ACCOUNTS_RECORDS_MAX);
			goto out;
		}
		if (acc_split(s, n, &l, e) < 0) {
			free(l.buf);
			err_prefix(e, "line %zu", line);
			goto out;
		}
		if (strcmp(l.f[0], "user") == 0) {
			kind = 'u';
			r = acc_parse_user(a, &l, e);
		} else if (strcmp(l.f[0], "group") == 0) {
			kind = 'g';
			r = acc_parse_group(a, &l, e);
		} else if (strcmp(l.f[0], "token") == 0) {
			kind = 't';
			r = acc_parse_token(a, &l, e);
			if (r == 0) {
				token_lines =
				    acc_grow(token_lines, a->n_tokens - 1, sizeof(*token_lines));
				token_lines[a->n_tokens - 1] = line;
			}
		} else {
			err_set(e, ERR_INVALID, "'%.32s' is not user, group or token", l.f[0]);
			kind = 0;
			r = -1;
		}
		free(l.buf);
		if (r < 0) {
			err_prefix(e, "line %zu", line);
			goto out;
		}
		idx = kind == 'u'   ? a->n_users - 1
		      : kind == 'g' ? a->n_groups - 1
		                    : a->n_tokens - 1;
		name = acc_seen_name(&seen, kind, idx);
		dup = acc_seen_add(&seen, kind, idx, line);
		if (dup != 0) {
			err_set(e, ERR_INVALID, "line %zu: duplicate %s '%s' (first on line %zu)",
			        line,
			        kind == 'u'   ? "user"
			        : kind == 'g' ? "group"
			                      : "token id",
			        name, dup);
			goto out;
		}
	}
	for (size_t i = 0; i < a->n_tokens; i++)
		if (accounts_user(a, a->tokens[i].user) == NULL) {
			err_set(e, ERR_INVALID, "line %zu: token %s belongs to no user '%s'",
			        token_lines[i], a->tokens[i].id, a->tokens[i].user);
			goto out;
		}
	*out = a;
	a = NULL;
	rc = 0;
out:
	free(seen.slots);
	free(token_lines);
	accounts_free(a);
	return rc;
}

/* ---- format ---------------------------------------------------------------------------- */

struct acc_buf {
	char *s;
	size_t len, cap;
};

static void acc_put(struct acc_buf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

static void acc_put_list(struct acc_buf *b, const char *key, char **v, size_t n)
{
	if (n == 0)
		return;
	acc_put(b, " ");
	acc_put(b, key);
	acc_put(b, "=");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			acc_put(b, ",");
		acc_put(b, v[i]);
	}
}

char *accounts_format(const struct accounts *a, size_t *len)
{
	struct acc_buf b = {0};
	char num[32];

	acc_put(&b, ACCOUNTS_HEADER);
	for (size_t i = 0; i < a->n_users; i++) {
		const struct account_user *u = &a->users[i];

		acc_put(&b, "user ");
		acc_put(&b, u->name);
		acc_put(&b, " role=");
		acc_put(&b, accounts_role_name(u->role));
		if (u->hash != NULL) {
			acc_put(&b, " hash=");
			acc_put(&b, u->hash);
		}
		acc_put_list(&b, "groups", u->groups, u->n_groups);
		acc_put_list(&b, "vms", u->scope.vms, u->scope.n_vms);
		acc_put_list(&b, "hosts", u->scope.hosts, u->scope.n_hosts);
		if (u->disabled)
			acc_put(&b, " disabled=1");
		acc_put(&b, "\n");
	}
	for (size_t i = 0; i < a->n_groups; i++) {
		const struct account_group *g = &a->groups[i];

		acc_put(&b, "group ");
		acc_put(&b, g->name);
		acc_put(&b, " role=");
		acc_put(&b, accounts_role_name(g->role));
		acc_put_list(&b, "vms", g->scope.vms, g->scope.n_vms);
		acc_put_list(&b, "hosts", g->scope.hosts, g->scope.n_hosts);
		acc_put(&b, "\n");
	}
	for (size_t i = 0; i < a->n_tokens; i++) {
		const struct account_token *t = &a->tokens[i];

		acc_put(&b, "token ");
		acc_put(&b, t->id);
		acc_put(&b, " user=");
		acc_put(&b, t->user);
		acc_put(&b, " hash=");
		acc_put(&b, t->hash);
		snprintf(num, sizeof(num), " created=%lld", t->created);
		acc_put(&b, num);
		if (t->expires != 0) {
			snprintf(num, sizeof(num), " expires=%lld", t->expires);
			acc_put(&b, num);
		}
		if (t->label != NULL) {
			acc_put(&b, " label=");
			acc_put(&b, t->label);
		}
		acc_put(&b, "\n");
	}
	if (len != NULL)
		*len = b.len;
	return b.s;
}

/* ---- file I/O -------------------------------------------------------------------------- */

int accounts_load(const char *path, struct accounts **out, struct err *e)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, rc = -1;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_set(e, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, "%s: %s", path,
		               ERR_ERRNO(errno));
	if (fstat(fd, &st) < 0) {
		err_set(e, ERR_IO, "%s: %s", path, ERR_ERRNO(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(e, ERR_INVALID, "%s is not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		err_set(e, ERR_INVALID,
		        "%s is accessible by group or others (mode %04o): run chmod 600 %s", path,
		        (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if ((unsigned long long)st.st_size > ACCOUNTS_FILE_MAX) {
		err_set(e, ERR_TOO_LARGE, "%s is larger than %u bytes", path, ACCOUNTS_FILE_MAX);
		goto out;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size + 1) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size + 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_set(e, ERR_IO, "%s: %s", path, ERR_ERRNO(errno));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (got > (size_t)st.st_size) {
		err_set(e, ERR_CONFLICT, "%s grew while being read", path);
		goto out;
	}
	if (accounts_parse(buf, got, out, e) < 0) {
		err_prefix(e, "%s", path);
		goto out;
	}
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

static int acc_write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int accounts_save(const char *path, const struct accounts *a, struct err *e)
{
	char *copy = xstrdup(path), *tmp = xasprintf("%s.tmp.XXXXXX", path);
	const char *dir = dirname(copy);
	size_t len = 0;
	char *text = accounts_format(a, &len);
	struct stat old;
	bool have_old = stat(path, &old) == 0;
	int fd = -1, dfd = -1, rc = -1;
	bool created = false;

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err_set(e, ERR_IO, "%s: cannot create a temporary file: %s", dir, ERR_ERRNO(errno));
		goto out;
	}
	created = true;
	if (fchmod(fd, 0600) < 0) {
		err_set(e, ERR_IO, "%s: chmod: %s", tmp, ERR_ERRNO(errno));
		goto out;
	}
	if (have_old && geteuid() == 0 && fchown(fd, old.st_uid, old.st_gid) < 0) {
		err_set(e, ERR_IO, "%s: chown: %s", tmp, ERR_ERRNO(errno));
		goto out;
	}
	if (acc_write_all(fd, text, len) < 0 || fsync(fd) < 0) {
		err_set(e, errno == ENOSPC ? ERR_NO_SPACE : ERR_IO, "%s: %s", tmp,
		        ERR_ERRNO(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		err_set(e, ERR_IO, "%s: %s", tmp, ERR_ERRNO(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		err_set(e, ERR_IO, "rename to %s: %s", path, ERR_ERRNO(errno));
		goto out;
	}
	created = false;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		err_set(e, ERR_IO, "%s: fsync: %s", dir, ERR_ERRNO(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (created)
		unlink(tmp);
	free(text);
	free(tmp);
	free(copy);
	return rc;
}
