/* test_answer: lb's parser of a node's answer — framing, interim answers, stray bytes, the
 * head's recorded spans — and the header lines lb injects into a head. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <string.h>

#include "answer.h"

#define CAP 4096

/* A buffer as the proxy keeps a node connection's bytes, with a canary past its capacity. */
struct tbuf {
    char b[CAP + 16];
    size_t cap, len;
};

static void tbuf_init(struct tbuf *t, size_t cap)
{
    memset(t->b, 0x5a, sizeof t->b);
    t->cap = cap;
    t->len = 0;
}

static void assert_canary(const struct tbuf *t)
{
    for (size_t i = t->cap; i < t->cap + 16; i++)
        if ((unsigned char)t->b[i] != 0x5a)
            fail_msg("byte %zu past the capacity %zu was written", i, t->cap);
}

/* Feed text in pieces of `step` bytes (0: all at once), appended after what the buffer
 * holds, as bconn_read_cb does. Stops at the first ANSWER_DONE or ANSWER_ERROR; *fed
 * (when not NULL) says how many bytes of text went in. */
static enum answer_state feed(struct answer *a, struct tbuf *t, const char *text, size_t n,
                              size_t step, bool head, size_t *fed)
{
    enum answer_state st = ANSWER_MORE;
    size_t i = 0;
    if (step == 0)
        step = n;
    while (i < n) {
        size_t k = n - i < step ? n - i : step;
        if (t->len + k > t->cap)
            fail_msg("the test's buffer (%zu) is too small", t->cap);
        memcpy(t->b + t->len, text + i, k);
        size_t start = t->len;
        t->len += k;
        i += k;
        st = answer_feed(a, t->b, &t->len, start, head);
        assert_true(t->len <= t->cap);
        if (st == ANSWER_DONE || st == ANSWER_ERROR)
            break;
    }
    if (fed)
        *fed = i;
    assert_canary(t);
    return st;
}

#define FEED(a, t, lit, step, head) feed((a), (t), (lit), sizeof(lit) - 1, (step), (head), NULL)

/* The span's bytes are exactly `want`. */
static void assert_span(const struct tbuf *t, struct http_span s, const char *want)
{
    size_t n = strlen(want);
    if (s.len != n || s.off + s.len > t->len || memcmp(t->b + s.off, want, n) != 0)
        fail_msg("span [%u+%u] is '%.*s', expected '%s'", s.off, s.len,
                 (int)(s.off + s.len <= t->len ? s.len : 0), t->b + s.off, want);
}

static void assert_bytes(const struct tbuf *t, const char *want)
{
    size_t n = strlen(want);
    if (t->len != n || memcmp(t->b, want, n) != 0)
        fail_msg("buffer is '%.*s' (%zu bytes), expected '%s' (%zu bytes)", (int)t->len, t->b,
                 t->len, want, n);
}

static void test_answer_content_length(void **state)
{
    (void)state;
    static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Other: y\r\n\r\nhello";
    struct answer a;
    struct tbuf t;
    answer_reset(&a);
    tbuf_init(&t, CAP);
    assert_int_equal(FEED(&a, &t, ans, 0, false), ANSWER_DONE);
    assert_int_equal(a.status, 200);
    assert_true(a.head_done);
    assert_true(a.resp_done);
    assert_true(a.keep_alive);
    assert_false(a.stray_bytes);
    assert_int_equal(a.head_len, sizeof ans - 1 - 5);
    assert_bytes(&t, ans);

    /* The head first: the body is still to come; then the body ends the answer. */
    answer_reset(&a);
    tbuf_init(&t, CAP);
    assert_int_equal(feed(&a, &t, ans, sizeof ans - 1 - 5, 0, false, NULL), ANSWER_BODY);
    assert_true(a.head_done);
    assert_false(a.resp_done);
    assert_int_equal(a.head_len, sizeof ans - 1 - 5);
    t.len = 0; /* the proxy passed the head on: the body starts the buffer */
    assert_int_equal(FEED(&a, &t, "hel", 0, false), ANSWER_BODY);
    t.len = 0;
    assert_int_equal(FEED(&a, &t, "lo", 0, false), ANSWER_DONE);
    assert_true(a.keep_alive);
    assert_false(a.stray_bytes);

    /* HTTP/1.0 without keep-alive: complete, but the node closes. */
    answer_reset(&a);
    tbuf_init(&t, CAP);
    assert_int_equal(FEED(&a, &t, "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 0, false),
                     ANSWER_DONE);
    assert_false(a.keep_alive);
}

static void test_answer_chunked(void **state)
{
    (void)state;
    static const char ans[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n";
    struct answer a;
    struct tbuf t;
    answer_reset(&a);
    tbuf_init(&t, CAP);
    /* All but the last CRLF: not complete. */
    assert_int_equal(feed(&a, &t, ans, sizeof ans - 3, 0, false, NULL), ANSWER_BODY);
    assert_false(a.resp_done);
    assert_int_equal(feed(&a, &t, ans + sizeof ans - 3, 2, 0, false, NULL), ANSWER_DONE);
    assert_true(a.keep_alive);
    assert_false(a.stray_bytes);
    assert_bytes(&t, ans);
    assert_int_equal(a.head_len, strlen("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));

    /* A bad chunk size is an error, after the head. */
    answer_reset(&a);
    tbuf_init(&t, CAP);
    assert_int_equal(
        FEED(&a, &t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, false),
        ANSWER_ERROR);
    assert_true(a.head_done);
}

static void test_answer_close_delimited_body_ends_at_eof(void **state)
{
    (void)state;
    static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome body";
    struct answer a;
    struct tbuf t;
    answer_reset(&a);
    tbuf_init(&t, CAP);
    assert_int_equal(FEED(&a, &t, ans, 0, false), ANSWER_BODY);
    assert_false(a.resp_done);
    assert_bytes(&t, ans);
    assert_int_equal(answer_eof(&a), ANSWER_DONE);
    assert_true(a.resp_done);
    assert_false(a.keep_alive);

    /* Framed answers cut short by the close are cut, not complete. */
    static const char *const cut[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        "HTTP/1.1 200 OK\r\nContent-Le",
    };
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        answer_reset(&a);
        tbuf_init(&t, CAP);
        feed(&a, &t, cut[i], strlen(cut[i]), 0, false, NULL);
        if (answer_eof(&a) != ANSWER_ERROR)
            fail_msg("case %zu: a close in the middle should cut the answer", i);
        assert_false(a.resp_done);
    }

    /* Complete before the close: stays complete. */
    answer_reset(&a);
    tbuf_init(&t, CAP);
    assert_int_equal(FEED(&a, &t, "HTTP/1.1 204 No Content\r\n\r\n", 0, false), ANSWER_DONE);
    assert_int_equal(answer_eof(&a), ANSWER_DONE);
}

static const char rich[] = "HTTP/1.1 302 Found\r\n"
                           "Location: /login?ReturnUrl=%2f\r\n"
                           "Set-Cookie: .ASPXAUTH=0123ABCD; path=/; HttpOnly\r\n"
                           "X-Farm-Ticket: valid\r\n"
                           "X-Farm-Session: s-42\r\n"
                           "X-Farm-Key: fp:1234\r\n"
                           "X-Farm-User: alice\r\n"
                           "set-cookie: ASP.NET_SessionId=abc\r\n"
                           "Content-Length: 4\r\n"
                           "\r\n"
                           "body";

static void assert_rich(const struct answer *a, const struct tbuf *t)
{
    assert_int_equal(a->status, 302);
    assert_int_equal(a->n_set_cookie, 2);
    assert_span(t, a->set_cookie[0], ".ASPXAUTH=0123ABCD; path=/; HttpOnly");
    assert_span(t, a->set_cookie[1], "ASP.NET_SessionId=abc");
    assert_span(t, a->location, "/login?ReturnUrl=%2f");
    assert_span(t, a->farm_ticket, "valid");
    assert_span(t, a->farm_session, "s-42");
    assert_span(t, a->farm_key, "fp:1234");
    assert_span(t, a->farm_user, "alice");
    assert_int_equal(a->head_len, sizeof rich - 1 - 4);
}

static void test_answer_in_one_byte_pieces(void **state)
{
    (void)state;
    struct answer a;
    struct tbuf t;
    answer_reset(&a);
    tbuf_init(&t, CAP);
    size_t head = sizeof rich - 1 - 4;
    /* Byte by byte: more needed until the head's last byte, then body, then done. */
    for (size_t i = 0; i < sizeof rich - 1; i++) {
        enum answer_state want = i + 1 < head              ? ANSWER_MORE
                                 : i + 1 < sizeof rich - 1 ? ANSWER_BODY
                                                           : ANSWER_DONE;
        t.b[t.len] = rich[i];
        size_t start = t.len++;
        enum answer_state st = answer_feed(&a, t.b, &t.len, start, false);
        if (st != want)
            fail_msg("after byte %zu: state %d, expected %d", i, st, want);
    }
    assert_bytes(&t, rich);
    assert_rich(&a, &t);
    assert_true(a.keep_alive);

    /* In one piece: the same. */
    answer_reset(&a);
    tbuf_init(&t, CAP);
    assert_int_equal(FEED(&a, &t, rich, 0, false), ANSWER_DONE);
    assert_rich(&a, &t);

    /* In pieces of 7: the same. */
    answer_reset(&a);
    tbuf_init(&t, CAP);
    assert_int_equal(FEED(&a, &t, rich, 7, false), ANSWER_DONE);
    assert_rich(&a, &t);
}

static void test_answer_interim_answers_are_dropped(void **state)
{
    (void)state;
    static const char final[] = "HTTP/1.1 200 OK\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok";
    static const char two[] = "HTTP/1.1 100 Continue\r\n\r\n"
                              "HTTP/1.1 103 Early Hints\r\nSet-Cookie: a=1\r\nLocation: /x\r\n"
                              "X-Farm-Ticket: early\r\nLink: </s.css>\r\n\r\n"
                              "HTTP/1.1 200 OK\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok";
    static const size_t steps[] = {0, 1, 5, 24, 25, 26};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        struct answer a;
        struct tbuf t;
        answer_reset(&a);
        tbuf_init(&t, CAP);
        if (FEED(&a, &t, two, steps[s], false) != ANSWER_DONE)
            fail_msg("step %zu: the answer after the interim ones should complete", steps[s]);
        /* The buffer holds the real answer from its first byte, and only its head counts. */
        assert_bytes(&t, final);
        assert_int_equal(a.status, 200);
        assert_int_equal(a.n_set_cookie, 1);
        assert_span(&t, a.set_cookie[0], "b=2");
        assert_int_equal(a.location.len, 0);
        assert_int_equal(a.farm_ticket.len, 0);
        assert_int_equal(a.head_len, sizeof final - 1 - 2);
        assert_true(a.keep_alive);
        assert_false(a.stray_bytes);
    }

    /* An interim answer alone: dropped, nothing left, more needed. */
    struct answer a;
    struct tbuf t;
    answer_reset(&a);
    tbuf_init(&t, CAP);
    assert_int_equal(FEED(&a, &t, "HTTP/1.1 100 Continue\r\n\r\n", 0, false), ANSWER_MORE);
    assert_int_equal(t.len, 0);
    assert_false(a.head_done);
    assert_int_equal(FEED(&a, &t, final, 0, false), ANSWER_DONE);
    assert_bytes(&t, final);
}

static void test_answer_101_is_an_error(void **state)
{
    (void)state;
    /* lb leaves a request's upgrade out, so a node that switches protocols anyway does not
     * answer in HTTP: an error, with or without the new protocol's bytes after the head. */
    struct answer a;
    struct tbuf t;
    answer_reset(&a);
    tbuf_init(&t, CAP);
    assert_int_equal(FEED(&a, &t,
                          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\n\r\n",
                          0, false),
                     ANSWER_ERROR);
    assert_false(a.head_done);
    answer_reset(&a);
    tbuf_init(&t, CAP);
    assert_int_equal(FEED(&a, &t,
                          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\n\r\n\x81\x05hello",
                          0, false),
                     ANSWER_ERROR);
    assert_false(a.head_done);
}

static void test_answer_no_body_for_head_204_304(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool head;
        enum answer_state want;
    } cases[] = {
        {"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false, ANSWER_DONE},
        {"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", false, ANSWER_DONE},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, ANSWER_DONE},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, ANSWER_DONE},
        {"HTTP/1.1 404 Not Found\r\n\r\n", true, ANSWER_DONE},
        /* controls: the same to a GET has a body to come */
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, ANSWER_BODY},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, ANSWER_BODY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct answer a;
        struct tbuf t;
        answer_reset(&a);
        tbuf_init(&t, CAP);
        size_t n = strlen(cases[i].text);
        enum answer_state st = feed(&a, &t, cases[i].text, n, 0, cases[i].head, NULL);
        if (st != cases[i].want)
            fail_msg("case %zu: state %d, expected %d", i, st, cases[i].want);
        assert_int_equal(t.len, n);
        assert_int_equal(a.head_len, n);
        if (st == ANSWER_DONE) {
            assert_true(a.keep_alive);
            assert_false(a.stray_bytes);
        }
        if (st != ANSWER_DONE)
            continue;
        /* The body a no-body answer carries anyway is stray: cut off. */
        answer_reset(&a);
        tbuf_init(&t, CAP);
        char with_body[256];
        int m = snprintf(with_body, sizeof with_body, "%shello", cases[i].text);
        assert_int_equal(feed(&a, &t, with_body, (size_t)m, 0, cases[i].head, NULL), ANSWER_DONE);
        assert_int_equal(t.len, n);
        assert_true(a.stray_bytes);
    }
}

static void test_answer_stray_bytes_are_cut(void **state)
{
    (void)state;
    static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    struct answer a;
    struct tbuf t;
    answer_reset(&a);
    tbuf_init(&t, CAP);
    assert_int_equal(FEED(&a, &t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", 0, false),
                     ANSWER_DONE);
    assert_bytes(&t, ans);
    assert_true(a.stray_bytes);
    assert_true(a.keep_alive); /* the answer said so; the proxy closes the node anyway */

    /* A second answer pipelined behind the first is stray too. */
    answer_reset(&a);
    tbuf_init(&t, CAP);
    assert_int_equal(FEED(&a, &t,
                          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno",
                          0, false),
                     ANSWER_DONE);
    assert_bytes(&t, ans);
    assert_true(a.stray_bytes);

    /* Exactly the answer: nothing stray. */
    answer_reset(&a);
    tbuf_init(&t, CAP);
    assert_int_equal(FEED(&a, &t, ans, 0, false), ANSWER_DONE);
    assert_false(a.stray_bytes);
}

static void test_answer_set_cookie_up_to_the_maximum(void **state)
{
    (void)state;
    char text[2048];
    size_t n = (size_t)snprintf(text, sizeof text, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < ANSWER_SET_COOKIE_MAX + 3; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s: c%d=v%d\r\n",
                              i % 2 ? "SET-COOKIE" : "Set-Cookie", i, i);
    n += (size_t)snprintf(text + n, sizeof text - n, "Content-Length: 0\r\n\r\n");
    for (size_t step = 0; step <= 3; step += 3) {
        struct answer a;
        struct tbuf t;
        answer_reset(&a);
        tbuf_init(&t, CAP);
        assert_int_equal(feed(&a, &t, text, n, step, false, NULL), ANSWER_DONE);
        assert_int_equal(a.n_set_cookie, ANSWER_SET_COOKIE_MAX);
        for (int i = 0; i < ANSWER_SET_COOKIE_MAX; i++) {
            char want[32];
            snprintf(want, sizeof want, "c%d=v%d", i, i);
            assert_span(&t, a.set_cookie[i], want);
        }
        /* The ones past the maximum are passed on, not recorded. */
        assert_int_equal(t.len, n);
    }
}

static void test_answer_headers_found_in_any_case(void **state)
{
    (void)state;
    static const char ans[] = "HTTP/1.1 200 OK\r\n"
                              "x-farm-ticket: T1\r\n"
                              "X-FARM-SESSION: S2\r\n"
                              "x-Farm-Key: K3\r\n"
                              "X-Farm-USER: U4\r\n"
                              "LOCATION: /L5\r\n"
                              "X-Farm-Tickets: no\r\n" /* longer */
                              "X-Farm-Ticker: no\r\n"  /* as long, not the same */
                              "X-Farm-Use: no\r\n"     /* shorter */
                              "Locations: no\r\n"
                              "Content-Length: 0\r\n\r\n";
    struct answer a;
    struct tbuf t;
    answer_reset(&a);
    tbuf_init(&t, CAP);
    assert_int_equal(FEED(&a, &t, ans, 2, false), ANSWER_DONE);
    assert_span(&t, a.farm_ticket, "T1");
    assert_span(&t, a.farm_session, "S2");
    assert_span(&t, a.farm_key, "K3");
    assert_span(&t, a.farm_user, "U4");
    assert_span(&t, a.location, "/L5");
    assert_int_equal(a.n_set_cookie, 0);

    /* None of them: nothing recorded. */
    answer_reset(&a);
    tbuf_init(&t, CAP);
    assert_int_equal(
        FEED(&a, &t, "HTTP/1.1 200 OK\r\nX-Farm: a\r\nContent-Length: 0\r\n\r\n", 0, false),
        ANSWER_DONE);
    assert_int_equal(a.farm_ticket.len + a.farm_session.len + a.farm_key.len + a.farm_user.len +
                         a.location.len,
                     0);
}

/* A chunked body's trailer fields reach the same llhttp callbacks as the head's: they are
 * not the head's, and are not recorded (lb passes them on unread). */
static void test_answer_trailers_are_not_the_head(void **state)
{
    (void)state;
    static const char ans[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                              "X-Farm-Ticket: valid\r\n\r\n"
                              "2\r\nok\r\n0\r\n"
                              "X-Farm-Ticket: evil\r\nX-Farm-Key: k\r\nSet-Cookie: .ASPXAUTH=1\r\n"
                              "Location: /elsewhere\r\n\r\n";
    static const size_t steps[] = {0, 1, 9};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        struct answer a;
        struct tbuf t;
        answer_reset(&a);
        tbuf_init(&t, CAP);
        assert_int_equal(FEED(&a, &t, ans, steps[s], false), ANSWER_DONE);
        assert_bytes(&t, ans); /* passed on as they are */
        assert_span(&t, a.farm_ticket, "valid");
        assert_int_equal(a.farm_key.len, 0);
        assert_int_equal(a.location.len, 0);
        assert_int_equal(a.n_set_cookie, 0);
        assert_false(answer_sets_forms_ticket(&a));
    }
}

static void test_answer_malformed_is_an_error(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTX/1.1 200 OK\r\n\r\n",
        "<html>not an answer</html>",
        "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA: b\nC: d\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (size_t step = 0; step <= 1; step++) {
            struct answer a;
            struct tbuf t;
            answer_reset(&a);
            tbuf_init(&t, CAP);
            if (feed(&a, &t, bad[i], strlen(bad[i]), step, false, NULL) != ANSWER_ERROR)
                fail_msg("case %zu (step %zu): '%s' should be an error", i, step, bad[i]);
            assert_false(a.resp_done);
        }
    }
}

/* The proxy reads a head into a buffer it keeps room in; a head longer than that never
 * completes and is refused by the proxy. The parser meanwhile asks for more, writes nothing
 * past the bytes it has, and its spans stay inside them. */
static void test_answer_head_larger_than_the_buffer(void **state)
{
    (void)state;
    char text[600];
    size_t n = (size_t)snprintf(text, sizeof text, "HTTP/1.1 200 OK\r\nX-Farm-User: ");
    memset(text + n, 'u', sizeof text - n);
    struct answer a;
    struct tbuf t;
    answer_reset(&a);
    tbuf_init(&t, 256);
    size_t fed = 0;
    assert_int_equal(feed(&a, &t, text, 256, 16, false, &fed), ANSWER_MORE);
    assert_int_equal(fed, 256);
    assert_int_equal(t.len, 256);
    assert_false(a.head_done);
    assert_true(a.farm_user.off + a.farm_user.len <= t.len);
    assert_int_equal(a.farm_user.off, n);
    assert_int_equal(a.farm_user.len, 256 - n);
}

/* ---- answer_inject ---------------------------------------------------------------------- */

/* Parse text as a whole answer into t; returns its head length. */
static size_t parsed_head(struct tbuf *t, const char *text)
{
    struct answer a;
    answer_reset(&a);
    tbuf_init(t, CAP);
    enum answer_state st = feed(&a, t, text, strlen(text), 0, false, NULL);
    if (st != ANSWER_DONE && st != ANSWER_BODY)
        fail_msg("'%s' should parse (state %d)", text, st);
    return a.head_len;
}

static void test_answer_inject_before_the_final_crlf(void **state)
{
    (void)state;
    static const char extra[] = "X-Served-By: web1\r\nSet-Cookie: FARMLB=w1; path=/\r\n";
    struct tbuf t;
    size_t head = parsed_head(&t, "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n"
                                  "Content-Length: 8\r\n\r\nab\r\n\r\ncd");
    size_t len = answer_inject(t.b, t.len, head, t.cap, extra, sizeof extra - 1, false);
    t.len = len;
    assert_bytes(&t, "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 8\r\n"
                     "X-Served-By: web1\r\nSet-Cookie: FARMLB=w1; path=/\r\n\r\nab\r\n\r\ncd");

    /* Nothing to add, nothing to strip: unchanged. */
    head = parsed_head(&t, "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(answer_inject(t.b, t.len, head, t.cap, NULL, 0, false), t.len);
    assert_bytes(&t, "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n");
}

static void test_answer_inject_strips_connection_only_when_asked(void **state)
{
    (void)state;
    static const char close[] = "X-Served-By: web1\r\nConnection: close\r\n";
    static const char ans[] = "HTTP/1.1 200 OK\r\n"
                              "Connection: keep-alive\r\n"
                              "Proxy-Connection: keep-alive\r\n"
                              "Connection-Info: x\r\n"
                              "X-Connection: y\r\n"
                              "connection: Keep-Alive,\r\n"
                              "  upgrade\r\n"
                              "Content-Length: 23\r\n"
                              "\r\n"
                              "body\r\nConnection: z\r\n\r\n";
    struct tbuf t;
    size_t head = parsed_head(&t, ans);
    t.len = answer_inject(t.b, t.len, head, t.cap, close, sizeof close - 1, true);
    assert_bytes(&t, "HTTP/1.1 200 OK\r\n"
                     "Proxy-Connection: keep-alive\r\n"
                     "Connection-Info: x\r\n"
                     "X-Connection: y\r\n"
                     "Content-Length: 23\r\n"
                     "X-Served-By: web1\r\nConnection: close\r\n"
                     "\r\n"
                     "body\r\nConnection: z\r\n\r\n"); /* the body is not the head */

    /* Not asked: every line stays. */
    static const char keep[] = "X-Served-By: web1\r\n";
    head = parsed_head(&t, ans);
    t.len = answer_inject(t.b, t.len, head, t.cap, keep, sizeof keep - 1, false);
    assert_bytes(&t, "HTTP/1.1 200 OK\r\n"
                     "Connection: keep-alive\r\n"
                     "Proxy-Connection: keep-alive\r\n"
                     "Connection-Info: x\r\n"
                     "X-Connection: y\r\n"
                     "connection: Keep-Alive,\r\n"
                     "  upgrade\r\n"
                     "Content-Length: 23\r\n"
                     "X-Served-By: web1\r\n"
                     "\r\n"
                     "body\r\nConnection: z\r\n\r\n");

    /* Asked, with nothing to add (lb's lines did not fit its own buffer): only stripped. */
    head = parsed_head(&t, "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n");
    t.len = answer_inject(t.b, t.len, head, t.cap, NULL, 0, true);
    assert_bytes(&t, "HTTP/1.1 200 OK\r\n\r\n");

    /* The first line is the status line, whatever it says. */
    static const char odd[] = "Connection: a\r\nConnection: b\r\n\r\n";
    memcpy(t.b, odd, sizeof odd - 1);
    t.len = answer_inject(t.b, sizeof odd - 1, sizeof odd - 1, t.cap, keep, sizeof keep - 1, true);
    assert_bytes(&t, "Connection: a\r\nX-Served-By: web1\r\n\r\n");
}

static void test_answer_inject_refuses_what_does_not_fit(void **state)
{
    (void)state;
    static const char ans[] = "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n"
                              "\r\nok";
    static const char extra[] = "X-Served-By: web1\r\n"; /* 19 bytes; the Connection line 24 */
    size_t len = sizeof ans - 1, head = len - 2;
    struct tbuf t, copy;

    /* One byte short: the buffer is left as it was, and nothing is written past cap. */
    tbuf_init(&t, len + sizeof extra - 2);
    memcpy(t.b, ans, len);
    copy = t;
    assert_int_equal(answer_inject(t.b, len, head, t.cap, extra, sizeof extra - 1, false), len);
    assert_memory_equal(t.b, copy.b, sizeof t.b);

    /* Exactly enough: done, up to the last byte. */
    tbuf_init(&t, len + sizeof extra - 1);
    memcpy(t.b, ans, len);
    t.len = answer_inject(t.b, len, head, t.cap, extra, sizeof extra - 1, false);
    assert_int_equal(t.len, t.cap);
    assert_bytes(&t, "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n"
                     "X-Served-By: web1\r\n\r\nok");
    assert_canary(&t);

    /* Stripping makes room: it fits. */
    tbuf_init(&t, len);
    memcpy(t.b, ans, len);
    t.len = answer_inject(t.b, len, head, t.cap, extra, sizeof extra - 1, true);
    assert_bytes(&t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Served-By: web1\r\n\r\nok");
    assert_canary(&t);

    /* Not even then: unchanged, the Connection line included. */
    static const char big[] = "X-Served-By: a-rather-long-node-name\r\n";
    tbuf_init(&t, len);
    memcpy(t.b, ans, len);
    copy = t;
    assert_int_equal(answer_inject(t.b, len, head, t.cap, big, sizeof big - 1, true), len);
    assert_memory_equal(t.b, copy.b, sizeof t.b);
}

static void test_answer_inject_needs_the_end_of_the_head(void **state)
{
    (void)state;
    static const char extra[] = "X-Served-By: web1\r\n";
    struct tbuf t, copy;
    /* The head's last line is a bare LF (llhttp takes it): lb leaves such a head alone, and
     * a CRLF CRLF or a Connection line in the body stays where it is. */
    static const char lf[] = "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 25\r\n"
                             "\nbody\r\n\r\nConnection: z\r\n\r\n";
    size_t head = parsed_head(&t, lf);
    assert_int_equal(head, strlen("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n"
                                  "Content-Length: 25\r\n\n"));
    copy = t;
    assert_int_equal(answer_inject(t.b, t.len, head, t.cap, extra, sizeof extra - 1, true), t.len);
    assert_memory_equal(t.b, copy.b, sizeof t.b);

    /* llhttp takes a CR and the byte after it for the end of an empty value: to it this head
     * has a Connection field and a Transfer-Encoding field, to a reader of lines one line.
     * Lines are stripped only where the two agree: here lb changes nothing. */
    static const char cr[] = "HTTP/1.1 200 OK\r\nConnection:\r\x12Transfer-Encoding: chunked\r\n"
                             "\r\n0\r\n\r\n";
    head = parsed_head(&t, cr);
    assert_int_equal(head, sizeof cr - 1 - 5);
    copy = t;
    assert_int_equal(answer_inject(t.b, t.len, head, t.cap, extra, sizeof extra - 1, true), t.len);
    assert_memory_equal(t.b, copy.b, sizeof t.b);
    /* Adding alone is safe: the head's end is llhttp's. */
    t.len = answer_inject(t.b, t.len, head, t.cap, extra, sizeof extra - 1, false);
    assert_bytes(&t, "HTTP/1.1 200 OK\r\nConnection:\r\x12Transfer-Encoding: chunked\r\n"
                     "X-Served-By: web1\r\n\r\n0\r\n\r\n");

    /* Not a head at all, or a head length that does not fit the bytes: unchanged. */
    static const char nohead[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n";
    size_t n = sizeof nohead - 1;
    const size_t heads[] = {0, 3, n, n + 1, 4096};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        tbuf_init(&t, CAP);
        memcpy(t.b, nohead, n);
        copy = t;
        if (answer_inject(t.b, n, heads[i], t.cap, extra, sizeof extra - 1, true) != n)
            fail_msg("head_len %zu: the length should stay %zu", heads[i], n);
        assert_memory_equal(t.b, copy.b, sizeof t.b);
    }
}

/* ---- answer_sets_forms_ticket ----------------------------------------------------------- */

static void test_answer_sets_forms_ticket(void **state)
{
    (void)state;
    static const struct {
        const char *cookies; /* Set-Cookie header lines */
        bool want;
    } cases[] = {
        {"Set-Cookie: .ASPXAUTH=0123ABCD; path=/; HttpOnly\r\n", true},
        {"Set-Cookie: myAUTHcookie=1\r\n", true},
        {"Set-Cookie: sid=1\r\nSet-Cookie: .ASPXAUTH=x\r\n", true},
        {"Set-Cookie: .ASPXAUTH=; expires=Mon, 11-Oct-1999 00:00:00 GMT; path=/\r\n", false},
        {"Set-Cookie: .ASPXAUTH=\r\n", false},
        {"Set-Cookie: .ASPXAUTH\r\n", false},
        {"Set-Cookie: .aspxauth=1\r\n", false}, /* the name's AUTH is upper case */
        {"Set-Cookie: sid=AUTH\r\n", false},    /* in the value only */
        {"Set-Cookie: ASP.NET_SessionId=abc\r\n", false},
        {"X-Set-Cookie: .ASPXAUTH=1\r\n", false},
        {"", false},
        /* the ninth Set-Cookie is not recorded, so not seen */
        {"Set-Cookie: a=1\r\nSet-Cookie: a=2\r\nSet-Cookie: a=3\r\nSet-Cookie: a=4\r\n"
         "Set-Cookie: a=5\r\nSet-Cookie: a=6\r\nSet-Cookie: a=7\r\nSet-Cookie: a=8\r\n"
         "Set-Cookie: .ASPXAUTH=9\r\n",
         false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        int n = snprintf(text, sizeof text, "HTTP/1.1 200 OK\r\n%sContent-Length: 0\r\n\r\n",
                         cases[i].cookies);
        struct answer a;
        struct tbuf t;
        answer_reset(&a);
        tbuf_init(&t, CAP);
        assert_int_equal(feed(&a, &t, text, (size_t)n, 0, false, NULL), ANSWER_DONE);
        if (answer_sets_forms_ticket(&a) != cases[i].want)
            fail_msg("case %zu (%s): expected %s", i, cases[i].cookies,
                     cases[i].want ? "a forms ticket" : "none");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_content_length),
        cmocka_unit_test(test_answer_chunked),
        cmocka_unit_test(test_answer_close_delimited_body_ends_at_eof),
        cmocka_unit_test(test_answer_in_one_byte_pieces),
        cmocka_unit_test(test_answer_interim_answers_are_dropped),
        cmocka_unit_test(test_answer_101_is_an_error),
        cmocka_unit_test(test_answer_no_body_for_head_204_304),
        cmocka_unit_test(test_answer_stray_bytes_are_cut),
        cmocka_unit_test(test_answer_set_cookie_up_to_the_maximum),
        cmocka_unit_test(test_answer_headers_found_in_any_case),
        cmocka_unit_test(test_answer_trailers_are_not_the_head),
        cmocka_unit_test(test_answer_malformed_is_an_error),
        cmocka_unit_test(test_answer_head_larger_than_the_buffer),
        cmocka_unit_test(test_answer_inject_before_the_final_crlf),
        cmocka_unit_test(test_answer_inject_strips_connection_only_when_asked),
        cmocka_unit_test(test_answer_inject_refuses_what_does_not_fit),
        cmocka_unit_test(test_answer_inject_needs_the_end_of_the_head),
        cmocka_unit_test(test_answer_sets_forms_ticket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
