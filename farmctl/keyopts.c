#include "keyopts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "hex.h"
#include "keycompare.h"
#include "mkconfig.h"

bool keyopts_take(struct keyopts *k, int opt, const char *arg)
{
    switch (opt) {
    case KEYOPT_MACHINE_KEY:
        k->machine_key_file = arg;
        return true;
    case KEYOPT_VALIDATION_KEY:
        k->validation_key = arg;
        return true;
    case KEYOPT_DECRYPTION_KEY:
        k->decryption_key = arg;
        return true;
    case KEYOPT_VALIDATION:
        k->validation = arg;
        return true;
    case KEYOPT_DECRYPTION:
        k->decryption = arg;
        return true;
    case KEYOPT_COMPAT:
        k->compat = arg;
        return true;
    case KEYOPT_APP_PATH:
        k->app_path = arg;
        return true;
    default:
        return false;
    }
}

void keyset_cleanup(struct keyset *ks)
{
    machinekey_cleanup(&ks->legacy);
    machinekey_cleanup(&ks->fx45);
}

static int init_from(struct machinekey *mk, struct mk_params *p, const char *what, bool quiet)
{
    struct errbuf err = {{0}};
    enum mk_attr attr = MK_ATTR_NONE;
    if (machinekey_init(mk, p, &err, &attr) == 0)
        return 0;
    if (!quiet)
        cli_error("%s (%s): %s", what, mk_attr_name(attr), err.msg);
    return -1;
}

/* The Framework45 twin of a legacy machineKey whose file did not say its mode. */
static void fx45_twin(struct keyset *ks, const char *app_path)
{
    const struct machinekey *l = &ks->legacy;
    if (l->vkey.autogen || l->dkey.autogen || l->vkey.isolate_apps || l->dkey.isolate_apps ||
        l->vkey.isolate_by_app_id || l->dkey.isolate_by_app_id || l->vkey.lenient_hex ||
        l->dkey.lenient_hex)
        return;
    char vhex[2 * MK_KEY_MAX + 1], dhex[2 * MK_KEY_MAX + 1];
    hex_encode(l->vkey.bytes, l->vkey.len, vhex);
    hex_encode(l->dkey.bytes, l->dkey.len, dhex);
    struct mk_params p = {
        .validation_key = vhex,
        .decryption_key = dhex,
        .validation = mk_validation_name(l->validation),
        .decryption = mk_decryption_name(l->decryption),
        .compat = "Framework45",
        .app_path = app_path,
    };
    ks->fx45_ok = init_from(&ks->fx45, &p, "Framework45", true) == 0;
    OPENSSL_cleanse(vhex, sizeof vhex);
    OPENSSL_cleanse(dhex, sizeof dhex);
}

int keyopts_resolve_file(const char *path, const char *app_path, struct keyset *ks)
{
    memset(ks, 0, sizeof *ks);
    struct mkconfig_opts o = {.app_path = app_path};
    struct errbuf err = {{0}};
    if (mkconfig_load(path, &o, &ks->legacy, NULL, &err) != 0) {
        cli_error("%s", err.msg);
        return -1;
    }
    ks->legacy_ok = true;
    ks->mode_known = ks->legacy.compat_explicit || ks->legacy.compat == MK_COMPAT_FX45;
    if (!ks->mode_known)
        fx45_twin(ks, app_path);
    return 0;
}

/* Canonical spelling of an algorithm name given in any case. */
static const char *canon_validation(const char *s)
{
    enum mk_validation v;
    return s && mk_validation_from_name(s, &v) == 0 ? mk_validation_name(v) : s;
}

static const char *canon_decryption(const char *s)
{
    enum mk_decryption d;
    return s && mk_decryption_from_name(s, &d) == 0 ? mk_decryption_name(d) : s;
}

static const char *canon_compat(const char *s)
{
    enum mk_compat c;
    return s && mk_compat_from_name(s, &c) == 0 ? mk_compat_name(c) : s;
}

int keyopts_resolve(const struct keyopts *k, struct keyset *ks)
{
    memset(ks, 0, sizeof *ks);
    bool flags = k->validation_key || k->decryption_key;
    if (k->machine_key_file && (flags || k->validation || k->decryption || k->compat)) {
        cli_error("give either --machine-key FILE or the keys as options, not both");
        return -1;
    }
    if (k->machine_key_file)
        return keyopts_resolve_file(k->machine_key_file, k->app_path, ks);
    if (!k->validation_key || !k->decryption_key) {
        cli_error("no keys: give --machine-key FILE, or --validation-key HEX and "
                  "--decryption-key HEX (see --help)");
        return -1;
    }
    struct mk_params p = {
        .validation_key = k->validation_key,
        .decryption_key = k->decryption_key,
        .validation = canon_validation(k->validation),
        .decryption = canon_decryption(k->decryption),
        .compat = canon_compat(k->compat),
        .app_path = k->app_path,
    };
    if (k->compat) {
        ks->mode_known = true;
        if (init_from(&ks->legacy, &p, "keys", false) != 0)
            return -1;
        ks->legacy_ok = true;
        return 0;
    }
    /* No mode: a legacy candidate (ASP.NET's default, Framework20SP1) and a Framework45
     * one. Report an error only when neither resolves. */
    p.compat = "Framework20SP1";
    ks->legacy_ok = init_from(&ks->legacy, &p, "keys", true) == 0;
    p.compat = "Framework45";
    ks->fx45_ok = init_from(&ks->fx45, &p, "keys", true) == 0;
    if (!ks->legacy_ok && !ks->fx45_ok) {
        p.compat = "Framework20SP1";
        init_from(&ks->legacy, &p, "keys", false);
        return -1;
    }
    return 0;
}

/* ---- the compatibility matrix (farmctl key compare, farmctl keys) --------------------- */

static bool uses_autogen(const struct machinekey *mk)
{
    return mk->vkey.autogen || mk->dkey.autogen;
}

int keyopts_matrix(const struct keyset *ks, const char *const *names, size_t n,
                   enum keyopts_sides sides, bool color)
{
    bool files = sides == KEYOPTS_FILES;
    struct kc_result *res = calloc(n * n + 1, sizeof *res);
    if (res == NULL)
        return cli_error("out of memory");
    static const char corner[] = "issued by \\ checked by";
    int w = 12;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(names[i]) > w)
            w = (int)strlen(names[i]);
    int first = w > (int)strlen(corner) ? w : (int)strlen(corner);
    printf("%s\n\n", files
                         ? "A ticket issued under the row's file, checked under the column's file:"
                         : "A ticket issued by the row's node, checked by the column's node:");
    printf("%-*s", first, corner);
    for (size_t j = 0; j < n; j++)
        printf("  %-*s", w, names[j]);
    printf("\n");
    int rc = CLI_OK;
    for (size_t i = 0; i < n; i++) {
        printf("%-*s", first, names[i]);
        for (size_t j = 0; j < n; j++) {
            struct kc_result *r = &res[i * n + j];
            if (keycompare(&ks[i].legacy, names[i], &ks[j].legacy, names[j], r) != 0) {
                r->compatible = false;
                r->verdict = FA_MALFORMED;
                snprintf(r->why, sizeof r->why, "cannot protect a forms ticket");
            }
            const char *cell = r->compatible ? "ok" : fa_status_name(r->verdict);
            const char *on = color ? (r->compatible ? "\033[32m" : "\033[31m") : "";
            printf("  %s%-*s%s", on, w, cell, color ? "\033[0m" : "");
            if (!r->compatible)
                rc = CLI_FINDINGS;
        }
        printf("\n");
    }
    printf("\n");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            const struct kc_result *r = &res[i * n + j];
            if (i == j && r->compatible)
                continue;
            if (!r->compatible || r->reasons)
                printf("%s -> %s: %s: %s\n", names[i], names[j],
                       r->compatible ? "ok" : fa_status_name(r->verdict), r->why);
        }
    for (size_t i = 0; i < n; i++) {
        if (!uses_autogen(&ks[i].legacy))
            continue;
        if (files)
            printf("%s: AutoGenerate: a server with this file makes random keys per process (new "
                   "ones at every restart), so no other server accepts its tickets and it "
                   "accepts no one else's\n",
                   names[i]);
        else
            printf("%s: AutoGenerate: its keys are random per process (new ones at every "
                   "restart), so no other node accepts its tickets and it accepts no one "
                   "else's\n",
                   names[i]);
    }
    if (rc == CLI_OK)
        printf("every pair is compatible: a ticket from any %s validates on all\n",
               files ? "of these servers" : "node");
    free(res);
    return rc;
}
