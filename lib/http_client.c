/*
 * http_client: see http_client.h. The only file that includes libcurl.
 *
 * DESIGN: each struct http_client owns one easy handle and one share object that
 * holds its connection and DNS caches. Because the cache lives in the share (not
 * in the easy handle or in a multi handle), a connection opened by
 * http_client_do() is reused by a later http_client_do_many() on the same client
 * and vice versa. Requests are set up by one function (http_setup) for both
 * paths; the per-request state (header list, body buffer, cap) lives in a
 * struct http_xfer on the caller's stack. No locks: one client per thread.
 */
#include "http_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

/* Connect timeout: the request's timeout, but never more than this. */
#define HTTP_CONNECT_TIMEOUT_MAX_MS 10000L
/* Idle keep-alive connections kept per client. */
#define HTTP_MAX_CONNECTS 4L
/* How long a URL may be in an error message. */
#define HTTP_URL_MSG_MAX 200

struct http_client {
	CURL *easy;
	CURLSH *share;
	long default_timeout_ms;
	char errbuf[CURL_ERROR_SIZE];
};

/* One transfer in flight: what the write callback fills, what cleanup frees. */
struct http_xfer {
	struct curl_slist *headers;
	char *buf;
	size_t len;
	size_t cap; /* allocated */
	size_t max; /* the response cap */
	bool too_large;
	char url_msg[HTTP_URL_MSG_MAX + 1]; /* the URL as errors show it */
};

static pthread_once_t http_once = PTHREAD_ONCE_INIT;

static void http_global_init_once(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		abort(); /* only fails on out of memory: the xmalloc policy */
}

void http_client_global_init(void)
{
	pthread_once(&http_once, http_global_init_once);
}

void http_client_global_cleanup(void)
{
	curl_global_cleanup();
}

struct http_client *http_client_new(long default_timeout_ms)
{
	struct http_client *c = xcalloc(1, sizeof(*c));

	http_client_global_init();
	c->easy = curl_easy_init();
	c->share = curl_share_init();
	if (c->easy == NULL || c->share == NULL)
		abort(); /* allocation failure: the xmalloc policy */
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	c->default_timeout_ms = default_timeout_ms > 0 ? default_timeout_ms : 30000;
	return c;
}

void http_client_free(struct http_client *c)
{
	if (c == NULL)
		return;
	curl_easy_cleanup(c->easy);
	curl_share_cleanup(c->share);
	free(c);
}

void http_client_response_release(struct http_response *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

/* The URL without user:password@ and without the query, capped, for messages. */
static void http_url_for_msg(const char *url, char *out, size_t outcap)
{
	const char *p = strstr(url, "://");
	const char *host = p != NULL ? p + 3 : url;
	const char *end = host + strcspn(host, "/?#");
	const char *at = memchr(host, '@', (size_t)(end - host));
	size_t scheme_len = (size_t)(host - url);
	size_t rest_len;

	if (at != NULL)
		host = at + 1;
	rest_len = strcspn(host, "?#");
	snprintf(out, outcap, "%.*s%.*s", (int)scheme_len, url, (int)rest_len, host);
}

static size_t http_on_data(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_xfer *x = userdata;
	size_t n = size * nmemb;

	if (n > x->max - x->len) {
		x->too_large = true;
		return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
	}
	if (x->len + n + 1 > x->cap) {
		size_t want = x->cap != 0 ? x->cap : 4096;

		while (want < x->len + n + 1)
			want *= 2;
		if (want > x->max + 1)
			want = x->max + 1;
		x->buf = xrealloc(x->buf, want);
		x->cap = want;
	}
	memcpy(x->buf + x->len, data, n);
	x->len += n;
	x->buf[x->len] = '\0';
	return n;
}

static void http_xfer_release(struct http_xfer *x)
{
	curl_slist_free_all(x->headers);
	free(x->buf);
	memset(x, 0, sizeof(*x));
}

static struct curl_slist *http_header_add(struct curl_slist *list, const char *line)
{
	struct curl_slist *l = curl_slist_append(list, line);

	if (l == NULL)
		abort(); /* allocation failure: the xmalloc policy */
	return l;
}

/* Header values must not carry CR/LF (header injection). */
static bool http_header_value_ok(const char *s)
{
	return strpbrk(s, "\r\n") == NULL;
}

/* Configure c->easy for req. Returns 0, or -1 with e for a request we refuse. */
static int http_setup(struct http_client *c, const struct http_request *req, struct http_xfer *x,
                      struct err *e)
{
	CURL *h = c->easy;
	long timeout = req->timeout_ms > 0 ? req->timeout_ms : c->default_timeout_ms;
	long connect =
	    timeout < HTTP_CONNECT_TIMEOUT_MAX_MS ? timeout : HTTP_CONNECT_TIMEOUT_MAX_MS;
	const char *method = req->method != NULL ? req->method : "GET";

	memset(x, 0, sizeof(*x));
	http_url_for_msg(req->url, x->url_msg, sizeof(x->url_msg));
	x->max = req->max_response > 0 ? req->max_response : HTTP_RESPONSE_MAX_DEFAULT;
	if ((req->content_type != NULL && !http_header_value_ok(req->content_type)) ||
	    (req->bearer != NULL && !http_header_value_ok(req->bearer)) ||
	    (req->auth_scheme != NULL && !http_header_value_ok(req->auth_scheme)) ||
	    strpbrk(method, " \r\n") != NULL)
		return err_set(e, ERR_INVALID, "%s %s: header value with a line break refused",
		               method, x->url_msg);

	curl_easy_reset(h); /* keeps the share, so connections and DNS stay cached */
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_MAXCONNECTS, HTTP_MAX_CONNECTS);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max);
	c->errbuf[0] = '\0';

	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else {
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		if (req->body != NULL || strcmp(method, "POST") == 0 ||
		    strcmp(method, "PUT") == 0) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
			                 (curl_off_t)(req->body != NULL ? req->body_len : 0));
		}
	}
	/* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
	x->headers = http_header_add(x->headers, "Expect:");
	if (req->content_type != NULL) {
		char line[256];

		snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
		x->headers = http_header_add(x->headers, line);
	}
	if (req->bearer != NULL && req->bearer[0] != '\0') {
		char *line =
		    xasprintf("Authorization: %s %s",
		              req->auth_scheme != NULL ? req->auth_scheme : "Bearer", req->bearer);

		x->headers = http_header_add(x->headers, line);
		free(line);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->headers);
	return 0;
}

/* Map a finished transfer to rc/resp/e. Takes the body out of x. */
static int http_finish(struct http_client *c, const struct http_request *req, CURLcode cc,
                       struct http_xfer *x, struct http_response *resp, struct err *e)
{
	const char *method = req->method != NULL ? req->method : "GET";
	const char *why = c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(cc);
	char *ctype = NULL;
	long connects = 0;

	memset(resp, 0, sizeof(*resp));
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME, &resp->total_s);
	curl_easy_getinfo(c->easy, CURLINFO_NUM_CONNECTS, &connects);
	resp->reused = connects == 0 && resp->status != 0;
	if (x->too_large || cc == CURLE_FILESIZE_EXCEEDED) {
		resp->status = 0;
		return err_set(e, ERR_TOO_LARGE, "%s %s: answer larger than the limit of %zu bytes",
		               method, x->url_msg, x->max);
	}
	switch (cc) {
	case CURLE_OK:
		break;
	case CURLE_OPERATION_TIMEDOUT:
		resp->status = 0;
		return err_set(e, ERR_TIMEOUT, "%s %s: no answer in time (%s)", method, x->url_msg,
		               why);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
		resp->status = 0;
		return err_set(e, ERR_UNAVAILABLE, "%s %s: %s", method, x->url_msg, why);
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		resp->status = 0;
		return err_set(e, ERR_INVALID, "%s %s: %s", method, x->url_msg, why);
	default:
		resp->status = 0;
		return err_set(e, ERR_PROTOCOL, "%s %s: %s", method, x->url_msg, why);
	}
	if (curl_easy_getinfo(c->easy, CURLINFO_CONTENT_TYPE, &ctype) == CURLE_OK && ctype != NULL)
		snprintf(resp->content_type, sizeof(resp->content_type), "%s", ctype);
	if (x->buf == NULL)
		x->buf = xcalloc(1, 1);
	resp->body = x->buf;
	resp->body_len = x->len;
	x->buf = NULL;
	return 0;
}

int http_client_do(struct http_client *c, const struct http_request *req,
                   struct http_response *resp, struct err *e)
{
	struct http_xfer x;
	CURLcode cc;
	int rc;

	memset(resp, 0, sizeof(*resp));
	if (http_setup(c, req, &x, e) < 0) {
		http_xfer_release(&x);
		return -1;
	}
	cc = curl_easy_perform(c->easy);
	rc = http_finish(c, req, cc, &x, resp, e);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
	http_xfer_release(&x);
	return rc;
}

void http_client_do_many(struct http_client **clients, const struct http_request *reqs,
                         struct http_response *resps, int *rc, struct err *errs, size_t n)
{
	CURLM *multi = curl_multi_init();
	struct http_xfer *xs = xcalloc(n > 0 ? n : 1, sizeof(*xs));
	bool *added = xcalloc(n > 0 ? n : 1, sizeof(*added));
	int running = 0;
	CURLMsg *msg;
	int left;

	if (multi == NULL)
		abort(); /* allocation failure: the xmalloc policy */
	for (size_t i = 0; i < n; i++) {
		memset(&resps[i], 0, sizeof(resps[i]));
		err_clear(&errs[i]);
		rc[i] = -1;
		if (http_setup(clients[i], &reqs[i], &xs[i], &errs[i]) < 0)
			continue;
		if (curl_multi_add_handle(multi, clients[i]->easy) != CURLM_OK) {
			err_set(&errs[i], ERR_INTERNAL, "%s: cannot start the transfer",
			        xs[i].url_msg);
			continue;
		}
		added[i] = true;
	}
	do {
		CURLMcode mc = curl_multi_perform(multi, &running);

		if (mc == CURLM_OK && running > 0)
			mc = curl_multi_poll(multi, NULL, 0, 1000, NULL);
		if (mc != CURLM_OK)
			break; /* only on out of memory or misuse; handled below per transfer */
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			for (size_t i = 0; i < n; i++) {
				if (!added[i] || clients[i]->easy != msg->easy_handle)
					continue;
				rc[i] = http_finish(clients[i], &reqs[i], msg->data.result, &xs[i],
				                    &resps[i], &errs[i]);
				curl_multi_remove_handle(multi, clients[i]->easy);
				added[i] = false;
				break;
			}
		}
	} while (running > 0);
	for (size_t i = 0; i < n; i++) {
		if (added[i]) {
			/* never finished: the multi loop failed */
			curl_multi_remove_handle(multi, clients[i]->easy);
			err_set(&errs[i], ERR_INTERNAL, "%s: transfer aborted", xs[i].url_msg);
		}
		curl_easy_setopt(clients[i]->easy, CURLOPT_HTTPHEADER, NULL);
		http_xfer_release(&xs[i]);
	}
	curl_multi_cleanup(multi);
	free(added);
	free(xs);
}

char *http_client_url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = xmalloc(n * 3 + 1);
	char *o = out;

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}
