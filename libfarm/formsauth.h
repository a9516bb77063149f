/* formsauth: forms-authentication cookies as ASP.NET issues and checks them — a ticket,
 * protected with the machineKey for purpose FormsAuthentication.Ticket, as upper-case hex.
 *
 * Checking follows ASP.NET's order and reports why a cookie was refused:
 *   text → bytes (hex, else UrlToken) → outer MAC → decrypt → inner MAC → parse → expiry.
 * A struct formsauth allocates nothing per call and is not thread-safe (one per thread). */
#ifndef FARM_FORMSAUTH_H
#define FARM_FORMSAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "machinekey.h"
#include "protect.h"
#include "ticket.h"

/* ASP.NET refuses longer cookie values. */
#define FORMSAUTH_COOKIE_MAX 4096

enum fa_status {
    FA_VALID,
    FA_EXPIRED,      /* authentic, but ExpirationUtc < now */
    FA_MAC_MISMATCH, /* outer MAC failed: issued under another validation key, algorithm or
                        compatibilityMode — or forged */
    FA_BAD_TICKET,   /* MAC fine, but decryption, inner MAC or ticket parse failed: same
                        validation key, other decryption key or cipher */
    FA_MALFORMED,    /* not hex nor UrlToken, shorter than any protected blob, or too long */
    FA_ABSENT,       /* no cookie at all (for callers; never returned by decode) */
    FA_STATUS_COUNT,
};

const char *fa_status_name(enum fa_status s); /* "valid", "mac-mismatch", ... */

struct formsauth {
    struct protector prot;
    enum mk_compat compat;
};

/* Returns 0, or -1 with err filled. mk is only read during the call. */
int formsauth_init(struct formsauth *fa, const struct machinekey *mk, struct errbuf *err);
void formsauth_cleanup(struct formsauth *fa);

/* Serialize t (in t->format; the legacy header is chosen as ASP.NET does: random in
 * Framework20SP1, zero otherwise), protect, and write upper-case hex plus NUL into out
 * (cap ≥ FORMSAUTH_COOKIE_MAX + 1 always suffices). Returns the text length, or -1 when
 * the cookie would exceed 4096 characters or t cannot be serialized. */
long formsauth_issue(struct formsauth *fa, const struct ticket *t, char *out, size_t cap);

/* Check a cookie value. out is filled when the MAC passed and the ticket parsed (VALID and
 * EXPIRED). now is in ticks (ticks_now() or a pinned clock). */
enum fa_status formsauth_decode(struct formsauth *fa, const char *cookie, size_t len, int64_t now,
                                struct ticket *out);

#endif
