#include "cbc.h"

#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>

int cbc_init(struct cbc *c, enum mk_cipher cipher, const uint8_t *key, size_t key_len)
{
    memset(c, 0, sizeof *c);
    uint8_t k[32];
    const char *name = NULL;

    switch (cipher) {
    case MK_CIPHER_DES:
        if (key_len != 8)
            return -1;
        memcpy(k, key, 8);
        memcpy(k + 8, key, 8);
        memcpy(k + 16, key, 8);
        name = "DES-EDE3-CBC";
        c->block = 8;
        break;
    case MK_CIPHER_3DES:
        if (key_len != 16 && key_len != 24)
            return -1;
        memcpy(k, key, key_len);
        if (key_len == 16)
            memcpy(k + 16, key, 8);
        name = "DES-EDE3-CBC";
        c->block = 8;
        break;
    case MK_CIPHER_AES:
        if (key_len != 16 && key_len != 24 && key_len != 32)
            return -1;
        memcpy(k, key, key_len);
        name = key_len == 16 ? "AES-128-CBC" : key_len == 24 ? "AES-192-CBC" : "AES-256-CBC";
        c->block = 16;
        break;
    case MK_CIPHER_COUNT:
        return -1;
    }
    c->key_len = key_len;

    EVP_CIPHER *ciph = EVP_CIPHER_fetch(NULL, name, NULL);
    c->enc = EVP_CIPHER_CTX_new();
    c->dec = EVP_CIPHER_CTX_new();
    int ok = ciph != NULL && c->enc != NULL && c->dec != NULL &&
             EVP_EncryptInit_ex2(c->enc, ciph, k, NULL, NULL) == 1 &&
             EVP_DecryptInit_ex2(c->dec, ciph, k, NULL, NULL) == 1;
    EVP_CIPHER_free(ciph);
    OPENSSL_cleanse(k, sizeof k);
    if (!ok) {
        cbc_cleanup(c);
        return -1;
    }
    return 0;
}

void cbc_cleanup(struct cbc *c)
{
    EVP_CIPHER_CTX_free(c->enc);
    EVP_CIPHER_CTX_free(c->dec);
    c->enc = c->dec = NULL;
}

long cbc_encrypt(struct cbc *c, const uint8_t *iv, const uint8_t *in, size_t len, uint8_t *out)
{
    int n1 = 0, n2 = 0;
    if (len > INT_MAX - 64)
        return -1;
    /* Re-initialising with only an IV keeps the key schedule. */
    if (EVP_EncryptInit_ex2(c->enc, NULL, NULL, iv, NULL) != 1 ||
        EVP_EncryptUpdate(c->enc, out, &n1, in, (int)len) != 1 ||
        EVP_EncryptFinal_ex(c->enc, out + n1, &n2) != 1)
        return -1;
    return (long)n1 + n2;
}

long cbc_decrypt(struct cbc *c, const uint8_t *iv, const uint8_t *in, size_t len, uint8_t *out)
{
    int n1 = 0, n2 = 0;
    if (len == 0 || len % c->block != 0 || len > INT_MAX - 64)
        return -1;
    if (EVP_DecryptInit_ex2(c->dec, NULL, NULL, iv, NULL) != 1 ||
        EVP_DecryptUpdate(c->dec, out, &n1, in, (int)len) != 1 ||
        EVP_DecryptFinal_ex(c->dec, out + n1, &n2) != 1)
        return -1;
    return (long)n1 + n2;
}
