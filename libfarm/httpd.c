#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* A connection's life: READING (waiting for or parsing a request), WAITING (a delayed or
 * hanging response), WRITING (sending a response), then READING again or closed. */
enum conn_state {
    CONN_READING,
    CONN_WAITING,
    CONN_WRITING,
};

struct conn {
    struct httpd *srv;
    int fd;
    enum conn_state state;
    ev_io rw;       /* read watcher */
    ev_io ww;       /* write watcher */
    ev_timer timer; /* header/idle timeout, response delay, slow-body pacing */
    struct sockaddr_storage peer;
    bool loopback;
    struct buf in;  /* unconsumed request bytes */
    size_t parsed;  /* bytes of in already given to the parser */
    size_t req_end; /* end of the current request in `in` */
    struct http_parser hp;
    struct buf out; /* the response being sent */
    size_t sent;
    struct buf head, body;
    struct response rs;
    bool close_after;
    bool peer_closed;
    bool streaming;         /* an answer pushed with httpd_stream_send */
    bool continue_sent;     /* "100 Continue" went out for this request */
    double header_deadline; /* when the current request head must be complete (0: none) */
    void (*on_close)(void *arg, struct httpd_stream *s);
    void *close_arg;
    struct conn *prev, *next;
};

struct httpd {
    struct ev_loop *loop;
    struct httpd_opts opts;
    int fd;
    ev_io accept_w;
    ev_timer accept_resume; /* out of descriptors: accepting pauses for a moment */
    struct conn *conns;
    struct httpd_stats stats;
    char address[80];
    bool draining;
    void (*drained)(void *);
    void *drained_arg;
};

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void conn_process(struct conn *c);

int httpd_parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *colon;
    memset(ss, 0, sizeof *ss);
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (end == NULL || end[1] != ':' || (size_t)(end - text - 1) >= sizeof host)
            return -1;
        memcpy(host, text + 1, (size_t)(end - text - 1));
        host[end - text - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL || (size_t)(colon - text) >= sizeof host)
            return -1;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
    }
    char *endp;
    long port = strtol(colon + 1, &endp, 10);
    if (*endp || port < 0 || port > 65535 || colon[1] == '\0')
        return -1;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
        return 0;
    }
    return -1;
}

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
        snprintf(out, cap, "%s:%u", host, ntohs(v4->sin_port));
    } else {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
        snprintf(out, cap, "[%s]:%u", host, ntohs(v6->sin6_port));
    }
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
        return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
        return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    }
    return false;
}

/* The one way a connection ends. */
static void conn_close(struct conn *c, bool reset)
{
    struct httpd *s = c->srv;
    if (c->streaming) {
        c->streaming = false;
        if (c->on_close)
            c->on_close(c->close_arg, (struct httpd_stream *)c);
    }
    ev_io_stop(s->loop, &c->rw);
    ev_io_stop(s->loop, &c->ww);
    ev_timer_stop(s->loop, &c->timer);
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(c->fd);
    c->fd = -1;
    http_parser_cleanup(&c->hp);
    buf_cleanup(&c->in);
    buf_cleanup(&c->out);
    buf_cleanup(&c->head);
    buf_cleanup(&c->body);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->stats.open_connections--;
    free(c);
    if (s->draining && s->conns == NULL && s->drained) {
        void (*done)(void *) = s->drained;
        s->drained = NULL;
        done(s->drained_arg);
    }
}

static void set_timer(struct conn *c, double after)
{
    ev_timer_stop(c->srv->loop, &c->timer);
    if (after > 0) {
        ev_timer_set(&c->timer, after, 0);
        ev_timer_start(c->srv->loop, &c->timer);
    }
}

/* Enter READING: read watcher on, the header or idle timeout armed. */
static void conn_reading(struct conn *c)
{
    struct httpd *s = c->srv;
    c->state = CONN_READING;
    ev_io_stop(s->loop, &c->ww);
    ev_io_start(s->loop, &c->rw);
    set_timer(c, http_read_timeout(&c->hp, c->in.len > 0, ev_now(s->loop), s->opts.header_timeout,
                                   s->opts.idle_timeout, &c->header_deadline));
}

/* Whether the handler's head lines (each "Name: value\r\n") include a header called name. */
static bool head_has(const struct buf *head, const char *name)
{
    size_t nlen = strlen(name);
    for (size_t at = 0; at < head->len;) {
        const char *line = head->data + at;
        const char *eol = memchr(line, '\n', head->len - at);
        size_t llen = eol ? (size_t)(eol - line) + 1 : head->len - at;
        if (llen > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0)
            return true;
        at += llen;
    }
    return false;
}

/* Build the bytes of rs into c->out. */
static void conn_build(struct conn *c, int method)
{
    struct response *rs = &c->rs;
    buf_clear(&c->out);
    c->sent = 0;
    bool close = rs->close || c->srv->draining || rs->stream;
    c->close_after = close;
    http_start_response(&c->out, rs->status, close);
    buf_append(&c->out, c->head.data ? c->head.data : "", c->head.len);
    if (rs->stream) {
        /* close-delimited; one Cache-Control, the handler's if it gave one */
        if (!head_has(&c->head, "Cache-Control"))
            buf_puts(&c->out, "Cache-Control: no-cache\r\n");
        buf_puts(&c->out, "\r\n");
    } else {
        buf_printf(&c->out, "Content-Length: %zu\r\n\r\n", c->body.len);
    }
    if (method != HTTP_HEAD)
        buf_append(&c->out, c->body.data ? c->body.data : "", c->body.len);
}

static void conn_writing(struct conn *c)
{
    /* A response built before a drain began (a delayed one) must still say it closes. */
    if (c->srv->draining && !c->close_after && c->sent == 0) {
        char *eol = strstr(c->out.data, "\r\n");
        static const char hdr[] = "Connection: close\r\n";
        if (eol && buf_reserve(&c->out, sizeof hdr - 1) == 0) {
            eol = strstr(c->out.data, "\r\n") + 2;
            size_t at = (size_t)(eol - c->out.data);
            memmove(c->out.data + at + sizeof hdr - 1, c->out.data + at, c->out.len - at + 1);
            memcpy(c->out.data + at, hdr, sizeof hdr - 1);
            c->out.len += sizeof hdr - 1;
            c->close_after = true;
        }
    }
    c->state = CONN_WRITING;
    ev_io_stop(c->srv->loop, &c->rw);
    ev_timer_stop(c->srv->loop, &c->timer);
    ev_io_start(c->srv->loop, &c->ww);
}

/* What llhttp found wrong, in words. The parser reports llhttp's code name (HPE_...) for
 * errors of llhttp's own; that is an internal name, not something to show a client. */
static const char *parse_error_text(llhttp_errno_t e)
{
    switch (e) {
    case HPE_INVALID_METHOD:
        return "invalid request method";
    case HPE_INVALID_URL:
        return "invalid request target";
    case HPE_INVALID_VERSION:
        return "invalid HTTP version";
    case HPE_INVALID_CONSTANT:
    case HPE_STRICT:
        return "invalid request line";
    case HPE_INVALID_HEADER_TOKEN:
        return "invalid character in a header";
    case HPE_INVALID_CONTENT_LENGTH:
        return "invalid Content-Length";
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        return "Content-Length together with Transfer-Encoding";
    case HPE_INVALID_TRANSFER_ENCODING:
        return "invalid Transfer-Encoding";
    case HPE_INVALID_CHUNK_SIZE:
        return "invalid chunk size";
    case HPE_CR_EXPECTED:
    case HPE_LF_EXPECTED:
        return "bad line ending";
    case HPE_UNEXPECTED_SPACE:
        return "unexpected space";
    default:
        return "malformed request";
    }
}

/* A response generated by the server itself (400, 408, 413, 431, ...): then close. */
static void conn_error(struct conn *c, int status, const char *reason)
{
    c->srv->stats.errors_4xx++;
    if (reason == NULL || reason[0] == '\0' || strncmp(reason, "HPE_", 4) == 0)
        reason = parse_error_text(llhttp_get_errno(&c->hp.llhttp));
    buf_clear(&c->head);
    buf_clear(&c->body);
    if (c->srv->opts.json_errors) {
        buf_puts(&c->head, "Content-Type: application/json\r\n");
        buf_puts(&c->body, "{\"error\":\"");
        buf_json(&c->body, reason, strlen(reason));
        buf_puts(&c->body, "\"}\n");
    } else {
        buf_puts(&c->head, "Content-Type: text/plain\r\n");
        buf_printf(&c->body, "%d %s: %s\n", status, http_reason(status), reason);
    }
    if (c->srv->opts.error_headers)
        buf_puts(&c->head, c->srv->opts.error_headers);
    memset(&c->rs, 0, sizeof c->rs);
    c->rs.status = status;
    c->rs.close = true;
    conn_build(c, HTTP_GET);
    conn_writing(c);
}

static void conn_dispatch(struct conn *c)
{
    struct httpd *s = c->srv;
    s->stats.requests++;
    buf_clear(&c->head);
    buf_clear(&c->body);
    memset(&c->rs, 0, sizeof c->rs);
    c->rs.status = 200;
    c->rs.head = &c->head;
    c->rs.body = &c->body;
    c->rs.owner = c;
    c->rs.close = !c->hp.req.keep_alive;
    struct request_ctx rq = {
        .req = &c->hp.req,
        .buf = c->in.data,
        .peer = &c->peer,
        .peer_is_loopback = c->loopback,
    };
    s->opts.handler(s->opts.app, &rq, &c->rs);
    conn_build(c, c->hp.req.method);
    if (c->rs.hang) {
        c->state = CONN_WAITING;
        ev_io_stop(s->loop, &c->rw);
        ev_timer_stop(s->loop, &c->timer);
        /* Watch for the client going away, nothing else. */
        ev_io_start(s->loop, &c->rw);
        return;
    }
    if (c->rs.delay > 0) {
        c->state = CONN_WAITING;
        ev_io_stop(s->loop, &c->rw);
        set_timer(c, c->rs.delay);
        return;
    }
    conn_writing(c);
}

/* Parse what we have; dispatch one request or wait for more. */
static void conn_process(struct conn *c)
{
    size_t used = 0;
    enum http_feed f = http_parser_feed(&c->hp, c->in.data, c->parsed, c->in.len, &used);
    c->parsed += used;
    switch (f) {
    case HTTP_FEED_MORE:
        if (c->peer_closed) {
            conn_close(c, false);
            return;
        }
        if (http_continue_due(&c->hp, &c->continue_sent)) {
            /* The head is in and the client waits for permission to send the body. */
            if (send(c->fd, HTTP_CONTINUE, sizeof HTTP_CONTINUE - 1, MSG_NOSIGNAL) < 0) {
                conn_close(c, false);
                return;
            }
        }
        conn_reading(c);
        return;
    case HTTP_FEED_REQUEST:
        c->req_end = c->parsed;
        c->header_deadline = 0;
        c->continue_sent = false;
        conn_dispatch(c);
        return;
    case HTTP_FEED_ERROR:
        conn_error(c, c->hp.error_status, c->hp.error_reason);
        return;
    }
}

/* After a response went out: next request, or close. */
static void conn_response_done(struct conn *c)
{
    if (c->close_after) {
        conn_close(c, false);
        return;
    }
    buf_consume(&c->in, c->req_end);
    c->parsed -= c->req_end;
    c->req_end = 0;
    http_parser_next(&c->hp);
    buf_clear(&c->body);
    if (c->srv->draining && c->in.len == 0) {
        conn_close(c, false);
        return;
    }
    conn_process(c);
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct conn *c = w->data;
    struct httpd *s = c->srv;
    size_t room = s->opts.limits.max_header_bytes + s->opts.limits.max_body_bytes + 4096;
    if (c->state != CONN_READING || c->streaming) {
        /* Hanging or streaming: only notice the peer leaving. */
        char tmp[512];
        ssize_t n = read(c->fd, tmp, sizeof tmp);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            conn_close(c, false);
        return;
    }
    if (buf_reserve(&c->in, 16384) != 0) {
        conn_close(c, true);
        return;
    }
    ssize_t n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        conn_close(c, false);
        return;
    }
    if (n == 0) {
        c->peer_closed = true;
        conn_close(c, false);
        return;
    }
    c->in.len += (size_t)n;
    c->in.data[c->in.len] = '\0';
    if (c->in.len > room) {
        conn_error(c, 413, "request too large");
        return;
    }
    conn_process(c);
}

static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct conn *c = w->data;
    size_t left = c->out.len - c->sent;
    size_t chunk = left;
    if (c->rs.reset)
        chunk = c->out.len / 2 > c->sent ? c->out.len / 2 - c->sent : 0;
    if (c->rs.slow_bps > 0) {
        size_t per_tick = c->rs.slow_bps / 10 ? c->rs.slow_bps / 10 : 1;
        if (chunk > per_tick)
            chunk = per_tick;
    }
    if (chunk > 0) {
        ssize_t n = send(c->fd, c->out.data + c->sent, chunk, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            conn_close(c, false);
            return;
        }
        c->sent += (size_t)n;
    }
    if (c->rs.reset && c->sent >= c->out.len / 2) {
        conn_close(c, true);
        return;
    }
    if (c->sent < c->out.len) {
        if (c->rs.slow_bps > 0) {
            /* Pace: stop writing, come back in 100 ms. */
            ev_io_stop(loop, &c->ww);
            set_timer(c, 0.1);
        }
        return;
    }
    ev_io_stop(loop, &c->ww);
    if (c->streaming) {
        /* Everything pushed so far is out; watch for the client leaving. */
        buf_clear(&c->out);
        c->sent = 0;
        ev_io_start(loop, &c->rw);
        return;
    }
    conn_response_done(c);
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct conn *c = w->data;
    switch (c->state) {
    case CONN_READING:
        if (http_parser_mid_message(&c->hp) || c->in.len > 0)
            conn_error(c, 408, "request header timeout");
        else
            conn_close(c, false); /* idle keep-alive connection */
        return;
    case CONN_WAITING: /* a delayed response is due */
        conn_writing(c);
        return;
    case CONN_WRITING: /* slow body pacing */
        ev_io_start(c->srv->loop, &c->ww);
        return;
    }
}

static void accept_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct httpd *s = w->data;
    if (s->fd >= 0 && !s->draining)
        ev_io_start(loop, &s->accept_w);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct httpd *s = w->data;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd = accept(s->fd, (struct sockaddr *)&peer, &plen);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: the listener stays readable, and a level-triggered
                 * watcher would spin. Pause accepting for a moment instead. */
                ev_io_stop(loop, w);
                ev_timer_set(&s->accept_resume, 0.1, 0);
                ev_timer_start(loop, &s->accept_resume);
            }
            return; /* EAGAIN: nothing more to accept now */
        }
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->srv = s;
        c->fd = fd;
        c->peer = peer;
        c->loopback = is_loopback(&peer);
        buf_init(&c->in);
        buf_init(&c->out);
        buf_init(&c->head);
        buf_init(&c->body);
        http_parser_init(&c->hp, &s->opts.limits);
        ev_io_init(&c->rw, conn_read_cb, fd, EV_READ);
        ev_io_init(&c->ww, conn_write_cb, fd, EV_WRITE);
        ev_init(&c->timer, conn_timer_cb);
        c->rw.data = c->ww.data = c->timer.data = c;
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        s->stats.connections++;
        s->stats.open_connections++;
        conn_reading(c);
        (void)loop;
    }
}

struct httpd *httpd_new(struct ev_loop *loop, const struct httpd_opts *o, struct errbuf *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (httpd_parse_addr(o->listen, &ss, &len) != 0) {
        errbuf_set(err, "--listen: not an address: '%s' (e.g. 127.0.0.1:0)", o->listen);
        return NULL;
    }
    struct httpd *s = calloc(1, sizeof *s);
    if (s == NULL) {
        errbuf_set(err, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->opts = *o;
    s->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (s->fd < 0 || setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(s->fd, (struct sockaddr *)&ss, len) != 0 || listen(s->fd, 1024) != 0) {
        errbuf_set(err, "cannot listen on %s: %s", o->listen, strerror(errno));
        goto fail;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    getsockname(s->fd, (struct sockaddr *)&bound, &blen);
    format_addr(&bound, s->address, sizeof s->address);
    ev_io_init(&s->accept_w, accept_cb, s->fd, EV_READ);
    s->accept_w.data = s;
    ev_init(&s->accept_resume, accept_resume_cb);
    s->accept_resume.data = s;
    ev_io_start(loop, &s->accept_w);
    return s;
fail:
    if (s->fd >= 0)
        close(s->fd);
    free(s);
    return NULL;
}

void httpd_free(struct httpd *s)
{
    if (s == NULL)
        return;
    s->drained = NULL;
    while (s->conns)
        conn_close(s->conns, false);
    ev_io_stop(s->loop, &s->accept_w);
    ev_timer_stop(s->loop, &s->accept_resume);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

const char *httpd_address(const struct httpd *s)
{
    return s->address;
}

const struct httpd_stats *httpd_stats(const struct httpd *s)
{
    return &s->stats;
}

void httpd_drain(struct httpd *s, void (*done)(void *arg), void *arg)
{
    s->draining = true;
    s->drained = done;
    s->drained_arg = arg;
    ev_io_stop(s->loop, &s->accept_w);
    ev_timer_stop(s->loop, &s->accept_resume);
    close(s->fd);
    s->fd = -1;
    /* Idle connections go now; busy ones finish their response with Connection: close. */
    struct conn *c = s->conns;
    while (c) {
        struct conn *next = c->next;
        if (c->state == CONN_READING && !http_parser_mid_message(&c->hp) && c->in.len == 0)
            conn_close(c, false);
        c = next;
    }
    if (s->conns == NULL && s->drained) {
        s->drained = NULL;
        done(arg);
    }
}

struct httpd_stream *response_stream(struct response *rs,
                                     void (*on_close)(void *arg, struct httpd_stream *s), void *arg)
{
    struct conn *c = rs->owner;
    c->streaming = true;
    c->on_close = on_close;
    c->close_arg = arg;
    rs->stream = (struct httpd_stream *)c;
    return rs->stream;
}

int httpd_stream_send(struct httpd_stream *s, const void *data, size_t len)
{
    struct conn *c = (struct conn *)s;
    if (!c->streaming)
        return -1;
    if (c->sent > 0) {
        buf_consume(&c->out, c->sent);
        c->sent = 0;
    }
    if (c->out.len > HTTPD_STREAM_QUEUE_MAX)
        return -1; /* a client that does not read: refuse data rather than grow */
    if (buf_append(&c->out, data, len) != 0)
        return -1;
    if (c->state == CONN_WRITING)
        ev_io_start(c->srv->loop, &c->ww);
    return 0;
}

size_t httpd_stream_queued(const struct httpd_stream *s)
{
    const struct conn *c = (const struct conn *)s;
    return c->out.len - c->sent;
}

void httpd_stream_close(struct httpd_stream *s)
{
    conn_close((struct conn *)s, false);
}

int response_header(struct response *rs, const char *name, const char *value)
{
    return buf_printf(rs->head, "%s: %s\r\n", name, value);
}

int response_headerf(struct response *rs, const char *name, const char *fmt, ...)
{
    va_list ap;
    if (buf_printf(rs->head, "%s: ", name) != 0)
        return -1;
    va_start(ap, fmt);
    int rc = buf_vprintf(rs->head, fmt, ap);
    va_end(ap);
    if (rc != 0)
        return -1;
    return buf_puts(rs->head, "\r\n");
}
