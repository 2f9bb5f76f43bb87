/*
 * fuzz_livejson: libFuzzer target for fcgi/livejson.c. The input is split at 0x01
 * bytes into pieces dealt out as hash fields and values of the three hashes and as
 * the two strings of a struct store_raw (each piece its own allocation, so ASan sees
 * any read past a value); both bodies must then be one compact JSON object (as
 * rawjson_object_scan, which fuzz_rawjson checks against jansson, sees it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../fcgi/livejson.h"
#include "../../fcgi/rawjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PIECES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_pair pairs[3][FUZZ_PIECES / 2];
	char *piece[FUZZ_PIECES];
	size_t plen[FUZZ_PIECES], np = 0, start = 0;
	struct store_raw raw;
	char *body;
	size_t len;
	bool compact;

	for (size_t i = 0; i <= size && np < FUZZ_PIECES; i++) {
		if (i < size && data[i] != 1)
			continue;
		plen[np] = i - start;
		piece[np] = malloc(plen[np] ? plen[np] : 1);
		memcpy(piece[np], data + start, plen[np]);
		np++;
		start = i + 1;
	}
	memset(&raw, 0, sizeof(raw));
	for (size_t k = 0; k < 2 && k < np; k++)
		raw.strings[k] = (struct store_bytes){piece[k], plen[k]};
	for (size_t k = 2; k + 1 < np; k += 2) {
		size_t h = (k / 2) % 3;
		struct store_pairs *ps = &raw.hashes[h];

		ps->v = pairs[h];
		ps->v[ps->n].field = (struct store_bytes){piece[k], plen[k]};
		ps->v[ps->n].value = (struct store_bytes){piece[k + 1], plen[k + 1]};
		ps->n++;
	}
	body = livejson_status(&raw, "2026-11-22T18:30:00.000Z", NULL, &len);
	if (rawjson_object_scan(body, len, NULL, 0, &compact) < 0 || !compact)
		abort();
	free(body);
	body = livejson_vms(&raw, NULL, &len);
	if (rawjson_object_scan(body, len, NULL, 0, &compact) < 0 || !compact)
		abort();
	free(body);
	for (size_t k = 0; k < np; k++)
		free(piece[k]);
	return 0;
}
