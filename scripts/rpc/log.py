"""Log levels and component flags (lib/log)."""

from .cmd import A, add, print_dict

LEVEL_HELP = 'ERROR, WARNING, NOTICE, INFO or DEBUG (any case)'


def add_parsers(sp):
    add(sp, 'log_set_flag', 'enable a log flag (a component name, or "all")',
        args=[A('flag', help='log flag to set, e.g. "rpc"')])
    add(sp, 'log_clear_flag', 'disable a log flag (a component name, or "all")',
        args=[A('flag', help='log flag to clear, e.g. "rpc"')])
    add(sp, 'log_get_flags', 'list log flags and whether each is enabled', output=print_dict)
    add(sp, 'log_set_level', 'set the level of messages sent to syslog',
        args=[A('level', help=LEVEL_HELP)])
    add(sp, 'log_get_level', 'get the level of messages sent to syslog', output=print_dict)
    add(sp, 'log_set_print_level', 'set the level of messages printed to stderr',
        args=[A('level', help=LEVEL_HELP)])
    add(sp, 'log_get_print_level', 'get the level of messages printed to stderr',
        output=print_dict)
