/*
 * Unit tests for lib/sock's framework against a fake implementation whose
 * writes accept an exact number of bytes: partial writes at every byte
 * offset, the iovec cap, write interest, deferred removal during a batch,
 * sticky errors, the registry.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/sock/sock.c"
#include "lib/sock/sock_group.c"

#define FAKE_MAX_SOCKS 8

struct fake_sock {
	struct axon_sock base;
	size_t limit;    /* bytes the next writev may take (SIZE_MAX: all) */
	int next_err;    /* returned by the next writev when set */
	uint8_t out[64 * 1024];
	size_t outlen;
	int writev_calls;
	int last_iovcnt;
	bool readable, writable;
};

struct fake_group {
	struct axon_sock_group_impl base;
	struct fake_sock *socks[FAKE_MAX_SOCKS];
	bool write_interest[FAKE_MAX_SOCKS];
	int interest_calls;
};

static int g_closed_socks;

static struct fake_sock *to_fake(struct axon_sock *sock)
{
	return (struct fake_sock *)sock;
}

static struct axon_sock *fake_new(void)
{
	struct fake_sock *fs = calloc(1, sizeof(*fs));

	fs->limit = SIZE_MAX;
	return &fs->base;
}

static struct axon_sock *fake_listen(const char *ip, int port, const struct axon_sock_opts *opts)
{
	return fake_new();
}

static struct axon_sock *fake_accept(struct axon_sock *lsock)
{
	errno = EAGAIN;
	return NULL;
}

static void fake_close(struct axon_sock *sock)
{
	g_closed_socks++;
	free(sock);
}

static ssize_t fake_recv(struct axon_sock *sock, void *buf, size_t len)
{
	return -EAGAIN;
}

static ssize_t fake_readv(struct axon_sock *sock, struct iovec *iov, int iovcnt)
{
	return -EAGAIN;
}

static ssize_t fake_writev(struct axon_sock *sock, const struct iovec *iov, int iovcnt)
{
	struct fake_sock *fs = to_fake(sock);
	size_t taken = 0;

	fs->writev_calls++;
	fs->last_iovcnt = iovcnt;
	if (fs->next_err != 0) {
		return fs->next_err;
	}
	for (int i = 0; i < iovcnt && taken < fs->limit; i++) {
		size_t n = AXON_MIN(iov[i].iov_len, fs->limit - taken);

		CU_ASSERT_FATAL(fs->outlen + n <= sizeof(fs->out));
		memcpy(fs->out + fs->outlen, iov[i].iov_base, n);
		fs->outlen += n;
		taken += n;
	}
	if (taken == 0) {
		return -EAGAIN;
	}
	if (fs->limit != SIZE_MAX) {
		fs->limit -= taken;
	}
	return (ssize_t)taken;
}

static int fake_getaddr(struct axon_sock *sock, char *saddr, size_t slen, uint16_t *sport,
			char *caddr, size_t clen, uint16_t *cport)
{
	return -ENOTSUP;
}

static int fake_set_recvlowat(struct axon_sock *sock, int nbytes)
{
	return 0;
}

static int fake_connect_status(struct axon_sock *sock)
{
	return 0;
}

static bool fake_is_connected(struct axon_sock *sock)
{
	return true;
}

static struct axon_sock_group_impl *fake_group_create(void)
{
	return calloc(1, sizeof(struct fake_group));
}

static void fake_group_close(struct axon_sock_group_impl *gimpl)
{
	free(gimpl);
}

static int fake_slot(struct fake_group *fg, struct fake_sock *fs)
{
	for (int i = 0; i < FAKE_MAX_SOCKS; i++) {
		if (fg->socks[i] == fs) {
			return i;
		}
	}
	return -1;
}

static int fake_group_add(struct axon_sock_group_impl *gimpl, struct axon_sock *sock)
{
	struct fake_group *fg = (struct fake_group *)gimpl;
	int i = fake_slot(fg, NULL);

	fg->socks[i] = to_fake(sock);
	fg->write_interest[i] = false;
	return 0;
}

static int fake_group_remove(struct axon_sock_group_impl *gimpl, struct axon_sock *sock)
{
	struct fake_group *fg = (struct fake_group *)gimpl;
	int i = fake_slot(fg, to_fake(sock));

	CU_ASSERT_FATAL(i >= 0);
	fg->socks[i] = NULL;
	return 0;
}

static int fake_group_write_interest(struct axon_sock_group_impl *gimpl, struct axon_sock *sock,
				     bool on)
{
	struct fake_group *fg = (struct fake_group *)gimpl;
	int i = fake_slot(fg, to_fake(sock));

	CU_ASSERT_FATAL(i >= 0);
	CU_ASSERT_NOT_EQUAL(fg->write_interest[i], on); /* only transitions reach us */
	fg->write_interest[i] = on;
	fg->interest_calls++;
	return 0;
}

static int fake_group_poll(struct axon_sock_group_impl *gimpl, int max_events,
			   struct axon_sock_event *events)
{
	struct fake_group *fg = (struct fake_group *)gimpl;
	int n = 0;

	for (int i = 0; i < FAKE_MAX_SOCKS && n < max_events; i++) {
		struct fake_sock *fs = fg->socks[i];
		uint32_t flags = 0;

		if (fs == NULL) {
			continue;
		}
		flags |= fs->readable ? AXON_SOCK_EV_READ : 0;
		flags |= fs->writable && fg->write_interest[i] ? AXON_SOCK_EV_WRITE : 0;
		if (flags != 0) {
			events[n].sock = &fs->base;
			events[n].flags = flags;
			n++;
		}
	}
	return n;
}

static int fake_group_get_fd(struct axon_sock_group_impl *gimpl)
{
	return 42;
}

static const struct axon_sock_impl g_fake_impl = {
	.name = "fake",
	.priority = 5,
	.zcopy_supported = true,
	.listen = fake_listen,
	.connect = fake_listen,
	.accept = fake_accept,
	.close = fake_close,
	.recv = fake_recv,
	.readv = fake_readv,
	.writev = fake_writev,
	.getaddr = fake_getaddr,
	.set_recvlowat = fake_set_recvlowat,
	.connect_status = fake_connect_status,
	.is_connected = fake_is_connected,
	.group_create = fake_group_create,
	.group_close = fake_group_close,
	.group_add_sock = fake_group_add,
	.group_remove_sock = fake_group_remove,
	.group_set_write_interest = fake_group_write_interest,
	.group_poll = fake_group_poll,
	.group_get_fd = fake_group_get_fd,
};

static const struct axon_sock_impl g_low_impl = {
	.name = "low",
	.priority = 1,
};

AXON_SOCK_IMPL_REGISTER(fake, &g_fake_impl)
AXON_SOCK_IMPL_REGISTER(low, &g_low_impl)

/* ---- requests ------------------------------------------------------------ */

struct ut_req {
	struct axon_sock_request req;
	struct iovec iov[4];
	size_t end; /* stream offset of this request's last byte + 1 */
	int index;
	int err;
	int calls;
	struct axon_sock *sock;
};

static int g_order[512];
static int g_norder;
static struct axon_sock *g_close_from_cb;

static void req_cb(void *arg, int err)
{
	struct ut_req *r = arg;

	r->calls++;
	r->err = err;
	/* A request completes only once the kernel took every one of its bytes. */
	if (err == 0 && r->sock != NULL) {
		CU_ASSERT(to_fake(r->sock)->outlen >= r->end);
	}
	g_order[g_norder++] = r->index;
	if (g_close_from_cb != NULL) {
		axon_sock_close(&g_close_from_cb);
	}
}

static uint8_t g_pattern[4096];

/* Request i: iovec lengths taken from lens (0 allowed), bytes from the pattern. */
static void req_init(struct ut_req *r, int index, struct axon_sock *sock, const size_t *lens, int cnt,
		     size_t *off)
{
	memset(r, 0, sizeof(*r));
	r->index = index;
	r->sock = sock;
	for (int k = 0; k < cnt; k++) {
		r->iov[k].iov_base = g_pattern + *off;
		r->iov[k].iov_len = lens[k];
		*off += lens[k];
	}
	r->end = *off;
	r->req.iov = r->iov;
	r->req.iovcnt = cnt;
	r->req.cb_fn = req_cb;
	r->req.cb_arg = r;
}

static void setup_pattern(void)
{
	for (size_t i = 0; i < sizeof(g_pattern); i++) {
		g_pattern[i] = (uint8_t)(i * 13 + 1);
	}
	g_norder = 0;
}

/* Five requests of mixed shapes, including empty iovecs and an empty request. */
static size_t queue_mixed(struct axon_sock *sock, struct ut_req *r)
{
	static const size_t lens[5][4] = {{3, 0, 5}, {1}, {0}, {7, 2, 2, 1}, {4, 9}};
	static const int cnts[5] = {3, 1, 1, 4, 2};
	size_t off = 0;

	for (int i = 0; i < 5; i++) {
		req_init(&r[i], i, sock, lens[i], cnts[i], &off);
		CU_ASSERT_EQUAL(axon_sock_writev_async(sock, &r[i].req), 0);
	}
	return off;
}

static void test_partial_at_every_offset(void)
{
	struct ut_req r[5];
	size_t total;

	setup_pattern();
	{
		struct axon_sock *sock = axon_sock_connect("x", 1, NULL, NULL);

		total = queue_mixed(sock, r);
		axon_sock_close(&sock);
	}
	/* First write stops after `first` bytes, the rest goes `step` at a time. */
	for (size_t first = 0; first <= total; first++) {
		for (size_t step = 1; step <= 4; step++) {
			struct axon_sock *sock = axon_sock_connect("x", 1, "fake", NULL);
			struct fake_sock *fs = to_fake(sock);
			int rc, rounds = 0;

			setup_pattern();
			queue_mixed(sock, r);
			fs->limit = first;
			do {
				rc = axon_sock_flush(sock);
				/* Done exactly when the written bytes cover them, in order. */
				for (int i = 0; i < 5; i++) {
					CU_ASSERT_EQUAL(r[i].calls, fs->outlen >= r[i].end ? 1 : 0);
				}
				fs->limit = step;
				rounds++;
			} while (rc == -EAGAIN && rounds < 100);
			CU_ASSERT_EQUAL(rc, 0);
			CU_ASSERT_EQUAL(fs->outlen, total);
			CU_ASSERT_EQUAL(memcmp(fs->out, g_pattern, total), 0);
			CU_ASSERT_EQUAL(g_norder, 5);
			for (int i = 0; i < g_norder; i++) {
				CU_ASSERT_EQUAL(g_order[i], i);
				CU_ASSERT_EQUAL(r[i].err, 0);
			}
			axon_sock_close(&sock);
		}
	}
}

static void read_cb(void *arg, struct axon_sock_group *group, struct axon_sock *sock);

struct ut_reader {
	struct axon_sock *sock;
	int reads;
	struct axon_sock **close_list[3];
	struct axon_sock *remove;
};

static void read_cb(void *arg, struct axon_sock_group *group, struct axon_sock *sock)
{
	struct ut_reader *rd = arg;

	CU_ASSERT_PTR_EQUAL(sock, rd->sock);
	rd->reads++;
	to_fake(sock)->readable = false;
	CU_ASSERT_EQUAL(axon_sock_group_poll(group), -EBUSY);
	CU_ASSERT_EQUAL(axon_sock_group_close(&group), -EBUSY);
	if (rd->remove != NULL) {
		CU_ASSERT_EQUAL(axon_sock_group_remove_sock(group, rd->remove), 0);
	}
	for (int i = 0; i < 3; i++) {
		if (rd->close_list[i] != NULL && *rd->close_list[i] != NULL) {
			axon_sock_close(rd->close_list[i]);
		}
	}
}

static void test_group_deferred_removal(void)
{
	struct axon_sock_group *group = axon_sock_group_create(NULL);
	struct ut_reader rd[4];
	struct axon_sock *socks[4];
	int before = g_closed_socks;

	CU_ASSERT_PTR_NOT_NULL_FATAL(group);
	CU_ASSERT_EQUAL(axon_sock_group_get_fd(group), 42);
	memset(rd, 0, sizeof(rd));
	for (int i = 0; i < 4; i++) {
		socks[i] = axon_sock_connect("x", 1, NULL, NULL);
		rd[i].sock = socks[i];
		to_fake(socks[i])->readable = true;
		CU_ASSERT_EQUAL(axon_sock_group_add_sock(group, socks[i], read_cb, &rd[i]), 0);
	}
	/* The first callback closes itself and #2 and removes #1: only #3 runs after it. */
	rd[0].close_list[0] = &socks[0];
	rd[0].close_list[1] = &socks[2];
	rd[0].remove = socks[1];
	CU_ASSERT_EQUAL(axon_sock_group_poll(group), 2);
	CU_ASSERT_EQUAL(rd[0].reads, 1);
	CU_ASSERT_EQUAL(rd[1].reads, 0);
	CU_ASSERT_EQUAL(rd[2].reads, 0);
	CU_ASSERT_EQUAL(rd[3].reads, 1);
	CU_ASSERT_EQUAL(g_closed_socks - before, 2);
	CU_ASSERT_PTR_NULL(socks[0]);
	CU_ASSERT_PTR_NULL(socks[2]);

	CU_ASSERT_EQUAL(axon_sock_group_close(&group), -EBUSY);
	axon_sock_close(&socks[1]);
	axon_sock_close(&socks[3]);
	CU_ASSERT_EQUAL(axon_sock_group_close(&group), 0);
}

static void test_iov_cap_and_write_interest(void)
{
	static struct ut_req r[300];
	struct axon_sock_group *group = axon_sock_group_create(NULL);
	struct axon_sock *sock = axon_sock_connect("x", 1, NULL, NULL);
	struct fake_sock *fs = to_fake(sock);
	struct fake_group *fg = (struct fake_group *)group->gimpl;
	struct ut_reader rd = {.sock = sock};
	const size_t one = 1;
	size_t off = 0;

	setup_pattern();
	for (int i = 0; i < 300; i++) {
		req_init(&r[i], i, sock, &one, 1, &off);
		CU_ASSERT_EQUAL(axon_sock_writev_async(sock, &r[i].req), 0);
	}
	/* Queued before joining: the group flushes it on its next poll. */
	CU_ASSERT_EQUAL(axon_sock_group_add_sock(group, sock, read_cb, &rd), 0);
	CU_ASSERT_TRUE(axon_sock_group_has_pending_writes(group));

	/* All 256 iovecs taken: not blocked, just more to do next poll. */
	CU_ASSERT_EQUAL(axon_sock_group_poll(group), 1);
	CU_ASSERT_EQUAL(fs->writev_calls, 1);
	CU_ASSERT_EQUAL(fs->last_iovcnt, SOCK_FLUSH_MAX_IOV);
	CU_ASSERT_EQUAL(g_norder, SOCK_FLUSH_MAX_IOV);
	CU_ASSERT_FALSE(sock->write_armed);
	CU_ASSERT_EQUAL(fg->interest_calls, 0);
	CU_ASSERT_TRUE(axon_sock_group_has_pending_writes(group));

	/* A full socket: short write, then wait for writability without retrying. */
	fs->limit = 10;
	CU_ASSERT_EQUAL(axon_sock_group_poll(group), 1);
	CU_ASSERT_EQUAL(g_norder, SOCK_FLUSH_MAX_IOV + 10);
	CU_ASSERT_TRUE(sock->write_armed);
	CU_ASSERT_EQUAL(fg->interest_calls, 1);
	CU_ASSERT_FALSE(axon_sock_group_has_pending_writes(group));
	CU_ASSERT_EQUAL(axon_sock_group_poll(group), 0);
	CU_ASSERT_EQUAL(fs->writev_calls, 2);

	/* Writable, still too small: flushed, stays armed with no epoll change. */
	fs->writable = true;
	fs->limit = 4;
	CU_ASSERT_EQUAL(axon_sock_group_poll(group), 1);
	CU_ASSERT_EQUAL(fs->writev_calls, 3);
	CU_ASSERT_TRUE(sock->write_armed);
	CU_ASSERT_EQUAL(fg->interest_calls, 1);

	/* Room for everything: drained and disarmed. */
	fs->limit = SIZE_MAX;
	CU_ASSERT_EQUAL(axon_sock_group_poll(group), 1);
	CU_ASSERT_EQUAL(g_norder, 300);
	CU_ASSERT_FALSE(sock->write_armed);
	CU_ASSERT_EQUAL(fg->interest_calls, 2);
	CU_ASSERT_EQUAL(memcmp(fs->out, g_pattern, 300), 0);
	for (int i = 0; i < 300; i++) {
		CU_ASSERT_EQUAL(g_order[i], i);
	}
	CU_ASSERT_EQUAL(rd.reads, 0);

	axon_sock_close(&sock);
	CU_ASSERT_EQUAL(axon_sock_group_close(&group), 0);
}

/* A write callback that queues again waits for the next poll. */
static struct ut_req g_requeue[3];
static struct axon_sock *g_requeue_sock;
static struct axon_sock_group *g_requeue_group;

static void requeue_cb(void *arg, int err)
{
	struct ut_req *r = arg;

	r->calls++;
	/* Write callbacks run inside the poll too: no re-entry, no close. */
	CU_ASSERT_EQUAL(axon_sock_group_poll(g_requeue_group), -EBUSY);
	CU_ASSERT_EQUAL(axon_sock_group_close(&g_requeue_group), -EBUSY);
	if (r->index < 2) {
		struct ut_req *next = &g_requeue[r->index + 1];

		CU_ASSERT_EQUAL(axon_sock_writev_async(g_requeue_sock, &next->req), 0);
	}
}

static void test_requeue_from_callback(void)
{
	struct axon_sock_group *group = axon_sock_group_create(NULL);
	struct ut_reader rd = {0};
	const size_t len = 2;
	size_t off = 0;

	setup_pattern();
	g_requeue_sock = axon_sock_connect("x", 1, NULL, NULL);
	g_requeue_group = group;
	rd.sock = g_requeue_sock;
	CU_ASSERT_EQUAL(axon_sock_group_add_sock(group, g_requeue_sock, read_cb, &rd), 0);
	for (int i = 0; i < 3; i++) {
		req_init(&g_requeue[i], i, NULL, &len, 1, &off);
		g_requeue[i].req.cb_fn = requeue_cb;
	}
	CU_ASSERT_EQUAL(axon_sock_writev_async(g_requeue_sock, &g_requeue[0].req), 0);
	for (int poll = 0; poll < 3; poll++) {
		CU_ASSERT_EQUAL(axon_sock_group_poll(group), 1);
		CU_ASSERT_EQUAL(to_fake(g_requeue_sock)->writev_calls, poll + 1);
		CU_ASSERT_EQUAL(g_requeue[poll].calls, 1);
	}
	CU_ASSERT_EQUAL(axon_sock_group_poll(group), 0);
	axon_sock_close(&g_requeue_sock);
	CU_ASSERT_EQUAL(axon_sock_group_close(&group), 0);
}

static void test_sticky_error_and_close(void)
{
	struct axon_sock *sock = axon_sock_connect("x", 1, NULL, NULL);
	struct fake_sock *fs = to_fake(sock);
	struct ut_req r[5], more;
	const size_t len = 3;
	size_t off = 0;
	int before = g_closed_socks;

	setup_pattern();
	queue_mixed(sock, r);
	fs->next_err = -ECONNRESET;
	CU_ASSERT_EQUAL(axon_sock_flush(sock), -ECONNRESET);
	for (int i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(r[i].calls, 1);
		CU_ASSERT_EQUAL(r[i].err, -ECONNRESET);
		CU_ASSERT_EQUAL(g_order[i], i);
	}
	req_init(&more, 9, NULL, &len, 1, &off);
	CU_ASSERT_EQUAL(axon_sock_writev_async(sock, &more.req), 0);
	CU_ASSERT_EQUAL(more.calls, 0);
	CU_ASSERT_EQUAL(axon_sock_flush(sock), -ECONNRESET);
	CU_ASSERT_EQUAL(more.calls, 1);
	CU_ASSERT_EQUAL(fs->writev_calls, 1);
	axon_sock_close(&sock);
	CU_ASSERT_EQUAL(g_closed_socks - before, 1);
	before = g_closed_socks;

	/* Closing from a callback of its own queue: freed after the callbacks. */
	sock = axon_sock_connect("x", 1, NULL, NULL);
	queue_mixed(sock, r);
	g_norder = 0;
	g_close_from_cb = sock;
	CU_ASSERT_EQUAL(axon_sock_flush(sock), 0);
	CU_ASSERT_PTR_NULL(g_close_from_cb);
	CU_ASSERT_EQUAL(g_norder, 5);
	for (int i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(r[i].err, 0);
	}
	CU_ASSERT_EQUAL(g_closed_socks - before, 1);
	CU_ASSERT_EQUAL(axon_sock_writev_async(NULL, &more.req), -EINVAL);
	sock = axon_sock_connect("x", 1, NULL, NULL);
	axon_sock_close(&sock);
	CU_ASSERT_EQUAL(axon_sock_close(&sock), -EBADF);
	CU_ASSERT_EQUAL(g_closed_socks - before, 2);
}

static void test_registry_and_opts(void)
{
	struct axon_sock_opts opts;
	struct axon_sock *sock;

	CU_ASSERT_PTR_EQUAL(sock_default_impl(), &g_fake_impl); /* highest priority */
	CU_ASSERT_EQUAL(axon_sock_set_default_impl("low"), 0);
	CU_ASSERT_PTR_EQUAL(sock_default_impl(), &g_low_impl);
	CU_ASSERT_EQUAL(axon_sock_set_default_impl("fake"), 0);
	CU_ASSERT_EQUAL(axon_sock_set_default_impl("posix"), -ENOENT);

	axon_sock_opts_init(&opts);
	opts.zcopy = true;
	opts.priority = 2;
	sock = axon_sock_listen("x", 7, NULL, &opts);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sock);
	CU_ASSERT_TRUE(axon_sock_get_opts(sock)->zcopy);
	CU_ASSERT_STRING_EQUAL(axon_sock_get_impl_name(sock), "fake");
	CU_ASSERT_PTR_NULL(axon_sock_accept(sock));
	CU_ASSERT_EQUAL(errno, EAGAIN);
	axon_sock_close(&sock);
	opts.priority = -1;
	CU_ASSERT_PTR_NULL(axon_sock_listen("x", 7, NULL, &opts));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(axon_sock_listen(NULL, 7, NULL, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
}

int main(void)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("sock", NULL, NULL);
	CU_ADD_TEST(suite, test_registry_and_opts);
	CU_ADD_TEST(suite, test_partial_at_every_offset);
	CU_ADD_TEST(suite, test_group_deferred_removal);
	CU_ADD_TEST(suite, test_iov_cap_and_write_interest);
	CU_ADD_TEST(suite, test_requeue_from_callback);
	CU_ADD_TEST(suite, test_sticky_error_and_close);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
