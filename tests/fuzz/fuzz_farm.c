/* fuzz_farm: the INI files people write by hand — farm files (farmctl up) and lb's --config.
 *
 * The input is one file's text. It is read as a farm file (farmfile_parse, with a readable
 * web.config beside it so that machine-key lines can succeed) and as an lb config (every
 * `key = value` line through options_set, as lb --config does). Invariants:
 *   - an accepted farm file has 1 to FARMFILE_NODES_MAX nodes, each with a valid and unique
 *     name, a machine-key, and addresses lb would accept; its [farm] settings fit their
 *     buffers;
 *   - an accepted lb config leaves strings that fit their limits (names, addresses, the
 *     health path) and numbers inside their documented ranges;
 *   - every refusal names the file and a line ("path:N: ..."), or the file alone, and is one
 *     line of printable text. */
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#include "farmfile.h"
#include "inifile.h"
#include "options.h"

static char dir[] = "/tmp/fuzz_farm.XXXXXX";
static char farm_path[64];

static void setup(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    if (mkdtemp(dir) == NULL)
        abort();
    char key[96];
    snprintf(key, sizeof key, "%s/web.config", dir);
    FILE *f = fopen(key, "w");
    if (f == NULL)
        abort();
    fputs("<machineKey validationKey=\"0102030405060708090A0B0C0D0E0F101112131415161718191A1B1C"
          "1D1E1F20\" decryptionKey=\"A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8\" "
          "validation=\"HMACSHA256\" decryption=\"AES\" />\n",
          f);
    fclose(f);
    snprintf(farm_path, sizeof farm_path, "%s/farm.ini", dir);
}

static void check_message(const char *msg, const char *path)
{
    FUZZ_CHECK(strncmp(msg, path, strlen(path)) == 0, "a refusal starts with the file's name");
    for (const char *p = msg; *p; p++) /* a value echoed back may hold a tab, no more */
        FUZZ_CHECK(((unsigned char)*p >= 0x20 || *p == '\t') && *p != 0x7f,
                   "a refusal is printable, one line");
}

static void fuzz_farmfile(const char *text)
{
    struct errbuf err = {{0}};
    struct farmfile *ff = farmfile_parse(text, farm_path, &err);
    if (ff == NULL) {
        check_message(err.msg, farm_path);
        return;
    }
    FUZZ_CHECK(ff->n_nodes >= 1 && ff->n_nodes <= FARMFILE_NODES_MAX, "1 to 64 nodes");
    FUZZ_CHECK(ff->n_lb <= FARMFILE_LB_MAX, "the [farm] settings fit");
    FUZZ_CHECK(farmfile_addr_is_valid(ff->lb_listen) && farmfile_addr_is_valid(ff->lb_admin),
               "lb's addresses are valid");
    for (size_t i = 0; i < ff->n_nodes; i++) {
        const struct farmfile_node *n = &ff->nodes[i];
        FUZZ_CHECK(farmfile_name_is_valid(n->name), "a node's name is valid");
        FUZZ_CHECK(farmfile_node(ff, n->name) == n, "node names are unique");
    }
    farmfile_free(ff);
}

static const char *config_path = "/fuzz/lb.conf";

static int config_pair(void *user, const char *name, const char *value, int line,
                       struct errbuf *err)
{
    (void)line;
    if (strcmp(name, "config") == 0 || strcmp(name, "help") == 0)
        return 0; /* lb refuses nesting; --help would print */
    return options_set(user, name, value, err) == 0 ? 0 : -1;
}

static void fuzz_lb_config(const char *text, size_t len)
{
    static struct lb_options o;
    options_defaults(&o);
    static const struct inifile_handler handler = {.pair = config_pair};
    struct errbuf err = {{0}};
    if (inifile_parse(text, len, config_path, &handler, &o, &err) != 0) {
        check_message(err.msg, config_path);
        return;
    }
    FUZZ_CHECK(o.n_nodes <= OPTIONS_NODES_MAX, "the node count fits");
    FUZZ_CHECK(o.used <= sizeof o.strings, "copied values fit their storage");
    for (size_t i = 0; i < o.n_nodes; i++)
        FUZZ_CHECK(memchr(o.nodes[i].name, '\0', sizeof o.nodes[i].name) != NULL &&
                       memchr(o.nodes[i].addr, '\0', sizeof o.nodes[i].addr) != NULL,
                   "node names and addresses are terminated inside their buffers");
    const struct lb_config *c = &o.cfg;
    FUZZ_CHECK(c->health_path == NULL || strlen(c->health_path) <= LB_HEALTH_PATH_MAX,
               "the health path fits the health check's request");
    FUZZ_CHECK(c->max_sessions >= 1 && c->max_sessions <= OPTIONS_SESSIONS_MAX,
               "max-sessions is inside its range");
    FUZZ_CHECK(c->health_interval > 0, "health checks never run back to back");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size > FUZZ_INPUT_MAX)
        size = FUZZ_INPUT_MAX;
    char *text = malloc(size + 1);
    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    fuzz_lb_config(text, size);
    /* farmfile_parse takes a C string: the text up to its first NUL. */
    fuzz_farmfile(text);
    free(text);
    return 0;
}
