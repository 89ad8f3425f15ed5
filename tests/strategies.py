"""Hypothesis strategies shared by tests/cli/test_fuzz.py and scripts/fuzz.py (which runs them longer).

Hypothesis is a dev dependency only: the library never imports this module.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
from hypothesis import strategies as st

# Characters that break naive text handling, grouped so an alphabet can mix a few kinds.
POOLS = {
    "ascii": "abcdefghijklmnopqrstuvwxyzABCXYZ'-.",
    "latin": "àáâäåæçèéêëìíîïñòóôöøùúûüýÿßœšžłđ",
    "combining": "".join(chr(c) for c in range(0x300, 0x370, 7)) + "\u20dd\u0e31",  # accents that attach to the previous letter
    "emoji": "😀🎉👍🏽❤\ufe0f\u200d🔥🇮🇹🧑\U0001f3fb\U0001faf6",  # astral planes, ZWJ, variation selector, skin tones, flags
    "spaces": " \u00a0\u2009\u3000\t\u200b",
    "rtl": "אבגדהוזחטיכלמנסעפצקרשתابتثجحخدذرزسشصضطظعغ\u200f\u200e\u202e",
    "cjk": "王李张刘陈杨黄赵한국어ひらがなカタカナ",
    "separators": "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\r\x7f\x01\x1b\ufeff\\<>/s",  # line breaks other than LF, controls, BOM, ARPA-ish
}
SURROGATES = "\ud800\udcff\udfff"  # only reachable from Python (file names read with surrogateescape), never from a UTF-8 file


@st.composite
def alphabets(draw, surrogates: bool = False) -> str:
    kinds = draw(st.lists(st.sampled_from(sorted(POOLS)), min_size=1, max_size=3, unique=True))
    pool = "".join(POOLS[k] for k in kinds) + (SURROGATES if surrogates else "")
    chars = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=10, unique=True))
    return "".join(chars)


def strings_over(alphabet: str, min_size: int = 0, max_size: int = 12) -> st.SearchStrategy[str]:
    """Strings over a drawn alphabet, built from indices: hypothesis' own st.text with an alphabet
    that changes between examples can crash its shrinker ("... is not in list")."""
    if not alphabet:
        return st.just("")
    return st.lists(st.integers(0, len(alphabet) - 1), min_size=min_size, max_size=max_size).map(
        lambda indices: "".join(alphabet[i] for i in indices))


@st.composite
def name_lists(draw, surrogates: bool = False, min_size: int = 1, max_size: int = 25) -> list[str]:
    """Names over one random alphabet: what a user's list could hold, and worse (no newlines)."""
    alphabet = draw(alphabets(surrogates))
    return draw(st.lists(strings_over(alphabet), min_size=min_size, max_size=max_size))


def readable_from_a_file(name: str, first: bool) -> bool:
    """Whether a name written as one line of a UTF-8 file reads back unchanged: blank lines are
    skipped, a carriage return before the newline belongs to the line ending, NUL means binary,
    and a BOM at the very start of the file is dropped."""
    return bool(name.strip()) and not name.endswith("\r") and "\x00" not in name and not (first and name.startswith("\ufeff"))


def corpus_files(names: list[str], draw) -> bytes:
    """The bytes of a name list as a user could save it: LF or CRLF, BOM or not, final newline or not."""
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    text = ending.join(names) + (ending if draw(st.booleans()) else "")
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode("utf-8")


# ----- hostile bytes for the readers ----------------------------------------------------------
def mutated(data: bytes) -> st.SearchStrategy[bytes]:
    """A valid file with a few bytes flipped, a chunk cut out or duplicated, or truncated."""

    @st.composite
    def build(draw):
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            if not out:
                break
            kind = draw(st.sampled_from(["flip", "cut", "dup", "truncate", "insert"]))
            at = draw(st.integers(0, len(out) - 1))
            if kind == "flip":
                out[at] = draw(st.integers(0, 255))
            elif kind == "cut":
                del out[at : at + draw(st.integers(1, 64))]
            elif kind == "dup":
                out[at:at] = out[at : at + draw(st.integers(1, 64))]
            elif kind == "truncate":
                del out[at:]
            else:
                out[at:at] = draw(st.binary(min_size=1, max_size=16))
        return bytes(out)

    return build()


ARPA_TOKENS = st.sampled_from([
    "\\data\\", "\\end\\", "\\1-grams:", "\\2-grams:", "\\3-grams:", "ngram 1=3", "ngram 2=99999999999999", "ngram 0=1",
    "ngram 1=²", "<s>", "</s>", "<unk>", "<sp>", "-99", "-0.5", "0", "1e309", "-1e309", "nan", "-inf", "inf", "0x10",
    "\t", " ", "\n", "\r\n", "a", "ab", "\u2028", "\x00", "é", "-1.5e-3", "1_0", "٣", "",
])


@st.composite
def arpa_texts(draw, good: str | None = None) -> bytes:
    """ARPA-like text: random tokens, or a good file with lines deleted, duplicated or rewritten."""
    if good is None or draw(st.booleans()):
        return "".join(draw(st.lists(ARPA_TOKENS, max_size=60))).encode("utf-8")
    lines = good.split("\n")
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["delete", "duplicate", "token", "field", "count"]))
        if kind == "count":  # rewrite a declared order or count in \data\
            declared = [i for i, line in enumerate(lines) if line.startswith("ngram ")]
            if declared:
                at = draw(st.sampled_from(declared))
                order, _, count = lines[at][len("ngram "):].partition("=")
                lines[at] = "ngram " + draw(st.sampled_from([order, draw(ARPA_TOKENS)])) + "=" + draw(
                    st.sampled_from([count, draw(ARPA_TOKENS), str(draw(st.integers(-5, 10**15)))]))
        elif kind == "delete":
            del lines[at]
        elif kind == "duplicate":
            lines.insert(at, lines[at])
        elif kind == "token":
            lines[at] = draw(ARPA_TOKENS) + draw(st.sampled_from(["", "\t", " "])) + draw(ARPA_TOKENS)
        else:
            fields = lines[at].split("\t")
            fields[draw(st.integers(0, len(fields) - 1))] = draw(ARPA_TOKENS)
            lines[at] = "\t".join(fields)
        if not lines:
            break
    return "\n".join(lines).encode("utf-8", "surrogatepass")


# ----- hostile model files ----------------------------------------------------------------------
def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def model_arrays(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=10,
)

ARRAYS = st.one_of(
    st.builds(lambda n, v: np.full(n, v, np.int64), st.integers(0, 40), st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda n, v: np.full(n, v, np.float64), st.integers(0, 40), st.floats()),
    st.builds(lambda n: np.arange(n, dtype=np.int64), st.integers(0, 40)),
    st.builds(lambda n: np.linspace(-5, 1, n), st.integers(0, 40)),
    st.builds(lambda n: np.zeros((n, 2)), st.integers(0, 5)),
    st.builds(lambda n: np.zeros(n, np.float32), st.integers(0, 5)),
    st.builds(lambda s: np.array(list(s)), st.text(max_size=5)),  # unicode strings: not ours
    st.just(np.zeros(0, np.uint8)),
)


def json_paths(value, path=()) -> list[tuple]:
    """Every place in a JSON value: dict keys and list indices, nested."""
    out = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            out += json_paths(inner, path + (key,))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            out += json_paths(inner, path + (i,))
    return out


def replace_somewhere(draw, header):
    """The header with one value, anywhere in it (the mixture descriptions nest), replaced."""
    path = draw(st.sampled_from(json_paths(header)))
    value = draw(st.one_of(JSON_VALUES, st.sampled_from(["model", "context", "name", "ngram-model", "ngram-mixture", 1e308])))
    if not path:
        return value
    target = header
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return header


@st.composite
def model_files(draw, good: bytes) -> bytes:
    """A good model file with a member replaced, dropped or added, or its header rewritten, or its
    bytes mutated; sometimes a zip with compressed members."""
    kind = draw(st.sampled_from(["bytes", "array", "header", "drop", "deflate"]))
    if kind == "bytes":
        return draw(mutated(good))
    arrays = model_arrays(good)
    if kind == "array":
        name = draw(st.sampled_from(sorted(arrays) + ["keys9", "extra"]))
        arrays[name] = draw(ARRAYS)
    elif kind == "drop":
        arrays.pop(draw(st.sampled_from(sorted(arrays))))
    elif kind == "header":
        header = json.loads(arrays["header"].tobytes())
        for _ in range(draw(st.integers(1, 3))):
            header = replace_somewhere(draw, header)
        arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), np.uint8)
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, array in arrays.items():
                with archive.open(f"{name}.npy", "w") as member:
                    np.lib.format.write_array(member, array)
        return buffer.getvalue()
    return npz_bytes(arrays)


# ----- command lines ----------------------------------------------------------------------------
VALUES = ["0", "-1", "1", "2", "3", "7", "nan", "inf", "-inf", "1e309", "0.5", "1.5", "1e-300", "99999999999999999999",
          "", "abc", "ä", "a,b", "1,2,3", "0.1 0.2", "0,0,0", "1-3", "3-1", "2,x", "zz", "an", "..", "\x00"]
OPTIONS = {  # per verb: options that take a value, flags, and the positional arguments (file kinds)
    "train": (["-o", "-N", "-s", "--k", "--discounts", "--weights", "--encoding", "--max-name-length", "--memory",
               "--engine", "--prune", "--prune-entropy"], ["--backoff", "--unk", "--lowercase", "--weighted", "-q", "--json"],
              ["corpus"]),
    "evaluate": (["--unknown", "--encoding", "--max-name-length"], ["--per-name", "--explain", "--weighted", "--lowercase", "--json", "-q"],
                 ["model", "corpus"]),
    "sample": (["-n", "--seed", "-t", "--top-k", "--top-p", "--prefix", "--min-len", "--max-len"], ["--novel-only", "--json", "-q"],
               ["model"]),
    "probs": (["--top"], ["--json"], ["model", "value"]),
    "info": ([], ["--json"], ["model"]),
    "export": (["--arpa"], [], ["model"]),
    "import": (["-o"], [], ["arpa"]),
    "mix": (["--val", "-o", "--iterations", "--tolerance", "--unknown"], ["--json", "-q"], ["model", "model"]),
    "classify": (["--priors", "--labels"], ["--json"], ["model", "model", "corpus"]),
    "prune": (["-o", "--entropy"], ["--json"], ["model"]),
    "tune": (["--val", "--val-fraction", "--folds", "--seed", "-o", "--encoding"], ["--lowercase", "--json", "-q"], ["corpus"]),
}
REQUIRED = {
    "mix": lambda files, outputs: ["--val", files["corpus"][0], "-o", outputs[0]],
    "prune": lambda files, outputs: ["-o", outputs[0], "--entropy", "1e-6"],
    "export": lambda files, outputs: ["--arpa", outputs[1]],
    "import": lambda files, outputs: ["-o", outputs[0]],
    "train": lambda files, outputs: ["-o", outputs[0]],
    "tune": lambda files, outputs: ["-o", outputs[0]],
}


@st.composite
def command_lines(draw, files: dict[str, list[str]], outputs: list[str]) -> list[str]:
    """A verb, its positional files (good and bad ones), and a few options with awkward values."""
    verb = draw(st.sampled_from(sorted(OPTIONS)))
    valued, flags, positional = OPTIONS[verb]
    # The first file of each kind is a good one: drawn half the time, so commands get deep.
    argv = [verb] + [draw(st.sampled_from(VALUES)) if kind == "value"
                     else draw(st.sampled_from(files[kind][:1] * len(files[kind]) + files[kind])) for kind in positional]
    argv += REQUIRED.get(verb, lambda files, outputs: [])(files, outputs)  # random options drawn below override these
    for _ in range(draw(st.integers(0, 4))):
        if valued and draw(st.booleans()):
            option = draw(st.sampled_from(valued))
            if option in ("-o", "--arpa"):
                value = draw(st.sampled_from(outputs))
            elif option in ("--val",):
                value = draw(st.sampled_from(files["corpus"]))
            else:
                value = draw(st.sampled_from(VALUES + ["add-k", "kneser-ney", "mle", "witten-bell", "skip", "unk",
                                                       "error", "latin-1", "streaming", "1M", "2"]))
            argv += [option, value]
        elif flags:
            argv.append(draw(st.sampled_from(flags)))
    if verb == "tune":  # keep the search small: one order, two quick estimators
        argv += ["--orders", "2", "-s", "add-k,witten-bell"]
    return argv
