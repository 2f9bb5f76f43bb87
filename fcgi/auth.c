/*
 * auth: see auth.h. DESIGN: the accounts model is loaded at start and
 * whenever stat() of the file shows another inode, size, mtime or ctime.
 * Tokens are looked up by their id and compared by the SHA-256 of the whole
 * token. A session cookie is 32 random bytes in hex; Redis holds, under the
 * SHA-256 of that value, {"user", "created", "expires"} (ms) with the idle
 * timeout as TTL, renewed on each use but never past "expires". A password
 * check for an unknown user still runs the KDF (kdf_burn), so timing does not
 * tell which names exist. Failed logins count per user and per client address
 * in Redis windows of MEMDUMP_LOGIN_WINDOW seconds; a full window refuses the
 * login (429) before the password is even checked.
 */
#include "auth.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "json_util.h"
#include "kdf.h"
#include "log.h"
#include "urlcode.h"
#include "xmalloc.h"

#define AUTH_PASSWORD_MAX 1024
#define AUTH_ADDR_MAX 64
#define AUTH_SEEN_MAX 64   /* sessions a worker remembers for a Redis outage */
#define AUTH_SEEN_MS 60000 /* ... for reads, at most this long after it last saw them */

/* A session this worker saw valid in Redis: used only while Redis is unreachable,
 * so a dashboard keeps its history (InfluxDB) and the outage banner. */
struct auth_seen {
	char key[65];
	char user[ACCOUNTS_NAME_MAX + 1];
	long long expires_ms, seen_ms;
};

struct auth {
	const struct config *cfg;
	struct store *store; /* borrowed */
	bool enabled;        /* MEMDUMP_AUTH=local */
	bool trust_remote;
	struct accounts *acc; /* never NULL (empty when the file is missing) */
	struct stat seen;     /* the file as last checked (st_ino 0: absent) */
	bool seen_valid;
	struct auth_seen sessions[AUTH_SEEN_MAX];
	size_t next_seen; /* round robin */
};

static bool auth_stat_same(const struct stat *x, const struct stat *y)
{
	return x->st_ino == y->st_ino && x->st_dev == y->st_dev && x->st_size == y->st_size &&
	       x->st_mtim.tv_sec == y->st_mtim.tv_sec && x->st_mtim.tv_nsec == y->st_mtim.tv_nsec &&
	       x->st_ctim.tv_sec == y->st_ctim.tv_sec && x->st_ctim.tv_nsec == y->st_ctim.tv_nsec;
}

/* Re-read the accounts file when it changed since the last look. */
static void auth_refresh(struct auth *a)
{
	const char *path = config_str(a->cfg, CFG_ACCOUNTS);
	struct accounts *fresh = NULL;
	struct stat st;
	struct err e;

	if (stat(path, &st) < 0)
		memset(&st, 0, sizeof(st));
	if (a->seen_valid && auth_stat_same(&st, &a->seen))
		return;
	a->seen = st;
	a->seen_valid = true;
	if (accounts_load(path, &fresh, &e) < 0) {
		if (e.code == ERR_NOT_FOUND && a->acc->n_users == 0)
			log_error(
			    "accounts_missing",
			    "path=%s msg=\"nobody can log in: create it with memdump-admin user "
			    "add\"",
			    log_q(path));
		else
			log_error("accounts_invalid", "path=%s msg=%s keeping=previous",
			          log_q(path), log_q(e.msg));
		return;
	}
	accounts_free(a->acc);
	a->acc = fresh;
	log_info("accounts_loaded", "path=%s users=%zu groups=%zu tokens=%zu", log_q(path),
	         fresh->n_users, fresh->n_groups, fresh->n_tokens);
}

struct auth *auth_new(const struct config *cfg, struct store *store, struct err *e)
{
	struct auth *a = xcalloc(1, sizeof(*a));

	(void)e;
	a->cfg = cfg;
	a->store = store;
	a->enabled = config_num(cfg, CFG_AUTH) == 0;
	a->trust_remote = config_num(cfg, CFG_TRUST_REMOTE_USER) == 1;
	a->acc = accounts_new();
	if (a->enabled)
		auth_refresh(a);
	return a;
}

void auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	accounts_free(a->acc);
	free(a);
}

const char *auth_mode(const struct auth *a)
{
	return a->enabled ? "local" : "none";
}

long long auth_user_max_active(const struct auth *a)
{
	return config_num(a->cfg, CFG_USER_MAX_ACTIVE);
}

/* ---- pure parsers ------------------------------------------------------------------ */

int auth_cookie_session(const char *cookie, char hex[AUTH_SESSION_ID_HEX + 1])
{
	static const char name[] = AUTH_COOKIE;
	const char *p = cookie, *found = NULL;
	size_t found_len = 0;
	int seen = 0;

	if (cookie == NULL)
		return -1;
	/* every "NAME=VALUE" separated by ';' (or ',', as nginx also splits); the name is
	 * matched without case, as nginx's $cookie_ does, and more than one is refused */
	while (*p != '\0') {
		size_t len, nlen;

		while (*p == ' ' || *p == '\t' || *p == ';' || *p == ',')
			p++;
		len = strcspn(p, ";,");
		nlen = strcspn(p, "=;,");
		while (nlen > 0 && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t'))
			nlen--;
		if (nlen == sizeof(name) - 1 && strncasecmp(p, name, nlen) == 0) {
			const char *eq = memchr(p, '=', len);

			seen++;
			if (eq != NULL) {
				found = eq + 1;
				found_len = len - (size_t)(found - p);
				while (found_len > 0 && (*found == ' ' || *found == '\t')) {
					found++;
					found_len--;
				}
				while (found_len > 0 && (found[found_len - 1] == ' ' ||
				                         found[found_len - 1] == '\t'))
					found_len--;
			}
		}
		p += len;
	}
	if (seen != 1 || found == NULL || found_len != AUTH_SESSION_ID_HEX)
		return -1;
	for (size_t i = 0; i < found_len; i++)
		if (!((found[i] >= '0' && found[i] <= '9') || (found[i] >= 'a' && found[i] <= 'f')))
			return -1;
	memcpy(hex, found, found_len);
	hex[found_len] = '\0';
	return 0;
}

int auth_bearer(const char *header, const char **token, size_t *len)
{
	const char *p;
	size_t n;

	if (header == NULL || strncasecmp(header, "Bearer", 6) != 0 ||
	    (header[6] != ' ' && header[6] != '\t'))
		return -1;
	p = header + 6;
	while (*p == ' ' || *p == '\t')
		p++;
	n = strlen(p);
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n == 0 || n > 256)
		return -1;
	/* RFC 6750 token68 */
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)p[i]) || strchr("-._~+/=", p[i]) != NULL) ||
		    p[i] == '\0')
			return -1;
	*token = p;
	*len = n;
	return 0;
}

bool auth_query_has_token(const char *query)
{
	static const char *const keys[] = {"token",  "access_token", "api_key",
	                                   "apikey", "session",      AUTH_COOKIE};
	const char *p = query;

	while (p != NULL && *p != '\0') {
		size_t len = strcspn(p, "&;");
		size_t klen = strcspn(p, "=&;");

		char *k = NULL;

		/* the key as the API would read it: percent-decoded ("to%6Ben" is "token") */
		if (urlcode_decode(p, klen, true, &k) < 0)
			k = strndup(p, klen);
		for (size_t i = 0; k != NULL && i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcasecmp(k, keys[i]) == 0) {
				free(k);
				return true;
			}
		free(k);
		p += len;
		if (*p != '\0')
			p++;
	}
	return false;
}

/* ---- helpers ---------------------------------------------------------------------- */

static void auth_outcome_set(struct auth_outcome *out, const char *user, enum authz_method m,
                             const char *result, const char *detail)
{
	snprintf(out->user, sizeof(out->user), "%s", user ? user : "");
	out->method = m;
	out->result = result;
	snprintf(out->detail, sizeof(out->detail), "%s", detail ? detail : "");
}

static void auth_unauthenticated(struct exch_resp *r, const char *msg)
{
	exch_resp_error(r, 401, "unauthenticated", "%s", msg);
	exch_resp_header(r, "WWW-Authenticate", "Bearer realm=\"memdump\"");
}

/* Constant-time comparison of two SHA-256 hex strings. */
static bool auth_hash_equal(const char *x, const char *y)
{
	unsigned char d = 0;

	for (size_t i = 0; i < 64; i++)
		d |= (unsigned char)(x[i] ^ y[i]);
	return d == 0 && x[64] == '\0' && y[64] == '\0';
}

/* The client address a login limit counts against: REMOTE_ADDR, an IPv6 address
 * by its /64 (one host holds a whole /64), "unknown" when it is no address. */
static void auth_client(const struct exch_req *q, char out[AUTH_ADDR_MAX])
{
	const char *v = q->remote_addr;
	unsigned char a6[16];
	struct in_addr a4;

	if (v != NULL && inet_pton(AF_INET6, v, a6) == 1) {
		memset(a6 + 8, 0, 8);
		if (inet_ntop(AF_INET6, a6, out, AUTH_ADDR_MAX) != NULL) {
			strncat(out, "/64", AUTH_ADDR_MAX - strlen(out) - 1);
			return;
		}
	}
	if (v == NULL || inet_pton(AF_INET, v, &a4) != 1)
		v = "unknown";
	snprintf(out, AUTH_ADDR_MAX, "%s", v);
}

static int auth_identity(struct auth *a, const char *user, enum authz_method m,
                         const char *const *groups, size_t n, struct identity *id,
                         struct auth_outcome *out, struct exch_resp *r)
{
	struct err e;

	if (authz_identity_for(a->acc, user, m, groups, n, id, &e) < 0) {
		auth_outcome_set(out, user, m, "refused",
		                 e.code == ERR_AUTH ? "account disabled" : "no such account");
		auth_unauthenticated(r, e.code == ERR_AUTH
		                            ? "this account is disabled"
		                            : "these credentials belong to no account");
		return -1;
	}
	return 0;
}

/* ---- the gate --------------------------------------------------------------------- */

static int auth_by_token(struct auth *a, const char *tok, size_t len, struct identity *id,
                         struct auth_outcome *out, struct exch_resp *r)
{
	char tid[ACCOUNTS_TOKEN_ID_LEN + 1], hash[65];
	const struct account_token *t;

	if (accounts_token_split(tok, len, tid) < 0 || (t = accounts_token(a->acc, tid)) == NULL) {
		auth_outcome_set(out, "", AUTHZ_TOKEN, "refused", "unknown token");
		auth_unauthenticated(r, "the API token is unknown, revoked or expired");
		return -1;
	}
	accounts_token_hash(tok, len, hash);
	if (!auth_hash_equal(hash, t->hash) ||
	    (t->expires != 0 && t->expires * 1000 <= clock_realtime_ms())) {
		auth_outcome_set(out, t->user, AUTHZ_TOKEN, "refused",
		                 auth_hash_equal(hash, t->hash) ? "token expired" : "wrong token");
		auth_unauthenticated(r, "the API token is unknown, revoked or expired");
		return -1;
	}
	return auth_identity(a, t->user, AUTHZ_TOKEN, NULL, 0, id, out, r);
}

static void auth_seen_put(struct auth *a, const char *key, const char *user, long long expires,
                          long long now)
{
	struct auth_seen *slot = NULL;

	for (size_t i = 0; i < AUTH_SEEN_MAX && slot == NULL; i++)
		if (strcmp(a->sessions[i].key, key) == 0)
			slot = &a->sessions[i];
	if (slot == NULL) {
		slot = &a->sessions[a->next_seen];
		a->next_seen = (a->next_seen + 1) % AUTH_SEEN_MAX;
	}
	snprintf(slot->key, sizeof(slot->key), "%s", key);
	snprintf(slot->user, sizeof(slot->user), "%s", user);
	slot->expires_ms = expires;
	slot->seen_ms = now;
}

/* The user of a session this worker saw valid in the last AUTH_SEEN_MS, or NULL. */
static const char *auth_seen_get(struct auth *a, const char *key, long long now)
{
	for (size_t i = 0; i < AUTH_SEEN_MAX; i++) {
		struct auth_seen *s = &a->sessions[i];

		if (strcmp(s->key, key) == 0 && s->expires_ms > now &&
		    now - s->seen_ms < AUTH_SEEN_MS)
			return s->user;
	}
	return NULL;
}

static void auth_seen_drop(struct auth *a, const char *key)
{
	for (size_t i = 0; i < AUTH_SEEN_MAX; i++)
		if (strcmp(a->sessions[i].key, key) == 0)
			memset(&a->sessions[i], 0, sizeof(a->sessions[i]));
}

static int auth_by_session(struct auth *a, const char *hex, bool read_only, struct identity *id,
                           struct auth_outcome *out, struct exch_resp *r)
{
	char key[65];
	json_t *s = NULL;
	struct err e;
	long long now = clock_realtime_ms(), expires = 0;
	long ttl = (long)config_num(a->cfg, CFG_SESSION_IDLE);
	const char *user;
	int rc = -1;

	accounts_token_hash(hex, AUTH_SESSION_ID_HEX, key);
	if (store_session_touch(a->store, key, ttl, &s, &e) < 0) {
		if (e.code == ERR_NOT_FOUND) {
			auth_seen_drop(a, key);
			auth_outcome_set(out, "", AUTHZ_PASSWORD, "refused", "session ended");
			auth_unauthenticated(r, "your session has ended; log in again");
		} else if (read_only && (user = auth_seen_get(a, key, now)) != NULL) {
			/* Redis is down: a session this worker saw valid lately goes on, so the
			 * dashboard keeps its history and shows the outage (docs/security.md) */
			return auth_identity(a, user, AUTHZ_PASSWORD, NULL, 0, id, out, r);
		} else {
			auth_outcome_set(out, "", AUTHZ_PASSWORD, "failed", "Redis unavailable");
			exch_resp_error(r, 503, "redis_unavailable",
			                "sessions are kept in Redis, which is unavailable: %s",
			                e.msg);
		}
		return -1;
	}
	user = jsonu_str(s, "user");
	if (user == NULL || jsonu_int(s, "expires", &expires) < 0 || expires <= now) {
		store_session_del(a->store, key, NULL);
		auth_outcome_set(out, user, AUTHZ_PASSWORD, "refused", "session expired");
		auth_unauthenticated(r, "your session has expired; log in again");
		goto out;
	}
	if (auth_identity(a, user, AUTHZ_PASSWORD, NULL, 0, id, out, r) < 0) {
		store_session_del(a->store, key, NULL);
		auth_seen_drop(a, key);
		goto out;
	}
	auth_seen_put(a, key, user, expires, now);
	rc = 0;
out:
	json_decref(s);
	return rc;
}

/* Split the web server's group list (commas or blanks) into names; bad ones are dropped. */
static size_t auth_remote_groups(const char *v, char names[][ACCOUNTS_NAME_MAX + 1],
                                 const char **ptrs, size_t cap)
{
	size_t n = 0;

	while (v != NULL && *v != '\0' && n < cap) {
		size_t len;

		v += strspn(v, ", \t;");
		len = strcspn(v, ", \t;");
		if (len > 0 && len <= ACCOUNTS_NAME_MAX) {
			memcpy(names[n], v, len);
			names[n][len] = '\0';
			if (accounts_name_check(names[n], NULL) == 0) {
				ptrs[n] = names[n];
				n++;
			}
		}
		v += len;
	}
	return n;
}

int auth_identify(struct auth *a, const struct exch_req *q, struct identity *id,
                  struct auth_outcome *out, struct exch_resp *r)
{
	char hex[AUTH_SESSION_ID_HEX + 1];
	const char *tok = NULL;
	size_t len = 0;
	bool bearer;

	auth_outcome_set(out, "", AUTHZ_NONE, "ok", "");
	if (!a->enabled) {
		authz_identity_anonymous(id);
		snprintf(out->user, sizeof(out->user), "%s", id->user);
		return 0;
	}
	if (auth_query_has_token(q->query)) {
		auth_outcome_set(out, "", AUTHZ_NONE, "refused", "credential in query string");
		exch_resp_error(r, 400, "token_in_query",
		                "credentials are never accepted in the query string (it ends up in "
		                "logs and histories): send Authorization: Bearer TOKEN");
		return -1;
	}
	auth_refresh(a);
	bearer = q->authorization != NULL && auth_bearer(q->authorization, &tok, &len) == 0;
	if (bearer)
		return auth_by_token(a, tok, len, id, out, r);
	/* after a token (scripts behind the same web server), before a cookie; an
	 * Authorization: Basic the web server checked itself (auth_basic) is its business */
	if (a->trust_remote && q->remote_user != NULL && *q->remote_user != '\0') {
		char names[ACCOUNTS_LIST_MAX][ACCOUNTS_NAME_MAX + 1];
		const char *ptrs[ACCOUNTS_LIST_MAX];
		size_t n;

		if (accounts_name_check(q->remote_user, NULL) < 0) {
			auth_outcome_set(out, "", AUTHZ_REMOTE, "refused", "bad REMOTE_USER");
			auth_unauthenticated(r, "the web server's user name is not a valid account "
			                        "name (A-Z a-z 0-9 _ . @ -, at most 64)");
			return -1;
		}
		n = auth_remote_groups(q->remote_groups, names, ptrs, ACCOUNTS_LIST_MAX);
		return auth_identity(a, q->remote_user, AUTHZ_REMOTE, ptrs, n, id, out, r);
	}
	if (q->authorization != NULL && *q->authorization != '\0') {
		auth_outcome_set(out, "", AUTHZ_TOKEN, "refused", "not a Bearer token");
		auth_unauthenticated(r, "the Authorization header must be 'Bearer TOKEN' with an "
		                        "API token from memdump-admin token add");
		return -1;
	}
	if (auth_cookie_session(q->cookie, hex) == 0)
		return auth_by_session(
		    a, hex, strcmp(q->method, "GET") == 0 || strcmp(q->method, "HEAD") == 0, id,
		    out, r);
	auth_outcome_set(out, "", AUTHZ_NONE, "refused", "no credentials");
	auth_unauthenticated(r, "log in, or send Authorization: Bearer TOKEN (an API token)");
	return -1;
}

int auth_require(const struct identity *id, enum role need, bool unscoped, struct exch_resp *r)
{
	enum role have = authz_role_max(id);

	if (have >= need && (!unscoped || authz_unscoped(id, need)))
		return 0;
	if (have >= need)
		exch_resp_error(r, 403, "forbidden",
		                "this needs the %s role for every VM and host (yours is limited "
		                "to a scope)",
		                accounts_role_name(need));
	else
		exch_resp_error(r, 403, "forbidden", "this needs the %s role (yours: %s)",
		                accounts_role_name(need), accounts_role_name(have));
	return -1;
}

/* ---- sessions --------------------------------------------------------------------- */

static json_t *auth_session_json(const struct identity *id, long long expires_ms)
{
	json_t *o = authz_identity_json(id);

	if (expires_ms > 0) {
		char t[32];

		jsonu_time_format(expires_ms, t);
		json_object_set_new(o, "expires_at", json_string(t));
	} else {
		json_object_set_new(o, "expires_at", json_null());
	}
	return json_pack("{s:o}", "session", o);
}

/* MEMDUMP_COOKIE_SECURE: auto (when the web server says HTTPS=on), always, never. */
static bool auth_secure(const struct auth *a, const struct exch_req *q)
{
	long long mode = config_num(a->cfg, CFG_COOKIE_SECURE);

	return mode == 1 || (mode == 0 && q->https);
}

static void auth_set_cookie(const struct auth *a, const struct exch_req *q, struct exch_resp *r,
                            const char *value, long max_age)
{
	char *c = xasprintf("%s=%s; Path=/api/memory-dumps/; Max-Age=%ld; HttpOnly; "
	                    "SameSite=Strict%s",
	                    AUTH_COOKIE, value, max_age, auth_secure(a, q) ? "; Secure" : "");

	exch_resp_header(r, "Set-Cookie", c);
	explicit_bzero(c, strlen(c));
	free(c);
}

/* Count one attempt against kind/subject first (atomically: parallel attempts cannot
 * all pass a read), then 429 when that made more than max; 0 otherwise, and when Redis
 * cannot say (the login then fails on Redis itself). */
static int auth_limit_take(struct auth *a, const char *kind, const char *subject, long long max,
                           long window, const char *what, struct exch_resp *r)
{
	long long count = 0;
	long ttl = 0;
	char ra[24];

	if (store_limit_hit(a->store, kind, subject, 1, window, &count, &ttl, NULL) < 0 ||
	    count <= max)
		return 0;
	snprintf(ra, sizeof(ra), "%ld", ttl);
	exch_resp_error(r, 429, "rate_limited", "too many failed logins %s; try again in %ld s",
	                what, ttl);
	exch_resp_header(r, "Retry-After", ra);
	return -1;
}

void auth_login(struct auth *a, const struct exch_req *q, struct identity *id,
                struct auth_outcome *out, struct exch_resp *r)
{
	long window = (long)config_num(a->cfg, CFG_LOGIN_WINDOW);
	const char *user, *pw;
	char client[AUTH_ADDR_MAX], hex[AUTH_SESSION_ID_HEX + 1], key[65];
	unsigned char raw[AUTH_SESSION_ID_HEX / 2];
	const struct account_user *u;
	long long now = clock_realtime_ms(), expires;
	long idle = (long)config_num(a->cfg, CFG_SESSION_IDLE);
	long max = (long)config_num(a->cfg, CFG_SESSION_MAX);
	json_t *body = NULL, *val;
	long long cnt;
	long ttl;
	struct err e;

	auth_outcome_set(out, "", AUTHZ_PASSWORD, "refused", "");
	auth_client(q, client);
	if (!a->enabled) {
		exch_resp_error(r, 409, "conflict",
		                "access control is off (MEMDUMP_AUTH=none): there is nothing to "
		                "log in to");
		return;
	}
	if (exch_require_json_same_origin(q, r) < 0) {
		snprintf(out->detail, sizeof(out->detail), "not JSON or not same-origin");
		return;
	}
	body = jsonu_parse(q->body ? q->body : "", q->body_len, EXCH_BODY_MAX, 2, &e);
	if (body == NULL || !json_is_object(body)) {
		exch_resp_error(r, 400, "invalid_json", "the body must be a JSON object: %s",
		                body == NULL ? e.msg : "not an object");
		snprintf(out->detail, sizeof(out->detail), "bad body");
		goto out;
	}
	user = jsonu_str(body, "user");
	pw = jsonu_str(body, "password");
	if (json_object_size(body) != 2 || user == NULL || pw == NULL) {
		exch_resp_error(r, 422, "invalid_field",
		                "the body is {\"user\": \"NAME\", \"password\": \"...\"} (two "
		                "strings, nothing else)");
		snprintf(out->detail, sizeof(out->detail), "bad body");
		goto out;
	}
	if (accounts_name_check(user, &e) < 0) {
		exch_resp_error(r, 422, "invalid_field", "user: %s", e.msg);
		snprintf(out->detail, sizeof(out->detail), "bad user name");
		goto out;
	}
	snprintf(out->user, sizeof(out->user), "%s", user);
	if (strlen(pw) == 0 || strlen(pw) > AUTH_PASSWORD_MAX) {
		exch_resp_error(r, 422, "invalid_field", "password: 1 to %d bytes",
		                AUTH_PASSWORD_MAX);
		snprintf(out->detail, sizeof(out->detail), "bad password length");
		goto out;
	}
	/* every attempt counts first; a successful one is taken back below */
	if (auth_limit_take(a, "login-user", user, config_num(a->cfg, CFG_LOGIN_FAILURES_USER),
	                    window, "for this user", r) < 0 ||
	    auth_limit_take(a, "login-addr", client, config_num(a->cfg, CFG_LOGIN_FAILURES_ADDR),
	                    window, "from this address", r) < 0) {
		snprintf(out->detail, sizeof(out->detail), "rate limited");
		goto out;
	}
	auth_refresh(a);
	u = accounts_user(a->acc, user);
	if (u == NULL || u->hash == NULL || u->disabled) {
		kdf_burn(pw);
	} else if (kdf_verify(pw, u->hash)) {
		goto ok;
	}
	out->result = "failed";
	snprintf(out->detail, sizeof(out->detail), "%s",
	         u == NULL
	             ? "unknown user"
	             : (u->disabled ? "account disabled"
	                            : (u->hash == NULL ? "no password set" : "wrong password")));
	exch_resp_error(r, 401, "invalid_credentials", "wrong user name or password");
	goto out;
ok:
	if (auth_identity(a, user, AUTHZ_PASSWORD, NULL, 0, id, out, r) < 0)
		goto out;
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		exch_resp_error(r, 500, "internal", "no random bytes for a session");
		goto out;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof(raw));
	accounts_token_hash(hex, AUTH_SESSION_ID_HEX, key);
	expires = now + (long long)max * 1000;
	val = json_pack("{s:s, s:I, s:I}", "user", user, "created", (json_int_t)now, "expires",
	                (json_int_t)expires);
	if (store_session_put(a->store, key, val, idle < max ? idle : max, &e) < 0) {
		json_decref(val);
		out->result = "failed";
		snprintf(out->detail, sizeof(out->detail), "Redis unavailable");
		exch_resp_error(r, 503, "redis_unavailable",
		                "sessions are kept in Redis, which is unavailable: %s", e.msg);
		goto out;
	}
	json_decref(val);
	store_limit_clear(a->store, "login-user", user, NULL);
	store_limit_hit(a->store, "login-addr", client, -1, window, &cnt, &ttl, NULL);
	auth_set_cookie(a, q, r, hex, max);
	explicit_bzero(hex, sizeof(hex));
	out->result = "ok";
	out->detail[0] = '\0';
	exch_resp_json(r, 200, auth_session_json(id, expires));
out:
	json_decref(body);
}

void auth_logout(struct auth *a, const struct exch_req *q, struct auth_outcome *out,
                 struct exch_resp *r)
{
	char hex[AUTH_SESSION_ID_HEX + 1], key[65];
	json_t *s = NULL;
	struct err e;

	auth_outcome_set(out, "", AUTHZ_PASSWORD, "ok", "");
	if (exch_require_json_same_origin(q, r) < 0) {
		auth_outcome_set(out, "", AUTHZ_PASSWORD, "refused", "not JSON or not same-origin");
		return;
	}
	if (auth_cookie_session(q->cookie, hex) == 0) {
		accounts_token_hash(hex, AUTH_SESSION_ID_HEX, key);
		auth_seen_drop(a, key);
		if (store_session_touch(a->store, key, 1, &s, &e) == 0)
			snprintf(out->user, sizeof(out->user), "%s",
			         jsonu_str(s, "user") ? jsonu_str(s, "user") : "");
		json_decref(s);
		if (store_session_del(a->store, key, &e) < 0 && e.code != ERR_NOT_FOUND) {
			out->result = "failed";
			exch_resp_error(r, 503, "redis_unavailable",
			                "the session could not be ended (Redis unavailable: %s); "
			                "it ends by itself after MEMDUMP_SESSION_IDLE",
			                e.msg);
			return;
		}
	}
	auth_set_cookie(a, q, r, "", 0);
	exch_resp_json(r, 200, json_pack("{s:b}", "logged_out", 1));
}

void auth_session_get(struct auth *a, const struct exch_req *q, const struct identity *id,
                      struct exch_resp *r)
{
	char hex[AUTH_SESSION_ID_HEX + 1], key[65];
	long long expires = 0;
	json_t *s = NULL, *body;

	if (id->method == AUTHZ_PASSWORD && auth_cookie_session(q->cookie, hex) == 0) {
		accounts_token_hash(hex, AUTH_SESSION_ID_HEX, key);
		if (store_session_touch(a->store, key, (long)config_num(a->cfg, CFG_SESSION_IDLE),
		                        &s, NULL) == 0)
			jsonu_int(s, "expires", &expires);
		json_decref(s);
	}
	body = auth_session_json(id, expires);
	json_object_set_new(json_object_get(body, "session"), "auth_mode",
	                    json_string(auth_mode(a)));
	exch_resp_json(r, 200, body);
}

int auth_trigger_allow(struct auth *a, const struct identity *id, size_t n, struct exch_resp *r)
{
	long long max = config_num(a->cfg, CFG_TRIGGER_RATE), count = 0;
	long ttl = 60;
	char ra[24];

	if (!a->enabled)
		return 0;
	if (store_limit_hit(a->store, "trigger", id->user, (long long)n, 60, &count, &ttl, NULL) <
	        0 ||
	    count <= max)
		return 0;
	snprintf(ra, sizeof(ra), "%ld", ttl);
	exch_resp_error(r, 429, "rate_limited",
	                "%s asked for %lld dumps in this minute, more than MEMDUMP_TRIGGER_RATE "
	                "(%lld); try again in %ld s",
	                id->user, count, max, ttl);
	exch_resp_header(r, "Retry-After", ra);
	return -1;
}
