#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "ticket.h"
#include "ticks.h"

/* One forms_ticket vector's plaintext and expectations. */
struct vec {
    const char *id;
    json_t *json;
    json_t *expected;
    enum ticket_format format;
    uint8_t *bytes; /* owned */
    size_t len;
};

/* The forms_ticket vectors in file order; *count gets how many. Free with vecs_free. */
static struct vec *vecs_load(size_t *count)
{
    json_t *arr = testutil_vectors();
    struct vec *out = calloc(json_array_size(arr), sizeof *out);
    assert_non_null(out);
    size_t n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (strcmp(testutil_str(v, "kind"), "forms_ticket") != 0)
            continue;
        struct vec *x = &out[n++];
        x->id = testutil_str(v, "id");
        x->json = v;
        x->expected = json_object_get(v, "expected");
        assert_non_null(x->expected);
        assert_int_equal(ticket_format_from_name(testutil_str(v, "ticket_format"), &x->format), 0);
        x->bytes = testutil_unhex(testutil_str(v, "ticket_plaintext_hex"), &x->len);
    }
    /* 16 accepted tickets: 11 v1 and 5 legacy (reference §5.1). */
    assert_int_equal(n, 16);
    *count = n;
    return out;
}

static void vecs_free(struct vec *vs, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(vs[i].bytes);
    free(vs);
}

static int64_t json_ticks(json_t *obj, const char *key)
{
    json_t *j = json_object_get(obj, key);
    if (!json_is_integer(j))
        fail_msg("JSON member %s missing or not an integer", key);
    return (int64_t)json_integer_value(j);
}

static void assert_field(const struct ticket *t, enum ticket_field f, const char *want)
{
    size_t len = 99999;
    const char *got = ticket_get(t, f, &len);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
}

/* Parse bytes that must fail in format f, and check the message is filled in. */
static void assert_parse_fails(const uint8_t *in, size_t len, enum ticket_format f)
{
    struct ticket t;
    struct errbuf err = {{0}};
    ticket_init(&t);
    if (ticket_parse(in, len, f, &t, &err) != -1)
        fail_msg("%s parser accepted %zu bytes; expected -1", ticket_format_name(f), len);
    assert_true(err.msg[0] != '\0');
}

/* ---- names and defaults ------------------------------------------------------------------ */

static void test_ticket_format_names_round_trip(void **state)
{
    (void)state;
    enum ticket_format f = TICKET_FORMAT_LEGACY;
    assert_string_equal(ticket_format_name(TICKET_FORMAT_V1), "v1");
    assert_string_equal(ticket_format_name(TICKET_FORMAT_LEGACY), "legacy");
    assert_int_equal(ticket_format_from_name("v1", &f), 0);
    assert_int_equal(f, TICKET_FORMAT_V1);
    assert_int_equal(ticket_format_from_name("legacy", &f), 0);
    assert_int_equal(f, TICKET_FORMAT_LEGACY);
    assert_int_equal(ticket_format_from_name("v2", &f), -1);
    assert_int_equal(ticket_format_from_name("", &f), -1);
    assert_int_equal(f, TICKET_FORMAT_LEGACY); /* untouched on failure */
}

static void test_ticket_init_defaults(void **state)
{
    (void)state;
    struct ticket t;
    memset(&t, 0xA5, sizeof t);
    ticket_init(&t);
    assert_int_equal(t.format, TICKET_FORMAT_V1);
    assert_int_equal(t.version, 1);
    assert_int_equal(t.issue_ticks, 0);
    assert_int_equal(t.expiration_ticks, 0);
    assert_false(t.persistent);
    for (int i = 0; i < 8; i++)
        assert_int_equal(t.legacy_header[i], 0);
    assert_field(&t, TICKET_NAME, "");
    assert_field(&t, TICKET_USER_DATA, "");
    assert_field(&t, TICKET_COOKIE_PATH, "");
}

/* ---- the real vectors -------------------------------------------------------------------- */

static void test_ticket_vectors_parse_to_expected_fields(void **state)
{
    (void)state;
    size_t n;
    struct vec *vs = vecs_load(&n);
    for (size_t i = 0; i < n; i++) {
        struct vec *x = &vs[i];
        struct ticket t;
        struct errbuf err = {{0}};
        if (ticket_parse(x->bytes, x->len, x->format, &t, &err) != 0)
            fail_msg("%s: parse failed: %s", x->id, err.msg);
        assert_int_equal(t.format, x->format);
        assert_int_equal(t.version, json_ticks(x->expected, "version"));
        assert_field(&t, TICKET_NAME, testutil_str(x->expected, "name"));
        assert_field(&t, TICKET_USER_DATA, testutil_str(x->expected, "user_data"));
        assert_field(&t, TICKET_COOKIE_PATH, testutil_str(x->expected, "cookie_path"));
        assert_int_equal(t.persistent,
                         json_is_true(json_object_get(x->expected, "persistent")) ? 1 : 0);
        assert_int_equal(t.issue_ticks, json_ticks(x->expected, "issue_ticks_utc"));
        assert_int_equal(t.expiration_ticks, json_ticks(x->expected, "expiration_ticks_utc"));
        if (x->format == TICKET_FORMAT_LEGACY) {
            const char *want = testutil_str(x->expected, "legacy_header_hex");
            uint8_t want_bytes[8];
            assert_int_equal(hex_decode(want, strlen(want), want_bytes, sizeof want_bytes), 8);
            assert_memory_equal(t.legacy_header, want_bytes, 8);
        }
    }
    vecs_free(vs, n);
}

static void test_ticket_vectors_reserialize_identically(void **state)
{
    (void)state;
    size_t n;
    struct vec *vs = vecs_load(&n);
    for (size_t i = 0; i < n; i++) {
        struct vec *x = &vs[i];
        struct ticket t;
        uint8_t out[TICKET_WIRE_MAX];
        assert_int_equal(ticket_parse(x->bytes, x->len, x->format, &t, NULL), 0);
        long got = ticket_serialize(&t, out, sizeof out);
        if (got != (long)x->len)
            fail_msg("%s: serialized %ld bytes; expected %zu", x->id, got, x->len);
        assert_memory_equal(out, x->bytes, x->len);
    }
    vecs_free(vs, n);
}

static void test_ticket_vectors_parse_any_finds_format(void **state)
{
    (void)state;
    size_t n;
    struct vec *vs = vecs_load(&n);
    for (size_t i = 0; i < n; i++) {
        struct ticket t;
        struct errbuf err = {{0}};
        if (ticket_parse_any(vs[i].bytes, vs[i].len, &t, &err) != 0)
            fail_msg("%s: parse_any failed: %s", vs[i].id, err.msg);
        assert_int_equal(t.format, vs[i].format);
    }
    vecs_free(vs, n);
}

static void test_ticket_vectors_rejected_by_other_format(void **state)
{
    (void)state;
    size_t n;
    struct vec *vs = vecs_load(&n);
    for (size_t i = 0; i < n; i++) {
        enum ticket_format other =
            vs[i].format == TICKET_FORMAT_V1 ? TICKET_FORMAT_LEGACY : TICKET_FORMAT_V1;
        assert_parse_fails(vs[i].bytes, vs[i].len, other);
    }
    vecs_free(vs, n);
}

static void test_ticket_vectors_truncation_at_every_length_fails(void **state)
{
    (void)state;
    size_t n;
    struct vec *vs = vecs_load(&n);
    for (size_t i = 0; i < n; i++) {
        /* A private copy of each prefix, so ASan sees any read past its end. */
        for (size_t cut = 0; cut < vs[i].len; cut++) {
            uint8_t *prefix = malloc(cut > 0 ? cut : 1);
            assert_non_null(prefix);
            memcpy(prefix, vs[i].bytes, cut);
            assert_parse_fails(prefix, cut, TICKET_FORMAT_V1);
            assert_parse_fails(prefix, cut, TICKET_FORMAT_LEGACY);
            struct ticket t;
            assert_int_equal(ticket_parse_any(prefix, cut, &t, NULL), -1);
            free(prefix);
        }
    }
    vecs_free(vs, n);
}

static void test_ticket_vectors_trailing_byte_fails(void **state)
{
    (void)state;
    size_t n;
    struct vec *vs = vecs_load(&n);
    const uint8_t extra[] = {0x00, 0xFF, 0x01};
    for (size_t i = 0; i < n; i++) {
        for (size_t e = 0; e < sizeof extra; e++) {
            uint8_t *buf = malloc(vs[i].len + 2);
            assert_non_null(buf);
            memcpy(buf, vs[i].bytes, vs[i].len);
            buf[vs[i].len] = extra[e];
            buf[vs[i].len + 1] = 0x00;
            assert_parse_fails(buf, vs[i].len + 1, vs[i].format);
            /* Two trailing zero bytes look like another legacy NUL: still an error. */
            assert_parse_fails(buf, vs[i].len + 2, vs[i].format);
            struct ticket t;
            assert_int_equal(ticket_parse_any(buf, vs[i].len + 1, &t, NULL), -1);
            free(buf);
        }
    }
    vecs_free(vs, n);
}

/* Flip every bit of pos in a copy of the vector; each variant must be rejected. */
static void assert_bit_flips_fail(const struct vec *x, size_t pos, uint8_t bits)
{
    uint8_t *buf = malloc(x->len);
    assert_non_null(buf);
    for (int bit = 0; bit < 8; bit++) {
        if ((bits & (1u << bit)) == 0)
            continue;
        memcpy(buf, x->bytes, x->len);
        buf[pos] ^= (uint8_t)(1u << bit);
        struct ticket t;
        if (ticket_parse(buf, x->len, x->format, &t, NULL) != -1)
            fail_msg("%s: flipping bit %d of byte %zu was accepted; expected -1", x->id, bit, pos);
    }
    free(buf);
}

static void test_ticket_v1_structural_bit_flips_fail(void **state)
{
    (void)state;
    size_t n;
    struct vec *vs = vecs_load(&n);
    int checked = 0;
    for (size_t i = 0; i < n; i++) {
        struct vec *x = &vs[i];
        if (x->format != TICKET_FORMAT_V1)
            continue;
        assert_bit_flips_fail(x, 0, 0xFF);          /* format version */
        assert_bit_flips_fail(x, 10, 0xFF);         /* spacer */
        assert_bit_flips_fail(x, 19, 0xFE);         /* persistent: only bit 0 is data */
        assert_bit_flips_fail(x, x->len - 1, 0xFF); /* footer */
        /* The name's length byte (one byte in every vector). A changed length misaligns
         * everything after it; for these vectors that always ends in a rejection. That is
         * not true of every ticket: in dazinator-hmacsha384 a user-data length one larger
         * swallows the path's length byte and '/', leaving "00 FF" = empty path + footer. */
        assert_true(x->bytes[20] < 0x80);
        assert_bit_flips_fail(x, 20, 0xFF);
        checked++;
    }
    assert_int_equal(checked, 11);
    vecs_free(vs, n);
}

static void test_ticket_legacy_terminator_bit_flips_fail(void **state)
{
    (void)state;
    size_t n;
    struct vec *vs = vecs_load(&n);
    int checked = 0;
    for (size_t i = 0; i < n; i++) {
        struct vec *x = &vs[i];
        if (x->format != TICKET_FORMAT_LEGACY)
            continue;
        /* The user data's and the cookie path's terminators. (A flipped name terminator
         * can be absorbed: the name then runs on to the next 16-bit zero, which the
         * FILETIME that follows often holds, and the rest still parses as garbage. The
         * format has no redundancy to catch that, one reason MS11-100 replaced it.) */
        const size_t nuls[] = {x->len - 6, x->len - 5, x->len - 2, x->len - 1};
        for (size_t k = 0; k < sizeof nuls / sizeof nuls[0]; k++) {
            assert_int_equal(x->bytes[nuls[k]], 0x00);
            assert_bit_flips_fail(x, nuls[k], 0xFF);
        }
        checked++;
    }
    assert_int_equal(checked, 5);
    vecs_free(vs, n);
}

/* ---- v1 details -------------------------------------------------------------------------- */

static void test_ticket_v1_dazinator_bytes_match_reference(void **state)
{
    (void)state;
    /* Reference §2.1 worked example, built from fields. */
    static const char want_hex[] = "010197a090eda3e5d508fe9720b2957fedd50800"
                                   "0b66006f006f0040006200610072002e0063006f006d00"
                                   "0b66006f006f0040006200610072002e0063006f006d00"
                                   "012f00ff";
    struct ticket t;
    ticket_init(&t);
    t.version = 1;
    t.issue_ticks = 636667414570901655;
    t.expiration_ticks = 636676054570901655;
    assert_int_equal(ticket_set(&t, TICKET_NAME, "foo@bar.com", 11), 0);
    assert_int_equal(ticket_set(&t, TICKET_USER_DATA, "foo@bar.com", 11), 0);
    assert_int_equal(ticket_set(&t, TICKET_COOKIE_PATH, "/", 1), 0);
    uint8_t out[128];
    long got = ticket_serialize(&t, out, sizeof out);
    assert_int_equal(got, 70);
    uint8_t want[70];
    assert_int_equal(hex_decode(want_hex, strlen(want_hex), want, sizeof want), 70);
    assert_memory_equal(out, want, 70);
}

static void test_ticket_v1_minimal_is_24_bytes(void **state)
{
    (void)state;
    struct ticket t;
    struct ticket back;
    ticket_init(&t);
    t.persistent = true;
    t.version = 0xAB;
    t.issue_ticks = TICKS_MAX;
    uint8_t out[64];
    assert_int_equal(ticket_serialize(&t, out, sizeof out), 24);
    const uint8_t want_tail[] = {0x01, 0x00, 0x00, 0x00, 0xFF};
    assert_int_equal(out[0], 0x01);
    assert_int_equal(out[1], 0xAB);
    assert_int_equal(out[10], 0xFE);
    assert_memory_equal(out + 19, want_tail, sizeof want_tail);
    assert_int_equal(ticket_parse(out, 24, TICKET_FORMAT_V1, &back, NULL), 0);
    assert_true(back.persistent);
    assert_int_equal(back.version, 0xAB);
    assert_int_equal(back.issue_ticks, TICKS_MAX);
}

/* Serialize t, check the bytes of the name field, parse back and compare every field. */
static void assert_v1_round_trip(const struct ticket *t, const uint8_t *name_wire,
                                 size_t name_wire_len)
{
    uint8_t out[TICKET_WIRE_MAX];
    long got = ticket_serialize(t, out, sizeof out);
    assert_true(got > 0);
    if (name_wire != NULL)
        assert_memory_equal(out + 20, name_wire, name_wire_len);

    struct ticket back;
    struct errbuf err = {{0}};
    if (ticket_parse(out, (size_t)got, TICKET_FORMAT_V1, &back, &err) != 0)
        fail_msg("round trip parse failed: %s", err.msg);
    for (int f = 0; f < TICKET_FIELD_COUNT; f++) {
        size_t want_len;
        size_t got_len;
        const char *want = ticket_get(t, (enum ticket_field)f, &want_len);
        const char *s = ticket_get(&back, (enum ticket_field)f, &got_len);
        assert_int_equal(got_len, want_len);
        assert_memory_equal(s, want, want_len);
        assert_int_equal(s[got_len], '\0');
    }
    assert_int_equal(back.issue_ticks, t->issue_ticks);
    assert_int_equal(back.expiration_ticks, t->expiration_ticks);
    assert_int_equal(back.persistent, t->persistent);
    assert_int_equal(back.version, t->version);
}

static void test_ticket_v1_round_trip_non_ascii(void **state)
{
    (void)state;
    struct ticket t;
    ticket_init(&t);
    t.issue_ticks = 636667414570901655;
    t.expiration_ticks = 636676054570901655;
    /* "Zoë": Z o U+00EB, three code units. */
    assert_int_equal(ticket_set(&t, TICKET_NAME, "Zo\xC3\xAB", 4), 0);
    /* U+1F600 is one code point but a surrogate pair on the wire. */
    assert_int_equal(ticket_set(&t, TICKET_USER_DATA, "\xF0\x9F\x98\x80", 4), 0);
    assert_int_equal(ticket_set(&t, TICKET_COOKIE_PATH, "/\xE2\x82\xAC", 4), 0); /* "/€" */
    const uint8_t zoe[] = {0x03, 'Z', 0, 'o', 0, 0xEB, 0x00};
    assert_v1_round_trip(&t, zoe, sizeof zoe);

    uint8_t out[128];
    long got = ticket_serialize(&t, out, sizeof out);
    const uint8_t emoji[] = {0x02, 0x3D, 0xD8, 0x00, 0xDE};
    const uint8_t path[] = {0x02, 0x2F, 0x00, 0xAC, 0x20, 0xFF};
    assert_memory_equal(out + 27, emoji, sizeof emoji);
    assert_int_equal(got, 27 + (long)sizeof emoji + (long)sizeof path);
    assert_memory_equal(out + 32, path, sizeof path);
}

static void test_ticket_v1_round_trip_empty_strings(void **state)
{
    (void)state;
    struct ticket t;
    ticket_init(&t);
    t.expiration_ticks = 1;
    const uint8_t empty[] = {0x00, 0x00, 0x00, 0xFF};
    assert_v1_round_trip(&t, empty, sizeof empty);
}

static void test_ticket_v1_round_trip_long_user_data(void **state)
{
    (void)state;
    char data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)('a' + i % 26);
    struct ticket t;
    ticket_init(&t);
    assert_int_equal(ticket_set(&t, TICKET_USER_DATA, data, sizeof data), 0);
    assert_v1_round_trip(&t, NULL, 0);

    uint8_t out[TICKET_WIRE_MAX];
    long got = ticket_serialize(&t, out, sizeof out);
    /* 300 = 0x12C: 7-bit encoded as AC 02. The empty name's length is at 20. */
    assert_int_equal(out[20], 0x00);
    assert_int_equal(out[21], 0xAC);
    assert_int_equal(out[22], 0x02);
    assert_int_equal(out[23], 'a');
    assert_int_equal(got, 20 + 1 + 2 + 600 + 1 + 1);
}

static void test_ticket_v1_round_trip_embedded_nul(void **state)
{
    (void)state;
    struct ticket t;
    ticket_init(&t);
    assert_int_equal(ticket_set(&t, TICKET_NAME, "adm\0in", 6), 0);
    size_t len;
    const char *s = ticket_get(&t, TICKET_NAME, &len);
    assert_int_equal(len, 6);
    assert_int_equal(strlen(s), 3);
    const uint8_t wire[] = {0x06, 'a', 0, 'd', 0, 'm', 0, 0, 0, 'i', 0, 'n', 0};
    assert_v1_round_trip(&t, wire, sizeof wire);
}

/* A hand-built v1 ticket with the given name bytes (length prefix included). */
static size_t build_v1(uint8_t *out, const uint8_t *name, size_t name_len)
{
    static const uint8_t head[20] = {0x01, 0x01, 0, 0, 0, 0, 0, 0, 0, 0,
                                     0xFE, 0,    0, 0, 0, 0, 0, 0, 0, 0x00};
    size_t n = 0;
    memcpy(out, head, sizeof head);
    n += sizeof head;
    memcpy(out + n, name, name_len);
    n += name_len;
    out[n++] = 0x00; /* user data */
    out[n++] = 0x00; /* cookie path */
    out[n++] = 0xFF;
    return n;
}

static void test_ticket_v1_lone_surrogates_become_replacement(void **state)
{
    (void)state;
    const struct {
        uint8_t wire[9];
        size_t wire_len;
        const char *want;
    } cases[] = {
        {{0x01, 0x00, 0xD8}, 3, "\xEF\xBF\xBD"},                         /* lone high */
        {{0x01, 0x00, 0xDC}, 3, "\xEF\xBF\xBD"},                         /* lone low */
        {{0x02, 0x00, 0xD8, 0x41, 0x00}, 5, "\xEF\xBF\xBD\x41"},         /* high, then 'A' */
        {{0x02, 0x00, 0xDC, 0x00, 0xD8}, 5, "\xEF\xBF\xBD\xEF\xBF\xBD"}, /* low before high */
        {{0x02, 0x3D, 0xD8, 0x00, 0xDE}, 5, "\xF0\x9F\x98\x80"},         /* a real pair */
        {{0x03, 0x3D, 0xD8, 0x3D, 0xD8, 0x00, 0xDE}, 7, "\xEF\xBF\xBD\xF0\x9F\x98\x80"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t buf[64];
        size_t n = build_v1(buf, cases[i].wire, cases[i].wire_len);
        struct ticket t;
        struct errbuf err = {{0}};
        if (ticket_parse(buf, n, TICKET_FORMAT_V1, &t, &err) != 0)
            fail_msg("case %zu: parse failed: %s", i, err.msg);
        assert_field(&t, TICKET_NAME, cases[i].want);
    }
}

static void test_ticket_v1_7bit_lengths_are_strict(void **state)
{
    (void)state;
    const struct {
        uint8_t wire[8];
        size_t wire_len;
        const char *why;
        const char *msg; /* expected in the error message */
    } bad[] = {
        {{0x80, 0x00}, 2, "overlong zero", "overlong"},
        {{0x81, 0x00, 'A', 0}, 4, "overlong one", "overlong"},
        {{0xFF, 0xFF, 0xFF, 0xFF, 0x0F}, 5, "5 bytes wrapping to -1", "int32"},
        {{0x80, 0x80, 0x80, 0x80, 0x08}, 5, "5 bytes = 2^31", "int32"},
        {{0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 6, "6-byte encoding", "int32"},
        {{0xFF, 0xFF, 0xFF, 0xFF, 0x07}, 5, "INT32_MAX units, past the end", "past the end"},
        {{0x03, 'A', 0}, 3, "3 units, 5 bytes left", "past the end"},
        {{0x80, 0x01}, 2, "128 units, past the end", "past the end"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t buf[64];
        size_t n = build_v1(buf, bad[i].wire, bad[i].wire_len);
        struct ticket t;
        struct errbuf err = {{0}};
        if (ticket_parse(buf, n, TICKET_FORMAT_V1, &t, &err) != -1)
            fail_msg("accepted a name length that is %s; expected -1", bad[i].why);
        if (strstr(err.msg, bad[i].msg) == NULL)
            fail_msg("%s: error \"%s\" does not mention \"%s\"", bad[i].why, err.msg, bad[i].msg);
    }
    /* The same framing with a well-formed length parses, so the cases above fail for the
     * length alone. */
    const uint8_t good[] = {0x01, 'A', 0};
    uint8_t buf[64];
    size_t n = build_v1(buf, good, sizeof good);
    struct ticket t;
    assert_int_equal(ticket_parse(buf, n, TICKET_FORMAT_V1, &t, NULL), 0);
    assert_field(&t, TICKET_NAME, "A");
}

static void test_ticket_v1_ticks_outside_datetime_fail(void **state)
{
    (void)state;
    struct ticket t;
    uint8_t out[64];
    ticket_init(&t);
    t.issue_ticks = -1;
    assert_int_equal(ticket_serialize(&t, out, sizeof out), -1);
    t.issue_ticks = 0;
    t.expiration_ticks = TICKS_MAX + 1;
    assert_int_equal(ticket_serialize(&t, out, sizeof out), -1);

    /* On the wire: a valid minimal ticket, then the issue date made negative or too big. */
    t.expiration_ticks = 0;
    assert_int_equal(ticket_serialize(&t, out, sizeof out), 24);
    struct ticket back;
    assert_int_equal(ticket_parse(out, 24, TICKET_FORMAT_V1, &back, NULL), 0);
    out[9] = 0x80; /* issue ticks become negative */
    assert_parse_fails(out, 24, TICKET_FORMAT_V1);
    out[9] = 0x7F; /* far beyond year 9999 */
    assert_parse_fails(out, 24, TICKET_FORMAT_V1);
    out[9] = 0x00;
    out[18] = 0x80; /* expiration negative */
    assert_parse_fails(out, 24, TICKET_FORMAT_V1);
}

static void test_ticket_v1_text_storage_limit_on_parse(void **state)
{
    (void)state;
    /* 1400 units of U+0800 are 4200 UTF-8 bytes: more than TICKET_TEXT_MAX. */
    enum { UNITS = 1400 };
    uint8_t *name = malloc(2 + 2 * UNITS);
    uint8_t *buf = malloc(2 + 2 * UNITS + 32);
    assert_non_null(name);
    assert_non_null(buf);
    name[0] = (uint8_t)(0x80 | (UNITS & 0x7F));
    name[1] = (uint8_t)(UNITS >> 7);
    for (size_t i = 0; i < UNITS; i++) {
        name[2 + 2 * i] = 0x00;
        name[3 + 2 * i] = 0x08;
    }
    size_t n = build_v1(buf, name, 2 + 2 * UNITS);
    assert_parse_fails(buf, n, TICKET_FORMAT_V1);

    /* 1300 units (3900 bytes) fit. */
    name[0] = (uint8_t)(0x80 | (1300 & 0x7F));
    name[1] = (uint8_t)(1300 >> 7);
    n = build_v1(buf, name, 2 + 2 * 1300);
    struct ticket t;
    assert_int_equal(ticket_parse(buf, n, TICKET_FORMAT_V1, &t, NULL), 0);
    size_t len;
    ticket_get(&t, TICKET_NAME, &len);
    assert_int_equal(len, 3900);
    free(buf);
    free(name);
}

/* ---- legacy details ---------------------------------------------------------------------- */

static void test_ticket_legacy_round_trip(void **state)
{
    (void)state;
    struct ticket t;
    ticket_init(&t);
    t.format = TICKET_FORMAT_LEGACY;
    t.version = 2;
    t.issue_ticks = 637765632000000000;
    t.expiration_ticks = 648179424000000000;
    t.persistent = true;
    memcpy(t.legacy_header, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    assert_int_equal(ticket_set(&t, TICKET_NAME, "Zo\xC3\xAB", 4), 0);
    assert_int_equal(ticket_set(&t, TICKET_USER_DATA, "\xF0\x9F\x98\x80", 4), 0);
    assert_int_equal(ticket_set(&t, TICKET_COOKIE_PATH, "/", 1), 0);

    uint8_t out[128];
    long got = ticket_serialize(&t, out, sizeof out);
    /* 8 + 1 + (3+1)*2 + 8 + 1 + 8 + (2+1)*2 + (1+1)*2 */
    assert_int_equal(got, 8 + 1 + 8 + 8 + 1 + 8 + 6 + 4);
    const uint8_t name[] = {'Z', 0, 'o', 0, 0xEB, 0, 0, 0};
    assert_memory_equal(out + 9, name, sizeof name);
    /* FILETIME 132854400000000000 = 0x01D7FE5F76D90000, little-endian. */
    const uint8_t ft[] = {0x00, 0x00, 0xD9, 0x76, 0x5F, 0xFE, 0xD7, 0x01};
    assert_memory_equal(out + 17, ft, sizeof ft);
    assert_int_equal(out[25], 0x01);

    struct ticket back;
    assert_int_equal(ticket_parse(out, (size_t)got, TICKET_FORMAT_LEGACY, &back, NULL), 0);
    assert_int_equal(back.format, TICKET_FORMAT_LEGACY);
    assert_int_equal(back.version, 2);
    assert_true(back.persistent);
    assert_int_equal(back.issue_ticks, t.issue_ticks);
    assert_int_equal(back.expiration_ticks, t.expiration_ticks);
    assert_memory_equal(back.legacy_header, t.legacy_header, 8);
    assert_field(&back, TICKET_NAME, "Zo\xC3\xAB");
    assert_field(&back, TICKET_USER_DATA, "\xF0\x9F\x98\x80");
    assert_field(&back, TICKET_COOKIE_PATH, "/");
}

static void test_ticket_legacy_minimal_is_32_bytes(void **state)
{
    (void)state;
    struct ticket t;
    ticket_init(&t);
    t.format = TICKET_FORMAT_LEGACY;
    t.issue_ticks = TICKS_FILETIME_EPOCH;
    t.expiration_ticks = TICKS_FILETIME_EPOCH;
    uint8_t out[64];
    assert_int_equal(ticket_serialize(&t, out, sizeof out), 32);
    struct ticket back;
    assert_int_equal(ticket_parse(out, 32, TICKET_FORMAT_LEGACY, &back, NULL), 0);
    assert_field(&back, TICKET_NAME, "");
    assert_field(&back, TICKET_COOKIE_PATH, "");
    assert_int_equal(back.issue_ticks, TICKS_FILETIME_EPOCH);
}

static void test_ticket_legacy_serialize_rejects_nul(void **state)
{
    (void)state;
    struct ticket t;
    uint8_t out[128];
    const enum ticket_field fields[] = {TICKET_NAME, TICKET_USER_DATA, TICKET_COOKIE_PATH};
    for (size_t i = 0; i < 3; i++) {
        ticket_init(&t);
        t.issue_ticks = t.expiration_ticks = 637765632000000000;
        assert_int_equal(ticket_set(&t, fields[i], "ad\0min", 6), 0);
        t.format = TICKET_FORMAT_V1;
        assert_true(ticket_serialize(&t, out, sizeof out) > 0);
        t.format = TICKET_FORMAT_LEGACY;
        assert_int_equal(ticket_serialize(&t, out, sizeof out), -1);
    }
}

static void test_ticket_legacy_dates_before_1601_fail(void **state)
{
    (void)state;
    struct ticket t;
    uint8_t out[64];
    ticket_init(&t);
    t.format = TICKET_FORMAT_LEGACY;
    t.issue_ticks = TICKS_FILETIME_EPOCH - 1;
    t.expiration_ticks = TICKS_FILETIME_EPOCH;
    assert_int_equal(ticket_serialize(&t, out, sizeof out), -1);
    t.issue_ticks = TICKS_FILETIME_EPOCH;
    assert_int_equal(ticket_serialize(&t, out, sizeof out), 32);
    /* A negative FILETIME on the wire (top byte of the issue date at offset 18). */
    out[18] = 0x80;
    assert_parse_fails(out, 32, TICKET_FORMAT_LEGACY);
    /* A FILETIME past 9999-12-31. */
    out[18] = 0x7F;
    assert_parse_fails(out, 32, TICKET_FORMAT_LEGACY);
}

static void test_ticket_legacy_nonzero_persistent_is_true(void **state)
{
    (void)state;
    struct ticket t;
    uint8_t out[64];
    ticket_init(&t);
    t.format = TICKET_FORMAT_LEGACY;
    t.issue_ticks = t.expiration_ticks = TICKS_FILETIME_EPOCH;
    assert_int_equal(ticket_serialize(&t, out, sizeof out), 32);
    out[19] = 0x7E; /* persistent byte: 8 header + 1 version + 2 name NUL + 8 FILETIME */
    struct ticket back;
    assert_int_equal(ticket_parse(out, 32, TICKET_FORMAT_LEGACY, &back, NULL), 0);
    assert_true(back.persistent);
    out[19] = 0x00;
    assert_int_equal(ticket_parse(out, 32, TICKET_FORMAT_LEGACY, &back, NULL), 0);
    assert_false(back.persistent);
}

static void test_ticket_legacy_odd_tail_fails(void **state)
{
    (void)state;
    /* The cookie path's "NUL" would straddle the end: 1 byte of path, then 00 at the end. */
    struct ticket t;
    uint8_t out[64];
    ticket_init(&t);
    t.format = TICKET_FORMAT_LEGACY;
    t.issue_ticks = t.expiration_ticks = TICKS_FILETIME_EPOCH;
    assert_int_equal(ticket_serialize(&t, out, sizeof out), 32);
    /* Replace the path's NUL with 'A' 00 00 (a unit plus half a terminator). */
    out[30] = 'A';
    out[31] = 0x00;
    out[32] = 0x00;
    assert_parse_fails(out, 33, TICKET_FORMAT_LEGACY);
    /* With a full terminator it parses as path "A". */
    out[33] = 0x00;
    struct ticket back;
    assert_int_equal(ticket_parse(out, 34, TICKET_FORMAT_LEGACY, &back, NULL), 0);
    assert_field(&back, TICKET_COOKIE_PATH, "A");
}

/* ---- API behaviour ----------------------------------------------------------------------- */

static void test_ticket_set_rejects_invalid_utf8(void **state)
{
    (void)state;
    const struct {
        const char *s;
        size_t len;
    } bad[] = {
        {"\xC3", 1},             /* truncated 2-byte sequence */
        {"a\xE2\x82", 3},        /* truncated 3-byte sequence */
        {"\xC0\x80", 2},         /* overlong NUL */
        {"\xE0\x80\xAF", 3},     /* overlong '/' */
        {"\xED\xA0\x80", 3},     /* UTF-8 encoded surrogate U+D800 */
        {"\xF4\x90\x80\x80", 4}, /* U+110000 */
        {"\xFF", 1},             /* never valid */
        {"\x80", 1},             /* stray continuation */
        {"\xC3\x28", 2},         /* bad continuation */
    };
    struct ticket t;
    ticket_init(&t);
    assert_int_equal(ticket_set(&t, TICKET_NAME, "keep", 4), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ticket_set(&t, TICKET_NAME, bad[i].s, bad[i].len) != -1)
            fail_msg("ticket_set accepted invalid UTF-8 case %zu; expected -1", i);
        assert_field(&t, TICKET_NAME, "keep"); /* unchanged */
    }
}

static void test_ticket_set_replaces_and_compacts(void **state)
{
    (void)state;
    struct ticket t;
    ticket_init(&t);
    char big[TICKET_TEXT_MAX];
    memset(big, 'x', sizeof big);
    /* Three NULs are always stored, so the largest single string is MAX - 3. */
    assert_int_equal(ticket_set(&t, TICKET_NAME, big, TICKET_TEXT_MAX - 2), -1);
    assert_int_equal(ticket_set(&t, TICKET_USER_DATA, big, TICKET_TEXT_MAX - 3), 0);
    assert_int_equal(t.text_used, TICKET_TEXT_MAX);
    assert_int_equal(ticket_set(&t, TICKET_NAME, "a", 1), -1);
    assert_field(&t, TICKET_NAME, "");

    /* Shrinking the user data frees space for the others. */
    assert_int_equal(ticket_set(&t, TICKET_USER_DATA, "data", 4), 0);
    assert_int_equal(ticket_set(&t, TICKET_NAME, "name", 4), 0);
    assert_int_equal(ticket_set(&t, TICKET_COOKIE_PATH, "/app", 4), 0);
    assert_int_equal(t.text_used, 15);
    assert_int_equal(ticket_set(&t, TICKET_NAME, "a much longer name", 18), 0);
    assert_field(&t, TICKET_NAME, "a much longer name");
    assert_field(&t, TICKET_USER_DATA, "data");
    assert_field(&t, TICKET_COOKIE_PATH, "/app");
    assert_int_equal(t.text_used, 29);
    assert_int_equal(ticket_set(&t, TICKET_NAME, NULL, 0), 0);
    assert_field(&t, TICKET_NAME, "");
    assert_int_equal(t.text_used, 11);
}

static void test_ticket_set_from_own_text(void **state)
{
    (void)state;
    struct ticket t;
    ticket_init(&t);
    assert_int_equal(ticket_set(&t, TICKET_NAME, "alice", 5), 0);
    assert_int_equal(ticket_set(&t, TICKET_USER_DATA, "role=admin", 10), 0);
    size_t len;
    const char *s = ticket_get(&t, TICKET_USER_DATA, &len);
    assert_int_equal(ticket_set(&t, TICKET_NAME, s, len), 0);
    assert_field(&t, TICKET_NAME, "role=admin");
    assert_field(&t, TICKET_USER_DATA, "role=admin");
    s = ticket_get(&t, TICKET_NAME, &len);
    assert_int_equal(ticket_set(&t, TICKET_USER_DATA, s + 5, 5), 0);
    assert_field(&t, TICKET_USER_DATA, "admin");
}

static void test_ticket_serialize_respects_cap(void **state)
{
    (void)state;
    size_t n;
    struct vec *vs = vecs_load(&n);
    for (size_t i = 0; i < n; i++) {
        struct ticket t;
        assert_int_equal(ticket_parse(vs[i].bytes, vs[i].len, vs[i].format, &t, NULL), 0);
        for (size_t cap = 0; cap < vs[i].len; cap++) {
            uint8_t *out = malloc(cap > 0 ? cap : 1);
            assert_non_null(out);
            if (ticket_serialize(&t, out, cap) != -1)
                fail_msg("%s: serialize fit in %zu bytes; expected -1", vs[i].id, cap);
            free(out);
        }
        uint8_t *out = malloc(vs[i].len);
        assert_non_null(out);
        assert_int_equal(ticket_serialize(&t, out, vs[i].len), (long)vs[i].len);
        free(out);
    }
    vecs_free(vs, n);
}

static void test_ticket_parse_failure_leaves_output_untouched(void **state)
{
    (void)state;
    struct ticket t;
    ticket_init(&t);
    assert_int_equal(ticket_set(&t, TICKET_NAME, "before", 6), 0);
    t.issue_ticks = 77;
    const uint8_t junk[30] = {0x01, 0x01};
    struct errbuf err = {{0}};
    assert_int_equal(ticket_parse(junk, sizeof junk, TICKET_FORMAT_V1, &t, &err), -1);
    assert_int_equal(ticket_parse_any(junk, sizeof junk, &t, &err), -1);
    assert_non_null(strstr(err.msg, "v1"));
    assert_non_null(strstr(err.msg, "legacy"));
    assert_field(&t, TICKET_NAME, "before");
    assert_int_equal(t.issue_ticks, 77);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ticket_format_names_round_trip),
        cmocka_unit_test(test_ticket_init_defaults),
        cmocka_unit_test(test_ticket_vectors_parse_to_expected_fields),
        cmocka_unit_test(test_ticket_vectors_reserialize_identically),
        cmocka_unit_test(test_ticket_vectors_parse_any_finds_format),
        cmocka_unit_test(test_ticket_vectors_rejected_by_other_format),
        cmocka_unit_test(test_ticket_vectors_truncation_at_every_length_fails),
        cmocka_unit_test(test_ticket_vectors_trailing_byte_fails),
        cmocka_unit_test(test_ticket_v1_structural_bit_flips_fail),
        cmocka_unit_test(test_ticket_legacy_terminator_bit_flips_fail),
        cmocka_unit_test(test_ticket_v1_dazinator_bytes_match_reference),
        cmocka_unit_test(test_ticket_v1_minimal_is_24_bytes),
        cmocka_unit_test(test_ticket_v1_round_trip_non_ascii),
        cmocka_unit_test(test_ticket_v1_round_trip_empty_strings),
        cmocka_unit_test(test_ticket_v1_round_trip_long_user_data),
        cmocka_unit_test(test_ticket_v1_round_trip_embedded_nul),
        cmocka_unit_test(test_ticket_v1_lone_surrogates_become_replacement),
        cmocka_unit_test(test_ticket_v1_7bit_lengths_are_strict),
        cmocka_unit_test(test_ticket_v1_ticks_outside_datetime_fail),
        cmocka_unit_test(test_ticket_v1_text_storage_limit_on_parse),
        cmocka_unit_test(test_ticket_legacy_round_trip),
        cmocka_unit_test(test_ticket_legacy_minimal_is_32_bytes),
        cmocka_unit_test(test_ticket_legacy_serialize_rejects_nul),
        cmocka_unit_test(test_ticket_legacy_dates_before_1601_fail),
        cmocka_unit_test(test_ticket_legacy_nonzero_persistent_is_true),
        cmocka_unit_test(test_ticket_legacy_odd_tail_fails),
        cmocka_unit_test(test_ticket_set_rejects_invalid_utf8),
        cmocka_unit_test(test_ticket_set_replaces_and_compacts),
        cmocka_unit_test(test_ticket_set_from_own_text),
        cmocka_unit_test(test_ticket_serialize_respects_cap),
        cmocka_unit_test(test_ticket_parse_failure_leaves_output_untouched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
