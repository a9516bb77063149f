/* keycompare: would a forms ticket issued under machineKey A validate under B, and if not,
 * why? The verdict is measured — a ticket is issued under A and checked under B — and the
 * reasons come from comparing the settings, so they never disagree with what B would do.
 * The caller names the two sides (node names, file names), and the reasons use those names
 * where they point at one side ("web3 uses AutoGenerate: ..."). */
#ifndef FARM_KEYCOMPARE_H
#define FARM_KEYCOMPARE_H

#include <stdbool.h>

#include "formsauth.h"
#include "machinekey.h"

enum kc_reason {
    KC_AUTOGEN = 1 << 0,        /* one side or both use AutoGenerate */
    KC_MODE = 1 << 1,           /* legacy vs Framework45 pipeline */
    KC_VALIDATION_ALG = 1 << 2, /* validation algorithm differs */
    KC_VALIDATION_KEY = 1 << 3, /* validationKey differs */
    KC_CIPHER = 1 << 4,         /* decryption algorithm (resolved) differs */
    KC_DECRYPTION_KEY = 1 << 5, /* decryptionKey differs (the bytes the cipher uses) */
    KC_ISOLATE = 1 << 6,        /* IsolateApps / IsolateByAppId makes the keys differ */
};

struct kc_result {
    bool compatible;
    enum fa_status verdict; /* what B reports for A's ticket (valid when compatible) */
    unsigned reasons;       /* enum kc_reason bits */
    char why[1024];         /* "validationKey differs; decryption AES vs 3DES" — no keys */
};

/* a_name and b_name (borrowed) name the issuer and the checker in r->why; NULL reads "the
 * issuer", "the checker". Returns 0, or -1 if either key cannot protect a forms ticket. */
int keycompare(const struct machinekey *a, const char *a_name, const struct machinekey *b,
               const char *b_name, struct kc_result *r);

#endif
