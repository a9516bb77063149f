/* fuzz_config: the files farmlab reads — <machineKey> XML (mkconfig_read_all, mkconfig_load)
 * and Microsoft's disclosed-key CSV list (disclosed_list_load).
 *
 * Both readers take a path, so the input is written to one temporary file made at start-up
 * (rewritten for every input, removed at exit). Invariants:
 *   - every element reports a status, a line, and a NUL-terminated error;
 *   - a <machineKey> that resolves is usable: forms-auth and ViewState protectors key with
 *     it, and a ticket issued under it decodes valid (config → key → cookie, end to end);
 *   - mkconfig_load gives the element its header names (first outside <location>, else the
 *     first) with the same verdict, line and key;
 *   - a loaded disclosed list is sorted, and every hash in it is found by
 *     disclosed_key_is_known. */
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

#include "disclosed.h"
#include "formsauth.h"
#include "mkconfig.h"
#include "viewstate.h"

#define FUZZ_NOW 638000000000000000LL

static char fuzz_config_path[64];
static int fuzz_config_fd = -1;

static void fuzz_config_remove(void)
{
    if (fuzz_config_fd >= 0) {
        close(fuzz_config_fd);
        fuzz_config_fd = -1;
        unlink(fuzz_config_path);
    }
}

static void fuzz_config_init(void)
{
    if (fuzz_config_fd >= 0)
        return;
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0' || strlen(dir) > sizeof fuzz_config_path - 24)
        dir = "/tmp";
    snprintf(fuzz_config_path, sizeof fuzz_config_path, "%s/fuzz_config.XXXXXX", dir);
    fuzz_config_fd = mkstemp(fuzz_config_path);
    FUZZ_CHECK(fuzz_config_fd >= 0, "temporary file can be made");
    atexit(fuzz_config_remove);
}

static void fuzz_config_write(const uint8_t *data, size_t size)
{
    FUZZ_CHECK(ftruncate(fuzz_config_fd, 0) == 0, "temporary file truncates");
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(fuzz_config_fd, data + done, size - done, (off_t)done);
        FUZZ_CHECK(n > 0, "temporary file takes the input");
        done += (size_t)n;
    }
}

/* A resolved machineKey keys both protectors and carries a cookie end to end. */
static void fuzz_config_use_key(const struct machinekey *mk)
{
    struct formsauth fa;
    struct errbuf err = {{0}};
    FUZZ_CHECK(formsauth_init(&fa, mk, &err) == 0, "a resolved machineKey keys forms auth");
    struct ticket t, back;
    ticket_init(&t);
    t.issue_ticks = FUZZ_NOW;
    t.expiration_ticks = FUZZ_NOW + 1;
    FUZZ_CHECK(ticket_set(&t, TICKET_NAME, "fuzz", 4) == 0, "ticket name");
    char cookie[FORMSAUTH_COOKIE_MAX + 1];
    long n = formsauth_issue(&fa, &t, cookie, sizeof cookie);
    FUZZ_CHECK(n > 0, "a resolved machineKey issues a cookie");
    FUZZ_CHECK(formsauth_decode(&fa, cookie, (size_t)n, FUZZ_NOW, &back) == FA_VALID,
               "a cookie issued under a config's key decodes valid");
    formsauth_cleanup(&fa);

    struct viewstate vs;
    struct viewstate_page page = {.template_dir = "/", .type_name = "form_aspx"};
    FUZZ_CHECK(viewstate_init(&vs, mk, &page, &err) == 0, "a resolved machineKey keys ViewState");
    viewstate_cleanup(&vs);

    struct mk_fingerprint fp;
    machinekey_fingerprint(mk, &fp);
    FUZZ_CHECK(strlen(fp.validation) == MK_FP_HEX - 1 && strlen(fp.decryption) == MK_FP_HEX - 1,
               "fingerprints are 8 hex chars");
}

static void fuzz_config_machinekey(void)
{
    static const uint8_t secret[32] = "fuzz_config autogen secret.....";
    const struct mkconfig_opts opts = {.app_path = "/LM/W3SVC/1/ROOT/shop",
                                       .autogen_secret = secret};
    struct mkconfig_elem *elems = NULL;
    size_t count = 0;
    struct errbuf err = {{0}};
    int rc = mkconfig_read_all(fuzz_config_path, &opts, &elems, &count, &err);
    FUZZ_CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL, "error is NUL-terminated");
    if (rc != 0) {
        FUZZ_CHECK(elems == NULL && count == 0, "a failed read returns nothing");
        FUZZ_CHECK(err.msg[0] != '\0', "a failed read says why");
    } else {
        FUZZ_CHECK(elems != NULL && count > 0, "a read finds at least one element");
    }

    for (size_t i = 0; i < count; i++) {
        const struct mkconfig_elem *e = &elems[i];
        FUZZ_CHECK(e->status == 0 || e->status == -1, "element status is 0 or -1");
        FUZZ_CHECK(e->line >= 0, "element line is not negative");
        FUZZ_CHECK(memchr(e->location, '\0', sizeof e->location) != NULL,
                   "location is NUL-terminated");
        FUZZ_CHECK(memchr(e->err.msg, '\0', sizeof e->err.msg) != NULL,
                   "element error is NUL-terminated");
        if (e->status == 0)
            fuzz_config_use_key(&e->mk);
        else
            FUZZ_CHECK(e->err.msg[0] != '\0', "an unresolved element says why");
    }
    /* mkconfig_load: the first element outside <location>, else the first. */
    if (count > 0) {
        size_t want = 0;
        for (size_t i = 0; i < count; i++)
            if (elems[i].location[0] == '\0') {
                want = i;
                break;
            }
        struct machinekey mk;
        int line = -1;
        int lrc = mkconfig_load(fuzz_config_path, &opts, &mk, &line, &err);
        FUZZ_CHECK(lrc == elems[want].status, "mkconfig_load agrees with mkconfig_read_all");
        FUZZ_CHECK(line == elems[want].line, "mkconfig_load reports the picked element's line");
        if (lrc == 0) {
            struct mk_fingerprint a, b;
            machinekey_fingerprint(&mk, &a);
            machinekey_fingerprint(&elems[want].mk, &b);
            FUZZ_CHECK(strcmp(a.text, b.text) == 0, "mkconfig_load gives the picked key");
            machinekey_cleanup(&mk);
        }
    }
    mkconfig_free(elems, count);
}

static void fuzz_config_disclosed(void)
{
    struct disclosed_list l;
    struct errbuf err = {{0}};
    if (disclosed_list_load(&l, fuzz_config_path, &err) != 0) {
        FUZZ_CHECK(l.hashes == NULL && l.count == 0, "a failed load leaves an empty list");
        FUZZ_CHECK(err.msg[0] != '\0', "a failed load says why");
        return;
    }
    for (size_t i = 0; i < l.count; i++) {
        if (i > 0)
            FUZZ_CHECK(memcmp(l.hashes[i - 1], l.hashes[i], 32) <= 0, "the list is sorted");
        struct mk_key k;
        memset(&k, 0, sizeof k);
        k.has_written_hash = true;
        memcpy(k.written_sha256, l.hashes[i], 32);
        const char *where = NULL;
        FUZZ_CHECK(disclosed_key_is_known(&k, &l, &where) && where != NULL,
                   "every listed hash is known");
    }
    disclosed_list_free(&l);
    FUZZ_CHECK(l.hashes == NULL && l.count == 0, "a freed list is empty");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_config_init();
    if (size > FUZZ_INPUT_MAX)
        size = FUZZ_INPUT_MAX;
    fuzz_config_write(data, size);
    fuzz_config_machinekey();
    fuzz_config_disclosed();
    return 0;
}
