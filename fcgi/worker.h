/*
 * worker: one FastCGI worker process, the only module that includes libfcgi.
 * It accepts one request at a time on the listening socket the master opened,
 * reads its parameters and body (capped), runs api_handle and writes the answer.
 * SIGTERM asks it to stop: the signal is blocked while a request is served, so
 * the worker exits only between requests and a client never sees a reset.
 * Owns its api_ctx (Redis, InfluxDB and memdumpd connections) for its lifetime.
 */
#ifndef MEMDUMP_WORKER_H
#define MEMDUMP_WORKER_H

#include "config.h"

/* Serve requests on listen_fd until asked to stop; returns the exit status. */
int worker_run(int listen_fd, const struct config *cfg);

#endif
