/*
 * test_http_client: http_client against a real HTTP/1.1 peer on loopback (a small
 * server thread in this file): keep-alive reuse, the response cap, timeouts,
 * refused connections, concurrent requests where one peer is silent, headers
 * sent, no redirects, credentials kept out of messages, http_client_url_escape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_client.h"

enum peer_mode { PEER_ANSWER, PEER_SILENT };

struct peer {
	int lfd;
	int port;
	enum peer_mode mode;
	int status;      /* answer status */
	size_t body_len; /* answer body: body_len bytes of 'x' */
	atomic_int accepts;
	atomic_bool stop;
	char last_request[4096];
	pthread_t thread;
};

/* Read one request (head + Content-Length body) from fd; -1 at EOF/stop. */
static int peer_read_request(struct peer *p, int fd)
{
	char buf[sizeof(p->last_request)];
	size_t len = 0, want = 0;
	char *end = NULL;

	while (!atomic_load(&p->stop)) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			const char *cl = strcasestr(buf, "Content-Length:");

			want =
			    (size_t)(end + 4 - buf) + (cl != NULL ? strtoul(cl + 15, NULL, 10) : 0);
		}
		if (end != NULL && len >= want) {
			memcpy(p->last_request, buf, len + 1);
			return 0;
		}
		if (len == sizeof(buf) - 1)
			return -1;
	}
	return -1;
}

static void peer_answer(struct peer *p, int fd)
{
	char head[256];
	char *body = malloc(p->body_len + 1);
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %zu\r\nLocation: http://127.0.0.1:1/\r\n\r\n",
	                 p->status, p->body_len);

	memset(body, 'x', p->body_len);
	assert_int_equal(write(fd, head, (size_t)n), n);
	for (size_t off = 0; off < p->body_len;) {
		ssize_t w = write(fd, body + off, p->body_len - off);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(body);
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;

	while (!atomic_load(&p->stop)) {
		struct pollfd pfd = {.fd = p->lfd, .events = POLLIN};
		int fd;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		fd = accept(p->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		atomic_fetch_add(&p->accepts, 1);
		while (peer_read_request(p, fd) == 0) {
			if (p->mode == PEER_SILENT)
				continue; /* never answer; wait for the client to give up */
			peer_answer(p, fd);
		}
		close(fd);
	}
	return NULL;
}

static struct peer *peer_start(enum peer_mode mode, int status, size_t body_len)
{
	struct peer *p = calloc(1, sizeof(*p));
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int one = 1;

	p->mode = mode;
	p->status = status;
	p->body_len = body_len;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(p->lfd, 8), 0);
	getsockname(p->lfd, (struct sockaddr *)&sa, &sl);
	p->port = ntohs(sa.sin_port);
	pthread_create(&p->thread, NULL, peer_main, p);
	return p;
}

static void peer_stop(struct peer *p)
{
	atomic_store(&p->stop, true);
	pthread_join(p->thread, NULL);
	close(p->lfd);
	free(p);
}

static void url_of(char *out, size_t cap, const struct peer *p, const char *path)
{
	snprintf(out, cap, "http://127.0.0.1:%d%s", p->port, path);
}

static void test_keep_alive_and_headers(void **state)
{
	struct peer *p = peer_start(PEER_ANSWER, 200, 5);
	struct http_client *c = http_client_new(5000);
	struct http_request req = {.method = "POST",
	                           .body = "{\"vm\":\"a\"}",
	                           .body_len = 10,
	                           .content_type = "application/json",
	                           .bearer = "tok"};
	struct http_response resp;
	struct err e;
	char url[128];

	(void)state;
	url_of(url, sizeof(url), p, "/api/dumps");
	req.url = url;
	assert_int_equal(http_client_do(c, &req, &resp, &e), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.body_len, 5);
	assert_string_equal(resp.body, "xxxxx");
	assert_string_equal(resp.content_type, "application/json");
	assert_false(resp.reused);
	assert_non_null(strstr(p->last_request, "POST /api/dumps HTTP/1.1\r\n"));
	assert_non_null(strstr(p->last_request, "Authorization: Bearer tok\r\n"));
	assert_non_null(strstr(p->last_request, "\r\n\r\n{\"vm\":\"a\"}"));
	http_client_response_release(&resp);

	req = (struct http_request){.method = "GET", .url = url};
	assert_int_equal(http_client_do(c, &req, &resp, &e), 0);
	assert_true(resp.reused);
	assert_null(strstr(p->last_request, "Authorization"));
	http_client_response_release(&resp);
	assert_int_equal(atomic_load(&p->accepts), 1);
	http_client_free(c);
	peer_stop(p);
}

static void test_cap(void **state)
{
	struct peer *p = peer_start(PEER_ANSWER, 200, 2000);
	struct http_client *c = http_client_new(5000);
	struct http_request req = {.method = "GET", .max_response = 1000};
	struct http_response resp;
	struct err e;
	char url[128];

	(void)state;
	url_of(url, sizeof(url), p, "/big");
	req.url = url;
	assert_int_equal(http_client_do(c, &req, &resp, &e), -1);
	assert_int_equal(e.code, ERR_TOO_LARGE);
	assert_null(resp.body);
	http_client_response_release(&resp);
	req.max_response = 2000; /* exactly the cap is fine */
	assert_int_equal(http_client_do(c, &req, &resp, &e), 0);
	assert_int_equal(resp.body_len, 2000);
	http_client_response_release(&resp);
	http_client_free(c);
	peer_stop(p);
}

static void test_timeout_and_refused(void **state)
{
	struct peer *p = peer_start(PEER_SILENT, 200, 0);
	struct http_client *c = http_client_new(300);
	struct http_request req = {.method = "GET"};
	struct http_response resp;
	struct err e;
	char url[160];
	int port;

	(void)state;
	url_of(url, sizeof(url), p, "/slow");
	req.url = url;
	assert_int_equal(http_client_do(c, &req, &resp, &e), -1);
	assert_int_equal(e.code, ERR_TIMEOUT);
	assert_int_equal(resp.status, 0);
	port = p->port;
	peer_stop(p);
	/* the port is closed now: refused; the message hides user, password and query */
	snprintf(url, sizeof(url), "http://user:pw@127.0.0.1:%d/x?token=secret", port);
	req.url = url;
	assert_int_equal(http_client_do(c, &req, &resp, &e), -1);
	assert_int_equal(e.code, ERR_UNAVAILABLE);
	assert_null(strstr(e.msg, "pw"));
	assert_null(strstr(e.msg, "secret"));
	assert_non_null(strstr(e.msg, "127.0.0.1"));
	http_client_free(c);
}

static void test_no_redirect_and_injection(void **state)
{
	struct peer *p = peer_start(PEER_ANSWER, 302, 0);
	struct http_client *c = http_client_new(5000);
	struct http_request req = {.method = "GET"};
	struct http_response resp;
	struct err e;
	char url[128];

	(void)state;
	url_of(url, sizeof(url), p, "/moved");
	req.url = url;
	assert_int_equal(http_client_do(c, &req, &resp, &e), 0);
	assert_int_equal(resp.status, 302);
	http_client_response_release(&resp);
	req.bearer = "tok\r\nX-Evil: 1";
	assert_int_equal(http_client_do(c, &req, &resp, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	http_client_free(c);
	peer_stop(p);
}

static void test_many_with_one_silent_peer(void **state)
{
	struct peer *good = peer_start(PEER_ANSWER, 200, 3);
	struct peer *silent = peer_start(PEER_SILENT, 200, 0);
	struct http_client *cs[3] = {http_client_new(5000), http_client_new(300),
	                             http_client_new(5000)};
	struct http_request reqs[3] = {{.method = "GET"},
	                               {.method = "GET", .timeout_ms = 300},
	                               {.method = "GET", .bearer = "a\nb"}};
	struct http_response resps[3];
	struct err errs[3];
	int rc[3];
	char u0[128], u1[128];

	(void)state;
	url_of(u0, sizeof(u0), good, "/a");
	url_of(u1, sizeof(u1), silent, "/b");
	reqs[0].url = u0;
	reqs[1].url = u1;
	reqs[2].url = u0;
	http_client_do_many(cs, reqs, resps, rc, errs, 3);
	assert_int_equal(rc[0], 0);
	assert_int_equal(resps[0].status, 200);
	assert_string_equal(resps[0].body, "xxx");
	assert_int_equal(rc[1], -1);
	assert_int_equal(errs[1].code, ERR_TIMEOUT);
	assert_int_equal(rc[2], -1); /* refused before sending */
	assert_int_equal(errs[2].code, ERR_INVALID);
	for (int i = 0; i < 3; i++)
		http_client_response_release(&resps[i]);
	/* the multi path leaves the connection in the client: the next call reuses it */
	{
		struct http_response r;
		struct err e;

		assert_int_equal(http_client_do(cs[0], &reqs[0], &r, &e), 0);
		assert_true(r.reused);
		http_client_response_release(&r);
	}
	for (int i = 0; i < 3; i++)
		http_client_free(cs[i]);
	peer_stop(good);
	peer_stop(silent);
}

static void test_url_escape(void **state)
{
	char *s;

	(void)state;
	s = http_client_url_escape("SELECT \"x\" FROM m WHERE vm='a&b'");
	assert_string_equal(s, "SELECT%20%22x%22%20FROM%20m%20WHERE%20vm%3D%27a%26b%27");
	free(s);
	s = http_client_url_escape("AZaz09-._~/\xc3\xa9");
	assert_string_equal(s, "AZaz09-._~%2F%C3%A9");
	free(s);
	s = http_client_url_escape("");
	assert_string_equal(s, "");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keep_alive_and_headers),
	    cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_timeout_and_refused),
	    cmocka_unit_test(test_no_redirect_and_injection),
	    cmocka_unit_test(test_many_with_one_silent_peer),
	    cmocka_unit_test(test_url_escape),
	};
	int rc;

	http_client_global_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	http_client_global_cleanup();
	return rc;
}
