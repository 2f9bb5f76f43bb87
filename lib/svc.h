/*
 * svc: the service client, calls to one memdumpd (docs/memdumpd-api.md) made by the poller
 * and the API workers. It builds the requests and parses the answers; transport
 * is http_client (not thread-safe: one struct svc per thread and host).
 * An answer's JSON is validated for the fields the callers rely on.
 * Error mapping: memdumpd down / timeout -> ERR_UNAVAILABLE / ERR_TIMEOUT; its
 * {"error":{"code","message"}} answers -> the matching err code with its message
 * (404 -> ERR_NOT_FOUND, 409 -> ERR_CONFLICT, 507 -> ERR_NO_SPACE, 401/403 ->
 * ERR_AUTH, other 4xx -> ERR_INVALID, 5xx -> ERR_UNAVAILABLE); unparseable -> ERR_PROTOCOL.
 */
#ifndef MEMDUMP_SVC_H
#define MEMDUMP_SVC_H

#include <jansson.h>

#include "err.h"
#include "http_client.h"

struct svc;

/* base_url like "http://10.0.0.5:5001" (copied); token may be NULL or "". */
struct svc *svc_new(const char *base_url, const char *token, long timeout_ms);
void svc_free(struct svc *s);
const char *svc_url(const struct svc *s); /* borrowed */

/* GET /api/health -> new object. */
int svc_health(struct svc *s, json_t **out, struct err *e);
/* GET /api/vms -> new array of VM objects. */
int svc_vms(struct svc *s, json_t **out, struct err *e);
/* GET /api/dumps -> new array of dump objects (active and recent). */
int svc_dumps(struct svc *s, json_t **out, struct err *e);
/* GET /api/dumps/{id} -> new dump object. */
int svc_dump_get(struct svc *s, const char *dump_id, json_t **out, struct err *e);
/* POST /api/dumps {"vm":..,"format":..,"requested_by":..} (format NULL: default;
 * requested_by NULL: omitted, else it must pass dump_user_check) -> new dump object.
 * On ERR_CONFLICT, *conflict_id (if not NULL) receives the active dump's id (new). */
int svc_dump_create(struct svc *s, const char *vm, const char *format, const char *requested_by,
                    json_t **out, char **conflict_id, struct err *e);
/* DELETE /api/dumps/{id} -> new dump object. */
int svc_dump_cancel(struct svc *s, const char *dump_id, json_t **out, struct err *e);

/* The requests/parse halves, for http_client_do_many by the poller: fill req for
 * GET path (path like "/api/dumps"); the request's url points into s. */
void svc_request_get(struct svc *s, const char *path, struct http_request *req);
/* Turn a finished exchange into JSON (member "member" of the answer object, or the
 * whole object when member is NULL) with the error mapping above. */
int svc_parse(struct svc *s, int rc, const struct err *transport, const struct http_response *resp,
              const char *member, json_t **out, struct err *e);

#endif
