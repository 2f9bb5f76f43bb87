/*
 * kdf: password hashing, the only module that touches libxcrypt (<crypt.h>).
 * Hashes are yescrypt crypt(3) strings ("$y$..."), salted from the system's
 * random source by crypt_gensalt_rn. kdf_verify compares in constant time;
 * kdf_burn spends the time of one verification, so a login for an unknown
 * user takes as long as one for a known user. Thread-safe (crypt_rn with a
 * per-call struct crypt_data on the heap); no global state.
 */
#ifndef MEMDUMP_KDF_H
#define MEMDUMP_KDF_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define KDF_HASH_MAX 384 /* CRYPT_OUTPUT_SIZE */
#define KDF_PASSWORD_MAX 1024

/* A password of len bytes: 1..KDF_PASSWORD_MAX, no NUL byte (0 or -1 with e). */
int kdf_password_check(const char *password, size_t len, struct err *e);
/* yescrypt hash of password into out (0, or -1 with e). */
int kdf_hash(const char *password, char out[KDF_HASH_MAX], struct err *e);
/* Does password match hash? false for a bad password or hash (hash may be NULL;
 * the time of one verification is spent anyway). */
bool kdf_verify(const char *password, const char *hash);
/* Spend the time of one verification (for unknown users). */
void kdf_burn(const char *password);

#endif
