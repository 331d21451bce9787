/*
 * Transport registry, transport instances, and their data buffer pools.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "axon/env.h"
#include "nvmf_internal.h"

/* Registered transport types, in registration order. */
#define NVMF_MAX_TRANSPORT_TYPES 8
static const struct axon_nvmf_transport_ops *g_transport_ops[NVMF_MAX_TRANSPORT_TYPES];
static uint32_t g_num_transport_ops;

/* Pool buffers are aligned to this so that O_DIRECT backends need no bounce. */
#define NVMF_DATA_BUF_ALIGN 4096u

void axon_nvmf_transport_register(const struct axon_nvmf_transport_ops *ops)
{
	if (ops == NULL || ops->name == NULL || ops->create == NULL || ops->destroy == NULL ||
	    ops->opts_init == NULL || ops->listen == NULL || ops->stop_listen == NULL ||
	    ops->poll_group_create == NULL || ops->poll_group_destroy == NULL ||
	    ops->poll_group_add == NULL || ops->poll_group_poll == NULL ||
	    ops->req_complete == NULL || ops->qpair_fini == NULL ||
	    ops->qpair_get_listen_trid == NULL) {
		fprintf(stderr, "nvmf: transport %s lacks a required op\n",
			ops && ops->name ? ops->name : "(null)");
		abort();
	}
	if (axon_nvmf_transport_ops_find(ops->name) != NULL) {
		fprintf(stderr, "nvmf: transport %s registered twice\n", ops->name);
		abort();
	}
	if (g_num_transport_ops == NVMF_MAX_TRANSPORT_TYPES) {
		fprintf(stderr, "nvmf: too many transport types (%s)\n", ops->name);
		abort();
	}
	g_transport_ops[g_num_transport_ops++] = ops;
}

const struct axon_nvmf_transport_ops *axon_nvmf_transport_ops_find(const char *name)
{
	if (name == NULL) {
		return NULL;
	}
	for (uint32_t i = 0; i < g_num_transport_ops; i++) {
		if (strcasecmp(g_transport_ops[i]->name, name) == 0) {
			return g_transport_ops[i];
		}
	}
	return NULL;
}

const struct axon_nvmf_transport_ops *nvmf_transport_ops_first(void)
{
	return g_num_transport_ops ? g_transport_ops[0] : NULL;
}

const struct axon_nvmf_transport_ops *nvmf_transport_ops_next(const struct axon_nvmf_transport_ops *prev)
{
	for (uint32_t i = 0; i + 1 < g_num_transport_ops; i++) {
		if (g_transport_ops[i] == prev) {
			return g_transport_ops[i + 1];
		}
	}
	return NULL;
}

/* Checks that do not depend on the transport. Writes "<param>: <why>". */
static int transport_opts_check(const struct axon_nvmf_transport_opts *o, uint32_t num_groups,
				char *err, size_t errlen)
{
	if (o->max_queue_depth < 2) {
		snprintf(err, errlen, "max_queue_depth: expected at least 2, got %u", o->max_queue_depth);
		return -EINVAL;
	}
	if (o->max_aq_depth < 2 || o->max_aq_depth > 4096) {
		snprintf(err, errlen, "max_aq_depth: expected 2..4096, got %u", o->max_aq_depth);
		return -EINVAL;
	}
	if (o->max_qpairs_per_ctrlr < 2) {
		snprintf(err, errlen, "max_io_qpairs_per_ctrlr: expected at least 1");
		return -EINVAL;
	}
	if (o->io_unit_size < 512 || o->io_unit_size % 512 != 0) {
		snprintf(err, errlen, "io_unit_size: expected a multiple of 512, got %u", o->io_unit_size);
		return -EINVAL;
	}
	if (o->max_io_size < 4096 || o->max_io_size % 4096 != 0) {
		snprintf(err, errlen, "max_io_size: expected a multiple of 4096, got %u", o->max_io_size);
		return -EINVAL;
	}
	if (o->io_unit_size > o->max_io_size) {
		snprintf(err, errlen, "io_unit_size: %u is larger than max_io_size %u",
			 o->io_unit_size, o->max_io_size);
		return -EINVAL;
	}
	if (AXON_DIV_ROUND_UP(o->max_io_size, o->io_unit_size) > AXON_NVMF_REQ_MAX_IOVS) {
		snprintf(err, errlen, "io_unit_size: max_io_size / io_unit_size must be at most %u",
			 AXON_NVMF_REQ_MAX_IOVS);
		return -EINVAL;
	}
	if (o->in_capsule_data_size % 16 != 0) {
		snprintf(err, errlen, "in_capsule_data_size: expected a multiple of 16, got %u",
			 o->in_capsule_data_size);
		return -EINVAL;
	}
	if (o->num_shared_buffers == 0) {
		snprintf(err, errlen, "num_shared_buffers: expected at least 1");
		return -EINVAL;
	}
	if ((uint64_t)o->buf_cache_size * (num_groups + 1) > o->num_shared_buffers) {
		snprintf(err, errlen,
			 "buf_cache_size: %u per poll group x %u poll groups does not fit in "
			 "num_shared_buffers %u", o->buf_cache_size, num_groups, o->num_shared_buffers);
		return -EINVAL;
	}
	if (o->dif_insert_or_strip) {
		snprintf(err, errlen, "dif_insert_or_strip: not supported");
		return -EINVAL;
	}
	if (o->zcopy) {
		snprintf(err, errlen, "zcopy: not supported");
		return -EINVAL;
	}
	return 0;
}

int nvmf_transport_create(struct axon_nvmf_tgt *tgt, const struct axon_nvmf_transport_ops *ops,
			  const struct axon_nvmf_transport_opts *opts, void *specific_opts,
			  struct axon_nvmf_transport **out, char *err, size_t errlen)
{
	struct axon_nvmf_transport *transport;
	char pool_name[64];
	static uint32_t pool_id;
	int rc;

	if (nvmf_tgt_find_transport(tgt, ops->name) != NULL) {
		snprintf(err, errlen, "trtype: transport %s already exists", ops->name);
		return -EEXIST;
	}
	rc = transport_opts_check(opts, tgt->num_poll_groups, err, errlen);
	if (rc != 0) {
		return rc;
	}
	transport = ops->create(opts, specific_opts);
	if (transport == NULL) {
		snprintf(err, errlen, "trtype: the %s transport could not be created (see the log)",
			 ops->name);
		return -EINVAL;
	}
	transport->ops = ops;
	transport->opts = *opts;
	transport->tgt = tgt;
	transport->specific_opts = specific_opts;
	snprintf(pool_name, sizeof(pool_name), "nvmf_%s_buf_%u", ops->name, pool_id++);
	transport->data_buf_pool = axon_mempool_create(pool_name, opts->num_shared_buffers,
						       opts->io_unit_size + NVMF_DATA_BUF_ALIGN, 0,
						       AXON_ENV_SOCKET_ID_ANY);
	if (transport->data_buf_pool == NULL) {
		snprintf(err, errlen, "num_shared_buffers: cannot allocate %u buffers of %u bytes",
			 opts->num_shared_buffers, opts->io_unit_size);
		transport->specific_opts = NULL;
		ops->destroy(transport, NULL, NULL);
		return -ENOMEM;
	}
	TAILQ_INSERT_TAIL(&tgt->transports, transport, link);
	*out = transport;
	return 0;
}

void nvmf_transport_destroy(struct axon_nvmf_transport *transport, void (*cb)(void *), void *cb_arg)
{
	struct axon_nvmf_tgt *tgt = transport->tgt;
	const struct axon_nvmf_transport_ops *ops = transport->ops;
	void *spec = transport->specific_opts;

	TAILQ_REMOVE(&tgt->transports, transport, link);
	if (transport->data_buf_pool != NULL) {
		axon_mempool_free(transport->data_buf_pool);
		transport->data_buf_pool = NULL;
	}
	transport->specific_opts = NULL;
	ops->destroy(transport, cb, cb_arg);
	if (spec != NULL) {
		if (ops->specific_params != NULL) {
			axon_rpc_free_params(ops->specific_params, ops->num_specific_params, spec);
		}
		free(spec);
	}
}

json_t *nvmf_transport_opts_json(struct axon_nvmf_transport *transport)
{
	const struct axon_nvmf_transport_opts *o = &transport->opts;
	json_t *obj = json_object();

	if (obj == NULL) {
		return NULL;
	}
	json_object_set_new(obj, "trtype", json_string(transport->ops->name));
	json_object_set_new(obj, "max_queue_depth", json_integer(o->max_queue_depth));
	json_object_set_new(obj, "max_io_qpairs_per_ctrlr",
			    json_integer(o->max_qpairs_per_ctrlr - 1));
	json_object_set_new(obj, "in_capsule_data_size", json_integer(o->in_capsule_data_size));
	json_object_set_new(obj, "max_io_size", json_integer(o->max_io_size));
	json_object_set_new(obj, "io_unit_size", json_integer(o->io_unit_size));
	json_object_set_new(obj, "max_aq_depth", json_integer(o->max_aq_depth));
	json_object_set_new(obj, "num_shared_buffers", json_integer(o->num_shared_buffers));
	json_object_set_new(obj, "buf_cache_size", json_integer(o->buf_cache_size));
	json_object_set_new(obj, "dif_insert_or_strip", json_boolean(o->dif_insert_or_strip));
	json_object_set_new(obj, "zcopy", json_boolean(o->zcopy));
	json_object_set_new(obj, "abort_timeout_sec", json_integer(o->abort_timeout_sec));
	json_object_set_new(obj, "acceptor_poll_rate", json_integer(o->acceptor_poll_rate));
	if (transport->ops->dump_opts != NULL) {
		transport->ops->dump_opts(transport, obj);
	}
	return obj;
}

/* ---- data buffers ------------------------------------------------------------ */

static void *buf_get(struct axon_nvmf_transport_poll_group *tgroup,
		     struct axon_nvmf_transport *transport)
{
	struct axon_nvmf_transport_pg_cache_buf *cbuf;

	if (tgroup != NULL && !STAILQ_EMPTY(&tgroup->buf_cache)) {
		cbuf = STAILQ_FIRST(&tgroup->buf_cache);
		STAILQ_REMOVE_HEAD(&tgroup->buf_cache, link);
		tgroup->buf_cache_count--;
		return cbuf;
	}
	return axon_mempool_get(transport->data_buf_pool);
}

static void buf_put(struct axon_nvmf_transport_poll_group *tgroup,
		    struct axon_nvmf_transport *transport, void *buf)
{
	struct axon_nvmf_transport_pg_cache_buf *cbuf = buf;

	if (tgroup != NULL && tgroup->buf_cache_count < tgroup->buf_cache_size) {
		STAILQ_INSERT_HEAD(&tgroup->buf_cache, cbuf, link);
		tgroup->buf_cache_count++;
		return;
	}
	axon_mempool_put(transport->data_buf_pool, buf);
}

int axon_nvmf_request_get_buffers(struct axon_nvmf_request *req,
				  struct axon_nvmf_transport_poll_group *tgroup,
				  struct axon_nvmf_transport *transport, uint32_t length)
{
	uint32_t unit = transport->opts.io_unit_size;
	uint32_t n = AXON_DIV_ROUND_UP(length, unit);
	uint32_t left = length;

	if (length == 0 || length > transport->opts.max_io_size || n > AXON_NVMF_REQ_MAX_IOVS) {
		return -EINVAL;
	}
	req->num_buffers = 0;
	for (uint32_t i = 0; i < n; i++) {
		void *buf = buf_get(tgroup, transport);

		if (buf == NULL) {
			axon_nvmf_request_free_buffers(req, tgroup, transport);
			return -ENOMEM;
		}
		req->buffers[i] = buf;
		req->num_buffers = i + 1;
		/* Align the data start so that a 4 KiB aligned backend needs no bounce. */
		req->iov[i].iov_base = (void *)AXON_ALIGN_UP((uintptr_t)buf, NVMF_DATA_BUF_ALIGN);
		req->iov[i].iov_len = AXON_MIN(left, unit);
		left -= (uint32_t)req->iov[i].iov_len;
	}
	req->iovcnt = n;
	return 0;
}

void axon_nvmf_request_free_buffers(struct axon_nvmf_request *req,
				    struct axon_nvmf_transport_poll_group *tgroup,
				    struct axon_nvmf_transport *transport)
{
	for (uint32_t i = 0; i < req->num_buffers; i++) {
		buf_put(tgroup, transport, req->buffers[i]);
		req->buffers[i] = NULL;
	}
	req->num_buffers = 0;
	req->iovcnt = 0;
}
