"""Every bdev type created through axon-rpc, then verified by bdevperf; an aio
bdev over a file that grows survives bdev_aio_rescan and keeps verifying.

bdevperf -z serves the same RPCs as axond (it links the same bdev modules), so
the bdevs are made exactly as an operator makes them, and perform_tests runs a
verify job on each."""
import json
import os
import signal
import subprocess
import time

import pytest

from axond import ROOT, RPC_PY, sanitizer_env, sanitizer_report

BDEVPERF = os.path.join(ROOT, 'build', 'bin', 'bdevperf')
FILE_MB = 32


def rpc(sock, *args, timeout=120):
    proc = subprocess.run([RPC_PY, '-s', sock, '-t', str(timeout)] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout + 30)
    assert proc.returncode == 0, '%s: %s%s' % (args, proc.stdout, proc.stderr)
    out = proc.stdout.strip()
    try:
        return json.loads(out) if out else None
    except ValueError:
        return out  # create methods print the new bdev's name, as SPDK's rpc.py does


@pytest.fixture
def bdevperf_verify(tmp_path):
    """bdevperf -z with a short 4 KiB verify job, initialised and waiting for RPCs."""
    if not os.path.exists(BDEVPERF):
        pytest.fail('%s is not built: run make first' % BDEVPERF)
    sock = str(tmp_path / 'bdevperf.sock')
    log = open(tmp_path / 'bdevperf.log', 'w+')
    proc = subprocess.Popen([BDEVPERF, '--no-huge', '-s', '1024', '-m', '0x1', '-z', '-r', sock,
                             '-q', '8', '-o', '4096', '-w', 'verify', '-t', '2'],
                            stdout=log, stderr=subprocess.STDOUT, env=sanitizer_env())
    try:
        deadline = time.time() + 60
        while not os.path.exists(sock):
            assert proc.poll() is None, 'bdevperf -z exited early'
            assert time.time() < deadline, 'bdevperf -z never listened'
            time.sleep(0.1)
        rpc(sock, 'framework_wait_init')
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


def perform_tests(sock):
    res = rpc(sock, 'perform_tests')
    assert res['total']['io_failed'] == 0 and res['total']['miscompares'] == 0, res
    return {r['name']: r for r in res['results']}


def num_blocks(sock, name):
    return rpc(sock, 'bdev_get_bdevs', '-b', name)[0]['num_blocks']


def test_every_bdev_type_through_rpc_verifies(bdevperf_verify, tmp_path):
    sock = bdevperf_verify
    aio_file = tmp_path / 'aio.img'
    uring_file = tmp_path / 'uring.img'
    for f in (aio_file, uring_file):
        with open(f, 'wb') as fh:
            fh.truncate(FILE_MB << 20)
    rpc(sock, 'bdev_malloc_create', '-b', 'Malloc0', 32, 4096)
    rpc(sock, 'bdev_null_create', 'Null0', 32, 512)
    rpc(sock, 'bdev_aio_create', aio_file, 'Aio0')
    rpc(sock, 'bdev_uring_create', uring_file, 'Uring0')
    rpc(sock, 'bdev_malloc_create', '-b', 'Malloc1', 32, 512)
    rpc(sock, 'bdev_error_create', 'Malloc1')
    rpc(sock, 'bdev_malloc_create', '-b', 'Leg0', 32, 512)
    rpc(sock, 'bdev_malloc_create', '-b', 'Leg1', 32, 512)
    rpc(sock, 'bdev_raid_create', '-n', 'Mirror0', '-r', 'raid1', '-b', 'Leg0 Leg1')

    results = perform_tests(sock)
    # Claimed bdevs (Malloc1 under the error bdev, the mirror's legs) are not
    # driven directly; their owners are.
    for name in ('Malloc0', 'Null0', 'Aio0', 'Uring0', 'EE_Malloc1', 'Mirror0'):
        assert name in results, (name, sorted(results))
        assert results[name]['iops'] > 0, results[name]


def test_aio_survives_resize_and_rescan(bdevperf_verify, tmp_path):
    sock = bdevperf_verify
    path = tmp_path / 'grow.img'
    with open(path, 'wb') as fh:
        fh.truncate(FILE_MB << 20)
    rpc(sock, 'bdev_aio_create', path, 'Aio0', 4096)
    assert num_blocks(sock, 'Aio0') == (FILE_MB << 20) // 4096
    perform_tests(sock)

    # The file grows under the running bdev: nothing changes until a rescan.
    with open(path, 'r+b') as fh:
        fh.truncate((2 * FILE_MB) << 20)
    assert num_blocks(sock, 'Aio0') == (FILE_MB << 20) // 4096
    rpc(sock, 'bdev_aio_rescan', 'Aio0')
    assert num_blocks(sock, 'Aio0') == ((2 * FILE_MB) << 20) // 4096
    results = perform_tests(sock)
    assert results['Aio0']['iops'] > 0
