"""A memory budget: parsed once from text such as ``1G`` at the command line's boundary, then
passed through the library as a number of bytes (or a ``Budget``), and shared out between the
block being counted, the sorted runs held in memory and the merge windows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ngram.core.errors import NgramError

# Memory per symbol of a block while it is counted. tracemalloc sees about 45 bytes (the names
# as Python strings, the encoded ids, the packed windows and their sort); the rest is headroom for
# the allocator, checked with scripts/scale_benchmark.py (the peak RSS at the end of counting
# stays within the budget plus the interpreter).
BYTES_PER_SYMBOL = 100
MIN_BLOCK_BYTES = 1 << 16
MAX_MEMORY = 1 << 50  # 1 PiB: a larger budget is a typo, and overflows the sizes derived from it
DEFAULT_STREAMING_BYTES = 1 << 30  # an engine called without a budget


def parse_size(text: str | int) -> int:
    """Bytes in a size such as ``1G``, ``512M``, ``200MB``, ``1.5GiB`` or ``1000000``."""
    if isinstance(text, int):
        value = text
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*", str(text), flags=re.IGNORECASE)
        if not match:
            raise NgramError(f"memory size {text!r} is not a size like 1G, 512M or 200MB")
        scale = 1024 ** " kmgt".index(match.group(2).lower() or " ")
        number = float(match.group(1)) * scale
        if not number <= MAX_MEMORY:  # also inf, from a string of hundreds of digits
            raise NgramError(f"memory budget {text!r} is more than {MAX_MEMORY >> 50}P; give what this machine has, e.g. 4G")
        value = int(number)
    if value > MAX_MEMORY:
        raise NgramError(f"memory budget {text!r} is more than {MAX_MEMORY >> 50}P; give what this machine has, e.g. 4G")
    if value < 16 << 20:
        raise NgramError(f"memory budget {text!r} is too small; give at least 16M")
    return value


def count_bytes_per_symbol(order: int) -> int:
    """Peak bytes a symbol of counting a block at ``order`` (``count_partial``), with a margin:
    measured peaks on text whose n-grams are nearly all distinct (random names of 30 of 60
    letters, the worst case) were 90, 134 and 158 bytes at orders 5, 8 and 10; on a real corpus
    (names repeating) about 17 at order 5."""
    return 50 + 12 * order


@dataclass
class Budget:
    """How a memory budget is shared: block being counted, runs held in memory, merge windows.

    The three parts can be set directly (tests use tiny ones to force many spills).
    """

    memory_bytes: int
    block: int | None = None
    run: int | None = None
    window_elements: int | None = None

    @classmethod
    def of(cls, memory: "int | Budget") -> "Budget":
        """A budget of ``memory`` bytes (checked as ``parse_size`` checks it). Text such as ``"1G"``
        is the command line's to parse (``parse_size``): the library takes numbers."""
        if isinstance(memory, Budget):
            return memory
        if isinstance(memory, bool) or not isinstance(memory, int):
            raise NgramError(f"a memory budget is a number of bytes (parse text such as '1G' with parse_size), got {memory!r}")
        return cls(parse_size(memory))

    @property
    def block_bytes(self) -> int:
        return self.block or max(MIN_BLOCK_BYTES, self.memory_bytes // 2 // BYTES_PER_SYMBOL)

    def longest_line(self, order: int) -> tuple[int, str]:
        """The longest line (in bytes: a character is at least one) that counting at ``order`` can
        take in one piece within half the budget, and why, for the message that refuses a longer
        one: a line is never split, so a block is at least a line."""
        per_symbol = count_bytes_per_symbol(order)
        return (max(MIN_BLOCK_BYTES, self.memory_bytes // 2 // per_symbol),
                f"counting it at order {order} takes about {per_symbol} bytes a character, more than half of "
                f"--memory {self.memory_bytes / 2**20:g}M; raise --memory or lower --max-name-length")

    def block_bytes_for(self, order: int) -> int:
        """Block size for counting at ``order``: the counting work and the block's own counts
        take at most COUNT_BYTES_PER_SYMBOL(order) bytes a symbol, and must fit in a third of
        the budget, beside the runs held. (Fewer, bigger blocks mean fewer merges.)"""
        return self.block or max(MIN_BLOCK_BYTES // 4, self.memory_bytes // 3 // count_bytes_per_symbol(order))

    @property
    def run_bytes(self) -> int:
        # A run merged with a block's counts briefly needs about three times its size.
        return self.run or self.memory_bytes // 8

    def window(self, runs: int) -> int:
        # keys + counts (16 bytes) per element read, times the merged copies, placements and sums.
        return self.window_elements or max(1024, self.memory_bytes // 2 // (80 * max(runs, 1)))
