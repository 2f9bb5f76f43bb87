/*
 * auth: the gate every API request passes (docs/security.md). auth_identify
 * turns a request's credentials into an identity: MEMDUMP_AUTH=none gives
 * "anonymous"; else an API token (Authorization: Bearer), a dashboard session
 * (cookie memdump_session, kept in Redis), or, with MEMDUMP_TRUST_REMOTE_USER=yes,
 * the web server's REMOTE_USER. The accounts file is re-read when it changes
 * (checked with stat on every request; a file that no longer parses is logged
 * and the previous accounts stay in force). Also the session endpoints (login,
 * logout, who am I) and the per-user limits. One struct auth per worker process
 * (not thread-safe); identities it fills point into its accounts model and are
 * valid until the next call. Refusals are filled into a struct exch_resp.
 */
#ifndef MEMDUMP_AUTH_H
#define MEMDUMP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "accounts.h"
#include "authz.h"
#include "config.h"
#include "err.h"
#include "exchange.h"
#include "redis_store.h"

#define AUTH_COOKIE "memdump_session"
#define AUTH_SESSION_ID_HEX 64 /* the cookie value: 32 random bytes in hex */

struct auth;

/* cfg and store are borrowed and must outlive it. New, or NULL with e. */
struct auth *auth_new(const struct config *cfg, struct store *store, struct err *e);
void auth_free(struct auth *a);
/* MEMDUMP_AUTH: "local" or "none". */
const char *auth_mode(const struct auth *a);

/* What an attempt was, for the audit trail: the user it named (may be ""), how
 * it authenticated, the result ("ok", "refused", "failed") and why. */
struct auth_outcome {
	char user[ACCOUNTS_NAME_MAX + 1];
	enum authz_method method;
	const char *result;
	char detail[128];
};

/* 0 with *id filled, or -1 with r filled (400 token_in_query, 401
 * unauthenticated, 503 redis_unavailable for a session while Redis is down) and
 * out describing the refusal. */
int auth_identify(struct auth *a, const struct exch_req *q, struct identity *id,
                  struct auth_outcome *out, struct exch_resp *r);

/* 0 when id holds at least need (and, with unscoped, a grant without a scope);
 * else 403 forbidden naming the role, -1. */
int auth_require(const struct identity *id, enum role need, bool unscoped, struct exch_resp *r);

/* POST /session, DELETE /session, GET /session. login fills *id on success
 * (for the audit); out says what happened. */
void auth_login(struct auth *a, const struct exch_req *q, struct identity *id,
                struct auth_outcome *out, struct exch_resp *r);
void auth_logout(struct auth *a, const struct exch_req *q, struct auth_outcome *out,
                 struct exch_resp *r);
void auth_session_get(struct auth *a, const struct exch_req *q, const struct identity *id,
                      struct exch_resp *r);

/* Count n triggered VMs against the user's MEMDUMP_TRIGGER_RATE per minute:
 * 0, or -1 with 429 rate_limited (Retry-After) in r. Redis being down is not a
 * refusal here (the trigger then fails on Redis itself). */
int auth_trigger_allow(struct auth *a, const struct identity *id, size_t n, struct exch_resp *r);
/* MEMDUMP_USER_MAX_ACTIVE. */
long long auth_user_max_active(const struct auth *a);

/* Pure parts, exposed for tests and fuzzing. */
/* The memdump_session value of a Cookie header: 0 and hex filled, -1 when absent
 * or malformed. */
int auth_cookie_session(const char *cookie, char hex[AUTH_SESSION_ID_HEX + 1]);
/* "Bearer TOKEN" (scheme case-insensitive): 0 with the token's span, -1 for another
 * scheme or a malformed value. */
int auth_bearer(const char *header, const char **token, size_t *len);
/* Does a raw query string carry a credential (token=, access_token=, api_key=)? */
bool auth_query_has_token(const char *query);

#endif
