"""NVMe over Fabrics target (lib/nvmf, drivers/nvmf): SPDK rpc.py's command lines."""

import argparse

from .cmd import A, add, print_dict, print_json
from .framework import UsageError

DISCOVERY_NQN = 'nqn.2014-08.org.nvmexpress.discovery'

TGT = A('-t', '--tgt-name', dest='tgt_name', help='The name of the parent NVMe-oF target (optional)')
TGT_P = A('-p', '--tgt-name', dest='tgt_name', help='The name of the parent NVMe-oF target (optional)')


def _pick(args, *names):
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _address(args):
    """listen_address / address from -t -a -f -s, as SPDK's rpc.py groups them."""
    a = _pick(args, 'trtype', 'traddr', 'adrfam', 'trsvcid')
    return a


def _nqn(nqn):
    return DISCOVERY_NQN if nqn == 'discovery' else nqn


# ---- transports and target ---------------------------------------------------------------

_TRANSPORT_INTS = ('max_queue_depth', 'max_io_qpairs_per_ctrlr', 'in_capsule_data_size',
                   'max_io_size', 'io_unit_size', 'max_aq_depth', 'num_shared_buffers',
                   'buf_cache_size', 'num_cqe', 'max_srq_depth', 'sock_priority',
                   'acceptor_backlog', 'abort_timeout_sec', 'control_msg_num',
                   'acceptor_poll_rate', 'ack_timeout', 'data_wr_pool_size', 'kas', 'min_kato')
_TRANSPORT_FLAGS = ('zcopy', 'no_srq', 'dif_insert_or_strip', 'no_wr_batching',
                    'disable_mappable_bar0', 'disable_adaptive_irq', 'disable_shadow_doorbells',
                    'disable_command_passthru')


def _create_transport_params(args):
    p = _pick(args, 'trtype', 'tgt_name', *_TRANSPORT_INTS)
    for f in _TRANSPORT_FLAGS:
        if getattr(args, f, False):
            p[f] = True
    if not args.c2h_success:
        p['c2h_success'] = False
    return p


def _set_config_params(args):
    p = _pick(args, 'poll_groups_mask', 'discovery_filter', 'dhchap_digests', 'dhchap_dhgroups')
    if args.admin_cmd_passthru:
        known = ('identify_ctrlr', 'identify_uuid_list', 'get_log_page', 'get_set_features',
                 'sanitize', 'security_send_recv', 'fw_update', 'nvme_mi', 'vendor_specific')
        bad = set(args.admin_cmd_passthru) - set(known) - {'all'}
        if bad:
            raise UsageError("invalid passthru-admin-cmds: '%s'" % ', '.join(sorted(bad)))
        cmds = known if 'all' in args.admin_cmd_passthru else args.admin_cmd_passthru
        p['admin_cmd_passthru'] = {c: True for c in cmds}
    return p or None


# ---- subsystems ------------------------------------------------------------------------------

def _create_subsystem_params(args):
    p = _pick(args, 'nqn', 'tgt_name', 'serial_number', 'model_number', 'max_namespaces',
              'min_cntlid', 'max_cntlid', 'max_discard_size_kib', 'max_write_zeroes_size_kib')
    for f in ('allow_any_host', 'ana_reporting', 'passthrough', 'enable_nssr'):
        if getattr(args, f):
            p[f] = True
    return p


def _listener_params(args, add_listener):
    p = _pick(args, 'tgt_name')
    p['nqn'] = _nqn(args.nqn)
    p['listen_address'] = _address(args)
    if add_listener:
        p.update(_pick(args, 'ana_state', 'sock_impl'))
        if args.secure_channel:
            p['secure_channel'] = True
    return p


def _referral_params(args, add_referral):
    p = _pick(args, 'tgt_name')
    p['address'] = _address(args)
    if args.subnqn is not None:
        p['subnqn'] = _nqn(args.subnqn)
    if add_referral and args.secure_channel:
        p['secure_channel'] = True
    return p


def _add_ns_params(args):
    ns = _pick(args, 'bdev_name', 'ptpl_file', 'nsid', 'nguid', 'eui64', 'uuid', 'anagrpid')
    if args.no_auto_visible:
        ns['no_auto_visible'] = True
    if args.hide_metadata:
        ns['hide_metadata'] = True
    p = _pick(args, 'nqn', 'tgt_name')
    p['namespace'] = ns
    return p


def _host_params(args):
    return _pick(args, 'nqn', 'host', 'tgt_name', 'psk', 'dhchap_key', 'dhchap_ctrlr_key')


def _allow_any_host_params(args):
    p = _pick(args, 'nqn', 'tgt_name')
    p['allow_any_host'] = bool(args.allow_any_host)
    return p


def _addr_args(tgt):
    return [A('-t', '--trtype', required=True, help='NVMe-oF transport type: e.g., tcp'),
            A('-a', '--traddr', required=True, help='NVMe-oF transport address: e.g., an ip address'),
            tgt,
            A('-f', '--adrfam', help='NVMe-oF transport adrfam: e.g., ipv4, ipv6, ib, fc'),
            A('-s', '--trsvcid', help='NVMe-oF transport service id: e.g., a port number')]


def add_parsers(sp):
    add(sp, 'nvmf_set_max_subsystems', 'Set the maximum number of NVMf target subsystems',
        args=[A('-x', '--max-subsystems', dest='max_subsystems', type=int, required=True,
                help='Max number of NVMf subsystems')])
    add(sp, 'nvmf_set_config', 'Set NVMf target config', params=_set_config_params,
        args=[A('-p', '--passthru-admin-cmds', dest='admin_cmd_passthru', default=[],
                type=lambda d: d.split(','),
                help='Comma-separated admin commands to pass through (accepted, not used)'),
              A('-m', '--poll-groups-mask', dest='poll_groups_mask',
                help='Set cpumask for NVMf poll groups (optional)'),
              A('-d', '--discovery-filter', dest='discovery_filter',
                help='match_any (default) or comma-separated transport, address, svcid'),
              A('--dhchap-digests', dest='dhchap_digests', type=lambda d: d.split(','),
                help='Comma-separated list of allowed DH-HMAC-CHAP digests'),
              A('--dhchap-dhgroups', dest='dhchap_dhgroups', type=lambda d: d.split(','),
                help='Comma-separated list of allowed DH-HMAC-CHAP DH groups')])

    add(sp, 'nvmf_create_transport', 'Create NVMf transport', params=_create_transport_params,
        args=[A('-t', '--trtype', required=True, help='Transport type (ex. TCP)'),
              A('-g', '--tgt-name', dest='tgt_name', help='The name of the parent NVMe-oF target (optional)'),
              A('-q', '--max-queue-depth', dest='max_queue_depth', type=int,
                help='Max number of outstanding I/O per queue'),
              A('-m', '--max-io-qpairs-per-ctrlr', dest='max_io_qpairs_per_ctrlr', type=int,
                help='Max number of IO qpairs per controller'),
              A('-c', '--in-capsule-data-size', dest='in_capsule_data_size', type=int,
                help='Max number of in-capsule data size'),
              A('-i', '--max-io-size', dest='max_io_size', type=int, help='Max I/O size (bytes)'),
              A('-u', '--io-unit-size', dest='io_unit_size', type=int, help='I/O unit size (bytes)'),
              A('-a', '--max-aq-depth', dest='max_aq_depth', type=int,
                help='Max number of admin cmds per AQ'),
              A('-n', '--num-shared-buffers', dest='num_shared_buffers', type=int,
                help='The number of pooled data buffers available to the transport'),
              A('-b', '--buf-cache-size', dest='buf_cache_size', type=int,
                help='The number of shared buffers to reserve for each poll group'),
              A('-z', '--zcopy', action='store_true', help='Use zero-copy operations (not supported)'),
              A('-d', '--num-cqe', dest='num_cqe', type=int, help='RDMA only: number of CQ entries'),
              A('-s', '--max-srq-depth', dest='max_srq_depth', type=int,
                help='RDMA only: max outstanding I/O per SRQ'),
              A('-r', '--no-srq', dest='no_srq', action='store_true', help='RDMA only: no SRQ'),
              A('-o', '--c2h-success', dest='c2h_success', action='store_false',
                help='Disable C2H success optimization. Relevant only for TCP transport'),
              A('-f', '--dif-insert-or-strip', dest='dif_insert_or_strip', action='store_true',
                help='Enable DIF insert/strip (not supported)'),
              A('-y', '--sock-priority', dest='sock_priority', type=int,
                help='The sock priority of the tcp connection. Relevant only for TCP transport'),
              A('-l', '--acceptor-backlog', dest='acceptor_backlog', type=int,
                help='RDMA only: pending connections allowed at one time'),
              A('-x', '--abort-timeout-sec', dest='abort_timeout_sec', type=int,
                help='Abort execution timeout value, in seconds'),
              A('-w', '--no-wr-batching', dest='no_wr_batching', action='store_true',
                help='RDMA only: disable work request batching'),
              A('-e', '--control-msg-num', dest='control_msg_num', type=int,
                help='TCP only: the number of control messages per poll group'),
              A('-M', '--disable-mappable-bar0', dest='disable_mappable_bar0', action='store_true',
                help='VFIO-USER only'),
              A('-I', '--disable-adaptive-irq', dest='disable_adaptive_irq', action='store_true',
                help='VFIO-USER only'),
              A('-S', '--disable-shadow-doorbells', dest='disable_shadow_doorbells',
                action='store_true', help='VFIO-USER only'),
              A('--acceptor-poll-rate', dest='acceptor_poll_rate', type=int,
                help='Polling interval of the acceptor for incoming connections (usec)'),
              A('--ack-timeout', dest='ack_timeout', type=int, help='ACK timeout in milliseconds'),
              A('--data-wr-pool-size', dest='data_wr_pool_size', type=int,
                help='RDMA only: data WR pool size'),
              A('--disable-command-passthru', dest='disable_command_passthru', action='store_true',
                help='Disallow command passthru'),
              A('--kas', type=int, help='Keep alive support'),
              A('--min-kato', dest='min_kato', type=int,
                help='The minimum keep alive timeout in milliseconds')])
    add(sp, 'nvmf_get_transports', 'Display nvmf transports or required transport',
        args=[A('--trtype', help='Transport type (optional)'), TGT], output=print_dict)
    add(sp, 'nvmf_get_stats', 'Display current statistics for NVMf subsystem',
        args=[TGT], output=print_dict)

    add(sp, 'nvmf_create_subsystem', 'Create an NVMe-oF subsystem',
        params=_create_subsystem_params,
        args=[A('nqn', help='Subsystem NQN (ASCII)'), TGT,
              A('-s', '--serial-number', dest='serial_number', help="Format: 'sn' e.g. 'AXON00000000000001'"),
              A('-d', '--model-number', dest='model_number', help="Format: 'mn' e.g. 'Axon Controller'"),
              A('-a', '--allow-any-host', dest='allow_any_host', action='store_true',
                help="Allow any host to connect (don't enforce allowed host NQN list)"),
              A('-m', '--max-namespaces', dest='max_namespaces', type=int,
                help='Maximum number of namespaces allowed'),
              A('-r', '--ana-reporting', dest='ana_reporting', action='store_true',
                help='Enable ANA reporting feature (ignored)'),
              A('-i', '--min-cntlid', dest='min_cntlid', type=int, help='Minimum controller ID'),
              A('-I', '--max-cntlid', dest='max_cntlid', type=int, help='Maximum controller ID'),
              A('--max-discard-size', dest='max_discard_size_kib', type=int,
                help='Maximum discard size (Kib)'),
              A('--max-write-zeroes-size', dest='max_write_zeroes_size_kib', type=int,
                help='Maximum write_zeroes size (Kib)'),
              A('-p', '--passthrough', action='store_true', help='NVMe passthrough (not supported)'),
              A('-n', '--enable-nssr', dest='enable_nssr', action='store_true',
                help='Enable NSSR (not supported)')])
    add(sp, 'nvmf_delete_subsystem', 'Delete a nvmf subsystem',
        args=[A('nqn', help='subsystem nqn to be deleted. Example: nqn.2016-06.io.spdk:cnode1.'),
              TGT])
    add(sp, 'nvmf_get_subsystems', 'Display nvmf subsystems or required subsystem',
        args=[A('nqn', nargs='?', help='Subsystem NQN (optional)'), TGT], output=print_dict)

    add(sp, 'nvmf_subsystem_add_listener', 'Add a listener to an NVMe-oF subsystem',
        params=lambda a: _listener_params(a, True),
        args=[A('nqn', help="NVMe-oF subsystem NQN ('discovery' can be used as shortcut for discovery NQN)")]
        + _addr_args(TGT_P)
        + [A('-k', '--secure-channel', dest='secure_channel', action='store_true',
             help='Immediately establish a secure channel (not supported)'),
           A('-n', '--ana-state', dest='ana_state', help='ANA state to set: optimized only'),
           A('-S', '--sock-impl', dest='sock_impl', help='The socket implementation (posix)')])
    add(sp, 'nvmf_subsystem_remove_listener', 'Remove a listener from an NVMe-oF subsystem',
        params=lambda a: _listener_params(a, False),
        args=[A('nqn', help="NVMe-oF subsystem NQN ('discovery' can be used as shortcut for discovery NQN)")]
        + _addr_args(TGT_P))
    add(sp, 'nvmf_subsystem_get_listeners', 'Display listeners of an NVMe-oF subsystem.',
        args=[A('nqn', help='NVMe-oF subsystem NQN'), TGT], output=print_dict)

    add(sp, 'nvmf_discovery_add_referral', 'Add a discovery service referral to an NVMe-oF target',
        params=lambda a: _referral_params(a, True),
        args=_addr_args(TGT_P)
        + [A('-k', '--secure-channel', dest='secure_channel', action='store_true',
             help='The connection to that discovery subsystem requires a secure channel'),
           A('-n', '--subnqn', help='Subsystem NQN')])
    add(sp, 'nvmf_discovery_remove_referral',
        'Remove a discovery service referral from an NVMe-oF target',
        params=lambda a: _referral_params(a, False),
        args=_addr_args(TGT_P) + [A('-n', '--subnqn', help='Subsystem NQN')])
    add(sp, 'nvmf_discovery_get_referrals',
        'Display discovery subsystem referrals of an NVMe-oF target', args=[TGT], output=print_dict)

    add(sp, 'nvmf_subsystem_add_ns', 'Add a namespace to an NVMe-oF subsystem',
        params=_add_ns_params, output=print_json,
        args=[A('nqn', help='NVMe-oF subsystem NQN'),
              A('bdev_name', help='The name of the bdev that will back this namespace'), TGT,
              A('-p', '--ptpl-file', dest='ptpl_file', help='Persistent reservations (not supported)'),
              A('-n', '--nsid', type=int, help='The requested NSID (optional)'),
              A('-g', '--nguid', help='Namespace globally unique identifier (optional)'),
              A('-e', '--eui64', help='Namespace EUI-64 identifier (optional)'),
              A('-u', '--uuid', help='Namespace UUID (optional)'),
              A('-a', '--anagrpid', type=int, help='ANA group ID (optional)'),
              A('-i', '--no-auto-visible', dest='no_auto_visible', action='store_true',
                help='Do not auto make namespace visible to controllers (not supported)'),
              A('-N', '--hide-metadata', dest='hide_metadata', action='store_true',
                help='Enable hide_metadata option to the bdev (not supported)')])
    add(sp, 'nvmf_subsystem_remove_ns', 'Remove a namespace to an NVMe-oF subsystem',
        args=[A('nqn', help='NVMe-oF subsystem NQN'),
              A('nsid', type=int, help='The requested NSID'), TGT])

    add(sp, 'nvmf_subsystem_add_host', 'Add a host to an NVMe-oF subsystem', params=_host_params,
        args=[A('nqn', help='NVMe-oF subsystem NQN'), A('host', help='Host NQN to allow'), TGT,
              A('--psk', help='Path to PSK file for TLS authentication (not supported)'),
              A('--dhchap-key', dest='dhchap_key', help='DH-HMAC-CHAP key name (not supported)'),
              A('--dhchap-ctrlr-key', dest='dhchap_ctrlr_key',
                help='DH-HMAC-CHAP controller key name (not supported)')])
    add(sp, 'nvmf_subsystem_remove_host', 'Remove a host from an NVMe-oF subsystem',
        params=_host_params,
        args=[A('nqn', help='NVMe-oF subsystem NQN'), A('host', help='Host NQN to remove'), TGT])
    p = add(sp, 'nvmf_subsystem_allow_any_host', 'Allow any host to connect to the subsystem',
            params=_allow_any_host_params, args=[A('nqn', help='NVMe-oF subsystem NQN'), TGT])
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument('-e', '--enable', dest='allow_any_host', action='store_true',
                       default=None, help='Enable allowing any host')
    group.add_argument('-d', '--disable', dest='allow_any_host', action='store_false',
                       help='Disable allowing any host')
    group.add_argument('--allow-any-host', dest='allow_any_host',
                       action=argparse.BooleanOptionalAction,
                       help='Enable or disable allowing any host')

    add(sp, 'nvmf_subsystem_get_controllers', 'Display controllers of an NVMe-oF subsystem.',
        args=[A('nqn', help='NVMe-oF subsystem NQN'), TGT], output=print_dict)
    add(sp, 'nvmf_subsystem_get_qpairs', 'Display queue pairs of an NVMe-oF subsystem.',
        args=[A('nqn', help='NVMe-oF subsystem NQN'), TGT], output=print_dict)
