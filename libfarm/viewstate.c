#include "viewstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

#define VIEWSTATE_MAX (64 * 1024)

static const char *const status_names[] = {
    [VS_VALID] = "valid",
    [VS_MAC_FAILED] = "mac-failed",
    [VS_INVALID] = "invalid",
    [VS_MALFORMED] = "malformed",
};

const char *vs_status_name(enum vs_status s)
{
    return s <= VS_MALFORMED ? status_names[s] : "?";
}

void viewstate_generator_text(uint32_t generator, char out[9])
{
    snprintf(out, 9, "%08X", (unsigned)generator);
}

static void upper_into(char *dst, size_t cap, const char *prefix, const char *s)
{
    size_t n = (size_t)snprintf(dst, cap, "%s", prefix);
    for (; *s && n + 1 < cap; s++, n++)
        dst[n] = (*s >= 'a' && *s <= 'z') ? (char)(*s - 'a' + 'A') : *s;
    dst[n < cap ? n : cap - 1] = '\0';
}

int viewstate_init(struct viewstate *vs, const struct machinekey *mk,
                   const struct viewstate_page *page, struct errbuf *err)
{
    struct protect_purpose pp;
    char dir[300], type[300], user[300];
    memset(&pp, 0, sizeof pp);
    pp.primary = "WebForms.HiddenFieldPageStatePersister.ClientState";

    upper_into(dir, sizeof dir, "TemplateSourceDirectory: ", page->template_dir);
    upper_into(type, sizeof type, "Type: ", page->type_name);
    pp.specific[pp.n_specific++] = dir;
    pp.specific[pp.n_specific++] = type;
    if (page->user_key) {
        snprintf(user, sizeof user, "ViewStateUserKey: %s", page->user_key);
        pp.specific[pp.n_specific++] = user;
    }

    /* Legacy modifier: generator (LE) || UTF-16LE(user key); ASCII user keys only here. */
    pp.modifier[0] = (uint8_t)page->generator;
    pp.modifier[1] = (uint8_t)(page->generator >> 8);
    pp.modifier[2] = (uint8_t)(page->generator >> 16);
    pp.modifier[3] = (uint8_t)(page->generator >> 24);
    pp.modifier_len = 4;
    for (const char *k = page->user_key; k && *k; k++) {
        if (pp.modifier_len + 2 > sizeof pp.modifier) {
            errbuf_set(err, "ViewStateUserKey too long");
            return -1;
        }
        pp.modifier[pp.modifier_len++] = (uint8_t)*k;
        pp.modifier[pp.modifier_len++] = 0;
    }
    /* Not page-encrypted under validation AES or 3DES, the protector seals the MAC'd form
     * with the validation cipher (GetEncodedData). */
    pp.legacy = page->encrypt ? PROTECT_LEGACY_VIEWSTATE_ENC : PROTECT_LEGACY_VIEWSTATE;
    return protector_init(&vs->prot, mk, &pp, err);
}

void viewstate_cleanup(struct viewstate *vs)
{
    protector_cleanup(&vs->prot);
}

long viewstate_protect(struct viewstate *vs, const uint8_t *payload, size_t len, char *out,
                       size_t cap)
{
    size_t need = len + protector_overhead(&vs->prot);
    uint8_t *buf = malloc(need);
    long rc = -1;
    if (buf == NULL)
        return -1;
    long n = protector_protect(&vs->prot, payload, len, buf, need);
    if (n >= 0 && cap > base64_encoded_len((size_t)n)) {
        base64_encode(buf, (size_t)n, out);
        rc = (long)base64_encoded_len((size_t)n);
    }
    free(buf);
    return rc;
}

enum vs_status viewstate_unprotect(struct viewstate *vs, const char *text, size_t len, uint8_t *out,
                                   size_t cap, size_t *out_len)
{
    if (len == 0 || len > VIEWSTATE_MAX)
        return VS_MALFORMED;
    size_t bcap = len / 4 * 3 + 3;
    uint8_t *bin = malloc(bcap);
    uint8_t *plain = malloc(bcap + 16);
    enum vs_status rc = VS_MALFORMED;
    if (bin == NULL || plain == NULL)
        goto out;
    long n = base64_decode(text, len, bin, bcap);
    if (n < 0)
        goto out;
    size_t plen = 0;
    switch (protector_unprotect(&vs->prot, bin, (size_t)n, plain, bcap + 16, &plen)) {
    case PROTECT_OK:
        /* What ObjectStateFormatter would do next: a serialized state starts with its
         * marker and version, 0xFF 0x01. Without this check, a ViewState whose MAC holds
         * but which was encrypted with another decryptionKey (Framework45 derives the MAC
         * key from the validationKey alone) would pass whenever the garbage it decrypts to
         * happens to end in valid padding: about one time in 256. */
        if (plen < 2 || plain[0] != 0xFF || plain[1] != 0x01 || plen > cap) {
            rc = VS_INVALID;
            break;
        }
        memcpy(out, plain, plen);
        *out_len = plen;
        rc = VS_VALID;
        break;
    case PROTECT_MAC_MISMATCH:
        rc = VS_MAC_FAILED;
        break;
    case PROTECT_BAD_DATA:
        rc = VS_INVALID;
        break;
    case PROTECT_MALFORMED:
        rc = VS_MALFORMED;
        break;
    }
out:
    free(bin);
    free(plain);
    return rc;
}
