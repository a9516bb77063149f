#include "keylint.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *lint_severity_name(enum lint_severity s)
{
    return s == LINT_ERROR ? "error" : "warning";
}

__attribute__((format(printf, 4, 5))) static void add(struct lint_report *r, enum lint_severity sev,
                                                      const char *code, const char *fmt, ...)
{
    if (r->count == LINT_MAX)
        return;
    struct lint_finding *f = &r->items[r->count++];
    f->severity = sev;
    f->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    if (sev == LINT_ERROR)
        r->errors++;
    else
        r->warnings++;
}

static void check_key(const struct machinekey *mk, const struct mk_key *k, const char *attr,
                      bool written, const struct disclosed_list *disclosed, struct lint_report *r)
{
    if (k->autogen) {
        add(r, LINT_ERROR, "autogenerate",
            "%s is %s: every server makes its own key, so a ticket or ViewState from one "
            "server is rejected by the others. AutoGenerate cannot be used in a farm; paste "
            "the same explicit key on every server (farmctl key generate).",
            attr, written ? "AutoGenerate" : "not set and defaults to AutoGenerate,IsolateApps");
        return;
    }
    if (k->isolate_by_app_id)
        add(r, LINT_WARNING, "isolate-apps",
            "%s has ,IsolateByAppId: the effective key differs per application id (the IIS "
            "metabase path), so servers agree only where the application has the same path "
            "and the same site ID.",
            attr);
    else if (k->isolate_apps)
        add(r, LINT_WARNING, "isolate-apps",
            "%s has ,IsolateApps: the effective key differs per application virtual path "
            "(/, /shop), so applications cannot share tickets, and only servers that host the "
            "application at the same path agree.",
            attr);
    if (k->lenient_hex)
        add(r, LINT_ERROR, "bad-hex",
            "%s holds characters that are not hex digits; in %s mode ASP.NET silently reads "
            "them as 0, so this key is not the one you think (a typo?).",
            attr, mk_compat_name(mk->compat));
    const char *where = NULL;
    if (disclosed_key_is_known(k, disclosed, &where))
        add(r, LINT_ERROR, "disclosed-key",
            "%s is publicly known (%s): anyone can forge tickets and ViewState for this "
            "site. Generate a new key (farmctl key generate) and rotate.",
            attr, where);
}

void keylint_check(const struct machinekey *mk, const bool *written,
                   const struct disclosed_list *disclosed, struct lint_report *r)
{
    memset(r, 0, sizeof *r);
    bool w_vkey = written ? written[MK_ATTR_VALIDATION_KEY] : true;
    bool w_dkey = written ? written[MK_ATTR_DECRYPTION_KEY] : true;
    bool w_compat = written ? written[MK_ATTR_COMPAT] : true;

    check_key(mk, &mk->vkey, "validationKey", w_vkey, disclosed, r);
    check_key(mk, &mk->dkey, "decryptionKey", w_dkey, disclosed, r);

    switch (mk->validation) {
    case MK_VALIDATION_MD5:
        add(r, LINT_ERROR, "weak-validation",
            "validation=\"MD5\" is not even an HMAC (MD5 of data and key); use HMACSHA256 or "
            "stronger.");
        break;
    case MK_VALIDATION_SHA1:
    case MK_VALIDATION_AES:
    case MK_VALIDATION_3DES:
        add(r, LINT_WARNING, "weak-validation",
            "validation=\"%s\" signs with HMAC-SHA1; prefer HMACSHA256 or stronger.",
            mk_validation_name(mk->validation));
        break;
    default:
        break;
    }

    if (mk->cipher == MK_CIPHER_DES)
        add(r, LINT_ERROR, "weak-decryption",
            "the cipher is DES (%s): a 56-bit key can be brute-forced; use AES.",
            mk->decryption == MK_DECRYPTION_AUTO ? "decryption=\"Auto\" with an 8-byte key"
                                                 : "decryption=\"DES\"");
    else if (mk->cipher == MK_CIPHER_3DES)
        add(r, LINT_WARNING, "weak-decryption",
            "decryption=\"3DES\" is deprecated (64-bit blocks); use AES.");

    if (!mk->vkey.autogen) {
        size_t want =
            mk->validation == MK_VALIDATION_HMACSHA384 || mk->validation == MK_VALIDATION_HMACSHA512
                ? 64
                : 32;
        if (mk->vkey.len < want)
            add(r, LINT_WARNING, "short-key",
                "validationKey is %zu bytes; use at least %zu bytes (%zu hex chars) with %s.",
                mk->vkey.len, want, 2 * want, mk_validation_name(mk->validation));
    }
    if (!mk->dkey.autogen && mk->cipher == MK_CIPHER_AES && mk->dkey.len < 32)
        add(r, LINT_WARNING, "short-key",
            "decryptionKey is %zu bytes (AES-%zu); AES-256 takes 32 bytes (64 hex chars).",
            mk->dkey.len, mk->dkey.len * 8);
    if (mk->cipher == MK_CIPHER_DES && mk->dkey.len > 8)
        add(r, LINT_WARNING, "des-truncated",
            "decryptionKey is %zu bytes but DES uses only the first 8: servers whose keys "
            "differ after byte 8 still agree, which hides mistakes.",
            mk->dkey.len);

    if (machinekey_is_legacy(mk))
        add(r, LINT_WARNING, "legacy-mode",
            "compatibilityMode %s uses the pre-4.5 pipeline (one key for every purpose); "
            "prefer Framework45 once every server runs .NET 4.5 or later.",
            mk_compat_name(mk->compat));
    else if (!w_compat)
        add(r, LINT_WARNING, "implicit-mode",
            "compatibilityMode is not written; it is Framework45 only because of "
            "<httpRuntime targetFramework>. Write it down so every server agrees.");
}
