"""JSON-RPC 2.0 client for axond: Unix or TCP stream socket, pipelined requests.

The server answers each request with one JSON object (followed by a newline,
but we do not rely on it). Responses may come back in any order when a method
completes later, so they are matched to requests by id. Reading and writing are
interleaved with select(): a long pipeline never deadlocks against a server
that stops reading while its own output is not drained.
"""

import json
import os
import select
import socket
import sys
import time

RECV_CHUNK = 1 << 20
# A request's completion can be detected cheaply: the decoder is only tried
# when the buffer ends with one of these (a complete JSON object ends with '}'
# and optional whitespace). This keeps reading a multi-MiB response linear.
_END_BYTES = (ord('}'), ord(']'), ord(' '), ord('\n'), ord('\r'), ord('\t'))


class ClientError(Exception):
    """The client could not talk to the server (connect, timeout, closed socket)."""

    def __init__(self, message, closed=False):
        super().__init__(message)
        self.message = message
        self.closed = closed


class RpcError(Exception):
    """The server answered with a JSON-RPC error object."""

    def __init__(self, request, error):
        self.request = request
        self.error = error
        self.code = error.get('code') if isinstance(error, dict) else None
        msg = error.get('message') if isinstance(error, dict) else str(error)
        super().__init__(msg)
        self.message = msg

    def describe(self):
        """The report printed by the CLI: the request and the error object."""
        return "\n".join(["request:", json.dumps(self.request, indent=2),
                          "Got JSON-RPC error response", "response:",
                          json.dumps(self.error, indent=2)])


def parse_address(addr, port=None):
    """Return (family, sockaddr) for a Unix path, 'host:port', '[v6]:port' or an IP with port."""
    if addr.startswith('/') or addr.startswith('.') or os.path.exists(addr):
        return socket.AF_UNIX, addr
    host, sep, p = addr.rpartition(':')
    if sep and p.isdigit() and host and (host.count(':') == 0 or host.startswith('[')):
        host = host.strip('[]')
        port = int(p)
    else:
        host = addr.strip('[]')
    if port is None:
        raise ClientError("Invalid or non-existing address: '%s' (give a socket path, "
                          "host:port, or an IP address with -p)" % addr)
    try:
        info = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except socket.gaierror as ex:
        raise ClientError("Cannot resolve '%s': %s" % (host, ex))
    return info[0][0], info[0][4]


class Client:
    """One connection to the server. Not thread-safe; use one per thread."""

    def __init__(self, addr, port=None, timeout=60.0, conn_retries=0, log=None):
        if timeout is None or timeout <= 0:
            raise ClientError("Timeout value is invalid: %s" % timeout)
        self.addr = addr
        self.timeout = timeout
        self._log = log
        self._next_id = 0
        self._rbuf = bytearray()
        self._responses = {}
        self.sock = None
        family, sockaddr = parse_address(addr, port)
        for attempt in range(conn_retries + 1):
            try:
                self._connect(family, sockaddr)
                return
            except OSError as ex:
                if attempt == conn_retries:
                    raise ClientError("Error while connecting to %s\nIs axond running?\n"
                                      "Error details: %s" % (addr, ex))
                time.sleep(0.2)

    def _connect(self, family, sockaddr):
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.settimeout(self.timeout)
            s.connect(sockaddr)
        except OSError:
            s.close()
            raise
        s.setblocking(False)
        self.sock = s

    def close(self):
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _trace(self, what, obj):
        if self._log is not None:
            self._log("%s:\n%s" % (what, json.dumps(obj, indent=2)))

    def make_request(self, method, params=None):
        self._next_id += 1
        req = {'jsonrpc': '2.0', 'method': method, 'id': self._next_id}
        if params is not None:
            req['params'] = params
        return req

    def _decode_available(self):
        """Move every complete response in the read buffer to self._responses."""
        buf = self._rbuf
        while True:
            start = 0
            while start < len(buf) and buf[start] in b' \t\r\n':
                start += 1
            if start == len(buf):
                buf.clear()
                return
            try:
                text = bytes(buf[start:]).decode('utf-8')
                obj, end = json.JSONDecoder().raw_decode(text)
            except (UnicodeDecodeError, ValueError):
                if start:
                    del buf[:start]
                return
            consumed = start + len(text[:end].encode('utf-8'))
            del buf[:consumed]
            self._accept(obj)

    def _accept(self, obj):
        self._trace("response", obj)
        if not isinstance(obj, dict):
            raise ClientError("Unexpected response (not an object): %s" % json.dumps(obj)[:200])
        self._responses[obj.get('id')] = obj

    def transact(self, requests):
        """Send requests pipelined on this connection; return their responses in order.

        Raises ClientError on timeout or if the server closed the connection
        before answering every request (ClientError.closed is then True).
        """
        out = bytearray()
        for req in requests:
            self._trace("request", req)
            out += json.dumps(req).encode('utf-8') + b'\n'
        want = [r['id'] for r in requests]
        deadline = time.monotonic() + self.timeout
        view = memoryview(out)
        sent = 0
        while any(i not in self._responses for i in want):
            left = deadline - time.monotonic()
            if left <= 0:
                raise ClientError("Timeout while waiting for response:\n%s"
                                  % bytes(self._rbuf[:4096]).decode('utf-8', 'replace'))
            wlist = [self.sock] if sent < len(out) else []
            r, w, _ = select.select([self.sock], wlist, [], left)
            if w:
                try:
                    sent += self.sock.send(view[sent:sent + RECV_CHUNK])
                except BlockingIOError:
                    pass
                except OSError as ex:
                    raise ClientError("Connection closed while sending: %s" % ex, closed=True)
            if r:
                self._read_some()
        return [self._responses.pop(i) for i in want]

    def _read_some(self):
        try:
            data = self.sock.recv(RECV_CHUNK)
        except BlockingIOError:
            return
        except OSError as ex:
            raise ClientError("Connection closed: %s" % ex, closed=True)
        if not data:
            self.close()
            raise ClientError("Connection closed with partial response:\n%s"
                              % bytes(self._rbuf[:4096]).decode('utf-8', 'replace'), closed=True)
        self._rbuf += data
        if data[-1] in _END_BYTES:
            self._decode_available()

    def call(self, method, params=None):
        """Call one method; return its result or raise RpcError / ClientError."""
        req = self.make_request(method, params)
        resp = self.transact([req])[0]
        return result_of(req, resp)


def result_of(request, response):
    if 'error' in response:
        shown = dict(request.get('params') or {}) if isinstance(request.get('params'), dict) \
            else {'params': request.get('params')}
        shown['method'] = request['method']
        shown['req_id'] = request['id']
        raise RpcError(shown, response['error'])
    if 'result' not in response:
        raise ClientError("Malformed response (no result or error): %s"
                          % json.dumps(response)[:200])
    return response['result']


def stderr_logger(msg):
    print(msg, file=sys.stderr, flush=True)
