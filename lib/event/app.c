/*
 * The application framework: bring-up, start-up sequence and orderly
 * shutdown of every Axon program.
 *
 * Bring-up (axon_app_start, on the main OS thread): logging, subsystem order,
 * EAL, reactors, the thread library, signal handlers, the app thread; then
 * the worker reactors are launched and the main reactor runs here until the
 * app stops.
 *
 * Start-up (app thread): RPC server, then the JSON config (startup methods,
 * subsystems, runtime methods) or the subsystems alone, then start_fn. With
 * --wait-for-rpc the subsystems (and the config's runtime methods) wait for
 * framework_start_init.
 *
 * Shutdown: a signal handler only sets a flag and kicks the main reactor's
 * eventfd; the main reactor forwards the request to the app thread, which
 * stops the RPC server and the subsystems in reverse order and then stops the
 * reactors. A shutdown requested while a start-up sequence runs waits for it
 * to reach its next step.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "axon/env.h"
#include "axon/log.h"
#include "axon/rpc.h"
#include "event_internal.h"

struct app {
	struct axon_app_opts opts;
	axon_msg_fn start_fn;
	void *start_ctx;
	json_t *config;         /* -c document, kept until fini */
	bool config_deferred;   /* its runtime pass waits for framework_start_init */
	bool env_up;
	bool reactors_up;
	bool thread_lib_up;
	bool signals_up;
	bool syslog_up;
	bool rpc_up;
	bool initialized;
	bool started;           /* start_fn has run */
	bool shutdown_started;  /* app thread only */
	struct sigaction old_sigint, old_sigterm, old_sigpipe;
};

static struct app g_app;
static atomic_int g_app_rc;
static atomic_bool g_app_shutdown;

/* ---- shutdown -------------------------------------------------------------- */

void axon_app_start_shutdown(void)
{
	/* Async-signal-safe: lock-free atomics and write(2) only. */
	atomic_store(&g_app_shutdown, true);
	atomic_store(&g_reactor_shutdown_pending, true);
	reactor_kick_main();
}

bool app_shutdown_requested(void)
{
	return atomic_load(&g_app_shutdown);
}

void axon_app_stop(int rc)
{
	int zero = 0;

	atomic_compare_exchange_strong(&g_app_rc, &zero, rc);
	reactors_stop();
}

static void app_subsystems_stopped(void)
{
	AXON_NOTICELOG("%s stopped", g_app.opts.name);
	axon_app_stop(atomic_load(&g_app_rc));
}

void app_resume_shutdown(void)
{
	if (!app_shutdown_requested() || g_app.shutdown_started) {
		return;
	}
	if (subsystem_init_in_progress() || config_load_in_progress()) {
		return; /* they call us again when they end */
	}
	g_app.shutdown_started = true;
	AXON_NOTICELOG("shutting down");
	if (g_app.opts.shutdown_fn != NULL) {
		g_app.opts.shutdown_fn(g_app.start_ctx);
	}
	if (g_app.rpc_up) {
		axon_rpc_server_stop();
		g_app.rpc_up = false;
	}
	subsystem_fini_all(app_subsystems_stopped);
}

static void app_shutdown_msg(void *ctx)
{
	app_resume_shutdown();
}

void app_handle_shutdown_request(void)
{
	struct axon_thread *app_thread = axon_thread_get_app_thread();

	if (app_thread == NULL || axon_thread_send_msg(app_thread, app_shutdown_msg, NULL) != 0) {
		/* No app thread to stop subsystems on: stop the reactors directly. */
		axon_app_stop(0);
	}
}

/* Start-up failed: the reason was logged; stop what started, exit with rc. */
static void app_start_failed(int rc)
{
	int zero = 0;

	AXON_ERRLOG("%s failed to start", g_app.opts.name);
	atomic_compare_exchange_strong(&g_app_rc, &zero, rc);
	atomic_store(&g_app_shutdown, true);
	app_resume_shutdown();
}

/* ---- start-up sequence (app thread) ------------------------------------- */

static void app_run_start_fn(void)
{
	if (g_app.started || app_shutdown_requested()) {
		return;
	}
	g_app.started = true;
	AXON_NOTICELOG("%s started on %u core(s)", g_app.opts.name, axon_reactor_count());
	if (g_app.start_fn != NULL) {
		g_app.start_fn(g_app.start_ctx);
	}
}

static void app_init_done(void *ctx, int rc)
{
	if (rc == -ECANCELED && app_shutdown_requested()) {
		return;
	}
	if (rc != 0) {
		app_start_failed(rc);
		return;
	}
	app_run_start_fn();
}

static void app_config_done(void *ctx, int rc)
{
	if (rc == -ECANCELED && app_shutdown_requested()) {
		return;
	}
	if (rc != 0) {
		AXON_ERRLOG("configuration file %s was not applied", g_app.opts.json_config_file);
		app_start_failed(rc);
		return;
	}
	if (g_app.config_deferred) {
		AXON_NOTICELOG("waiting for framework_start_init (--wait-for-rpc)");
		return;
	}
	app_run_start_fn();
}

static void app_start_fn_msg(void *ctx)
{
	app_run_start_fn();
}

void app_subsystems_started(void)
{
	g_app.initialized = true;
	axon_rpc_set_state(AXON_RPC_RUNTIME);
	if (!g_app.opts.wait_for_rpc) {
		return; /* the start-up sequence goes on by itself */
	}
	if (g_app.config_deferred) {
		g_app.config_deferred = false;
		config_load(g_app.config, CONFIG_PASS_RUNTIME | CONFIG_PASS_AFTER_STARTUP,
			    g_app.opts.json_config_file, app_init_done, NULL);
		return;
	}
	/* After the caller of framework_start_init got its answer. */
	axon_thread_send_msg(axon_thread_get_app_thread(), app_start_fn_msg, NULL);
}

static int app_load_config_file(void)
{
	json_error_t err;

	g_app.config = json_load_file(g_app.opts.json_config_file, JSON_REJECT_DUPLICATES, &err);
	if (g_app.config == NULL) {
		AXON_ERRLOG("configuration file %s: line %d, column %d: %s",
			    g_app.opts.json_config_file, err.line, err.column, err.text);
		return -EINVAL;
	}
	return 0;
}

static void app_start_msg(void *ctx)
{
	uint32_t passes;
	int rc;

	axon_rpc_set_state(AXON_RPC_STARTUP);
	if (g_app.opts.rpc_addr != NULL) {
		rc = axon_rpc_server_start(g_app.opts.rpc_addr);
		if (rc != 0) {
			app_start_failed(rc);
			return;
		}
		g_app.rpc_up = true;
	}
	if (g_app.opts.json_config_file != NULL) {
		rc = app_load_config_file();
		if (rc != 0) {
			app_start_failed(rc);
			return;
		}
		passes = CONFIG_PASS_STARTUP | CONFIG_PASS_INIT | CONFIG_PASS_RUNTIME;
		if (g_app.opts.wait_for_rpc) {
			passes = CONFIG_PASS_STARTUP | CONFIG_PASS_DEFER_RUNTIME;
			g_app.config_deferred = true;
		}
		config_load(g_app.config, passes, g_app.opts.json_config_file, app_config_done, NULL);
		return;
	}
	if (g_app.opts.wait_for_rpc) {
		AXON_NOTICELOG("waiting for framework_start_init (--wait-for-rpc)");
		return;
	}
	axon_app_start_subsystems(app_init_done, NULL);
}

bool axon_app_is_initialized(void)
{
	return g_app.initialized;
}

/* ---- bring-up (main OS thread) --------------------------------------------- */

static void app_signal_handler(int sig)
{
	axon_app_start_shutdown();
}

static int app_install_signals(void)
{
	struct sigaction sa = {.sa_handler = app_signal_handler};
	struct sigaction ign = {.sa_handler = SIG_IGN};

	sigemptyset(&sa.sa_mask);
	sigemptyset(&ign.sa_mask);
	if (sigaction(SIGINT, &sa, &g_app.old_sigint) != 0 ||
	    sigaction(SIGTERM, &sa, &g_app.old_sigterm) != 0 ||
	    /* A peer closing a socket must not kill the daemon. */
	    sigaction(SIGPIPE, &ign, &g_app.old_sigpipe) != 0) {
		int rc = -errno;

		AXON_ERRLOG("sigaction: %s", strerror(-rc));
		return rc;
	}
	g_app.signals_up = true;
	return 0;
}

static int app_setup_log(const struct axon_app_opts *opts)
{
	uint32_t i;

	axon_log_set_print_level((enum axon_log_level)opts->print_level);
	for (i = 0; i < AXON_COUNTOF(opts->log_flags) && opts->log_flags[i] != NULL; i++) {
		if (axon_log_set_flag(opts->log_flags[i]) != 0) {
			AXON_ERRLOG("unknown log flag '%s'", opts->log_flags[i]);
			return -EINVAL;
		}
	}
	if (opts->use_syslog) {
		axon_log_open_syslog(opts->name);
		g_app.syslog_up = true;
	}
	return 0;
}

static int app_env_init(const struct axon_app_opts *opts)
{
	struct axon_env_opts eo;
	uint32_t i;
	int rc;

	axon_env_opts_init(&eo);
	eo.name = opts->name;
	eo.core_mask = opts->reactor_mask;
	eo.main_core = opts->main_core;
	eo.mem_size_mb = opts->mem_size_mb;
	eo.no_huge = opts->no_huge;
	eo.no_pci = opts->no_pci;
	eo.file_prefix = opts->file_prefix;
	for (i = 0; i < AXON_COUNTOF(opts->pci_allowed) && i < AXON_ENV_MAX_PCI_ALLOWED; i++) {
		eo.pci_allowed[i] = opts->pci_allowed[i];
	}
	rc = axon_env_init(&eo);
	if (rc != 0) {
		AXON_ERRLOG("cannot initialise the environment: %s", strerror(-rc));
		return rc;
	}
	g_app.env_up = true;
	return 0;
}

static int app_bring_up(const struct axon_app_opts *opts)
{
	struct reactor_opts ro = {
		.adaptive_polling = opts->adaptive_polling,
		.idle_sleep_us = opts->idle_sleep_us,
	};
	int rc;

	rc = app_setup_log(opts);
	if (rc != 0) {
		return rc;
	}
	rc = subsystem_sort();
	if (rc != 0) {
		return rc;
	}
	rc = app_env_init(opts);
	if (rc != 0) {
		return rc;
	}
	rc = reactors_init(&ro);
	if (rc != 0) {
		return rc;
	}
	g_app.reactors_up = true;
	rc = axon_thread_lib_init(reactor_schedule_thread, sizeof(struct reactor_thread));
	if (rc != 0) {
		AXON_ERRLOG("cannot initialise the thread library: %s", strerror(-rc));
		return rc;
	}
	g_app.thread_lib_up = true;
	return app_install_signals();
}

/* Launch a reactor on every worker core; on failure stop those launched. */
static int app_launch_workers(void)
{
	uint32_t main_core = axon_env_get_main_core();
	uint32_t core;
	int rc;

	for (core = axon_env_get_first_core(); core != UINT32_MAX;
	     core = axon_env_get_next_core(core)) {
		if (core == main_core) {
			continue;
		}
		rc = axon_env_launch_on_core(core, reactor_run, reactor_get(core));
		if (rc != 0) {
			AXON_ERRLOG("cannot start the reactor on core %u: %s", core, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int axon_app_start(const struct axon_app_opts *opts, axon_msg_fn start_fn, void *ctx)
{
	struct axon_thread *app_thread;
	int rc;

	if (g_app.env_up) {
		AXON_ERRLOG("axon_app_start() may be called once per process");
		return -EALREADY;
	}
	g_app.opts = *opts;
	g_app.start_fn = start_fn;
	g_app.start_ctx = ctx;
	atomic_store(&g_app_rc, 0);
	rc = app_bring_up(opts);
	if (rc != 0) {
		return rc;
	}
	app_thread = axon_thread_create("app_thread", (int)axon_env_get_main_core());
	if (app_thread == NULL) {
		return -ENOMEM;
	}
	rc = axon_thread_send_msg(app_thread, app_start_msg, NULL);
	if (rc != 0) {
		reactors_stop();
	} else {
		rc = app_launch_workers();
		if (rc != 0) {
			atomic_store(&g_app_rc, rc);
			reactors_stop();
		}
	}
	reactor_run(reactor_get(axon_env_get_main_core()));
	axon_env_wait_all_cores();
	return rc != 0 ? rc : atomic_load(&g_app_rc);
}

void axon_app_fini(void)
{
	if (g_app.signals_up) {
		sigaction(SIGINT, &g_app.old_sigint, NULL);
		sigaction(SIGTERM, &g_app.old_sigterm, NULL);
		sigaction(SIGPIPE, &g_app.old_sigpipe, NULL);
	}
	/* Reactors first: threads stranded on a hand-off stack still need the
	 * thread library to exit. */
	if (g_app.reactors_up) {
		reactors_fini();
	}
	if (g_app.thread_lib_up) {
		axon_thread_lib_fini();
	}
	if (g_app.env_up) {
		axon_env_fini();
	}
	json_decref(g_app.config);
	if (g_app.syslog_up) {
		axon_log_close();
	}
	subsystem_reset();
	/* env_up stays set in spirit: EAL cannot start twice in one process. */
	memset(&g_app, 0, sizeof(g_app));
	atomic_store(&g_app_shutdown, false);
	atomic_store(&g_reactor_shutdown_pending, false);
}
