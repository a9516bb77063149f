#include "machinekey.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "hex.h"
#include "kdf.h"

/* ASP.NET's own error texts (System.Web.txt), so a user can search for them. */
#define MSG_VALIDATION_ENUM                                                                        \
    "The validation must be one of these values: SHA1, HMACSHA256, HMACSHA384, HMACSHA512, "       \
    "MD5, 3DES, AES, or alg:[HashAlgorithm]."
#define MSG_VALIDATION_ENUM_FX45                                                                   \
    "When using <machineKey compatibilityMode=\"Framework45\" /> or the MachineKey.Protect and "   \
    "MachineKey.Unprotect APIs, the 'validation' attribute must be one of these values: SHA1, "    \
    "HMACSHA256, HMACSHA384, HMACSHA512, or alg:[KeyedHashAlgorithm]."
#define MSG_DECRYPTION_ENUM                                                                        \
    "The decryption must be one of these values: Auto, DES, 3DES, AES or "                         \
    "alg:[SymmetricAlgorithm]."
#define MSG_VALIDATION_KEY                                                                         \
    "Unable to get cookie authentication validation key. It should be either \"AutoGenerate\" or " \
    "between 40 and 128 Hex chars long, and may be followed by \",IsolateApps\"."
#define MSG_DECRYPTION_KEY                                                                         \
    "Decryption key specified has invalid length. It should be either \"AutoGenerate\" or 16 "     \
    "(for DES) or 48 (for 3DES and AES) Hex chars long, and may be followed by \",IsolateApps\"."
#define MSG_INVALID_HEX "The %s specified has invalid hex characters."
#define MSG_FX45_TOKENS                                                                            \
    "The %s must be a hexadecimal key or \"AutoGenerate\" optionally followed by "                 \
    "\",IsolateApps\" "                                                                            \
    "and/or \",IsolateByAppId\" when compatibilityMode is Framework45."
#define MSG_COMPAT_ENUM                                                                            \
    "The compatibilityMode must be one of these values: Framework20SP1, Framework20SP2, "          \
    "Framework45."
#define MSG_ALG_PREFIX "Custom algorithms ('alg:...') are not supported by farmlab: %s."

static const char *const compat_names[MK_COMPAT_COUNT] = {
    [MK_COMPAT_FX20SP1] = "Framework20SP1",
    [MK_COMPAT_FX20SP2] = "Framework20SP2",
    [MK_COMPAT_FX45] = "Framework45",
};
static const char *const compat_short[MK_COMPAT_COUNT] = {
    [MK_COMPAT_FX20SP1] = "sp1",
    [MK_COMPAT_FX20SP2] = "sp2",
    [MK_COMPAT_FX45] = "fx45",
};
static const char *const validation_names[MK_VALIDATION_COUNT] = {
    [MK_VALIDATION_MD5] = "MD5",
    [MK_VALIDATION_SHA1] = "SHA1",
    [MK_VALIDATION_3DES] = "3DES",
    [MK_VALIDATION_AES] = "AES",
    [MK_VALIDATION_HMACSHA256] = "HMACSHA256",
    [MK_VALIDATION_HMACSHA384] = "HMACSHA384",
    [MK_VALIDATION_HMACSHA512] = "HMACSHA512",
};
static const char *const decryption_names[MK_DECRYPTION_COUNT] = {
    [MK_DECRYPTION_AUTO] = "Auto",
    [MK_DECRYPTION_DES] = "DES",
    [MK_DECRYPTION_3DES] = "3DES",
    [MK_DECRYPTION_AES] = "AES",
};
static const char *const cipher_names[MK_CIPHER_COUNT] = {
    [MK_CIPHER_DES] = "DES",
    [MK_CIPHER_3DES] = "3DES",
    [MK_CIPHER_AES] = "AES",
};
static const char *const attr_names[] = {
    [MK_ATTR_NONE] = "machineKey",
    [MK_ATTR_VALIDATION_KEY] = "validationKey",
    [MK_ATTR_DECRYPTION_KEY] = "decryptionKey",
    [MK_ATTR_VALIDATION] = "validation",
    [MK_ATTR_DECRYPTION] = "decryption",
    [MK_ATTR_COMPAT] = "compatibilityMode",
};

const char *mk_compat_name(enum mk_compat c)
{
    return c < MK_COMPAT_COUNT ? compat_names[c] : "?";
}
const char *mk_validation_name(enum mk_validation v)
{
    return v < MK_VALIDATION_COUNT ? validation_names[v] : "?";
}
const char *mk_decryption_name(enum mk_decryption d)
{
    return d < MK_DECRYPTION_COUNT ? decryption_names[d] : "?";
}
const char *mk_cipher_name(enum mk_cipher c)
{
    return c < MK_CIPHER_COUNT ? cipher_names[c] : "?";
}
const char *mk_attr_name(enum mk_attr a)
{
    return a <= MK_ATTR_COMPAT ? attr_names[a] : "?";
}

static int lookup(const char *s, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    return -1;
}

int mk_compat_from_name(const char *s, enum mk_compat *out)
{
    int i = lookup(s, compat_names, MK_COMPAT_COUNT);
    if (i < 0)
        return -1;
    *out = (enum mk_compat)i;
    return 0;
}

int mk_validation_from_name(const char *s, enum mk_validation *out)
{
    int i = lookup(s, validation_names, MK_VALIDATION_COUNT);
    if (i < 0)
        return -1;
    *out = (enum mk_validation)i;
    return 0;
}

int mk_decryption_from_name(const char *s, enum mk_decryption *out)
{
    int i = lookup(s, decryption_names, MK_DECRYPTION_COUNT);
    if (i < 0)
        return -1;
    *out = (enum mk_decryption)i;
    return 0;
}

size_t mk_validation_mac_size(enum mk_validation v)
{
    switch (v) {
    case MK_VALIDATION_MD5:
        return 16;
    case MK_VALIDATION_SHA1:
    case MK_VALIDATION_3DES:
    case MK_VALIDATION_AES:
        return 20;
    case MK_VALIDATION_HMACSHA256:
        return 32;
    case MK_VALIDATION_HMACSHA384:
        return 48;
    case MK_VALIDATION_HMACSHA512:
        return 64;
    case MK_VALIDATION_COUNT:
        break;
    }
    return 0;
}

size_t mk_cipher_block_size(enum mk_cipher c)
{
    return c == MK_CIPHER_AES ? 16 : 8;
}

bool machinekey_is_legacy(const struct machinekey *mk)
{
    return mk->compat != MK_COMPAT_FX45;
}

size_t machinekey_cipher_key_len(const struct machinekey *mk)
{
    /* Legacy DES uses the first 8 bytes of a longer key (SetKeyOnSymAlgorithm). */
    if (mk->cipher == MK_CIPHER_DES)
        return 8;
    return mk->dkey.len;
}

/* The legacy hex decoder: characters up to 'f' that are not hex digits read as 0, anything
 * above 'f' is an error. Returns bytes, or -1. */
static long legacy_hex_decode(const char *s, size_t len, uint8_t *out, size_t cap, bool *lenient)
{
    if (len == 0 || len % 2 != 0 || len / 2 > cap)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch > 'f')
            return -1;
        int v;
        if (ch >= '0' && ch <= '9')
            v = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            v = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F')
            v = ch - 'A' + 10;
        else {
            v = 0;
            *lenient = true;
        }
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(v << 4);
        else
            out[i / 2] |= (uint8_t)v;
    }
    return (long)(len / 2);
}

static bool ends_with(const char *s, size_t *len, const char *suffix)
{
    size_t n = strlen(suffix);
    if (*len >= n && memcmp(s + *len - n, suffix, n) == 0) {
        *len -= n;
        return true;
    }
    return false;
}

/* A 32-bit case-insensitive hash of an application path or id, little-endian into 4 bytes.
 * ASP.NET uses .NET's culture-aware string hash, which cannot be reproduced portably, so
 * keys isolated here differ from a real server's: only farmlab nodes agree with each other. */
static void isolate_hash(const char *s, uint8_t out[4])
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch >= 'a' && ch <= 'z')
            ch = (unsigned char)(ch - 'a' + 'A');
        h = (h ^ ch) * 16777619u;
    }
    out[0] = (uint8_t)h;
    out[1] = (uint8_t)(h >> 8);
    out[2] = (uint8_t)(h >> 16);
    out[3] = (uint8_t)(h >> 24);
}

static int random_key(const struct mk_params *p, const char *which, uint8_t *out, size_t len)
{
    if (p->autogen_secret == NULL)
        return RAND_bytes(out, (int)len) == 1 ? 0 : -1;
    static const char label[] = "farmlab.AutoGenerate";
    return kdf_sp800108(p->autogen_secret, 32, (const uint8_t *)label, sizeof label - 1,
                        (const uint8_t *)which, strlen(which), out, len);
}

/* SHA-256 of the upper-cased key text, as Microsoft's MachineKeyScan computes it. */
static void written_hash(const char *text, size_t len, struct mk_key *k)
{
    char up[2 * MK_KEY_MAX + 2];
    if (len >= sizeof up)
        return;
    for (size_t i = 0; i < len; i++)
        up[i] = (text[i] >= 'a' && text[i] <= 'z') ? (char)(text[i] - 'a' + 'A') : text[i];
    unsigned int n = 0;
    if (EVP_Digest(up, len, k->written_sha256, &n, EVP_sha256(), NULL) == 1)
        k->has_written_hash = true;
    OPENSSL_cleanse(up, sizeof up);
}

/* Parse one key attribute into k. vkey tells validationKey from decryptionKey. */
static int parse_key(const char *text, bool legacy, bool vkey, struct mk_key *k, struct errbuf *err)
{
    const char *attr = vkey ? "validationKey" : "decryptionKey";
    size_t len = strlen(text);
    memset(k, 0, sizeof *k);

    if (!legacy) {
        /* Framework45: the whole text as strict hex first, else comma-separated tokens. */
        if (hex_is_valid(text, len)) {
            if (len / 2 > MK_KEY_MAX) {
                errbuf_set(err, "The %s is too long: farmlab accepts at most %d hex chars.", attr,
                           2 * MK_KEY_MAX);
                return -1;
            }
            k->len = (size_t)hex_decode(text, len, k->bytes, sizeof k->bytes);
            written_hash(text, len, k);
            return 0;
        }
        bool autogen = false;
        const char *s = text;
        while (*s) {
            size_t n = strcspn(s, ",");
            if (n == 12 && strncmp(s, "AutoGenerate", n) == 0)
                autogen = true;
            else if (n == 11 && strncmp(s, "IsolateApps", n) == 0)
                k->isolate_apps = true;
            else if (n == 14 && strncmp(s, "IsolateByAppId", n) == 0)
                k->isolate_by_app_id = true;
            else
                goto fx45_bad;
            s += n;
            if (*s == ',')
                s++;
        }
        if (!autogen)
            goto fx45_bad;
        k->autogen = true;
        return 0;
    fx45_bad:
        errbuf_set(err, MSG_FX45_TOKENS, attr);
        return -1;
    }

    /* Legacy: strip ",IsolateByAppId" then ",IsolateApps"; the rest is AutoGenerate or hex. */
    k->isolate_by_app_id = ends_with(text, &len, ",IsolateByAppId");
    k->isolate_apps = ends_with(text, &len, ",IsolateApps");
    if (len == 12 && strncmp(text, "AutoGenerate", 12) == 0) {
        k->autogen = true;
        return 0;
    }
    long n = legacy_hex_decode(text, len, k->bytes, sizeof k->bytes, &k->lenient_hex);
    if (n < 0) {
        if (len % 2 == 0 && len / 2 > MK_KEY_MAX && vkey)
            errbuf_set(err, MSG_VALIDATION_KEY);
        else
            errbuf_set(err, MSG_INVALID_HEX, attr);
        memset(k, 0, sizeof *k);
        return -1;
    }
    k->len = (size_t)n;
    written_hash(text, len, k);
    if (vkey && k->len < 20) {
        errbuf_set(err, MSG_VALIDATION_KEY);
        return -1;
    }
    return 0;
}

static int resolve_cipher(struct machinekey *mk, struct errbuf *err)
{
    bool legacy = machinekey_is_legacy(mk);
    size_t n = mk->dkey.len;
    switch (mk->decryption) {
    case MK_DECRYPTION_AUTO:
        mk->cipher = legacy && n == 8 ? MK_CIPHER_DES : MK_CIPHER_AES;
        break;
    case MK_DECRYPTION_DES:
        mk->cipher = MK_CIPHER_DES;
        break;
    case MK_DECRYPTION_3DES:
        mk->cipher = MK_CIPHER_3DES;
        break;
    case MK_DECRYPTION_AES:
    case MK_DECRYPTION_COUNT:
        mk->cipher = MK_CIPHER_AES;
        break;
    }
    bool ok;
    switch (mk->cipher) {
    case MK_CIPHER_DES:
        ok = legacy ? n >= 8 : n == 8;
        break;
    case MK_CIPHER_3DES:
        ok = n == 16 || n == 24;
        break;
    default:
        ok = n == 16 || n == 24 || n == 32;
        break;
    }
    /* validation="AES" or "3DES" (legacy only) key a second cipher with the decryption key,
     * for ViewState (ConfigureEncryptionObject): AES, or for 3DES, DES when the key has 8
     * bytes. A key that cipher refuses is a configuration error there too. */
    if (mk->validation == MK_VALIDATION_AES)
        ok = ok && (n == 16 || n == 24 || n == 32);
    else if (mk->validation == MK_VALIDATION_3DES)
        ok = ok && (n == 8 || n == 16 || n == 24);
    if (!ok) {
        errbuf_set(err, MSG_DECRYPTION_KEY);
        return -1;
    }
    return 0;
}

void machinekey_virtual_path(const char *app_path, char *out, size_t cap)
{
    static const char site[] = "/LM/W3SVC/", root[] = "/ROOT";
    const char *s = app_path;
    if (strncasecmp(s, site, sizeof site - 1) == 0) {
        s += sizeof site - 1;
        size_t digits = strspn(s, "0123456789");
        if (digits > 0 && strncasecmp(s + digits, root, sizeof root - 1) == 0) {
            const char *rest = s + digits + sizeof root - 1;
            size_t n = strlen(rest);
            while (n > 0 && rest[n - 1] == '/')
                n--;
            if (n == 0) {
                snprintf(out, cap, "/");
                return;
            }
            if (rest[0] == '/') {
                snprintf(out, cap, "%.*s", (int)n, rest);
                return;
            }
        }
    }
    snprintf(out, cap, "%s", app_path);
}

/* AutoGenerate and IsolateApps: fill in the effective key bytes. IsolateApps isolates by the
 * virtual path (mk->app_path), IsolateByAppId by the app id (mk->app_id), as ASP.NET does:
 * two servers that host the application under different IIS site ids agree on the first,
 * not on the second. */
static int generate_key(struct machinekey *mk, const struct mk_params *p, bool vkey)
{
    struct mk_key *k = vkey ? &mk->vkey : &mk->dkey;

    if (!machinekey_is_legacy(mk)) {
        if (!k->autogen)
            return 0;
        /* A 256-bit master key per side; IsolateApps / IsolateByAppId derive from it with
         * purpose MachineKeyDerivation, as MachineKeyMasterKeyProvider does. */
        uint8_t master[32];
        if (random_key(p, vkey ? "validation" : "decryption", master, sizeof master) != 0)
            return -1;
        char purpose_a[300], purpose_b[300];
        const char *specific[2];
        size_t n = 0;
        if (k->isolate_apps) {
            snprintf(purpose_a, sizeof purpose_a, "IsolateApps: %s", mk->app_path);
            specific[n++] = purpose_a;
        }
        if (k->isolate_by_app_id) {
            snprintf(purpose_b, sizeof purpose_b, "IsolateByAppId: %s", mk->app_id);
            specific[n++] = purpose_b;
        }
        k->len = sizeof master;
        if (n == 0) {
            memcpy(k->bytes, master, sizeof master);
        } else {
            uint8_t context[620];
            long clen = kdf_purpose_context(specific, n, context, sizeof context);
            static const char label[] = "MachineKeyDerivation";
            if (clen < 0 ||
                kdf_sp800108(master, sizeof master, (const uint8_t *)label, sizeof label - 1,
                             context, (size_t)clen, k->bytes, k->len) != 0)
                return -1;
        }
        OPENSSL_cleanse(master, sizeof master);
        return 0;
    }

    if (k->autogen) {
        /* Sizes of s_autogenKeys slices: 64 or 128 bytes to validate, 24 or 8 to decrypt. */
        if (vkey)
            k->len = mk->validation == MK_VALIDATION_HMACSHA384 ||
                             mk->validation == MK_VALIDATION_HMACSHA512
                         ? 128
                         : 64;
        else
            k->len = mk->decryption == MK_DECRYPTION_DES ? 8 : 24;
        if (random_key(p, vkey ? "validation" : "decryption", k->bytes, k->len) != 0)
            return -1;
    }
    if (k->isolate_apps && k->len >= 4)
        isolate_hash(mk->app_path, k->bytes);
    if (k->isolate_by_app_id && k->len >= 8)
        isolate_hash(mk->app_id, k->bytes + 4);
    return 0;
}

int machinekey_init(struct machinekey *mk, const struct mk_params *p, struct errbuf *err,
                    enum mk_attr *bad_attr)
{
    enum mk_attr attr = MK_ATTR_NONE;
    memset(mk, 0, sizeof *mk);
    const char *app = p->app_path != NULL ? p->app_path : "/LM/W3SVC/1/ROOT";
    machinekey_virtual_path(app, mk->app_path, sizeof mk->app_path);
    snprintf(mk->app_id, sizeof mk->app_id, "%s", p->app_id != NULL ? p->app_id : app);

    attr = MK_ATTR_COMPAT;
    if (p->compat != NULL) {
        /* Enum names in config are matched exactly, as .NET's enum converter does. */
        int ci = -1;
        for (int i = 0; i < MK_COMPAT_COUNT; i++)
            if (strcmp(p->compat, compat_names[i]) == 0)
                ci = i;
        if (ci < 0) {
            errbuf_set(err, MSG_COMPAT_ENUM);
            goto fail;
        }
        mk->compat = (enum mk_compat)ci;
        mk->compat_explicit = true;
    } else {
        mk->compat = p->fx45_default ? MK_COMPAT_FX45 : MK_COMPAT_FX20SP1;
    }
    bool legacy = machinekey_is_legacy(mk);

    attr = MK_ATTR_VALIDATION;
    const char *v = p->validation ? p->validation : "HMACSHA256";
    if (strncmp(v, "alg:", 4) == 0) {
        errbuf_set(err, MSG_ALG_PREFIX, "validation");
        goto fail;
    }
    int vi = -1;
    for (int i = 0; i < MK_VALIDATION_COUNT; i++)
        if (strcmp(v, validation_names[i]) == 0)
            vi = i;
    if (vi < 0) {
        errbuf_set(err, legacy ? MSG_VALIDATION_ENUM : MSG_VALIDATION_ENUM_FX45);
        goto fail;
    }
    mk->validation = (enum mk_validation)vi;
    if (!legacy && (mk->validation == MK_VALIDATION_MD5 || mk->validation == MK_VALIDATION_AES ||
                    mk->validation == MK_VALIDATION_3DES)) {
        errbuf_set(err, MSG_VALIDATION_ENUM_FX45);
        goto fail;
    }

    attr = MK_ATTR_DECRYPTION;
    const char *d = p->decryption ? p->decryption : "Auto";
    if (strncmp(d, "alg:", 4) == 0) {
        errbuf_set(err, MSG_ALG_PREFIX, "decryption");
        goto fail;
    }
    int di = -1;
    for (int i = 0; i < MK_DECRYPTION_COUNT; i++)
        if (strcmp(d, decryption_names[i]) == 0)
            di = i;
    if (di < 0) {
        errbuf_set(err, MSG_DECRYPTION_ENUM);
        goto fail;
    }
    mk->decryption = (enum mk_decryption)di;

    attr = MK_ATTR_VALIDATION_KEY;
    const char *vk = p->validation_key ? p->validation_key : "AutoGenerate,IsolateApps";
    if (parse_key(vk, legacy, true, &mk->vkey, err) != 0)
        goto fail;
    if (legacy) {
        /* The HMAC pad arrays hold one hash block; a longer key overruns them. */
        size_t max =
            mk->validation == MK_VALIDATION_HMACSHA384 || mk->validation == MK_VALIDATION_HMACSHA512
                ? 128
                : 64;
        if (mk->vkey.len > max) {
            errbuf_set(err, MSG_VALIDATION_KEY);
            goto fail;
        }
    }
    if (generate_key(mk, p, true) != 0) {
        errbuf_set(err, "Could not generate a validation key.");
        goto fail;
    }

    attr = MK_ATTR_DECRYPTION_KEY;
    const char *dk = p->decryption_key ? p->decryption_key : "AutoGenerate,IsolateApps";
    if (parse_key(dk, legacy, false, &mk->dkey, err) != 0)
        goto fail;
    if (generate_key(mk, p, false) != 0) {
        errbuf_set(err, "Could not generate a decryption key.");
        goto fail;
    }
    if (resolve_cipher(mk, err) != 0)
        goto fail;
    if (bad_attr)
        *bad_attr = MK_ATTR_NONE;
    return 0;
fail:
    if (bad_attr)
        *bad_attr = attr;
    machinekey_cleanup(mk);
    return -1;
}

void machinekey_cleanup(struct machinekey *mk)
{
    OPENSSL_cleanse(mk, sizeof *mk);
}

static void fp_side(const char *side, const char *alg, const uint8_t *key, size_t len,
                    char out[MK_FP_HEX])
{
    static const char domain[] = "farmlab machineKey fingerprint v1";
    uint8_t digest[32];
    unsigned int dlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, domain, sizeof domain) == 1 &&
             EVP_DigestUpdate(ctx, side, strlen(side) + 1) == 1 &&
             EVP_DigestUpdate(ctx, alg, strlen(alg) + 1) == 1 &&
             EVP_DigestUpdate(ctx, key, len) == 1 && EVP_DigestFinal_ex(ctx, digest, &dlen) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        snprintf(out, MK_FP_HEX, "????????");
        return;
    }
    snprintf(out, MK_FP_HEX, "%02x%02x%02x%02x", digest[0], digest[1], digest[2], digest[3]);
}

void machinekey_fingerprint(const struct machinekey *mk, struct mk_fingerprint *fp)
{
    fp_side("validation", mk_validation_name(mk->validation), mk->vkey.bytes, mk->vkey.len,
            fp->validation);
    fp_side("decryption", mk_cipher_name(mk->cipher), mk->dkey.bytes, machinekey_cipher_key_len(mk),
            fp->decryption);
    fp->mode = compat_short[mk->compat];
    snprintf(fp->text, sizeof fp->text, "v=%s d=%s m=%s", fp->validation, fp->decryption, fp->mode);
}
