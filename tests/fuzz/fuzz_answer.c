/* fuzz_answer: lb's parser of a node's answer (lb/answer.c) and the head edit answer_inject.
 *
 * The input is what one node sends on one connection after lb's request. Layout:
 *   byte 0   bits 0-2: how many piece sizes follow (0-7); bit 3: the request was HEAD (else
 *            GET); bit 4: lb closes the client (strip the node's Connection lines, add
 *            "Connection: close"); bits 5-6: how many X-Served-By-like lines lb adds (0-3);
 *            bit 7: lb adds its affinity Set-Cookie too
 *   byte 1   the tight capacity's shortfall for the second answer_inject (see below)
 *   then     the piece sizes (each byte + 1), then the node's bytes.
 *
 * The bytes are read the way bconn_read_cb reads them: into a buffer of BUF_CAP bytes of
 * which RESERVE stay free while the head is read (a head that does not fit fails the
 * answer), each read fed to answer_feed; when the head is complete lb's lines are injected,
 * and what the buffer holds is passed on and the buffer emptied. The stream is read twice:
 * in as large reads as the buffer takes, and in the input's piece sizes. The node closing
 * (answer_eof) follows the last byte. Invariants:
 *   - both reads end the same way (no head, head too large, error, complete, complete at the
 *     close, cut by the close), with the same status, head, recorded spans and keep-alive;
 *     when neither ended in an error, they passed on the same bytes (after an error, one
 *     passed on a prefix of the other's: how much went out before depends on the reads);
 *   - the buffer's length never grows past what was put in, nor past its capacity; every
 *     recorded span lies inside the head, and the head inside the buffer;
 *   - what was passed on of a complete answer is exactly one answer: parsed again in one
 *     piece it completes with nothing left over (and no interim answer in front);
 *   - answer_inject on a head that ends with CRLF CRLF gives: the head's lines in order,
 *     less (when stripping) exactly the Connection lines and their continuation lines, then
 *     lb's lines exactly once, then the final CRLF, then the body unchanged; parsed again,
 *     the same status, the same framing, and the head ends after lb's lines. It changes
 *     nothing on any other head, nor, when stripping, on a head with a CR not followed by
 *     an LF (llhttp reads lines there that lb would not). With a capacity
 *     too small it changes nothing, and never writes past the capacity (an exactly sized
 *     heap buffer: ASan sees a write past it).
 *
 * Differences allowed between the two reads, inherent in where reads end: stray_bytes (the
 * read that completes the answer may or may not carry bytes past its end), and, when the
 * bytes turn out not to be HTTP, how much was passed on before (a head that completes in
 * the read that holds the error is not passed on at all: lb answers 502 or retries). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"

#include "answer.h"

#define BUF_CAP   2048 /* lb's is 16 KiB; smaller here, so that heads reach the limit */
#define RESERVE   512  /* lb's INJECT_MAX: room kept for lb's lines while the head is read */
#define EXTRA_MAX 256

enum end {
    END_NO_HEAD,  /* the node closed before a head: lb retries or answers 502 */
    END_TOO_BIG,  /* the head did not fit */
    END_ERROR,    /* not HTTP */
    END_DONE,     /* complete */
    END_EOF_DONE, /* complete at the close (a body that runs until it) */
    END_CUT,      /* the close cut the answer short */
};

struct outcome {
    enum end end;
    bool head_seen; /* the head was complete in a read without error: lb passed it on */
    bool keep_alive, stray_bytes, forms_ticket;
    int status;
    size_t head_len;
    uint64_t head_digest; /* over the head's bytes and every recorded span's bytes */
    size_t n_set_cookie;
    char *passed; /* what went to the client */
    size_t n_passed;
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ull;
    return h ^ n;
}

static uint64_t mix_span(uint64_t h, const char *buf, struct http_span s, size_t head_len)
{
    FUZZ_CHECK(s.off + (size_t)s.len <= head_len, "a recorded span lies inside the head");
    return mix(h, buf + s.off, s.len);
}

/* The line at buf[i..) up to and with its LF (or to end). */
static size_t line_len(const char *buf, size_t i, size_t end)
{
    const char *nl = memchr(buf + i, '\n', end - i);
    return nl ? (size_t)(nl - (buf + i)) + 1 : end - i;
}

static bool is_connection_line(const char *s, size_t n)
{
    return n >= 11 && strncasecmp(s, "Connection:", 11) == 0;
}

/* answer_inject on buf[0..len) with the head buf[0..head_len): check the result against the
 * rules, independently of how answer_inject does it. */
static void check_inject(const char *buf, size_t len, size_t head_len, const char *extra, size_t n,
                         bool strip, size_t shortfall, bool request_was_head)
{
    size_t cap = len + n + RESERVE;
    char *out = malloc(cap);
    if (out == NULL)
        abort();
    memcpy(out, buf, len);
    size_t r = answer_inject(out, len, head_len, cap, extra, n, strip);
    FUZZ_CHECK(r <= cap, "answer_inject stays within the capacity");
    bool editable =
        head_len >= 4 && head_len <= len && memcmp(buf + head_len - 4, "\r\n\r\n", 4) == 0;
    /* Stripped only when every CR is followed by an LF. */
    for (size_t i = 0; editable && strip && i < head_len - 2; i++)
        if (buf[i] == '\r' && buf[i + 1] != '\n')
            editable = false;
    if (!editable || (n == 0 && !strip)) {
        FUZZ_CHECK(r == len && memcmp(out, buf, len) == 0,
                   "a head lb does not edit (no CRLF CRLF at its end, a bare CR where lines "
                   "are to be stripped) or nothing to do: unchanged");
        free(out);
        return;
    }
    /* The result, walked against the original: status line, kept lines, extra, CRLF, body. */
    size_t first = line_len(buf, 0, head_len - 2);
    FUZZ_CHECK(r >= first && memcmp(out, buf, first) == 0, "the status line is unchanged");
    size_t i = first, j = first, removed = 0;
    bool in_removed = false;
    while (i < head_len - 2) {
        size_t ll = line_len(buf, i, head_len - 2);
        bool folded = buf[i] == ' ' || buf[i] == '\t';
        bool conn = !folded && is_connection_line(buf + i, ll);
        bool goes = strip && (conn || (folded && in_removed));
        if (!folded)
            in_removed = goes;
        if (goes) {
            removed += ll;
        } else {
            FUZZ_CHECK(j + ll <= r && memcmp(out + j, buf + i, ll) == 0,
                       "every other header line stays, in order, byte for byte");
            j += ll;
        }
        i += ll;
    }
    size_t new_head = head_len - removed + n;
    FUZZ_CHECK(r == len - removed + n, "the length changes by what went in and out");
    FUZZ_CHECK(j + n + 2 == new_head && memcmp(out + j, extra, n) == 0,
               "lb's lines come once, right after the node's lines");
    FUZZ_CHECK(memcmp(out + new_head - 2, "\r\n", 2) == 0, "the head still ends with its CRLF");
    FUZZ_CHECK(memcmp(out + new_head, buf + head_len, len - head_len) == 0,
               "the body is unchanged");

    /* Parsed again: the same status, and the head ends where lb's lines put it. */
    struct answer a;
    answer_reset(&a);
    size_t rl = r;
    struct answer orig;
    answer_reset(&orig);
    char *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, buf, len);
    size_t cl = len;
    enum answer_state want = answer_feed(&orig, copy, &cl, 0, request_was_head);
    enum answer_state got = answer_feed(&a, out, &rl, 0, request_was_head);
    FUZZ_CHECK(got == want, "the edited answer parses as the original did");
    FUZZ_CHECK(a.head_done && a.status == orig.status && a.head_len == new_head,
               "the edited head parses to the same status, ending after lb's lines");
    FUZZ_CHECK(rl - new_head == cl - orig.head_len, "the edited answer frames the same body");
    free(copy);

    /* A capacity short of what the result needs: nothing changes, nothing past it. */
    size_t tight = r > shortfall ? r - shortfall : 0;
    if (tight >= len) {
        char *t = malloc(tight > 0 ? tight : 1);
        if (t == NULL)
            abort();
        memcpy(t, buf, len);
        size_t tr = answer_inject(t, len, head_len, tight, extra, n, strip);
        if (shortfall == 0)
            FUZZ_CHECK(tr == r && memcmp(t, out, r) == 0, "with just enough room: the same");
        else
            FUZZ_CHECK(tr == len && memcmp(t, buf, len) == 0, "without room: unchanged");
        free(t);
    }
    free(out);
}

struct lb_side {
    bool head_request, strip;
    const char *extra;
    size_t n_extra;
    uint8_t shortfall;
};

/* Read stream as bconn_read_cb does, in reads of at most the given sizes (none: as large as
 * the buffer takes). */
static void run(const uint8_t *stream, size_t size, const uint8_t *cuts, size_t n_cuts,
                const struct lb_side *lb, struct outcome *o)
{
    memset(o, 0, sizeof *o);
    o->passed = malloc(size + EXTRA_MAX + 1);
    char *buf = malloc(BUF_CAP);
    if (o->passed == NULL || buf == NULL)
        abort();
    struct answer a;
    answer_reset(&a);
    size_t len = 0, have = 0, cut = 0;
    o->end = END_NO_HEAD;
    for (;;) {
        size_t room = a.head_done ? BUF_CAP : BUF_CAP - RESERVE;
        if (len >= room) {
            FUZZ_CHECK(!a.head_done, "a full buffer only while the head is read");
            o->end = END_TOO_BIG;
            break;
        }
        if (have == size) {
            if (!a.head_done) {
                o->end = END_NO_HEAD;
            } else {
                enum answer_state st = answer_eof(&a);
                FUZZ_CHECK(st == ANSWER_DONE || st == ANSWER_ERROR, "eof: complete or cut");
                o->end = st == ANSWER_DONE ? END_EOF_DONE : END_CUT;
            }
            break;
        }
        size_t k = room - len;
        if (n_cuts && (size_t)cuts[cut % n_cuts] + 1 < k)
            k = (size_t)cuts[cut % n_cuts] + 1;
        cut++;
        if (size - have < k)
            k = size - have;
        memcpy(buf + len, stream + have, k);
        size_t start = len;
        len += k;
        have += k;
        bool had_head = a.head_done;
        enum answer_state st = answer_feed(&a, buf, &len, start, lb->head_request);
        FUZZ_CHECK(len <= start + k && len <= BUF_CAP, "the kept length never grows");
        if (st == ANSWER_ERROR) {
            o->end = END_ERROR;
            break;
        }
        FUZZ_CHECK(a.head_done == (st != ANSWER_MORE), "MORE exactly while the head is read");
        if (st == ANSWER_MORE)
            continue;
        if (!had_head) {
            FUZZ_CHECK(a.head_len > 0 && a.head_len <= len, "the head lies inside the buffer");
            uint64_t h = mix(0xcbf29ce484222325ull, buf, a.head_len);
            for (size_t i = 0; i < a.n_set_cookie; i++)
                h = mix_span(h, buf, a.set_cookie[i], a.head_len);
            h = mix_span(h, buf, a.location, a.head_len);
            h = mix_span(h, buf, a.farm_ticket, a.head_len);
            h = mix_span(h, buf, a.farm_session, a.head_len);
            h = mix_span(h, buf, a.farm_key, a.head_len);
            h = mix_span(h, buf, a.farm_user, a.head_len);
            FUZZ_CHECK(a.n_set_cookie <= ANSWER_SET_COOKIE_MAX, "Set-Cookie count in bounds");
            o->head_seen = true;
            o->head_digest = h;
            o->head_len = a.head_len;
            o->status = a.status;
            o->n_set_cookie = a.n_set_cookie;
            o->forms_ticket = answer_sets_forms_ticket(&a);
            check_inject(buf, len, a.head_len, lb->extra, lb->n_extra, lb->strip, lb->shortfall,
                         lb->head_request);
            /* As lb does: in place, with the capacity the buffer has. */
            len = answer_inject(buf, len, a.head_len, BUF_CAP, lb->extra, lb->n_extra, lb->strip);
            FUZZ_CHECK(len <= BUF_CAP, "the edited head fits the buffer");
        }
        memcpy(o->passed + o->n_passed, buf, len);
        o->n_passed += len;
        len = 0;
        if (st == ANSWER_DONE) {
            o->end = END_DONE;
            break;
        }
    }
    o->keep_alive = a.keep_alive;
    o->stray_bytes = a.stray_bytes;
    free(buf);
}

/* A complete answer passed on is one answer, and nothing else. */
static void check_passed(const struct outcome *o, bool request_was_head)
{
    if (o->end != END_DONE && o->end != END_EOF_DONE)
        return;
    char *copy = malloc(o->n_passed > 0 ? o->n_passed : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, o->passed, o->n_passed);
    struct answer a;
    answer_reset(&a);
    size_t len = o->n_passed;
    enum answer_state st = answer_feed(&a, copy, &len, 0, request_was_head);
    FUZZ_CHECK(len == o->n_passed, "what was passed on has nothing to drop or cut");
    FUZZ_CHECK(!a.stray_bytes, "no stray byte was passed on");
    if (o->end == END_EOF_DONE) {
        FUZZ_CHECK(st == ANSWER_BODY && answer_eof(&a) == ANSWER_DONE,
                   "a body that ran to the close does so again");
    } else {
        FUZZ_CHECK(st == ANSWER_DONE, "what was passed on is a complete answer");
    }
    FUZZ_CHECK(a.status == o->status, "with the same status");
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_INPUT_MAX)
        size = FUZZ_INPUT_MAX;
    if (size < 2)
        return 0;
    size_t n_cuts = data[0] & 7;
    if (size < 2 + n_cuts)
        return 0;
    struct lb_side lb = {
        .head_request = data[0] & 8,
        .strip = data[0] & 16,
        .shortfall = data[1],
    };
    /* lb's lines, as inject_headers writes them. */
    char extra[EXTRA_MAX];
    size_t n = 0;
    for (unsigned i = 0; i < ((data[0] >> 5) & 3u); i++)
        n += (size_t)snprintf(extra + n, sizeof extra - n, "X-Served-By: web%u-%02x\r\n", i,
                              data[1]);
    if (data[0] & 128)
        n += (size_t)snprintf(extra + n, sizeof extra - n,
                              "Set-Cookie: FARMLB=web1.%u; path=/; HttpOnly\r\n", data[1]);
    if (lb.strip)
        n += (size_t)snprintf(extra + n, sizeof extra - n, "Connection: close\r\n");
    lb.extra = extra;
    lb.n_extra = n;

    const uint8_t *cuts = data + 2;
    const uint8_t *stream = data + 2 + n_cuts;
    size_t len = size - 2 - n_cuts;

    struct outcome whole, pieces;
    run(stream, len, NULL, 0, &lb, &whole);
    run(stream, len, cuts, n_cuts, &lb, &pieces);
    FUZZ_CHECK(whole.end == pieces.end, "in large reads or small, the same ending");
    FUZZ_CHECK(whole.head_seen == pieces.head_seen || whole.end == END_ERROR,
               "the same head passed on (unless an error came in the same read)");
    if (whole.head_seen && pieces.head_seen) {
        FUZZ_CHECK(whole.status == pieces.status && whole.head_len == pieces.head_len &&
                       whole.head_digest == pieces.head_digest &&
                       whole.n_set_cookie == pieces.n_set_cookie &&
                       whole.forms_ticket == pieces.forms_ticket,
                   "the same status, head and recorded spans");
    }
    if (whole.end == END_DONE || whole.end == END_EOF_DONE)
        FUZZ_CHECK(whole.keep_alive == pieces.keep_alive, "the same keep-alive");
    if (whole.end != END_ERROR) {
        FUZZ_CHECK(whole.n_passed == pieces.n_passed &&
                       memcmp(whole.passed, pieces.passed, whole.n_passed) == 0,
                   "the same bytes passed on");
    } else {
        size_t k = whole.n_passed < pieces.n_passed ? whole.n_passed : pieces.n_passed;
        FUZZ_CHECK(memcmp(whole.passed, pieces.passed, k) == 0,
                   "before an error, one passed on a prefix of the other's");
    }
    check_passed(&whole, lb.head_request);
    check_passed(&pieces, lb.head_request);
    free(whole.passed);
    free(pieces.passed);
    return 0;
}
