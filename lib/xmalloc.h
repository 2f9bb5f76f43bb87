/*
 * xmalloc: the out-of-memory policy, decided once. The daemons cannot do useful
 * work without memory, so every allocation goes through these wrappers, which log
 * one line and abort() when the allocator fails. They never return NULL.
 * Thread-safe (they only call the C allocator).
 */
#ifndef MEMDUMP_XMALLOC_H
#define MEMDUMP_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string (free() it). */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
