"""The one exception type users see.

Everything the library raises on bad input is an ``NgramError`` whose message is a single line
that names the problem (and the file and line where there is one). The CLI prints exactly that
line, so keeping messages to one line here is what keeps tracebacks away from users.
"""


class NgramError(ValueError):
    """A problem with the user's input, data or model file, described in one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split("\n")))


def indefinite(noun_phrase: str) -> str:
    """``noun_phrase`` after "a" or "an", as it is pronounced (by its first letter: "an order
    mixture", "a whole-name mixture", "a modified-kneser-ney model"), for messages that name a
    model by its description."""
    return ("an " if noun_phrase[:1].lower() in "aeio" else "a ") + noun_phrase
