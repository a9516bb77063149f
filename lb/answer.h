/* answer: reading a node's answer to one request, and the headers lb adds to it.
 *
 * lb streams an answer from the node's buffer to the client as it arrives; this module tells
 * it where the answer stands. It parses the bytes in place (llhttp, no copy, no allocation),
 * records spans of the head lb looks at (status, Set-Cookie, Location, X-Farm-*), drops
 * interim 1xx answers from the front of the buffer, finds the answer's end and cuts off
 * whatever the node sent after it. answer_inject puts lb's own header lines into a complete
 * head. No I/O: proxy.c reads and writes, this only looks at and moves bytes it is given. */
#ifndef LB_ANSWER_H
#define LB_ANSWER_H

#include <stdbool.h>
#include <stddef.h>

#include <llhttp.h>

#include "http.h"

/* Set-Cookie headers recorded per answer; later ones are passed on but not looked at. */
#define ANSWER_SET_COOKIE_MAX 8

enum answer_state {
    ANSWER_MORE,  /* the head is not complete yet: read on */
    ANSWER_BODY,  /* the head is complete (now or before); more of the body is to come */
    ANSWER_DONE,  /* the whole answer is in the buffer (or went out before) */
    ANSWER_ERROR, /* not an HTTP answer (answer_feed), or cut short (answer_eof) */
};

/* One answer. Embedded in the node connection; answer_reset before each request's answer.
 * Spans are offsets into the caller's buffer (the one given to answer_feed) and hold while
 * the head is at its start, that is until the caller drops bytes after head_done. */
struct answer {
    llhttp_t parser;
    const char *buf;       /* borrowed: the buffer of the last answer_feed */
    bool request_was_head; /* the answer is to a HEAD request: no body */
    bool head_done;        /* the (final) head is complete */
    bool resp_done;        /* the whole answer has been read */
    bool keep_alive;       /* the node keeps the connection (when resp_done) */
    bool stray_bytes;      /* the node sent bytes after its answer: they were cut off */
    bool interim;          /* paused after a 1xx answer, which the feed drops */
    bool at_head_end;      /* paused at the end of a head, to note head_len */
    int status;            /* the head's status (of the last 1xx while one is dropped) */
    size_t head_len;       /* when head_done: the head is buf[0..head_len) */
    struct http_span set_cookie[ANSWER_SET_COOKIE_MAX]; /* values */
    size_t n_set_cookie;
    struct http_span location, farm_ticket, farm_session, farm_key, farm_user; /* values */
    /* the header being parsed */
    struct http_span cur_field;
    bool in_value;
    struct http_span *cur_value; /* where its value goes; NULL: not recorded */
};

/* Ready for a new answer. */
void answer_reset(struct answer *a);

/* Parse buf[start..*len), the bytes just added to what the buffer holds of this answer
 * (buf[0..start), already fed). buf is borrowed, and must be the buffer the earlier feeds of
 * this answer saw (with its bytes moved only as this function moves them) until the head
 * is complete; after that the caller may empty it and start each feed at 0.
 *
 * Moves bytes only in two ways: an interim answer (1xx) found at the front of the buffer is
 * dropped, the rest moved down over it (its spans with it: the next head starts at 0);
 * bytes after the end of the answer are cut off (*len shrinks, stray_bytes is set). Answers
 * to HEAD, 1xx, 204 and 304 have no body, whatever their framing headers say.
 *
 * Returns ANSWER_MORE, ANSWER_BODY or ANSWER_DONE (keep_alive then says whether the node
 * keeps the connection), or ANSWER_ERROR when the bytes are not an HTTP answer, a 101
 * Switching Protocols included (lb tunnels no other protocol). */
enum answer_state answer_feed(struct answer *a, char *buf, size_t *len, size_t start,
                              bool request_was_head);

/* The node closed its side. Returns ANSWER_DONE when the answer is complete (it already
 * was, or its body runs until the close), else ANSWER_ERROR: the answer was cut short. */
enum answer_state answer_eof(struct answer *a);

/* The answer sets a forms ticket: a Set-Cookie (among those recorded) whose name contains
 * AUTH, with a non-empty value. Reads the buffer of the last answer_feed. */
bool answer_sets_forms_ticket(const struct answer *a);

/* Put extra[0..n) (header lines, each ending in CRLF) into the head buf[0..head_len) (as
 * answer_feed found it) just before its final CRLF, moving the rest of buf[0..len) up; with
 * strip_connection, also take out the head's Connection header lines (and their obs-fold
 * continuation lines). cap is buf's size and is never written past. Returns the new length;
 * len, with buf untouched, when the head does not end with CRLF CRLF, when it is to be
 * stripped but has a CR not followed by an LF (where llhttp's lines and lb's would differ),
 * or when the result would not fit in cap. */
size_t answer_inject(char *buf, size_t len, size_t head_len, size_t cap, const char *extra,
                     size_t n, bool strip_connection);

#endif
