/* errbuf: a caller-owned error message. Leaf code fills it, the caller with context logs it. */
#ifndef FARM_ERRBUF_H
#define FARM_ERRBUF_H

#define ERRBUF_MAX 512

struct errbuf {
    char msg[ERRBUF_MAX];
};

/* printf-style; NULL e is allowed and ignored. Never put key material in the message. */
void errbuf_set(struct errbuf *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix the current message, e.g. with "file:line: ". */
void errbuf_prefix(struct errbuf *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
