/*
 * mhd: the libmicrohttpd adapter, the only module that includes microhttpd.h.
 * It binds MEMDUMP_LISTEN, collects each request (headers, query pairs, the body
 * up to MDEXCH_BODY_MAX: more is counted and dropped, so the answer is a clean
 * 413) into a struct mdexch_req, lets mdapi_handle answer and sends the struct
 * mdexch_resp back. MHD runs a thread per connection (a cancel may wait for its
 * dump to stop); the mdapi context is borrowed and must outlive the server.
 */
#ifndef MEMDUMPD_MHD_H
#define MEMDUMPD_MHD_H

#include "err.h"
#include "mdapi.h"

struct mhd;

/* listen is "HOST:PORT" or "[V6]:PORT". New, or NULL with e. */
struct mhd *mhd_start(const char *listen, struct mdapi *api, struct err *e);
/* Stops accepting and waits for the connection threads. NULL is fine. */
void mhd_stop(struct mhd *h);

#endif
