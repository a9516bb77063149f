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

/* The virtual path of an application: IIS metabase paths lose "/LM/W3SVC/<site>/ROOT";
 * virtual paths stay as they are. */
static void test_machinekey_virtual_path(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"/LM/W3SVC/1/ROOT", "/"},
        {"/LM/W3SVC/2/ROOT", "/"},
        {"/lm/w3svc/17/root", "/"},
        {"/LM/W3SVC/1/ROOT/", "/"},
        {"/LM/W3SVC/1/ROOT/shop", "/shop"},
        {"/LM/W3SVC/3/ROOT/shop/admin/", "/shop/admin"},
        {"/", "/"},
        {"/shop", "/shop"},
        {"/LM/W3SVC/ROOT", "/LM/W3SVC/ROOT"},       /* no site id: not a metabase path */
        {"/LM/W3SVC/1/ROOTS", "/LM/W3SVC/1/ROOTS"}, /* not ROOT */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        machinekey_virtual_path(cases[i][0], out, sizeof out);
        if (strcmp(out, cases[i][1]) != 0)
            fail_msg("%s: expected virtual path %s, got %s", cases[i][0], cases[i][1], out);
    }
}

static void init_at(struct machinekey *mk, struct mk_params *p, const char *app_path)
{
    struct errbuf err = {{0}};
    p->app_path = app_path;
    if (machinekey_init(mk, p, &err, NULL) != 0)
        fail_msg("app path %s: %s", app_path ? app_path : "(default)", err.msg);
}

/* IsolateApps follows the virtual path (AppDomainAppVirtualPath), not the IIS site id: the
 * root of site 1, of site 2 and "/" share keys; another application does not. Both for the
 * legacy path hash over an explicit key and for Framework45's KDF purpose. */
static void test_machinekey_isolate_apps_uses_virtual_path(void **state)
{
    (void)state;
    static const uint8_t secret[32] = {7, 7, 7};
    struct mk_params legacy = {.validation_key = VKEY64 ",IsolateApps",
                               .decryption_key = DKEY32 ",IsolateApps"};
    struct mk_params fx45 = {.validation_key = "AutoGenerate,IsolateApps",
                             .decryption_key = "AutoGenerate,IsolateApps",
                             .compat = "Framework45",
                             .autogen_secret = secret};
    struct mk_params *params[] = {&legacy, &fx45};
    for (size_t i = 0; i < 2; i++) {
        struct machinekey site1, site2, root, dflt, lower, shop, shop2;
        init_at(&site1, params[i], "/LM/W3SVC/1/ROOT");
        init_at(&site2, params[i], "/LM/W3SVC/2/ROOT");
        init_at(&root, params[i], "/");
        init_at(&dflt, params[i], NULL);
        init_at(&lower, params[i], "/lm/w3svc/1/root");
        init_at(&shop, params[i], "/LM/W3SVC/1/ROOT/shop");
        init_at(&shop2, params[i], "/LM/W3SVC/2/ROOT/shop");
        assert_true(site1.vkey.isolate_apps);
        assert_string_equal(site1.app_path, "/");
        assert_string_equal(site2.app_path, "/");
        assert_string_equal(shop.app_path, "/shop");
        const struct machinekey *same[] = {&site2, &root, &dflt, &lower};
        for (size_t j = 0; j < sizeof same / sizeof same[0]; j++) {
            if (memcmp(site1.vkey.bytes, same[j]->vkey.bytes, site1.vkey.len) != 0 ||
                memcmp(site1.dkey.bytes, same[j]->dkey.bytes, site1.dkey.len) != 0)
                fail_msg("%s: IsolateApps keys of /LM/W3SVC/1/ROOT and %s (case %zu) differ",
                         mk_compat_name(site1.compat), same[j]->app_id, j);
        }
        assert_memory_not_equal(site1.vkey.bytes, shop.vkey.bytes, site1.vkey.len);
        assert_memory_not_equal(site1.dkey.bytes, shop.dkey.bytes, site1.dkey.len);
        assert_memory_equal(shop.vkey.bytes, shop2.vkey.bytes, shop.vkey.len);
        if (i == 0) /* legacy: only bytes 0-3 carry the path hash */
            assert_memory_equal(site1.vkey.bytes + 4, shop.vkey.bytes + 4, 60);
    }
    /* Framework45 refuses HEX,IsolateApps. */
    struct machinekey mk;
    struct errbuf err;
    legacy.compat = "Framework45";
    legacy.app_path = NULL;
    assert_int_equal(init(&mk, &legacy, &err, NULL), -1);
    assert_non_null(strstr(err.msg, "AutoGenerate"));
}

/* IsolateByAppId follows the application id (AppDomainAppId, the metabase path): the same
 * application under another IIS site id gets other keys. */
static void test_machinekey_isolate_by_app_id_uses_app_id(void **state)
{
    (void)state;
    static const uint8_t secret[32] = {7, 7, 7};
    struct mk_params legacy = {.validation_key = VKEY64 ",IsolateByAppId",
                               .decryption_key = DKEY32};
    struct mk_params fx45 = {.validation_key = "AutoGenerate,IsolateByAppId",
                             .decryption_key = "AutoGenerate,IsolateByAppId",
                             .compat = "Framework45",
                             .autogen_secret = secret};
    struct mk_params *params[] = {&legacy, &fx45};
    for (size_t i = 0; i < 2; i++) {
        struct machinekey site1, site1b, site2, dflt;
        init_at(&site1, params[i], "/LM/W3SVC/1/ROOT");
        init_at(&site1b, params[i], "/LM/W3SVC/1/ROOT");
        init_at(&site2, params[i], "/LM/W3SVC/2/ROOT");
        init_at(&dflt, params[i], NULL); /* the default is site 1's root, as sim-node's */
        assert_true(site1.vkey.isolate_by_app_id);
        assert_string_equal(site1.app_id, "/LM/W3SVC/1/ROOT");
        assert_string_equal(site2.app_id, "/LM/W3SVC/2/ROOT");
        assert_memory_equal(site1.vkey.bytes, site1b.vkey.bytes, site1.vkey.len);
        assert_memory_equal(site1.vkey.bytes, dflt.vkey.bytes, site1.vkey.len);
        assert_memory_not_equal(site1.vkey.bytes, site2.vkey.bytes, site1.vkey.len);
        if (i == 0) { /* legacy: bytes 4-7 carry the id hash, the rest is the written key */
            assert_memory_equal(site1.vkey.bytes, site2.vkey.bytes, 4);
            assert_memory_not_equal(site1.vkey.bytes + 4, site2.vkey.bytes + 4, 4);
            assert_memory_equal(site1.vkey.bytes + 8, site2.vkey.bytes + 8, 56);
        }
    }
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
        /* validation AES / 3DES key their ViewState cipher with the decryption key: an
         * 8-byte key fits no AES, a 32-byte key no 3DES. */
        {{.validation_key = VKEY64,
          .decryption_key = "A1A2A3A4A5A6A7A8",
          .validation = "AES",
          .decryption = "DES"},
         MK_ATTR_DECRYPTION_KEY,
         "16 (for DES) or 48 (for 3DES and AES)"},
        {{.validation_key = VKEY64, .decryption_key = DKEY32, .validation = "3DES"},
         MK_ATTR_DECRYPTION_KEY,
         "16 (for DES) or 48 (for 3DES and AES)"},
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
        cmocka_unit_test(test_machinekey_virtual_path),
        cmocka_unit_test(test_machinekey_isolate_apps_uses_virtual_path),
        cmocka_unit_test(test_machinekey_isolate_by_app_id_uses_app_id),
        cmocka_unit_test(test_machinekey_errors_use_aspnet_words),
        cmocka_unit_test(test_machinekey_legacy_hex_quirk),
        cmocka_unit_test(test_machinekey_des_rules),
        cmocka_unit_test(test_machinekey_validation_key_limits),
        cmocka_unit_test(test_machinekey_fingerprints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
