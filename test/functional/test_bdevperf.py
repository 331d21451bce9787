"""bdevperf end to end: bdevs from a JSON config (no axond), every workload,
verify on every local bdev type, the error bdev making runs fail, -z with RPCs,
and bad options. Each run must exit as expected with no sanitizer report."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from axond import ROOT, RPC_PY, sanitizer_env, sanitizer_report

BDEVPERF = os.path.join(ROOT, 'build', 'bin', 'bdevperf')
COMMON = ['--no-huge', '-s', '1024']
ROW = re.compile(r'^(\S+)\s+(\d*)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)'
                 r'\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$')


@pytest.fixture(scope='module', autouse=True)
def bdevperf_bin():
    if not os.path.exists(BDEVPERF):
        pytest.fail('%s is not built: run make first' % BDEVPERF)


def driver_built(name):
    return os.path.exists(os.path.join(ROOT, 'drivers', 'bdev', name, 'Makefile'))


def write_config(tmp_path, methods, name='bdevperf.json'):
    doc = {'subsystems': [{'subsystem': 'bdev',
                           'config': [{'method': m, 'params': p} for m, p in methods]}]}
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def bdevperf(*args, timeout=120):
    """Run bdevperf to completion; returns (rc, stdout, stderr, rows by (job, core))."""
    proc = subprocess.run([BDEVPERF] + COMMON + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, env=sanitizer_env())
    mark = sanitizer_report(proc.stdout + proc.stderr)
    assert mark is None, 'sanitizer report (%s):\n%s' % (mark, proc.stderr)
    rows = {}
    for line in proc.stdout.splitlines():
        m = ROW.match(line.strip())
        if m:
            rows[(m.group(1), m.group(2))] = {
                'iops': float(m.group(3)), 'mibps': float(m.group(4)),
                'failed': int(m.group(5)), 'miscompares': int(m.group(6)),
                'avg': float(m.group(7)), 'min': float(m.group(8)), 'max': float(m.group(9)),
                'p50': float(m.group(10)), 'p99': float(m.group(11)),
                'p999': float(m.group(12))}
    return proc.returncode, proc.stdout, proc.stderr, rows


def check_clean_run(rc, out, err, rows):
    assert rc == 0, 'bdevperf failed (%d):\n%s\n%s' % (rc, out, err)
    total = rows[('Total', '')]
    assert total['iops'] > 0 and total['mibps'] > 0, out
    assert total['failed'] == 0 and total['miscompares'] == 0, out
    assert total['min'] <= total['p50'] <= total['p99'] <= total['p999'] <= total['max'], out
    return total


def malloc(name='Malloc0', num_blocks=32768, block_size=512):
    return ('bdev_malloc_create', {'name': name, 'num_blocks': num_blocks,
                                   'block_size': block_size})


def backing_file(tmp_path, mib=64):
    path = tmp_path / 'backing.img'
    with open(path, 'wb') as f:
        f.truncate(mib * 1024 * 1024)
    return str(path)


BDEV_TYPES = ['malloc', 'malloc4k', 'null', 'aio', 'uring', 'error']


def bdev_config(kind, tmp_path):
    if kind == 'malloc':
        return [malloc()], 'Malloc0'
    if kind == 'malloc4k':
        return [malloc(num_blocks=8192, block_size=4096)], 'Malloc0'
    if kind == 'null':
        return [('bdev_null_create', {'name': 'Null0', 'num_blocks': 65536,
                                      'block_size': 512})], 'Null0'
    if kind in ('aio', 'uring'):
        if not driver_built(kind):
            pytest.skip('drivers/bdev/%s is not in the tree yet' % kind)
        return [('bdev_%s_create' % kind, {'name': kind.capitalize() + '0',
                                           'filename': backing_file(tmp_path)})], \
            kind.capitalize() + '0'
    assert kind == 'error'
    return [malloc(), ('bdev_error_create', {'base_name': 'Malloc0'})], 'EE_Malloc0'


@pytest.mark.parametrize('kind', BDEV_TYPES)
def test_verify_each_bdev_type(tmp_path, kind):
    methods, name = bdev_config(kind, tmp_path)
    cfg = write_config(tmp_path, methods)
    rc, out, err, rows = bdevperf('-c', cfg, '-q', 32, '-o', '4k', '-w', 'verify', '-t', 2)
    check_clean_run(rc, out, err, rows)
    assert (name, '0') in rows, out
    if kind == 'null':
        assert 'discards data' in out


def test_verify_two_cores_two_bdevs(tmp_path):
    cfg = write_config(tmp_path, [malloc('Malloc0'), malloc('Malloc1')])
    rc, out, err, rows = bdevperf('-c', cfg, '-m', '0x3', '-q', 16, '-o', 8192, '-w', 'verify',
                                  '-t', 2)
    check_clean_run(rc, out, err, rows)
    for job in (('Malloc0', '0'), ('Malloc0', '1'), ('Malloc1', '0'), ('Malloc1', '1')):
        assert job in rows and rows[job]['iops'] > 0, out


@pytest.mark.parametrize('workload', [['read'], ['write'], ['randread'], ['randwrite'],
                                      ['rw', '-M', '50'], ['randrw', '-M', '70'], ['unmap'],
                                      ['flush'], ['write_zeroes']])
def test_workloads(tmp_path, workload):
    cfg = write_config(tmp_path, [malloc()])
    rc, out, err, rows = bdevperf('-c', cfg, '-q', 8, '-o', '4096', '-t', 1, '-w', *workload)
    check_clean_run(rc, out, err, rows)


def test_filter_one_bdev(tmp_path):
    cfg = write_config(tmp_path, [malloc('Malloc0'), malloc('Malloc1')])
    rc, out, err, rows = bdevperf('-c', cfg, '-q', 4, '-o', '4k', '-w', 'randread', '-t', 1,
                                  '-T', 'Malloc1')
    check_clean_run(rc, out, err, rows)
    assert ('Malloc1', '0') in rows and ('Malloc0', '0') not in rows, out


def error_config(tmp_path, inject):
    return write_config(tmp_path, [malloc(), ('bdev_error_create', {'base_name': 'Malloc0'}),
                                   ('bdev_error_inject_error', dict(name='EE_Malloc0', **inject))])


def test_injected_read_failures_fail_the_run(tmp_path):
    cfg = error_config(tmp_path, {'io_type': 'read', 'error_type': 'failure', 'num': 5})
    rc, out, err, rows = bdevperf('-c', cfg, '-q', 16, '-o', '4k', '-w', 'verify', '-t', 2)
    assert rc != 0, out
    assert rows[('Total', '')]['failed'] >= 1, out
    assert 'FAILED' in out and re.search(r'read of \d+ block\(s\) at block \d+ failed', err), \
        out + err


def test_expected_failures_with_f(tmp_path):
    cfg = error_config(tmp_path, {'io_type': 'read', 'error_type': 'failure', 'num': 5,
                                  'sct': 2, 'sc': 0x81})
    rc, out, err, rows = bdevperf('-c', cfg, '-q', 16, '-o', '4k', '-w', 'verify', '-t', 2, '-f')
    assert rc == 0, out + err
    assert rows[('Total', '')]['failed'] == 5, out
    assert 'sct 0x2 sc 0x81' in err, err


@pytest.mark.parametrize('io_type', ['read', 'write'])
def test_corrupted_data_is_a_miscompare(tmp_path, io_type):
    cfg = error_config(tmp_path, {'io_type': io_type, 'error_type': 'corrupt_data', 'num': 1,
                                  'corrupt_offset': 100, 'corrupt_value': 1})
    rc, out, err, rows = bdevperf('-c', cfg, '-q', 8, '-o', '4k', '-w', 'verify', '-t', 1)
    assert rc != 0, out
    assert rows[('Total', '')]['miscompares'] == 1, out
    assert re.search(r'MISCOMPARE at byte offset \d+ \(block \d+\): expected 0x[0-9a-f]{16}, '
                     r'got 0x[0-9a-f]{16}', err), err


@pytest.mark.parametrize('args, message', [
    (['-o', '4k', '-w', 'read', '-t', '1'], '-q (queue depth) is required'),
    (['-q', '8', '-w', 'read', '-t', '1'], '-o (I/O size) is required'),
    (['-q', '8', '-o', '4k', '-t', '1'], '-w (workload) is required'),
    (['-q', '8', '-o', '4k', '-w', 'read'], '-t (run time in seconds) is required'),
    (['-q', '0', '-o', '4k', '-w', 'read', '-t', '1'], '-q: expected an integer'),
    (['-q', '8', '-o', '4x', '-w', 'read', '-t', '1'], '-o: expected an I/O size'),
    (['-q', '8', '-o', '1000', '-w', 'read', '-t', '1'], '-o: expected an I/O size'),
    (['-q', '8', '-o', '4k', '-w', 'readwrite', '-t', '1'], "unknown workload 'readwrite'"),
    (['-q', '8', '-o', '4k', '-w', 'rw', '-t', '1'], 'needs -M'),
    (['-q', '8', '-o', '4k', '-w', 'read', '-M', '50', '-t', '1'], '-M applies only'),
    (['-q', '8', '-o', '4k', '-w', 'rw', '-M', '101', '-t', '1'], '-M: expected'),
    (['--bogus'], 'unknown option'),
])
def test_bad_options(args, message):
    rc, out, err, _ = bdevperf(*args)
    assert rc != 0
    assert message in err, err


def test_no_bdevs_and_unknown_filter(tmp_path):
    cfg = write_config(tmp_path, [])
    rc, out, err, _ = bdevperf('-c', cfg, '-q', 8, '-o', '4k', '-w', 'read', '-t', 1)
    assert rc != 0 and 'no bdevs to test' in err, err
    cfg = write_config(tmp_path, [malloc()], name='one.json')
    rc, out, err, _ = bdevperf('-c', cfg, '-q', 8, '-o', '4k', '-w', 'read', '-t', 1, '-T', 'Nope')
    assert rc != 0 and 'no bdev named Nope' in err, err


def test_io_size_not_multiple_of_block_size(tmp_path):
    cfg = write_config(tmp_path, [malloc(num_blocks=4096, block_size=4096)])
    rc, out, err, _ = bdevperf('-c', cfg, '-q', 8, '-o', 512, '-w', 'read', '-t', 1)
    assert rc != 0 and 'not a multiple of the block size 4096' in err, err


def test_help():
    proc = subprocess.run([BDEVPERF, '--help'], capture_output=True, text=True, timeout=30,
                          env=sanitizer_env())
    assert proc.returncode == 0
    assert '-w WORKLOAD' in proc.stdout and '-z' in proc.stdout


def rpc(sock, *args, timeout=120):
    proc = subprocess.run(['python3', RPC_PY, '-s', sock, '-t', str(timeout)] +
                          [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout + 10)
    return proc.returncode, proc.stdout, proc.stderr


def test_wait_for_perform_tests_rpc(tmp_path):
    sock = str(tmp_path / 'bdevperf.sock')
    log = open(tmp_path / 'bdevperf.log', 'w+')
    proc = subprocess.Popen([BDEVPERF] + COMMON + ['-z', '-r', sock, '-q', '8', '-o', '4k', '-w',
                                                   'verify', '-t', '1'],
                            stdout=log, stderr=subprocess.STDOUT, env=sanitizer_env())
    try:
        deadline = time.time() + 60
        while not os.path.exists(sock) and time.time() < deadline:
            assert proc.poll() is None, 'bdevperf -z exited early'
            time.sleep(0.1)
        # The socket exists before the subsystems have started.
        rc, _, err = rpc(sock, 'framework_wait_init')
        assert rc == 0, err
        for args in (['bdev_malloc_create', '-b', 'Malloc0', 32, 512],
                     ['bdev_error_create', 'Malloc0']):
            rc, out, err = rpc(sock, *args)
            assert rc == 0, err
        rc, out, err = rpc(sock, 'perform_tests')
        assert rc == 0, err
        res = json.loads(out)
        assert res['total']['iops'] > 0 and res['total']['miscompares'] == 0, out
        assert [r['name'] for r in res['results']] == ['EE_Malloc0'], out
        # A second run, made to fail, is reported as an RPC error.
        rc, _, err = rpc(sock, 'bdev_error_inject_error', 'EE_Malloc0', 'write', 'failure',
                         '-n', 1)
        assert rc == 0, err
        rc, out, err = rpc(sock, 'perform_tests')
        assert rc != 0 and 'bdevperf run failed' in out + err
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
