/*
 * caserender_memdumpd: memdumpd's parsers rendered as text (see the header).
 */
#include "caserender_memdumpd.h"

#include <stdlib.h>
#include <string.h>

#include "../../../memdumpd/job.h"
#include "../../../memdumpd/request.h"
#include "json_util.h"
#include "xmalloc.h"

char *caserender_memdumpd_body(const char *input, size_t len)
{
	struct request_create rq;
	struct err e = {0};

	if (request_create_parse(input, len, &rq, &e) < 0)
		return xasprintf("error: %s: %s", rq.bad_json ? "invalid_json" : "invalid_field",
		                 e.msg);
	return xasprintf("vm: %s\nformat: %s\nrequested_by: %s", rq.vm, dump_format_name(rq.format),
	                 rq.requested_by[0] != '\0' ? rq.requested_by : "null");
}

char *caserender_memdumpd_range(const char *input, size_t len)
{
	const char *nl = memchr(input, '\n', len);
	unsigned long long size = 0, first = 0, last = 0;
	struct err e = {0};
	char *hdr;
	char *out;

	if (nl == NULL || nl == input || nl - input > 19)
		return xstrdup("error: invalid: input is 'SIZE\\nRANGE'");
	for (const char *p = input; p < nl; p++) {
		if (*p < '0' || *p > '9')
			return xstrdup("error: invalid: SIZE must be digits");
		size = size * 10 + (unsigned long long)(*p - '0');
	}
	hdr = xstrndup(nl + 1, len - (size_t)(nl + 1 - input));
	hdr[strcspn(hdr, "\n")] = '\0';
	if (request_range_parse(hdr, size, &first, &last, &e) < 0)
		out = xasprintf("error: %s: %s", err_code_name(e.code), e.msg);
	else
		out = xasprintf("first: %llu\nlast: %llu", first, last);
	free(hdr);
	return out;
}

char *caserender_memdumpd_journal(const char *input, size_t len)
{
	struct err e = {0};
	struct job *j = job_from_json(input, len, &e);
	json_t *o;
	char *out;

	if (j == NULL)
		return xasprintf("error: %s: %s", err_code_name(e.code), e.msg);
	o = job_to_json(j);
	out = jsonu_dump(o);
	json_decref(o);
	job_free(j);
	return out;
}
