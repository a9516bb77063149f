/* testutil: shared helpers for the cmocka unit tests. Include after cmocka.h's prerequisites. */
#ifndef FARM_TESTUTIL_H
#define FARM_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

/* The vectors array of tests/data/aspnet-vectors.json (cached; do not free). */
json_t *testutil_vectors(void);
/* The vector with this id; fails the test if absent. Borrowed. */
json_t *testutil_vector(const char *id);
/* A string member of a JSON object; fails the test if absent. Borrowed. */
const char *testutil_str(json_t *obj, const char *key);
/* Hex to bytes into a malloc'd buffer (free it); fails the test on bad hex. */
uint8_t *testutil_unhex(const char *hex, size_t *len);
/* Path under tests/data into buf. */
const char *testutil_data_path(const char *name, char *buf, size_t cap);
/* Write text to a fresh temporary file; returns its malloc'd path (unlink and free it). */
char *testutil_write_temp(const char *text, const char *suffix);

#endif
