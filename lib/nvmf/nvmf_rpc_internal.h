/*
 * Helpers shared by the nvmf RPC files.
 */
#ifndef AXON_NVMF_RPC_INTERNAL_H
#define AXON_NVMF_RPC_INTERNAL_H

#include <jansson.h>

#include "axon/nvmf.h"
#include "axon/rpc.h"

/* The name of the one target, as SPDK's tgt_name parameter spells its default. */
#define NVMF_RPC_TGT_NAME "nvmf_tgt"

/** Reject a tgt_name other than ours (NULL is fine), and a stopped target.
 *  Returns 0, or a negative errno with the error sent. */
int nvmf_rpc_check_tgt_name(struct axon_rpc_request *req, const char *tgt_name);

/** Decode {trtype, adrfam, traddr, trsvcid}; errors name "param: member". */
int nvmf_rpc_decode_trid(struct axon_rpc_request *req, const char *param, const json_t *obj,
			 struct axon_nvmf_trid *trid);

/** Give a new transport to every poll group, then answer req. */
void nvmf_rpc_transport_added(struct axon_nvmf_transport *transport, struct axon_rpc_request *req);

/** A namespace as nvmf_get_subsystems shows it (for_config: as add_ns takes it). */
json_t *nvmf_ns_to_json(const struct axon_nvmf_ns *ns, bool for_config);

#endif /* AXON_NVMF_RPC_INTERNAL_H */
