/*
 * mdapi: memdumpd's endpoints (docs/memdumpd-api.md) over the exchange: routing
 * through mdroute, the bearer-token check (constant time), then the handlers,
 * which answer from the queue, the hypervisor (virt_ops) and the spool. Every
 * outcome is an answer; nothing here fails as a whole. Thread-safe: called from
 * many connection threads at once; the token is guarded by its own mutex. The
 * context borrows everything in its config, which must outlive it.
 */
#ifndef MEMDUMPD_MDAPI_H
#define MEMDUMPD_MDAPI_H

#include "mdexch.h"
#include "queue.h"
#include "spool.h"
#include "virt.h"

struct mdapi_config {
	struct queue *queue;
	const struct virt_ops *virt;
	struct spool *spool;
	const char *token; /* "" when none; only its SHA-256 is kept */
	const char *host;
	const char *dump_dir;
};

struct mdapi;

struct mdapi *mdapi_new(const struct mdapi_config *cfg);
void mdapi_free(struct mdapi *a);
/* Require this bearer token from now on ("" for none); for SIGHUP. */
void mdapi_set_token(struct mdapi *a, const char *token);
/* Answer one request: r (initialised by the caller) receives the answer. */
void mdapi_handle(struct mdapi *a, const struct mdexch_req *q, struct mdexch_resp *r);

#endif
