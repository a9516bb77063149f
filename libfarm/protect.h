/* protect: ASP.NET's data protection with a <machineKey>, byte for byte, in both pipelines.
 *
 * A protector binds one machineKey to one purpose and holds keyed MAC and cipher contexts,
 * so protecting and unprotecting allocate nothing. Build one per purpose at start-up and
 * reuse it; it is not thread-safe (one per thread).
 *
 * Legacy pipeline (compatibilityMode Framework20SP1/SP2), MachineKeySection:
 *   forms tickets   C = CBC(dkey, IV=0, R || T || MAC(T)); out = C || MAC(C); |R| = key size
 *   ViewState, MAC  out = P || MAC(P || modifier)
 *   ViewState, enc  C = CBC(dkey, IV=0, R || P || modifier); out = C || MAC(C)
 *   ViewState, MAC, validation AES or 3DES (GetEncodedData): the MAC'd form is sealed with
 *                   the "validation cipher" (AES, or 3DES/DES by key length, keyed with dkey):
 *                   C = CBC(IV=0, R || P || MAC(P || modifier) || modifier); out = C || MAC(C)
 * Framework45 pipeline, AspNetCryptoServiceProvider:
 *   keys derived per purpose with SP 800-108 (label = primary purpose, context = specific
 *   purposes); out = IV || CBC(enc key, IV, P) || HMAC(val key, IV || C); random IV.
 *
 * Unprotect checks the outer MAC first, in constant time, and touches the cipher only after
 * it passed. */
#ifndef FARM_PROTECT_H
#define FARM_PROTECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cbc.h"
#include "mac.h"
#include "machinekey.h"

#define PROTECT_MODIFIER_MAX 256
#define PROTECT_PURPOSES_MAX 8

/* How the legacy pipeline treats a purpose. */
enum protect_legacy {
    PROTECT_LEGACY_FORMS,         /* inner MAC, random prefix, encryption, outer MAC */
    PROTECT_LEGACY_VIEWSTATE,     /* payload || MAC(payload || modifier), not encrypted */
    PROTECT_LEGACY_VIEWSTATE_ENC, /* encrypted with the modifier inside, outer MAC */
    PROTECT_LEGACY_NONE,          /* no legacy form: the Framework45 pipeline in every mode
                                     (MachineKey.Protect) */
};

struct protect_purpose {
    const char *primary;                        /* Framework45 KDF label */
    const char *specific[PROTECT_PURPOSES_MAX]; /* Framework45 KDF context, in order */
    size_t n_specific;
    enum protect_legacy legacy;
    uint8_t modifier[PROTECT_MODIFIER_MAX]; /* legacy ViewState modifier */
    size_t modifier_len;
};

/* Forms-auth tickets: "FormsAuthentication.Ticket", legacy forms layout. */
extern const struct protect_purpose PROTECT_FORMS_TICKET;

/* The verdict of unprotect. */
enum protect_status {
    PROTECT_OK,
    PROTECT_MAC_MISMATCH, /* the outer MAC failed: another validation key or algorithm */
    PROTECT_BAD_DATA,     /* MAC fine, but padding, inner MAC or modifier wrong:
                             same validation key, another decryption key or cipher */
    PROTECT_MALFORMED,    /* a length no protector could have produced */
};

struct protector {
    enum protect_legacy scheme; /* PROTECT_LEGACY_NONE when the Framework45 pipeline runs */
    bool fx45;
    bool val_cipher;   /* legacy ViewState MAC sealed with validation AES/3DES's cipher */
    size_t prefix_len; /* legacy: random prefix = cipher key size */
    size_t block;
    size_t mac_size;
    bool has_cipher;
    struct mac mac;
    struct cbc cbc;
    uint8_t modifier[PROTECT_MODIFIER_MAX];
    size_t modifier_len;
};

/* Key a protector. mk is only read during the call. Returns 0, or -1 with err filled. */
int protector_init(struct protector *p, const struct machinekey *mk,
                   const struct protect_purpose *purpose, struct errbuf *err);
void protector_cleanup(struct protector *p);

/* Largest output for len input bytes. */
size_t protector_overhead(const struct protector *p);

/* Protect in → out. Returns the output length, or -1 (cap too small, crypto failure).
 * Random bytes (IV, prefix) come from OpenSSL's CSPRNG. */
long protector_protect(struct protector *p, const uint8_t *in, size_t len, uint8_t *out,
                       size_t cap);

/* Unprotect in → out (cap ≥ len + 16 is always enough). On PROTECT_OK *out_len is set. */
enum protect_status protector_unprotect(struct protector *p, const uint8_t *in, size_t len,
                                        uint8_t *out, size_t cap, size_t *out_len);

const char *protect_status_name(enum protect_status s);

/* The derived keys of a Framework45 purpose (tests and diagnostics; keep them secret).
 * enc/val must hold MK_KEY_MAX bytes. Returns 0 or -1. */
int protect_derive_keys(const struct machinekey *mk, const struct protect_purpose *purpose,
                        uint8_t *enc, size_t *enc_len, uint8_t *val, size_t *val_len);

#endif
