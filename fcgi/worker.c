/*
 * worker: see worker.h. libfcgi ownership: FCGX_Accept_r finishes the previous
 * request and accepts the next; the strings FCGX_GetParam returns live until
 * then. FCGI_FAIL_ACCEPT_ON_INTR makes a signal interrupt a blocked accept, so
 * a stop request is seen at once when idle. The signal can land between the
 * flag check and accept(): the master repeats SIGTERM until the worker is gone.
 */
#include "worker.h"

#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exchange.h"
#include "handlers.h"
#include "http_client.h"
#include "log.h"
#include "xmalloc.h"

static volatile sig_atomic_t worker_stop;

static void worker_on_term(int sig)
{
	(void)sig;
	worker_stop = 1;
}

static int worker_signals(sigset_t *term)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = worker_on_term; /* no SA_RESTART: accept() must be interrupted */
	if (sigaction(SIGTERM, &sa, NULL) < 0)
		return -1;
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL); /* a terminal's ^C is for the master */
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(term);
	sigaddset(term, SIGTERM);
	/* the master blocked its signals before forking: start from a clean mask */
	return sigprocmask(SIG_SETMASK, term, NULL);
}

/* Read the body, keeping at most EXCH_BODY_MAX bytes; q->body_too_large when more came. */
static void worker_read_body(FCGX_Request *fr, struct exch_req *q, char **buf)
{
	size_t cap = EXCH_BODY_MAX + 1, len = 0;
	char sink[4096];
	int n;

	*buf = xmalloc(cap + 1);
	while (len < cap && (n = FCGX_GetStr(*buf + len, (int)(cap - len), fr->in)) > 0)
		len += (size_t)n;
	if (len > EXCH_BODY_MAX) {
		q->body_too_large = true;
		len = EXCH_BODY_MAX;
		/* drain what is left so the connection ends cleanly */
		while (FCGX_GetStr(sink, sizeof(sink), fr->in) > 0)
			;
	}
	(*buf)[len] = '\0';
	q->body = *buf;
	q->body_len = len;
}

/* Format one header line with snprintf (libfcgi's own printf lacks C99 modifiers). */
static void worker_put(FCGX_Stream *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void worker_put(FCGX_Stream *out, const char *fmt, ...)
{
	char line[EXCH_HEADER_MAX + 64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(line))
		FCGX_PutStr(line, n, out);
}

static void worker_write(FCGX_Request *fr, const struct exch_req *q, const struct exch_resp *r)
{
	worker_put(fr->out, "Status: %d %s\r\n", r->status, exch_status_text(r->status));
	if (r->content_type != NULL)
		worker_put(fr->out, "Content-Type: %s; charset=utf-8\r\n", r->content_type);
	/* every API answer is live state or an error: never cached */
	worker_put(fr->out, "Cache-Control: no-store\r\n");
	worker_put(fr->out, "X-Content-Type-Options: nosniff\r\n");
	for (size_t i = 0; i < r->n_headers; i++)
		worker_put(fr->out, "%s\r\n", r->headers[i]);
	if (r->body != NULL)
		worker_put(fr->out, "Content-Length: %zu\r\n", r->body_len);
	worker_put(fr->out, "\r\n");
	if (r->body != NULL && strcmp(q->method, "HEAD") != 0)
		FCGX_PutStr(r->body, (int)r->body_len, fr->out);
}

static void worker_serve(struct api_ctx *ctx, FCGX_Request *fr)
{
	struct exch_req q;
	struct exch_resp r;
	char *body = NULL;
	const char *v;

	memset(&q, 0, sizeof(q));
	memset(&r, 0, sizeof(r));
	q.method = FCGX_GetParam("REQUEST_METHOD", fr->envp);
	q.path = FCGX_GetParam("PATH_INFO", fr->envp);
	if (q.path == NULL || *q.path == '\0')
		q.path = FCGX_GetParam("DOCUMENT_URI", fr->envp);
	q.query = FCGX_GetParam("QUERY_STRING", fr->envp);
	q.content_type = FCGX_GetParam("CONTENT_TYPE", fr->envp);
	if (q.content_type != NULL && *q.content_type == '\0')
		q.content_type = NULL;
	q.origin = FCGX_GetParam("HTTP_ORIGIN", fr->envp);
	/* the Host header as sent (Debian's fastcgi_params make HTTP_HOST $host, port dropped) */
	q.host = FCGX_GetParam("MEMDUMP_REQUEST_HOST", fr->envp);
	if (q.host == NULL || *q.host == '\0')
		q.host = FCGX_GetParam("HTTP_HOST", fr->envp);
	q.accel_prefix = FCGX_GetParam("MEMDUMP_ACCEL_PREFIX", fr->envp);
	if (q.method == NULL)
		q.method = "GET";
	if (q.query == NULL)
		q.query = "";
	v = FCGX_GetParam("CONTENT_LENGTH", fr->envp);
	if (strcmp(q.method, "POST") == 0 || strcmp(q.method, "DELETE") == 0 ||
	    (v != NULL && *v != '\0' && strcmp(v, "0") != 0))
		worker_read_body(fr, &q, &body);
	api_handle(ctx, &q, &r);
	worker_write(fr, &q, &r);
	log_debug("request", "method=%s path=%s status=%d", log_q(q.method), log_q(q.path),
	          r.status);
	exch_resp_release(&r);
	free(body);
}

int worker_run(int listen_fd, const struct config *cfg)
{
	struct api_ctx *ctx = NULL;
	FCGX_Request fr;
	sigset_t term;
	struct err e;
	int status = 1;

	if (worker_signals(&term) < 0) {
		log_error("worker_signals", "errno=%d", errno);
		return 1;
	}
	if (FCGX_Init() != 0) {
		log_error("fcgx_init_failed", "listen_fd=%d", listen_fd);
		return 1;
	}
	ctx = api_ctx_new(cfg, &e);
	if (ctx == NULL) {
		log_error("worker_init_failed", "msg=%s", log_q(e.msg));
		return 1;
	}
	FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR);
	log_info("worker_started", "pid=%ld", (long)getpid());
	for (;;) {
		int rc;

		/* idle: let SIGTERM in, so it interrupts accept */
		sigprocmask(SIG_UNBLOCK, &term, NULL);
		if (worker_stop) {
			sigprocmask(SIG_BLOCK, &term, NULL);
			break;
		}
		rc = FCGX_Accept_r(&fr);
		sigprocmask(SIG_BLOCK, &term, NULL);
		if (rc < 0) {
			if (worker_stop || rc == -EINTR)
				continue;
			log_error("fcgx_accept_failed", "rc=%d", rc);
			break;
		}
		worker_serve(ctx, &fr);
		FCGX_Finish_r(&fr);
	}
	status = worker_stop ? 0 : 1;
	FCGX_Free(&fr, 0);
	api_ctx_free(ctx);
	log_info("worker_stopped", "pid=%ld", (long)getpid());
	return status;
}
