/*
 * render: the libFuzzer driver for every parser that has data-folder cases. Built
 * once per parser with -DFUZZ_RENDER=caserender_<parser> (see FUZZ_PARSERS in the
 * Makefile): arbitrary bytes go through the same render function as the cases in
 * tests/data/<parser>/, so the fuzzed path is the tested path and every crash found
 * here is a missing case there. Targets that check more (fuzz_rawjson) have their own
 * tests/fuzz/fuzz_*.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_RENDER
#error "build with -DFUZZ_RENDER=caserender_<parser>"
#endif

char *FUZZ_RENDER(const char *input, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *input = malloc(size + 1);

	if (input == NULL)
		return 0;
	memcpy(input, data, size);
	input[size] = '\0';
	free(FUZZ_RENDER(input, size));
	free(input);
	return 0;
}
