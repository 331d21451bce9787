"""A raw-socket NVMe/TCP host that speaks just enough of the protocol to test
a target, including with PDUs no real host would send.

    c = Conn('127.0.0.1', port, hdgst=True, ddgst=True)
    c.ic_req()                                 # ICReq / ICResp
    cntlid = c.connect(SUBNQN, HOSTNQN)        # Fabrics Connect, admin queue
    c.enable()                                 # Property Set CC.EN, wait CSTS.RDY
    ident = c.identify(cns=1)                  # 4 KiB of controller data
    io = Conn(...); io.ic_req(); io.connect(SUBNQN, HOSTNQN, qid=1, cntlid=cntlid)
    io.write(1, 0, data); assert io.read(1, 0, len(data) // 512) == data

Hostile tests build PDUs with the module functions (ic_req_pdu, capsule_pdu,
h2c_pdu, term_req_pdu), send them with Conn.send, and read the target's
answer with Conn.expect_term_req() / Conn.expect_closed().

Run as `python3 nvme_tcp_raw.py seeds DIR` to write the seed corpus of
test/fuzz/fuzz_nvmf_tcp (valid sessions, prefixed with the fuzzer's two
control bytes).
"""
import os
import socket
import struct
import sys
import time

# PDU types
IC_REQ, IC_RESP, H2C_TERM_REQ, C2H_TERM_REQ = 0x00, 0x01, 0x02, 0x03
CAPSULE_CMD, CAPSULE_RESP, H2C_DATA, C2H_DATA, R2T = 0x04, 0x05, 0x06, 0x07, 0x09
# common header flags
F_HDGST, F_DDGST, F_LAST_PDU, F_SUCCESS = 0x01, 0x02, 0x04, 0x08
# fatal error status
FES_INVALID_HEADER_FIELD = 0x01
FES_PDU_SEQUENCE_ERROR = 0x02
FES_HDGST_ERROR = 0x03
FES_DATA_OUT_OF_RANGE = 0x04
FES_DATA_LIMIT_EXCEEDED = 0x05
FES_UNSUPPORTED_PARAMETER = 0x06
# NVMe status (SCT 0)
SC_SUCCESS = 0x00
SC_TRANSIENT_TRANSPORT_ERROR = 0x22

FABRICS_OPC = 0x7F
FCTYPE_PROP_SET, FCTYPE_CONNECT, FCTYPE_PROP_GET = 0x00, 0x01, 0x04
SGL_IN_CAPSULE = 0x01       # data block, offset subtype
SGL_TRANSPORT = 0x5A        # transport data block, transport subtype
PROP_CAP, PROP_VS, PROP_CC, PROP_CSTS = 0x00, 0x08, 0x14, 0x1C


# ---- CRC32C (Castagnoli), as NVMe/TCP digests use it --------------------------------

def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def digest(data):
    return struct.pack('<I', crc32c(data))


# ---- PDU builders ----------------------------------------------------------------------

def common_hdr(pdu_type, flags, hlen, pdo, plen):
    return struct.pack('<BBBBI', pdu_type, flags, hlen, pdo, plen)


def ic_req_pdu(pfv=0, hpda=0, dgst=0, maxr2t=0):
    return common_hdr(IC_REQ, 0, 128, 0, 128) + struct.pack('<HBBI', pfv, hpda, dgst, maxr2t) + \
        bytes(112)


def sgl(kind, length, address=0):
    return struct.pack('<QI3xB', address, length, kind)


def sqe(opc, cid, nsid=0, cdw10=0, cdw11=0, cdw12=0, cdw13=0, cdw14=0, cdw15=0, sgl1=None,
        psdt=1):
    """A 64-byte NVMe command."""
    flags = (psdt & 3) << 6
    return struct.pack('<BBHIIIQ', opc, flags, cid, nsid, 0, 0, 0) + \
        (sgl1 if sgl1 is not None else bytes(16)) + \
        struct.pack('<6I', cdw10, cdw11, cdw12, cdw13, cdw14, cdw15)


def connect_sqe(cid, qid, sqsize, kato=0, cattr=0, data_len=1024):
    """Fabrics Connect; its 1024 bytes of data go in the capsule."""
    return struct.pack('<BBHB19x', FABRICS_OPC, 0, cid, FCTYPE_CONNECT) + \
        sgl(SGL_IN_CAPSULE, data_len) + \
        struct.pack('<HHHBxI12x', 0, qid, sqsize, cattr, kato)


def connect_data(subnqn, hostnqn, cntlid=0xFFFF, hostid=None):
    hostid = hostid if hostid is not None else bytes(range(16))
    return hostid + struct.pack('<H', cntlid) + bytes(238) + \
        subnqn.encode().ljust(256, b'\0') + hostnqn.encode().ljust(256, b'\0') + bytes(256)


def prop_get_sqe(cid, ofst, size8):
    return struct.pack('<BBHB35xB3xI16x', FABRICS_OPC, 0, cid, FCTYPE_PROP_GET,
                       1 if size8 else 0, ofst)


def prop_set_sqe(cid, ofst, value, size8=False):
    return struct.pack('<BBHB35xB3xIQ8x', FABRICS_OPC, 0, cid, FCTYPE_PROP_SET,
                       1 if size8 else 0, ofst, value)


def rw_sqe(opc, cid, nsid, slba, nlb, in_capsule, block_size=512):
    kind = SGL_IN_CAPSULE if in_capsule else SGL_TRANSPORT
    return sqe(opc, cid, nsid, slba & 0xFFFFFFFF, slba >> 32, nlb - 1,
               sgl1=sgl(kind, nlb * block_size))


def capsule_pdu(cmd, data=b'', hdgst=False, ddgst=False, pad=0):
    hd = 4 if hdgst else 0
    dd = 4 if ddgst and data else 0
    flags = (F_HDGST if hdgst else 0) | (F_DDGST if dd else 0)
    if data:
        pdo = 72 + hd + pad
        plen = pdo + len(data) + dd
    else:
        pdo = 0
        plen = 72 + hd
    hdr = common_hdr(CAPSULE_CMD, flags, 72, pdo, plen) + cmd
    out = hdr + (digest(hdr) if hdgst else b'')
    if data:
        out += bytes(pad) + data + (digest(data) if dd else b'')
    return out


def h2c_pdu(cccid, ttag, datao, data, last, hdgst=False, ddgst=False, datal=None):
    hd = 4 if hdgst else 0
    dd = 4 if ddgst else 0
    flags = (F_HDGST if hdgst else 0) | (F_DDGST if ddgst else 0) | (F_LAST_PDU if last else 0)
    pdo = 24 + hd
    hdr = common_hdr(H2C_DATA, flags, 24, pdo, pdo + len(data) + dd) + \
        struct.pack('<HHII4x', cccid, ttag, datao, len(data) if datal is None else datal)
    return hdr + (digest(hdr) if hdgst else b'') + data + (digest(data) if ddgst else b'')


def term_req_pdu(fes, fei=0, error_data=b''):
    return common_hdr(H2C_TERM_REQ, 0, 24, 0, 24 + len(error_data)) + \
        struct.pack('<HI10x', fes, fei) + error_data


# ---- the connection -----------------------------------------------------------------------

class TermReqReceived(Exception):
    def __init__(self, fes, fei, raw):
        super().__init__('C2HTermReq FES %#x FEI %d' % (fes, fei))
        self.fes = fes
        self.fei = fei
        self.raw = raw


class NvmeError(Exception):
    def __init__(self, cid, status):
        super().__init__('cid %d: status %#x (SCT %d SC %#x)' % (cid, status, (status >> 8) & 7,
                                                                  status & 0xFF))
        self.cid = cid
        self.status = status


class Pdu:
    def __init__(self, raw, hlen, pdo):
        self.raw = raw
        self.type, self.flags, self.hlen, self.pdo, self.plen = struct.unpack_from('<BBBBI', raw)
        self.hdr = raw[:hlen]


class Conn:
    def __init__(self, host, port, hdgst=False, ddgst=False, hpda=0, maxr2t=0, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.want_hdgst, self.want_ddgst = hdgst, ddgst
        self.hdgst = self.ddgst = False
        self.hpda = hpda
        self.maxr2t = maxr2t
        self.maxh2cdata = 4096
        self.icd_size = 8192          # admin queue: 8 KiB in-capsule
        self.cid = 0
        self.qid = None
        self.sq_flow_control = True

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- bytes ------------------------------------------------------------------------

    def send(self, data):
        self.sock.sendall(data)

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError('connection closed after %d of %d bytes' % (len(buf), n))
            buf += chunk
        return bytes(buf)

    def recv_pdu(self):
        """The next PDU; digests checked; a C2HTermReq raises TermReqReceived."""
        ch = self.recv_exact(8)
        pdu_type, flags, hlen, pdo, plen = struct.unpack('<BBBBI', ch)
        assert 8 <= hlen <= plen <= 16 * 1024 * 1024, 'bad PDU header %r' % ch
        raw = ch + self.recv_exact(plen - 8)
        if pdu_type == C2H_TERM_REQ:
            fes, fei = struct.unpack_from('<HI', raw, 8)
            raise TermReqReceived(fes, fei, raw)
        if flags & F_HDGST:
            assert self.hdgst, 'header digest without negotiation'
            assert raw[hlen:hlen + 4] == digest(raw[:hlen]), 'header digest mismatch'
        else:
            assert not self.hdgst or pdu_type == IC_RESP, 'header digest missing'
        pdu = Pdu(raw, hlen, pdo)
        if pdo:
            end = plen - (4 if flags & F_DDGST else 0)
            pdu.data = raw[pdo:end]
            if flags & F_DDGST:
                assert raw[end:plen] == digest(pdu.data), 'data digest mismatch'
        else:
            pdu.data = b''
        return pdu

    def expect_term_req(self, timeout=5):
        """Read until the target's C2HTermReq; returns (fes, fei)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                self.recv_pdu()
        except TermReqReceived as t:
            return t.fes, t.fei

    def expect_closed(self, timeout=5):
        """True once the target closed (end of stream or reset) within timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                if not self.sock.recv(65536):
                    return True
            except (ConnectionResetError, BrokenPipeError):
                return True
            except socket.timeout:
                break
        return False

    # ---- connection set-up --------------------------------------------------------------

    def ic_req(self):
        dgst = (1 if self.want_hdgst else 0) | (2 if self.want_ddgst else 0)
        self.send(ic_req_pdu(hpda=self.hpda, dgst=dgst, maxr2t=self.maxr2t))
        pdu = self.recv_pdu()
        assert pdu.type == IC_RESP and pdu.plen == 128, 'expected ICResp, got type %d' % pdu.type
        pfv, cpda, rdgst, self.maxh2cdata = struct.unpack_from('<HBBI', pdu.raw, 8)
        assert pfv == 0 and rdgst == dgst and self.maxh2cdata >= 4096
        self.hdgst, self.ddgst = bool(rdgst & 1), bool(rdgst & 2)
        return pdu

    def next_cid(self):
        self.cid = (self.cid + 1) & 0xFFFF
        return self.cid

    # ---- commands --------------------------------------------------------------------------

    def command(self, cmd, write=None, read_len=0, in_capsule=None):
        """Send one 64-byte command and run it to its completion: R2T -> H2CData,
        C2HData collected. Returns (cqe bytes, status, read data)."""
        cid = struct.unpack_from('<H', cmd, 2)[0]
        if write and in_capsule is None:
            in_capsule = len(write) <= self.icd_size
        self.send(capsule_pdu(cmd, write if write and in_capsule else b'', self.hdgst,
                              self.ddgst))
        data = bytearray(read_len)
        got = 0
        while True:
            pdu = self.recv_pdu()
            if pdu.type == R2T:
                cccid, ttag, r2to, r2tl = struct.unpack_from('<HHII', pdu.raw, 8)
                assert cccid == cid and write is not None and r2to + r2tl <= len(write)
                off = r2to
                while off < r2to + r2tl:
                    n = min(self.maxh2cdata, r2to + r2tl - off)
                    self.send(h2c_pdu(cid, ttag, off, write[off:off + n], off + n == r2to + r2tl,
                                      self.hdgst, self.ddgst))
                    off += n
            elif pdu.type == C2H_DATA:
                cccid, _, datao, datal = struct.unpack_from('<HHII', pdu.raw, 8)
                assert cccid == cid and datal == len(pdu.data)
                assert pdu.pdo % ((self.hpda + 1) * 4) == 0, 'C2HData ignores HPDA'
                assert datao == got and datao + datal <= read_len
                data[datao:datao + datal] = pdu.data
                got += datal
                if pdu.flags & F_SUCCESS:
                    assert pdu.flags & F_LAST_PDU and got == read_len
                    return bytes(16), 0, bytes(data)
            elif pdu.type == CAPSULE_RESP:
                cqe = pdu.raw[8:24]
                rcid, status = struct.unpack_from('<HH', cqe, 12)
                assert rcid == cid, 'response for cid %d, expected %d' % (rcid, cid)
                return cqe, status >> 1, bytes(data[:got])
            else:
                raise AssertionError('unexpected PDU type %d' % pdu.type)

    def checked(self, cmd, **kwargs):
        cqe, status, data = self.command(cmd, **kwargs)
        if status & 0x7FF:
            raise NvmeError(struct.unpack_from('<H', cmd, 2)[0], status & 0x7FF)
        return cqe, data

    def connect(self, subnqn, hostnqn, qid=0, sqsize=31, cntlid=0xFFFF, kato=0,
                disable_sqflow=False):
        cattr = 4 if disable_sqflow else 0
        cqe, _ = self.checked(connect_sqe(self.next_cid(), qid, sqsize, kato, cattr),
                              write=connect_data(subnqn, hostnqn, cntlid), in_capsule=True)
        self.qid = qid
        self.sq_flow_control = not disable_sqflow
        return struct.unpack_from('<H', cqe, 0)[0]

    def prop_get(self, ofst, size8=False):
        cqe, _ = self.checked(prop_get_sqe(self.next_cid(), ofst, size8))
        return struct.unpack_from('<Q' if size8 else '<I', cqe, 0)[0]

    def prop_set(self, ofst, value):
        self.checked(prop_set_sqe(self.next_cid(), ofst, value))

    def enable(self, timeout=10):
        # CC: EN, IOSQES 6 (64 bytes), IOCQES 4 (16 bytes)
        self.prop_set(PROP_CC, 1 | (6 << 16) | (4 << 20))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.prop_get(PROP_CSTS) & 1:
                return
            time.sleep(0.01)
        raise AssertionError('CSTS.RDY did not turn 1')

    def identify(self, cns, nsid=0):
        cmd = sqe(0x06, self.next_cid(), nsid, cdw10=cns, sgl1=sgl(SGL_TRANSPORT, 4096))
        _, data = self.checked(cmd, read_len=4096)
        return data

    def write(self, nsid, slba, data, block_size=512, in_capsule=None):
        nlb = len(data) // block_size
        if in_capsule is None:
            in_capsule = len(data) <= self.icd_size
        cmd = rw_sqe(0x01, self.next_cid(), nsid, slba, nlb, in_capsule, block_size)
        self.checked(cmd, write=data, in_capsule=in_capsule)

    def read(self, nsid, slba, nlb, block_size=512):
        cmd = rw_sqe(0x02, self.next_cid(), nsid, slba, nlb, False, block_size)
        _, data = self.checked(cmd, read_len=nlb * block_size)
        return data


# ---- fuzz seeds ------------------------------------------------------------------------------

def _seed_session(dgst, ttag):
    """ICReq, Connect, Property Set/Get, Identify, in-capsule write, R2T write
    (with a guess at the ttag: the request the write gets) and read, Keep Alive."""
    hd, dd = bool(dgst & 1), bool(dgst & 2)
    nqn = 'nqn.2026-01.io.axon:default'
    out = ic_req_pdu(dgst=dgst)
    out += capsule_pdu(connect_sqe(1, 0, 31), connect_data(nqn, 'nqn.2014-08.org.nvmexpress:'
                                                           'uuid:fuzz'), hd, dd)
    out += capsule_pdu(prop_set_sqe(2, PROP_CC, 1 | (6 << 16) | (4 << 20)), b'', hd, dd)
    out += capsule_pdu(prop_get_sqe(3, PROP_CSTS, False), b'', hd, dd)
    out += capsule_pdu(sqe(0x06, 4, 0, cdw10=1, sgl1=sgl(SGL_TRANSPORT, 4096)), b'', hd, dd)
    pattern = bytes((i * 7) & 0xFF for i in range(8192))
    out += capsule_pdu(rw_sqe(0x01, 5, 1, 0, 8, True), pattern[:4096], hd, dd)
    out += capsule_pdu(rw_sqe(0x01, 6, 1, 8, 16, False), b'', hd, dd)
    out += h2c_pdu(6, ttag, 0, pattern[:4096], False, hd, dd)
    out += h2c_pdu(6, ttag, 4096, pattern[4096:], True, hd, dd)
    out += capsule_pdu(rw_sqe(0x02, 7, 1, 0, 24, False), b'', hd, dd)
    out += capsule_pdu(sqe(0x18, 8), b'', hd, dd)
    return out


def write_seeds(directory):
    os.makedirs(directory, exist_ok=True)
    seeds = {}
    for dgst in range(4):
        for flags, name in ((0x00, 'plain'), (0x07, 'io_success'), (0x20, 'recvloop'),
                            (0x48, 'bufwait_drop'), (0x90, 'small_units_late')):
            for ttag in (0, 3):
                seeds['session_d%d_%s_t%d' % (dgst, name, ttag)] = \
                    bytes([flags, 17 + dgst]) + _seed_session(dgst, ttag)
    seeds['ic_only'] = bytes([0, 0]) + ic_req_pdu()
    seeds['term_req'] = bytes([0, 0]) + ic_req_pdu() + term_req_pdu(FES_PDU_SEQUENCE_ERROR)
    seeds['huge_plen'] = bytes([0, 0]) + ic_req_pdu() + common_hdr(CAPSULE_CMD, 0, 72, 72,
                                                                   0xFFFFFFF0)
    for name, data in seeds.items():
        with open(os.path.join(directory, name), 'wb') as f:
            f.write(data)
    return len(seeds)


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == 'seeds':
        print('%d seeds written to %s' % (write_seeds(sys.argv[2]), sys.argv[2]))
    else:
        sys.exit('usage: %s seeds DIR' % sys.argv[0])
