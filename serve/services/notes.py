"""Note paths from clients: resolved inside the indexed root or refused; index writes for /ingest and /notes."""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from rag.core.errors import ConfigError, NotFoundError


class PathOutsideRootError(ConfigError):
    """A client-supplied note path escapes the notes root."""

    http_status = 400


def resolve_note_path(root: Path, relative: str) -> tuple[Path, str]:
    """(path under root, source key) for a client path relative to the notes root ('sub/note.md', 'sub/').

    Refuses absolute paths, `..`, NUL, backslashes and links whose target leaves the root. The source key is
    the path as written (normalised), the name ingest gives the note, even when the note is itself a symlink.
    """
    if not relative or "\x00" in relative or "\\" in relative:
        raise PathOutsideRootError(f"invalid note path {relative!r}")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or any(part == ".." for part in pure.parts) or relative.startswith("~"):
        raise PathOutsideRootError(f"note path {relative!r} must be relative to the notes root without '..'")
    real_root = root.resolve()
    target = (root / pure).resolve()
    if target != real_root and real_root not in target.parents:
        raise PathOutsideRootError(f"note path {relative!r} resolves outside the notes root")
    return root / pure, pure.as_posix()


def indexed_root(store, settings) -> Path:
    """The folder the index was built from (store.info()['root']), else settings.notes_dir."""
    root = None
    if store is not None:
        try:
            root = store.info().get("root")
            if isinstance(root, list):
                root = root[0] if root else None
        except Exception:  # noqa: BLE001 - an unreadable info() falls back to the configured notes dir
            root = None
    return Path(root or settings.notes_dir)


def ingest(root: Path, relative_paths: list[str], settings) -> dict:
    """Index the given paths under root (the whole root when empty), each note named by its path from the root;
    returns the IngestReport as JSON."""
    from ingest.pipeline import ingest_paths

    resolved = [resolve_note_path(root, p) for p in relative_paths] or [(root, ".")]
    missing = [source for path, source in resolved if not path.exists()]
    if missing:
        raise NotFoundError(f"no such note or folder under the notes root: {', '.join(missing)}")
    report = ingest_paths([path for path, _ in resolved], settings, progress=False, root=root)
    return {"added": _count(report.added), "updated": _count(report.updated), "removed": _count(report.removed),
            "unchanged": _count(report.unchanged), "chunks_embedded": int(report.chunks_embedded),
            "errors": [{"path": p, "reason": r} for p, r in report.errors]}


def _count(value) -> int | list:
    """IngestReport fields may be counts or lists of sources; keep lists, they tell the client what changed."""
    return value if isinstance(value, int) else list(value)


def remove_note(store, root: Path, relative: str, settings) -> str:
    """Drop one note from the index (the file on disk is left alone); returns its source key."""
    _, source = resolve_note_path(root, relative)
    if source not in set(store.sources()):
        raise NotFoundError(f"note {source!r} is not in the index")
    remover = getattr(store, "remove_sources", None)
    if callable(remover):
        remover([source])
    else:
        _remove_with_writer(store, source, settings)
    return source


def _remove_with_writer(store, source: str, settings) -> None:
    """Publish a new index version without `source`, under the index lock (the ingest pipeline's write path)."""
    from rag.index.store import DEFAULT_DENSE, open_backend

    sets = store.dense_sets()
    specs = [sets[DEFAULT_DENSE], *(s for n, s in sets.items() if n != DEFAULT_DENSE)]
    backend = open_backend(settings)
    with backend.lock():
        writer = backend.writer(specs, settings.retrieval)
        try:
            writer.remove_document(source)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
