"""Model files: one ``.ngram`` file, an uncompressed ``np.savez`` archive with a JSON header.

Loading never unpickles (``allow_pickle=False``), and every array's declared shape is checked
against the bytes actually in the archive before anything is allocated, so a truncated, corrupt,
hostile or foreign file gets a one-line error instead of a crash or a huge allocation. Saving
writes a temporary file beside the target and renames it over, so an interrupted save leaves the
previous model intact.

This module is the one owner of the file format, for every model kind. A description is a JSON
object ``{"type": kind, ..., "estimator": ..., "corpus": ...}``: a back-off model (``model``)
adds its vocabulary and order, its arrays ``keys{n}``, ``logp{n}``, ``bow{n}``; an order mixture
(``context``) its bucket weights and follower bins, a whole-name mixture (``name``) its weights
and directions, and both their ``components``, each described the same way with its arrays under
the prefix ``c{i}_`` (nested: ``c0_c1_keys2``). A back-off model's file has its description as
the header (format ``ngram-model``); a mixture's header holds the tree under ``model`` (format
``ngram-mixture``). Both carry ``name_hash`` and one ``train_names`` array for the whole file.
"""

from __future__ import annotations

import json
import math
import os
import stat
import weakref
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ngram.formats import compact as compact_format
from ngram.core.counting import max_order_for
from ngram.core.errors import NgramError
from ngram.core.files import write_atomically
from ngram.core.pages import untouched_zeros
from ngram.lm.mixtures.models import ContextMixture, NameMixture
from ngram.lm.mixtures.loglinear import LinearSymbolMixture, LogLinearMixture, SymbolMixture
from ngram.lm.mixtures.wholename import SequentialNameMixture
from ngram.lm.neural import files as neural_files
from ngram.lm.backoff.model import NAME_HASH, FileModel, Level, Model
from ngram.estimators import on_demand
from ngram.lm.protocol import LEVELS, LanguageModel
from ngram.formats.validate import check_distributions, check_follower_bins
from ngram.core.vocabulary import Vocabulary

FORMAT = "ngram-model"  # a back-off model: its description is the header, its arrays unprefixed
FORMAT_VERSION = 1
MIXTURE_FORMAT = "ngram-mixture"  # a mixture: the header's "model" is a tree of descriptions
# Version 2: an array the same as an earlier one is stored once (``same``: name -> the stored one),
# and a whole-name mixture keeps its right-to-left components' forward masses. Version 1 still loads.
MIXTURE_FORMAT_VERSION = 2
MIXTURE_VERSIONS_READ = (1, 2)
_ARRAY_DTYPES = {"keys": np.int64, "logp": np.float64, "bow": np.float64}


def save(model: LanguageModel, path: str | os.PathLike, compact: bool = False,
         logp_bits: int | None = None, bow_bits: int | None = None, progress=None) -> None:
    """Write ``model`` (any kind) to ``path`` atomically. ``compact`` (back-off models only)
    writes the memory-mapped compact form instead (``ngram.formats.compact``), its probabilities and
    back-off weights optionally quantised to ``logp_bits``/``bow_bits`` (8 or 16). ``progress``:
    ``start(total) -> advance(steps)`` for the one long stage, an order mixture's completion
    bounds (every context state's row: a few seconds on a large list)."""
    if compact or logp_bits is not None or bow_bits is not None:
        data = compact_format.to_bytes(model, logp_bits, bow_bits)  # checked by reading it back
        write_atomically(path, lambda handle: handle.write(data), "the model",
                         replaces=(compact_format.is_model_file, "an ngram model file"))
        return
    from ngram.lm.backoff.automaton import completion_bounds

    for part in _order_mixtures(model):  # (made here, with the bar; ``_describe_context`` finds them made)
        completion_bounds(part, make=True, progress=progress)
    write_arrays(to_arrays(model), Path(path))


def _order_mixtures(model: LanguageModel):
    """The order mixtures in a model's tree: what stores completion bounds."""
    if model.kind == "context":
        yield model
    if model.kind in _MIXTURE_KINDS:  # (a mixture's parts, as its writer reads them)
        for component in model.components:
            yield from _order_mixtures(component)


def to_arrays(model: LanguageModel) -> dict[str, np.ndarray]:
    """Everything a model file holds, header first. A back-off model's file is its description
    at the top (format ``ngram-model``); a mixture's file wraps its description tree (format
    ``ngram-mixture``), whose leaves are described the same way, their arrays under a prefix."""
    description, arrays = _describe(model, "")
    if description["type"] != "model":  # mixtures and other kinds (neural): the header holds the tree
        header = {"format": MIXTURE_FORMAT, "version": MIXTURE_FORMAT_VERSION, "model": description}
        arrays, header["same"] = _stored_once(arrays)
    else:
        header = {"format": FORMAT, "version": FORMAT_VERSION, **{k: v for k, v in description.items() if k != "type"}}
    header["name_hash"] = NAME_HASH
    # ASCII JSON: a file name that is not valid UTF-8 (a lone surrogate in Python) survives as an escape.
    out = {"header": np.frombuffer(json.dumps(header).encode("ascii"), dtype=np.uint8)}
    out.update(arrays)
    if model.train_names is not None:
        out["train_names"] = model.train_names.astype(np.uint64, copy=False)
    return out


def _describe(model: LanguageModel, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
    """A JSON-able description of ``model`` and its arrays, their names prefixed; recursive."""
    write = _WRITERS.get(model.kind)  # every model declares its kind (the protocol)
    if write is None:
        raise NgramError(f"cannot save a {type(model).__name__}: no model file format for kind {model.kind!r}")
    description, arrays = write(model, prefix)
    return {"type": model.kind, **description, "estimator": model.estimator, "corpus": model.corpus}, arrays


def _describe_backoff(model: Model, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
    arrays = {}
    for n, level in enumerate(model.levels, start=1):
        arrays[f"{prefix}keys{n}"] = level.keys.astype(np.int64, copy=False)
        arrays[f"{prefix}logp{n}"] = level.logp.astype(np.float64, copy=False)
        arrays[f"{prefix}bow{n}"] = level.bow.astype(np.float64, copy=False)
    return {"vocabulary": model.vocabulary.to_json(), "order": model.order}, arrays


def _describe_components(model, prefix: str) -> tuple[list[dict], dict[str, np.ndarray]]:
    descriptions, arrays = [], {}
    for i, component in enumerate(model.components):
        description, component_arrays = _describe(component, f"{prefix}c{i}_")
        descriptions.append(description)
        arrays.update(component_arrays)
    return descriptions, arrays


def _describe_context(model: ContextMixture, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
    description, bounds = _with_bounds({"weights": model.weights.tolist(), "follower_bins": model.follower_bins},
                                       model, prefix)
    if _refits(model):  # the counts once, and each component as its estimator's settings
        counts = model.counts
        arrays = {}
        for n in range(1, counts.order + 1):
            arrays[f"{prefix}nkeys{n}"] = counts.keys[n - 1].astype(np.int64, copy=False)
            arrays[f"{prefix}ncounts{n}"] = _narrow(counts.counts[n - 1])
        components = [{"type": c.kind, "vocabulary": c.vocabulary.to_json(), "order": c.order, "refit": _settings(c),
                       "estimator": c.estimator, "corpus": c.corpus} for c in model.components]
        return {**description, "counts": {"order": counts.order}, "components": components}, {**arrays, **bounds}
    components, arrays = _describe_components(model, prefix)
    return {**description, "components": components}, {**arrays, **bounds}


def _with_bounds(description: dict, model, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
    """The description and arrays with the model's completion bounds (``automaton.completion_bounds``,
    made here: they need every state's row, about a second per 200,000 states), where they are made."""
    from ngram.lm.backoff.automaton import completion_bounds

    bounds = completion_bounds(model, make=True)
    if bounds is None:
        return description, {}
    return {**description, "completion_bounds": True}, {f"{prefix}bounds": bounds}


def _read_bounds(model, description: dict, arrays, prefix: str, label: str) -> None:
    """A file's completion bounds, checked for what can be checked without the automaton (their
    count is checked when a view is made, and each against its state's row when a search reads
    it): float16, a row per least number of characters, none above 0, none NaN."""
    from ngram.lm.backoff.automaton import keep_completion_bounds

    if description.get("completion_bounds") is None:
        return
    bounds = arrays.get(f"{prefix}bounds")
    if description["completion_bounds"] is not True or bounds is None or bounds.dtype != np.float16 or bounds.ndim != 2:
        raise NgramError(f"{label}: array {prefix}bounds is missing or of the wrong type; the file is damaged")
    bits = bounds.view(np.uint16)  # (float16 compares slowly: its bits say NaN and sign at once)
    if (((bits & 0x7C00) == 0x7C00) & ((bits & 0x03FF) != 0) | ((bits < 0x8000) & (bits != 0))).any():
        raise NgramError(f"{label}: array {prefix}bounds holds NaN or values above 0; the file is damaged")
    keep_completion_bounds(model, bounds)


def _settings(model: Model) -> dict:
    """The settings that make ``model``'s estimator again (its description without name and report)."""
    return {k: v for k, v in model.estimator.items() if k not in ("name", "report")}


def _refit(estimator: dict, settings: dict, counts, order: int, vocabulary: Vocabulary, checked: list | None = None,
           shared: list | None = None) -> Model:
    """The component ``estimator`` names fitted again on the first ``order`` orders of ``counts``;
    ``checked`` (a list) is told whether the fit proved its own rows sum to 1. With ``shared`` (a
    list, empty at first, kept between the components of one mixture), a discounted component's
    tables are made where they are read, from counts kept once for all the components
    (``ngram.estimators.on_demand``)."""
    from ngram.core.counting import Counts
    from ngram.estimators import make_estimator

    name = estimator.get("name")
    if not isinstance(name, str) or not isinstance(settings, dict):
        raise NgramError("a component's estimator is not named")
    fitter = make_estimator(name, **settings)
    if shared is not None and on_demand.serves(fitter):
        if not shared:
            shared.append(on_demand.SharedCounts(counts))
        if checked is not None:
            checked.append(True)  # (its rows sum to 1 by construction: see on_demand)
        return on_demand.fit_on_demand(fitter, shared[0], order, vocabulary)
    sub = Counts(order, counts.vocab_size, counts.keys[:order], counts.counts[:order],
                 counts.suffix_index[:order], counts.left[:order], derived=counts.derived)
    if checked is not None:
        checked.append(fitter.checks_its_rows())
    return fitter.fit(sub, vocabulary)


def _with_neighbours(counts):
    """The counts with each order's suffix indices and left-neighbour counts found once: every
    component reads the same ones (they depend on the keys only)."""
    from ngram.core.counting import Counts

    K = counts.order
    suffix_index = [None] + [counts.suffixes(n) for n in range(2, K + 1)]
    left = [counts.left_neighbours(n) for n in range(1, K)] + [None]
    return Counts(K, counts.vocab_size, counts.keys, counts.counts, suffix_index, left, derived={},
                  context_index=counts.context_index)


def _refits(model: ContextMixture) -> bool:
    """Whether every component is exactly (to the bit) its estimator fitted on the mixture's counts."""
    counts = model.counts
    if counts is None or counts.vocab_size != model.V:
        return False
    counts = _with_neighbours(counts)
    for c in model.components:
        if c.kind != "model" or c.order > counts.order:
            return False
        try:
            again = _refit(c.estimator, _settings(c), counts, c.order, c.vocabulary)
        except NgramError:
            return False
        if not all(np.array_equal(a.keys, b.keys) and np.array_equal(a.logp, b.logp) and np.array_equal(a.bow, b.bow)
                   for a, b in zip(again.levels, c.levels)):
            return False
    return True


def _narrow(counts: np.ndarray) -> np.ndarray:
    """Integer counts in 32 bits when they fit (they are made 64-bit again on reading)."""
    if counts.dtype.kind == "i" and (len(counts) == 0 or (counts.min() >= 0 and counts.max() < 2**32)):
        return counts.astype(np.uint32)
    return counts


def _describe_name(model: NameMixture, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
    components, arrays = _describe_components(model, prefix)
    masses = model.forward_masses()
    for i, f in masses.items():
        arrays.update({f"{prefix}fm{i}_visits": f.visits, f"{prefix}fm{i}_heavy": f.heavy.astype(np.int64),
                       f"{prefix}fm{i}_heavylogt": f.heavy_logt})
    return {"weights": model.weights.tolist(), "reverse": model.reverse, "components": components,
            "forward_masses": sorted(masses)}, arrays


def _stored_once(arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The arrays without those equal to an earlier one (an order mixture's components store the
    same n-gram keys), and which stored array each dropped one is."""
    import hashlib

    kept, same, seen = {}, {}, {}
    for name, array in arrays.items():
        digest = (array.dtype.str, array.shape, hashlib.blake2b(np.ascontiguousarray(array).view(np.uint8), digest_size=16).digest())
        earlier = seen.get(digest)
        if earlier is not None and np.array_equal(kept[earlier], array):
            same[name] = earlier
            continue
        seen[digest] = name
        kept[name] = array
    return kept, same


def _describe_symbol(model: SymbolMixture, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
    components, arrays = _describe_components(model, prefix)
    return {"weights": model.weights.tolist(), "components": components}, arrays


_MIXTURE_KINDS = {"context", "name", "loglinear", "symbol-linear", "name-sequential"}  # kinds whose writer describes components
_WRITERS = {"model": _describe_backoff, "context": _describe_context, "name": _describe_name,
            "neural": neural_files.describe, "loglinear": _describe_symbol, "symbol-linear": _describe_symbol,
            "name-sequential": _describe_name}


def write_arrays(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Write named arrays (header first) to ``path`` atomically: models and mixtures alike.

    The arrays first pass every check ``load`` makes (verify before replace): a model that its
    own loader would refuse (counts so extreme that a distribution no longer sums to 1, say) is
    never saved, and any previous file at ``path`` stays.
    """
    try:
        _from_arrays(arrays, "the model")
    except NgramError as exc:
        raise NgramError(f"{path}: not saved, because it would not load back: {exc}; any previous file there is unchanged") from None
    write_atomically(path, lambda handle: np.savez(handle, **arrays), "the model",
                     replaces=(compact_format.is_model_file, "an ngram model file"))


def check_metadata(header: dict, label: str) -> None:
    """The estimator and corpus entries are objects (every caller reads them with .get), and an
    estimator's name is text (mixtures sort them)."""
    for part in ("estimator", "corpus"):
        if not isinstance(header.get(part) or {}, dict):
            raise NgramError(f"{label}: header entry {part!r} is not an object; the file is damaged")
    if not isinstance((header.get("estimator") or {}).get("name", ""), str):
        raise NgramError(f"{label}: the estimator's name is not text; the file is damaged")


def _check_members(archive: zipfile.ZipFile, label: str) -> dict[str, tuple[tuple, np.dtype, int]]:
    """Read each member's .npy header and check it against the member's real size: the shape,
    type and where the data starts in the member of each array, by name."""
    shapes = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise NgramError(f"{label}: unexpected member {info.filename!r}; not an ngram model file")
        if info.compress_type != zipfile.ZIP_STORED:
            raise NgramError(f"{label}: compressed member {info.filename!r}; not an ngram model file")
        with archive.open(info) as member:
            try:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
                else:
                    raise ValueError("unsupported .npy version")
                offset = member.tell()
            except ValueError as exc:
                raise NgramError(f"{label}: member {info.filename!r} is damaged ({exc})") from None
        if dtype.hasobject:
            raise NgramError(f"{label}: member {info.filename!r} holds Python objects; refused (model files never need pickle)")
        declared = math.prod(shape) * dtype.itemsize
        if declared != info.file_size - offset:
            raise NgramError(f"{label}: member {info.filename!r} declares {declared} bytes but holds {info.file_size - offset}; the file is damaged")
        shapes[info.filename[:-4]] = (shape, dtype, offset)
    return shapes


def load(path: str | os.PathLike) -> LanguageModel:
    """Read a model file, checking everything a damaged or hostile file could get wrong.

    The file is opened once: the member checks and the arrays read the same open file, so a
    model replaced (renamed over) while it is being read is read whole, old or new, never a mix.
    """
    label = str(path)
    p = Path(path)
    if not p.exists():
        raise NgramError(f"{label}: no such file")
    if p.is_dir():
        raise NgramError(f"{label}: is a directory, not a model file")
    try:
        # (opened without blocking: opening a FIFO for reading waits for a writer, forever if
        # none comes; the check below then refuses it. A regular file reads as ever.)
        handle = os.fdopen(os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb")
    except PermissionError:
        raise NgramError(f"{label}: permission denied") from None
    except OSError as exc:
        raise NgramError(f"{label}: cannot read ({exc.strerror or exc})") from None
    with handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            # A device or pipe (/dev/zero, a FIFO) has no size to check members against and
            # cannot be seeked; a model file is always a regular file.
            raise NgramError(f"{label}: not a regular file (a device or pipe); a model file is a regular file")
        if compact_format.is_compact(handle.read(len(compact_format.MAGIC))):
            model = compact_format.load_open(handle, label)  # memory-mapped; checks its own header and arrays
            check_metadata({"estimator": model.estimator, "corpus": model.corpus}, label)
            return model
        handle.seek(0)
        arrays = _read_archive(handle, info.st_size, label)
    return _from_arrays(arrays, label, owned=True)


MAX_MEMBERS = 10_000  # a model file's arrays: a few per order per component (a 16-component order-10 mixture has ~500)


def _declared_members(handle: BinaryIO, size: int) -> int | None:
    """The number of members a zip file's end record declares (its zip64 record if need be),
    read from the file's last bytes before the central directory is parsed; None if not found."""
    tail_size = min(size, 22 + 0xFFFF)
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or end + 22 > len(tail):
        return None
    count = int.from_bytes(tail[end + 10 : end + 12], "little")
    if count == 0xFFFF and end >= 20 and tail[end - 20 : end - 16] == b"PK\x06\x07":
        record = int.from_bytes(tail[end - 12 : end - 4], "little")
        if record + 40 <= size:
            handle.seek(record)
            zip64 = handle.read(40)
            if zip64[:4] == b"PK\x06\x06":
                count = int.from_bytes(zip64[32:40], "little")
    return count


def _read_archive(handle: BinaryIO, size: int, label: str) -> dict[str, np.ndarray]:
    """Every array of an open model file, after checking each member's declared size against
    the bytes present (in the member and in the file) before anything is allocated."""
    members = _declared_members(handle, size)
    if members is not None and members > MAX_MEMBERS:
        raise NgramError(f"{label}: declares {members:,} members, more than a model file holds ({MAX_MEMBERS:,}); "
                         "not an ngram model file")
    handle.seek(0)
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        raise NgramError(f"{label}: not an ngram model file (damaged or truncated, or another kind of file)") from None
    try:
        with archive:
            for info in archive.infolist():
                if info.header_offset + info.compress_size > size:
                    raise NgramError(f"{label}: member {info.filename!r} declares {info.compress_size} bytes but the file has "
                                     f"only {size}; the file is damaged")
            shapes = _check_members(archive, label)
            if "header" not in shapes:
                raise NgramError(f"{label}: no header; not an ngram model file")
            arrays, places = {}, _places_in_the_automaton(shapes)
            for name, (shape, dtype, offset) in shapes.items():
                if name in UNREAD:
                    arrays[name] = _Unread(handle, archive.getinfo(name + ".npy"), offset, shape, dtype, size, label)
                    continue
                with archive.open(name + ".npy") as member:
                    if name in places:
                        member.seek(offset)
                        arrays[name] = _read_into(member, places[name], shape[0])
                    else:
                        arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
            return arrays
    except NgramError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError, RuntimeError) as exc:
        raise NgramError(f"{label}: not a readable ngram model file ({type(exc).__name__})") from None


def _places_in_the_automaton(shapes: dict) -> dict[str, np.ndarray | None]:
    """For a file of one back-off model (its arrays unprefixed, every order's present, in the
    float type the model reads): where each order's probabilities and weights are read, as
    slices of one array laid out as the lean automaton's (``scoring.build_lean``: a slot for the
    empty context, then each order's n-grams; weights for the contexts, orders below the top),
    which it then takes over without a copy (word list: 8 MB of its load peak). The top order's
    weights map to None: read a piece at a time, and held only if one is not 0 (they are
    nobody's). Empty for any other file: its arrays are read as they are."""
    sizes = []
    while all(shapes.get(f"{kind}{len(sizes) + 1}", ((), None))[1] == np.float64 for kind in ("logp", "bow")):
        size = shapes[f"logp{len(sizes) + 1}"][0]
        if len(size) != 1 or shapes[f"bow{len(sizes) + 1}"][0] != size:
            return {}
        sizes.append(size[0])
    if not sizes or f"logp{len(sizes) + 1}" in shapes or f"bow{len(sizes) + 1}" in shapes:
        return {}
    start = np.cumsum([1] + sizes)
    logp, bow = np.empty(int(start[-1])), np.empty(int(start[-2]))
    logp[0], bow[0] = np.nan, 0.0  # (the empty context: no n-gram, and its weight is 1)
    places: dict[str, np.ndarray | None] = {f"bow{len(sizes)}": None}
    for n in range(1, len(sizes) + 1):
        places[f"logp{n}"] = logp[start[n - 1] : start[n]]
        if n < len(sizes):
            places[f"bow{n}"] = bow[start[n - 1] : start[n]]
    return places


def _read_into(member, out: np.ndarray | None, count: int) -> np.ndarray:
    """A member's ``count`` numbers (the member read past its .npy header) into ``out``, a piece
    at a time (the zip reader checks the checksum at the end); ``out`` None (float64 numbers):
    each piece looked at, and the numbers kept only from the first that is not all 0: all 0,
    they are ``untouched_zeros``, which cost no memory."""
    whole = out
    size = count * (8 if out is None else out.itemsize)
    done = 0
    while data := member.read(READ_PIECE):
        if whole is None and data.count(0) != len(data):
            whole = np.zeros(count)
        if whole is not None:
            if done + len(data) > size:
                break
            memoryview(whole).cast("B")[done : done + len(data)] = data
        done += len(data)
    if done != size:
        raise ValueError("a member holds fewer numbers than its header says")
    return untouched_zeros(count) if whole is None else whole


READ_PIECE = 1 << 18


def _read_at(fd: int, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes of ``fd`` from ``offset`` (Windows has no os.pread: a seek, then a read)."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)


UNREAD = ("train_names",)  # members read when first asked for, not at load (``_Unread``)


class _Unread:
    """An array of a model file left unread at load: the training-name fingerprints, which only
    novelty checks read (a word list's are 4 MB, as much as a third of what scoring keeps).
    Read when first asked for from the file as it was opened (a duplicate of its descriptor: a
    file renamed over meanwhile is still the one loaded), its checksum checked then, and closed.
    ``ndim`` and ``dtype`` are the array's, for the checks made at load."""

    def __init__(self, handle: BinaryIO, info: zipfile.ZipInfo, offset: int, shape: tuple, dtype: np.dtype,
                 size: int, label: str):
        handle.seek(info.header_offset)
        local = handle.read(30)  # the member's local header: its own name and extra field lengths
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            raise NgramError(f"{label}: member {info.filename!r} has no local header; the file is damaged")
        data = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
        self.ndim, self.dtype, self.shape, self.label, self.crc = len(shape), dtype, shape, label, info.CRC
        self.start = data + offset
        if self.start + math.prod(shape) * dtype.itemsize > size:
            raise NgramError(f"{label}: member {info.filename!r} runs past the end of the file; the file is damaged")
        handle.seek(data)
        self.head_crc = zlib.crc32(handle.read(offset))  # (the member's .npy header: part of its checksum)
        self.fd = os.dup(handle.fileno())
        self.close = weakref.finalize(self, os.close, self.fd)

    def __call__(self) -> np.ndarray:
        array = np.empty(self.shape, self.dtype)
        view, done = memoryview(array.reshape(-1)).cast("B"), 0
        try:
            while done < len(view):
                # (os.pread, not preadv: macOS has no preadv; a piece at a time, each copied once)
                piece = _read_at(self.fd, min(len(view) - done, READ_PIECE), self.start + done)
                if not piece:
                    break
                view[done : done + len(piece)] = piece
                done += len(piece)
        finally:
            self.close()
        if done < len(view) or zlib.crc32(view, self.head_crc) != self.crc:
            raise NgramError(f"{self.label}: the training-name fingerprints do not match the file's checksum "
                             "(damaged, or the file changed since it was loaded)")
        return array


def _from_arrays(arrays: dict[str, np.ndarray], label: str, owned: bool = False) -> LanguageModel:
    if arrays["header"].dtype != np.uint8 or arrays["header"].ndim != 1:
        raise NgramError(f"{label}: the header is not a byte array; the file is damaged")
    try:
        header = json.loads(arrays["header"].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # RecursionError: [[[[... nested too deep
        raise NgramError(f"{label}: header is not valid JSON; the file is damaged") from None
    kind = header.get("format") if isinstance(header, dict) else None
    if kind == MIXTURE_FORMAT:
        if header.get("version") not in MIXTURE_VERSIONS_READ:
            raise NgramError(f"{label}: mixture format version {header.get('version')!r} is not supported")
        description = header.get("model")
        arrays = _with_shared(arrays, header.get("same") or {}, label)
    elif kind == FORMAT:
        if header.get("version") != FORMAT_VERSION:
            raise NgramError(f"{label}: model format version {header.get('version')!r} is not supported (this ngram reads version {FORMAT_VERSION})")
        description = {**header, "type": "model"}
    else:
        raise NgramError(f"{label}: not an ngram model file (format {kind!r})")
    train_names = arrays.get("train_names")
    if train_names is not None and (train_names.ndim != 1 or train_names.dtype != np.uint64):
        raise NgramError(f"{label}: array train_names has the wrong shape or type; the file is damaged")
    if header.get("name_hash") != NAME_HASH:
        train_names = None  # fingerprints made with another hash would make novelty silently wrong
    elif isinstance(train_names, _Unread) and kind != FORMAT:
        train_names = train_names()  # (a mixture's components share them, as an array)
    return _build(description, arrays, "", _Reading(label, train_names, owned), 0)


def _with_shared(arrays: dict[str, np.ndarray], same, label: str) -> dict[str, np.ndarray]:
    """Every array by its name, those stored once under an earlier name included (one object in memory)."""
    if not isinstance(same, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in same.items()):
        raise NgramError(f"{label}: header entry 'same' is not a map of array names; the file is damaged")
    out = dict(arrays)
    for name, stored in same.items():
        if name in arrays or stored not in arrays or stored == "header":
            raise NgramError(f"{label}: array {name!r} is said to be {stored!r}, which the file does not hold; the file is damaged")
        out[name] = arrays[stored]
    return out


@dataclass
class _Reading:
    label: str  # the file, for messages
    train_names: "np.ndarray | _Unread | None"  # the file's training-name fingerprints, shared by every component
    owned: bool = False  # the arrays were read for this model alone (a file being loaded): they may be taken


MAX_NESTING = 4  # mixtures of mixtures: deeper than any tuning makes, shallow enough to refuse a hostile file


def _build(description, arrays: dict[str, np.ndarray], prefix: str, reading: _Reading, depth: int) -> LanguageModel:
    """The model a description (and the arrays under ``prefix``) stands for; recursive."""
    label = reading.label
    if not isinstance(description, dict) or depth > MAX_NESTING:
        raise NgramError(f"{label}: mixture header is damaged")
    check_metadata(description, label)
    kind = description.get("type")
    if not isinstance(kind, str) or kind not in _READERS:
        raise NgramError(f"{label}: unknown model type {kind!r}; the file is damaged")
    return _READERS[kind](description, arrays, prefix, reading, depth)


def _read_components(description: dict, arrays, prefix: str, reading: _Reading, depth: int) -> list[LanguageModel]:
    components = description.get("components")
    if not isinstance(components, list) or not components:
        raise NgramError(f"{reading.label}: mixture header is damaged (no components)")
    return [_build(c, arrays, f"{prefix}c{i}_", reading, depth + 1) for i, c in enumerate(components)]


def _mixture(make, label: str):
    """Build a mixture from header values, a damaged value giving a one-line error."""
    try:
        return make()
    except NgramError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # OverflowError: int(inf) follower bins
        raise NgramError(f"{label}: mixture header is damaged ({type(exc).__name__})") from None


def _read_context(description: dict, arrays, prefix: str, reading: _Reading, depth: int) -> ContextMixture:
    check_follower_bins(description.get("follower_bins"), reading.label)
    counts = None
    if "counts" in description:
        counts = _read_counts(description, arrays, prefix, reading.label)
        components = _refitted_components(description, counts, reading)
        counts.suffix_index = counts.context_index = []  # (found while checking, for the fits; a later use finds them again)
    else:
        components = _read_components(description, arrays, prefix, reading, depth)
    model = _mixture(lambda: ContextMixture(components, description["weights"], description.get("estimator"),
                                            description.get("corpus"), reading.train_names,
                                            description.get("follower_bins"), counts), reading.label)
    _read_bounds(model, description, arrays, prefix, reading.label)
    return model


def _read_counts(description: dict, arrays, prefix: str, label: str):
    """An order mixture's n-gram counts, checked as a counting would have made them: per order,
    keys sorted, distinct and in range, positive counts, and every n-gram's prefix and suffix
    counted one order below."""
    from ngram.core.counting import Counts

    spec, components = description.get("counts"), description.get("components")
    if not isinstance(spec, dict) or type(spec.get("order")) is not int or not isinstance(components, list) or not components:
        raise NgramError(f"{label}: the order mixture's counts are described wrongly; the file is damaged")
    first = components[0] if isinstance(components[0], dict) else {}
    try:
        V = Vocabulary.from_json(first["vocabulary"]).size
    except (KeyError, TypeError, ValueError, NgramError):
        raise NgramError(f"{label}: header has a bad vocabulary; the file is damaged") from None
    order = spec["order"]
    if not 1 <= order <= max_order_for(V):
        raise NgramError(f"{label}: the counts' order {order} is not possible for its vocabulary; the file is damaged")
    keys, counts, suffix_index, context_index = [], [], [None], [None]
    for n in range(1, order + 1):
        k, c = arrays.get(f"{prefix}nkeys{n}"), arrays.get(f"{prefix}ncounts{n}")
        if k is None or c is None or k.dtype != np.int64 or c.ndim != 1 or k.ndim != 1 or len(k) != len(c) \
                or c.dtype not in (np.dtype(np.uint32), np.dtype(np.int64), np.dtype(np.float64)):
            raise NgramError(f"{label}: order-{n} counts are missing or of the wrong shape or type; the file is damaged")
        # (uint32 counts stay so: every estimator reads them through float arithmetic or int64 sums)
        bad = len(k) and (k[0] < 0 or k[-1] >= V**n or np.any(k[1:] <= k[:-1]))
        if bad or not (np.isfinite(c).all() and (c > 0).all()):
            raise NgramError(f"{label}: order-{n} counts are out of range, unsorted or not positive; the file is damaged")
        if n > 1:
            below = keys[-1]
            # (the places found here are kept: the fits read every n-gram's suffix and context place)
            for part, found in ((k % V ** (n - 1), suffix_index), (k // V, context_index)):
                at = np.minimum(np.searchsorted(below, part), max(len(below) - 1, 0))
                if len(k) and (len(below) == 0 or not np.array_equal(below[at], part)):
                    raise NgramError(f"{label}: an order-{n} n-gram's prefix or suffix is not counted; the file is damaged")
                found.append(at.astype(np.int32) if len(below) < 2**31 else at)
        keys.append(k)
        counts.append(c)
    return Counts(order, V, keys, counts, suffix_index, context_index=context_index)


def _order_of(c: dict) -> int:
    order = c.get("order")
    return order if type(order) is int else 0  # (a bad order is refused where it is read)


def _refitted_components(description: dict, counts, reading: _Reading) -> list[LanguageModel]:
    """Each component fitted again on the counts with its stored settings (the same floats as
    when it was saved: the writer checked); a fit that does not prove its own rows sum to 1 as it
    makes them is then checked like any model read from a file."""
    label = reading.label
    counts = _with_neighbours(counts)
    settings = description["components"]
    for c in settings:
        if not isinstance(c, dict) or c.get("type") != "model" or "refit" not in c:
            raise NgramError(f"{label}: mixture header is damaged (a component without its settings)")
        check_metadata(c, label)
    out, checked = [None] * len(settings), [None] * len(settings)
    shared = [] if on_demand.exact_sums(counts) else None
    # Highest order first: the shared arrays of orders above the next component's are dropped
    # as soon as no component left reads them, and the shared arrays of every order
    # are never held beside all the fitted tables (the peak of loading the English default
    # model: 66 -> 51 MB traced).
    fit_order = sorted(range(len(settings)), key=lambda i: -_order_of(settings[i]))
    for step, i in enumerate(fit_order):
        c = settings[i]
        try:
            vocabulary = Vocabulary.from_json(c["vocabulary"])
            order = c["order"]
            if type(order) is not int or not 1 <= order <= counts.order or vocabulary.size != counts.vocab_size:
                raise ValueError
        except (KeyError, TypeError, ValueError, NgramError):
            raise NgramError(f"{label}: header has a bad vocabulary or order; the file is damaged") from None
        proved = []
        try:
            model = _refit(c.get("estimator") or {}, c["refit"], counts, order, vocabulary, proved, shared)
        except NgramError as exc:
            raise NgramError(f"{label}: a component cannot be fitted again from its counts ({exc}); the file is damaged") from None
        except (ValueError, TypeError, ArithmeticError, IndexError):
            raise NgramError(f"{label}: a component cannot be fitted again from its counts; the file is damaged") from None
        model.estimator, model.corpus, model.train_names = c.get("estimator") or {}, c.get("corpus") or {}, reading.train_names
        out[i], checked[i] = model, proved[0]
        if step + 1 < len(fit_order):
            counts.forget_from(_order_of(settings[fit_order[step + 1]]) + 1)
    counts.derived = None  # what the fits shared is not needed after them
    if shared:
        shared[0].settle([m for m in out if on_demand.made_here(m)])
    for model, proved in zip(out, checked):
        if not proved:  # (an interpolated fit proves its rows sum to 1 as it makes them, from counts checked above)
            check_distributions(model, label)
    return out


def _read_name(description: dict, arrays, prefix: str, reading: _Reading, depth: int) -> NameMixture:
    components = _read_components(description, arrays, prefix, reading, depth)
    masses = _read_forward_masses(description, arrays, prefix, reading.label, len(components))
    model = _mixture(lambda: NameMixture(components, description["reverse"], description["weights"],
                                         description.get("estimator"), description.get("corpus"), reading.train_names,
                                         masses), reading.label)
    tables = model.suffix_tables()
    if set(masses) - set(tables):
        raise NgramError(f"{reading.label}: forward masses are stored for a left-to-right component; the file is damaged")
    for i in masses:
        tables[i].check(reading.label)
    return model


def _read_forward_masses(description: dict, arrays, prefix: str, label: str, n: int) -> dict:
    from ngram.lm.mixtures.name_rows import ForwardMasses

    which = description.get("forward_masses") or []
    if not isinstance(which, list) or not all(type(i) is int and 0 <= i < n for i in which):
        raise NgramError(f"{label}: header entry 'forward_masses' is damaged")
    out = {}
    for i in which:
        parts = []
        for part, dtype in (("visits", np.float64), ("heavy", np.int64), ("heavylogt", np.float64)):
            array = arrays.get(f"{prefix}fm{i}_{part}")
            if array is None or array.dtype != dtype:
                raise NgramError(f"{label}: array {prefix}fm{i}_{part} is missing or of the wrong type; the file is damaged")
            parts.append(array)
        out[i] = ForwardMasses(*parts)
    return out


def _read_backoff(description: dict, arrays, prefix: str, reading: _Reading, depth: int) -> Model:
    label = reading.label
    try:
        vocabulary = Vocabulary.from_json(description["vocabulary"])
        order = description["order"]
        if type(order) is not int or order < 1:  # not isinstance: true is an int to Python
            raise ValueError
    except (KeyError, TypeError, ValueError, NgramError):
        raise NgramError(f"{label}: header has a bad vocabulary or order; the file is damaged") from None
    V = vocabulary.size
    if order > max_order_for(V):  # before any V ** order: a hostile order must not hang the loader
        raise NgramError(f"{label}: order {order} is too high for its vocabulary; the file is damaged")
    levels = []
    for n in range(1, order + 1):
        parts = {}
        for kind, dtype in _ARRAY_DTYPES.items():
            name = f"{prefix}{kind}{n}"
            if name not in arrays:
                raise NgramError(f"{label}: array {name} is missing; the file is damaged")
            # a file of one back-off model being loaded: taken out of the file's arrays, so the level
            # holds the only reference and the lean automaton the load check builds can take each
            # level's floats over and free them (word-list order-6 model: load peak 90 -> 80 MB);
            # a mixture's components may read an array under the same name (older files)
            array = arrays.pop(name) if depth == 0 and reading.owned else arrays[name]
            if array.ndim != 1 or array.dtype != dtype:
                raise NgramError(f"{label}: array {name} has the wrong shape or type; the file is damaged")
            parts[kind] = array
        keys, logp, bow = parts["keys"], parts["logp"], parts["bow"]
        if not (len(keys) == len(logp) == len(bow)):
            raise NgramError(f"{label}: order-{n} arrays have different lengths; the file is damaged")
        if len(keys) and (keys[0] < 0 or keys[-1] >= V**n or np.any(keys[1:] <= keys[:-1])):
            raise NgramError(f"{label}: order-{n} n-gram keys are out of range or not sorted; the file is damaged")
        if np.isnan(logp).any() or (logp > 1e-9).any() or np.isnan(bow).any() or np.isposinf(bow).any():
            raise NgramError(f"{label}: order-{n} probabilities are not valid (NaN, or above 1); the file is damaged")
        levels.append(Level(keys, logp, bow))
    del parts, keys, logp, bow, array  # (only the levels and the file's arrays hold them now)
    if not np.array_equal(levels[0].keys, np.arange(V)):
        raise NgramError(f"{label}: the unigram level must hold every symbol; the file is damaged")
    unread = isinstance(reading.train_names, _Unread)
    # (a file's own arrays: its levels' keys may be given up to the automaton the check makes)
    model = (FileModel if depth == 0 and reading.owned else Model)(
        vocabulary=vocabulary,
        order=order,
        levels=levels,
        estimator=description.get("estimator") or {},
        corpus=description.get("corpus") or {},
        train_names=None if unread else reading.train_names,
    )
    if unread:
        model.__dict__["_read_names"] = reading.train_names
    check_distributions(model, label)  # a file can be well formed and still not sum to 1
    return model


def _read_neural(description: dict, arrays, prefix: str, reading: _Reading, depth: int):
    return neural_files.read(description, arrays, prefix, reading.label, reading.train_names)


def _read_symbol(description: dict, arrays, prefix: str, reading: _Reading, depth: int) -> SymbolMixture:
    components = _read_components(description, arrays, prefix, reading, depth)
    make = LogLinearMixture if description["type"] == "loglinear" else LinearSymbolMixture
    return _mixture(lambda: make(components, description["weights"], description.get("estimator"),
                                 description.get("corpus"), reading.train_names), reading.label)


def _read_sequential_name(description: dict, arrays, prefix: str, reading: _Reading, depth: int) -> SequentialNameMixture:
    components = _read_components(description, arrays, prefix, reading, depth)
    return _mixture(lambda: SequentialNameMixture(components, description["reverse"], description["weights"],
                                                  description.get("estimator"), description.get("corpus"),
                                                  reading.train_names), reading.label)


_READERS = {"model": _read_backoff, "context": _read_context, "name": _read_name, "neural": _read_neural,
            "loglinear": _read_symbol, "symbol-linear": _read_symbol, "name-sequential": _read_sequential_name}


# ----- what a path holds ----------------------------------------------------------------------
def is_model_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a model file of either form (by its first bytes), not, say, a names
    file: standard input ("-") and unreadable paths are not."""
    if str(path) == "-":
        return False
    try:
        with open(path, "rb") as handle:
            return compact_format.is_model_file(handle.read(8))
    except OSError:
        return False


def file_form(model: LanguageModel, path: str | os.PathLike) -> dict:
    """How the model file at ``path`` stores ``model``: the ordinary archive, or the compact
    memory-mapped form with its format version, quantisation and the width in bits of each field."""
    compact = model.compact if LEVELS in model.capabilities else None  # (only back-off tables are stored compact)
    if not compact:
        return {"form": "ordinary", "file_bytes": Path(path).stat().st_size}
    quant = compact["quantisation"]
    return {"form": "compact", "version": compact["version"], "file_bytes": compact["bytes"],
            "quantisation_bits": {"logp": quant.get("logp_bits"), "bow": quant.get("bow_bits")},
            "field_width_bits": compact["widths"]}
