"""Discovery on a hostile folder: regular files only, symlinks kept inside the root, nothing blocks on a FIFO."""
from __future__ import annotations

import os
import socket
import threading

import pytest

from ingest.discover import NotRegularFileError, read_regular, scan_notes
from ingest.loaders import load_note
from rag.core.errors import LoaderError


@pytest.fixture
def hostile_tree(tmp_path):
    root = tmp_path / "notes"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret\n\nprivate text outside the notes\n")
    (root / "good.md").write_text("# Good\n\nEMA keeps an average of the weights.\n")
    (root / "sub" / "inner.md").write_text("# Inner\n\nA note in a subfolder.\n")
    (root / "leak.md").symlink_to(outside / "secret.md")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "inside.md").symlink_to("sub/inner.md")
    (root / "alias").symlink_to("sub", target_is_directory=True)
    (root / "dangling.md").symlink_to(tmp_path / "nowhere.md")
    (root / "loop.md").symlink_to("loop.md")
    os.mkfifo(root / "pipe.md")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / "sock.md"))
    yield root
    server.close()


def test_scan_names_every_refused_entry(hostile_tree):
    found = {p.relative_to(hostile_tree).as_posix(): reason for p, reason in scan_notes(hostile_tree)}
    readable = sorted(name for name, reason in found.items() if reason is None)
    assert readable == ["good.md", "inside.md", "sub/inner.md"]
    assert "outside the notes folder" in found["leak.md"]
    assert "outside the notes folder" in found["escape"]
    assert "symlink to a folder" in found["alias"]
    assert found["dangling.md"] == "broken symlink" and found["loop.md"] == "broken symlink"
    assert found["pipe.md"] == "a FIFO, not a regular file"
    assert found["sock.md"] == "a socket, not a regular file"


def test_single_file_arguments_are_checked_too(hostile_tree):
    assert list(scan_notes(hostile_tree / "good.md")) == [(hostile_tree / "good.md", None)]
    (_, reason), = scan_notes(hostile_tree / "leak.md")
    assert "outside" in reason
    (_, reason), = scan_notes(hostile_tree / "pipe.md")
    assert "FIFO" in reason


def _finishes(work, seconds: float = 5.0):
    """Run work in a thread; fail the test (instead of hanging it) if it blocks."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked on a FIFO"
    return outcome


def test_reading_a_fifo_never_blocks(hostile_tree):
    outcome = _finishes(lambda: read_regular(hostile_tree / "pipe.md", 1000))
    assert isinstance(outcome["error"], NotRegularFileError) and "FIFO" in str(outcome["error"])
    outcome = _finishes(lambda: load_note(hostile_tree / "pipe.md"))
    assert isinstance(outcome["error"], LoaderError) and "FIFO" in outcome["error"].reason


def test_size_cap_refuses_before_reading(tmp_path):
    big = tmp_path / "big.md"
    big.write_bytes(b"x" * 2048)
    assert read_regular(big, 2048) == b"x" * 2048
    with pytest.raises(NotRegularFileError, match="file is 2,048 bytes, over the 2,047-byte limit"):
        read_regular(big, 2047)
