/* kdf: NIST SP 800-108 counter-mode KDF with HMAC-SHA512, as ASP.NET 4.5 derives its
 * per-purpose keys: K_i = HMAC-SHA512(key, BE32(i) || label || 0x00 || context || BE32(L)).
 * Backed by OpenSSL's KBKDF. */
#ifndef FARM_KDF_H
#define FARM_KDF_H

#include <stddef.h>
#include <stdint.h>

/* Derive out_len bytes (L = 8*out_len bits). Returns 0 or -1. */
int kdf_sp800108(const uint8_t *key, size_t key_len, const uint8_t *label, size_t label_len,
                 const uint8_t *context, size_t context_len, uint8_t *out, size_t out_len);

/* ASP.NET's purpose context: each specific purpose as .NET BinaryWriter.Write(string) does
 * it, a 7-bit-encoded UTF-8 byte length then the bytes. Returns the length or -1 if cap is
 * too small. */
long kdf_purpose_context(const char *const *specific, size_t n, uint8_t *out, size_t cap);

#endif
