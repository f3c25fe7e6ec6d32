"""Note paths from clients: resolved inside the indexed root or refused; index writes for /ingest and /notes."""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from rag.core.errors import ConfigError, NotFoundError


class PathOutsideRootError(ConfigError):
    """A client-supplied note path escapes the notes root."""

    http_status = 400


def resolve_note_path(root: Path, relative: str) -> tuple[Path, str]:
    """(absolute path, source key) for a client path; refuses absolute paths, `..`, NUL and escapes via links."""
    if not relative or "\x00" in relative or "\\" in relative:
        raise PathOutsideRootError(f"invalid note path {relative!r}")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or any(part == ".." for part in pure.parts) or relative.startswith("~"):
        raise PathOutsideRootError(f"note path {relative!r} must be relative to the notes root without '..'")
    root = root.resolve()
    target = (root / pure).resolve()
    if target != root and root not in target.parents:
        raise PathOutsideRootError(f"note path {relative!r} resolves outside the notes root")
    return target, target.relative_to(root).as_posix() if target != root else "."


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
    """Index the given paths under root (the whole root when empty); returns the IngestReport as JSON."""
    from ingest.pipeline import ingest_paths

    targets = [resolve_note_path(root, p)[0] for p in relative_paths] or [root.resolve()]
    missing = [str(t) for t in targets if not t.exists()]
    if missing:
        raise NotFoundError(f"no such note or folder under the notes root: {', '.join(missing)}")
    report = ingest_paths(targets, settings, progress=False)
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
    from rag.index.store import IndexLock, IndexWriter

    info = store.info()
    with IndexLock(settings.index_path):
        writer = IndexWriter(settings.index_path, info["model_id"], info["dim"], settings.retrieval)
        try:
            writer.remove_document(source)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
