"""Threads and pollers (lib/thread)."""

from .cmd import add, print_dict


def add_parsers(sp):
    add(sp, 'thread_get_stats', 'busy and idle ticks of every thread', output=print_dict)
    add(sp, 'thread_get_pollers', 'the pollers of every thread', output=print_dict)
