#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "siphash.h"

/* The reference key 00 01 .. 0f and message 00 01 .. (n-1). */
static void reference_input(uint8_t key[SIPHASH_KEY_LEN], uint8_t msg[64])
{
    for (int i = 0; i < SIPHASH_KEY_LEN; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
}

static void test_siphash_paper_vectors(void **state)
{
    (void)state;
    uint8_t key[SIPHASH_KEY_LEN], msg[64];
    reference_input(key, msg);
    /* Aumasson and Bernstein, "SipHash: a fast short-input PRF", appendix A: 15 bytes. */
    assert_true(siphash24(key, msg, 15) == 0xa129ca6149be45e5ULL);
    /* vectors.h of the reference implementation, the empty and the 8-byte message. */
    assert_true(siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
    assert_true(siphash24(key, msg, 8) == 0x93f5f5799a932462ULL);
}

/* OpenSSL's SIPHASH MAC (8-byte output) as an independent implementation. */
static uint64_t openssl_siphash(const uint8_t key[SIPHASH_KEY_LEN], const uint8_t *p, size_t n)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
    assert_non_null(mac);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    assert_non_null(ctx);
    size_t size = 8;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
                           OSSL_PARAM_construct_end()};
    assert_int_equal(EVP_MAC_init(ctx, key, SIPHASH_KEY_LEN, params), 1);
    assert_int_equal(EVP_MAC_update(ctx, p, n), 1);
    uint8_t out[8];
    size_t outl = 0;
    assert_int_equal(EVP_MAC_final(ctx, out, &outl, sizeof out), 1);
    assert_int_equal(outl, 8);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | out[i];
    return v;
}

static void test_siphash_agrees_with_openssl_for_every_tail_length(void **state)
{
    (void)state;
    uint8_t key[SIPHASH_KEY_LEN], msg[64];
    reference_input(key, msg);
    for (size_t n = 0; n <= 64; n++)
        if (siphash24(key, msg, n) != openssl_siphash(key, msg, n))
            fail_msg("length %zu differs from OpenSSL", n);
    /* another key and unaligned input */
    uint8_t buf[80];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(0xa5 ^ (i * 37));
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n + off <= sizeof buf; n += 7)
            if (siphash24(buf + 64, buf + off, n) != openssl_siphash(buf + 64, buf + off, n))
                fail_msg("offset %zu length %zu differs from OpenSSL", off, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_paper_vectors),
        cmocka_unit_test(test_siphash_agrees_with_openssl_for_every_tail_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
