"""End to end over a real index (hash embedder): API paths are relative to the indexed root, and bad files in
POST /ingest or the first-start ingest cost only themselves."""
from __future__ import annotations

import json
import os

import pytest

from ingest.pipeline import ingest_paths
from rag.core.settings import load_settings
from rag.index.store import IndexStore

KEY = "admin-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}

pytestmark = pytest.mark.usefixtures("fake_embedding_model")


@pytest.fixture
def indexed(tmp_path):
    root = tmp_path / "notes"
    (root / "sub").mkdir(parents=True)
    (root / "note.md").write_text("# Top\n\nThe top-level note about attention heads.\n")
    (root / "sub" / "note.md").write_text("# Sub\n\nThe nested note about EMA weights.\n")
    (root / "sub" / "other.md").write_text("# Other\n\nGradient boosting fits residuals.\n")
    settings = load_settings(env={}, index_dir=str(tmp_path / "index"), notes_dir=str(root),
                             server={"api_key": KEY})
    ingest_paths([root], settings, progress=False)
    return root, settings


@pytest.fixture
def app_for():
    """A TestClient over the real index of `settings` (a fake chain, the real IndexStore)."""
    from fastapi.testclient import TestClient

    from serve.app import create_app

    from .conftest import FakeChain

    clients = []

    def build(settings):
        clients.append(TestClient(create_app(settings, chain=FakeChain()), base_url="http://localhost"))
        return clients[-1].__enter__()

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def _docs(settings) -> dict[str, str]:
    store = IndexStore.open(settings.index_path)
    try:
        return dict(store.conn.execute("SELECT source, text FROM documents"))
    finally:
        store.close()


def test_sub_note_keeps_its_path_through_ingest_and_delete(indexed, app_for):
    root, settings = indexed
    client = app_for(settings)
    (root / "sub" / "note.md").write_text("# Sub\n\nThe nested note, edited over HTTP.\n")
    response = client.post("/ingest", json={"paths": ["sub/note.md"]}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["updated"] == ["sub/note.md"] and response.json()["added"] == []
    docs = _docs(settings)
    assert "top-level note" in docs["note.md"] and "edited over HTTP" in docs["sub/note.md"]
    deleted = client.delete("/notes/sub/note.md", headers=AUTH)
    assert deleted.status_code == 200 and deleted.json()["removed"] == "sub/note.md"
    assert sorted(_docs(settings)) == ["note.md", "sub/other.md"]
    assert client.delete("/notes/sub/note.md", headers=AUTH).status_code == 404


def test_sub_folder_ingest_adds_and_removes_only_inside_it(indexed, app_for):
    root, settings = indexed
    client = app_for(settings)
    (root / "sub" / "other.md").unlink()
    (root / "sub" / "new.md").write_text("# New\n\nDropout zeroes activations at random.\n")
    (root / "note.md").unlink()
    response = client.post("/ingest", json={"paths": ["sub/"]}, headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["added"] == ["sub/new.md"] and body["removed"] == ["sub/other.md"]
    assert sorted(_docs(settings)) == ["note.md", "sub/new.md", "sub/note.md"]
    assert client.get("/health").json()["index"]["notes"] == 3


def test_ingest_over_http_survives_hostile_files(indexed, app_for):
    root, settings = indexed
    client = app_for(settings)
    (root / "sub" / "bad.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": [1, 2]}]}))
    os.mkfifo(root / "sub" / "pipe.md")
    (root / "sub" / "leak.md").symlink_to("/etc/hostname")
    response = client.post("/ingest", json={"paths": ["sub"]}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert [e["path"] for e in response.json()["errors"]] == ["sub/bad.ipynb"]
    assert response.json()["unchanged"] == ["sub/note.md", "sub/other.md"]
    assert sorted(_docs(settings)) == ["note.md", "sub/note.md", "sub/other.md"]


def test_first_start_ingest_survives_hostile_files(tmp_path, capsys):
    from ingest.pipeline import ensure_index

    root = tmp_path / "notes"
    root.mkdir()
    (root / "good.md").write_text("# Good\n\nEMA keeps an average of the weights.\n")
    (root / "bad.ipynb").write_text(json.dumps({"metadata": [1], "cells": [{"source": [1, 2]}]}))
    (root / "deep.html").write_text("<div>" * 50_000)
    os.mkfifo(root / "pipe.md")
    settings = load_settings(env={}, index_dir=str(tmp_path / "index"), notes_dir=str(root))
    assert ensure_index(settings, progress=False)
    assert sorted(_docs(settings)) == ["good.md"]
    err = capsys.readouterr().err
    assert "error bad.ipynb:" in err and "error deep.html:" in err and "skipped pipe.md:" in err


def test_ingest_while_another_process_holds_the_lock_is_409(indexed, app_for):
    from rag.index.store import IndexLock

    root, settings = indexed
    client = app_for(settings)
    with IndexLock(settings.index_path):             # what a running `rag ingest` holds
        response = client.post("/ingest", json={"paths": ["sub/"]}, headers=AUTH)
        deleted = client.delete("/notes/note.md", headers=AUTH)
    assert response.status_code == 409 and int(response.headers["retry-after"]) > 0
    assert "another ingest" in response.json()["error"]["message"] and str(settings.index_path) not in response.text
    assert deleted.status_code == 409
    assert client.post("/ingest", json={"paths": ["sub/"]}, headers=AUTH).status_code == 200
