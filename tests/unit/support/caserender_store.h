/*
 * caserender_store: the data-folder render function of redis_store's pure
 * parser (store_url_parse), shared by tests/unit/test_redis_url.c and
 * tests/fuzz/fuzz_redis_url.c. Input: one REDIS_URL (a trailing newline is
 * dropped). Output: the parsed fields one per line ("-" for none), or
 * "error: <code>: <message>". Pure; the result is a new string.
 */
#ifndef MEMDUMP_CASERENDER_STORE_H
#define MEMDUMP_CASERENDER_STORE_H

#include <stddef.h>

char *caserender_redis_url(const char *input, size_t len);

#endif
