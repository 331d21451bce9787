"""Helpers for the JSON-RPC functional tests.

RawConn talks to axond's socket byte by byte, for the tests whose point is
bad input (the client, scripts/rpc.py, never sends it). run_rpc() runs
scripts/rpc.py, the way every other test drives the daemon.
"""

import json
import os
import select
import socket
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
RPC_PY = os.path.join(ROOT, 'scripts', 'rpc.py')


def run_rpc(sock, *args, input=None, timeout=60, check=True, rpc_timeout=30):
    """Run scripts/rpc.py -s sock ARGS; return the CompletedProcess (text mode).

    With check=True a non-zero exit fails the test with rpc.py's stderr.
    """
    cmd = [sys.executable, RPC_PY, '-s', str(sock), '-t', str(rpc_timeout)] + [str(a) for a in args]
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError("rpc.py %s failed (%d):\nstdout: %s\nstderr: %s"
                             % (' '.join(map(str, args)), proc.returncode, proc.stdout,
                                proc.stderr))
    return proc


def rpc_json(sock, *args, **kwargs):
    """run_rpc and decode its stdout as JSON."""
    out = run_rpc(sock, *args, **kwargs).stdout
    return json.loads(out)


class RawConn:
    """One raw connection to a Unix socket, with a response reader that
    accepts responses split across reads and several in one read."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.timeout = timeout
        self.buf = b''
        self.eof = False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode('utf-8')
        self.sock.sendall(data)

    def send_json(self, obj):
        self.send(json.dumps(obj))

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no response within %.1f s; buffered: %r"
                               % (self.timeout, self.buf[:200]))
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            return
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            data = b''
        if not data:
            self.eof = True
        self.buf += data

    def recv(self, timeout=None):
        """The next JSON value the server sent; None if it closed the connection first."""
        deadline = time.monotonic() + (timeout or self.timeout)
        dec = json.JSONDecoder()
        while True:
            text = self.buf.lstrip()
            if text:
                try:
                    obj, end = dec.raw_decode(text.decode('utf-8'))
                    self.buf = text.decode('utf-8')[end:].encode('utf-8')
                    return obj
                except (ValueError, UnicodeDecodeError):
                    pass
            if self.eof:
                return None
            self._fill(deadline)

    def is_closed(self, timeout=5.0):
        """True if the server closes the connection within timeout (after any data)."""
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self._fill(deadline)
        return self.eof

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def raw_call(path, data, timeout=10.0):
    """Send raw bytes on a new connection; return the first response (or None)."""
    with RawConn(path, timeout) as c:
        c.send(data)
        return c.recv()


def request(method, params=None, id=1):
    req = {'jsonrpc': '2.0', 'method': method, 'id': id}
    if params is not None:
        req['params'] = params
    return req


# ---- a daemon for the rpc tests (until conftest's axond fixture covers them) ----

AXOND = os.path.join(ROOT, 'build', 'bin', 'axond')
SANITIZER_MARKS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:')


class Axond:
    """build/bin/axond on its own socket in tmpdir. stop() sends SIGTERM and
    asserts a clean exit with no sanitizer report."""

    def __init__(self, tmpdir, *args, name='axond'):
        self.sock = os.path.join(str(tmpdir), name + '.sock')
        self.logpath = os.path.join(str(tmpdir), name + '.log')
        self.log = open(self.logpath, 'w+')
        cmd = [AXOND, '-r', self.sock, '-m', '0x1', '--no-huge', '-s', '1024'] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self):
        """Wait until the socket answers (any phase)."""
        run_rpc(self.sock, '-r', '150', 'spdk_get_version')
        return self

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.logpath) as f:
            return f.read()

    def wait_exit(self, timeout=30):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("axond did not exit within %d s:\n%s" % (timeout, self.output()))

    def check_clean(self, rc):
        out = self.output()
        assert rc == 0, "axond exited with %s:\n%s" % (rc, out)
        for mark in SANITIZER_MARKS:
            assert mark not in out, out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(15)
        rc = self.wait_exit()
        self.log.close()
        self.check_clean(rc)

    def close(self):
        if not self.log.closed:
            self.log.close()
