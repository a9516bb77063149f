/* test_machinekey: ASP.NET's rules for <machineKey> attributes, AutoGenerate, IsolateApps
 * and fingerprints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <string.h>

#include "machinekey.h"

#define VKEY64                                                                                     \
    "0102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F20"                             \
    "2122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F40"
#define DKEY32 "A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBFC0"

static int init(struct machinekey *mk, const struct mk_params *p, struct errbuf *err,
                enum mk_attr *attr)
{
    memset(err, 0, sizeof *err);
    return machinekey_init(mk, p, err, attr);
}

static void test_machinekey_defaults_are_aspnet_defaults(void **state)
{
    (void)state;
    struct mk_params p = {0};
    struct machinekey mk;
    struct errbuf err;
    assert_int_equal(init(&mk, &p, &err, NULL), 0);
    assert_int_equal(mk.compat, MK_COMPAT_FX20SP1);
    assert_false(mk.compat_explicit);
    assert_int_equal(mk.validation, MK_VALIDATION_HMACSHA256);
    assert_int_equal(mk.decryption, MK_DECRYPTION_AUTO);
    assert_true(mk.vkey.autogen && mk.vkey.isolate_apps);
    assert_true(mk.dkey.autogen && mk.dkey.isolate_apps);
    /* Legacy AutoGenerate sizes: 64-byte validation key, 24-byte decryption key → AES-192. */
    assert_int_equal(mk.vkey.len, 64);
    assert_int_equal(mk.dkey.len, 24);
    assert_int_equal(mk.cipher, MK_CIPHER_AES);
    p.fx45_default = true;
    assert_int_equal(init(&mk, &p, &err, NULL), 0);
    assert_int_equal(mk.compat, MK_COMPAT_FX45);
    assert_int_equal(mk.vkey.len, 32);
}

/* AutoGenerate: two processes get different keys; the same autogen secret gives the same. */
static void test_machinekey_autogenerate_is_per_process(void **state)
{
    (void)state;
    struct mk_params p = {.validation_key = "AutoGenerate", .decryption_key = "AutoGenerate"};
    struct machinekey a, b;
    struct errbuf err;
    assert_int_equal(init(&a, &p, &err, NULL), 0);
    assert_int_equal(init(&b, &p, &err, NULL), 0);
    assert_memory_not_equal(a.vkey.bytes, b.vkey.bytes, a.vkey.len);
    struct mk_fingerprint fa, fb;
    machinekey_fingerprint(&a, &fa);
    machinekey_fingerprint(&b, &fb);
    assert_string_not_equal(fa.validation, fb.validation);
    uint8_t secret[32] = {1, 2, 3};
    p.autogen_secret = secret;
    assert_int_equal(init(&a, &p, &err, NULL), 0);
    assert_int_equal(init(&b, &p, &err, NULL), 0);
    assert_memory_equal(a.vkey.bytes, b.vkey.bytes, a.vkey.len);
    assert_memory_equal(a.dkey.bytes, b.dkey.bytes, a.dkey.len);
}

/* Explicit key + IsolateApps (legacy): the effective key depends on the app path. */
static void test_machinekey_isolate_apps_depends_on_app_path(void **state)
{
    (void)state;
    struct mk_params p = {.validation_key = VKEY64 ",IsolateApps",
                          .decryption_key = DKEY32,
                          .app_path = "/LM/W3SVC/1/ROOT"};
    struct machinekey a, b, c;
    struct errbuf err;
    assert_int_equal(init(&a, &p, &err, NULL), 0);
    assert_true(a.vkey.isolate_apps);
    assert_false(a.vkey.autogen);
    p.app_path = "/LM/W3SVC/2/ROOT";
    assert_int_equal(init(&b, &p, &err, NULL), 0);
    p.app_path = "/lm/w3svc/1/root"; /* case-insensitive, as ASP.NET's hash */
    assert_int_equal(init(&c, &p, &err, NULL), 0);
    assert_memory_not_equal(a.vkey.bytes, b.vkey.bytes, 4);
    assert_memory_equal(a.vkey.bytes, c.vkey.bytes, 64);
    /* Only bytes 0-3 change. */
    assert_memory_equal(a.vkey.bytes + 4, b.vkey.bytes + 4, 60);
    /* Framework45 refuses HEX,IsolateApps. */
    p.compat = "Framework45";
    assert_int_equal(init(&a, &p, &err, NULL), -1);
    assert_non_null(strstr(err.msg, "AutoGenerate"));
}

static void test_machinekey_errors_use_aspnet_words(void **state)
{
    (void)state;
    static const struct {
        struct mk_params p;
        enum mk_attr attr;
        const char *text;
    } cases[] = {
        {{.validation_key = "0102", .decryption_key = DKEY32},
         MK_ATTR_VALIDATION_KEY,
         "between 40 and 128 Hex chars"},
        {{.validation_key = VKEY64 "z1", .decryption_key = DKEY32},
         MK_ATTR_VALIDATION_KEY,
         "invalid hex characters"},
        {{.validation_key = VKEY64, .decryption_key = "A1A2A3"},
         MK_ATTR_DECRYPTION_KEY,
         "16 (for DES) or 48 (for 3DES and AES)"},
        {{.validation_key = VKEY64, .decryption_key = DKEY32, .decryption = "3DES"},
         MK_ATTR_DECRYPTION_KEY,
         "16 (for DES) or 48 (for 3DES and AES)"},
        {{.validation_key = VKEY64, .decryption_key = DKEY32, .validation = "SHA256"},
         MK_ATTR_VALIDATION,
         "The validation must be one of these values"},
        {{.validation_key = VKEY64,
          .decryption_key = DKEY32,
          .validation = "MD5",
          .compat = "Framework45"},
         MK_ATTR_VALIDATION,
         "compatibilityMode=\"Framework45\""},
        {{.validation_key = VKEY64, .decryption_key = DKEY32, .decryption = "Rijndael"},
         MK_ATTR_DECRYPTION,
         "Auto, DES, 3DES, AES"},
        {{.validation_key = VKEY64, .decryption_key = DKEY32, .compat = "Framework40"},
         MK_ATTR_COMPAT,
         "Framework20SP1, Framework20SP2"},
        {{.validation_key = VKEY64, .decryption_key = DKEY32, .compat = "framework45"},
         MK_ATTR_COMPAT,
         "Framework45"},
        {{.validation_key = VKEY64, .decryption_key = "A1A2A3A4A5A6A7A8", .compat = "Framework45"},
         MK_ATTR_DECRYPTION_KEY,
         "16 (for DES)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct machinekey mk;
        struct errbuf err;
        enum mk_attr attr = MK_ATTR_NONE;
        if (init(&mk, &cases[i].p, &err, &attr) != -1)
            fail_msg("case %zu: expected an error", i);
        assert_int_equal(attr, cases[i].attr);
        if (strstr(err.msg, cases[i].text) == NULL)
            fail_msg("case %zu: expected '%s' in '%s'", i, cases[i].text, err.msg);
        /* No key material in errors. */
        assert_null(strstr(err.msg, "0102030405"));
        assert_null(strstr(err.msg, "A1A2A3"));
    }
}

/* The legacy hex reader: characters up to 'f' that are not hex read as 0 — ASP.NET's
 * quirk — and are flagged; characters above 'f' are an error. */
static void test_machinekey_legacy_hex_quirk(void **state)
{
    (void)state;
    char vk[] = VKEY64;
    vk[0] = 'O'; /* a letter O typed for a zero */
    struct mk_params p = {.validation_key = vk, .decryption_key = DKEY32};
    struct machinekey mk, ref;
    struct errbuf err;
    assert_int_equal(init(&mk, &p, &err, NULL), 0);
    assert_true(mk.vkey.lenient_hex);
    p.validation_key = VKEY64;
    assert_int_equal(init(&ref, &p, &err, NULL), 0);
    assert_false(ref.vkey.lenient_hex);
    assert_memory_equal(mk.vkey.bytes, ref.vkey.bytes, 64);
    p.compat = "Framework45";
    p.validation_key = vk;
    assert_int_equal(init(&mk, &p, &err, NULL), -1);
}

/* DES: Auto picks DES for an 8-byte key in legacy modes; a longer DES key is truncated. */
static void test_machinekey_des_rules(void **state)
{
    (void)state;
    struct mk_params p = {.validation_key = VKEY64, .decryption_key = "A1A2A3A4A5A6A7A8"};
    struct machinekey mk;
    struct errbuf err;
    assert_int_equal(init(&mk, &p, &err, NULL), 0);
    assert_int_equal(mk.cipher, MK_CIPHER_DES);
    p.decryption = "DES";
    p.decryption_key = DKEY32;
    assert_int_equal(init(&mk, &p, &err, NULL), 0);
    assert_int_equal(machinekey_cipher_key_len(&mk), 8);
}

static void test_machinekey_validation_key_limits(void **state)
{
    (void)state;
    char k128[257];
    memset(k128, 'A', 256);
    k128[256] = '\0';
    struct mk_params p = {.validation_key = k128, .decryption_key = DKEY32};
    struct machinekey mk;
    struct errbuf err;
    /* Legacy HMACSHA256: longer than a hash block (64 bytes) overruns ASP.NET's pads. */
    assert_int_equal(init(&mk, &p, &err, NULL), -1);
    p.validation = "HMACSHA512";
    assert_int_equal(init(&mk, &p, &err, NULL), 0);
    assert_int_equal(mk.vkey.len, 128);
    p.validation = "HMACSHA256";
    p.compat = "Framework45";
    assert_int_equal(init(&mk, &p, &err, NULL), 0);
}

/* Fingerprints: stable, per side, and never the key. */
static void test_machinekey_fingerprints(void **state)
{
    (void)state;
    struct mk_params p = {
        .validation_key = VKEY64, .decryption_key = DKEY32, .compat = "Framework45"};
    struct machinekey a, b;
    struct errbuf err;
    assert_int_equal(init(&a, &p, &err, NULL), 0);
    p.decryption_key = "B1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBFC0";
    assert_int_equal(init(&b, &p, &err, NULL), 0);
    struct mk_fingerprint fa, fb, fa2;
    machinekey_fingerprint(&a, &fa);
    machinekey_fingerprint(&b, &fb);
    machinekey_fingerprint(&a, &fa2);
    assert_string_equal(fa.text, fa2.text);
    assert_int_equal(strlen(fa.validation), 8);
    assert_string_equal(fa.validation, fb.validation);
    assert_string_not_equal(fa.decryption, fb.decryption);
    assert_string_equal(fa.mode, "fx45");
    assert_non_null(strstr(fa.text, "m=fx45"));
    assert_null(strstr(fa.text, "0102"));
    /* Another validation algorithm, same key: another validation fingerprint. */
    p.validation = "HMACSHA512";
    assert_int_equal(init(&b, &p, &err, NULL), 0);
    machinekey_fingerprint(&b, &fb);
    assert_string_not_equal(fa.validation, fb.validation);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_machinekey_defaults_are_aspnet_defaults),
        cmocka_unit_test(test_machinekey_autogenerate_is_per_process),
        cmocka_unit_test(test_machinekey_isolate_apps_depends_on_app_path),
        cmocka_unit_test(test_machinekey_errors_use_aspnet_words),
        cmocka_unit_test(test_machinekey_legacy_hex_quirk),
        cmocka_unit_test(test_machinekey_des_rules),
        cmocka_unit_test(test_machinekey_validation_key_limits),
        cmocka_unit_test(test_machinekey_fingerprints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
