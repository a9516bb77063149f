#define _DEFAULT_SOURCE /* explicit_bzero */
#include "formsauth.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "base64.h"
#include "hex.h"

static const char *const status_names[FA_STATUS_COUNT] = {
    [FA_VALID] = "valid",
    [FA_EXPIRED] = "expired",
    [FA_MAC_MISMATCH] = "mac-mismatch",
    [FA_BAD_TICKET] = "bad-ticket",
    [FA_MALFORMED] = "malformed",
    [FA_ABSENT] = "absent",
};

const char *fa_status_name(enum fa_status s)
{
    return s < FA_STATUS_COUNT ? status_names[s] : "?";
}

int formsauth_init(struct formsauth *fa, const struct machinekey *mk, struct errbuf *err)
{
    memset(fa, 0, sizeof *fa);
    fa->compat = mk->compat;
    return protector_init(&fa->prot, mk, &PROTECT_FORMS_TICKET, err);
}

void formsauth_cleanup(struct formsauth *fa)
{
    protector_cleanup(&fa->prot);
}

long formsauth_issue(struct formsauth *fa, const struct ticket *t, char *out, size_t cap)
{
    uint8_t plain[TICKET_WIRE_MAX];
    uint8_t prot[FORMSAUTH_COOKIE_MAX / 2 + 256];
    long rc = -1;
    const struct ticket *src = t;
    struct ticket copy;

    if (t->format == TICKET_FORMAT_LEGACY) {
        /* webengine writes 8 random bytes in Framework20SP1, zeros when SP2+ encrypts. */
        copy = *t;
        if (fa->compat == MK_COMPAT_FX20SP1) {
            if (RAND_bytes(copy.legacy_header, sizeof copy.legacy_header) != 1)
                return -1;
        } else {
            memset(copy.legacy_header, 0, sizeof copy.legacy_header);
        }
        src = &copy;
    }
    long n = ticket_serialize(src, plain, sizeof plain);
    if (n < 0)
        goto out;
    long p = protector_protect(&fa->prot, plain, (size_t)n, prot, sizeof prot);
    if (p < 0 || (size_t)p * 2 > FORMSAUTH_COOKIE_MAX || cap < (size_t)p * 2 + 1)
        goto out;
    hex_encode(prot, (size_t)p, out);
    rc = 2 * p;
out:
    OPENSSL_cleanse(plain, sizeof plain);
    return rc;
}

enum fa_status formsauth_decode(struct formsauth *fa, const char *cookie, size_t len, int64_t now,
                                struct ticket *out)
{
    uint8_t bin[FORMSAUTH_COOKIE_MAX / 2 + 16];
    uint8_t plain[sizeof bin + 16];
    long n = -1;

    if (len == 0 || len > FORMSAUTH_COOKIE_MAX)
        return FA_MALFORMED;
    /* As FormsAuthentication.Decrypt: hex when the length is even, else UrlToken. */
    if (len % 2 == 0)
        n = hex_decode(cookie, len, bin, sizeof bin);
    if (n < 0)
        n = base64_urltoken_decode(cookie, len, bin, sizeof bin);
    if (n < 0)
        return FA_MALFORMED;

    size_t plen = 0;
    enum protect_status st =
        protector_unprotect(&fa->prot, bin, (size_t)n, plain, sizeof plain, &plen);
    enum fa_status rc;
    switch (st) {
    case PROTECT_OK:
        break;
    case PROTECT_MAC_MISMATCH:
        return FA_MAC_MISMATCH;
    case PROTECT_BAD_DATA:
        rc = FA_BAD_TICKET;
        goto out;
    case PROTECT_MALFORMED:
    default:
        return FA_MALFORMED;
    }
    if (ticket_parse_any(plain, plen, out, NULL) != 0)
        rc = FA_BAD_TICKET;
    else
        rc = out->expiration_ticks < now ? FA_EXPIRED : FA_VALID;
out:
    /* Decryption writes at most the ciphertext's length: wipe that, not the whole buffer
     * (explicit_bzero is a memset the compiler may not drop, much cheaper than
     * OPENSSL_cleanse's byte loop on this per-request path). */
    explicit_bzero(plain, (size_t)n < sizeof plain ? (size_t)n : sizeof plain);
    return rc;
}
