"""The bad-input matrix: every kind of bad input gets one clear line, never a traceback.

Each case runs the real command line (``python -m ngram``) in a fresh folder that already holds a
good corpus, a good model, a good ARPA file and an existing output model. Every case must:

- exit non-zero (1 for bad data, files or settings; 2 for bad usage),
- print exactly one line on stderr, starting ``error:``, naming the problem (and the file and the
  line where there is one), with no traceback,
- leave every file in the folder exactly as it was: nothing modified, created or deleted (so an
  existing output file is untouched and no temporary file is left behind).

Two cases are inputs that must be *accepted* (a UTF-8 byte-order mark, CRLF line endings).

Run ``python tests/cli/test_bad_input.py`` to print the matrix with the exact message of every case.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import REPO  # noqa: E402

from ngram import AddK, train  # noqa: E402
from ngram.formats.arpa import write_arpa  # noqa: E402
from ngram.formats.native import save  # noqa: E402

pytestmark = pytest.mark.slow  # every case runs the command line in a subprocess (about 100 of them)

NAMES = ["anna", "maria", "mario", "marco", "lucia", "luca", "anna maria", "paolo", "sara"]
# Root ignores file permissions; without these two capabilities it obeys them like anyone else.
DROP_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


@dataclass
class Case:
    id: str
    args: list[str]
    expect: list[str]  # substrings of the one stderr line
    code: int = 1
    files: dict[str, Callable[[Path], None]] = field(default_factory=dict)
    permissions: bool = False  # needs file permissions to bite (root: run without DAC capabilities)
    stdin: bytes | None = None


# ----- building bad files --------------------------------------------------------------------
def text(content: str | bytes) -> Callable[[Path], None]:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return lambda path: path.write_bytes(data)


def no_permission(path: Path) -> None:
    path.write_text("anna\n", encoding="utf-8")
    path.chmod(0)


def read_only_folder(path: Path) -> None:
    path.mkdir()
    path.chmod(0o555)


def folder(path: Path) -> None:
    path.mkdir()


def fifo(path: Path) -> None:
    """A named pipe: replacing it with a regular file would change its mode, which the snapshot sees."""
    os.mkfifo(path)


def _arrays(model_path: Path) -> dict[str, np.ndarray]:
    with np.load(model_path, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def _header(arrays) -> dict:
    return json.loads(arrays["header"].tobytes().decode("utf-8"))


def _with_header(arrays, **changes) -> None:
    arrays["header"] = np.frombuffer(json.dumps({**_header(arrays), **changes}).encode("utf-8"), dtype=np.uint8)


def damaged_model(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """A copy of the folder's good model with one thing broken."""

    def build(path: Path) -> None:
        arrays = _arrays(path.parent / "model.ngram")
        change(arrays)
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)

    return build


def truncated_model(path: Path) -> None:
    data = (path.parent / "model.ngram").read_bytes()
    path.write_bytes(data[: len(data) // 2])


def pickled_model(path: Path) -> None:
    # os.system('touch pwned') if anything ever unpickles it.
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {path.parent / 'pwned'}",))

    arrays = _arrays(path.parent / "model.ngram")
    arrays["logp1"] = np.array([Payload()], dtype=object)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def zip_bomb(path: Path) -> None:
    """A model whose keys2 member is 64 MB of zeros deflated to a few kilobytes."""
    arrays = _arrays(path.parent / "model.ngram")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            if name == "keys2":
                array = np.zeros(8 << 20, np.int64)
                with archive.open("keys2.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array)
                continue
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, array)
    # Re-deflate just the bomb member: rewrite the archive with it compressed.
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w") as dst:
        for info in src.infolist():
            kind = zipfile.ZIP_DEFLATED if info.filename == "keys2.npy" else zipfile.ZIP_STORED
            dst.writestr(info.filename, src.read(info), compress_type=kind)
    tmp.replace(path)


def huge_declared_array(path: Path) -> None:
    """keys2's .npy header claims 10^12 entries (8 TB) in a file of a few kilobytes."""
    arrays = _arrays(path.parent / "model.ngram")
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w") as member:
                if name == "keys2":
                    header = {"descr": "<i8", "fortran_order": False, "shape": (10**12,)}
                    np.lib.format.write_array_header_1_0(member, header)
                    member.write(array.tobytes())
                else:
                    np.lib.format.write_array(member, array)


def arpa_edit(change: Callable[[str], str]) -> Callable[[Path], None]:
    return lambda path: path.write_text(change((path.parent / "good.arpa").read_text(encoding="utf-8")), encoding="utf-8")


def _first_entry(section: str) -> Callable[[str], str]:
    """Replace the probability of the first entry of a section, e.g. '\\2-grams:'."""

    def change(value: str) -> Callable[[str], str]:
        def edit(arpa: str) -> str:
            head, _, rest = arpa.partition(section + "\n")
            line, _, tail = rest.partition("\n")
            return head + section + "\n" + value + "\t" + line.split("\t", 1)[1] + "\n" + tail

        return edit

    return change


second_order = _first_entry("\\2-grams:")


# ----- the matrix ----------------------------------------------------------------------------
CASES = [
    # Corpus files
    Case("empty file", ["train", "empty.txt", "-o", "out.ngram"], ["empty.txt", "empty"], files={"empty.txt": text("")}),
    Case("only blank lines", ["train", "blank.txt", "-o", "out.ngram"], ["blank.txt", "only blank lines"],
         files={"blank.txt": text("\n  \n\t\n\r\n")}),
    Case("missing file", ["train", "missing.txt", "-o", "out.ngram"], ["missing.txt", "no such file"]),
    Case("a directory", ["train", "adir", "-o", "out.ngram"], ["adir", "directory"], files={"adir": folder}),
    Case("no read permission", ["train", "secret.txt", "-o", "out.ngram"], ["secret.txt", "permission denied"],
         files={"secret.txt": no_permission}, permissions=True),
    Case("not UTF-8 (Latin-1)", ["train", "latin1.txt", "-o", "out.ngram"],
         ["latin1.txt, line 3", "UTF-8", "--encoding"], files={"latin1.txt": text("anna\nluca\nnicol\xf2\n".encode("latin-1"))}),
    Case("UTF-16 with BOM", ["train", "utf16.txt", "-o", "out.ngram"], ["utf16.txt", "UTF-16", "--encoding"],
         files={"utf16.txt": text("anna\nluca\n".encode("utf-16"))}),
    Case("NUL bytes", ["train", "nul.txt", "-o", "out.ngram"], ["nul.txt, line 2", "NUL"],
         files={"nul.txt": text(b"anna\nlu\x00ca\n")}),
    Case("10 MB single line", ["train", "long.txt", "-o", "out.ngram"], ["long.txt, line 1", "--max-name-length"],
         files={"long.txt": text(b"a" * 10_000_000 + b"\n")}),
    Case("a model file given as corpus", ["train", "model.ngram", "-o", "out.ngram"], ["model.ngram, line 1", "binary file"]),
    Case("unknown --encoding", ["train", "names.txt", "--encoding", "klingon", "-o", "out.ngram"], ["encoding", "klingon"]),
    Case("empty standard input", ["train", "-", "-o", "out.ngram"], ["<stdin>", "empty"], stdin=b""),
    # Training settings
    Case("order 0", ["train", "names.txt", "-N", "0", "-o", "out.ngram"], ["order must be at least 1, got 0"]),
    Case("order -1", ["train", "names.txt", "-N", "-1", "-o", "out.ngram"], ["order must be at least 1, got -1"]),
    Case("order 100", ["train", "names.txt", "-N", "100", "-o", "out.ngram"], ["order 100 is too high"]),
    Case("order not a number", ["train", "names.txt", "-N", "four", "-o", "out.ngram"], ["--order", "four"], code=2),
    Case("k = 0", ["train", "names.txt", "-s", "add-k", "--k", "0", "-o", "out.ngram"], ["k must be a positive finite number"]),
    Case("k < 0", ["train", "names.txt", "-s", "add-k", "--k", "-1", "-o", "out.ngram"], ["k must be a positive finite number"]),
    Case("k = nan", ["train", "names.txt", "-s", "add-k", "--k", "nan", "-o", "out.ngram"], ["k must be a positive finite number, got nan"]),
    Case("k = inf", ["train", "names.txt", "-s", "add-k", "--k", "inf", "-o", "out.ngram"], ["k must be a positive finite number, got inf"]),
    Case("unknown smoothing", ["train", "names.txt", "-s", "magic", "-o", "out.ngram"], ["unknown smoothing 'magic'"]),
    Case("setting of another smoothing", ["train", "names.txt", "-s", "mle", "--k", "1", "-o", "out.ngram"], ["mle does not take k"]),
    Case("--max-name-length 0", ["train", "names.txt", "--max-name-length", "0", "-o", "out.ngram"], ["max-name-length"]),
    # Evaluation data
    Case("unknown character in the evaluation file", ["evaluate", "model.ngram", "other.txt"],
         ["other.txt, line 2", "'z'", "--unknown skip"], files={"other.txt": text("anna\nzeno\n")}),
    Case("empty test set", ["evaluate", "model.ngram", "empty.txt"], ["empty.txt", "empty"], files={"empty.txt": text("")}),
    Case("test set of blank lines", ["evaluate", "model.ngram", "blank.txt"], ["blank.txt", "no names"],
         files={"blank.txt": text("\n\n")}),
    Case("unknown --unknown policy", ["evaluate", "model.ngram", "names.txt", "--unknown", "maybe"], ["'maybe'", "error, skip, unk"]),
    Case("--unknown unk without <unk>", ["evaluate", "model.ngram", "names.txt", "--unknown", "unk"], ["--unk"]),
    # Sampling settings
    Case("unknown character in --prefix", ["sample", "model.ngram", "--prefix", "zo"], ["prefix 'zo'", "'z'", "vocabulary"]),
    Case("unknown character in a probs context", ["probs", "model.ngram", "xy"], ["'xy'", "'x'", "vocabulary"]),
    Case("temperature 0", ["sample", "model.ngram", "--temperature", "0"], ["temperature must be a positive finite number, got 0"]),
    Case("temperature < 0", ["sample", "model.ngram", "-t", "-1"], ["temperature must be a positive finite number, got -1"]),
    Case("temperature nan", ["sample", "model.ngram", "-t", "nan"], ["temperature must be a positive finite number, got nan"]),
    Case("top-p 0", ["sample", "model.ngram", "--top-p", "0"], ["top-p must be in (0, 1], got 0"]),
    Case("top-p > 1", ["sample", "model.ngram", "--top-p", "1.5"], ["top-p must be in (0, 1], got 1.5"]),
    Case("top-p nan", ["sample", "model.ngram", "--top-p", "nan"], ["top-p must be in (0, 1], got nan"]),
    Case("top-k 0", ["sample", "model.ngram", "--top-k", "0"], ["top-k must be at least 1, got 0"]),
    Case("-n negative", ["sample", "model.ngram", "-n", "-1"], ["number of samples must be 0 or more, got -1"]),
    Case("--seed not an integer", ["sample", "model.ngram", "--seed", "1.5"], ["--seed", "1.5"], code=2),
    Case("--seed negative", ["sample", "model.ngram", "--seed", "-1"], ["seed must be a whole number 0 or more, got -1"]),
    Case("-n astronomically large", ["sample", "model.ngram", "-n", "10" * 10], ["too much for one run"]),
    Case("--min-len above --max-len", ["sample", "model.ngram", "--min-len", "9", "--max-len", "3"], ["min-len 9, max-len 3"]),
    Case("--top 0 in probs", ["probs", "model.ngram", "ma", "--top", "0"], ["--top must be at least 1, got 0"]),
    # Model files
    Case("missing model", ["sample", "nomodel.ngram"], ["nomodel.ngram", "no such file"]),
    Case("a directory as model", ["info", "adir"], ["adir", "directory"], files={"adir": folder}),
    Case("model without read permission", ["info", "secret.ngram"], ["secret.ngram", "not readable"], code=2,
         files={"secret.ngram": no_permission}, permissions=True),
    Case("a text file as model", ["evaluate", "names.txt", "names.txt"], ["names.txt", "not an ngram model file"]),
    Case("truncated model", ["sample", "cut.ngram"], ["cut.ngram", "damaged or truncated"], files={"cut.ngram": truncated_model}),
    Case("wrong format version", ["sample", "v99.ngram"], ["v99.ngram", "version 99 is not supported"],
         files={"v99.ngram": damaged_model(lambda a: _with_header(a, version=99))}),
    Case("header not JSON", ["info", "junk.ngram"], ["junk.ngram", "header is not valid JSON"],
         files={"junk.ngram": damaged_model(lambda a: a.__setitem__("header", np.frombuffer(b"\xff{", np.uint8)))}),
    Case("header nested 100,000 deep", ["info", "deep.ngram"], ["deep.ngram", "header is not valid JSON"],
         files={"deep.ngram": damaged_model(lambda a: a.__setitem__("header", np.frombuffer(b"[" * 100_000, np.uint8)))}),
    Case("header of text instead of bytes", ["info", "text.ngram"], ["text.ngram", "header is not a byte array"],
         files={"text.ngram": damaged_model(lambda a: a.__setitem__("header", np.array(list("{}"))))}),
    Case("estimator entry not an object", ["info", "est.ngram"], ["est.ngram", "'estimator' is not an object"],
         files={"est.ngram": damaged_model(lambda a: _with_header(a, estimator=1))}),
    Case("inconsistent array lengths", ["sample", "shapes.ngram"], ["shapes.ngram", "order-2 arrays have different lengths"],
         files={"shapes.ngram": damaged_model(lambda a: a.__setitem__("logp2", a["logp2"][:-1]))}),
    Case("2-D array", ["sample", "twod.ngram"], ["twod.ngram", "keys2 has the wrong shape or type"],
         files={"twod.ngram": damaged_model(lambda a: a.__setitem__("keys2", np.stack([a["keys2"], a["keys2"]])))}),
    Case("negative n-gram keys", ["sample", "neg.ngram"], ["neg.ngram", "out of range"],
         files={"neg.ngram": damaged_model(lambda a: a["keys2"].__setitem__(0, -5))}),
    Case("NaN probabilities", ["sample", "nan.ngram"], ["nan.ngram", "order-2 probabilities are not valid"],
         files={"nan.ngram": damaged_model(lambda a: a["logp2"].__setitem__(3, np.nan))}),
    Case("probability above 1", ["sample", "big.ngram"], ["big.ngram", "order-1 probabilities are not valid"],
         files={"big.ngram": damaged_model(lambda a: a["logp1"].__setitem__(1, 2.0))}),
    Case("probabilities that do not sum to 1", ["sample", "sum.ngram"], ["sum.ngram", "probabilities after", "not 1"],
         files={"sum.ngram": damaged_model(lambda a: a["bow1"].__setitem__(slice(None), 5.0))}),
    Case("order too high for the vocabulary in the header", ["info", "order.ngram"], ["order.ngram", "order"],
         files={"order.ngram": damaged_model(lambda a: _with_header(a, order=10**9))}),
    Case("zip bomb (compressed member)", ["sample", "bomb.ngram"], ["bomb.ngram", "compressed member 'keys2.npy'"],
         files={"bomb.ngram": zip_bomb}),
    Case("huge declared array", ["sample", "huge.ngram"], ["huge.ngram", "keys2.npy", "declares 8000000000000 bytes"],
         files={"huge.ngram": huge_declared_array}),
    Case("pickled object", ["sample", "evil.ngram"], ["evil.ngram", "Python objects", "refused"], files={"evil.ngram": pickled_model}),
    # ARPA files
    Case("ARPA: wrong counts in \\data\\", ["import", "bad.arpa", "-o", "out.ngram"], ["bad.arpa", "declares 7 2-grams but the section has"],
         files={"bad.arpa": arpa_edit(lambda s: re.sub(r"ngram 2=\d+", "ngram 2=7", s))}),
    Case("ARPA: missing section", ["import", "bad.arpa", "-o", "out.ngram"], ["bad.arpa", "expected the \\2-grams: section"],
         files={"bad.arpa": arpa_edit(lambda s: s.replace("\\2-grams:", "\\two-grams:"))}),
    Case("ARPA: no \\data\\", ["import", "names.txt", "-o", "out.ngram"], ["names.txt", "no \\data\\ section"]),
    Case("ARPA: missing \\end\\", ["import", "bad.arpa", "-o", "out.ngram"], ["bad.arpa", "missing \\end\\"],
         files={"bad.arpa": arpa_edit(lambda s: s.replace("\\end\\", ""))}),
    Case("ARPA: malformed number", ["import", "bad.arpa", "-o", "out.ngram"], ["bad.arpa, line", "probability '-0.3x' is not a number"],
         files={"bad.arpa": arpa_edit(second_order("-0.3x"))}),
    Case("ARPA: NaN probability", ["import", "bad.arpa", "-o", "out.ngram"], ["bad.arpa, line", "'nan' is not a finite number"],
         files={"bad.arpa": arpa_edit(second_order("nan"))}),
    Case("ARPA: log10 probability > 0", ["import", "bad.arpa", "-o", "out.ngram"], ["bad.arpa, line", "log10 probability 0.5 is above 0"],
         files={"bad.arpa": arpa_edit(second_order("0.5"))}),
    Case("ARPA: back-off weights of 10^300", ["import", "bad.arpa", "-o", "out.ngram"], ["bad.arpa", "sum to", "not 1"],
         files={"bad.arpa": arpa_edit(lambda s: re.sub(r"(\n-[0-9.e-]+\t\S+\t)-?[0-9.e-]+\n", r"\g<1>300\n", s))}),
    Case("ARPA: huge declared count", ["import", "bad.arpa", "-o", "out.ngram"], ["bad.arpa", "declares 999999999999 2-grams"],
         files={"bad.arpa": arpa_edit(lambda s: re.sub(r"ngram 2=\d+", "ngram 2=999999999999", s))}),
    Case("ARPA: non-ASCII digits in a count", ["import", "bad.arpa", "-o", "out.ngram"], ["bad.arpa, line 2", "ngram N=count"],
         files={"bad.arpa": arpa_edit(lambda s: re.sub(r"ngram 1=\d+", "ngram 1=\u00b2", s))}),
    Case("ARPA: not UTF-8", ["import", "bad.arpa", "-o", "out.ngram"], ["bad.arpa, line", "not valid UTF-8 (byte 0xff)"],
         files={"bad.arpa": lambda p: p.write_bytes((p.parent / "good.arpa").read_bytes().replace(b"\\end\\", b"\xff\\end\\"))}),
    Case("ARPA: declared order 99999999999", ["import", "bad.arpa", "-o", "out.ngram"], ["bad.arpa", "must declare orders 1..99999999999"],
         files={"bad.arpa": arpa_edit(lambda s: re.sub(r"ngram 2=\d+", "ngram 99999999999=0", s))}),
    Case("ARPA: 3 words in the 2-grams", ["import", "bad.arpa", "-o", "out.ngram"],
         ["bad.arpa, line", "3 words in the \\2-grams: section", "a 2-gram line needs"],
         files={"bad.arpa": arpa_edit(lambda s: re.sub(r"(\\2-grams:\n\S+\t\S+ \S+)", r"\g<1> a", s, count=1))}),
    # Round two (issue 15): inputs with no end, numeric extremes, header values of the wrong type
    Case("/dev/zero as corpus", ["train", "/dev/zero", "-o", "out.ngram"], ["/dev/zero, line 1", "NUL byte"]),
    Case("/dev/zero as test set", ["evaluate", "model.ngram", "/dev/zero"], ["/dev/zero, line 1", "NUL byte"]),
    Case("/dev/zero as model", ["info", "/dev/zero"], ["/dev/zero", "not a regular file"]),
    Case("/dev/zero as ARPA file", ["import", "/dev/zero", "-o", "out.ngram"], ["/dev/zero, line 1", "not an ARPA file"]),
    Case("weighted counts of 1e308", ["train", "w.txt", "--weighted", "-o", "out.ngram"], ["w.txt, line 1", "2**53"],
         files={"w.txt": text("anna\t1e308\nmaria\t1e308\n")}),
    Case("weighted test counts of 1e308", ["evaluate", "model.ngram", "w.txt", "--weighted"], ["w.txt, line 1", "2**53"],
         files={"w.txt": text("anna\t1e308\nmaria\t1e308\n")}),
    Case("header order true", ["info", "true.ngram"], ["true.ngram", "bad vocabulary or order"],
         files={"true.ngram": damaged_model(lambda a: _with_header(a, order=True))}),
    Case("--memory of 10^26 TB", ["train", "names.txt", "--memory", "99999999999999999999999999T", "-o", "out.ngram"],
         ["memory budget", "more than 1P"]),
    # Output paths
    Case("output in a missing folder", ["train", "names.txt", "-o", "nowhere/m.ngram"], ["nowhere/m.ngram", "folder nowhere does not exist"]),
    Case("output in a read-only folder", ["train", "names.txt", "-o", "locked/m.ngram"], ["locked/m.ngram", "permission denied"],
         files={"locked": read_only_folder}, permissions=True),
    Case("output is a directory", ["train", "names.txt", "-o", "adir"], ["adir: is a folder"], files={"adir": folder}),
    Case("output is the training corpus", ["train", "names.txt", "-o", "names.txt"],
         ["names.txt: exists and is not an ngram model file; refusing to replace it"]),
    Case("ARPA export over a text file", ["export", "model.ngram", "--arpa", "names.txt"],
         ["names.txt: exists and is not an ARPA file; refusing to replace it"]),
    Case("output is a named pipe", ["train", "names.txt", "-o", "pipe"], ["pipe: is not a regular file"], files={"pipe": fifo}),
    Case("ARPA export over a named pipe", ["export", "model.ngram", "--arpa", "pipe"], ["pipe: is not a regular file"],
         files={"pipe": fifo}),
    Case("ARPA export to a missing folder", ["export", "model.ngram", "--arpa", "nowhere/m.arpa"], ["nowhere/m.arpa", "does not exist"]),
    Case("import output in a missing folder", ["import", "good.arpa", "-o", "nowhere/m.ngram"], ["nowhere/m.ngram", "does not exist"]),
    # Other verbs
    Case("mix: one model", ["mix", "model.ngram", "--val", "names.txt", "-o", "out.ngram"], ["at least two models"]),
    Case("mix: tolerance nan", ["mix", "model.ngram", "model.ngram", "--val", "names.txt", "--tolerance", "nan", "-o", "out.ngram"],
         ["tolerance must be a finite number >= 0", "nan"]),
    Case("classify: negative prior", ["classify", "model.ngram", "out.ngram", "names.txt", "--priors", "1,-1"],
         ["priors must be positive finite numbers, got [1.0, -1.0]"]),
    Case("prune: negative threshold", ["prune", "model.ngram", "-o", "out.ngram", "--entropy", "-1"], ["threshold", "-1"]),
    # Usage
    Case("unknown option", ["train", "--no-such-option"], ["No such option", "ngram train --help"], code=2),
    Case("unknown verb", ["trian"], ["trian"], code=2),
]

ACCEPTED = [
    ("UTF-8 BOM", b"\xef\xbb\xbfanna\nluca\n"),
    ("CRLF line ends", b"anna\r\nluca\r\n"),
]


# ----- running ----------------------------------------------------------------------------------
def build_assets(root: Path) -> Path:
    """A good corpus, model, ARPA file and an existing output model, built in-process."""
    (root / "names.txt").write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    model = train(NAMES, order=3, estimator=AddK(0.1))
    save(model, root / "model.ngram")
    write_arpa(model, root / "good.arpa")
    save(train(NAMES[:4], order=2, estimator=AddK(1.0)), root / "out.ngram")
    return root


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    return build_assets(tmp_path_factory.mktemp("assets"))


def can_drop_permissions() -> str | None:
    """Why permission cases cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return None
    if shutil.which("setpriv") is None:
        return "running as root, which ignores file permissions, and setpriv is not available to drop that power"
    probe = subprocess.run(DROP_DAC + ["true"], capture_output=True)
    if probe.returncode != 0:
        return f"running as root and setpriv cannot drop DAC capabilities here ({probe.stderr.decode().strip()})"
    return None


def snapshot(folder: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under ``folder`` with its mode and contents (None for folders and unreadable files)."""
    state = {}
    for path in sorted(folder.rglob("*")):
        mode = path.lstat().st_mode
        content = None
        if path.is_file():
            content = path.read_bytes()  # we are the owner (or root), so this works even for mode 000
        state[str(path.relative_to(folder))] = (mode, content)
    return state


def run_cli(args, cwd: Path, stdin: bytes | None = None, prefix=()) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([*prefix, sys.executable, "-m", "ngram", *args], cwd=cwd, capture_output=True,
                          input=stdin if stdin is not None else b"", env=env, timeout=120)


def prepare(case: Case, assets: Path, work: Path) -> None:
    for name in ("names.txt", "model.ngram", "good.arpa", "out.ngram"):
        shutil.copy2(assets / name, work / name)
    for name, build in case.files.items():
        build(work / name)


def run_case(case: Case, work: Path) -> subprocess.CompletedProcess:
    prefix = DROP_DAC if case.permissions and os.geteuid() == 0 else ()
    return run_cli(case.args, work, case.stdin, prefix)


@pytest.fixture(scope="module")
def outcomes(request, assets, tmp_path_factory) -> dict[str, tuple[Path, dict, subprocess.CompletedProcess]]:
    """Run every selected case at once (each in its own folder): a subprocess mostly waits on
    imports, so running them side by side keeps the matrix to a few seconds per core."""
    selected = [item.callspec.params["case"] for item in request.session.items
                if isinstance(getattr(item, "callspec", None) and item.callspec.params.get("case"), Case)]
    runs = []
    for case in selected:
        if case.permissions and can_drop_permissions():
            continue
        work = tmp_path_factory.mktemp("case")
        prepare(case, assets, work)
        runs.append((case, work, snapshot(work)))
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        results = pool.map(lambda run: run_case(run[0], run[1]), runs)
        return {case.id: (work, before, result) for (case, work, before), result in zip(runs, results)}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_one_clear_line(case, outcomes):
    if case.permissions and (reason := can_drop_permissions()):
        pytest.skip(reason)
    work, before, result = outcomes[case.id]
    stderr = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    for part in case.expect:
        assert part in lines[0], f"{part!r} not in {lines[0]!r}"
    assert result.returncode == case.code, stderr
    assert snapshot(work) == before, "a file in the folder was created, changed or deleted"
    assert not (work / "pwned").exists()


def test_case_names_are_unique():
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("label, data", ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_bom_and_crlf_are_accepted(label, data, assets, tmp_path):
    (tmp_path / "names.txt").write_bytes(data)
    result = run_cli(["train", "names.txt", "-N", "2", "-o", "m.ngram", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    from ngram.formats.native import load

    model = load(tmp_path / "m.ngram")
    assert model.vocabulary.characters == ["a", "c", "l", "n", "u"]  # no BOM, no carriage return


def test_disk_full_leaves_the_previous_model(assets, tmp_path):
    """A real full disk: a 256 KiB tmpfs in a private mount namespace, filled up before saving."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not available to mount a private tmpfs (the in-process ENOSPC test in test_io covers the code path)")
    disk = tmp_path / "disk"
    disk.mkdir()
    report = tmp_path / "report"
    script = (
        'mount -t tmpfs -o size=256k tmpfs "$1" || exit 99\n'
        'cp "$2/out.ngram" "$1/out.ngram"\n'
        'cat /dev/zero > "$1/filler" 2>/dev/null\n'
        'cd "$1" && "$3" -m ngram train "$2/names.txt" -N 3 -o out.ngram 2> "$4.stderr"\n'
        'echo "$?" > "$4.code"\n'
        'cmp -s "$1/out.ngram" "$2/out.ngram" && echo intact > "$4.cmp"\n'
        'ls -A "$1" > "$4.ls"\n'
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(disk), str(assets), sys.executable, str(report)],
                          capture_output=True, env=env, timeout=120)
    if done.returncode == 99 or done.returncode != 0 and not Path(f"{report}.code").exists():
        pytest.skip(f"cannot mount a private tmpfs here ({done.stderr.decode().strip()})")
    stderr = Path(f"{report}.stderr").read_text()
    assert Path(f"{report}.code").read_text().strip() == "1", stderr
    assert len(stderr.splitlines()) == 1 and "Traceback" not in stderr
    assert "out.ngram: could not save the model (No space left on device); any previous file there is unchanged" in stderr
    assert Path(f"{report}.cmp").exists(), "the previous model changed"
    assert Path(f"{report}.ls").read_text().split() == ["filler", "out.ngram"]  # no temporary file left


if __name__ == "__main__":  # print the matrix: case, exit code, the exact stderr line
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        assets_dir = build_assets(base / "assets") if (base / "assets").mkdir() is None else None
        skip = can_drop_permissions()
        print("| case | exit | stderr |\n|---|---|---|")
        for number, case in enumerate(CASES):
            if case.permissions and skip:
                print(f"| {case.id} | - | skipped: {skip} |")
                continue
            work = base / f"case{number}"
            work.mkdir()
            prepare(case, assets_dir, work)
            result = run_case(case, work)
            line = result.stderr.decode("utf-8", "replace").strip().replace("|", "\\|")
            print(f"| {case.id} | {result.returncode} | `{line}` |")
