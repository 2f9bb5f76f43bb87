/*
 * authz: see authz.h. DESIGN: an identity is built once per request from the
 * accounts model; every question after that (role for a VM, unscoped admin,
 * InfluxQL filter) is a walk over at most AUTHZ_GRANTS_MAX grants. Globs are
 * matched with the classic two-pointer backtracking matcher (linear memory,
 * O(n*m) time worst case), stepping over whole UTF-8 characters. A grant whose
 * scope is empty is stored with scope NULL ("any"). No I/O, no threads.
 */
#include "authz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

static const char *const authz_method_names[AUTHZ__MAX] = {
    [AUTHZ_NONE] = "none",
    [AUTHZ_PASSWORD] = "password",
    [AUTHZ_TOKEN] = "token",
    [AUTHZ_REMOTE] = "remote",
};

const char *authz_method_name(enum authz_method m)
{
	if (m < 0 || m >= AUTHZ__MAX)
		return "?";
	return authz_method_names[m];
}

static void authz_grant_add(struct identity *id, enum role role, const struct scope *scope,
                            const char *from)
{
	struct authz_grant *g;

	if (role == ROLE_NONE || id->n_grants == AUTHZ_GRANTS_MAX)
		return;
	g = &id->grants[id->n_grants++];
	g->role = role;
	g->scope = scope != NULL && (scope->n_vms > 0 || scope->n_hosts > 0) ? scope : NULL;
	snprintf(g->from, sizeof(g->from), "%s", from);
}

/* Add group name to id (once); its grant when a has it. 0 or -1 (too many). */
static int authz_group_add(struct identity *id, const struct accounts *a, const char *name,
                           struct err *e)
{
	const struct account_group *g;
	char from[ACCOUNTS_NAME_MAX + 8];

	for (size_t i = 0; i < id->n_groups; i++)
		if (strcmp(id->groups[i], name) == 0)
			return 0;
	if (id->n_groups == ACCOUNTS_LIST_MAX)
		return err_set(e, ERR_TOO_LARGE, "user '%s' is in more than %d groups", id->user,
		               ACCOUNTS_LIST_MAX);
	snprintf(id->groups[id->n_groups++], sizeof(id->groups[0]), "%s", name);
	g = accounts_group(a, name);
	if (g != NULL) {
		snprintf(from, sizeof(from), "group:%s", name);
		authz_grant_add(id, g->role, &g->scope, from);
	}
	return 0;
}

int authz_identity_for(const struct accounts *a, const char *user, enum authz_method m,
                       const char *const *extra_groups, size_t n_extra, struct identity *out,
                       struct err *e)
{
	const struct account_user *u;

	memset(out, 0, sizeof(*out));
	if (accounts_name_check(user, e) < 0)
		return err_prefix(e, "user"), -1;
	snprintf(out->user, sizeof(out->user), "%s", user);
	out->method = m;
	u = accounts_user(a, user);
	if (u == NULL && m != AUTHZ_REMOTE) {
		memset(out, 0, sizeof(*out));
		return err_set(e, ERR_NOT_FOUND, "no user '%s'", user);
	}
	if (u != NULL && u->disabled) {
		memset(out, 0, sizeof(*out));
		return err_set(e, ERR_AUTH, "user '%s' is disabled", user);
	}
	if (u != NULL) {
		authz_grant_add(out, u->role, &u->scope, "user");
		for (size_t i = 0; i < u->n_groups; i++)
			if (authz_group_add(out, a, u->groups[i], e) < 0)
				goto fail;
	}
	if (m == AUTHZ_REMOTE && extra_groups != NULL)
		for (size_t i = 0; i < n_extra; i++) {
			/* Names the accounts file could never hold grant nothing: skipped. */
			if (extra_groups[i] == NULL ||
			    accounts_name_check(extra_groups[i], NULL) < 0)
				continue;
			if (authz_group_add(out, a, extra_groups[i], e) < 0)
				goto fail;
		}
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return -1;
}

void authz_identity_anonymous(struct identity *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->user, sizeof(out->user), "anonymous");
	out->method = AUTHZ_NONE;
	authz_grant_add(out, ROLE_ADMIN, NULL, "anonymous");
}

enum role authz_role_max(const struct identity *id)
{
	enum role r = ROLE_NONE;

	for (size_t i = 0; i < id->n_grants; i++)
		if (id->grants[i].role > r)
			r = id->grants[i].role;
	return r;
}

/* Length of the UTF-8 character at s (a stray byte counts as one). */
static size_t authz_char_len(const char *s)
{
	unsigned char c = (unsigned char)s[0];
	size_t n = c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;

	for (size_t i = 1; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			return i;
	return n;
}

bool authz_glob_match(const char *glob, const char *s)
{
	const char *star = NULL, *resume = NULL;

	while (*s != '\0') {
		if (*glob == '*') {
			star = ++glob;
			resume = s;
		} else if (*glob == '?') {
			glob++;
			s += authz_char_len(s);
		} else if (*glob != '\0' && *glob == *s) {
			glob++;
			s++;
		} else if (star != NULL) {
			resume += authz_char_len(resume);
			glob = star;
			s = resume;
		} else {
			return false;
		}
	}
	while (*glob == '*')
		glob++;
	return *glob == '\0';
}

static bool authz_list_covers(char *const *globs, size_t n, const char *name)
{
	if (n == 0)
		return true;
	if (name == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (authz_glob_match(globs[i], name))
			return true;
	return false;
}

static bool authz_grant_covers(const struct authz_grant *g, const char *vm, const char *host)
{
	if (g->scope == NULL)
		return true;
	return authz_list_covers(g->scope->vms, g->scope->n_vms, vm) &&
	       authz_list_covers(g->scope->hosts, g->scope->n_hosts, host);
}

enum role authz_role_for(const struct identity *id, const char *vm, const char *host)
{
	enum role r = ROLE_NONE;

	for (size_t i = 0; i < id->n_grants; i++)
		if (id->grants[i].role > r && authz_grant_covers(&id->grants[i], vm, host))
			r = id->grants[i].role;
	return r;
}

bool authz_unscoped(const struct identity *id, enum role min)
{
	for (size_t i = 0; i < id->n_grants; i++)
		if (id->grants[i].role >= min && id->grants[i].scope == NULL)
			return true;
	return false;
}

/* ---- InfluxQL -------------------------------------------------------------------------- */

struct authz_buf {
	char *s;
	size_t len, cap;
};

static void authz_put(struct authz_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void authz_puts(struct authz_buf *b, const char *s)
{
	authz_put(b, s, strlen(s));
}

/* A glob as the body of a Go (RE2) regex inside an InfluxQL /.../ literal. */
static void authz_put_glob_regex(struct authz_buf *b, const char *glob)
{
	for (const char *p = glob; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '*')
			authz_puts(b, ".*");
		else if (c == '?')
			authz_puts(b, ".");
		else if (c < 0x80 && c != '_' && c != '-' && c != '@' &&
		         !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		           (c >= '0' && c <= '9'))) {
			/* Every other ASCII character is escaped: regex specials, '/' (the
			 * literal's delimiter), and harmless punctuation alike. */
			char esc[2] = {'\\', (char)c};

			authz_put(b, esc, 2);
		} else {
			authz_put(b, p, 1);
		}
	}
}

static void authz_put_match(struct authz_buf *b, const char *tag, char *const *globs, size_t n)
{
	authz_puts(b, "(");
	authz_puts(b, tag);
	authz_puts(b, " =~ /^");
	if (n > 1)
		authz_puts(b, "(?:");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			authz_puts(b, "|");
		authz_put_glob_regex(b, globs[i]);
	}
	if (n > 1)
		authz_puts(b, ")");
	authz_puts(b, "$/)");
}

char *authz_influx_where(const struct identity *id, enum role min)
{
	struct authz_buf b = {0};
	size_t terms = 0;

	if (authz_unscoped(id, min))
		return NULL;
	for (size_t i = 0; i < id->n_grants; i++) {
		const struct authz_grant *g = &id->grants[i];
		bool both;

		if (g->role < min)
			continue;
		both = g->scope->n_vms > 0 && g->scope->n_hosts > 0;
		if (terms++ > 0)
			authz_puts(&b, " OR ");
		if (both)
			authz_puts(&b, "(");
		if (g->scope->n_vms > 0)
			authz_put_match(&b, "vm", g->scope->vms, g->scope->n_vms);
		if (both)
			authz_puts(&b, " AND ");
		if (g->scope->n_hosts > 0)
			authz_put_match(&b, "host", g->scope->hosts, g->scope->n_hosts);
		if (both)
			authz_puts(&b, ")");
	}
	if (terms == 0)
		authz_puts(&b, "(vm !~ /.*/)"); /* no grant: matches nothing */
	return b.s;
}

/* ---- JSON ------------------------------------------------------------------------------ */

static json_t *authz_strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *authz_identity_json(const struct identity *id)
{
	json_t *groups = json_array(), *grants = json_array();

	for (size_t i = 0; i < id->n_groups; i++)
		json_array_append_new(groups, json_string(id->groups[i]));
	for (size_t i = 0; i < id->n_grants; i++) {
		const struct authz_grant *g = &id->grants[i];

		json_array_append_new(
		    grants, json_pack("{s:s, s:s, s:o, s:o}", "role", accounts_role_name(g->role),
		                      "from", g->from, "vms",
		                      g->scope ? authz_strv_json(g->scope->vms, g->scope->n_vms)
		                               : json_array(),
		                      "hosts",
		                      g->scope ? authz_strv_json(g->scope->hosts, g->scope->n_hosts)
		                               : json_array()));
	}
	return json_pack("{s:s, s:s, s:o, s:s, s:o}", "user", id->user, "auth",
	                 authz_method_name(id->method), "groups", groups, "role",
	                 accounts_role_name(authz_role_max(id)), "grants", grants);
}
