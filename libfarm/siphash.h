/* siphash: SipHash-2-4 (Aumasson and Bernstein), a keyed 64-bit hash for tables and ids that
 * must not be predictable or reversible from outside: lb's session ids, affinity keys. Not a
 * MAC for long-term secrets; it is what hash tables facing hostile input use. */
#ifndef FARM_SIPHASH_H
#define FARM_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

/* SipHash-2-4 of n bytes at p under a 16-byte key. The result is the reference
 * implementation's 8 output bytes read as a little-endian integer. */
uint64_t siphash24(const uint8_t key[SIPHASH_KEY_LEN], const void *p, size_t n);

#endif
