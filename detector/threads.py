"""Threads for column-wise work: how many, and one way to start them.

Most of the time in scoring is spent inside Arrow and NumPy kernels that release the
GIL, on columns, rules or blocks of rows that do not depend on each other, so a few
threads use the machine's cores without copying the table to other processes. Every
caller gathers results in a fixed order, so the output does not depend on which
thread finished first.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

# More threads than this add memory (each holds its intermediate columns) sooner
# than speed: the work between GIL releases is short.
MAX_THREADS = 8


def available_cores() -> int:
    """Cores this process may run on (a container's share, not the whole machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_for(tasks: int) -> int:
    """Threads worth starting for ``tasks`` independent tasks: one per core, at least one."""
    return max(1, min(tasks, available_cores(), MAX_THREADS))


def thread_pool(tasks: int) -> ThreadPoolExecutor:
    """A pool of :func:`threads_for` ``tasks`` threads."""
    return ThreadPoolExecutor(max_workers=threads_for(tasks))
