/* driver: a main() for the fuzz targets when libFuzzer is not linked in (gcc, CI, ctest).
 *
 *   fuzz_<name> [file-or-directory ...]
 *
 * Runs the target over every corpus file given (directories: their regular files, in name
 * order), then over pseudo-random mutations of the corpus — bit flips, byte changes,
 * truncation, insertion, deletion, splicing two entries — from a fixed seed, until a count or
 * a time limit is reached. Prints "fuzz_<name>: N inputs, 0 crashes" and exits 0. A crash is
 * an ASan/UBSan report or an abort() from a target's invariant; the input that caused it is
 * written to <FUZZ_ARTIFACT_DIR>/crash-<name> first, so it can be replayed with
 * "FUZZ_RUNS=0 fuzz_<name> crash-<name>" (or added to the corpus once fixed).
 *
 * Environment (all optional):
 *   FUZZ_SECONDS       stop mutating after this many seconds (default 5)
 *   FUZZ_RUNS          stop after this many mutated inputs (default 1000000; 0: corpus only)
 *   FUZZ_SEED          mutation seed (default 20250101); same seed, same inputs
 *   FUZZ_MAX_LEN       longest mutated input (default 4096)
 *   FUZZ_ARTIFACT_DIR  where crash-<name> goes (default: the current directory) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

/* Set by the sanitizer runtimes when they are linked in; NULL otherwise. Lets the driver save
 * the input before ASan/UBSan end the process. */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

#define DRIVER_CORPUS_FILE_MAX (1024 * 1024)

struct driver_input {
    uint8_t *data;
    size_t len;
};

struct driver_corpus {
    struct driver_input *items;
    size_t count, cap;
};

/* The input being run, for the crash handlers. */
static const uint8_t *volatile driver_cur;
static volatile size_t driver_cur_len;
static char driver_artifact[4096];
static volatile sig_atomic_t driver_saved;

/* ---- options -------------------------------------------------------------------------- */

static unsigned long long driver_env(const char *name, unsigned long long dflt)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return dflt;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0') {
        fprintf(stderr, "driver: %s=%s is not a number; using %llu\n", name, s, dflt);
        return dflt;
    }
    return v;
}

/* ---- crash artifacts -------------------------------------------------------------------- */

/* Async-signal-safe: open, write, close only. */
static void driver_save_input(void)
{
    if (driver_saved || driver_artifact[0] == '\0')
        return;
    driver_saved = 1;
    int fd = open(driver_artifact, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return;
    const uint8_t *p = driver_cur;
    size_t left = p != NULL ? driver_cur_len : 0;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
    close(fd);
    static const char msg[] = "driver: the crashing input is in ";
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0 ||
        write(STDERR_FILENO, driver_artifact, strlen(driver_artifact)) < 0 ||
        write(STDERR_FILENO, "\n", 1) < 0)
        return;
}

static void driver_signal_cb(int sig)
{
    driver_save_input();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void driver_install_handlers(void)
{
    /* Under a sanitizer its own SEGV handler reports and then calls the death callback;
     * replacing it would lose the report. abort() is ours to catch either way. */
    bool sanitized = __sanitizer_set_death_callback != NULL;
    if (sanitized)
        __sanitizer_set_death_callback(driver_save_input);
    static const int own[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        if (sanitized && own[i] != SIGABRT)
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = driver_signal_cb;
        sigemptyset(&sa.sa_mask);
        sigaction(own[i], &sa, NULL);
    }
}

/* Run the target on one input, from an exactly sized heap copy as libFuzzer does, so that a
 * read past the end is an ASan report rather than luck. */
static void driver_run(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL) {
        fprintf(stderr, "driver: out of memory\n");
        exit(2);
    }
    if (len > 0)
        memcpy(copy, data, len);
    driver_cur_len = len;
    driver_cur = copy;
    LLVMFuzzerTestOneInput(copy, len);
    driver_cur = NULL;
    free(copy);
}

/* ---- corpus ----------------------------------------------------------------------------- */

static void driver_corpus_add(struct driver_corpus *c, uint8_t *data, size_t len)
{
    if (c->count == c->cap) {
        size_t ncap = c->cap ? 2 * c->cap : 64;
        struct driver_input *n = realloc(c->items, ncap * sizeof *n);
        if (n == NULL) {
            fprintf(stderr, "driver: out of memory\n");
            exit(2);
        }
        c->items = n;
        c->cap = ncap;
    }
    c->items[c->count].data = data;
    c->items[c->count].len = len;
    c->count++;
}

/* Returns 0, or -1 (message printed) when the file cannot be read. */
static int driver_load_file(struct driver_corpus *c, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc(DRIVER_CORPUS_FILE_MAX);
    if (buf == NULL) {
        fclose(f);
        fprintf(stderr, "driver: out of memory\n");
        return -1;
    }
    size_t n = fread(buf, 1, DRIVER_CORPUS_FILE_MAX, f);
    int err = ferror(f);
    fclose(f);
    if (err) {
        fprintf(stderr, "driver: %s: read error\n", path);
        free(buf);
        return -1;
    }
    uint8_t *data = malloc(n > 0 ? n : 1);
    if (data == NULL) {
        free(buf);
        return -1;
    }
    memcpy(data, buf, n);
    free(buf);
    driver_corpus_add(c, data, n);
    return 0;
}

static int driver_name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int driver_load_path(struct driver_corpus *c, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return driver_load_file(c, path);

    DIR *d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        char *full = malloc(len);
        if (full == NULL) {
            rc = -1;
            break;
        }
        snprintf(full, len, "%s/%s", path, e->d_name);
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(full);
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **nn = realloc(names, cap * sizeof *nn);
            if (nn == NULL) {
                free(full);
                rc = -1;
                break;
            }
            names = nn;
        }
        names[n++] = full;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof *names, driver_name_cmp);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && driver_load_file(c, names[i]) != 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

/* ---- mutation --------------------------------------------------------------------------- */

/* xorshift64*: small, fast, and the same sequence everywhere for a given seed. */
static uint64_t driver_rng_state;

static uint64_t driver_rand(void)
{
    uint64_t x = driver_rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    driver_rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform-enough in [0, n); n > 0. */
static size_t driver_below(size_t n)
{
    return (size_t)(driver_rand() % n);
}

/* Bytes that parsers branch on: bounds, separators, the framing bytes of the formats. */
static const uint8_t driver_interesting[] = {
    0x00, 0x01, 0x02, 0x7F, 0x80, 0xFE, 0xFF, '0', '9', 'A', 'F', 'a', 'f', 'Z',  'T',  ':',
    '-',  '+',  '.',  '=',  '_',  '/',  ',',  '<', '>', '"', '&', ';', ' ', '\n', 0xD8, 0xDC,
};

/* Apply one random mutation to buf[0..*len) (capacity max). */
static void driver_mutate_once(uint8_t *buf, size_t *len, size_t max, const struct driver_corpus *c)
{
    size_t n = *len;
    switch (driver_below(10)) {
    case 0: /* flip a bit */
        if (n > 0)
            buf[driver_below(n)] ^= (uint8_t)(1u << driver_below(8));
        break;
    case 1: /* random byte */
        if (n > 0)
            buf[driver_below(n)] = (uint8_t)driver_rand();
        break;
    case 2: /* interesting byte */
        if (n > 0)
            buf[driver_below(n)] = driver_interesting[driver_below(sizeof driver_interesting)];
        break;
    case 3: /* small arithmetic on a byte */
        if (n > 0)
            buf[driver_below(n)] += (uint8_t)(driver_below(35) - 17);
        break;
    case 4: /* truncate */
        if (n > 0)
            *len = driver_below(n);
        break;
    case 5: { /* insert 1..8 random or interesting bytes */
        size_t k = 1 + driver_below(8);
        if (n + k > max)
            break;
        size_t at = driver_below(n + 1);
        memmove(buf + at + k, buf + at, n - at);
        for (size_t i = 0; i < k; i++)
            buf[at + i] = driver_below(2)
                              ? (uint8_t)driver_rand()
                              : driver_interesting[driver_below(sizeof driver_interesting)];
        *len = n + k;
        break;
    }
    case 6: { /* delete a range */
        if (n == 0)
            break;
        size_t at = driver_below(n);
        size_t k = 1 + driver_below(n - at < 16 ? n - at : 16);
        memmove(buf + at, buf + at + k, n - at - k);
        *len = n - k;
        break;
    }
    case 7: { /* copy a chunk of the input over another place */
        if (n < 2)
            break;
        size_t from = driver_below(n), to = driver_below(n);
        size_t k = 1 + driver_below(n - (from > to ? from : to));
        memmove(buf + to, buf + from, k);
        break;
    }
    case 8: { /* splice: our prefix, another entry's suffix */
        if (c->count == 0)
            break;
        const struct driver_input *o = &c->items[driver_below(c->count)];
        size_t cut = driver_below(n + 1);
        size_t from = driver_below(o->len + 1);
        size_t k = o->len - from;
        if (cut + k > max)
            k = max - cut;
        memcpy(buf + cut, o->data + from, k);
        *len = cut + k;
        break;
    }
    default: { /* insert a chunk of another entry */
        if (c->count == 0)
            break;
        const struct driver_input *o = &c->items[driver_below(c->count)];
        if (o->len == 0)
            break;
        size_t from = driver_below(o->len);
        size_t k = 1 + driver_below(o->len - from < 64 ? o->len - from : 64);
        if (n + k > max)
            break;
        size_t at = driver_below(n + 1);
        memmove(buf + at + k, buf + at, n - at);
        memcpy(buf + at, o->data + from, k);
        *len = n + k;
        break;
    }
    }
}

static double driver_elapsed(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

int main(int argc, char **argv)
{
    const char *name = strrchr(argv[0], '/');
    name = name != NULL ? name + 1 : argv[0];
    unsigned long long seconds = driver_env("FUZZ_SECONDS", 5);
    unsigned long long runs = driver_env("FUZZ_RUNS", 1000000);
    unsigned long long seed = driver_env("FUZZ_SEED", 20250101);
    size_t max_len = (size_t)driver_env("FUZZ_MAX_LEN", 4096);
    const char *dir = getenv("FUZZ_ARTIFACT_DIR");
    if (dir == NULL || *dir == '\0')
        dir = ".";
    if (max_len == 0)
        max_len = 1;
    snprintf(driver_artifact, sizeof driver_artifact, "%s/crash-%s", dir, name);
    driver_install_handlers();

    struct driver_corpus c = {0};
    for (int i = 1; i < argc; i++)
        if (driver_load_path(&c, argv[i]) != 0)
            return 2;

    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    unsigned long long total = 0;
    for (size_t i = 0; i < c.count; i++) {
        driver_run(c.items[i].data, c.items[i].len);
        total++;
    }

    /* Mutations: start from a corpus entry (or, one time in four, from the previous
     * mutant, so that changes stack up), apply one to four mutations. */
    driver_rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
    uint8_t *buf = malloc(max_len);
    size_t len = 0;
    if (buf == NULL) {
        fprintf(stderr, "driver: out of memory\n");
        return 2;
    }
    unsigned long long mutated = 0;
    while (mutated < runs && driver_elapsed(&start) < (double)seconds) {
        if (c.count > 0 && (mutated == 0 || driver_below(4) != 0)) {
            const struct driver_input *base = &c.items[driver_below(c.count)];
            len = base->len < max_len ? base->len : max_len;
            memcpy(buf, base->data, len);
        }
        for (size_t k = 1 + driver_below(4); k > 0; k--)
            driver_mutate_once(buf, &len, max_len, &c);
        driver_run(buf, len);
        mutated++;
        total++;
    }

    printf("%s: %llu inputs, 0 crashes (%zu corpus files, %llu mutations, seed %llu, %.1f s)\n",
           name, total, c.count, mutated, seed, driver_elapsed(&start));
    free(buf);
    for (size_t i = 0; i < c.count; i++)
        free(c.items[i].data);
    free(c.items);
    return 0;
}
