"""Where the tiled text goes: output paths that cannot hurt the input, files written whole
(through a temporary file and a rename) with the mode a plain ``open()`` would give them."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from tiler.errors import TilerError

# The mode a new file is created with before the umask applies, as by open(path, "w").
NEW_FILE_MODE = 0o666
# Tries at a free temporary name beside the output (random names: a clash is all but
# impossible, so a few tries are only there for the pathological case).
TEMPORARY_NAME_TRIES = 100


def default_output_path(path: str | Path) -> Path:
    """Return ``kernel.tiled.c`` for ``kernel.c``."""
    source = Path(path)
    return source.with_name(f"{source.stem}.tiled{source.suffix or '.c'}")


def same_file(first: str | Path, second: str | Path) -> bool:
    """Return whether two paths name the same file (also through a symbolic or hard link);
    False when either does not exist."""
    try:
        a, b = os.stat(first), os.stat(second)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def check_output_path(path: str | Path) -> None:
    """Raise ``TilerError`` (located in ``path``) unless a file can be written at ``path``:
    its folder must exist and the path must not name a folder."""
    target = Path(path)
    if target.is_dir():
        raise TilerError("cannot write the output: it is a folder",
                         filename=str(target))
    folder = target.parent
    if not folder.is_dir():
        raise TilerError(f"cannot write the output: there is no folder '{folder}'",
                         filename=str(target))


def _existing_mode(path: Path) -> int | None:
    """Return the permission bits of the regular file at ``path`` (None: there is none)."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return stat.S_IMODE(status.st_mode) if stat.S_ISREG(status.st_mode) else None


def _open_temporary(folder: Path, name: str) -> tuple[int, Path]:
    """Return a new file beside the output, open for writing, created with
    ``NEW_FILE_MODE`` under the umask, and its path."""
    for _ in range(TEMPORARY_NAME_TRIES):
        temporary = folder / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE), \
                temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in '{folder}'")


def write_atomically(path: str | Path, text: str, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: a reader never sees
    half a file, and a failure leaves no file behind. The file gets ``mode`` if given, else
    the mode of the file it replaces, else the mode a new file gets under the umask (what
    ``open(path, "w")`` would do). Raises ``TilerError`` (located in ``path``) when it
    cannot be written."""
    target = Path(path)
    check_output_path(target)
    keep = mode if mode is not None else _existing_mode(target)
    try:
        handle, temporary = _open_temporary(target.parent, target.name)
    except OSError as error:
        raise TilerError(f"cannot write the output: {error.strerror or error}",
                         filename=str(target)) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            if keep is not None:
                os.fchmod(stream.fileno(), keep)
            stream.write(text.encode("utf-8", errors="surrogateescape"))
        os.replace(temporary, target)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise TilerError(f"cannot write the output: {error.strerror or error}",
                             filename=str(target)) from None
        raise


def write_in_place(path: str | Path, text: str) -> None:
    """Write ``text`` over the file at ``path`` (the file a symbolic link names), atomically,
    keeping its mode. Another hard link to the file keeps the old text: the rename gives the
    path a new file."""
    target = Path(os.path.realpath(path))
    write_atomically(target, text, _existing_mode(target))
