/* fuzz_viewstate: __VIEWSTATE checking (viewstate_unprotect) under fixed keys and pages.
 *
 * Every input goes through three parts:
 *   A. as __VIEWSTATE text, checked under each page (base64, lengths, MAC refusals);
 *   B. as a payload we protect ourselves and check again — it must come back valid and equal
 *      (the round trip every postback relies on) — and checked under a sibling page with the
 *      same validation key but another decryption key, which passes the MAC and so reaches
 *      decryption, padding and the modifier check with garbage;
 *   C. as an edit script over a valid ViewState issued at start-up (text or decoded bytes).
 *
 * The keys come from the badsecrets-viewstate-* vectors in tests/data/aspnet-vectors.json,
 * so the real ViewStates in corpus/viewstate check valid; the 3DES page is made up. */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"

#include "base64.h"
#include "viewstate.h"

#define BADSECRETS_VKEY                                                                            \
    "F5144F1A581A57BA3B60311AF7562A855998F7DD203CD8A71405599B980D8694B5C986C888BE4FC0E6571C2C"     \
    "E600D58CE82B8FA13106B17D77EA4CECDDBBEC1B"
#define BADSECRETS_DKEY "B47D3CD1E780CF30C739A080995B9B10B64354AA135A2D78"
#define OTHER_DKEY      "0F1E2D3C4B5A69788796A5B4C3D2E1F00F1E2D3C4B5A6978"

/* Payloads above this are not worth the time: the codecs are linear. */
#define FUZZ_PAYLOAD_MAX (16 * 1024)

struct fuzz_vs_config {
    struct mk_params key;
    struct viewstate_page page;
    int sibling; /* index of the page with another decryption key, or -1 */
};

static const struct fuzz_vs_config fuzz_vs_configs[] = {
    /* 0: signed only, HMAC-SHA1 (badsecrets-viewstate-noenc-sha1) */
    {{.validation_key = BADSECRETS_VKEY,
      .decryption_key = BADSECRETS_DKEY,
      .validation = "SHA1",
      .decryption = "AES",
      .compat = "Framework20SP2"},
     {.template_dir = "/", .type_name = "form_aspx", .generator = 0xEDD8C9AE},
     -1},
    /* 1: encrypted, AES + SHA1 (badsecrets-viewstate-aes-sha1) */
    {{.validation_key = BADSECRETS_VKEY,
      .decryption_key = BADSECRETS_DKEY,
      .validation = "SHA1",
      .decryption = "AES",
      .compat = "Framework20SP2"},
     {.template_dir = "/", .type_name = "form_aspx", .generator = 0xEDD8C9AE, .encrypt = true},
     5},
    /* 2: signed with MD5 (badsecrets-viewstate-noenc-md5) */
    {{.validation_key = BADSECRETS_VKEY,
      .decryption_key = BADSECRETS_DKEY,
      .validation = "MD5",
      .decryption = "AES",
      .compat = "Framework20SP2"},
     {.template_dir = "/", .type_name = "form_aspx", .generator = 0xEDD8C9AE},
     -1},
    /* 3: Framework45, HMACSHA256 (badsecrets-viewstate-fx45-hmacsha256) */
    {{.validation_key = BADSECRETS_VKEY,
      .decryption_key = BADSECRETS_DKEY,
      .validation = "HMACSHA256",
      .decryption = "AES",
      .compat = "Framework45"},
     {.template_dir = "/", .type_name = "form_aspx"},
     6},
    /* 4: 3DES validation (always encrypted), DES cipher, a ViewStateUserKey: made up */
    {{.validation_key = BADSECRETS_VKEY,
      .decryption_key = "0123456789ABCDEF",
      .validation = "3DES",
      .decryption = "DES",
      .compat = "Framework20SP2"},
     {.template_dir = "/app/",
      .type_name = "cart_aspx",
      .generator = 0x01020304,
      .user_key = "alice"},
     -1},
    /* 5: sibling of 1 */
    {{.validation_key = BADSECRETS_VKEY,
      .decryption_key = OTHER_DKEY,
      .validation = "SHA1",
      .decryption = "AES",
      .compat = "Framework20SP2"},
     {.template_dir = "/", .type_name = "form_aspx", .generator = 0xEDD8C9AE, .encrypt = true},
     -1},
    /* 6: sibling of 3 */
    {{.validation_key = BADSECRETS_VKEY,
      .decryption_key = OTHER_DKEY,
      .validation = "HMACSHA256",
      .decryption = "AES",
      .compat = "Framework45"},
     {.template_dir = "/", .type_name = "form_aspx"},
     -1},
};

#define FUZZ_VS (sizeof fuzz_vs_configs / sizeof fuzz_vs_configs[0])

static struct viewstate fuzz_vs[FUZZ_VS];
static char *fuzz_vs_valid[FUZZ_VS]; /* a valid ViewState per page */
static size_t fuzz_vs_valid_len[FUZZ_VS];

static void fuzz_vs_init(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    static const uint8_t payload[] = "\xff\x01\x0f\x0f\x05\x09\x38\x31\x31\x30\x31\x39\x37\x36"
                                     "9dd\x64\x02\x01\x0f\x16\x02\x1e\x04Text\x05\x05Hello";
    for (size_t i = 0; i < FUZZ_VS; i++) {
        struct machinekey mk;
        struct errbuf err = {{0}};
        FUZZ_CHECK(machinekey_init(&mk, &fuzz_vs_configs[i].key, &err, NULL) == 0,
                   "fixed machineKey resolves");
        FUZZ_CHECK(viewstate_init(&fuzz_vs[i], &mk, &fuzz_vs_configs[i].page, &err) == 0,
                   "fixed page keys");
        machinekey_cleanup(&mk);
        size_t cap = base64_encoded_len(sizeof payload + protector_overhead(&fuzz_vs[i].prot)) + 1;
        fuzz_vs_valid[i] = malloc(cap);
        if (fuzz_vs_valid[i] == NULL)
            abort();
        long n = viewstate_protect(&fuzz_vs[i], payload, sizeof payload - 1, fuzz_vs_valid[i], cap);
        FUZZ_CHECK(n > 0, "seed ViewState protects");
        fuzz_vs_valid_len[i] = (size_t)n;
    }
}

/* Check text under page i, from an exactly sized copy into an exactly sized output. */
static enum vs_status fuzz_vs_check(size_t i, const char *text, size_t len, uint8_t *payload,
                                    size_t *payload_len)
{
    char *copy = malloc(len > 0 ? len : 1);
    uint8_t *out = malloc(len > 0 ? len : 1);
    if (copy == NULL || out == NULL)
        abort();
    memcpy(copy, text, len);
    size_t out_len = 0;
    enum vs_status st = viewstate_unprotect(&fuzz_vs[i], copy, len, out, len, &out_len);
    FUZZ_CHECK(st <= VS_MALFORMED, "unprotect returns a status");
    if (st == VS_VALID) {
        FUZZ_CHECK(out_len <= len, "payload is shorter than its text");
        if (payload != NULL) {
            memcpy(payload, out, out_len);
            *payload_len = out_len;
        }
    }
    free(out);
    free(copy);
    return st;
}

/* Part B. The payload goes in as ObjectStateFormatter's output does, after its marker
 * 0xFF 0x01 (without it a ViewState checks invalid, whatever its MAC). */
static void fuzz_vs_round_trip(size_t i, const uint8_t *fuzz, size_t fuzz_len)
{
    if (fuzz_len + 2 > FUZZ_PAYLOAD_MAX)
        return;
    size_t len = fuzz_len + 2;
    uint8_t *payload = malloc(len);
    size_t cap = base64_encoded_len(len + protector_overhead(&fuzz_vs[i].prot)) + 1;
    char *text = malloc(cap);
    uint8_t *back = malloc(cap);
    if (payload == NULL || text == NULL || back == NULL)
        abort();
    payload[0] = 0xFF;
    payload[1] = 0x01;
    if (fuzz_len)
        memcpy(payload + 2, fuzz, fuzz_len);
    long n = viewstate_protect(&fuzz_vs[i], payload, len, text, cap);
    FUZZ_CHECK(n > 0 && (size_t)n < cap, "protect fits the documented room");
    size_t back_len = 0;
    enum vs_status st = fuzz_vs_check(i, text, (size_t)n, back, &back_len);
    FUZZ_CHECK(st == VS_VALID, "a ViewState we protected checks valid");
    FUZZ_CHECK(back_len == len && memcmp(back, payload, len) == 0, "unprotect(protect(p)) == p");
    int sib = fuzz_vs_configs[i].sibling;
    if (sib >= 0) {
        st = fuzz_vs_check((size_t)sib, text, (size_t)n, NULL, NULL);
        FUZZ_CHECK(st != VS_MAC_FAILED && st != VS_MALFORMED,
                   "the same validation key passes the MAC");
    }
    /* The same bytes without the marker: the MAC holds, the content is not a state. */
    n = viewstate_protect(&fuzz_vs[i], payload + 2, fuzz_len, text, cap);
    FUZZ_CHECK(n > 0 && (size_t)n < cap, "protect fits the documented room");
    if (fuzz_len < 2 || payload[2] != 0xFF || payload[3] != 0x01)
        FUZZ_CHECK(fuzz_vs_check(i, text, (size_t)n, NULL, NULL) == VS_INVALID,
                   "a protected payload that is not ObjectStateFormatter's checks invalid");
    free(payload);
    free(back);
    free(text);
}

/* Part C. */
static void fuzz_vs_edit_valid(const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    size_t i = data[0] % FUZZ_VS;
    unsigned op = (unsigned)(data[0] / FUZZ_VS) % 3;
    const uint8_t *rest = data + 2;
    size_t rlen = size - 2;
    const char *valid = fuzz_vs_valid[i];
    size_t vlen = fuzz_vs_valid_len[i];
    char *buf = malloc(vlen + rlen + 1);
    if (buf == NULL)
        abort();
    size_t len;

    if (op < 2) { /* 0: overwrite the text, 1: cut it and append */
        size_t at = (size_t)data[1] * 4 % (vlen + 1);
        memcpy(buf, valid, vlen);
        len = op == 0 ? vlen : at;
        for (size_t k = 0; k < rlen; k++) {
            if (at + k < len)
                buf[at + k] = (char)rest[k];
            else
                buf[len++] = (char)rest[k];
        }
        (void)fuzz_vs_check(i, buf, len, NULL, NULL);
    } else { /* XOR the decoded bytes, keep the base64 well formed */
        uint8_t *bin = malloc(vlen);
        if (bin == NULL)
            abort();
        long n = base64_decode(valid, vlen, bin, vlen);
        FUZZ_CHECK(n > 0, "seed ViewState is base64");
        size_t at = data[1] % (size_t)n;
        for (size_t k = 0; k < rlen && at + k < (size_t)n; k++)
            bin[at + k] ^= rest[k];
        /* Drop the tail when the edit asks for it: rest[0]'s high bit. */
        size_t blen = rlen > 0 && rest[0] & 0x80 ? at : (size_t)n;
        char *text = malloc(base64_encoded_len(blen) + 1);
        if (text == NULL)
            abort();
        base64_encode(bin, blen, text);
        enum vs_status st = fuzz_vs_check(i, text, strlen(text), NULL, NULL);
        bool changed = blen != (size_t)n;
        for (size_t k = 0; k < rlen && at + k < (size_t)n && !changed; k++)
            changed = rest[k] != 0;
        /* Every page here has a MAC over the whole blob (MD5 signing ignores only the
         * modifier, which is not in the blob). */
        if (changed)
            FUZZ_CHECK(st != VS_VALID, "a changed ViewState does not check valid");
        free(text);
        free(bin);
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_vs_init();
    if (size > FUZZ_INPUT_MAX)
        size = FUZZ_INPUT_MAX;
    for (size_t i = 0; i < FUZZ_VS; i++)
        (void)fuzz_vs_check(i, (const char *)data, size, NULL, NULL);
    for (size_t i = 0; i < FUZZ_VS; i++)
        fuzz_vs_round_trip(i, data, size);
    fuzz_vs_edit_valid(data, size);
    return 0;
}
