/*
 * authz: who a request is and what it may touch, with no I/O. An identity is a
 * user name, how it authenticated, its groups and its grants: one grant for the
 * user's own role and scope, one per group (the user's groups= plus, for a
 * REMOTE_USER, the groups the web server sent). For one VM on one host the role
 * is the highest role among the grants whose scope covers it; a VM no grant of
 * viewer or more covers does not exist for the identity. Globs: '*' any run,
 * '?' one UTF-8 character, matched on whole names. A struct identity owns
 * nothing (fixed arrays, copied strings); safe to copy and share read-only.
 */
#ifndef MEMDUMP_AUTHZ_H
#define MEMDUMP_AUTHZ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "accounts.h"
#include "err.h"

#define AUTHZ_GRANTS_MAX (ACCOUNTS_LIST_MAX + 1)

enum authz_method { AUTHZ_NONE, AUTHZ_PASSWORD, AUTHZ_TOKEN, AUTHZ_REMOTE, AUTHZ__MAX };

/* "none" (MEMDUMP_AUTH=none), "password" (session), "token", "remote". */
const char *authz_method_name(enum authz_method m);

struct authz_grant {
	enum role role;
	const struct scope *scope; /* borrowed from the accounts model; NULL: any */
	char from[ACCOUNTS_NAME_MAX + 8]; /* "user" or "group:NAME" */
};

struct identity {
	char user[ACCOUNTS_NAME_MAX + 1];
	enum authz_method method;
	char groups[ACCOUNTS_LIST_MAX][ACCOUNTS_NAME_MAX + 1];
	size_t n_groups;
	struct authz_grant grants[AUTHZ_GRANTS_MAX];
	size_t n_grants;
};

/*
 * The identity of user from the accounts model a (borrowed: the grants point
 * into it, so a must outlive the identity). extra_groups (may be NULL) are the
 * web server's groups for a REMOTE_USER; names that are no group in a are kept
 * in groups[] but grant nothing. A user absent from a is allowed only for
 * AUTHZ_REMOTE (its grants then come from its groups alone). ERR_NOT_FOUND: no
 * such user; ERR_AUTH: the user is disabled.
 */
int authz_identity_for(const struct accounts *a, const char *user, enum authz_method m,
                       const char *const *extra_groups, size_t n_extra, struct identity *out,
                       struct err *e);
/* MEMDUMP_AUTH=none: user "anonymous", method none, one unscoped admin grant. */
void authz_identity_anonymous(struct identity *out);

/* The highest role of any grant (what the dashboard shows). */
enum role authz_role_max(const struct identity *id);
/* The role for one VM (vm and host may be NULL: unknown, only "any" lists match). */
enum role authz_role_for(const struct identity *id, const char *vm, const char *host);
/* Does a grant of at least min cover everything (no vms, no hosts)? */
bool authz_unscoped(const struct identity *id, enum role min);
/* Pure glob match ('*', '?' on UTF-8 characters), whole string. */
bool authz_glob_match(const char *glob, const char *s);

/*
 * InfluxQL condition limiting a query on mem_dumps (tags vm, host) to what id
 * sees with at least min: NULL when unscoped; else a new string such as
 * "((vm =~ /^db-.*$/) AND (host =~ /^kvm1$/)) OR (vm =~ /^web$/)". Every
 * character that is special in a regex or InfluxQL is escaped.
 */
char *authz_influx_where(const struct identity *id, enum role min);

/* {"user","auth","groups":[...],"role","grants":[{"role","from","vms":[..],"hosts":[..]}]} (new). */
json_t *authz_identity_json(const struct identity *id);

#endif
