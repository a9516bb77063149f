/* ticket: the FormsAuthenticationTicket's two byte formats.
 *
 *   v1     FormsAuthenticationTicketSerializer (since MS11-100, Dec 2011): 0x01, version,
 *          issue ticks, 0xFE, expiration ticks, persistent, then name, user data and cookie
 *          path as 7-bit-length-prefixed UTF-16LE, then 0xFF and nothing after it.
 *   legacy the native webengine format: 8-byte header, version, NUL-terminated UTF-16LE
 *          name, issue FILETIME, persistent, expiration FILETIME, NUL-terminated user data
 *          and cookie path.
 *
 * Strings are UTF-8 in this API and UTF-16LE on the wire. Text is stored inside the struct,
 * so a struct ticket can be copied freely. Pure code: no I/O, no allocation. */
#ifndef FARM_TICKET_H
#define FARM_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"

/* ASP.NET refuses cookies over 4096 characters, i.e. at most 2048 protected bytes. */
#define TICKET_WIRE_MAX 2048
/* UTF-8 storage for the three strings together (each NUL-terminated). */
#define TICKET_TEXT_MAX 4096

enum ticket_format {
    TICKET_FORMAT_V1,
    TICKET_FORMAT_LEGACY,
};

enum ticket_field {
    TICKET_NAME,
    TICKET_USER_DATA,
    TICKET_COOKIE_PATH,
    TICKET_FIELD_COUNT,
};

struct ticket {
    enum ticket_format format;
    uint8_t version;          /* FormsAuthenticationTicket.Version (one byte on the wire) */
    int64_t issue_ticks;      /* UTC */
    int64_t expiration_ticks; /* UTC */
    bool persistent;
    uint8_t legacy_header[8]; /* legacy format only: random (SP1) or zero (SP2 + encryption) */
    struct {
        uint16_t off, len; /* into text; len excludes the NUL */
    } str[TICKET_FIELD_COUNT];
    uint16_t text_used;
    char text[TICKET_TEXT_MAX];
};

const char *ticket_format_name(enum ticket_format f); /* "v1", "legacy" */
int ticket_format_from_name(const char *s, enum ticket_format *out);

/* Empty strings, version 1, format v1, zero times. */
void ticket_init(struct ticket *t);

/* Copy a UTF-8 string into the ticket (replacing any earlier value of that field; the text
 * area is compacted). Returns 0, or -1 when the text area is full or s is not valid UTF-8. */
int ticket_set(struct ticket *t, enum ticket_field f, const char *s, size_t len);

/* The field's UTF-8 text, NUL-terminated; *len (if not NULL) gets its length, which may be
 * larger than strlen() when the string holds U+0000. Borrowed from t. */
const char *ticket_get(const struct ticket *t, enum ticket_field f, size_t *len);

/* Serialize in t->format. Returns bytes written, or -1 when cap is too small, a string
 * cannot be written (a legacy-format string containing U+0000) or a date is not a valid
 * DateTime (ticks outside 0..TICKS_MAX; legacy format: before 1601, FILETIME's epoch). */
long ticket_serialize(const struct ticket *t, uint8_t *out, size_t cap);

/* Parse exactly len bytes in the given format; trailing bytes are an error. Lone UTF-16
 * surrogates become U+FFFD. Returns 0 or -1 with err filled (no secret data in it). */
int ticket_parse(const uint8_t *in, size_t len, enum ticket_format format, struct ticket *out,
                 struct errbuf *err);

/* Try v1, then legacy: the two formats are designed so that at most one accepts a buffer. */
int ticket_parse_any(const uint8_t *in, size_t len, struct ticket *out, struct errbuf *err);

#endif
