/*
 * urlcode: see urlcode.h.
 */
#include "urlcode.h"

#include <stdlib.h>

#include "xmalloc.h"

static int urlcode_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int urlcode_decode(const char *s, size_t len, bool plus_as_space, char **out)
{
	char *d = xmalloc(len + 1);
	size_t j = 0;

	*out = NULL;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '+' && plus_as_space) {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (len - i < 3)
				goto bad;
			hi = urlcode_hex(s[i + 1]);
			lo = urlcode_hex(s[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0')
			goto bad;
		d[j++] = c;
	}
	d[j] = '\0';
	*out = d;
	return 0;
bad:
	free(d);
	return -1;
}
