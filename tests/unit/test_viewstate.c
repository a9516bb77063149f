/* test_viewstate: ViewStates produced by real ASP.NET validate; round trips; the farm error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "viewstate.h"

static void mk_from_vector(json_t *v, struct machinekey *mk)
{
    struct mk_params p = {
        .validation_key = testutil_str(v, "validation_key_hex"),
        .decryption_key = testutil_str(v, "decryption_key_hex"),
        .validation = testutil_str(v, "validation_alg"),
        .decryption = testutil_str(v, "decryption_alg"),
        .compat = testutil_str(v, "mode"),
    };
    assert_int_equal(machinekey_init(mk, &p, NULL, NULL), 0);
}

/* Framework45 page identity from the vector's specific purposes. */
static void page_from_vector(json_t *v, struct viewstate_page *pg, char *dir, char *type)
{
    memset(pg, 0, sizeof *pg);
    pg->template_dir = "/";
    pg->type_name = "unused";
    json_t *gen = json_object_get(v, "viewstate_generator");
    if (gen)
        pg->generator = (uint32_t)strtoul(json_string_value(gen), NULL, 16);
    pg->encrypt = json_is_true(json_object_get(v, "encrypted"));
    json_t *spec = json_object_get(v, "specific_purposes");
    if (spec) {
        sscanf(json_string_value(json_array_get(spec, 0)), "TemplateSourceDirectory: %s", dir);
        sscanf(json_string_value(json_array_get(spec, 1)), "Type: %s", type);
        pg->template_dir = dir;
        pg->type_name = type;
    }
}

static void test_viewstate_validates_every_aspnet_viewstate(void **state)
{
    (void)state;
    size_t i, checked = 0;
    json_t *v;
    json_array_foreach(testutil_vectors(), i, v)
    {
        if (strcmp(testutil_str(v, "kind"), "viewstate") != 0)
            continue;
        struct machinekey mk;
        struct viewstate_page pg;
        char dir[64] = "", type[64] = "";
        mk_from_vector(v, &mk);
        page_from_vector(v, &pg, dir, type);
        struct viewstate vs;
        assert_int_equal(viewstate_init(&vs, &mk, &pg, NULL), 0);
        size_t blen, wlen, out_len = 0;
        uint8_t *bin = testutil_unhex(testutil_str(v, "data_hex"), &blen);
        uint8_t *want = testutil_unhex(testutil_str(v, "expected_payload_hex"), &wlen);
        char *b64 = malloc(base64_encoded_len(blen) + 1);
        base64_encode(bin, blen, b64);
        uint8_t out[512];
        enum vs_status st = viewstate_unprotect(&vs, b64, strlen(b64), out, sizeof out, &out_len);
        if (st != VS_VALID)
            fail_msg("%s: expected valid, got %s", testutil_str(v, "id"), vs_status_name(st));
        assert_int_equal(out_len, wlen);
        assert_memory_equal(out, want, wlen);
        /* Another page (generator or type) is refused. */
        struct viewstate other;
        pg.generator ^= 1;
        pg.type_name = "OTHER_ASPX";
        assert_int_equal(viewstate_init(&other, &mk, &pg, NULL), 0);
        st = viewstate_unprotect(&other, b64, strlen(b64), out, sizeof out, &out_len);
        bool md5_signed = strcmp(testutil_str(v, "validation_alg"), "MD5") == 0 && !pg.encrypt;
        if (md5_signed)
            /* ASP.NET's quirk: MD5 signing overwrites the modifier with the key and hashes
             * zeros in its place, so another page's generator is not noticed. */
            assert_int_equal(st, VS_VALID);
        else
            assert_true(st == VS_MAC_FAILED || st == VS_INVALID);
        viewstate_cleanup(&other);
        viewstate_cleanup(&vs);
        free(bin);
        free(want);
        free(b64);
        checked++;
    }
    assert_int_equal(checked, 24);
}

/* The test farm's keys, and one page of it protected under them. */
#define TEST_VALIDATION_KEY "0102030405060708090A0B0C0D0E0F101112131415161718191A1B1C"
#define TEST_DECRYPTION_KEY "A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8"

struct test_page {
    struct machinekey mk;
    struct viewstate vs;
};

static void test_page_init(struct test_page *t, const char *validation_key,
                           const char *decryption_key, const char *compat, bool encrypt,
                           const char *user_key)
{
    struct mk_params p = {
        .validation_key = validation_key, .decryption_key = decryption_key, .compat = compat};
    assert_int_equal(machinekey_init(&t->mk, &p, NULL, NULL), 0);
    struct viewstate_page pg = {.template_dir = "/",
                                .type_name = "form_aspx",
                                .generator = 0xCA0B0334,
                                .encrypt = encrypt,
                                .user_key = user_key};
    assert_int_equal(viewstate_init(&t->vs, &t->mk, &pg, NULL), 0);
}

static void test_page_cleanup(struct test_page *t)
{
    viewstate_cleanup(&t->vs);
    machinekey_cleanup(&t->mk);
}

static const char *const test_compats[] = {"Framework20SP2", "Framework45"};

static void test_viewstate_round_trip_and_other_keys(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++)
        for (int enc = 0; enc < 2; enc++) {
            struct test_page a, b;
            test_page_init(&a, TEST_VALIDATION_KEY, TEST_DECRYPTION_KEY, test_compats[c], enc,
                           "alice");
            test_page_init(&b, "AutoGenerate", TEST_DECRYPTION_KEY, test_compats[c], enc, "alice");
            const uint8_t payload[] = "\xff\x01"
                                      "cart=3;step=2";
            char text[1024];
            long n = viewstate_protect(&a.vs, payload, sizeof payload, text, sizeof text);
            assert_true(n > 0);
            uint8_t out[256];
            size_t out_len = 0;
            assert_int_equal(viewstate_unprotect(&a.vs, text, (size_t)n, out, sizeof out, &out_len),
                             VS_VALID);
            assert_int_equal(out_len, sizeof payload);
            assert_memory_equal(out, payload, sizeof payload);
            /* The node left on AutoGenerate: "Validation of viewstate MAC failed". */
            assert_int_equal(viewstate_unprotect(&b.vs, text, (size_t)n, out, sizeof out, &out_len),
                             VS_MAC_FAILED);
            assert_int_equal(viewstate_unprotect(&a.vs, "%%%", 3, out, sizeof out, &out_len),
                             VS_MALFORMED);
            test_page_cleanup(&a);
            test_page_cleanup(&b);
        }
    assert_non_null(strstr(VIEWSTATE_MAC_FAILED_TEXT, "AutoGenerate cannot be used in a cluster."));
}

/* Same validationKey, another decryptionKey (the "ddiff" farm): the MAC holds, the content
 * decrypts to garbage. Garbage ends in valid CBC padding about one time in 256, so without
 * ObjectStateFormatter's marker check some of these would pass as valid. Also: a payload
 * that is not ObjectStateFormatter's is invalid even under the right keys. */
static void test_viewstate_other_decryption_key_never_valid(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        struct test_page a, d;
        test_page_init(&a, TEST_VALIDATION_KEY, TEST_DECRYPTION_KEY, test_compats[c], true, NULL);
        test_page_init(&d, TEST_VALIDATION_KEY, "B1B2B3B4B5B6B7B8B9BABBBCBDBEBFC0C1C2C3C4C5C6C7C8",
                       test_compats[c], true, NULL);
        static const uint8_t payload[] = "\xff\x01"
                                         "farmlab:node=web1;issued=1";
        int valid = 0, invalid = 0;
        for (int i = 0; i < 2000; i++) {
            char text[512];
            long n = viewstate_protect(&a.vs, payload, sizeof payload - 1, text, sizeof text);
            assert_true(n > 0);
            uint8_t out[256];
            size_t out_len = 0;
            enum vs_status st =
                viewstate_unprotect(&d.vs, text, (size_t)n, out, sizeof out, &out_len);
            valid += st == VS_VALID;
            invalid += st == VS_INVALID;
        }
        assert_int_equal(valid, 0);
        if (c == 1)
            assert_int_equal(invalid, 2000); /* Framework45: the MAC key is the same */
        /* Not ObjectStateFormatter's bytes, right keys: invalid. */
        static const uint8_t plain[] = "cart=3";
        char text[512];
        long n = viewstate_protect(&a.vs, plain, sizeof plain - 1, text, sizeof text);
        assert_true(n > 0);
        uint8_t out[256];
        size_t out_len = 0;
        assert_int_equal(viewstate_unprotect(&a.vs, text, (size_t)n, out, sizeof out, &out_len),
                         VS_INVALID);
        test_page_cleanup(&a);
        test_page_cleanup(&d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_viewstate_validates_every_aspnet_viewstate),
        cmocka_unit_test(test_viewstate_round_trip_and_other_keys),
        cmocka_unit_test(test_viewstate_other_decryption_key_never_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
