/*
 * lib/bdev unit tests of QoS pacing (with the harness's controlled ticks:
 * 1 tick = 1 us) and of latency histograms. Included by bdev_ut.c.
 */

static int g_set_status = 1;

static void ut_set_done(void *arg, int status)
{
	(void)arg;
	g_set_status = status;
}

static void ut_set_limits(struct axon_bdev *bdev, uint64_t iops, uint64_t rw_mb, uint64_t r_mb,
			  uint64_t w_mb)
{
	uint64_t l[AXON_BDEV_QOS_NUM_RATE_LIMIT_TYPES] = {iops, rw_mb, r_mb, w_mb};

	ut_set_thread(0);
	g_set_status = 1;
	axon_bdev_set_qos_rate_limits(bdev, l, ut_set_done, NULL);
	ut_poll_threads();
	CU_ASSERT(g_set_status == 0);
}

/* A submitter that keeps `depth` reads of `blocks` in flight on a channel. */
struct ut_loader {
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch;
	uint64_t blocks;
	uint64_t done;
	uint64_t stop_at; /* stop resubmitting once done reaches it (0: never) */
	bool stop;
	uint8_t buf[8 * UT_BLOCKLEN];
};

static void ut_loader_done(struct axon_bdev_io *io, bool success, void *arg)
{
	struct ut_loader *l = arg;

	CU_ASSERT(success);
	axon_bdev_free_io(io);
	l->done++;
	if (!l->stop && (l->stop_at == 0 || l->done < l->stop_at)) {
		CU_ASSERT(axon_bdev_read_blocks(l->desc, l->ch, l->buf, 0, l->blocks,
						ut_loader_done, l) == 0);
	}
}

static void ut_loader_start(struct ut_loader *l, int depth)
{
	for (int i = 0; i < depth; i++) {
		CU_ASSERT(axon_bdev_read_blocks(l->desc, l->ch, l->buf, 0, l->blocks,
						ut_loader_done, l) == 0);
	}
}

/* Let simulated time pass, 1 ms at a time. */
static void ut_run_ms(int ms)
{
	for (int i = 0; i < ms; i++) {
		ut_ticks_advance(1000);
		ut_poll_threads();
	}
}

static void test_qos_iops_pacing(void)
{
	struct ut_disk *d = ut_disk_new("ut0", UT_TYPES_ALL);
	static struct ut_loader l[2];
	uint64_t limits[AXON_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	uint64_t total;

	ut_setup(3, 256, 32);
	CU_ASSERT_FATAL(axon_bdev_register(&d->bdev) == 0);
	for (int t = 0; t < 2; t++) {
		ut_open(t + 1, "ut0", &l[t].desc, &l[t].ch);
		l[t].blocks = 1;
		l[t].done = 0;
		l[t].stop_at = 0;
		l[t].stop = false;
	}
	ut_set_limits(&d->bdev, 2000, 0, 0, 0);
	axon_bdev_get_qos_rate_limits(&d->bdev, limits);
	CU_ASSERT(limits[0] == 2000 && limits[1] == 0);
	/* Two channels on two threads, 32 deep each, for one simulated second:
	 * they share the 2000 IOPS (plus the 10 ms burst a full bucket holds). */
	for (int t = 0; t < 2; t++) {
		ut_set_thread(t + 1);
		ut_loader_start(&l[t], 32);
	}
	ut_poll_threads();
	CU_ASSERT(l[0].done + l[1].done == 20);
	ut_run_ms(1000);
	total = l[0].done + l[1].done;
	CU_ASSERT(total >= 1990 && total <= 2030);
	/* Shared fairly, though thread 1's poller always runs first. */
	CU_ASSERT(l[0].done > 900 && l[1].done > 900);
	/* Raised on the fly: the new rate applies at once. */
	ut_set_limits(&d->bdev, 5000, AXON_BDEV_QOS_LIMIT_NOT_DEFINED, 0, 0);
	ut_run_ms(1000);
	total = l[0].done + l[1].done - total;
	CU_ASSERT(total >= 4950 && total <= 5050);
	/* Off: everything queued goes, and the loaders run unthrottled (each
	 * stops after 3000 more, without time passing). */
	for (int t = 0; t < 2; t++) {
		l[t].stop_at = l[t].done + 3000;
	}
	ut_set_limits(&d->bdev, 0, 0, 0, 0);
	for (int t = 0; t < 2; t++) {
		CU_ASSERT(l[t].done >= l[t].stop_at);
		l[t].stop = true;
	}
	for (int t = 0; t < 2; t++) {
		ut_close(t + 1, l[t].desc, l[t].ch);
	}
	ut_teardown();
	ut_disk_free(d);
}

static void test_qos_bandwidth(void)
{
	struct ut_disk *d = ut_disk_new("ut0", UT_TYPES_ALL);
	static struct ut_loader l;
	struct ut_cpl c = {0};
	static uint8_t buf[UT_BLOCKLEN];
	uint64_t before;

	ut_setup(2, 256, 32);
	CU_ASSERT_FATAL(axon_bdev_register(&d->bdev) == 0);
	ut_open(1, "ut0", &l.desc, &l.ch);
	l.blocks = 8; /* 4 KiB */
	l.done = 0;
	l.stop_at = 0;
	l.stop = false;
	/* Reads limited to 1 MiB/s: 256 reads of 4 KiB per second. */
	ut_set_limits(&d->bdev, 0, 0, 1, 0);
	ut_set_thread(1);
	ut_loader_start(&l, 16);
	ut_run_ms(1000);
	CU_ASSERT(l.done >= 250 && l.done <= 262);
	/* Writes are not metered by the read limit (once no read queues ahead:
	 * the queue is served in order). */
	l.stop = true;
	ut_run_ms(100);
	before = l.done;
	for (int i = 0; i < 10; i++) {
		CU_ASSERT(axon_bdev_write_blocks(l.desc, l.ch, buf, 0, 1, ut_io_done, &c) == 0);
	}
	ut_poll_threads();
	CU_ASSERT(c.count == 10 && c.success && l.done == before);
	l.stop = false;
	ut_loader_start(&l, 16);
	/* Plus a read-write limit of 2 MiB/s and 100 IOPS: the tightest wins. */
	ut_set_limits(&d->bdev, 100, 2, AXON_BDEV_QOS_LIMIT_NOT_DEFINED, 0);
	before = l.done;
	ut_run_ms(1000);
	CU_ASSERT(l.done - before >= 95 && l.done - before <= 115);
	l.stop = true;
	ut_set_limits(&d->bdev, 0, 0, 0, 0);
	ut_poll_threads();
	/* Closing the channel with I/O still queued by QoS aborts it. */
	ut_set_limits(&d->bdev, 1, 0, 0, 0);
	ut_set_thread(1);
	c.count = 0;
	for (int i = 0; i < 20; i++) {
		CU_ASSERT(axon_bdev_read_blocks(l.desc, l.ch, buf, 0, 1, ut_io_done, &c) == 0);
	}
	ut_poll_threads();
	CU_ASSERT(c.count == 1);
	ut_close(1, l.desc, l.ch);
	CU_ASSERT(c.count == 20 && !c.success);
	ut_teardown();
	ut_disk_free(d);
}

/* ---- histograms --------------------------------------------------------------- */

static struct axon_bdev_histogram *g_hist;
static int g_hist_status = 1;

static void ut_hist_done(void *arg, int status, struct axon_bdev_histogram *h)
{
	(void)arg;
	g_hist_status = status;
	free(g_hist);
	g_hist = h;
}

static uint64_t ut_hist_total(const struct axon_bdev_histogram *h)
{
	uint64_t total = 0;

	for (uint32_t i = 0; i < h->num_buckets; i++) {
		total += h->bucket[i];
	}
	return total;
}

static void test_histogram_buckets(void)
{
	struct axon_bdev_histogram *h = bdev_histogram_alloc(BDEV_HISTOGRAM_SHIFT);

	CU_ASSERT_FATAL(h != NULL);
	CU_ASSERT(h->num_buckets == 58 * 128);
	bdev_histogram_tally(h, 0);
	bdev_histogram_tally(h, 127);
	bdev_histogram_tally(h, 128);
	bdev_histogram_tally(h, 255);
	bdev_histogram_tally(h, 256);
	bdev_histogram_tally(h, 257);
	bdev_histogram_tally(h, UINT64_MAX);
	CU_ASSERT(h->bucket[0] == 1 && h->bucket[127] == 1);
	CU_ASSERT(h->bucket[128 + 0] == 1 && h->bucket[128 + 127] == 1);
	/* Range 2 holds two values per bucket. */
	CU_ASSERT(h->bucket[256 + 0] == 2);
	CU_ASSERT(h->bucket[57 * 128 + 127] == 1);
	CU_ASSERT(ut_hist_total(h) == 7);
	free(h);
}

static void test_histogram_channels(void)
{
	struct ut_disk *d = ut_disk_new("ut0", UT_TYPES_ALL);
	struct axon_bdev_desc *desc[2];
	struct axon_io_channel *ch[2], *bch;
	static uint8_t buf[UT_BLOCKLEN];
	struct ut_cpl c = {0};

	ut_setup(3, 64, 8);
	d->inline_cpl = false;
	CU_ASSERT_FATAL(axon_bdev_register(&d->bdev) == 0);
	ut_open(1, "ut0", &desc[0], &ch[0]);
	ut_set_thread(0);
	axon_bdev_histogram_get(&d->bdev, ut_hist_done, NULL);
	CU_ASSERT(g_hist_status == -EINVAL && g_hist == NULL);
	g_set_status = 1;
	axon_bdev_histogram_enable(&d->bdev, true, ut_set_done, NULL);
	ut_poll_threads();
	CU_ASSERT(g_set_status == 0 && axon_bdev_histogram_is_enabled(&d->bdev));
	/* Latencies of 300 and 5 ticks on thread 1. */
	ut_set_thread(1);
	bch = ut_backend_ch();
	CU_ASSERT(axon_bdev_read_blocks(desc[0], ch[0], buf, 0, 1, ut_io_done, &c) == 0);
	ut_ticks_advance(300);
	CU_ASSERT(ut_complete(bch, 1) == 1);
	CU_ASSERT(axon_bdev_read_blocks(desc[0], ch[0], buf, 0, 1, ut_io_done, &c) == 0);
	ut_ticks_advance(5);
	CU_ASSERT(ut_complete(bch, 1) == 1);
	axon_put_io_channel(bch);
	/* A channel opened after enabling counts too (thread 2, 1000 ticks). */
	ut_open(2, "ut0", &desc[1], &ch[1]);
	bch = ut_backend_ch();
	CU_ASSERT(axon_bdev_write_blocks(desc[1], ch[1], buf, 0, 1, ut_io_done, &c) == 0);
	ut_ticks_advance(1000);
	CU_ASSERT(ut_complete(bch, 1) == 1);
	axon_put_io_channel(bch);
	CU_ASSERT(c.count == 3);
	ut_set_thread(0);
	g_hist_status = 1;
	axon_bdev_histogram_get(&d->bdev, ut_hist_done, NULL);
	ut_poll_threads();
	CU_ASSERT_FATAL(g_hist_status == 0 && g_hist != NULL);
	CU_ASSERT(ut_hist_total(g_hist) == 3);
	CU_ASSERT(g_hist->bucket[5] == 1);
	CU_ASSERT(g_hist->bucket[(2 << 7) + ((300 >> 1) & 127)] == 1);
	CU_ASSERT(g_hist->bucket[(3 << 7) + ((1000 >> 2) & 127)] == 1);
	/* Off: the counts go, and getting fails. */
	axon_bdev_histogram_enable(&d->bdev, false, ut_set_done, NULL);
	ut_poll_threads();
	axon_bdev_histogram_get(&d->bdev, ut_hist_done, NULL);
	CU_ASSERT(g_hist_status == -EINVAL && g_hist == NULL);
	ut_close(1, desc[0], ch[0]);
	ut_close(2, desc[1], ch[1]);
	ut_teardown();
	ut_disk_free(d);
}

static void qos_ut_add_tests(CU_pSuite suite)
{
	CU_add_test(suite, "qos_iops_pacing", test_qos_iops_pacing);
	CU_add_test(suite, "qos_bandwidth", test_qos_bandwidth);
	CU_add_test(suite, "histogram_buckets", test_histogram_buckets);
	CU_add_test(suite, "histogram_channels", test_histogram_channels);
}
