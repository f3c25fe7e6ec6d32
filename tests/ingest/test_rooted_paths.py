"""ingest_paths(..., root=ROOT): sources named relative to the notes root, removals scoped to the folder given."""
from __future__ import annotations

import pytest

from ingest.pipeline import ingest_paths
from rag.core.errors import ConfigError
from rag.core.settings import load_settings
from rag.index.store import IndexStore

pytestmark = pytest.mark.usefixtures("fake_embedding_model")


@pytest.fixture
def rooted(tmp_path):
    root = tmp_path / "notes"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "note.md").write_text("# Top\n\nThe top-level note about attention heads.\n")
    (root / "sub" / "note.md").write_text("# Sub\n\nThe nested note about EMA weights.\n")
    (root / "sub" / "deeper" / "x.md").write_text("# Deeper\n\nGradient boosting fits residuals.\n")
    settings = load_settings(env={}, index_dir=str(tmp_path / "index"))
    ingest_paths([root], settings, progress=False)
    return root, settings


def _documents(settings) -> dict[str, str]:
    store = IndexStore.open(settings.index_path)
    try:
        return dict(store.conn.execute("SELECT source, text FROM documents"))
    finally:
        store.close()


def test_a_nested_file_keeps_its_path_from_the_root(rooted):
    root, settings = rooted
    (root / "sub" / "note.md").write_text("# Sub\n\nThe nested note, edited.\n")
    report = ingest_paths([root / "sub" / "note.md"], settings, progress=False, root=root)
    assert report.updated == ["sub/note.md"] and report.added == [] and report.removed == []
    docs = _documents(settings)
    assert sorted(docs) == ["note.md", "sub/deeper/x.md", "sub/note.md"]
    assert "top-level note" in docs["note.md"] and "edited" in docs["sub/note.md"]


def test_a_folder_removes_only_what_it_no_longer_holds(rooted):
    root, settings = rooted
    (root / "sub" / "deeper" / "x.md").unlink()
    (root / "note.md").unlink()                       # outside the folder given: left in the index
    report = ingest_paths([root / "sub"], settings, progress=False, root=root)
    assert report.removed == ["sub/deeper/x.md"] and report.unchanged == ["sub/note.md"]
    assert sorted(_documents(settings)) == ["note.md", "sub/note.md"]


def test_paths_outside_the_root_are_refused(rooted, tmp_path):
    root, settings = rooted
    (tmp_path / "elsewhere.md").write_text("# Elsewhere\n\nnot a note of the root\n")
    with pytest.raises(ConfigError, match="outside the notes root"):
        ingest_paths([tmp_path / "elsewhere.md"], settings, progress=False, root=root)
