"""NVMe bdevs (drivers/bdev/nvme): SPDK rpc.py's bdev_nvme_* command lines."""

from .cmd import A, add, print_dict


def _pick(args, *names):
    """params from the named attributes of args that are not None."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


RECONNECT = ('ctrlr_loss_timeout_sec', 'reconnect_delay_sec', 'fast_io_fail_timeout_sec')
RECONNECT_ARGS = [
    A('-l', '--ctrlr-loss-timeout-sec', type=int,
      help='give the controller up after this many seconds of failed reconnects '
           '(-1: never, 0: do not reconnect)'),
    A('-o', '--reconnect-delay-sec', type=int,
      help='seconds between reconnect attempts (0 only with ctrlr-loss-timeout-sec 0)'),
    A('-u', '--fast-io-fail-timeout-sec', type=int,
      help='fail I/O after this many seconds of reconnecting (0: only when given up)'),
]


def _attach_params(args):
    p = _pick(args, 'name', 'trtype', 'traddr', 'adrfam', 'trsvcid', 'subnqn', 'hostnqn',
              'hostaddr', 'hostsvcid', *RECONNECT)
    for flag in ('hdgst', 'ddgst'):
        if getattr(args, flag):
            p[flag] = True
    return p


def _print_names(result, args):
    for name in result:
        print(name)


def _set_options_params(args):
    return _pick(args, 'action_on_timeout', 'timeout_us', 'keep_alive_timeout_ms',
                 'bdev_retry_count', *RECONNECT) or None


def _start_discovery_params(args):
    p = _pick(args, 'name', 'trtype', 'traddr', 'adrfam', 'trsvcid', 'hostnqn', *RECONNECT)
    if args.wait_for_attach:
        p['wait_for_attach'] = True
    return p


def add_parsers(sp):
    add(sp, 'bdev_nvme_attach_controller', 'add bdevs with an NVMe backend',
        args=[A('-b', '--name', required=True,
                help='name of the NVMe controller; its bdevs are <name>n<nsid>'),
              A('-t', '--trtype', required=True, help='NVMe-oF target trtype: e.g., pcie, tcp'),
              A('-a', '--traddr', required=True,
                help='NVMe-oF target address: e.g., an IP address or BDF'),
              A('-f', '--adrfam', help='NVMe-oF target adrfam: e.g., ipv4, ipv6'),
              A('-s', '--trsvcid', help='NVMe-oF target trsvcid: e.g., a port number'),
              A('-n', '--subnqn', help='NVMe-oF target subnqn'),
              A('-q', '--hostnqn', help='NVMe-oF host subnqn'),
              A('-i', '--hostaddr', help='NVMe-oF host address (not supported)'),
              A('-c', '--hostsvcid', help='NVMe-oF host svcid (not supported)'),
              A('-e', '--hdgst', action='store_true', help='enable TCP header digest'),
              A('-d', '--ddgst', action='store_true', help='enable TCP data digest'),
              *RECONNECT_ARGS],
        params=_attach_params, output=_print_names)
    add(sp, 'bdev_nvme_detach_controller', 'detach an NVMe controller and delete its bdevs',
        args=[A('name', help='controller name')])
    add(sp, 'bdev_nvme_get_controllers', 'display current NVMe controllers list or required '
        'NVMe controller', args=[A('-n', '--name', help='name of the NVMe controller')],
        output=print_dict)
    add(sp, 'bdev_nvme_reset_controller', 'reset an NVMe controller (I/O waits meanwhile)',
        args=[A('name', help='controller name')])
    add(sp, 'bdev_nvme_set_options', 'set options for the bdev nvme type',
        args=[A('-p', '--action-on-timeout', help='action on command timeout: none, abort, reset'),
              A('-t', '--timeout-us', type=int,
                help='timeout of I/O commands in microseconds (0: none)'),
              A('-k', '--keep-alive-timeout-ms', type=int,
                help='keep alive timeout in milliseconds'),
              A('--bdev-retry-count', type=int,
                help='times an I/O aborted by a lost connection is retried (-1: always)'),
              *RECONNECT_ARGS],
        params=_set_options_params)
    add(sp, 'bdev_nvme_start_discovery', 'start automatic discovery',
        args=[A('-b', '--name', required=True,
                help='name of the discovery service; its controllers are <name><N>'),
              A('-t', '--trtype', required=True, help='NVMe-oF target trtype: e.g., tcp'),
              A('-a', '--traddr', required=True, help='NVMe-oF target address'),
              A('-f', '--adrfam', help='NVMe-oF target adrfam: e.g., ipv4, ipv6'),
              A('-s', '--trsvcid', help='NVMe-oF target trsvcid: e.g., a port number'),
              A('-q', '--hostnqn', help='NVMe-oF host subnqn'),
              A('-w', '--wait-for-attach', action='store_true',
                help='return only once every listed subsystem is attached'),
              *RECONNECT_ARGS],
        params=_start_discovery_params)
    add(sp, 'bdev_nvme_stop_discovery', 'stop automatic discovery',
        args=[A('-b', '--name', required=True, help='name of the discovery service')])
    add(sp, 'bdev_nvme_get_discovery_info', 'display the discovery services', output=print_dict)
