/*
 * caserender_store: see caserender_store.h.
 */
#include "caserender_store.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "redis_store.h"
#include "xmalloc.h"

char *caserender_redis_url(const char *input, size_t len)
{
	struct store_url u;
	struct err e = {0};
	char *s, *out;

	if (len > 0 && input[len - 1] == '\n')
		len--;
	s = xstrndup(input, len);
	if (strlen(s) != len) {
		free(s);
		return xstrdup("error: invalid: NUL byte in input\n");
	}
	if (store_url_parse(s, &u, &e) < 0) {
		out = xasprintf("error: %s: %s\n", err_code_name(e.code), e.msg);
	} else {
		out = xasprintf("host=%s\nport=%d\npath=%s\nusername=%s\npassword=%s\ndb=%d\n",
		                u.host ? u.host : "-", u.port, u.path ? u.path : "-",
		                u.username ? u.username : "-", u.password ? u.password : "-", u.db);
		store_url_release(&u);
	}
	free(s);
	return out;
}
