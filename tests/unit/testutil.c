#define _DEFAULT_SOURCE /* mkstemps */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hex.h"

static json_t *vectors_root;

json_t *testutil_vectors(void)
{
    if (vectors_root == NULL) {
        char path[1024];
        json_error_t jerr;
        testutil_data_path("aspnet-vectors.json", path, sizeof path);
        vectors_root = json_load_file(path, 0, &jerr);
        if (vectors_root == NULL)
            fail_msg("cannot load %s: %s line %d", path, jerr.text, jerr.line);
    }
    json_t *v = json_object_get(vectors_root, "vectors");
    assert_non_null(v);
    return v;
}

json_t *testutil_vector(const char *id)
{
    json_t *arr = testutil_vectors();
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "id")), id) == 0)
            return v;
    }
    fail_msg("no vector %s", id);
    return NULL;
}

const char *testutil_str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (s == NULL)
        fail_msg("JSON member %s missing", key);
    return s;
}

uint8_t *testutil_unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    uint8_t *out = malloc(n / 2 + 1);
    assert_non_null(out);
    long got = n == 0 ? 0 : hex_decode(hex, n, out, n / 2 + 1);
    if (got < 0)
        fail_msg("bad hex in test data: %.40s", hex);
    *len = (size_t)got;
    return out;
}

const char *testutil_data_path(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", FARM_TEST_DATA, name);
    return buf;
}

char *testutil_write_temp(const char *text, const char *suffix)
{
    char *path = malloc(256);
    assert_non_null(path);
    snprintf(path, 256, "/tmp/farmtest-XXXXXX%s", suffix ? suffix : "");
    int fd = mkstemps(path, suffix ? (int)strlen(suffix) : 0);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}
