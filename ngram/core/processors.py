"""How many processors this process may run on: what decides whether work is split in two."""

from __future__ import annotations

import os
import sys


def processors() -> int:
    """The processors this process may run on (Linux says which; elsewhere, the machine's)."""
    if sys.platform.startswith("linux"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
