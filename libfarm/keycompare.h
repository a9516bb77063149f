/* keycompare: would a forms ticket issued under machineKey A validate under B, and if not,
 * why? The verdict is measured — a ticket is issued under A and checked under B — and the
 * reasons come from comparing the settings, so they never disagree with what B would do. */
#ifndef FARM_KEYCOMPARE_H
#define FARM_KEYCOMPARE_H

#include <stdbool.h>

#include "formsauth.h"
#include "machinekey.h"

enum kc_reason {
    KC_AUTOGEN = 1 << 0,        /* one side uses AutoGenerate */
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
    char why[512];          /* "validationKey differs; decryption AES vs 3DES" — no keys */
};

/* Returns 0, or -1 if either key cannot protect a forms ticket. */
int keycompare(const struct machinekey *a, const struct machinekey *b, struct kc_result *r);

#endif
