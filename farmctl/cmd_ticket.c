/* farmctl ticket issue|decode|which: forms-auth cookies as ASP.NET writes and reads them. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cli.h"
#include "commands.h"
#include "formsauth.h"
#include "keyopts.h"
#include "ticks.h"

static const char ticket_usage[] =
    "usage: farmctl ticket COMMAND [options]\n"
    "\n"
    "Forms-authentication cookies (.ASPXAUTH) as ASP.NET issues and checks them.\n"
    "\n"
    "commands:\n"
    "  issue KEYS --name NAME [...]     print a cookie value issued under KEYS\n"
    "  decode KEYS [--json] COOKIE      check a cookie and print its verdict and fields\n"
    "  which COOKIE --machine-key FILE...  name the key file that issued a cookie\n"
    "\n"
    "Run 'farmctl ticket COMMAND --help' for the options of each.\n";

static const char issue_usage[] =
    "usage: farmctl ticket issue KEYS --name NAME [options]\n"
    "\n"
    "Print a forms-authentication cookie value (upper-case hex), protected with KEYS exactly\n"
    "as ASP.NET's FormsAuthentication.Encrypt does.\n"
    "\n"
    "options:\n"
    "  --name NAME            the user name (required)\n"
    "  --user-data S          UserData (default empty)\n"
    "  --path P               CookiePath (default /)\n"
    "  --version N            ticket version 0-255 (default 2, as SetAuthCookie)\n"
    "  --persistent           a persistent ticket\n"
    "  --issued ISO8601       issue time (default now)\n"
    "  --expires ISO8601      expiration time, or\n"
    "  --ttl DURATION         lifetime from --issued, e.g. 30m, 2h, 1d (default 30m)\n"
    "  --format v1|legacy     v1 (default, since MS11-100) or the legacy native format\n"
    "\n" KEYOPTS_HELP "\n"
    "Without a mode, Framework20SP1 is used, as ASP.NET does.\n"
    "Exit status: 0 printed, 2 usage or key error.\n";

static const char decode_usage[] =
    "usage: farmctl ticket decode KEYS [--now ISO8601] [--json] COOKIE\n"
    "\n"
    "Check a cookie value (hex, or ASP.NET's UrlToken form) under KEYS, in ASP.NET's order:\n"
    "outer MAC, decryption, inner MAC, ticket format, expiry. Prints the verdict\n"
    "  valid | expired | mac-mismatch | bad-ticket | malformed\n"
    "and, once the MAC passed, the ticket's fields. When KEYS give no compatibilityMode,\n"
    "both pipelines are tried and the one that matched is named.\n"
    "\n"
    "options:\n"
    "  --now ISO8601          judge expiry at this time (default now)\n"
    "  --json                 one JSON object: {\"status\": ..., \"ticket\": {...}}\n"
    "  -                      as COOKIE: read it from standard input (after the key lines\n"
    "                         when keys are given as - too)\n"
    "\n" KEYOPTS_HELP "\n"
    "Exit status: 0 valid or expired, 3 rejected, 2 usage or key error.\n";

static const char which_usage[] =
    "usage: farmctl ticket which COOKIE --machine-key FILE [--machine-key FILE...]\n"
    "       farmctl ticket which COOKIE FILE...\n"
    "\n"
    "Decode COOKIE under each key file (256 at most) and name the one(s) that issued it:\n"
    "which server of a farm wrote this cookie?\n"
    "\n"
    "options:\n"
    "  --now ISO8601          judge expiry at this time (default now)\n"
    "  --app-path PATH        IIS application path for ',IsolateApps' keys\n"
    "\n"
    "Exit status: 0 a file matched, 3 none did, 2 usage or key error.\n";

static int parse_time(const char *opt, const char *s, int64_t *out)
{
    if (ticks_parse_iso(s, out) != 0) {
        cli_error("%s: not an ISO 8601 time: '%s' (e.g. 2026-11-23T09:30:00Z)", opt, s);
        return -1;
    }
    return 0;
}

static int issue(struct keyopts *ko, int argc, char **argv)
{
    enum {
        O_NAME = 1,
        O_USER_DATA,
        O_PATH,
        O_VERSION,
        O_PERSISTENT,
        O_ISSUED,
        O_EXPIRES,
        O_TTL,
        O_FORMAT,
        O_HELP
    };
    static const struct option longopts[] = {
        {"name", required_argument, NULL, O_NAME},
        {"user-data", required_argument, NULL, O_USER_DATA},
        {"path", required_argument, NULL, O_PATH},
        {"version", required_argument, NULL, O_VERSION},
        {"persistent", no_argument, NULL, O_PERSISTENT},
        {"issued", required_argument, NULL, O_ISSUED},
        {"expires", required_argument, NULL, O_EXPIRES},
        {"ttl", required_argument, NULL, O_TTL},
        {"format", required_argument, NULL, O_FORMAT},
        {"help", no_argument, NULL, O_HELP},
        KEYOPTS_LONG,
        {NULL, 0, NULL, 0},
    };
    const char *name = NULL, *user_data = "", *path = "/", *expires = NULL, *ttl = NULL;
    const char *issued = NULL;
    long version = 2;
    bool persistent = false;
    enum ticket_format format = TICKET_FORMAT_V1;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int taken = keyopts_take(ko, opt, optarg);
        if (taken < 0)
            return CLI_USAGE;
        if (taken > 0)
            continue;
        switch (opt) {
        case O_NAME:
            name = optarg;
            break;
        case O_USER_DATA:
            user_data = optarg;
            break;
        case O_PATH:
            path = optarg;
            break;
        case O_VERSION: {
            char *end;
            version = strtol(optarg, &end, 10);
            if (*end || version < 0 || version > 255)
                return cli_error("--version: a number from 0 to 255, not '%s'", optarg);
            break;
        }
        case O_PERSISTENT:
            persistent = true;
            break;
        case O_ISSUED:
            issued = optarg;
            break;
        case O_EXPIRES:
            expires = optarg;
            break;
        case O_TTL:
            ttl = optarg;
            break;
        case O_FORMAT:
            if (ticket_format_from_name(optarg, &format) != 0)
                return cli_error("--format: v1 or legacy, not '%s'", optarg);
            break;
        case 'h':
        case O_HELP:
            fputs(issue_usage, stdout);
            return CLI_OK;
        default:
            return cli_error("see 'farmctl ticket issue --help'");
        }
    }
    if (optind < argc)
        return cli_error("unexpected argument '%s' (see --help)", argv[optind]);
    if (name == NULL)
        return cli_error("--name is required (see --help)");
    if (expires && ttl)
        return cli_error("give --expires or --ttl, not both");

    int64_t t_issued = ticks_now(), t_expires, dur = 30 * 60 * TICKS_PER_SECOND;
    if (issued && parse_time("--issued", issued, &t_issued) != 0)
        return CLI_USAGE;
    if (ttl && ticks_parse_duration(ttl, &dur) != 0)
        return cli_error("--ttl: not a duration: '%s' (e.g. 30m, 2h, 1d)", ttl);
    if (expires) {
        if (parse_time("--expires", expires, &t_expires) != 0)
            return CLI_USAGE;
    } else {
        t_expires = t_issued + dur;
    }

    struct ticket t;
    ticket_init(&t);
    t.format = format;
    t.version = (uint8_t)version;
    t.persistent = persistent;
    t.issue_ticks = t_issued;
    t.expiration_ticks = t_expires;
    if (ticket_set(&t, TICKET_NAME, name, strlen(name)) != 0 ||
        ticket_set(&t, TICKET_USER_DATA, user_data, strlen(user_data)) != 0 ||
        ticket_set(&t, TICKET_COOKIE_PATH, path, strlen(path)) != 0)
        return cli_error("the name, user data and path must be UTF-8 and fit in a cookie");

    struct keyset ks;
    if (keyopts_resolve(ko, &ks) != 0)
        return CLI_USAGE;
    const struct machinekey *mk = ks.legacy_ok ? &ks.legacy : &ks.fx45;
    if (mk->vkey.autogen || mk->dkey.autogen)
        fprintf(stderr, "farmctl: note: the keys are AutoGenerate: this cookie is valid for no "
                        "server but this one run\n");
    struct formsauth fa;
    struct errbuf err = {{0}};
    int rc = CLI_USAGE;
    if (formsauth_init(&fa, mk, &err) != 0) {
        cli_error("%s", err.msg);
        goto out;
    }
    char cookie[FORMSAUTH_COOKIE_MAX + 1];
    long n = formsauth_issue(&fa, &t, cookie, sizeof cookie);
    formsauth_cleanup(&fa);
    if (n < 0) {
        cli_error("the ticket does not fit in a 4096-character cookie%s",
                  format == TICKET_FORMAT_LEGACY ? " or holds U+0000, which the legacy format "
                                                   "cannot carry"
                                                 : "");
        goto out;
    }
    printf("%s\n", cookie);
    rc = CLI_OK;
out:
    keyset_cleanup(&ks);
    return rc;
}

/* The keys' text is wiped whichever way issue() returns. */
static int cmd_issue(int argc, char **argv)
{
    struct keyopts ko = {0};
    int rc = issue(&ko, argc, argv);
    keyopts_cleanup(&ko);
    return rc;
}

/* Decode under the keyset: the known mode, or both pipelines. *pipeline gets the mode that
 * matched ("" when the mode was known). */
static enum fa_status decode_with(struct keyset *ks, const char *cookie, int64_t now,
                                  struct ticket *t, const char **pipeline)
{
    *pipeline = "";
    enum fa_status best = FA_MAC_MISMATCH;
    struct machinekey *cands[2] = {ks->legacy_ok ? &ks->legacy : NULL,
                                   ks->fx45_ok && !ks->mode_known ? &ks->fx45 : NULL};
    for (int i = 0; i < 2; i++) {
        if (cands[i] == NULL)
            continue;
        struct formsauth fa;
        if (formsauth_init(&fa, cands[i], NULL) != 0)
            continue;
        enum fa_status st = formsauth_decode(&fa, cookie, strlen(cookie), now, t);
        formsauth_cleanup(&fa);
        if (st == FA_MALFORMED)
            return st;
        if (i == 0 || st != FA_MAC_MISMATCH) {
            best = st;
            if (!ks->mode_known)
                *pipeline = st == FA_MAC_MISMATCH            ? "none"
                            : machinekey_is_legacy(cands[i]) ? "legacy (Framework20SP1/SP2)"
                                                             : "Framework45";
        }
        if (st != FA_MAC_MISMATCH)
            break;
    }
    return best;
}

static void print_text(enum fa_status st, const struct ticket *t, const char *pipeline,
                       bool has_ticket)
{
    bool color = cli_color();
    const char *on = "", *off = color ? "\033[0m" : "";
    if (color)
        on = st == FA_VALID ? "\033[32m" : st == FA_EXPIRED ? "\033[33m" : "\033[31m";
    printf("status:      %s%s%s\n", on, fa_status_name(st), off);
    if (*pipeline)
        printf("pipeline:    %s\n", pipeline);
    if (!has_ticket) {
        const char *why = "";
        switch (st) {
        case FA_MAC_MISMATCH:
            why = "the MAC does not verify: issued under another validationKey, validation "
                  "algorithm or compatibilityMode (or forged)";
            break;
        case FA_BAD_TICKET:
            why = "the MAC verifies but the content does not decrypt to a ticket: same "
                  "validationKey, another decryptionKey or decryption algorithm";
            break;
        case FA_MALFORMED:
            why = "not a protected cookie: not hex or UrlToken, too short or too long";
            break;
        default:
            break;
        }
        printf("why:         %s\n", why);
        return;
    }
    char a[TICKS_ISO_MAX], b[TICKS_ISO_MAX];
    ticks_format_iso(t->issue_ticks, a);
    ticks_format_iso(t->expiration_ticks, b);
    printf("format:      %s\n", ticket_format_name(t->format));
    printf("version:     %u\n", t->version);
    printf("name:        %s\n", ticket_get(t, TICKET_NAME, NULL));
    printf("user data:   %s\n", ticket_get(t, TICKET_USER_DATA, NULL));
    printf("cookie path: %s\n", ticket_get(t, TICKET_COOKIE_PATH, NULL));
    printf("persistent:  %s\n", t->persistent ? "yes" : "no");
    printf("issued:      %s (ticks %lld)\n", a, (long long)t->issue_ticks);
    printf("expires:     %s (ticks %lld)\n", b, (long long)t->expiration_ticks);
}

static void print_json(enum fa_status st, const struct ticket *t, const char *pipeline,
                       bool has_ticket)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(fa_status_name(st)));
    if (*pipeline)
        json_object_set_new(o, "pipeline", json_string(pipeline));
    if (has_ticket) {
        char a[TICKS_ISO_MAX], b[TICKS_ISO_MAX];
        size_t n_name, n_ud, n_path;
        const char *name = ticket_get(t, TICKET_NAME, &n_name);
        const char *ud = ticket_get(t, TICKET_USER_DATA, &n_ud);
        const char *path = ticket_get(t, TICKET_COOKIE_PATH, &n_path);
        ticks_format_iso(t->issue_ticks, a);
        ticks_format_iso(t->expiration_ticks, b);
        json_t *tj = json_object();
        json_object_set_new(tj, "format", json_string(ticket_format_name(t->format)));
        json_object_set_new(tj, "version", json_integer(t->version));
        json_object_set_new(tj, "name", json_stringn(name, n_name));
        json_object_set_new(tj, "user_data", json_stringn(ud, n_ud));
        json_object_set_new(tj, "cookie_path", json_stringn(path, n_path));
        json_object_set_new(tj, "persistent", json_boolean(t->persistent));
        json_object_set_new(tj, "issue_utc", json_string(a));
        json_object_set_new(tj, "expiration_utc", json_string(b));
        json_object_set_new(tj, "issue_ticks", json_integer(t->issue_ticks));
        json_object_set_new(tj, "expiration_ticks", json_integer(t->expiration_ticks));
        json_object_set_new(o, "ticket", tj);
    }
    char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_INDENT(2));
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(o);
}

/* Read a cookie argument, or the rest of standard input for "-" (after the lines keys given
 * as - took), trimmed. Returns malloc'd text. */
static char *read_cookie(const char *arg)
{
    if (strcmp(arg, "-") != 0)
        return strdup(arg);
    size_t cap = FORMSAUTH_COOKIE_MAX + 64, n = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL)
        return NULL;
    n = fread(buf, 1, cap, stdin);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    size_t lead = strspn(buf, "\r\n ");
    memmove(buf, buf + lead, n - lead + 1);
    return buf;
}

static int decode(struct keyopts *ko, int argc, char **argv)
{
    enum { O_NOW = 1, O_JSON, O_HELP };
    static const struct option longopts[] = {
        {"now", required_argument, NULL, O_NOW},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, O_HELP},
        KEYOPTS_LONG,
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    int64_t now = ticks_now();
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int taken = keyopts_take(ko, opt, optarg);
        if (taken < 0)
            return CLI_USAGE;
        if (taken > 0)
            continue;
        switch (opt) {
        case O_NOW:
            if (parse_time("--now", optarg, &now) != 0)
                return CLI_USAGE;
            break;
        case O_JSON:
            json = true;
            break;
        case 'h':
        case O_HELP:
            fputs(decode_usage, stdout);
            return CLI_OK;
        default:
            return cli_error("see 'farmctl ticket decode --help'");
        }
    }
    if (argc - optind != 1)
        return cli_error("give exactly one COOKIE (see --help)");
    struct keyset ks;
    if (keyopts_resolve(ko, &ks) != 0)
        return CLI_USAGE;
    char *cookie = read_cookie(argv[optind]);
    if (cookie == NULL) {
        keyset_cleanup(&ks);
        return cli_error("out of memory");
    }
    struct ticket t;
    const char *pipeline;
    enum fa_status st = decode_with(&ks, cookie, now, &t, &pipeline);
    bool has_ticket = st == FA_VALID || st == FA_EXPIRED;
    if (json)
        print_json(st, &t, pipeline, has_ticket);
    else
        print_text(st, &t, pipeline, has_ticket);
    free(cookie);
    keyset_cleanup(&ks);
    return has_ticket ? CLI_OK : CLI_REJECTED;
}

/* The keys' text is wiped whichever way decode() returns. */
static int cmd_decode(int argc, char **argv)
{
    struct keyopts ko = {0};
    int rc = decode(&ko, argc, argv);
    keyopts_cleanup(&ko);
    return rc;
}

static int cmd_which(int argc, char **argv)
{
    enum { O_NOW = 1, O_HELP, O_MK, O_APP };
    static const struct option longopts[] = {
        {"now", required_argument, NULL, O_NOW},
        {"machine-key", required_argument, NULL, O_MK},
        {"app-path", required_argument, NULL, O_APP},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    enum { WHICH_FILES_MAX = 256 };
    const char *files[WHICH_FILES_MAX];
    size_t nfiles = 0;
    const char *app_path = NULL;
    int64_t now = ticks_now();
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case O_NOW:
            if (parse_time("--now", optarg, &now) != 0)
                return CLI_USAGE;
            break;
        case O_MK:
            if (nfiles == WHICH_FILES_MAX)
                return cli_error("too many key files (at most %d)", WHICH_FILES_MAX);
            files[nfiles++] = optarg;
            break;
        case O_APP:
            app_path = optarg;
            break;
        case 'h':
        case O_HELP:
            fputs(which_usage, stdout);
            return CLI_OK;
        default:
            return cli_error("see 'farmctl ticket which --help'");
        }
    }
    if (optind >= argc)
        return cli_error("give the COOKIE and at least one --machine-key FILE (see --help)");
    /* Key files as operands after the cookie, counted with the --machine-key ones: every
     * file given is tried, or none is. */
    for (int i = optind + 1; i < argc; i++) {
        if (nfiles == WHICH_FILES_MAX)
            return cli_error("too many key files (at most %d)", WHICH_FILES_MAX);
        files[nfiles++] = argv[i];
    }
    if (nfiles == 0)
        return cli_error("give at least one --machine-key FILE (see --help)");
    char *cookie = read_cookie(argv[optind]);
    if (cookie == NULL)
        return cli_error("out of memory");
    size_t matched = 0;
    const char *hits[WHICH_FILES_MAX];
    int rc = CLI_REJECTED;
    for (size_t i = 0; i < nfiles; i++) {
        struct keyset ks;
        if (keyopts_resolve_file(files[i], app_path, &ks) != 0) {
            rc = CLI_USAGE;
            continue;
        }
        struct ticket t;
        const char *pipeline;
        enum fa_status st = decode_with(&ks, cookie, now, &t, &pipeline);
        bool ok = st == FA_VALID || st == FA_EXPIRED;
        printf("%-40s %s", files[i], fa_status_name(st));
        if (ok)
            printf("  (%s ticket for '%s')", ticket_format_name(t.format),
                   ticket_get(&t, TICKET_NAME, NULL));
        printf("\n");
        if (ok)
            hits[matched++] = files[i];
        keyset_cleanup(&ks);
        if (st == FA_MALFORMED)
            break;
    }
    if (matched > 0) {
        printf("issued by:");
        for (size_t i = 0; i < matched; i++)
            printf("%s %s", i ? "," : "", hits[i]);
        printf("\n");
        if (rc != CLI_USAGE)
            rc = CLI_OK;
    } else {
        printf("issued by: none of the %zu key file(s) given\n", nfiles);
    }
    free(cookie);
    return rc;
}

int cmd_ticket(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(ticket_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "issue") == 0)
        return cmd_issue(argc - 1, argv + 1);
    if (strcmp(argv[1], "decode") == 0)
        return cmd_decode(argc - 1, argv + 1);
    if (strcmp(argv[1], "which") == 0)
        return cmd_which(argc - 1, argv + 1);
    return cli_error("ticket: unknown command '%s' (try 'farmctl ticket --help')", argv[1]);
}
