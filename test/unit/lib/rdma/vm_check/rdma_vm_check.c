/*
 * rdma_vm_check: lib/rdma against a real (soft-RoCE) device, for the VM test
 * test/vm/tests/test_rdma_lib.py. Not a unit test: it needs an RDMA device.
 *
 *   rdma_vm_check DEVICE ADDR PORT [huge]   e.g. rdma_vm_check rxe0 10.99.0.1 4791
 *
 * Memory is 64 MiB of --no-huge memory (one walk at init), or with "huge"
 * hugepages that grow on demand: then a large DMA allocation must show up in
 * the registrations through lib/env's memory events, and go when freed.
 *
 * Enumerates the devices, checks that lib/env memory is registered, registers
 * and unregisters a caller buffer, translates buffers through the device's
 * memory domain, then connects two QPs through the RDMA CM on ADDR (both ends
 * on the one address: soft-RoCE loops back inside the device) and moves data
 * with an RDMA WRITE and an RDMA READ, keys from the memory domain only.
 * Prints one "CHECK ..." line per step that passed; exits 0 when all did.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "axon/dma.h"
#include "axon/env.h"
#include "axon/log.h"
#include "axon/rdma.h"
#include "axon/thread.h"

#define BUF_SIZE (256 * 1024)
#define CQ_SIZE 16
#define TIMEOUT_S 30

#define FAIL(...)                                                  \
	do {                                                       \
		fprintf(stderr, "FAIL: " __VA_ARGS__);             \
		fprintf(stderr, "\n");                             \
		goto out;                                          \
	} while (0)

/* What the client tells the server in the CM private data. */
struct conn_priv {
	uint64_t addr;
	uint32_t rkey;
	uint32_t len;
};

struct side {
	struct rdma_cm_id *id;
	struct ibv_cq *cq;
	struct axon_rdma_device *dev;
	bool established, disconnected;
};

static struct {
	struct axon_memory_domain *domain;
	struct side server, client;
	struct rdma_cm_id *listen_id;
	struct conn_priv priv;      /* the client's, as the server received it */
	uint8_t *client_buf;        /* first half written by the server, second half read by it */
	uint8_t *server_buf;
	bool failed;
} g;

/* Keys for buf through the device's memory domain, for use on qp. */
static int
domain_keys(void *buf, size_t len, struct ibv_qp *qp, uint32_t *lkey, uint32_t *rkey)
{
	struct axon_memory_domain_translation_ctx ctx = {.size = sizeof(ctx), .rdma.ibv_qp = qp};
	struct axon_memory_domain_translation_result res = {.size = sizeof(res)};
	int rc;

	rc = axon_memory_domain_translate_data(g.domain, NULL, g.domain, &ctx, buf, len, &res);
	if (rc == 0) {
		*lkey = res.rdma.lkey;
		*rkey = res.rdma.rkey;
	}
	return rc;
}

static int
side_setup_qp(struct side *s, struct rdma_cm_id *id)
{
	struct axon_rdma_qp_opts opts = {
		.max_send_wr = 8, .max_recv_wr = 8, .max_send_sge = 1, .max_recv_sge = 1,
	};
	int rc;

	s->id = id;
	s->dev = axon_rdma_device_get_by_context(id->verbs);
	if (s->dev == NULL) {
		fprintf(stderr, "no axon device for cm_id's context\n");
		return -ENODEV;
	}
	s->cq = ibv_create_cq(id->verbs, CQ_SIZE, NULL, NULL, 0);
	if (s->cq == NULL) {
		return -errno;
	}
	opts.send_cq = s->cq;
	opts.recv_cq = s->cq;
	rc = axon_rdma_qp_create(id, &opts);
	if (rc == 0 && opts.max_send_wr < 8) {
		rc = -EINVAL;
	}
	return rc;
}

/* ---- CM handlers -------------------------------------------------------------------------- */

static int
on_addr_resolved(struct rdma_cm_id *id, struct rdma_cm_event *ev, void *arg)
{
	if (side_setup_qp(&g.client, id) != 0 || rdma_resolve_route(id, 2000) != 0) {
		g.failed = true;
	}
	return AXON_RDMA_CM_KEEP_ID;
}

static int
on_route_resolved(struct rdma_cm_id *id, struct rdma_cm_event *ev, void *arg)
{
	struct rdma_conn_param param = {0};
	struct conn_priv priv = {0};
	uint32_t lkey;

	/* The client's buffer, keyed through the memory domain for its QP. */
	if (domain_keys(g.client_buf, BUF_SIZE, id->qp, &lkey, &priv.rkey) != 0) {
		g.failed = true;
		return AXON_RDMA_CM_KEEP_ID;
	}
	priv.addr = (uintptr_t)g.client_buf;
	priv.len = BUF_SIZE;
	param.private_data = &priv;
	param.private_data_len = sizeof(priv);
	param.initiator_depth = 1;
	param.responder_resources = 1;
	param.retry_count = 7;
	param.rnr_retry_count = 7;
	if (rdma_connect(id, &param) != 0) {
		g.failed = true;
	}
	return AXON_RDMA_CM_KEEP_ID;
}

static int
on_connect_request(struct rdma_cm_id *id, struct rdma_cm_event *ev, void *arg)
{
	struct rdma_conn_param param = {.responder_resources = 1, .initiator_depth = 1};

	if (ev->param.conn.private_data_len < sizeof(g.priv) || g.server.id != NULL) {
		rdma_reject(id, NULL, 0);
		return AXON_RDMA_CM_DESTROY_ID;
	}
	memcpy(&g.priv, ev->param.conn.private_data, sizeof(g.priv));
	if (side_setup_qp(&g.server, id) != 0 || rdma_accept(id, &param) != 0) {
		g.failed = true;
	}
	return AXON_RDMA_CM_KEEP_ID;
}

static int
on_established(struct rdma_cm_id *id, struct rdma_cm_event *ev, void *arg)
{
	if (id == g.server.id) {
		g.server.established = true;
	} else if (id == g.client.id) {
		g.client.established = true;
	}
	return AXON_RDMA_CM_KEEP_ID;
}

static int
on_disconnected(struct rdma_cm_id *id, struct rdma_cm_event *ev, void *arg)
{
	/* The peer's DREQ: answer it (DREP), or the peer waits for a timeout. */
	rdma_disconnect(id);
	if (id == g.server.id) {
		g.server.disconnected = true;
	} else if (id == g.client.id) {
		g.client.disconnected = true;
	}
	return AXON_RDMA_CM_KEEP_ID;
}

static int
on_error(struct rdma_cm_id *id, struct rdma_cm_event *ev, void *arg)
{
	fprintf(stderr, "CM event %s (status %d)\n", rdma_event_str(ev->event), ev->status);
	g.failed = true;
	return AXON_RDMA_CM_KEEP_ID;
}

static const struct axon_rdma_cm_handlers g_handlers = {
	.connect_request = on_connect_request,
	.established = on_established,
	.disconnected = on_disconnected,
	.rejected = on_error,
	.unreachable = on_error,
	.addr_resolved = on_addr_resolved,
	.route_resolved = on_route_resolved,
	.error = on_error,
};

/* ---- helpers -------------------------------------------------------------------------------- */

static time_t g_deadline;

/* Poll the thread (and so the CM poller) until *flag or failure or timeout. */
static bool
wait_for(struct axon_thread *thread, const bool *flag)
{
	g_deadline = time(NULL) + TIMEOUT_S;
	while (!*flag && !g.failed && time(NULL) < g_deadline) {
		axon_thread_poll(thread, 0, 0);
	}
	return *flag && !g.failed;
}

static double
elapsed(void)
{
	static struct timespec t0;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (t0.tv_sec == 0) {
		t0 = now;
	}
	return (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
}

static int
print_device(struct axon_rdma_device *dev, void *arg)
{
	printf("device %s ports %u\n", axon_rdma_device_get_name(dev),
	       axon_rdma_device_get_attr(dev)->phys_port_cnt);
	return 0;
}

static int
poll_completions(struct ibv_cq *cq, int want)
{
	struct ibv_wc wc;
	int got = 0, n;

	g_deadline = time(NULL) + TIMEOUT_S;
	while (got < want && time(NULL) < g_deadline) {
		n = ibv_poll_cq(cq, 1, &wc);
		if (n < 0) {
			return -EIO;
		}
		if (n == 1) {
			if (wc.status != IBV_WC_SUCCESS) {
				fprintf(stderr, "completion %s\n", ibv_wc_status_str(wc.status));
				return -EIO;
			}
			got++;
		}
	}
	return got == want ? 0 : -ETIMEDOUT;
}

/* The server writes the client's first half and reads its second half, chained. */
static int
server_write_and_read(void)
{
	struct ibv_sge wsge = {0}, rsge = {0};
	struct ibv_send_wr wwr = {0}, rwr = {0}, *bad = NULL;
	uint32_t lkey, rkey;
	int rc;

	rc = domain_keys(g.server_buf, BUF_SIZE, g.server.id->qp, &lkey, &rkey);
	if (rc != 0) {
		return rc;
	}
	wsge = (struct ibv_sge){.addr = (uintptr_t)g.server_buf, .length = BUF_SIZE / 2, .lkey = lkey};
	rsge = (struct ibv_sge){.addr = (uintptr_t)g.server_buf + BUF_SIZE / 2,
				.length = BUF_SIZE / 2, .lkey = lkey};
	wwr.wr_id = 1;
	wwr.opcode = IBV_WR_RDMA_WRITE;
	wwr.sg_list = &wsge;
	wwr.num_sge = 1;
	wwr.send_flags = IBV_SEND_SIGNALED;
	wwr.wr.rdma.remote_addr = g.priv.addr;
	wwr.wr.rdma.rkey = g.priv.rkey;
	wwr.next = &rwr;
	rwr.wr_id = 2;
	rwr.opcode = IBV_WR_RDMA_READ;
	rwr.sg_list = &rsge;
	rwr.num_sge = 1;
	rwr.send_flags = IBV_SEND_SIGNALED;
	rwr.wr.rdma.remote_addr = g.priv.addr + BUF_SIZE / 2;
	rwr.wr.rdma.rkey = g.priv.rkey;
	rc = ibv_post_send(g.server.id->qp, &wwr, &bad);
	if (rc != 0) {
		return -rc;
	}
	return poll_completions(g.server.cq, 2);
}

static void
side_release(struct side *s)
{
	if (s->id != NULL) {
		if (s->id->qp != NULL) {
			rdma_destroy_qp(s->id);
		}
		rdma_destroy_id(s->id);
	}
	if (s->cq != NULL) {
		ibv_destroy_cq(s->cq);
	}
	axon_rdma_device_put(s->dev);
	memset(s, 0, sizeof(*s));
}

/* ---- steps ---------------------------------------------------------------------------------- */

static bool g_huge;

/* Hugepages: memory added and removed by EAL is registered and unregistered. */
static int
check_memory_events(void)
{
	struct axon_memory_domain_translation_result res = {.size = sizeof(res)};
	struct axon_rdma_mem_stats before, grown, after;
	size_t len = 64 * 1024 * 1024;
	void *big;
	int rc;

	axon_rdma_mem_get_stats(&before);
	big = axon_dma_malloc(len, 4096, AXON_ENV_SOCKET_ID_ANY);
	if (big == NULL) {
		fprintf(stderr, "cannot allocate %zu bytes of DMA memory\n", len);
		return -1;
	}
	axon_rdma_mem_get_stats(&grown);
	rc = axon_memory_domain_translate_data(g.domain, NULL, g.domain, NULL, big, len, &res);
	axon_dma_free(big);
	axon_rdma_mem_get_stats(&after);
	printf("env bytes: %lu before, %lu allocated, %lu freed\n", (unsigned long)before.env_bytes,
	       (unsigned long)grown.env_bytes, (unsigned long)after.env_bytes);
	if (grown.env_bytes < before.env_bytes + len || rc != 0) {
		fprintf(stderr, "memory growth not registered (translate %d)\n", rc);
		return -1;
	}
	printf("[%6.2f] CHECK ", elapsed()), printf("memory event: growth registered, translate %zu bytes ok\n", len);
	if (after.env_bytes >= grown.env_bytes) {
		fprintf(stderr, "memory shrink not unregistered\n");
		return -1;
	}
	printf("[%6.2f] CHECK ", elapsed()), printf("memory event: shrink unregistered\n");
	return 0;
}

static int
check_memory(struct axon_rdma_device *dev)
{
	struct axon_memory_domain_translation_result res = {.size = sizeof(res)};
	struct axon_rdma_mem_stats st;
	void *user;
	int rc;

	if (axon_rdma_mem_get_stats(&st) != 0 || st.env_bytes < (g_huge ? 2 : 32) * 1024 * 1024) {
		fprintf(stderr, "lib/env memory not registered (%lu bytes)\n",
			(unsigned long)st.env_bytes);
		return -1;
	}
	printf("[%6.2f] CHECK ", elapsed()), printf("env memory registered %lu bytes in %lu regions\n",
	       (unsigned long)st.env_bytes, (unsigned long)st.regions);
	if (g_huge && check_memory_events() != 0) {
		return -1;
	}
	rc = axon_memory_domain_translate_data(g.domain, NULL, g.domain, NULL, g.server_buf,
					       BUF_SIZE, &res);
	if (rc != 0 || res.iov[0].iov_base != g.server_buf || res.rdma.lkey == 0) {
		fprintf(stderr, "translate of a DMA buffer: %d\n", rc);
		return -1;
	}
	printf("[%6.2f] CHECK ", elapsed()), printf("translate dma buffer lkey 0x%x rkey 0x%x\n", res.rdma.lkey, res.rdma.rkey);
	user = aligned_alloc(4096, 64 * 1024);
	if (user == NULL) {
		return -1;
	}
	rc = axon_memory_domain_translate_data(g.domain, NULL, g.domain, NULL, user, 4096, &res);
	rc = rc == -ENOENT ? axon_rdma_mem_register(user, 64 * 1024) : -1;
	rc = rc ?: axon_memory_domain_translate_data(g.domain, NULL, g.domain, NULL, user, 64 * 1024,
						     &res);
	rc = rc ?: axon_rdma_mem_unregister(user, 64 * 1024);
	rc = rc ?: (axon_memory_domain_translate_data(g.domain, NULL, g.domain, NULL, user, 1,
						      &res) == -ENOENT ? 0 : -1);
	free(user);
	if (rc != 0) {
		fprintf(stderr, "caller-supplied registration: %d\n", rc);
		return -1;
	}
	printf("[%6.2f] CHECK ", elapsed()), printf("user registration register/translate/unregister\n");
	return 0;
}

static int
listen_on(struct axon_rdma_cm *cm, const char *addr, uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};

	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		return -EINVAL;
	}
	if (rdma_create_id(axon_rdma_cm_get_channel(cm), &g.listen_id, NULL, RDMA_PS_TCP) != 0 ||
	    rdma_bind_addr(g.listen_id, (struct sockaddr *)&sin) != 0 || rdma_listen(g.listen_id, 4) != 0) {
		return -errno;
	}
	if (rdma_create_id(axon_rdma_cm_get_channel(cm), &g.client.id, NULL, RDMA_PS_TCP) != 0 ||
	    rdma_resolve_addr(g.client.id, NULL, (struct sockaddr *)&sin, 2000) != 0) {
		return -errno;
	}
	return 0;
}

static int
run(const char *devname, const char *addr, uint16_t port, struct axon_thread *thread)
{
	struct axon_rdma_device *dev = NULL;
	struct axon_rdma_cm *cm = NULL;
	int rc = 1, i;

	axon_rdma_device_foreach(print_device, NULL);
	dev = axon_rdma_device_get_by_name(devname);
	if (dev == NULL) {
		FAIL("device %s not found", devname);
	}
	printf("[%6.2f] CHECK ", elapsed()), printf("device %s found, %u devices\n", devname, axon_rdma_device_count());
	g.domain = axon_rdma_device_get_memory_domain(dev);
	printf("[%6.2f] CHECK ", elapsed()), printf("domain %s\n", axon_memory_domain_get_dma_device_id(g.domain));
	g.server_buf = axon_dma_zmalloc(BUF_SIZE, 4096, AXON_ENV_SOCKET_ID_ANY);
	g.client_buf = axon_dma_zmalloc(BUF_SIZE, 4096, AXON_ENV_SOCKET_ID_ANY);
	if (g.server_buf == NULL || g.client_buf == NULL) {
		FAIL("DMA buffers");
	}
	if (check_memory(dev) != 0) {
		goto out;
	}
	for (i = 0; i < BUF_SIZE / 2; i++) {
		g.server_buf[i] = (uint8_t)(i * 7 + 1);
		g.client_buf[BUF_SIZE / 2 + i] = (uint8_t)(i * 13 + 5);
	}
	cm = axon_rdma_cm_create(&g_handlers, NULL);
	if (cm == NULL) {
		FAIL("axon_rdma_cm_create");
	}
	rc = listen_on(cm, addr, port);
	if (rc != 0) {
		rc = 1;
		FAIL("listen/resolve on %s:%u: %s", addr, port, strerror(errno));
	}
	rc = 1;
	if (!wait_for(thread, &g.server.established) || !wait_for(thread, &g.client.established)) {
		FAIL("connection not established");
	}
	if (axon_rdma_device_get_pd(g.server.dev) != g.server.id->qp->pd) {
		FAIL("server QP not in the shared PD");
	}
	printf("[%6.2f] CHECK ", elapsed()), printf("connected through the CM on %s, shared PD\n", addr);
	if (server_write_and_read() != 0) {
		FAIL("RDMA WRITE + READ");
	}
	for (i = 0; i < BUF_SIZE / 2; i++) {
		if (g.client_buf[i] != (uint8_t)(i * 7 + 1) ||
		    g.server_buf[BUF_SIZE / 2 + i] != (uint8_t)(i * 13 + 5)) {
			FAIL("data mismatch at %d", i);
		}
	}
	printf("[%6.2f] CHECK ", elapsed()), printf("rdma write %d bytes verified\n", BUF_SIZE / 2);
	printf("[%6.2f] CHECK ", elapsed()), printf("rdma read %d bytes verified\n", BUF_SIZE / 2);
	rdma_disconnect(g.client.id);
	if (!wait_for(thread, &g.server.disconnected)) {
		FAIL("no DISCONNECTED event on the server");
	}
	if (!wait_for(thread, &g.client.disconnected)) {
		FAIL("no DISCONNECTED event on the client");
	}
	printf("[%6.2f] CHECK ", elapsed()), printf("disconnected\n");
	rc = 0;
out:
	side_release(&g.server);
	side_release(&g.client);
	if (g.listen_id != NULL) {
		rdma_destroy_id(g.listen_id);
	}
	axon_rdma_cm_destroy(cm);
	axon_dma_free(g.server_buf);
	axon_dma_free(g.client_buf);
	axon_rdma_device_put(dev);
	return rc;
}

int
main(int argc, char **argv)
{
	struct axon_env_opts opts;
	struct axon_thread *thread;
	int rc;

	if (argc != 4 && !(argc == 5 && strcmp(argv[4], "huge") == 0)) {
		fprintf(stderr, "usage: %s DEVICE ADDR PORT [huge]\n", argv[0]);
		return 2;
	}
	g_huge = argc == 5;
	axon_env_opts_init(&opts);
	opts.name = "rdma_vm_check";
	opts.no_huge = !g_huge;
	opts.mem_size_mb = g_huge ? 0 : 64;
	if (axon_env_init(&opts) != 0 || axon_thread_lib_init(NULL, 0) != 0) {
		return 1;
	}
	thread = axon_thread_create("rdma_check", -1);
	if (thread == NULL) {
		return 1;
	}
	axon_set_thread(thread);
	rc = axon_rdma_init();
	if (rc != 0) {
		fprintf(stderr, "axon_rdma_init: %s\n", strerror(-rc));
		return 1;
	}
	elapsed();
	rc = run(argv[1], argv[2], (uint16_t)atoi(argv[3]), thread);
	axon_rdma_fini();
	printf("%s\n", axon_rdma_is_initialized() ? "FAIL: still initialised" : "CHECK fini");
	axon_thread_exit(thread);
	while (!axon_thread_is_exited(thread)) {
		axon_thread_poll(thread, 0, 0);
	}
	axon_set_thread(NULL);
	axon_thread_destroy(thread);
	axon_thread_lib_fini();
	axon_env_fini();
	return rc;
}
