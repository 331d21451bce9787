"""Command-line entry point of axon-rpc (scripts/rpc.py)."""

import argparse
import json
import shlex
import sys

from . import MODULES
from .client import Client, ClientError, RpcError, result_of, stderr_logger
from .framework import UsageError

DEFAULT_ADDR = '/var/tmp/axon.sock'
# The daemon may exit before its answer reaches us: a closed connection is success.
KILL_METHODS = ('spdk_kill_instance', 'axon_kill_instance')


def build_parser():
    parser = argparse.ArgumentParser(
        prog='axon-rpc', description='Axon JSON-RPC command-line client. With no command, '
        'reads one command per line from stdin and pipelines them on one connection.')
    parser.add_argument('-s', dest='server_addr', default=DEFAULT_ADDR,
                        help='Unix socket path, host:port, or an IP address (with -p). '
                        'Default: %(default)s')
    parser.add_argument('-p', dest='port', type=int, default=5260,
                        help='TCP port when -s is an IP address without a port. Default: %(default)s')
    parser.add_argument('-t', dest='timeout', type=float, default=60.0,
                        help='seconds to wait for a response (floating point). Default: %(default)s')
    parser.add_argument('-r', '--conn-retries', dest='conn_retries', type=int, default=0,
                        help='retry connecting N times, 0.2 s apart. Default: 0')
    parser.add_argument('-v', dest='verbose', action='store_const', const='INFO', default='ERROR',
                        help='print requests and responses on stderr')
    parser.add_argument('--verbose', dest='verbose', choices=['DEBUG', 'INFO', 'ERROR'],
                        help='set the verbosity level')
    parser.add_argument('--dry-run', dest='dry_run', action='store_true',
                        help='print the JSON request(s) and exit without sending')
    parser.add_argument('--server', dest='is_server', action='store_true',
                        help='read commands from stdin; run each on its own connection and '
                        'end its output with **STATUS=0 or **STATUS=1 (for bash coproc)')
    sp = parser.add_subparsers(dest='called_rpc_name', metavar='COMMAND',
                               help='the RPC method to call (COMMAND -h for its arguments)')
    for module in MODULES:
        module.add_parsers(sp)
    return parser


def replace_arg_underscores(argv):
    """--tgt_name is accepted for --tgt-name, as SPDK's rpc.py does."""
    return [a.replace('_', '-') if a.startswith('--') else a for a in argv]


def make_client(args):
    log = stderr_logger if args.verbose in ('INFO', 'DEBUG') else None
    return Client(args.server_addr, args.port, args.timeout, args.conn_retries, log)


def run_one(args):
    """Run the command in args; return the exit status."""
    cmd = args.command
    try:
        params = cmd.params(args)
    except UsageError as ex:
        print("%s: %s" % (cmd.name, ex), file=sys.stderr)
        return 1
    if args.dry_run:
        req = {'jsonrpc': '2.0', 'method': cmd.method, 'id': 1}
        if params is not None:
            req['params'] = params
        print(json.dumps(req, indent=2))
        return 0
    try:
        with make_client(args) as client:
            result = client.call(cmd.method, params)
    except RpcError as ex:
        print(ex.describe(), file=sys.stderr)
        return 1
    except ClientError as ex:
        if ex.closed and cmd.method in KILL_METHODS:
            return 0
        print(ex.message, file=sys.stderr)
        return 1
    cmd.output(result, args)
    return 0


def read_script(parser, lines):
    """Parse stdin lines into [(lineno, text, args)]; raises UsageError on a bad line."""
    cmds = []
    for n, text in enumerate(lines, 1):
        text = text.strip()
        if not text or text.startswith('#'):
            continue
        try:
            argv = replace_arg_underscores(shlex.split(text))
            args = parser.parse_args(argv)
        except (ValueError, SystemExit):
            raise UsageError("line %d: cannot parse: %s" % (n, text))
        if getattr(args, 'command', None) is None:
            raise UsageError("line %d: no command: %s" % (n, text))
        cmds.append((n, text, args))
    return cmds


def run_script(parser, args, lines):
    """Send every command of the script pipelined on one connection, then print the results
    in order. A failing command is reported on stderr with its line; the others still
    ran (they were already sent), and the exit status is 1."""
    try:
        cmds = read_script(parser, lines)
        reqs = []
        for n, text, a in cmds:
            reqs.append((a.command.method, a.command.params(a)))
    except UsageError as ex:
        print(ex, file=sys.stderr)
        return 1
    if args.dry_run:
        for i, (method, params) in enumerate(reqs, 1):
            req = {'jsonrpc': '2.0', 'method': method, 'id': i}
            if params is not None:
                req['params'] = params
            print(json.dumps(req, indent=2))
        return 0
    if not reqs:
        return 0
    try:
        client = make_client(args)
    except ClientError as ex:
        print(ex.message, file=sys.stderr)
        return 1
    status = 0
    with client:
        requests = [client.make_request(m, p) for m, p in reqs]
        try:
            responses = client.transact(requests)
        except ClientError as ex:
            got = client._responses
            if not (ex.closed and any(r['method'] in KILL_METHODS for r in requests)):
                print(ex.message, file=sys.stderr)
                status = 1
            responses = [got.get(r['id']) for r in requests]
    for (n, text, a), req, resp in zip(cmds, requests, responses):
        if resp is None:
            continue
        try:
            a.command.output(result_of(req, resp), a)
        except RpcError as ex:
            print("Exception on line %d:\n%s <<<\n%s" % (n, text, ex.describe()), file=sys.stderr)
            status = 1
    sys.stdout.flush()
    return status


def run_server(parser):
    """SPDK's --server mode: one command per stdin line, one connection each, with a
    **STATUS=0/1 marker after each command's output."""
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            args = parser.parse_args(replace_arg_underscores(shlex.split(line)))
            ok = getattr(args, 'command', None) is not None and run_one(args) == 0
        except (ValueError, SystemExit):
            ok = False
        print("**STATUS=%d" % (0 if ok else 1), flush=True)
    return 0


def main(argv=None):
    parser = build_parser()
    argv = replace_arg_underscores(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        if args.is_server:
            return run_server(parser)
        if getattr(args, 'command', None) is not None:
            return run_one(args)
        if sys.stdin.isatty():
            parser.print_help()
            return 1
        return run_script(parser, args, sys.stdin)
    except BrokenPipeError:
        # The reader of our stdout went away (| head): not an error of ours.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130
