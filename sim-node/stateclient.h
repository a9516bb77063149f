/* stateclient: what a web node uses to keep session items on the state server
 * (stateserver.h; protocol in docs/state-server.md). Blocking and bounded: one keep-alive
 * TCP connection, opened on first use and reopened when it breaks; a connect timeout (1 s)
 * and a timeout for each request's whole exchange (2 s). A request that fails on a reused
 * connection before any reply byte arrives (the server closed it while idle) is retried
 * once on a fresh connection; the three requests are idempotent.
 *
 * Calls block the caller's thread (a web node's event loop) for at most the two timeouts
 * plus name resolution: give numeric addresses. Not thread-safe. */
#ifndef SIMNODE_STATECLIENT_H
#define SIMNODE_STATECLIENT_H

#include <stddef.h>

#include "buf.h"
#include "errbuf.h"

/* What ASP.NET answers (HTTP 500) when the state server cannot be reached. */
#define STATECLIENT_UNREACHABLE_TEXT                                                               \
    "Unable to make the session state request to the session state server. Please ensure "         \
    "that the ASP.NET State service is started and that the client and server ports are the "      \
    "same. If the server is on a remote machine, please ensure that it accepts remote "            \
    "requests by checking the value of "                                                           \
    "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\aspnet_state\\Parameters\\"          \
    "AllowRemoteConnection. If the server is on the local machine, and if the before "             \
    "mentioned registry value does not exist or is set to 0, then the state server "               \
    "connection string must use either 'localhost' or '127.0.0.1' as the server name."

#define STATECLIENT_CONNECT_TIMEOUT 1.0 /* seconds */
#define STATECLIENT_IO_TIMEOUT      2.0 /* seconds for one request's write + reply */

struct stateclient;

/* A client for the state server at addr ("host:port", "[v6]:port", optionally prefixed
 * "tcpip=" as in ASP.NET's stateConnectionString) keeping items for appid (the IIS
 * metabase path, e.g. "/LM/W3SVC/1/ROOT"). Does not connect yet. Both strings are copied.
 * Returns owned (stateclient_free) or NULL with err filled. */
struct stateclient *stateclient_new(const char *addr, const char *appid, struct errbuf *err);
/* Closes the connection. NULL is a no-op. */
void stateclient_free(struct stateclient *c);

/* Override the timeouts (seconds, > 0), e.g. short ones in tests. */
void stateclient_set_timeouts(struct stateclient *c, double connect_s, double io_s);

/* Fetch sid's item into out (cleared first; the item's bytes on 1). Sliding expiry: the
 * server restarts the item's timeout. Returns 1 found, 0 not found (absent or expired),
 * -1 failed (unreachable, timed out, bad reply, error status, invalid sid) with err filled. */
int stateclient_get(struct stateclient *c, const char *sid, struct buf *out, struct errbuf *err);

/* Store data[0..len) (at most STATESTORE_MAX_ITEM_BYTES) as sid's item, expiring timeout_s
 * seconds (1..STATESTORE_MAX_TIMEOUT_S) after its last access. Returns 0 or -1 with err. */
int stateclient_put(struct stateclient *c, const char *sid, const void *data, size_t len,
                    unsigned timeout_s, struct errbuf *err);

/* Remove sid's item. Returns 1 removed, 0 not found, -1 failed with err. */
int stateclient_del(struct stateclient *c, const char *sid, struct errbuf *err);

/* "host:port" as given (without "tcpip="). */
const char *stateclient_address(const struct stateclient *c);

/* TCP connections opened so far (for tests and stats: reuse shows as few connects). */
unsigned long stateclient_connects(const struct stateclient *c);

#endif
