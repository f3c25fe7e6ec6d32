"""The notes watcher: bursts debounced into one round, hidden paths, reads and the index folder ignored, retries."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ingest.watch import NotesWatcher
from tests.waiting import wait_for


@pytest.fixture
def watched(tmp_path):
    """Start a watcher on tmp_path/notes whose rounds are counted; `results` scripts on_change's return values."""
    root = tmp_path / "notes"
    (root / "sub").mkdir(parents=True)
    (root / ".rag").mkdir()
    rounds: list[float] = []
    results: list[bool] = []
    lock = threading.Lock()

    def on_change() -> bool:
        with lock:
            rounds.append(time.monotonic())
            return results.pop(0) if results else True

    watcher = NotesWatcher(root, on_change, ignore=[root / ".rag", root / "index"], debounce_s=0.5, max_delay_s=4.0)
    (root / "index").mkdir()
    watcher.start()
    yield root, watcher, rounds, results
    watcher.stop()


def test_a_burst_of_writes_is_one_round(watched):
    root, _, rounds, _ = watched
    for i in range(5):
        (root / "sub" / f"n{i}.md").write_text(f"# Note {i}\n", encoding="utf-8")
        time.sleep(0.05)
    assert wait_for(lambda: len(rounds) == 1)
    time.sleep(0.8)
    assert len(rounds) == 1


def test_deletion_and_rename_are_changes(watched):
    root, _, rounds, _ = watched
    note = root / "a.md"
    note.write_text("x", encoding="utf-8")
    assert wait_for(lambda: len(rounds) == 1)
    note.rename(root / "sub" / "b.md")
    assert wait_for(lambda: len(rounds) == 2)
    (root / "sub" / "b.md").unlink()
    assert wait_for(lambda: len(rounds) == 3)


def test_hidden_paths_reads_and_the_index_folder_are_ignored(watched):
    root, watcher, rounds, _ = watched
    (root / "seen.md").write_text("x", encoding="utf-8")
    assert wait_for(lambda: len(rounds) == 1)
    (root / ".note.md.swp").write_text("swap", encoding="utf-8")
    (root / ".rag" / "store.sqlite").write_text("db", encoding="utf-8")
    (root / "index" / "CURRENT").write_text("v-1", encoding="utf-8")
    (root / "seen.md").read_text(encoding="utf-8")
    time.sleep(1.0)
    assert len(rounds) == 1
    assert not watcher.relevant(str(root / ".obsidian" / "workspace.json"))
    assert watcher.relevant(str(root / "sub" / "c.md"))


def test_a_burst_that_never_goes_quiet_is_handled_after_max_delay(tmp_path):
    rounds: list[float] = []
    watcher = NotesWatcher(tmp_path, lambda: rounds.append(time.monotonic()) or True, debounce_s=0.5, max_delay_s=1.0)
    watcher.start()
    try:
        started = time.monotonic()
        while time.monotonic() - started < 1.6:
            watcher.touch()
            time.sleep(0.1)
        assert rounds and rounds[0] - started < 1.4
    finally:
        watcher.stop()


def test_a_round_that_asks_to_be_retried_runs_again(watched):
    root, _, rounds, results = watched
    results.extend([False, True])
    (root / "a.md").write_text("x", encoding="utf-8")
    assert wait_for(lambda: len(rounds) == 2, timeout=15)


def test_stop_returns_promptly(tmp_path):
    watcher = NotesWatcher(Path(tmp_path), lambda: True).start()
    started = time.monotonic()
    watcher.stop()
    assert time.monotonic() - started < 5
