/*
 * caserender_accounts: see caserender_accounts.h.
 */
#include "caserender_accounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "err.h"
#include "xmalloc.h"

char *caserender_accounts(const char *input, size_t len)
{
	struct accounts *a = NULL, *b = NULL;
	struct err e = {0};
	char *text, *again;
	size_t n, n2;

	if (accounts_parse(input, len, &a, &e) < 0)
		return xasprintf("error: %s: %s\n", err_code_name(e.code), e.msg);
	text = accounts_format(a, &n);
	if (accounts_parse(text, n, &b, &e) < 0) {
		fprintf(stderr, "caserender_accounts: formatted text does not parse: %s\n", e.msg);
		abort();
	}
	again = accounts_format(b, &n2);
	if (n != n2 || memcmp(text, again, n) != 0) {
		fprintf(stderr, "caserender_accounts: format(parse(format(x))) != format(x)\n");
		abort();
	}
	free(again);
	accounts_free(a);
	accounts_free(b);
	return text;
}
