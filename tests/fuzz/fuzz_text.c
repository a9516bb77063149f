/* fuzz_text: the small text codecs — ISO 8601 times, durations, base64, UrlToken, hex.
 *
 * The input is tried as text by every decoder, and as bytes by every encoder. Invariants:
 *   - a time that parses is in DateTime's range and survives format → parse unchanged;
 *   - base64, UrlToken and hex accept only canonical text: encode(decode(s)) == s (hex up to
 *     case), and decode(encode(b)) == b for any bytes;
 *   - a decoder given one byte less room than it needs refuses instead of writing past it
 *     (buffers are malloc'd to the exact size, so ASan sees any overrun). */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"

#include "base64.h"
#include "hex.h"
#include "ticks.h"

/* An exactly sized heap buffer; never NULL (1 byte for n == 0). */
static uint8_t *fuzz_alloc(size_t n)
{
    uint8_t *p = malloc(n > 0 ? n : 1);
    if (p == NULL)
        abort();
    return p;
}

static void fuzz_times(const char *s, const uint8_t *data, size_t size)
{
    int64_t t;
    if (ticks_parse_iso(s, &t) == 0) {
        FUZZ_CHECK(t >= 0 && t <= TICKS_MAX, "parsed ISO time is inside DateTime's range");
        char iso[TICKS_ISO_MAX];
        ticks_format_iso(t, iso);
        FUZZ_CHECK(strlen(iso) == 28, "formatted time is 28 characters");
        int64_t again = -1;
        FUZZ_CHECK(ticks_parse_iso(iso, &again) == 0 && again == t,
                   "format(parse(s)) parses back to the same ticks");
    }
    if (ticks_parse_duration(s, &t) == 0)
        FUZZ_CHECK(t >= 0, "a duration is never negative");

    /* The first 8 bytes as ticks: out-of-range values print "invalid", in-range ones round
     * trip through the text form. */
    if (size >= 8) {
        uint64_t u = 0;
        for (int i = 7; i >= 0; i--)
            u = u << 8 | data[i];
        char iso[TICKS_ISO_MAX];
        int64_t raw = (int64_t)(u & INT64_MAX);
        ticks_format_iso(raw, iso);
        int64_t in_range = (int64_t)(u % ((uint64_t)TICKS_MAX + 1));
        ticks_format_iso(in_range, iso);
        int64_t back = -1;
        FUZZ_CHECK(ticks_parse_iso(iso, &back) == 0 && back == in_range,
                   "parse(format(ticks)) == ticks");
        (void)ticks_to_filetime(ticks_from_filetime(raw));
        (void)ticks_from_unix(raw, (int32_t)(u >> 33));
    }
}

static void fuzz_base64(const char *text, size_t len, const uint8_t *data, size_t size)
{
    /* Text → bytes → text. */
    size_t cap = len / 4 * 3 + 3;
    uint8_t *bin = fuzz_alloc(cap);
    long n = base64_decode(text, len, bin, cap);
    if (n >= 0) {
        char *back = malloc(base64_encoded_len((size_t)n) + 1);
        if (back == NULL)
            abort();
        base64_encode(bin, (size_t)n, back);
        FUZZ_CHECK(strlen(back) == len && memcmp(back, text, len) == 0,
                   "base64: encode(decode(s)) == s");
        free(back);
        if (n > 0) {
            uint8_t *tight = fuzz_alloc((size_t)n - 1);
            FUZZ_CHECK(base64_decode(text, len, tight, (size_t)n - 1) == -1,
                       "base64: decode refuses a buffer one byte short");
            free(tight);
        }
    }
    n = base64_urltoken_decode(text, len, bin, cap);
    if (n >= 0) {
        char *back = malloc(base64_encoded_len((size_t)n) + 2);
        if (back == NULL)
            abort();
        size_t blen = base64_urltoken_encode(bin, (size_t)n, back);
        FUZZ_CHECK(blen == len && strlen(back) == len && memcmp(back, text, len) == 0,
                   "urltoken: encode(decode(s)) == s");
        free(back);
        if (n > 0) {
            uint8_t *tight = fuzz_alloc((size_t)n - 1);
            FUZZ_CHECK(base64_urltoken_decode(text, len, tight, (size_t)n - 1) == -1,
                       "urltoken: decode refuses a buffer one byte short");
            free(tight);
        }
    }
    free(bin);

    /* Bytes → text → bytes. */
    size_t elen = base64_encoded_len(size);
    char *enc = malloc(elen + 2);
    uint8_t *dec = fuzz_alloc(size);
    if (enc == NULL)
        abort();
    base64_encode(data, size, enc);
    FUZZ_CHECK(strlen(enc) == elen, "base64: encoded length is base64_encoded_len");
    n = base64_decode(enc, elen, dec, size);
    FUZZ_CHECK(n == (long)size && memcmp(dec, data, size) == 0, "base64: decode(encode(b)) == b");
    size_t ulen = base64_urltoken_encode(data, size, enc);
    FUZZ_CHECK(ulen == strlen(enc) && ulen <= elen + 1, "urltoken: encoded length");
    n = base64_urltoken_decode(enc, ulen, dec, size);
    FUZZ_CHECK(n == (long)size && memcmp(dec, data, size) == 0, "urltoken: decode(encode(b)) == b");
    free(enc);
    free(dec);
}

static void fuzz_hex(const char *text, size_t len, const uint8_t *data, size_t size)
{
    size_t cap = len / 2;
    uint8_t *bin = fuzz_alloc(cap);
    long n = hex_decode(text, len, bin, cap);
    FUZZ_CHECK(hex_is_valid(text, len) == (n > 0), "hex_is_valid agrees with hex_decode");
    if (n >= 0) {
        FUZZ_CHECK((size_t)n * 2 == len, "hex: two digits per byte");
        char *back = malloc(len + 1);
        if (back == NULL)
            abort();
        hex_encode(bin, (size_t)n, back);
        for (size_t i = 0; i < len; i++) {
            char c = text[i];
            if (c >= 'a' && c <= 'f')
                c = (char)(c - 'a' + 'A');
            FUZZ_CHECK(back[i] == c, "hex: encode(decode(s)) == upper(s)");
        }
        free(back);
        if (n > 0) {
            uint8_t *tight = fuzz_alloc((size_t)n - 1);
            FUZZ_CHECK(hex_decode(text, len, tight, (size_t)n - 1) == -1,
                       "hex: decode refuses a buffer one byte short");
            free(tight);
        }
    }
    free(bin);

    char *enc = malloc(2 * size + 1);
    uint8_t *dec = fuzz_alloc(size);
    if (enc == NULL)
        abort();
    hex_encode(data, size, enc);
    n = hex_decode(enc, 2 * size, dec, size);
    FUZZ_CHECK(n == (long)size && memcmp(dec, data, size) == 0, "hex: decode(encode(b)) == b");
    free(enc);
    free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_INPUT_MAX)
        size = FUZZ_INPUT_MAX;
    /* The parsers that take C strings see the input up to its first NUL; the length-taking
     * decoders see all of it (an exactly sized copy, so reads past the end are caught). */
    char *s = malloc(size + 1);
    char *text = malloc(size > 0 ? size : 1);
    if (s == NULL || text == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    memcpy(text, data, size);

    fuzz_times(s, data, size);
    fuzz_base64(text, size, data, size);
    fuzz_hex(text, size, data, size);

    free(text);
    free(s);
    return 0;
}
