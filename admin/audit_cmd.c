/*
 * audit_cmd: see audit_cmd.h. One struct auditlog per run, made at the first
 * event and freed at exit; each event is spooled, then the spool is drained at
 * once (at most ADMIN_AUDIT_SEND_MS). Verification reads mem_dump_audit in pages
 * of ADMIN_AUDIT_PAGE rows, oldest first, and hands them to audit_verify.
 */
#include "audit_cmd.h"

#include <pwd.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auditlog.h"
#include "audit.h"
#include "redis_store.h"
#include "influx.h"
#include "json_util.h"
#include "xmalloc.h"

#define ADMIN_AUDIT_SEND_MS 15000
#define ADMIN_AUDIT_PAGE 10000
#define ADMIN_AUDIT_MAX 2000000 /* events one verify reads; more: use --since */
#define ADMIN_REDIS_TIMEOUT_MS 2000
#define ADMIN_INFLUX_TIMEOUT_MS 30000

static struct auditlog *admin_audit_log;

static void admin_audit_atexit(void)
{
	auditlog_free(admin_audit_log);
	admin_audit_log = NULL;
}

/* Who runs memdump-admin: SUDO_USER, else the login name, else the uid's name. */
static void admin_audit_who(char *out, size_t cap)
{
	const char *s = getenv("SUDO_USER");
	struct passwd *pw;

	if (s == NULL || s[0] == '\0')
		s = getlogin();
	if ((s == NULL || s[0] == '\0') && (pw = getpwuid(geteuid())) != NULL)
		s = pw->pw_name;
	snprintf(out, cap, "%s", s != NULL && s[0] != '\0' ? s : "unknown");
}

int audit_cmd_event(const struct config *cfg, const char *action, const char *target_user,
                    const char *detail, struct err *e)
{
	struct audit_event ev = {0};
	char who[AUDIT_TEXT_MAX + 1], *text;
	struct err se = {0};

	if (admin_audit_log == NULL) {
		admin_audit_log = auditlog_new(cfg, e);
		if (admin_audit_log == NULL)
			return -1;
		atexit(admin_audit_atexit);
	}
	admin_audit_who(who, sizeof(who));
	text = xasprintf("target=%s%s%s", target_user ? target_user : "",
	                 detail && detail[0] ? " " : "", detail ? detail : "");
	ev.action = action;
	ev.result = "ok";
	ev.user = who;
	ev.auth = "local";
	ev.role = "admin";
	ev.client = "memdump-admin";
	ev.detail = text;
	auditlog_emit(admin_audit_log, &ev);
	free(text);
	if (auditlog_flush(admin_audit_log, ADMIN_AUDIT_SEND_MS, &se) < 0)
		fprintf(stderr,
		        "memdump-admin: note: the audit event stays in %s until memdump-api sends "
		        "it (%s)\n",
		        config_str(cfg, CFG_AUDIT_SPOOL), se.msg);
	return 0;
}

static void admin_verify_usage(FILE *f)
{
	fprintf(f,
	        "usage: memdump-admin audit verify [--since TIME]\n"
	        "  reads every mem_dump_audit event (since TIME, RFC 3339 or a date) and checks\n"
	        "  each chain; exit 0 intact, 1 broken, 69 InfluxDB unavailable\n");
}

/* Read every event since since_ms into rs; 0, or -1 with e. */
static int admin_verify_read(struct influx *ix, long long since_ms, struct audit_recs *rs,
                             struct err *e)
{
	long long until_ms = (long long)time(NULL) * 1000 + 86400LL * 1000;

	for (long long offset = 0;; offset += ADMIN_AUDIT_PAGE) {
		char *ql = xasprintf("SELECT * FROM " AUDIT_MEASUREMENT
		                     " WHERE time >= %lldms AND time < %lldms ORDER BY time ASC "
		                     "LIMIT %d OFFSET %lld",
		                     since_ms, until_ms, ADMIN_AUDIT_PAGE, offset);
		json_t *series = NULL;
		size_t before = rs->n + rs->malformed;
		int rc = influx_query(ix, ql, &series, e);

		free(ql);
		if (rc == 0)
			rc = audit_recs_from_series(series, rs, ADMIN_AUDIT_MAX, e);
		json_decref(series);
		if (rc < 0)
			return -1;
		if (rs->n + rs->malformed - before < ADMIN_AUDIT_PAGE)
			return 0;
	}
}

/* The highest seq of chain still waiting in the spool folder (files <chain>-<seq>.lp). */
static long long admin_spooled_last(const char *dir, const char *chain)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cl = strlen(chain);
	long long best = 0;

	while (d != NULL && (de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		char *end;
		long long seq;

		if (strncmp(n, chain, cl) != 0 || n[cl] != '-')
			continue;
		seq = strtoll(n + cl + 1, &end, 10);
		if (strcmp(end, ".lp") == 0 && seq > best)
			best = seq;
	}
	if (d != NULL)
		closedir(d);
	return best;
}

/* Check every chain against its head in Redis (what a removed tail leaves behind); a
 * Redis that cannot be read is a note on stderr, not a failure. With --since only the
 * chains read are checked (an older chain has nothing since). */
static void admin_verify_heads(const struct config *cfg, const struct audit_recs *rs,
                               bool from_start, struct audit_report *rep)
{
	struct store *st = store_new(config_str(cfg, CFG_REDIS_URL), ADMIN_REDIS_TIMEOUT_MS, NULL);
	struct audit_head *heads = NULL;
	long long *spooled = NULL;
	json_t *all = NULL, *v;
	const char *chain;
	size_t n = 0;
	struct err e;

	if (st == NULL || store_audit_heads_get(st, &all, &e) < 0) {
		fprintf(stderr, "memdump-admin: chain heads not checked (Redis: %s)\n",
		        st == NULL ? "bad REDIS_URL" : e.msg);
		goto out;
	}
	heads = xcalloc(json_object_size(all) + 1, sizeof(*heads));
	spooled = xcalloc(json_object_size(all) + 1, sizeof(*spooled));
	json_object_foreach(all, chain, v) {
		struct audit_head *h = &heads[n];
		bool read = false;

		if (strlen(chain) > AUDIT_CHAIN_MAX ||
		    audit_head_parse(json_string_value(v), h) < 0)
			continue;
		for (size_t i = 0; i < rs->n && !read; i++)
			read = strcmp(rs->v[i].chain, chain) == 0;
		if (!from_start && !read)
			continue;
		snprintf(h->chain, sizeof(h->chain), "%s", chain);
		spooled[n] = admin_spooled_last(config_str(cfg, CFG_AUDIT_SPOOL), chain);
		n++;
	}
	audit_verify_heads(rs, heads, n, spooled, rep);
	fprintf(stderr, "memdump-admin: %zu chain heads checked\n", n);
out:
	json_decref(all);
	free(heads);
	free(spooled);
	store_free(st);
}

int audit_cmd_verify(const struct config *cfg, int argc, char **argv)
{
	long long since_ms = 0;
	bool from_start = true;
	struct influx *ix = NULL;
	struct audit_recs rs = {0};
	struct audit_report rep = {0};
	struct err e = {0};
	int i = 0, code = 0;

	if (i < argc && strcmp(argv[i], "verify") == 0)
		i++;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--since") == 0 && i + 1 < argc) {
			if (jsonu_time_parse(argv[++i], &since_ms, &e) < 0 || since_ms < 0) {
				fprintf(stderr, "memdump-admin: --since '%s': %s\n", argv[i],
				        e.msg);
				return 64;
			}
			from_start = false;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			admin_verify_usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "memdump-admin: audit verify: unknown argument '%s'\n",
			        argv[i]);
			admin_verify_usage(stderr);
			return 64;
		}
	}
	ix = influx_new(config_str(cfg, CFG_INFLUX_URL), config_str(cfg, CFG_INFLUX_DB),
	                config_str(cfg, CFG_INFLUX_TOKEN), ADMIN_INFLUX_TIMEOUT_MS);
	if (admin_verify_read(ix, since_ms, &rs, &e) < 0) {
		if (e.code == ERR_NOT_FOUND && strstr(e.msg, "database not found") != NULL) {
			printf("audit: 0 events in 0 chains, intact\n");
			goto out;
		}
		fprintf(stderr, "memdump-admin: cannot read the audit events from %s: %s\n",
		        config_str(cfg, CFG_INFLUX_URL), e.msg);
		code = e.code == ERR_TOO_LARGE ? 1 : 69;
		goto out;
	}
	audit_verify(&rs, from_start, &rep);
	admin_verify_heads(cfg, &rs, from_start, &rep);
	if (rep.n_findings == 0) {
		printf("audit: %zu events in %zu chains, intact\n", rep.events, rep.chains);
		goto out;
	}
	for (size_t k = 0; k < rep.n_findings; k++) {
		char *t = audit_finding_text(&rep.findings[k]);

		printf("%s\n", t);
		free(t);
	}
	if (rep.more > 0)
		printf("... and %zu more problems\n", rep.more);
	printf("audit: %zu events in %zu chains, BROKEN (%zu problems)\n", rep.events, rep.chains,
	       rep.n_findings + rep.more);
	code = 1;
out:
	audit_report_release(&rep);
	audit_recs_release(&rs);
	influx_free(ix);
	return code;
}
