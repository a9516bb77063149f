#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runinfo.h"

/* A fresh run directory holding farm.json with this text (NULL: no farm.json). */
static char *make_run_dir(const char *farm_json)
{
    char tmpl[] = "/tmp/runinfo-test.XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    if (farm_json != NULL) {
        char path[256];
        snprintf(path, sizeof path, "%s/farm.json", dir);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(farm_json, f);
        fclose(f);
    }
    return strdup(dir);
}

static void remove_run_dir(char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/farm.json", dir);
    unlink(path);
    rmdir(dir);
    free(dir);
}

static void test_runinfo_dir_order(void **state)
{
    (void)state;
    struct errbuf err = {{0}};
    unsetenv("FARM_RUN_DIR");
    assert_string_equal(runinfo_dir(NULL, &err), ".farm");
    setenv("FARM_RUN_DIR", "", 1);
    assert_string_equal(runinfo_dir(NULL, &err), ".farm");
    setenv("FARM_RUN_DIR", "/srv/farm", 1);
    assert_string_equal(runinfo_dir(NULL, &err), "/srv/farm");
    assert_string_equal(runinfo_dir("mine", &err), "mine");
    unsetenv("FARM_RUN_DIR");
}

/* --run-dir "" (say, "$DIR" with DIR unset) is refused, not taken for $FARM_RUN_DIR or
 * ./.farm, where another farm may run. */
static void test_runinfo_dir_refuses_empty_option(void **state)
{
    (void)state;
    struct errbuf err = {{0}};
    setenv("FARM_RUN_DIR", "/srv/farm", 1);
    assert_null(runinfo_dir("", &err));
    assert_non_null(strstr(err.msg, "--run-dir: empty"));
    unsetenv("FARM_RUN_DIR");
    err.msg[0] = '\0';
    assert_null(runinfo_dir("", &err));
    assert_non_null(strstr(err.msg, "--run-dir: empty"));
}

static void test_runinfo_load_reads_lb(void **state)
{
    (void)state;
    char *dir = make_run_dir("{\"lb\": {\"pid\": 1, \"listen\": \"127.0.0.1:40001\",\n"
                             " \"url\": \"http://127.0.0.1:40001/\"}, \"nodes\": {}}\n");
    struct runinfo ri;
    struct errbuf err = {{0}};
    assert_int_equal(runinfo_load(&ri, dir, &err), 0);
    assert_string_equal(ri.lb_url, "http://127.0.0.1:40001/");
    assert_string_equal(ri.lb_listen, "127.0.0.1:40001");
    assert_string_equal(ri.dir, dir);
    char path[512], expect[512];
    assert_int_equal(runinfo_path(&ri, "jars/alice.txt", path, sizeof path), 0);
    snprintf(expect, sizeof expect, "%s/jars/alice.txt", dir);
    assert_string_equal(path, expect);
    runinfo_cleanup(&ri);
    remove_run_dir(dir);
}

static void test_runinfo_load_builds_url_from_listen(void **state)
{
    (void)state;
    char *dir = make_run_dir("{\"lb\": {\"listen\": \"127.0.0.1:5\"}}");
    struct runinfo ri;
    struct errbuf err = {{0}};
    assert_int_equal(runinfo_load(&ri, dir, &err), 0);
    assert_string_equal(ri.lb_url, "http://127.0.0.1:5/");
    runinfo_cleanup(&ri);
    remove_run_dir(dir);
}

static void test_runinfo_load_errors(void **state)
{
    (void)state;
    struct runinfo ri;
    struct errbuf err = {{0}};
    char want[512];

    char *dir = make_run_dir(NULL);
    assert_int_equal(runinfo_load(&ri, dir, &err), -1);
    snprintf(want, sizeof want, "no farm running in %s (farmctl up FILE)", dir);
    assert_string_equal(err.msg, want);
    remove_run_dir(dir);

    dir = make_run_dir("{\"lb\":\n {\"url\": }\n");
    assert_int_equal(runinfo_load(&ri, dir, &err), -1);
    snprintf(want, sizeof want, "%s/farm.json:2:", dir);
    assert_memory_equal(err.msg, want, strlen(want)); /* file:line: jansson's text */
    remove_run_dir(dir);

    dir = make_run_dir("{\"nodes\": {}}");
    assert_int_equal(runinfo_load(&ri, dir, &err), -1);
    snprintf(want, sizeof want, "%s/farm.json: no lb.url or lb.listen", dir);
    assert_string_equal(err.msg, want);
    assert_null(ri.lb_url);
    remove_run_dir(dir);
}

static void test_runinfo_url_joins_with_one_slash(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(runinfo_url("http://h:1/", "/whoami", out, sizeof out), 0);
    assert_string_equal(out, "http://h:1/whoami");
    assert_int_equal(runinfo_url("http://h:1", "cart/add?item=x", out, sizeof out), 0);
    assert_string_equal(out, "http://h:1/cart/add?item=x");
    assert_int_equal(runinfo_url("http://h:1//", "//a", out, sizeof out), 0);
    assert_string_equal(out, "http://h:1/a");
    assert_int_equal(runinfo_url("http://h:1", "/x", out, 10), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runinfo_dir_order),
        cmocka_unit_test(test_runinfo_dir_refuses_empty_option),
        cmocka_unit_test(test_runinfo_load_reads_lb),
        cmocka_unit_test(test_runinfo_load_builds_url_from_listen),
        cmocka_unit_test(test_runinfo_load_errors),
        cmocka_unit_test(test_runinfo_url_joins_with_one_slash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
