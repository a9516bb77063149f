#include "base64.h"

#include <stdbool.h>

static const char base64_std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char base64_url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of c in the standard (url == false) or base64url alphabet, or -1. Each
 * alphabet accepts only its own two extra characters. */
static int base64_value(char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

/* Encode without padding; returns the number of characters written (no NUL). */
static size_t base64_encode_body(const uint8_t *in, size_t len, const char *alphabet, char *out)
{
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18 & 0x3f];
        out[o++] = alphabet[v >> 12 & 0x3f];
        out[o++] = alphabet[v >> 6 & 0x3f];
        out[o++] = alphabet[v & 0x3f];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alphabet[v >> 18 & 0x3f];
        out[o++] = alphabet[v >> 12 & 0x3f];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 0x3f];
        out[o++] = alphabet[v >> 12 & 0x3f];
        out[o++] = alphabet[v >> 6 & 0x3f];
    }
    return o;
}

/* Decode n characters of unpadded base64 text. n % 4 == 1 cannot come from any byte string
 * and is rejected, as are non-zero bits in the last character that no encoder would set
 * (so every accepted text is the one canonical encoding of its bytes). */
static long base64_decode_body(const char *in, size_t n, bool url, uint8_t *out, size_t cap)
{
    size_t rem = n % 4;
    if (rem == 1)
        return -1;
    size_t need = n / 4 * 3 + (rem == 0 ? 0 : rem - 1);
    if (need > cap)
        return -1;

    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = base64_value(in[i], url);
        if (v < 0)
            return -1;
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* Leftover bits (2 or 4) must be zero. */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (long)o;
}

size_t base64_encoded_len(size_t len)
{
    return (len + 2) / 3 * 4;
}

void base64_encode(const uint8_t *in, size_t len, char *out)
{
    size_t o = base64_encode_body(in, len, base64_std_alphabet, out);
    while (o % 4 != 0)
        out[o++] = '=';
    out[o] = '\0';
}

long base64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    if (len % 4 != 0)
        return -1;
    size_t pad = 0;
    while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
        pad++;
    /* A third '=' (or '=' anywhere else) fails as a bad character in the body. The body of
     * a padded quantum is 2 or 3 characters, which base64_decode_body checks via n % 4. */
    return base64_decode_body(in, len - pad, false, out, cap);
}

size_t base64_urltoken_encode(const uint8_t *in, size_t len, char *out)
{
    /* UrlTokenEncode returns "" for an empty array, not "0". */
    if (len == 0) {
        out[0] = '\0';
        return 0;
    }
    size_t o = base64_encode_body(in, len, base64_url_alphabet, out);
    size_t pad = (4 - o % 4) % 4;
    out[o++] = (char)('0' + pad);
    out[o] = '\0';
    return o;
}

long base64_urltoken_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    if (len == 0)
        return 0;
    char last = in[len - 1];
    if (last < '0' || last > '2')
        return -1;
    size_t pad = (size_t)(last - '0');
    size_t body = len - 1;
    /* The digit must be the pad count the encoder would have written: body + pad is a whole
     * number of quanta, and an empty body ("0") is never produced. */
    if (body == 0 || (body + pad) % 4 != 0)
        return -1;
    return base64_decode_body(in, body, true, out, cap);
}
