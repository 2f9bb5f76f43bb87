/*
 * fuzz_memdumpd_journal: libFuzzer target for memdumpd's parser behind
 * caserender_memdumpd_journal (the path of the cases in tests/data/memdumpd_journal/).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/support/caserender_memdumpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *input = malloc(size + 1);

	if (input == NULL)
		return 0;
	memcpy(input, data, size);
	input[size] = '\0';
	free(caserender_memdumpd_journal(input, size));
	free(input);
	return 0;
}
