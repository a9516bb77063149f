/* test_formsauth: cookies from real ASP.NET decode to their expected fields; issue → decode
 * round trips for every combination ASP.NET allows and both ticket formats; tampering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "formsauth.h"
#include "hex.h"
#include "ticks.h"

static void init_from_vector(json_t *v, struct formsauth *fa)
{
    struct mk_params p = {
        .validation_key = testutil_str(v, "validation_key_hex"),
        .decryption_key = testutil_str(v, "decryption_key_hex"),
        .validation = testutil_str(v, "validation_alg"),
        .decryption = testutil_str(v, "decryption_alg"),
        .compat = testutil_str(v, "mode"),
    };
    struct machinekey mk;
    struct errbuf err = {{0}};
    if (machinekey_init(&mk, &p, &err, NULL) != 0)
        fail_msg("%s: %s", testutil_str(v, "id"), err.msg);
    assert_int_equal(formsauth_init(fa, &mk, &err), 0);
    machinekey_cleanup(&mk);
}

static json_int_t member_int(json_t *o, const char *k)
{
    json_t *x = json_object_get(o, k);
    if (!json_is_integer(x))
        fail_msg("expected integer member %s", k);
    return json_integer_value(x);
}

/* Every forms-auth vector decodes (at a time inside its validity) to its expected fields. */
static void test_formsauth_decodes_every_aspnet_cookie(void **state)
{
    (void)state;
    size_t i, checked = 0;
    json_t *v;
    json_array_foreach(testutil_vectors(), i, v)
    {
        if (strcmp(testutil_str(v, "kind"), "forms_ticket") != 0)
            continue;
        const char *id = testutil_str(v, "id");
        json_t *e = json_object_get(v, "expected");
        struct formsauth fa;
        init_from_vector(v, &fa);
        const char *cookie = testutil_str(v, "cookie_hex");
        int64_t issued = member_int(e, "issue_ticks_utc");
        int64_t expires = member_int(e, "expiration_ticks_utc");
        struct ticket t;
        enum fa_status st = formsauth_decode(&fa, cookie, strlen(cookie), issued, &t);
        if (st != FA_VALID)
            fail_msg("%s: expected valid, got %s", id, fa_status_name(st));
        assert_int_equal(t.issue_ticks, issued);
        assert_int_equal(t.expiration_ticks, expires);
        assert_int_equal(t.version, member_int(e, "version"));
        assert_int_equal(t.persistent, json_is_true(json_object_get(e, "persistent")));
        assert_string_equal(ticket_get(&t, TICKET_NAME, NULL), testutil_str(e, "name"));
        assert_string_equal(ticket_get(&t, TICKET_USER_DATA, NULL), testutil_str(e, "user_data"));
        assert_string_equal(ticket_get(&t, TICKET_COOKIE_PATH, NULL),
                            testutil_str(e, "cookie_path"));
        assert_string_equal(ticket_format_name(t.format), testutil_str(v, "ticket_format"));
        /* One tick after expiry the same cookie is expired, with its fields. */
        st = formsauth_decode(&fa, cookie, strlen(cookie), expires + 1, &t);
        assert_int_equal(st, FA_EXPIRED);
        assert_string_equal(ticket_get(&t, TICKET_NAME, NULL), testutil_str(e, "name"));
        /* Lower-case hex is accepted as ASP.NET does. */
        char *lower = strdup(cookie);
        for (char *c = lower; *c; c++)
            if (*c >= 'A' && *c <= 'F')
                *c = (char)(*c - 'A' + 'a');
        assert_int_equal(formsauth_decode(&fa, lower, strlen(lower), issued, &t), FA_VALID);
        free(lower);
        formsauth_cleanup(&fa);
        checked++;
    }
    assert_int_equal(checked, 16);
}

static void test_formsauth_rejects_the_two_negative_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *id;
        enum fa_status want;
    } cases[] = {
        {"leankit-negative-inner-mac", FA_BAD_TICKET},
        {"mevdschee-go-nonconformant", FA_MAC_MISMATCH},
    };
    for (size_t c = 0; c < 2; c++) {
        json_t *v = testutil_vector(cases[c].id);
        struct formsauth fa;
        init_from_vector(v, &fa);
        const char *cookie = testutil_str(v, "cookie_hex");
        struct ticket t;
        enum fa_status st = formsauth_decode(&fa, cookie, strlen(cookie), ticks_now(), &t);
        if (st != cases[c].want)
            fail_msg("%s: expected %s, got %s", cases[c].id, fa_status_name(cases[c].want),
                     fa_status_name(st));
        formsauth_cleanup(&fa);
    }
}

/* A cookie from a vector, decoded under another vector's keys: mac-mismatch. */
static void test_formsauth_other_keys_are_a_mac_mismatch(void **state)
{
    (void)state;
    json_t *a = testutil_vector("dazinator-hmacsha256-aes192-legacy");
    json_t *b = testutil_vector("kasem545-hmacsha256-aes256-legacy");
    struct formsauth fb;
    init_from_vector(b, &fb);
    const char *cookie = testutil_str(a, "cookie_hex");
    struct ticket t;
    assert_int_equal(formsauth_decode(&fb, cookie, strlen(cookie), 0, &t), FA_MAC_MISMATCH);
    formsauth_cleanup(&fb);
}

static void make_fa(struct formsauth *fa, const char *compat, const char *val, const char *dec,
                    size_t vlen, size_t dlen, uint8_t seed)
{
    uint8_t vkey[128], dkey[32];
    char vhex[257], dhex[65];
    for (size_t i = 0; i < sizeof vkey; i++)
        vkey[i] = (uint8_t)(seed + 13 * i);
    for (size_t i = 0; i < sizeof dkey; i++)
        dkey[i] = (uint8_t)(seed * 7 + 31 * i + 1);
    hex_encode(vkey, vlen, vhex);
    hex_encode(dkey, dlen, dhex);
    struct mk_params p = {.validation_key = vhex,
                          .decryption_key = dhex,
                          .validation = val,
                          .decryption = dec,
                          .compat = compat};
    struct machinekey mk;
    struct errbuf err = {{0}};
    if (machinekey_init(&mk, &p, &err, NULL) != 0)
        fail_msg("%s %s %s/%zu: %s", compat, val, dec, dlen, err.msg);
    if (formsauth_init(fa, &mk, &err) != 0)
        fail_msg("formsauth_init: %s", err.msg);
    machinekey_cleanup(&mk);
}

static void fill_ticket(struct ticket *t, enum ticket_format f, int64_t now)
{
    ticket_init(t);
    t->format = f;
    t->version = 2;
    t->persistent = true;
    t->issue_ticks = now;
    t->expiration_ticks = now + 1800 * TICKS_PER_SECOND;
    assert_int_equal(ticket_set(t, TICKET_NAME, "zoë@example.com", strlen("zoë@example.com")), 0);
    assert_int_equal(ticket_set(t, TICKET_USER_DATA, "roles=admin;cart=42", 19), 0);
    assert_int_equal(ticket_set(t, TICKET_COOKIE_PATH, "/", 1), 0);
}

/* Issue then decode, for every mode x validation x decryption ASP.NET allows (Framework45
 * with 3DES and DES included, and validation keys of 128 bytes: two KDF blocks), in both
 * ticket formats. */
static void test_formsauth_round_trips_every_combination(void **state)
{
    (void)state;
    static const char *const compats[] = {"Framework20SP1", "Framework20SP2", "Framework45"};
    static const char *const vals[] = {"MD5",        "SHA1",       "3DES",      "AES",
                                       "HMACSHA256", "HMACSHA384", "HMACSHA512"};
    static const struct {
        const char *name;
        size_t len;
    } decs[] = {{"AES", 16}, {"AES", 24}, {"AES", 32}, {"3DES", 16}, {"3DES", 24},
                {"DES", 8},  {"DES", 24}, {"Auto", 8}, {"Auto", 24}};
    int64_t now = ticks_now();
    size_t ran = 0;
    for (size_t c = 0; c < 3; c++) {
        bool fx45 = c == 2;
        for (size_t va = 0; va < 7; va++) {
            if (fx45 && (va == 0 || va == 2 || va == 3))
                continue;
            bool big = va >= 5;
            size_t vlens[] = {20, 64, 128};
            for (size_t vl = 0; vl < 3; vl++) {
                if (!fx45 && vlens[vl] > 64 && !big)
                    continue;
                for (size_t de = 0; de < sizeof decs / sizeof decs[0]; de++) {
                    if (fx45 && ((strcmp(decs[de].name, "DES") == 0 && decs[de].len != 8) ||
                                 (strcmp(decs[de].name, "Auto") == 0 && decs[de].len == 8)))
                        continue;
                    if ((va == 3 && decs[de].len == 8) || (va == 2 && decs[de].len == 32))
                        continue; /* validation AES / 3DES: no validation cipher takes it */
                    struct formsauth fa;
                    make_fa(&fa, compats[c], vals[va], decs[de].name, vlens[vl], decs[de].len,
                            (uint8_t)(va + de));
                    for (int f = 0; f < 2; f++) {
                        struct ticket t, back;
                        fill_ticket(&t, f ? TICKET_FORMAT_LEGACY : TICKET_FORMAT_V1, now);
                        char cookie[FORMSAUTH_COOKIE_MAX + 1];
                        long n = formsauth_issue(&fa, &t, cookie, sizeof cookie);
                        assert_true(n > 0);
                        assert_int_equal(strlen(cookie), (size_t)n);
                        for (long k = 0; k < n; k++)
                            assert_true(strchr("0123456789ABCDEF", cookie[k]) != NULL);
                        enum fa_status st = formsauth_decode(&fa, cookie, (size_t)n, now, &back);
                        if (st != FA_VALID)
                            fail_msg("%s %s %s/%zu vkey %zu fmt %d: %s", compats[c], vals[va],
                                     decs[de].name, decs[de].len, vlens[vl], f, fa_status_name(st));
                        assert_int_equal(back.format, t.format);
                        assert_int_equal(back.version, 2);
                        assert_true(back.persistent);
                        assert_int_equal(back.issue_ticks, t.issue_ticks);
                        assert_int_equal(back.expiration_ticks, t.expiration_ticks);
                        assert_string_equal(ticket_get(&back, TICKET_NAME, NULL),
                                            "zoë@example.com");
                        assert_string_equal(ticket_get(&back, TICKET_USER_DATA, NULL),
                                            "roles=admin;cart=42");
                        ran++;
                    }
                    formsauth_cleanup(&fa);
                }
            }
        }
    }
    assert_true(ran >= 200);
}

/* Legacy header: random in Framework20SP1, zeros in SP2 (encrypted), as webengine writes. */
static void test_formsauth_legacy_header_follows_mode(void **state)
{
    (void)state;
    static const char *const compats[] = {"Framework20SP1", "Framework20SP2"};
    for (int c = 0; c < 2; c++) {
        struct formsauth fa;
        make_fa(&fa, compats[c], "SHA1", "AES", 64, 24, 3);
        struct ticket t, back;
        fill_ticket(&t, TICKET_FORMAT_LEGACY, ticks_now());
        memset(t.legacy_header, 0x55, 8);
        char cookie[FORMSAUTH_COOKIE_MAX + 1];
        long n = formsauth_issue(&fa, &t, cookie, sizeof cookie);
        assert_true(n > 0);
        assert_int_equal(formsauth_decode(&fa, cookie, (size_t)n, t.issue_ticks, &back), FA_VALID);
        static const uint8_t zero[8];
        if (c == 0)
            assert_memory_not_equal(back.legacy_header, zero, 8);
        else
            assert_memory_equal(back.legacy_header, zero, 8);
        formsauth_cleanup(&fa);
    }
}

/* Bit flips, truncations, extensions, odd lengths and non-hex text, with the right status. */
static void test_formsauth_tampered_cookies_are_rejected(void **state)
{
    (void)state;
    static const char *const compats[] = {"Framework20SP2", "Framework45"};
    for (int c = 0; c < 2; c++) {
        struct formsauth fa;
        make_fa(&fa, compats[c], "HMACSHA256", "AES", 64, 32, 9);
        struct ticket t, back;
        int64_t now = ticks_now();
        fill_ticket(&t, TICKET_FORMAT_V1, now);
        char cookie[FORMSAUTH_COOKIE_MAX + 1], work[FORMSAUTH_COOKIE_MAX + 8];
        long n = formsauth_issue(&fa, &t, cookie, sizeof cookie);
        assert_true(n > 0);
        /* Every bit of the protected bytes: flip one hex digit's bit, keep it hex. */
        uint8_t bin[2048];
        long blen = hex_decode(cookie, (size_t)n, bin, sizeof bin);
        assert_true(blen > 0);
        for (long bit = 0; bit < blen * 8; bit++) {
            bin[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            hex_encode(bin, (size_t)blen, work);
            bin[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            assert_int_equal(formsauth_decode(&fa, work, (size_t)n, now, &back), FA_MAC_MISMATCH);
        }
        /* Truncations by whole bytes: a MAC mismatch, or malformed when too short. */
        for (long len = 2; len < n; len += 2) {
            enum fa_status st = formsauth_decode(&fa, cookie, (size_t)len, now, &back);
            assert_int_equal(st, len < 32 ? FA_MALFORMED : FA_MAC_MISMATCH);
        }
        /* Extensions. */
        memcpy(work, cookie, (size_t)n);
        memcpy(work + n, "00", 3);
        assert_int_equal(formsauth_decode(&fa, work, (size_t)n + 2, now, &back), FA_MAC_MISMATCH);
        /* Odd lengths are not hex; as UrlToken they do not decode either (or not to a MAC). */
        for (long len = 1; len < n; len += 37) {
            enum fa_status st = formsauth_decode(&fa, cookie, (size_t)len, now, &back);
            assert_true(st == FA_MALFORMED || st == FA_MAC_MISMATCH);
        }
        /* Not hex, not base64url. */
        memcpy(work, cookie, (size_t)n + 1);
        work[10] = '!';
        assert_int_equal(formsauth_decode(&fa, work, (size_t)n, now, &back), FA_MALFORMED);
        assert_int_equal(formsauth_decode(&fa, "", 0, now, &back), FA_MALFORMED);
        assert_int_equal(formsauth_decode(&fa, "zz", 2, now, &back), FA_MALFORMED);
        /* Over 4096 characters. */
        char big[FORMSAUTH_COOKIE_MAX + 3];
        memset(big, 'A', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        assert_int_equal(formsauth_decode(&fa, big, sizeof big - 1, now, &back), FA_MALFORMED);
        formsauth_cleanup(&fa);
    }
}

/* The UrlToken form (cookieless tickets) of a valid cookie is accepted too. */
static void test_formsauth_accepts_urltoken_form(void **state)
{
    (void)state;
    struct formsauth fa;
    make_fa(&fa, "Framework45", "HMACSHA256", "AES", 64, 32, 5);
    struct ticket t, back;
    fill_ticket(&t, TICKET_FORMAT_V1, ticks_now());
    char cookie[FORMSAUTH_COOKIE_MAX + 1], token[FORMSAUTH_COOKIE_MAX];
    long n = formsauth_issue(&fa, &t, cookie, sizeof cookie);
    uint8_t bin[2048];
    long blen = hex_decode(cookie, (size_t)n, bin, sizeof bin);
    size_t tl = base64_urltoken_encode(bin, (size_t)blen, token);
    assert_int_equal(formsauth_decode(&fa, token, tl, t.issue_ticks, &back), FA_VALID);
    formsauth_cleanup(&fa);
}

/* Same validation key, another decryption key: bad-ticket (the MAC passes). */
static void test_formsauth_same_validation_other_decryption_is_bad_ticket(void **state)
{
    (void)state;
    struct formsauth a, b, c;
    make_fa(&a, "Framework20SP2", "SHA1", "AES", 64, 32, 1);
    make_fa(&b, "Framework20SP2", "SHA1", "AES", 64, 32, 1);
    make_fa(&c, "Framework20SP2", "SHA1", "3DES", 64, 24, 1);
    /* b: flip the decryption key by building it with another seed but the same vkey. */
    formsauth_cleanup(&b);
    {
        uint8_t vkey[64];
        char vhex[129];
        for (size_t i = 0; i < 64; i++)
            vkey[i] = (uint8_t)(1 + 13 * i);
        hex_encode(vkey, 64, vhex);
        struct mk_params p = {
            .validation_key = vhex,
            .decryption_key = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF",
            .validation = "SHA1",
            .decryption = "AES",
            .compat = "Framework20SP2"};
        struct machinekey mk;
        assert_int_equal(machinekey_init(&mk, &p, NULL, NULL), 0);
        assert_int_equal(formsauth_init(&b, &mk, NULL), 0);
        machinekey_cleanup(&mk);
    }
    struct ticket t, back;
    fill_ticket(&t, TICKET_FORMAT_V1, ticks_now());
    char cookie[FORMSAUTH_COOKIE_MAX + 1];
    long n = formsauth_issue(&a, &t, cookie, sizeof cookie);
    assert_int_equal(formsauth_decode(&b, cookie, (size_t)n, t.issue_ticks, &back), FA_BAD_TICKET);
    /* Another cipher with the same validation key: also bad-ticket. */
    assert_int_equal(formsauth_decode(&c, cookie, (size_t)n, t.issue_ticks, &back), FA_BAD_TICKET);
    formsauth_cleanup(&a);
    formsauth_cleanup(&b);
    formsauth_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formsauth_decodes_every_aspnet_cookie),
        cmocka_unit_test(test_formsauth_rejects_the_two_negative_vectors),
        cmocka_unit_test(test_formsauth_other_keys_are_a_mac_mismatch),
        cmocka_unit_test(test_formsauth_round_trips_every_combination),
        cmocka_unit_test(test_formsauth_legacy_header_follows_mode),
        cmocka_unit_test(test_formsauth_tampered_cookies_are_rejected),
        cmocka_unit_test(test_formsauth_accepts_urltoken_form),
        cmocka_unit_test(test_formsauth_same_validation_other_decryption_is_bad_ticket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
