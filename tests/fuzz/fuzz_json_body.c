/*
 * fuzz_json_body: libFuzzer target for the json_body parser. It feeds arbitrary bytes
 * through caserender_json_body, the same path the data-folder cases in
 * tests/data/json_body/ take, so every crash found here is a missing case there.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/support/caserender.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *input = malloc(size + 1);

	if (input == NULL)
		return 0;
	memcpy(input, data, size);
	input[size] = '\0';
	free(caserender_json_body(input, size));
	free(input);
	return 0;
}
