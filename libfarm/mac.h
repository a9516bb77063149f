/* mac: the MAC of a <machineKey> validation algorithm, keyed once and reused.
 *
 *   HMAC (SHA1, HMACSHA256/384/512; AES and 3DES validation use HMAC-SHA1)
 *   MD5  ASP.NET's legacy secret-suffix hash: MD5(data || key), not HMAC. With a ViewState
 *        modifier, ASP.NET overwrites the modifier with the key, leaving zeros:
 *        MD5(data || key || 00 x modifier_len).
 *
 * A struct mac is not thread-safe: one per thread. */
#ifndef FARM_MAC_H
#define FARM_MAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "machinekey.h"

#define MAC_MAX 64

struct mac {
    bool md5;
    size_t size;       /* output bytes */
    EVP_MAC_CTX *hmac; /* HMAC keyed with the key (owned) */
    EVP_MD_CTX *md;    /* MD5 work context (owned) */
    const EVP_MD *md5_md;
    uint8_t key[MK_KEY_MAX];
    size_t key_len;
};

/* Key a MAC for algorithm alg. Returns 0 or -1. */
int mac_init(struct mac *m, enum mk_validation alg, const uint8_t *key, size_t key_len);
void mac_cleanup(struct mac *m);

/* MAC of data || extra (extra: a ViewState modifier; may be NULL/0). out gets m->size. */
int mac_compute(struct mac *m, const uint8_t *data, size_t len, const uint8_t *extra,
                size_t extra_len, uint8_t *out);

/* Constant-time check of expected against the MAC of data || extra. */
bool mac_verify(struct mac *m, const uint8_t *data, size_t len, const uint8_t *extra,
                size_t extra_len, const uint8_t *expected);

#endif
