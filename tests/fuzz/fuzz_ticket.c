/* fuzz_ticket: the FormsAuthenticationTicket byte formats (ticket_parse, both formats).
 *
 * Invariants:
 *   - at most one format accepts a buffer (ticket.h promises it; ticket_parse_any relies on
 *     it), and ticket_parse_any agrees with the two single-format parses;
 *   - a parsed ticket serializes, and parsing that gives identical fields;
 *   - the serialization is the input itself unless the input held something the format
 *     normalises (a lone surrogate becomes U+FFFD; legacy reads any nonzero persistent
 *     byte as true);
 *   - strings set through ticket_set (the input cut in three) survive serialize → parse.
 * The input is copied into an exactly sized heap buffer so ASan sees any read past its end. */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"

#include "ticket.h"

/* Room for any serialization of a struct ticket: 4096 UTF-8 bytes are at most 4096 UTF-16
 * code units, 8 KiB, plus the fixed fields. */
#define FUZZ_WIRE_CAP (3 * TICKET_TEXT_MAX)

static bool fuzz_ticket_equal(const struct ticket *a, const struct ticket *b)
{
    if (a->format != b->format || a->version != b->version || a->issue_ticks != b->issue_ticks ||
        a->expiration_ticks != b->expiration_ticks || a->persistent != b->persistent)
        return false;
    if (a->format == TICKET_FORMAT_LEGACY &&
        memcmp(a->legacy_header, b->legacy_header, sizeof a->legacy_header) != 0)
        return false;
    for (int f = 0; f < TICKET_FIELD_COUNT; f++) {
        size_t la, lb;
        const char *sa = ticket_get(a, (enum ticket_field)f, &la);
        const char *sb = ticket_get(b, (enum ticket_field)f, &lb);
        if (la != lb || memcmp(sa, sb, la) != 0 || sa[la] != '\0' || sb[lb] != '\0')
            return false;
    }
    return true;
}

/* Does any field hold U+FFFD (EF BF BD), the stand-in for a lone surrogate? */
static bool fuzz_ticket_has_replacement(const struct ticket *t)
{
    for (int f = 0; f < TICKET_FIELD_COUNT; f++) {
        size_t len;
        const char *s = ticket_get(t, (enum ticket_field)f, &len);
        for (size_t i = 0; i + 3 <= len; i++)
            if ((uint8_t)s[i] == 0xEF && (uint8_t)s[i + 1] == 0xBF && (uint8_t)s[i + 2] == 0xBD)
                return true;
    }
    return false;
}

/* The stored text is well formed: offsets and lengths inside text_used, NUL-terminated. */
static void fuzz_ticket_check_storage(const struct ticket *t)
{
    FUZZ_CHECK(t->text_used <= TICKET_TEXT_MAX, "text_used within the text area");
    for (int f = 0; f < TICKET_FIELD_COUNT; f++) {
        FUZZ_CHECK((size_t)t->str[f].off + t->str[f].len < t->text_used,
                   "field lies inside the used text");
        FUZZ_CHECK(t->text[t->str[f].off + t->str[f].len] == '\0', "field is NUL-terminated");
    }
}

/* Parsed t from in[0..len): serialize, parse again, compare. */
static void fuzz_ticket_round_trip(const struct ticket *t, const uint8_t *in, size_t len,
                                   uint8_t *wire)
{
    fuzz_ticket_check_storage(t);
    long n = ticket_serialize(t, wire, FUZZ_WIRE_CAP);
    FUZZ_CHECK(n > 0, "a parsed ticket serializes");
    struct ticket again;
    struct errbuf err = {{0}};
    FUZZ_CHECK(ticket_parse(wire, (size_t)n, t->format, &again, &err) == 0,
               "a serialized ticket parses");
    FUZZ_CHECK(fuzz_ticket_equal(t, &again), "parse(serialize(t)) has t's fields");

    bool normalised = fuzz_ticket_has_replacement(t);
    if (t->format == TICKET_FORMAT_LEGACY) {
        /* The persistent byte follows the name (from offset 9, up to its UTF-16 NUL) and
         * the issue FILETIME. */
        size_t off;
        for (off = 9; off + 1 < len; off += 2)
            if (in[off] == 0 && in[off + 1] == 0)
                break;
        off += 2 + 8;
        if (off < len && in[off] > 1)
            normalised = true;
    }
    if (!normalised)
        FUZZ_CHECK((size_t)n == len && memcmp(wire, in, len) == 0,
                   "serialize(parse(b)) == b when nothing was normalised");
}

/* Cut the input after its first two bytes in three, at positions those two bytes give, and
 * set the pieces as the three strings. */
static void fuzz_ticket_set_strings(const uint8_t *data, size_t size, uint8_t *wire)
{
    if (size < 3)
        return;
    size_t body = size - 2;
    size_t a = data[0] % (body + 1);
    size_t b = a + data[1] % (body - a + 1);
    const char *s = (const char *)data + 2;

    struct ticket t;
    ticket_init(&t);
    t.issue_ticks = 636667414570901655LL;
    t.expiration_ticks = 636676054570901655LL;
    t.version = data[0];
    t.persistent = data[1] & 1;
    if (ticket_set(&t, TICKET_NAME, s, a) != 0 ||
        ticket_set(&t, TICKET_USER_DATA, s + a, b - a) != 0 ||
        ticket_set(&t, TICKET_COOKIE_PATH, s + b, body - b) != 0)
        return;
    fuzz_ticket_check_storage(&t);
    /* Setting a field again with its own text (which points into t) changes nothing. */
    struct ticket same = t;
    size_t ulen;
    const char *ud = ticket_get(&same, TICKET_USER_DATA, &ulen);
    FUZZ_CHECK(ticket_set(&same, TICKET_USER_DATA, ud, ulen) == 0 && fuzz_ticket_equal(&t, &same),
               "ticket_set with a field's own text is a no-op");

    for (int fmt = TICKET_FORMAT_V1; fmt <= TICKET_FORMAT_LEGACY; fmt++) {
        t.format = (enum ticket_format)fmt;
        long n = ticket_serialize(&t, wire, FUZZ_WIRE_CAP);
        if (fmt == TICKET_FORMAT_V1)
            FUZZ_CHECK(n > 0, "v1 serializes any strings ticket_set accepted");
        if (n < 0) {
            /* Legacy refuses only strings holding U+0000. */
            FUZZ_CHECK(memchr(s, 0, body) != NULL, "legacy refuses only strings with U+0000");
            continue;
        }
        struct ticket back;
        struct errbuf err = {{0}};
        FUZZ_CHECK(ticket_parse(wire, (size_t)n, t.format, &back, &err) == 0,
                   "a ticket built with ticket_set parses");
        FUZZ_CHECK(fuzz_ticket_equal(&t, &back), "strings survive serialize → parse");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_INPUT_MAX)
        size = FUZZ_INPUT_MAX;
    uint8_t *in = malloc(size > 0 ? size : 1);
    uint8_t *wire = malloc(FUZZ_WIRE_CAP);
    if (in == NULL || wire == NULL)
        abort();
    memcpy(in, data, size);

    struct ticket v1, legacy, any;
    struct errbuf err = {{0}};
    int rv1 = ticket_parse(in, size, TICKET_FORMAT_V1, &v1, &err);
    int rleg = ticket_parse(in, size, TICKET_FORMAT_LEGACY, &legacy, &err);
    int rany = ticket_parse_any(in, size, &any, &err);
    FUZZ_CHECK(!(rv1 == 0 && rleg == 0), "at most one format accepts a buffer");
    FUZZ_CHECK((rany == 0) == (rv1 == 0 || rleg == 0), "parse_any accepts what either accepts");
    FUZZ_CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL, "error text is NUL-terminated");
    if (rv1 == 0) {
        FUZZ_CHECK(fuzz_ticket_equal(&any, &v1), "parse_any gives the v1 parse");
        fuzz_ticket_round_trip(&v1, in, size, wire);
    }
    if (rleg == 0) {
        FUZZ_CHECK(fuzz_ticket_equal(&any, &legacy), "parse_any gives the legacy parse");
        fuzz_ticket_round_trip(&legacy, in, size, wire);
    }

    fuzz_ticket_set_strings(in, size, wire);

    free(wire);
    free(in);
    return 0;
}
