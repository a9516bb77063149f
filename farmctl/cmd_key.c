/* farmctl key generate|lint|fingerprint|compare: make, check and compare <machineKey>s. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cli.h"
#include "commands.h"
#include "disclosed.h"
#include "hex.h"
#include "keylint.h"
#include "keyopts.h"
#include "mkconfig.h"

static const char key_usage[] =
    "usage: farmctl key COMMAND [options]\n"
    "\n"
    "Make, check and compare <machineKey> settings.\n"
    "\n"
    "commands:\n"
    "  generate [--validation ALG] [--decryption ALG] [--compat MODE]\n"
    "                          print a new <machineKey> element with random keys\n"
    "  lint FILE...            find what breaks a farm or weakens a key\n"
    "  fingerprint FILE...     print each file's key fingerprints (never the keys)\n"
    "  compare FILE...         would a ticket issued under one file validate under another?\n"
    "\n"
    "Run 'farmctl key COMMAND --help' for the options of each.\n";

static const char generate_usage[] =
    "usage: farmctl key generate [--validation ALG] [--decryption ALG] [--compat MODE]\n"
    "\n"
    "Print a ready-to-paste <machineKey .../> element with fresh keys from OpenSSL's CSPRNG,\n"
    "of the sizes ASP.NET uses: 64-byte validation keys (128 for HMACSHA384/512), 32-byte AES\n"
    "keys, 24-byte 3DES keys, 8-byte DES keys. The keys are made here and printed to standard\n"
    "output only: a key made on someone else's web site is not a secret.\n"
    "Paste the same element into every server of the farm.\n"
    "\n"
    "options:\n"
    "  --validation ALG   HMACSHA256 (default), HMACSHA384, HMACSHA512, SHA1, MD5, AES, 3DES\n"
    "  --decryption ALG   AES (default), 3DES, DES, Auto\n"
    "  --compat MODE      Framework45 (default), Framework20SP2, Framework20SP1\n";

static const char lint_usage[] =
    "usage: farmctl key lint [--disclosed LIST.csv] [--app-path PATH] FILE...\n"
    "\n"
    "Check every <machineKey> in the files (web.config, machine.config, bare elements) for\n"
    "what breaks a web farm or weakens the keys:\n"
    "  errors:   AutoGenerate (or no machineKey at all), disclosed keys, MD5, DES, bad hex,\n"
    "            settings ASP.NET refuses, files that disagree with each other\n"
    "  warnings: IsolateApps, SHA1, 3DES, short keys, legacy compatibilityMode, a mode\n"
    "            implied by targetFramework\n"
    "Keys are checked against farmlab's built-in list of published keys, and against a list\n"
    "in Microsoft's format (SHA-256 of the upper-cased key, 'validationKey, decryptionKey'\n"
    "per line) given with --disclosed.\n"
    "\n"
    "A file that cannot be read or is not XML is reported on standard error and skipped;\n"
    "the other files are still linted.\n"
    "\n"
    "Exit status: 0 no errors (warnings allowed), 1 errors found, 2 usage or a file that\n"
    "could not be read (whatever the others hold).\n";

static const char fingerprint_usage[] =
    "usage: farmctl key fingerprint [--app-path PATH] FILE...\n"
    "\n"
    "Print the fingerprints of each <machineKey>: v= the validation side (key + algorithm),\n"
    "d= the decryption side (key + cipher), m= the mode. Same fingerprint, same keys. A\n"
    "fingerprint is a truncated SHA-256 and reveals nothing about the key.\n";

static const char compare_usage[] =
    "usage: farmctl key compare [--app-path PATH] FILE...\n"
    "\n"
    "For every ordered pair of files, issue a forms ticket under the first and check it\n"
    "under the second, then print the matrix of verdicts and, for each pair that fails,\n"
    "why: validationKey differs, validation algorithm differs, decryption key or algorithm\n"
    "differs, compatibilityMode differs, AutoGenerate, IsolateApps.\n"
    "\n"
    "Exit status: 0 every pair compatible, 1 some pair is not, 2 usage.\n";

struct file_list {
    const char *path[256];
    size_t n;
};

/* Shared option loop for the FILE... commands. */
static int file_command_args(int argc, char **argv, const char *usage, struct file_list *files,
                             const char **app_path, const char **disclosed)
{
    enum { O_APP = 1, O_DISCLOSED, O_HELP };
    static const struct option longopts[] = {
        {"app-path", required_argument, NULL, O_APP},
        {"disclosed", required_argument, NULL, O_DISCLOSED},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case O_APP:
            *app_path = optarg;
            break;
        case O_DISCLOSED:
            if (disclosed == NULL)
                return cli_error("--disclosed is an option of 'farmctl key lint'");
            *disclosed = optarg;
            break;
        case 'h':
        case O_HELP:
            fputs(usage, stdout);
            return -2;
        default:
            return cli_error("see --help");
        }
    }
    files->n = 0;
    for (int i = optind; i < argc; i++) {
        if (files->n == 256)
            return cli_error("too many files (at most 256)");
        files->path[files->n++] = argv[i];
    }
    if (files->n == 0)
        return cli_error("give at least one FILE (see --help)");
    return 0;
}

static int cmd_generate(int argc, char **argv)
{
    enum { O_VAL = 1, O_DEC, O_COMPAT, O_HELP };
    static const struct option longopts[] = {
        {"validation", required_argument, NULL, O_VAL},
        {"decryption", required_argument, NULL, O_DEC},
        {"compat", required_argument, NULL, O_COMPAT},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    enum mk_validation val = MK_VALIDATION_HMACSHA256;
    enum mk_decryption dec = MK_DECRYPTION_AES;
    enum mk_compat compat = MK_COMPAT_FX45;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case O_VAL:
            if (mk_validation_from_name(optarg, &val) != 0)
                return cli_error("--validation: one of SHA1, MD5, HMACSHA256, HMACSHA384, "
                                 "HMACSHA512, AES, 3DES; not '%s'",
                                 optarg);
            break;
        case O_DEC:
            if (mk_decryption_from_name(optarg, &dec) != 0)
                return cli_error("--decryption: one of Auto, AES, 3DES, DES; not '%s'", optarg);
            break;
        case O_COMPAT:
            if (mk_compat_from_name(optarg, &compat) != 0)
                return cli_error("--compat: one of Framework20SP1, Framework20SP2, "
                                 "Framework45; not '%s'",
                                 optarg);
            break;
        case 'h':
        case O_HELP:
            fputs(generate_usage, stdout);
            return CLI_OK;
        default:
            return cli_error("see 'farmctl key generate --help'");
        }
    }
    if (optind < argc)
        return cli_error("unexpected argument '%s' (see --help)", argv[optind]);

    size_t vlen = val == MK_VALIDATION_HMACSHA384 || val == MK_VALIDATION_HMACSHA512 ? 128 : 64;
    size_t dlen = dec == MK_DECRYPTION_DES ? 8 : dec == MK_DECRYPTION_3DES ? 24 : 32;
    uint8_t vkey[128], dkey[32];
    char vhex[257], dhex[65];
    int rc = CLI_USAGE;
    if (RAND_bytes(vkey, (int)vlen) != 1 || RAND_bytes(dkey, (int)dlen) != 1) {
        cli_error("the random generator failed");
        goto out;
    }
    hex_encode(vkey, vlen, vhex);
    hex_encode(dkey, dlen, dhex);

    /* Check the combination the way ASP.NET will when it reads it. */
    struct mk_params p = {
        .validation_key = vhex,
        .decryption_key = dhex,
        .validation = mk_validation_name(val),
        .decryption = mk_decryption_name(dec),
        .compat = mk_compat_name(compat),
    };
    struct machinekey mk;
    struct errbuf err = {{0}};
    enum mk_attr attr;
    if (machinekey_init(&mk, &p, &err, &attr) != 0) {
        cli_error("%s: %s", mk_attr_name(attr), err.msg);
        goto out;
    }
    machinekey_cleanup(&mk);
    printf("<machineKey validationKey=\"%s\"\n"
           "            decryptionKey=\"%s\"\n"
           "            validation=\"%s\" decryption=\"%s\" compatibilityMode=\"%s\" />\n",
           vhex, dhex, p.validation, p.decryption, p.compat);
    rc = CLI_OK;
out:
    OPENSSL_cleanse(vkey, sizeof vkey);
    OPENSSL_cleanse(dkey, sizeof dkey);
    OPENSSL_cleanse(vhex, sizeof vhex);
    OPENSSL_cleanse(dhex, sizeof dhex);
    return rc;
}

static void say(bool color, const char *where, enum lint_severity sev, const char *msg,
                const char *code)
{
    const char *on = "", *off = "";
    if (color) {
        on = sev == LINT_ERROR ? "\033[1;31m" : "\033[1;33m";
        off = "\033[0m";
    }
    printf("%s: %s%s%s: %s [%s]\n", where, on, lint_severity_name(sev), off, msg, code);
}

/* An element's error reads "PATH:LINE: message" (mkconfig.h), LINE the element's or, for a
 * bad targetFramework, its <httpRuntime>'s. Split it: the message (borrowed from el) and the
 * line in *line. PATH is matched whole, so a path with spaces or colons in it is no
 * trouble; a text that does not start so is returned whole, at the element's line. */
static const char *elem_error(const char *path, const struct mkconfig_elem *el, int *line)
{
    const char *msg = el->err.msg;
    size_t plen = strlen(path);
    *line = el->line;
    if (strncmp(msg, path, plen) != 0 || msg[plen] != ':')
        return msg;
    const char *p = msg + plen + 1;
    long n = 0;
    const char *digits = p;
    while (*p >= '0' && *p <= '9' && n < INT_MAX / 10)
        n = n * 10 + (*p++ - '0');
    if (p == digits || p[0] != ':' || p[1] != ' ')
        return msg;
    *line = (int)n;
    return p + 2;
}

/* disclosed_list_load() says only "cannot open", and reads a directory as an empty list:
 * find out first, with the reason. Returns 0, or -1 with err. */
static int disclosed_check_readable(const char *path, struct errbuf *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        errbuf_set(err, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fileno(f), &st) != 0) {
        errbuf_set(err, "%s: cannot read: %s", path, strerror(errno));
        rc = -1;
    } else if (S_ISDIR(st.st_mode)) {
        errbuf_set(err, "%s: cannot read: %s", path, strerror(EISDIR));
        rc = -1;
    }
    fclose(f);
    return rc;
}

static int cmd_lint(int argc, char **argv)
{
    struct file_list files;
    const char *app_path = NULL, *disclosed_path = NULL;
    int a = file_command_args(argc, argv, lint_usage, &files, &app_path, &disclosed_path);
    if (a != 0)
        return a == -2 ? CLI_OK : CLI_USAGE;

    struct disclosed_list dl = {0};
    struct errbuf err = {{0}};
    if (disclosed_path && (disclosed_check_readable(disclosed_path, &err) != 0 ||
                           disclosed_list_load(&dl, disclosed_path, &err) != 0))
        return cli_error("--disclosed: %s", err.msg);

    bool color = cli_color();
    size_t errors = 0, warnings = 0, elems = 0, unreadable = 0;
    struct mk_fingerprint first_fp;
    const char *first_where = NULL;
    char first_buf[600];
    bool disagree = false;
    for (size_t i = 0; i < files.n; i++) {
        struct mkconfig_opts o = {.app_path = app_path};
        struct mkconfig_elem *el = NULL;
        size_t count = 0;
        if (mkconfig_read_all(files.path[i], &o, &el, &count, &err) != 0) {
            if (strstr(err.msg, "no <machineKey>")) {
                say(color, files.path[i], LINT_ERROR,
                    "no <machineKey>: ASP.NET falls back to the machine-wide setting, "
                    "AutoGenerate,IsolateApps by default, which differs on every server",
                    "autogenerate");
                errors++;
            } else {
                /* Not a finding: the input could not be read or parsed (err reads
                 * "file:line: message" or "file: message"). */
                cli_error("%s", err.msg);
                unreadable++;
            }
            continue;
        }
        for (size_t j = 0; j < count; j++) {
            char where[600];
            snprintf(where, sizeof where, "%s:%d", files.path[i], el[j].line);
            elems++;
            if (el[j].status != 0) {
                int line;
                const char *msg = elem_error(files.path[i], &el[j], &line);
                snprintf(where, sizeof where, "%s:%d", files.path[i], line);
                say(color, where, LINT_ERROR, msg, "config");
                errors++;
                continue;
            }
            struct lint_report r;
            keylint_check(&el[j].mk, el[j].written, disclosed_path ? &dl : NULL, &r);
            for (size_t k = 0; k < r.count; k++)
                say(color, where, r.items[k].severity, r.items[k].message, r.items[k].code);
            errors += r.errors;
            warnings += r.warnings;
            struct mk_fingerprint fp;
            machinekey_fingerprint(&el[j].mk, &fp);
            if (first_where == NULL) {
                first_fp = fp;
                snprintf(first_buf, sizeof first_buf, "%s", where);
                first_where = first_buf;
            } else if (strcmp(fp.text, first_fp.text) != 0 && !el[j].mk.vkey.autogen) {
                disagree = true;
            }
        }
        mkconfig_free(el, count);
    }
    if (disagree) {
        say(color, "farm", LINT_ERROR,
            "the files do not share one set of keys and algorithms, so servers reject each "
            "other's tickets; see 'farmctl key compare' for which pairs and why",
            "mismatch");
        errors++;
    }
    disclosed_list_free(&dl);
    printf("%zu error(s), %zu warning(s) in %zu machineKey element(s) of %zu file(s)", errors,
           warnings, elems, files.n);
    if (unreadable > 0)
        printf("; %zu file(s) could not be read", unreadable);
    printf("\n");
    if (unreadable > 0)
        return CLI_USAGE;
    return errors ? CLI_FINDINGS : CLI_OK;
}

static int cmd_fingerprint(int argc, char **argv)
{
    struct file_list files;
    const char *app_path = NULL;
    int a = file_command_args(argc, argv, fingerprint_usage, &files, &app_path, NULL);
    if (a != 0)
        return a == -2 ? CLI_OK : CLI_USAGE;
    int rc = CLI_OK;
    for (size_t i = 0; i < files.n; i++) {
        struct mkconfig_opts o = {.app_path = app_path};
        struct mkconfig_elem *el = NULL;
        size_t count = 0;
        struct errbuf err = {{0}};
        if (mkconfig_read_all(files.path[i], &o, &el, &count, &err) != 0) {
            cli_error("%s", err.msg);
            rc = CLI_USAGE;
            continue;
        }
        for (size_t j = 0; j < count; j++) {
            if (el[j].status != 0) {
                cli_error("%s", el[j].err.msg);
                rc = CLI_USAGE;
                continue;
            }
            const struct machinekey *mk = &el[j].mk;
            struct mk_fingerprint fp;
            machinekey_fingerprint(mk, &fp);
            printf("%s:%d%s%s  %s  validation=%s decryption=%s-%zu mode=%s%s%s\n", files.path[i],
                   el[j].line, el[j].location[0] ? " location=" : "", el[j].location, fp.text,
                   mk_validation_name(mk->validation), mk_cipher_name(mk->cipher),
                   8 * machinekey_cipher_key_len(mk), mk_compat_name(mk->compat),
                   mk->vkey.autogen || mk->dkey.autogen ? " autogenerate(random per process)" : "",
                   mk->vkey.isolate_apps || mk->dkey.isolate_apps ? " isolate-apps" : "");
        }
        mkconfig_free(el, count);
    }
    return rc;
}

static int cmd_compare(int argc, char **argv)
{
    struct file_list files;
    const char *app_path = NULL;
    int a = file_command_args(argc, argv, compare_usage, &files, &app_path, NULL);
    if (a != 0)
        return a == -2 ? CLI_OK : CLI_USAGE;
    size_t n = files.n;
    struct keyset *ks = calloc(n, sizeof *ks);
    if (ks == NULL)
        return cli_error("out of memory");
    int rc = CLI_OK;
    for (size_t i = 0; i < n; i++)
        if (keyopts_resolve_file(files.path[i], app_path, &ks[i]) != 0)
            rc = CLI_USAGE;
    if (rc != CLI_OK)
        goto out;
    rc = keyopts_matrix(ks, files.path, n, KEYOPTS_FILES, cli_color());
out:
    for (size_t i = 0; i < n; i++)
        keyset_cleanup(&ks[i]);
    free(ks);
    return rc;
}

int cmd_key(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(key_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "generate") == 0)
        return cmd_generate(argc - 1, argv + 1);
    if (strcmp(argv[1], "lint") == 0)
        return cmd_lint(argc - 1, argv + 1);
    if (strcmp(argv[1], "fingerprint") == 0)
        return cmd_fingerprint(argc - 1, argv + 1);
    if (strcmp(argv[1], "compare") == 0)
        return cmd_compare(argc - 1, argv + 1);
    return cli_error("key: unknown command '%s' (try 'farmctl key --help')", argv[1]);
}
