/* answer: the parser of a node's answer to a request lb passed on, and the edit of its head.
 *
 * A node is another program, possibly a broken or hostile one, and its answer is streamed to
 * a client whose connection lb keeps: lb must know exactly where the answer ends, or the
 * client's next answer would start with the rest of this one. So llhttp frames it, in the
 * node connection's own buffer, and this module turns llhttp's callbacks into a few facts:
 *
 *   - spans of the head lb looks at (Set-Cookie, Location, X-Farm-*): recorded while the
 *     head arrives, each field name compared only when its length matches;
 *   - where the head ends (the parser pauses there once) and where the answer ends (it
 *     pauses there too, so bytes after the end are cut off, never passed on);
 *   - interim answers (100 Continue, 103 Early Hints): lb answered the client's expectation
 *     itself, so these are dropped from the buffer's front and the real answer follows;
 *   - answers without a body (to HEAD; 1xx, 204, 304), and the end of a body that runs
 *     until the node closes.
 *
 * answer_inject edits a complete head in place: lb's extra header lines go just before the
 * final CRLF; when lb closes the client after the answer, the node's Connection lines go. */
#include "answer.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

/* ---- llhttp callbacks: record spans, find the ends -------------------------------------- */

static void span_extend(struct http_span *s, const char *base, const char *at, size_t len)
{
    if (s->len == 0)
        s->off = (uint32_t)(at - base);
    s->len += (uint32_t)len;
}

/* llhttp calls the header callbacks for a chunked body's trailer fields too: those are not
 * the head's, and lb passes them on unread (they are not where the head's spans point). */
static int answer_on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct answer *a = p->data;
    if (a->head_done)
        return 0;
    if (a->in_value) {
        a->cur_field.off = a->cur_field.len = 0;
        a->in_value = false;
    }
    span_extend(&a->cur_field, a->buf, at, len);
    return 0;
}

/* The current field's name is `name` (n bytes), in any case. The length first: most fields
 * are none of those looked for, and most differ in length. */
static bool field_is(const struct answer *a, const char *name, size_t n)
{
    return a->cur_field.len == n && strncasecmp(a->buf + a->cur_field.off, name, n) == 0;
}

#define FIELD_IS(a, lit) field_is((a), (lit), sizeof(lit) - 1)

static int answer_on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct answer *a = p->data;
    if (a->head_done)
        return 0;
    if (!a->in_value) {
        a->in_value = true;
        a->cur_value = NULL;
        if (FIELD_IS(a, "Set-Cookie")) {
            if (a->n_set_cookie < ANSWER_SET_COOKIE_MAX) {
                a->cur_value = &a->set_cookie[a->n_set_cookie++];
                a->cur_value->off = a->cur_value->len = 0;
            }
        } else if (FIELD_IS(a, "Location")) {
            a->cur_value = &a->location;
        } else if (FIELD_IS(a, "X-Farm-Ticket")) {
            a->cur_value = &a->farm_ticket;
        } else if (FIELD_IS(a, "X-Farm-Session")) {
            a->cur_value = &a->farm_session;
        } else if (FIELD_IS(a, "X-Farm-Key")) {
            a->cur_value = &a->farm_key;
        } else if (FIELD_IS(a, "X-Farm-User")) {
            a->cur_value = &a->farm_user;
        }
    }
    if (a->cur_value)
        span_extend(a->cur_value, a->buf, at, len);
    return 0;
}

/* Pauses, so that answer_feed learns where the head ends (llhttp gives this callback no
 * position); llhttp resumes after it as after a return of 0, or of 1 with F_SKIPBODY set. */
static int answer_on_headers_complete(llhttp_t *p)
{
    struct answer *a = p->data;
    a->status = llhttp_get_status_code(p);
    /* 101 Switching Protocols: lb asked no node to switch (it leaves a request's upgrade
     * out) and tunnels no other protocol; a node that switches anyway is not answering in
     * HTTP. */
    if (a->status == 101)
        return -1;
    a->head_done = true;
    a->at_head_end = true;
    /* Answers to HEAD, 1xx, 204 and 304 have no body, whatever their Content-Length says
     * (RFC 9112 6.3). */
    if (a->request_was_head || (a->status >= 100 && a->status < 200) || a->status == 204 ||
        a->status == 304)
        p->flags |= F_SKIPBODY;
    return HPE_PAUSED;
}

static int answer_on_message_complete(llhttp_t *p)
{
    struct answer *a = p->data;
    if (a->status >= 100 && a->status < 200) {
        /* An interim answer (100 Continue): lb already answered the client's expectation
         * itself, so answer_feed drops these bytes (and what was recorded of their head);
         * the real answer follows. */
        a->head_done = false;
        a->interim = true;
        return HPE_PAUSED;
    }
    a->resp_done = true;
    a->keep_alive = llhttp_should_keep_alive(p);
    return HPE_PAUSED;
}

static const llhttp_settings_t answer_settings = {
    .on_header_field = answer_on_header_field,
    .on_header_value = answer_on_header_value,
    .on_headers_complete = answer_on_headers_complete,
    .on_message_complete = answer_on_message_complete,
};

/* What was recorded of a head: none of it. */
static void answer_forget_head(struct answer *a)
{
    a->n_set_cookie = 0;
    memset(&a->location, 0, sizeof a->location);
    memset(&a->farm_ticket, 0, sizeof a->farm_ticket);
    memset(&a->farm_session, 0, sizeof a->farm_session);
    memset(&a->farm_key, 0, sizeof a->farm_key);
    memset(&a->farm_user, 0, sizeof a->farm_user);
    memset(&a->cur_field, 0, sizeof a->cur_field);
    a->in_value = false;
}

void answer_reset(struct answer *a)
{
    llhttp_init(&a->parser, HTTP_RESPONSE, &answer_settings);
    a->parser.data = a;
    a->buf = NULL;
    a->request_was_head = false;
    a->head_done = a->resp_done = a->interim = a->at_head_end = false;
    a->keep_alive = a->stray_bytes = false;
    a->status = 0;
    a->head_len = 0;
    answer_forget_head(a);
    a->cur_value = NULL;
}

/* ---- feeding ---------------------------------------------------------------------------- */

enum answer_state answer_feed(struct answer *a, char *buf, size_t *len, size_t start,
                              bool request_was_head)
{
    a->buf = buf;
    a->request_was_head = request_was_head;
    size_t at = start;
    llhttp_errno_t e = llhttp_execute(&a->parser, buf + at, *len - at);
    while (e == HPE_PAUSED) {
        at = (size_t)(llhttp_get_error_pos(&a->parser) - buf);
        if (a->at_head_end) {
            /* The end of a head: note it, go on (with no byte left, too: an answer without
             * a body completes only now). */
            a->at_head_end = false;
            a->head_len = at;
            llhttp_resume(&a->parser);
            e = llhttp_execute(&a->parser, buf + at, *len - at);
        } else if (a->interim) {
            /* Drop the interim answer (it starts the buffer: nothing was passed on yet). */
            memmove(buf, buf + at, *len - at);
            *len -= at;
            a->interim = false;
            answer_forget_head(a);
            llhttp_resume(&a->parser);
            e = *len ? llhttp_execute(&a->parser, buf, *len) : HPE_OK;
        } else {
            /* The end of the answer. Bytes after it are not ours: a misbehaving node. */
            if (at < *len) {
                *len = at;
                a->stray_bytes = true; /* the node's connection is not reused */
            }
            return ANSWER_DONE;
        }
    }
    if (e != HPE_OK)
        return ANSWER_ERROR;
    return a->head_done ? ANSWER_BODY : ANSWER_MORE;
}

enum answer_state answer_eof(struct answer *a)
{
    /* A close-delimited body ends here: llhttp_finish completes it (and is a no-op once the
     * parser paused at the answer's end). */
    llhttp_finish(&a->parser);
    if (a->resp_done)
        return ANSWER_DONE;
    if (a->head_done && llhttp_message_needs_eof(&a->parser)) {
        a->resp_done = true;
        return ANSWER_DONE;
    }
    return ANSWER_ERROR; /* the node died mid-answer */
}

/* ---- what the head says ----------------------------------------------------------------- */

static bool contains(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(s + i, needle, k) == 0)
            return true;
    return false;
}

bool answer_sets_forms_ticket(const struct answer *a)
{
    for (size_t i = 0; i < a->n_set_cookie; i++) {
        const char *v = a->buf + a->set_cookie[i].off;
        size_t vlen = a->set_cookie[i].len;
        const char *eq = memchr(v, '=', vlen);
        if (eq && eq + 1 < v + vlen && eq[1] != ';' && contains(v, (size_t)(eq - v), "AUTH"))
            return true;
    }
    return false;
}

/* ---- lb's header lines ------------------------------------------------------------------ */

/* The head's lines buf[0..end) (end: where its final CRLF starts), the status line first.
 * lb's reading of them, lines that end at an LF, is llhttp's only when every CR is followed
 * by an LF: llhttp takes a CR and any byte after it for the end of a status line or of an
 * empty value ("Connection:\r\x12Transfer-Encoding: chunked" is two header fields to
 * llhttp, one line to a reader of lines). */
static size_t next_line(const char *buf, size_t i, size_t end)
{
    const char *nl = memchr(buf + i, '\n', end - i);
    return nl ? (size_t)(nl - (buf + i)) + 1 : end - i;
}

/* A header line that goes when lb strips the Connection header: the field's first line,
 * and the continuation lines (obs-fold: starting with a space or a tab) after it. */
static bool line_goes(const char *line, size_t ll, bool *in_connection)
{
    if (line[0] != ' ' && line[0] != '\t')
        *in_connection = ll >= 11 && strncasecmp(line, "Connection:", 11) == 0;
    return *in_connection;
}

/* How many bytes of Connection lines the head's header lines hold (0 or more); SIZE_MAX
 * when a CR in the head is not followed by an LF. */
static size_t connection_bytes(const char *buf, size_t end)
{
    size_t bytes = 0;
    bool in_connection = false;
    for (size_t i = 0, ll; i < end; i += ll) {
        ll = next_line(buf, i, end);
        const char *cr = memchr(buf + i, '\r', ll);
        if (cr != NULL && cr != buf + i + ll - 2)
            return SIZE_MAX; /* a CR that does not end its line (each ends with an LF) */
        if (i > 0 && line_goes(buf + i, ll, &in_connection))
            bytes += ll;
    }
    return bytes;
}

/* Takes the Connection lines out of the head's header lines (checked by connection_bytes),
 * moving the rest of buf[0..len) down in one pass. Returns the new length. */
static size_t strip_connection_lines(char *buf, size_t len, size_t end)
{
    bool in_connection = false;
    size_t w = next_line(buf, 0, end); /* the status line stays */
    for (size_t i = w, ll; i < end; i += ll) {
        ll = next_line(buf, i, end);
        if (line_goes(buf + i, ll, &in_connection))
            continue;
        if (w != i)
            memmove(buf + w, buf + i, ll);
        w += ll;
    }
    if (w != end)
        memmove(buf + w, buf + end, len - end);
    return len - (end - w);
}

size_t answer_inject(char *buf, size_t len, size_t head_len, size_t cap, const char *extra,
                     size_t n, bool strip_connection)
{
    if (n == 0 && !strip_connection)
        return len;
    /* Not a head lb knows how to edit: it goes out as it is. */
    if (head_len < 4 || head_len > len || len > cap ||
        memcmp(buf + head_len - 4, "\r\n\r\n", 4) != 0)
        return len;
    size_t end = head_len - 2; /* where the final CRLF starts */
    if (strip_connection) {
        size_t bytes = connection_bytes(buf, end);
        if (bytes == SIZE_MAX || len - bytes + n > cap)
            return len; /* lines lb cannot strip, or no room: change nothing */
        if (bytes > 0) {
            len = strip_connection_lines(buf, len, end);
            end -= bytes;
        }
    } else if (len + n > cap) {
        return len; /* no room: add nothing rather than half */
    }
    if (n > 0) {
        memmove(buf + end + n, buf + end, len - end);
        memcpy(buf + end, extra, n);
    }
    return len + n;
}
