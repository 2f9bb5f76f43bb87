/*
 * influxctl: the project's InfluxDB client (lib/influx.c) on the command line, for
 * tests and operators. It reads INFLUX_URL, INFLUX_DB and INFLUX_TOKEN like the
 * daemons (environment, then -c FILE). Single-threaded; one struct influx.
 *
 *   influxctl [-c FILE] ping | create-db | write [LINE...] | query INFLUXQL
 *   influxctl [-c FILE] point|line MEASUREMENT (tag K V | str K V | int K N | float K X)...
 *             [time MS]     (point writes it; line prints the line protocol only)
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "err.h"
#include "http_client.h"
#include "influx.h"
#include "json_util.h"
#include "xmalloc.h"

#define CTL_STDIN_MAX (16u << 20)
#define CTL_TIMEOUT_MS 10000L

static void ctl_usage(FILE *out)
{
	fprintf(out,
	        "usage: influxctl [-c FILE] COMMAND\n"
	        "  ping                      check that InfluxDB answers\n"
	        "  create-db                 CREATE DATABASE INFLUX_DB (no-op on InfluxDB 3)\n"
	        "  write [LINE...]           write line protocol (the arguments, else stdin)\n"
	        "  query INFLUXQL            print the first statement's series as JSON\n"
	        "  point MEAS ITEM...        build a point with the project's writer and write it\n"
	        "  line MEAS ITEM...         print that point's line protocol, write nothing\n"
	        "     ITEM: tag K V | str K V | int K N | float K X | time MS (default: now)\n"
	        "settings (environment or -c FILE): INFLUX_URL, INFLUX_DB, INFLUX_TOKEN\n");
}

static int ctl_parse_ll(const char *s, long long *out, struct err *e)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return err_set(e, ERR_INVALID, "'%.64s' is not an integer", s);
	return 0;
}

static int ctl_parse_double(const char *s, double *out, struct err *e)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0')
		return err_set(e, ERR_INVALID, "'%.64s' is not a number", s);
	return 0;
}

/* Build one point from argv items into a new line. */
static int ctl_build(int argc, char **argv, char **line, size_t *len, struct err *e)
{
	struct influx_lp *lp;
	struct timespec ts;
	long long t, n;
	double d;
	int rc = -1;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (argc < 1)
		return err_set(e, ERR_INVALID, "a point needs a measurement");
	lp = influx_lp_new(argv[0]);
	for (int i = 1; i < argc;) {
		const char *kind = argv[i];

		if (strcmp(kind, "time") == 0 && i + 1 < argc) {
			if (ctl_parse_ll(argv[i + 1], &t, e) < 0)
				goto out;
			i += 2;
			continue;
		}
		if (i + 2 >= argc) {
			err_set(e, ERR_INVALID, "item '%.32s' needs a key and a value", kind);
			goto out;
		}
		if (strcmp(kind, "tag") == 0) {
			if (influx_lp_tag(lp, argv[i + 1], argv[i + 2], e) < 0)
				goto out;
		} else if (strcmp(kind, "str") == 0) {
			if (influx_lp_field_str(lp, argv[i + 1], argv[i + 2], e) < 0)
				goto out;
		} else if (strcmp(kind, "int") == 0) {
			if (ctl_parse_ll(argv[i + 2], &n, e) < 0 ||
			    influx_lp_field_int(lp, argv[i + 1], n, e) < 0)
				goto out;
		} else if (strcmp(kind, "float") == 0) {
			if (ctl_parse_double(argv[i + 2], &d, e) < 0 ||
			    influx_lp_field_float(lp, argv[i + 1], d, e) < 0)
				goto out;
		} else {
			err_set(e, ERR_INVALID,
			        "unknown item '%.32s'; allowed: tag str int float time", kind);
			goto out;
		}
		i += 3;
	}
	rc = influx_lp_finish(lp, t, line, len, e);
out:
	influx_lp_free(lp);
	return rc;
}

/* All of stdin (capped) into a new buffer. */
static int ctl_read_stdin(char **out, size_t *len, struct err *e)
{
	size_t cap = 4096, n = 0, got;
	char *buf = xmalloc(cap);

	while ((got = fread(buf + n, 1, cap - n, stdin)) > 0) {
		n += got;
		if (n > CTL_STDIN_MAX) {
			free(buf);
			return err_set(e, ERR_TOO_LARGE, "more than %u bytes on stdin",
			               CTL_STDIN_MAX);
		}
		if (n == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
	}
	if (ferror(stdin)) {
		free(buf);
		return err_set(e, ERR_IO, "reading stdin: %s", strerror(errno));
	}
	*out = buf;
	*len = n;
	return 0;
}

static int ctl_write_args(struct influx *ix, int argc, char **argv, struct err *e)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (argc == 0) {
		if (ctl_read_stdin(&text, &len, e) < 0)
			return -1;
	} else {
		size_t total = 0;

		for (int i = 0; i < argc; i++)
			total += strlen(argv[i]) + 1;
		text = xmalloc(total + 1);
		for (int i = 0; i < argc; i++) {
			size_t k = strlen(argv[i]);

			memcpy(text + len, argv[i], k);
			len += k;
			text[len++] = '\n';
		}
	}
	rc = influx_write(ix, text, len, e);
	free(text);
	return rc;
}

static int ctl_run(struct influx *ix, int argc, char **argv, struct err *e)
{
	const char *cmd = argv[0];
	char *line = NULL, *text;
	size_t len;
	json_t *series = NULL;
	int rc = -1;

	if (strcmp(cmd, "ping") == 0 && argc == 1) {
		rc = influx_ping(ix, e);
	} else if (strcmp(cmd, "create-db") == 0 && argc == 1) {
		rc = influx_create_db(ix, e);
	} else if (strcmp(cmd, "write") == 0) {
		rc = ctl_write_args(ix, argc - 1, argv + 1, e);
	} else if (strcmp(cmd, "query") == 0 && argc == 2) {
		rc = influx_query(ix, argv[1], &series, e);
		if (rc == 0) {
			text = json_dumps(series, JSON_INDENT(1) | JSON_ENSURE_ASCII);
			printf("%s\n", text != NULL ? text : "[]");
			free(text);
		}
	} else if (strcmp(cmd, "line") == 0 || strcmp(cmd, "point") == 0) {
		rc = ctl_build(argc - 1, argv + 1, &line, &len, e);
		if (rc == 0 && cmd[0] == 'l')
			fwrite(line, 1, len, stdout);
		else if (rc == 0)
			rc = influx_write(ix, line, len, e);
	} else {
		err_set(e, ERR_INVALID, "unknown command or wrong arguments: '%.32s' (see --help)",
		        cmd);
	}
	json_decref(series);
	free(line);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
	                                         {NULL, 0, NULL, 0}};
	const char *file = NULL;
	struct config *cfg = NULL;
	struct influx *ix = NULL;
	struct err e = {0};
	int ch, status = 1;

	jsonu_init();
	while ((ch = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			file = optarg;
			break;
		case 'h':
			ctl_usage(stdout);
			return 0;
		default:
			ctl_usage(stderr);
			return 64;
		}
	}
	if (optind >= argc) {
		ctl_usage(stderr);
		return 64;
	}
	cfg = config_load(file, &e);
	if (cfg == NULL) {
		fprintf(stderr, "influxctl: configuration error: %s\n", e.msg);
		return 78;
	}
	http_client_global_init();
	ix = influx_new(config_str(cfg, CFG_INFLUX_URL), config_str(cfg, CFG_INFLUX_DB),
	                config_str(cfg, CFG_INFLUX_TOKEN), CTL_TIMEOUT_MS);
	if (ctl_run(ix, argc - optind, argv + optind, &e) == 0)
		status = 0;
	else
		fprintf(stderr, "influxctl: %s: %s\n", err_code_name(e.code), e.msg);
	influx_free(ix);
	config_free(cfg);
	http_client_global_cleanup();
	return status;
}
