/*
 * caserender_accounts: the data-folder render function of the accounts file
 * parser (accounts_parse), shared by tests/unit/test_accounts.c and the fuzz
 * target fuzz_accounts. Input: an accounts file. Output: accounts_format of the
 * model (the file as memdump-admin would save it), or "error: <code>: <message>".
 * Checks format -> parse -> format gives the same text and abort()s otherwise,
 * so the fuzzer finds round-trip bugs too. Pure; the result is a new string.
 */
#ifndef MEMDUMP_CASERENDER_ACCOUNTS_H
#define MEMDUMP_CASERENDER_ACCOUNTS_H

#include <stddef.h>

char *caserender_accounts(const char *input, size_t len);

#endif
