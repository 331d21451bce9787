/*
 * NVMe over PCIe through VFIO: finding controllers in sysfs, attaching one
 * with DPDK's rte_vfio (the device joins EAL's default container, so every
 * DMA buffer EAL hands out is already mapped for it), BAR0 and bus
 * mastering, register access, detach with a shutdown notification, and the
 * transport's ops table.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <rte_vfio.h>

#include "axon/env.h"

#include "pcie_internal.h"

AXON_LOG_REGISTER_COMPONENT(nvme_pcie)

/* How often a detach re-reads CSTS while waiting for shutdown or not-ready. */
#define PCIE_DETACH_POLL_US 1000u
/* CAP.TO is in 500 ms units. */
#define PCIE_CAP_TO_UNIT_US 500000u

/* ---- sysfs ------------------------------------------------------------------------- */

/* Hex digits up to the separator end (at most max of them). Returns 0 or -EINVAL. */
static int parse_hex_field(const char **p, char end, unsigned int max, unsigned int *val)
{
	unsigned int n = 0, v = 0;
	char c;

	while ((c = **p) != '\0' && isxdigit((unsigned char)c) && n < max) {
		v = v * 16u + (unsigned int)(isdigit((unsigned char)c) ? c - '0' : (c | 0x20) - 'a' + 10);
		(*p)++;
		n++;
	}
	if (n == 0 || **p != end) {
		return -EINVAL;
	}
	if (end != '\0') {
		(*p)++;
	}
	*val = v;
	return 0;
}

int pcie_parse_bdf(const char *str, char *bdf, size_t len)
{
	unsigned int dom = 0, bus, dev, fn;
	const char *p = str;
	int rc = 0;

	if (strchr(str, ':') != strrchr(str, ':')) {
		rc = parse_hex_field(&p, ':', 4, &dom);
	}
	rc = rc ?: parse_hex_field(&p, ':', 2, &bus);
	rc = rc ?: parse_hex_field(&p, '.', 2, &dev);
	rc = rc ?: parse_hex_field(&p, '\0', 1, &fn);
	if (rc != 0 || dev > 0x1f || fn > 7) {
		return -EINVAL;
	}
	return snprintf(bdf, len, "%04x:%02x:%02x.%x", dom, bus, dev, fn) < (int)len ? 0 : -EINVAL;
}

static int read_class(const char *root, const char *bdf, uint32_t *class_code)
{
	char path[PATH_MAX], buf[32];
	FILE *f;
	int rc = -EIO;

	snprintf(path, sizeof(path), "%s/%s/class", root, bdf);
	f = fopen(path, "r");
	if (f == NULL) {
		return -errno;
	}
	if (fgets(buf, sizeof(buf), f) != NULL) {
		*class_code = (uint32_t)strtoul(buf, NULL, 0);
		rc = 0;
	}
	fclose(f);
	return rc;
}

/* The bound driver's name, or "" for none. */
static void read_driver(const char *root, const char *bdf, char *driver, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *name;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s/driver", root, bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0) {
		driver[0] = '\0';
		return;
	}
	link[n] = '\0';
	name = strrchr(link, '/');
	name = name != NULL ? name + 1 : link;
	/* Driver names are short; a longer one is cut, never overflows. */
	if (len > 0) {
		size_t copy = strnlen(name, len - 1);

		memcpy(driver, name, copy);
		driver[copy] = '\0';
	}
}

int pcie_enumerate(const char *sysfs_root, pcie_enum_fn fn, void *ctx)
{
	char driver[64];
	struct dirent *de;
	uint32_t class_code;
	DIR *dir;
	int rc = 0;

	dir = opendir(sysfs_root);
	if (dir == NULL) {
		return -errno;
	}
	while (rc == 0 && (de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' || read_class(sysfs_root, de->d_name, &class_code) != 0 ||
		    class_code != PCIE_NVME_CLASS_CODE) {
			continue;
		}
		read_driver(sysfs_root, de->d_name, driver, sizeof(driver));
		rc = fn(de->d_name, driver, ctx);
	}
	closedir(dir);
	return rc;
}

static int log_candidate(const char *bdf, const char *driver, void *ctx)
{
	unsigned int *count = ctx;

	AXON_ERRLOG("  NVMe controller %s (%s)\n", bdf, driver[0] != '\0' ? driver : "no driver");
	(*count)++;
	return 0;
}

/* Only an NVMe controller bound to vfio-pci is ours to drive. */
static int check_device(const char *bdf)
{
	unsigned int count = 0;
	char driver[64];
	uint32_t class_code;

	if (read_class(PCIE_SYSFS_DEVICES, bdf, &class_code) != 0) {
		AXON_ERRLOG("%s: no such PCI device; this machine has:\n", bdf);
		pcie_enumerate(PCIE_SYSFS_DEVICES, log_candidate, &count);
		if (count == 0) {
			AXON_ERRLOG("  no NVMe controller\n");
		}
		return -ENODEV;
	}
	if (class_code != PCIE_NVME_CLASS_CODE) {
		AXON_ERRLOG("%s: not an NVMe controller (class 0x%06x)\n", bdf, class_code);
		return -ENODEV;
	}
	read_driver(PCIE_SYSFS_DEVICES, bdf, driver, sizeof(driver));
	if (strcmp(driver, "vfio-pci") != 0) {
		AXON_ERRLOG("%s: bound to %s%s%s, not vfio-pci: hand it to Axon with "
			    "'PCI_ALLOWED=%s scripts/setup.sh'\n",
			    bdf, driver[0] != '\0' ? "driver '" : "no driver",
			    driver, driver[0] != '\0' ? "'" : "", bdf);
		return -EPERM;
	}
	return 0;
}

/* ---- VFIO --------------------------------------------------------------------------- */

static int region_info(struct pcie_ctrlr *pctrlr, uint32_t index, struct vfio_region_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	info->index = index;
	if (ioctl(pctrlr->dev_fd, VFIO_DEVICE_GET_REGION_INFO, info) != 0) {
		return -errno;
	}
	return 0;
}

static int map_bar0(struct pcie_ctrlr *pctrlr)
{
	struct vfio_region_info info;
	void *addr;
	int rc;

	rc = region_info(pctrlr, VFIO_PCI_BAR0_REGION_INDEX, &info);
	if (rc != 0 || !(info.flags & VFIO_REGION_INFO_FLAG_MMAP) ||
	    info.size < PCIE_DOORBELL_BASE + 8u) {
		AXON_ERRLOG("%s: BAR0 cannot be mapped (%d, flags 0x%x, %llu bytes)\n", pctrlr->bdf,
			    rc, info.flags, (unsigned long long)info.size);
		return rc != 0 ? rc : -ENOTSUP;
	}
	addr = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, pctrlr->dev_fd,
		    (off_t)info.offset);
	if (addr == MAP_FAILED) {
		rc = -errno;
		AXON_ERRLOG("%s: mmap of BAR0 failed: %s\n", pctrlr->bdf, strerror(-rc));
		return rc;
	}
	pctrlr->regs = addr;
	pctrlr->regs_size = info.size;
	return 0;
}

/* Set or clear bus mastering (and memory decoding) in the PCI command register. */
static int set_bus_master(struct pcie_ctrlr *pctrlr, bool on)
{
	struct vfio_region_info info;
	uint16_t cmd;
	int rc;

	rc = region_info(pctrlr, VFIO_PCI_CONFIG_REGION_INDEX, &info);
	if (rc != 0) {
		return rc;
	}
	if (pread(pctrlr->dev_fd, &cmd, sizeof(cmd), (off_t)(info.offset + PCI_COMMAND)) !=
	    sizeof(cmd)) {
		return -EIO;
	}
	if (on) {
		cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	} else {
		cmd &= (uint16_t)~PCI_COMMAND_MASTER;
	}
	if (pwrite(pctrlr->dev_fd, &cmd, sizeof(cmd), (off_t)(info.offset + PCI_COMMAND)) !=
	    sizeof(cmd)) {
		return -EIO;
	}
	return 0;
}

static int vfio_attach(struct pcie_ctrlr *pctrlr)
{
	struct vfio_device_info info = {.argsz = sizeof(info)};
	int rc;

	if (!axon_env_is_initialized()) {
		AXON_ERRLOG("%s: the environment (EAL) is not initialised\n", pctrlr->bdf);
		return -ENODEV;
	}
	if (rte_vfio_is_enabled("vfio_pci") != 1) {
		AXON_ERRLOG("%s: VFIO is not available to this process (load vfio-pci, e.g. with "
			    "scripts/setup.sh, before starting)\n", pctrlr->bdf);
		return -ENODEV;
	}
	rc = rte_vfio_setup_device(PCIE_SYSFS_DEVICES, pctrlr->bdf, &pctrlr->dev_fd, &info);
	if (rc != 0) {
		AXON_ERRLOG("%s: VFIO setup failed (%d): is the IOMMU on and the device's group "
			    "viable?\n", pctrlr->bdf, rc);
		pctrlr->dev_fd = -1;
		return -ENODEV;
	}
	if (info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX) {
		AXON_ERRLOG("%s: VFIO reports %u regions\n", pctrlr->bdf, info.num_regions);
		return -ENODEV;
	}
	rc = map_bar0(pctrlr);
	if (rc != 0) {
		return rc;
	}
	rc = set_bus_master(pctrlr, true);
	if (rc != 0) {
		AXON_ERRLOG("%s: cannot enable bus mastering: %d\n", pctrlr->bdf, rc);
	}
	return rc;
}

static void vfio_detach(struct pcie_ctrlr *pctrlr)
{
	if (pctrlr->regs != NULL) {
		munmap((void *)pctrlr->regs, pctrlr->regs_size);
		pctrlr->regs = NULL;
	}
	if (pctrlr->dev_fd >= 0) {
		set_bus_master(pctrlr, false);
		rte_vfio_release_device(PCIE_SYSFS_DEVICES, pctrlr->bdf, pctrlr->dev_fd);
		pctrlr->dev_fd = -1;
	}
}

/* ---- controller ------------------------------------------------------------------------ */

static struct pcie_ctrlr *get_pctrlr(struct axon_nvme_ctrlr *ctrlr)
{
	return axon_nvme_ctrlr_get_transport_ctx(ctrlr);
}

static bool is_removed(struct pcie_ctrlr *pctrlr)
{
	return __atomic_load_n(&pctrlr->removed, __ATOMIC_ACQUIRE);
}

static void mark_removed(struct pcie_ctrlr *pctrlr)
{
	if (!is_removed(pctrlr)) {
		AXON_ERRLOG("%s: the controller is gone (BAR0 reads all-ones)\n", pctrlr->bdf);
		__atomic_store_n(&pctrlr->removed, true, __ATOMIC_RELEASE);
	}
}

static int pcie_ctrlr_construct(struct axon_nvme_ctrlr *ctrlr, void **tctx)
{
	const struct axon_nvme_trid *trid = axon_nvme_ctrlr_get_trid(ctrlr);
	union axon_nvme_cap cap;
	struct pcie_ctrlr *pctrlr;
	int rc;

	pctrlr = calloc(1, sizeof(*pctrlr));
	if (pctrlr == NULL) {
		return -ENOMEM;
	}
	pctrlr->ctrlr = ctrlr;
	pctrlr->dev_fd = -1;
	pthread_spin_init(&pctrlr->admin_lock, PTHREAD_PROCESS_PRIVATE);
	rc = pcie_parse_bdf(trid->traddr, pctrlr->bdf, sizeof(pctrlr->bdf));
	if (rc != 0) {
		AXON_ERRLOG("traddr '%s' is not a PCI address (like 0000:00:04.0)\n", trid->traddr);
		goto err;
	}
	rc = check_device(pctrlr->bdf);
	rc = rc ?: vfio_attach(pctrlr);
	if (rc != 0) {
		goto err;
	}
	cap.raw = (uint64_t)pcie_mmio_read_4(pcie_reg(pctrlr, AXON_NVME_PROP_CAP)) |
		  (uint64_t)pcie_mmio_read_4(pcie_reg(pctrlr, AXON_NVME_PROP_CAP + 4)) << 32;
	if (cap.raw == UINT64_MAX) {
		AXON_ERRLOG("%s: BAR0 reads all-ones\n", pctrlr->bdf);
		rc = -ENODEV;
		goto err;
	}
	pctrlr->db_stride = 4u << cap.bits.dstrd;
	*tctx = pctrlr;
	return 0;

err:
	vfio_detach(pctrlr);
	pthread_spin_destroy(&pctrlr->admin_lock);
	free(pctrlr);
	return rc;
}

/* Poll CSTS until (csts & mask) == want or timeout_us passes. */
static bool wait_csts(struct pcie_ctrlr *pctrlr, uint32_t mask, uint32_t want,
		      uint64_t timeout_us)
{
	uint64_t deadline = pcie_now_us() + timeout_us;
	uint32_t csts;

	do {
		csts = pcie_read_csts(pctrlr);
		if (is_removed(pctrlr)) {
			return false;
		}
		if ((csts & mask) == want) {
			return true;
		}
		usleep(PCIE_DETACH_POLL_US);
	} while (pcie_now_us() < deadline);
	return false;
}

/*
 * Leave the controller quiet before its memory goes: a normal shutdown
 * (the drive flushes its volatile cache), then CC.EN = 0, which also stops
 * any DMA into the admin queue.
 */
static void ctrlr_shutdown(struct pcie_ctrlr *pctrlr)
{
	union axon_nvme_cc cc = {.raw = pcie_mmio_read_4(pcie_reg(pctrlr, AXON_NVME_PROP_CC))};
	union axon_nvme_cap cap;
	union axon_nvme_csts mask = {.raw = 0}, want = {.raw = 0};

	if (cc.raw == UINT32_MAX) {
		mark_removed(pctrlr);
		return;
	}
	cap.raw = (uint64_t)pcie_mmio_read_4(pcie_reg(pctrlr, AXON_NVME_PROP_CAP)) |
		  (uint64_t)pcie_mmio_read_4(pcie_reg(pctrlr, AXON_NVME_PROP_CAP + 4)) << 32;
	if (cc.bits.en) {
		cc.bits.shn = AXON_NVME_SHN_NORMAL;
		pcie_mmio_write_4(pcie_reg(pctrlr, AXON_NVME_PROP_CC), cc.raw);
		mask.bits.shst = 3;
		want.bits.shst = AXON_NVME_SHST_COMPLETE;
		if (!wait_csts(pctrlr, mask.raw, want.raw, PCIE_SHUTDOWN_TIMEOUT_US)) {
			AXON_WARNLOG("%s: shutdown did not complete\n", pctrlr->bdf);
		}
	}
	cc.bits.shn = AXON_NVME_SHN_NONE;
	cc.bits.en = 0;
	pcie_mmio_write_4(pcie_reg(pctrlr, AXON_NVME_PROP_CC), cc.raw);
	mask.raw = 0;
	mask.bits.rdy = 1;
	if (!wait_csts(pctrlr, mask.raw, 0, AXON_MAX((uint64_t)cap.bits.to * PCIE_CAP_TO_UNIT_US,
						       (uint64_t)PCIE_CAP_TO_UNIT_US))) {
		AXON_WARNLOG("%s: the controller did not become not-ready\n", pctrlr->bdf);
	}
}

static void pcie_ctrlr_destruct(struct axon_nvme_ctrlr *ctrlr, void *tctx)
{
	struct pcie_ctrlr *pctrlr = tctx;

	if (pctrlr == NULL) {
		return;
	}
	if (!is_removed(pctrlr)) {
		ctrlr_shutdown(pctrlr);
	}
	pcie_qpair_free(pctrlr->retired_adminq);
	pcie_qpair_free(pctrlr->adminq);
	vfio_detach(pctrlr);
	pthread_spin_destroy(&pctrlr->admin_lock);
	free(pctrlr);
}

/* ---- registers ----------------------------------------------------------------------------- */

static int reg_check(struct pcie_ctrlr *pctrlr, uint32_t offset, uint32_t size)
{
	if (is_removed(pctrlr)) {
		return -ENODEV;
	}
	/* Doorbells are the transport's, never lib/nvme's. */
	return offset % 4 == 0 && offset + size <= PCIE_DOORBELL_BASE ? 0 : -EINVAL;
}

/* No register reads all-ones (each has reserved bits): that is a removed device. */
static int pcie_get_reg_4(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint32_t *value)
{
	struct pcie_ctrlr *pctrlr = get_pctrlr(ctrlr);
	int rc = reg_check(pctrlr, offset, 4);

	if (rc != 0) {
		return rc;
	}
	*value = pcie_mmio_read_4(pcie_reg(pctrlr, offset));
	if (*value == UINT32_MAX) {
		mark_removed(pctrlr);
		return -ENODEV;
	}
	return 0;
}

static int pcie_get_reg_8(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint64_t *value)
{
	struct pcie_ctrlr *pctrlr = get_pctrlr(ctrlr);
	int rc = reg_check(pctrlr, offset, 8);

	if (rc != 0) {
		return rc;
	}
	*value = (uint64_t)pcie_mmio_read_4(pcie_reg(pctrlr, offset)) |
		 (uint64_t)pcie_mmio_read_4(pcie_reg(pctrlr, offset + 4)) << 32;
	if (*value == UINT64_MAX) {
		mark_removed(pctrlr);
		return -ENODEV;
	}
	return 0;
}

static int pcie_set_reg_4(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint32_t value)
{
	struct pcie_ctrlr *pctrlr = get_pctrlr(ctrlr);
	int rc = reg_check(pctrlr, offset, 4);

	if (rc != 0) {
		return rc;
	}
	pcie_mmio_write_4(pcie_reg(pctrlr, offset), value);
	if (offset == AXON_NVME_PROP_CC && !(value & 1u)) {
		/* A disabled controller has no I/O queues left. */
		pcie_bump_generation(pctrlr);
	}
	return 0;
}

static int pcie_set_reg_8(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint64_t value)
{
	struct pcie_ctrlr *pctrlr = get_pctrlr(ctrlr);
	int rc = reg_check(pctrlr, offset, 8);

	if (rc != 0) {
		return rc;
	}
	pcie_write_reg_8(pctrlr, offset, value);
	return 0;
}

static int pcie_ctrlr_enable_adminq(struct axon_nvme_ctrlr *ctrlr, struct axon_nvme_qpair *qpair)
{
	struct pcie_ctrlr *pctrlr = get_pctrlr(ctrlr);
	struct pcie_qpair *adminq = pcie_qpair(qpair);
	uint32_t aqa = ((adminq->depth - 1) << 16) | (adminq->depth - 1);

	if (is_removed(pctrlr)) {
		return -ENODEV;
	}
	/* The controller is disabled here: nothing of the old rings is in flight. */
	pthread_spin_lock(&pctrlr->admin_lock);
	pcie_qpair_reset_rings(adminq);
	adminq->stash_count = 0;
	pcie_mmio_write_4(pcie_reg(pctrlr, PCIE_REG_AQA), aqa);
	pcie_write_reg_8(pctrlr, PCIE_REG_ASQ, adminq->sq_iova);
	pcie_write_reg_8(pctrlr, PCIE_REG_ACQ, adminq->cq_iova);
	pctrlr->admin_live = true;
	pthread_spin_unlock(&pctrlr->admin_lock);
	return 0;
}

static uint32_t pcie_ctrlr_get_max_xfer_size(struct axon_nvme_ctrlr *ctrlr)
{
	return PCIE_MAX_XFER_SIZE;
}

static void *pcie_dma_zalloc(size_t size, size_t align)
{
	if (!axon_env_is_initialized()) {
		AXON_ERRLOG("NVMe over PCIe needs DMA memory: initialise the environment first\n");
		return NULL;
	}
	return axon_dma_zmalloc(size, align, AXON_ENV_SOCKET_ID_ANY);
}

static void pcie_dma_free(void *buf)
{
	axon_dma_free(buf);
}

static const struct axon_nvme_transport_ops g_pcie_ops = {
	.name = "PCIe",
	.trtype = AXON_NVME_TRTYPE_PCIE,
	.fabrics = false,
	.ctrlr_construct = pcie_ctrlr_construct,
	.ctrlr_destruct = pcie_ctrlr_destruct,
	.ctrlr_get_reg_4 = pcie_get_reg_4,
	.ctrlr_get_reg_8 = pcie_get_reg_8,
	.ctrlr_set_reg_4 = pcie_set_reg_4,
	.ctrlr_set_reg_8 = pcie_set_reg_8,
	.ctrlr_enable_adminq = pcie_ctrlr_enable_adminq,
	.ctrlr_get_max_xfer_size = pcie_ctrlr_get_max_xfer_size,
	.qpair_create = pcie_qpair_create,
	.qpair_destroy = pcie_qpair_destroy,
	.qpair_connect = pcie_qpair_connect,
	.qpair_disconnect = pcie_qpair_disconnect,
	.qpair_submit = pcie_qpair_submit,
	.qpair_process_completions = pcie_qpair_process_completions,
	.dma_zalloc = pcie_dma_zalloc,
	.dma_free = pcie_dma_free,
};

AXON_NVME_TRANSPORT_REGISTER(pcie, &g_pcie_ops)
