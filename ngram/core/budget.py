"""A memory budget: parsed once from text such as ``1G`` at the command line's boundary, then
passed through the library as a number of bytes (or a ``Budget``), and shared out between the
block being counted, the sorted runs held in memory and the merge windows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

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

    def line_budget(self, order: int, encoding: str = "utf-8") -> "LineBudget":
        """What one line may cost to count at ``order`` in one piece (a line is never split, so a
        block is at least a line): the budget less the counts held beside it (``run_bytes``)."""
        return LineBudget(self.memory_bytes - self.run_bytes, order,
                          self.memory_bytes, encoding.lower().replace("_", "-") in ("utf-8", "utf8"))

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


# What counting one line of B bytes, T characters and v distinct characters at order N takes at
# its peak: LINE_BYTES a byte (the block, its text, code points, ids, the windows and their sort;
# measured whole-process peaks of one 50 MB line were 10.4 bytes a byte at order 4 and 14 with
# 8-byte windows at order 6), plus LINE_NGRAM_BYTES per distinct n-gram, of which a line holds at
# most min(T + 1, (v + 1)^n) of order n (traced peaks were 24-37 bytes per distinct n-gram).
LINE_BYTES = 16
LINE_NGRAM_BYTES = 40


@dataclass(frozen=True)
class LineBudget:
    """The memory one line's counting may use, and its cost from what the line holds: a line of
    few distinct characters (a long run of a small alphabet) holds few distinct n-grams and
    costs about LINE_BYTES a byte; one whose characters are unknown (outside ASCII, or an
    encoding other than UTF-8) is costed as if every n-gram in it were new."""

    allowed: int
    order: int
    memory_bytes: int
    utf8: bool = True

    @property
    def most_bytes(self) -> int:
        """No longer line fits, whatever its characters."""
        return self.allowed // LINE_BYTES

    @property
    def any_bytes(self) -> int:
        """Every line up to this many bytes fits, whatever its characters."""
        return self.allowed // (LINE_BYTES + LINE_NGRAM_BYTES * self.order)

    def cost(self, n_bytes: int, tally: "np.ndarray") -> tuple[int, int | None]:
        """(bytes counting a line takes, its distinct characters or None where unknown), from its
        length and ``tally``, the count of each byte value in it."""
        ascii_only = self.utf8 and not tally[128:].any()
        chars = n_bytes - int(tally[0x80:0xC0].sum()) if self.utf8 else n_bytes  # (UTF-8 continuation bytes)
        distinct = int(np.count_nonzero(tally)) if ascii_only else None
        ngrams = sum(min(chars + 1, (distinct + 1) ** n if distinct is not None else chars + 1)
                     for n in range(1, self.order + 1))
        return LINE_BYTES * n_bytes + LINE_NGRAM_BYTES * ngrams, distinct

    def refusal(self, n_bytes: int, cost: int, distinct: int | None) -> str:
        held = f"{distinct} distinct characters" if distinct is not None else "every n-gram counted as new"
        return (f"a line of more than {n_bytes:,} bytes does not fit the memory budget in one piece: counting it "
                f"at order {self.order} takes at least {cost / 2**20:,.1f}M ({held}), more than the "
                f"{self.allowed / 2**20:,.1f}M of --memory {self.memory_bytes / 2**20:g}M a line may use; "
                "raise --memory or lower --max-name-length")
