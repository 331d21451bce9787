"""scripts/rpc.py against a scripted fake server: the client's own behaviour
(pipelining, split and huge responses, errors, timeouts) without a daemon."""

import json
import socket
import threading
import time

import pytest

from rpc_raw import run_rpc


class FakeServer:
    """A Unix socket server running reply(conn) for each connection, in a thread."""

    def __init__(self, path, reply):
        self.path = str(path)
        self.reply = reply
        self.connections = 0
        self.received = []
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(self.path)
        self.lsock.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                try:
                    self.reply(self, conn)
                except OSError:
                    pass

    def read_requests(self, conn, count):
        """Read until count complete requests arrived; return them decoded."""
        buf = ''
        reqs = []
        dec = json.JSONDecoder()
        while len(reqs) < count:
            data = conn.recv(65536)
            if not data:
                break
            buf += data.decode('utf-8')
            while True:
                buf = buf.lstrip()
                try:
                    obj, end = dec.raw_decode(buf)
                except ValueError:
                    break
                reqs.append(obj)
                buf = buf[end:]
        self.received.extend(reqs)
        return reqs

    def close(self):
        self.lsock.close()


@pytest.fixture
def fake(tmp_path):
    servers = []

    def start(reply):
        s = FakeServer(tmp_path / ('fake%d.sock' % len(servers)), reply)
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.close()


def respond(conn, req, result):
    conn.sendall(json.dumps({'jsonrpc': '2.0', 'id': req['id'], 'result': result}).encode() + b'\n')


def test_response_split_into_single_bytes(fake):
    def reply(srv, conn):
        req = srv.read_requests(conn, 1)[0]
        body = json.dumps({'jsonrpc': '2.0', 'id': req['id'],
                           'result': {'version': 'Axon v0.1.0-pre', 'fields': {'major': 0}}})
        for ch in body.encode():
            conn.sendall(bytes([ch]))
            time.sleep(0.0005)
        conn.sendall(b'\n')
    srv = fake(reply)
    out = run_rpc(srv.path, 'axon_get_version').stdout
    assert json.loads(out)['version'] == 'Axon v0.1.0-pre'


def test_multi_mib_response_in_pieces(fake):
    names = ['method_%07d_%s' % (i, 'x' * 40) for i in range(200000)]  # ~11 MiB

    def reply(srv, conn):
        req = srv.read_requests(conn, 1)[0]
        body = json.dumps({'jsonrpc': '2.0', 'id': req['id'], 'result': names}).encode()
        assert len(body) > 8 << 20
        for off in range(0, len(body), 7777):
            conn.sendall(body[off:off + 7777])
        conn.sendall(b'\n')
    srv = fake(reply)
    start = time.monotonic()
    out = run_rpc(srv.path, 'rpc_get_methods').stdout
    assert json.loads(out) == names
    assert time.monotonic() - start < 30


def test_stdin_commands_are_pipelined_on_one_connection(fake):
    script = ("# a comment\n"
              "log_set_level debug\n"
              "\n"
              "log_get_level\n"
              "framework_get_config bdev\n"
              "rpc_get_methods --current\n")

    def reply(srv, conn):
        # All four requests must arrive before any answer is sent.
        reqs = srv.read_requests(conn, 4)
        out = b''
        for req in reqs:
            result = {'log_set_level': True, 'log_get_level': 'DEBUG',
                      'framework_get_config': [], 'rpc_get_methods': ['a', 'b']}[req['method']]
            out += json.dumps({'jsonrpc': '2.0', 'id': req['id'], 'result': result}).encode() + b'\n'
        conn.sendall(out)  # several responses in one read
    srv = fake(reply)
    proc = run_rpc(srv.path, input=script)
    assert srv.connections == 1
    assert [r['method'] for r in srv.received] == ['log_set_level', 'log_get_level',
                                                   'framework_get_config', 'rpc_get_methods']
    assert srv.received[0]['params'] == {'level': 'debug'}
    assert srv.received[2]['params'] == {'name': 'bdev'}
    assert srv.received[3]['params'] == {'current': True}
    # Outputs in command order: the level, then the config array, then the method list.
    assert proc.stdout.split() == ['"DEBUG"', '[]', '[', '"a",', '"b"', ']']


def test_stdin_error_names_the_line_and_exits_nonzero(fake):
    def reply(srv, conn):
        reqs = srv.read_requests(conn, 2)
        conn.sendall(json.dumps({'jsonrpc': '2.0', 'id': reqs[0]['id'], 'error': {
            'code': -32602, 'message': 'level: expected one of ERROR, ..., got "LOUD"'}}).encode())
        respond(conn, reqs[1], 'NOTICE')
    srv = fake(reply)
    proc = run_rpc(srv.path, input='log_set_level LOUD\nlog_get_level\n', check=False)
    assert proc.returncode == 1
    assert 'line 1' in proc.stderr and 'log_set_level LOUD' in proc.stderr
    assert '-32602' in proc.stderr and 'level: expected' in proc.stderr
    assert proc.stdout.strip() == '"NOTICE"'


def test_error_goes_to_stderr_with_nonzero_status(fake):
    def reply(srv, conn):
        req = srv.read_requests(conn, 1)[0]
        conn.sendall(json.dumps({'jsonrpc': '2.0', 'id': req['id'], 'error': {
            'code': -32601, 'message': 'Method not found'}}).encode() + b'\n')
    srv = fake(reply)
    proc = run_rpc(srv.path, 'framework_get_reactors', check=False)
    assert proc.returncode == 1
    assert proc.stdout == ''
    assert '"code": -32601' in proc.stderr and 'Method not found' in proc.stderr


def test_timeout(fake):
    def reply(srv, conn):
        srv.read_requests(conn, 1)
        time.sleep(3)
    srv = fake(reply)
    start = time.monotonic()
    proc = run_rpc(srv.path, 'framework_wait_init', check=False, rpc_timeout=0.5)
    assert proc.returncode == 1
    assert 'Timeout' in proc.stderr
    assert time.monotonic() - start < 2.5


def test_kill_instance_accepts_a_closed_connection(fake):
    def reply(srv, conn):
        srv.read_requests(conn, 1)  # and close without answering
    srv = fake(reply)
    run_rpc(srv.path, 'spdk_kill_instance', 'SIGTERM')
    assert srv.received[0]['params'] == {'sig_name': 'SIGTERM'}


def test_closed_connection_is_an_error_for_other_methods(fake):
    def reply(srv, conn):
        srv.read_requests(conn, 1)
    srv = fake(reply)
    proc = run_rpc(srv.path, 'spdk_get_version', check=False)
    assert proc.returncode == 1 and 'closed' in proc.stderr


def test_dry_run_does_not_connect(tmp_path):
    proc = run_rpc(tmp_path / 'nothing.sock', '--dry-run', 'framework_get_config', 'bdev')
    req = json.loads(proc.stdout)
    assert req['method'] == 'framework_get_config' and req['params'] == {'name': 'bdev'}
    assert req['jsonrpc'] == '2.0' and 'id' in req


def test_connect_failure_is_reported(tmp_path):
    proc = run_rpc(tmp_path / 'nothing.sock', 'spdk_get_version', check=False)
    assert proc.returncode == 1 and 'Error while connecting' in proc.stderr


def test_load_config_reads_a_file_and_save_config_indent(fake, tmp_path):
    doc = {'subsystems': [{'subsystem': 'log', 'config': [
        {'method': 'log_set_level', 'params': {'level': 'INFO'}}]}]}

    def reply(srv, conn):
        req = srv.read_requests(conn, 1)[0]
        respond(conn, req, True if req['method'] == 'load_config' else doc)
    srv = fake(reply)
    f = tmp_path / 'c.json'
    f.write_text(json.dumps(doc))
    run_rpc(srv.path, 'load_config', '-j', f)
    assert srv.received[-1] == {'jsonrpc': '2.0', 'method': 'load_config', 'id': 1, 'params': doc}
    run_rpc(srv.path, 'load_config', input=json.dumps(doc))
    assert srv.received[-1]['params'] == doc
    out = run_rpc(srv.path, 'save_config', '-i', '-1').stdout
    assert out == json.dumps(doc) + '\n'
    out = run_rpc(srv.path, 'save_config').stdout
    assert out == json.dumps(doc, indent=2) + '\n'


def test_server_mode_prints_status_markers(fake):
    def reply(srv, conn):
        req = srv.read_requests(conn, 1)[0]
        respond(conn, req, 'NOTICE')
    srv = fake(reply)
    proc = run_rpc(srv.path, '--server', input='-s %s log_get_level\nno_such_command\n' % srv.path)
    assert proc.stdout.splitlines()[-2:] == ['**STATUS=0', '**STATUS=1']
    assert '"NOTICE"' in proc.stdout
