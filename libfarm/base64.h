/* base64: standard base64 (ViewState) and ASP.NET's UrlToken form (cookieless tickets). */
#ifndef FARM_BASE64_H
#define FARM_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Length of the encoded text without NUL. */
size_t base64_encoded_len(size_t len);

/* Standard alphabet with '=' padding; out must hold base64_encoded_len(len)+1. */
void base64_encode(const uint8_t *in, size_t len, char *out);

/* Standard alphabet; padding required (as .NET's Convert.FromBase64String, whitespace is
 * not accepted here). Returns bytes written or -1 (bad char, bad length, > cap). */
long base64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

/* HttpServerUtility.UrlTokenEncode: base64url without '=' and a final digit '0'..'2'
 * telling how many '=' were removed. out must hold base64_encoded_len(len)+2. Returns
 * the text length. */
size_t base64_urltoken_encode(const uint8_t *in, size_t len, char *out);

/* HttpServerUtility.UrlTokenDecode. Returns bytes written or -1. */
long base64_urltoken_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
