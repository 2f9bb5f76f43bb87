/*
 * rawjson: see rawjson.h. DESIGN: a recursive-descent scanner over bytes with
 * a position and a depth bound (recursion is at most RAWJSON_DEPTH_MAX deep);
 * every rule consumes its token or fails, nothing is allocated. The checks are
 * jansson's (UTF-8, escapes, \u0000, depth) so that what we copy through is
 * what jansson would have accepted, except number ranges and duplicate names.
 */
#include "rawjson.h"

#include <stdint.h>
#include <string.h>

#include "dump.h"

struct rawjson_scan {
	const unsigned char *s;
	size_t len, i;
	bool compact;
};

static inline void rawjson_ws(struct rawjson_scan *p)
{
	size_t start = p->i;

	if (start < p->len && p->s[start] > ' ')
		return; /* the usual case in compact text */
	while (p->i < p->len && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
	                         p->s[p->i] == '\r'))
		p->i++;
	if (p->i != start)
		p->compact = false;
}

static int rawjson_hex4(const unsigned char *h, unsigned *out)
{
	unsigned v = 0;

	for (int k = 0; k < 4; k++) {
		unsigned char c = h[k];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Whether any of the 8 bytes at s needs a look: a control byte, '"', '\\' or >= 0x80. */
static inline bool rawjson_special8(const unsigned char *s)
{
	const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
	uint64_t x, q, b;

	memcpy(&x, s, 8);
	q = x ^ (ones * '"');
	b = x ^ (ones * '\\');
	return (((x - ones * 0x20) | (q - ones) | (b - ones)) & ~x & high) != 0 || (x & high) != 0;
}

/* A string token at p->i (which holds '"'); on success p->i is past the closing quote
 * and *escaped tells whether it holds a backslash escape. */
static int rawjson_string(struct rawjson_scan *p, bool *escaped)
{
	const unsigned char *s = p->s;
	size_t i = p->i + 1;

	*escaped = false;
	for (;;) {
		unsigned char c;

		while (i + 8 <= p->len && !rawjson_special8(s + i))
			i += 8;
		if (i >= p->len)
			return -1;
		c = s[i];
		if (c == '"') {
			p->i = i + 1;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			unsigned u, lo;

			*escaped = true;
			if (i + 1 >= p->len)
				return -1;
			c = s[i + 1];
			if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
			    c == 'r' || c == 't') {
				i += 2;
				continue;
			}
			if (c != 'u' || i + 6 > p->len || rawjson_hex4(s + i + 2, &u) < 0)
				return -1;
			i += 6;
			if (u == 0 || (u >= 0xdc00 && u <= 0xdfff))
				return -1;
			if (u >= 0xd800 && u <= 0xdbff) {
				if (i + 6 > p->len || s[i] != '\\' || s[i + 1] != 'u' ||
				    rawjson_hex4(s + i + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
					return -1;
				i += 6;
			}
			continue;
		}
		if (c >= 0x80) {
			size_t n = dump_utf8_seq(s + i, p->len - i, NULL);

			if (n == 0)
				return -1;
			i += n;
			continue;
		}
		i++;
	}
}

static size_t rawjson_digits(struct rawjson_scan *p)
{
	size_t start = p->i;

	while (p->i < p->len && p->s[p->i] >= '0' && p->s[p->i] <= '9')
		p->i++;
	return p->i - start;
}

static int rawjson_number(struct rawjson_scan *p)
{
	if (p->i < p->len && p->s[p->i] == '-')
		p->i++;
	if (p->i < p->len && p->s[p->i] == '0')
		p->i++;
	else if (rawjson_digits(p) == 0)
		return -1;
	if (p->i < p->len && p->s[p->i] == '.') {
		p->i++;
		if (rawjson_digits(p) == 0)
			return -1;
	}
	if (p->i < p->len && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
		p->i++;
		if (p->i < p->len && (p->s[p->i] == '+' || p->s[p->i] == '-'))
			p->i++;
		if (rawjson_digits(p) == 0)
			return -1;
	}
	return 0;
}

static int rawjson_word(struct rawjson_scan *p, const char *w, size_t n)
{
	if (p->len - p->i < n || memcmp(p->s + p->i, w, n) != 0)
		return -1;
	p->i += n;
	return 0;
}

static int rawjson_object(struct rawjson_scan *p, int depth, struct rawjson_member *m,
                          const size_t *nlen, size_t n);
static int rawjson_array(struct rawjson_scan *p, int depth);

/* After an element or member: `close` ends the container (1); ',' means another one
 * follows (0, the whitespace after it skipped); anything else is malformed (-1). */
static int rawjson_sep(struct rawjson_scan *p, char close)
{
	rawjson_ws(p);
	if (p->i >= p->len)
		return -1;
	if (p->s[p->i] == (unsigned char)close) {
		p->i++;
		return 1;
	}
	if (p->s[p->i] != ',')
		return -1;
	p->i++;
	rawjson_ws(p);
	return 0;
}

static int rawjson_value(struct rawjson_scan *p, int depth)
{
	bool escaped;

	if (p->i >= p->len)
		return -1;
	switch (p->s[p->i]) {
	case '{':
		return rawjson_object(p, depth + 1, NULL, NULL, 0);
	case '[':
		return rawjson_array(p, depth + 1);
	case '"':
		return rawjson_string(p, &escaped);
	case 't':
		return rawjson_word(p, "true", 4);
	case 'f':
		return rawjson_word(p, "false", 5);
	case 'n':
		return rawjson_word(p, "null", 4);
	default:
		return rawjson_number(p);
	}
}

static int rawjson_array(struct rawjson_scan *p, int depth)
{
	if (depth > RAWJSON_DEPTH_MAX)
		return -1;
	p->i++; /* '[' */
	rawjson_ws(p);
	if (p->i < p->len && p->s[p->i] == ']') {
		p->i++;
		return 0;
	}
	for (;;) {
		if (rawjson_value(p, depth) < 0)
			return -1;
		switch (rawjson_sep(p, ']')) {
		case 1:
			return 0;
		case -1:
			return -1;
		}
	}
}

/* The member of m named by the key token s[k .. k + klen) (quotes included), or NULL;
 * nlen[] are the names' lengths. */
static struct rawjson_member *rawjson_lookup(const unsigned char *s, size_t k, size_t klen,
                                             bool escaped, struct rawjson_member *m,
                                             const size_t *nlen, size_t n)
{
	char buf[RAWJSON_NAME_MAX];
	const char *name = (const char *)s + k + 1;
	size_t len = klen - 2;

	if (escaped &&
	    rawjson_string_decode((const char *)s + k, klen, buf, sizeof(buf), &name, &len) < 0)
		return NULL;
	for (size_t j = 0; j < n; j++)
		if (nlen[j] == len && memcmp(m[j].name, name, len) == 0)
			return &m[j];
	return NULL;
}

static int rawjson_object(struct rawjson_scan *p, int depth, struct rawjson_member *m,
                          const size_t *nlen, size_t n)
{
	struct rawjson_member *pending = NULL; /* found, waiting for the next member's start */
	size_t prev_end = 0;
	bool first = true;

	if (depth > RAWJSON_DEPTH_MAX)
		return -1;
	p->i++; /* '{' */
	rawjson_ws(p);
	if (p->i < p->len && p->s[p->i] == '}') {
		p->i++;
		return 0;
	}
	for (;;) {
		struct rawjson_member *hit = NULL;
		size_t k = p->i, v;
		bool escaped;

		if (p->i >= p->len || p->s[p->i] != '"' || rawjson_string(p, &escaped) < 0)
			return -1;
		if (pending != NULL) { /* the first member was found: cut up to this one */
			pending->cut_len = k - pending->cut;
			pending = NULL;
		}
		if (n > 0)
			hit = rawjson_lookup(p->s, k, p->i - k, escaped, m, nlen, n);
		if (hit != NULL && hit->found)
			return -1;
		rawjson_ws(p);
		if (p->i >= p->len || p->s[p->i] != ':')
			return -1;
		p->i++;
		rawjson_ws(p);
		v = p->i;
		if (hit != NULL && p->i < p->len && p->s[p->i] == '"') {
			if (rawjson_string(p, &hit->escaped) < 0)
				return -1;
		} else if (rawjson_value(p, depth) < 0) {
			return -1;
		}
		if (hit != NULL) {
			hit->found = true;
			hit->val = v;
			hit->val_len = p->i - v;
			if (first) {
				hit->cut = k;
				hit->cut_len = p->i - k;
				pending = hit;
			} else {
				hit->cut = prev_end;
				hit->cut_len = p->i - prev_end;
			}
		}
		first = false;
		prev_end = p->i;
		switch (rawjson_sep(p, '}')) {
		case 1:
			return 0;
		case -1:
			return -1;
		}
	}
}

int rawjson_object_scan(const char *s, size_t len, struct rawjson_member *m, size_t n,
                        bool *compact)
{
	struct rawjson_scan p = {(const unsigned char *)s, len, 0, true};
	size_t nlen[RAWJSON_MEMBERS_MAX];

	if (n > RAWJSON_MEMBERS_MAX)
		return -1;
	for (size_t j = 0; j < n; j++) {
		m[j].found = m[j].escaped = false;
		m[j].val = m[j].val_len = m[j].cut = m[j].cut_len = 0;
		nlen[j] = strlen(m[j].name);
	}
	rawjson_ws(&p);
	if (p.i >= len || p.s[p.i] != '{' || rawjson_object(&p, 1, m, nlen, n) < 0)
		return -1;
	rawjson_ws(&p);
	if (p.i != len)
		return -1;
	*compact = p.compact;
	return 0;
}

size_t rawjson_copy(char *out, const char *s, size_t len, bool compact)
{
	bool in_str = false;
	size_t o = 0;

	if (compact) {
		memcpy(out, s, len);
		return len;
	}
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (in_str) {
			out[o++] = c;
			if (c == '\\' && i + 1 < len)
				out[o++] = s[++i];
			else if (c == '"')
				in_str = false;
		} else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			continue;
		} else {
			out[o++] = c;
			in_str = c == '"';
		}
	}
	return o;
}

/* Append code point cp as UTF-8 to buf[*o..cap); -1 when it does not fit. */
static int rawjson_put_utf8(char *buf, size_t cap, size_t *o, unsigned cp)
{
	unsigned char t[4];
	size_t n;

	if (cp < 0x80) {
		t[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		t[0] = (unsigned char)(0xc0 | (cp >> 6));
		t[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		t[0] = (unsigned char)(0xe0 | (cp >> 12));
		t[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		t[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		t[0] = (unsigned char)(0xf0 | (cp >> 18));
		t[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		t[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		t[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (cap - *o < n)
		return -1;
	memcpy(buf + *o, t, n);
	*o += n;
	return 0;
}

int rawjson_string_decode(const char *s, size_t len, char *buf, size_t cap, const char **out,
                          size_t *out_len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t o = 0;

	if (len < 2 || s[0] != '"' || s[len - 1] != '"')
		return -1;
	if (memchr(s + 1, '\\', len - 2) == NULL) {
		*out = s + 1;
		*out_len = len - 2;
		return 0;
	}
	for (size_t i = 1; i + 1 < len; i++) {
		unsigned cp, lo;

		if (u[i] != '\\') {
			if (o >= cap)
				return -1;
			buf[o++] = s[i];
			continue;
		}
		if (i + 2 >= len)
			return -1;
		switch (s[++i]) {
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case 'u':
			if (i + 5 >= len || rawjson_hex4(u + i + 1, &cp) < 0)
				return -1;
			i += 4;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (i + 7 >= len || s[i + 1] != '\\' || s[i + 2] != 'u' ||
				    rawjson_hex4(u + i + 3, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
					return -1;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			}
			break;
		default: /* '"', '\\', '/' */
			cp = u[i];
			break;
		}
		if (rawjson_put_utf8(buf, cap, &o, cp) < 0)
			return -1;
	}
	*out = buf;
	*out_len = o;
	return 0;
}
