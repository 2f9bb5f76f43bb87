/*
 * httpd: memdumpd's HTTP API (docs/memdumpd-api.md), the only module that
 * includes libmicrohttpd. Routing, the bearer-token check (constant time), body
 * cap (64 KiB), JSON answers and file downloads with a single Range. MHD runs a
 * thread per connection (a cancel may wait for its dump to stop); everything
 * shared is reached through the thread-safe queue, virt and spool modules.
 */
#ifndef MEMDUMPD_HTTPD_H
#define MEMDUMPD_HTTPD_H

#include "err.h"
#include "queue.h"
#include "spool.h"
#include "virt.h"

struct httpd_ctx {
	struct queue *queue;
	struct virt *virt;
	struct spool *spool;
	const char *token; /* "" when none; only its SHA-256 is kept */
	const char *host;
	const char *dump_dir;
};

struct httpd;

/* listen is "HOST:PORT" or "[V6]:PORT"; ctx (and its strings) must outlive the server. */
struct httpd *httpd_start(const char *listen, const struct httpd_ctx *ctx, struct err *e);
void httpd_stop(struct httpd *h);
/* Require this bearer token from now on ("" for none); for SIGHUP. */
void httpd_set_token(struct httpd *h, const char *token);

#endif
