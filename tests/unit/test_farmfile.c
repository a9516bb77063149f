/* test_farmfile: farm files parse into what farmctl up starts, and every mistake is named
 * with its file and line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "farmfile.h"

/* Relative machine-key paths resolve against the farm file's folder: tests/data, which
 * holds web.config. */
#define FARM_PATH  FARM_TEST_DATA "/test.ini"
#define WEB_CONFIG FARM_TEST_DATA "/web.config"

static struct farmfile *parse_ok(const char *text)
{
    struct errbuf err = {{0}};
    struct farmfile *ff = farmfile_parse(text, FARM_PATH, &err);
    if (ff == NULL)
        fail_msg("unexpected error: %s", err.msg);
    return ff;
}

/* The text fails with exactly "FARM_PATH:line: " followed by a message containing want. */
static void expect_error(const char *text, int line, const char *want)
{
    struct errbuf err = {{0}};
    struct farmfile *ff = farmfile_parse(text, FARM_PATH, &err);
    if (ff != NULL) {
        farmfile_free(ff);
        fail_msg("expected an error at line %d (%s), parsed fine:\n%s", line, want, text);
    }
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s:%d: ", FARM_PATH, line);
    if (strncmp(err.msg, prefix, strlen(prefix)) != 0 || strstr(err.msg, want) == NULL)
        fail_msg("want '%s...%s', got '%s'", prefix, want, err.msg);
}

static void test_farmfile_one_node_takes_the_defaults(void **state)
{
    (void)state;
    struct farmfile *ff = parse_ok("[node web1]\nmachine-key = web.config\n");
    assert_string_equal(ff->lb_listen, "127.0.0.1:0");
    assert_string_equal(ff->lb_admin, "127.0.0.1:0");
    assert_int_equal(ff->n_lb, 0);
    assert_false(ff->stateserver);
    assert_int_equal(ff->n_nodes, 1);
    const struct farmfile_node *n = &ff->nodes[0];
    assert_string_equal(n->name, "web1");
    assert_int_equal(n->line, 1);
    assert_string_equal(n->machine_key, WEB_CONFIG);
    assert_int_equal(n->machine_key_line, 2);
    assert_string_equal(n->listen, "127.0.0.1:0");
    assert_int_equal(n->session, FARMFILE_SESSION_OFF);
    assert_int_equal(n->weight, 1);
    assert_string_equal(n->app_path, "");
    assert_false(n->sliding);
    farmfile_free(ff);
}

static void test_farmfile_every_setting_lands_where_it_belongs(void **state)
{
    (void)state;
    struct farmfile *ff = parse_ok("; a full farm\r\n"
                                   "# comments of both kinds\n"
                                   "[farm]\n"
                                   "listen = 127.0.0.1:8080   ; inline comment\n"
                                   "admin = 127.0.0.1:8081\n"
                                   "dispatch = connection\n"
                                   "affinity = cookie\n"
                                   "health-path =\n"
                                   "served-by = yes\n"
                                   "no-passive = off\n"
                                   "session-cookie = .ASPXAUTH\n"
                                   "session-cookie = ASP.NET_SessionId\n"
                                   "timeout-server = 1m30s\n"
                                   "\n"
                                   "[stateserver]\n"
                                   "listen = 127.0.0.1:42424\n"
                                   "[ node  web-2.b_c ]\n"
                                   "machine-key = " WEB_CONFIG "\n"
                                   "app-path = /LM/W3SVC/2/ROOT\n"
                                   "session = stateserver\n"
                                   "session-timeout = 5m\n"
                                   "ticket-timeout = 10m\n"
                                   "sliding = true\n"
                                   "fault = latency=200ms:50ms,error=0.3:500\n"
                                   "weight = 0\n"
                                   "listen = 127.0.0.1:9001\n"
                                   "clock = 2026-03-01T12:00:00Z\n"
                                   "seed = 42\n");
    assert_string_equal(ff->lb_listen, "127.0.0.1:8080");
    assert_string_equal(ff->lb_admin, "127.0.0.1:8081");
    /* The other [farm] settings, in file order, flags as yes/no. */
    static const char *const want[][2] = {
        {"dispatch", "connection"},
        {"affinity", "cookie"},
        {"health-path", ""},
        {"served-by", "yes"},
        {"no-passive", "no"},
        {"session-cookie", ".ASPXAUTH"},
        {"session-cookie", "ASP.NET_SessionId"},
        {"timeout-server", "1m30s"},
    };
    assert_int_equal(ff->n_lb, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < ff->n_lb; i++) {
        assert_string_equal(ff->lb[i].name, want[i][0]);
        assert_string_equal(ff->lb[i].value, want[i][1]);
    }
    assert_true(ff->lb[3].flag);
    assert_false(ff->lb[0].flag);
    assert_int_equal(ff->lb[0].line, 6);
    assert_true(ff->stateserver);
    assert_string_equal(ff->stateserver_listen, "127.0.0.1:42424");
    assert_int_equal(ff->n_nodes, 1);
    const struct farmfile_node *n = farmfile_node(ff, "web-2.b_c");
    assert_non_null(n);
    assert_int_equal(n->line, 17);
    assert_string_equal(n->machine_key, WEB_CONFIG); /* absolute: taken as it is */
    assert_string_equal(n->app_path, "/LM/W3SVC/2/ROOT");
    assert_int_equal(n->session, FARMFILE_SESSION_STATESERVER);
    assert_int_equal(n->session_line, 20);
    assert_string_equal(n->session_timeout, "5m");
    assert_string_equal(n->ticket_timeout, "10m");
    assert_true(n->sliding);
    assert_string_equal(n->fault, "latency=200ms:50ms,error=0.3:500");
    assert_int_equal(n->weight, 0);
    assert_string_equal(n->listen, "127.0.0.1:9001");
    assert_string_equal(n->clock, "2026-03-01T12:00:00Z");
    assert_string_equal(n->seed, "42");
    assert_null(farmfile_node(ff, "web1"));
    farmfile_free(ff);
}

static void test_farmfile_stateserver_may_come_after_its_nodes(void **state)
{
    (void)state;
    struct farmfile *ff = parse_ok("[node web1]\nmachine-key = web.config\nsession = stateserver\n"
                                   "[stateserver]\n");
    assert_true(ff->stateserver);
    assert_string_equal(ff->stateserver_listen, "127.0.0.1:0");
    farmfile_free(ff);
}

static void test_farmfile_mistakes_name_file_and_line(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int line;
        const char *want;
    } cases[] = {
        {"[farm]\nlisten = 127.0.0.1:0\nbogus = 1\n", 3, "unknown setting 'bogus' in [farm]"},
        {"[node web1]\nmachine-key = web.config\ncolour = red\n", 3,
         "unknown setting 'colour' in [node]"},
        {"[stateserver]\nadmin = 127.0.0.1:0\n", 2, "unknown setting 'admin' in [stateserver]"},
        {"[farms]\n", 1, "unknown section [farms]"},
        {"\n\n[node]\n", 3, "[node] needs a name"},
        {"[node web/1]\n", 1, "node name 'web/1'"},
        {"[node stateserver]\n", 1, "not lb, stateserver or access"},
        {"[node web1]\nmachine-key = web.config\n\n[node web1]\nmachine-key = web.config\n", 4,
         "node 'web1' given twice (first on line 1)"},
        {"[farm]\n[stateserver]\n[farm]\n", 3, "[farm] given twice (first on line 1)"},
        {"[farm]\n\n[node web1]\nsession = inproc\n", 3, "node 'web1' has no machine-key"},
        {"[node web1]\nmachine-key = web.config\nsession = stateserver\n", 3,
         "session = stateserver, but the farm has no [stateserver] section"},
        {"[node web1]\nmachine-key = no-such.config\n", 2, "machine-key: cannot read"},
        {"[node web1]\nmachine-key = web.config\nmachine-key = web.config\n", 3,
         "machine-key given twice in this section (first on line 2)"},
        {"listen = 127.0.0.1:0\n", 1, "'listen' outside a section"},
        {"[farm]\njust words\n", 2, "not a 'key = value' line"},
        {"[farm\n", 1, "a section header is [name]"},
        {"[farm]\nlisten = localhost\n", 2, "listen: HOST:PORT"},
        {"[farm]\nadmin = 127.0.0.1:70000\n", 2, "admin: HOST:PORT"},
        {"[farm]\ndispatch = random\n", 2, "dispatch: one of request,connection; not 'random'"},
        {"[farm]\naffinity = sticky\n", 2, "affinity: one of none,single,network,cookie"},
        {"[farm]\nhealth-interval = soon\n", 2, "health-interval: not a duration"},
        {"[farm]\nhealth-interval = 0\n", 2, "health-interval: must be more than 0"},
        {"[farm]\nmax-sessions = 0\n", 2, "max-sessions: a number from 1 to 10000000"},
        {"[farm]\nfall = 0\n", 2, "fall: a number from 1 to 1000"},
        {"[farm]\nretries = -1\n", 2, "retries: a number from 0 to 16"},
        {"[farm]\nserved-by = maybe\n", 2, "served-by: yes or no"},
        {"[farm]\ncookie-name =\n", 2, "cookie-name: a value is required"},
        {"[farm]\nnode = web1=127.0.0.1:1\n", 2, "write a [node NAME] section"},
        {"[farm]\naccess-log = /tmp/x\n", 2, "farmctl writes lb's access log"},
        {"[farm]\nadmin-token = s3cret\n", 2, "not in farm files"},
        {"[node web1]\nmachine-key = web.config\nsession = sql\n", 3,
         "session: one of off,inproc,stateserver"},
        {"[node web1]\nmachine-key = web.config\nweight = 257\n", 3,
         "weight: a number from 0 to 256"},
        {"[node web1]\nmachine-key = web.config\nclock = yesterday\n", 3, "clock: an ISO 8601"},
        {"[node web1]\nmachine-key = web.config\nsliding = sometimes\n", 3, "sliding: yes or no"},
        {"[node a]\nmachine-key = web.config\nlisten = 127.0.0.1:9000\n"
         "[node b]\nmachine-key = web.config\nlisten = 127.0.0.1:9000\n",
         4, "listens on 127.0.0.1:9000 like 'a'"},
        {"[farm]\nlisten = 127.0.0.1:0\x01\n", 2, "a control character"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(cases[i].text, cases[i].line, cases[i].want);
}

/* A farm needs a node: an empty file, or one with [farm] or [stateserver] alone, is refused
 * with the file's name, not started as a farm that answers every request with 503. */
static void test_farmfile_a_farm_without_nodes_is_refused(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "",
        "; comments only\n\n",
        "[farm]\nlisten = 127.0.0.1:0\n",
        "[farm]\n[stateserver]\nlisten = 127.0.0.1:0\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct errbuf err = {{0}};
        struct farmfile *ff = farmfile_parse(texts[i], FARM_PATH, &err);
        if (ff != NULL) {
            farmfile_free(ff);
            fail_msg("a farm with no [node] section parsed fine: '%s'", texts[i]);
        }
        if (strcmp(err.msg, FARM_PATH ": no [node NAME] section: a farm needs at least one "
                                      "node") != 0)
            fail_msg("want the file named and the [node] section asked for, got '%s'", err.msg);
    }
}

static void test_farmfile_long_lines_are_refused_not_split(void **state)
{
    (void)state;
    char text[600];
    snprintf(text, sizeof text, "[node web1]\nmachine-key = web.config\napp-path = /%0250d\n", 0);
    expect_error(text, 3, "line too long");
}

static void test_farmfile_load_reads_a_file_and_names_it(void **state)
{
    (void)state;
    struct errbuf err = {{0}};
    assert_null(farmfile_load(FARM_TEST_DATA "/no-such-farm.ini", &err));
    assert_non_null(strstr(err.msg, "no-such-farm.ini: cannot read"));

    char *path =
        testutil_write_temp("[node web1]\nmachine-key = " WEB_CONFIG "\nbad line\n", ".ini");
    struct farmfile *ff = farmfile_load(path, &err);
    assert_null(ff);
    char want[600];
    snprintf(want, sizeof want, "%s:3: ", path);
    assert_memory_equal(err.msg, want, strlen(want));
    unlink(path);
    free(path);
}

/* The example farms in farms/ parse, and say what their comments promise. */
static void test_farmfile_example_farms_parse(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        bool stateserver;
        const char *odd_node; /* the node whose key file or app path differs */
        const char *odd_key;
        const char *odd_app;
    } farms[] = {
        {"healthy.ini", false, NULL, NULL, NULL},
        {"autogenerate.ini", false, "web3", "keys/autogenerate.config", NULL},
        {"decryption-mismatch.ini", false, "web3", "keys/other-decryption.config", NULL},
        {"stateserver.ini", true, NULL, NULL, NULL},
        {"app-path-mismatch.ini", true, "web3", NULL, "/LM/W3SVC/2/ROOT"},
    };
    for (size_t i = 0; i < sizeof farms / sizeof farms[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/farms/%s", FARM_SOURCE_DIR, farms[i].file);
        struct errbuf err = {{0}};
        struct farmfile *ff = farmfile_load(path, &err);
        if (ff == NULL)
            fail_msg("%s", err.msg);
        assert_int_equal(ff->n_nodes, 3);
        assert_int_equal(ff->stateserver, farms[i].stateserver);
        for (size_t j = 0; j < ff->n_nodes; j++) {
            const struct farmfile_node *n = &ff->nodes[j];
            bool odd = farms[i].odd_node && strcmp(n->name, farms[i].odd_node) == 0;
            const char *key = odd && farms[i].odd_key ? farms[i].odd_key : "keys/farm.config";
            size_t kl = strlen(key), ml = strlen(n->machine_key);
            if (ml < kl || strcmp(n->machine_key + ml - kl, key) != 0)
                fail_msg("%s: %s: machine-key %s, want .../%s", farms[i].file, n->name,
                         n->machine_key, key);
            if (odd && farms[i].odd_app)
                assert_string_equal(n->app_path, farms[i].odd_app);
            else if (n->app_path[0])
                assert_string_equal(n->app_path, "/LM/W3SVC/1/ROOT");
            assert_int_equal(n->session, farms[i].stateserver ? FARMFILE_SESSION_STATESERVER
                                                              : FARMFILE_SESSION_INPROC);
        }
        farmfile_free(ff);
    }
}

static void test_farmfile_addresses_and_names(void **state)
{
    (void)state;
    assert_true(farmfile_addr_is_valid("127.0.0.1:0"));
    assert_true(farmfile_addr_is_valid("[::1]:65535"));
    assert_false(farmfile_addr_is_valid("127.0.0.1"));
    assert_false(farmfile_addr_is_valid(":80"));
    assert_false(farmfile_addr_is_valid("127.0.0.1:65536"));
    assert_false(farmfile_addr_is_valid("127.0.0.1:8o"));
    assert_false(farmfile_addr_is_valid("[::1:80"));
    assert_true(farmfile_name_is_valid("web1"));
    assert_true(farmfile_name_is_valid("A.b_c-9"));
    assert_false(farmfile_name_is_valid(""));
    assert_false(farmfile_name_is_valid("web 1"));
    assert_false(farmfile_name_is_valid("0123456789012345678901234567890123"));
    assert_false(farmfile_name_is_valid("lb"));
    assert_false(farmfile_name_is_valid("access"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_farmfile_one_node_takes_the_defaults),
        cmocka_unit_test(test_farmfile_every_setting_lands_where_it_belongs),
        cmocka_unit_test(test_farmfile_stateserver_may_come_after_its_nodes),
        cmocka_unit_test(test_farmfile_mistakes_name_file_and_line),
        cmocka_unit_test(test_farmfile_a_farm_without_nodes_is_refused),
        cmocka_unit_test(test_farmfile_long_lines_are_refused_not_split),
        cmocka_unit_test(test_farmfile_load_reads_a_file_and_names_it),
        cmocka_unit_test(test_farmfile_example_farms_parse),
        cmocka_unit_test(test_farmfile_addresses_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
