/* stateclient against two kinds of peers on 127.0.0.1:
 *  - a canned server (a thread answering each request with scripted bytes) for what a real
 *    server never does: garbage, truncation, hangs, closing idle connections;
 *  - the real stateserver on its own libev loop in a thread, for the protocol end to end.
 * Every wait is bounded (client timeouts, poll timeouts in the canned server, an alarm). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "stateclient.h"
#include "stateserver.h"
#include "statestore.h"

#define APP  "/LM/W3SVC/1/ROOT"
#define SID  "abcdefghijklmnopqrstuvwx"
#define SID2 "bbcdefghijklmnopqrstuvwx"

/* ---- helpers ---------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A listening socket on 127.0.0.1 with an ephemeral port. */
static int listen_loopback(int backlog, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, backlog), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* ---- the canned server --------------------------------------------------------------- */

enum canned_action {
    CANNED_REPLY,       /* send reply, keep the connection */
    CANNED_REPLY_CLOSE, /* send reply (which claims keep-alive), then close */
    CANNED_CLOSE,       /* close without replying */
    CANNED_HANG,        /* never reply; wait for the client to go away */
};

struct canned_step {
    enum canned_action action;
    const char *reply;
    size_t reply_len; /* 0: strlen(reply) */
};

#define CANNED_MAX_REQUESTS 8

struct canned {
    int lfd;
    int port;
    char addr[32];
    pthread_t thread;
    const struct canned_step *steps;
    size_t n_steps;
    /* recorded by the thread, read after join */
    char requests[CANNED_MAX_REQUESTS][2048];
    size_t request_lens[CANNED_MAX_REQUESTS];
    size_t n_requests;
    int accepts;
};

/* Read one request (head + Content-Length body) into out. Returns its length, 0 when the
 * client closed first, -1 on timeout or error. */
static long canned_read_request(int fd, char *out, size_t cap)
{
    size_t len = 0;
    for (;;) {
        out[len] = '\0';
        const char *end = strstr(out, "\r\n\r\n");
        if (end) {
            size_t head = (size_t)(end + 4 - out);
            size_t body = 0;
            const char *cl = strstr(out, "Content-Length: ");
            if (cl && cl < end)
                body = strtoul(cl + 16, NULL, 10);
            if (len >= head + body)
                return (long)len;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0 || len + 1 >= cap)
            return -1;
        ssize_t n = recv(fd, out + len, cap - 1 - len, 0);
        if (n <= 0)
            return n == 0 && len == 0 ? 0 : -1;
        len += (size_t)n;
    }
}

static void canned_wait_close(int fd)
{
    char tmp[256];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, 5000) > 0 && recv(fd, tmp, sizeof tmp, 0) > 0)
        ;
}

static void *canned_main(void *arg)
{
    struct canned *cs = arg;
    size_t step = 0;
    while (step < cs->n_steps) {
        struct pollfd p = {.fd = cs->lfd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0)
            return NULL;
        int fd = accept(cs->lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        cs->accepts++;
        bool open = true;
        while (open && step < cs->n_steps) {
            char req[2048];
            long n = canned_read_request(fd, req, sizeof req);
            if (n <= 0)
                break;
            if (cs->n_requests < CANNED_MAX_REQUESTS) {
                memcpy(cs->requests[cs->n_requests], req, (size_t)n);
                cs->request_lens[cs->n_requests++] = (size_t)n;
            }
            const struct canned_step *s = &cs->steps[step++];
            if (s->reply) {
                size_t len = s->reply_len ? s->reply_len : strlen(s->reply);
                if (s->action != CANNED_HANG && s->action != CANNED_CLOSE)
                    send(fd, s->reply, len, MSG_NOSIGNAL);
            }
            if (s->action == CANNED_HANG)
                canned_wait_close(fd);
            if (s->action != CANNED_REPLY)
                open = false;
        }
        if (open)
            canned_wait_close(fd);
        close(fd);
    }
    return NULL;
}

static void canned_start(struct canned *cs, const struct canned_step *steps, size_t n)
{
    memset(cs, 0, sizeof *cs);
    cs->steps = steps;
    cs->n_steps = n;
    cs->lfd = listen_loopback(8, &cs->port);
    snprintf(cs->addr, sizeof cs->addr, "127.0.0.1:%d", cs->port);
    assert_int_equal(pthread_create(&cs->thread, NULL, canned_main, cs), 0);
}

/* Join after the client has been freed (so a thread waiting for close returns). */
static void canned_join(struct canned *cs)
{
    pthread_join(cs->thread, NULL);
    close(cs->lfd);
}

static struct stateclient *client_for(const char *addr, const char *app)
{
    struct errbuf err = {{0}};
    struct stateclient *c = stateclient_new(addr, app, &err);
    if (c == NULL)
        fail_msg("stateclient_new: %s", err.msg);
    stateclient_set_timeouts(c, 1.0, 2.0);
    return c;
}

#define OK_EMPTY  "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
#define NOT_FOUND "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

/* ---- client against the canned server --------------------------------------------------- */

static void test_stateclient_get_sends_appid_and_sid_in_url(void **state)
{
    (void)state;
    static const struct canned_step steps[] = {
        {CANNED_REPLY, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0},
        {CANNED_REPLY, NOT_FOUND, 0},
    };
    struct canned cs;
    canned_start(&cs, steps, 2);
    struct stateclient *c = client_for(cs.addr, APP);
    struct buf out;
    buf_init(&out);
    struct errbuf err = {{0}};
    assert_int_equal(stateclient_get(c, SID, &out, &err), 1);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, "hello", 5);
    assert_int_equal(stateclient_get(c, SID2, &out, &err), 0);
    assert_int_equal(out.len, 0);
    /* Both on one keep-alive connection. */
    assert_int_equal(stateclient_connects(c), 1);
    stateclient_free(c);
    canned_join(&cs);
    assert_int_equal(cs.accepts, 1);
    assert_int_equal(cs.n_requests, 2);
    const char *want = "GET /LM/W3SVC/1/ROOT(" SID ") HTTP/1.1\r\n";
    assert_memory_equal(cs.requests[0], want, strlen(want));
    assert_non_null(strstr(cs.requests[0], "\r\nHost: 127.0.0.1:"));
    buf_cleanup(&out);
}

static void test_stateclient_put_sends_timeout_and_exact_body(void **state)
{
    (void)state;
    static const struct canned_step steps[] = {
        {CANNED_REPLY, OK_EMPTY, 0},
        {CANNED_REPLY, OK_EMPTY, 0},
    };
    struct canned cs;
    canned_start(&cs, steps, 2);
    struct stateclient *c = client_for(cs.addr, APP);
    struct errbuf err = {{0}};
    const char body[] = {'a', 0, '\r', '\n', 'z'};
    assert_int_equal(stateclient_put(c, SID, body, sizeof body, 1200, &err), 0);
    assert_int_equal(stateclient_put(c, SID, body, sizeof body, 90, &err), 0);
    stateclient_free(c);
    canned_join(&cs);
    assert_int_equal(cs.n_requests, 2);
    /* Whole minutes: only the real protocol's Timeout header. */
    const char *r0 = cs.requests[0];
    assert_memory_equal(r0, "PUT /LM/W3SVC/1/ROOT(" SID ") HTTP/1.1\r\n", 45);
    assert_non_null(strstr(r0, "\r\nTimeout: 20\r\n"));
    assert_null(strstr(r0, "X-Timeout-Seconds"));
    assert_non_null(strstr(r0, "\r\nContent-Length: 5\r\n"));
    assert_memory_equal(cs.requests[0] + cs.request_lens[0] - sizeof body, body, sizeof body);
    /* 90 s: minutes round up, seconds carried exactly. */
    assert_non_null(strstr(cs.requests[1], "\r\nTimeout: 2\r\n"));
    assert_non_null(strstr(cs.requests[1], "\r\nX-Timeout-Seconds: 90\r\n"));
}

static void test_stateclient_del_found_and_not_found(void **state)
{
    (void)state;
    static const struct canned_step steps[] = {
        {CANNED_REPLY, OK_EMPTY, 0},
        {CANNED_REPLY, NOT_FOUND, 0},
    };
    struct canned cs;
    canned_start(&cs, steps, 2);
    struct stateclient *c = client_for(cs.addr, APP);
    struct errbuf err = {{0}};
    assert_int_equal(stateclient_del(c, SID, &err), 1);
    assert_int_equal(stateclient_del(c, SID, &err), 0);
    stateclient_free(c);
    canned_join(&cs);
    assert_memory_equal(cs.requests[0], "DELETE /LM/W3SVC/1/ROOT(", 24);
}

static void test_stateclient_retries_once_when_server_closed_idle_connection(void **state)
{
    (void)state;
    /* The first reply claims keep-alive, then the server closes (an idle timeout): the next
     * request fails on the stale connection and must succeed on a fresh one. */
    static const struct canned_step steps[] = {
        {CANNED_REPLY_CLOSE, OK_EMPTY, 0},
        {CANNED_REPLY, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 0},
    };
    struct canned cs;
    canned_start(&cs, steps, 2);
    struct stateclient *c = client_for(cs.addr, APP);
    struct errbuf err = {{0}};
    struct buf out;
    buf_init(&out);
    assert_int_equal(stateclient_put(c, SID, "x", 1, 60, &err), 0);
    /* Whether the server's FIN has arrived yet or not, the get must not fail. */
    int r = stateclient_get(c, SID, &out, &err);
    if (r != 1)
        fail_msg("get after idle close: %d (%s)", r, err.msg);
    assert_memory_equal(out.data, "hi", 2);
    assert_int_equal(stateclient_connects(c), 2);
    stateclient_free(c);
    canned_join(&cs);
    assert_int_equal(cs.accepts, 2);
    buf_cleanup(&out);
}

static void test_stateclient_connection_close_reply_is_not_reused(void **state)
{
    (void)state;
    static const struct canned_step steps[] = {
        {CANNED_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
         0},
        {CANNED_REPLY, OK_EMPTY, 0},
    };
    struct canned cs;
    canned_start(&cs, steps, 2);
    struct stateclient *c = client_for(cs.addr, APP);
    struct errbuf err = {{0}};
    assert_int_equal(stateclient_del(c, SID, &err), 1);
    assert_int_equal(stateclient_del(c, SID, &err), 1);
    assert_int_equal(stateclient_connects(c), 2);
    stateclient_free(c);
    canned_join(&cs);
}

static void test_stateclient_unasked_bytes_prevent_reuse(void **state)
{
    (void)state;
    /* Two replies to one request: take the first, distrust the connection. */
    static const struct canned_step steps[] = {
        {CANNED_REPLY, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi" NOT_FOUND, 0},
        {CANNED_REPLY, NOT_FOUND, 0},
    };
    struct canned cs;
    canned_start(&cs, steps, 2);
    struct stateclient *c = client_for(cs.addr, APP);
    struct buf out;
    buf_init(&out);
    struct errbuf err = {{0}};
    assert_int_equal(stateclient_get(c, SID, &out, &err), 1);
    assert_memory_equal(out.data, "hi", 2);
    assert_int_equal(stateclient_get(c, SID, &out, &err), 0);
    assert_int_equal(stateclient_connects(c), 2);
    stateclient_free(c);
    canned_join(&cs);
    assert_int_equal(cs.accepts, 2);
    buf_cleanup(&out);
}

static void test_stateclient_bad_replies_fail_cleanly(void **state)
{
    (void)state;
    static const char big_head[] = "HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n";
    static char big[sizeof big_head - 1 + 70000];
    memcpy(big, big_head, sizeof big_head - 1);
    memset(big + sizeof big_head - 1, 'x', 70000);
    const struct canned_step steps[] = {
        {CANNED_REPLY_CLOSE, "HELLO THERE\r\n\r\n", 0},
        {CANNED_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0},
        {CANNED_CLOSE, NULL, 0},
        {CANNED_REPLY_CLOSE, big, sizeof big},
        {CANNED_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0},
        {CANNED_REPLY,
         "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 17\r\n\r\nstate store full\n", 0},
        {CANNED_REPLY, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0},
    };
    struct canned cs;
    canned_start(&cs, steps, sizeof steps / sizeof steps[0]);
    struct stateclient *c = client_for(cs.addr, APP);
    struct buf out;
    buf_init(&out);
    struct errbuf err = {{0}};
    assert_int_equal(stateclient_get(c, SID, &out, &err), -1);
    assert_non_null(strstr(err.msg, "malformed reply"));
    assert_int_equal(stateclient_get(c, SID, &out, &err), -1);
    assert_non_null(strstr(err.msg, "in the middle of the reply"));
    assert_int_equal(stateclient_get(c, SID, &out, &err), -1);
    assert_non_null(strstr(err.msg, "without a reply"));
    assert_int_equal(stateclient_get(c, SID, &out, &err), -1);
    assert_non_null(strstr(err.msg, "larger than 65536"));
    assert_int_equal(stateclient_get(c, SID, &out, &err), -1);
    assert_non_null(strstr(err.msg, "malformed reply"));
    assert_int_equal(stateclient_put(c, SID, "x", 1, 60, &err), -1);
    assert_non_null(strstr(err.msg, "answered 503: state store full"));
    /* After all that, a good reply on the connection that survived the 503 still works. */
    assert_int_equal(stateclient_get(c, SID, &out, &err), 1);
    assert_memory_equal(out.data, "ok", 2);
    stateclient_free(c);
    canned_join(&cs);
    buf_cleanup(&out);
}

static void test_stateclient_times_out_on_a_hung_server(void **state)
{
    (void)state;
    static const struct canned_step steps[] = {{CANNED_HANG, NULL, 0}};
    struct canned cs;
    canned_start(&cs, steps, 1);
    struct stateclient *c = client_for(cs.addr, APP);
    stateclient_set_timeouts(c, 1.0, 0.3);
    struct buf out;
    buf_init(&out);
    struct errbuf err = {{0}};
    double t0 = now_s();
    assert_int_equal(stateclient_get(c, SID, &out, &err), -1);
    double took = now_s() - t0;
    assert_non_null(strstr(err.msg, "no reply within 0.3 s"));
    assert_true(took >= 0.25 && took < 1.5);
    stateclient_free(c); /* closes: the canned thread sees it and ends */
    canned_join(&cs);
    buf_cleanup(&out);
}

static void test_stateclient_refused_connection_is_unreachable(void **state)
{
    (void)state;
    int port;
    int fd = listen_loopback(1, &port);
    close(fd); /* nothing listens there now */
    char addr[32];
    snprintf(addr, sizeof addr, "tcpip=127.0.0.1:%d", port);
    struct stateclient *c = client_for(addr, APP);
    assert_string_equal(stateclient_address(c), addr + 6);
    struct buf out;
    buf_init(&out);
    struct errbuf err = {{0}};
    assert_int_equal(stateclient_get(c, SID, &out, &err), -1);
    assert_non_null(strstr(err.msg, "connect: Connection refused"));
    assert_int_equal(stateclient_put(c, SID, "x", 1, 60, &err), -1);
    assert_int_equal(stateclient_del(c, SID, &err), -1);
    assert_int_equal(stateclient_connects(c), 0);
    stateclient_free(c);
    buf_cleanup(&out);
}

static void test_stateclient_connect_times_out(void **state)
{
    (void)state;
    /* A listener whose accept queue is full drops SYNs (Linux), so a connect hangs: the
     * closest thing to an unresponsive host on loopback. Backlog 0 queues one connection. */
    int port;
    int lfd = listen_loopback(0, &port);
    int filler = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(filler >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(filler, (struct sockaddr *)&sa, sizeof sa), 0);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    struct stateclient *c = client_for(addr, APP);
    stateclient_set_timeouts(c, 0.3, 1.0);
    struct buf out;
    buf_init(&out);
    struct errbuf err = {{0}};
    double t0 = now_s();
    assert_int_equal(stateclient_get(c, SID, &out, &err), -1);
    double took = now_s() - t0;
    assert_non_null(strstr(err.msg, "connect timed out after 0.3 s"));
    assert_true(took >= 0.25 && took < 1.5);
    stateclient_free(c);
    close(filler);
    close(lfd);
    buf_cleanup(&out);
}

static void test_stateclient_rejects_bad_arguments(void **state)
{
    (void)state;
    struct errbuf err = {{0}};
    const char *bad_addrs[] = {
        "",    "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x1",
        ":80", "::1:80",    "[::1:80",    "[]:80"};
    for (size_t i = 0; i < sizeof bad_addrs / sizeof bad_addrs[0]; i++) {
        struct stateclient *c = stateclient_new(bad_addrs[i], APP, &err);
        if (c != NULL)
            fail_msg("address '%s' was accepted", bad_addrs[i]);
        assert_non_null(strstr(err.msg, "expected host:port"));
    }
    assert_null(stateclient_new("127.0.0.1:1", "LM/W3SVC/1/ROOT", &err));
    assert_null(stateclient_new("127.0.0.1:1", "/LM/W3SVC/1/ROOT (x)", &err));
    struct stateclient *c = stateclient_new("[::1]:1", APP, &err);
    assert_non_null(c);
    struct buf out;
    buf_init(&out);
    /* Bad input is refused before any connection attempt. */
    assert_int_equal(stateclient_get(c, "not-a-sid", &out, &err), -1);
    assert_non_null(strstr(err.msg, "invalid session id"));
    assert_int_equal(stateclient_put(c, SID, "x", 1, 0, &err), -1);
    assert_int_equal(stateclient_put(c, SID, "x", STATESTORE_MAX_ITEM_BYTES + 1, 60, &err), -1);
    assert_non_null(strstr(err.msg, "larger than"));
    assert_int_equal(stateclient_connects(c), 0);
    stateclient_free(c);
    stateclient_free(NULL);
    buf_cleanup(&out);
}

static void test_stateclient_unreachable_text_is_aspnets(void **state)
{
    (void)state;
    const char *t = STATECLIENT_UNREACHABLE_TEXT;
    assert_memory_equal(t, "Unable to make the session state request", 40);
    assert_non_null(strstr(t,
                           "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\aspnet_state\\"
                           "Parameters\\AllowRemoteConnection. If"));
    assert_non_null(strstr(t, "either 'localhost' or '127.0.0.1' as the server name."));
}

/* ---- the real state server on a loop in a thread ----------------------------------------- */

struct live {
    struct ev_loop *loop;
    struct stateserver *ss;
    ev_async stop;
    pthread_t thread;
    char addr[64];
    int port;
};

static void live_stop_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void *live_main(void *arg)
{
    struct live *lv = arg;
    ev_run(lv->loop, 0);
    return NULL;
}

static void live_start(struct live *lv, size_t max_items)
{
    memset(lv, 0, sizeof *lv);
    lv->loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(lv->loop);
    struct stateserver_opts o = {.listen = "127.0.0.1:0", .max_items = max_items};
    struct errbuf err = {{0}};
    lv->ss = stateserver_new(lv->loop, &o, &err);
    if (lv->ss == NULL)
        fail_msg("stateserver_new: %s", err.msg);
    snprintf(lv->addr, sizeof lv->addr, "%s", httpd_address(stateserver_server(lv->ss)));
    lv->port = atoi(strrchr(lv->addr, ':') + 1);
    assert_true(lv->port > 0);
    ev_async_init(&lv->stop, live_stop_cb);
    ev_async_start(lv->loop, &lv->stop);
    assert_int_equal(pthread_create(&lv->thread, NULL, live_main, lv), 0);
}

static void live_stop(struct live *lv)
{
    ev_async_send(lv->loop, &lv->stop);
    pthread_join(lv->thread, NULL);
    ev_async_stop(lv->loop, &lv->stop);
    stateserver_free(lv->ss);
    ev_loop_destroy(lv->loop);
}

/* One raw request on its own connection (Connection: close). Returns the status; the body
 * (after the head) goes to body. */
static int raw_request(int port, const char *req, size_t req_len, struct buf *body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    size_t off = 0;
    while (off < req_len) {
        ssize_t n = send(fd, req + off, req_len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may answer (413) and close before reading it all */
        off += (size_t)n;
    }
    struct buf all;
    buf_init(&all);
    char tmp[4096];
    ssize_t n;
    while ((n = recv(fd, tmp, sizeof tmp, 0)) > 0)
        assert_int_equal(buf_append(&all, tmp, (size_t)n), 0);
    close(fd);
    int status = -1;
    if (all.len > 12)
        sscanf(all.data, "HTTP/1.1 %d", &status);
    const char *end = all.data ? strstr(all.data, "\r\n\r\n") : NULL;
    buf_clear(body);
    if (end)
        buf_append(body, end + 4, all.len - (size_t)(end + 4 - all.data));
    buf_cleanup(&all);
    return status;
}

static int raw_simple(int port, const char *method, const char *target, const char *headers,
                      struct buf *body)
{
    char req[1024];
    int n =
        snprintf(req, sizeof req,
                 "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%sContent-Length: 0\r\n\r\n",
                 method, target, headers ? headers : "");
    assert_true(n > 0 && (size_t)n < sizeof req);
    return raw_request(port, req, (size_t)n, body);
}

static void advance(struct live *lv, int seconds)
{
    char target[64];
    snprintf(target, sizeof target, "/_farm/advance?seconds=%d", seconds);
    struct buf b;
    buf_init(&b);
    assert_int_equal(raw_simple(lv->port, "POST", target, NULL, &b), 200);
    buf_cleanup(&b);
}

static void test_stateserver_roundtrip_with_client(void **state)
{
    (void)state;
    struct live lv;
    live_start(&lv, 0);
    struct stateclient *c = client_for(lv.addr, APP);
    struct errbuf err = {{0}};
    struct buf out;
    buf_init(&out);
    assert_int_equal(stateclient_get(c, SID, &out, &err), 0);
    unsigned char item[STATESTORE_MAX_ITEM_BYTES];
    for (size_t i = 0; i < sizeof item; i++)
        item[i] = (unsigned char)(i * 7);
    if (stateclient_put(c, SID, item, sizeof item, 1200, &err) != 0)
        fail_msg("put: %s", err.msg);
    assert_int_equal(stateclient_get(c, SID, &out, &err), 1);
    assert_int_equal(out.len, sizeof item);
    assert_memory_equal(out.data, item, sizeof item);
    assert_int_equal(stateclient_put(c, SID, "", 0, 60, &err), 0);
    assert_int_equal(stateclient_get(c, SID, &out, &err), 1);
    assert_int_equal(out.len, 0);
    assert_int_equal(stateclient_del(c, SID, &err), 1);
    assert_int_equal(stateclient_del(c, SID, &err), 0);
    assert_int_equal(stateclient_get(c, SID, &out, &err), 0);
    /* All of it over one keep-alive connection. */
    assert_int_equal(stateclient_connects(c), 1);
    stateclient_free(c);
    live_stop(&lv);
    buf_cleanup(&out);
}

static void test_stateserver_site_id_trap(void **state)
{
    (void)state;
    struct live lv;
    live_start(&lv, 0);
    struct stateclient *site1 = client_for(lv.addr, "/LM/W3SVC/1/ROOT");
    struct stateclient *site2 = client_for(lv.addr, "/LM/W3SVC/2/ROOT");
    struct stateclient *site1_lower = client_for(lv.addr, "/lm/w3svc/1/root");
    struct errbuf err = {{0}};
    struct buf out;
    buf_init(&out);
    assert_int_equal(stateclient_put(site1, SID, "cart=3", 6, 1200, &err), 0);
    /* Same sid, another IIS site id: a different session (the user's cart is gone). */
    assert_int_equal(stateclient_get(site2, SID, &out, &err), 0);
    /* The application path is case-sensitive: another key. */
    assert_int_equal(stateclient_get(site1_lower, SID, &out, &err), 0);
    assert_int_equal(stateclient_get(site1, SID, &out, &err), 1);
    assert_memory_equal(out.data, "cart=3", 6);
    /* The sid itself is case-sensitive. */
    assert_int_equal(stateclient_get(site1, "ABCDEFGHIJKLMNOPQRSTUVWX", &out, &err), 0);
    stateclient_free(site1);
    stateclient_free(site2);
    stateclient_free(site1_lower);
    live_stop(&lv);
    buf_cleanup(&out);
}

static void test_stateserver_expiry_slides_with_advance(void **state)
{
    (void)state;
    struct live lv;
    live_start(&lv, 0);
    struct stateclient *c = client_for(lv.addr, APP);
    struct errbuf err = {{0}};
    struct buf out;
    buf_init(&out);
    assert_int_equal(stateclient_put(c, SID, "a", 1, 60, &err), 0);
    assert_int_equal(stateclient_put(c, SID2, "b", 1, 60, &err), 0);
    advance(&lv, 50);
    assert_int_equal(stateclient_get(c, SID, &out, &err), 1); /* slides SID to +60 */
    advance(&lv, 50);
    /* SID2 was not read: 100 s after its put it has expired; SID was read 50 s ago. */
    assert_int_equal(stateclient_get(c, SID2, &out, &err), 0);
    assert_int_equal(stateclient_get(c, SID, &out, &err), 1);
    advance(&lv, 61);
    assert_int_equal(stateclient_get(c, SID, &out, &err), 0);
    stateclient_free(c);
    live_stop(&lv);
    buf_cleanup(&out);
}

static void test_stateserver_timeout_header_is_minutes(void **state)
{
    (void)state;
    struct live lv;
    live_start(&lv, 0);
    struct buf b;
    buf_init(&b);
    const char *put = "PUT " APP "(" SID ") HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      "Timeout: 1\r\nContent-Length: 3\r\n\r\nabc";
    assert_int_equal(raw_request(lv.port, put, strlen(put), &b), 200);
    advance(&lv, 59);
    assert_int_equal(raw_simple(lv.port, "GET", APP "(" SID ")", NULL, &b), 200);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "abc", 3);
    advance(&lv, 61);
    assert_int_equal(raw_simple(lv.port, "GET", APP "(" SID ")", NULL, &b), 404);
    /* No timeout header at all: ASP.NET's default of 20 minutes. */
    const char *put2 = "PUT " APP "(" SID ") HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       "Content-Length: 1\r\n\r\nz";
    assert_int_equal(raw_request(lv.port, put2, strlen(put2), &b), 200);
    advance(&lv, 1199);
    assert_int_equal(raw_simple(lv.port, "GET", APP "(" SID ")", NULL, &b), 200);
    advance(&lv, 1200);
    assert_int_equal(raw_simple(lv.port, "GET", APP "(" SID ")", NULL, &b), 404);
    live_stop(&lv);
    buf_cleanup(&b);
}

static void test_stateserver_rejects_bad_requests(void **state)
{
    (void)state;
    struct live lv;
    live_start(&lv, 0);
    struct buf b;
    buf_init(&b);
    assert_int_equal(raw_simple(lv.port, "GET", APP "(abc-def)", NULL, &b), 400);
    assert_int_equal(raw_simple(lv.port, "GET", APP "()", NULL, &b), 400);
    assert_int_equal(raw_simple(lv.port, "GET", "/(abc)", NULL, &b), 404); /* appid "/" */
    assert_int_equal(raw_simple(lv.port, "GET", APP "(abc", NULL, &b), 404);
    assert_int_equal(raw_simple(lv.port, "GET", "/LM/W3SVC/1/RO%4FT(abc)", NULL, &b), 400);
    assert_int_equal(raw_simple(lv.port, "GET", "/nothing-here", NULL, &b), 404);
    assert_int_equal(raw_simple(lv.port, "POST", APP "(" SID ")", NULL, &b), 405);
    assert_int_equal(raw_simple(lv.port, "PUT", APP "(" SID ")", "Timeout: 0\r\n", &b), 400);
    assert_int_equal(raw_simple(lv.port, "PUT", APP "(" SID ")", "Timeout: 525601\r\n", &b), 400);
    assert_int_equal(raw_simple(lv.port, "PUT", APP "(" SID ")", "Timeout: 2x\r\n", &b), 400);
    assert_int_equal(raw_simple(lv.port, "PUT", APP "(" SID ")", "X-Timeout-Seconds: -5\r\n", &b),
                     400);
    assert_int_equal(raw_simple(lv.port, "POST", "/_farm/advance?seconds=-1", NULL, &b), 400);
    assert_int_equal(raw_simple(lv.port, "POST", "/_farm/advance?seconds=nan", NULL, &b), 400);
    assert_int_equal(raw_simple(lv.port, "POST", "/_farm/advance", NULL, &b), 400);
    assert_int_equal(raw_simple(lv.port, "GET", "/_farm/advance?seconds=1", NULL, &b), 405);
    /* One byte over 64 KiB: the server's body limit. */
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "PUT " APP "(" SID ") HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      "Content-Length: %d\r\n\r\n",
                      STATESTORE_MAX_ITEM_BYTES + 1);
    size_t total = (size_t)hn + STATESTORE_MAX_ITEM_BYTES + 1;
    char *big = malloc(total);
    assert_non_null(big);
    memcpy(big, head, (size_t)hn);
    memset(big + hn, 'x', STATESTORE_MAX_ITEM_BYTES + 1);
    assert_int_equal(raw_request(lv.port, big, total, &b), 413);
    free(big);
    assert_int_equal(raw_simple(lv.port, "GET", APP "(" SID ")", NULL, &b), 404);
    live_stop(&lv);
    buf_cleanup(&b);
}

static void test_stateserver_full_store_answers_503(void **state)
{
    (void)state;
    struct live lv;
    live_start(&lv, 2);
    struct stateclient *c = client_for(lv.addr, APP);
    struct errbuf err = {{0}};
    assert_int_equal(stateclient_put(c, "a1", "x", 1, 60, &err), 0);
    assert_int_equal(stateclient_put(c, "a2", "x", 1, 60, &err), 0);
    assert_int_equal(stateclient_put(c, "a3", "x", 1, 60, &err), -1);
    assert_non_null(strstr(err.msg, "answered 503: state store full"));
    /* Once the others expire there is room again. */
    advance(&lv, 61);
    assert_int_equal(stateclient_put(c, "a3", "x", 1, 60, &err), 0);
    stateclient_free(c);
    live_stop(&lv);
}

static void test_stateserver_health_and_info(void **state)
{
    (void)state;
    struct live lv;
    live_start(&lv, 0);
    struct buf b;
    buf_init(&b);
    assert_int_equal(raw_simple(lv.port, "GET", "/health", NULL, &b), 200);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "ok", 2);
    struct stateclient *c1 = client_for(lv.addr, "/LM/W3SVC/1/ROOT");
    struct stateclient *c2 = client_for(lv.addr, "/LM/W3SVC/2/ROOT");
    struct errbuf err = {{0}};
    assert_int_equal(stateclient_put(c1, "s1", "secret-cart", 11, 60, &err), 0);
    assert_int_equal(stateclient_put(c1, "s2", "x", 1, 60, &err), 0);
    assert_int_equal(stateclient_put(c2, "s1", "x", 1, 120, &err), 0);
    assert_int_equal(raw_simple(lv.port, "GET", "/_farm/info", NULL, &b), 200);
    /* Counts only: never item bytes. */
    assert_null(strstr(b.data, "secret-cart"));
    json_error_t jerr;
    json_t *info = json_loadb(b.data, b.len, 0, &jerr);
    if (info == NULL)
        fail_msg("info is not JSON: %s: %s", jerr.text, b.data);
    assert_string_equal(json_string_value(json_object_get(info, "role")), "state-server");
    assert_int_equal(json_integer_value(json_object_get(info, "sessions")), 3);
    json_t *apps = json_object_get(info, "apps");
    assert_int_equal(json_object_size(apps), 2);
    assert_int_equal(json_integer_value(json_object_get(apps, "/LM/W3SVC/1/ROOT")), 2);
    assert_int_equal(json_integer_value(json_object_get(apps, "/LM/W3SVC/2/ROOT")), 1);
    /* health, 3 puts, this info */
    assert_int_equal(json_integer_value(json_object_get(info, "requests")), 5);
    json_decref(info);
    advance(&lv, 61);
    assert_int_equal(raw_simple(lv.port, "GET", "/_farm/info", NULL, &b), 200);
    info = json_loadb(b.data, b.len, 0, &jerr);
    assert_non_null(info);
    assert_int_equal(json_integer_value(json_object_get(info, "sessions")), 1);
    assert_int_equal(json_object_size(json_object_get(info, "apps")), 1);
    json_decref(info);
    stateclient_free(c1);
    stateclient_free(c2);
    live_stop(&lv);
    buf_cleanup(&b);
}

/* Parse req with libfarm's parser and run the handler directly as if from peer. */
static int handle_direct(struct stateserver *ss, const char *req, bool loopback, struct buf *body)
{
    struct http_limits lim = {.max_header_bytes = 8192, .max_body_bytes = 65536};
    struct http_parser hp;
    http_parser_init(&hp, &lim);
    size_t used = 0;
    assert_int_equal(http_parser_feed(&hp, req, 0, strlen(req), &used), HTTP_FEED_REQUEST);
    struct sockaddr_storage peer = {0};
    struct request_ctx rq = {
        .req = &hp.req, .buf = req, .peer = &peer, .peer_is_loopback = loopback};
    struct buf head;
    buf_init(&head);
    buf_clear(body);
    struct response rs = {.status = 200, .head = &head, .body = body};
    stateserver_handle(ss, &rq, &rs);
    buf_cleanup(&head);
    http_parser_cleanup(&hp);
    return rs.status;
}

static void test_stateserver_advance_refuses_remote_peers(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(loop);
    struct stateserver_opts o = {.listen = "127.0.0.1:0"};
    struct errbuf err = {{0}};
    struct stateserver *ss = stateserver_new(loop, &o, &err);
    assert_non_null(ss);
    struct buf body;
    buf_init(&body);
    const char *req = "POST /_farm/advance?seconds=100 HTTP/1.1\r\nHost: x\r\n"
                      "Content-Length: 0\r\n\r\n";
    double before = stateserver_now(ss);
    assert_int_equal(handle_direct(ss, req, false, &body), 403);
    assert_true(stateserver_now(ss) - before < 50);
    assert_int_equal(handle_direct(ss, req, true, &body), 200);
    assert_true(stateserver_now(ss) - before >= 100);
    stateserver_free(ss);
    ev_loop_destroy(loop);
    buf_cleanup(&body);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    alarm(90); /* a watchdog: fail instead of hanging */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stateclient_get_sends_appid_and_sid_in_url),
        cmocka_unit_test(test_stateclient_put_sends_timeout_and_exact_body),
        cmocka_unit_test(test_stateclient_del_found_and_not_found),
        cmocka_unit_test(test_stateclient_retries_once_when_server_closed_idle_connection),
        cmocka_unit_test(test_stateclient_connection_close_reply_is_not_reused),
        cmocka_unit_test(test_stateclient_unasked_bytes_prevent_reuse),
        cmocka_unit_test(test_stateclient_bad_replies_fail_cleanly),
        cmocka_unit_test(test_stateclient_times_out_on_a_hung_server),
        cmocka_unit_test(test_stateclient_refused_connection_is_unreachable),
        cmocka_unit_test(test_stateclient_connect_times_out),
        cmocka_unit_test(test_stateclient_rejects_bad_arguments),
        cmocka_unit_test(test_stateclient_unreachable_text_is_aspnets),
        cmocka_unit_test(test_stateserver_roundtrip_with_client),
        cmocka_unit_test(test_stateserver_site_id_trap),
        cmocka_unit_test(test_stateserver_expiry_slides_with_advance),
        cmocka_unit_test(test_stateserver_timeout_header_is_minutes),
        cmocka_unit_test(test_stateserver_rejects_bad_requests),
        cmocka_unit_test(test_stateserver_full_store_answers_503),
        cmocka_unit_test(test_stateserver_health_and_info),
        cmocka_unit_test(test_stateserver_advance_refuses_remote_peers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
