/* test_disclosed: Microsoft's list format, the built-in list, and the rule that every key in
 * farmlab's own docs and examples is in the built-in list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disclosed.h"
#include "hex.h"

static void key_from_text(const char *text, struct mk_key *k, bool vkey)
{
    struct mk_params p = {
        .validation_key = vkey ? text : "0102030405060708090A0B0C0D0E0F1011121314",
        .decryption_key = vkey ? "A1A2A3A4A5A6A7A8A9AAABACADAEAFB0" : text,
        .validation = "HMACSHA512",
        .compat = "Framework20SP2",
    };
    struct machinekey mk;
    struct errbuf err = {{0}};
    if (machinekey_init(&mk, &p, &err, NULL) != 0)
        fail_msg("key does not resolve: %s", err.msg);
    *k = vkey ? mk.vkey : mk.dkey;
}

/* The 2006 blog post's keys, in either case, are known. */
static void test_disclosed_builtin_knows_the_2006_keys(void **state)
{
    (void)state;
    struct mk_key k;
    const char *where = NULL;
    key_from_text("8ED2CDBA742675EB1EDB2C650245CD179998786C2F74D2EF56BE488519BAE55B26717CF7"
                  "6A5348DC83D34F3E3F079DECAD2075FF278BD927C06F784923F59DD1",
                  &k, true);
    assert_true(disclosed_key_is_known(&k, NULL, &where));
    assert_non_null(strstr(where, "2006"));
    key_from_text("b134b1e055d415013e31decbf84b80492e8a8f1623f7332e", &k, false);
    assert_true(disclosed_key_is_known(&k, NULL, &where));
    key_from_text("C134B1E055D415013E31DECBF84B80492E8A8F1623F7332E", &k, false);
    assert_false(disclosed_key_is_known(&k, NULL, &where));
}

/* A list in Microsoft's format: header, both columns, empty-string hashes ignored. */
static void test_disclosed_loads_microsoft_format(void **state)
{
    (void)state;
    const char *vk = "00112233445566778899AABBCCDDEEFF0011223344556677";
    uint8_t h[32];
    char hh[65];
    disclosed_hash_text(vk, strlen(vk), h);
    for (int i = 0; i < 32; i++)
        snprintf(hh + 2 * i, 3, "%02x", h[i]);
    char text[512];
    snprintf(text, sizeof text,
             "validationKey, decryptionKey\n"
             "%s, e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
             "184aa46d813411727da0dc9e64186bb9907289b5aab4b320d26fff5ea45d8e3d, "
             "f9296862f602bb3f1cae692588f76a8024fa528763cb3ef3c26e301d832aa54e\n",
             hh);
    char *path = testutil_write_temp(text, ".csv");
    struct disclosed_list l;
    struct errbuf err = {{0}};
    assert_int_equal(disclosed_list_load(&l, path, &err), 0);
    assert_int_equal(l.count, 3);
    struct mk_key k;
    const char *where = NULL;
    key_from_text("00112233445566778899aabbccddeeff0011223344556677", &k, true);
    assert_false(disclosed_key_is_known(&k, NULL, &where));
    assert_true(disclosed_key_is_known(&k, &l, &where));
    assert_non_null(strstr(where, "list"));
    disclosed_list_free(&l);
    unlink(path);
    free(path);

    path = testutil_write_temp("validationKey, decryptionKey\nnot-a-hash, x\n", ".csv");
    assert_int_equal(disclosed_list_load(&l, path, &err), -1);
    assert_non_null(strstr(err.msg, ":2:"));
    unlink(path);
    free(path);
}

/* Scan text for validationKey="HEX", decryptionKey="HEX", --validation-key HEX and
 * --decryption-key HEX; report every hex key not in the built-in list. */
static int check_text(const char *file, const char *text)
{
    static const char *const marks[] = {"validationKey=\"", "decryptionKey=\"", "--validation-key ",
                                        "--decryption-key "};
    int missing = 0;
    for (size_t m = 0; m < 4; m++) {
        for (const char *p = strstr(text, marks[m]); p; p = strstr(p + 1, marks[m])) {
            const char *k = p + strlen(marks[m]);
            size_t n = 0;
            while (strchr("0123456789abcdefABCDEF", k[n]) && k[n])
                n++;
            if (n < 16 || n % 2 != 0)
                continue; /* AutoGenerate, placeholders like HEX or ... */
            uint8_t h[32];
            disclosed_hash_text(k, n, h);
            if (disclosed_builtin_find(h) == NULL) {
                char hh[65];
                for (int i = 0; i < 32; i++)
                    snprintf(hh + 2 * i, 3, "%02x", h[i]);
                print_error("%s: key %.8s... is not in libfarm/disclosed_builtin.c; add "
                            "{\"%s\", \"farmlab docs and examples\"}\n",
                            file, k, hh);
                missing++;
            }
        }
    }
    return missing;
}

static int scan(const char *path, int *files)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    int missing = 0;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d == NULL)
            return 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char sub[2048];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            missing += scan(sub, files);
        }
        closedir(d);
        return missing;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > 4 * 1024 * 1024)
        return 0;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    buf[n] = '\0';
    fclose(f);
    missing += check_text(path, buf);
    free(buf);
    (*files)++;
    return missing;
}

/* Every key in docs/, examples/, farms/, scripts/ and the README is in the built-in list,
 * so a user who copies a demo key into production is told by 'farmctl key lint'. */
static void test_disclosed_every_doc_and_example_key_is_builtin(void **state)
{
    (void)state;
    static const char *const places[] = {"docs", "examples", "farms", "scripts", "README.md"};
    int missing = 0, files = 0;
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", FARM_SOURCE_DIR, places[i]);
        missing += scan(path, &files);
    }
    assert_true(files > 0);
    assert_int_equal(missing, 0);
}

/* The scanner itself finds an unlisted key (so the test above can fail). */
static void test_disclosed_scanner_finds_unlisted_keys(void **state)
{
    (void)state;
    assert_int_equal(check_text("inline", "<machineKey validationKey=\"00112233445566778899AABB"
                                          "CCDDEEFF00112233\" decryptionKey=\"AutoGenerate\"/>"),
                     1);
    assert_int_equal(check_text("inline", "farmctl ticket decode --validation-key HEX"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disclosed_builtin_knows_the_2006_keys),
        cmocka_unit_test(test_disclosed_loads_microsoft_format),
        cmocka_unit_test(test_disclosed_every_doc_and_example_key_is_builtin),
        cmocka_unit_test(test_disclosed_scanner_finds_unlisted_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
