#include "keycompare.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ticks.h"

__attribute__((format(printf, 3, 4))) static void reason(struct kc_result *r, unsigned bit,
                                                         const char *fmt, ...)
{
    char part[sizeof r->why];
    r->reasons |= bit;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(part, sizeof part, fmt, ap);
    va_end(ap);
    size_t n = strlen(r->why);
    snprintf(r->why + n, sizeof r->why - n, "%s%s", n ? "; " : "", part);
}

static bool same_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && CRYPTO_memcmp(a, b, alen) == 0;
}

static bool uses_autogen(const struct machinekey *k)
{
    return k->vkey.autogen || k->dkey.autogen;
}

int keycompare(const struct machinekey *a, const char *a_name, const struct machinekey *b,
               const char *b_name, struct kc_result *r)
{
    memset(r, 0, sizeof *r);
    if (a_name == NULL)
        a_name = "the issuer";
    if (b_name == NULL)
        b_name = "the checker";

    /* Measure: issue under A, check under B. */
    struct formsauth fa, fb;
    if (formsauth_init(&fa, a, NULL) != 0)
        return -1;
    if (formsauth_init(&fb, b, NULL) != 0) {
        formsauth_cleanup(&fa);
        return -1;
    }
    struct ticket t, back;
    ticket_init(&t);
    ticket_set(&t, TICKET_NAME, "keycompare", 10);
    ticket_set(&t, TICKET_COOKIE_PATH, "/", 1);
    int64_t now = ticks_now();
    t.issue_ticks = now;
    t.expiration_ticks = now + 3600 * TICKS_PER_SECOND;
    char cookie[FORMSAUTH_COOKIE_MAX + 1];
    long n = formsauth_issue(&fa, &t, cookie, sizeof cookie);
    r->verdict = n < 0 ? FA_MALFORMED : formsauth_decode(&fb, cookie, (size_t)n, now, &back);
    r->compatible = r->verdict == FA_VALID;
    formsauth_cleanup(&fa);
    formsauth_cleanup(&fb);

    /* Explain. */
    bool a_auto = uses_autogen(a), b_auto = uses_autogen(b), autogen = a_auto || b_auto;
    bool isolated = a->vkey.isolate_apps || b->vkey.isolate_apps || a->dkey.isolate_apps ||
                    b->dkey.isolate_apps || a->vkey.isolate_by_app_id ||
                    b->vkey.isolate_by_app_id || a->dkey.isolate_by_app_id ||
                    b->dkey.isolate_by_app_id;
    if (a_auto && b_auto)
        reason(r, KC_AUTOGEN, "%s and %s use AutoGenerate: random keys of their own", a_name,
               b_name);
    else if (autogen)
        reason(r, KC_AUTOGEN, "%s uses AutoGenerate: random keys of its own",
               a_auto ? a_name : b_name);
    if (machinekey_is_legacy(a) != machinekey_is_legacy(b))
        reason(r, KC_MODE, "compatibilityMode %s vs %s (different pipelines)",
               mk_compat_name(a->compat), mk_compat_name(b->compat));
    if (a->validation != b->validation)
        reason(r, KC_VALIDATION_ALG, "validation %s vs %s", mk_validation_name(a->validation),
               mk_validation_name(b->validation));
    if (!autogen && !same_bytes(a->vkey.bytes, a->vkey.len, b->vkey.bytes, b->vkey.len))
        reason(r, KC_VALIDATION_KEY, "validationKey differs");
    if (a->cipher != b->cipher)
        reason(r, KC_CIPHER, "decryption %s vs %s", mk_cipher_name(a->cipher),
               mk_cipher_name(b->cipher));
    else if (!autogen && !same_bytes(a->dkey.bytes, machinekey_cipher_key_len(a), b->dkey.bytes,
                                     machinekey_cipher_key_len(b)))
        reason(r, KC_DECRYPTION_KEY, "decryptionKey differs");
    if (isolated && strcmp(a->app_path, b->app_path) != 0)
        reason(r, KC_ISOLATE, "IsolateApps with app paths %s vs %s", a->app_path, b->app_path);
    if (r->compatible && r->reasons == 0)
        snprintf(r->why, sizeof r->why, "same keys");
    else if (r->compatible)
        snprintf(r->why + strlen(r->why), sizeof r->why - strlen(r->why),
                 " — but tickets still validate");
    OPENSSL_cleanse(cookie, sizeof cookie);
    return 0;
}
