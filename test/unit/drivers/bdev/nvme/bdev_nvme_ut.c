/*
 * Unit tests of the NVMe bdev's decisions that need no controller: bdev
 * names, the reconnect settings check (every rule names its parameter),
 * timeout actions, which failed I/O is retried after a reconnect, transport
 * IDs as JSON, and the option defaults. Attach, I/O, reset, loss timeout and
 * discovery run against a real target in test/functional/test_bdev_nvme.py.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/bdev/nvme/bdev_nvme.c"
#include "drivers/bdev/nvme/bdev_nvme_io.c"
#include "drivers/bdev/nvme/bdev_nvme_discovery.c"

static void test_bdev_name(void)
{
	char *name = nvme_bdev_name("Nvme0", 1);

	CU_ASSERT_STRING_EQUAL(name, "Nvme0n1");
	free(name);
	name = nvme_bdev_name("disc12", 4294967295u);
	CU_ASSERT_STRING_EQUAL(name, "disc12n4294967295");
	free(name);
}

static void test_check_reconnect(void)
{
	const char *param;

	/* Valid combinations. */
	CU_ASSERT_PTR_NULL(nvme_bdev_check_reconnect(0, 0, 0, &param));
	CU_ASSERT_PTR_NULL(nvme_bdev_check_reconnect(-1, 1, 0, &param));
	CU_ASSERT_PTR_NULL(nvme_bdev_check_reconnect(-1, 2, 5, &param));
	CU_ASSERT_PTR_NULL(nvme_bdev_check_reconnect(30, 2, 0, &param));
	CU_ASSERT_PTR_NULL(nvme_bdev_check_reconnect(30, 2, 10, &param));
	CU_ASSERT_PTR_NULL(nvme_bdev_check_reconnect(30, 30, 30, &param));
	/* Each rule names its parameter. */
	CU_ASSERT_PTR_NOT_NULL(nvme_bdev_check_reconnect(-2, 1, 0, &param));
	CU_ASSERT_STRING_EQUAL(param, "ctrlr_loss_timeout_sec");
	CU_ASSERT_PTR_NOT_NULL(nvme_bdev_check_reconnect(0, 1, 0, &param));
	CU_ASSERT_STRING_EQUAL(param, "reconnect_delay_sec");
	CU_ASSERT_PTR_NOT_NULL(nvme_bdev_check_reconnect(0, 0, 1, &param));
	CU_ASSERT_STRING_EQUAL(param, "fast_io_fail_timeout_sec");
	CU_ASSERT_PTR_NOT_NULL(nvme_bdev_check_reconnect(30, 0, 0, &param));
	CU_ASSERT_STRING_EQUAL(param, "reconnect_delay_sec");
	CU_ASSERT_PTR_NOT_NULL(nvme_bdev_check_reconnect(-1, 0, 0, &param));
	CU_ASSERT_STRING_EQUAL(param, "reconnect_delay_sec");
	CU_ASSERT_PTR_NOT_NULL(nvme_bdev_check_reconnect(5, 10, 0, &param));
	CU_ASSERT_STRING_EQUAL(param, "reconnect_delay_sec");
	CU_ASSERT_PTR_NOT_NULL(nvme_bdev_check_reconnect(30, 5, 2, &param));
	CU_ASSERT_STRING_EQUAL(param, "fast_io_fail_timeout_sec");
	CU_ASSERT_PTR_NOT_NULL(nvme_bdev_check_reconnect(30, 5, 31, &param));
	CU_ASSERT_STRING_EQUAL(param, "fast_io_fail_timeout_sec");
}

static void test_timeout_action(void)
{
	enum axon_nvme_timeout_action a = AXON_NVME_TIMEOUT_ACTION_NONE;

	CU_ASSERT_EQUAL(nvme_bdev_timeout_action_parse("reset", &a), 0);
	CU_ASSERT_EQUAL(a, AXON_NVME_TIMEOUT_ACTION_RESET);
	CU_ASSERT_EQUAL(nvme_bdev_timeout_action_parse("Abort", &a), 0);
	CU_ASSERT_EQUAL(a, AXON_NVME_TIMEOUT_ACTION_ABORT);
	CU_ASSERT_EQUAL(nvme_bdev_timeout_action_parse("none", &a), 0);
	CU_ASSERT_EQUAL(a, AXON_NVME_TIMEOUT_ACTION_NONE);
	CU_ASSERT_EQUAL(nvme_bdev_timeout_action_parse("explode", &a), -EINVAL);
	CU_ASSERT_STRING_EQUAL(nvme_bdev_timeout_action_str(AXON_NVME_TIMEOUT_ACTION_RESET),
			       "reset");
	CU_ASSERT_STRING_EQUAL(nvme_bdev_timeout_action_str((enum axon_nvme_timeout_action)9),
			       "none");
}

static void test_retry_decision(void)
{
	uint16_t sq_deletion = AXON_NVME_STATUS(0, 0x08);
	uint16_t transport = AXON_NVME_STATUS(0, 0x22);
	uint16_t path = AXON_NVME_STATUS(3, 0x00);
	uint16_t lba_range = AXON_NVME_STATUS(0, 0x80);
	uint16_t media = AXON_NVME_STATUS(2, 0x81);

	/* Aborted by a lost connection: retried while retries are left. */
	CU_ASSERT_TRUE(nvme_io_should_retry(sq_deletion, 0, 3, false));
	CU_ASSERT_TRUE(nvme_io_should_retry(sq_deletion, 2, 3, false));
	CU_ASSERT_FALSE(nvme_io_should_retry(sq_deletion, 3, 3, false));
	CU_ASSERT_TRUE(nvme_io_should_retry(transport, 0, 1, false));
	CU_ASSERT_TRUE(nvme_io_should_retry(path, 0, 1, false));
	/* -1: always; 0: never. */
	CU_ASSERT_TRUE(nvme_io_should_retry(sq_deletion, 1000000, -1, false));
	CU_ASSERT_FALSE(nvme_io_should_retry(sq_deletion, 0, 0, false));
	/* Never once the controller is given up, with DNR, or for a real error. */
	CU_ASSERT_FALSE(nvme_io_should_retry(sq_deletion, 0, -1, true));
	CU_ASSERT_FALSE(nvme_io_should_retry(sq_deletion | AXON_NVME_STATUS_DNR, 0, -1, false));
	CU_ASSERT_FALSE(nvme_io_should_retry(lba_range, 0, -1, false));
	CU_ASSERT_FALSE(nvme_io_should_retry(media, 0, -1, false));
	CU_ASSERT_FALSE(nvme_io_should_retry(AXON_NVME_STATUS(0, 0x07), 0, -1, false));
}

static void test_trid_json(void)
{
	struct axon_nvme_trid trid = {.trtype = AXON_NVME_TRTYPE_TCP,
				      .adrfam = AXON_NVME_ADRFAM_IPV4};
	json_t *obj;

	snprintf(trid.traddr, sizeof(trid.traddr), "10.0.0.1");
	snprintf(trid.trsvcid, sizeof(trid.trsvcid), "4420");
	snprintf(trid.subnqn, sizeof(trid.subnqn), "nqn.2016-06.io.axon:x");
	obj = nvme_trid_to_json(&trid);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(obj, "trtype")), "TCP");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(obj, "adrfam")), "IPv4");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(obj, "trsvcid")), "4420");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(obj, "subnqn")),
			       "nqn.2016-06.io.axon:x");
	json_decref(obj);

	memset(&trid, 0, sizeof(trid));
	trid.trtype = AXON_NVME_TRTYPE_PCIE;
	snprintf(trid.traddr, sizeof(trid.traddr), "0000:00:04.0");
	obj = nvme_trid_to_json(&trid);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(obj, "trtype")), "PCIe");
	CU_ASSERT_PTR_NULL(json_object_get(obj, "adrfam"));
	CU_ASSERT_PTR_NULL(json_object_get(obj, "trsvcid"));
	CU_ASSERT_PTR_NULL(json_object_get(obj, "subnqn"));
	json_decref(obj);
}

static void test_state_str(void)
{
	CU_ASSERT_STRING_EQUAL(nvme_bdev_ctrlr_state_str(NVME_BDEV_CTRLR_ENABLED), "enabled");
	CU_ASSERT_STRING_EQUAL(nvme_bdev_ctrlr_state_str(NVME_BDEV_CTRLR_RESETTING), "resetting");
	CU_ASSERT_STRING_EQUAL(nvme_bdev_ctrlr_state_str(NVME_BDEV_CTRLR_FAILED), "failed");
	CU_ASSERT_STRING_EQUAL(nvme_bdev_ctrlr_state_str(NVME_BDEV_CTRLR_DELETING), "deleting");
}

static void test_defaults(void)
{
	struct nvme_bdev_opts opts;
	struct nvme_attach_opts aopts;
	const char *param;

	nvme_bdev_opts_defaults(&opts);
	CU_ASSERT_EQUAL(opts.action_on_timeout, AXON_NVME_TIMEOUT_ACTION_NONE);
	CU_ASSERT_EQUAL(opts.bdev_retry_count, 3);
	/* The defaults pass their own check. */
	CU_ASSERT_PTR_NULL(nvme_bdev_check_reconnect(opts.ctrlr_loss_timeout_sec,
						     opts.reconnect_delay_sec,
						     opts.fast_io_fail_timeout_sec, &param));
	g_nvme_bdev_opts = opts;
	g_nvme_bdev_opts.ctrlr_loss_timeout_sec = 7;
	nvme_attach_opts_init(&aopts);
	CU_ASSERT_EQUAL(aopts.ctrlr_loss_timeout_sec, 7);
	CU_ASSERT_PTR_NULL(aopts.name);
	g_nvme_bdev_opts = opts;
}

int main(void)
{
	CU_pSuite suite;
	unsigned int n;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("bdev_nvme", NULL, NULL);
	CU_add_test(suite, "bdev name", test_bdev_name);
	CU_add_test(suite, "reconnect settings", test_check_reconnect);
	CU_add_test(suite, "timeout action", test_timeout_action);
	CU_add_test(suite, "retry decision", test_retry_decision);
	CU_add_test(suite, "trid json", test_trid_json);
	CU_add_test(suite, "state names", test_state_str);
	CU_add_test(suite, "defaults", test_defaults);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	n = CU_get_number_of_failures();
	CU_cleanup_registry();
	return n ? 1 : 0;
}
