/*
 * caserender_api: see caserender_api.h. Pure; no I/O.
 */
#include "caserender_api.h"

#include <stdlib.h>
#include <string.h>

#include "../../../fcgi/auditq.h"
#include "../../../fcgi/auth.h"
#include "../../../fcgi/history.h"
#include "../../../fcgi/query.h"
#include "../../../fcgi/route.h"
#include "../../../fcgi/trigger.h"
#include "err.h"
#include "xmalloc.h"

char *caserender_route(const char *input, size_t len)
{
	char *copy = xstrndup(input, len), *sp, *nl;
	struct route rt;
	char *out;

	if ((nl = strchr(copy, '\n')) != NULL)
		*nl = '\0';
	sp = strchr(copy, ' ');
	if (sp == NULL) {
		free(copy);
		return xstrdup("error: invalid: input is 'METHOD PATH'");
	}
	*sp = '\0';
	switch (route_match(copy, sp + 1, &rt)) {
	case ROUTE_OK:
		out = xasprintf("route %s arg=%s", route_name(rt.id), rt.arg);
		break;
	case ROUTE_BAD_METHOD:
		out = xasprintf("405 Allow: %s", rt.allow);
		break;
	default:
		out = xstrdup("404");
		break;
	}
	free(copy);
	return out;
}

char *caserender_query(const char *input, size_t len)
{
	struct history_filter f;
	struct query q;
	struct err e;
	char *copy = xstrndup(input, len), *nl, *out, *ql, *cql;

	if ((nl = strchr(copy, '\n')) != NULL)
		*nl = '\0';
	if (query_parse(copy, history_records_keys, &q, &e) < 0) {
		out = xasprintf("error: %s: %s", err_code_name(e.code), e.msg);
		goto done;
	}
	if (history_filter_parse(&q, CASERENDER_NOW_MS, &f, &e) < 0) {
		out = xasprintf("error: %s: %s", err_code_name(e.code), e.msg);
		query_release(&q);
		goto done;
	}
	ql = history_records_ql(&f);
	cql = history_count_ql(&f);
	out = xasprintf("%s\n%s", ql, cql);
	free(ql);
	free(cql);
	history_filter_release(&f);
	query_release(&q);
done:
	free(copy);
	return out;
}

char *caserender_trigger(const char *input, size_t len)
{
	static const char *const names[] = {"ok", "bad_json", "bad_field", "too_large"};
	struct trigger_req t;
	struct err e;
	enum trigger_result rc = trigger_parse(input, len, &t, &e);
	char *out, *list;

	if (rc != TRIGGER_OK)
		return xasprintf("error: %s: %s", names[rc], e.msg);
	list = xstrdup("");
	for (size_t i = 0; i < t.n; i++) {
		char *n = xasprintf("%s%s%s", list, i ? ", " : "", t.vms[i]);

		free(list);
		list = n;
	}
	out = xasprintf("vms: %s\nformat: %s", list, t.format ? t.format : "(default)");
	free(list);
	trigger_req_release(&t);
	return out;
}

char *caserender_credentials(const char *input, size_t len)
{
	char *copy = xstrndup(input, len), *nl, *v, *out;
	char hex[AUTH_SESSION_ID_HEX + 1];
	const char *tok;
	size_t tlen;

	if ((nl = strchr(copy, '\n')) != NULL)
		*nl = '\0';
	v = strchr(copy, ':');
	if (v == NULL) {
		free(copy);
		return xstrdup("error: invalid: input is 'cookie|bearer|query: VALUE'");
	}
	*v++ = '\0';
	if (*v == ' ')
		v++;
	if (strcmp(copy, "cookie") == 0)
		out = auth_cookie_session(v, hex) == 0 ? xasprintf("session %s", hex)
		                                       : xstrdup("no session");
	else if (strcmp(copy, "bearer") == 0)
		out = auth_bearer(v, &tok, &tlen) == 0 ? xasprintf("token %.*s", (int)tlen, tok)
		                                       : xstrdup("not a bearer token");
	else if (strcmp(copy, "query") == 0)
		out = xstrdup(auth_query_has_token(v) ? "credential in query" : "no credential");
	else
		out = xstrdup("error: invalid: input is 'cookie|bearer|query: VALUE'");
	free(copy);
	return out;
}

char *caserender_audit_query(const char *input, size_t len)
{
	struct auditq_filter f;
	struct query q;
	struct err e;
	char *copy = xstrndup(input, len), *nl, *out, *ql, *cql;

	if ((nl = strchr(copy, '\n')) != NULL)
		*nl = '\0';
	if (query_parse(copy, auditq_keys, &q, &e) < 0) {
		out = xasprintf("error: %s: %s", err_code_name(e.code), e.msg);
		goto done;
	}
	if (auditq_filter_parse(&q, CASERENDER_NOW_MS, &f, &e) < 0) {
		out = xasprintf("error: %s: %s", err_code_name(e.code), e.msg);
		query_release(&q);
		goto done;
	}
	ql = auditq_events_ql(&f);
	cql = auditq_count_ql(&f);
	out = xasprintf("%s\n%s", ql, cql);
	free(ql);
	free(cql);
	auditq_filter_release(&f);
	query_release(&q);
done:
	free(copy);
	return out;
}
