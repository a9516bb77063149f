#include "keyopts.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "hex.h"
#include "keycompare.h"
#include "mkconfig.h"

static const char key_warning[] =
    "farmctl: warning: a key on the command line is visible to other users in ps and stays in "
    "shell history; use --machine-key FILE or --validation-key @FILE\n";

static void key_wipe(struct keyopts_key *key)
{
    OPENSSL_cleanse(key->text, sizeof key->text);
}

static int key_take(struct keyopts_key *key, const char *opt, char *arg)
{
    key_wipe(key);
    key->from = KEYOPTS_FROM_NONE;
    key->path = NULL;
    if (strcmp(arg, "-") == 0) {
        key->from = KEYOPTS_FROM_STDIN;
        return 1;
    }
    if (arg[0] == '@') {
        if (arg[1] == '\0') {
            cli_error("%s @: give a file name after the @ (@FILE)", opt);
            return -1;
        }
        key->from = KEYOPTS_FROM_FILE;
        key->path = arg + 1;
        return 1;
    }
    size_t len = strlen(arg);
    bool fits = len <= KEYOPTS_KEY_TEXT_MAX;
    if (fits)
        memcpy(key->text, arg, len + 1);
    /* Linux serves /proc/PID/cmdline, which ps shows, from this memory: erase the key there
     * now that it is copied. The window in which another user can read it shrinks to the
     * time from exec to here; the shell history keeps it still (keyopts_resolve warns). */
    memset(arg, 0, len);
    if (!fits) {
        cli_error("%s: too long for a key (%zu characters, at most %d)", opt, len,
                  KEYOPTS_KEY_TEXT_MAX);
        return -1;
    }
    key->from = KEYOPTS_FROM_ARGV;
    return 1;
}

int keyopts_take(struct keyopts *k, int opt, char *arg)
{
    switch (opt) {
    case KEYOPT_MACHINE_KEY:
        k->machine_key_file = arg;
        return 1;
    case KEYOPT_VALIDATION_KEY:
        return key_take(&k->vkey, "--validation-key", arg);
    case KEYOPT_DECRYPTION_KEY:
        return key_take(&k->dkey, "--decryption-key", arg);
    case KEYOPT_VALIDATION:
        k->validation = arg;
        return 1;
    case KEYOPT_DECRYPTION:
        k->decryption = arg;
        return 1;
    case KEYOPT_COMPAT:
        k->compat = arg;
        return 1;
    case KEYOPT_APP_PATH:
        k->app_path = arg;
        return 1;
    default:
        return 0;
    }
}

void keyopts_cleanup(struct keyopts *k)
{
    key_wipe(&k->vkey);
    key_wipe(&k->dkey);
}

/* Whitespace around s[0..len) removed in place, NUL-terminated; returns the new length. */
static size_t trim(char *s, size_t len)
{
    size_t a = 0;
    while (a < len && isspace((unsigned char)s[a]))
        a++;
    while (len > a && isspace((unsigned char)s[len - 1]))
        len--;
    memmove(s, s + a, len - a);
    s[len - a] = '\0';
    return len - a;
}

/* @FILE: the whole file is the key, whitespace around it trimmed. */
static int key_read_file(struct keyopts_key *key, const char *opt)
{
    FILE *f = fopen(key->path, "r");
    if (f == NULL) {
        cli_error("%s @%s: cannot open: %s", opt, key->path, strerror(errno));
        return -1;
    }
    char buf[KEYOPTS_FILE_MAX + 1];
    size_t n = fread(buf, 1, sizeof buf, f);
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    int rc = -1;
    if (read_errno != 0) {
        cli_error("%s @%s: cannot read: %s", opt, key->path, strerror(read_errno));
    } else if (n > KEYOPTS_FILE_MAX) {
        cli_error("%s @%s: too long for a key file (more than %d bytes)", opt, key->path,
                  KEYOPTS_FILE_MAX);
    } else {
        n = trim(buf, n);
        if (n == 0)
            cli_error("%s @%s: empty: no key in it", opt, key->path);
        else if (n > KEYOPTS_KEY_TEXT_MAX)
            cli_error("%s @%s: too long for a key (%zu characters, at most %d)", opt, key->path, n,
                      KEYOPTS_KEY_TEXT_MAX);
        else if (memchr(buf, '\0', n) != NULL)
            cli_error("%s @%s: holds a NUL byte: not a key", opt, key->path);
        else
            rc = 0;
    }
    if (rc == 0)
        memcpy(key->text, buf, n + 1);
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

/* -: the next non-blank line of standard input, trimmed. Reads no further than its end, so
 * the rest of standard input (the other key, a cookie) stays for the next reader. */
static int key_read_stdin(struct keyopts_key *key, const char *opt)
{
    int c;
    while ((c = getc(stdin)) != EOF && isspace(c))
        continue;
    size_t n = 0;
    bool too_long = false, nul = false;
    for (; c != EOF && c != '\n'; c = getc(stdin)) {
        if (n == KEYOPTS_KEY_TEXT_MAX) {
            too_long = true;
            break;
        }
        nul = nul || c == '\0';
        key->text[n++] = (char)c;
    }
    n = trim(key->text, n);
    int rc = -1;
    if (ferror(stdin))
        cli_error("%s -: cannot read standard input: %s", opt, strerror(errno));
    else if (too_long)
        cli_error("%s -: too long for a key (a line of more than %d characters)", opt,
                  KEYOPTS_KEY_TEXT_MAX);
    else if (n == 0)
        cli_error("%s -: no key: standard input ended before its line", opt);
    else if (nul)
        cli_error("%s -: the line holds a NUL byte: not a key", opt);
    else
        rc = 0;
    if (rc != 0)
        key_wipe(key);
    return rc;
}

static int key_read(struct keyopts_key *key, const char *opt)
{
    switch (key->from) {
    case KEYOPTS_FROM_FILE:
        return key_read_file(key, opt);
    case KEYOPTS_FROM_STDIN:
        return key_read_stdin(key, opt);
    default:
        return 0;
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

static int resolve(struct keyopts *k, struct keyset *ks)
{
    bool flags = k->vkey.from != KEYOPTS_FROM_NONE || k->dkey.from != KEYOPTS_FROM_NONE;
    if (k->vkey.from == KEYOPTS_FROM_ARGV || k->dkey.from == KEYOPTS_FROM_ARGV)
        fputs(key_warning, stderr);
    if (k->machine_key_file && (flags || k->validation || k->decryption || k->compat)) {
        cli_error("give either --machine-key FILE or the keys as options, not both");
        return -1;
    }
    if (k->machine_key_file)
        return keyopts_resolve_file(k->machine_key_file, k->app_path, ks);
    if (k->vkey.from == KEYOPTS_FROM_NONE || k->dkey.from == KEYOPTS_FROM_NONE) {
        cli_error("no keys: give --machine-key FILE, or --validation-key KEY and "
                  "--decryption-key KEY, each KEY @FILE, - or HEX (see --help)");
        return -1;
    }
    /* The validation key first: with both on standard input, its line comes first. */
    if (key_read(&k->vkey, "--validation-key") != 0 || key_read(&k->dkey, "--decryption-key") != 0)
        return -1;
    struct mk_params p = {
        .validation_key = k->vkey.text,
        .decryption_key = k->dkey.text,
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

int keyopts_resolve(struct keyopts *k, struct keyset *ks)
{
    memset(ks, 0, sizeof *ks);
    int rc = resolve(k, ks);
    keyopts_cleanup(k);
    return rc;
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
