/*
 * accounts: the accounts file (MEMDUMP_ACCOUNTS, docs/security.md): users,
 * groups and API tokens, one per line, like htpasswd. accounts_parse and
 * accounts_format are pure (bytes in, model out; fuzzed); accounts_load and
 * accounts_save do the file I/O (save: 0600, written to a temporary file in the
 * same folder, fsynced, renamed). A struct accounts owns every string in it;
 * lookups return borrowed pointers valid until accounts_free. No threads.
 *
 * File format (one record per line, fields separated by one or more blanks,
 * '#' starts a comment line):
 *   user NAME role=ROLE [hash=CRYPT] [groups=G1,G2] [vms=GLOB,...] [hosts=GLOB,...] [disabled=1]
 *   group NAME role=ROLE [vms=GLOB,...] [hosts=GLOB,...]
 *   token ID user=NAME hash=SHA256HEX created=UNIX [expires=UNIX] [label=TEXT]
 * ROLE is none|viewer|operator|investigator|admin; an empty or absent vms/hosts
 * list means "any". CRYPT is a crypt(3) string (yescrypt "$y$..."); a user
 * without hash= cannot log in with a password (tokens or REMOTE_USER only).
 */
#ifndef MEMDUMP_ACCOUNTS_H
#define MEMDUMP_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Caps (exceeding one is ERR_TOO_LARGE naming the line). */
#define ACCOUNTS_FILE_MAX (4u * 1024u * 1024u)
#define ACCOUNTS_NAME_MAX 64     /* user, group: [A-Za-z0-9_.@-]{1,64} */
#define ACCOUNTS_LIST_MAX 32     /* groups, vms, hosts per line */
#define ACCOUNTS_PATTERN_MAX 128 /* one glob */
#define ACCOUNTS_LABEL_MAX 64
#define ACCOUNTS_RECORDS_MAX 100000
#define ACCOUNTS_TOKEN_ID_LEN 12 /* hex */

enum role { ROLE_NONE, ROLE_VIEWER, ROLE_OPERATOR, ROLE_INVESTIGATOR, ROLE_ADMIN, ROLE__MAX };

/* "viewer", ...; "?" out of range. */
const char *accounts_role_name(enum role r);
int accounts_role_parse(const char *s, enum role *out);

/* A list of globs ('*' any run, '?' one UTF-8 character); n == 0 means any. */
struct scope {
	char **vms;
	size_t n_vms;
	char **hosts;
	size_t n_hosts;
};

struct account_user {
	char *name;
	enum role role;
	char *hash; /* crypt(3) string or NULL */
	char **groups;
	size_t n_groups;
	struct scope scope;
	bool disabled;
};

struct account_group {
	char *name;
	enum role role;
	struct scope scope;
};

struct account_token {
	char id[ACCOUNTS_TOKEN_ID_LEN + 1]; /* lower-case hex */
	char *user;
	char hash[65];              /* SHA-256 of the whole token string, lower-case hex */
	long long created, expires; /* Unix seconds; expires 0: never */
	char *label;                /* or NULL */
};

struct accounts {
	struct account_user *users;
	size_t n_users;
	struct account_group *groups;
	size_t n_groups;
	struct account_token *tokens;
	size_t n_tokens;
};

/* Pure. New model in *out, or -1 with e naming the line ("line 3: ..."). */
int accounts_parse(const char *buf, size_t len, struct accounts **out, struct err *e);
/* Pure. The file text of a (new, NUL-terminated); parse(format(a)) == a. */
char *accounts_format(const struct accounts *a, size_t *len);
struct accounts *accounts_new(void);
void accounts_free(struct accounts *a);

/* Read and parse path (ERR_NOT_FOUND when absent; ERR_INVALID when it is not a
 * regular file, or is readable or writable by group or others). */
int accounts_load(const char *path, struct accounts **out, struct err *e);
/* Atomic rewrite (0600, same owner as the file it replaces). */
int accounts_save(const char *path, const struct accounts *a, struct err *e);

/* Borrowed, or NULL. */
struct account_user *accounts_user(const struct accounts *a, const char *name);
struct account_group *accounts_group(const struct accounts *a, const char *name);
struct account_token *accounts_token(const struct accounts *a, const char *id);

/* Validators shared with memdump-admin's arguments (0 or -1 with e). */
int accounts_name_check(const char *name, struct err *e);
int accounts_pattern_check(const char *glob, struct err *e);
/* A token label: printable UTF-8 without blanks, 1..ACCOUNTS_LABEL_MAX bytes. */
int accounts_label_check(const char *label, struct err *e);
/* "a,b,c" -> new array of new strings (names, or globs when patterns); "" is the
 * empty list. Items are checked, at most ACCOUNTS_LIST_MAX, none twice. */
int accounts_list_parse(const char *text, bool patterns, char ***out, size_t *n, struct err *e);
/* Replace the list (*v, *n), freed, with (nv, nn), stolen. */
void accounts_list_set(char ***v, size_t *n, char **nv, size_t nn);

/*
 * Editing (memdump-admin). The _add functions append a zeroed record with a
 * copy of name (role none, no scope) and return it borrowed (valid until the
 * next add or del); ERR_CONFLICT when the name exists, ERR_INVALID for a bad
 * name, ERR_TOO_LARGE past ACCOUNTS_RECORDS_MAX. accounts_user_del also removes
 * the user's tokens and returns how many (-1: no such user); accounts_group_del
 * also removes the group from every user's groups= and returns how many users
 * listed it (-1: no such group); accounts_token_del returns 0 or -1.
 */
struct account_user *accounts_user_add(struct accounts *a, const char *name, struct err *e);
struct account_group *accounts_group_add(struct accounts *a, const char *name, struct err *e);
int accounts_user_del(struct accounts *a, const char *name);
int accounts_group_del(struct accounts *a, const char *name);
int accounts_token_del(struct accounts *a, const char *id);

/*
 * API tokens: "mdt_" ID(12 hex) "_" SECRET(43 base64url) = 60 bytes.
 * accounts_token_split is pure: the ID of a well-formed token, else -1.
 */
#define ACCOUNTS_TOKEN_LEN 60
int accounts_token_split(const char *token, size_t len, char id[ACCOUNTS_TOKEN_ID_LEN + 1]);
/* SHA-256 hex of a token string (what the file stores). */
void accounts_token_hash(const char *token, size_t len, char out[65]);
/* A new token for user (who must exist): a fresh unique id, 32 bytes from
 * getrandom() as the secret; the token text goes to token (shown once, never
 * stored), its record (hash only) is appended to a and returned borrowed.
 * expires 0: never; label may be NULL. */
struct account_token *accounts_token_new(struct accounts *a, const char *user, long long created,
                                         long long expires, const char *label,
                                         char token[ACCOUNTS_TOKEN_LEN + 1], struct err *e);

#endif
