/*
 * Unit tests of the aio bdev on real files in /tmp (never mocks): the
 * per-channel engine and file helpers (aio_queue_ut.h), then the bdev
 * through lib/bdev with the deterministic thread harness (aio_bdev_ut.h).
 */
#include <CUnit/Basic.h>

#include "drivers/bdev/aio/bdev_aio.c"
#include "drivers/bdev/aio/bdev_aio_queue.c"
#include "drivers/bdev/aio/bdev_file.c"

/* lib/env provides the clock. */
#define UT_THREADS_NO_TICKS
#include "test/common/ut_threads.h"

#include "aio_queue_ut.h"
#include "aio_bdev_ut.h"

int main(void)
{
	CU_pSuite s;
	unsigned n;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	s = CU_add_suite("aio_queue", NULL, NULL);
	qut_add_tests(s);
	s = CU_add_suite("aio_bdev", eut_suite_init, eut_suite_fini);
	eut_add_tests(s);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	n = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return n ? 1 : 0;
}
