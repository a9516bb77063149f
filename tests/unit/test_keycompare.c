/* test_keycompare: verdicts are measured, reasons name what differs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <string.h>

#include "keycompare.h"

#define VKEY  "5D1E3B2A9C8F7E6D5C4B3A291807F6E5D4C3B2A19F8E7D6C5B4A392817F6E5D4"
#define VKEY2 "6D1E3B2A9C8F7E6D5C4B3A291807F6E5D4C3B2A19F8E7D6C5B4A392817F6E5D4"
#define DKEY  "9E8D7C6B5A4938271605F4E3D2C1B0A99E8D7C6B5A4938271605F4E3D2C1B0A9"
#define DKEY2 "AE8D7C6B5A4938271605F4E3D2C1B0A99E8D7C6B5A4938271605F4E3D2C1B0A9"

static struct machinekey mk(const char *vk, const char *dk, const char *val, const char *dec,
                            const char *compat, const char *app_path)
{
    struct mk_params p = {.validation_key = vk,
                          .decryption_key = dk,
                          .validation = val,
                          .decryption = dec,
                          .compat = compat,
                          .app_path = app_path};
    struct machinekey m;
    struct errbuf err = {{0}};
    if (machinekey_init(&m, &p, &err, NULL) != 0)
        fail_msg("machinekey_init: %s", err.msg);
    return m;
}

static void expect(struct machinekey a, struct machinekey b, bool compatible,
                   enum fa_status verdict, unsigned reasons, const char *why)
{
    struct kc_result r;
    assert_int_equal(keycompare(&a, "web1", &b, "web2", &r), 0);
    if (r.compatible != compatible || r.verdict != verdict || r.reasons != reasons)
        fail_msg("expected %d/%s/%#x, got %d/%s/%#x (%s)", compatible, fa_status_name(verdict),
                 reasons, r.compatible, fa_status_name(r.verdict), r.reasons, r.why);
    if (strstr(r.why, why) == NULL)
        fail_msg("expected '%s' in '%s'", why, r.why);
    assert_null(strstr(r.why, "5D1E3B"));
}

static void test_keycompare_cases(void **state)
{
    (void)state;
    const char *fx = "Framework45", *sp1 = "Framework20SP1", *sp2 = "Framework20SP2";
    expect(mk(VKEY, DKEY, "HMACSHA256", "AES", fx, NULL),
           mk(VKEY, DKEY, "HMACSHA256", "AES", fx, NULL), true, FA_VALID, 0, "same keys");
    expect(mk(VKEY, DKEY, "HMACSHA256", "AES", fx, NULL),
           mk(VKEY2, DKEY, "HMACSHA256", "AES", fx, NULL), false, FA_MAC_MISMATCH,
           KC_VALIDATION_KEY, "validationKey differs");
    expect(mk(VKEY, DKEY, "SHA1", "AES", sp2, NULL), mk(VKEY, DKEY2, "SHA1", "AES", sp2, NULL),
           false, FA_BAD_TICKET, KC_DECRYPTION_KEY, "decryptionKey differs");
    expect(mk(VKEY, DKEY, "HMACSHA256", "AES", fx, NULL),
           mk(VKEY, DKEY, "HMACSHA512", "AES", fx, NULL), false, FA_MAC_MISMATCH, KC_VALIDATION_ALG,
           "validation HMACSHA256 vs HMACSHA512");
    expect(mk(VKEY, DKEY, "HMACSHA256", "AES", sp2, NULL),
           mk(VKEY, DKEY, "HMACSHA256", "AES", fx, NULL), false, FA_MAC_MISMATCH, KC_MODE,
           "compatibilityMode");
    /* SP1 and SP2 write the same v1 tickets. */
    expect(mk(VKEY, DKEY, "SHA1", "AES", sp1, NULL), mk(VKEY, DKEY, "SHA1", "AES", sp2, NULL), true,
           FA_VALID, 0, "same keys");
    /* Legacy SHA1 and AES validation sign tickets alike (HMAC-SHA1). */
    expect(mk(VKEY, DKEY, "SHA1", "AES", sp2, NULL), mk(VKEY, DKEY, "AES", "AES", sp2, NULL), true,
           FA_VALID, KC_VALIDATION_ALG, "still validate");
    /* DES uses the first 8 bytes: keys differing after them agree. */
    expect(mk(VKEY, "0102030405060708AAAAAAAAAAAAAAAA", "SHA1", "DES", sp2, NULL),
           mk(VKEY, "0102030405060708BBBBBBBBBBBBBBBB", "SHA1", "DES", sp2, NULL), true, FA_VALID,
           0, "same keys");
    expect(mk("AutoGenerate", "AutoGenerate", "HMACSHA256", "AES", fx, NULL),
           mk(VKEY, DKEY, "HMACSHA256", "AES", fx, NULL), false, FA_MAC_MISMATCH, KC_AUTOGEN,
           "web1 uses AutoGenerate");
    /* IsolateApps isolates by virtual path: another application differs, another IIS site
     * id with the same path does not. */
    expect(mk(VKEY ",IsolateApps", DKEY, "SHA1", "AES", sp2, "/LM/W3SVC/1/ROOT"),
           mk(VKEY ",IsolateApps", DKEY, "SHA1", "AES", sp2, "/LM/W3SVC/1/ROOT/shop"), false,
           FA_MAC_MISMATCH, KC_VALIDATION_KEY | KC_ISOLATE,
           "IsolateApps with app paths / vs /shop");
    expect(mk(VKEY ",IsolateApps", DKEY, "SHA1", "AES", sp2, "/LM/W3SVC/1/ROOT"),
           mk(VKEY ",IsolateApps", DKEY, "SHA1", "AES", sp2, "/LM/W3SVC/2/ROOT"), true, FA_VALID, 0,
           "same keys");
    expect(mk(VKEY, DKEY, "SHA1", "AES", sp2, NULL),
           mk(VKEY, "9E8D7C6B5A4938271605F4E3D2C1B0A99E8D7C6B5A493827", "SHA1", "3DES", sp2, NULL),
           false, FA_BAD_TICKET, KC_CIPHER, "decryption AES vs 3DES");
}

/* The reason names the side on AutoGenerate with the caller's names — the issuer, the
 * checker or both — never "A" or "B". */
static void expect_autogen_named(const char *a_vkey, const char *a_name, const char *b_vkey,
                                 const char *b_name, const char *want)
{
    struct machinekey a = mk(a_vkey, DKEY, "HMACSHA256", "AES", "Framework45", NULL);
    struct machinekey b = mk(b_vkey, DKEY, "HMACSHA256", "AES", "Framework45", NULL);
    struct kc_result r;
    assert_int_equal(keycompare(&a, a_name, &b, b_name, &r), 0);
    machinekey_cleanup(&a);
    machinekey_cleanup(&b);
    if (r.compatible || !(r.reasons & KC_AUTOGEN))
        fail_msg("expected an incompatible pair on AutoGenerate, got %d/%#x (%s)", r.compatible,
                 r.reasons, r.why);
    if (strcmp(r.why, want) != 0)
        fail_msg("expected '%s', got '%s'", want, r.why);
}

static void test_keycompare_names_the_autogenerate_side(void **state)
{
    (void)state;
    expect_autogen_named("AutoGenerate", "web3", VKEY, "web1",
                         "web3 uses AutoGenerate: random keys of its own");
    expect_autogen_named(VKEY, "web1", "AutoGenerate,IsolateApps", "web3",
                         "web3 uses AutoGenerate: random keys of its own");
    expect_autogen_named("AutoGenerate", "a.config", "AutoGenerate", "b.config",
                         "a.config and b.config use AutoGenerate: random keys of their own");
    expect_autogen_named(VKEY, NULL, "AutoGenerate", NULL,
                         "the checker uses AutoGenerate: random keys of its own");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keycompare_cases),
        cmocka_unit_test(test_keycompare_names_the_autogenerate_side),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
