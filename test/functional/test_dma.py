"""Memory domains over JSON-RPC: dma_get_memory_domains lists the system
domain (always present, always first) and filters by DMA device id.

The daemon is driven through scripts/rpc.py; only the bad-parameter checks,
whose point is input rpc.py never sends, use a raw socket.
"""

import json
import os
import signal
import subprocess

import pytest

from rpc_raw import ROOT, raw_call, request, rpc_json, run_rpc

AXOND = os.path.join(ROOT, 'build', 'bin', 'axond')
SYSTEM_DOMAIN = {'dma_device_id': 'system', 'dma_device_type': 'DMA'}


@pytest.fixture(scope='module')
def sock(tmp_path_factory):
    """A running axond on its own socket; stopped (and checked) at the end."""
    if not os.access(AXOND, os.X_OK):
        pytest.skip('build/bin/axond is not built')
    path = str(tmp_path_factory.mktemp('dma') / 'axon.sock')
    log = open(str(tmp_path_factory.getbasetemp() / 'axond-dma.log'), 'w+')
    proc = subprocess.Popen([AXOND, '-r', path, '-m', '0x1', '--no-huge', '-s', '1024'],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        # -r: retry connecting while the daemon starts.
        run_rpc(path, '-r', '100', 'spdk_get_version')
        yield path
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        log.seek(0)
        output = log.read()
        log.close()
    # A clean exit: no sanitizer report, no leak (LeakSanitizer runs at exit).
    assert rc == 0, output
    assert 'ERROR: AddressSanitizer' not in output
    assert 'ERROR: LeakSanitizer' not in output


def test_lists_the_system_domain_first(sock):
    domains = rpc_json(sock, 'dma_get_memory_domains')
    assert isinstance(domains, list)
    assert domains, 'the system domain always exists'
    assert domains[0] == SYSTEM_DOMAIN
    for d in domains:
        assert isinstance(d['dma_device_id'], str) and d['dma_device_id']
        assert d['dma_device_type'] in ('RDMA', 'DMA', 'ACCEL', 'VENDOR')
        if d['dma_device_type'] == 'VENDOR':
            assert 1000 <= d['vendor_type'] <= 1999


def test_filter_by_id(sock):
    assert rpc_json(sock, 'dma_get_memory_domains', '-i', 'system') == [SYSTEM_DOMAIN]
    assert rpc_json(sock, 'dma_get_memory_domains', '--id', 'system') == [SYSTEM_DOMAIN]
    # An id nobody has is an empty list, not an error.
    assert rpc_json(sock, 'dma_get_memory_domains', '-i', 'no-such-device') == []
    # Ids are compared exactly.
    assert rpc_json(sock, 'dma_get_memory_domains', '-i', 'SYSTEM') == []
    assert rpc_json(sock, 'dma_get_memory_domains', '-i', 'syst') == []


def test_method_is_registered_in_both_phases(sock):
    methods = rpc_json(sock, 'rpc_get_methods')
    assert 'dma_get_memory_domains' in methods
    current = rpc_json(sock, 'rpc_get_methods', '--current')
    assert 'dma_get_memory_domains' in current


@pytest.mark.parametrize('params, name', [
    ({'id': 5}, 'id'),
    ({'id': ['system']}, 'id'),
    ({'name': 'system'}, 'name'),
])
def test_bad_params_name_the_parameter(sock, params, name):
    resp = raw_call(sock, json.dumps(request('dma_get_memory_domains', params)))
    assert resp is not None
    assert resp['error']['code'] == -32602
    assert name in resp['error']['message']


def test_daemon_still_answers(sock):
    assert rpc_json(sock, 'dma_get_memory_domains')[0] == SYSTEM_DOMAIN
