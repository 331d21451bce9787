"""QoS, histograms and per-channel statistics of lib/bdev, end to end.

The load is bdevperf -z (an Axon application with the bdev layer and its RPC
server): the bdev and its limits are set up with scripts/rpc.py, then
perform_tests runs a 10 s job and the IOPS / MiB/s it reports, and the
bdev's own counters (bdev_get_iostat), must stay within 10% of the limit.
The RPC shapes (assigned_rate_limits, bdev_get_histogram, per_channel
iostat, save_config) are checked against a real axond.
"""
import base64
import json
import os
import signal
import struct
import subprocess
import sys
import time

import pytest

from axond import ROOT, RPC_PY, sanitizer_env, sanitizer_report

BDEVPERF = os.path.join(ROOT, 'build', 'bin', 'bdevperf')
RUN_SECONDS = 10
TOLERANCE = 0.10


def rpc(sock, *args, timeout=120, check=True):
    proc = subprocess.run([sys.executable, RPC_PY, '-s', sock, '-t', str(timeout)] +
                          [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout + 10)
    if check:
        assert proc.returncode == 0, 'rpc.py %s: %s%s' % (args, proc.stdout, proc.stderr)
    return proc


def rpc_json(sock, *args, **kwargs):
    return json.loads(rpc(sock, *args, **kwargs).stdout)


@pytest.fixture
def bdevperf_z(tmp_path):
    """bdevperf -z on core 0 with a 4 KiB random-read job, waiting for RPCs."""
    if not os.path.exists(BDEVPERF):
        pytest.fail('%s is not built: run make first' % BDEVPERF)
    sock = str(tmp_path / 'bdevperf.sock')
    log = open(tmp_path / 'bdevperf.log', 'w+')
    proc = subprocess.Popen([BDEVPERF, '--no-huge', '-s', '1024', '-m', '0x1', '-z', '-r', sock,
                             '-q', '64', '-o', '4096', '-w', 'randread', '-t', str(RUN_SECONDS)],
                            stdout=log, stderr=subprocess.STDOUT, env=sanitizer_env())
    try:
        deadline = time.time() + 60
        while not os.path.exists(sock) and time.time() < deadline:
            assert proc.poll() is None, 'bdevperf -z exited early'
            time.sleep(0.1)
        # The socket exists before the subsystems have started: runtime
        # methods must wait until initialisation is done.
        rpc(sock, 'framework_wait_init', timeout=60)
        yield sock
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.seek(0)
        text = log.read()
        log.close()
        assert sanitizer_report(text) is None, text


LIMIT_IOPS = 5000


def read_ops(sock, name):
    stat = rpc_json(sock, 'bdev_get_iostat', '-b', name)
    return stat['bdevs'][0]['num_read_ops'], stat['ticks'], stat['tick_rate']


def run_and_measure(sock, name):
    """perform_tests; returns (bdevperf's total, read ops/s from bdev_get_iostat)."""
    ops0, t0, hz = read_ops(sock, name)
    res = json.loads(rpc(sock, 'perform_tests', timeout=RUN_SECONDS + 60).stdout)
    ops1, t1, _ = read_ops(sock, name)
    return res['total'], (ops1 - ops0) / ((t1 - t0) / hz)


def within(value, limit):
    return abs(value - limit) <= TOLERANCE * limit


def test_qos_iops_limit_holds(bdevperf_z):
    sock = bdevperf_z
    rpc(sock, 'bdev_null_create', 'Null0', 64, 4096)
    # Limits sit far below what even a loaded ASan build delivers, so the
    # figure measures QoS and not how busy the machine is.
    rpc(sock, 'bdev_set_qos_limit', 'Null0', '--rw-ios-per-sec', LIMIT_IOPS)
    info = rpc_json(sock, 'bdev_get_bdevs', '-b', 'Null0')[0]
    assert info['assigned_rate_limits'] == {'rw_ios_per_sec': LIMIT_IOPS, 'rw_mbytes_per_sec': 0,
                                            'r_mbytes_per_sec': 0, 'w_mbytes_per_sec': 0}
    total, iostat_iops = run_and_measure(sock, 'Null0')
    print('%d IOPS limit: bdevperf %.0f IOPS, iostat %.0f IOPS' % (LIMIT_IOPS, total['iops'],
                                                                 iostat_iops))
    assert within(total['iops'], LIMIT_IOPS), total
    # perform_tests' window and the iostat window differ by the RPC round trips.
    assert iostat_iops <= LIMIT_IOPS * (1 + TOLERANCE), iostat_iops
    assert iostat_iops >= LIMIT_IOPS * (1 - 2 * TOLERANCE), iostat_iops


def test_qos_bandwidth_limit_holds(bdevperf_z):
    sock = bdevperf_z
    rpc(sock, 'bdev_null_create', 'Null0', 64, 4096)
    # 10 MiB/s of 4 KiB reads: 2560 IOPS; the read limit is the tighter one.
    rpc(sock, 'bdev_set_qos_limit', 'Null0', '--rw-mbytes-per-sec', 20,
        '--r-mbytes-per-sec', 10)
    total, _ = run_and_measure(sock, 'Null0')
    print('10 MiB/s read limit: bdevperf %.2f MiB/s' % total['mibps'])
    assert within(total['mibps'], 10), total
    # 0 turns a limit off; what is left (100 MiB/s) then applies.
    rpc(sock, 'bdev_set_qos_limit', 'Null0', '--r-mbytes-per-sec', 0)
    info = rpc_json(sock, 'bdev_get_bdevs', '-b', 'Null0')[0]
    assert info['assigned_rate_limits']['r_mbytes_per_sec'] == 0
    assert info['assigned_rate_limits']['rw_mbytes_per_sec'] == 20
    total, _ = run_and_measure(sock, 'Null0')
    print('20 MiB/s read-write limit: bdevperf %.2f MiB/s' % total['mibps'])
    assert within(total['mibps'], 20), total


def test_qos_histogram_iostat_rpcs(axond):
    axond.rpc('bdev_null_create', 'Null0', 16, 512)
    # Limits: bad input is named; all zero means off.
    with pytest.raises(AssertionError) as e:
        axond.rpc('bdev_set_qos_limit', 'Null0')
    assert 'rw_ios_per_sec' in str(e.value)
    with pytest.raises(AssertionError) as e:
        axond.rpc('bdev_set_qos_limit', 'Nope', '--rw-ios-per-sec', 1000)
    assert 'Nope' in str(e.value)
    axond.rpc('bdev_set_qos_limit', 'Null0', '--rw-ios-per-sec', 5000, '--w-mbytes-per-sec', 7)
    limits = axond.rpc('bdev_get_bdevs', '-b', 'Null0')[0]['assigned_rate_limits']
    assert limits['rw_ios_per_sec'] == 5000 and limits['w_mbytes_per_sec'] == 7
    config = axond.rpc('save_config')
    bdev_cfg = [s for s in config['subsystems'] if s['subsystem'] == 'bdev'][0]['config']
    qos = [c for c in bdev_cfg if c['method'] == 'bdev_set_qos_limit']
    assert qos and qos[0]['params']['name'] == 'Null0'
    assert qos[0]['params']['rw_ios_per_sec'] == 5000
    axond.rpc('bdev_set_qos_limit', 'Null0', '--rw-ios-per-sec', 0, '--w-mbytes-per-sec', 0)
    assert axond.rpc('bdev_get_bdevs', '-b', 'Null0')[0]['assigned_rate_limits'] == {
        'rw_ios_per_sec': 0, 'rw_mbytes_per_sec': 0, 'r_mbytes_per_sec': 0,
        'w_mbytes_per_sec': 0}

    # Histograms: off by default, then an empty SPDK-shaped blob.
    with pytest.raises(AssertionError) as e:
        axond.rpc('bdev_get_histogram', 'Null0')
    assert 'not enabled' in str(e.value)
    axond.rpc('bdev_enable_histogram', 'Null0', '--enable')
    h = axond.rpc('bdev_get_histogram', 'Null0')
    assert h['bucket_shift'] == 7 and h['tsc_rate'] > 0
    blob = base64.b64decode(h['histogram'])
    counts = struct.unpack('<%dQ' % (len(blob) // 8), blob)
    assert len(counts) == (64 - 7 + 1) << 7 and sum(counts) == 0
    axond.rpc('bdev_enable_histogram', 'Null0', '--granularity', 4, '--opc', 'read')
    assert axond.rpc('bdev_get_histogram', 'Null0')['bucket_shift'] == 4
    with pytest.raises(AssertionError) as e:
        axond.rpc('bdev_enable_histogram', 'Null0', '--opc', 'frobnicate')
    assert 'opc' in str(e.value)
    axond.rpc('bdev_enable_histogram', 'Null0', '--disable')

    # Per channel: nobody does I/O on axond, so the list is empty.
    st = axond.rpc('bdev_get_iostat', '-b', 'Null0', '--per-channel')
    assert st['name'] == 'Null0' and st['channels'] == [] and st['tick_rate'] > 0
    with pytest.raises(AssertionError) as e:
        axond.rpc('bdev_get_iostat', '--per-channel')
    assert 'per_channel' in str(e.value)
