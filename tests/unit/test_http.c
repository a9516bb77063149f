/* test_http: the llhttp glue — spans across split reads, pipelining, limits, helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <string.h>

#include "http.h"

static const struct http_limits limits = {.max_header_bytes = 1024, .max_body_bytes = 64};

/* Feed text in pieces of `step` bytes into one growing buffer, as a connection does. */
static enum http_feed feed_split(struct http_parser *p, struct buf *in, size_t *parsed,
                                 const char *text, size_t step)
{
    size_t n = strlen(text);
    enum http_feed f = HTTP_FEED_MORE;
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        buf_append(in, text + i, k);
        size_t used;
        f = http_parser_feed(p, in->data, *parsed, in->len, &used);
        *parsed += used;
        if (f != HTTP_FEED_MORE)
            return f;
    }
    return f;
}

static void test_http_request_split_byte_by_byte(void **state)
{
    (void)state;
    static const char req[] = "GET /login?user=al%20ice&persistent=1 HTTP/1.1\r\n"
                              "Host: x\r\nCookie: a=1; .ASPXAUTH=ABCD; b=2\r\n"
                              "Accept: text/html,*/*\r\n\r\n";
    for (size_t step = 1; step <= 7; step += 3) {
        struct http_parser p;
        struct buf in;
        size_t parsed = 0;
        buf_init(&in);
        http_parser_init(&p, &limits);
        assert_int_equal(feed_split(&p, &in, &parsed, req, step), HTTP_FEED_REQUEST);
        assert_int_equal(p.req.method, HTTP_GET);
        assert_true(p.req.keep_alive);
        const char *path, *query;
        size_t plen, qlen;
        http_url_split(&p.req, in.data, &path, &plen, &query, &qlen);
        assert_int_equal(plen, 6);
        assert_memory_equal(path, "/login", 6);
        char v[64];
        assert_int_equal(http_param(query, qlen, "user", v, sizeof v), 6);
        assert_string_equal(v, "al ice");
        assert_int_equal(http_param(query, qlen, "persistent", v, sizeof v), 1);
        assert_int_equal(http_param(query, qlen, "missing", v, sizeof v), -1);
        size_t clen, alen;
        const char *cookie = http_header_get(&p.req, in.data, "cookie", &clen);
        assert_non_null(cookie);
        const char *auth = http_cookie(cookie, clen, ".ASPXAUTH", &alen);
        assert_non_null(auth);
        assert_int_equal(alen, 4);
        assert_memory_equal(auth, "ABCD", 4);
        assert_null(http_cookie(cookie, clen, "ASPXAUTH", &alen));
        assert_true(http_prefers_html(&p.req, in.data));
        http_parser_cleanup(&p);
        buf_cleanup(&in);
    }
}

/* Two requests in one read: the first pauses the parser, the second follows after next(). */
static void test_http_pipelined_requests_come_one_at_a_time(void **state)
{
    (void)state;
    static const char two[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                              "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    struct http_parser p;
    struct buf in;
    buf_init(&in);
    buf_append(&in, two, strlen(two));
    http_parser_init(&p, &limits);
    size_t used, parsed = 0;
    assert_int_equal(http_parser_feed(&p, in.data, parsed, in.len, &used), HTTP_FEED_REQUEST);
    parsed += used;
    assert_int_equal(p.req.method, HTTP_GET);
    assert_memory_equal(in.data + p.req.url.off, "/a", 2);
    /* The connection consumes the first request's bytes, then parses on. */
    buf_consume(&in, parsed);
    parsed = 0;
    http_parser_next(&p);
    assert_int_equal(http_parser_feed(&p, in.data, parsed, in.len, &used), HTTP_FEED_REQUEST);
    assert_int_equal(p.req.method, HTTP_POST);
    assert_memory_equal(in.data + p.req.url.off, "/b", 2);
    assert_int_equal(p.req.body.len, 5);
    assert_memory_equal(p.req.body.data, "abcde", 5);
    http_parser_cleanup(&p);
    buf_cleanup(&in);
}

/* A request that asks to upgrade (WebSocket, h2c) is a plain request, and the connection
 * stays HTTP: the next request is parsed as one (llhttp would take it for the new protocol's
 * bytes, and sim-node and lb answered it 400). */
static void test_http_upgrade_request_keeps_the_connection_http(void **state)
{
    (void)state;
    static const char two[] =
        "GET /a HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
        "GET /b HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
        "Upgrade: websocket\r\n\r\n"
        "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
    struct http_parser p;
    struct buf in;
    buf_init(&in);
    buf_append(&in, two, strlen(two));
    http_parser_init(&p, &limits);
    const char *want[] = {"/a", "/b", "/c"};
    for (size_t i = 0; i < 3; i++) {
        size_t used;
        assert_int_equal(http_parser_feed(&p, in.data, 0, in.len, &used), HTTP_FEED_REQUEST);
        assert_int_equal(p.req.method, HTTP_GET);
        assert_memory_equal(in.data + p.req.url.off, want[i], 2);
        assert_true(p.req.keep_alive);
        buf_consume(&in, used);
        http_parser_next(&p);
    }
    assert_int_equal(in.len, 0);
    http_parser_cleanup(&p);
    buf_cleanup(&in);
}

static enum http_feed parse_all(const char *text, struct http_parser *p, struct buf *in)
{
    buf_init(in);
    buf_append(in, text, strlen(text));
    http_parser_init(p, &limits);
    size_t used;
    return http_parser_feed(p, in->data, 0, in->len, &used);
}

static void test_http_limits_and_errors(void **state)
{
    (void)state;
    struct http_parser p;
    struct buf in;
    char big[2048];
    snprintf(big, sizeof big, "GET / HTTP/1.1\r\nX-Big: %01500d\r\n\r\n", 0);
    assert_int_equal(parse_all(big, &p, &in), HTTP_FEED_ERROR);
    assert_int_equal(p.error_status, 431);
    http_parser_cleanup(&p);
    buf_cleanup(&in);

    assert_int_equal(parse_all("POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n", &p, &in),
                     HTTP_FEED_ERROR);
    assert_int_equal(p.error_status, 413);
    http_parser_cleanup(&p);
    buf_cleanup(&in);

    char chunked[256];
    snprintf(chunked, sizeof chunked,
             "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n%065d\r\n0\r\n\r\n", 0);
    assert_int_equal(parse_all(chunked, &p, &in), HTTP_FEED_ERROR);
    assert_int_equal(p.error_status, 413);
    http_parser_cleanup(&p);
    buf_cleanup(&in);

    assert_int_equal(parse_all("GARBAGE\r\n\r\n", &p, &in), HTTP_FEED_ERROR);
    assert_int_equal(p.error_status, 400);
    http_parser_cleanup(&p);
    buf_cleanup(&in);

    /* Too many header lines. */
    struct buf many;
    buf_init(&many);
    buf_puts(&many, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < HTTP_MAX_HEADERS + 1; i++)
        buf_printf(&many, "X-%d: y\r\n", i);
    buf_puts(&many, "\r\n");
    assert_int_equal(parse_all(many.data, &p, &in), HTTP_FEED_ERROR);
    assert_int_equal(p.error_status, 431);
    http_parser_cleanup(&p);
    buf_cleanup(&in);
    buf_cleanup(&many);
}

static void test_http_keep_alive_rules(void **state)
{
    (void)state;
    struct http_parser p;
    struct buf in;
    assert_int_equal(parse_all("GET / HTTP/1.0\r\n\r\n", &p, &in), HTTP_FEED_REQUEST);
    assert_false(p.req.keep_alive);
    http_parser_cleanup(&p);
    buf_cleanup(&in);
    assert_int_equal(parse_all("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &p, &in),
                     HTTP_FEED_REQUEST);
    assert_false(p.req.keep_alive);
    http_parser_cleanup(&p);
    buf_cleanup(&in);
}

static void test_http_param_decoding_edges(void **state)
{
    (void)state;
    char v[8];
    const char *q = "a=%41%4&b=x+y&c&d=%zz&e=12345678";
    assert_int_equal(http_param(q, strlen(q), "a", v, sizeof v), 3);
    assert_string_equal(v, "A%4");
    assert_int_equal(http_param(q, strlen(q), "b", v, sizeof v), 3);
    assert_string_equal(v, "x y");
    assert_int_equal(http_param(q, strlen(q), "c", v, sizeof v), 0);
    assert_int_equal(http_param(q, strlen(q), "d", v, sizeof v), 3);
    assert_int_equal(http_param(q, strlen(q), "e", v, sizeof v), -1); /* too long */
}

static void test_http_response_start(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    http_start_response(&b, 431, true);
    assert_string_equal(b.data, "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                "Connection: close\r\n");
    buf_cleanup(&b);
    struct buf j;
    buf_init(&j);
    buf_json(&j, "a\"b\\\n\x01", 6);
    assert_string_equal(j.data, "a\\\"b\\\\\\n\\u0001");
    buf_clear(&j);
    buf_html(&j, "<a href='x'>&</a>", 17);
    assert_string_equal(j.data, "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;");
    buf_cleanup(&j);
}

/* The read-timeout rule: a head's deadline runs from its first byte and does not move;
 * idle connections and bodies get the idle timeout. */
static void test_http_read_timeout_rules(void **state)
{
    (void)state;
    struct http_parser p;
    struct buf in;
    size_t parsed = 0;
    double deadline = 0;
    buf_init(&in);
    http_parser_init(&p, &limits);
    /* idle: no parser yet, no bytes */
    assert_true(http_read_timeout(NULL, false, 100, 10, 60, &deadline) == 60);
    assert_true(deadline == 0);
    /* bytes came but nothing parsed yet: the head's clock starts */
    assert_true(http_read_timeout(NULL, true, 100, 10, 60, &deadline) == 10);
    assert_true(deadline == 110);
    /* more bytes of the head later: the deadline stays (slowloris cannot push it back) */
    assert_int_equal(feed_split(&p, &in, &parsed, "GET / HTTP/1.1\r\nHo", 64), HTTP_FEED_MORE);
    assert_true(http_read_timeout(&p, false, 104, 10, 60, &deadline) == 6);
    assert_true(http_read_timeout(&p, false, 110, 10, 60, &deadline) == 0.001); /* passed */
    /* the head is in, the body is on its way: idle timeout, deadline untouched */
    assert_int_equal(feed_split(&p, &in, &parsed, "st: x\r\nContent-Length: 4\r\n\r\nab", 64),
                     HTTP_FEED_MORE);
    assert_true(http_read_timeout(&p, false, 105, 10, 60, &deadline) == 60);
    /* complete and answered: idle again, the deadline forgotten */
    assert_int_equal(feed_split(&p, &in, &parsed, "cd", 64), HTTP_FEED_REQUEST);
    http_parser_next(&p);
    assert_true(http_read_timeout(&p, false, 106, 10, 60, &deadline) == 60);
    assert_true(deadline == 0);
    http_parser_cleanup(&p);
    buf_cleanup(&in);
}

/* "100 Continue" is due once, when the head of an Expect: 100-continue request is in. */
static void test_http_continue_due_once_after_the_head(void **state)
{
    (void)state;
    struct http_parser p;
    struct buf in;
    size_t parsed = 0;
    bool sent = false;
    buf_init(&in);
    http_parser_init(&p, &limits);
    assert_int_equal(
        feed_split(&p, &in, &parsed, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n", 64),
        HTTP_FEED_MORE);
    assert_false(http_continue_due(&p, &sent)); /* the head is not in yet */
    assert_int_equal(feed_split(&p, &in, &parsed, "Content-Length: 2\r\n\r\n", 64), HTTP_FEED_MORE);
    assert_true(http_continue_due(&p, &sent));
    assert_true(sent);
    assert_false(http_continue_due(&p, &sent)); /* once */
    assert_int_equal(feed_split(&p, &in, &parsed, "ok", 64), HTTP_FEED_REQUEST);
    http_parser_next(&p);
    sent = false;
    /* without Expect: never */
    assert_int_equal(
        feed_split(&p, &in, &parsed, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n", 64),
        HTTP_FEED_MORE);
    assert_false(http_continue_due(&p, &sent));
    http_parser_cleanup(&p);
    buf_cleanup(&in);
}

/* Control endpoints trust a loopback peer; a browser page can reach loopback ports too, but
 * only with its own site's name in Host (DNS rebinding) or Origin (a form post). */
static void test_http_request_is_local(void **state)
{
    (void)state;
    static const struct {
        const char *headers;
        bool local;
    } cases[] = {
        {"", true}, /* HTTP/1.1 without Host is refused by nobody here; no name, no rebinding */
        {"Host: 127.0.0.1:8080\r\n", true},
        {"Host: 127.0.0.1\r\n", true},
        {"Host: localhost:8080\r\n", true},
        {"Host: LOCALHOST\r\n", true},
        {"Host: [::1]:8080\r\n", true},
        {"Host: 10.1.2.3:80\r\n", true}, /* an admin API bound to an address, with a token */
        {"Host: attacker.example\r\n", false},
        {"Host: rebind.attacker.example:8080\r\n", false},
        {"Host: 127.0.0.1.attacker.example\r\n", false},
        {"Host: 127.0.0.1:\r\n", false},
        {"Host: 127.0.0.1:123456\r\n", false},
        {"Host: 127.0.0.1:80x\r\n", false},
        {"Host: [::1\r\n", false},
        {"Host: [::1]x\r\n", false},
        {"Host: 127.0.0.1\r\nOrigin: http://127.0.0.1:8080\r\n", true},
        {"Host: 127.0.0.1\r\nOrigin: http://localhost:3000\r\n", true},
        {"Host: 127.0.0.1\r\nOrigin: https://[::1]\r\n", true},
        {"Host: 127.0.0.1\r\nOrigin: http://attacker.example\r\n", false},
        {"Host: 127.0.0.1\r\nOrigin: null\r\n", false},
        {"Host: 127.0.0.1\r\nOrigin: file://\r\n", false},
        {"Host: 127.0.0.1\r\nOrigin: http://127.0.0.1/path\r\n", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[512];
        int n = snprintf(req, sizeof req, "POST /_farm/fault HTTP/1.1\r\n%s\r\n", cases[i].headers);
        struct http_parser p;
        http_parser_init(&p, &limits);
        size_t used = 0;
        assert_int_equal(http_parser_feed(&p, req, 0, (size_t)n, &used), HTTP_FEED_REQUEST);
        if (http_request_is_local(&p.req, req) != cases[i].local)
            fail_msg("case %zu (%s): expected %s", i, cases[i].headers,
                     cases[i].local ? "local" : "not local");
        http_parser_cleanup(&p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_request_is_local),
        cmocka_unit_test(test_http_request_split_byte_by_byte),
        cmocka_unit_test(test_http_pipelined_requests_come_one_at_a_time),
        cmocka_unit_test(test_http_upgrade_request_keeps_the_connection_http),
        cmocka_unit_test(test_http_limits_and_errors),
        cmocka_unit_test(test_http_keep_alive_rules),
        cmocka_unit_test(test_http_param_decoding_edges),
        cmocka_unit_test(test_http_response_start),
        cmocka_unit_test(test_http_read_timeout_rules),
        cmocka_unit_test(test_http_continue_due_once_after_the_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
