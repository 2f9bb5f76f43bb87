/*
 * fuzz_time: libFuzzer target for the time parser. It feeds arbitrary bytes
 * through caserender_time, the same path the data-folder cases in
 * tests/data/time/ take, so every crash found here is a missing case there.
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
	free(caserender_time(input, size));
	free(input);
	return 0;
}
