"""Checks of the numbers the library's settings take, in one place.

The library takes numbers, never command-line text: "0.5,0.7" or "0 1 1" is parsed once, at the
command line's boundary (``ngram.cli.common.parse_numbers``), and a string reaching the library is
refused here with a one-line error.
"""

from __future__ import annotations

import numpy as np

from ngram.core.errors import NgramError


def number_list(value, what: str, option: str) -> list[float]:
    """``value`` (one number or a sequence of them) as a list of floats. ``what`` names the
    setting in messages; ``option`` is the command-line option that parses text into it."""
    if isinstance(value, str):
        raise NgramError(f"{what} are numbers (the command line parses {option}), got the text {value!r}")
    if isinstance(value, (int, float, np.number)):
        value = [value]
    try:
        return [float(x) for x in value]
    except (TypeError, ValueError):
        raise NgramError(f"{what} must be numbers, got {value!r}") from None
