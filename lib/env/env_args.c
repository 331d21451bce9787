/*
 * Build EAL's command line from struct axon_env_opts.
 *
 * Everything EAL could reject is checked here first, with a message naming
 * the option: EAL's own argument errors print its whole usage text, and some
 * of its failures cannot be retried in the same process.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <mntent.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "axon/log.h"
#include "axon/util.h"
#include "env_internal.h"

#define HUGEPAGES_SYSFS_DIR "/sys/kernel/mm/hugepages"
/* EAL builds paths and memzone names from the prefix; keep it short. */
#define FILE_PREFIX_MAX_LEN 64
#define PCI_MAX_DOMAIN 0xffffu
#define PCI_MAX_BUS 0xffu
#define PCI_MAX_DEV 0x1fu
#define PCI_MAX_FN 0x7u

static void core_set_add(struct env_core_set *set, uint32_t core)
{
	set->bits[core / 64] |= UINT64_C(1) << (core % 64);
}

bool env_core_set_has(const struct env_core_set *set, uint32_t core)
{
	return core < AXON_ENV_MAX_CORES && (set->bits[core / 64] >> (core % 64)) & 1;
}

static bool core_set_empty(const struct env_core_set *set)
{
	for (size_t i = 0; i < ENV_CORE_WORDS; i++) {
		if (set->bits[i] != 0) {
			return false;
		}
	}
	return true;
}

int env_parse_core_mask(const char *mask, struct env_core_set *set)
{
	/* One grammar for core masks everywhere: lib/util's ("0x3", "3", "[0-1]", "0,1"). */
	struct axon_cpuset cpus;
	int cpu;

	memset(set, 0, sizeof(*set));
	if (mask == NULL || mask[0] == '\0') {
		AXON_ERRLOG("empty core mask\n");
		return -EINVAL;
	}
	axon_cpuset_zero(&cpus);
	if (axon_cpuset_parse(&cpus, mask) != 0) {
		AXON_ERRLOG("core mask '%s': expected a hex mask (0x3), a list (0,1) or a range ([0-1])\n",
			    mask);
		return -EINVAL;
	}
	AXON_CPUSET_FOREACH(cpu, &cpus) {
		if ((uint32_t)cpu >= AXON_ENV_MAX_CORES) {
			AXON_ERRLOG("core mask '%s': core %d is beyond the supported %u cores\n", mask,
				    cpu, AXON_ENV_MAX_CORES);
			return -EINVAL;
		}
		core_set_add(set, (uint32_t)cpu);
	}
	if (core_set_empty(set)) {
		AXON_ERRLOG("core mask '%s' selects no core\n", mask);
		return -EINVAL;
	}
	return 0;
}

/* EAL pins each core's thread; a core outside our affinity cannot be used. */
int env_check_cores_available(const char *mask, const struct env_core_set *set)
{
	cpu_set_t allowed;

	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
		AXON_ERRLOG("sched_getaffinity: %s\n", strerror(errno));
		return -errno;
	}
	for (uint32_t c = 0; c < AXON_ENV_MAX_CORES; c++) {
		if (env_core_set_has(set, c) && !CPU_ISSET(c, &allowed)) {
			AXON_ERRLOG("core mask '%s': core %u is not available to this process\n", mask,
				    c);
			return -EINVAL;
		}
	}
	return 0;
}

static bool hugetlbfs_mounted(void)
{
	struct mntent ent;
	char strings[1024];
	bool found = false;
	FILE *f = setmntent("/proc/mounts", "r");

	if (f == NULL) {
		return false;
	}
	while (!found && getmntent_r(f, &ent, strings, sizeof(strings)) != NULL) {
		found = strcmp(ent.mnt_type, "hugetlbfs") == 0;
	}
	endmntent(f);
	return found;
}

static unsigned long free_hugepages_in(const char *size_dir)
{
	char path[512];
	unsigned long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/free_hugepages", HUGEPAGES_SYSFS_DIR, size_dir);
	f = fopen(path, "r");
	if (f == NULL) {
		return 0;
	}
	if (fscanf(f, "%lu", &n) != 1) {
		n = 0;
	}
	fclose(f);
	return n;
}

bool env_system_has_hugepages(void)
{
	DIR *dir = opendir(HUGEPAGES_SYSFS_DIR);
	struct dirent *de;
	unsigned long free_pages = 0;

	if (dir == NULL) {
		return false;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, "hugepages-", strlen("hugepages-")) == 0) {
			free_pages += free_hugepages_in(de->d_name);
		}
	}
	closedir(dir);
	return free_pages > 0 && hugetlbfs_mounted();
}

static int args_add(struct env_args *args, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int args_add(struct env_args *args, const char *fmt, ...)
{
	size_t room = sizeof(args->buf) - args->buf_used;
	va_list ap;
	int n;

	if (args->argc >= ENV_MAX_ARGS) {
		AXON_ERRLOG("too many EAL arguments\n");
		return -EINVAL;
	}
	va_start(ap, fmt);
	n = vsnprintf(args->buf + args->buf_used, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		AXON_ERRLOG("EAL arguments too long\n");
		return -EINVAL;
	}
	args->argv[args->argc++] = args->buf + args->buf_used;
	args->argv[args->argc] = NULL;
	args->buf_used += (size_t)n + 1;
	return 0;
}

static int add_core_args(const struct axon_env_opts *opts, struct env_args *args)
{
	struct env_core_set *set = &args->cores;
	char list[AXON_ENV_MAX_CORES * 5];
	size_t used = 0;
	int rc;

	rc = env_parse_core_mask(opts->core_mask, set);
	if (rc != 0) {
		return rc;
	}
	if (opts->main_core < 0) {
		args->main_core = 0;
		while (!env_core_set_has(set, args->main_core)) {
			args->main_core++;
		}
	} else if (env_core_set_has(set, (uint32_t)opts->main_core)) {
		args->main_core = (uint32_t)opts->main_core;
	} else {
		AXON_ERRLOG("main core %d is not in core mask '%s'\n", opts->main_core,
			    opts->core_mask);
		return -EINVAL;
	}
	for (uint32_t c = 0; c < AXON_ENV_MAX_CORES; c++) {
		if (env_core_set_has(set, c)) {
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%u",
						 used ? "," : "", c);
		}
	}
	/* -l: EAL core ids equal CPU ids, so logs and the mask agree. */
	rc = args_add(args, "-l");
	rc = rc ?: args_add(args, "%s", list);
	rc = rc ?: args_add(args, "--main-lcore=%u", args->main_core);
	return rc;
}

static int add_memory_args(const struct axon_env_opts *opts, bool have_hugepages,
			   struct env_args *args)
{
	const char *iova = opts->iova_mode;
	int rc = 0;

	if (iova != NULL && strcmp(iova, "va") != 0 && strcmp(iova, "pa") != 0) {
		AXON_ERRLOG("IOVA mode '%s': expected 'va' or 'pa'\n", iova);
		return -EINVAL;
	}
	args->no_huge = opts->no_huge || !have_hugepages;
	if (args->no_huge) {
		/* Anonymous memory has no stable physical address: only VA works. */
		if (iova != NULL && strcmp(iova, "pa") == 0) {
			AXON_ERRLOG("IOVA mode 'pa' needs hugepages\n");
			return -EINVAL;
		}
		if (!opts->no_huge) {
			AXON_NOTICELOG("no free hugepages (or no hugetlbfs mount): using --no-huge\n");
		}
		rc = args_add(args, "--no-huge");
		rc = rc ?: args_add(args, "-m");
		rc = rc ?: args_add(args, "%zu",
				    opts->mem_size_mb ? opts->mem_size_mb : AXON_ENV_NO_HUGE_DEFAULT_MB);
		rc = rc ?: args_add(args, "--iova-mode=va");
		return rc;
	}
	if (opts->mem_size_mb != 0) {
		rc = args_add(args, "-m");
		rc = rc ?: args_add(args, "%zu", opts->mem_size_mb);
	}
	/* Give hugepages back exactly as allocated (needed to report memory
	 * freed to RDMA deregistration), and leave no files in hugetlbfs. */
	rc = rc ?: args_add(args, "--match-allocations");
	rc = rc ?: args_add(args, "--huge-unlink");
	if (iova != NULL) {
		rc = rc ?: args_add(args, "--iova-mode=%s", iova);
	}
	return rc;
}

static bool pci_addr_valid(const char *bdf)
{
	unsigned int dom = 0, bus, dev, fn;
	int end = -1;

	if (sscanf(bdf, "%4x:%2x:%2x.%1x%n", &dom, &bus, &dev, &fn, &end) == 4 &&
	    bdf[end] == '\0') {
		return dom <= PCI_MAX_DOMAIN && bus <= PCI_MAX_BUS && dev <= PCI_MAX_DEV &&
		       fn <= PCI_MAX_FN && isxdigit((unsigned char)bdf[0]);
	}
	end = -1;
	if (sscanf(bdf, "%2x:%2x.%1x%n", &bus, &dev, &fn, &end) == 3 && bdf[end] == '\0') {
		return bus <= PCI_MAX_BUS && dev <= PCI_MAX_DEV && fn <= PCI_MAX_FN &&
		       isxdigit((unsigned char)bdf[0]);
	}
	return false;
}

static int add_pci_args(const struct axon_env_opts *opts, struct env_args *args)
{
	int rc = 0;

	if (opts->no_pci) {
		return args_add(args, "--no-pci");
	}
	for (size_t i = 0; rc == 0 && i < AXON_ENV_MAX_PCI_ALLOWED && opts->pci_allowed[i]; i++) {
		if (!pci_addr_valid(opts->pci_allowed[i])) {
			AXON_ERRLOG("PCI address '%s': expected [DDDD:]BB:DD.F\n", opts->pci_allowed[i]);
			return -EINVAL;
		}
		rc = args_add(args, "-a");
		rc = rc ?: args_add(args, "%s", opts->pci_allowed[i]);
	}
	return rc;
}

static int add_prefix_arg(const struct axon_env_opts *opts, const char *base,
			  struct env_args *args)
{
	const char *prefix = opts->file_prefix;

	if (prefix == NULL) {
		return args_add(args, "--file-prefix=%s_%ld", base, (long)getpid());
	}
	if (prefix[0] == '\0' || strlen(prefix) > FILE_PREFIX_MAX_LEN || strpbrk(prefix, "/%")) {
		AXON_ERRLOG("file prefix '%s': 1 to %d characters, no '/' or '%%'\n", prefix,
			    FILE_PREFIX_MAX_LEN);
		return -EINVAL;
	}
	return args_add(args, "--file-prefix=%s", prefix);
}

int env_build_args(const struct axon_env_opts *opts, bool have_hugepages, struct env_args *args)
{
	char name[FILE_PREFIX_MAX_LEN];
	int rc;

	memset(args, 0, sizeof(*args));
	if (opts->name == NULL || opts->name[0] == '\0') {
		AXON_ERRLOG("the environment needs a name\n");
		return -EINVAL;
	}
	/* A program may pass argv[0]; the prefix takes its last component. */
	snprintf(name, sizeof(name), "%s", opts->name);
	rc = args_add(args, "%s", opts->name);
	rc = rc ?: add_prefix_arg(opts, basename(name), args);
	rc = rc ?: add_core_args(opts, args);
	rc = rc ?: add_memory_args(opts, have_hugepages, args);
	rc = rc ?: add_pci_args(opts, args);
	/* No secondary processes: keep no shared config files, which EAL would
	 * otherwise leave in its runtime directory after every run. */
	rc = rc ?: args_add(args, "--no-shconf");
	rc = rc ?: args_add(args, "--no-telemetry");
	/* A pattern, so that drivers loaded later are quiet too. */
	rc = rc ?: args_add(args, "--log-level=*:warning");
	return rc;
}
