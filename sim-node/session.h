/* session: ASP.NET session state for a node — off, in this process (InProc), or on a state
 * server (StateServer) — behind one small interface. Items are opaque bytes. */
#ifndef SIMNODE_SESSION_H
#define SIMNODE_SESSION_H

#include <stddef.h>

#include "buf.h"
#include "errbuf.h"

enum session_mode {
    SESSION_OFF,
    SESSION_INPROC,
    SESSION_STATESERVER,
};

const char *session_mode_name(enum session_mode m); /* "off", "inproc", "stateserver" */

struct sessions;

/* appid: the IIS metabase path (keys on the state server); addr: HOST:PORT for
 * stateserver. timeout in seconds. Returns NULL with err on failure. */
struct sessions *sessions_new(enum session_mode mode, const char *addr, const char *appid,
                              double timeout, struct errbuf *err);
void sessions_free(struct sessions *s);

/* now: seconds on the node's clock (InProc expiry). Returns 1 found (items in out), 0 not
 * found, -1 the store could not be reached (err says why). */
int sessions_load(struct sessions *s, double now, const char *sid, struct buf *out,
                  struct errbuf *err);
/* Returns 0 or -1 (unreachable). */
int sessions_save(struct sessions *s, double now, const char *sid, const void *data, size_t len,
                  struct errbuf *err);

#endif
