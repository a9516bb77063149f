/* fuzz_http: the HTTP/1.x request parser that lb and sim-node put in front of every client.
 *
 * The input is a byte stream from one client connection. It is parsed twice: in one piece,
 * and fed in pieces whose sizes come from the input itself (as a connection delivers it),
 * into an exactly sized heap copy, the way lb and sim-node keep a connection's bytes.
 * Invariants:
 *   - the two parses agree: the same sequence of requests (method, version, URL, headers,
 *     body, keep-alive), then the same ending (more needed, or the same error status; only
 *     "too large" and "malformed" may trade places, see below);
 *   - every span lies inside the bytes consumed so far;
 *   - what a request passes on is what lb's framing rules promise: HTTP/1.0 or 1.1, never
 *     CONNECT, no white space in a field name, no line break in a field value (obsolete line
 *     folding is refused), a body within the limit;
 *   - an error carries a status lb knows how to answer. */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"

#include "http.h"

#define MAX_REQUESTS 64

struct seen {
    int method, major, minor;
    bool keep_alive;
    size_t url_off, url_len, n_headers, body_len;
    uint64_t digest; /* over header names and values, and the body */
};

struct outcome {
    struct seen req[MAX_REQUESTS];
    size_t n;
    enum http_feed end;
    int status;
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ull;
    return h ^ n;
}

static void check_request(const struct http_parser *p, const char *buf, size_t consumed,
                          struct seen *out)
{
    const struct http_request *r = &p->req;
    FUZZ_CHECK(r->url.off + r->url.len <= consumed, "the URL lies inside the consumed bytes");
    FUZZ_CHECK(r->version_major == 1 && r->version_minor <= 1, "only HTTP/1.0 and 1.1 pass");
    FUZZ_CHECK(r->method != HTTP_CONNECT, "CONNECT never passes");
    FUZZ_CHECK(r->n_headers <= HTTP_MAX_HEADERS, "the header count stays in bounds");
    FUZZ_CHECK(r->body.len <= p->limits.max_body_bytes, "the body stays within the limit");
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < r->n_headers; i++) {
        const struct http_header *hd = &r->headers[i];
        FUZZ_CHECK(hd->name.off + hd->name.len <= consumed, "a name lies inside the bytes");
        FUZZ_CHECK(hd->value.off + hd->value.len <= consumed, "a value lies inside the bytes");
        FUZZ_CHECK(memchr(buf + hd->name.off, ' ', hd->name.len) == NULL &&
                       memchr(buf + hd->name.off, '\t', hd->name.len) == NULL,
                   "no white space in a field name");
        FUZZ_CHECK(memchr(buf + hd->value.off, '\n', hd->value.len) == NULL &&
                       memchr(buf + hd->value.off, '\r', hd->value.len) == NULL,
                   "no line break in a field value (no obs-fold)");
        h = mix(h, buf + hd->name.off, hd->name.len);
        h = mix(h, buf + hd->value.off, hd->value.len);
    }
    h = mix(h, r->body.data ? r->body.data : "", r->body.len);
    memset(out, 0, sizeof *out); /* padding too: outcomes are compared with memcmp */
    out->method = r->method;
    out->major = r->version_major;
    out->minor = r->version_minor;
    out->keep_alive = r->keep_alive;
    out->url_off = r->url.off;
    out->url_len = r->url.len;
    out->n_headers = r->n_headers;
    out->body_len = r->body.len;
    out->digest = h;
}

/* Parse data as it arrives in pieces of the given sizes (0: all at once). Requests are
 * consumed as lb does: the buffer keeps every byte, offsets are absolute. */
static void parse(const uint8_t *data, size_t size, const uint8_t *cuts, size_t n_cuts,
                  struct outcome *o)
{
    struct http_limits lim = {.max_header_bytes = 2048, .max_body_bytes = 4096};
    struct http_parser p;
    http_parser_init(&p, &lim);
    char *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL)
        abort();
    memcpy(buf, data, size);
    memset(o, 0, sizeof *o);
    o->end = HTTP_FEED_MORE;
    size_t have = 0, parsed = 0, cut = 0;
    while (have < size) {
        size_t step = n_cuts ? (size_t)cuts[cut++ % n_cuts] + 1 : size;
        have = have + step < size ? have + step : size;
        for (;;) {
            size_t used = 0;
            enum http_feed f = http_parser_feed(&p, buf, parsed, have, &used);
            FUZZ_CHECK(parsed + used <= have, "the parser consumes only what it was given");
            parsed += used;
            if (f == HTTP_FEED_MORE)
                break;
            if (f == HTTP_FEED_ERROR) {
                FUZZ_CHECK(p.error_status == 400 || p.error_status == 413 ||
                               p.error_status == 431 || p.error_status == 501 ||
                               p.error_status == 505,
                           "an error has a status lb answers");
                o->end = f;
                o->status = p.error_status;
                goto done;
            }
            if (o->n < MAX_REQUESTS)
                check_request(&p, buf, parsed, &o->req[o->n]);
            o->n++;
            http_parser_next(&p);
        }
    }
done:
    http_parser_cleanup(&p);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_INPUT_MAX)
        size = FUZZ_INPUT_MAX;
    /* The first bytes choose the piece sizes; the rest is the stream. */
    size_t n_cuts = size > 0 ? data[0] % 8 : 0;
    if (size < 1 + n_cuts)
        return 0;
    const uint8_t *cuts = data + 1;
    const uint8_t *stream = data + 1 + n_cuts;
    size_t len = size - 1 - n_cuts;

    static struct outcome whole, pieces;
    parse(stream, len, NULL, 0, &whole);
    parse(stream, len, cuts, n_cuts, &pieces);
    FUZZ_CHECK(whole.n == pieces.n, "in one piece or many, the same number of requests");
    for (size_t i = 0; i < whole.n && i < MAX_REQUESTS; i++)
        FUZZ_CHECK(memcmp(&whole.req[i], &pieces.req[i], sizeof whole.req[i]) == 0,
                   "in one piece or many, the same requests");
    /* Which of two faults is found first may depend on the pieces: the head's size is
     * counted as spans end, and a span ends at a piece's end, so a malformed head past the
     * size limit may read 431 in pieces and 400 in one. Any other difference is a bug. */
    bool limit_vs_malformed = (whole.status == 400 && pieces.status == 431) ||
                              (whole.status == 431 && pieces.status == 400);
    FUZZ_CHECK(whole.end == pieces.end && (whole.status == pieces.status || limit_vs_malformed),
               "in one piece or many, the same ending");
    return 0;
}
