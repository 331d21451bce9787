"""The nvmf_* JSON-RPC methods through axon-rpc (scripts/rpc.py) against a real
axond: every method with SPDK's command lines and result shapes, hosts really
connecting over NVMe/TCP (test/functional/nvme_tcp_raw.py), bad input named
by parameter, and the save_config round trip."""

import json
import os
import random
import socket
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from axond import RpcError  # noqa: E402
import nvme_tcp_raw as raw  # noqa: E402

NQN = 'nqn.2016-06.io.axon:cnode1'
NQN2 = 'nqn.2016-06.io.axon:cnode2'
DISC = 'nqn.2014-08.org.nvmexpress.discovery'
HOST = 'nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555'
OTHER = 'nqn.2014-08.org.nvmexpress:uuid:99999999-2222-3333-4444-555555555555'
UUID = '3b2a9c4e-51a7-4a5e-9a49-0f2a1f6a7e01'


def free_port():
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def rpc_error(d, *args):
    """Run a call that must fail; returns the server's message (stderr)."""
    with pytest.raises(RpcError) as e:
        d.rpc(*args)
    return e.value.stderr


def setup_target(d, port, disc_port=None):
    d.rpc('bdev_malloc_create', '-b', 'Malloc0', 16, 512)
    d.rpc('bdev_malloc_create', '-b', 'Malloc1', 16, 4096)
    d.rpc('nvmf_create_transport', '-t', 'tcp', '-u', 8192, '-q', 64, '-c', 4096)
    d.rpc('nvmf_create_subsystem', NQN, '-s', 'AXON0001', '-d', 'Axon Test Controller',
          '-m', 8, '-i', 2, '-I', 100)
    d.rpc('nvmf_subsystem_add_listener', NQN, '-t', 'tcp', '-a', '127.0.0.1', '-s', port,
          '-f', 'ipv4')
    if disc_port is not None:
        d.rpc('nvmf_subsystem_add_listener', 'discovery', '-t', 'tcp', '-a', '127.0.0.1',
              '-s', disc_port)
    d.rpc('nvmf_subsystem_add_host', NQN, HOST)
    assert d.rpc('nvmf_subsystem_add_ns', NQN, 'Malloc0') == 1
    assert d.rpc('nvmf_subsystem_add_ns', NQN, 'Malloc1', '-n', 5, '-u', UUID,
                 '-g', '00112233445566778899AABBCCDDEEFF', '-e', '0011223344556677') == 5


def test_every_nvmf_rpc(axond):
    d = axond
    port, disc_port = free_port(), free_port()
    setup_target(d, port, disc_port)

    transports = d.rpc('nvmf_get_transports')
    assert len(transports) == 1
    t = transports[0]
    assert t['trtype'] == 'TCP'
    assert t['io_unit_size'] == 8192 and t['max_queue_depth'] == 64
    assert t['in_capsule_data_size'] == 4096
    assert 'max_io_qpairs_per_ctrlr' in t and 'num_shared_buffers' in t
    assert d.rpc('nvmf_get_transports', '--trtype', 'TCP') == transports

    subs = {s['nqn']: s for s in d.rpc('nvmf_get_subsystems')}
    assert subs[DISC]['subtype'] == 'Discovery'
    assert subs[DISC]['listen_addresses'][0]['trsvcid'] == str(disc_port)
    s = subs[NQN]
    assert s['subtype'] == 'NVMe'
    assert s['serial_number'] == 'AXON0001'
    assert s['model_number'] == 'Axon Test Controller'
    assert s['max_namespaces'] == 8 and s['min_cntlid'] == 2 and s['max_cntlid'] == 100
    assert s['allow_any_host'] is False
    assert s['hosts'] == [{'nqn': HOST}]
    assert s['listen_addresses'] == [{'trtype': 'TCP', 'adrfam': 'IPv4',
                                      'traddr': '127.0.0.1', 'trsvcid': str(port)}]
    ns = {n['nsid']: n for n in s['namespaces']}
    assert ns[1]['bdev_name'] == 'Malloc0'
    assert ns[5]['uuid'] == UUID
    assert ns[5]['nguid'] == '00112233445566778899AABBCCDDEEFF'
    assert ns[5]['eui64'] == '0011223344556677'
    assert d.rpc('nvmf_get_subsystems', NQN) == [s]

    listeners = d.rpc('nvmf_subsystem_get_listeners', NQN)
    assert listeners[0]['address']['trsvcid'] == str(port)
    assert listeners[0]['ana_states'][0]['ana_state'] == 'optimized'

    d.rpc('nvmf_discovery_add_referral', '-t', 'tcp', '-a', '10.0.0.1', '-s', 8009)
    refs = d.rpc('nvmf_discovery_get_referrals')
    assert refs == [{'address': {'trtype': 'TCP', 'adrfam': 'IPv4', 'traddr': '10.0.0.1',
                                 'trsvcid': '8009'},
                     'secure_channel': False, 'subnqn': DISC}]

    stats = d.rpc('nvmf_get_stats')
    assert stats['tick_rate'] > 0
    assert len(stats['poll_groups']) >= 1
    assert stats['poll_groups'][0]['transports'][0]['trtype'] == 'TCP'

    # A real host connects over NVMe/TCP; one that is not allowed is refused.
    with raw.Conn('127.0.0.1', port) as c:
        c.ic_req()
        with pytest.raises(raw.NvmeError) as e:
            c.connect(NQN, OTHER)
        assert e.value.status == 0x184  # command specific / Connect Invalid Host
    with raw.Conn('127.0.0.1', port) as admin:
        admin.ic_req()
        cntlid = admin.connect(NQN, HOST)
        assert cntlid == 2  # min_cntlid
        admin.enable()
        with raw.Conn('127.0.0.1', port) as io:
            io.ic_req()
            io.connect(NQN, HOST, qid=1, cntlid=cntlid)
            data = bytes(range(256)) * 4
            io.write(1, 3, data)
            assert io.read(1, 3, len(data) // 512) == data
            ctrlrs = d.rpc('nvmf_subsystem_get_controllers', NQN)
            assert len(ctrlrs) == 1
            assert ctrlrs[0]['cntlid'] == cntlid and ctrlrs[0]['hostnqn'] == HOST
            qpairs = d.rpc('nvmf_subsystem_get_qpairs', NQN)
            assert sorted(q['qid'] for q in qpairs) == [0, 1]
            assert all(q['state'] == 'active' and q['cntlid'] == cntlid for q in qpairs)
            assert qpairs[0]['listen_address']['trsvcid'] == str(port)
            st = d.rpc('nvmf_get_stats')['poll_groups']
            assert sum(g['current_io_qpairs'] for g in st) == 1
    # The hosts went away: nothing is left behind.
    for _ in range(100):
        if not d.rpc('nvmf_subsystem_get_qpairs', NQN):
            break
    assert d.rpc('nvmf_subsystem_get_qpairs', NQN) == []
    assert d.rpc('nvmf_subsystem_get_controllers', NQN) == []

    # Hosts, namespaces, listeners, referrals go away again.
    d.rpc('nvmf_subsystem_allow_any_host', NQN, '--enable')
    assert d.rpc('nvmf_get_subsystems', NQN)[0]['allow_any_host'] is True
    d.rpc('nvmf_subsystem_allow_any_host', NQN, '--disable')
    d.rpc('nvmf_subsystem_remove_host', NQN, HOST)
    assert d.rpc('nvmf_get_subsystems', NQN)[0]['hosts'] == []
    d.rpc('nvmf_subsystem_remove_ns', NQN, 5)
    assert [n['nsid'] for n in d.rpc('nvmf_get_subsystems', NQN)[0]['namespaces']] == [1]
    d.rpc('nvmf_subsystem_remove_listener', NQN, '-t', 'tcp', '-a', '127.0.0.1', '-s', port)
    assert d.rpc('nvmf_subsystem_get_listeners', NQN) == []
    d.rpc('nvmf_discovery_remove_referral', '-t', 'tcp', '-a', '10.0.0.1', '-s', 8009)
    assert d.rpc('nvmf_discovery_get_referrals') == []
    d.rpc('nvmf_create_subsystem', NQN2, '-a')
    d.rpc('nvmf_delete_subsystem', NQN)
    d.rpc('nvmf_delete_subsystem', NQN2)
    assert [x['nqn'] for x in d.rpc('nvmf_get_subsystems')] == [DISC]


def test_namespace_hot_remove_with_connected_host(axond):
    d = axond
    port = free_port()
    setup_target(d, port)
    with raw.Conn('127.0.0.1', port) as admin:
        admin.ic_req()
        cntlid = admin.connect(NQN, HOST)
        admin.enable()
        with raw.Conn('127.0.0.1', port) as io:
            io.ic_req()
            io.connect(NQN, HOST, qid=1, cntlid=cntlid)
            io.write(1, 0, b'\xa5' * 512)
            # The bdev goes away under the namespace: the namespace goes with it.
            d.rpc('bdev_malloc_delete', 'Malloc0')
            nss = d.rpc('nvmf_get_subsystems', NQN)[0]['namespaces']
            assert [n['nsid'] for n in nss] == [5]
            with pytest.raises(raw.NvmeError) as e:
                io.read(1, 0, 1)
            assert e.value.status == 0x0B  # Invalid Namespace
            d.rpc('bdev_malloc_create', '-b', 'Malloc2', 16, 512)
            assert d.rpc('nvmf_subsystem_add_ns', NQN, 'Malloc2') == 1
            io.write(1, 0, b'\x5a' * 512)
            assert io.read(1, 0, 1) == b'\x5a' * 512


def test_bad_input_names_the_parameter(axond):
    d = axond
    port = free_port()
    d.rpc('bdev_malloc_create', '-b', 'Malloc0', 16, 512)
    assert 'trtype' in rpc_error(d, 'nvmf_create_transport', '-t', 'nosuch')
    assert 'io_unit_size' in rpc_error(d, 'nvmf_create_transport', '-t', 'tcp', '-u', 100)
    assert 'buf_cache_size' in rpc_error(d, 'nvmf_create_transport', '-t', 'tcp',
                                         '-n', 64, '-b', 64)
    assert 'tgt_name' in rpc_error(d, 'nvmf_create_transport', '-t', 'tcp', '-g', 'other')
    d.rpc('nvmf_create_transport', '-t', 'tcp')
    assert 'trtype' in rpc_error(d, 'nvmf_create_transport', '-t', 'TCP')
    assert 'nqn' in rpc_error(d, 'nvmf_create_subsystem', 'not-an-nqn')
    assert 'nqn' in rpc_error(d, 'nvmf_create_subsystem', DISC)
    assert 'serial_number' in rpc_error(d, 'nvmf_create_subsystem', NQN, '-s', 'x' * 21)
    assert 'model_number' in rpc_error(d, 'nvmf_create_subsystem', NQN, '-d', 'x' * 41)
    assert 'min_cntlid' in rpc_error(d, 'nvmf_create_subsystem', NQN, '-i', 10, '-I', 5)
    assert 'max_cntlid' in rpc_error(d, 'nvmf_create_subsystem', NQN, '-I', 65520)
    d.rpc('nvmf_create_subsystem', NQN)
    assert 'nqn' in rpc_error(d, 'nvmf_create_subsystem', NQN)
    assert 'nqn' in rpc_error(d, 'nvmf_delete_subsystem', NQN2)
    assert 'nqn' in rpc_error(d, 'nvmf_delete_subsystem', DISC)
    assert 'listen_address' in rpc_error(d, 'nvmf_subsystem_add_listener', NQN, '-t', 'rdmax',
                                         '-a', '127.0.0.1', '-s', port)
    assert 'adrfam' in rpc_error(d, 'nvmf_subsystem_add_listener', NQN, '-t', 'tcp',
                                 '-a', '127.0.0.1', '-s', port, '-f', 'ipv9')
    assert 'trsvcid' in rpc_error(d, 'nvmf_subsystem_add_listener', NQN, '-t', 'tcp',
                                  '-a', '127.0.0.1')
    d.rpc('nvmf_subsystem_add_listener', NQN, '-t', 'tcp', '-a', '127.0.0.1', '-s', port)
    assert 'listen_address' in rpc_error(d, 'nvmf_subsystem_add_listener', NQN, '-t', 'tcp',
                                         '-a', '127.0.0.1', '-s', port)
    assert 'listen_address' in rpc_error(d, 'nvmf_subsystem_remove_listener', NQN, '-t', 'tcp',
                                         '-a', '127.0.0.2', '-s', port)
    assert 'bdev_name' in rpc_error(d, 'nvmf_subsystem_add_ns', NQN, 'NoSuchBdev')
    assert 'uuid' in rpc_error(d, 'nvmf_subsystem_add_ns', NQN, 'Malloc0', '-u', 'zzz')
    assert 'nguid' in rpc_error(d, 'nvmf_subsystem_add_ns', NQN, 'Malloc0', '-g', '1234')
    assert 'nsid' in rpc_error(d, 'nvmf_subsystem_add_ns', NQN, 'Malloc0', '-n', 33)
    assert d.rpc('nvmf_subsystem_add_ns', NQN, 'Malloc0', '-n', 2) == 2
    assert 'nsid' in rpc_error(d, 'nvmf_subsystem_add_ns', NQN, 'Malloc0', '-n', 2)
    assert 'nsid' in rpc_error(d, 'nvmf_subsystem_remove_ns', NQN, 7)
    assert 'host' in rpc_error(d, 'nvmf_subsystem_add_host', NQN, 'bogus')
    assert 'host' in rpc_error(d, 'nvmf_subsystem_remove_host', NQN, HOST)
    assert 'nqn' in rpc_error(d, 'nvmf_subsystem_allow_any_host', NQN2, '-e')
    assert 'nqn' in rpc_error(d, 'nvmf_subsystem_get_controllers', NQN2)
    assert 'nqn' in rpc_error(d, 'nvmf_subsystem_get_qpairs', NQN2)
    assert 'nqn' in rpc_error(d, 'nvmf_get_subsystems', NQN2)
    assert 'address' in rpc_error(d, 'nvmf_discovery_remove_referral', '-t', 'tcp',
                                  '-a', '10.9.9.9', '-s', 1)
    assert 'subnqn' in rpc_error(d, 'nvmf_discovery_add_referral', '-t', 'tcp', '-a', '10.0.0.1',
                                 '-s', 8009, '-n', 'bad nqn')
    # Start-up only methods are refused at run time.
    assert rpc_error(d, 'nvmf_set_max_subsystems', '-x', 4)


def test_startup_config_methods(axond_factory):
    d = axond_factory('--wait-for-rpc')
    d.rpc('nvmf_set_max_subsystems', '-x', 3)
    assert 'discovery_filter' in rpc_error(d, 'nvmf_set_config', '-d', 'sometimes')
    d.rpc('nvmf_set_config', '-d', 'transport,address')
    d.rpc('framework_start_init')
    d.rpc('nvmf_create_subsystem', NQN)
    d.rpc('nvmf_create_subsystem', NQN2)
    # The discovery subsystem takes one of the three.
    assert 'nqn' in rpc_error(d, 'nvmf_create_subsystem', 'nqn.2016-06.io.axon:cnode3')
    cfg = [m for s in d.rpc('save_config')['subsystems'] if s['subsystem'] == 'nvmf'
           for m in s['config']]
    assert {'method': 'nvmf_set_max_subsystems', 'params': {'max_subsystems': 3}} in cfg
    set_config = [m for m in cfg if m['method'] == 'nvmf_set_config'][0]
    assert set_config['params']['discovery_filter'] == 'transport,address'


def nvmf_config(doc):
    return [s for s in doc['subsystems'] if s['subsystem'] == 'nvmf'][0]['config']


def test_save_config_round_trip(axond_factory, tmp_path):
    port, disc_port = free_port(), free_port()
    first = axond_factory(name='first')
    setup_target(first, port, disc_port)
    first.rpc('nvmf_subsystem_add_host', NQN, OTHER)
    first.rpc('nvmf_discovery_add_referral', '-t', 'tcp', '-a', '10.0.0.7', '-s', 8009, '-k')
    first.rpc('nvmf_create_subsystem', NQN2, '-a', '-m', 2)
    saved = first.rpc('save_config')
    first.stop()
    methods = [m['method'] for m in nvmf_config(saved)]
    for m in ('nvmf_create_transport', 'nvmf_create_subsystem', 'nvmf_subsystem_add_listener',
              'nvmf_subsystem_add_host', 'nvmf_subsystem_add_ns', 'nvmf_discovery_add_referral'):
        assert m in methods
    # Transports before subsystems, subsystems before their listeners and namespaces.
    assert methods.index('nvmf_create_transport') < methods.index('nvmf_create_subsystem')
    assert methods.index('nvmf_create_subsystem') < methods.index('nvmf_subsystem_add_ns')
    cfg = tmp_path / 'nvmf.json'
    cfg.write_text(json.dumps(saved))
    second = axond_factory('-c', str(cfg), name='second')
    assert second.rpc('save_config') == saved
    # And the restored target serves hosts.
    with raw.Conn('127.0.0.1', port) as c:
        c.ic_req()
        c.connect(NQN, HOST)
        c.enable()
        ident = c.identify(cns=1)
        assert ident[4:24].rstrip() == b'AXON0001'
