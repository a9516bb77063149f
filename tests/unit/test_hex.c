#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "hex.h"

static void test_hex_encode_is_upper_case(void **state)
{
    (void)state;
    const uint8_t in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
    char out[2 * sizeof in + 1];
    memset(out, 'x', sizeof out);
    hex_encode(in, sizeof in, out);
    assert_string_equal(out, "00017F80ABCDEFFF");
}

static void test_hex_encode_empty_is_empty_string(void **state)
{
    (void)state;
    char out[1] = {'x'};
    hex_encode(NULL, 0, out);
    assert_string_equal(out, "");
}

static void test_hex_decode_accepts_both_cases(void **state)
{
    (void)state;
    const uint8_t want[] = {0xab, 0xcd, 0xef, 0x09};
    uint8_t out[4];
    assert_int_equal(hex_decode("abCDeF09", 8, out, sizeof out), 4);
    assert_memory_equal(out, want, sizeof want);
}

static void test_hex_decode_empty_is_zero_bytes(void **state)
{
    (void)state;
    uint8_t out[1];
    assert_int_equal(hex_decode("", 0, out, sizeof out), 0);
}

static void test_hex_decode_rejects_odd_length(void **state)
{
    (void)state;
    uint8_t out[4];
    assert_int_equal(hex_decode("abc", 3, out, sizeof out), -1);
    assert_int_equal(hex_decode("a", 1, out, sizeof out), -1);
}

static void test_hex_decode_rejects_non_hex_chars(void **state)
{
    (void)state;
    /* The legacy .NET parser maps 'G'..'Z' to 0; we do not. */
    const char *bad[] = {"0g", "G0", "zz", " 0", "0 ", "0x", "-1", "+1", "\xc3\xa9"};
    uint8_t out[4];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(hex_decode(bad[i], 2, out, sizeof out), -1);
    }
    /* An embedded NUL is a bad character, not an end of text. */
    assert_int_equal(hex_decode("00\0"
                                "0",
                                4, out, sizeof out),
                     -1);
}

static void test_hex_decode_respects_cap(void **state)
{
    (void)state;
    uint8_t out[4] = {0x11, 0x22, 0x33, 0x44};
    assert_int_equal(hex_decode("0102030405", 10, out, 4), -1);
    /* Nothing was written past cap: the caller's buffer is exactly 4 bytes. */
    assert_int_equal(hex_decode("01020304", 8, out, 4), 4);
    assert_int_equal(out[3], 0x04);
    assert_int_equal(hex_decode("01", 2, out, 0), -1);
}

static void test_hex_is_valid_answers(void **state)
{
    (void)state;
    assert_true(hex_is_valid("00", 2));
    assert_true(hex_is_valid("aBcDeF0123456789", 16));
    assert_false(hex_is_valid("", 0));
    assert_false(hex_is_valid("0", 1));
    assert_false(hex_is_valid("0g", 2));
    assert_false(hex_is_valid("00 ", 3));
}

static void test_hex_round_trips_every_byte(void **state)
{
    (void)state;
    uint8_t in[256];
    uint8_t back[256];
    char text[513];
    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)i;
    hex_encode(in, sizeof in, text);
    assert_int_equal(strlen(text), 512);
    assert_int_equal(hex_decode(text, 512, back, sizeof back), 256);
    assert_memory_equal(back, in, sizeof in);
}

/* A key from real web.config text (upper case) decodes and re-encodes to the same text. */
static void test_hex_vector_key_round_trips(void **state)
{
    (void)state;
    json_t *v = testutil_vector("dazinator-hmacsha256-aes192-legacy");
    const char *key = testutil_str(v, "validation_key_hex");
    size_t n = strlen(key);
    uint8_t bytes[128];
    char text[257];
    assert_true(hex_is_valid(key, n));
    long got = hex_decode(key, n, bytes, sizeof bytes);
    assert_int_equal(got, 64);
    assert_int_equal(bytes[0], 0x28);
    assert_int_equal(bytes[63], 0xF4);
    hex_encode(bytes, (size_t)got, text);
    assert_string_equal(text, key);
}

/* Every byte value at every position of an 18-character text — the eight-at-a-time path
 * (positions 0-15) and the tail (16-17) — gives the same answer as a plain reference. */
static int ref_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void test_hex_decode_matches_reference_for_every_char(void **state)
{
    (void)state;
    char text[19] = "0123456789abcdefAB";
    for (int pos = 0; pos < 18; pos++) {
        for (int c = 0; c < 256; c++) {
            char t[19];
            memcpy(t, text, sizeof t);
            t[pos] = (char)c;
            uint8_t got[9], want[9];
            bool ok = true;
            for (int i = 0; i < 18; i += 2) {
                int hi = ref_digit((unsigned char)t[i]), lo = ref_digit((unsigned char)t[i + 1]);
                if (hi < 0 || lo < 0)
                    ok = false;
                else
                    want[i / 2] = (uint8_t)(hi << 4 | lo);
            }
            long n = hex_decode(t, 18, got, sizeof got);
            if (!ok) {
                assert_int_equal(n, -1);
            } else {
                assert_int_equal(n, 9);
                assert_memory_equal(got, want, 9);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_encode_is_upper_case),
        cmocka_unit_test(test_hex_encode_empty_is_empty_string),
        cmocka_unit_test(test_hex_decode_accepts_both_cases),
        cmocka_unit_test(test_hex_decode_empty_is_zero_bytes),
        cmocka_unit_test(test_hex_decode_rejects_odd_length),
        cmocka_unit_test(test_hex_decode_rejects_non_hex_chars),
        cmocka_unit_test(test_hex_decode_respects_cap),
        cmocka_unit_test(test_hex_is_valid_answers),
        cmocka_unit_test(test_hex_round_trips_every_byte),
        cmocka_unit_test(test_hex_vector_key_round_trips),
        cmocka_unit_test(test_hex_decode_matches_reference_for_every_char),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
