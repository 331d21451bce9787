"""Many clients, a stalled client, and large exchanges: nobody waits for anybody."""

import concurrent.futures
import json
import os
import time

import pytest

from rpc_raw import AXOND, Axond, RawConn, request, rpc_json, run_rpc

pytestmark = pytest.mark.skipif(not os.access(AXOND, os.X_OK),
                                reason='build/bin/axond is not built')


@pytest.fixture(scope='module')
def sock(tmp_path_factory):
    d = Axond(tmp_path_factory.mktemp('rpc_robust')).wait_ready()
    run_rpc(d.sock, 'framework_wait_init')
    yield d.sock
    d.stop()


def test_64_clients_in_parallel(sock):
    version = rpc_json(sock, 'axon_get_version')
    commands = [('axon_get_version',), ('thread_get_stats',), ('log_get_flags',),
                ('framework_get_reactors',)]
    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        futures = [pool.submit(run_rpc, sock, *commands[i % len(commands)]) for i in range(64)]
        results = [f.result(timeout=120) for f in futures]
    for i, proc in enumerate(results):
        out = json.loads(proc.stdout)
        if i % len(commands) == 0:
            assert out == version


def test_64_connections_open_at_once(sock):
    conns = [RawConn(sock) for _ in range(64)]
    try:
        for i, c in enumerate(conns):
            c.send_json(request('spdk_get_version', id=i))
        for i, c in enumerate(conns):
            resp = c.recv()
            assert resp['id'] == i and 'version' in resp['result']
    finally:
        for c in conns:
            c.close()


def test_a_stalled_half_request_delays_nobody(sock):
    with RawConn(sock) as stalled:
        whole = json.dumps(request('axon_get_version', id='stalled'))
        stalled.send(whole[:len(whole) // 2])
        time.sleep(0.2)
        for _ in range(10):
            start = time.monotonic()
            run_rpc(sock, 'axon_get_version')
            assert time.monotonic() - start < 1.0
        # The server kept the half it had: finishing the request answers it.
        stalled.send(whole[len(whole) // 2:])
        resp = stalled.recv()
        assert resp['id'] == 'stalled' and resp['result']['version']


def test_a_client_that_disconnects_mid_request(sock):
    for _ in range(20):
        c = RawConn(sock)
        c.send('{"jsonrpc": "2.0", "method": "spdk_get_ver')
        c.close()
    run_rpc(sock, 'spdk_get_version')  # leaks would show at the daemon's exit


def test_thousands_of_pipelined_commands_on_one_connection(sock):
    n = 3000
    script = 'axon_get_version\nthread_get_pollers\n' * (n // 2)
    start = time.monotonic()
    proc = run_rpc(sock, input=script, timeout=300, rpc_timeout=240)
    assert proc.stdout.count('"version"') == n // 2
    assert proc.stdout.count('"tick_rate"') == n // 2
    print('%d pipelined commands in %.1f s' % (n, time.monotonic() - start))


def test_multi_mib_batch_request_and_response(sock):
    """A ~3 MiB batch, answered with a ~5 MiB batch response, read in pieces."""
    batch = [request('axon_get_version', id='%06d-%s' % (i, 'p' * 40)) for i in range(40000)]
    data = json.dumps(batch).encode()
    assert len(data) > 3 << 20
    with RawConn(sock, timeout=120) as c:
        c.send(data)
        resp = c.recv(timeout=120)
    assert isinstance(resp, list) and len(resp) == len(batch)
    assert [r['id'] for r in resp] == [r['id'] for r in batch]
    assert all(r['result']['version'] for r in resp)
    run_rpc(sock, 'spdk_get_version')
