/*
 * fuzz_query: libFuzzer target for memdump-api's query parser, through
 * caserender_query (the path of the data-folder cases in tests/data/query/).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/support/caserender_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *input = malloc(size + 1);

	if (input == NULL)
		return 0;
	memcpy(input, data, size);
	input[size] = '\0';
	free(caserender_query(input, size));
	free(input);
	return 0;
}
