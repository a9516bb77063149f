#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "base64.h"

/* RFC 4648 section 10 test vectors. */
static const struct {
    const char *plain;
    const char *std;
    const char *urltoken; /* the same with padding replaced by its count */
} rfc4648[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg2"},
    {"fo", "Zm8=", "Zm81"},
    {"foo", "Zm9v", "Zm9v0"},
    {"foob", "Zm9vYg==", "Zm9vYg2"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE1"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy0"},
};

#define RFC4648_COUNT (sizeof rfc4648 / sizeof rfc4648[0])

static void test_base64_encoded_len_counts_padding(void **state)
{
    (void)state;
    assert_int_equal(base64_encoded_len(0), 0);
    assert_int_equal(base64_encoded_len(1), 4);
    assert_int_equal(base64_encoded_len(2), 4);
    assert_int_equal(base64_encoded_len(3), 4);
    assert_int_equal(base64_encoded_len(4), 8);
    assert_int_equal(base64_encoded_len(320), 428);
}

static void test_base64_encode_rfc4648(void **state)
{
    (void)state;
    for (size_t i = 0; i < RFC4648_COUNT; i++) {
        char out[16];
        size_t n = strlen(rfc4648[i].plain);
        base64_encode((const uint8_t *)rfc4648[i].plain, n, out);
        assert_string_equal(out, rfc4648[i].std);
        assert_int_equal(strlen(out), base64_encoded_len(n));
    }
}

static void test_base64_decode_rfc4648(void **state)
{
    (void)state;
    for (size_t i = 0; i < RFC4648_COUNT; i++) {
        uint8_t out[16];
        size_t want = strlen(rfc4648[i].plain);
        long got = base64_decode(rfc4648[i].std, strlen(rfc4648[i].std), out, sizeof out);
        assert_int_equal(got, (long)want);
        assert_memory_equal(out, rfc4648[i].plain, want);
    }
}

static void test_base64_urltoken_encode_rfc4648(void **state)
{
    (void)state;
    for (size_t i = 0; i < RFC4648_COUNT; i++) {
        char out[16];
        size_t n = strlen(rfc4648[i].plain);
        size_t got = base64_urltoken_encode((const uint8_t *)rfc4648[i].plain, n, out);
        assert_string_equal(out, rfc4648[i].urltoken);
        assert_int_equal(got, strlen(rfc4648[i].urltoken));
    }
}

static void test_base64_urltoken_decode_rfc4648(void **state)
{
    (void)state;
    for (size_t i = 0; i < RFC4648_COUNT; i++) {
        uint8_t out[16];
        size_t want = strlen(rfc4648[i].plain);
        const char *tok = rfc4648[i].urltoken;
        long got = base64_urltoken_decode(tok, strlen(tok), out, sizeof out);
        assert_int_equal(got, (long)want);
        assert_memory_equal(out, rfc4648[i].plain, want);
    }
}

/* 0xFB 0xFF uses both alphabet-specific characters. */
static void test_base64_alphabets_differ_in_62_and_63(void **state)
{
    (void)state;
    const uint8_t in[] = {0xfb, 0xff};
    char std[8];
    char url[8];
    uint8_t out[4];
    base64_encode(in, sizeof in, std);
    assert_string_equal(std, "+/8=");
    assert_int_equal(base64_urltoken_encode(in, sizeof in, url), 4);
    assert_string_equal(url, "-_81");
    assert_int_equal(base64_decode("+/8=", 4, out, sizeof out), 2);
    assert_memory_equal(out, in, 2);
    assert_int_equal(base64_urltoken_decode("-_81", 4, out, sizeof out), 2);
    assert_memory_equal(out, in, 2);
    /* Each decoder refuses the other alphabet's characters. */
    assert_int_equal(base64_decode("-_8=", 4, out, sizeof out), -1);
    assert_int_equal(base64_urltoken_decode("+/81", 4, out, sizeof out), -1);
}

static void test_base64_decode_rejects_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "Zg=",      /* length not a multiple of 4 */
        "Zg",       /* padding missing */
        "Zm9",      /* padding missing */
        "Z===",     /* three pads */
        "====",     /* nothing but pads */
        "Zg==Zm8=", /* padding in the middle */
        "Z=g=",     /* pad before data */
        "Zm9*",     /* bad character */
        "Zm9 ",     /* whitespace is not accepted */
        "Zm9\n",    /* nor a newline */
        "Zh==",     /* non-zero bits after the last byte */
        "Zm9=",     /* non-zero bits after the last byte */
        "Zm9vY===", /* three pads */
    };
    uint8_t out[16];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (base64_decode(bad[i], strlen(bad[i]), out, sizeof out) != -1)
            fail_msg("base64_decode accepted \"%s\"; expected -1", bad[i]);
    }
    /* An embedded NUL is a bad character, not an end of text. */
    assert_int_equal(base64_decode("Zm9vYm\0=", 8, out, sizeof out), -1);
}

static void test_base64_urltoken_decode_rejects_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "Zg",    /* last char is not a pad-count digit */
        "Zg3",   /* pad count above 2 */
        "Zg9",   /* pad count above 2 (.NET would try to pad with 9 '=') */
        "Zg1",   /* wrong pad count for the length */
        "Zm9v1", /* wrong pad count for the length */
        "Zm8",   /* no digit, last char taken as data */
        "0",     /* empty body: the encoder writes "" for no bytes */
        "Z1",    /* one data char cannot come from any bytes */
        "Zm=v0", /* '=' inside */
        "Zm9 0", /* whitespace */
        "Zh2",   /* non-zero bits after the last byte */
    };
    uint8_t out[16];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (base64_urltoken_decode(bad[i], strlen(bad[i]), out, sizeof out) != -1)
            fail_msg("base64_urltoken_decode accepted \"%s\"; expected -1", bad[i]);
    }
}

static void test_base64_decode_respects_cap(void **state)
{
    (void)state;
    uint8_t out[6];
    assert_int_equal(base64_decode("Zm9vYmFy", 8, out, 5), -1);
    assert_int_equal(base64_decode("Zm9vYmFy", 8, out, 6), 6);
    assert_int_equal(base64_urltoken_decode("Zm9vYmE1", 8, out, 4), -1);
    assert_int_equal(base64_urltoken_decode("Zm9vYmE1", 8, out, 5), 5);
    assert_memory_equal(out, "fooba", 5);
}

/* Every length 0..66 through both encoders and decoders. */
static void test_base64_round_trips_all_lengths(void **state)
{
    (void)state;
    uint8_t in[66];
    uint8_t back[66];
    char text[128];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof in; i++) {
        x = x * 1103515245u + 12345u;
        in[i] = (uint8_t)(x >> 16);
    }
    for (size_t n = 0; n <= sizeof in; n++) {
        base64_encode(in, n, text);
        assert_int_equal(strlen(text), base64_encoded_len(n));
        assert_int_equal(base64_decode(text, strlen(text), back, sizeof back), (long)n);
        assert_memory_equal(back, in, n);

        size_t tn = base64_urltoken_encode(in, n, text);
        assert_int_equal(tn, strlen(text));
        assert_true(tn <= base64_encoded_len(n) + 1);
        assert_null(strpbrk(text, "+/="));
        assert_int_equal(base64_urltoken_decode(text, tn, back, sizeof back), (long)n);
        assert_memory_equal(back, in, n);
    }
}

/* The Blacklist3r OWIN cookie is Katana's base64url without padding; appending the pad
 * count turns it into UrlToken form, which must decode to the protected bytes. */
static void test_base64_urltoken_owin_vector(void **state)
{
    (void)state;
    json_t *v = testutil_vector("blacklist3r-owin-cookie-machinekey-protect");
    const char *b64url = testutil_str(v, "data_base64url");
    size_t want_len;
    uint8_t *want = testutil_unhex(testutil_str(v, "data_hex"), &want_len);
    size_t n = strlen(b64url);
    assert_int_equal(n % 4, 3); /* one '=' was dropped */

    char *token = malloc(n + 2);
    assert_non_null(token);
    memcpy(token, b64url, n);
    token[n] = '1';
    token[n + 1] = '\0';

    uint8_t *got = malloc(want_len);
    assert_non_null(got);
    assert_int_equal(base64_urltoken_decode(token, n + 1, got, want_len), (long)want_len);
    assert_memory_equal(got, want, want_len);

    char *enc = malloc(base64_encoded_len(want_len) + 2);
    assert_non_null(enc);
    assert_int_equal(base64_urltoken_encode(want, want_len, enc), n + 1);
    assert_string_equal(enc, token);

    free(enc);
    free(got);
    free(token);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_encoded_len_counts_padding),
        cmocka_unit_test(test_base64_encode_rfc4648),
        cmocka_unit_test(test_base64_decode_rfc4648),
        cmocka_unit_test(test_base64_urltoken_encode_rfc4648),
        cmocka_unit_test(test_base64_urltoken_decode_rfc4648),
        cmocka_unit_test(test_base64_alphabets_differ_in_62_and_63),
        cmocka_unit_test(test_base64_decode_rejects_malformed),
        cmocka_unit_test(test_base64_urltoken_decode_rejects_malformed),
        cmocka_unit_test(test_base64_decode_respects_cap),
        cmocka_unit_test(test_base64_round_trips_all_lengths),
        cmocka_unit_test(test_base64_urltoken_owin_vector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
