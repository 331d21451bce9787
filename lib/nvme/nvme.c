/*
 * lib/nvme glue: the module's log flag, its clock, and the host identity
 * defaults (libnvme's /etc/nvme/hostnqn and /etc/nvme/hostid).
 * Unit tests replace this file with their own clock and identity.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nvme/fabrics.h>

#include "nvme_internal.h"

AXON_LOG_REGISTER_COMPONENT(nvme)

uint64_t nvme_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static bool hostid_is_zero(const uint8_t *hostid)
{
	static const uint8_t zero[16];

	return memcmp(hostid, zero, sizeof(zero)) == 0;
}

/* The UUID in "nqn.2014-08.org.nvmexpress:uuid:<uuid>", if it has one. */
static int hostid_from_nqn(const char *nqn, struct axon_uuid *uuid)
{
	const char *p = strstr(nqn, ":uuid:");

	return p != NULL ? axon_uuid_parse(uuid, p + 6) : -ENOENT;
}

static void fill_hostnqn(struct axon_nvme_ctrlr_opts *opts)
{
	struct axon_uuid uuid;
	char str[AXON_UUID_STRING_LEN];
	char *nqn;

	nqn = nvmf_hostnqn_from_file();
	if (nqn == NULL) {
		nqn = nvmf_hostnqn_generate();
	}
	if (nqn != NULL && strlen(nqn) <= AXON_NVMF_NQN_MAX_LEN) {
		snprintf(opts->hostnqn, sizeof(opts->hostnqn), "%s", nqn);
		free(nqn);
		return;
	}
	free(nqn);
	axon_uuid_generate(&uuid);
	axon_uuid_fmt_lower(str, sizeof(str), &uuid);
	snprintf(opts->hostnqn, sizeof(opts->hostnqn), "nqn.2014-08.org.nvmexpress:uuid:%s", str);
}

int nvme_fill_host_identity(struct axon_nvme_ctrlr_opts *opts)
{
	struct axon_uuid uuid;
	char *id;

	if (opts->hostnqn[0] == '\0') {
		fill_hostnqn(opts);
	}
	if (!hostid_is_zero(opts->hostid)) {
		return 0;
	}
	id = nvmf_hostid_from_file();
	if (id != NULL && axon_uuid_parse(&uuid, id) == 0) {
		memcpy(opts->hostid, uuid.u, sizeof(opts->hostid));
	} else if (hostid_from_nqn(opts->hostnqn, &uuid) == 0) {
		memcpy(opts->hostid, uuid.u, sizeof(opts->hostid));
	} else {
		axon_uuid_generate(&uuid);
		memcpy(opts->hostid, uuid.u, sizeof(opts->hostid));
	}
	free(id);
	return 0;
}
