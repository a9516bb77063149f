/* httpd: a small HTTP/1.1 server on libev, for sim-node's two roles (the web node and the
 * state server) and lb's admin API. One connection = one struct conn with its buffers, parser,
 * watchers and timers embedded; requests on a connection are handled one at a time, in order
 * (pipelining), and answered by a handler that fills a struct response.
 *
 * The response carries the node's fault controls: a delay, a hang, a reset part-way, a slow
 * body. Limits: header bytes (431), body bytes (413), header timeout (408), malformed (400);
 * idle keep-alive connections are closed after the idle timeout. Those answers of the
 * server's own say what was wrong in words (never llhttp's code names), as a line of text
 * or, with json_errors, as {"error": "..."}. */
#ifndef FARM_HTTPD_H
#define FARM_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <ev.h>

#include "buf.h"
#include "errbuf.h"
#include "http.h"

struct httpd;

/* What a handler sees of a request. Spans in req refer to buf. */
struct request_ctx {
    const struct http_request *req;
    const char *buf;
    const struct sockaddr_storage *peer;
    bool peer_is_loopback;
};

/* What a handler answers. The server writes the status line, head (header lines the handler
 * added, each ending in CRLF), Content-Length, Connection and body. */
struct response {
    int status;
    struct buf *head; /* borrowed from the connection, cleared before the handler runs */
    struct buf *body; /* likewise */
    bool close;       /* close the connection after this response */
    /* faults */
    double delay;    /* seconds to wait before sending */
    bool hang;       /* never answer (the connection stays open until the client goes) */
    bool reset;      /* send part of the response, then reset the connection */
    size_t slow_bps; /* send at most this many bytes per second (0: no limit) */
    struct httpd_stream *stream; /* set by response_stream() */
    void *owner;                 /* the connection (the server's, opaque) */
};

typedef void (*httpd_handler_fn)(void *app, const struct request_ctx *rq, struct response *rs);

/* A streamed answer (Server-Sent Events): no Content-Length, the connection stays open and
 * the application pushes more body with httpd_stream_send until it or the client closes.
 * The handle is valid until on_close(arg, s) runs (client gone, or httpd_stream_close). The
 * head gets "Cache-Control: no-cache" unless the handler added a Cache-Control of its own. */
struct httpd_stream;
struct httpd_stream *response_stream(struct response *rs,
                                     void (*on_close)(void *arg, struct httpd_stream *s),
                                     void *arg);
/* Bytes a stream may hold unsent before httpd_stream_send refuses more. */
#define HTTPD_STREAM_QUEUE_MAX (1024 * 1024)
/* Queue data (copied) to go out: 0, or -1 (nothing queued) when the stream is closed, out of
 * memory, or more than HTTPD_STREAM_QUEUE_MAX bytes wait for a client that does not read.
 * What was refused is the caller's to send again later (httpd_stream_queued tells when the
 * queue has drained) or to give up on. */
int httpd_stream_send(struct httpd_stream *s, const void *data, size_t len);
/* Bytes queued on the stream and not yet sent. */
size_t httpd_stream_queued(const struct httpd_stream *s);
void httpd_stream_close(struct httpd_stream *s);

struct httpd_opts {
    const char *listen; /* "127.0.0.1:0", "[::1]:8080" */
    struct http_limits limits;
    double header_timeout; /* seconds to receive a whole request head (408) */
    double idle_timeout;   /* seconds a keep-alive connection may sit idle */
    httpd_handler_fn handler;
    void *app;
    const char *error_headers; /* header lines (CRLF-ended) added to the server's own 4xx
                                  answers, e.g. "X-Farm-Node: web1\r\n"; may be NULL */
    bool json_errors; /* the server's own 4xx answers are {"error": "..."} (application/json)
                         instead of a line of text/plain */
};

struct httpd_stats {
    unsigned long long requests;
    unsigned long long connections;
    unsigned long long errors_4xx; /* 400/408/413/431 produced by the server itself */
    unsigned open_connections;
};

/* Bind, listen and start accepting on loop. Returns the server (owned; free with
 * httpd_free) or NULL with err filled. */
struct httpd *httpd_new(struct ev_loop *loop, const struct httpd_opts *o, struct errbuf *err);
void httpd_free(struct httpd *s);

/* The bound address as "host:port" (port 0 resolved). */
const char *httpd_address(const struct httpd *s);

/* Stop accepting; close idle connections; finish in-flight requests (answering with
 * Connection: close); call done(arg) once no connection is left. */
void httpd_drain(struct httpd *s, void (*done)(void *arg), void *arg);

const struct httpd_stats *httpd_stats(const struct httpd *s);

/* Helpers for handlers. */
int response_header(struct response *rs, const char *name, const char *value);
int response_headerf(struct response *rs, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Split "host:port" / "[v6]:port" into a sockaddr. Returns 0 or -1. */
int httpd_parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len);

#endif
