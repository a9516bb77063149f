/* mkconfig: finding <machineKey> in XML files and resolving it like ASP.NET. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mkconfig.h"

/* Made-up keys (not from any real site). */
#define VKEY_128                                                                                   \
    "4F1C7A9E2B6D8035C1E4A7F90B2D6E8813579BDF2468ACE0F1E2D3C4B5A69788"                             \
    "0A1B2C3D4E5F60718293A4B5C6D7E8F9FEDCBA98765432100123456789ABCDEF"
#define DKEY_48 "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718"
#define DKEY_64 "9C8B7A6F5E4D3C2B1A09F8E7D6C5B4A39C8B7A6F5E4D3C2B1A09F8E7D6C5B4A3"

static const uint8_t secret[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

/* Temporary config files: written, then removed by the test that made them. */
static char *write_config(const char *text)
{
    return testutil_write_temp(text, ".config");
}

static void remove_config(char *path)
{
    unlink(path);
    free(path);
}

/* "path:line: " as the error prefix. */
static void assert_err_at(const char *msg, const char *path, int line)
{
    char prefix[400];
    snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
    if (strncmp(msg, prefix, strlen(prefix)) != 0)
        fail_msg("error \"%s\" does not start with \"%s\"", msg, prefix);
}

static void assert_contains(const char *msg, const char *needle)
{
    if (strstr(msg, needle) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", msg, needle);
}

/* No key text, not even a part of it, in an error message. */
static void assert_no_key(const char *msg, const char *key)
{
    size_t n = strlen(key);
    char part[17];
    for (size_t i = 0; i + 16 <= n; i += 8) {
        memcpy(part, key + i, 16);
        part[16] = '\0';
        if (strstr(msg, part) != NULL)
            fail_msg("error message shows key text: %s", msg);
    }
}

static void assert_key_bytes(const struct mk_key *k, const char *hex)
{
    size_t len;
    uint8_t *want = testutil_unhex(hex, &len);
    assert_int_equal(k->len, len);
    assert_memory_equal(k->bytes, want, len);
    assert_false(k->autogen);
    free(want);
}

/* Read one file that must hold exactly one element; returns it (caller frees). */
static struct mkconfig_elem *read_one(const char *path, const struct mkconfig_opts *opts)
{
    struct mkconfig_elem *elems = NULL;
    size_t n = 0;
    struct errbuf err = {{0}};
    if (mkconfig_read_all(path, opts, &elems, &n, &err) != 0)
        fail_msg("mkconfig_read_all(%s): %s", path, err.msg);
    assert_int_equal(n, 1);
    return elems;
}

static void test_mkconfig_bare_element(void **state)
{
    (void)state;
    char *path = write_config("<machineKey validationKey=\"" VKEY_128 "\"\n"
                              "            decryptionKey=\"" DKEY_48 "\"\n"
                              "            validation=\"SHA1\" decryption=\"AES\" />\n");
    struct mkconfig_elem *e = read_one(path, NULL);

    assert_int_equal(e->status, 0);
    assert_int_equal(e->line, 1);
    assert_string_equal(e->location, "");
    assert_false(e->fx45_default);
    assert_true(e->written[MK_ATTR_VALIDATION_KEY]);
    assert_true(e->written[MK_ATTR_DECRYPTION_KEY]);
    assert_true(e->written[MK_ATTR_VALIDATION]);
    assert_true(e->written[MK_ATTR_DECRYPTION]);
    assert_false(e->written[MK_ATTR_COMPAT]);
    assert_int_equal(e->mk.compat, MK_COMPAT_FX20SP1);
    assert_false(e->mk.compat_explicit);
    assert_int_equal(e->mk.validation, MK_VALIDATION_SHA1);
    assert_int_equal(e->mk.decryption, MK_DECRYPTION_AES);
    assert_int_equal(e->mk.cipher, MK_CIPHER_AES);
    assert_key_bytes(&e->mk.vkey, VKEY_128);
    assert_key_bytes(&e->mk.dkey, DKEY_48);
    assert_string_equal(e->mk.app_path, "/"); /* opts NULL: the default application path */

    mkconfig_free(e, 1);
    remove_config(path);
}

static void test_mkconfig_web_config(void **state)
{
    (void)state;
    char path[1024];
    testutil_data_path("web.config", path, sizeof path);
    struct mkconfig_elem *e = read_one(path, NULL);

    assert_int_equal(e->status, 0);
    assert_int_equal(e->line, 14);
    assert_string_equal(e->location, "");
    /* <httpRuntime targetFramework="4.8"/> and no compatibilityMode: Framework45. */
    assert_true(e->fx45_default);
    assert_int_equal(e->mk.compat, MK_COMPAT_FX45);
    assert_false(e->mk.compat_explicit);
    assert_int_equal(e->mk.validation, MK_VALIDATION_HMACSHA256);
    assert_int_equal(e->mk.cipher, MK_CIPHER_AES);
    assert_key_bytes(&e->mk.vkey,
                     "65BD9840E785E9F8E5582D9E77DE52FD9B16F99CF6143B1B3A25F6C93F82DDF5"
                     "1679E4C204312EE014C4C573E23498C7A4B521DFEBF9A3EE7B38C58861E67775");
    assert_key_bytes(&e->mk.dkey,
                     "ED8837AF59FBB2A32257945AF7A9317B974B976A7C3FB09D181E2FCEF363EE13");
    mkconfig_free(e, 1);
}

static void test_mkconfig_machine_config_locations(void **state)
{
    (void)state;
    char path[1024];
    testutil_data_path("machine.config", path, sizeof path);
    struct mkconfig_elem *e = NULL;
    size_t n = 0;
    struct errbuf err = {{0}};
    assert_int_equal(mkconfig_read_all(path, NULL, &e, &n, &err), 0);
    assert_int_equal(n, 3);

    /* Document order: the legacy application's <location>, the server-wide element, shop. */
    assert_int_equal(e[0].status, 0);
    assert_int_equal(e[0].line, 13);
    assert_string_equal(e[0].location, "Default Web Site/legacy");
    assert_int_equal(e[0].mk.compat, MK_COMPAT_FX20SP1);
    assert_true(e[0].mk.compat_explicit);
    assert_int_equal(e[0].mk.validation, MK_VALIDATION_SHA1);
    assert_int_equal(e[0].mk.cipher, MK_CIPHER_3DES);
    assert_key_bytes(&e[0].mk.vkey, "2DF0ED057BB9A3ED78BCC000A06E78ADFA644135");

    assert_int_equal(e[1].status, 0);
    assert_int_equal(e[1].line, 20);
    assert_string_equal(e[1].location, "");
    assert_int_equal(e[1].mk.compat, MK_COMPAT_FX20SP2);
    assert_int_equal(e[1].mk.validation, MK_VALIDATION_HMACSHA512);
    assert_false(e[1].fx45_default);

    /* shop has its own <httpRuntime targetFramework="4.7.2"/>. */
    assert_int_equal(e[2].status, 0);
    assert_int_equal(e[2].line, 28);
    assert_string_equal(e[2].location, "Default Web Site/shop");
    assert_true(e[2].fx45_default);
    assert_int_equal(e[2].mk.compat, MK_COMPAT_FX45);
    assert_int_equal(e[2].mk.validation, MK_VALIDATION_HMACSHA256);
    assert_false(e[2].written[MK_ATTR_DECRYPTION]);
    assert_int_equal(e[2].mk.decryption, MK_DECRYPTION_AUTO);
    mkconfig_free(e, n);
}

static void test_mkconfig_load_prefers_element_outside_location(void **state)
{
    (void)state;
    char path[1024];
    testutil_data_path("machine.config", path, sizeof path);
    struct machinekey mk;
    struct errbuf err = {{0}};
    int line = -1;
    assert_int_equal(mkconfig_load(path, NULL, &mk, &line, &err), 0);
    assert_int_equal(line, 20);
    assert_int_equal(mk.compat, MK_COMPAT_FX20SP2);
    assert_int_equal(mk.validation, MK_VALIDATION_HMACSHA512);
    assert_key_bytes(&mk.dkey, "DEF8B6556156AD5EB83FA59C51B355A63E20303B5AE218A8EC8E81886E524059");
    machinekey_cleanup(&mk);
}

static void test_mkconfig_load_first_when_all_in_locations(void **state)
{
    (void)state;
    char *path = write_config("<configuration>\n"
                              "  <location path=\"a\"><system.web>\n"
                              "    <machineKey validation=\"HMACSHA384\" />\n"
                              "  </system.web></location>\n"
                              "  <location path=\"b\"><system.web>\n"
                              "    <machineKey validation=\"SHA1\" />\n"
                              "  </system.web></location>\n"
                              "</configuration>\n");
    struct machinekey mk;
    struct errbuf err = {{0}};
    int line = -1;
    struct mkconfig_opts opts = {.app_path = "/LM/W3SVC/1/ROOT", .autogen_secret = secret};
    assert_int_equal(mkconfig_load(path, &opts, &mk, &line, &err), 0);
    assert_int_equal(line, 3);
    assert_int_equal(mk.validation, MK_VALIDATION_HMACSHA384);
    assert_string_equal(mk.app_path, "/"); /* the virtual path of /LM/W3SVC/1/ROOT */
    assert_string_equal(mk.app_id, "/LM/W3SVC/1/ROOT");
    machinekey_cleanup(&mk);
    remove_config(path);
}

static void test_mkconfig_load_reports_chosen_element_error(void **state)
{
    (void)state;
    /* The element outside <location> is chosen even though it is the broken one. */
    char *path = write_config("<configuration>\n"
                              "  <location path=\"ok\"><system.web>\n"
                              "    <machineKey validation=\"SHA1\" />\n"
                              "  </system.web></location>\n"
                              "  <system.web>\n"
                              "    <machineKey validation=\"SHA2\" />\n"
                              "  </system.web>\n"
                              "</configuration>\n");
    struct machinekey mk;
    struct errbuf err = {{0}};
    int line = -1;
    assert_int_equal(mkconfig_load(path, NULL, &mk, &line, &err), -1);
    assert_int_equal(line, 6);
    assert_err_at(err.msg, path, 6);
    assert_contains(err.msg, "The validation must be one of these values");
    remove_config(path);
}

static void test_mkconfig_defaults(void **state)
{
    (void)state;
    char *path = write_config("<configuration><system.web><machineKey/></system.web>"
                              "</configuration>");
    struct mkconfig_opts opts = {.app_path = "/app", .autogen_secret = secret};
    struct mkconfig_elem *e = read_one(path, &opts);

    assert_int_equal(e->status, 0);
    for (int a = MK_ATTR_NONE; a <= MK_ATTR_COMPAT; a++)
        assert_false(e->written[a]);
    assert_false(e->fx45_default);
    assert_int_equal(e->mk.validation, MK_VALIDATION_HMACSHA256);
    assert_int_equal(e->mk.decryption, MK_DECRYPTION_AUTO);
    assert_int_equal(e->mk.compat, MK_COMPAT_FX20SP1);
    assert_false(e->mk.compat_explicit);
    /* AutoGenerate,IsolateApps on both sides. */
    assert_true(e->mk.vkey.autogen);
    assert_true(e->mk.vkey.isolate_apps);
    assert_false(e->mk.vkey.isolate_by_app_id);
    assert_true(e->mk.dkey.autogen);
    assert_true(e->mk.dkey.isolate_apps);
    assert_string_equal(e->mk.app_path, "/app");

    /* The same secret gives the same autogenerated keys: a restarted node keeps them. */
    struct mkconfig_elem *again = read_one(path, &opts);
    assert_int_equal(again->mk.vkey.len, e->mk.vkey.len);
    assert_memory_equal(again->mk.vkey.bytes, e->mk.vkey.bytes, e->mk.vkey.len);
    mkconfig_free(again, 1);
    mkconfig_free(e, 1);
    remove_config(path);
}

static void test_mkconfig_target_framework(void **state)
{
    (void)state;
    static const struct {
        const char *target;
        const char *compat_attr; /* NULL: not written */
        bool fx45_default;
        enum mk_compat compat;
    } cases[] = {
        {"4.5", NULL, true, MK_COMPAT_FX45},
        {"4.7.2", NULL, true, MK_COMPAT_FX45},
        {"4.8", NULL, true, MK_COMPAT_FX45},
        {"4.5.1.0", NULL, true, MK_COMPAT_FX45},
        {"4.0", NULL, false, MK_COMPAT_FX20SP1},
        {"2.0", NULL, false, MK_COMPAT_FX20SP1},
        {"4.5", "Framework20SP1", false, MK_COMPAT_FX20SP1},
        {"4.8", "Framework20SP2", false, MK_COMPAT_FX20SP2},
        {"4.0", "Framework45", false, MK_COMPAT_FX45},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512], compat[64] = "";
        if (cases[i].compat_attr)
            snprintf(compat, sizeof compat, " compatibilityMode=\"%s\"", cases[i].compat_attr);
        snprintf(text, sizeof text,
                 "<configuration>\n<system.web>\n<machineKey%s/>\n"
                 "<httpRuntime targetFramework=\"%s\"/>\n</system.web>\n</configuration>\n",
                 compat, cases[i].target);
        char *path = write_config(text);
        struct mkconfig_elem *e = read_one(path, NULL);
        if (e->status != 0)
            fail_msg("targetFramework %s: %s", cases[i].target, e->err.msg);
        if (e->fx45_default != cases[i].fx45_default || e->mk.compat != cases[i].compat)
            fail_msg("targetFramework=%s compatibilityMode=%s: fx45_default %d compat %s",
                     cases[i].target, compat, e->fx45_default, mk_compat_name(e->mk.compat));
        assert_int_equal(e->written[MK_ATTR_COMPAT], cases[i].compat_attr != NULL);
        assert_int_equal(e->mk.compat_explicit, cases[i].compat_attr != NULL);
        mkconfig_free(e, 1);
        remove_config(path);
    }
}

static void test_mkconfig_target_framework_only_same_system_web(void **state)
{
    (void)state;
    /* The <httpRuntime> of another <system.web> does not apply. */
    char *path = write_config("<configuration>\n"
                              "  <system.web><httpRuntime targetFramework=\"4.8\"/></system.web>\n"
                              "  <location path=\"x\"><system.web><machineKey/></system.web>"
                              "</location>\n"
                              "</configuration>\n");
    struct mkconfig_elem *e = read_one(path, NULL);
    assert_int_equal(e->status, 0);
    assert_false(e->fx45_default);
    assert_int_equal(e->mk.compat, MK_COMPAT_FX20SP1);
    mkconfig_free(e, 1);
    remove_config(path);
}

static void test_mkconfig_target_framework_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {"4", "abc", "4.x", "", "4.5.6.7.8", "v4.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "<configuration>\n<system.web>\n<machineKey/>\n"
                 "<httpRuntime targetFramework=\"%s\"/>\n</system.web>\n</configuration>\n",
                 bad[i]);
        char *path = write_config(text);
        struct mkconfig_elem *e = read_one(path, NULL);
        if (e->status != -1)
            fail_msg("targetFramework=\"%s\" was accepted", bad[i]);
        assert_err_at(e->err.msg, path, 4); /* the <httpRuntime> line */
        assert_contains(e->err.msg, "'targetFramework'");
        mkconfig_free(e, 1);
        remove_config(path);
    }
}

static void test_mkconfig_line_is_start_of_element(void **state)
{
    (void)state;
    /* Attributes over several lines, an element with an end tag, CRLF line ends. */
    char *path = write_config("<configuration>\r\n"
                              "<system.web>\r\n"
                              "\r\n"
                              "<machineKey\r\n"
                              "   validation=\"SHA1\"\r\n"
                              "   decryption=\"AES\">\r\n"
                              "</machineKey>\r\n"
                              "<machineKey validation=\"bad\"\r\n"
                              "   decryption=\"AES\"></machineKey>\r\n"
                              "</system.web>\r\n"
                              "</configuration>\r\n");
    struct mkconfig_elem *e = NULL;
    size_t n = 0;
    struct errbuf err = {{0}};
    assert_int_equal(mkconfig_read_all(path, NULL, &e, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(e[0].status, 0);
    assert_int_equal(e[0].line, 4);
    assert_int_equal(e[1].status, -1);
    assert_int_equal(e[1].line, 8);
    assert_err_at(e[1].err.msg, path, 8);
    mkconfig_free(e, n);
    remove_config(path);
}

static void test_mkconfig_error_bad_hex(void **state)
{
    (void)state;
    /* 'x' and 'y' are above 'f': not even the legacy decoder reads them as 0. */
    const char *vkey = "0123456789abcdefxy0123456789abcdef0123456789ab";
    char text[512];
    snprintf(text, sizeof text,
             "<configuration>\n<system.web>\n<machineKey validationKey=\"%s\"/>\n"
             "</system.web>\n</configuration>\n",
             vkey);
    char *path = write_config(text);
    struct mkconfig_elem *e = read_one(path, NULL);
    assert_int_equal(e->status, -1);
    assert_err_at(e->err.msg, path, 3);
    assert_contains(e->err.msg, "validationKey");
    assert_contains(e->err.msg, "invalid hex characters");
    assert_no_key(e->err.msg, vkey);
    mkconfig_free(e, 1);
    remove_config(path);
}

static void test_mkconfig_error_wrong_length(void **state)
{
    (void)state;
    /* 19 bytes of validationKey: legacy wants at least 20. */
    const char *short_vkey = "00112233445566778899AABBCCDDEEFF001122";
    char *path =
        write_config("<machineKey\n validationKey=\"00112233445566778899AABBCCDDEEFF00112233"
                     "44\"\n validation=\"SHA1\" />");
    struct mkconfig_elem *e = read_one(path, NULL);
    assert_int_equal(e->status, 0); /* 21 bytes is fine */
    mkconfig_free(e, 1);
    remove_config(path);

    char text[512];
    snprintf(text, sizeof text, "\n\n<machineKey validationKey=\"%s\" />", short_vkey);
    path = write_config(text);
    e = read_one(path, NULL);
    assert_int_equal(e->status, -1);
    assert_err_at(e->err.msg, path, 3);
    assert_contains(e->err.msg, "between 40 and 128 Hex chars");
    assert_no_key(e->err.msg, short_vkey);
    mkconfig_free(e, 1);
    remove_config(path);

    /* A 10-byte AES decryption key. */
    const char *dkey = "0123456789ABCDEF0123";
    snprintf(text, sizeof text, "<machineKey validationKey=\"%s\"\n decryptionKey=\"%s\" />",
             VKEY_128, dkey);
    path = write_config(text);
    e = read_one(path, NULL);
    assert_int_equal(e->status, -1);
    assert_err_at(e->err.msg, path, 1);
    assert_contains(e->err.msg, "Decryption key specified has invalid length");
    assert_no_key(e->err.msg, dkey);
    assert_no_key(e->err.msg, VKEY_128);
    mkconfig_free(e, 1);
    remove_config(path);
}

static void test_mkconfig_error_md5_in_framework45(void **state)
{
    (void)state;
    /* Written compatibilityMode, and the targetFramework default: MD5 is legacy only. */
    static const char *const texts[] = {
        "<machineKey validationKey=\"" VKEY_128 "\" decryptionKey=\"" DKEY_64 "\"\n"
        "  validation=\"MD5\" compatibilityMode=\"Framework45\" />\n",
        "<configuration><system.web><httpRuntime targetFramework=\"4.5\" />\n"
        "<machineKey validationKey=\"" VKEY_128 "\" decryptionKey=\"" DKEY_64 "\"\n"
        "  validation=\"MD5\" /></system.web></configuration>\n",
    };
    static const int lines[] = {1, 2};
    for (size_t i = 0; i < 2; i++) {
        char *path = write_config(texts[i]);
        struct mkconfig_elem *e = read_one(path, NULL);
        assert_int_equal(e->status, -1);
        assert_err_at(e->err.msg, path, lines[i]);
        assert_contains(e->err.msg, "the 'validation' attribute must be one of these values");
        assert_no_key(e->err.msg, VKEY_128);
        assert_no_key(e->err.msg, DKEY_64);
        mkconfig_free(e, 1);
        remove_config(path);
    }

    /* The same element in legacy mode is fine. */
    char *path = write_config("<machineKey validationKey=\"" VKEY_128 "\" decryptionKey=\"" DKEY_64
                              "\" validation=\"MD5\" />");
    struct mkconfig_elem *e = read_one(path, NULL);
    assert_int_equal(e->status, 0);
    assert_int_equal(e->mk.validation, MK_VALIDATION_MD5);
    mkconfig_free(e, 1);
    remove_config(path);
}

static void test_mkconfig_error_unknown_attribute(void **state)
{
    (void)state;
    char *path = write_config("<configuration>\n<system.web>\n"
                              "<machineKey validationKey=\"" VKEY_128 "\"\n"
                              "  validationkey=\"" DKEY_48 "\" />\n"
                              "</system.web>\n</configuration>\n");
    struct mkconfig_elem *e = read_one(path, NULL);
    assert_int_equal(e->status, -1);
    assert_err_at(e->err.msg, path, 3);
    assert_contains(e->err.msg, "Unrecognized attribute 'validationkey'. Note that attribute "
                                "names are case-sensitive.");
    assert_no_key(e->err.msg, VKEY_128);
    assert_no_key(e->err.msg, DKEY_48);
    assert_true(e->written[MK_ATTR_VALIDATION_KEY]);
    mkconfig_free(e, 1);
    remove_config(path);

    /* A prefixed name is a different name. */
    path = write_config("<machineKey xmlns:xdt=\"urn:x\" xdt:Transform=\"Replace\" />");
    e = read_one(path, NULL);
    assert_int_equal(e->status, -1);
    assert_contains(e->err.msg, "Unrecognized attribute 'xdt:Transform'");
    mkconfig_free(e, 1);
    remove_config(path);

    /* Attributes ASP.NET knows but farmlab does not use are accepted. */
    path = write_config("<machineKey dataProtectorType=\"\" applicationName=\"shop\""
                        " lockItem=\"true\" lockAttributes=\"validation\" />");
    e = read_one(path, NULL);
    if (e->status != 0)
        fail_msg("%s", e->err.msg);
    mkconfig_free(e, 1);
    remove_config(path);
}

static void test_mkconfig_not_xml(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int line;
    } cases[] = {
        {"this is not XML\n", 1},
        {"", 1},
        {"<configuration>\n<system.web>\n<machineKey validation=\"SHA1\">\n</system.web>\n", 4},
        {"<machineKey validation=\"SHA1\" validation=\"MD5\"/>", 1},
        {"\n<machineKey validationKey=\"" VKEY_128 "\n", 3}, /* found at the end */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = write_config(cases[i].text);
        static struct mkconfig_elem sentinel;
        struct mkconfig_elem *e = &sentinel;
        size_t n = 99;
        struct errbuf err = {{0}};
        assert_int_equal(mkconfig_read_all(path, NULL, &e, &n, &err), -1);
        assert_null(e);
        assert_int_equal(n, 0);
        assert_err_at(err.msg, path, cases[i].line);
        assert_contains(err.msg, "not well-formed XML");
        assert_no_key(err.msg, VKEY_128);
        remove_config(path);
    }
}

/* No run of 6 or more characters of key in the message, after the file name. */
static void assert_no_key_run(const char *msg, const char *path, const char *key)
{
    const char *m = strncmp(msg, path, strlen(path)) == 0 ? msg + strlen(path) : msg;
    size_t n = strlen(key);
    char part[7];
    for (size_t i = 0; i + 6 <= n; i++) {
        memcpy(part, key + i, 6);
        part[6] = '\0';
        if (strstr(m, part) != NULL)
            fail_msg("error message shows key text (\"%s\"): %s", part, msg);
    }
}

/* XML errors inside a key attribute name the kind of error and where, never libxml2's text:
 * it quotes the input, here key text. */
static void test_mkconfig_xml_error_shows_no_key_text(void **state)
{
    (void)state;
    static const char key[] = "D09907B0BFE2E6CED59CDC8826A2159F9BC357EB72FB";
    static const struct {
        const char *before, *after; /* the text around the key */
        int line;
        const char *what;
    } cases[] = {
        {"<configuration>\n<system.web>\n<machineKey validationKey=\"&",
         ";\" />\n</system.web>\n</configuration>\n", 3,
         "not well-formed XML: undefined entity (column "},
        {"<machineKey\n validationKey=\"", "<\" />\n", 2,
         "not well-formed XML: '<' in an attribute"},
        {"<machineKey validationKey=", " />\n", 1,
         "not well-formed XML: attribute value not quoted"},
        {"<machineKey validationKey=\"&#x", ";\" />\n", 1,
         "not well-formed XML: invalid character reference"},
        {"<machineKey validationKey=\"", "\x01\" />\n", 1,
         "not well-formed XML: invalid character"},
        {"<machineKey validationKey=\"", "\xC3\x28\" />\n", 1,
         "not well-formed XML: invalid character"},
        {"\n<machineKey validationKey=\"", "\n", 3, "not well-formed XML: unterminated attribute"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "%s%s%s", cases[i].before, key, cases[i].after);
        char *path = write_config(text);
        struct mkconfig_elem *e = NULL;
        size_t n = 0;
        struct errbuf err = {{0}};
        if (mkconfig_read_all(path, NULL, &e, &n, &err) != -1)
            fail_msg("case %zu: expected an XML error", i);
        assert_err_at(err.msg, path, cases[i].line);
        if (strstr(err.msg, cases[i].what) == NULL)
            fail_msg("case %zu: expected \"%s\" in \"%s\"", i, cases[i].what, err.msg);
        assert_no_key_run(err.msg, path, key);
        remove_config(path);
    }

    /* A well-formed element whose unknown attribute name is key text: not repeated either. */
    char text[512];
    snprintf(text, sizeof text, "<machineKey validation=\"SHA1\" K%s=\"\" />\n", key);
    char *path = write_config(text);
    struct mkconfig_elem *e = read_one(path, NULL);
    assert_int_equal(e->status, -1);
    assert_err_at(e->err.msg, path, 1);
    assert_contains(e->err.msg, "Unrecognized attribute");
    assert_no_key_run(e->err.msg, path, key);
    mkconfig_free(e, 1);
    remove_config(path);
}

/* ASP.NET trims validationKey, decryptionKey, validation and decryption: a key wrapped in
 * white space (newlines, tabs, spaces, a no-break space) is the same key, in every mode. */
static void test_mkconfig_trims_key_attributes(void **state)
{
    (void)state;
    static const char *const modes[] = {"", " compatibilityMode=\"Framework20SP2\"",
                                        " compatibilityMode=\"Framework45\""};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text,
                 "<machineKey validationKey=\"&#10;    " VKEY_128 "&#10;  \"\n"
                 "  decryptionKey=\"&#9; " DKEY_64 " \xC2\xA0\"\n"
                 "  validation=\" HMACSHA512 \" decryption=\"&#13;&#10;AES&#10;\"%s />\n",
                 modes[i]);
        char *path = write_config(text);
        struct mkconfig_elem *e = read_one(path, NULL);
        if (e->status != 0)
            fail_msg("mode%s: %s", modes[i], e->err.msg);
        assert_int_equal(e->mk.validation, MK_VALIDATION_HMACSHA512);
        assert_int_equal(e->mk.decryption, MK_DECRYPTION_AES);
        assert_key_bytes(&e->mk.vkey, VKEY_128);
        assert_key_bytes(&e->mk.dkey, DKEY_64);
        assert_false(e->mk.vkey.lenient_hex);
        assert_false(e->mk.dkey.lenient_hex);

        /* The same fingerprint as the element written without white space. */
        snprintf(text, sizeof text,
                 "<machineKey validationKey=\"" VKEY_128 "\" decryptionKey=\"" DKEY_64 "\"\n"
                 "  validation=\"HMACSHA512\" decryption=\"AES\"%s />\n",
                 modes[i]);
        char *plain_path = write_config(text);
        struct mkconfig_elem *plain = read_one(plain_path, NULL);
        assert_int_equal(plain->status, 0);
        struct mk_fingerprint fa, fb;
        machinekey_fingerprint(&e->mk, &fa);
        machinekey_fingerprint(&plain->mk, &fb);
        assert_string_equal(fa.text, fb.text);
        mkconfig_free(plain, 1);
        remove_config(plain_path);
        mkconfig_free(e, 1);
        remove_config(path);
    }

    /* compatibilityMode is an enum: ASP.NET's converter refuses white space around it. */
    char *path = write_config("<machineKey compatibilityMode=\" Framework45 \" />");
    struct mkconfig_elem *e = read_one(path, NULL);
    assert_int_equal(e->status, -1);
    assert_contains(e->err.msg, "compatibilityMode must be one of");
    mkconfig_free(e, 1);
    remove_config(path);

    /* Nothing but white space is not a key. */
    path = write_config("<machineKey validationKey=\"   \" />");
    e = read_one(path, NULL);
    assert_int_equal(e->status, -1);
    assert_contains(e->err.msg, "validationKey");
    mkconfig_free(e, 1);
    remove_config(path);
}

/* White space inside a key is not trimmed. Framework45 parses hex strictly: an error that
 * names the attribute, not the text. The legacy modes read it, like any character below 'f',
 * as the nibble 0 (ASP.NET's HexStringToByteArray): the element resolves, flagged
 * lenient_hex, which keylint reports as bad-hex. */
static void test_mkconfig_inner_space_in_key(void **state)
{
    (void)state;
    char vkey[] = VKEY_128;
    vkey[40] = ' ';
    char text[1024];
    snprintf(text, sizeof text,
             "<machineKey validationKey=\"%s\" decryptionKey=\"" DKEY_64 "\""
             " compatibilityMode=\"Framework45\" />",
             vkey);
    char *path = write_config(text);
    struct mkconfig_elem *e = read_one(path, NULL);
    assert_int_equal(e->status, -1);
    assert_err_at(e->err.msg, path, 1);
    assert_contains(e->err.msg, "validationKey");
    assert_no_key_run(e->err.msg, path, VKEY_128);
    mkconfig_free(e, 1);
    remove_config(path);

    snprintf(text, sizeof text,
             "<machineKey validationKey=\"%s\" decryptionKey=\"" DKEY_64 "\""
             " compatibilityMode=\"Framework20SP2\" />",
             vkey);
    path = write_config(text);
    e = read_one(path, NULL);
    assert_int_equal(e->status, 0);
    assert_true(e->mk.vkey.lenient_hex);
    assert_int_equal(e->mk.vkey.bytes[20], 0x04); /* "24" with its "2" read as 0 */
    mkconfig_free(e, 1);
    remove_config(path);
}

static void test_mkconfig_missing_file(void **state)
{
    (void)state;
    const char *path = "/nonexistent/farmlab/web.config";
    struct mkconfig_elem *e = NULL;
    size_t n = 0;
    struct errbuf err = {{0}};
    assert_int_equal(mkconfig_read_all(path, NULL, &e, &n, &err), -1);
    assert_null(e);
    assert_contains(err.msg, path);
    assert_contains(err.msg, "No such file or directory");

    struct machinekey mk;
    int line = -1;
    assert_int_equal(mkconfig_load(path, NULL, &mk, &line, &err), -1);
    assert_int_equal(line, 0);
}

static void test_mkconfig_no_machinekey(void **state)
{
    (void)state;
    /* Element names are case-sensitive: <MachineKey> is not <machineKey>. */
    static const char *const texts[] = {
        "<configuration><system.web><httpRuntime targetFramework=\"4.8\"/></system.web>"
        "</configuration>",
        "<configuration><system.web><MachineKey validation=\"SHA1\"/></system.web>"
        "</configuration>",
        "<configuration xmlns:x=\"urn:x\"><x:machineKey/></configuration>",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char *path = write_config(texts[i]);
        struct mkconfig_elem *e = NULL;
        size_t n = 0;
        struct errbuf err = {{0}};
        assert_int_equal(mkconfig_read_all(path, NULL, &e, &n, &err), -1);
        assert_null(e);
        assert_contains(err.msg, path);
        assert_contains(err.msg, "no <machineKey>");
        remove_config(path);
    }
}

static void test_mkconfig_default_namespace_and_location_case(void **state)
{
    (void)state;
    /* Old Visual Studio web.configs put everything in a default namespace; <Location> is not
     * <location>. */
    char *path = write_config(
        "<configuration xmlns=\"http://schemas.microsoft.com/.NetConfiguration/v2.0\">\n"
        "<Location path=\"x\"><system.web><machineKey/></system.web></Location>\n"
        "</configuration>\n");
    struct mkconfig_elem *e = read_one(path, NULL);
    assert_int_equal(e->status, 0);
    assert_int_equal(e->line, 2);
    assert_string_equal(e->location, "");
    mkconfig_free(e, 1);
    remove_config(path);
}

static void test_mkconfig_xxe_is_not_loaded(void **state)
{
    (void)state;
    struct errbuf err = {{0}};
    struct mkconfig_elem *e = NULL;
    size_t n = 0;

    /* An external entity in an attribute: not well-formed, and nothing of the file shows. */
    char *path = write_config("<?xml version=\"1.0\"?>\n"
                              "<!DOCTYPE configuration [\n"
                              "  <!ENTITY xxe SYSTEM \"file:///etc/passwd\">\n"
                              "]>\n"
                              "<configuration><system.web>\n"
                              "<machineKey validationKey=\"&xxe;\" />\n"
                              "</system.web></configuration>\n");
    assert_int_equal(mkconfig_read_all(path, NULL, &e, &n, &err), -1);
    assert_err_at(err.msg, path, 6);
    assert_contains(err.msg, "not well-formed XML");
    assert_null(strstr(err.msg, "root:"));
    remove_config(path);

    /* In content, and as a parameter entity: parsed without fetching. Were the files read,
     * the external DTD (not a DTD at all) would fail the parse, and the external entity would
     * add a second <machineKey>. */
    char *dtd = testutil_write_temp("this is not a DTD <!ENTITY\n", ".dtd");
    char *frag = testutil_write_temp("<machineKey validation=\"MD5\"/>", ".xml");
    char text[1024];
    snprintf(text, sizeof text,
             "<?xml version=\"1.0\"?>\n"
             "<!DOCTYPE configuration SYSTEM \"file://%s\" [\n"
             "  <!ENTITY %% pe SYSTEM \"file://%s\">\n"
             "  %%pe;\n"
             "  <!ENTITY passwd SYSTEM \"file:///etc/passwd\">\n"
             "  <!ENTITY frag SYSTEM \"file://%s\">\n"
             "]>\n"
             "<configuration><system.web>&passwd;&frag;\n"
             "<machineKey validation=\"SHA1\" />\n"
             "</system.web></configuration>\n",
             dtd, dtd, frag);
    path = write_config(text);
    if (mkconfig_read_all(path, NULL, &e, &n, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(n, 1);
    assert_int_equal(e[0].status, 0);
    assert_int_equal(e[0].line, 9);
    assert_int_equal(e[0].mk.validation, MK_VALIDATION_SHA1);
    mkconfig_free(e, n);
    remove_config(path);
    remove_config(dtd);
    remove_config(frag);
}

static void test_mkconfig_utf16_file(void **state)
{
    (void)state;
    const char *text = "<?xml version=\"1.0\" encoding=\"utf-16\"?>\n"
                       "<configuration>\n"
                       "  <system.web>\n"
                       "    <machineKey validation=\"HMACSHA512\" />\n"
                       "  </system.web>\n"
                       "</configuration>\n";
    char *path = testutil_write_temp("", ".config");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputc(0xFF, f); /* UTF-16LE byte order mark, as Notepad writes it */
    fputc(0xFE, f);
    for (const char *p = text; *p; p++) {
        fputc(*p, f);
        fputc(0, f);
    }
    assert_int_equal(fclose(f), 0);
    struct mkconfig_elem *e = read_one(path, NULL);
    assert_int_equal(e->status, 0);
    assert_int_equal(e->line, 4);
    assert_int_equal(e->mk.validation, MK_VALIDATION_HMACSHA512);
    mkconfig_free(e, 1);
    remove_config(path);
}

/* Every vector's <machineKey>, written as config text, resolves to its keys and algorithms. */
static void test_mkconfig_vector_keys(void **state)
{
    (void)state;
    json_t *vectors = testutil_vectors();
    size_t i;
    json_t *v;
    json_array_foreach(vectors, i, v)
    {
        const char *vkey = testutil_str(v, "validation_key_hex");
        const char *dkey = testutil_str(v, "decryption_key_hex");
        const char *mode = testutil_str(v, "mode");
        const char *valg = testutil_str(v, "validation_alg");
        const char *dalg = testutil_str(v, "decryption_alg");
        char text[1024];
        snprintf(text, sizeof text,
                 "<configuration>\n  <system.web>\n"
                 "    <machineKey validationKey=\"%s\"\n"
                 "                decryptionKey=\"%s\"\n"
                 "                validation=\"%s\" decryption=\"%s\" compatibilityMode=\"%s\" />\n"
                 "  </system.web>\n</configuration>\n",
                 vkey, dkey, valg, dalg, mode);
        char *path = write_config(text);
        struct mkconfig_elem *e = read_one(path, NULL);
        if (e->status != 0)
            fail_msg("%s: %s", testutil_str(v, "id"), e->err.msg);
        assert_int_equal(e->line, 3);
        assert_string_equal(mk_compat_name(e->mk.compat), mode);
        assert_string_equal(mk_validation_name(e->mk.validation), valg);
        assert_string_equal(mk_decryption_name(e->mk.decryption), dalg);
        assert_key_bytes(&e->mk.vkey, vkey);
        assert_key_bytes(&e->mk.dkey, dkey);
        mkconfig_free(e, 1);
        remove_config(path);
    }
}

static void test_mkconfig_free_null(void **state)
{
    (void)state;
    mkconfig_free(NULL, 0);
    mkconfig_free(NULL, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mkconfig_bare_element),
        cmocka_unit_test(test_mkconfig_web_config),
        cmocka_unit_test(test_mkconfig_machine_config_locations),
        cmocka_unit_test(test_mkconfig_load_prefers_element_outside_location),
        cmocka_unit_test(test_mkconfig_load_first_when_all_in_locations),
        cmocka_unit_test(test_mkconfig_load_reports_chosen_element_error),
        cmocka_unit_test(test_mkconfig_defaults),
        cmocka_unit_test(test_mkconfig_target_framework),
        cmocka_unit_test(test_mkconfig_target_framework_only_same_system_web),
        cmocka_unit_test(test_mkconfig_target_framework_invalid),
        cmocka_unit_test(test_mkconfig_line_is_start_of_element),
        cmocka_unit_test(test_mkconfig_error_bad_hex),
        cmocka_unit_test(test_mkconfig_error_wrong_length),
        cmocka_unit_test(test_mkconfig_error_md5_in_framework45),
        cmocka_unit_test(test_mkconfig_error_unknown_attribute),
        cmocka_unit_test(test_mkconfig_not_xml),
        cmocka_unit_test(test_mkconfig_xml_error_shows_no_key_text),
        cmocka_unit_test(test_mkconfig_trims_key_attributes),
        cmocka_unit_test(test_mkconfig_inner_space_in_key),
        cmocka_unit_test(test_mkconfig_missing_file),
        cmocka_unit_test(test_mkconfig_no_machinekey),
        cmocka_unit_test(test_mkconfig_default_namespace_and_location_case),
        cmocka_unit_test(test_mkconfig_xxe_is_not_loaded),
        cmocka_unit_test(test_mkconfig_utf16_file),
        cmocka_unit_test(test_mkconfig_vector_keys),
        cmocka_unit_test(test_mkconfig_free_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
