#include "disclosed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "hex.h"

/* SHA-256 of "", which Microsoft's list uses for an empty column. */
static const uint8_t empty_sha256[32] = {
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};

static int cmp_hash(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

void disclosed_hash_text(const char *text, size_t len, uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
        for (size_t i = 0; i < len; i++) {
            char ch = text[i];
            if (ch >= 'a' && ch <= 'z')
                ch = (char)(ch - 'a' + 'A');
            EVP_DigestUpdate(ctx, &ch, 1);
        }
        EVP_DigestFinal_ex(ctx, out, &n);
    }
    EVP_MD_CTX_free(ctx);
}

static int add_hash(struct disclosed_list *l, size_t *cap, const uint8_t h[32])
{
    if (l->count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 1024;
        void *p = realloc(l->hashes, ncap * 32);
        if (p == NULL)
            return -1;
        l->hashes = p;
        *cap = ncap;
    }
    memcpy(l->hashes[l->count++], h, 32);
    return 0;
}

int disclosed_list_load(struct disclosed_list *l, const char *path, struct errbuf *err)
{
    memset(l, 0, sizeof *l);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        errbuf_set(err, "%s: cannot open", path);
        return -1;
    }
    char line[512];
    size_t cap = 0;
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            errbuf_set(err, "%s:%d: line too long", path, lineno);
            goto fail;
        }
        char *save = NULL;
        for (char *tok = strtok_r(line, ", \t\r\n", &save); tok;
             tok = strtok_r(NULL, ", \t\r\n", &save)) {
            size_t n = strlen(tok);
            uint8_t h[32];
            if (n != 64 || hex_decode(tok, n, h, sizeof h) != 32) {
                if (lineno == 1)
                    break; /* the header line */
                errbuf_set(err,
                           "%s:%d: expected 'validationKeyHash, decryptionKeyHash' as 64 hex "
                           "chars each",
                           path, lineno);
                goto fail;
            }
            if (memcmp(h, empty_sha256, 32) == 0)
                continue;
            if (add_hash(l, &cap, h) != 0) {
                errbuf_set(err, "%s: out of memory", path);
                goto fail;
            }
        }
    }
    fclose(f);
    if (l->count > 0)
        qsort(l->hashes, l->count, 32, cmp_hash);
    return 0;
fail:
    fclose(f);
    disclosed_list_free(l);
    return -1;
}

void disclosed_list_free(struct disclosed_list *l)
{
    free(l->hashes);
    l->hashes = NULL;
    l->count = 0;
}

const struct disclosed_entry *disclosed_builtin_find(const uint8_t hash[32])
{
    char hexh[65];
    for (size_t i = 0; i < 32; i++)
        snprintf(hexh + 2 * i, 3, "%02x", hash[i]);
    for (size_t i = 0; i < disclosed_builtin_count; i++)
        if (strcmp(disclosed_builtin[i].sha256_hex, hexh) == 0)
            return &disclosed_builtin[i];
    return NULL;
}

bool disclosed_key_is_known(const struct mk_key *k, const struct disclosed_list *l,
                            const char **where)
{
    if (!k->has_written_hash)
        return false;
    const struct disclosed_entry *e = disclosed_builtin_find(k->written_sha256);
    if (e != NULL) {
        if (where)
            *where = e->where;
        return true;
    }
    if (l != NULL && l->count > 0 &&
        bsearch(k->written_sha256, l->hashes, l->count, 32, cmp_hash) != NULL) {
        if (where)
            *where = "the disclosed-key list given";
        return true;
    }
    return false;
}
