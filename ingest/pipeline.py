"""Incremental ingest: hash files, load and chunk what changed, embed only new chunk texts, commit atomically.

Every failure of one file (refused by discovery, unreadable, a loader or chunker error of any type) becomes
a named entry in the report; the other files are still indexed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ingest.discover import NotRegularFileError, open_regular, scan_notes, too_large
from ingest.loaders import SUPPORTED_SUFFIXES
from ingest.status import record_outcome
from rag.core.errors import ConfigError, LoaderError, UnsupportedFileError
from rag.core.settings import Settings
from rag.core.types import heading_titles
from rag.index.store import DEFAULT_DENSE, db, open_backend
from rag.index.store.base import DenseSpec
from rag.index.store.db import DocRecord, text_hash

log = logging.getLogger("ingest")


@dataclass
class IngestReport:
    """What an ingest did; sources are relative to their ingested root."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_total: int = 0
    seconds: float = 0.0
    index_dir: str = ""
    stale_units: bool = False   # the index's sentence vectors were embedded by an earlier version: --rebuild renews

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return asdict(self)


@dataclass
class _File:
    path: Path
    source: str
    root: str
    size: int
    mtime_ns: int
    sha256: str = ""


@dataclass
class _Scope:
    """A folder that was scanned whole: notes of `root` under `prefix` that it no longer holds are removed."""

    root: str
    prefix: str                                # "" for the whole root, else "sub/folder/"
    found: set[str] = field(default_factory=set)

    def covers(self, doc: DocRecord) -> bool:
        """Whether a known note lies inside this scanned folder."""
        return doc.root == self.root and doc.source.startswith(self.prefix)


def file_sha256(path: Path, max_bytes: int) -> str:
    """Content hash of a regular file, read in 1 MiB blocks (never opens a FIFO for blocking reads)."""
    h = hashlib.sha256()
    with os.fdopen(open_regular(path, max_bytes), "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _failure(exc: BaseException, f: _File) -> str:
    """The reason for an unexpected error, naming the note by its source, never by its absolute path."""
    if isinstance(exc, NotRegularFileError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"cannot read file: {exc.strerror or type(exc).__name__}"
    text = str(exc).replace(str(f.path), f.source).replace(f.root, "<notes>")
    return f"unexpected {type(exc).__name__}: {text[:300]}"


def _base(path: Path, root: Path | None) -> tuple[Path, Path]:
    """(folder sources are named relative to, path to scan) for one ingest argument."""
    if root is None:
        return (path if path.is_dir() else path.parent), path
    try:
        inside = Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        inside = None
    target = path.resolve()
    if inside is None or (target != root.resolve() and root.resolve() not in target.parents):
        raise ConfigError(f"{path} is outside the notes root")
    return root, root / inside


def _admit(file: Path, reason: str | None, max_bytes: int) -> tuple[os.stat_result | None, str | None]:
    """(stat, None) when the file may be read, else (None, why not): discovery's reason, type, stat or size."""
    if reason is None and file.suffix.lower() not in SUPPORTED_SUFFIXES:
        reason = f"unsupported file type {file.suffix or '(no suffix)'!r}"
    if reason is not None:
        return None, reason
    try:
        st = file.stat()
    except OSError as exc:
        return None, f"cannot stat: {exc.strerror or type(exc).__name__}"
    return (None, too_large(st.st_size, max_bytes)) if st.st_size > max_bytes else (st, None)


def _scan(paths: list[Path], report: IngestReport, max_bytes: int,
          root: Path | None = None) -> tuple[dict[str, _File], list[_Scope]]:
    """Candidate files by source, and the folders scanned whole; refused and unsupported entries skipped."""
    files: dict[str, _File] = {}
    scopes: list[_Scope] = []
    for path in paths:
        base, target = _base(path, root)
        root_key = str(base.resolve())
        scope = None
        if target.is_dir():
            scope = _Scope(root_key, target.relative_to(base).as_posix() + "/" if target != base else "")
            scopes.append(scope)
        for file, refused in scan_notes(target, include_unsupported=True, within=base):
            source = file.relative_to(base).as_posix()
            st, reason = _admit(file, refused, max_bytes)
            if reason is not None:
                report.skipped.append((source, reason))
                continue
            files[source] = _File(file, source, root_key, st.st_size, st.st_mtime_ns)
            if scope is not None:
                scope.found.add(source)
    return files, scopes


def _changed(files: dict[str, _File], known: dict[str, db.DocRecord], report: IngestReport,
             max_bytes: int) -> tuple[list[_File], list[str]]:
    """Files whose content differs from the manifest (size/mtime first, then sha256), and known ones now unreadable."""
    todo, failed = [], []
    for source, f in files.items():
        old = known.get(source)
        if old is not None and old.root == f.root and old.size == f.size and old.mtime_ns == f.mtime_ns:
            report.unchanged.append(source)
            continue
        try:
            f.sha256 = file_sha256(f.path, max_bytes)
        except OSError as exc:
            report.errors.append((source, _failure(exc, f)))
            failed += [source] if old is not None else []
            continue
        if old is not None and old.root == f.root and old.sha256 == f.sha256:
            report.unchanged.append(source)
        else:
            todo.append(f)
    return todo, failed


def ingest_paths(paths: list[Path], settings: Settings, progress: bool = True, rebuild: bool = False,
                 embedder_path: Path | None = None, root: Path | None = None) -> IngestReport:
    """Bring the index at settings.index_dir up to date with the note files under `paths`.

    Sources are named relative to `root` when given (every path must lie inside it), else relative to
    each folder argument (a file argument: its folder).
    """
    from rag.index.embed import model_identity, named_identity

    started = time.perf_counter()
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.exists():
            raise ConfigError(f"no such file or folder: {p}")
    index_dir = settings.index_path
    report = IngestReport(index_dir=str(index_dir))
    backend = open_backend(settings)
    with backend.lock():
        backend.clean_stale()
        model_id, dim = model_identity(embedder_path)
        known, count = backend.read_state(DenseSpec(DEFAULT_DENSE, model_id, dim), rebuild)
        held = {} if rebuild else backend.dense_sets()
        report.stale_units = len(held) > 1 and not backend.units_current()   # units of another set
        specs = [DenseSpec(DEFAULT_DENSE, model_id, dim)] + [
            DenseSpec(name, *named_identity(name)) for name in _other_sets(settings, held)]
        limits = settings.ingest
        files, scopes = _scan(paths, report, limits.max_file_bytes, root)
        todo, unreadable = _changed(files, known, report, limits.max_file_bytes)
        notes, failed = _load(todo, known, report, progress, limits)
        vanished = {s for s, d in known.items() for scope in scopes if scope.covers(d) and s not in scope.found}
        gone = sorted(set(unreadable + failed) | vanished)
        if notes or gone or rebuild or not backend.exists() or any(s.name not in held for s in specs):
            roots = sorted({scope.root for scope in scopes})
            _write(backend, settings, specs, held, notes, gone, known, roots, report, progress, rebuild,
                   embedder_path)
        else:
            report.chunks_total = count
        report.seconds = time.perf_counter() - started
        record_outcome(index_dir, paths, report)
    return report


def _other_sets(settings: Settings, held: dict) -> list[str]:
    """The dense sets besides the default one that ingest fills: those settings.retrieval.embedders names, and those
    the index already holds (a set is only dropped by a rebuild)."""
    names = [n for n in settings.retrieval.embedders if n != DEFAULT_DENSE] + [n for n in held if n != DEFAULT_DENSE]
    return list(dict.fromkeys(names))


def ensure_index(settings: Settings, progress: bool) -> bool:
    """With no index yet, ingest the default notes ($RAG_NOTES, else settings.notes_dir) first (`ask`, `rag serve`),
    listing files that failed on stderr; False when there is neither an index nor notes to build one from."""
    if open_backend(settings).exists():
        return True
    notes = Path(settings.notes_dir)
    if not notes.exists():
        return False
    print(f"no index at {settings.index_path} yet: ingesting {notes} first", file=sys.stderr)
    print_report(ingest_paths([notes], settings, progress=progress), out=sys.stderr)
    return True


def _load(todo: list[_File], known: dict, report: IngestReport, progress: bool,
          limits) -> tuple[list, list[str]]:
    """Load changed files (no model needed); returns (file, LoadedNote) pairs and known sources that now fail."""
    from tqdm import tqdm

    from ingest.loaders import load_note

    notes, failed = [], []
    for f in tqdm(todo, desc="loading", unit="file", disable=not progress or not todo, leave=False):
        try:
            notes.append((f, load_note(f.path, limits)))
            continue
        except UnsupportedFileError as exc:
            report.skipped.append((f.source, exc.reason))
            continue
        except LoaderError as exc:
            report.errors.append((f.source, exc.reason))
        except Exception as exc:  # noqa: BLE001 - one hostile file costs only itself
            log.debug("loading %s failed", f.source, exc_info=exc)
            report.errors.append((f.source, _failure(exc, f)))
        if f.source in known:
            failed.append(f.source)
    return notes, failed


def _write(backend, settings, specs, held, notes, gone, known, roots, report, progress, rebuild,
           embedder_path) -> None:
    """Chunk and embed the loaded notes (with every dense set's embedder) into a new version, fill the sets the live
    version lacks, drop `gone` sources, and publish it."""
    from ingest.chunking import chunk_note
    from ingest.embed import embed_chunks, foreign_chunks
    from rag.core.notemeta import note_meta
    from rag.index.embed import Embedder

    embedders = {s.name: Embedder.load(embedder_path) if s.name == DEFAULT_DENSE else Embedder.load_named(s.name)
                 for s in specs}
    embedder = embedders[DEFAULT_DENSE]   # chunks must fit MiniLM's window

    def embed(name: str, chunks: dict) -> tuple[dict, dict]:
        """A set's chunk vectors, and its unit vectors: every unit in the default set, else only those of chunks
        MiniLM does not read (answering reads MiniLM's unit scores; the others serve other languages)."""
        foreign = None if name == DEFAULT_DENSE else foreign_chunks(
            chunks, embedder.word_pieces, settings.retrieval.foreign_pieces_per_word)
        return embed_chunks(embedders[name], chunks, progress=progress,
                            label="" if len(embedders) == 1 else name, unit_chunks=foreign)

    writer = backend.writer([DenseSpec(n, e.model_id, e.dim) for n, e in embedders.items()], settings.retrieval,
                            rebuild=rebuild)
    try:
        for name in embedders:
            missing = writer.missing_vectors(name) if held and name not in held else {}
            if missing:
                writer.add_vectors(name, *embed(name, missing))
        docs = []
        for f, note in notes:
            try:
                chunks = chunk_note(f.source, note.text, settings.chunking, embedder.count_tokens, pages=note.pages)
            except Exception as exc:  # noqa: BLE001 - one hostile file costs only itself
                log.debug("chunking %s failed", f.source, exc_info=exc)
                report.errors.append((f.source, _failure(exc, f)))
                gone = gone + [f.source] if f.source in known else gone
                continue
            opening = next(iter(heading_titles(chunks[0].heading)), None) if chunks else None
            meta = note_meta(f.source, note.text, opening)
            doc = DocRecord(f.source, f.root, f.sha256, f.mtime_ns, f.size, note.kind, note.text, note.pages,
                            meta.title, meta.tags)
            docs.append((doc, chunks))
            (report.updated if f.source in known else report.added).append(f.source)
        new = {}
        for _, chunks in docs:
            for c in chunks:
                new.setdefault(text_hash(c.text), c)
        for h in writer.existing(list(new)):
            new.pop(h)
        vectors, units = {}, {}
        for name in embedders:
            vectors[name], units[name] = embed(name, new)
        for source in gone:
            writer.remove_document(source)
            report.removed.append(source)
        others = [n for n in embedders if n != DEFAULT_DENSE]
        for doc, chunks in docs:
            writer.put_document(doc, chunks, vectors[DEFAULT_DENSE], units[DEFAULT_DENSE],
                                other_sets={n: vectors[n] for n in others}, other_units={n: units[n] for n in others})
        writer.add_roots(roots)
        report.chunks_embedded = writer.embedded
        writer.commit()
        report.chunks_total = writer.count()
    except BaseException:
        writer.abort()
        raise


def print_report(report: IngestReport, as_json: bool = False, out=None) -> None:
    """Human summary on stdout (errors listed on stderr), or one JSON object."""
    out = out or sys.stdout
    if as_json:
        print(json.dumps(report.to_dict()), file=out)
    else:
        print(f"indexed {len(report.added)} added, {len(report.updated)} updated, {len(report.removed)} removed, "
              f"{len(report.unchanged)} unchanged; {report.chunks_embedded} chunks embedded, "
              f"{report.chunks_total} in the index at {report.index_dir} ({report.seconds:.2f} s)", file=out)
    if report.stale_units:
        print("note: this index's sentence vectors were embedded by an earlier version of rag; answering computes "
              "the ones it lacks each time until `rag ingest --rebuild` renews them", file=sys.stderr)
    for source, reason in report.skipped:
        print(f"skipped {source}: {reason}", file=sys.stderr)
    for source, reason in report.errors:
        print(f"error {source}: {reason}", file=sys.stderr)
    if report.errors:
        print(f"{len(report.errors)} file(s) could not be indexed (listed above)", file=sys.stderr)


