"""NVMe/TCP target against a raw-socket host (nvme_tcp_raw.py).

One axond (malloc bdev, a subsystem, a TCP listener on 127.0.0.1 and a free
port, all configured with scripts/rpc.py) serves the whole module. Positive
path: connect, identify, write and read back 4 KiB and 128 KiB with digests
off and on, with and without the C2HData SUCCESS flag. Hostile PDUs: each
gets the answer the NVMe/TCP specification asks for (a C2HTermReq with the
right FES and FEI and the connection closed, or a transient transport error
completion), and afterwards axond still serves a fresh connection. At the end
axond must stop cleanly with no sanitizer report and no queue pair left.
"""
import os
import socket
import struct
import time

import pytest

from axond import Axond
import nvme_tcp_raw as raw

NQN = 'nqn.2026-01.io.axon:hostile'
HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:6b1e3a52-8d0c-4d6f-9a53-0c2a7e9b1f10'
SERIAL = 'AXONHOSTILE0001'


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def target(tmp_path_factory):
    d = Axond(tmp_path_factory.mktemp('nvmf_tcp'), name='axond_tcp')
    try:
        d.wait_ready()
        port = free_port()
        d.rpc('nvmf_create_transport', '-t', 'TCP')
        d.rpc('bdev_malloc_create', '-b', 'Malloc0', '64', '512')
        d.rpc('nvmf_create_subsystem', NQN, '-a', '-s', SERIAL)
        d.rpc('nvmf_subsystem_add_ns', NQN, 'Malloc0')
        d.rpc('nvmf_subsystem_add_listener', NQN, '-t', 'tcp', '-a', '127.0.0.1', '-s', str(port))
        d.port = port
        yield d
        assert d.running(), 'axond died:\n' + d.output()
        # Every connection the tests opened is gone.
        deadline = time.monotonic() + 10
        while d.rpc('nvmf_subsystem_get_qpairs', NQN) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert d.rpc('nvmf_subsystem_get_qpairs', NQN) == []
        d.stop()
    finally:
        d.kill()


@pytest.fixture
def tgt(target):
    """The module's axond; after the test it must still be up and serving."""
    yield target
    assert target.running(), 'axond died:\n' + target.output()
    with raw.Conn('127.0.0.1', target.port) as c:
        c.ic_req()
        c.connect(NQN, HOSTNQN)
        c.enable()
        assert c.identify(1)[4:4 + len(SERIAL)] == SERIAL.encode()


def conn(tgt, **kwargs):
    c = raw.Conn('127.0.0.1', tgt.port, **kwargs)
    c.ic_req()
    return c


def queues(tgt, **kwargs):
    """An enabled admin queue and one I/O queue (qid 1) on it."""
    admin = conn(tgt, **kwargs)
    cntlid = admin.connect(NQN, HOSTNQN, kato=30000)
    admin.enable()
    io = conn(tgt, **kwargs)
    io.connect(NQN, HOSTNQN, qid=1, sqsize=63, cntlid=cntlid)
    io.icd_size = 4096
    return admin, io


def expect_fatal(c, fes, fei):
    """The target answers with a C2HTermReq (fes, fei) and closes the connection."""
    assert c.expect_term_req() == (fes, fei)
    assert c.expect_closed(timeout=5), 'target kept the connection open after its TermReq'
    c.close()


# ---- the positive path ------------------------------------------------------------------

@pytest.mark.parametrize('digests', [False, True], ids=['nodigest', 'digest'])
def test_connect_identify_write_read(tgt, digests):
    admin, io = queues(tgt, hdgst=digests, ddgst=digests, hpda=3 if digests else 0)
    ident = admin.identify(1)
    assert ident[4:4 + len(SERIAL)] == SERIAL.encode()
    # IOCCSZ: 64-byte SQE + 4 KiB in-capsule data, in 16-byte units.
    assert struct.unpack_from('<I', ident, 1792)[0] == (64 + 4096) // 16
    for size, slba in ((4096, 0), (131072, 64)):
        data = os.urandom(size)
        io.write(1, slba, data)
        assert io.read(1, slba, size // 512) == data
    # 4 KiB through R2T / H2CData rather than in the capsule.
    data = os.urandom(4096)
    io.write(1, 1000, data, in_capsule=False)
    assert io.read(1, 1000, 8) == data
    # SQ flow control off: reads complete by the C2HData SUCCESS flag alone.
    io2 = conn(tgt, hdgst=digests, ddgst=digests)
    io2.connect(NQN, HOSTNQN, qid=2, sqsize=63,
                cntlid=struct.unpack_from('<H', ident, 78)[0] or 0xFFFF, disable_sqflow=True)
    assert io2.read(1, 64, 256) == io.read(1, 64, 256)
    for c in (io2, io, admin):
        c.close()


# ---- hostile PDUs ------------------------------------------------------------------------

def test_first_pdu_not_icreq(tgt):
    c = raw.Conn('127.0.0.1', tgt.port)
    c.send(raw.capsule_pdu(raw.prop_get_sqe(1, raw.PROP_CAP, True)))
    expect_fatal(c, raw.FES_PDU_SEQUENCE_ERROR, 0)


def test_icreq_bad_pfv(tgt):
    c = raw.Conn('127.0.0.1', tgt.port)
    c.send(raw.ic_req_pdu(pfv=1))
    expect_fatal(c, raw.FES_UNSUPPORTED_PARAMETER, 8)


def test_wrong_hlen(tgt):
    c = conn(tgt)
    pdu = bytearray(raw.capsule_pdu(raw.prop_get_sqe(1, raw.PROP_CAP, True)))
    pdu[2] = 73
    c.send(bytes(pdu))
    expect_fatal(c, raw.FES_INVALID_HEADER_FIELD, 2)


def test_huge_plen(tgt):
    c = conn(tgt)
    # Only the common header: the target must refuse it before waiting for 4 GiB.
    c.send(raw.common_hdr(raw.CAPSULE_CMD, 0, 72, 72, 0xFFFFFFF0))
    expect_fatal(c, raw.FES_INVALID_HEADER_FIELD, 4)


def test_controller_pdu_from_host(tgt):
    c = conn(tgt)
    c.send(raw.common_hdr(raw.R2T, 0, 24, 0, 24) + bytes(16))
    expect_fatal(c, raw.FES_INVALID_HEADER_FIELD, 0)


def test_h2c_data_for_no_r2t(tgt):
    admin, io = queues(tgt)
    io.send(raw.h2c_pdu(1, 0, 0, bytes(512), True))
    expect_fatal(io, raw.FES_INVALID_HEADER_FIELD, 10)
    admin.close()


def start_r2t_write(io, nlb, cid=0x55):
    """Send a write whose data the target must ask for; returns the R2T (ttag, r2to, r2tl)."""
    io.send(raw.capsule_pdu(raw.rw_sqe(0x01, cid, 1, 0, nlb, False), b'', io.hdgst, io.ddgst))
    pdu = io.recv_pdu()
    assert pdu.type == raw.R2T
    cccid, ttag, r2to, r2tl = struct.unpack_from('<HHII', pdu.raw, 8)
    assert (cccid, r2to, r2tl) == (cid, 0, nlb * 512)
    return ttag


def test_wrong_ttag(tgt):
    admin, io = queues(tgt)
    ttag = start_r2t_write(io, 16)
    io.send(raw.h2c_pdu(0x55, ttag ^ 0x4000, 0, bytes(8192), True))
    expect_fatal(io, raw.FES_INVALID_HEADER_FIELD, 10)
    admin.close()


def test_wrong_cccid(tgt):
    admin, io = queues(tgt)
    ttag = start_r2t_write(io, 16)
    io.send(raw.h2c_pdu(0x56, ttag, 0, bytes(8192), True))
    expect_fatal(io, raw.FES_INVALID_HEADER_FIELD, 8)
    admin.close()


def test_wrong_data_offset(tgt):
    admin, io = queues(tgt)
    ttag = start_r2t_write(io, 16)
    io.send(raw.h2c_pdu(0x55, ttag, 4096, bytes(4096), True))
    expect_fatal(io, raw.FES_INVALID_HEADER_FIELD, 12)
    admin.close()


def test_data_beyond_command(tgt):
    admin, io = queues(tgt)
    ttag = start_r2t_write(io, 16)
    io.send(raw.h2c_pdu(0x55, ttag, 0, bytes(8192 + 512), True))
    expect_fatal(io, raw.FES_DATA_OUT_OF_RANGE, 0)
    admin.close()


def test_header_digest_mismatch(tgt):
    c = conn(tgt, hdgst=True)
    pdu = bytearray(raw.capsule_pdu(raw.prop_get_sqe(1, raw.PROP_CAP, True), hdgst=True))
    pdu[72] ^= 0xFF
    c.send(bytes(pdu))
    expect_fatal(c, raw.FES_HDGST_ERROR, 0)


def test_data_digest_mismatch(tgt):
    admin, io = queues(tgt, ddgst=True)
    transient = raw.SC_TRANSIENT_TRANSPORT_ERROR
    # In-capsule data: the command fails with a transient transport error...
    cmd = raw.rw_sqe(0x01, 0x71, 1, 0, 8, True)
    pdu = bytearray(raw.capsule_pdu(cmd, os.urandom(4096), ddgst=True))
    pdu[-1] ^= 0x01
    io.send(bytes(pdu))
    rsp = io.recv_pdu()
    assert rsp.type == raw.CAPSULE_RESP
    cid, status = struct.unpack_from('<HH', rsp.raw, 20)
    assert cid == 0x71 and (status >> 1) & 0x7FF == transient
    # ...and so does H2CData, once the whole transfer is in.
    ttag = start_r2t_write(io, 16, cid=0x72)
    bad = bytearray(raw.h2c_pdu(0x72, ttag, 0, os.urandom(4096), False, ddgst=True))
    bad[-1] ^= 0x80
    io.send(bytes(bad) + raw.h2c_pdu(0x72, ttag, 4096, os.urandom(4096), True, ddgst=True))
    rsp = io.recv_pdu()
    assert rsp.type == raw.CAPSULE_RESP
    cid, status = struct.unpack_from('<HH', rsp.raw, 20)
    assert cid == 0x72 and (status >> 1) & 0x7FF == transient
    # The connection is still good.
    data = os.urandom(8192)
    io.write(1, 0, data)
    assert io.read(1, 0, 16) == data
    io.close()
    admin.close()


def test_term_req_from_host(tgt):
    admin, io = queues(tgt)
    io.send(raw.term_req_pdu(raw.FES_PDU_SEQUENCE_ERROR))
    # No TermReq comes back: the target just closes.
    assert io.expect_closed(timeout=5)
    io.close()
    admin.close()


@pytest.mark.parametrize('reset', [False, True], ids=['close', 'reset'])
def test_abrupt_close_mid_write(tgt, reset):
    admin, io = queues(tgt)
    ttag = start_r2t_write(io, 256)
    io.send(raw.h2c_pdu(0x55, ttag, 0, bytes(65536), False))
    # A 128 KiB read in flight too, and part of another capsule.
    io.send(raw.capsule_pdu(raw.rw_sqe(0x02, 0x56, 1, 0, 256, False)))
    io.send(raw.capsule_pdu(raw.rw_sqe(0x01, 0x57, 1, 0, 8, True), bytes(4096))[:1000])
    if reset:
        io.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    io.close()
    admin.close()


def test_many_hostile_connections(tgt):
    """A burst of connections that die in different ways, all at once."""
    conns = []
    for i in range(24):
        c = raw.Conn('127.0.0.1', tgt.port)
        kind = i % 4
        if kind == 0:
            c.send(raw.common_hdr(raw.CAPSULE_CMD, 0, 72, 72, 0xFFFFFFF0))
        elif kind == 1:
            c.send(raw.ic_req_pdu()[:64])
        elif kind == 2:
            c.send(raw.ic_req_pdu() + raw.term_req_pdu(1))
        conns.append(c)
    for c in conns:
        c.close()
