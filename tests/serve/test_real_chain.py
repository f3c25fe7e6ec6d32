"""The service over the real chain (extractive backend) and a real index of a tiny corpus, loaded in the lifespan."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from rag.core.settings import load_settings, override

_spec = importlib.util.spec_from_file_location("root_conftest", Path(__file__).parents[1] / "conftest.py")
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)
TINY_NOTES = _root.TINY_NOTES
KEY = "real-chain-key"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The tiny corpus and its index, ingested once per module; tests work on a copy of the index."""
    from ingest.pipeline import ingest_paths

    root = tmp_path_factory.mktemp("real")
    notes = root / "notes"
    notes.mkdir()
    for name, text in TINY_NOTES.items():
        (notes / name).write_text(text, encoding="utf-8")
    ingest_paths([notes], override(load_settings(env={}), {"index_dir": str(root / "index")}), progress=False)
    return notes, root / "index"


@pytest.fixture
def real_client(tmp_path, built):
    from fastapi.testclient import TestClient

    from serve.app import create_app

    notes, pristine = built
    shutil.copytree(pristine, tmp_path / "index")
    (notes / "dropout.md").unlink(missing_ok=True)
    settings = override(load_settings(env={}), {"index_dir": str(tmp_path / "index"), "notes_dir": str(notes),
                                                "answer": {"backend": "extractive"}, "server": {"api_key": KEY}})
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield client, notes


def test_real_chain_answers_streams_and_cites(real_client, parse_sse):
    client, _ = real_client
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["backend"] == "extractive"
    assert health["index"]["notes"] == 3 and health["index"]["chunks"] >= 3
    body = client.post("/chat", json={"question": "what is EMA in diffusion"}).json()
    assert not body["abstained"] and body["citations"], body
    cited = body["citations"][0]
    assert cited["source"] == "diffusion.md" and f"[{cited['n']}]" in body["answer"]
    passage = client.get(f"/sources/{cited['chunk_id']}").json()
    assert cited["quote"] in passage["original"] and passage["start_line"] <= cited["start_line"]
    events = parse_sse(client.post("/chat", json={"question": "what is EMA in diffusion", "stream": True}).text)
    kinds = [k for k, _ in events]
    assert kinds[0] == "token" and kinds[-1] == "done" and "citation" in kinds
    assert events[-1][1]["answer"] == body["answer"]
    refusal = client.post("/chat", json={"question": "what is the capital of Peru"}).json()
    assert refusal["abstained"] and refusal["citations"] == []


def test_real_ingest_reloads_the_chain(real_client):
    client, notes = real_client
    (notes / "dropout.md").write_text("# Dropout\n\nDropout zeroes random activations during training "
                                      "so that units cannot co-adapt; at test time all units are kept.\n")
    response = client.post("/ingest", headers={"X-API-Key": KEY})
    assert response.status_code == 200, response.text
    assert client.get("/health").json()["index"]["notes"] == 4
    answer = client.post("/chat", json={"question": "what does dropout do during training"}).json()
    assert any(c["source"] == "dropout.md" for c in answer["citations"]), answer


def test_real_delete_note_removes_it_from_answers(real_client):
    client, notes = real_client
    assert client.delete("/notes/diffusion.md").status_code == 401
    response = client.delete("/notes/diffusion.md", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200 and response.json()["removed"] == "diffusion.md"
    assert (notes / "diffusion.md").exists()
    assert client.get("/health").json()["index"]["notes"] == 2
    answer = client.post("/chat", json={"question": "what is EMA in diffusion"}).json()
    assert all(c["source"] != "diffusion.md" for c in answer["citations"] + answer["contexts"])
    assert client.delete("/notes/diffusion.md", headers={"X-API-Key": KEY}).status_code == 404
