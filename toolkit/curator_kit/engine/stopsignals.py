"""SIGINT and SIGTERM routed to a handler for the length of a block: what a build or a run does on Ctrl-C.
A module of its own so a build does not import the run's container code to get it."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_signals(handler: Callable[[int, object], None] | signal.Handlers) -> Iterator[None]:
    """SIGINT and SIGTERM go to `handler` inside the block; the previous handlers come back after."""
    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


# Cleanup must finish: a second Ctrl-C during it would leave the container behind.
ignoring_stop_signals = partial(stop_signals, signal.SIG_IGN)
