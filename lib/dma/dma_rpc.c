/*
 * JSON-RPC methods of lib/dma.
 */
#include <errno.h>
#include <stddef.h>

#include "axon/dma.h"
#include "axon/rpc.h"

struct rpc_dma_get_memory_domains {
	char *id;
};

static const struct axon_rpc_param rpc_dma_get_memory_domains_params[] = {
	{
		.name = "id",
		.type = AXON_RPC_PARAM_STRING,
		.offset = offsetof(struct rpc_dma_get_memory_domains, id),
		.optional = true,
	},
};

/* One domain as {"dma_device_id": ..., "dma_device_type": ...}; vendor types
 * also carry their number, which the type name alone would lose. */
static json_t *
rpc_dma_domain_json(const struct axon_memory_domain *domain)
{
	enum axon_dma_device_type type = axon_memory_domain_get_dma_device_type(domain);
	json_t *obj;

	obj = json_pack("{s:s, s:s}", "dma_device_id", axon_memory_domain_get_dma_device_id(domain),
			"dma_device_type", axon_dma_device_type_name(type));
	if (obj == NULL) {
		return NULL;
	}
	if ((int)type >= AXON_DMA_DEVICE_TYPE_VENDOR_START &&
	    json_object_set_new(obj, "vendor_type", json_integer((int)type)) != 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/*
 * dma_get_memory_domains [id]: every memory domain, the system domain first,
 * or only those whose dma_device_id equals id. An id nobody has gives [].
 */
static void
rpc_dma_get_memory_domains(struct axon_rpc_request *req, const json_t *params)
{
	struct rpc_dma_get_memory_domains p = {0};
	struct axon_memory_domain *domain;
	json_t *result, *entry;

	if (axon_rpc_decode_params(req, params, rpc_dma_get_memory_domains_params,
				   AXON_COUNTOF(rpc_dma_get_memory_domains_params), &p) != 0) {
		return;
	}
	result = json_array();
	if (result == NULL) {
		goto nomem;
	}
	for (domain = axon_memory_domain_get_first(p.id); domain != NULL;
	     domain = axon_memory_domain_get_next(domain, p.id)) {
		entry = rpc_dma_domain_json(domain);
		if (entry == NULL || json_array_append_new(result, entry) != 0) {
			goto free_result;
		}
	}
	axon_rpc_free_params(rpc_dma_get_memory_domains_params,
			     AXON_COUNTOF(rpc_dma_get_memory_domains_params), &p);
	axon_rpc_send_result(req, result);
	return;

free_result:
	json_decref(result);
nomem:
	axon_rpc_free_params(rpc_dma_get_memory_domains_params,
			     AXON_COUNTOF(rpc_dma_get_memory_domains_params), &p);
	axon_rpc_send_errno(req, -ENOMEM, "dma_get_memory_domains: listing the domains");
}
AXON_RPC_REGISTER("dma_get_memory_domains", rpc_dma_get_memory_domains,
		  AXON_RPC_STARTUP | AXON_RPC_RUNTIME)
