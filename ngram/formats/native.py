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
import re
import stat
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from ngram.formats import compact as compact_format
from ngram.core.counting import max_order_for
from ngram.core.errors import NgramError
from ngram.lm.mixtures.models import ContextMixture, NameMixture
from ngram.lm.mixtures.loglinear import LinearSymbolMixture, LogLinearMixture, SymbolMixture
from ngram.lm.mixtures.wholename import SequentialNameMixture
from ngram.lm.neural import files as neural_files
from ngram.lm.backoff.model import NAME_HASH, Level, Model
from ngram.lm.protocol import LanguageModel
from ngram.formats.validate import check_distributions, check_follower_bins
from ngram.core.vocabulary import Vocabulary

FORMAT = "ngram-model"  # a back-off model: its description is the header, its arrays unprefixed
FORMAT_VERSION = 1
MIXTURE_FORMAT = "ngram-mixture"  # a mixture: the header's "model" is a tree of descriptions
MIXTURE_FORMAT_VERSION = 1
_ARRAY_DTYPES = {"keys": np.int64, "logp": np.float64, "bow": np.float64}


def save(model: LanguageModel, path: str | os.PathLike, compact: bool = False,
         logp_bits: int | None = None, bow_bits: int | None = None) -> None:
    """Write ``model`` (any kind) to ``path`` atomically. ``compact`` (back-off models only)
    writes the memory-mapped compact form instead (``ngram.formats.compact``), its probabilities and
    back-off weights optionally quantised to ``logp_bits``/``bow_bits`` (8 or 16)."""
    if compact or logp_bits is not None or bow_bits is not None:
        data = compact_format.to_bytes(model, logp_bits, bow_bits)  # checked by reading it back
        write_atomically(path, lambda handle: handle.write(data), "the model",
                         replaces=(compact_format.is_model_file, "an ngram model file"))
        return
    write_arrays(to_arrays(model), Path(path))


def to_arrays(model: LanguageModel) -> dict[str, np.ndarray]:
    """Everything a model file holds, header first. A back-off model's file is its description
    at the top (format ``ngram-model``); a mixture's file wraps its description tree (format
    ``ngram-mixture``), whose leaves are described the same way, their arrays under a prefix."""
    description, arrays = _describe(model, "")
    if description["type"] != "model":  # mixtures and other kinds (neural): the header holds the tree
        header = {"format": MIXTURE_FORMAT, "version": MIXTURE_FORMAT_VERSION, "model": description}
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
    try:
        write = _WRITERS[model.kind]
    except (AttributeError, KeyError):
        raise NgramError(f"cannot save a {type(model).__name__}: no model file format for its kind") from None
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
    components, arrays = _describe_components(model, prefix)
    return {"weights": model.weights.tolist(), "follower_bins": model.follower_bins, "components": components}, arrays


def _describe_name(model: NameMixture, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
    components, arrays = _describe_components(model, prefix)
    return {"weights": model.weights.tolist(), "reverse": model.reverse, "components": components}, arrays


def _describe_symbol(model: SymbolMixture, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
    components, arrays = _describe_components(model, prefix)
    return {"weights": model.weights.tolist(), "components": components}, arrays


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


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], object], what: str,
                     replaces: tuple[Callable[[bytes], bool], str] | None = None) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it over ``path``.

    An interrupted or failed write leaves any previous file at ``path`` as it was. ``what``
    names the file in messages ("the model", "the ARPA file"). ``replaces`` (a test and a name)
    tells from the first 64 KiB of an existing non-empty file whether it is one of ours, so a
    slip such as ``ngram train names.txt -o names.txt`` cannot overwrite the training names.
    """
    path = label = Path(path)
    if path.is_symlink():  # replace the file the link points to, and keep the link
        path = Path(os.path.realpath(path))
    if path.exists() and not path.is_file():
        # os.replace would swap a device (/dev/stdout, /dev/null) or pipe for a regular file.
        kind = "a folder" if path.is_dir() else "not a regular file"
        raise NgramError(f"{label}: is {kind}; give a file name for {what}")
    if replaces is not None and path.is_file() and path.stat().st_size:
        try:
            with open(path, "rb") as existing:
                head = existing.read(1 << 16)
        except OSError:
            head = None  # unreadable: the write below reports the real problem
        looks_right, kind = replaces
        if head is not None and not looks_right(head):
            raise NgramError(f"{label}: exists and is not {kind}; refusing to replace it (remove it or choose another name)")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise NgramError(f"{label}: folder {folder} does not exist")
    remove_stale_temporaries(folder, target=path.name)
    try:
        # The writer's pid in the name lets a later save tell a leftover of a killed writer.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TEMP_SUFFIX, dir=folder)
    except PermissionError:
        raise NgramError(f"{label}: cannot write in folder {folder} (permission denied)") from None
    except OSError as exc:
        raise NgramError(f"{label}: cannot write in folder {folder} ({exc.strerror or exc})") from None
    try:
        os.chmod(fd, _file_mode(path))  # mkstemp makes 0600; give the file the mode a plain write would
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise NgramError(f"{label}: could not save {what} ({exc.strerror or exc}); any previous file there is unchanged") from None
        raise


TEMP_SUFFIX = ".tmp"
# .NAME.PID.XXXXXXXX.tmp: what write_atomically names its temporary files (mkstemp's 8 random characters).
_TEMPORARY = re.compile(r"^\..+\.(?P<pid>[0-9]+)\.[a-z0-9_]{8}\.tmp$")
# .NAME.XXXXXXXX.tmp: what versions before the pid named them; a file of that shape is taken as
# ours only when NAME is the file being saved or a file of the folder (an output we wrote).
_OLD_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")
STALE_DEAD_SECONDS = 60  # a dead writer's file untouched this long is left over
STALE_SECONDS = 3600  # any writer's: a live pid may be another process that reused the number


def remove_stale_temporaries(folder: Path, now: float | None = None, target: str | None = None) -> list[Path]:
    """Remove the temporary files of ours in ``folder`` that saves killed mid-write (SIGKILL,
    power loss) left behind; return them. Only names of our pattern (``.NAME.PID.XXXXXXXX.tmp``)
    and only stale ones: untouched for a minute with their writer's process gone, or untouched
    for an hour whatever the pid says. Older versions' ``.NAME.XXXXXXXX.tmp`` (no pid) go when
    untouched for an hour and NAME is ``target`` (the file being saved) or a file in the folder.
    Failing to remove one is never an error."""
    removed = []
    now = time.time() if now is None else now
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    names = {entry.name for entry in entries}
    if target is not None:
        names.add(target)
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        old = None if match is not None else _OLD_TEMPORARY.match(entry.name)
        if match is None and (old is None or old["name"] not in names):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode):
                continue
            age = now - info.st_mtime
            if match is None:
                stale = age > STALE_SECONDS
            else:
                stale = age > STALE_SECONDS or (age > STALE_DEAD_SECONDS and not _alive(int(match["pid"])))
            if stale:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _alive(pid: int) -> bool:
    if pid <= 0 or pid > 2**22:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: someone else's live process
        return True
    return True


def check_metadata(header: dict, label: str) -> None:
    """The estimator and corpus entries are objects (every caller reads them with .get), and an
    estimator's name is text (mixtures sort them)."""
    for part in ("estimator", "corpus"):
        if not isinstance(header.get(part) or {}, dict):
            raise NgramError(f"{label}: header entry {part!r} is not an object; the file is damaged")
    if not isinstance((header.get("estimator") or {}).get("name", ""), str):
        raise NgramError(f"{label}: the estimator's name is not text; the file is damaged")


def _file_mode(path: Path) -> int:
    """The previous file's permissions, or what the umask gives a new file."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _check_members(archive: zipfile.ZipFile, label: str) -> dict[str, tuple[tuple, np.dtype]]:
    """Read each member's .npy header and check it against the member's real size."""
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
        shapes[info.filename[:-4]] = (shape, dtype)
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
        handle = open(p, "rb")
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
    return _from_arrays(arrays, label)


def _read_archive(handle: BinaryIO, size: int, label: str) -> dict[str, np.ndarray]:
    """Every array of an open model file, after checking each member's declared size against
    the bytes present (in the member and in the file) before anything is allocated."""
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
            arrays = {}
            for name in shapes:
                with archive.open(name + ".npy") as member:
                    arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
            return arrays
    except NgramError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError, RuntimeError) as exc:
        raise NgramError(f"{label}: not a readable ngram model file ({type(exc).__name__})") from None


def _from_arrays(arrays: dict[str, np.ndarray], label: str) -> LanguageModel:
    if arrays["header"].dtype != np.uint8 or arrays["header"].ndim != 1:
        raise NgramError(f"{label}: the header is not a byte array; the file is damaged")
    try:
        header = json.loads(arrays["header"].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # RecursionError: [[[[... nested too deep
        raise NgramError(f"{label}: header is not valid JSON; the file is damaged") from None
    kind = header.get("format") if isinstance(header, dict) else None
    if kind == MIXTURE_FORMAT:
        if header.get("version") != MIXTURE_FORMAT_VERSION:
            raise NgramError(f"{label}: mixture format version {header.get('version')!r} is not supported")
        description = header.get("model")
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
    return _build(description, arrays, "", _Reading(label, train_names), 0)


@dataclass
class _Reading:
    label: str  # the file, for messages
    train_names: np.ndarray | None  # the file's training-name fingerprints, shared by every component


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
    components = _read_components(description, arrays, prefix, reading, depth)
    return _mixture(lambda: ContextMixture(components, description["weights"], description.get("estimator"),
                                           description.get("corpus"), reading.train_names,
                                           description.get("follower_bins")), reading.label)


def _read_name(description: dict, arrays, prefix: str, reading: _Reading, depth: int) -> NameMixture:
    components = _read_components(description, arrays, prefix, reading, depth)
    return _mixture(lambda: NameMixture(components, description["reverse"], description["weights"],
                                        description.get("estimator"), description.get("corpus"), reading.train_names),
                    reading.label)


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
            array = arrays[name]
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
    if not np.array_equal(levels[0].keys, np.arange(V)):
        raise NgramError(f"{label}: the unigram level must hold every symbol; the file is damaged")
    model = Model(
        vocabulary=vocabulary,
        order=order,
        levels=levels,
        estimator=description.get("estimator") or {},
        corpus=description.get("corpus") or {},
        train_names=reading.train_names,
    )
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
