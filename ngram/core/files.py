"""Writing files safely: every output (model, ARPA file, report, picture, names) is written to a
temporary file beside its target and renamed over it, so an interrupted write leaves any previous
file as it was. File writing lives in core so that writing a report or a picture does not import
the model-file format.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Callable

from ngram.core.errors import NgramError


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


def _file_mode(path: Path) -> int:
    """The previous file's permissions, or what the umask gives a new file."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
