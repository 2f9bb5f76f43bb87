/*
 * fuzz_redis_url: libFuzzer target for store_url_parse (REDIS_URL). It feeds
 * arbitrary bytes through caserender_redis_url, the same path the data-folder
 * cases in tests/data/redis_url/ take.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/support/caserender_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *input = malloc(size + 1);

	if (input == NULL)
		return 0;
	memcpy(input, data, size);
	input[size] = '\0';
	free(caserender_redis_url(input, size));
	free(input);
	return 0;
}
