/*
 * log: one line per event on stderr (systemd's journal or a log file collects it):
 *   2026-11-22T18:30:00.123Z level=info comp=memdumpd event=dump_started id=... vm="web-server"
 * Each line is written with a single write(2), so lines from several threads or
 * processes never interleave. The caller passes trusted key=value text in fmt;
 * any text that came from a client or a peer goes through log_q(), which quotes
 * and escapes it (control bytes, quotes, backslashes) and caps its length.
 * Thread-safe. log_q() returns a pointer into a small per-thread ring of buffers:
 * valid until the same thread has called log_q() LOG_Q_RING more times.
 */
#ifndef MEMDUMP_LOG_H
#define MEMDUMP_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR, LOG_LVL__MAX };

#define LOG_Q_RING 8
#define LOG_Q_MAX 256

/* Set the component name (borrowed: must outlive logging) and the minimum level. */
void log_init(const char *component, enum log_level min);
void log_set_level(enum log_level min);
bool log_enabled(enum log_level level);
/* "debug", "info", "warn", "error" -> level; -1 when unknown. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

void log_event(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Quote and escape untrusted text for a log line (see above). NULL gives "-". */
const char *log_q(const char *s);

#define log_debug(ev, ...) log_event(LOG_LVL_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...) log_event(LOG_LVL_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_event(LOG_LVL_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_event(LOG_LVL_ERROR, ev, __VA_ARGS__)

#endif
