"""On-disk layout of an index: version folders, the CURRENT pointer swapped atomically, and the ingest lock.

index_dir/CURRENT       name of the live version folder (replaced with os.replace)
index_dir/v-<id>/       store.sqlite + one vectors file per named dense set (vectors.faiss for the default set,
                        vectors-<name>.faiss for others; hnsw[-<name>].faiss beside each above the threshold)
index_dir/tmp-<id>/     a version being built; never read; removed on the next locked open
index_dir/LOCK          flock held by the one ingest writing

The index holds the full text of private notes: folders are created 0700 and files 0600 whatever the umask
(an existing index folder of ours that is more open is tightened).
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import stat
import time
import uuid
from pathlib import Path

from rag.core.errors import ConfigError, IndexBusyError

POINTER = "CURRENT"
LOCK_FILE = "LOCK"
DB_FILE = "store.sqlite"
VECTORS_FILE = "vectors.faiss"
HNSW_FILE = "hnsw.faiss"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def _tighten(path: Path | int, mode: int) -> None:
    """Best effort: drop permission bits beyond `mode` from a folder or file (path or descriptor) we own."""
    try:
        st = os.stat(path)
        if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & ~mode:
            os.chmod(path, mode)
    except OSError:
        pass


def make_private_dir(path: Path) -> None:
    """Create a folder only its owner may enter (0700); an existing one of ours is tightened."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    _tighten(path, PRIVATE_DIR)
_SET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def check_set_name(name: str) -> str:
    """A dense vector set name usable in file names and Qdrant vector names (lower-case letters, digits, _ and -)."""
    if not _SET_NAME.fullmatch(name):
        raise ConfigError(f"dense vector set name {name!r}: use 1-32 lower-case letters, digits, '_' or '-'")
    return name


def vectors_file(name: str, default: str) -> str:
    """Exact vectors file of set `name` (the default set keeps the name indexes have always used)."""
    return VECTORS_FILE if name == default else f"vectors-{check_set_name(name)}.faiss"


def hnsw_file(name: str, default: str) -> str:
    """HNSW file of set `name`."""
    return HNSW_FILE if name == default else f"hnsw-{check_set_name(name)}.faiss"


def fsync_path(path: Path) -> None:
    """Flush a file or folder to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def current_version(index_dir: Path) -> Path | None:
    """The live version folder, or None when no index has been committed."""
    try:
        name = (index_dir / POINTER).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return index_dir / name if name else None


def new_temp_dir(index_dir: Path) -> Path:
    """A fresh private folder to build the next version in."""
    make_private_dir(index_dir)
    path = index_dir / f"tmp-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
    path.mkdir(mode=PRIVATE_DIR)
    _tighten(path, PRIVATE_DIR)
    return path


def publish(index_dir: Path, temp_dir: Path) -> Path:
    """Make a fully written temp folder the live version: rename, then swap the pointer atomically."""
    for child in temp_dir.iterdir():
        os.chmod(child, PRIVATE_FILE)
        fsync_path(child)
    final = index_dir / ("v-" + temp_dir.name[len("tmp-"):])
    os.rename(temp_dir, final)
    fsync_path(index_dir)
    tmp_pointer = index_dir / f"{POINTER}.{uuid.uuid4().hex[:8]}.tmp"
    with os.fdopen(os.open(tmp_pointer, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE), "w",
                   encoding="utf-8") as fh:
        fh.write(final.name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp_pointer, index_dir / POINTER)
    fsync_path(index_dir)
    return final


def clean_stale(index_dir: Path) -> list[str]:
    """Remove temp folders, old versions and stray pointer temps (call only while holding the lock)."""
    live = current_version(index_dir)
    removed = []
    if not index_dir.is_dir():
        return removed
    for child in index_dir.iterdir():
        stale_dir = child.is_dir() and child.name.startswith(("tmp-", "v-")) and child != live
        stale_pointer = child.is_file() and child.name.startswith(f"{POINTER}.") and child.name.endswith(".tmp")
        if stale_dir:
            shutil.rmtree(child, ignore_errors=True)
        elif stale_pointer:
            child.unlink(missing_ok=True)
        else:
            continue
        removed.append(child.name)
    return removed


class IndexLock:
    """An exclusive flock on index_dir/LOCK; the kernel drops it if the holder dies."""

    def __init__(self, index_dir: Path):
        self.index_dir = Path(index_dir)
        self._fd: int | None = None

    def acquire(self, blocking: bool = False) -> bool:
        """Take the lock; False (non-blocking) when another process holds it."""
        make_private_dir(self.index_dir)
        fd = os.open(self.index_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        _tighten(fd, PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Drop the lock."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> IndexLock:
        if not self.acquire():
            raise IndexBusyError(f"another ingest is writing the index at {self.index_dir} "
                                 f"(lock {self.index_dir / LOCK_FILE}); retry when it finishes")
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def clean_if_idle(index_dir: Path) -> None:
    """Remove stale folders when no ingest is running; silently skip on read-only or busy indexes."""
    lock = IndexLock(index_dir)
    try:
        if not lock.acquire():
            return
    except OSError:
        return
    try:
        clean_stale(index_dir)
    finally:
        lock.release()
