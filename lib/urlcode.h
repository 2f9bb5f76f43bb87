/*
 * urlcode: percent-decoding of URL parts (query strings, URL userinfo and
 * paths). Pure, no allocation besides the result, thread-safe. Encoding lives in
 * http_client (http_client_url_escape, on libcurl).
 */
#ifndef MEMDUMP_URLCODE_H
#define MEMDUMP_URLCODE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Decode s[0..len) into *out (new, NUL-terminated; free() it). plus_as_space:
 * '+' means ' ' (application/x-www-form-urlencoded query strings). Returns -1
 * (and *out NULL) when an escape is not %XX with two hex digits or the text
 * decodes to a NUL byte.
 */
int urlcode_decode(const char *s, size_t len, bool plus_as_space, char **out);

#endif
