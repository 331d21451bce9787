/*
 * Opening the file or block device behind an aio or uring bdev.
 *
 * Block size. Direct I/O must be aligned to the device's logical block size:
 * BLKSSZGET for a block device; for a file, statx(STATX_DIOALIGN) where the
 * kernel reports it (6.1+), else the logical block size of the device holding
 * the file (sysfs), else 512. A smaller explicit block size would make every
 * I/O fail with EINVAL, so it is refused up front.
 *
 * O_DIRECT. Some filesystems refuse it at open (EINVAL), others only at the
 * first I/O; one aligned read probes the latter. Either way the bdev falls
 * back to buffered I/O, which aio performs synchronously inside io_submit:
 * correct, but slow, hence the notice.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "axon/log.h"
#include "axon/util.h"
#include "bdev_file.h"

#define BDEV_FILE_MIN_BLOCK 512u
#define BDEV_FILE_MAX_BLOCK 65536u

static uint32_t read_sysfs_u32(const char *path)
{
	unsigned int v = 0;
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		return 0;
	}
	if (fscanf(f, "%u", &v) != 1) {
		v = 0;
	}
	fclose(f);
	return v;
}

/* Logical block size of the device holding a file (0: unknown). */
static uint32_t file_host_block_size(int fd, const struct stat *st)
{
	struct statx stx;
	char path[128];
	uint32_t v;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align != 0) {
		return stx.stx_dio_offset_align;
	}
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/logical_block_size",
		 major(st->st_dev), minor(st->st_dev));
	v = read_sysfs_u32(path);
	if (v == 0) {
		/* A partition has no queue/ of its own: ask its disk. */
		snprintf(path, sizeof(path),
			 "/sys/dev/block/%u:%u/../queue/logical_block_size",
			 major(st->st_dev), minor(st->st_dev));
		v = read_sysfs_u32(path);
	}
	return v;
}

static uint32_t detect_min_block_size(const struct bdev_file *f, const struct stat *st)
{
	uint32_t v = 0;
	int ssz;

	if (!f->direct) {
		return BDEV_FILE_MIN_BLOCK;
	}
	if (f->blockdev) {
		if (ioctl(f->fd, BLKSSZGET, &ssz) == 0 && ssz > 0) {
			v = (uint32_t)ssz;
		}
	} else {
		v = file_host_block_size(f->fd, st);
	}
	/* Anything odd (0, not a power of two) is treated as unknown. */
	if (v < BDEV_FILE_MIN_BLOCK || v > BDEV_FILE_MAX_BLOCK || (v & (v - 1)) != 0) {
		v = BDEV_FILE_MIN_BLOCK;
	}
	return v;
}

int bdev_file_get_size(const struct bdev_file *f, uint64_t *size)
{
	struct stat st;

	if (f->blockdev) {
		return ioctl(f->fd, BLKGETSIZE64, size) == 0 ? 0 : -errno;
	}
	if (fstat(f->fd, &st) != 0) {
		return -errno;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

/* True if direct reads fail with EINVAL although aligned. */
static bool direct_io_refused(const struct bdev_file *f, uint64_t size)
{
	void *buf;
	bool refused;

	if (size < f->min_block_size ||
	    posix_memalign(&buf, f->min_block_size, f->min_block_size) != 0) {
		return false;
	}
	refused = pread(f->fd, buf, f->min_block_size, 0) < 0 && errno == EINVAL;
	free(buf);
	return refused;
}

static int open_flags(bool readonly, bool direct)
{
	return (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (direct ? O_DIRECT : 0);
}

/* Open, O_DIRECT first. Fills fd, direct. */
static int file_open_fd(const char *path, bool readonly, struct bdev_file *f, char *err,
			size_t err_len)
{
	f->direct = true;
	f->fd = open(path, open_flags(readonly, true));
	if (f->fd < 0 && errno == EINVAL) {
		f->direct = false;
		f->fd = open(path, open_flags(readonly, false));
	}
	if (f->fd < 0) {
		int rc = -errno;

		snprintf(err, err_len, "filename: %s: %s", path, strerror(-rc));
		return rc;
	}
	return 0;
}

static int reopen_buffered(const char *path, bool readonly, struct bdev_file *f, char *err,
			   size_t err_len)
{
	close(f->fd);
	f->direct = false;
	f->fd = open(path, open_flags(readonly, false));
	if (f->fd < 0) {
		int rc = -errno;

		snprintf(err, err_len, "filename: %s: %s", path, strerror(-rc));
		return rc;
	}
	return 0;
}

static bool probe_punch_hole(const struct bdev_file *f)
{
	uint64_t end = AXON_ALIGN_UP(f->size, (uint64_t)f->block_size);

	/* A hole beyond the end of the file changes nothing, but the
	 * filesystem still says whether it can punch at all. */
	return fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)end,
			 (off_t)f->block_size) == 0;
}

static int choose_block_size(const char *path, uint32_t block_size, struct bdev_file *f,
			     char *err, size_t err_len)
{
	if (block_size == 0) {
		f->block_size = f->min_block_size;
		return 0;
	}
	if (block_size < BDEV_FILE_MIN_BLOCK || block_size > BDEV_FILE_MAX_BLOCK ||
	    (block_size & (block_size - 1)) != 0) {
		snprintf(err, err_len,
			 "block_size: expected a power of two from 512 to 65536, got %" PRIu32,
			 block_size);
		return -EINVAL;
	}
	if (block_size < f->min_block_size) {
		snprintf(err, err_len,
			 "block_size: %" PRIu32 " is smaller than the logical block size %" PRIu32
			 " of %s",
			 block_size, f->min_block_size, path);
		return -EINVAL;
	}
	f->block_size = block_size;
	return 0;
}

int bdev_file_open(const char *path, bool readonly, uint32_t block_size, bool probe_punch,
		   struct bdev_file *f, char *err, size_t err_len)
{
	struct stat st;
	int rc;

	memset(f, 0, sizeof(*f));
	rc = file_open_fd(path, readonly, f, err, err_len);
	if (rc != 0) {
		return rc;
	}
	if (fstat(f->fd, &st) != 0) {
		rc = -errno;
		snprintf(err, err_len, "filename: %s: %s", path, strerror(-rc));
		goto err_close;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		rc = -EINVAL;
		snprintf(err, err_len, "filename: %s is not a regular file or a block device",
			 path);
		goto err_close;
	}
	f->blockdev = S_ISBLK(st.st_mode);
	rc = bdev_file_get_size(f, &f->size);
	if (rc != 0) {
		snprintf(err, err_len, "filename: %s: cannot get its size: %s", path,
			 strerror(-rc));
		goto err_close;
	}
	f->min_block_size = detect_min_block_size(f, &st);
	if (f->direct && direct_io_refused(f, f->size)) {
		rc = reopen_buffered(path, readonly, f, err, err_len);
		if (rc != 0) {
			goto err_close;
		}
		f->min_block_size = BDEV_FILE_MIN_BLOCK;
	}
	if (!f->direct) {
		AXON_NOTICELOG("%s: the filesystem refuses O_DIRECT; using buffered I/O", path);
	}
	rc = choose_block_size(path, block_size, f, err, err_len);
	if (rc != 0) {
		goto err_close;
	}
	if (f->size < f->block_size) {
		rc = -EINVAL;
		snprintf(err, err_len,
			 "filename: %s is smaller than one block (%" PRIu64 " < %" PRIu32 " bytes)",
			 path, f->size, f->block_size);
		goto err_close;
	}
	f->punch_hole = probe_punch && !readonly && !f->blockdev && probe_punch_hole(f);
	return 0;

err_close:
	if (f->fd >= 0) {
		close(f->fd);
	}
	f->fd = -1;
	return rc;
}

void bdev_file_close(struct bdev_file *f)
{
	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
}
