"""The subcommand table: each RPC subcommand is declared once, as data.

A module (framework.py, log.py, ... and later bdev.py) defines
add_parsers(subparsers) and calls add() once per subcommand:

    add(subparsers, 'log_set_level', 'set log level',
        args=[A('level', help='log level to set, e.g. DEBUG')])

By default the JSON-RPC method is the subcommand's name and its params are
the declared arguments whose value is not None (dest = parameter name). A
subcommand with other needs passes params=fn(args) -> dict|None and
output=fn(result, args). Every subcommand is exactly one request, so that
requests read from stdin can be pipelined on one connection.
"""

import json


def A(*flags, **kwargs):
    """One argparse argument: the flags/positional name and add_argument's keywords."""
    return flags, kwargs


def print_nothing(result, args):
    pass


def print_dict(result, args):
    print(json.dumps(result, indent=2))


def print_json(result, args):
    """Like print_dict, but a bare string is printed without its quotes."""
    print(json.dumps(result, indent=2).strip('"'))


class Command:
    def __init__(self, name, method, dests, params, output):
        self.name = name
        self.method = method
        self._dests = dests
        self._params = params
        self.output = output

    def params(self, args):
        if self._params is not None:
            return self._params(args)
        p = {}
        for d in self._dests:
            v = getattr(args, d, None)
            if v is not None:
                p[d] = v
        return p or None


def add(subparsers, name, help, args=(), method=None, params=None, output=print_nothing,
        aliases=()):
    """Declare a subcommand; returns its argparse parser for anything unusual."""
    p = subparsers.add_parser(name, help=help, description=help, aliases=list(aliases))
    dests = []
    for flags, kwargs in args:
        action = p.add_argument(*flags, **kwargs)
        dests.append(action.dest)
    p.set_defaults(command=Command(name, method or name, dests, params, output))
    return p
