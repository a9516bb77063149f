/* bench-machinekey: what formsauth_decode and formsauth_issue cost next to the bare OpenSSL
 * work they cannot avoid, for each <machineKey> algorithm set, measured in the same run.
 *
 * "Primitives" is the cryptography alone, on pre-keyed contexts and on the same bytes:
 *   decode, legacy  MAC(C) and compare, CBC-decrypt C (IV 0), MAC(T) and compare
 *   decode, fx45    MAC(IV || C) and compare, CBC-decrypt C
 *   issue, legacy   RAND_bytes(prefix), MAC(T), CBC-encrypt R || T || MAC(T), MAC(C)
 *   issue, fx45     RAND_bytes(IV), CBC-encrypt T, MAC(IV || C)
 * HMACs re-initialise an EVP_MAC_CTX with a NULL key; ciphers re-initialise an
 * EVP_CIPHER_CTX with only an IV; MD5 is MD5(data || key) on a reused EVP_MD_CTX. DES runs
 * as DES-EDE3 with K || K || K, as libfarm does (no legacy provider). Everything else ours
 * does (hex, ticket parse and serialize, copies, wipes) is overhead, so the ratio
 * ours / primitives says how close to the floor we are.
 *
 * The machine is small and noisy, so each set runs several rounds and each round runs ours
 * and the primitives back to back in alternating order; the table shows the median of each
 * column and the median of the per-round ratios. Every decode must return FA_VALID and
 * every primitive MAC must match, else the exit status is 1. Keys are random per run and
 * never printed. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "errbuf.h"
#include "formsauth.h"
#include "hex.h"
#include "machinekey.h"
#include "protect.h"
#include "ticket.h"
#include "ticks.h"

#define BENCH_ROUNDS        5
#define BENCH_QUICK_ROUNDS  3
#define BENCH_SECONDS       10.0
#define BENCH_QUICK_SECONDS 0.4
#define BENCH_BATCH         16   /* operations between two clock reads */
#define BENCH_WARMUP        0.25 /* untimed warm-up per measurement, in slices */
#define BENCH_BUF           (FORMSAUTH_COOKIE_MAX / 2 + 256)

/* The ticket: v1, name "user@example.com", user data "Admins", path "/" = 70 bytes. */
#define BENCH_NAME      "user@example.com"
#define BENCH_USER_DATA "Admins"
#define BENCH_PATH      "/"

struct algset {
    const char *label;
    const char *compat;
    const char *validation;
    const char *decryption;
    size_t vkey_len; /* bytes */
    size_t dkey_len; /* bytes */
};

static const struct algset algsets[] = {
    {"legacy SHA1+AES-256", "Framework20SP2", "SHA1", "AES", 64, 32},
    {"legacy HMACSHA256+AES-192", "Framework20SP2", "HMACSHA256", "AES", 64, 24},
    {"legacy HMACSHA512+AES-256", "Framework20SP2", "HMACSHA512", "AES", 128, 32},
    {"legacy MD5+AES-192", "Framework20SP2", "MD5", "AES", 64, 24},
    {"legacy SHA1+3DES", "Framework20SP2", "SHA1", "3DES", 64, 24},
    {"legacy SHA1+DES", "Framework20SP2", "SHA1", "DES", 64, 8},
    {"fx45 SHA1+AES-256", "Framework45", "SHA1", "AES", 64, 32},
    {"fx45 HMACSHA256+AES-256", "Framework45", "HMACSHA256", "AES", 64, 32},
    {"fx45 HMACSHA512+AES-256", "Framework45", "HMACSHA512", "AES", 128, 32},
    {"fx45 HMACSHA256+3DES", "Framework45", "HMACSHA256", "3DES", 64, 24},
};
#define N_ALGSETS (sizeof algsets / sizeof algsets[0])

/* The four measurements of a round, in table order. */
enum bench_op {
    OP_DECODE,
    OP_DECODE_PRIM,
    OP_ISSUE,
    OP_ISSUE_PRIM,
    OP_COUNT,
};

/* The bare primitives of one algorithm set, keyed with the same keys libfarm uses. */
struct prim {
    bool fx45;
    bool md5;
    size_t mac_size;
    size_t block;
    size_t prefix_len; /* legacy: random prefix = cipher key length; fx45: 0 */
    EVP_MAC_CTX *hmac;
    EVP_MD *md5_md;
    EVP_MD_CTX *md;
    EVP_CIPHER_CTX *enc;
    EVP_CIPHER_CTX *dec;
    uint8_t mac_key[MK_KEY_MAX]; /* MD5's suffix */
    size_t mac_key_len;
};

/* Everything one algorithm set's measurements touch. */
struct bench_set {
    const struct algset *alg;
    struct formsauth fa;
    bool fa_ready;
    struct prim prim;
    bool prim_ready;
    struct ticket ticket;                  /* what issue serializes */
    struct ticket decoded;                 /* decode's output */
    int64_t now;                           /* pinned clock for decode */
    char cookie[FORMSAUTH_COOKIE_MAX + 1]; /* a valid cookie, decoded over and over */
    size_t cookie_len;
    char issued[FORMSAUTH_COOKIE_MAX + 1]; /* issue's output */
    uint8_t blob[BENCH_BUF];               /* the cookie as bytes: the primitives' input */
    size_t blob_len;
    uint8_t plain[BENCH_BUF]; /* the ticket bytes, serialized once */
    size_t plain_len;
    uint8_t decrypted[BENCH_BUF]; /* decode primitives' plaintext */
    uint8_t scratch[BENCH_BUF];   /* issue primitives' R || T || MAC(T) */
    uint8_t out[BENCH_BUF];       /* issue primitives' ciphertext */
    long failures;                /* decodes not FA_VALID, primitive MACs that did not match */
    double ops[OP_COUNT][BENCH_ROUNDS];
};

static const uint8_t zero_iv[16];

/* ---- primitives ------------------------------------------------------------------------- */

static const char *prim_digest(const char *validation)
{
    if (strcmp(validation, "HMACSHA256") == 0)
        return "SHA256";
    if (strcmp(validation, "HMACSHA512") == 0)
        return "SHA512";
    return "SHA1"; /* SHA1 (and 3DES/AES validation) */
}

static void prim_cleanup(struct prim *p)
{
    EVP_MAC_CTX_free(p->hmac);
    EVP_MD_CTX_free(p->md);
    EVP_MD_free(p->md5_md);
    EVP_CIPHER_CTX_free(p->enc);
    EVP_CIPHER_CTX_free(p->dec);
    OPENSSL_cleanse(p, sizeof *p);
}

/* Key the primitives with libfarm's effective keys (fx45: the derived ones). */
static int prim_init(struct prim *p, const struct machinekey *mk, const char *validation)
{
    uint8_t enc_key[MK_KEY_MAX], val_key[MK_KEY_MAX], k3[24];
    size_t enc_len = 0, val_len = 0;
    EVP_CIPHER *cipher = NULL;
    EVP_MAC *mac = NULL;
    int rc = -1;

    memset(p, 0, sizeof *p);
    p->fx45 = !machinekey_is_legacy(mk);
    p->md5 = mk->validation == MK_VALIDATION_MD5;
    p->mac_size = mk_validation_mac_size(mk->validation);
    p->block = mk_cipher_block_size(mk->cipher);
    if (p->fx45) {
        if (protect_derive_keys(mk, &PROTECT_FORMS_TICKET, enc_key, &enc_len, val_key, &val_len) !=
            0)
            goto out;
    } else {
        enc_len = machinekey_cipher_key_len(mk);
        memcpy(enc_key, mk->dkey.bytes, enc_len);
        val_len = mk->vkey.len;
        memcpy(val_key, mk->vkey.bytes, val_len);
        p->prefix_len = enc_len;
    }

    const char *cipher_name;
    const uint8_t *ckey = enc_key;
    if (mk->cipher == MK_CIPHER_AES) {
        cipher_name = enc_len == 16 ? "AES-128-CBC" : enc_len == 24 ? "AES-192-CBC" : "AES-256-CBC";
    } else {
        /* DES as K||K||K, 2-key 3DES as K1||K2||K1: the default provider's DES-EDE3. */
        cipher_name = "DES-EDE3-CBC";
        for (size_t i = 0; i < sizeof k3; i++)
            k3[i] = enc_key[i % enc_len];
        ckey = k3;
    }
    cipher = EVP_CIPHER_fetch(NULL, cipher_name, NULL);
    p->enc = EVP_CIPHER_CTX_new();
    p->dec = EVP_CIPHER_CTX_new();
    if (cipher == NULL || p->enc == NULL || p->dec == NULL ||
        EVP_EncryptInit_ex2(p->enc, cipher, ckey, NULL, NULL) != 1 ||
        EVP_DecryptInit_ex2(p->dec, cipher, ckey, NULL, NULL) != 1)
        goto out;

    if (p->md5) {
        p->md5_md = EVP_MD_fetch(NULL, "MD5", NULL);
        p->md = EVP_MD_CTX_new();
        if (p->md5_md == NULL || p->md == NULL || val_len > sizeof p->mac_key)
            goto out;
        memcpy(p->mac_key, val_key, val_len);
        p->mac_key_len = val_len;
    } else {
        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        p->hmac = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
        OSSL_PARAM params[2] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)prim_digest(validation),
                                             0),
            OSSL_PARAM_construct_end(),
        };
        if (p->hmac == NULL || EVP_MAC_init(p->hmac, val_key, val_len, params) != 1)
            goto out;
    }
    rc = 0;
out:
    EVP_CIPHER_free(cipher);
    EVP_MAC_free(mac);
    OPENSSL_cleanse(enc_key, sizeof enc_key);
    OPENSSL_cleanse(val_key, sizeof val_key);
    OPENSSL_cleanse(k3, sizeof k3);
    if (rc != 0)
        prim_cleanup(p);
    return rc;
}

/* The MAC of data into out (mac_size bytes). */
static int prim_mac(struct prim *p, const uint8_t *data, size_t len, uint8_t *out)
{
    if (p->md5) {
        unsigned int n = 0;
        return EVP_DigestInit_ex(p->md, p->md5_md, NULL) == 1 &&
                       EVP_DigestUpdate(p->md, data, len) == 1 &&
                       EVP_DigestUpdate(p->md, p->mac_key, p->mac_key_len) == 1 &&
                       EVP_DigestFinal_ex(p->md, out, &n) == 1
                   ? 0
                   : -1;
    }
    size_t n = 0;
    return EVP_MAC_init(p->hmac, NULL, 0, NULL) == 1 && EVP_MAC_update(p->hmac, data, len) == 1 &&
                   EVP_MAC_final(p->hmac, out, &n, EVP_MAX_MD_SIZE) == 1
               ? 0
               : -1;
}

/* The MAC of data compared in constant time with expected. */
static bool prim_mac_ok(struct prim *p, const uint8_t *data, size_t len, const uint8_t *expected)
{
    uint8_t got[EVP_MAX_MD_SIZE];
    return prim_mac(p, data, len, got) == 0 && CRYPTO_memcmp(got, expected, p->mac_size) == 0;
}

static long prim_cbc(EVP_CIPHER_CTX *ctx, bool enc, const uint8_t *iv, const uint8_t *in,
                     size_t len, uint8_t *out)
{
    int n1 = 0, n2 = 0;
    int ok = enc ? EVP_EncryptInit_ex2(ctx, NULL, NULL, iv, NULL) == 1 &&
                       EVP_EncryptUpdate(ctx, out, &n1, in, (int)len) == 1 &&
                       EVP_EncryptFinal_ex(ctx, out + n1, &n2) == 1
                 : EVP_DecryptInit_ex2(ctx, NULL, NULL, iv, NULL) == 1 &&
                       EVP_DecryptUpdate(ctx, out, &n1, in, (int)len) == 1 &&
                       EVP_DecryptFinal_ex(ctx, out + n1, &n2) == 1;
    return ok ? (long)n1 + n2 : -1;
}

/* ---- the four operations ---------------------------------------------------------------- */

static int op_decode(struct bench_set *s)
{
    enum fa_status st = formsauth_decode(&s->fa, s->cookie, s->cookie_len, s->now, &s->decoded);
    return st == FA_VALID ? 0 : -1;
}

static int op_decode_prim(struct bench_set *s)
{
    struct prim *p = &s->prim;
    size_t h = p->mac_size;
    size_t signed_len = s->blob_len - h;
    if (!prim_mac_ok(p, s->blob, signed_len, s->blob + signed_len))
        return -1;
    const uint8_t *iv = p->fx45 ? s->blob : zero_iv;
    size_t iv_len = p->fx45 ? p->block : 0;
    long n = prim_cbc(p->dec, false, iv, s->blob + iv_len, signed_len - iv_len, s->decrypted);
    if (n < 0)
        return -1;
    if (p->fx45)
        return (size_t)n == s->plain_len ? 0 : -1;
    /* R || T || MAC(T) */
    if ((size_t)n != p->prefix_len + s->plain_len + h)
        return -1;
    const uint8_t *t = s->decrypted + p->prefix_len;
    return prim_mac_ok(p, t, s->plain_len, t + s->plain_len) ? 0 : -1;
}

static int op_issue(struct bench_set *s)
{
    return formsauth_issue(&s->fa, &s->ticket, s->issued, sizeof s->issued) > 0 ? 0 : -1;
}

static int op_issue_prim(struct bench_set *s)
{
    struct prim *p = &s->prim;
    long n;
    if (p->fx45) {
        if (RAND_bytes(s->out, (int)p->block) != 1)
            return -1;
        n = prim_cbc(p->enc, true, s->out, s->plain, s->plain_len, s->out + p->block);
        if (n < 0)
            return -1;
        n += (long)p->block;
    } else {
        /* scratch holds R || T from set-up; refresh R, append MAC(T), encrypt. */
        if (RAND_bytes(s->scratch, (int)p->prefix_len) != 1)
            return -1;
        uint8_t *t = s->scratch + p->prefix_len;
        if (prim_mac(p, t, s->plain_len, t + s->plain_len) != 0)
            return -1;
        n = prim_cbc(p->enc, true, zero_iv, s->scratch, p->prefix_len + s->plain_len + p->mac_size,
                     s->out);
        if (n < 0)
            return -1;
    }
    return prim_mac(p, s->out, (size_t)n, s->out + n);
}

typedef int (*bench_fn)(struct bench_set *s);

static const bench_fn op_fns[OP_COUNT] = {
    [OP_DECODE] = op_decode,
    [OP_DECODE_PRIM] = op_decode_prim,
    [OP_ISSUE] = op_issue,
    [OP_ISSUE_PRIM] = op_issue_prim,
};

/* ---- timing ----------------------------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Run fn in batches for about slice seconds; returns operations per second. */
static double measure(bench_fn fn, struct bench_set *s, double slice)
{
    long ops = 0;
    double start = now_seconds();
    double elapsed;
    do {
        for (int i = 0; i < BENCH_BATCH; i++) {
            if (fn(s) != 0)
                s->failures++;
        }
        ops += BENCH_BATCH;
        elapsed = now_seconds() - start;
    } while (elapsed < slice);
    return (double)ops / elapsed;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double tmp[BENCH_ROUNDS];
    memcpy(tmp, v, (size_t)n * sizeof *v);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* Median over rounds of ours / primitives, in percent: paired within a round, so a noisy
 * round moves both sides together. */
static double median_ratio(const struct bench_set *s, enum bench_op ours, enum bench_op prim,
                           int rounds)
{
    double r[BENCH_ROUNDS];
    for (int i = 0; i < rounds; i++)
        r[i] = 100.0 * s->ops[ours][i] / s->ops[prim][i];
    return median(r, rounds);
}

static void run_set(struct bench_set *s, int rounds, double slice)
{
    /* Warm caches, branch predictors and the clock speed; not recorded. */
    for (int op = 0; op < OP_COUNT; op++)
        (void)measure(op_fns[op], s, slice * BENCH_WARMUP);
    /* Even rounds: ours first; odd rounds: primitives first. */
    static const enum bench_op order[2][OP_COUNT] = {
        {OP_DECODE, OP_DECODE_PRIM, OP_ISSUE, OP_ISSUE_PRIM},
        {OP_DECODE_PRIM, OP_DECODE, OP_ISSUE_PRIM, OP_ISSUE},
    };
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < OP_COUNT; k++) {
            enum bench_op op = order[r % 2][k];
            s->ops[op][r] = measure(op_fns[op], s, slice);
        }
    }
}

/* ---- set-up ----------------------------------------------------------------------------- */

static int random_hex(size_t len, char *out)
{
    uint8_t key[MK_KEY_MAX];
    if (len > sizeof key || RAND_bytes(key, (int)len) != 1)
        return -1;
    hex_encode(key, len, out);
    OPENSSL_cleanse(key, sizeof key);
    return 0;
}

/* Key formsauth and the primitives with fresh random keys, issue the cookie decode will
 * read, and check that the primitives agree with it. Returns 0, or -1 with err filled. */
static int set_init(struct bench_set *s, const struct algset *alg, struct errbuf *err)
{
    char vhex[2 * MK_KEY_MAX + 1], dhex[2 * MK_KEY_MAX + 1];
    struct machinekey mk;
    bool mk_ready = false;
    int rc = -1;

    memset(s, 0, sizeof *s);
    s->alg = alg;
    if (random_hex(alg->vkey_len, vhex) != 0 || random_hex(alg->dkey_len, dhex) != 0) {
        errbuf_set(err, "RAND_bytes failed");
        goto out;
    }
    struct mk_params params = {
        .validation_key = vhex,
        .decryption_key = dhex,
        .validation = alg->validation,
        .decryption = alg->decryption,
        .compat = alg->compat,
    };
    if (machinekey_init(&mk, &params, err, NULL) != 0)
        goto out;
    mk_ready = true;
    if (formsauth_init(&s->fa, &mk, err) != 0)
        goto out;
    s->fa_ready = true;
    if (prim_init(&s->prim, &mk, alg->validation) != 0) {
        errbuf_set(err, "cannot key the OpenSSL primitives");
        goto out;
    }
    s->prim_ready = true;

    s->now = ticks_now();
    ticket_init(&s->ticket);
    s->ticket.issue_ticks = s->now;
    s->ticket.expiration_ticks = s->now + 30 * 60 * TICKS_PER_SECOND;
    if (ticket_set(&s->ticket, TICKET_NAME, BENCH_NAME, strlen(BENCH_NAME)) != 0 ||
        ticket_set(&s->ticket, TICKET_USER_DATA, BENCH_USER_DATA, strlen(BENCH_USER_DATA)) != 0 ||
        ticket_set(&s->ticket, TICKET_COOKIE_PATH, BENCH_PATH, strlen(BENCH_PATH)) != 0) {
        errbuf_set(err, "cannot build the ticket");
        goto out;
    }
    long n = ticket_serialize(&s->ticket, s->plain, sizeof s->plain);
    long c = formsauth_issue(&s->fa, &s->ticket, s->cookie, sizeof s->cookie);
    if (n < 0 || c < 0) {
        errbuf_set(err, "cannot serialize or issue the ticket");
        goto out;
    }
    s->plain_len = (size_t)n;
    s->cookie_len = (size_t)c;
    long b = hex_decode(s->cookie, s->cookie_len, s->blob, sizeof s->blob);
    if (b < 0 || (size_t)b <= s->prim.mac_size) {
        errbuf_set(err, "issued cookie is not hex");
        goto out;
    }
    s->blob_len = (size_t)b;
    /* R || T for the legacy issue primitive; R is refreshed on every call. */
    memcpy(s->scratch + s->prim.prefix_len, s->plain, s->plain_len);

    /* The baseline must do the real work: ours and the primitives agree on this cookie. */
    size_t name_len = 0;
    const char *name;
    if (op_decode(s) != 0 ||
        (name = ticket_get(&s->decoded, TICKET_NAME, &name_len), name_len != strlen(BENCH_NAME)) ||
        memcmp(name, BENCH_NAME, name_len) != 0) {
        errbuf_set(err, "formsauth_decode does not accept its own cookie");
        goto out;
    }
    if (op_decode_prim(s) != 0 ||
        memcmp(s->decrypted + s->prim.prefix_len, s->plain, s->plain_len) != 0) {
        errbuf_set(err, "the primitives do not verify and decrypt the cookie");
        goto out;
    }
    if (op_issue_prim(s) != 0) {
        errbuf_set(err, "the issue primitives failed");
        goto out;
    }
    rc = 0;
out:
    if (mk_ready)
        machinekey_cleanup(&mk);
    OPENSSL_cleanse(vhex, sizeof vhex);
    OPENSSL_cleanse(dhex, sizeof dhex);
    return rc;
}

static void set_cleanup(struct bench_set *s)
{
    if (s->fa_ready)
        formsauth_cleanup(&s->fa);
    if (s->prim_ready)
        prim_cleanup(&s->prim);
    s->fa_ready = s->prim_ready = false;
}

/* ---- output ----------------------------------------------------------------------------- */

static void print_table_head(int rounds, double slice, size_t ticket_len)
{
    printf("bench-machinekey: %s; v1 ticket %zu bytes; %d rounds x 4 slices of %.0f ms per set;"
           " median ops/s, median per-round ratio\n\n",
           OpenSSL_version(OPENSSL_VERSION), ticket_len, rounds, slice * 1e3);
    printf("%-26s %6s | %10s %10s %7s | %10s %10s %7s\n", "algorithm set", "cookie", "decode/s",
           "prims/s", "ratio", "issue/s", "prims/s", "ratio");
    printf("%-26s %6s | %10s %10s %7s | %10s %10s %7s\n", "--------------------------", "------",
           "----------", "----------", "-------", "----------", "----------", "-------");
}

static void print_table_row(const struct bench_set *s, int rounds)
{
    printf("%-26s %6zu | %10.0f %10.0f %6.1f%% | %10.0f %10.0f %6.1f%%%s\n", s->alg->label,
           s->cookie_len, median(s->ops[OP_DECODE], rounds), median(s->ops[OP_DECODE_PRIM], rounds),
           median_ratio(s, OP_DECODE, OP_DECODE_PRIM, rounds), median(s->ops[OP_ISSUE], rounds),
           median(s->ops[OP_ISSUE_PRIM], rounds), median_ratio(s, OP_ISSUE, OP_ISSUE_PRIM, rounds),
           s->failures ? "  FAILED" : "");
}

static void print_json_row(const struct bench_set *s, int rounds, bool last)
{
    printf("    {\"set\": \"%s\", \"compat\": \"%s\", \"validation\": \"%s\", "
           "\"decryption\": \"%s\", \"decryption_key_bits\": %zu, \"cookie_chars\": %zu, "
           "\"decode_ops\": %.0f, \"decode_prim_ops\": %.0f, \"decode_ratio_pct\": %.1f, "
           "\"issue_ops\": %.0f, \"issue_prim_ops\": %.0f, \"issue_ratio_pct\": %.1f, "
           "\"failures\": %ld}%s\n",
           s->alg->label, s->alg->compat, s->alg->validation, s->alg->decryption,
           8 * s->alg->dkey_len, s->cookie_len, median(s->ops[OP_DECODE], rounds),
           median(s->ops[OP_DECODE_PRIM], rounds),
           median_ratio(s, OP_DECODE, OP_DECODE_PRIM, rounds), median(s->ops[OP_ISSUE], rounds),
           median(s->ops[OP_ISSUE_PRIM], rounds), median_ratio(s, OP_ISSUE, OP_ISSUE_PRIM, rounds),
           s->failures, last ? "" : ",");
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench-machinekey [--seconds S] [--quick] [--json]\n"
            "  --seconds S  total time budget in seconds (default %.0f)\n"
            "  --quick      %d short rounds in about %.1f s: a smoke test, not a measurement\n"
            "  --json       one JSON object on stdout instead of the table\n",
            BENCH_SECONDS, BENCH_QUICK_ROUNDS, BENCH_QUICK_SECONDS);
}

int main(int argc, char **argv)
{
    double seconds = BENCH_SECONDS;
    bool seconds_set = false, quick = false, json = false;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            seconds = strtod(argv[++i], &end);
            if (errno != 0 || *end != '\0' || !(seconds > 0 && seconds <= 3600)) {
                fprintf(stderr, "bench-machinekey: --seconds wants a number in (0, 3600]\n");
                return 2;
            }
            seconds_set = true;
        } else if (strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    int rounds = quick ? BENCH_QUICK_ROUNDS : BENCH_ROUNDS;
    if (quick && !seconds_set)
        seconds = BENCH_QUICK_SECONDS;
    /* Every set runs OP_COUNT measurements per round plus one warm-up each. */
    double slice = seconds / ((double)N_ALGSETS * OP_COUNT * (rounds + BENCH_WARMUP));

    static struct bench_set sets[N_ALGSETS];
    long failures = 0;
    int status = 0;
    size_t ready = 0;
    for (; ready < N_ALGSETS; ready++) {
        struct errbuf err = {{0}};
        if (set_init(&sets[ready], &algsets[ready], &err) != 0) {
            fprintf(stderr, "bench-machinekey: set=\"%s\" error=\"%s\"\n", algsets[ready].label,
                    err.msg);
            set_cleanup(&sets[ready]);
            status = 1;
            goto out;
        }
    }

    if (json)
        printf("{\n  \"openssl\": \"%s\", \"ticket_bytes\": %zu, \"rounds\": %d, "
               "\"slice_s\": %.4f,\n  \"results\": [\n",
               OpenSSL_version(OPENSSL_VERSION), sets[0].plain_len, rounds, slice);
    else
        print_table_head(rounds, slice, sets[0].plain_len);
    for (size_t i = 0; i < N_ALGSETS; i++) {
        run_set(&sets[i], rounds, slice);
        failures += sets[i].failures;
        if (json)
            print_json_row(&sets[i], rounds, i + 1 == N_ALGSETS);
        else
            print_table_row(&sets[i], rounds);
        fflush(stdout);
    }
    if (json)
        printf("  ],\n  \"failures\": %ld\n}\n", failures);
    else
        printf("\nratio = ours / primitives-only for the same work; 100%% is the floor.\n");
    if (failures > 0) {
        fprintf(stderr,
                "bench-machinekey: %ld operations failed (decode not valid or a primitive "
                "MAC mismatch)\n",
                failures);
        status = 1;
    }
out:
    for (size_t i = 0; i < ready; i++)
        set_cleanup(&sets[i]);
    return status;
}
