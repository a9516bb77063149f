#include "ticket.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

#include "ticks.h"

/* v1 framing bytes (FormsAuthenticationTicketSerializer). */
#define TICKET_V1_FORMAT_VERSION 0x01
#define TICKET_V1_SPACER         0xFE
#define TICKET_V1_FOOTER         0xFF
#define TICKET_LEGACY_HEADER_LEN 8

/* FILETIMEs that DateTime.FromFileTimeUtc accepts: 0 .. DateTime.MaxValue. */
#define TICKET_FILETIME_MAX (TICKS_MAX - TICKS_FILETIME_EPOCH)

#define TICKET_REPLACEMENT_CHAR 0xFFFDu

static const char *const ticket_format_names[] = {
    [TICKET_FORMAT_V1] = "v1",
    [TICKET_FORMAT_LEGACY] = "legacy",
};

static const char *const ticket_field_names[] = {
    [TICKET_NAME] = "name",
    [TICKET_USER_DATA] = "user data",
    [TICKET_COOKIE_PATH] = "cookie path",
};

const char *ticket_format_name(enum ticket_format f)
{
    if ((unsigned)f >= sizeof ticket_format_names / sizeof ticket_format_names[0])
        return "unknown";
    return ticket_format_names[f];
}

int ticket_format_from_name(const char *s, enum ticket_format *out)
{
    for (size_t i = 0; i < sizeof ticket_format_names / sizeof ticket_format_names[0]; i++) {
        if (strcmp(s, ticket_format_names[i]) == 0) {
            *out = (enum ticket_format)i;
            return 0;
        }
    }
    return -1;
}

/* ---- UTF-8 ---------------------------------------------------------------------------- */

/* Decode one code point of strict UTF-8 at s[*i] (no overlong forms, no surrogates, nothing
 * above U+10FFFF, no truncated sequence). Advances *i. Returns 0 or -1. */
static int ticket_utf8_next(const uint8_t *s, size_t len, size_t *i, uint32_t *cp)
{
    uint8_t b0 = s[*i];
    size_t n;
    uint32_t v;
    uint32_t min;
    if (b0 < 0x80) {
        *cp = b0;
        *i += 1;
        return 0;
    }
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        n = 2;
        v = b0 & 0x1Fu;
        min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        n = 3;
        v = b0 & 0x0Fu;
        min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        n = 4;
        v = b0 & 0x07u;
        min = 0x10000;
    } else {
        return -1; /* continuation byte, C0/C1 (always overlong) or F5..FF */
    }
    if (len - *i < n)
        return -1;
    for (size_t k = 1; k < n; k++) {
        uint8_t b = s[*i + k];
        if ((b & 0xC0) != 0x80)
            return -1;
        v = v << 6 | (b & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return -1;
    *cp = v;
    *i += n;
    return 0;
}

static bool ticket_utf8_is_valid(const char *s, size_t len)
{
    size_t i = 0;
    uint32_t cp;
    while (i < len) {
        if (ticket_utf8_next((const uint8_t *)s, len, &i, &cp) < 0)
            return false;
    }
    return true;
}

/* UTF-8 bytes of cp into out (room for 4); returns the count. */
static size_t ticket_utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- text storage ----------------------------------------------------------------------- */

void ticket_init(struct ticket *t)
{
    memset(t, 0, sizeof *t);
    t->format = TICKET_FORMAT_V1;
    t->version = 1;
    /* Three empty strings, each just its NUL, stored in field order. */
    for (int f = 0; f < TICKET_FIELD_COUNT; f++) {
        t->str[f].off = (uint16_t)f;
        t->str[f].len = 0;
    }
    t->text_used = TICKET_FIELD_COUNT;
}

int ticket_set(struct ticket *t, enum ticket_field f, const char *s, size_t len)
{
    assert((unsigned)f < TICKET_FIELD_COUNT);
    assert(s != NULL || len == 0);
    if (!ticket_utf8_is_valid(s, len))
        return -1;
    size_t used = (size_t)t->text_used - t->str[f].len;
    if (len > TICKET_TEXT_MAX - used)
        return -1;

    /* Rebuild in field order in a scratch copy: s may point into t->text. */
    char scratch[TICKET_TEXT_MAX];
    size_t pos = 0;
    for (int g = 0; g < TICKET_FIELD_COUNT; g++) {
        const char *src = g == (int)f ? s : t->text + t->str[g].off;
        size_t n = g == (int)f ? len : t->str[g].len;
        if (n > 0)
            memcpy(scratch + pos, src, n);
        scratch[pos + n] = '\0';
        t->str[g].off = (uint16_t)pos;
        t->str[g].len = (uint16_t)n;
        pos += n + 1;
    }
    memcpy(t->text, scratch, pos);
    t->text_used = (uint16_t)pos;
    return 0;
}

const char *ticket_get(const struct ticket *t, enum ticket_field f, size_t *len)
{
    assert((unsigned)f < TICKET_FIELD_COUNT);
    if (len != NULL)
        *len = t->str[f].len;
    return t->text + t->str[f].off;
}

/* Append field f (the next one in field order while parsing) from n UTF-16LE code units at
 * units. Pairs of surrogates combine; a lone surrogate becomes U+FFFD, as a .NET string
 * holding one would when converted to UTF-8. Returns 0, or -1 when the text area is full. */
static int ticket_append_utf16(struct ticket *t, enum ticket_field f, const uint8_t *units,
                               size_t n)
{
    size_t pos = t->text_used;
    size_t start = pos;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = (uint32_t)units[2 * i] | (uint32_t)units[2 * i + 1] << 8;
        if (cp < 0x80) { /* ASCII, the common case: one byte, no detour */
            if (pos + 2 > TICKET_TEXT_MAX)
                return -1;
            t->text[pos++] = (char)cp;
            continue;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < n) {
            uint32_t lo = (uint32_t)units[2 * i + 2] | (uint32_t)units[2 * i + 3] << 8;
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i++;
            }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF)
            cp = TICKET_REPLACEMENT_CHAR;
        char utf8[4];
        size_t k = ticket_utf8_put(cp, utf8);
        /* Room for these bytes and the final NUL. */
        if (k + 1 > TICKET_TEXT_MAX - pos)
            return -1;
        memcpy(t->text + pos, utf8, k);
        pos += k;
    }
    if (pos >= TICKET_TEXT_MAX)
        return -1;
    t->text[pos++] = '\0';
    t->str[f].off = (uint16_t)start;
    t->str[f].len = (uint16_t)(pos - 1 - start);
    t->text_used = (uint16_t)pos;
    return 0;
}

/* ---- serialization ---------------------------------------------------------------------- */

struct ticket_writer {
    uint8_t *out;
    size_t cap;
    size_t pos;
    bool overflow; /* a write did not fit; pos stops advancing */
};

static void ticket_put_byte(struct ticket_writer *w, uint8_t b)
{
    if (w->overflow || w->pos >= w->cap) {
        w->overflow = true;
        return;
    }
    w->out[w->pos++] = b;
}

static void ticket_put_le64(struct ticket_writer *w, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++)
        ticket_put_byte(w, (uint8_t)(u >> (8 * i)));
}

/* BinaryWriter.Write7BitEncodedInt for a non-negative value. */
static void ticket_put_7bit(struct ticket_writer *w, uint32_t v)
{
    while (v >= 0x80) {
        ticket_put_byte(w, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    ticket_put_byte(w, (uint8_t)v);
}

static void ticket_put_unit(struct ticket_writer *w, uint32_t unit)
{
    ticket_put_byte(w, (uint8_t)(unit & 0xFF));
    ticket_put_byte(w, (uint8_t)(unit >> 8));
}

/* Number of UTF-16 code units of a UTF-8 string, or -1 if it is not valid UTF-8 (a struct
 * filled by hand rather than through ticket_set) or holds U+0000 when nul_ok is false. */
static long ticket_utf16_count(const char *s, size_t len, bool nul_ok)
{
    long units = 0;
    size_t i = 0;
    uint32_t cp;
    while (i < len) {
        if (ticket_utf8_next((const uint8_t *)s, len, &i, &cp) < 0)
            return -1;
        if (cp == 0 && !nul_ok)
            return -1;
        units += cp >= 0x10000 ? 2 : 1;
    }
    return units;
}

/* Write a string (already checked by ticket_utf16_count) as UTF-16LE code units. */
static void ticket_put_utf16(struct ticket_writer *w, const char *s, size_t len)
{
    size_t i = 0;
    uint32_t cp;
    while (i < len && ticket_utf8_next((const uint8_t *)s, len, &i, &cp) == 0) {
        if (cp >= 0x10000) {
            cp -= 0x10000;
            ticket_put_unit(w, 0xD800 + (cp >> 10));
            ticket_put_unit(w, 0xDC00 + (cp & 0x3FF));
        } else {
            ticket_put_unit(w, cp);
        }
    }
}

static bool ticket_ticks_in_range(int64_t ticks)
{
    return ticks >= 0 && ticks <= TICKS_MAX;
}

static int ticket_serialize_v1(const struct ticket *t, struct ticket_writer *w)
{
    if (!ticket_ticks_in_range(t->issue_ticks) || !ticket_ticks_in_range(t->expiration_ticks))
        return -1;
    ticket_put_byte(w, TICKET_V1_FORMAT_VERSION);
    ticket_put_byte(w, t->version);
    ticket_put_le64(w, t->issue_ticks);
    ticket_put_byte(w, TICKET_V1_SPACER);
    ticket_put_le64(w, t->expiration_ticks);
    ticket_put_byte(w, t->persistent ? 1 : 0);
    for (int f = 0; f < TICKET_FIELD_COUNT; f++) {
        size_t len;
        const char *s = ticket_get(t, (enum ticket_field)f, &len);
        long units = ticket_utf16_count(s, len, true);
        if (units < 0 || units > INT32_MAX)
            return -1;
        ticket_put_7bit(w, (uint32_t)units);
        ticket_put_utf16(w, s, len);
    }
    ticket_put_byte(w, TICKET_V1_FOOTER);
    return 0;
}

static int ticket_serialize_legacy(const struct ticket *t, struct ticket_writer *w)
{
    /* DateTime.ToFileTimeUtc refuses dates before 1601. */
    if (!ticket_ticks_in_range(t->issue_ticks) || !ticket_ticks_in_range(t->expiration_ticks) ||
        t->issue_ticks < TICKS_FILETIME_EPOCH || t->expiration_ticks < TICKS_FILETIME_EPOCH)
        return -1;
    /* NUL-terminated on the wire: a string holding U+0000 would silently truncate. */
    for (int f = 0; f < TICKET_FIELD_COUNT; f++) {
        size_t len;
        const char *s = ticket_get(t, (enum ticket_field)f, &len);
        if (ticket_utf16_count(s, len, false) < 0)
            return -1;
    }

    size_t len;
    const char *s;
    for (int i = 0; i < TICKET_LEGACY_HEADER_LEN; i++)
        ticket_put_byte(w, t->legacy_header[i]);
    ticket_put_byte(w, t->version);
    s = ticket_get(t, TICKET_NAME, &len);
    ticket_put_utf16(w, s, len);
    ticket_put_unit(w, 0);
    ticket_put_le64(w, ticks_to_filetime(t->issue_ticks));
    ticket_put_byte(w, t->persistent ? 1 : 0);
    ticket_put_le64(w, ticks_to_filetime(t->expiration_ticks));
    s = ticket_get(t, TICKET_USER_DATA, &len);
    ticket_put_utf16(w, s, len);
    ticket_put_unit(w, 0);
    s = ticket_get(t, TICKET_COOKIE_PATH, &len);
    ticket_put_utf16(w, s, len);
    ticket_put_unit(w, 0);
    return 0;
}

long ticket_serialize(const struct ticket *t, uint8_t *out, size_t cap)
{
    struct ticket_writer w = {.out = out, .cap = cap, .pos = 0, .overflow = false};
    int rc;
    switch (t->format) {
    case TICKET_FORMAT_V1:
        rc = ticket_serialize_v1(t, &w);
        break;
    case TICKET_FORMAT_LEGACY:
        rc = ticket_serialize_legacy(t, &w);
        break;
    default:
        rc = -1;
        break;
    }
    if (rc < 0 || w.overflow)
        return -1;
    return (long)w.pos;
}

/* ---- parsing ---------------------------------------------------------------------------- */

/* A bounds-checked cursor over the input. Every read checks the remaining length first. */
struct ticket_reader {
    const uint8_t *in;
    size_t len;
    size_t pos;
};

static int ticket_get_byte(struct ticket_reader *r, uint8_t *b)
{
    if (r->pos >= r->len)
        return -1;
    *b = r->in[r->pos++];
    return 0;
}

static int ticket_get_le64(struct ticket_reader *r, int64_t *v)
{
    if (r->len - r->pos < 8)
        return -1;
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = u << 8 | r->in[r->pos + (size_t)i];
    r->pos += 8;
    /* Two's complement without relying on the implementation-defined conversion. */
    *v = u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
    return 0;
}

/* BinaryReader.Read7BitEncodedInt, stricter: only the shortest encoding of a value in
 * 0..INT32_MAX is accepted (.NET would also take overlong forms and let a fifth byte wrap
 * into negative values). */
static int ticket_get_7bit(struct ticket_reader *r, uint32_t *v, struct errbuf *err)
{
    size_t start = r->pos;
    uint32_t value = 0;
    for (int i = 0; i < 5; i++) {
        uint8_t b;
        if (ticket_get_byte(r, &b) < 0) {
            errbuf_set(err, "v1: offset %zu: truncated string length", start);
            return -1;
        }
        if (i == 4 && b > 0x07) {
            errbuf_set(err, "v1: offset %zu: string length does not fit in int32", start);
            return -1;
        }
        value |= (uint32_t)(b & 0x7F) << (7 * i);
        if ((b & 0x80) == 0) {
            if (i > 0 && b == 0) {
                errbuf_set(err, "v1: offset %zu: overlong string length encoding", start);
                return -1;
            }
            *v = value;
            return 0;
        }
    }
    /* Not reached: the fifth byte either ended the loop or failed the check above. */
    errbuf_set(err, "v1: offset %zu: string length does not fit in int32", start);
    return -1;
}

static int ticket_check_ticks(int64_t ticks, size_t off, const char *what, struct errbuf *err)
{
    if (!ticket_ticks_in_range(ticks)) {
        errbuf_set(err, "v1: offset %zu: %s is outside DateTime's range", off, what);
        return -1;
    }
    return 0;
}

static int ticket_parse_v1(const uint8_t *in, size_t len, struct ticket *t, struct errbuf *err)
{
    struct ticket_reader r = {.in = in, .len = len, .pos = 0};
    uint8_t b;

    t->format = TICKET_FORMAT_V1;
    t->text_used = 0;

    /* 24 bytes is the smallest ticket (all strings empty); checking it first only gives
     * a clearer message: every read below is bounds-checked anyway. */
    if (len < 24) {
        errbuf_set(err, "v1: %zu bytes is shorter than the 24-byte minimum", len);
        return -1;
    }
    if (ticket_get_byte(&r, &b) < 0 || b != TICKET_V1_FORMAT_VERSION) {
        errbuf_set(err, "v1: offset 0: serialized-format version is not 0x01");
        return -1;
    }
    if (ticket_get_byte(&r, &t->version) < 0 || ticket_get_le64(&r, &t->issue_ticks) < 0) {
        errbuf_set(err, "v1: truncated header");
        return -1;
    }
    if (ticket_check_ticks(t->issue_ticks, 2, "issue date", err) < 0)
        return -1;
    if (ticket_get_byte(&r, &b) < 0 || b != TICKET_V1_SPACER) {
        errbuf_set(err, "v1: offset 10: spacer is not 0xFE");
        return -1;
    }
    if (ticket_get_le64(&r, &t->expiration_ticks) < 0 || ticket_get_byte(&r, &b) < 0) {
        errbuf_set(err, "v1: truncated header");
        return -1;
    }
    if (ticket_check_ticks(t->expiration_ticks, 11, "expiration", err) < 0)
        return -1;
    if (b > 1) {
        errbuf_set(err, "v1: offset 19: persistent flag is neither 0 nor 1");
        return -1;
    }
    t->persistent = b == 1;

    for (int f = 0; f < TICKET_FIELD_COUNT; f++) {
        uint32_t units;
        if (ticket_get_7bit(&r, &units, err) < 0)
            return -1;
        if (units > (r.len - r.pos) / 2) {
            errbuf_set(err, "v1: offset %zu: %s runs past the end", r.pos, ticket_field_names[f]);
            return -1;
        }
        if (ticket_append_utf16(t, (enum ticket_field)f, r.in + r.pos, units) < 0) {
            errbuf_set(err, "v1: strings exceed the %d-byte text storage", TICKET_TEXT_MAX);
            return -1;
        }
        r.pos += 2 * (size_t)units;
    }

    if (ticket_get_byte(&r, &b) < 0) {
        errbuf_set(err, "v1: truncated before the footer");
        return -1;
    }
    if (b != TICKET_V1_FOOTER) {
        errbuf_set(err, "v1: offset %zu: footer is not 0xFF", r.pos - 1);
        return -1;
    }
    if (r.pos != r.len) {
        errbuf_set(err, "v1: %zu trailing bytes after the footer", r.len - r.pos);
        return -1;
    }
    return 0;
}

/* Length in code units of the NUL-terminated UTF-16LE string at r->pos, not counting the
 * NUL; the terminator must lie entirely within the input. Returns -1 if there is none. */
static long ticket_scan_utf16z(const struct ticket_reader *r)
{
    for (size_t p = r->pos; r->len - p >= 2; p += 2) {
        if (r->in[p] == 0 && r->in[p + 1] == 0)
            return (long)((p - r->pos) / 2);
    }
    return -1;
}

static int ticket_legacy_string(struct ticket_reader *r, struct ticket *t, enum ticket_field f,
                                struct errbuf *err)
{
    long units = ticket_scan_utf16z(r);
    if (units < 0) {
        errbuf_set(err, "legacy: offset %zu: %s has no NUL terminator", r->pos,
                   ticket_field_names[f]);
        return -1;
    }
    if (ticket_append_utf16(t, f, r->in + r->pos, (size_t)units) < 0) {
        errbuf_set(err, "legacy: strings exceed the %d-byte text storage", TICKET_TEXT_MAX);
        return -1;
    }
    r->pos += 2 * (size_t)units + 2;
    return 0;
}

static int ticket_legacy_filetime(struct ticket_reader *r, int64_t *ticks, const char *what,
                                  struct errbuf *err)
{
    size_t off = r->pos;
    int64_t ft;
    if (ticket_get_le64(r, &ft) < 0) {
        errbuf_set(err, "legacy: offset %zu: truncated %s", off, what);
        return -1;
    }
    /* DateTime.FromFileTime throws outside this range. */
    if (ft < 0 || ft > TICKET_FILETIME_MAX) {
        errbuf_set(err, "legacy: offset %zu: %s FILETIME is out of range", off, what);
        return -1;
    }
    *ticks = ticks_from_filetime(ft);
    return 0;
}

static int ticket_parse_legacy(const uint8_t *in, size_t len, struct ticket *t, struct errbuf *err)
{
    struct ticket_reader r = {.in = in, .len = len, .pos = 0};
    uint8_t b;

    t->format = TICKET_FORMAT_LEGACY;
    t->text_used = 0;

    if (len < TICKET_LEGACY_HEADER_LEN + 1) {
        errbuf_set(err, "legacy: %zu bytes is too short for the header", len);
        return -1;
    }
    memcpy(t->legacy_header, in, TICKET_LEGACY_HEADER_LEN);
    r.pos = TICKET_LEGACY_HEADER_LEN;
    if (ticket_get_byte(&r, &t->version) < 0) {
        errbuf_set(err, "legacy: truncated header");
        return -1;
    }

    if (ticket_legacy_string(&r, t, TICKET_NAME, err) < 0 ||
        ticket_legacy_filetime(&r, &t->issue_ticks, "issue date", err) < 0)
        return -1;
    if (ticket_get_byte(&r, &b) < 0) {
        errbuf_set(err, "legacy: offset %zu: truncated persistent flag", r.pos);
        return -1;
    }
    /* The native reader treats any nonzero byte as true. */
    t->persistent = b != 0;
    if (ticket_legacy_filetime(&r, &t->expiration_ticks, "expiration", err) < 0 ||
        ticket_legacy_string(&r, t, TICKET_USER_DATA, err) < 0 ||
        ticket_legacy_string(&r, t, TICKET_COOKIE_PATH, err) < 0)
        return -1;

    /* The cookie path's terminator must be the last two bytes. */
    if (r.pos != r.len) {
        errbuf_set(err, "legacy: %zu trailing bytes after the cookie path", r.len - r.pos);
        return -1;
    }
    return 0;
}

int ticket_parse(const uint8_t *in, size_t len, enum ticket_format format, struct ticket *out,
                 struct errbuf *err)
{
    /* Parse into a scratch ticket so that *out is untouched on failure. Only the header is
     * cleared and only the used text copied out: the text area is 4 KiB and this runs on
     * every request a sim-node serves. (The parsers lay out all three strings.) */
    struct ticket t;
    memset(&t, 0, offsetof(struct ticket, text));
    int rc;
    switch (format) {
    case TICKET_FORMAT_V1:
        rc = ticket_parse_v1(in, len, &t, err);
        break;
    case TICKET_FORMAT_LEGACY:
        rc = ticket_parse_legacy(in, len, &t, err);
        break;
    default:
        errbuf_set(err, "unknown ticket format %d", (int)format);
        rc = -1;
        break;
    }
    if (rc < 0)
        return -1;
    memcpy(out, &t, offsetof(struct ticket, text) + t.text_used);
    return 0;
}

int ticket_parse_any(const uint8_t *in, size_t len, struct ticket *out, struct errbuf *err)
{
    /* Messages are only formatted when the caller wants one. */
    struct errbuf v1_err, legacy_err;
    v1_err.msg[0] = legacy_err.msg[0] = '\0';
    if (ticket_parse(in, len, TICKET_FORMAT_V1, out, err ? &v1_err : NULL) == 0)
        return 0;
    if (ticket_parse(in, len, TICKET_FORMAT_LEGACY, out, err ? &legacy_err : NULL) == 0)
        return 0;
    errbuf_set(err, "not a ticket in either format (%.200s; %.200s)", v1_err.msg, legacy_err.msg);
    return -1;
}
