#include "kdf.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

int kdf_sp800108(const uint8_t *key, size_t key_len, const uint8_t *label, size_t label_len,
                 const uint8_t *context, size_t context_len, uint8_t *out, size_t out_len)
{
    int rc = -1;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "KBKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    if (ctx == NULL)
        goto fail;

    /* OpenSSL's KBKDF writes counter || label || 0x00 || context || L, with a 32-bit
     * counter and L in bits: the same bytes ASP.NET feeds its PRF. */
    OSSL_PARAM params[8];
    size_t n = 0;
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, "counter", 0);
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, "HMAC", 0);
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA512", 0);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)label, label_len);
    params[n++] =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)context, context_len);
    params[n] = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(ctx, out, out_len, params) != 1)
        goto fail;
    rc = 0;
fail:
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return rc;
}

long kdf_purpose_context(const char *const *specific, size_t n, uint8_t *out, size_t cap)
{
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(specific[i]);
        /* 7-bit encoded length, little-endian groups, high bit = more. */
        size_t v = len;
        do {
            if (used >= cap)
                return -1;
            uint8_t b = (uint8_t)(v & 0x7f);
            v >>= 7;
            out[used++] = v ? (uint8_t)(b | 0x80) : b;
        } while (v);
        if (len > cap - used)
            return -1;
        memcpy(out + used, specific[i], len);
        used += len;
    }
    return (long)used;
}
