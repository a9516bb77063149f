/* proxy: client connections, backend connections and the requests between them.
 *
 * A request is read whole (head and body, within the limits) before it is sent: it can then
 * be retried on another node while no byte of the answer has reached the client, and a slow
 * client never holds a backend connection. The answer is streamed back as it arrives, with
 * backpressure: the backend is read only while the client keeps up. Backend connections are
 * kept alive and reused per node.
 *
 * What the bytes of an answer mean is answer.c's business: it parses them in the backend
 * connection's buffer (where the head ends, where the answer ends, interim answers dropped,
 * bytes after the end cut off) and edits the head for the headers lb adds. This file does
 * the I/O and decides what follows from each outcome.
 *
 * Ownership: struct lb owns the clients (a list); a client borrows its current backend
 * connection; an idle backend connection is owned by its node's idle list. Both kinds die
 * only through cconn_close / bconn_close. Buffers come from a free list and go back to it
 * when a connection goes idle, so an idle keep-alive client costs only its struct. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "answer.h"
#include "http.h"
#include "lb.h"
#include "ticks.h"

#define BUF_SIZE   16384
#define INJECT_MAX 512 /* headers lb adds to an answer's head, at most */
/* After an lb-made answer, lb reads and drops what the client still sends, for this long or
 * this much, before it closes: closing with unread bytes would send a reset, and the reset
 * can destroy the answer in the client's buffer before the client reads it (a 413 to an
 * upload that is still under way, say). nginx's lingering_close. */
#define LINGER_SECONDS   2.0
#define LINGER_BYTES     (16 * 1024 * 1024)
#define FREE_BUFS_MAX    256
#define PARSER_BODY_KEEP 65536 /* a parser whose body buffer grew past this is not kept */

/* A connection's one timer, moved lazily (libev's documented pattern for timeouts that keep
 * moving): pushing the deadline later is a store, and the timer, when it fires early, re-arms
 * itself for the deadline. Only a deadline earlier than the armed one touches libev's heap,
 * so a keep-alive request costs no timer operation at all. */
struct deadline {
    ev_timer t;
    double armed; /* when t fires, while it is active */
    double at;    /* the deadline (loop time); 0: none */
};

struct bconn {
    struct lb *lb;
    struct lb_node *node; /* borrowed */
    int fd;
    ev_io r, w;
    struct deadline dl;      /* connect, answer, or idle in the pool */
    struct cconn *c;         /* the client being answered; NULL when idle */
    struct bconn *next_idle; /* in node->idle_head */
    bool connected;
    bool reused;
    bool wrote; /* a byte of the current request went out on it */
    /* bytes read from the node, not yet written to the client */
    char *buf;
    size_t len, off;
    bool eof;
    struct answer ans; /* the answer being read: its state, its head's spans into buf */
};

enum cstate {
    C_IDLE,    /* waiting for a request (keep-alive) */
    C_READING, /* a request has begun */
    C_BACKEND, /* connecting / sending / waiting for the answer */
    C_RELAY,   /* streaming the answer */
    C_ERROR,   /* writing an lb-made answer, then closing */
    C_LINGER,  /* the answer is out and our side shut: reading what the client still sends */
};

struct cconn {
    struct lb *lb;
    int fd;
    ev_io r, w; /* r stays armed while a request is in flight: see cconn_read_cb */
    struct deadline dl;
    enum cstate state;
    uint64_t aff_key;
    char peer[48];
    struct http_parser *hp; /* lazily: with the buffer */
    char *in;
    size_t in_cap; /* BUF_SIZE (a pooled buffer) or more (grown for a large request) */
    size_t in_len, parsed, req_end;
    struct bconn *b;
    struct lb_node *conn_node; /* dispatch=connection: the connection's node */
    uint64_t tried;            /* node ids tried for this request */
    unsigned attempts;
    bool stale_retry; /* a kept-alive connection died under this request: its one fresh try */
    enum pick_reason why;
    bool close_after;
    bool client_eof;      /* the client shut its side while its request was in flight */
    bool responded_bytes; /* some answer bytes reached the client */
    size_t bytes_out;
    double t_start, t_connect, t_first;
    double header_deadline;      /* the current request's head must be in by then (0: none) */
    size_t skip_start, skip_end; /* bytes of the request not sent on (a Connection line) */
    double cookie_issued;        /* the lb cookie's first issue time (PICK_COOKIE) */
    char ticket[32];             /* X-Farm-Ticket of the answer, for the access log */
    bool continue_sent;          /* we said "100 Continue" for this request */
    char tried_names[128];       /* only with an access log */
    /* an lb-made answer */
    const char *err_msg;
    size_t err_len, err_sent;
    size_t linger_left; /* C_LINGER: bytes still to drop before closing anyway */
    struct cconn *prev, *next;
};

static void cconn_close(struct cconn *c);
static void cconn_bind(struct cconn *c, struct lb_node *n);
static void cconn_next(struct cconn *c);
static void cconn_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void cconn_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void cconn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void bconn_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void bconn_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void bconn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void dispatch(struct cconn *c);
static void relay(struct cconn *c);

/* ---- buffers ---------------------------------------------------------------------------- */

static char *buf_get(struct lb *lb)
{
    if (lb->free_bufs) {
        char *b = lb->free_bufs;
        memcpy(&lb->free_bufs, b, sizeof(void *));
        lb->n_free_bufs--;
        return b;
    }
    return malloc(BUF_SIZE);
}

static void buf_put(struct lb *lb, char *b)
{
    if (b == NULL)
        return;
    if (lb->n_free_bufs >= FREE_BUFS_MAX) {
        free(b);
        return;
    }
    memcpy(b, &lb->free_bufs, sizeof(void *));
    lb->free_bufs = b;
    lb->n_free_bufs++;
}

/* Parsers are kept between requests only in the state http_parser_next leaves them in: no
 * message begun, no error, the last message keep-alive. Then they need no new init. */
static struct http_parser *parser_get(struct lb *lb)
{
    if (lb->n_free_parsers)
        return lb->free_parsers[--lb->n_free_parsers];
    struct http_parser *p = malloc(sizeof *p);
    if (p == NULL)
        return NULL;
    struct http_limits lim = {.max_header_bytes = lb->cfg.max_header_bytes,
                              .max_body_bytes = lb->cfg.max_body_bytes};
    http_parser_init(p, &lim);
    return p;
}

static void parser_put(struct lb *lb, struct http_parser *p)
{
    if (p == NULL)
        return;
    bool clean = !p->started && p->error_status == 0 && llhttp_get_errno(&p->llhttp) == HPE_OK &&
                 !p->llhttp.upgrade && p->req.body.cap <= PARSER_BODY_KEEP;
    if (clean && lb->n_free_parsers < LB_FREE_PARSERS_MAX) {
        lb->free_parsers[lb->n_free_parsers++] = p;
        return;
    }
    http_parser_cleanup(p);
    free(p);
}

void proxy_cleanup(struct lb *lb)
{
    while (lb->free_bufs) {
        void *b = lb->free_bufs;
        memcpy(&lb->free_bufs, b, sizeof(void *));
        free(b);
    }
    lb->n_free_bufs = 0;
    while (lb->n_free_parsers) {
        struct http_parser *p = lb->free_parsers[--lb->n_free_parsers];
        http_parser_cleanup(p);
        free(p);
    }
}

double lb_now(const struct lb *lb)
{
    return ev_now(lb->loop);
}

/* ---- deadlines -------------------------------------------------------------------------- */

/* The deadline is now + after (after <= 0: none). */
static void deadline_set(struct ev_loop *loop, struct deadline *d, double after)
{
    if (after <= 0) {
        d->at = 0;
        return;
    }
    d->at = ev_now(loop) + after;
    if (ev_is_active(&d->t) && d->armed <= d->at)
        return; /* it fires first and re-arms itself */
    ev_timer_stop(loop, &d->t);
    ev_timer_set(&d->t, after, 0);
    ev_timer_start(loop, &d->t);
    d->armed = d->at;
}

/* In the timer's callback: has the deadline passed? If not, the timer is armed for it. */
static bool deadline_passed(struct ev_loop *loop, struct deadline *d)
{
    if (d->at == 0)
        return false;
    double left = d->at - ev_now(loop);
    if (left > 0) {
        ev_timer_set(&d->t, left, 0);
        ev_timer_start(loop, &d->t);
        d->armed = d->at;
        return false;
    }
    d->at = 0;
    return true;
}

static void deadline_stop(struct ev_loop *loop, struct deadline *d)
{
    d->at = 0;
    ev_timer_stop(loop, &d->t);
}

/* ---- lb-made answers -------------------------------------------------------------------- */

#define ANSWER(status, reason, extra, body)                                                        \
    "HTTP/1.1 " status " " reason "\r\nContent-Type: text/plain\r\nConnection: close\r\n" extra    \
    "Content-Length: " #body "\r\n\r\n"

static const char ans_400[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                              "Connection: close\r\nContent-Length: 12\r\n\r\nbad request\n";
static const char ans_408[] = "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\n"
                              "Connection: close\r\nContent-Length: 16\r\n\r\nrequest timeout\n";
static const char ans_413[] =
    "HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain\r\n"
    "Connection: close\r\nContent-Length: 22\r\n\r\nrequest body too large\n";
static const char ans_431[] =
    "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\n"
    "Connection: close\r\nContent-Length: 32\r\n\r\nrequest header fields too large\n";
static const char ans_501[] =
    "HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain\r\n"
    "Connection: close\r\nContent-Length: 25\r\n\r\nCONNECT is not supported\n";
static const char ans_505[] =
    "HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Type: text/plain\r\n"
    "Connection: close\r\nContent-Length: 27\r\n\r\nHTTP version not supported\n";
static const char ans_403[] =
    "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    "Content-Length: 72\r\n\r\nsim-node's control endpoints are for the node's own address, not "
    "via lb\n";
static const char ans_502[] = "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\n"
                              "Connection: close\r\nContent-Length: 12\r\n\r\nbad gateway\n";
static const char ans_503[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 5\r\n"
    "Connection: close\r\nContent-Length: 27\r\n\r\nno node available to serve\n";
/* lb itself is out of descriptors (or memory) for a node connection: no node is to blame,
 * and the client may come back in a second. */
static const char ans_503_local[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 1\r\n"
    "Connection: close\r\nContent-Length: 37\r\n\r\nlb has no socket left for a node now\n";
static const char ans_504[] = "HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain\r\n"
                              "Connection: close\r\nContent-Length: 16\r\n\r\ngateway timeout\n";

static int answer_status(const char *a)
{
    return atoi(a + 9);
}

/* ---- access log ------------------------------------------------------------------------- */

/* One line per request. end is NULL for an answer that went out whole, else how it was cut
 * short ("node-closed", "node-error", "client-closed", "timeout"). Method and path are
 * known only once the request was complete (an lb-made 400, 408, 413 or 431 has "-"). */
static void access_log_end(struct cconn *c, int status, const char *end)
{
    struct lb *lb = c->lb;
    if (lb->access == NULL || c->hp == NULL)
        return;
    const struct http_request *r = &c->hp->req;
    bool complete = c->req_end > 0;
    double now = ev_time();
    char when[TICKS_ISO_MAX];
    ticks_format_iso(ticks_from_unix((int64_t)now, (int32_t)((now - (int64_t)now) * 1e9)), when);
    const char *path = complete ? c->in + r->url.off : "-";
    size_t plen = complete ? r->url.len : 1;
    const char *q = memchr(path, '?', plen);
    if (q)
        plen = (size_t)(q - path);
    char sess[17] = "-";
    size_t clen;
    const char *cookie = complete ? http_header_get(r, c->in, "Cookie", &clen) : NULL;
    for (size_t i = 0; cookie && i < lb->cfg.n_session_cookies; i++) {
        size_t vlen;
        const char *v = http_cookie(cookie, clen, lb->cfg.session_cookies[i], &vlen);
        if (v && vlen) {
            trace_display_id(lb->trace, v, vlen, sess);
            break;
        }
    }
    const char *ticket = c->ticket[0] ? c->ticket : "-";
    size_t tlen = strlen(ticket);
    fprintf(lb->access,
            "time=%s client=%s method=%s path=%.*s node=%s why=%s tried=%s status=%d "
            "bytes=%zu connect_ms=%.1f first_byte_ms=%.1f total_ms=%.1f ticket=%.*s "
            "session=%s%s%s\n",
            when, c->peer, complete ? http_method_name(r->method) : "-",
            (int)(plen > 200 ? 200 : plen), path, c->b && c->b->node ? c->b->node->name : "-",
            pick_reason_name(c->why), c->tried_names[0] ? c->tried_names : "-", status,
            c->bytes_out, c->t_connect > 0 ? (c->t_connect - c->t_start) * 1000 : 0.0,
            c->t_first > 0 ? (c->t_first - c->t_start) * 1000 : 0.0,
            (ev_now(lb->loop) - c->t_start) * 1000, (int)tlen, ticket, sess, end ? " end=" : "",
            end ? end : "");
}

static void access_log(struct cconn *c, int status)
{
    access_log_end(c, status, NULL);
}

/* The answer was cut short after some of it reached the client: log it, close. */
static void cconn_cut(struct cconn *c, const char *end)
{
    access_log_end(c, c->b ? c->b->ans.status : 0, end);
    cconn_close(c);
}

/* ---- backend connections ---------------------------------------------------------------- */

static void bconn_close(struct bconn *b)
{
    struct lb *lb = b->lb;
    ev_io_stop(lb->loop, &b->r);
    ev_io_stop(lb->loop, &b->w);
    deadline_stop(lb->loop, &b->dl);
    if (b->fd >= 0)
        close(b->fd);
    buf_put(lb, b->buf);
    lb->stats.open_backends--;
    free(b);
}

/* Take b off its node's idle list. */
static void idle_unlink(struct bconn *b)
{
    struct bconn **pp = (struct bconn **)&b->node->idle_head;
    while (*pp && *pp != b)
        pp = &(*pp)->next_idle;
    if (*pp) {
        *pp = b->next_idle;
        b->node->stats.idle--;
    }
    b->next_idle = NULL;
}

/* The response is complete: keep the connection for the next request, or close it. */
static void bconn_release(struct bconn *b)
{
    struct lb *lb = b->lb;
    b->c = NULL;
    ev_io_stop(lb->loop, &b->w);
    buf_put(lb, b->buf);
    b->buf = NULL;
    if (!b->ans.keep_alive || b->eof || !node_serves_existing(b->node) || lb->draining) {
        bconn_close(b);
        return;
    }
    b->next_idle = b->node->idle_head;
    b->node->idle_head = b;
    b->node->stats.idle++;
    /* Idle: reading stays armed (a readable idle connection was closed by the node, and
     * bconn_read_cb drops it), the deadline becomes the idle timeout. */
    ev_io_start(lb->loop, &b->r);
    deadline_set(lb->loop, &b->dl, lb->cfg.timeout_idle);
}

void proxy_drop_idle(struct lb *lb, struct lb_node *n)
{
    (void)lb;
    while (n->idle_head) {
        struct bconn *b = n->idle_head;
        idle_unlink(b);
        bconn_close(b);
    }
}

static void bconn_reset_response(struct bconn *b)
{
    answer_reset(&b->ans);
    b->len = b->off = 0;
}

/* Errors of socket() and connect() that are lb's own, not the node's: out of descriptors,
 * of memory, of local ports. They do not count against the node, and no other node would
 * do better. */
static bool local_error(int e)
{
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM || e == EADDRNOTAVAIL ||
           e == EAGAIN;
}

/* A new connection to n, connecting; NULL with errno set when it cannot be made. */
static struct bconn *bconn_new(struct lb *lb, struct lb_node *n)
{
    struct bconn *b = calloc(1, sizeof *b);
    if (b == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    b->lb = lb;
    b->node = n;
    b->fd = socket(n->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (b->fd < 0) {
        int e = errno;
        free(b);
        errno = e;
        return NULL;
    }
    int one = 1;
    setsockopt(b->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ev_io_init(&b->r, bconn_read_cb, b->fd, EV_READ);
    ev_io_init(&b->w, bconn_write_cb, b->fd, EV_WRITE);
    ev_init(&b->dl.t, bconn_timer_cb);
    b->r.data = b->w.data = b->dl.t.data = b;
    int rc = connect(b->fd, (struct sockaddr *)&n->addr, n->addr_len);
    if (rc == 0)
        b->connected = true;
    else if (errno != EINPROGRESS) {
        int e = errno;
        close(b->fd);
        free(b);
        errno = e;
        return NULL;
    }
    lb->stats.open_backends++;
    n->stats.connections++;
    return b;
}

/* ---- client connections ----------------------------------------------------------------- */

static void cconn_release_buffers(struct cconn *c)
{
    parser_put(c->lb, c->hp);
    c->hp = NULL;
    if (c->in_cap == BUF_SIZE)
        buf_put(c->lb, c->in);
    else
        free(c->in);
    c->in = NULL;
    c->in_cap = 0;
    c->in_len = c->parsed = c->req_end = 0;
}

static void cconn_detach_backend(struct cconn *c, bool close_it)
{
    struct bconn *b = c->b;
    if (b == NULL)
        return;
    c->b = NULL;
    b->c = NULL;
    if (b->node->stats.active)
        b->node->stats.active--;
    if (close_it)
        bconn_close(b);
    else
        bconn_release(b);
}

static void cconn_close(struct cconn *c)
{
    struct lb *lb = c->lb;
    ev_io_stop(lb->loop, &c->r);
    ev_io_stop(lb->loop, &c->w);
    deadline_stop(lb->loop, &c->dl);
    cconn_detach_backend(c, true);
    cconn_bind(c, NULL);
    if (c->fd >= 0)
        close(c->fd);
    cconn_release_buffers(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        lb->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    lb->stats.open_clients--;
    free(c);
    if (lb->draining && lb->clients == NULL)
        ev_break(lb->loop, EVBREAK_ALL);
}

static void cconn_timer(struct cconn *c, double after)
{
    deadline_set(c->lb->loop, &c->dl, after);
}

/* Answer with a canned response and close. */
static void cconn_fail(struct cconn *c, const char *answer, size_t len)
{
    struct lb *lb = c->lb;
    int status = answer_status(answer);
    if (answer == ans_503_local)
        lb->stats.out_of_sockets++;
    else if (status == 503)
        lb->stats.no_node_503++;
    else if (status == 504)
        lb->stats.timeouts_504++;
    else if (status == 502)
        lb->stats.bad_gateway_502++;
    else
        lb->stats.client_errors++;
    lb->stats.responses[status / 100]++;
    access_log(c, status);
    cconn_detach_backend(c, true);
    if (c->responded_bytes) {
        cconn_close(c); /* part of an answer went out: all we can do is close */
        return;
    }
    c->state = C_ERROR;
    c->err_msg = answer;
    c->err_len = len;
    c->err_sent = 0;
    ev_io_stop(lb->loop, &c->r);
    cconn_timer(c, lb->cfg.timeout_server);
    ev_io_start(lb->loop, &c->w);
}

/* Enter C_IDLE or C_READING: read watcher on, the right timeout armed. */
static void cconn_wait_request(struct cconn *c)
{
    struct lb *lb = c->lb;
    if (c->client_eof) {
        cconn_close(c); /* every complete request is answered; nothing more will come */
        return;
    }
    bool begun = c->in_len > c->req_end || (c->hp && http_parser_mid_message(c->hp));
    c->state = begun ? C_READING : C_IDLE;
    ev_io_stop(lb->loop, &c->w);
    ev_io_start(lb->loop, &c->r);
    cconn_timer(c, http_read_timeout(c->hp, c->in_len > c->req_end, ev_now(lb->loop),
                                     lb->cfg.timeout_header, lb->cfg.timeout_idle,
                                     &c->header_deadline));
}

/* value[0..len) lists the token tok (lower case) among its comma-separated tokens. */
static bool has_token(const char *value, size_t len, const char *tok)
{
    size_t k = strlen(tok);
    for (size_t i = 0; i < len;) {
        while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
            i++;
        size_t j = i;
        while (j < len && value[j] != ',' && value[j] != ' ' && value[j] != '\t')
            j++;
        if (j - i == k && strncasecmp(value + i, tok, k) == 0)
            return true;
        i = j;
    }
    return false;
}

/* The Connection header line lb leaves out of the request it sends on: [skip_start,
 * skip_end). One that asks to upgrade (WebSocket, h2c): lb tunnels no other protocol, so
 * the node must not switch (without "upgrade" in Connection it ignores Upgrade, RFC 9110
 * 7.8), and the request is served as plain HTTP. Else, in HTTP/1.1, "Connection: close":
 * lb closes the client itself, and the node connection stays alive. */
static void find_connection_close(struct cconn *c)
{
    const struct http_request *r = &c->hp->req;
    c->skip_start = c->skip_end = 0;
    const struct http_header *skip = NULL;
    for (size_t i = 0; i < r->n_headers; i++) {
        const struct http_header *h = &r->headers[i];
        if (h->name.len != 10 || strncasecmp(c->in + h->name.off, "Connection", 10) != 0)
            continue;
        const char *v = c->in + h->value.off;
        if (has_token(v, h->value.len, "upgrade")) {
            skip = h;
            break;
        }
        if (skip == NULL && r->version_major == 1 && r->version_minor == 1 && h->value.len == 5 &&
            strncasecmp(v, "close", 5) == 0)
            skip = h;
    }
    if (skip == NULL)
        return;
    const char *nl = memchr(c->in + skip->value.off, '\n', c->req_end - skip->value.off);
    if (nl == NULL)
        return;
    c->skip_start = skip->name.off;
    c->skip_end = (size_t)(nl - c->in) + 1;
}

static bool method_idempotent(int m)
{
    return m == HTTP_GET || m == HTTP_HEAD || m == HTTP_PUT || m == HTTP_DELETE ||
           m == HTTP_OPTIONS || m == HTTP_TRACE;
}

/* The request's path (before any query) is exactly one of the n paths in want. */
static bool request_path_in(const struct cconn *c, const char *const *want, size_t n)
{
    const char *path, *query;
    size_t plen, qlen;
    http_url_split(&c->hp->req, c->in, &path, &plen, &query, &qlen);
    for (size_t i = 0; i < n; i++)
        if (plen == strlen(want[i]) && memcmp(path, want[i], plen) == 0)
            return true;
    return false;
}

/* sim-node's fault and clock endpoints trust a loopback peer, and behind lb the peer is
 * always lb: passed on, they would let any client of the farm crash a node or turn its clock
 * back. lb keeps them off its listener (sim-node matches the raw path exactly, so must lb). */
static bool node_control_path(const struct cconn *c)
{
    static const char *const control[] = {"/_farm/fault", "/_farm/clock"};
    return request_path_in(c, control, 2);
}

/* Parse the buffered bytes; dispatch a complete request. */
static void cconn_process(struct cconn *c)
{
    struct lb *lb = c->lb;
    size_t used = 0;
    enum http_feed f = http_parser_feed(c->hp, c->in, c->parsed, c->in_len, &used);
    c->parsed += used;
    switch (f) {
    case HTTP_FEED_MORE:
        if (http_continue_due(c->hp, &c->continue_sent)) {
            /* lb reads whole requests: it gives the permission to send the body itself. */
            if (send(c->fd, HTTP_CONTINUE, sizeof HTTP_CONTINUE - 1, MSG_NOSIGNAL) < 0) {
                cconn_close(c);
                return;
            }
        }
        if (c->in_len == c->in_cap) {
            /* A large request: grow past the pooled buffer, up to the limits. */
            size_t limit = lb->cfg.max_header_bytes + lb->cfg.max_body_bytes + 4096;
            size_t cap = c->in_cap * 2 < limit ? c->in_cap * 2 : limit;
            char *p = cap > c->in_cap ? malloc(cap) : NULL;
            if (p == NULL) {
                cconn_fail(c, c->hp->in_headers ? ans_431 : ans_413,
                           c->hp->in_headers ? sizeof ans_431 - 1 : sizeof ans_413 - 1);
                return;
            }
            memcpy(p, c->in, c->in_len);
            if (c->in_cap == BUF_SIZE)
                buf_put(lb, c->in);
            else
                free(c->in);
            c->in = p;
            c->in_cap = cap;
        }
        cconn_wait_request(c);
        return;
    case HTTP_FEED_ERROR: {
        /* The parser's status picks lb's answer; anything else it refuses is a 400. */
        static const struct {
            int status;
            const char *answer;
            size_t len;
        } refusals[] = {
            {431, ans_431, sizeof ans_431 - 1},
            {413, ans_413, sizeof ans_413 - 1},
            {501, ans_501, sizeof ans_501 - 1},
            {505, ans_505, sizeof ans_505 - 1},
        };
        for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
            if (refusals[i].status == c->hp->error_status) {
                cconn_fail(c, refusals[i].answer, refusals[i].len);
                return;
            }
        cconn_fail(c, ans_400, sizeof ans_400 - 1);
        return;
    }
    case HTTP_FEED_REQUEST:
        break;
    }
    c->req_end = c->parsed;
    c->header_deadline = 0;
    find_connection_close(c);
    c->continue_sent = false;
    c->close_after = !c->hp->req.keep_alive || lb->draining;
    c->t_start = ev_now(lb->loop); /* the rest of the request's record starts fresh: calloc
                                      for a connection's first, cconn_next for the others */
    lb->stats.requests++;
    /* The next request waits until this one is answered (its bytes are only buffered); the
     * node's deadline governs until the answer flows. */
    cconn_timer(c, 0);
    if (node_control_path(c)) {
        cconn_fail(c, ans_403, sizeof ans_403 - 1);
        return;
    }
    dispatch(c);
}

/* dispatch=connection: the connection's node is n (NULL: none). Nodes count their bound
 * connections: a draining node is drained only when none is left. */
static void cconn_bind(struct cconn *c, struct lb_node *n)
{
    if (c->conn_node)
        c->conn_node->bound_conns--;
    c->conn_node = n;
    if (n)
        n->bound_conns++;
}

/* Choose a node for this attempt. */
static struct lb_node *choose(struct cconn *c)
{
    struct lb *lb = c->lb;
    double now = ev_now(lb->loop);
    struct lb_node *n = NULL;
    if (c->attempts > 0) {
        /* A retry: the client's next choice by the same hash under affinity, so a dead
         * node's clients do not bounce between the survivors; else the next in turn. */
        c->why = PICK_REDISPATCH;
        if (lb->cfg.affinity == AFFINITY_SINGLE || lb->cfg.affinity == AFFINITY_NETWORK)
            n = balance_hash(&lb->pool, c->aff_key, c->tried);
        else
            n = balance_rr(&lb->pool, c->tried);
        /* dispatch=connection: the connection moves to the node that takes the retry, so
         * its next requests do not try the failed node first (and drains count right). */
        if (lb->cfg.dispatch == DISPATCH_CONNECTION && n)
            cconn_bind(c, n);
        return n;
    }
    if (lb->cfg.affinity == AFFINITY_COOKIE && lb->cfg.affinity_cookie) {
        size_t clen, vlen;
        const char *cookie = http_header_get(&c->hp->req, c->in, "Cookie", &clen);
        const char *v = cookie ? http_cookie(cookie, clen, lb->cfg.affinity_cookie, &vlen) : NULL;
        double issued;
        if (v && (n = balance_cookie_node(&lb->pool, v, vlen, now, lb->cfg.cookie_idle,
                                          lb->cfg.cookie_max, &issued)) != NULL) {
            c->why = PICK_COOKIE;
            c->cookie_issued = issued;
            return n;
        }
    }
    if (lb->cfg.dispatch == DISPATCH_CONNECTION && c->conn_node &&
        node_serves_existing(c->conn_node)) {
        c->why = PICK_CONNECTION;
        return c->conn_node;
    }
    /* Affinity none: round robin — per request, or per connection (each new connection
     * takes the next node, in order). single/network: NLB's hash of the client. */
    if (lb->cfg.affinity == AFFINITY_SINGLE || lb->cfg.affinity == AFFINITY_NETWORK) {
        n = balance_affinity(&lb->pool, lb->sticky, c->aff_key, c->tried, now, &c->why);
    } else {
        n = balance_rr(&lb->pool, c->tried);
        c->why = n ? PICK_RR : PICK_NONE;
    }
    if (lb->cfg.dispatch == DISPATCH_CONNECTION && n)
        cconn_bind(c, n);
    return n;
}

static void note_tried(struct cconn *c, const struct lb_node *n)
{
    c->tried |= 1ull << n->id;
    if (c->lb->access == NULL)
        return;
    size_t len = strlen(c->tried_names);
    snprintf(c->tried_names + len, sizeof c->tried_names - len, "%s%s", len ? "," : "", n->name);
}

/* Passive detection: count a failure (a failed connect, a 5xx) against a node; mark it down
 * past the limit. Its own count: active checks keep theirs (a node that fails its health
 * check goes down after --fall of them, whatever its traffic does), and only an answer
 * below 500 ends a run of failures (a connect that succeeds does not: a node that answers
 * every request with 500 and closes still connects). */
static void passive_failure(struct lb *lb, struct lb_node *n, const char *why)
{
    if (!lb->cfg.passive || n->state != NODE_UP)
        return;
    if (++n->passive_fail >= lb->cfg.passive_fail) {
        n->passive_fail = 0;
        n->check_ok = 0; /* back up only after --rise checks that pass from now */
        lb_node_set_state(lb, n, NODE_DOWN, why);
    }
}

static void send_request(struct cconn *c);

/* lb could not open a connection to a node for reasons of its own (errno e): the client
 * gets a 503 with Retry-After, the node keeps its good name, and the log says why, once a
 * second at most (a burst of clients would otherwise print a line each). */
static void out_of_sockets(struct cconn *c, int e)
{
    struct lb *lb = c->lb;
    double now = ev_now(lb->loop);
    if (now - lb->stats.out_of_sockets_logged >= 1.0) {
        lb->stats.out_of_sockets_logged = now;
        fprintf(stderr,
                "lb event=out-of-sockets error=\"%s\" open_clients=%u open_backends=%u "
                "answered=503 total=%llu\n",
                strerror(e), lb->stats.open_clients, lb->stats.open_backends,
                lb->stats.out_of_sockets + 1);
    }
    cconn_fail(c, ans_503_local, sizeof ans_503_local - 1);
}

static void dispatch(struct cconn *c)
{
    struct lb *lb = c->lb;
    if (c->attempts > lb->cfg.retries) {
        cconn_fail(c, ans_502, sizeof ans_502 - 1);
        return;
    }
    struct lb_node *n = choose(c);
    if (n == NULL) {
        cconn_fail(c, c->attempts ? ans_502 : ans_503,
                   c->attempts ? sizeof ans_502 - 1 : sizeof ans_503 - 1);
        return;
    }
    c->attempts++;
    note_tried(c, n);
    n->stats.requests++;
    n->stats.active++;
    n->last_request = ev_now(lb->loop);
    c->state = C_BACKEND;
    /* After a kept-alive connection died under this request, its next tries open connections
     * of their own: a node that crashed closed all its idle ones at once. */
    struct bconn *b = c->stale_retry ? NULL : n->idle_head;
    if (b) {
        idle_unlink(b); /* its read watcher stays armed: a close shows as an EOF */
        b->reused = true;
    } else {
        b = bconn_new(lb, n);
        if (b == NULL) {
            n->stats.active--;
            if (local_error(errno)) {
                out_of_sockets(c, errno);
                return;
            }
            n->stats.connect_failures++;
            passive_failure(lb, n, "connect failed");
            dispatch(c);
            return;
        }
        b->reused = false;
    }
    b->c = c;
    c->b = b;
    b->buf = buf_get(lb);
    if (b->buf == NULL) {
        out_of_sockets(c, ENOMEM);
        return;
    }
    bconn_reset_response(b);
    b->eof = false;
    b->wrote = false;
    b->off = 0; /* request bytes sent so far are counted in b->off while sending */
    send_request(c);
}

/* Write the request (in[0..req_end)) to the backend; then wait for the answer. */
static void send_request(struct cconn *c)
{
    struct lb *lb = c->lb;
    struct bconn *b = c->b;
    deadline_set(lb->loop, &b->dl, b->connected ? lb->cfg.timeout_server : lb->cfg.timeout_connect);
    if (b->connected)
        bconn_write_cb(lb->loop, &b->w, EV_WRITE); /* arms the write watcher if it must wait */
    else
        ev_io_start(lb->loop, &b->w);
}

/* A failure on the backend before any answer byte reached the client. */
static void backend_failed(struct cconn *c, bool connect_failed, bool timeout)
{
    struct lb *lb = c->lb;
    struct bconn *b = c->b;
    struct lb_node *n = b->node;
    bool reused = b->reused;
    bool sent = !connect_failed && b->wrote; /* a send refused at its first byte sent nothing */
    if (connect_failed) {
        n->stats.connect_failures++;
        passive_failure(lb, n, timeout ? "connect timeout" : "connect refused");
    }
    cconn_detach_backend(c, true);
    if (c->responded_bytes) {
        cconn_close(c);
        return;
    }
    /* Retry: a failed connect always; a sent request only when it is idempotent. A reused
     * keep-alive connection that died under us gets one fresh try on the same node. */
    bool can_retry = !sent || method_idempotent(c->hp->req.method);
    if (timeout && sent) {
        cconn_fail(c, ans_504, sizeof ans_504 - 1);
        return;
    }
    if (!can_retry) {
        cconn_fail(c, ans_502, sizeof ans_502 - 1);
        return;
    }
    n->stats.retries_away++;
    lb->stats.retries++;
    if (reused && !c->stale_retry) {
        /* The node may be fine and the kept-alive connection stale: one fresh try, wherever
         * the next choice falls (this node too), on a new connection (see dispatch). */
        c->stale_retry = true;
        c->tried &= ~(1ull << n->id);
    }
    dispatch(c);
}

/* Send the request from byte `off` of what goes out, leaving [skip_start, skip_end) out. */
static ssize_t send_skipping(const struct cconn *c, int fd, size_t off)
{
    struct iovec iov[2];
    int n_iov = 0;
    if (off < c->skip_start) {
        iov[n_iov].iov_base = c->in + off;
        iov[n_iov++].iov_len = c->skip_start - off;
        iov[n_iov].iov_base = c->in + c->skip_end;
        iov[n_iov++].iov_len = c->req_end - c->skip_end;
    } else {
        size_t at = off + (c->skip_end - c->skip_start);
        iov[n_iov].iov_base = c->in + at;
        iov[n_iov++].iov_len = c->req_end - at;
    }
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n_iov};
    return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

static void bconn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct bconn *b = w->data;
    struct cconn *c = b->c;
    if (c == NULL) {
        ev_io_stop(loop, w);
        return;
    }
    if (!b->connected) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(b->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            backend_failed(c, true, false);
            return;
        }
        b->connected = true;
        c->t_connect = ev_now(loop);
        deadline_set(loop, &b->dl, c->lb->cfg.timeout_server);
    } else if (c->t_connect == 0) {
        c->t_connect = ev_now(loop);
    }
    /* The request goes as the client sent it, less a "Connection: close" line: that one
     * concerns the client's connection, and the node's stays alive for the next request. */
    size_t total = c->req_end - (c->skip_end - c->skip_start);
    while (b->off < total) {
        ssize_t n = c->skip_end == c->skip_start
                        ? send(b->fd, c->in + b->off, total - b->off, MSG_NOSIGNAL)
                        : send_skipping(c, b->fd, b->off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                ev_io_start(loop, &b->w);
                return;
            }
            backend_failed(c, false, false);
            return;
        }
        b->off += (size_t)n;
        b->wrote = true;
        b->node->stats.bytes_to += (size_t)n;
    }
    b->off = 0;
    ev_io_stop(loop, &b->w);
    ev_io_start(loop, &b->r);
}

/* A NUL-terminated copy of a span of the answer (truncated to fit), or NULL when empty. */
static const char *span_copy(char *dst, size_t cap, const char *base, struct http_span span)
{
    if (span.len == 0)
        return NULL;
    size_t n = span.len < cap - 1 ? span.len : cap - 1;
    memcpy(dst, base + span.off, n);
    dst[n] = '\0';
    return dst;
}

/* Tell the trace what this answer says about the request's sessions. */
static void observe(struct cconn *c)
{
    struct lb *lb = c->lb;
    struct bconn *b = c->b;
    const struct answer *a = &b->ans;
    /* Nothing to tell: no traced cookie either way, no X-Farm-* headers (the common case of a
     * proxy in front of anything but sim-node with tracing off). */
    size_t clen = 0;
    const char *cookie = http_header_get(&c->hp->req, c->in, "Cookie", &clen);
    if (cookie == NULL && a->n_set_cookie == 0 && a->farm_ticket.len == 0 &&
        a->farm_session.len == 0 && a->farm_key.len == 0 && a->farm_user.len == 0) {
        c->ticket[0] = '\0';
        return;
    }
    struct trace_obs o;
    memset(&o, 0, sizeof o);
    char loc[512], ticket[32], session[32], key[64], user[64];
#define COPY(dst, span) span_copy(dst, sizeof dst, b->buf, span)
    o.now = ev_time();
    o.node = b->node->name;
    o.status = a->status;
    o.location = COPY(loc, a->location);
    o.farm_ticket = COPY(ticket, a->farm_ticket);
    span_copy(c->ticket, sizeof c->ticket, b->buf, a->farm_ticket);
    if (o.farm_ticket == NULL)
        c->ticket[0] = '\0';
    /* sim-node's answer to /login reports on the ticket it issues, not on the one the
     * request carried: no check of the old one ("absent": the node said nothing of it).
     * Elsewhere a new forms ticket is a renewal (slidingExpiration), and the verdict is on
     * the ticket the request carried, as always. */
    static const char *const login = "/login";
    if (o.farm_ticket != NULL && answer_sets_forms_ticket(a) && request_path_in(c, &login, 1))
        o.farm_ticket = "absent";
    o.farm_session = COPY(session, a->farm_session);
    o.node_key = COPY(key, a->farm_key);
    o.farm_user = COPY(user, a->farm_user);
#undef COPY
    if (o.node_key)
        snprintf(b->node->key_fp, sizeof b->node->key_fp, "%s", o.node_key);
    for (size_t i = 0; i < lb->cfg.n_session_cookies; i++) {
        const char *name = lb->cfg.session_cookies[i];
        size_t nlen = strlen(name);
        if (cookie)
            o.req_value[i] = http_cookie(cookie, clen, name, &o.req_len[i]);
        for (size_t k = 0; k < a->n_set_cookie; k++) {
            const char *v = b->buf + a->set_cookie[k].off;
            size_t vlen = a->set_cookie[k].len;
            if (vlen > nlen && memcmp(v, name, nlen) == 0 && v[nlen] == '=') {
                const char *val = v + nlen + 1;
                const char *semi = memchr(val, ';', vlen - nlen - 1);
                o.set_present[i] = true;
                o.set_value[i] = val;
                o.set_len[i] = semi ? (size_t)(semi - val) : vlen - nlen - 1;
                /* An expiry in the past clears the cookie whatever its value. */
                size_t alen = semi ? vlen - (size_t)(semi - v) : 0;
                if (semi &&
                    (memmem(semi, alen, "1999", 4) || memmem(semi, alen, "1970", 4) ||
                     memmem(semi, alen, "Max-Age=0", 9) || memmem(semi, alen, "max-age=0", 9)))
                    o.set_len[i] = 0;
            }
        }
    }
    trace_observe(lb->trace, &o);
}

/* Append to out[0..cap) at *n; on truncation *n becomes cap, and stays there. */
static void appendf(char *out, size_t cap, size_t *n, const char *fmt, ...)
{
    if (*n >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(out + *n, cap - *n, fmt, ap);
    va_end(ap);
    *n = r < 0 || (size_t)r >= cap - *n ? cap : *n + (size_t)r;
}

/* Headers lb adds to an answer: X-Served-By, its affinity cookie, Connection: close while
 * draining. answer_inject puts them just before the head's final CRLF, when the buffer has
 * room. */
static void inject_headers(struct cconn *c)
{
    struct lb *lb = c->lb;
    struct bconn *b = c->b;
    char extra[INJECT_MAX];
    size_t n = 0;
    if (lb->cfg.served_by)
        appendf(extra, sizeof extra, &n, "X-Served-By: %s\r\n", b->node->name);
    if (lb->cfg.affinity == AFFINITY_COOKIE && lb->cfg.affinity_cookie) {
        char value[BALANCE_COOKIE_MAX + 1];
        double now = ev_now(lb->loop);
        double issued = c->why == PICK_COOKIE ? c->cookie_issued : now;
        if (balance_cookie_value(b->node, issued, now, value, sizeof value) > 0)
            appendf(extra, sizeof extra, &n, "Set-Cookie: %s=%s; path=/; HttpOnly\r\n",
                    lb->cfg.affinity_cookie, value);
    }
    if (lb->draining)
        c->close_after = true;
    /* lb closes this client after the answer: say so, instead of the node's header. */
    if (c->close_after)
        appendf(extra, sizeof extra, &n, "Connection: close\r\n");
    if (n >= sizeof extra)
        n = 0; /* more than INJECT_MAX: add nothing rather than half */
    b->len = answer_inject(b->buf, b->len, b->ans.head_len, BUF_SIZE, extra, n, c->close_after);
}

/* Read from the backend, parse, and pass bytes on to the client. */
static void bconn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct bconn *b = w->data;
    struct cconn *c = b->c;
    if (c == NULL) {
        /* An idle connection that becomes readable was closed (or misbehaves): drop it. */
        idle_unlink(b);
        bconn_close(b);
        return;
    }
    /* While the head is read, INJECT_MAX bytes stay free for the headers lb adds. */
    size_t room = b->ans.head_done ? BUF_SIZE : BUF_SIZE - INJECT_MAX;
    if (b->len >= room) {
        /* The head does not fit in a buffer. */
        backend_failed(c, false, false);
        return;
    }
    ssize_t n = recv(b->fd, b->buf + b->len, room - b->len, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        n = 0;
    }
    if (n == 0) {
        b->eof = true;
        if (!c->responded_bytes && !b->ans.head_done) {
            /* Nothing of the answer reached the client: as good as no answer. */
            backend_failed(c, false, false);
            return;
        }
        /* A close-delimited body ends here. */
        if (answer_eof(&b->ans) != ANSWER_DONE) {
            cconn_cut(c, "node-closed"); /* the node died mid-answer */
            return;
        }
        ev_io_stop(loop, w);
        relay(c);
        return;
    }
    if (c->t_first == 0)
        c->t_first = ev_now(loop);
    b->node->stats.bytes_from += (size_t)n;
    size_t start = b->len;
    b->len += (size_t)n;
    bool had_head = b->ans.head_done;
    bool head_request = c->hp && c->hp->req.method == HTTP_HEAD;
    enum answer_state st = answer_feed(&b->ans, b->buf, &b->len, start, head_request);
    if (st == ANSWER_ERROR) {
        if (!c->responded_bytes) {
            backend_failed(c, false, false);
            return;
        }
        cconn_cut(c, "node-error");
        return;
    }
    if (st == ANSWER_MORE)
        return; /* keep accumulating the head */
    if (!had_head) {
        deadline_set(loop, &b->dl, 0); /* the answer flows: the client's pace rules now */
        observe(c);
        int cls = b->ans.status / 100;
        b->node->stats.responses[cls >= 1 && cls <= 5 ? cls : 0]++;
        c->lb->stats.responses[cls >= 1 && cls <= 5 ? cls : 0]++;
        if (b->ans.status >= 500)
            passive_failure(c->lb, b->node, "5xx answers");
        else
            b->node->passive_fail = 0;
        inject_headers(c);
    }
    relay(c);
}

/* Write what the backend gave us to the client. */
static void relay(struct cconn *c)
{
    struct lb *lb = c->lb;
    struct bconn *b = c->b;
    c->state = C_RELAY;
    while (b->off < b->len) {
        ssize_t n = send(c->fd, b->buf + b->off, b->len - b->off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                /* Backpressure: read the node again only when the client took this. */
                ev_io_stop(lb->loop, &b->r);
                ev_io_start(lb->loop, &c->w);
                cconn_timer(c, lb->cfg.timeout_idle);
                return;
            }
            cconn_cut(c, "client-closed");
            return;
        }
        b->off += (size_t)n;
        c->bytes_out += (size_t)n;
        c->responded_bytes = true;
    }
    ev_io_stop(lb->loop, &c->w);
    b->off = b->len = 0;
    if (!b->ans.resp_done) {
        if (b->eof) {
            cconn_cut(c, "node-closed");
            return;
        }
        ev_io_start(lb->loop, &b->r); /* more answer to come */
        deadline_set(lb->loop, &b->dl, lb->cfg.timeout_server);
        cconn_timer(c, 0);
        return;
    }
    /* The answer is complete. */
    access_log(c, b->ans.status);
    /* The client keeps its connection unless the node's answer said it closes (the client
     * read that header); a node that misbehaved after its answer loses only its own. */
    bool node_closes = !b->ans.keep_alive;
    cconn_detach_backend(c, b->ans.stray_bytes);
    if (c->close_after || node_closes) {
        cconn_close(c);
        return;
    }
    cconn_next(c);
}

/* Ready for the next request on this connection. */
static void cconn_next(struct cconn *c)
{
    memmove(c->in, c->in + c->req_end, c->in_len - c->req_end);
    c->in_len -= c->req_end;
    c->parsed -= c->req_end;
    c->req_end = 0;
    /* The next request's record starts fresh. Nothing of its answer went out, so an error
     * in it gets its answer; its access log line counts from here until it is complete. */
    c->responded_bytes = false;
    c->bytes_out = 0;
    c->t_start = ev_now(c->lb->loop);
    c->t_connect = c->t_first = 0;
    c->ticket[0] = '\0';
    c->tried_names[0] = '\0';
    c->why = PICK_NONE;
    c->tried = 0;
    c->attempts = 0;
    c->stale_retry = false;
    http_parser_next(c->hp);
    if (c->in_len == 0) {
        cconn_release_buffers(c); /* idle keep-alive: hold no buffer */
        cconn_wait_request(c);
        return;
    }
    cconn_process(c);
}

static void cconn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct cconn *c = w->data;
    if (c->state == C_ERROR) {
        while (c->err_sent < c->err_len) {
            ssize_t n =
                send(c->fd, c->err_msg + c->err_sent, c->err_len - c->err_sent, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    return;
                break;
            }
            c->err_sent += (size_t)n;
        }
        if (c->err_sent < c->err_len || shutdown(c->fd, SHUT_WR) != 0) {
            cconn_close(c);
            return;
        }
        c->state = C_LINGER;
        c->linger_left = LINGER_BYTES;
        ev_io_stop(loop, &c->w);
        ev_io_start(loop, &c->r);
        cconn_timer(c, LINGER_SECONDS);
        return;
    }
    if (c->state == C_RELAY && c->b)
        relay(c);
}

/* The client's read watcher stays armed while its request is with a node (stopping and
 * restarting it would cost an epoll_ctl per request): bytes that arrive meanwhile, the next
 * pipelined requests, are only buffered, and reading stops when the buffer is full. */
static void cconn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct cconn *c = w->data;
    struct lb *lb = c->lb;
    if (c->state == C_LINGER) {
        char drop[4096];
        ssize_t n = recv(c->fd, drop, sizeof drop, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0 || (size_t)n >= c->linger_left) {
            cconn_close(c); /* the client closed too, or sent too much: enough */
            return;
        }
        c->linger_left -= (size_t)n;
        return;
    }
    bool in_flight = c->state == C_BACKEND || c->state == C_RELAY;
    if (c->in == NULL) {
        c->in = buf_get(lb);
        c->in_cap = BUF_SIZE;
        c->hp = parser_get(lb);
        if (c->in == NULL || c->hp == NULL) {
            cconn_close(c);
            return;
        }
    }
    if (in_flight && c->in_len == c->in_cap) {
        ev_io_stop(loop, w); /* cconn_wait_request reads again after the answer */
        return;
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            cconn_close(c);
            return;
        }
        if (c->in_len == 0)
            cconn_release_buffers(c); /* a read ahead of the data: hold nothing while idle */
        if (!in_flight)
            ev_io_start(loop, w); /* after accept_cb's first try, the watcher's first start */
        return;
    }
    if (n == 0) {
        if (in_flight) {
            /* A half-close after the request: answer it and the complete requests buffered
             * behind it, then close (cconn_wait_request). */
            c->client_eof = true;
            ev_io_stop(loop, w);
            return;
        }
        cconn_close(c);
        return;
    }
    c->in_len += (size_t)n;
    if (!in_flight)
        cconn_process(c);
}

static void cconn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct cconn *c = w->data;
    if (!deadline_passed(loop, &c->dl))
        return;
    switch (c->state) {
    case C_IDLE:
        cconn_close(c);
        return;
    case C_READING:
        cconn_fail(c, ans_408, sizeof ans_408 - 1);
        return;
    default:
        cconn_close(c);
        return;
    }
}

static void bconn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct bconn *b = w->data;
    if (!deadline_passed(loop, &b->dl))
        return;
    struct cconn *c = b->c;
    if (c == NULL) {
        idle_unlink(b); /* idle too long in the pool */
        bconn_close(b);
        return;
    }
    if (!b->connected) {
        backend_failed(c, true, true);
        return;
    }
    if (!b->ans.head_done && !c->responded_bytes) {
        backend_failed(c, false, true);
        return;
    }
    cconn_cut(c, "timeout");
}

void proxy_cut_node(struct lb *lb, struct lb_node *n)
{
    proxy_drop_idle(lb, n);
    struct cconn *c = lb->clients;
    while (c) {
        struct cconn *next = c->next;
        if (c->b && c->b->node == n)
            cconn_close(c);
        else if (c->conn_node == n)
            cconn_bind(c, NULL);
        c = next;
    }
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct lb *lb = w->data;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd =
            accept4(lb->listen_fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of descriptors: pause accepting for a moment rather than spin. */
                ev_io_stop(loop, w);
                ev_timer_set(&lb->accept_resume, 0.1, 0);
                ev_timer_start(loop, &lb->accept_resume);
            }
            return;
        }
        struct cconn *c = calloc(1, sizeof *c); /* TCP_NODELAY comes from the listener */
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->lb = lb;
        c->fd = fd;
        c->t_start = ev_now(loop);
        c->aff_key = balance_affinity_key(lb->cfg.affinity, &peer);
        if (lb->access) { /* the client's address in text is for the access log only */
            strcpy(c->peer, "?");
            if (peer.ss_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, c->peer,
                          sizeof c->peer);
            else
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, c->peer,
                          sizeof c->peer);
        }
        ev_io_init(&c->r, cconn_read_cb, fd, EV_READ);
        ev_io_init(&c->w, cconn_write_cb, fd, EV_WRITE);
        ev_init(&c->dl.t, cconn_timer_cb);
        c->r.data = c->w.data = c->dl.t.data = c;
        c->next = lb->clients;
        if (lb->clients)
            lb->clients->prev = c;
        lb->clients = c;
        lb->stats.connections++;
        lb->stats.open_clients++;
        /* Read at once: on loopback and busy links the request is usually there already,
         * and a connection that carries one request with "Connection: close" then never
         * needs its read watcher (nor the epoll_ctl that arming it costs). */
        c->state = C_IDLE;
        cconn_timer(c, lb->cfg.timeout_idle);
        cconn_read_cb(loop, &c->r, EV_READ);
    }
}

static void accept_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct lb *lb = w->data;
    if (!lb->draining && lb->listen_fd >= 0)
        ev_io_start(loop, &lb->accept_w);
}

int lb_listen(struct lb *lb, struct errbuf *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (httpd_parse_addr(lb->cfg.listen, &ss, &len) != 0) {
        errbuf_set(err, "--listen: not an address: '%s'", lb->cfg.listen);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    /* TCP_NODELAY on the listener: accepted connections inherit it (Linux), which saves a
     * system call per connection. */
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 4096) != 0) {
        errbuf_set(err, "cannot listen on %s: %s", lb->cfg.listen, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* No quick ACK on new connections (inherited from the listener, as HAProxy does): the
     * request's ACK then rides on the answer instead of going out alone first — one packet
     * less per connection, for lb and for the client. */
    int zero = 0;
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof zero);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    getsockname(fd, (struct sockaddr *)&bound, &blen);
    char host[INET6_ADDRSTRLEN];
    if (bound.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&bound)->sin_addr, host, sizeof host);
        snprintf(lb->listen_addr, sizeof lb->listen_addr, "%s:%u", host,
                 ntohs(((struct sockaddr_in *)&bound)->sin_port));
    } else {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&bound)->sin6_addr, host, sizeof host);
        snprintf(lb->listen_addr, sizeof lb->listen_addr, "[%s]:%u", host,
                 ntohs(((struct sockaddr_in6 *)&bound)->sin6_port));
    }
    lb->listen_fd = fd;
    ev_io_init(&lb->accept_w, accept_cb, fd, EV_READ);
    lb->accept_w.data = lb;
    ev_init(&lb->accept_resume, accept_resume_cb);
    lb->accept_resume.data = lb;
    ev_io_start(lb->loop, &lb->accept_w);
    return 0;
}

void proxy_drain(struct lb *lb)
{
    lb->draining = true;
    ev_io_stop(lb->loop, &lb->accept_w);
    if (lb->listen_fd >= 0) {
        close(lb->listen_fd);
        lb->listen_fd = -1;
    }
    struct cconn *c = lb->clients;
    while (c) {
        struct cconn *next = c->next;
        if (c->state == C_IDLE)
            cconn_close(c);
        c = next;
    }
    if (lb->clients == NULL)
        ev_break(lb->loop, EVBREAK_ALL);
}
