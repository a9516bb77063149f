/* farmctl client USER ACTION: one request as one simulated user, through the farm's lb, with
 * the user's cookie jar in the run directory (jars/USER.txt, Netscape format, so curl -b/-c
 * read and write the same jar). Prints one line per request: the status and what the node
 * said about the ticket and the session in its X-Farm-* headers. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli.h"
#include "commands.h"
#include "runinfo.h"

static const char client_usage[] =
    "usage: farmctl client USER ACTION [ARG] [--json] [--run-dir DIR]\n"
    "\n"
    "Send one request to the running farm as USER, through its load balancer. Each user has\n"
    "a cookie jar in the run directory, jars/USER.txt (Netscape format: curl -b/-c use it\n"
    "too), so a login stays with the user from one command to the next.\n"
    "\n"
    "actions:\n"
    "  login          GET /login?user=USER: get a forms ticket (and a session)\n"
    "  logout         GET /logout\n"
    "  whoami         GET /whoami\n"
    "  account        GET /account: the protected page (302 to the login page without a\n"
    "                 valid ticket)\n"
    "  cart           GET /cart\n"
    "  add ITEM       POST /cart/add?item=ITEM\n"
    "  get PATH       GET PATH\n"
    "  post PATH      POST PATH (empty body)\n"
    "\n"
    "Prints one line: STATUS node=NODE ticket=VERDICT session=VERDICT [user=NAME]\n"
    "[location=URL] [cart=ITEM,...] [error=\"...\"], from the X-Farm-* headers ('-' when\n"
    "absent).\n"
    "\n"
    "options:\n"
    "  --json          one JSON object: {status, node, ticket, session, user, location, body}\n"
    "  --run-dir DIR   the farm's run directory (default $FARM_RUN_DIR, else ./.farm; not\n"
    "                  empty)\n"
    "\n"
    "Exit status: 0 for a 2xx or 3xx answer, 1 for any other answer or no answer, 2 usage or\n"
    "no farm running.\n";

#define CLIENT_BODY_MAX (4u * 1024 * 1024)

struct client_body {
    char *data;
    size_t len;
    bool truncated;
};

static size_t client_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct client_body *b = userdata;
    size_t n = size * nmemb;
    size_t take = n;
    if (b->len + take > CLIENT_BODY_MAX) {
        take = CLIENT_BODY_MAX - b->len;
        b->truncated = true;
    }
    if (take > 0) {
        char *p = realloc(b->data, b->len + take + 1);
        if (p == NULL)
            return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
        memcpy(p + b->len, ptr, take);
        b->data = p;
        b->len += take;
        b->data[b->len] = '\0';
    }
    return n;
}

/* A user name becomes a file name: letters, digits and . _ @ -, not starting with . or -. */
static bool client_user_is_valid(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n > 64 || u[0] == '.' || u[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = u[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '@' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* The value of the last answer's header, copied into out ("" when absent). */
static const char *client_header(CURL *easy, const char *name, char *out, size_t cap)
{
    struct curl_header *h = NULL;
    out[0] = '\0';
    if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h != NULL)
        snprintf(out, cap, "%s", h->value);
    return out;
}

/* jars/USER.txt, with jars/ made (0700) and the jar created 0600 when missing: it holds the
 * user's ticket. curl keeps the mode when it rewrites the file. */
static int client_jar(const struct runinfo *ri, const char *user, char *jar, size_t cap)
{
    char dir[4096], rel[128];
    if (runinfo_path(ri, "jars", dir, sizeof dir) != 0)
        return cli_error("%s: path too long", ri->dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return cli_error("%s: %s", dir, strerror(errno));
    snprintf(rel, sizeof rel, "jars/%s.txt", user);
    if (runinfo_path(ri, rel, jar, cap) != 0)
        return cli_error("%s: path too long", ri->dir);
    int fd = open(jar, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return cli_error("%s: %s", jar, strerror(errno));
    close(fd);
    return 0;
}

static void client_print_text(long status, const char *node, const char *ticket,
                              const char *session, const char *user, const char *location,
                              json_t *body)
{
    printf("%ld node=%s ticket=%s session=%s", status, *node ? node : "-", *ticket ? ticket : "-",
           *session ? session : "-");
    if (*user)
        printf(" user=%s", user);
    if (*location)
        printf(" location=%s", location);
    json_t *cart = json_object_get(body, "cart");
    if (json_is_array(cart)) {
        printf(" cart=");
        size_t i;
        json_t *item;
        json_array_foreach(cart, i, item)
        {
            printf("%s%s", i ? "," : "", json_is_string(item) ? json_string_value(item) : "?");
        }
    }
    const char *error = json_string_value(json_object_get(body, "error"));
    if (error != NULL && (status < 200 || status >= 400))
        printf(" error=\"%s\"", error);
    putchar('\n');
}

static json_t *json_string_or_null(const char *s)
{
    return *s ? json_string(s) : json_null();
}

static void client_print_json(long status, const char *node, const char *ticket,
                              const char *session, const char *user, const char *location,
                              json_t *parsed, const struct client_body *raw, const char *error)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_integer(status));
    json_object_set_new(o, "node", json_string_or_null(node));
    json_object_set_new(o, "ticket", json_string_or_null(ticket));
    json_object_set_new(o, "session", json_string_or_null(session));
    json_object_set_new(o, "user", json_string_or_null(user));
    json_object_set_new(o, "location", json_string_or_null(location));
    if (parsed != NULL)
        json_object_set(o, "body", parsed);
    else {
        json_t *text = raw->len > 0 ? json_stringn(raw->data, raw->len) : NULL;
        json_object_set_new(o, "body", text != NULL ? text : json_null()); /* not UTF-8: null */
    }
    if (error != NULL)
        json_object_set_new(o, "error", json_string(error));
    char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
    if (s != NULL)
        puts(s);
    free(s);
    json_decref(o);
}

int cmd_client(int argc, char **argv)
{
    enum { O_JSON = 1, O_RUN_DIR, O_HELP };
    static const struct option longopts[] = {
        {"json", no_argument, NULL, O_JSON},
        {"run-dir", required_argument, NULL, O_RUN_DIR},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    bool as_json = false;
    const char *run_dir = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case O_JSON:
            as_json = true;
            break;
        case O_RUN_DIR:
            run_dir = optarg;
            break;
        case 'h':
        case O_HELP:
            fputs(client_usage, stdout);
            return CLI_OK;
        default:
            return cli_error("see 'farmctl client --help'");
        }
    }
    int nargs = argc - optind;
    char **args = argv + optind;
    if (nargs < 2)
        return cli_error("give USER and an ACTION (see 'farmctl client --help')");
    const char *user = args[0], *action = args[1];
    if (!client_user_is_valid(user))
        return cli_error("user '%s': use 1-64 of A-Z a-z 0-9 . _ @ - (not starting with . or -)",
                         user);

    /* What to ask: a path (with its query) and whether to POST. */
    bool post = false, takes_arg = false;
    const char *path = NULL;
    if (strcmp(action, "login") == 0)
        path = "/login";
    else if (strcmp(action, "logout") == 0)
        path = "/logout";
    else if (strcmp(action, "whoami") == 0)
        path = "/whoami";
    else if (strcmp(action, "account") == 0)
        path = "/account";
    else if (strcmp(action, "cart") == 0)
        path = "/cart";
    else if (strcmp(action, "add") == 0)
        path = "/cart/add", post = true, takes_arg = true;
    else if (strcmp(action, "get") == 0)
        takes_arg = true;
    else if (strcmp(action, "post") == 0)
        post = true, takes_arg = true;
    else
        return cli_error("unknown action '%s' (see 'farmctl client --help')", action);
    if (nargs != (takes_arg ? 3 : 2))
        return cli_error(takes_arg ? "'%s' takes one argument (see --help)"
                                   : "'%s' takes no argument (see --help)",
                         action);

    struct runinfo ri;
    struct errbuf err = {{0}};
    const char *dir = runinfo_dir(run_dir, &err);
    if (dir == NULL || runinfo_load(&ri, dir, &err) != 0)
        return cli_error("%s", err.msg);

    int rc = CLI_USAGE;
    bool curl_inited = false;
    CURL *easy = NULL;
    char *escaped = NULL;
    json_t *parsed = NULL;
    struct client_body body = {0};
    char jar[4096], rel[4096], url[8192];
    if (client_jar(&ri, user, jar, sizeof jar) != 0)
        goto out;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        cli_error("libcurl failed to initialise");
        goto out;
    }
    curl_inited = true;
    easy = curl_easy_init();
    if (easy == NULL) {
        cli_error("libcurl failed to initialise");
        goto out;
    }
    if (strcmp(action, "login") == 0 || strcmp(action, "add") == 0) {
        const char *value = strcmp(action, "login") == 0 ? user : args[2];
        escaped = curl_easy_escape(easy, value, 0);
        if (escaped == NULL) {
            cli_error("out of memory");
            goto out;
        }
        snprintf(rel, sizeof rel, "%s?%s=%s", path, strcmp(action, "login") == 0 ? "user" : "item",
                 escaped);
    } else {
        snprintf(rel, sizeof rel, "%s", path != NULL ? path : args[2]);
    }
    if (runinfo_url(ri.lb_url, rel, url, sizeof url) != 0) {
        cli_error("URL too long");
        goto out;
    }

    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_COOKIEFILE, jar);
    curl_easy_setopt(easy, CURLOPT_COOKIEJAR, jar);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, client_write_cb);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "farmctl-client/0.1");
    if (post) {
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode cc = curl_easy_perform(easy);
    if (cc != CURLE_OK) {
        const char *why = curl_err[0] ? curl_err : curl_easy_strerror(cc);
        if (as_json) {
            struct client_body none = {0};
            client_print_json(0, "", "", "", "", "", NULL, &none, why);
        }
        cli_error("%s: %s", url, why);
        rc = CLI_FINDINGS;
        goto out;
    }

    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    char node[128], ticket[64], session[64], who[160], location[2048];
    client_header(easy, "X-Farm-Node", node, sizeof node);
    client_header(easy, "X-Farm-Ticket", ticket, sizeof ticket);
    client_header(easy, "X-Farm-Session", session, sizeof session);
    client_header(easy, "X-Farm-User", who, sizeof who);
    client_header(easy, "Location", location, sizeof location);
    if (body.len > 0 && !body.truncated)
        parsed = json_loadb(body.data, body.len, JSON_DECODE_ANY, NULL);
    if (as_json)
        client_print_json(status, node, ticket, session, who, location, parsed, &body, NULL);
    else
        client_print_text(status, node, ticket, session, who, location, parsed);
    rc = status >= 200 && status < 400 ? CLI_OK : CLI_FINDINGS;
out:
    json_decref(parsed);
    curl_free(escaped);
    curl_easy_cleanup(easy); /* writes the jar */
    if (curl_inited)
        curl_global_cleanup();
    free(body.data);
    runinfo_cleanup(&ri);
    return rc;
}
