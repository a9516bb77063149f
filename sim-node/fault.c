#include "fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ticks.h"

void faults_init(struct faults *f, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    f->error_status = 500;
    f->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
}

double faults_random(struct faults *f)
{
    uint64_t x = f->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    f->rng = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static int parse_seconds(const char *s, double *out)
{
    int64_t t;
    if (ticks_parse_duration(s, &t) != 0)
        return -1;
    *out = (double)t / TICKS_PER_SECOND;
    return 0;
}

static int parse_rate(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || v < 0 || v > 1)
        return -1;
    *out = v;
    return 0;
}

static int apply_one(struct faults *f, char *item, struct errbuf *err)
{
    char *val = strchr(item, '=');
    if (val)
        *val++ = '\0';
    if (strcmp(item, "clear") == 0 && !val) {
        uint64_t rng = f->rng;
        faults_init(f, rng);
        return 0;
    }
    if (strcmp(item, "latency") == 0 && val) {
        char *jit = strchr(val, ':');
        if (jit)
            *jit++ = '\0';
        if (parse_seconds(val, &f->latency) != 0 || (jit && parse_seconds(jit, &f->jitter) != 0))
            goto bad;
        if (!jit)
            f->jitter = 0;
        return 0;
    }
    if (strcmp(item, "error") == 0 && val) {
        char *st = strchr(val, ':');
        if (st)
            *st++ = '\0';
        if (parse_rate(val, &f->error_rate) != 0)
            goto bad;
        f->error_status = 500;
        if (st) {
            char *end;
            long s = strtol(st, &end, 10);
            if (*end || s < 400 || s > 599)
                goto bad;
            f->error_status = (int)s;
        }
        return 0;
    }
    if (strcmp(item, "hang") == 0) {
        f->hang_rate = 1;
        return val && parse_rate(val, &f->hang_rate) != 0
                   ? (errbuf_set(err, "hang=P: P from 0 to 1"), -1)
                   : 0;
    }
    if (strcmp(item, "reset") == 0) {
        f->reset_rate = 1;
        return val && parse_rate(val, &f->reset_rate) != 0
                   ? (errbuf_set(err, "reset=P: P from 0 to 1"), -1)
                   : 0;
    }
    if (strcmp(item, "slow") == 0 && val) {
        char *end;
        long v = strtol(val, &end, 10);
        if (*end || v <= 0)
            goto bad;
        f->slow_bps = (size_t)v;
        return 0;
    }
    if (strcmp(item, "crash") == 0 && !val) {
        f->crash = true;
        return 0;
    }
    if (strcmp(item, "lying-health") == 0 && !val) {
        f->lying_health = true;
        return 0;
    }
    if (strcmp(item, "health-down") == 0 && !val) {
        f->health_down = true;
        return 0;
    }
bad:
    errbuf_set(err,
               "bad fault '%s%s%s': use latency=200ms[:50ms], error=0.3[:500], hang[=P], "
               "reset[=P], slow=BYTES, crash, lying-health, health-down or clear",
               item, val ? "=" : "", val ? val : "");
    return -1;
}

int faults_apply(struct faults *f, const char *spec, struct errbuf *err)
{
    char copy[512];
    if (strlen(spec) >= sizeof copy) {
        errbuf_set(err, "fault spec too long");
        return -1;
    }
    snprintf(copy, sizeof copy, "%s", spec);
    struct faults next = *f;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save))
        if (apply_one(&next, item, err) != 0)
            return -1;
    *f = next;
    return 0;
}

bool faults_any(const struct faults *f)
{
    return f->latency > 0 || f->error_rate > 0 || f->hang_rate > 0 || f->reset_rate > 0 ||
           f->slow_bps > 0 || f->crash || f->lying_health || f->health_down;
}

void faults_describe(const struct faults *f, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
#define ADD(...) n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, __VA_ARGS__)
    if (f->latency > 0 || f->jitter > 0)
        ADD("%slatency=%.0fms:%.0fms", n ? "," : "", f->latency * 1000, f->jitter * 1000);
    if (f->error_rate > 0)
        ADD("%serror=%.2f:%d", n ? "," : "", f->error_rate, f->error_status);
    if (f->hang_rate > 0)
        ADD("%shang=%.2f", n ? "," : "", f->hang_rate);
    if (f->reset_rate > 0)
        ADD("%sreset=%.2f", n ? "," : "", f->reset_rate);
    if (f->slow_bps > 0)
        ADD("%sslow=%zu", n ? "," : "", f->slow_bps);
    if (f->lying_health)
        ADD("%slying-health", n ? "," : "");
    if (f->health_down)
        ADD("%shealth-down", n ? "," : "");
    if (f->crash)
        ADD("%scrash", n ? "," : "");
#undef ADD
    if (n == 0)
        snprintf(out, cap, "none");
}

void faults_decide(struct faults *f, struct fault_decision *d)
{
    memset(d, 0, sizeof *d);
    if (f->latency > 0 || f->jitter > 0) {
        d->delay = f->latency + f->jitter * (2 * faults_random(f) - 1);
        if (d->delay < 0)
            d->delay = 0;
    }
    if (f->hang_rate > 0 && faults_random(f) < f->hang_rate)
        d->hang = true;
    if (f->reset_rate > 0 && faults_random(f) < f->reset_rate)
        d->reset = true;
    if (f->lying_health)
        d->error_status = 500;
    else if (f->error_rate > 0 && faults_random(f) < f->error_rate)
        d->error_status = f->error_status;
    d->slow_bps = f->slow_bps;
}
