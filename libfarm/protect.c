#include "protect.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "kdf.h"

const struct protect_purpose PROTECT_FORMS_TICKET = {
    .primary = "FormsAuthentication.Ticket",
    .legacy = PROTECT_LEGACY_FORMS,
};

static const uint8_t zero_iv[16];

/* Below this no machineKey produces anything (an empty payload and an MD5 MAC). Longer
 * blobs whose length does not fit this protector's cipher and MAC may well fit another
 * key's (MD5 vs SHA1, DES vs AES): they are reported as a MAC mismatch, not as malformed,
 * so that "another node's cookie" always reads the same. */
#define PROTECT_MIN_BLOB 16

static const char *const status_names[] = {
    [PROTECT_OK] = "ok",
    [PROTECT_MAC_MISMATCH] = "mac-mismatch",
    [PROTECT_BAD_DATA] = "bad-data",
    [PROTECT_MALFORMED] = "malformed",
};

const char *protect_status_name(enum protect_status s)
{
    return s <= PROTECT_MALFORMED ? status_names[s] : "?";
}

int protect_derive_keys(const struct machinekey *mk, const struct protect_purpose *purpose,
                        uint8_t *enc, size_t *enc_len, uint8_t *val, size_t *val_len)
{
    uint8_t context[2048];
    long clen =
        kdf_purpose_context(purpose->specific, purpose->n_specific, context, sizeof context);
    const uint8_t *label = (const uint8_t *)purpose->primary;
    size_t label_len = strlen(purpose->primary);
    if (clen < 0)
        return -1;
    /* The derived key is as long as the configured key (L = its length in bits). */
    if (kdf_sp800108(mk->dkey.bytes, mk->dkey.len, label, label_len, context, (size_t)clen, enc,
                     mk->dkey.len) != 0 ||
        kdf_sp800108(mk->vkey.bytes, mk->vkey.len, label, label_len, context, (size_t)clen, val,
                     mk->vkey.len) != 0)
        return -1;
    *enc_len = mk->dkey.len;
    *val_len = mk->vkey.len;
    return 0;
}

int protector_init(struct protector *p, const struct machinekey *mk,
                   const struct protect_purpose *purpose, struct errbuf *err)
{
    memset(p, 0, sizeof *p);
    p->scheme = purpose->legacy;
    p->fx45 = !machinekey_is_legacy(mk) || purpose->legacy == PROTECT_LEGACY_NONE;
    if (p->fx45)
        p->scheme = PROTECT_LEGACY_NONE;
    p->block = mk_cipher_block_size(mk->cipher);
    p->mac_size = mk_validation_mac_size(mk->validation);

    if (purpose->modifier_len > sizeof p->modifier) {
        errbuf_set(err, "ViewState modifier too long");
        return -1;
    }
    memcpy(p->modifier, purpose->modifier, purpose->modifier_len);
    p->modifier_len = purpose->modifier_len;

    if (p->fx45) {
        if (mk->validation == MK_VALIDATION_MD5 || mk->validation == MK_VALIDATION_AES ||
            mk->validation == MK_VALIDATION_3DES) {
            errbuf_set(err, "validation %s cannot protect purpose %s (Framework45 pipeline)",
                       mk_validation_name(mk->validation), purpose->primary);
            return -1;
        }
        uint8_t enc[MK_KEY_MAX], val[MK_KEY_MAX];
        size_t enc_len = 0, val_len = 0;
        int rc = protect_derive_keys(mk, purpose, enc, &enc_len, val, &val_len);
        if (rc == 0)
            rc = mac_init(&p->mac, mk->validation, val, val_len);
        if (rc == 0) {
            rc = cbc_init(&p->cbc, mk->cipher, enc, enc_len);
            if (rc != 0)
                mac_cleanup(&p->mac);
        }
        OPENSSL_cleanse(enc, sizeof enc);
        OPENSSL_cleanse(val, sizeof val);
        if (rc != 0) {
            errbuf_set(err, "cannot key the %s cipher and %s MAC for purpose %s",
                       mk_cipher_name(mk->cipher), mk_validation_name(mk->validation),
                       purpose->primary);
            return -1;
        }
        p->has_cipher = true;
        return 0;
    }

    if (mac_init(&p->mac, mk->validation, mk->vkey.bytes, mk->vkey.len) != 0) {
        errbuf_set(err, "cannot key the %s MAC", mk_validation_name(mk->validation));
        return -1;
    }
    enum mk_cipher cipher = mk->cipher;
    size_t klen = machinekey_cipher_key_len(mk);
    if (p->scheme == PROTECT_LEGACY_VIEWSTATE &&
        (mk->validation == MK_VALIDATION_AES || mk->validation == MK_VALIDATION_3DES)) {
        /* ConfigureEncryptionObject's validation cipher: AES, or for 3DES, DES when the
         * decryption key has 8 bytes; keyed with the decryption key either way. */
        p->val_cipher = true;
        cipher = mk->validation == MK_VALIDATION_AES ? MK_CIPHER_AES
                 : mk->dkey.len == 8                 ? MK_CIPHER_DES
                                                     : MK_CIPHER_3DES;
        klen = mk->dkey.len;
    }
    if (p->scheme != PROTECT_LEGACY_VIEWSTATE || p->val_cipher) {
        if (cbc_init(&p->cbc, cipher, mk->dkey.bytes, klen) != 0) {
            mac_cleanup(&p->mac);
            errbuf_set(err, "cannot key the %s cipher", mk_cipher_name(cipher));
            return -1;
        }
        p->has_cipher = true;
        p->block = mk_cipher_block_size(cipher);
        /* The random prefix is as long as the key, not the block: kept for compatibility. */
        p->prefix_len = klen;
    }
    return 0;
}

void protector_cleanup(struct protector *p)
{
    mac_cleanup(&p->mac);
    if (p->has_cipher)
        cbc_cleanup(&p->cbc);
    OPENSSL_cleanse(p, sizeof *p);
}

size_t protector_overhead(const struct protector *p)
{
    return p->prefix_len + 2 * p->mac_size + p->modifier_len + 2 * p->block;
}

long protector_protect(struct protector *p, const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    if (len > cap || cap - len < protector_overhead(p))
        return -1;
    long clen;

    switch (p->scheme) {
    case PROTECT_LEGACY_NONE:
        if (RAND_bytes(out, (int)p->block) != 1)
            return -1;
        clen = cbc_encrypt(&p->cbc, out, in, len, out + p->block);
        if (clen < 0)
            return -1;
        clen += (long)p->block;
        if (mac_compute(&p->mac, out, (size_t)clen, NULL, 0, out + clen) != 0)
            return -1;
        return clen + (long)p->mac_size;

    case PROTECT_LEGACY_VIEWSTATE:
        if (!p->val_cipher) {
            memmove(out, in, len);
            if (mac_compute(&p->mac, out, len, p->modifier, p->modifier_len, out + len) != 0)
                return -1;
            return (long)(len + p->mac_size);
        }
        /* fall through - sealed as below, the MAC over data and modifier inside */
    case PROTECT_LEGACY_FORMS:
    case PROTECT_LEGACY_VIEWSTATE_ENC: {
        /* Build R || data || [inner MAC] || [modifier] in out, encrypt in place, append
         * the outer MAC. Forms: the inner MAC, no modifier. Encrypted ViewState: the
         * modifier. Sealed ViewState MAC: both, the inner MAC covering the modifier. */
        size_t n = p->prefix_len;
        if (RAND_bytes(out, (int)n) != 1)
            return -1;
        memmove(out + n, in, len);
        bool inner_mac = p->scheme == PROTECT_LEGACY_FORMS || p->val_cipher;
        bool modifier = p->scheme != PROTECT_LEGACY_FORMS;
        const uint8_t *mod = p->val_cipher ? p->modifier : NULL;
        size_t mod_len = p->val_cipher ? p->modifier_len : 0;
        n += len;
        if (inner_mac) {
            if (mac_compute(&p->mac, out + p->prefix_len, len, mod, mod_len, out + n) != 0)
                return -1;
            n += p->mac_size;
        }
        if (modifier) {
            memcpy(out + n, p->modifier, p->modifier_len);
            n += p->modifier_len;
        }
        clen = cbc_encrypt(&p->cbc, zero_iv, out, n, out);
        if (clen < 0)
            return -1;
        if (mac_compute(&p->mac, out, (size_t)clen, NULL, 0, out + clen) != 0)
            return -1;
        return clen + (long)p->mac_size;
    }
    }
    return -1;
}

enum protect_status protector_unprotect(struct protector *p, const uint8_t *in, size_t len,
                                        uint8_t *out, size_t cap, size_t *out_len)
{
    size_t h = p->mac_size;

    if (len < PROTECT_MIN_BLOB || cap < len + 16)
        return PROTECT_MALFORMED;
    if (p->scheme == PROTECT_LEGACY_VIEWSTATE && !p->val_cipher) {
        if (len < h)
            return PROTECT_MAC_MISMATCH;
        size_t plen = len - h;
        if (!mac_verify(&p->mac, in, plen, p->modifier, p->modifier_len, in + plen))
            return PROTECT_MAC_MISMATCH;
        memmove(out, in, plen);
        *out_len = plen;
        return PROTECT_OK;
    }

    /* The MAC first, in constant time, over everything but the MAC itself; only then
     * lengths and the cipher. A blob from a server with the same validation key but another
     * cipher thus reads as bad data, as it would in ASP.NET. */
    size_t iv_len = p->fx45 ? p->block : 0;
    if (len <= h)
        return PROTECT_MAC_MISMATCH;
    if (!mac_verify(&p->mac, in, len - h, NULL, 0, in + len - h))
        return PROTECT_MAC_MISMATCH;
    if (len - h < iv_len + p->block || (len - h - iv_len) % p->block != 0)
        return PROTECT_BAD_DATA;
    size_t clen = len - h - iv_len;

    long plen = cbc_decrypt(&p->cbc, p->fx45 ? in : zero_iv, in + iv_len, clen, out);
    if (plen < 0)
        return PROTECT_BAD_DATA;
    size_t n = (size_t)plen;

    if (p->fx45) {
        *out_len = n;
        return PROTECT_OK;
    }

    if (n < p->prefix_len)
        return PROTECT_BAD_DATA;
    uint8_t *body = out + p->prefix_len;
    n -= p->prefix_len;
    if (p->scheme != PROTECT_LEGACY_FORMS) {
        if (n < p->modifier_len ||
            CRYPTO_memcmp(body + n - p->modifier_len, p->modifier, p->modifier_len) != 0)
            return PROTECT_BAD_DATA;
        n -= p->modifier_len;
    }
    if (p->scheme == PROTECT_LEGACY_FORMS || p->val_cipher) {
        const uint8_t *mod = p->val_cipher ? p->modifier : NULL;
        size_t mod_len = p->val_cipher ? p->modifier_len : 0;
        if (n < h || !mac_verify(&p->mac, body, n - h, mod, mod_len, body + n - h))
            return PROTECT_BAD_DATA;
        n -= h;
    }
    memmove(out, body, n);
    *out_len = n;
    return PROTECT_OK;
}
