/*
 * worker: see worker.h. libfcgi ownership: FCGX_Accept_r finishes the previous
 * request and accepts the next; the strings FCGX_GetParam returns live until
 * then. FCGI_FAIL_ACCEPT_ON_INTR makes a signal interrupt a blocked accept, so
 * a stop request is seen at once when idle. The signal can land between the
 * flag check and accept(): the master repeats SIGTERM until the worker is gone.
 * Answers bypass fr->out: worker_send writes the stdout records itself to
 * fr->ipcFd (FastCGI spec 3.3) in one writev; FCGX_Finish_r adds the closing
 * records. Nothing else writes to fr->out, so the two never interleave.
 */
#include "worker.h"

#include <errno.h>
#include <fastcgi.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <unistd.h>

#include "exchange.h"
#include "api.h"
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

#define WORKER_RECORD_MAX 65528u /* FastCGI content length is 16 bits; keep 8-aligned */
#define WORKER_IOV_RECORDS 16    /* records per writev */

/* writev all of iov (want bytes), resuming after partial writes and EINTR. */
static int worker_writev(int fd, struct iovec *iov, int niov, size_t want)
{
	while (want > 0) {
		ssize_t k = writev(fd, iov, niov);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		want -= (size_t)k;
		while (niov > 0 && (size_t)k >= iov->iov_len) {
			k -= (ssize_t)iov->iov_len;
			iov++;
			niov--;
		}
		if (niov > 0) {
			iov->iov_base = (char *)iov->iov_base + k;
			iov->iov_len -= (size_t)k;
		}
	}
	return 0;
}

/* Append one header line to buf[*n..cap) with snprintf (libfcgi's own printf lacks C99
 * modifiers); a line that does not fit is dropped. */
static void worker_put(char *buf, size_t cap, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void worker_put(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(buf + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (k > 0 && (size_t)k < cap - *n)
		*n += (size_t)k;
	else
		buf[*n] = '\0';
}

/*
 * Send head + body as FastCGI stdout records straight to the connection in one
 * writev (libfcgi's stream would cut them into 8 KB records, one write each).
 * Nothing went through fr->out before, so its buffer is empty; FCGX_Finish_r
 * then writes the end-of-stream record and FCGI_END_REQUEST as usual.
 */
static void worker_send(FCGX_Request *fr, const char *head, size_t hlen, const char *body,
                        size_t blen)
{
	unsigned char hdr[WORKER_IOV_RECORDS][FCGI_HEADER_LEN];
	struct iovec iov[3 * WORKER_IOV_RECORDS];
	size_t off = 0, total = hlen + blen;

	while (off < total) {
		int niov = 0, nrec = 0;
		size_t want = 0;

		while (off < total && nrec < WORKER_IOV_RECORDS) {
			size_t clen =
			    total - off < WORKER_RECORD_MAX ? total - off : WORKER_RECORD_MAX;
			unsigned char *h = hdr[nrec++];

			h[0] = FCGI_VERSION_1;
			h[1] = FCGI_STDOUT;
			h[2] = (unsigned char)(fr->requestId >> 8);
			h[3] = (unsigned char)fr->requestId;
			h[4] = (unsigned char)(clen >> 8);
			h[5] = (unsigned char)clen;
			h[6] = 0; /* no padding */
			h[7] = 0;
			iov[niov++] = (struct iovec){h, FCGI_HEADER_LEN};
			if (off < hlen) {
				size_t k = hlen - off < clen ? hlen - off : clen;

				iov[niov++] = (struct iovec){(char *)head + off, k};
				if (k < clen)
					iov[niov++] = (struct iovec){(char *)body, clen - k};
			} else {
				iov[niov++] = (struct iovec){(char *)body + (off - hlen), clen};
			}
			off += clen;
			want += FCGI_HEADER_LEN + clen;
		}
		if (worker_writev(fr->ipcFd, iov, niov, want) < 0) {
			log_debug("response_write_failed", "errno=%d", errno);
			return;
		}
	}
}

/* The header block in one buffer, then header and body in one write. */
static void worker_write(FCGX_Request *fr, const struct exch_req *q, const struct exch_resp *r)
{
	char head[256 + EXCH_HEADERS_MAX * (EXCH_HEADER_MAX + 2)];
	size_t n = 0;
	bool body = r->body != NULL && r->body_len > 0 && strcmp(q->method, "HEAD") != 0;

	worker_put(head, sizeof(head), &n, "Status: %d %s\r\n", r->status,
	           exch_status_text(r->status));
	if (r->content_type != NULL)
		worker_put(head, sizeof(head), &n, "Content-Type: %s; charset=utf-8\r\n",
		           r->content_type);
	/* every API answer is live state or an error: never cached */
	worker_put(head, sizeof(head), &n,
	           "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n");
	for (size_t i = 0; i < r->n_headers; i++)
		worker_put(head, sizeof(head), &n, "%s\r\n", r->headers[i]);
	if (r->body != NULL)
		worker_put(head, sizeof(head), &n, "Content-Length: %zu\r\n", r->body_len);
	worker_put(head, sizeof(head), &n, "\r\n");
	worker_send(fr, head, n, body ? r->body : NULL, body ? r->body_len : 0);
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
	q.authorization = FCGX_GetParam("HTTP_AUTHORIZATION", fr->envp);
	q.cookie = FCGX_GetParam("HTTP_COOKIE", fr->envp);
	/* our own parameter, never fastcgi_params' REMOTE_USER: nginx fills $remote_user
	 * from any Basic header, checked or not */
	q.remote_user = FCGX_GetParam("MEMDUMP_REMOTE_USER", fr->envp);
	q.remote_groups = FCGX_GetParam("MEMDUMP_REMOTE_GROUPS", fr->envp);
	q.remote_addr = FCGX_GetParam("REMOTE_ADDR", fr->envp);
	q.request_id = FCGX_GetParam("MEMDUMP_REQUEST_ID", fr->envp);
	if (q.request_id == NULL)
		q.request_id = "";
	v = FCGX_GetParam("HTTPS", fr->envp);
	q.https = v != NULL && strcasecmp(v, "on") == 0;
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
	if (log_enabled(LOG_LVL_DEBUG)) /* log_q() is not free: only when it is printed */
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
