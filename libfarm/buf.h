/* buf: a growable byte buffer, reused across requests (clear, don't free). */
#ifndef FARM_BUF_H
#define FARM_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
    char *data; /* owned; NUL-terminated when len < cap */
    size_t len;
    size_t cap;
};

void buf_init(struct buf *b);
void buf_cleanup(struct buf *b); /* frees; b is empty and reusable afterwards */
static inline void buf_clear(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Make room for n more bytes (plus a NUL). Returns 0 or -1 (out of memory). */
int buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Drop the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);

/* HTML-escape s into b (& < > " '). */
int buf_html(struct buf *b, const char *s, size_t n);
/* JSON string contents (without quotes) of s into b. */
int buf_json(struct buf *b, const char *s, size_t n);

#endif
