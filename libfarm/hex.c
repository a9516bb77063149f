#include "hex.h"

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

long hex_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    if (len % 2 != 0 || len / 2 > cap)
        return -1;
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_digit_value(in[i]);
        int lo = hex_digit_value(in[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(len / 2);
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
