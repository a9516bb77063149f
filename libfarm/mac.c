#include "mac.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

static const char *hmac_digest(enum mk_validation alg)
{
    switch (alg) {
    case MK_VALIDATION_SHA1:
    case MK_VALIDATION_AES:
    case MK_VALIDATION_3DES:
        return "SHA1";
    case MK_VALIDATION_HMACSHA256:
        return "SHA256";
    case MK_VALIDATION_HMACSHA384:
        return "SHA384";
    case MK_VALIDATION_HMACSHA512:
        return "SHA512";
    case MK_VALIDATION_MD5:
    case MK_VALIDATION_COUNT:
        break;
    }
    return NULL;
}

int mac_init(struct mac *m, enum mk_validation alg, const uint8_t *key, size_t key_len)
{
    memset(m, 0, sizeof *m);
    if (key_len > sizeof m->key)
        return -1;
    memcpy(m->key, key, key_len);
    m->key_len = key_len;
    m->size = mk_validation_mac_size(alg);

    if (alg == MK_VALIDATION_MD5) {
        m->md5 = true;
        m->md5_md = EVP_MD_fetch(NULL, "MD5", NULL);
        m->md = EVP_MD_CTX_new();
        if (m->md5_md == NULL || m->md == NULL)
            goto fail;
        return 0;
    }

    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (hmac == NULL)
        goto fail;
    m->hmac = EVP_MAC_CTX_new(hmac);
    EVP_MAC_free(hmac);
    if (m->hmac == NULL)
        goto fail;
    OSSL_PARAM params[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)hmac_digest(alg), 0),
        OSSL_PARAM_construct_end(),
    };
    /* Keyed once here; mac_compute re-initialises with a NULL key, which reuses it. */
    if (EVP_MAC_init(m->hmac, key, key_len, params) != 1)
        goto fail;
    return 0;
fail:
    mac_cleanup(m);
    return -1;
}

void mac_cleanup(struct mac *m)
{
    EVP_MAC_CTX_free(m->hmac);
    EVP_MD_CTX_free(m->md);
    EVP_MD_free((EVP_MD *)m->md5_md);
    OPENSSL_cleanse(m, sizeof *m);
}

int mac_compute(struct mac *m, const uint8_t *data, size_t len, const uint8_t *extra,
                size_t extra_len, uint8_t *out)
{
    if (m->md5) {
        static const uint8_t zeros[64];
        if (EVP_DigestInit_ex(m->md, m->md5_md, NULL) != 1 ||
            EVP_DigestUpdate(m->md, data, len) != 1 ||
            EVP_DigestUpdate(m->md, m->key, m->key_len) != 1)
            return -1;
        for (size_t left = extra_len; left > 0;) {
            size_t n = left < sizeof zeros ? left : sizeof zeros;
            if (EVP_DigestUpdate(m->md, zeros, n) != 1)
                return -1;
            left -= n;
        }
        unsigned int outl = 0;
        return EVP_DigestFinal_ex(m->md, out, &outl) == 1 && outl == m->size ? 0 : -1;
    }
    size_t outl = 0;
    if (EVP_MAC_init(m->hmac, NULL, 0, NULL) != 1 || EVP_MAC_update(m->hmac, data, len) != 1)
        return -1;
    if (extra_len > 0 && EVP_MAC_update(m->hmac, extra, extra_len) != 1)
        return -1;
    if (EVP_MAC_final(m->hmac, out, &outl, MAC_MAX) != 1 || outl != m->size)
        return -1;
    return 0;
}

bool mac_verify(struct mac *m, const uint8_t *data, size_t len, const uint8_t *extra,
                size_t extra_len, const uint8_t *expected)
{
    uint8_t got[MAC_MAX];
    if (mac_compute(m, data, len, extra, extra_len, got) != 0)
        return false;
    /* A MAC value is not a secret: no need to wipe it. */
    return CRYPTO_memcmp(got, expected, m->size) == 0;
}
