"""The mirror (raid1) bdev, end to end.

In axond, through scripts/rpc.py: create, state in bdev_raid_get_bdevs and
bdev_get_bdevs, claims on the legs, refusals, save_config, delete.

In bdevperf -z (the bdevs live in its process), through scripts/rpc.py on its
socket: two malloc legs, one behind the error bdev, a raid1 over them;
bdevperf verifies clean data while the error bdev fails every write and read
of that leg, and the leg shows up as failed.
"""
import json
import os
import subprocess
import time

import pytest

from axond import ROOT, sanitizer_env, sanitizer_report
from rpc_raw import run_rpc

BDEVPERF = os.path.join(ROOT, 'build', 'bin', 'bdevperf')


def rpc_json(sock, *args):
    out = run_rpc(sock, *args).stdout
    return json.loads(out) if out.strip() else None


def rpc_fails(sock, *args):
    proc = run_rpc(sock, *args, check=False)
    assert proc.returncode != 0, 'rpc.py %s unexpectedly succeeded' % ' '.join(args)
    return proc.stderr + proc.stdout


def verify_clean(sock):
    """perform_tests: I/O ran, none failed, nothing miscompared."""
    total = rpc_json(sock, 'perform_tests')['total']
    assert total['iops'] > 0 and total['io_failed'] == 0 and total['miscompares'] == 0, total


def raid(sock, name, category='all'):
    found = [r for r in rpc_json(sock, 'bdev_raid_get_bdevs', category) if r['name'] == name]
    return found[0] if found else None


def leg(info, name):
    return [b for b in info['base_bdevs_list'] if b['name'] == name][0]


def test_mirror_rpcs(axond):
    s = axond.sock
    run_rpc(s, 'bdev_malloc_create', '-b', 'A', '8', '512')
    run_rpc(s, 'bdev_malloc_create', '-b', 'B', '16', '512')
    run_rpc(s, 'bdev_malloc_create', '-b', 'C', '8', '4096')

    err = rpc_fails(s, 'bdev_raid_create', '-n', 'm0', '-r', 'raid0', '-z', '64', '-b', 'A B')
    assert 'raid_level: expected raid1' in err
    err = rpc_fails(s, 'bdev_raid_create', '-n', 'm0', '-r', 'raid1', '-b', 'A C')
    assert 'leg C has 4096-byte blocks' in err

    run_rpc(s, 'bdev_raid_create', '-n', 'm0', '-r', 'raid1', '-b', 'A B')
    info = raid(s, 'm0', 'online')
    assert info is not None
    assert info['raid_level'] == 'raid1' and info['state'] == 'online'
    assert info['num_base_bdevs'] == 2
    assert info['num_base_bdevs_discovered'] == 2
    assert info['num_base_bdevs_operational'] == 2
    assert [b['name'] for b in info['base_bdevs_list']] == ['A', 'B']
    assert all(b['is_configured'] and b['state'] == 'healthy' for b in info['base_bdevs_list'])

    bdev = rpc_json(s, 'bdev_get_bdevs', '-b', 'm0')[0]
    assert bdev['num_blocks'] == 8 * 2048          # the smaller leg
    assert bdev['product_name'] == 'Raid Volume'
    assert bdev['driver_specific']['raid']['state'] == 'online'
    a = rpc_json(s, 'bdev_get_bdevs', '-b', 'A')[0]
    assert a['claimed'] is True

    err = rpc_fails(s, 'bdev_malloc_delete', 'A')
    assert 'in use by module raid' in err
    err = rpc_fails(s, 'bdev_raid_create', '-n', 'm0', '-r', 'raid1', '-b', 'B C')
    assert 'already exists' in err

    # A leg that does not exist yet: configuring until it appears.
    run_rpc(s, 'bdev_raid_create', '-n', 'm1', '-r', 'raid1', '-b', 'C D')
    assert raid(s, 'm1', 'configuring')['num_base_bdevs_discovered'] == 1
    cfg = rpc_json(s, 'save_config')
    bdev_cfg = [x for x in cfg['subsystems'] if x['subsystem'] == 'bdev'][0]['config']
    methods = [(c['method'], c.get('params', {}).get('name')) for c in bdev_cfg]
    assert ('bdev_raid_create', 'm1') in methods
    assert methods.index(('bdev_raid_create', 'm0')) > methods.index(('bdev_malloc_create', 'B'))
    run_rpc(s, 'bdev_malloc_create', '-b', 'D', '8', '4096')
    assert raid(s, 'm1', 'online') is not None

    run_rpc(s, 'bdev_raid_delete', 'm0')
    run_rpc(s, 'bdev_raid_delete', 'm1')
    assert rpc_json(s, 'bdev_raid_get_bdevs', 'all') == []
    err = rpc_fails(s, 'bdev_raid_delete', 'm0')
    assert 'raid bdev m0 not found' in err
    run_rpc(s, 'bdev_malloc_delete', 'A')


class Bdevperf:
    """bdevperf -z: configured over its RPC socket, then perform_tests."""

    def __init__(self, tmp_path, *args):
        self.sock = str(tmp_path / 'bdevperf.sock')
        self.logpath = str(tmp_path / 'bdevperf.log')
        self.log = open(self.logpath, 'w+')
        cmd = [BDEVPERF, '-z', '-r', self.sock, '-m', '0x1', '--no-huge', '-s', '1024',
               '--file-prefix', 'axon_mirror_%d' % os.getpid()] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=sanitizer_env())
        deadline = time.monotonic() + 60
        while not os.path.exists(self.sock):
            assert self.proc.poll() is None, 'bdevperf exited:\n' + self.output()
            assert time.monotonic() < deadline, 'bdevperf never listened:\n' + self.output()
            time.sleep(0.05)
        # The socket exists before the subsystems have started.
        rpc_json(self.sock, 'framework_wait_init')

    def output(self):
        self.log.flush()
        with open(self.logpath) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        rc = self.proc.wait(timeout=60)
        out = self.output()
        assert sanitizer_report(out) is None, out
        return rc


@pytest.fixture
def bdevperf_bin():
    if not os.path.exists(BDEVPERF):
        pytest.fail('%s is not built: run make first' % BDEVPERF)
    return BDEVPERF


def test_mirror_with_a_bad_leg_keeps_verifying(bdevperf_bin, tmp_path):
    bp = Bdevperf(tmp_path, '-q', '16', '-o', '4096', '-w', 'verify', '-t', '3', '-T', 'm0')
    try:
        s = bp.sock
        run_rpc(s, 'bdev_malloc_create', '-b', 'A', '32', '512')
        run_rpc(s, 'bdev_malloc_create', '-b', 'B', '32', '512')
        run_rpc(s, 'bdev_error_create', 'B')
        run_rpc(s, 'bdev_raid_create', '-n', 'm0', '-r', 'raid1', '-b', 'A EE_B')
        assert raid(s, 'm0')['num_base_bdevs_operational'] == 2
        # The error bdev fails the leg's writes and reads from now on.
        run_rpc(s, 'bdev_error_inject_error', 'EE_B', 'write', 'failure', '-n', '1000000')
        run_rpc(s, 'bdev_error_inject_error', 'EE_B', 'read', 'failure', '-n', '1000000')

        verify_clean(s)

        info = raid(s, 'm0', 'online')
        assert info['num_base_bdevs_operational'] == 1
        assert leg(info, 'EE_B')['state'] == 'failed'
        assert leg(info, 'A')['state'] == 'healthy'
        # Deleting the error bdev hot-removes the leg: the mirror keeps going.
        run_rpc(s, 'bdev_error_delete', 'EE_B')
        info = raid(s, 'm0', 'online')
        assert leg(info, 'EE_B')['state'] == 'removed'
        assert info['num_base_bdevs_discovered'] == 1
        verify_clean(s)
        run_rpc(s, 'bdev_raid_delete', 'm0')
        assert rpc_json(s, 'bdev_raid_get_bdevs', 'all') == []
    finally:
        rc = bp.stop()
    assert rc == 0, bp.output()
