"""The NVMe bdev (drivers/bdev/nvme) against axond's own NVMe/TCP target: the
bdev_nvme -> nvmf -> malloc loop inside one axond, bdevperf verify through
bdev_nvme with digests off and on, inspection, reset under I/O, the loss
timeout failing I/O cleanly, discovery following the target's changes, bad
input named by parameter, and the save_config round trip."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import axond as axond_mod  # noqa: E402
from axond import ROOT, RpcError, sanitizer_env, sanitizer_report  # noqa: E402

# Developers may point the tests at another build of axond.
if os.environ.get('AXON_TEST_AXOND'):
    axond_mod.AXOND = os.environ['AXON_TEST_AXOND']

BDEVPERF = os.path.join(ROOT, 'build', 'bin', 'bdevperf')
NQN1 = 'nqn.2016-06.io.axon:nvme-loop1'
NQN2 = 'nqn.2016-06.io.axon:nvme-loop2'
NQN3 = 'nqn.2016-06.io.axon:nvme-loop3'
HOST_PATH_ERROR = (3, 0x71)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def rpc_error(d, *args):
    with pytest.raises(RpcError) as e:
        d.rpc(*args)
    return e.value.stderr


def require_bdev_nvme(d):
    methods = d.rpc('rpc_get_methods')
    if 'bdev_nvme_attach_controller' not in methods:
        pytest.fail('axond lacks bdev_nvme: add bdev_nvme nvme_tcp nvme to AXON_LIBS in '
                    'app/axond/Makefile')


def export(d, nqn, bdev, port):
    d.rpc('nvmf_create_subsystem', nqn, '-a')
    d.rpc('nvmf_subsystem_add_ns', nqn, bdev)
    d.rpc('nvmf_subsystem_add_listener', nqn, '-t', 'tcp', '-a', '127.0.0.1', '-s', port)


def target(d, port, blocks_mib=32):
    """Malloc0 exported as NQN1 on 127.0.0.1:port."""
    require_bdev_nvme(d)
    d.rpc('bdev_malloc_create', '-b', 'Malloc0', blocks_mib, 512)
    d.rpc('nvmf_create_transport', '-t', 'tcp')
    export(d, NQN1, 'Malloc0', port)


def attach(d, name, port, nqn=NQN1, *extra):
    return d.rpc('bdev_nvme_attach_controller', '-b', name, '-t', 'tcp', '-a', '127.0.0.1',
                 '-f', 'ipv4', '-s', port, '-n', nqn, *extra)


def attach_params(port, nqn=NQN1, name='Nvme0', **extra):
    p = {'name': name, 'trtype': 'tcp', 'traddr': '127.0.0.1', 'adrfam': 'ipv4',
         'trsvcid': str(port), 'subnqn': nqn}
    p.update(extra)
    return p


def bdevperf_config(tmp_path, params, name='bdevperf.json'):
    doc = {'subsystems': [{'subsystem': 'bdev', 'config': [
        {'method': 'bdev_nvme_attach_controller', 'params': params}]}]}
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def start_bdevperf(cfg, seconds, queue_depth=32):
    return subprocess.Popen([BDEVPERF, '--no-huge', '-s', '1024', '-c', cfg, '-q',
                             str(queue_depth), '-o', '4096', '-w', 'verify', '-t', str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=sanitizer_env())


def total_row(out):
    """(iops, failed, miscompares) of bdevperf's Total row."""
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == 'Total':
            return float(f[1]), int(f[3]), int(f[4])
    raise AssertionError('no Total row:\n' + out)


def finish_bdevperf(proc, timeout=90):
    out, _ = proc.communicate(timeout=timeout)
    mark = sanitizer_report(out)
    assert mark is None, 'sanitizer report (%s) in bdevperf:\n%s' % (mark, out)
    return proc.returncode, out


def run_bdevperf(cfg, seconds=3):
    return finish_bdevperf(start_bdevperf(cfg, seconds))


def controllers(d, name=None):
    args = ['bdev_nvme_get_controllers'] + (['-n', name] if name else [])
    return {c['name']: c for c in d.rpc(*args)}


def bdev_names(d):
    return {b['name'] for b in d.rpc('bdev_get_bdevs')}


def wait_for(cond, timeout=15, what='condition'):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError('timed out waiting for ' + what)


@pytest.fixture(scope='module', autouse=True)
def bdevperf_bin():
    if not os.path.exists(BDEVPERF):
        pytest.fail('%s is not built: run make first' % BDEVPERF)


# ---- the loop inside one axond ---------------------------------------------------------


def test_loop_attach_inspect_detach(axond, tmp_path):
    d = axond
    port = free_port()
    target(d, port)
    assert attach(d, 'Nvme0', port) == 'Nvme0n1'

    b = d.rpc('bdev_get_bdevs', '-b', 'Nvme0n1')[0]
    assert b['product_name'] == 'NVMe disk'
    assert b['block_size'] == 512 and b['num_blocks'] == 32 * 2048
    assert b['supported_io_types']['read'] and b['supported_io_types']['write']
    assert b['supported_io_types']['reset'] and b['supported_io_types']['nvme_io']
    nvme = b['driver_specific']['nvme'][0]
    assert nvme['trid']['subnqn'] == NQN1 and nvme['ns_data']['id'] == 1

    c = controllers(d)['Nvme0']
    assert len(c['ctrlrs']) == 1
    path = c['ctrlrs'][0]
    assert path['state'] == 'enabled'
    assert path['trid'] == {'trtype': 'TCP', 'adrfam': 'IPv4', 'traddr': '127.0.0.1',
                            'trsvcid': str(port), 'subnqn': NQN1}
    assert path['cntlid'] > 0
    assert path['host']['nqn'].startswith('nqn.') and 'addr' in path['host']
    assert list(controllers(d, 'Nvme0')) == ['Nvme0']
    assert 'no NVMe controller named Nope' in rpc_error(d, 'bdev_nvme_get_controllers',
                                                         '-n', 'Nope')

    # I/O through the loop: bdevperf -> nvmf (NQN2) -> Nvme0n1 -> nvmf (NQN1) -> Malloc0.
    port2 = free_port()
    export(d, NQN2, 'Nvme0n1', port2)
    rc, out = run_bdevperf(bdevperf_config(tmp_path, attach_params(port2, NQN2, name='Loop')))
    assert rc == 0, out
    iops, failed, miscompares = total_row(out)
    assert iops > 0 and failed == 0 and miscompares == 0, out

    d.rpc('nvmf_delete_subsystem', NQN2)
    d.rpc('bdev_nvme_detach_controller', 'Nvme0')
    assert 'Nvme0n1' not in bdev_names(d)
    assert controllers(d) == {}
    assert 'no NVMe controller named Nvme0' in rpc_error(d, 'bdev_nvme_detach_controller',
                                                         'Nvme0')


@pytest.mark.parametrize('digests', [False, True], ids=['plain', 'digests'])
def test_bdevperf_verify(axond, tmp_path, digests):
    port = free_port()
    target(axond, port)
    extra = {'hdgst': True, 'ddgst': True} if digests else {}
    rc, out = run_bdevperf(bdevperf_config(tmp_path, attach_params(port, **extra)))
    assert rc == 0, out
    iops, failed, miscompares = total_row(out)
    assert iops > 0 and failed == 0 and miscompares == 0, out
    assert 'Nvme0n1' in out


def test_reset_while_bdevperf_runs(axond, tmp_path):
    d = axond
    port, port2 = free_port(), free_port()
    target(d, port)
    attach(d, 'Nvme0', port)
    export(d, NQN2, 'Nvme0n1', port2)
    proc = start_bdevperf(bdevperf_config(tmp_path, attach_params(port2, NQN2, name='Loop')), 6)
    time.sleep(2.5)
    d.rpc('bdev_nvme_reset_controller', 'Nvme0')
    time.sleep(0.5)
    d.rpc('bdev_nvme_reset_controller', 'Nvme0')
    assert controllers(d)['Nvme0']['ctrlrs'][0]['state'] == 'enabled'
    rc, out = finish_bdevperf(proc)
    assert rc == 0, out
    iops, failed, miscompares = total_row(out)
    assert iops > 0 and failed == 0 and miscompares == 0, out
    assert 'Nvme0: reset done' in d.output()
    d.rpc('nvmf_delete_subsystem', NQN2)


def test_loss_timeout_fails_io_cleanly(axond, tmp_path):
    """The target behind Nvme0 disappears: after ctrlr_loss_timeout_sec the
    controller is failed and I/O ends with Host Pathing Error instead of hanging."""
    d = axond
    port, port2 = free_port(), free_port()
    target(d, port)
    attach(d, 'Nvme0', port, NQN1, '-l', 2, '-o', 1)
    export(d, NQN2, 'Nvme0n1', port2)
    proc = start_bdevperf(bdevperf_config(tmp_path, attach_params(port2, NQN2, name='Loop')), 8)
    time.sleep(2)
    d.rpc('nvmf_delete_subsystem', NQN1)
    wait_for(lambda: controllers(d)['Nvme0']['ctrlrs'][0]['state'] == 'failed', 20,
             'Nvme0 to be given up')
    rc, out = finish_bdevperf(proc)
    iops, failed, _ = total_row(out)
    assert failed > 0, out
    assert 'controller lost' in d.output() or 'failed' in d.output()
    # Detach still works on a failed controller.
    d.rpc('nvmf_delete_subsystem', NQN2)
    d.rpc('bdev_nvme_detach_controller', 'Nvme0')
    assert 'Nvme0n1' not in bdev_names(d)


# ---- discovery ---------------------------------------------------------------------------


def test_discovery_follows_the_target(axond):
    d = axond
    port, disc_port, port3 = free_port(), free_port(), free_port()
    target(d, port)
    d.rpc('nvmf_subsystem_add_listener', 'discovery', '-t', 'tcp', '-a', '127.0.0.1',
          '-s', disc_port)
    d.rpc('bdev_nvme_start_discovery', '-b', 'disc', '-t', 'tcp', '-a', '127.0.0.1',
          '-s', disc_port, '-w')
    assert 'disc0n1' in bdev_names(d)
    info = d.rpc('bdev_nvme_get_discovery_info')
    assert len(info) == 1 and info[0]['name'] == 'disc'
    assert info[0]['trid']['trsvcid'] == str(disc_port)
    assert info[0]['trid']['subnqn'] == 'nqn.2014-08.org.nvmexpress.discovery'
    assert [c['trid']['subnqn'] for c in info[0]['ctrlrs']] == [NQN1]

    # A second subsystem appears: the log change event brings it in.
    d.rpc('bdev_malloc_create', '-b', 'Malloc3', 8, 512)
    export(d, NQN3, 'Malloc3', port3)
    wait_for(lambda: 'disc1n1' in bdev_names(d), what='disc1n1')
    assert controllers(d)['disc1']['ctrlrs'][0]['trid']['subnqn'] == NQN3

    # Discovery-attached controllers are not saved; the discovery service is.
    cfg = d.rpc('save_config')
    bdev_cfg = [e for s in cfg['subsystems'] if s['subsystem'] == 'bdev' for e in s['config']]
    methods = [e['method'] for e in bdev_cfg]
    assert 'bdev_nvme_attach_controller' not in methods
    disc = [e['params'] for e in bdev_cfg if e['method'] == 'bdev_nvme_start_discovery']
    assert disc and disc[0]['name'] == 'disc' and disc[0]['trsvcid'] == str(disc_port)

    # It leaves: its controller is detached.
    d.rpc('nvmf_delete_subsystem', NQN3)
    wait_for(lambda: 'disc1n1' not in bdev_names(d), what='disc1n1 to go')
    assert 'disc1' not in controllers(d)

    d.rpc('bdev_nvme_stop_discovery', '-b', 'disc')
    assert not {'disc0n1', 'disc1n1'} & bdev_names(d)
    assert d.rpc('bdev_nvme_get_discovery_info') == []
    assert 'no discovery service named disc' in rpc_error(d, 'bdev_nvme_stop_discovery',
                                                          '-b', 'disc')


# ---- bad input -----------------------------------------------------------------------------


def test_bad_input_names_the_parameter(axond):
    d = axond
    port = free_port()
    target(d, port)
    base = ['bdev_nvme_attach_controller', '-b', 'Nvme0', '-a', '127.0.0.1', '-s', port]
    assert 'trtype' in rpc_error(d, *base, '-t', 'fc', '-n', NQN1)
    assert 'subnqn' in rpc_error(d, *base, '-t', 'tcp')
    assert 'subnqn' in rpc_error(d, *base, '-t', 'tcp', '-n', 'not-an-nqn')
    assert 'adrfam' in rpc_error(d, *base, '-t', 'tcp', '-n', NQN1, '-f', 'appletalk')
    assert 'hostaddr' in rpc_error(d, *base, '-t', 'tcp', '-n', NQN1, '-i', '10.0.0.1')
    assert 'hostnqn' in rpc_error(d, *base, '-t', 'tcp', '-n', NQN1, '-q', 'bogus')
    assert 'reconnect_delay_sec' in rpc_error(d, *base, '-t', 'tcp', '-n', NQN1, '-l', 5,
                                              '-o', 10)
    assert 'fast_io_fail_timeout_sec' in rpc_error(d, *base, '-t', 'tcp', '-n', NQN1, '-l',
                                                   5, '-o', 2, '-u', 1)
    assert 'ctrlr_loss_timeout_sec' in rpc_error(d, *base, '-t', 'tcp', '-n', NQN1,
                                                 '-l', -2)
    err = rpc_error(d, 'bdev_nvme_attach_controller', '-b', 'P0', '-t', 'pcie',
                    '-a', '0000:00:04.0', '-s', 4420)
    assert 'trsvcid: not used with trtype PCIe' in err or 'PCIe is not available' in err
    err = rpc_error(d, 'bdev_nvme_attach_controller', '-b', 'Nvme0', '-t', 'tcp',
                    '-a', '127.0.0.1', '-s', free_port(), '-n', NQN1)
    assert 'connect' in err and 'failed' in err
    assert controllers(d) == {}

    assert attach(d, 'Nvme0', port) == 'Nvme0n1'
    assert 'name' in rpc_error(d, *base, '-t', 'tcp', '-n', NQN1)
    assert 'attached already' in rpc_error(d, 'bdev_nvme_set_options', '-t', 1000)
    assert 'name' in rpc_error(d, 'bdev_nvme_reset_controller', 'Nope')
    assert 'name' in rpc_error(d, 'bdev_nvme_start_discovery', '-b', 'Nvme0', '-t', 'tcp',
                               '-a', '127.0.0.1')
    assert 'trtype' in rpc_error(d, 'bdev_nvme_start_discovery', '-b', 'd', '-t', 'pcie',
                                 '-a', '0000:00:04.0')


def test_set_options_and_save_config_round_trip(axond_factory, tmp_path):
    a = axond_factory(name='target')
    port = free_port()
    target(a, port)
    b = axond_factory(name='host', wait=True)
    require_bdev_nvme(b)
    b.rpc('bdev_nvme_set_options', '-p', 'reset', '-t', 30000000, '-k', 5000, '-l', 20,
          '-o', 2, '-u', 4, '--bdev-retry-count', 5)
    assert attach(b, 'Nvme0', port, NQN1, '-e', '-d') == 'Nvme0n1'
    cfg = b.rpc('save_config')
    bdev_cfg = [e for s in cfg['subsystems'] if s['subsystem'] == 'bdev' for e in s['config']]
    opts = [e['params'] for e in bdev_cfg if e['method'] == 'bdev_nvme_set_options'][0]
    assert opts['action_on_timeout'] == 'reset' and opts['timeout_us'] == 30000000
    assert opts['keep_alive_timeout_ms'] == 5000 and opts['bdev_retry_count'] == 5
    assert (opts['ctrlr_loss_timeout_sec'], opts['reconnect_delay_sec'],
            opts['fast_io_fail_timeout_sec']) == (20, 2, 4)
    att = [e['params'] for e in bdev_cfg if e['method'] == 'bdev_nvme_attach_controller']
    assert len(att) == 1
    p = att[0]
    assert p['name'] == 'Nvme0' and p['subnqn'] == NQN1 and p['trsvcid'] == str(port)
    assert p['hdgst'] is True and p['ddgst'] is True
    assert methods_order(bdev_cfg).index('bdev_nvme_set_options') < \
        methods_order(bdev_cfg).index('bdev_nvme_attach_controller')
    b.stop()

    # Replay it into a fresh daemon: the controller comes back with its options.
    path = tmp_path / 'saved.json'
    path.write_text(json.dumps(cfg))
    c = axond_factory('-c', str(path), name='replay')
    wait_for(lambda: 'Nvme0n1' in bdev_names(c), what='Nvme0n1 after replay')
    assert controllers(c)['Nvme0']['ctrlrs'][0]['state'] == 'enabled'


def methods_order(entries):
    return [e['method'] for e in entries]
