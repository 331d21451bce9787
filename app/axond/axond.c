/*
 * axond: the Axon storage daemon. Everything it serves is configured through
 * JSON-RPC (or replayed from -c FILE); with no configuration it starts its
 * reactors and idles until SIGTERM.
 */
#include <stdio.h>
#include <string.h>

#include "axon/event.h"
#include "axon/log.h"
#include "axon/version.h"
#include "notify.h"

static void axond_started(void *ctx)
{
	char state[128];
	int rc;

	snprintf(state, sizeof(state), "READY=1\nSTATUS=%s running on %u core(s)",
		 AXON_VERSION_STRING, axon_reactor_count());
	rc = axond_notify(state);
	if (rc != 0) {
		AXON_WARNLOG("cannot notify systemd that axond is ready: %s", strerror(-rc));
	}
}

static void axond_stopping(void *ctx)
{
	int rc = axond_notify("STOPPING=1\nSTATUS=shutting down");

	if (rc != 0) {
		AXON_WARNLOG("cannot notify systemd that axond is stopping: %s", strerror(-rc));
	}
}

int main(int argc, char **argv)
{
	struct axon_app_opts opts;
	int rc;

	axon_app_opts_init(&opts, "axond");
	rc = axon_app_parse_args(argc, argv, &opts, NULL, NULL, NULL, NULL);
	if (rc != 0) {
		return rc == 1 ? 0 : 1;
	}
	opts.shutdown_fn = axond_stopping;
	AXON_NOTICELOG("%s starting", AXON_VERSION_STRING);
	rc = axon_app_start(&opts, axond_started, NULL);
	axon_app_fini();
	if (rc != 0) {
		fprintf(stderr, "axond: exiting after an error: %s\n", strerror(rc < 0 ? -rc : rc));
		return 1;
	}
	return 0;
}
