/*
 * lib/env private declarations: the EAL argument vector built from
 * struct axon_env_opts, and the checks that feed it.
 */
#ifndef AXON_ENV_INTERNAL_H
#define AXON_ENV_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "axon/env.h"

#define ENV_CORE_WORDS (AXON_ENV_MAX_CORES / 64)

struct env_core_set {
	uint64_t bits[ENV_CORE_WORDS];
};

/* Fixed options plus two per allowed PCI device, with room to spare. */
#define ENV_MAX_ARGS (24 + 2 * AXON_ENV_MAX_PCI_ALLOWED)
#define ENV_ARGS_BUF_SIZE 4096

/*
 * The EAL command line. argv points into buf. EAL permutes argv while it
 * parses, so the caller keeps the whole struct alive for the EAL call.
 */
struct env_args {
	int argc;
	char *argv[ENV_MAX_ARGS + 1];
	char buf[ENV_ARGS_BUF_SIZE];
	size_t buf_used;
	bool no_huge;  /* the memory mode that was chosen */
	uint32_t main_core;
	struct env_core_set cores;
};

/**
 * Parse "0x3"/"3" (hex mask), "[0-1]", "0,1", "0-3,6" (lists) into set.
 * Returns 0, or -EINVAL (logged) for a malformed mask, a core id at or above
 * AXON_ENV_MAX_CORES, or an empty set.
 */
int env_parse_core_mask(const char *mask, struct env_core_set *set);

bool env_core_set_has(const struct env_core_set *set, uint32_t core);

/**
 * Check that this process may run on every core of the set (EAL pins a
 * thread to each). Returns 0 or -EINVAL (logged, naming the core and mask).
 */
int env_check_cores_available(const char *mask, const struct env_core_set *set);

/** True when the system has free hugepages and a hugetlbfs mount. */
bool env_system_has_hugepages(void);

/**
 * Check opts and build the EAL arguments into args. have_hugepages is what
 * env_system_has_hugepages() said (a parameter so tests can choose). Depends
 * on nothing else in the system: core availability is checked separately.
 * Returns 0 or -EINVAL (logged, naming the option).
 */
int env_build_args(const struct axon_env_opts *opts, bool have_hugepages, struct env_args *args);

/** Drop every memory event registration left (axon_env_fini). */
void env_mem_event_fini(void);

#endif /* AXON_ENV_INTERNAL_H */
