/*
 * store_url: the pure parser of REDIS_URL (no I/O, no hiredis), shared by the
 * config table (so -t rejects an unusable URL) and redis_store (which connects).
 * Thread-safe; the parsed fields are new strings owned by the struct.
 */
#ifndef MEMDUMP_STORE_URL_H
#define MEMDUMP_STORE_URL_H

#include "err.h"

/* Pure parse of REDIS_URL: redis://[[user]:password@]host[:port][/db] (host a name,
 * IPv4 or [IPv6]; port 6379; db 0) or unix:///path[?db=N]. At most STORE_URL_MAX bytes.
 * Fields are new strings in *out. */
struct store_url {
	char *host; /* NULL for unix sockets */
	int port;
	char *path;     /* unix socket path or NULL */
	char *username; /* NULL when none (Redis 6 ACL user) */
	char *password; /* NULL when none; %XX-decoded */
	int db;
};
#define STORE_URL_MAX 1024
#define STORE_DB_MAX 65535
int store_url_parse(const char *url, struct store_url *out, struct err *e);
void store_url_release(struct store_url *u);

#endif
