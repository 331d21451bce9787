"""The default configuration (scripts/default_config.json) and the start
command (scripts/start.sh): axond replays the file, save_config gives it back
unchanged, and a host reaches the RAM namespace over NVMe/TCP.

The daemons here listen on a free port instead of 4420 (a copy of the file
with only trsvcid changed), so the tests do not depend on 4420 being free;
test_default_config_file checks that the file itself says 127.0.0.1:4420."""

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from axond import ROOT, sanitizer_env, sanitizer_report  # noqa: E402
import nvme_tcp_raw as raw  # noqa: E402

CONFIG = os.path.join(ROOT, 'scripts', 'default_config.json')
START = os.path.join(ROOT, 'scripts', 'start.sh')
NQN = 'nqn.2026-01.io.axon:default'
DISC = 'nqn.2014-08.org.nvmexpress.discovery'
HOST = 'nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-050403020100'
BLOCK = 4096
BLOCKS = 65536  # 256 MiB


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def load_default():
    with open(CONFIG) as f:
        return json.load(f)


def methods(doc, subsystem):
    return [m for s in doc['subsystems'] if s['subsystem'] == subsystem for m in s['config']]


def config_on_port(tmp_path, port):
    """The default configuration with its listener moved to port; (path, doc)."""
    doc = load_default()
    moved = 0
    for m in methods(doc, 'nvmf'):
        if m['method'] == 'nvmf_subsystem_add_listener':
            m['params']['listen_address']['trsvcid'] = str(port)
            moved += 1
    assert moved == 1
    path = tmp_path / ('default_config_%d.json' % port)
    path.write_text(json.dumps(doc, indent=2))
    return str(path), doc


def non_empty(doc):
    return {s['subsystem']: s['config'] for s in doc['subsystems'] if s['config']}


def test_default_config_file():
    doc = load_default()
    assert sorted(s['subsystem'] for s in doc['subsystems']) == ['bdev', 'nvmf']
    for s in doc['subsystems']:
        for m in s['config']:
            assert set(m) <= {'method', 'params'} and isinstance(m['method'], str)
    bdev = {m['method']: m.get('params') for m in methods(doc, 'bdev')}
    malloc = bdev['bdev_malloc_create']
    assert malloc['block_size'] * malloc['num_blocks'] == 256 << 20
    nvmf = methods(doc, 'nvmf')
    sub = [m['params'] for m in nvmf if m['method'] == 'nvmf_create_subsystem']
    assert len(sub) == 1 and sub[0]['nqn'] == NQN and sub[0]['allow_any_host'] is True
    assert sub[0]['serial_number'] and sub[0]['model_number']
    lis = [m['params'] for m in nvmf if m['method'] == 'nvmf_subsystem_add_listener']
    assert lis == [{'nqn': NQN, 'listen_address': {'trtype': 'TCP', 'adrfam': 'IPv4',
                                                   'traddr': '127.0.0.1', 'trsvcid': '4420'}}]
    ns = [m['params'] for m in nvmf if m['method'] == 'nvmf_subsystem_add_ns']
    assert len(ns) == 1 and ns[0]['namespace']['bdev_name'] == malloc['name']
    assert ns[0]['namespace']['uuid'] == malloc['uuid']


def test_default_config_serves_a_host(axond_factory, tmp_path):
    port = free_port()
    path, doc = config_on_port(tmp_path, port)
    d = axond_factory('-c', path)

    # The replay is exact: save_config gives back what the file holds.
    assert non_empty(d.rpc('save_config')) == non_empty(doc)

    malloc = [m['params'] for m in methods(doc, 'bdev') if m['method'] == 'bdev_malloc_create'][0]
    b = d.rpc('bdev_get_bdevs', '-b', malloc['name'])[0]
    assert b['block_size'] == BLOCK and b['num_blocks'] == BLOCKS
    assert b['uuid'] == malloc['uuid']

    s = d.rpc('nvmf_get_subsystems', NQN)[0]
    sub = [m['params'] for m in methods(doc, 'nvmf') if m['method'] == 'nvmf_create_subsystem'][0]
    assert s['allow_any_host'] is True and s['hosts'] == []
    assert s['serial_number'] == sub['serial_number']
    assert s['model_number'] == sub['model_number']
    assert [(n['nsid'], n['bdev_name'], n['uuid']) for n in s['namespaces']] == \
        [(1, malloc['name'], malloc['uuid'])]
    assert s['listen_addresses'] == [{'trtype': 'TCP', 'adrfam': 'IPv4', 'traddr': '127.0.0.1',
                                      'trsvcid': str(port)}]
    assert [t['trtype'] for t in d.rpc('nvmf_get_transports')] == ['TCP']

    # Discovery on the same port lists the subsystem (what `nvme discover` reads).
    with raw.Conn('127.0.0.1', port) as disc:
        disc.ic_req()
        disc.connect(DISC, HOST)
        disc.enable()
        cmd = raw.sqe(0x02, disc.next_cid(), 0, cdw10=0x70 | ((4096 // 4 - 1) << 16),
                      sgl1=raw.sgl(raw.SGL_TRANSPORT, 4096))
        _, log = disc.checked(cmd, read_len=4096)
        numrec = struct.unpack_from('<Q', log, 8)[0]
        entries = [log[1024 * (i + 1):1024 * (i + 2)] for i in range(min(numrec, 3))]
        assert any(e[256:512].rstrip(b'\0') == NQN.encode() and
                   e[32:64].rstrip(b'\0') == str(port).encode() and
                   e[512:768].rstrip(b'\0') == b'127.0.0.1' for e in entries)

    # Any host connects (no host list), identifies, writes and reads 4 KiB.
    with raw.Conn('127.0.0.1', port) as admin:
        admin.ic_req()
        cntlid = admin.connect(NQN, HOST)
        admin.enable()
        ctrlr = admin.identify(cns=1)
        assert ctrlr[4:24].decode().rstrip() == sub['serial_number']
        assert ctrlr[24:64].decode().rstrip() == sub['model_number']
        assert ctrlr[768:1024].rstrip(b'\0') == NQN.encode()  # SUBNQN
        ns = admin.identify(cns=0, nsid=1)
        nsze, ncap = struct.unpack_from('<QQ', ns, 0)
        assert nsze == BLOCKS and ncap == BLOCKS
        flbas = ns[26] & 0x0F
        lbads = ns[128 + 4 * flbas + 2]
        assert 1 << lbads == BLOCK
        with raw.Conn('127.0.0.1', port) as io:
            io.ic_req()
            io.connect(NQN, HOST, qid=1, cntlid=cntlid)
            data = os.urandom(BLOCK)
            io.write(1, 7, data, block_size=BLOCK)                     # in-capsule
            assert io.read(1, 7, 1, block_size=BLOCK) == data
            more = os.urandom(2 * BLOCK)
            io.write(1, BLOCKS - 2, more, block_size=BLOCK, in_capsule=False)  # R2T
            assert io.read(1, BLOCKS - 2, 2, block_size=BLOCK) == more
            assert io.read(1, 7, 1, block_size=BLOCK) == data


def wait_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie (start.sh's child, already reaped by init soon) counts as gone.
        try:
            with open('/proc/%d/stat' % pid) as f:
                if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def test_start_script(tmp_path):
    """scripts/start.sh as a user runs it (without the build step): axond in
    the background, the nvme-cli lines printed; a second run finds it; a run
    with another socket refuses the taken port. Then that axond is stopped."""
    port = free_port()
    path, _ = config_on_port(tmp_path, port)
    env = sanitizer_env()
    env.update(AXON_NO_BUILD='1', AXON_RPC_SOCK=str(tmp_path / 'start.sock'),
               AXON_LOG=str(tmp_path / 'start.log'), AXON_CONFIG=path)
    first = subprocess.run(['bash', START], env=env, capture_output=True, text=True, timeout=120)
    m = re.search(r'axond started \(pid (\d+),', first.stdout)
    pid = int(m.group(1)) if m else None
    try:
        assert first.returncode == 0 and pid, 'start.sh failed:\n%s\n%s\n%s' % (
            first.stdout, first.stderr, (tmp_path / 'start.log').read_text())
        assert 'nvme connect -t tcp -a 127.0.0.1 -s %d -n %s' % (port, NQN) in first.stdout
        assert 'nvme discover -t tcp -a 127.0.0.1 -s %d' % port in first.stdout
        with raw.Conn('127.0.0.1', port) as c:
            c.ic_req()
            c.connect(NQN, HOST)

        again = subprocess.run(['bash', START], env=env, capture_output=True, text=True,
                               timeout=60)
        assert again.returncode == 0 and 'already running' in again.stdout, again.stdout
        assert 'nvme connect -t tcp -a 127.0.0.1 -s %d -n %s' % (port, NQN) in again.stdout

        other = dict(env, AXON_RPC_SOCK=str(tmp_path / 'other.sock'),
                     AXON_LOG=str(tmp_path / 'other.log'))
        busy = subprocess.run(['bash', START], env=other, capture_output=True, text=True,
                              timeout=60)
        assert busy.returncode != 0
        assert '127.0.0.1:%d is already in use' % port in busy.stderr, busy.stderr
    finally:
        if pid:
            os.kill(pid, signal.SIGTERM)
            assert wait_gone(pid, 30), 'axond %d did not stop' % pid
    log = (tmp_path / 'start.log').read_text()
    assert 'axond stopped' in log, log
    assert sanitizer_report(log) is None, log
