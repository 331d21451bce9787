"""Bad input over a raw socket: each gets the right JSON-RPC error, and the
daemon stays up (a valid call on a new connection works after each)."""

import json
import os

import pytest

from rpc_raw import AXOND, Axond, RawConn, raw_call, request, run_rpc

pytestmark = pytest.mark.skipif(not os.access(AXOND, os.X_OK),
                                reason='build/bin/axond is not built')

PARSE, INVALID, NOT_FOUND, PARAMS = -32700, -32600, -32601, -32602


@pytest.fixture(scope='module')
def sock(tmp_path_factory):
    d = Axond(tmp_path_factory.mktemp('rpc_malformed')).wait_ready()
    run_rpc(d.sock, 'framework_wait_init')
    yield d.sock
    d.stop()


@pytest.fixture(autouse=True)
def daemon_stays_up(sock):
    yield
    resp = raw_call(sock, json.dumps(request('spdk_get_version', id='alive')))
    assert resp == {'jsonrpc': '2.0', 'id': 'alive', 'result': resp['result']}
    assert resp['result']['version']


def req(method, params=None, id=1):
    return json.dumps(request(method, params, id))


def send(sock, data, timeout=30):
    with RawConn(sock, timeout) as c:
        c.send(data)
        return c.recv(timeout), c


def assert_error(resp, code, id=None, starts=None):
    assert isinstance(resp, dict), resp
    assert resp.get('jsonrpc') == '2.0' and resp.get('id') == id, resp
    assert resp['error']['code'] == code, resp
    assert isinstance(resp['error']['message'], str) and resp['error']['message']
    if starts is not None:
        assert resp['error']['message'].startswith(starts), resp['error']['message']


def test_truncated_json_then_garbage_is_a_parse_error_and_closes(sock):
    with RawConn(sock) as c:
        whole = req('spdk_get_version')
        c.send(whole[:whole.rindex('}')] + ']')  # the object closed by a ']'

        assert_error(c.recv(), PARSE)
        assert c.is_closed()


def test_truncated_json_then_eof(sock):
    with RawConn(sock) as c:
        c.send(req('spdk_get_version')[:-5])
        c.shutdown_write()
        assert_error(c.recv(), PARSE)
        assert c.is_closed()


def test_a_bare_array_of_non_requests(sock):
    resp, _ = send(sock, '[1, "two"]')
    assert isinstance(resp, list) and len(resp) == 2
    for r in resp:
        assert_error(r, INVALID)


@pytest.mark.parametrize('value', ['42', '"a string"', 'null', 'true'])
def test_a_bare_value(sock, value):
    with RawConn(sock) as c:
        c.send(value + '\n')  # a number ends only where something else starts
        assert_error(c.recv(), INVALID)
        # Not a parse error: the connection stays usable.
        c.send(req('spdk_get_version', id=7))
        assert c.recv()['id'] == 7


def test_an_empty_batch(sock):
    with RawConn(sock) as c:
        c.send('[]')
        assert_error(c.recv(), INVALID)
        c.send(req('spdk_get_version', id=8))
        assert c.recv()['id'] == 8


def test_a_mixed_batch(sock):
    batch = [request('spdk_get_version', id=1), 5, request('no_such_method', id=2),
             {'jsonrpc': '2.0', 'method': 'log_get_level'}]  # a notification: no answer
    resp, _ = send(sock, json.dumps(batch))
    assert [r['id'] for r in resp] == [1, None, 2]
    assert 'result' in resp[0]
    assert_error(resp[1], INVALID)
    assert_error(resp[2], NOT_FOUND, id=2)


@pytest.mark.parametrize('body,code,starts', [
    ({'jsonrpc': '2.0', 'method': 5, 'id': 1}, INVALID, None),
    ({'jsonrpc': 2.0, 'method': 'spdk_get_version', 'id': 1}, INVALID, None),
    ({'jsonrpc': '2.0', 'method': 'spdk_get_version', 'params': 'x', 'id': 1}, INVALID, None),
    ({'jsonrpc': '2.0', 'method': 'log_set_level', 'params': {'level': 5}, 'id': 1},
     PARAMS, 'level:'),
    ({'jsonrpc': '2.0', 'method': 'log_set_flag', 'params': {'flag': 1.5}, 'id': 1},
     PARAMS, 'flag:'),
    ({'jsonrpc': '2.0', 'method': 'framework_get_config', 'params': {'name': ['bdev']},
      'id': 1}, PARAMS, 'name:'),
    ({'jsonrpc': '2.0', 'method': 'spdk_kill_instance', 'params': {'sig_name': 15}, 'id': 1},
     PARAMS, 'sig_name:'),
    ({'jsonrpc': '2.0', 'method': 'rpc_get_methods', 'params': {'current': 'yes'}, 'id': 1},
     PARAMS, 'current:'),
    ({'jsonrpc': '2.0', 'method': 'log_set_level', 'params': {}, 'id': 1}, PARAMS, 'level:'),
    ({'jsonrpc': '2.0', 'method': 'log_get_level', 'params': {'extra': 1}, 'id': 1},
     PARAMS, None),
    ({'jsonrpc': '2.0', 'method': 'log_set_level', 'params': {'level': 'INFO', 'colour': 1},
      'id': 1}, PARAMS, 'colour:'),
    ({'jsonrpc': '2.0', 'method': 'load_config', 'params': {'subsystems': 3}, 'id': 1},
     PARAMS, 'subsystems:'),
    ({'jsonrpc': '2.0', 'method': 'no_such_method', 'id': 1}, NOT_FOUND, None),
])
def test_wrong_types_and_shapes(sock, body, code, starts):
    resp, _ = send(sock, json.dumps(body))
    assert_error(resp, code, id=1, starts=starts)


def test_ids_are_echoed(sock):
    for id in ['abc', 12345678901, None, 1.5]:
        resp, _ = send(sock, req('spdk_get_version', id=id))
        assert resp['id'] == id and 'result' in resp


def test_a_notification_gets_no_answer(sock):
    with RawConn(sock) as c:
        c.send(json.dumps({'jsonrpc': '2.0', 'method': 'log_get_level'}))
        c.send(req('spdk_get_version', id='after'))
        assert c.recv()['id'] == 'after'


def test_invalid_utf8(sock):
    data = req('log_set_flag', {'flag': 'XX'}).encode().replace(b'XX', b'\xff\xfe')
    with RawConn(sock) as c:
        c.send(data)
        assert_error(c.recv(), PARSE)
        assert c.is_closed()


def test_a_16_mib_string(sock):
    big = 'A' * (16 << 20)
    resp, _ = send(sock, req('log_set_level', {'level': big}), timeout=120)
    assert_error(resp, PARAMS, id=1, starts='level:')
    assert len(resp['error']['message']) < 4096, 'the error must not echo 16 MiB back'


def test_a_request_over_the_size_limit(sock):
    big = 'A' * (40 << 20)
    with RawConn(sock, timeout=120) as c:
        try:
            c.send(req('log_set_flag', {'flag': big}))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may close before reading it all
        resp = c.recv(120)
    assert resp is None or resp['error']['code'] in (INVALID, PARSE)


@pytest.mark.parametrize('depth', [129, 5000, 200000])
def test_deep_nesting(sock, depth):
    data = '{"jsonrpc": "2.0", "method": "log_set_level", "id": 1, "params": {"level": ' + \
        '[' * depth + ']' * depth + '}}'
    with RawConn(sock) as c:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            # The server answered and closed after the first 129 levels, before
            # this much was sent; the answer may be lost with the reset.
            resp = c.recv()
            assert resp is None or resp['error']['code'] == PARSE
            return
        assert_error(c.recv(), PARSE)
        assert c.is_closed()


def test_nesting_within_the_limit_is_a_params_error(sock):
    data = '{"jsonrpc": "2.0", "method": "log_set_level", "id": 1, "params": {"level": ' + \
        '[' * 100 + ']' * 100 + '}}'
    resp, _ = send(sock, data)
    assert_error(resp, PARAMS, id=1, starts='level:')
