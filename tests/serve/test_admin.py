"""Write endpoints: API-key refusals, constant-time compare, note removal, ingest, traversal attempts."""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rag.core.settings import load_settings, override
from serve.services import auth
from serve.services.notes import PathOutsideRootError, resolve_note_path

KEY = "s3cret-key-0123456789"
GOOD = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def admin(client_for, fake_store):
    settings = override(load_settings(env={}), {"server": {"api_key": KEY}})
    return client_for(settings, store=fake_store), fake_store


def test_write_endpoints_disabled_without_configured_key(client_for):
    client = client_for()
    for response in (client.post("/ingest", json={}, headers=GOOD), client.delete("/notes/gan.md", headers=GOOD)):
        assert response.status_code == 403
        assert "RAG_API_KEY" in response.json()["error"]["message"]


def test_missing_and_wrong_keys_refused(admin):
    client, store = admin
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": KEY[:-1]}, {"Authorization": KEY},
                    {"Authorization": f"Basic {KEY}"}, {"X-API-Key": KEY + "x"}):
        response = client.delete("/notes/gan.md", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
    assert store.removed == []


def test_delete_note_with_bearer_or_x_api_key(admin):
    client, store = admin
    response = client.delete("/notes/gan.md", headers=GOOD)
    assert response.status_code == 200 and response.json() == {"removed": "gan.md", "chunks": 1}
    assert store.removed == ["gan.md"]
    again = client.delete("/notes/gan.md", headers={"X-API-Key": KEY})
    assert again.status_code == 404
    assert client.get("/health").json()["index"]["chunks"] == 1


def test_traversal_attempts_refused(admin, tmp_path):
    client, store = admin
    (tmp_path / "secret.md").write_text("outside the root")
    attempts = ["../secret.md", "..%2Fsecret.md", "%2e%2e/secret.md", "%2E%2E%2Fsecret.md", "sub/../../secret.md",
                "%2Fetc%2Fpasswd", "..%5Csecret.md", "gan.md%00.txt", "~root/.ssh"]
    for attempt in attempts:
        response = client.delete(f"/notes/{attempt}", headers=GOOD)
        assert response.status_code in (400, 404), (attempt, response.status_code)
        assert "secret" not in str(store.removed)
    assert store.removed == []
    ingest = client.post("/ingest", json={"paths": ["../secret.md"]}, headers=GOOD)
    assert ingest.status_code == 400 and "notes root" in ingest.json()["error"]["message"]


def test_resolve_note_path_rejects_escapes(tmp_path):
    root = tmp_path / "notes"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "link").symlink_to(tmp_path / "outside")
    assert resolve_note_path(root, "sub/a.md")[1] == "sub/a.md"
    for bad in ("../x", "/etc/passwd", "sub/../../x", "link/x.md", "a\\..\\b", "a\x00b", ""):
        with pytest.raises(PathOutsideRootError):
            resolve_note_path(root, bad)


@dataclass
class _Report:
    added: list = field(default_factory=lambda: ["new.md"])
    updated: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    unchanged: list = field(default_factory=lambda: ["gan.md"])
    errors: list = field(default_factory=lambda: [("bad.pdf", "truncated PDF")])
    chunks_embedded: int = 3


def test_ingest_runs_pipeline_inside_root(admin, monkeypatch):
    client, store = admin
    calls = []
    fake = types.ModuleType("ingest.pipeline")
    fake.ingest_paths = lambda paths, settings, progress=True, root=None: calls.append((paths, root)) or _Report()
    monkeypatch.setitem(sys.modules, "ingest.pipeline", fake)
    root = Path(store.root)
    (root / "new.md").write_text("# New\n\nfresh note\n")
    response = client.post("/ingest", json={"paths": ["new.md"]}, headers=GOOD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["added"] == ["new.md"] and body["chunks_embedded"] == 3
    assert body["errors"] == [{"path": "bad.pdf", "reason": "truncated PDF"}]
    assert calls[0] == ([root / "new.md"], root)
    whole = client.post("/ingest", headers=GOOD)
    assert whole.status_code == 200 and calls[1] == ([root], root)
    missing = client.post("/ingest", json={"paths": ["nope.md"]}, headers=GOOD)
    assert missing.status_code == 404


def test_keys_compare_in_constant_time_helper():
    assert auth.keys_match("ключ-1", "ключ-1")
    assert not auth.keys_match("ключ-1", "ключ-2")
    assert not auth.keys_match("", "x")
