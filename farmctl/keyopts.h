/* keyopts: the KEYS options every key-using command takes.
 *
 *   --machine-key FILE      any XML file holding a <machineKey>
 *   --validation-key KEY --decryption-key KEY [--validation ALG] [--decryption ALG]
 *   [--compat MODE]         the keys themselves; each KEY is @FILE (read from FILE), -
 *                           (one line of standard input) or the text itself (HEX), which
 *                           is erased from argv once copied, with a warning at resolve
 *   [--app-path PATH]       the IIS application path, for ",IsolateApps" keys
 *
 * When no compatibilityMode is given (no --compat, or a file that does not write one and
 * has no targetFramework), both pipelines are candidates: decode tries each. */
#ifndef FARMCTL_KEYOPTS_H
#define FARMCTL_KEYOPTS_H

#include <getopt.h>
#include <stdbool.h>

#include "machinekey.h"

/* The longest key text taken: hex of MK_KEY_MAX bytes and room for ",IsolateApps" and the
 * like. Longer input is refused, not cut. */
#define KEYOPTS_KEY_TEXT_MAX (2 * MK_KEY_MAX + 64)
/* An @FILE past this is not a key file (KEYOPTS_HELP says 4096). */
#define KEYOPTS_FILE_MAX 4096

/* Where a key's text comes from. */
enum keyopts_from {
    KEYOPTS_FROM_NONE,  /* not given */
    KEYOPTS_FROM_ARGV,  /* HEX: copied into text, erased from argv */
    KEYOPTS_FROM_FILE,  /* @FILE: read at resolve */
    KEYOPTS_FROM_STDIN, /* -: one line of standard input, read at resolve */
};

struct keyopts_key {
    enum keyopts_from from;
    const char *path;                    /* @FILE: borrowed from argv */
    char text[KEYOPTS_KEY_TEXT_MAX + 1]; /* the key once taken or read; wiped by cleanup */
};

struct keyopts {
    const char *machine_key_file;
    struct keyopts_key vkey; /* --validation-key */
    struct keyopts_key dkey; /* --decryption-key */
    const char *validation;
    const char *decryption;
    const char *compat;
    const char *app_path;
};

/* Option ids for getopt_long; commands append KEYOPTS_LONG to their own tables. */
enum {
    KEYOPT_MACHINE_KEY = 1000,
    KEYOPT_VALIDATION_KEY,
    KEYOPT_DECRYPTION_KEY,
    KEYOPT_VALIDATION,
    KEYOPT_DECRYPTION,
    KEYOPT_COMPAT,
    KEYOPT_APP_PATH,
};

#define KEYOPTS_LONG                                                                               \
    {"machine-key", required_argument, NULL, KEYOPT_MACHINE_KEY},                                  \
        {"validation-key", required_argument, NULL, KEYOPT_VALIDATION_KEY},                        \
        {"decryption-key", required_argument, NULL, KEYOPT_DECRYPTION_KEY},                        \
        {"validation", required_argument, NULL, KEYOPT_VALIDATION},                                \
        {"decryption", required_argument, NULL, KEYOPT_DECRYPTION},                                \
        {"compat", required_argument, NULL, KEYOPT_COMPAT},                                        \
    {                                                                                              \
        "app-path", required_argument, NULL, KEYOPT_APP_PATH                                       \
    }

#define KEYOPTS_HELP                                                                               \
    "KEYS:\n"                                                                                      \
    "  --machine-key FILE       an XML file with a <machineKey> (web.config, machine.config,\n"    \
    "                           or a bare element)\n"                                              \
    "  --validation-key KEY --decryption-key KEY\n"                                                \
    "                           the keys themselves; each KEY is one of\n"                         \
    "                             @FILE  read from FILE, which holds the key alone\n"              \
    "                                    (whitespace around it trimmed; at most 4096 bytes)\n"     \
    "                             -      one line of standard input (both keys -: the\n"           \
    "                                    validation key's line first)\n"                           \
    "                             HEX    the key itself, as before: other local users see\n"       \
    "                                    it in ps until farmctl has erased it from its\n"          \
    "                                    command line, and the shell history keeps it\n"           \
    "                                    (farmctl warns on stderr)\n"                              \
    "                           and optionally:\n"                                                 \
    "  --validation ALG         SHA1, MD5, HMACSHA256 (default), HMACSHA384, HMACSHA512,\n"        \
    "                           AES, 3DES\n"                                                       \
    "  --decryption ALG         Auto (default), AES, 3DES, DES\n"                                  \
    "  --compat MODE            Framework20SP1, Framework20SP2, Framework45\n"                     \
    "  --app-path PATH          IIS metabase path for ',IsolateApps'/',IsolateByAppId' keys\n"     \
    "                           (default /LM/W3SVC/1/ROOT, as sim-node)\n"

/* Take one option if it is a KEYS option. A key given as text (HEX) is copied and arg's
 * bytes are overwritten in place (arg is the optarg inside argv), so that ps and
 * /proc/PID/cmdline stop showing it; @FILE and - are read by keyopts_resolve. Returns 1
 * when opt was a KEYS option, 0 when it was not, -1 (after a message) when its value is
 * refused. */
int keyopts_take(struct keyopts *k, int opt, char *arg);

/* Wipe the key text k holds. Safe to call twice. */
void keyopts_cleanup(struct keyopts *k);

/* Resolved keys. With mode_known false, legacy is the legacy candidate and fx45 (if
 * fx45_ok) the Framework45 one. */
struct keyset {
    struct machinekey legacy;
    struct machinekey fx45;
    bool mode_known; /* only `legacy` is used, whatever its mode */
    bool fx45_ok;    /* the Framework45 candidate is usable */
    bool legacy_ok;  /* the legacy candidate is usable */
};
/* Resolve k into ks: read the keys given as @FILE and - (the validation key's line of
 * standard input first, so that what follows on it, such as a cookie, is left unread), warn
 * once on stderr when a key came from the command line, build the keyset, and wipe k's key
 * text. Returns 0, or -1 after printing an error (never the key). */
int keyopts_resolve(struct keyopts *k, struct keyset *ks);
void keyset_cleanup(struct keyset *ks);

/* Resolve a machine-key file into a keyset (mode known only if the file says it). */
int keyopts_resolve_file(const char *path, const char *app_path, struct keyset *ks);

/* What the sides of keyopts_matrix() are: key files (farmctl key compare) or a farm's nodes
 * (farmctl keys). Only the wording differs. */
enum keyopts_sides {
    KEYOPTS_FILES,
    KEYOPTS_NODES,
};

/* Print the ticket compatibility matrix of ks[0..n) (their legacy candidates) to stdout: a
 * forms ticket is issued under every row's keys and checked under every column's
 * (keycompare), one line per pair that is incompatible or differs, with the reason in the
 * sides' names (names[i], borrowed), one line per side on AutoGenerate, and a last line when
 * every pair is compatible. Colour when color. Returns CLI_OK when every pair is compatible,
 * CLI_FINDINGS when one is not, CLI_USAGE (after a message) when out of memory. */
int keyopts_matrix(const struct keyset *ks, const char *const *names, size_t n,
                   enum keyopts_sides sides, bool color);

#endif
