/*
 * caserender: one render function per parser in lib/ (datacase_render_fn): the
 * input format of that parser's data-folder cases and the text its `expected`
 * holds. The fuzz targets call the same functions, so the fuzzed path is the
 * tested path. Formats are described in tests/data/README.md. Pure; each result
 * is a new string ending in '\n'.
 */
#ifndef MEMDUMP_CASERENDER_H
#define MEMDUMP_CASERENDER_H

#include <stddef.h>

char *caserender_config_line(const char *input, size_t len);
char *caserender_json_body(const char *input, size_t len);
char *caserender_time(const char *input, size_t len);
char *caserender_influx_lp(const char *input, size_t len);
char *caserender_influx_answer(const char *input, size_t len);
char *caserender_svc_answer(const char *input, size_t len);

#endif
