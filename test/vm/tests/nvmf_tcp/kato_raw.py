"""A host that connects with a 1000 ms keep-alive timeout and then says
nothing: axond must tear its controller down and close the connection.

    python3 kato_raw.py PORT SUBNQN HOSTNQN

Prints "READY cntlid N" once the admin queue is connected and enabled, then
waits (up to 20 s) for axond to close the connection and prints
"CLOSED after S s". Exit status 0 when closed in time, 1 otherwise.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..',
                                'functional'))

import nvme_tcp_raw as raw  # noqa: E402

KATO_MS = 1000


def main(port, subnqn, hostnqn):
    with raw.Conn('127.0.0.1', int(port)) as c:
        c.ic_req()
        cntlid = c.connect(subnqn, hostnqn, kato=KATO_MS)
        c.enable()
        start = time.monotonic()
        print('READY cntlid %d' % cntlid, flush=True)
        closed = c.expect_closed(timeout=20)
        took = time.monotonic() - start
    if not closed:
        print('NOT CLOSED after %.1f s' % took, flush=True)
        return 1
    print('CLOSED after %.1f s' % took, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:]))
