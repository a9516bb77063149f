/* test_inifile: INI through inih one line at a time: every header and key reaches the
 * handler with its line, and every mistake is named "file:line: message". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "inifile.h"

#define PATH "dir/test.ini"

/* What the handlers saw, one "line:[section]" or "line:name=value" per call, and an
 * optional refusal. */
struct record {
    char log[2048];
    const char *refuse; /* a name (key or section) the handlers refuse */
};

static void add(struct record *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct record *r, const char *fmt, ...)
{
    size_t used = strlen(r->log);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->log + used, sizeof r->log - used, fmt, ap);
    va_end(ap);
}

static int section_cb(void *user, const char *name, int line, struct errbuf *err)
{
    struct record *r = user;
    add(r, "%d:[%s] ", line, name);
    if (r->refuse && strcmp(name, r->refuse) == 0) {
        errbuf_set(err, "no section %s here", name);
        return -1;
    }
    return 0;
}

static int pair_cb(void *user, const char *name, const char *value, int line, struct errbuf *err)
{
    struct record *r = user;
    add(r, "%d:%s=%s ", line, name, value);
    if (r->refuse && strcmp(name, r->refuse) == 0) {
        errbuf_set(err, "%s: not today", name);
        return -1;
    }
    return 0;
}

static const struct inifile_handler both = {.section = section_cb, .pair = pair_cb};
static const struct inifile_handler pairs_only = {.pair = pair_cb};

/* text parses; the handlers saw exactly want. */
static void expect_log(const struct inifile_handler *h, const char *text, size_t len,
                       const char *want)
{
    struct record r = {{0}, NULL};
    struct errbuf err = {{0}};
    if (inifile_parse(text, len, PATH, h, &r, &err) != 0)
        fail_msg("unexpected error: %s", err.msg);
    assert_string_equal(r.log, want);
}

/* text fails with exactly want, "file:line: message". */
static void expect_error(const char *text, size_t len, const char *refuse, const char *want)
{
    struct record r = {{0}, refuse};
    struct errbuf err = {{0}};
    if (inifile_parse(text, len, PATH, &both, &r, &err) == 0)
        fail_msg("expected '%s', parsed fine; the handlers saw: %s", want, r.log);
    assert_string_equal(err.msg, want);
}

#define EXPECT_LOG(h, text, want)        expect_log(h, text, sizeof text - 1, want)
#define EXPECT_ERROR(text, refuse, want) expect_error(text, sizeof text - 1, refuse, want)

static void test_inifile_headers_and_keys_come_with_their_lines(void **state)
{
    (void)state;
    EXPECT_LOG(&both,
               "; a comment\n"
               "# another\n"
               "top = level\n"
               "\n"
               "[farm]\n"
               "listen = 127.0.0.1:0   ; an inline comment\n"
               "  indented:  colon form  \n"
               "empty =\n"
               "semi = a;b\n"
               "[ node  web1 ]\n"
               "\tkey = v\n"
               "[]\n"
               "last = no newline",
               "3:top=level 5:[farm] 6:listen=127.0.0.1:0 7:indented=colon form 8:empty= "
               "9:semi=a;b 10:[node  web1] 11:key=v 12:[] 13:last=no newline ");
}

static void test_inifile_crlf_and_a_bom_on_line_one(void **state)
{
    (void)state;
    EXPECT_LOG(&both, "\xEF\xBB\xBF[farm]\r\nkey = value\r\n\r\n", "1:[farm] 2:key=value ");
    /* Only line 1: elsewhere a BOM is part of the line. */
    EXPECT_LOG(&both,
               "a = 1\n\xEF\xBB\xBF"
               "b = 2\n",
               "1:a=1 2:\xEF\xBB\xBF"
               "b=2 ");
}

static void test_inifile_without_a_section_handler_headers_are_ignored(void **state)
{
    (void)state;
    EXPECT_LOG(&pairs_only, "[lb]\nlisten = x\n[other]\nnode = y\n", "2:listen=x 4:node=y ");
}

static void test_inifile_each_line_is_parsed_alone(void **state)
{
    (void)state;
    /* inih would continue "key" with an indented line; here that line stands alone. */
    EXPECT_ERROR("key = value\n  more words\n", NULL,
                 PATH ":2: not a 'key = value' line, a [section] or a comment");
    /* And a key after a header is not a continuation of anything either. */
    EXPECT_LOG(&both, "[s]\n  k = v\n", "1:[s] 2:k=v ");
}

static void test_inifile_a_refusal_names_file_and_line(void **state)
{
    (void)state;
    EXPECT_ERROR("[farm]\nok = 1\n\nbad = 2\nnever = 3\n", "bad", PATH ":4: bad: not today");
    EXPECT_ERROR("ok = 1\n[nope]\n", "nope", PATH ":2: no section nope here");
}

static void test_inifile_syntax_errors_name_file_and_line(void **state)
{
    (void)state;
    EXPECT_ERROR("[farm]\njust words\n", NULL,
                 PATH ":2: not a 'key = value' line, a [section] or a comment");
    EXPECT_ERROR("\n  [farm\n", NULL, PATH ":2: a section header is [name]");
}

static void test_inifile_control_characters_are_refused(void **state)
{
    (void)state;
    EXPECT_ERROR("a = 1\nb = x\x01y\n", NULL, PATH ":2: a control character in the line");
    /* Not even as a whole line: the names inifile uses for itself cannot be written. */
    EXPECT_ERROR("\x01=1\n", NULL, PATH ":1: a control character in the line");
    EXPECT_ERROR("[\x02]\n", NULL, PATH ":1: a control character in the line");
    /* A NUL byte inside the text is one too: nothing after it is dropped silently. */
    EXPECT_ERROR("a = 1\nb = 2\0c = 3\n", NULL, PATH ":2: a control character in the line");
    /* Tab is fine, and CR that ends a line (CRLF); DEL and a CR inside a line are not:
     * a value holding them would be echoed back in an error as it is. */
    EXPECT_LOG(&both, "a\t=\t1\r\n", "1:a=1 ");
    EXPECT_ERROR("a = x\x7fy\n", NULL, PATH ":1: a control character in the line");
    EXPECT_ERROR("a = x\ry\n", NULL, PATH ":1: a control character in the line");
}

static void test_inifile_long_lines_are_refused_not_split(void **state)
{
    (void)state;
    char text[INIFILE_LINE_MAX + 64], want[INIFILE_LINE_MAX + 64];
    /* "k = " and a value: exactly INIFILE_LINE_MAX characters is fine. */
    int value_len = INIFILE_LINE_MAX - 4;
    snprintf(text, sizeof text, "k = %0*d\n", value_len, 7);
    snprintf(want, sizeof want, "1:k=%0*d ", value_len, 7);
    expect_log(&both, text, strlen(text), want);
    /* One more is refused, not cut in two. */
    snprintf(text, sizeof text, "a = 1\nk = %0*d\n", value_len + 1, 7);
    expect_error(text, strlen(text), NULL, PATH ":2: line too long (at most 196 characters)");
}

static void test_inifile_line_counts_lines_fed_one_by_one(void **state)
{
    (void)state;
    struct record r = {{0}, "b"};
    struct errbuf err = {{0}};
    struct inifile f;
    inifile_init(&f, "lb.ini", &both, &r);
    assert_int_equal(inifile_line(&f, "a = 1\n", 5, &err), 0); /* len stops before '\n' */
    assert_int_equal(inifile_line(&f, "", 0, &err), 0);
    assert_int_equal(f.line, 2);
    assert_int_equal(inifile_line(&f, "b = 2", 5, &err), -1);
    assert_string_equal(err.msg, "lb.ini:3: b: not today");
    assert_string_equal(r.log, "1:a=1 3:b=2 ");
    /* An empty text has no lines. */
    EXPECT_LOG(&both, "", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inifile_headers_and_keys_come_with_their_lines),
        cmocka_unit_test(test_inifile_crlf_and_a_bom_on_line_one),
        cmocka_unit_test(test_inifile_without_a_section_handler_headers_are_ignored),
        cmocka_unit_test(test_inifile_each_line_is_parsed_alone),
        cmocka_unit_test(test_inifile_a_refusal_names_file_and_line),
        cmocka_unit_test(test_inifile_syntax_errors_name_file_and_line),
        cmocka_unit_test(test_inifile_control_characters_are_refused),
        cmocka_unit_test(test_inifile_long_lines_are_refused_not_split),
        cmocka_unit_test(test_inifile_line_counts_lines_fed_one_by_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
