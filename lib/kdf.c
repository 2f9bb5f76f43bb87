/*
 * kdf: see kdf.h. libxcrypt's ownership rules: crypt_rn and crypt_gensalt_rn
 * write only into the buffers we pass (struct crypt_data, salt), nothing to free;
 * on failure crypt_rn returns NULL (or a string starting with '*'). The crypt
 * data is wiped before it is freed, since it held the password.
 */
#include "kdf.h"

#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "xmalloc.h"

_Static_assert(KDF_HASH_MAX >= CRYPT_OUTPUT_SIZE, "KDF_HASH_MAX below CRYPT_OUTPUT_SIZE");

/* yescrypt of a throw-away phrase with the default cost (what kdf_hash makes). */
static const char kdf_dummy[] =
    "$y$j9T$joesu7d6yU/w10NkRHhGu/$Xrc6urE1w/yMv4GsebnsJhvyo38.OqV1HkgWLstz4o3";

int kdf_password_check(const char *password, size_t len, struct err *e)
{
	if (len == 0)
		return err_set(e, ERR_INVALID, "empty password");
	if (len > KDF_PASSWORD_MAX)
		return err_set(e, ERR_TOO_LARGE, "password longer than %d bytes", KDF_PASSWORD_MAX);
	if (memchr(password, '\0', len) != NULL)
		return err_set(e, ERR_INVALID, "password contains a NUL byte");
	return 0;
}

/* crypt_rn of password with setting; new struct crypt_data or NULL. */
static struct crypt_data *kdf_crypt(const char *password, const char *setting)
{
	struct crypt_data *d = xcalloc(1, sizeof(*d));
	const char *r = crypt_rn(password, setting, d, (int)sizeof(*d));

	if (r == NULL || r[0] == '*') {
		explicit_bzero(d, sizeof(*d));
		free(d);
		return NULL;
	}
	return d;
}

static void kdf_data_free(struct crypt_data *d)
{
	if (d == NULL)
		return;
	explicit_bzero(d, sizeof(*d));
	free(d);
}

int kdf_hash(const char *password, char out[KDF_HASH_MAX], struct err *e)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *d;

	if (kdf_password_check(password, strlen(password), e) < 0)
		return -1;
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, (int)sizeof(salt)) == NULL)
		return err_set(e, ERR_INTERNAL, "crypt_gensalt_rn: %s", ERR_ERRNO(errno));
	d = kdf_crypt(password, salt);
	if (d == NULL)
		return err_set(e, ERR_INTERNAL, "crypt_rn failed: %s", ERR_ERRNO(errno));
	if (strlen(d->output) >= KDF_HASH_MAX) {
		kdf_data_free(d);
		return err_set(e, ERR_INTERNAL, "crypt_rn: hash too long");
	}
	memcpy(out, d->output, strlen(d->output) + 1);
	kdf_data_free(d);
	return 0;
}

bool kdf_verify(const char *password, const char *hash)
{
	struct crypt_data *d;
	size_t n;
	bool ok;

	if (hash == NULL || hash[0] != '$' || strlen(hash) >= KDF_HASH_MAX ||
	    kdf_password_check(password, strlen(password), NULL) < 0) {
		kdf_burn(password);
		return false;
	}
	d = kdf_crypt(password, hash);
	if (d == NULL)
		return false;
	n = strlen(hash);
	ok = strlen(d->output) == n && CRYPTO_memcmp(d->output, hash, n) == 0;
	kdf_data_free(d);
	return ok;
}

void kdf_burn(const char *password)
{
	char cut[KDF_PASSWORD_MAX + 1];
	size_t n = strnlen(password, KDF_PASSWORD_MAX);

	/* A too long or empty password still costs one yescrypt run. */
	memcpy(cut, password, n);
	cut[n] = '\0';
	if (n == 0)
		memcpy(cut, "-", 2);
	kdf_data_free(kdf_crypt(cut, kdf_dummy));
	explicit_bzero(cut, sizeof(cut));
}
