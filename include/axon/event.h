/*
 * Axon reactors and the application framework.
 *
 * A reactor is one pinned OS thread per core of the core mask; it runs many
 * axon_threads. The app framework parses the common options every Axon
 * program takes, brings up the environment and reactors, starts subsystems in
 * dependency order, serves JSON-RPC, replays a JSON config, and shuts down in
 * reverse order on SIGINT/SIGTERM or axon_app_start_shutdown().
 */
#ifndef AXON_EVENT_H
#define AXON_EVENT_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "axon/thread.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AXON_DEFAULT_RPC_ADDR "/var/tmp/axon.sock"

struct axon_app_opts {
	const char *name;             /* program name, used in logs and the EAL file prefix */
	const char *reactor_mask;     /* -m: "0x3", "[0-1]", "0,1"; default "0x1" */
	int main_core;                /* --main-core; -1 = lowest core of the mask */
	const char *rpc_addr;         /* -r: Unix socket path; NULL disables the server */
	const char *json_config_file; /* -c */
	size_t mem_size_mb;           /* -s; 0 = EAL default */
	bool no_huge;                 /* --no-huge */
	bool no_pci;                  /* default true; --pci-scan turns PCI probing on */
	bool wait_for_rpc;            /* --wait-for-rpc */
	bool adaptive_polling;        /* default true; --no-adaptive-polling */
	uint64_t idle_sleep_us;       /* --idle-sleep-us: idle time before epoll sleep; default 1000 */
	const char *log_flags[32];    /* -L, repeatable */
	int print_level;              /* --print-level: stderr threshold; default AXON_LOG_NOTICE */
	bool use_syslog;              /* --syslog */
	const char *file_prefix;      /* --file-prefix; default "<name>_<pid>" */
	const char *pci_allowed[32];  /* --pci-allowed BDF, repeatable (implies --pci-scan) */
	/* Optional: runs on the app thread with start_fn's ctx when shutdown
	 * begins, before the subsystems stop (axond tells systemd STOPPING=1). */
	axon_msg_fn shutdown_fn;
};

/* A program's own long-only options use getopt values from here up, so that
 * they never collide with the common ones. */
#define AXON_APP_OPT_BASE 0x1000

/** Fill opts with defaults (name is kept as given). */
void axon_app_opts_init(struct axon_app_opts *opts, const char *name);

/**
 * Parse the common options, plus the program's own (app_getopt: short-option
 * string, app_longopts: may be NULL, NULL-terminated, long-only options with
 * values from AXON_APP_OPT_BASE; each of them is passed to app_parse_arg,
 * which prints its own message and returns non-zero for a bad value).
 * app_usage prints the program's own options after the common ones.
 * Returns 0 to go on, 1 if -h printed help (exit 0), or -EINVAL after printing
 * a message naming the bad option (exit non-zero).
 */
int axon_app_parse_args(int argc, char **argv, struct axon_app_opts *opts,
			const char *app_getopt, const struct option *app_longopts,
			int (*app_parse_arg)(int ch, const char *arg),
			void (*app_usage)(void));

/**
 * Start the app: environment, reactors, the app thread, subsystems, the RPC
 * server, the JSON config; then start_fn(ctx) on the app thread. Blocks until
 * axon_app_stop(). Returns the rc given to axon_app_stop(), or a negative errno
 * if start-up failed (the reason is logged). Once per process (EAL cannot
 * start twice): -EALREADY otherwise. Call axon_app_fini() after it returns,
 * whatever it returned.
 *
 * With --wait-for-rpc the subsystems wait for framework_start_init; a -c
 * file's startup methods run at once and its runtime methods right after the
 * subsystems have started; start_fn runs after that. A SIGINT/SIGTERM during
 * start-up lets the current step finish, then shuts down (exit 0).
 */
int axon_app_start(const struct axon_app_opts *opts, axon_msg_fn start_fn, void *ctx);

/** Begin orderly shutdown: subsystems stop in reverse order, then the app stops with rc 0. Any OS thread, signal-safe. */
void axon_app_start_shutdown(void);

/** Stop the reactors; axon_app_start() returns rc. Any thread. */
void axon_app_stop(int rc);

/** Release what axon_app_start() acquired. Call after it returns. */
void axon_app_fini(void);

/**
 * Start every subsystem in dependency order (framework_start_init). cb(ctx, rc)
 * runs on the app thread when all have started or one failed. rc is -EALREADY
 * if the subsystems were already started. App thread.
 */
void axon_app_start_subsystems(void (*cb)(void *ctx, int rc), void *ctx);

/** True once every subsystem has initialised (after framework_start_init with --wait-for-rpc). */
bool axon_app_is_initialized(void);

/* ---- reactors ----------------------------------------------------------- */

/** Number of reactors, and iteration over their core ids. */
uint32_t axon_reactor_count(void);
/** Core id of the reactor the calling OS thread is, or -1. */
int axon_reactor_current_core(void);
/** Fills cores[] (at most max) with reactor core ids in order; returns the count. */
uint32_t axon_reactor_get_cores(uint32_t *cores, uint32_t max);

struct axon_reactor_info {
	uint32_t core;
	uint64_t busy_tsc;
	uint64_t idle_tsc;
	uint64_t sleep_count;       /* times the reactor went to epoll sleep */
	bool in_interrupt;          /* asleep right now */
	uint32_t thread_count;
	uint64_t thread_ids[64];
	char thread_names[64][32];
};
/** Snapshot of the reactor on core; returns 0 or -ENOENT. Any thread. */
int axon_reactor_get_info(uint32_t core, struct axon_reactor_info *info);

/* ---- subsystems ---------------------------------------------------------- */

struct axon_subsystem {
	const char *name;
	/* Start; must eventually call axon_subsystem_init_next(rc). Optional. */
	void (*init)(void);
	/* Stop; must eventually call axon_subsystem_fini_next(). Optional. */
	void (*fini)(void);
	/* The subsystem's part of save_config: a new JSON array of
	 * {"method":..., "params":...} built from live state. Optional: NULL
	 * means an empty array. Runs on the app thread. */
	json_t *(*config_json)(void);
	struct axon_subsystem *next; /* owned by lib/event */
};

void axon_subsystem_register(struct axon_subsystem *subsystem);
/** Declare that subsystem name cannot start before depends_on. */
void axon_subsystem_add_depend(const char *name, const char *depends_on);

#define AXON_SUBSYSTEM_REGISTER(S)                                             \
	__attribute__((constructor)) static void axon_subsystem_register_##S(void) \
	{                                                                      \
		axon_subsystem_register(&S);                                   \
	}
#define AXON_SUBSYSTEM_DEPEND(NAME, DEP)                                       \
	__attribute__((constructor(102))) static void axon_subsystem_depend_##NAME##_##DEP(void) \
	{                                                                      \
		axon_subsystem_add_depend(#NAME, #DEP);                        \
	}

void axon_subsystem_init_next(int rc);
void axon_subsystem_fini_next(void);

/** Subsystems in start order (dependencies first). NULL prev gives the first. */
struct axon_subsystem *axon_subsystem_get_next(struct axon_subsystem *prev);
struct axon_subsystem *axon_subsystem_find(const char *name);
/** Names this subsystem depends on: fills names[] (at most max), returns the count. */
uint32_t axon_subsystem_get_depends(struct axon_subsystem *s, const char **names, uint32_t max);

/* ---- JSON configuration --------------------------------------------------- */

/**
 * Replay a configuration document {"subsystems":[{"subsystem":..,"config":[..]}]}:
 * methods allowed at start-up run first (in document order), then, if
 * init_subsystems, the subsystems start and the runtime methods run. cb(ctx, rc)
 * runs on the app thread when done; on failure the error naming the subsystem,
 * method and parameter is logged and rc is negative, and nothing after the
 * failing method runs. The document is borrowed until cb.
 */
void axon_app_json_config_load(json_t *doc, bool init_subsystems,
			       void (*cb)(void *ctx, int rc), void *ctx);

/** The running configuration as a save_config document (new reference). App thread. */
json_t *axon_app_config_json(void);

#ifdef __cplusplus
}
#endif
#endif /* AXON_EVENT_H */
