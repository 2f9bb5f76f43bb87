/*
 * caserender_memdumpd: render functions of memdumpd's pure parsers for the
 * data-folder cases (tests/data/<parser>/) and the fuzz targets: input bytes ->
 * new text. Errors render as "error: <code>: <message>".
 *   memdumpd_body:    POST /api/dumps body  -> "vm: NAME\nformat: FMT"
 *   memdumpd_range:   "SIZE\nRANGE-HEADER"  -> "first: A\nlast: B"
 *   memdumpd_journal: journal record        -> the record written back (job_to_json)
 */
#ifndef MEMDUMP_CASERENDER_MEMDUMPD_H
#define MEMDUMP_CASERENDER_MEMDUMPD_H

#include <stddef.h>

char *caserender_memdumpd_body(const char *input, size_t len);
char *caserender_memdumpd_range(const char *input, size_t len);
char *caserender_memdumpd_journal(const char *input, size_t len);

#endif
