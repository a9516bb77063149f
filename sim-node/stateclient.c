#include "stateclient.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>

#include "statestore.h"

#define STATECLIENT_ADDR_MAX 300

struct stateclient {
    char addr[STATECLIENT_ADDR_MAX]; /* "host:port" as given: Host header and messages */
    char host[STATECLIENT_ADDR_MAX]; /* without brackets */
    char port[8];
    char appid[STATESTORE_MAX_APPID + 1];
    double connect_timeout;
    double io_timeout;
    int fd;      /* -1 when not connected */
    bool reused; /* fd has carried a complete exchange */
    unsigned long connects;
    struct buf req;  /* the request being sent */
    struct buf resp; /* the reply body being read */
    /* per-reply parser state */
    llhttp_t parser;
    bool reply_done;
    bool reply_keep_alive;
    bool reply_too_large;
};

/* How one attempt at an exchange ended. */
enum stateclient_io {
    STATECLIENT_IO_OK,
    STATECLIENT_IO_STALE, /* a reused connection failed before any reply byte: retry */
    STATECLIENT_IO_ERROR, /* err filled */
};

static double stateclient_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds left until deadline for poll(), or -1 when it has passed. */
static int stateclient_ms_left(double deadline)
{
    double left = deadline - stateclient_clock();
    if (left <= 0)
        return -1;
    return (int)ceil(left * 1000);
}

/* Wait for events on fd until deadline. Returns revents, 0 on timeout, -1 on error. */
static int stateclient_wait(int fd, short events, double deadline)
{
    for (;;) {
        int ms = stateclient_ms_left(deadline);
        if (ms < 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, ms);
        if (n > 0)
            return p.revents;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

static int stateclient_on_body(llhttp_t *p, const char *at, size_t len)
{
    struct stateclient *c = p->data;
    if (c->resp.len + len > STATESTORE_MAX_ITEM_BYTES) {
        c->reply_too_large = true;
        return -1;
    }
    return buf_append(&c->resp, at, len) == 0 ? 0 : -1;
}

static int stateclient_on_message_complete(llhttp_t *p)
{
    struct stateclient *c = p->data;
    c->reply_done = true;
    c->reply_keep_alive = llhttp_should_keep_alive(p);
    return HPE_PAUSED; /* one reply per request: stop right after it */
}

static const llhttp_settings_t stateclient_settings = {
    .on_body = stateclient_on_body,
    .on_message_complete = stateclient_on_message_complete,
};

static int stateclient_parse_addr(struct stateclient *c, const char *addr, struct errbuf *err)
{
    if (strncmp(addr, "tcpip=", 6) == 0)
        addr += 6;
    size_t n = strlen(addr);
    if (n == 0 || n >= sizeof c->addr)
        goto fail;
    memcpy(c->addr, addr, n + 1);
    const char *colon = strrchr(addr, ':');
    if (colon == NULL)
        goto fail;
    const char *h = addr;
    size_t hlen = (size_t)(colon - addr);
    if (addr[0] == '[') {
        if (hlen < 3 || addr[hlen - 1] != ']')
            goto fail;
        h++;
        hlen -= 2;
    } else if (memchr(addr, ':', hlen) != NULL) {
        goto fail; /* a bare IPv6 address: the port would be ambiguous */
    }
    if (hlen == 0)
        goto fail;
    memcpy(c->host, h, hlen);
    c->host[hlen] = '\0';
    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (plen == 0 || plen > 5 || strspn(p, "0123456789") != plen || atoi(p) < 1 || atoi(p) > 65535)
        goto fail;
    memcpy(c->port, p, plen + 1);
    return 0;
fail:
    errbuf_set(err, "state server address '%s': expected host:port (e.g. 127.0.0.1:42424)", addr);
    return -1;
}

struct stateclient *stateclient_new(const char *addr, const char *appid, struct errbuf *err)
{
    struct stateclient *c = calloc(1, sizeof *c);
    if (c == NULL) {
        errbuf_set(err, "out of memory");
        return NULL;
    }
    c->fd = -1;
    c->connect_timeout = STATECLIENT_CONNECT_TIMEOUT;
    c->io_timeout = STATECLIENT_IO_TIMEOUT;
    buf_init(&c->req);
    buf_init(&c->resp);
    if (stateclient_parse_addr(c, addr, err) != 0)
        goto fail;
    size_t n = strlen(appid);
    if (!statestore_appid_is_valid(appid, n)) {
        errbuf_set(err,
                   "application path '%s': expected an IIS metabase path like /LM/W3SVC/1/ROOT "
                   "(at most %d characters, no spaces, parentheses, '?', '#' or '%%')",
                   appid, STATESTORE_MAX_APPID);
        goto fail;
    }
    memcpy(c->appid, appid, n + 1);
    return c;
fail:
    stateclient_free(c);
    return NULL;
}

static void stateclient_disconnect(struct stateclient *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->reused = false;
}

void stateclient_free(struct stateclient *c)
{
    if (c == NULL)
        return;
    stateclient_disconnect(c);
    buf_cleanup(&c->req);
    buf_cleanup(&c->resp);
    free(c);
}

void stateclient_set_timeouts(struct stateclient *c, double connect_s, double io_s)
{
    if (connect_s > 0)
        c->connect_timeout = connect_s;
    if (io_s > 0)
        c->io_timeout = io_s;
}

const char *stateclient_address(const struct stateclient *c)
{
    return c->addr;
}

unsigned long stateclient_connects(const struct stateclient *c)
{
    return c->connects;
}

/* Non-blocking connect to one address, bounded by deadline. Returns the fd or -1 with
 * *why set to an errno (ETIMEDOUT for the deadline). */
static int stateclient_connect_one(const struct addrinfo *ai, double deadline, int *why)
{
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) {
        *why = errno;
        goto fail;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        *why = errno;
        goto fail;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS && errno != EINTR) {
            *why = errno;
            goto fail;
        }
        int ev = stateclient_wait(fd, POLLOUT, deadline);
        if (ev <= 0) {
            *why = ev == 0 ? ETIMEDOUT : errno;
            goto fail;
        }
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
            soerr = errno;
        if (soerr != 0) {
            *why = soerr;
            goto fail;
        }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    return -1;
}

static int stateclient_connect(struct stateclient *c, struct errbuf *err)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(c->host, c->port, &hints, &res);
    if (rc != 0) {
        errbuf_set(err, "state server %s: cannot resolve '%s': %s", c->addr, c->host,
                   gai_strerror(rc));
        return -1;
    }
    double deadline = stateclient_clock() + c->connect_timeout;
    int why = 0;
    for (const struct addrinfo *ai = res; ai && c->fd < 0; ai = ai->ai_next)
        c->fd = stateclient_connect_one(ai, deadline, &why);
    freeaddrinfo(res);
    if (c->fd < 0) {
        if (why == ETIMEDOUT)
            errbuf_set(err, "state server %s: connect timed out after %.1f s", c->addr,
                       c->connect_timeout);
        else
            errbuf_set(err, "state server %s: connect: %s", c->addr, strerror(why));
        return -1;
    }
    c->connects++;
    c->reused = false;
    return 0;
}

static enum stateclient_io stateclient_send(struct stateclient *c, double deadline,
                                            struct errbuf *err)
{
    size_t off = 0;
    while (off < c->req.len) {
        ssize_t n = send(c->fd, c->req.data + off, c->req.len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int ev = stateclient_wait(c->fd, POLLOUT, deadline);
            if (ev > 0)
                continue;
            if (ev == 0) {
                errbuf_set(err, "state server %s: sending the request timed out after %.1f s",
                           c->addr, c->io_timeout);
                return STATECLIENT_IO_ERROR;
            }
        }
        if (c->reused)
            return STATECLIENT_IO_STALE;
        errbuf_set(err, "state server %s: send: %s", c->addr, strerror(errno));
        return STATECLIENT_IO_ERROR;
    }
    return STATECLIENT_IO_OK;
}

/* Read and parse one reply into c->resp and c->parser. */
static enum stateclient_io stateclient_recv(struct stateclient *c, double deadline,
                                            struct errbuf *err)
{
    llhttp_init(&c->parser, HTTP_RESPONSE, &stateclient_settings);
    c->parser.data = c;
    buf_clear(&c->resp);
    c->reply_done = c->reply_keep_alive = c->reply_too_large = false;
    size_t got = 0;
    char chunk[16384];
    for (;;) {
        ssize_t n = recv(c->fd, chunk, sizeof chunk, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int ev = stateclient_wait(c->fd, POLLIN, deadline);
                if (ev > 0)
                    continue;
                if (ev == 0) {
                    errbuf_set(err, "state server %s: no reply within %.1f s", c->addr,
                               c->io_timeout);
                    return STATECLIENT_IO_ERROR;
                }
            }
            if (got == 0 && c->reused)
                return STATECLIENT_IO_STALE;
            errbuf_set(err, "state server %s: recv: %s", c->addr, strerror(errno));
            return STATECLIENT_IO_ERROR;
        }
        if (n == 0) {
            if (got == 0 && c->reused)
                return STATECLIENT_IO_STALE;
            /* A reply delimited by the end of the connection completes here. */
            llhttp_finish(&c->parser);
            c->reply_keep_alive = false;
            if (c->reply_done)
                return STATECLIENT_IO_OK;
            errbuf_set(err, "state server %s: connection closed %s", c->addr,
                       got ? "in the middle of the reply" : "without a reply");
            return STATECLIENT_IO_ERROR;
        }
        got += (size_t)n;
        llhttp_errno_t e = llhttp_execute(&c->parser, chunk, (size_t)n);
        if (e == HPE_PAUSED && c->reply_done) {
            /* Bytes after the reply were never asked for: do not reuse the connection. */
            const char *end = llhttp_get_error_pos(&c->parser);
            if (end == NULL || end != chunk + n)
                c->reply_keep_alive = false;
            return STATECLIENT_IO_OK;
        }
        if (e != HPE_OK) {
            if (c->reply_too_large)
                errbuf_set(err, "state server %s: reply body larger than %d bytes", c->addr,
                           STATESTORE_MAX_ITEM_BYTES);
            else
                errbuf_set(err, "state server %s: malformed reply (%s)", c->addr,
                           llhttp_errno_name(e));
            return STATECLIENT_IO_ERROR;
        }
    }
}

/* Send c->req and read the reply, reconnecting as needed. Returns the status code (body in
 * c->resp) or -1 with err filled. */
static int stateclient_exchange(struct stateclient *c, struct errbuf *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->fd < 0 && stateclient_connect(c, err) != 0)
            return -1;
        double deadline = stateclient_clock() + c->io_timeout;
        enum stateclient_io r = stateclient_send(c, deadline, err);
        if (r == STATECLIENT_IO_OK)
            r = stateclient_recv(c, deadline, err);
        if (r == STATECLIENT_IO_OK) {
            if (c->reply_keep_alive)
                c->reused = true;
            else
                stateclient_disconnect(c);
            return c->parser.status_code;
        }
        stateclient_disconnect(c);
        if (r == STATECLIENT_IO_ERROR)
            return -1;
        /* STALE: the server had closed the idle connection; try once more, fresh. */
    }
    errbuf_set(err, "state server %s: connection closed without a reply", c->addr);
    return -1;
}

/* The request line and common headers; end adds the blank line that ends a bodyless
 * request. */
static int stateclient_begin(struct stateclient *c, const char *method, const char *sid, bool end,
                             struct errbuf *err)
{
    if (!statestore_sid_is_valid(sid, strlen(sid))) {
        errbuf_set(err, "invalid session id (expected 1..%d of [A-Za-z0-9])", STATESTORE_MAX_SID);
        return -1;
    }
    buf_clear(&c->req);
    if (buf_printf(&c->req, "%s %s(%s) HTTP/1.1\r\nHost: %s\r\n%s", method, c->appid, sid, c->addr,
                   end ? "\r\n" : "") != 0) {
        errbuf_set(err, "out of memory");
        return -1;
    }
    return 0;
}

/* Fill err for an unexpected status, quoting the start of the server's text. */
static void stateclient_bad_status(struct stateclient *c, int status, struct errbuf *err)
{
    char text[81];
    size_t n = 0;
    for (size_t i = 0; i < c->resp.len && n < sizeof text - 1; i++) {
        char ch = c->resp.data[i];
        if (ch == '\n' || ch == '\r')
            break;
        text[n++] = (ch >= 0x20 && ch < 0x7f) ? ch : '?';
    }
    text[n] = '\0';
    errbuf_set(err, "state server %s answered %d%s%s", c->addr, status, n ? ": " : "", text);
}

int stateclient_get(struct stateclient *c, const char *sid, struct buf *out, struct errbuf *err)
{
    buf_clear(out);
    if (stateclient_begin(c, "GET", sid, true, err) != 0)
        return -1;
    int status = stateclient_exchange(c, err);
    if (status < 0)
        return -1;
    if (status == 404)
        return 0;
    if (status != 200) {
        stateclient_bad_status(c, status, err);
        return -1;
    }
    /* Hand the body over without copying. */
    struct buf t = *out;
    *out = c->resp;
    c->resp = t;
    buf_clear(&c->resp);
    return 1;
}

int stateclient_put(struct stateclient *c, const char *sid, const void *data, size_t len,
                    unsigned timeout_s, struct errbuf *err)
{
    if (len > STATESTORE_MAX_ITEM_BYTES) {
        errbuf_set(err, "session item of %zu bytes is larger than the state server takes (%d)", len,
                   STATESTORE_MAX_ITEM_BYTES);
        return -1;
    }
    if (timeout_s == 0 || timeout_s > STATESTORE_MAX_TIMEOUT_S) {
        errbuf_set(err, "session timeout %u s out of range (1..%u)", timeout_s,
                   STATESTORE_MAX_TIMEOUT_S);
        return -1;
    }
    if (stateclient_begin(c, "PUT", sid, false, err) != 0)
        return -1;
    /* The real protocol speaks minutes; seconds only when the minutes would round. */
    int rc = buf_printf(&c->req, "Timeout: %u\r\n", (timeout_s + 59) / 60);
    if (rc == 0 && timeout_s % 60 != 0)
        rc = buf_printf(&c->req, "X-Timeout-Seconds: %u\r\n", timeout_s);
    if (rc == 0)
        rc = buf_printf(
            &c->req, "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n\r\n", len);
    if (rc == 0)
        rc = buf_append(&c->req, data, len);
    if (rc != 0) {
        errbuf_set(err, "out of memory");
        return -1;
    }
    int status = stateclient_exchange(c, err);
    if (status < 0)
        return -1;
    if (status != 200) {
        stateclient_bad_status(c, status, err);
        return -1;
    }
    return 0;
}

int stateclient_del(struct stateclient *c, const char *sid, struct errbuf *err)
{
    if (stateclient_begin(c, "DELETE", sid, true, err) != 0)
        return -1;
    int status = stateclient_exchange(c, err);
    if (status < 0)
        return -1;
    if (status == 404)
        return 0;
    if (status != 200) {
        stateclient_bad_status(c, status, err);
        return -1;
    }
    return 1;
}
