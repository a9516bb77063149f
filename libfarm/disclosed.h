/* disclosed: is a key publicly known?
 *
 * Microsoft published (Feb 2025) SHA-256 hashes of over 3,000 machine keys found in public
 * documentation and code: "validationKey, decryptionKey" per line, each the lower-case hex
 * SHA-256 of the upper-cased key text. disclosed_list_load reads that format. farmlab also
 * carries a small built-in list in the same hash form: the key of the 2006 web-farm blog
 * post its docs tell the story of, the keys of the public test vectors it is tested with,
 * and every key in its own docs and examples — so a demo key copied into production is
 * caught. Only hashes are kept; keys are compared by hash. */
#ifndef FARM_DISCLOSED_H
#define FARM_DISCLOSED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"
#include "machinekey.h"

struct disclosed_list {
    uint8_t (*hashes)[32]; /* sorted, owned */
    size_t count;
};

/* Read a list in Microsoft's format (a header line is allowed; both columns are taken;
 * the hash of the empty string is ignored). Returns 0 or -1 with "file:line: message". */
int disclosed_list_load(struct disclosed_list *l, const char *path, struct errbuf *err);
void disclosed_list_free(struct disclosed_list *l);

/* The SHA-256 of a key text as Microsoft hashes it (upper-cased). */
void disclosed_hash_text(const char *text, size_t len, uint8_t out[32]);

/* Is the key (as written) in the built-in list or in l (may be NULL)? *where (if not NULL)
 * says which: the built-in entry's description, or "the list given". AutoGenerate keys are
 * never disclosed. */
bool disclosed_key_is_known(const struct mk_key *k, const struct disclosed_list *l,
                            const char **where);

/* Built-in entries (disclosed_builtin.c). */
struct disclosed_entry {
    const char *sha256_hex;
    const char *where;
};
extern const struct disclosed_entry disclosed_builtin[];
extern const size_t disclosed_builtin_count;

/* Is this hash in the built-in list? Returns the entry or NULL. */
const struct disclosed_entry *disclosed_builtin_find(const uint8_t hash[32]);

#endif
