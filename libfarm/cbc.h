/* cbc: the <machineKey> ciphers in CBC mode with PKCS#7 padding (the .NET defaults),
 * keyed once and reused. DES runs as 3DES with K||K||K and 2-key 3DES as K1||K2||K1, so
 * OpenSSL's legacy provider is never needed. Not thread-safe: one per thread. */
#ifndef FARM_CBC_H
#define FARM_CBC_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "machinekey.h"

struct cbc {
    EVP_CIPHER_CTX *enc; /* owned */
    EVP_CIPHER_CTX *dec; /* owned */
    size_t block;
    size_t key_len; /* the key as configured (8 for DES) */
};

/* key_len must suit the cipher: DES 8, 3DES 16 or 24, AES 16, 24 or 32. Returns 0 or -1. */
int cbc_init(struct cbc *c, enum mk_cipher cipher, const uint8_t *key, size_t key_len);
void cbc_cleanup(struct cbc *c);

/* out must hold len + block bytes. Returns the ciphertext length or -1. */
long cbc_encrypt(struct cbc *c, const uint8_t *iv, const uint8_t *in, size_t len, uint8_t *out);

/* len must be a multiple of the block size; out must hold len + block bytes. Returns the plaintext
 * length, or -1 on bad length or bad padding. Call only on authenticated ciphertext. */
long cbc_decrypt(struct cbc *c, const uint8_t *iv, const uint8_t *in, size_t len, uint8_t *out);

#endif
