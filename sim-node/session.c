#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stateclient.h"
#include "statestore.h"

struct sessions {
    enum session_mode mode;
    char appid[STATESTORE_MAX_APPID + 1];
    unsigned timeout;
    struct statestore *local;   /* InProc */
    struct stateclient *remote; /* StateServer */
};

const char *session_mode_name(enum session_mode m)
{
    switch (m) {
    case SESSION_INPROC:
        return "inproc";
    case SESSION_STATESERVER:
        return "stateserver";
    case SESSION_OFF:
        break;
    }
    return "off";
}

struct sessions *sessions_new(enum session_mode mode, const char *addr, const char *appid,
                              double timeout, struct errbuf *err)
{
    if (!statestore_appid_is_valid(appid, strlen(appid))) {
        errbuf_set(err, "--app-path: '%s' is not an application path like /LM/W3SVC/1/ROOT", appid);
        return NULL;
    }
    struct sessions *s = calloc(1, sizeof *s);
    if (s == NULL) {
        errbuf_set(err, "out of memory");
        return NULL;
    }
    s->mode = mode;
    snprintf(s->appid, sizeof s->appid, "%s", appid);
    s->timeout = timeout < 1 ? 1 : (unsigned)timeout;
    if (mode == SESSION_INPROC) {
        s->local = statestore_new(0, 0);
        if (s->local == NULL) {
            errbuf_set(err, "out of memory");
            goto fail;
        }
    } else if (mode == SESSION_STATESERVER) {
        s->remote = stateclient_new(addr, appid, err);
        if (s->remote == NULL)
            goto fail;
    }
    return s;
fail:
    sessions_free(s);
    return NULL;
}

void sessions_free(struct sessions *s)
{
    if (s == NULL)
        return;
    statestore_free(s->local);
    stateclient_free(s->remote);
    free(s);
}

int sessions_load(struct sessions *s, double now, const char *sid, struct buf *out,
                  struct errbuf *err)
{
    buf_clear(out);
    if (s->mode == SESSION_STATESERVER)
        return stateclient_get(s->remote, sid, out, err);
    char key[STATESTORE_MAX_KEY + 1];
    if (statestore_key(s->appid, strlen(s->appid), sid, strlen(sid), key, sizeof key) < 0)
        return 0;
    const void *data;
    size_t len;
    statestore_expire(s->local, now);
    if (statestore_get(s->local, now, key, &data, &len) != STATESTORE_OK)
        return 0;
    return buf_append(out, data, len) == 0 ? 1 : -1;
}

int sessions_save(struct sessions *s, double now, const char *sid, const void *data, size_t len,
                  struct errbuf *err)
{
    if (s->mode == SESSION_STATESERVER)
        return stateclient_put(s->remote, sid, data, len, s->timeout, err);
    char key[STATESTORE_MAX_KEY + 1];
    if (statestore_key(s->appid, strlen(s->appid), sid, strlen(sid), key, sizeof key) < 0) {
        errbuf_set(err, "invalid session id");
        return -1;
    }
    enum statestore_status st = statestore_put(s->local, now, key, data, len, s->timeout);
    if (st != STATESTORE_OK) {
        errbuf_set(err, "session store: %s", statestore_status_name(st));
        return -1;
    }
    return 0;
}
