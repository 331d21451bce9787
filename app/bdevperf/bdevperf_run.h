/*
 * bdevperf private: starting a run (from start-up or the perform_tests RPC).
 * Kept apart from bdevperf.h so that the RPC file needs only jansson.
 */
#ifndef BDEVPERF_RUN_H
#define BDEVPERF_RUN_H

#include <jansson.h>

/** End of a run: rc 0 if every job passed, else a negative errno; results
 *  is {"results": [per job], "total": {...}} (borrowed until return). */
typedef void (*bdevperf_run_cb)(void *ctx, int rc, json_t *results);

/** Run every job once, on the app thread. Returns 0 (cb runs later) or
 *  -EBUSY if a run is already going. */
int bdevperf_run(bdevperf_run_cb cb, void *ctx);

#endif /* BDEVPERF_RUN_H */
