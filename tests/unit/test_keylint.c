/* test_keylint: each finding fires when it should and only then. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <string.h>

#include "keylint.h"

#define VKEY64                                                                                     \
    "5D1E3B2A9C8F7E6D5C4B3A291807F6E5D4C3B2A19F8E7D6C5B4A392817F6E5D4"                             \
    "C3B2A1908F7E6D5C4B3A29180F1E2D3C4B5A69788796A5B4C3D2E1F00F1E2D3C"
#define DKEY32 "9E8D7C6B5A4938271605F4E3D2C1B0A99E8D7C6B5A4938271605F4E3D2C1B0A9"

static void lint(const struct mk_params *p, const bool *written, struct lint_report *r)
{
    struct machinekey mk;
    struct errbuf err = {{0}};
    if (machinekey_init(&mk, p, &err, NULL) != 0)
        fail_msg("machinekey_init: %s", err.msg);
    keylint_check(&mk, written, NULL, r);
}

static const struct lint_finding *find(const struct lint_report *r, const char *code)
{
    for (size_t i = 0; i < r->count; i++)
        if (strcmp(r->items[i].code, code) == 0)
            return &r->items[i];
    return NULL;
}

static void test_keylint_strong_farm_key_is_clean(void **state)
{
    (void)state;
    struct mk_params p = {.validation_key = VKEY64,
                          .decryption_key = DKEY32,
                          .validation = "HMACSHA256",
                          .decryption = "AES",
                          .compat = "Framework45"};
    struct lint_report r;
    lint(&p, NULL, &r);
    for (size_t i = 0; i < r.count; i++)
        print_error("unexpected: %s\n", r.items[i].message);
    assert_int_equal(r.count, 0);
}

static void test_keylint_autogenerate_is_an_error(void **state)
{
    (void)state;
    struct mk_params p = {.compat = "Framework45"}; /* both keys default */
    bool written[MK_ATTR_COMPAT + 1] = {[MK_ATTR_COMPAT] = true};
    struct lint_report r;
    lint(&p, written, &r);
    const struct lint_finding *f = find(&r, "autogenerate");
    assert_non_null(f);
    assert_int_equal(f->severity, LINT_ERROR);
    assert_non_null(strstr(f->message, "defaults to AutoGenerate"));
    assert_int_equal(r.errors, 2); /* one per key */
}

static void test_keylint_weak_choices(void **state)
{
    (void)state;
    struct mk_params p = {.validation_key = VKEY64,
                          .decryption_key = "0102030405060708",
                          .validation = "MD5",
                          .compat = "Framework20SP1"};
    struct lint_report r;
    lint(&p, NULL, &r);
    assert_int_equal(find(&r, "weak-validation")->severity, LINT_ERROR);
    assert_int_equal(find(&r, "weak-decryption")->severity, LINT_ERROR); /* Auto + 8 = DES */
    assert_int_equal(find(&r, "legacy-mode")->severity, LINT_WARNING);

    p.validation = "SHA1";
    p.decryption = "3DES";
    p.decryption_key = "0102030405060708090A0B0C0D0E0F101112131415161718";
    lint(&p, NULL, &r);
    assert_int_equal(find(&r, "weak-validation")->severity, LINT_WARNING);
    assert_int_equal(find(&r, "weak-decryption")->severity, LINT_WARNING);
    assert_int_equal(r.errors, 0);
}

static void test_keylint_short_keys_and_isolate_apps(void **state)
{
    (void)state;
    struct mk_params p = {.validation_key = "0102030405060708090A0B0C0D0E0F1011121314,IsolateApps",
                          .decryption_key = "0102030405060708090A0B0C0D0E0F10",
                          .validation = "HMACSHA256",
                          .compat = "Framework20SP2"};
    struct lint_report r;
    lint(&p, NULL, &r);
    assert_non_null(find(&r, "short-key"));
    assert_int_equal(find(&r, "isolate-apps")->severity, LINT_WARNING);
    /* IsolateApps follows the virtual path, not the IIS site id; IsolateByAppId follows both. */
    assert_non_null(strstr(find(&r, "isolate-apps")->message, "virtual path"));
    assert_null(strstr(find(&r, "isolate-apps")->message, "site ID"));
    p.validation_key = "0102030405060708090A0B0C0D0E0F1011121314,IsolateByAppId";
    lint(&p, NULL, &r);
    assert_non_null(strstr(find(&r, "isolate-apps")->message, "site ID"));
}

static void test_keylint_disclosed_and_bad_hex(void **state)
{
    (void)state;
    struct mk_params p = {.validation_key =
                              "8ED2CDBA742675EB1EDB2C650245CD179998786C2F74D2EF56BE488519BAE55B2671"
                              "7CF76A5348DC83D34F3E3F079DECAD2075FF278BD927C06F784923F59DD1",
                          .decryption_key = "B134B1E055D415013E31DECBF84B80492E8A8F1623F7332E",
                          .validation = "SHA1",
                          .compat = "Framework20SP2"};
    struct lint_report r;
    lint(&p, NULL, &r);
    const struct lint_finding *f = find(&r, "disclosed-key");
    assert_non_null(f);
    assert_int_equal(f->severity, LINT_ERROR);
    assert_non_null(strstr(f->message, "2006"));
    /* Never the key in a message. */
    for (size_t i = 0; i < r.count; i++)
        assert_null(strstr(r.items[i].message, "8ED2CDBA"));

    char vk[] = VKEY64;
    vk[3] = 'O';
    p.validation_key = vk;
    p.decryption_key = DKEY32;
    lint(&p, NULL, &r);
    assert_int_equal(find(&r, "bad-hex")->severity, LINT_ERROR);
}

static void test_keylint_implicit_mode(void **state)
{
    (void)state;
    struct mk_params p = {.validation_key = VKEY64, .decryption_key = DKEY32, .fx45_default = true};
    bool written[MK_ATTR_COMPAT + 1] = {
        [MK_ATTR_VALIDATION_KEY] = true, [MK_ATTR_DECRYPTION_KEY] = true};
    struct lint_report r;
    lint(&p, written, &r);
    assert_int_equal(find(&r, "implicit-mode")->severity, LINT_WARNING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keylint_strong_farm_key_is_clean),
        cmocka_unit_test(test_keylint_autogenerate_is_an_error),
        cmocka_unit_test(test_keylint_weak_choices),
        cmocka_unit_test(test_keylint_short_keys_and_isolate_apps),
        cmocka_unit_test(test_keylint_disclosed_and_bad_hex),
        cmocka_unit_test(test_keylint_implicit_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
