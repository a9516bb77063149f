/* fuzz_cookie: forms-authentication cookies (formsauth_decode) under fixed machineKeys.
 *
 * Every input goes through five parts:
 *   A. as cookie text, decoded under each key (hex / UrlToken, lengths, MAC refusals);
 *   B. as ticket bytes, through ticket_parse_any;
 *   C. as a ticket plaintext that we protect ourselves under each key and then decode: this
 *      is how fuzzed bytes reach ticket parsing *behind* a valid MAC and decryption, the
 *      path a cookie from a compromised or disclosed key takes;
 *   D. as an edit script over valid cookies issued at start-up (edit the cookie text, or edit
 *      the ticket inside it and protect again);
 *   E. legacy keys: as the whole decrypted layout (random prefix || ticket || inner MAC),
 *      which we encrypt and MAC ourselves, so that the checks after decryption (prefix
 *      length, inner MAC) see attacker-shaped plaintext — what a holder of the validation
 *      and decryption keys could send.
 * Invariants: a blob we protected ourselves always passes the MAC, in hex and in UrlToken
 * form, and then decodes valid/expired exactly when ticket_parse_any accepts the plaintext,
 * to the same fields; under a sibling key (same validation key, other decryption key) it
 * passes the MAC and, in the legacy pipeline, is a bad ticket; in part E the verdict is the
 * one an independent reading of the layout predicts; a decoded ticket's text storage is
 * well formed.
 *
 * The keys are public: they come from tests/data/aspnet-vectors.json (ids named below), so
 * the real ASP.NET cookies in corpus/cookie decode valid. MD5 + DES and the siblings'
 * decryption keys are made up. */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"

#include "base64.h"
#include "formsauth.h"
#include "hex.h"
#include "mac.h"
#include "ticket.h"

/* The clock every decode runs at: inside the validity of the fa4j vectors' tickets. */
#define FUZZ_NOW 636802000000000000LL

/* fa4j-* vectors (validation and decryption keys). */
#define FA4J_VKEY                                                                                  \
    "06681DC23D3B0AEBF340A8E1C493C37C8599BFFCA55849FF51C4ED158D45CB483D776848E339A12044CF0FA7"     \
    "0C567AF781140806F327A3EEA17311EE5599FE3B"
#define FA4J_DKEY "08347853AC82432810FCFEE731314D6FD1A692AAF3F554B9"
/* dazinator-hmacsha512-aes256-fx45. */
#define DAZ_VKEY                                                                                   \
    "58703273357638792F423F4528472B4B6250655368566D597133743677397A24432646294A404D635166546A"     \
    "576E5A7234753778214125442A472D4B61506452"
#define DAZ_DKEY "66556A586E3272357538782F413F442A472D4B6150645367566B597033733676"

static const struct mk_params fuzz_cookie_keys[] = {
    /* legacy SHA1 + AES (fa4j-v1-sha1-aes192) */
    {.validation_key = FA4J_VKEY,
     .decryption_key = FA4J_DKEY,
     .validation = "SHA1",
     .decryption = "AES",
     .compat = "Framework20SP2"},
    /* legacy SHA1 + AES, SP1: legacy-format tickets (fa4j-legacyfmt-sha1-aes192) */
    {.validation_key = FA4J_VKEY,
     .decryption_key = FA4J_DKEY,
     .validation = "SHA1",
     .decryption = "AES",
     .compat = "Framework20SP1"},
    /* legacy MD5 + AES (fa4j-legacyfmt-md5-aes192) */
    {.validation_key = FA4J_VKEY,
     .decryption_key = FA4J_DKEY,
     .validation = "MD5",
     .decryption = "AES",
     .compat = "Framework20SP1"},
    /* legacy MD5 + DES: made up, no vector */
    {.validation_key = "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718",
     .decryption_key = "0123456789ABCDEF",
     .validation = "MD5",
     .decryption = "DES",
     .compat = "Framework20SP2"},
    /* Framework45 HMACSHA512 + AES-256 (dazinator-hmacsha512-aes256-fx45) */
    {.validation_key = DAZ_VKEY,
     .decryption_key = DAZ_DKEY,
     .validation = "HMACSHA512",
     .decryption = "AES",
     .compat = "Framework45"},
    /* 5: sibling of 0: same validation key, another decryption key */
    {.validation_key = FA4J_VKEY,
     .decryption_key = "F0E1D2C3B4A5968778695A4B3C2D1E0FF0E1D2C3B4A59687",
     .validation = "SHA1",
     .decryption = "AES",
     .compat = "Framework20SP2"},
    /* 6: sibling of 4 */
    {.validation_key = DAZ_VKEY,
     .decryption_key = "F0E1D2C3B4A5968778695A4B3C2D1E0FF0E1D2C3B4A5968778695A4B3C2D1E0F",
     .validation = "HMACSHA512",
     .decryption = "AES",
     .compat = "Framework45"},
};

/* The key with the same validation key and another decryption key, or -1. */
static const int fuzz_cookie_sibling[] = {5, -1, -1, -1, 6, -1, -1};
_Static_assert(sizeof fuzz_cookie_sibling / sizeof fuzz_cookie_sibling[0] ==
                   sizeof fuzz_cookie_keys / sizeof fuzz_cookie_keys[0],
               "one sibling entry per key");

#define FUZZ_KEYS  (sizeof fuzz_cookie_keys / sizeof fuzz_cookie_keys[0])
#define FUZZ_VALID (FUZZ_KEYS * 2) /* a v1 and a legacy ticket per key */

static struct formsauth fuzz_fa[FUZZ_KEYS];

/* Valid cookies issued at start-up, and the plaintext ticket inside each. */
struct fuzz_valid_cookie {
    size_t key;
    char cookie[FORMSAUTH_COOKIE_MAX + 1];
    size_t cookie_len;
    uint8_t plain[TICKET_WIRE_MAX];
    size_t plain_len;
};
static struct fuzz_valid_cookie fuzz_valid[FUZZ_VALID];

static void fuzz_cookie_init(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    for (size_t k = 0; k < FUZZ_KEYS; k++) {
        struct machinekey mk;
        struct errbuf err = {{0}};
        FUZZ_CHECK(machinekey_init(&mk, &fuzz_cookie_keys[k], &err, NULL) == 0,
                   "fixed machineKey resolves");
        FUZZ_CHECK(formsauth_init(&fuzz_fa[k], &mk, &err) == 0, "fixed machineKey keys");
        machinekey_cleanup(&mk);

        for (int fmt = 0; fmt < 2; fmt++) {
            size_t i = 2 * k + (size_t)fmt;
            struct ticket t;
            ticket_init(&t);
            t.format = fmt == 0 ? TICKET_FORMAT_V1 : TICKET_FORMAT_LEGACY;
            t.version = 2;
            t.issue_ticks = FUZZ_NOW - 36000000000LL;
            t.expiration_ticks = FUZZ_NOW + 864000000000LL;
            t.persistent = fmt == 0;
            static const char name[] = "alice@example.com", data[] = "role=admin;\xc3\xa9t\xc3\xa9",
                              path[] = "/";
            FUZZ_CHECK(ticket_set(&t, TICKET_NAME, name, sizeof name - 1) == 0 &&
                           ticket_set(&t, TICKET_USER_DATA, data, sizeof data - 1) == 0 &&
                           ticket_set(&t, TICKET_COOKIE_PATH, path, sizeof path - 1) == 0,
                       "seed ticket strings");
            long n =
                formsauth_issue(&fuzz_fa[k], &t, fuzz_valid[i].cookie, sizeof fuzz_valid[i].cookie);
            FUZZ_CHECK(n > 0, "seed cookie issues");
            fuzz_valid[i].key = k;
            fuzz_valid[i].cookie_len = (size_t)n;
            struct ticket back;
            FUZZ_CHECK(formsauth_decode(&fuzz_fa[k], fuzz_valid[i].cookie, (size_t)n, FUZZ_NOW,
                                        &back) == FA_VALID,
                       "seed cookie decodes valid");
            long p = ticket_serialize(&back, fuzz_valid[i].plain, sizeof fuzz_valid[i].plain);
            FUZZ_CHECK(p > 0, "seed ticket serializes");
            fuzz_valid[i].plain_len = (size_t)p;
        }
    }
}

static void fuzz_cookie_check_ticket(const struct ticket *t)
{
    FUZZ_CHECK(t->text_used <= TICKET_TEXT_MAX, "text_used within the text area");
    for (int f = 0; f < TICKET_FIELD_COUNT; f++)
        FUZZ_CHECK((size_t)t->str[f].off + t->str[f].len < t->text_used &&
                       t->text[t->str[f].off + t->str[f].len] == '\0',
                   "decoded field is inside the text and NUL-terminated");
}

static bool fuzz_cookie_same_ticket(const struct ticket *a, const struct ticket *b)
{
    if (a->format != b->format || a->version != b->version || a->issue_ticks != b->issue_ticks ||
        a->expiration_ticks != b->expiration_ticks || a->persistent != b->persistent)
        return false;
    for (int f = 0; f < TICKET_FIELD_COUNT; f++) {
        size_t la, lb;
        const char *sa = ticket_get(a, (enum ticket_field)f, &la);
        const char *sb = ticket_get(b, (enum ticket_field)f, &lb);
        if (la != lb || memcmp(sa, sb, la) != 0)
            return false;
    }
    return true;
}

/* Decode text under key k (an exactly sized copy, so ASan sees reads past its end). */
static enum fa_status fuzz_cookie_decode(size_t k, const char *text, size_t len, struct ticket *out)
{
    char *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, text, len);
    enum fa_status st = formsauth_decode(&fuzz_fa[k], copy, len, FUZZ_NOW, out);
    free(copy);
    FUZZ_CHECK(st < FA_STATUS_COUNT && st != FA_ABSENT, "decode returns a decode status");
    if (st == FA_VALID || st == FA_EXPIRED) {
        fuzz_cookie_check_ticket(out);
        FUZZ_CHECK((st == FA_EXPIRED) == (out->expiration_ticks < FUZZ_NOW),
                   "expired exactly when the expiration is past");
    }
    return st;
}

/* Part C: protect plain under key k, decode as hex and as UrlToken, check the verdict. */
static void fuzz_cookie_behind_mac(size_t k, const uint8_t *plain, size_t len)
{
    if (len > TICKET_WIRE_MAX)
        return;
    struct protector *p = &fuzz_fa[k].prot;
    size_t cap = len + protector_overhead(p);
    uint8_t *blob = malloc(cap);
    char *text = malloc(2 * cap + 2);
    if (blob == NULL || text == NULL)
        abort();
    long n = protector_protect(p, plain, len, blob, cap);
    FUZZ_CHECK(n > 0, "protect succeeds with protector_overhead room");
    FUZZ_CHECK((size_t)n <= cap, "protect stays inside its room");

    struct ticket expect;
    bool parses = ticket_parse_any(plain, len, &expect, NULL) == 0;

    for (int form = 0; form < 2; form++) {
        size_t tlen;
        if (form == 0) {
            hex_encode(blob, (size_t)n, text);
            tlen = 2 * (size_t)n;
        } else {
            tlen = base64_urltoken_encode(blob, (size_t)n, text);
            /* An even-length token made only of hex digits is read as hex, as ASP.NET does. */
            if (tlen % 2 == 0 && hex_is_valid(text, tlen))
                continue;
        }
        struct ticket got;
        enum fa_status st = fuzz_cookie_decode(k, text, tlen, &got);
        if (tlen > FORMSAUTH_COOKIE_MAX) {
            FUZZ_CHECK(st == FA_MALFORMED, "an over-long cookie is malformed");
            continue;
        }
        /* formsauth holds at most the 2048 protected bytes a 4096-character hex cookie
         * carries (plus 16 bytes of slack); a UrlToken text of up to 4096 characters can
         * carry 3072, and is refused as too long (ASP.NET's Decrypt limits only the text). */
        if ((size_t)n > FORMSAUTH_COOKIE_MAX / 2 && st == FA_MALFORMED)
            continue;
        FUZZ_CHECK(st != FA_MAC_MISMATCH && st != FA_MALFORMED,
                   "a blob we protected passes the MAC");
        if (parses) {
            FUZZ_CHECK(st == FA_VALID || st == FA_EXPIRED, "a parsable plaintext decodes");
            FUZZ_CHECK(fuzz_cookie_same_ticket(&got, &expect),
                       "decode gives ticket_parse_any's fields");
        } else {
            FUZZ_CHECK(st == FA_BAD_TICKET, "an unparsable plaintext is a bad ticket");
        }
        int sib = fuzz_cookie_sibling[k];
        if (sib >= 0) {
            /* Same validation key: the MAC passes and decryption runs with the wrong key. */
            st = fuzz_cookie_decode((size_t)sib, text, tlen, &got);
            FUZZ_CHECK(st != FA_MAC_MISMATCH && st != FA_MALFORMED, "a sibling key passes the MAC");
            if (!p->fx45)
                FUZZ_CHECK(st == FA_BAD_TICKET, "a sibling legacy key fails the inner MAC");
        }
    }
    /* A ticket that parsed can be issued again (unless it is too long for a cookie), and
     * the new cookie decodes to the same fields. */
    if (parses) {
        long c = formsauth_issue(&fuzz_fa[k], &expect, text, 2 * cap + 2);
        if (c < 0) {
            long w = ticket_serialize(&expect, blob, cap);
            FUZZ_CHECK(w > 0, "a parsed ticket serializes");
            FUZZ_CHECK((size_t)w > FORMSAUTH_COOKIE_MAX / 2 - protector_overhead(p),
                       "issue refuses only tickets too long for a cookie");
        } else {
            struct ticket got;
            enum fa_status st = fuzz_cookie_decode(k, text, (size_t)c, &got);
            FUZZ_CHECK(st == FA_VALID || st == FA_EXPIRED, "an issued cookie decodes");
            FUZZ_CHECK(fuzz_cookie_same_ticket(&got, &expect), "issue → decode keeps the fields");
        }
    }
    free(text);
    free(blob);
}

/* Part E: under legacy key k, the input is the decrypted layout itself. Encrypt it with the
 * key's cipher (zero IV, as the legacy pipeline does), append the MAC, decode, and compare
 * with what reading the layout independently predicts. */
static void fuzz_cookie_raw_layout(size_t k, const uint8_t *layout, size_t len)
{
    struct protector *p = &fuzz_fa[k].prot;
    static const uint8_t zero_iv[16];
    if (p->fx45 || len > TICKET_WIRE_MAX)
        return;
    uint8_t *blob = malloc(len + p->block + p->mac_size);
    char *text = malloc(2 * (len + p->block + p->mac_size) + 1);
    if (blob == NULL || text == NULL)
        abort();
    long c = cbc_encrypt(&p->cbc, zero_iv, layout, len, blob);
    FUZZ_CHECK(c > 0, "legacy cipher encrypts");
    FUZZ_CHECK(mac_compute(&p->mac, blob, (size_t)c, NULL, 0, blob + c) == 0, "MAC computes");
    size_t blen = (size_t)c + p->mac_size;
    hex_encode(blob, blen, text);

    /* prefix || ticket || MAC(ticket) */
    enum fa_status want = FA_BAD_TICKET;
    struct ticket expect;
    size_t h = p->mac_size;
    if (len >= p->prefix_len + h) {
        const uint8_t *body = layout + p->prefix_len;
        size_t tlen = len - p->prefix_len - h;
        if (mac_verify(&p->mac, body, tlen, NULL, 0, body + tlen) &&
            ticket_parse_any(body, tlen, &expect, NULL) == 0)
            want = expect.expiration_ticks < FUZZ_NOW ? FA_EXPIRED : FA_VALID;
    }
    struct ticket got;
    enum fa_status st = fuzz_cookie_decode(k, text, 2 * blen, &got);
    if (2 * blen > FORMSAUTH_COOKIE_MAX) {
        FUZZ_CHECK(st == FA_MALFORMED, "an over-long cookie is malformed");
    } else {
        FUZZ_CHECK(st == want, "decode reads the legacy layout as predicted");
        if (want != FA_BAD_TICKET)
            FUZZ_CHECK(fuzz_cookie_same_ticket(&got, &expect), "and gives the predicted fields");
    }
    free(text);
    free(blob);
}

/* Part D: the input as an edit script over one of the valid cookies. */
static void fuzz_cookie_edit_valid(const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    size_t which = data[0] % FUZZ_VALID;
    unsigned op = (unsigned)(data[0] / FUZZ_VALID) % 4;
    const uint8_t *rest = data + 2;
    size_t rlen = size - 2;
    const struct fuzz_valid_cookie *v = &fuzz_valid[which];
    size_t buf_len = FORMSAUTH_COOKIE_MAX + TICKET_WIRE_MAX + rlen + 1;
    uint8_t *buf = malloc(buf_len);
    if (buf == NULL)
        abort();
    struct ticket t;

    switch (op) {
    case 0: /* overwrite part of the cookie text */
    case 1: /* cut the cookie text and append */ {
        size_t at = op == 0 ? (size_t)data[1] * 8 % (v->cookie_len + 1)
                            : (size_t)data[1] * 4 % (v->cookie_len + 1);
        memcpy(buf, v->cookie, v->cookie_len);
        size_t len = op == 0 ? v->cookie_len : at;
        for (size_t i = 0; i < rlen; i++) {
            if (at + i < len)
                buf[at + i] = rest[i];
            else
                buf[len++] = rest[i];
        }
        (void)fuzz_cookie_decode(v->key, (const char *)buf, len, &t);
        break;
    }
    case 2: /* overwrite bytes of the ticket inside, protect again */
    case 3: /* cut the ticket inside and append, protect again */ {
        size_t at = data[1] % (v->plain_len + 1);
        memcpy(buf, v->plain, v->plain_len);
        size_t len = op == 2 ? v->plain_len : at;
        for (size_t i = 0; i < rlen; i++) {
            if (at + i < len)
                buf[at + i] = rest[i];
            else
                buf[len++] = rest[i];
        }
        fuzz_cookie_behind_mac(v->key, buf, len);
        break;
    }
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_cookie_init();
    if (size > FUZZ_INPUT_MAX)
        size = FUZZ_INPUT_MAX;

    struct ticket t;
    /* A: the input as a cookie value. */
    for (size_t k = 0; k < FUZZ_KEYS; k++)
        (void)fuzz_cookie_decode(k, (const char *)data, size, &t);
    /* B: the input as ticket bytes. */
    (void)ticket_parse_any(data, size, &t, NULL);
    /* C: the input as the plaintext behind a valid MAC. */
    for (size_t k = 0; k < FUZZ_KEYS; k++)
        fuzz_cookie_behind_mac(k, data, size);
    /* D: the input as edits of a valid cookie. */
    fuzz_cookie_edit_valid(data, size);
    /* E: the input as the decrypted legacy layout. */
    for (size_t k = 0; k < FUZZ_KEYS; k++)
        fuzz_cookie_raw_layout(k, data, size);
    return 0;
}
