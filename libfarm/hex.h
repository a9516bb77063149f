/* hex: the ASCII hex text of keys and cookies. */
#ifndef FARM_HEX_H
#define FARM_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Upper-case hex of len bytes into out (2*len chars + NUL); out must hold 2*len+1. */
void hex_encode(const uint8_t *in, size_t len, char *out);

/* Strict decode: even length, only 0-9 a-f A-F. Returns the byte count, or -1.
 * Writes at most cap bytes; a text that would need more is -1. */
long hex_decode(const char *in, size_t len, uint8_t *out, size_t cap);

/* True when every char is a hex digit and the length is even and non-zero. */
bool hex_is_valid(const char *in, size_t len);

#endif
