"""Follow a notes folder (watchdog) and re-ingest it incrementally after each burst of changes.

Events on hidden paths (.git, .obsidian, editor swap files) and inside the index folder are ignored, and so are
reads (opened / closed without writing: ingest itself reads every changed note). A burst of changes is handled
once it has been quiet for `debounce_s`, or `max_delay_s` after it began when it never stops. Each round runs
the ordinary incremental ingest of the whole folder: changed notes are re-read, deleted ones dropped, and a
renamed note keeps its embedded passages (they are found by their text hash).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    EVENT_TYPE_CLOSED_NO_WRITE,
    EVENT_TYPE_OPENED,
    DirModifiedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from rag.core.errors import IndexBusyError
from rag.core.settings import Settings

log = logging.getLogger("ingest.watch")
DEBOUNCE_S = 0.5       # quiet time that ends a burst (an editor's save is several events within milliseconds)
MAX_DELAY_S = 5.0      # a burst that never goes quiet is still handled this long after it began
RETRY_S = 1.0          # wait before trying again when another ingest holds the index lock
IGNORED_EVENTS = frozenset({EVENT_TYPE_OPENED, EVENT_TYPE_CLOSED_NO_WRITE})


class NotesWatcher(FileSystemEventHandler):
    """Calls `on_change()` after each burst of changes under `root`; `on_change` returns False to be retried."""

    def __init__(self, root: Path, on_change: Callable[[], bool], ignore: list[Path] | None = None,
                 debounce_s: float = DEBOUNCE_S, max_delay_s: float = MAX_DELAY_S):
        self.root = Path(root).resolve()
        self.on_change = on_change
        self.ignore = [Path(p).resolve() for p in ignore or []]
        self.debounce_s = debounce_s
        self.max_delay_s = max_delay_s
        self.rounds = 0
        self._first: float | None = None
        self._last = 0.0
        self._cond = threading.Condition()
        self._stopped = False
        self._observer = Observer()
        self._worker = threading.Thread(target=self._loop, name="rag-watch", daemon=True)

    def relevant(self, path: str) -> bool:
        """Whether a change at `path` can change what gets indexed."""
        target = Path(path).resolve()
        if any(target == p or p in target.parents for p in self.ignore):
            return False
        try:
            parts = target.relative_to(self.root).parts
        except ValueError:
            return False
        return not any(part.startswith(".") for part in parts)

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Note a change (watchdog's thread); the worker handles it once the burst is over."""
        if event.event_type in IGNORED_EVENTS or isinstance(event, DirModifiedEvent):
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if any(p and self.relevant(str(p)) for p in paths):
            self.touch()

    def touch(self) -> None:
        """Start or extend the current burst."""
        with self._cond:
            now = time.monotonic()
            self._first = self._first if self._first is not None else now
            self._last = now
            self._cond.notify()

    def _wait_for_burst(self) -> bool:
        """Block until a burst is over (True) or the watcher stops (False)."""
        with self._cond:
            while self._first is None and not self._stopped:
                self._cond.wait()
            while not self._stopped:
                due = min(self._last + self.debounce_s, self._first + self.max_delay_s)
                remaining = due - time.monotonic()
                if remaining <= 0:
                    self._first = None
                    return True
                self._cond.wait(remaining)
            return False

    def _loop(self) -> None:
        while self._wait_for_burst():
            try:
                done = self.on_change()
            except Exception:  # noqa: BLE001 - one failed round must not end the watch; logged, next change retries
                log.exception("re-ingest of %s failed", self.root)
                done = True
            self.rounds += 1
            if not done:
                time.sleep(RETRY_S)
                self.touch()

    def start(self) -> NotesWatcher:
        """Begin watching (recursive)."""
        self._observer.schedule(self, str(self.root), recursive=True)
        self._observer.start()
        self._worker.start()
        return self

    def stop(self) -> None:
        """Stop watching; a round in progress finishes."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._observer.stop()
        self._observer.join(5)
        self._worker.join(30)


def watch_and_ingest(folder: Path, settings: Settings, on_report: Callable) -> NotesWatcher:
    """A started watcher that ingests `folder` into settings' index after each burst and hands the IngestReport to
    `on_report`; while another ingest holds the index lock it waits and tries again."""
    from ingest.pipeline import ingest_paths

    def ingest() -> bool:
        try:
            report = ingest_paths([folder], settings, progress=False)
        except IndexBusyError as exc:
            log.info("%s; retrying in %.0f s", exc, RETRY_S)
            return False
        on_report(report)
        return True

    return NotesWatcher(folder, ingest, ignore=[settings.index_path]).start()
