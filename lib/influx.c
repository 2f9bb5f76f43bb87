/*
 * influx: the InfluxDB client's I/O half (see influx.h); the pure halves are
 * influx_lp.c and influx_parse.c.
 *
 * DESIGN: one struct influx owns one http_client (so one keep-alive connection)
 * and copies of URL, database and token; it is used by one thread. Every call is
 * bounded by the timeout given at creation. The token goes out as
 * "Authorization: Bearer TOKEN" (what InfluxDB 3 expects; 1.x without auth
 * ignores it). CREATE DATABASE is an InfluxDB 1.x statement: when it fails and
 * /ping says the server is InfluxDB 3, which creates databases on first write,
 * it counts as done.
 */
#include "influx.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "json_util.h"
#include "xmalloc.h"

#define INFLUX_QL_MAX 8192           /* bytes of InfluxQL in one GET /query */
#define INFLUX_WRITE_MAX (16u << 20) /* bytes of line protocol in one POST /write */
#define INFLUX_PING_MAX 4096

struct influx {
	char *url; /* without trailing '/' */
	char *db;
	char *token;
	long timeout_ms;
	struct http_client *http;
};

struct influx *influx_new(const char *url, const char *db, const char *token, long timeout_ms)
{
	struct influx *ix = xcalloc(1, sizeof(*ix));
	size_t n = strlen(url);

	while (n > 0 && url[n - 1] == '/')
		n--;
	ix->url = xstrndup(url, n);
	ix->db = xstrdup(db);
	ix->token = xstrdup(token != NULL ? token : "");
	ix->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	ix->http = http_client_new(ix->timeout_ms);
	return ix;
}

void influx_free(struct influx *ix)
{
	if (ix == NULL)
		return;
	http_client_free(ix->http);
	free(ix->url);
	free(ix->db);
	free(ix->token);
	free(ix);
}

static void influx_req_init(struct influx *ix, struct http_request *req, const char *method,
                            const char *url)
{
	memset(req, 0, sizeof(*req));
	req->method = method;
	req->url = url;
	req->bearer = ix->token;
	req->max_response = INFLUX_ANSWER_MAX;
}

int influx_write(struct influx *ix, const char *lines, size_t len, struct err *e)
{
	return influx_write_prec(ix, lines, len, "ms", e);
}

int influx_write_prec(struct influx *ix, const char *lines, size_t len, const char *precision,
                      struct err *e)
{
	struct http_request req;
	struct http_response resp = {0};
	char *db = http_client_url_escape(ix->db);
	char *url = xasprintf("%s/write?db=%s&precision=%s", ix->url, db,
	                      strcmp(precision, "ns") == 0 ? "ns" : "ms");
	int rc = -1;

	if (len == 0) {
		err_set(e, ERR_INVALID, "no points to write");
		goto out;
	}
	if (len > INFLUX_WRITE_MAX) {
		err_set(e, ERR_TOO_LARGE, "%zu bytes of points exceed the limit of %u per write",
		        len, INFLUX_WRITE_MAX);
		goto out;
	}
	influx_req_init(ix, &req, "POST", url);
	req.body = lines;
	req.body_len = len;
	req.content_type = "text/plain; charset=utf-8";
	if (http_client_do(ix->http, &req, &resp, e) < 0)
		goto out;
	rc = influx_parse_write_answer(resp.status, resp.body, resp.body_len, e);
out:
	http_client_response_release(&resp);
	free(url);
	free(db);
	return rc;
}

/* GET or POST /query with q; the answer's series into *out (may be NULL). */
static int influx_query_do(struct influx *ix, const char *method, const char *influxql,
                           json_t **out, struct err *e)
{
	struct http_request req;
	struct http_response resp = {0};
	char *db = NULL, *q = NULL, *url = NULL, *body = NULL;
	json_t *series = NULL;
	size_t qlen = strlen(influxql);
	int rc = -1;

	if (out != NULL)
		*out = NULL;
	if (qlen == 0 || qlen > INFLUX_QL_MAX) {
		err_set(e, qlen == 0 ? ERR_INVALID : ERR_TOO_LARGE,
		        "InfluxQL of %zu bytes; allowed: 1 to %d", qlen, INFLUX_QL_MAX);
		goto out;
	}
	db = http_client_url_escape(ix->db);
	q = http_client_url_escape(influxql);
	if (strcmp(method, "GET") == 0) {
		url = xasprintf("%s/query?db=%s&epoch=ms&q=%s", ix->url, db, q);
		influx_req_init(ix, &req, "GET", url);
	} else {
		/* 1.x refuses statements that change data over GET. */
		url = xasprintf("%s/query", ix->url);
		body = xasprintf("db=%s&q=%s", db, q);
		influx_req_init(ix, &req, "POST", url);
		req.body = body;
		req.body_len = strlen(body);
		req.content_type = "application/x-www-form-urlencoded";
	}
	if (http_client_do(ix->http, &req, &resp, e) < 0)
		goto out;
	if (influx_parse_answer(resp.status, resp.body, resp.body_len, &series, e) < 0)
		goto out;
	if (out != NULL) {
		*out = series;
		series = NULL;
	}
	rc = 0;
out:
	json_decref(series);
	http_client_response_release(&resp);
	free(body);
	free(url);
	free(q);
	free(db);
	return rc;
}

int influx_query(struct influx *ix, const char *influxql, json_t **out, struct err *e)
{
	return influx_query_do(ix, "GET", influxql, out, e);
}

/* 1 when /ping says InfluxDB 3, 0 when not, -1 (and e) when it does not answer. */
static int influx_is_v3(struct influx *ix, struct err *e)
{
	struct http_request req;
	struct http_response resp = {0};
	char *url = xasprintf("%s/ping", ix->url);
	json_t *root = NULL;
	const char *version;
	int rc = -1;

	influx_req_init(ix, &req, "GET", url);
	req.max_response = INFLUX_PING_MAX;
	if (http_client_do(ix->http, &req, &resp, e) < 0)
		goto out;
	rc = 0;
	/* InfluxDB 3 answers 200 {"version":"3...",...}; 1.x answers 204 and no body. */
	if (resp.status == 200 && resp.body_len > 0)
		root = jsonu_parse(resp.body, resp.body_len, INFLUX_PING_MAX, 4, NULL);
	version = jsonu_str(root, "version");
	if (version != NULL && version[0] == '3')
		rc = 1;
out:
	json_decref(root);
	http_client_response_release(&resp);
	free(url);
	return rc;
}

int influx_create_db(struct influx *ix, struct err *e)
{
	struct err qe;
	char *stmt;
	int rc;

	if (strpbrk(ix->db, "\"\\\n") != NULL)
		return err_set(e, ERR_INVALID,
		               "database name '%.64s' has a quote, backslash or "
		               "line break",
		               ix->db);
	stmt = xasprintf("CREATE DATABASE \"%s\"", ix->db);
	rc = influx_query_do(ix, "POST", stmt, NULL, &qe);
	free(stmt);
	if (rc == 0)
		return 0;
	if (qe.code != ERR_UNAVAILABLE && qe.code != ERR_TIMEOUT && influx_is_v3(ix, NULL) == 1)
		return 0; /* InfluxDB 3 creates the database with the first write */
	if (e != NULL)
		*e = qe;
	return -1;
}

int influx_ping(struct influx *ix, struct err *e)
{
	struct http_request req;
	struct http_response resp = {0};
	char *url = xasprintf("%s/ping", ix->url);
	int rc = -1;

	influx_req_init(ix, &req, "GET", url);
	req.max_response = INFLUX_PING_MAX;
	if (http_client_do(ix->http, &req, &resp, e) < 0)
		goto out;
	if (resp.status == 404) {
		/* a server (or proxy) without /ping: InfluxDB 3 also serves /health */
		http_client_response_release(&resp);
		free(url);
		url = xasprintf("%s/health", ix->url);
		req.url = url;
		if (http_client_do(ix->http, &req, &resp, e) < 0)
			goto out;
	}
	if (resp.status == 204 || resp.status == 200)
		rc = 0;
	else if (resp.status == 401 || resp.status == 403)
		err_set(e, ERR_AUTH, "InfluxDB refused the token on /ping (HTTP %ld)", resp.status);
	else
		err_set(e, ERR_PROTOCOL, "InfluxDB's /ping answered HTTP %ld", resp.status);
out:
	http_client_response_release(&resp);
	free(url);
	return rc;
}
