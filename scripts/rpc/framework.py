"""The app framework: methods, versions, subsystems, saved configuration, shutdown."""

import json
import os
import sys

from .cmd import A, add, print_dict, print_json


class UsageError(Exception):
    """Bad command-line input found while building a request (exit status 1)."""


def _json_dump(result, indent):
    if indent is None:
        indent = 2
    elif indent < 0:
        indent = None
    sys.stdout.write(json.dumps(result, indent=indent) + '\n')


def _json_load(source):
    """A document from stdin, a file, or the argument itself as JSON text (as SPDK's rpc.py)."""
    try:
        if source is sys.stdin or source == '-':
            return json.load(sys.stdin)
        if os.path.exists(source):
            with open(source, 'r', encoding='utf-8') as f:
                return json.load(f)
        return json.loads(source)
    except (OSError, ValueError) as ex:
        name = 'stdin' if source is sys.stdin else source
        raise UsageError("cannot read a JSON configuration from %s: %s" % (name, ex))


def _load_config_params(args):
    doc = _json_load(args.json_conf)
    if not isinstance(doc, dict) or not isinstance(doc.get('subsystems'), list):
        raise UsageError('a configuration must be an object with a "subsystems" array')
    return doc


def _get_methods_params(args):
    p = {}
    if args.current:
        p['current'] = True
    if args.include_aliases:
        p['include_aliases'] = True
    return p or None


def add_parsers(sp):
    add(sp, 'framework_start_init', 'start the subsystems (after axond --wait-for-rpc)')
    add(sp, 'framework_wait_init', 'block until the subsystems have started')
    add(sp, 'rpc_get_methods', 'list the methods the daemon has',
        args=[A('-c', '--current', action='store_true',
                help='only the methods callable in the current phase'),
              A('-i', '--include-aliases', action='store_true', help='include aliases')],
        params=_get_methods_params, output=print_dict)
    add(sp, 'spdk_get_version', 'the daemon version (kept for SPDK clients)', output=print_json)
    add(sp, 'axon_get_version', 'the daemon version', output=print_json)
    add(sp, 'framework_get_reactors', 'the reactors and their threads', output=print_dict)
    add(sp, 'framework_get_subsystems', 'subsystems in start order with their dependencies',
        output=print_dict)
    add(sp, 'framework_get_config', "one subsystem's configuration",
        args=[A('name', help='subsystem name')], output=print_dict)
    add(sp, 'save_config', 'print the running configuration (for axond -c or load_config)',
        args=[A('-i', '--indent', type=int, default=2,
                help='indent level; below 0 means compact. Default 2')],
        params=lambda args: None,
        output=lambda result, args: _json_dump(result, args.indent))
    add(sp, 'save_subsystem_config', "print one subsystem's configuration",
        method='framework_get_config',
        args=[A('-i', '--indent', type=int, default=2,
                help='indent level; below 0 means compact. Default 2'),
              A('-n', '--name', required=True, help='subsystem name')],
        params=lambda args: {'name': args.name},
        output=lambda result, args: _json_dump({'subsystem': args.name, 'config': result},
                                               args.indent))
    add(sp, 'load_config', 'apply a configuration saved by save_config',
        args=[A('-i', '--include-aliases', action='store_true',
                help='accepted for compatibility; aliases are always known'),
              A('-j', '--json-conf', default=sys.stdin,
                help='a file or JSON text; default: stdin')],
        params=_load_config_params)
    for name in ('spdk_kill_instance', 'axon_kill_instance'):
        add(sp, name, 'send a signal to the daemon (SIGTERM, SIGINT: orderly shutdown)',
            args=[A('sig_name', help='SIGTERM, SIGINT or SIGKILL')])
