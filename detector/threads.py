"""Threads for column-wise work: how many, and one way to start them.

Most of the time in scoring is spent inside Arrow and NumPy kernels that release the
GIL, on columns, rules or blocks of rows that do not depend on each other, so a few
threads use the machine's cores without copying the table to other processes. Every
caller gathers results in a fixed order, so the output does not depend on which
thread finished first.

A small table is another matter: its work is mostly the interpreter's, which holds the
GIL, and threads then only wait for each other (rule examples of a row or two ran a
quarter slower on two threads than on one). Below :data:`THREADS_FROM_ROWS` rows the
tasks run one after the other in the calling thread.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor, Future, ThreadPoolExecutor

# More threads than this add memory (each holds its intermediate columns) sooner
# than speed: the work between GIL releases is short.
MAX_THREADS = 8
# Fewer rows than this are scored in the calling thread (see the module docstring).
THREADS_FROM_ROWS = 50_000


def available_cores() -> int:
    """Cores this process may run on (a container's share, not the whole machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_for(tasks: int, rows: int | None = None) -> int:
    """Threads worth starting for ``tasks`` independent tasks over a table of ``rows``
    rows (None: large enough): one per core, at least one."""
    if rows is not None and rows < THREADS_FROM_ROWS:
        return 1
    return max(1, min(tasks, available_cores(), MAX_THREADS))


class InlineExecutor(Executor):
    """An executor that runs each task at once in the calling thread, in the order
    submitted: the one-thread case without a thread to hand tasks to."""

    def submit(self, function, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(function(*args, **kwargs))
        except BaseException as exc:  # raised again by future.result(), as a pool would
            future.set_exception(exc)
        return future


def thread_pool(tasks: int, rows: int | None = None) -> Executor:
    """A pool of :func:`threads_for` threads, or an :class:`InlineExecutor` when that
    is one."""
    workers = threads_for(tasks, rows)
    return ThreadPoolExecutor(max_workers=workers) if workers > 1 else InlineExecutor()
