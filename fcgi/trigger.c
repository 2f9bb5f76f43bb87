/*
 * trigger: see trigger.h. Parsing goes through jsonu_parse (size, depth, NUL and
 * duplicate-key caps); the checks here are the trigger's own rules.
 */
#include "trigger.h"

#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "exchange.h"
#include "json_util.h"
#include "xmalloc.h"

static enum trigger_result trigger_check_names(json_t *vms, struct trigger_req *out, struct err *e)
{
	size_t i, n;
	json_t *v;

	if (!json_is_array(vms)) {
		err_set(e, ERR_INVALID, "'vms' must be an array of VM names");
		return TRIGGER_BAD_FIELD;
	}
	n = json_array_size(vms);
	if (n == 0) {
		err_set(e, ERR_INVALID, "'vms' is empty: name at least one VM");
		return TRIGGER_BAD_FIELD;
	}
	if (n > TRIGGER_VMS_MAX) {
		err_set(e, ERR_TOO_LARGE, "'vms' names %zu VMs; at most %d per trigger", n,
		        TRIGGER_VMS_MAX);
		return TRIGGER_BAD_FIELD;
	}
	json_array_foreach(vms, i, v) {
		const char *name = json_string_value(v);
		struct err ne;

		if (!json_is_string(v)) {
			err_set(e, ERR_INVALID, "'vms[%zu]' must be a string", i);
			return TRIGGER_BAD_FIELD;
		}
		if (dump_vm_name_check(name, json_string_length(v), &ne) < 0) {
			err_set(e, ERR_INVALID, "'vms[%zu]': %s", i, ne.msg);
			return TRIGGER_BAD_FIELD;
		}
		for (size_t j = 0; j < out->n; j++)
			if (strcmp(out->vms[j], name) == 0) {
				err_set(e, ERR_INVALID, "'vms[%zu]' repeats 'vms[%zu]'", i, j);
				return TRIGGER_BAD_FIELD;
			}
		out->vms[out->n++] = xstrdup(name);
	}
	return TRIGGER_OK;
}

enum trigger_result trigger_parse(const char *body, size_t len, struct trigger_req *out,
                                  struct err *e)
{
	enum trigger_result rc = TRIGGER_BAD_FIELD;
	json_t *root = NULL, *v;
	const char *key;
	struct err pe;

	memset(out, 0, sizeof(*out));
	if (len > EXCH_BODY_MAX) {
		err_set(e, ERR_TOO_LARGE, "request body larger than %u bytes", EXCH_BODY_MAX);
		return TRIGGER_TOO_LARGE;
	}
	root = jsonu_parse(body, len, EXCH_BODY_MAX, TRIGGER_JSON_DEPTH, &pe);
	if (root == NULL) {
		err_set(e, pe.code, "request body is not valid JSON: %s", pe.msg);
		return pe.code == ERR_TOO_LARGE ? TRIGGER_TOO_LARGE : TRIGGER_BAD_JSON;
	}
	if (!json_is_object(root)) {
		err_set(e, ERR_INVALID,
		        "request body must be an object like {\"vms\": [\"name\"]}");
		goto out;
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, "vms") != 0 && strcmp(key, "format") != 0) {
			err_set(e, ERR_INVALID, "unknown member '%.64s' (allowed: vms, format)",
			        key);
			goto out;
		}
	}
	v = json_object_get(root, "vms");
	if (v == NULL) {
		err_set(e, ERR_INVALID, "missing 'vms': an array of VM names");
		goto out;
	}
	if ((rc = trigger_check_names(v, out, e)) != TRIGGER_OK)
		goto out;
	rc = TRIGGER_BAD_FIELD;
	v = json_object_get(root, "format");
	if (v != NULL && !json_is_null(v)) {
		enum dump_format f;
		struct err fe;

		if (!json_is_string(v)) {
			err_set(e, ERR_INVALID, "'format' must be a string");
			goto out;
		}
		if (dump_format_parse(json_string_value(v), &f, &fe) < 0) {
			err_set(e, ERR_INVALID, "'format': %s", fe.msg);
			goto out;
		}
		out->format = xstrdup(dump_format_name(f));
	}
	rc = TRIGGER_OK;
out:
	json_decref(root);
	if (rc != TRIGGER_OK)
		trigger_req_release(out);
	return rc;
}

void trigger_req_release(struct trigger_req *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->vms[i]);
	free(t->format);
	memset(t, 0, sizeof(*t));
}
