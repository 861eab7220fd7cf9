"""Files a command writes: all checked before any is written, one flag to replace them, one-line errors.

Measured before this existed: `mpo eval --out X.md` overwrote an existing X.json (only X.md was checked),
`mpo plot` overwrote existing `*_loss_shape.png`, and `--out` on a read-only directory or on an existing
file ended in a traceback. Every writing command now lists its outputs up front and calls `check_files`
(or `check_dir` for an output directory), which refuses with one message naming every existing output
unless `--force` (alias `--overwrite`, the older name some commands had) is given, and refuses a parent that
is a file, is read-only or has no free space before any work starts.
"""
from __future__ import annotations

import argparse
import errno
import os
from pathlib import Path
from typing import Iterable

FORCE_HELP = "replace existing outputs (alias --overwrite)"


class OutputError(ValueError):
    """An output path cannot be written; the message names it and why."""


def add_force_flag(parser: argparse.ArgumentParser, help: str = FORCE_HELP) -> None:
    """The one flag name across commands; `--overwrite` stays as an alias for the commands that had it."""
    parser.add_argument("--force", "--overwrite", dest="force", action="store_true", help=help)


def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_parent(path: Path, flag: str = "--out") -> None:
    """`path`'s directory can be made and written: its nearest existing ancestor is a writable directory on a
    file system with free space."""
    parent = _existing_ancestor(Path(path).absolute().parent)
    if not parent.is_dir():
        raise OutputError(f"{flag}: {parent} is not a directory, so {path} cannot be written")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{flag}: {parent} is not writable (read-only file system or no permission)")
    try:
        st = os.statvfs(parent)
    except OSError:
        return
    if st.f_bavail == 0 and st.f_blocks > 0:
        raise OutputError(f"{flag}: no space left on the device of {parent}")


def check_files(paths: Iterable[Path | str], force: bool, flag: str = "--out") -> list[Path]:
    """Refuse (before anything is written) outputs that exist without `force`, that are directories, or whose
    directory cannot be written. Returns the paths."""
    paths = [Path(p) for p in paths]
    for p in paths:
        if p.is_dir():
            raise OutputError(f"{flag}: {p} is a directory; expected a file path")
        check_parent(p, flag)
        if p.exists() and force and not os.access(p, os.W_OK):
            raise OutputError(f"{flag}: {p} is not writable")
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise FileExistsError(f"{flag}: {', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                              "pass --force to overwrite")
    return paths


def check_dir(path: Path | str, force: bool, flag: str = "--out", contents: Iterable[str] = ()) -> Path:
    """An output directory: not a file, and empty unless `force`; with `contents` (the file names the command
    writes into it) only those are refused, so a re-run into the same directory names what it would replace."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{flag}: {path} exists and is not a directory")
    check_parent(path / "x", flag)
    if path.exists() and not force:
        names = list(contents)
        clash = [n for n in names if (path / n).exists()] if names else [p.name for p in path.iterdir()]
        if clash:
            raise FileExistsError(f"{flag}: {path} already exists and is not empty ({', '.join(sorted(clash)[:5])}"
                                  f"{', ...' if len(clash) > 5 else ''}); pass --force to overwrite")
    return path


def write_text(path: Path | str, text: str) -> Path:
    """path.write_text(text), with the path in the error: a full disk fails at the final flush with an OSError
    that names no file."""
    path = Path(path)
    try:
        path.write_text(text)
    except OSError as err:
        if err.filename is None:
            raise OSError(err.errno, err.strerror, str(path)) from None
        raise
    return path


def describe_os_error(err: OSError) -> str:
    """One line for a file-system error: the path and the system's reason (read-only, no space, ...)."""
    if err.filename is not None and err.strerror:
        where = f"{err.filename} -> {err.filename2}" if err.filename2 else str(err.filename)
        return f"cannot write {where}: {err.strerror}" if err.errno in _WRITE_ERRNOS else f"{where}: {err.strerror}"
    return str(err)


_WRITE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT}
