/* keyopts: the KEYS options every key-using command takes.
 *
 *   --machine-key FILE      any XML file holding a <machineKey>
 *   --validation-key HEX --decryption-key HEX [--validation ALG] [--decryption ALG]
 *   [--compat MODE]         keys given on the command line
 *   [--app-path PATH]       the IIS application path, for ",IsolateApps" keys
 *
 * When no compatibilityMode is given (no --compat, or a file that does not write one and
 * has no targetFramework), both pipelines are candidates: decode tries each. */
#ifndef FARMCTL_KEYOPTS_H
#define FARMCTL_KEYOPTS_H

#include <getopt.h>
#include <stdbool.h>

#include "machinekey.h"

struct keyopts {
    const char *machine_key_file;
    const char *validation_key;
    const char *decryption_key;
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
    "  --validation-key HEX --decryption-key HEX\n"                                                \
    "                           the keys themselves, with optionally:\n"                           \
    "  --validation ALG         SHA1, MD5, HMACSHA256 (default), HMACSHA384, HMACSHA512,\n"        \
    "                           AES, 3DES\n"                                                       \
    "  --decryption ALG         Auto (default), AES, 3DES, DES\n"                                  \
    "  --compat MODE            Framework20SP1, Framework20SP2, Framework45\n"                     \
    "  --app-path PATH          IIS metabase path for ',IsolateApps'/',IsolateByAppId' keys\n"     \
    "                           (default /LM/W3SVC/1/ROOT, as sim-node)\n"

/* Take one option if it is a KEYS option. Returns true if it was. */
bool keyopts_take(struct keyopts *k, int opt, const char *arg);

/* Resolve the options. With mode_known false, mk is the legacy candidate and fx45 (if
 * fx45_ok) the Framework45 one. Returns 0, or -1 after printing an error. */
struct keyset {
    struct machinekey legacy;
    struct machinekey fx45;
    bool mode_known; /* only `legacy` is used, whatever its mode */
    bool fx45_ok;    /* the Framework45 candidate is usable */
    bool legacy_ok;  /* the legacy candidate is usable */
};
int keyopts_resolve(const struct keyopts *k, struct keyset *ks);
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
