"""Find note files under a folder and open them safely: regular files only, no symlink leaves the folder.

Notes are untrusted (a cloned repo, a synced folder, an unzipped archive), so discovery never opens
anything before `lstat`/`stat` says it is a regular file, follows a symlink only when its target stays
inside the folder, and reads with O_NONBLOCK plus an `fstat` check, so a FIFO swapped in later cannot hang.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from ingest.loaders import SUPPORTED_SUFFIXES

SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})
_KIND_NAMES = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"))


class NotRegularFileError(OSError):
    """The path is not (or no longer) a regular file; the reason says what it is."""


def _hidden(name: str) -> bool:
    """Dot-files and dot-folders (.git, .obsidian, .ipynb_checkpoints...)."""
    return name.startswith(".")


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    return next((name for test, name in _KIND_NAMES if test(mode)), "not a regular file")


def skip_reason(path: Path, root: Path) -> str | None:
    """Why `path` must not be read as a note of `root` (resolved), or None for a regular file inside it."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"cannot stat: {exc.strerror or exc}"
    if stat.S_ISLNK(st.st_mode):
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return "broken symlink"
        if target != root and root not in target.parents:
            return "symlink to a target outside the notes folder (not followed)"
        st = os.stat(target)
        if stat.S_ISDIR(st.st_mode):
            return "symlink to a folder (not followed; its notes are read where they live)"
    if not stat.S_ISREG(st.st_mode):
        return f"{_kind(st.st_mode)}, not a regular file"
    return None


def scan_notes(path: Path, include_unsupported: bool = False,
               within: Path | None = None) -> Iterator[tuple[Path, str | None]]:
    """(path, None) for each readable note under `path` in sorted order, (path, reason) for entries refused.

    `path` may be a single file. Symlinks must stay inside `within` (default: `path` itself, or a file's
    folder). Hidden files and folders are left out silently; unsupported suffixes too unless include_unsupported.
    """
    path = Path(path)
    if not path.is_dir():
        if include_unsupported or path.suffix.lower() in SUPPORTED_SUFFIXES:
            yield path, skip_reason(path, Path(within or path.parent).resolve())
        return
    real_root = Path(within or path).resolve()
    found = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not _hidden(d) and d not in SKIPPED_DIRS)
        for name in dirnames:
            if os.path.islink(os.path.join(dirpath, name)):
                found.append(Path(dirpath) / name)
        for name in filenames:
            file = Path(dirpath) / name
            if not _hidden(name) and (include_unsupported or file.suffix.lower() in SUPPORTED_SUFFIXES):
                found.append(file)
    for file in sorted(found):
        yield file, skip_reason(file, real_root)


def open_regular(path: Path, max_bytes: int) -> int:
    """A read-only descriptor of a regular file of at most max_bytes; never blocks on a FIFO.

    Raises NotRegularFileError (what the path is, or that it is too large) or OSError.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(f"{_kind(st.st_mode)}, not a regular file")
        if st.st_size > max_bytes:
            raise NotRegularFileError(too_large(st.st_size, max_bytes))
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: Path, max_bytes: int) -> bytes:
    """A regular file's bytes (open_regular's checks; a file that grows past max_bytes while read too)."""
    with os.fdopen(open_regular(path, max_bytes), "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise NotRegularFileError(too_large(len(data), max_bytes))
    return data


def too_large(size: int, max_bytes: int) -> str:
    """The reason given for a file over the size cap."""
    return f"file is {size:,} bytes, over the {max_bytes:,}-byte limit (ingest.max_file_bytes)"
