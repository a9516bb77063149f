/* fault: faults a sim-node injects into its own answers, Toxiproxy-style, and the seeded
 * random choices behind them (reproducible with --seed).
 *
 * A spec is a comma-separated list; each item adds or replaces one fault:
 *   latency=200ms[:50ms]   delay every answer by 200 ms ± 50 ms (uniform jitter)
 *   error=0.3[:500]        answer 30 % of requests with status 500 (default 500)
 *   hang[=P]               accept and never answer (all requests, or a fraction P)
 *   reset[=P]              send half a response, then reset the connection
 *   slow=BYTES             send bodies at BYTES per second
 *   crash                  exit with status 3 at once
 *   lying-health           /health says 200 while every other page answers 500
 *   health-down            /health answers 503 (the app itself still works)
 *   clear                  remove every fault
 * Pure code: no I/O. */
#ifndef SIMNODE_FAULT_H
#define SIMNODE_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"

struct faults {
    double latency, jitter; /* seconds */
    double error_rate;
    int error_status;
    double hang_rate;
    double reset_rate;
    size_t slow_bps;
    bool crash;
    bool lying_health;
    bool health_down;
    uint64_t rng; /* xorshift64* state, never 0 */
};

void faults_init(struct faults *f, uint64_t seed);

/* Apply a spec (see above). Returns 0, or -1 with err filled and f unchanged. */
int faults_apply(struct faults *f, const char *spec, struct errbuf *err);

/* "latency=200ms:50ms,error=0.30:500" style description of what is active ("none"). */
void faults_describe(const struct faults *f, char *out, size_t cap);

bool faults_any(const struct faults *f);

/* A uniform double in [0, 1). */
double faults_random(struct faults *f);

/* The decisions for one request. */
struct fault_decision {
    double delay;
    bool hang;
    bool reset;
    int error_status; /* 0: none */
    size_t slow_bps;
};
void faults_decide(struct faults *f, struct fault_decision *d);

#endif
