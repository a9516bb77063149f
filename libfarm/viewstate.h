/* viewstate: __VIEWSTATE protection as ASP.NET's ObjectStateFormatter does it, on top of
 * protect.h. The payload is opaque bytes here (sim-node puts its own state in it).
 *
 * Legacy modes: the modifier is the page's 4-byte __VIEWSTATEGENERATOR (little-endian) plus
 * UTF-16LE(ViewStateUserKey); ViewState is signed, or encrypted when the page asks for it or
 * the validation algorithm is AES or 3DES. Framework45: purpose
 * WebForms.HiddenFieldPageStatePersister.ClientState with the page's template directory and
 * type name (upper-cased) and the user key as specific purposes. The text is base64. */
#ifndef FARM_VIEWSTATE_H
#define FARM_VIEWSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machinekey.h"
#include "protect.h"

/* ASP.NET's own words when the MAC fails (ViewState_AuthenticationFailed). */
#define VIEWSTATE_MAC_FAILED_TEXT                                                                  \
    "Validation of viewstate MAC failed. If this application is hosted by a Web Farm or "          \
    "cluster, ensure that <machineKey> configuration specifies the same validationKey and "        \
    "validation algorithm. AutoGenerate cannot be used in a cluster."

struct viewstate_page {
    const char *template_dir; /* TemplateSourceDirectory, e.g. "/" */
    const char *type_name;    /* page class, e.g. "form_aspx" */
    uint32_t generator;       /* __VIEWSTATEGENERATOR value */
    bool encrypt;             /* ViewStateEncryptionMode="Always" (legacy modes) */
    const char *user_key;     /* ViewStateUserKey, or NULL */
};

struct viewstate {
    struct protector prot;
};

enum vs_status {
    VS_VALID,
    VS_MAC_FAILED, /* ASP.NET: "Validation of viewstate MAC failed..." */
    VS_INVALID,    /* MAC fine but the content is wrong (decryption key or modifier) */
    VS_MALFORMED,  /* not base64, or too short */
};

const char *vs_status_name(enum vs_status s);

int viewstate_init(struct viewstate *vs, const struct machinekey *mk,
                   const struct viewstate_page *page, struct errbuf *err);
void viewstate_cleanup(struct viewstate *vs);

/* Protect and base64-encode into out (NUL-terminated). Returns the text length or -1. */
long viewstate_protect(struct viewstate *vs, const uint8_t *payload, size_t len, char *out,
                       size_t cap);

/* Decode and check a __VIEWSTATE value; on VS_VALID the payload is in out[0..*out_len).
 * The payload must begin as ObjectStateFormatter's output does (0xFF 0x01), else
 * VS_INVALID, as ASP.NET's "The state information is invalid for this page". */
enum vs_status viewstate_unprotect(struct viewstate *vs, const char *text, size_t len, uint8_t *out,
                                   size_t cap, size_t *out_len);

/* "EDD8C9AE" style text of a generator value, as pages write it (8 upper-case hex). */
void viewstate_generator_text(uint32_t generator, char out[9]);

#endif
