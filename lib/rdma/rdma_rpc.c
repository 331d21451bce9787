/*
 * JSON-RPC methods of lib/rdma.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include <infiniband/verbs.h>

#include "axon/dma.h"
#include "axon/rdma.h"
#include "axon/rpc.h"
#include "rdma_internal.h"

static const char *
link_layer_name(uint8_t link_layer)
{
	switch (link_layer) {
	case IBV_LINK_LAYER_ETHERNET:
		return "Ethernet";
	case IBV_LINK_LAYER_INFINIBAND:
	case IBV_LINK_LAYER_UNSPECIFIED: /* older drivers: InfiniBand */
		return "InfiniBand";
	default:
		return "unknown";
	}
}

/* Bytes of an enum ibv_mtu (IBV_MTU_256 = 1 ... IBV_MTU_4096 = 5), 0 if unknown. */
static uint32_t
mtu_bytes(enum ibv_mtu mtu)
{
	return mtu >= IBV_MTU_256 && mtu <= IBV_MTU_4096 ? 128u << mtu : 0;
}

static json_t *
port_json(struct ibv_context *ctx, uint8_t port)
{
	struct ibv_port_attr attr;
	char gid_str[INET6_ADDRSTRLEN] = "";
	union ibv_gid gid;
	int rc;

	rc = ibv_query_port(ctx, port, &attr);
	if (rc != 0) {
		return json_pack("{s:i, s:s}", "port", port, "error", strerror(rc));
	}
	if (ibv_query_gid(ctx, port, 0, &gid) == 0) {
		inet_ntop(AF_INET6, gid.raw, gid_str, sizeof(gid_str));
	}
	return json_pack("{s:i, s:s, s:i, s:i, s:s, s:s, s:i}", "port", port, "state",
			 ibv_port_state_str(attr.state), "active_mtu", mtu_bytes(attr.active_mtu),
			 "max_mtu", mtu_bytes(attr.max_mtu), "link_layer",
			 link_layer_name(attr.link_layer), "gid0", gid_str, "gid_table_len",
			 attr.gid_tbl_len);
}

struct devices_ctx {
	json_t *array;
	json_t *memory;
};

static int
device_json(struct axon_rdma_device *dev, void *arg)
{
	struct devices_ctx *c = arg;
	const struct ibv_device_attr *attr = axon_rdma_device_get_attr(dev);
	json_t *obj, *ports, *port;
	char guid[20];
	uint8_t p;

	snprintf(guid, sizeof(guid), "%016" PRIx64, be64toh(attr->node_guid));
	ports = json_array();
	if (ports == NULL) {
		return -ENOMEM;
	}
	for (p = 1; p <= attr->phys_port_cnt; p++) {
		port = port_json(axon_rdma_device_get_context(dev), p);
		if (port == NULL || json_array_append_new(ports, port) != 0) {
			json_decref(ports);
			return -ENOMEM;
		}
	}
	obj = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:o, s:O}", "name",
			axon_rdma_device_get_name(dev), "memory_domain",
			axon_memory_domain_get_dma_device_id(axon_rdma_device_get_memory_domain(dev)),
			"node_guid", guid, "max_qp", attr->max_qp, "max_qp_wr", attr->max_qp_wr,
			"max_sge", attr->max_sge, "max_srq", attr->max_srq, "ports", ports,
			"registered_memory", c->memory);
	if (obj == NULL || json_array_append_new(c->array, obj) != 0) {
		return -ENOMEM;
	}
	return 0;
}

/*
 * rdma_get_devices: every present RDMA device with its ports (state, active
 * MTU, link layer, GID 0) and the memory registered with it (all of it is
 * registered with every device). [] when there are none.
 */
static void
rpc_rdma_get_devices(struct axon_rpc_request *req, const json_t *params)
{
	struct axon_rdma_mem_stats stats = {0};
	struct devices_ctx c = {0};
	int rc;

	if (axon_rpc_expect_no_params(req, params) != 0) {
		return;
	}
	axon_rdma_mem_get_stats(&stats);
	c.array = json_array();
	c.memory = json_pack("{s:I, s:I, s:I}", "total_bytes", (json_int_t)stats.total_bytes,
			     "regions", (json_int_t)stats.regions, "env_bytes",
			     (json_int_t)stats.env_bytes);
	if (c.array == NULL || c.memory == NULL) {
		rc = -ENOMEM;
		goto error;
	}
	rc = axon_rdma_device_foreach(device_json, &c);
	if (rc != 0) {
		goto error;
	}
	json_decref(c.memory);
	axon_rpc_send_result(req, c.array);
	return;

error:
	json_decref(c.memory);
	json_decref(c.array);
	axon_rpc_send_errno(req, rc, "rdma_get_devices: listing the devices");
}
AXON_RPC_REGISTER("rdma_get_devices", rpc_rdma_get_devices, AXON_RPC_STARTUP | AXON_RPC_RUNTIME)
