#include "errbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void errbuf_set(struct errbuf *e, const char *fmt, ...)
{
    if (e == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

void errbuf_prefix(struct errbuf *e, const char *fmt, ...)
{
    if (e == NULL)
        return;
    char prefix[ERRBUF_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    size_t plen = (size_t)n < sizeof prefix ? (size_t)n : sizeof prefix - 1;
    size_t old = strnlen(e->msg, sizeof e->msg - 1);
    if (plen + old > sizeof e->msg - 1)
        old = sizeof e->msg - 1 - plen;
    memmove(e->msg + plen, e->msg, old);
    memcpy(e->msg, prefix, plen);
    e->msg[plen + old] = '\0';
}
