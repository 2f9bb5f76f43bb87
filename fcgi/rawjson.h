/*
 * rawjson: checks and copies JSON texts without building a tree, for answers
 * assembled from values that are already JSON (the compact texts in Redis).
 * rawjson_object_scan validates one object in a single pass (no allocation)
 * and finds the top-level members a caller asks for; rawjson_copy writes the
 * text compactly; rawjson_string_decode reads a string token. Pure functions
 * over bytes, thread-safe; offsets are into the caller's buffer.
 */
#ifndef MEMDUMP_RAWJSON_H
#define MEMDUMP_RAWJSON_H

#include <stdbool.h>
#include <stddef.h>

#define RAWJSON_DEPTH_MAX 32  /* as JSONU_MAX_DEPTH: the object itself is level 1 */
#define RAWJSON_NAME_MAX 64   /* member names looked up are shorter than this */
#define RAWJSON_MEMBERS_MAX 8 /* members looked up in one scan */

/* A top-level member to look up: name is in, the rest is out. */
struct rawjson_member {
	const char *name; /* plain name (no escapes needed), borrowed */
	bool found;
	bool escaped;        /* the value is a string token with a backslash escape */
	size_t val, val_len; /* the value's text: s[val .. val + val_len) */
	size_t cut, cut_len; /* removing s[cut .. cut + cut_len) drops the member and one comma */
};

/*
 * 0 when s[0..len) is exactly one JSON object (RFC 8259 grammar, whitespace
 * around it allowed), in valid UTF-8 (no overlong forms, no surrogates), with no
 * \u0000 or unpaired surrogate escape, nested at most RAWJSON_DEPTH_MAX deep, and
 * none of the n (at most RAWJSON_MEMBERS_MAX) members of m named twice at its top level (other
 * duplicate names are not checked: JSON allows them, jansson would refuse them). -1 otherwise.
 * Fills m[] (found false when absent) and *compact: no whitespace outside strings.
 * Numbers are checked for syntax, not range.
 */
int rawjson_object_scan(const char *s, size_t len, struct rawjson_member *m, size_t n,
                        bool *compact);

/* Copy a text rawjson_object_scan accepted (or a piece of one that starts and ends
 * outside strings) to out without whitespace outside strings; returns the bytes
 * written (at most len). compact true: a plain copy. */
size_t rawjson_copy(char *out, const char *s, size_t len, bool compact);

/*
 * A string token s[0..len) (quotes included, validated by rawjson_object_scan):
 * its UTF-8 content. Without escapes *out points into s; otherwise it is decoded
 * into buf (cap bytes). -1 when s is not a string token or buf is too small.
 */
int rawjson_string_decode(const char *s, size_t len, char *buf, size_t cap, const char **out,
                          size_t *out_len);

#endif
