/*
 * The "rdma" subsystem: brings lib/rdma up with the application, so that its
 * devices and registered memory exist before any transport is created and
 * rdma_get_devices has something to show. RDMA trouble never stops the
 * application: a TCP-only target must start on a host with broken RDMA.
 */
#include <string.h>

#include "axon/event.h"
#include "axon/log.h"
#include "axon/rdma.h"

static bool g_rdma_subsystem_up;

static void
rdma_subsystem_init(void)
{
	int rc = axon_rdma_init();

	if (rc != 0) {
		AXON_ERRLOG("RDMA unavailable: %s\n", strerror(-rc));
	}
	g_rdma_subsystem_up = rc == 0;
	axon_subsystem_init_next(0);
}

static void
rdma_subsystem_fini(void)
{
	if (g_rdma_subsystem_up) {
		axon_rdma_fini();
		g_rdma_subsystem_up = false;
	}
	axon_subsystem_fini_next();
}

static struct axon_subsystem g_rdma_subsystem = {
	.name = "rdma",
	.init = rdma_subsystem_init,
	.fini = rdma_subsystem_fini,
};
AXON_SUBSYSTEM_REGISTER(g_rdma_subsystem)
