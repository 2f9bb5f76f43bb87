/*
 * caserender_api: render functions of memdump-api's pure parsers for the
 * data-folder cases (tests/data/<parser>/) and the fuzz targets: input bytes ->
 * new text. Errors render as "error: <code>: <message>".
 *   route:   "METHOD PATH"            -> "route <name> arg=<arg>" / "404" / "405 Allow: ..."
 *   query:   raw query string          -> the /records filter and its two InfluxQL statements
 *   trigger: request body              -> "vms: a, b\nformat: elf" or the error
 *   credentials: "cookie: V" / "bearer: V" / "query: V" (one line) -> what the
 *            auth gate reads from that header or query string
 */
#ifndef MEMDUMP_CASERENDER_API_H
#define MEMDUMP_CASERENDER_API_H

#include <stddef.h>

char *caserender_route(const char *input, size_t len);
char *caserender_query(const char *input, size_t len);
char *caserender_trigger(const char *input, size_t len);
char *caserender_credentials(const char *input, size_t len);
/* audit_query: raw query string of GET /audit -> its filter's two InfluxQL statements */
char *caserender_audit_query(const char *input, size_t len);

/* "now" used by caserender_query: 2026-11-22T18:30:00Z */
#define CASERENDER_NOW_MS 1795372200000LL

#endif
