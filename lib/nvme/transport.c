/*
 * The transport registry: drivers register a const ops table from a
 * constructor; controllers look theirs up by the trid's transport name.
 */
#include <errno.h>
#include <strings.h>

#include "nvme_internal.h"

#define NVME_MAX_TRANSPORTS 8

static const struct axon_nvme_transport_ops *g_transports[NVME_MAX_TRANSPORTS];
static int g_num_transports;

void axon_nvme_transport_register(const struct axon_nvme_transport_ops *ops)
{
	if (ops == NULL || ops->name == NULL || axon_nvme_transport_get(ops->name) != NULL ||
	    g_num_transports == NVME_MAX_TRANSPORTS) {
		/* A programming error in a driver: nothing can use it. */
		AXON_ERRLOG("cannot register NVMe transport '%s'\n",
			    ops != NULL && ops->name != NULL ? ops->name : "(null)");
		return;
	}
	g_transports[g_num_transports++] = ops;
}

const struct axon_nvme_transport_ops *axon_nvme_transport_get(const char *name)
{
	int i;

	for (i = 0; name != NULL && i < g_num_transports; i++) {
		if (strcasecmp(g_transports[i]->name, name) == 0) {
			return g_transports[i];
		}
	}
	return NULL;
}
