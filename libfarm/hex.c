#include "hex.h"

#include <string.h>

/* Value of one hex digit, or -1. Written out rather than using <ctype.h> so that the
 * result never depends on the locale. */
static int hex_digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

/* Digit value + 1 for hex digits, 0 for anything else. */
static const uint8_t hex_table[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HEX_SWAR 1
#define HEX_ONES 0x0101010101010101ULL
#define HEX_HIGH 0x8080808080808080ULL

/* Eight hex characters to four bytes at once (little-endian machines; cookies are decoded
 * on every request). Each byte lane is range-checked with additions whose carries cannot
 * cross lanes, since every lane is below 0x80. Returns false on any non-hex character. */
static bool hex_decode8(const char *in, uint8_t *out)
{
    uint64_t x;
    memcpy(&x, in, 8);
    uint64_t l = x | 0x2020202020202020ULL; /* letters to lower case; digits unchanged */
    uint64_t ge0 = x + HEX_ONES * (0x80 - '0'), gt9 = x + HEX_ONES * (0x7F - '9');
    uint64_t gea = l + HEX_ONES * (0x80 - 'a'), gtf = l + HEX_ONES * (0x7F - 'f');
    uint64_t ok = ((ge0 & ~gt9) | (gea & ~gtf)) & ~x & ~l & HEX_HIGH;
    if (ok != HEX_HIGH)
        return false;
    /* A digit's value is its low nibble; a letter (bit 6 set) adds 9. */
    uint64_t v = (l & 0x0F0F0F0F0F0F0F0FULL) + 9 * ((l >> 6) & HEX_ONES);
    uint64_t p = ((v & 0x00FF00FF00FF00FFULL) << 4) | ((v >> 8) & 0x00FF00FF00FF00FFULL);
    p = (p | p >> 8) & 0x0000FFFF0000FFFFULL;
    p = (p | p >> 16) & 0xFFFFFFFFULL;
    uint32_t w = (uint32_t)p;
    memcpy(out, &w, 4);
    return true;
}
#endif

long hex_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    if (len % 2 != 0 || len / 2 > cap)
        return -1;
    size_t i = 0;
#ifdef HEX_SWAR
    for (; i + 8 <= len; i += 8)
        if (!hex_decode8(in + i, out + i / 2))
            return -1;
#endif
    unsigned bad = 0;
    for (; i < len; i += 2) {
        unsigned hi = hex_table[(unsigned char)in[i]] - 1u;
        unsigned lo = hex_table[(unsigned char)in[i + 1]] - 1u;
        bad |= hi | lo; /* a non-digit wraps around to a huge value */
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return bad > 15 ? -1 : (long)(len / 2);
}

bool hex_is_valid(const char *in, size_t len)
{
    if (len == 0 || len % 2 != 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (hex_digit_value(in[i]) < 0)
            return false;
    }
    return true;
}
