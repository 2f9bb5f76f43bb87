/*
 * datacase: the data-folder test runner. A parser's cases live in
 * $MEMDUMP_TEST_DATA/<parser>/<case>/ as two files: `input` (bytes fed to the
 * parser) and `expected` (the text the parser's render function must produce;
 * errors render as "error: <code>: <message>"). A regression is a new folder, no
 * code. MEMDUMP_UPDATE_EXPECTED=1 rewrites `expected` from the current output
 * (review the diff before committing). Single-threaded; no cmocka dependency, so
 * the fuzz targets can link the render functions (caserender.h) too.
 */
#ifndef MEMDUMP_DATACASE_H
#define MEMDUMP_DATACASE_H

#include <stddef.h>

/* Input bytes (NUL-terminated copy, len without the NUL) -> new output text. */
typedef char *(*datacase_render_fn)(const char *input, size_t len);

#define DATACASE_INPUT_MAX (1u << 20)

/* Run every case of parser in name order. Prints one line per failing case
 * (with expected and actual text) to stderr; returns the number of failures,
 * counting "no cases found" as one. */
int datacase_run(const char *parser, datacase_render_fn render);

#endif
