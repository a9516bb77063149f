#include "node.h"

#include <stdio.h>
#include <string.h>

#include "mkconfig.h"
#include "ticks.h"

static int load_keys(const struct node_config *cfg, struct machinekey *mk, struct formsauth *fa,
                     struct viewstate *vs, struct errbuf *err)
{
    struct mkconfig_opts o = {.app_path = cfg->app_path};
    if (mkconfig_load(cfg->machine_key_file, &o, mk, NULL, err) != 0)
        return -1;
    if (formsauth_init(fa, mk, err) != 0) {
        machinekey_cleanup(mk);
        return -1;
    }
    if (viewstate_init(vs, mk, &NODE_FORM_PAGE, err) != 0) {
        formsauth_cleanup(fa);
        machinekey_cleanup(mk);
        return -1;
    }
    return 0;
}

int node_init(struct node *n, const struct node_config *cfg, struct errbuf *err)
{
    memset(n, 0, sizeof *n);
    n->cfg = *cfg;
    faults_init(&n->faults, cfg->seed);
    if (cfg->faults && faults_apply(&n->faults, cfg->faults, err) != 0) {
        errbuf_prefix(err, "--fault: ");
        return -1;
    }
    if (load_keys(cfg, &n->mk, &n->fa, &n->vs, err) != 0)
        return -1;
    machinekey_fingerprint(&n->mk, &n->fp);
    snprintf(n->error_headers, sizeof n->error_headers, "X-Farm-Node: %s\r\nX-Farm-Key: %s\r\n",
             cfg->name, n->fp.text);
    if (cfg->session != SESSION_OFF) {
        n->sessions =
            sessions_new(cfg->session, cfg->state_server, cfg->app_path, cfg->session_timeout, err);
        if (n->sessions == NULL) {
            node_cleanup(n);
            return -1;
        }
    }
    return 0;
}

void node_cleanup(struct node *n)
{
    sessions_free(n->sessions);
    n->sessions = NULL;
    viewstate_cleanup(&n->vs);
    formsauth_cleanup(&n->fa);
    machinekey_cleanup(&n->mk);
}

int node_rekey(struct node *n, struct errbuf *err)
{
    struct machinekey mk;
    struct formsauth fa;
    struct viewstate vs;
    if (load_keys(&n->cfg, &mk, &fa, &vs, err) != 0)
        return -1;
    viewstate_cleanup(&n->vs);
    formsauth_cleanup(&n->fa);
    machinekey_cleanup(&n->mk);
    n->mk = mk;
    n->fa = fa;
    n->vs = vs;
    machinekey_fingerprint(&n->mk, &n->fp);
    snprintf(n->error_headers, sizeof n->error_headers, "X-Farm-Node: %s\r\nX-Farm-Key: %s\r\n",
             n->cfg.name, n->fp.text);
    return 0;
}

int64_t node_now(const struct node *n)
{
    return (n->cfg.clock_pinned ? n->cfg.clock : ticks_now()) + n->clock_offset;
}
