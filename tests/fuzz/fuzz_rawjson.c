/*
 * fuzz_rawjson: libFuzzer target for fcgi/rawjson.c, differential against jansson.
 * Arbitrary bytes go through rawjson_object_scan (looking up "name" and "latest");
 * whenever jansson accepts them as an object within the depth cap with no duplicate
 * names, the scanner must accept them too, and the compact copy must parse to an
 * equal value. Whatever the scanner accepts must copy to a text it accepts again,
 * compact and no longer, and cutting a found member must leave a valid object.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../fcgi/rawjson.h"
#include "json_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_cut(const char *s, size_t size, const struct rawjson_member *m, bool compact)
{
	char *out = malloc(size + 1);
	size_t n;
	bool c2;

	if (out == NULL)
		return;
	n = rawjson_copy(out, s, m->cut, compact);
	n += rawjson_copy(out + n, s + m->cut + m->cut_len, size - m->cut - m->cut_len, compact);
	if (rawjson_object_scan(out, n, NULL, 0, &c2) < 0 || !c2)
		abort();
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct rawjson_member m[2] = {{.name = "name"}, {.name = "latest"}};
	json_t *want = jsonu_parse(s, size, size + 1, RAWJSON_DEPTH_MAX, NULL);
	bool compact = false, c2;
	int rc = rawjson_object_scan(s, size, m, 2, &compact);
	char *out;
	size_t n;

	if (want != NULL && json_is_object(want) && rc < 0 && memchr(s, '\0', size) == NULL)
		abort(); /* jansson accepted an object the scanner refused */
	if (rc == 0) {
		out = malloc(size + 1);
		if (out == NULL)
			goto out;
		n = rawjson_copy(out, s, size, compact);
		if (n > size || rawjson_object_scan(out, n, NULL, 0, &c2) < 0 || !c2)
			abort();
		if (want != NULL) {
			json_t *got = json_loadb(out, n, 0, NULL);

			if (got == NULL || !json_equal(got, want))
				abort();
			json_decref(got);
		}
		free(out);
		for (int i = 0; i < 2; i++)
			if (m[i].found)
				fuzz_check_cut(s, size, &m[i], compact);
	}
out:
	json_decref(want);
	return 0;
}
