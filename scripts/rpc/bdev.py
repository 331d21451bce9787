"""Block devices (lib/bdev and drivers/bdev): SPDK rpc.py's command lines."""

from .cmd import A, add, print_dict, print_json
from .framework import UsageError

MIB = 1024 * 1024


def _num_blocks(total_size_mib, block_size):
    """Total size in MiB -> blocks, on the client, as SPDK's rpc.py does."""
    if block_size <= 0:
        raise UsageError('block_size must be > 0, got %d' % block_size)
    if total_size_mib <= 0:
        raise UsageError('total_size must be > 0 MiB, got %s' % total_size_mib)
    return int(total_size_mib * MIB) // block_size


def _pick(args, *names):
    """params from the named attributes of args that are not None."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _malloc_create_params(args):
    p = _pick(args, 'name', 'uuid', 'optimal_io_boundary', 'md_size')
    p['num_blocks'] = _num_blocks(args.total_size, args.block_size)
    p['block_size'] = args.block_size
    if args.md_interleave:
        p['md_interleave'] = True
    return p


def _null_create_params(args):
    p = _pick(args, 'name', 'uuid', 'md_size')
    p['num_blocks'] = _num_blocks(args.total_size, args.block_size)
    p['block_size'] = args.block_size
    return p


def _file_create_params(args, *extra):
    p = _pick(args, 'name', 'filename', 'block_size', 'uuid', *extra)
    for flag in ('readonly', 'fallocate'):
        if getattr(args, flag, False):
            p[flag] = True
    return p


def _inject_params(args):
    return _pick(args, 'name', 'io_type', 'error_type', 'num', 'queue_depth', 'corrupt_offset',
                 'corrupt_value', 'sct', 'sc')


def _raid_create_params(args):
    p = _pick(args, 'name', 'strip_size_kb', 'raid_level', 'uuid')
    p['base_bdevs'] = args.base_bdevs.split()
    if args.superblock:
        p['superblock'] = True
    return p


def _set_options_params(args):
    p = _pick(args, 'bdev_io_pool_size', 'bdev_io_cache_size', 'small_buf_pool_size',
              'large_buf_pool_size')
    if args.bdev_auto_examine is not None:
        p['bdev_auto_examine'] = args.bdev_auto_examine
    return p or None


def _get_bdevs_params(args):
    p = _pick(args, 'name')
    if args.timeout_ms is not None:
        p['timeout'] = args.timeout_ms
    return p or None


def _iostat_params(args):
    p = _pick(args, 'name', 'reset_mode')
    if args.per_channel:
        p['per_channel'] = True
    return p or None


def _histogram_params(args):
    p = _pick(args, 'name', 'opc', 'granularity', 'min_nsec', 'max_nsec')
    p['enable'] = args.enable
    return p


NAME = A('name', help='bdev name')
UUID = A('-u', '--uuid', help='UUID of the bdev (optional)')


def add_parsers(sp):
    # ---- malloc ----
    add(sp, 'bdev_malloc_create', 'create a bdev with malloc backend',
        args=[A('-b', '--name', help='name of the bdev'), UUID,
              A('total_size', type=float, help='size of the malloc bdev in MiB (float > 0)'),
              A('block_size', type=int, help='data block size for this bdev'),
              A('-o', '--optimal-io-boundary', type=int,
                help='split on optimal IO boundary, in blocks (default 0: disabled)'),
              A('-m', '--md-size', type=int,
                help='metadata size for this bdev (0, 8, 16, 32, 64, or 128). Default 0'),
              A('-i', '--md-interleave', action='store_true',
                help='metadata interleaved with the data if set, else separate')],
        params=_malloc_create_params, output=print_json)
    add(sp, 'bdev_malloc_delete', 'delete a malloc disk', args=[A('name', help='malloc bdev name')])

    # ---- null ----
    add(sp, 'bdev_null_create', 'add a bdev with null backend',
        args=[A('name', help='block device name'), UUID,
              A('total_size', type=int, help='size of the null bdev in MiB (int > 0)'),
              A('block_size', type=int, help='data block size for this bdev'),
              A('-m', '--md-size', type=int, help='metadata size for this bdev. Default 0')],
        params=_null_create_params, output=print_json)
    add(sp, 'bdev_null_delete', 'delete a null bdev', args=[A('name', help='null bdev name')])
    add(sp, 'bdev_null_resize', 'resize a null bdev',
        args=[A('name', help='null bdev name'),
              A('new_size', type=int, help='new size of the bdev in MiB')],
        output=print_json)

    # ---- aio ----
    add(sp, 'bdev_aio_create', 'add a bdev with aio backend',
        args=[A('filename', help='path to device or file (ex: /dev/sda)'),
              A('name', help='block device name'),
              A('block_size', type=int, nargs='?', help='block size for this bdev'),
              A('-r', '--readonly', action='store_true', help='set this bdev as read-only'),
              A('--fallocate', action='store_true',
                help='support unmap/write zeroes by fallocate'),
              UUID],
        params=_file_create_params, output=print_json)
    add(sp, 'bdev_aio_rescan', 'rescan the size of an aio bdev',
        args=[A('name', help='block device name')], output=print_json)
    add(sp, 'bdev_aio_delete', 'delete an aio disk', args=[A('name', help='aio bdev name')])

    # ---- uring ----
    add(sp, 'bdev_uring_create', 'create a bdev with io_uring backend',
        args=[A('filename', help='path to device or file (ex: /dev/nvme0n1)'),
              A('name', help='bdev name'),
              A('block_size', type=int, nargs='?', help='block size for this bdev'),
              UUID],
        params=_file_create_params, output=print_json)
    add(sp, 'bdev_uring_delete', 'delete a uring bdev', args=[A('name', help='uring bdev name')])

    # ---- error ----
    add(sp, 'bdev_error_create', 'add bdev with error injection backend',
        args=[A('base_name', help='base bdev name'), A('--uuid', help='UUID for this bdev')],
        output=print_json)
    add(sp, 'bdev_error_delete', 'delete an error bdev', args=[A('name', help='error bdev name')])
    add(sp, 'bdev_error_inject_error', 'bdev inject error',
        args=[A('name', help='the name of the error injection bdev'),
              A('io_type', help="io_type: 'clear' 'read' 'write' 'unmap' 'flush' "
                                "'write_zeroes' 'all'"),
              A('error_type', help="error_type: 'failure' 'pending' 'corrupt_data' 'nomem'"),
              A('-n', '--num', type=int, help='the number of commands you want to fail'),
              A('-q', '--queue-depth', type=int,
                help='the queue depth at which to trigger the error'),
              A('-o', '--corrupt-offset', type=int,
                help='the offset in bytes to xor with corrupt_value'),
              A('-v', '--corrupt-value', type=int,
                help='the value for xor (1-255, 0 is invalid)'),
              A('--sct', type=int, help='fail with this NVMe status code type (with --sc)'),
              A('--sc', type=int, help='fail with this NVMe status code (with --sct)')],
        params=_inject_params)

    # ---- raid (mirror) ----
    add(sp, 'bdev_raid_create', 'create new raid bdev',
        args=[A('-n', '--name', required=True, help='raid bdev name'),
              A('-z', '--strip-size-kb', type=int, help='strip size in KB'),
              A('-r', '--raid-level', required=True, help='raid level: raid1'),
              A('-b', '--base-bdevs', required=True,
                help='base bdevs name, whitespace separated list in quotes'),
              A('--uuid', help='UUID for this raid bdev'),
              A('-s', '--superblock', action='store_true',
                help='store information about the raid bdev in a superblock on each base bdev')],
        params=_raid_create_params)
    add(sp, 'bdev_raid_delete', 'delete existing raid bdev', args=[A('name', help='raid bdev name')])
    add(sp, 'bdev_raid_get_bdevs', 'list raid bdevs by category',
        args=[A('category', help='all or online or configuring or offline')], output=print_dict)

    # ---- layer-wide ----
    add(sp, 'bdev_get_bdevs', 'display current blockdev list or required blockdev',
        args=[A('-b', '--name', help='name of the blockdev. Example: Nvme0n1'),
              A('-t', '--timeout-ms', type=int,
                help='time in ms to wait for the bdev to appear (only with -b)')],
        params=_get_bdevs_params, output=print_dict)
    add(sp, 'bdev_get_iostat', 'display I/O statistics of all or one blockdev',
        args=[A('-b', '--name', help='name of the blockdev. Example: Nvme0n1'),
              A('-c', '--per-channel', action='store_true',
                help='display per channel I/O stats for the specified device'),
              A('--reset-mode', choices=['all', 'maxmin', 'none'],
                help='mode to reset I/O statistics after getting')],
        params=_iostat_params, output=print_dict)
    add(sp, 'bdev_set_qos_limit', 'set QoS rate limit on a blockdev',
        args=[A('name', help='blockdev name to set QoS. Example: Malloc0'),
              A('--rw-ios-per-sec', type=int,
                help='R/W IOs per second limit (>=1000, example: 20000). 0 means unlimited.'),
              A('--rw-mbytes-per-sec', type=int,
                help='R/W megabytes per second limit (>=1, example: 100). 0 means unlimited.'),
              A('--r-mbytes-per-sec', type=int,
                help='read megabytes per second limit (>=1). 0 means unlimited.'),
              A('--w-mbytes-per-sec', type=int,
                help='write megabytes per second limit (>=1). 0 means unlimited.')])
    p = add(sp, 'bdev_enable_histogram', 'enable or disable histogram for specified bdev',
            args=[A('-o', '--opc', help='only this io type (default: all)'),
                  A('--granularity', type=int, help='histogram bucket granularity'),
                  A('--min-nsec', type=int, help='histogram min value in nanoseconds'),
                  A('--max-nsec', type=int, help='histogram max value in nanoseconds'),
                  NAME],
            params=_histogram_params)
    p.add_argument('-e', '--enable', default=True, dest='enable', action='store_true',
                   help='enable histograms on specified device')
    p.add_argument('-d', '--disable', dest='enable', action='store_false',
                   help='disable histograms on specified device')
    add(sp, 'bdev_get_histogram', 'get histogram for specified bdev', args=[NAME],
        output=print_dict)
    p = add(sp, 'bdev_set_options', 'set options of the bdev subsystem (start-up only)',
            args=[A('-p', '--bdev-io-pool-size', type=int,
                    help='number of bdev_io structures in the shared pool'),
                  A('-c', '--bdev-io-cache-size', type=int,
                    help='maximum number of bdev_io structures cached per thread'),
                  A('-s', '--small-buf-pool-size', type=int,
                    help='number of small (8 KiB) data buffers'),
                  A('-l', '--large-buf-pool-size', type=int,
                    help='number of large (128 KiB) data buffers')],
            params=_set_options_params)
    group = p.add_mutually_exclusive_group()
    group.add_argument('-e', '--enable-auto-examine', dest='bdev_auto_examine',
                       action='store_true', default=None, help='allow auto examine')
    group.add_argument('-d', '--disable-auto-examine', dest='bdev_auto_examine',
                       action='store_false', help='do not allow auto examine')
    add(sp, 'bdev_wait_for_examine', 'report when all bdevs have been examined')

    # ---- bdevperf -z ----
    add(sp, 'perform_tests', 'start a bdevperf run (bdevperf -z) and print its results',
        output=print_dict)
