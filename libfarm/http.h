/* http: HTTP/1.1 request parsing over llhttp, for servers that keep a connection's bytes in
 * one buffer. Callbacks only record spans (offsets into the caller's buffer, so the buffer
 * may grow and move); the parser pauses at each message end, so pipelined requests are
 * handled one at a time; llhttp_should_keep_alive decides reuse. Bodies (Content-Length or
 * chunked) are copied into a per-request buffer because chunked bodies are not contiguous.
 *
 * Also: small helpers to read a request (header lookup, query and cookie parameters) and to
 * start a response. No sockets here. */
#ifndef FARM_HTTP_H
#define FARM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "buf.h"

#define HTTP_MAX_HEADERS 64

struct http_span {
    uint32_t off, len; /* into the buffer given to http_parser_feed */
};

struct http_header {
    struct http_span name, value;
};

struct http_limits {
    size_t max_header_bytes; /* request line + headers; past it: 431 */
    size_t max_body_bytes;   /* past it: 413 */
};

/* Why parsing stopped. */
enum http_feed {
    HTTP_FEED_MORE,    /* all bytes consumed, no complete request yet */
    HTTP_FEED_REQUEST, /* a complete request is ready (paused) */
    HTTP_FEED_ERROR,   /* malformed (400), too large (413/431): see error_status */
};

struct http_request {
    /* filled per message */
    int method; /* enum llhttp_method */
    int version_major, version_minor;
    bool keep_alive;
    struct http_span url;
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t n_headers;
    struct buf body;
    bool has_expect_continue; /* Expect: 100-continue (the server answers 100 first) */
};

struct http_parser {
    llhttp_t llhttp; /* embedded; data points back here */
    struct http_limits limits;
    const char *base;    /* the caller's buffer during a feed */
    size_t header_bytes; /* of the current message */
    bool in_headers;
    bool last_was_value; /* for header field/value pairing */
    bool started;        /* a message has begun */
    bool message_done;
    bool too_many_headers;
    int error_status; /* 400, 413, 431 once HTTP_FEED_ERROR */
    const char *error_reason;
    struct http_request req;
};

void http_parser_init(struct http_parser *p, const struct http_limits *limits);
void http_parser_cleanup(struct http_parser *p);

/* Parse buf[from..len) (buf holds the connection's unconsumed bytes from offset 0; spans
 * are relative to buf). *used gets how many bytes from `from` were consumed. After
 * HTTP_FEED_REQUEST, handle p->req, then call http_parser_next() before feeding the rest. */
enum http_feed http_parser_feed(struct http_parser *p, const char *buf, size_t from, size_t len,
                                size_t *used);

/* Ready for the next message on the same connection. */
void http_parser_next(struct http_parser *p);

/* Has the parser begun a message (bytes of a request seen, not yet complete)? */
bool http_parser_mid_message(const struct http_parser *p);

/* The two rules every farmlab server that reads requests follows (sim-node's httpd, lb):
 *
 * How long to wait for more of a request, in seconds (at least 1 ms). A request head must
 * be complete within header_timeout of its first byte, so a client that trickles bytes
 * (slowloris) does not push the deadline back; a body on its way, and an idle keep-alive
 * connection, get idle_timeout. *deadline keeps the head's deadline between calls (0: none)
 * and is cleared while idle. p may be NULL (no byte parsed yet); have_bytes: unparsed or
 * unanswered bytes are waiting. now: the loop's time. */
double http_read_timeout(const struct http_parser *p, bool have_bytes, double now,
                         double header_timeout, double idle_timeout, double *deadline);
/* Should "100 Continue" go out now? When the head is in, the client sent "Expect:
 * 100-continue" and its body has not come: true once per request (*sent remembers; the
 * caller clears it when the request is complete). */
bool http_continue_due(const struct http_parser *p, bool *sent);
#define HTTP_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/* Reading a parsed request (buf is the same buffer the spans refer to). */
const char *http_method_name(int method);
/* The value of the first header with this name (case-insensitive), or NULL; *len set. */
const char *http_header_get(const struct http_request *r, const char *buf, const char *name,
                            size_t *len);
/* The path part of the URL (before '?'), and the query (after '?', may be empty). */
/* Whether a request names this machine by address: its Host, if any, is an IP literal or
 * localhost (with an optional port), and so is its Origin, if it has one. A page in a
 * browser on this machine can send requests to loopback ports, but only with its own site's
 * name in Host (DNS rebinding) or Origin (a form post); control endpoints that trust a
 * loopback peer refuse those. */
bool http_request_is_local(const struct http_request *r, const char *buf);

void http_url_split(const struct http_request *r, const char *buf, const char **path,
                    size_t *path_len, const char **query, size_t *query_len);

/* Find a parameter in a query string or form body (a=b&c=d), percent-decoded (and '+' as
 * space) into out (NUL-terminated). Returns the decoded length or -1 if absent or too
 * long. */
long http_param(const char *query, size_t len, const char *name, char *out, size_t cap);

/* Find a cookie by name in a Cookie header value; returns a pointer into value and its
 * length, or NULL. */
const char *http_cookie(const char *value, size_t len, const char *name, size_t *out_len);

/* Does the Accept header prefer text/html over JSON (a browser)? */
bool http_prefers_html(const struct http_request *r, const char *buf);

/* Standard reason phrase. */
const char *http_reason(int status);

/* Append "HTTP/1.1 <status> <reason>\r\n" and, when close is true, "Connection: close". */
int http_start_response(struct buf *out, int status, bool close);

#endif
