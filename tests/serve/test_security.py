"""An exposed server: no start beyond loopback without a key, reads behind the key there (and with RAG_AUTH=all),
the Host allow-list against DNS rebinding, and no absolute path or upstream error text in any body."""
from __future__ import annotations

import pytest
import uvicorn

from ingest import pipeline
from rag.cli.main import main
from rag.core.errors import BackendError, ConfigError, IndexNotFoundError
from rag.core.settings import load_settings, override
from serve.app import create_app
from serve.services.auth import is_loopback
from serve.services.guard import host_name

from .conftest import FakeChain, make_settings

KEY = "k3y-for-reads-0123456789"
BEARER = {"Authorization": f"Bearer {KEY}"}
READS = [("GET", "/v1/models", None), ("GET", "/sources/0123456789abcdef", None),
         ("POST", "/chat", {"question": "what is EMA"}),
         ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "what is EMA"}]})]


@pytest.fixture
def no_uvicorn(monkeypatch):
    """uvicorn.run recorded instead of run; the ingest pipeline replaced by a recorder."""
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setattr(pipeline, "ingest_paths",
                        lambda *a, **k: seen.setdefault("ingested", True) and pipeline.IngestReport())
    for var in ("RAG_API_KEY", "RAG_AUTH", "RAG_ALLOWED_HOSTS"):
        monkeypatch.delenv(var, raising=False)
    return seen


@pytest.mark.parametrize("argv, env", [(["--host", "0.0.0.0"], {}), (["--host", "192.168.1.20"], {}),
                                       (["--host", "::"], {}), ([], {"RAG_AUTH": "all"})])
def test_exposed_server_without_key_refuses_to_start(no_uvicorn, monkeypatch, capsys, tmp_path, argv, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["serve", "--index", str(tmp_path / "index"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and "app" not in no_uvicorn and "ingested" not in no_uvicorn
    assert "RAG_API_KEY" in err and "Authorization: Bearer" in err


def test_key_or_explicit_flag_lets_it_start(no_uvicorn, monkeypatch, capsys, tmp_path):
    index = str(tmp_path / "index")
    assert main(["serve", "--index", index, "--host", "0.0.0.0", "--insecure-no-auth"]) == 0
    assert no_uvicorn["host"] == "0.0.0.0" and "without an API key" in capsys.readouterr().err
    monkeypatch.setenv("RAG_API_KEY", KEY)
    no_uvicorn.clear()
    assert main(["serve", "--index", index, "--host", "0.0.0.0"]) == 0 and no_uvicorn["host"] == "0.0.0.0"
    assert "without an API key" not in capsys.readouterr().err


def test_create_app_refuses_too():
    with pytest.raises(ConfigError, match="refusing to serve on 0.0.0.0 without an API key"):
        create_app(make_settings(host="0.0.0.0"))
    with pytest.raises(ConfigError, match="RAG_AUTH"):
        create_app(make_settings(auth="everything", api_key=KEY))


@pytest.mark.parametrize("server", [{"host": "0.0.0.0", "api_key": KEY},
                                    {"host": "127.0.0.1", "auth": "all", "api_key": KEY}])
def test_reads_need_the_key_when_exposed_or_all(client_for, server):
    client = client_for(make_settings(**server))
    for method, path, body in READS:
        refused = client.request(method, path, json=body)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"] == "Bearer"
        wrong = client.request(method, path, json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401, path
        assert client.request(method, path, json=body, headers=BEARER).status_code == 200, path
    assert client.get("/health").status_code == 200
    assert client.get("/").status_code == 200      # the page itself holds no notes; it asks for the key


def test_loopback_reads_stay_open_and_writes_still_need_the_key(client_for):
    client = client_for(make_settings(api_key=KEY))
    for method, path, body in READS:
        assert client.request(method, path, json=body).status_code == 200, path
    assert client.delete("/notes/gan.md").status_code == 401


def test_wrong_host_is_refused(client_for):
    client = client_for()
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.nip.io", "0.0.0.0:8000", ""):
        response = client.get("/v1/models", headers={"Host": host})
        assert response.status_code == 400, host
        error = response.json()["error"]
        assert "RAG_ALLOWED_HOSTS" in error["message"] and error["request_id"] == response.headers["x-request-id"]
    for host in ("localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "127.0.0.2"):
        assert client.get("/v1/models", headers={"Host": host}).status_code == 200, host
    assert client.get("/health", headers={"Host": "10.0.0.7:8000"}).status_code == 200


def test_allowed_hosts_are_configurable(client_for):
    settings = override(load_settings(env={"RAG_ALLOWED_HOSTS": "notes.example, Other.Example"}),
                        {"server": {"api_key": KEY}})
    client = client_for(settings)
    assert client.get("/v1/models", headers={"Host": "notes.example:443"}).status_code == 200
    assert client.get("/v1/models", headers={"Host": "other.example"}).status_code == 200
    assert client.get("/v1/models", headers={"Host": "evil.example"}).status_code == 400
    anyone = client_for(make_settings(allowed_hosts=("*",)))
    assert anyone.get("/v1/models", headers={"Host": "evil.example"}).status_code == 200
    bound = client_for(make_settings(host="192.168.1.20", api_key=KEY))
    assert bound.get("/v1/models", headers={"Host": "192.168.1.20:8000", **BEARER}).status_code == 200


def test_host_names_and_loopback():
    assert host_name("[::1]:8000") == "::1" and host_name("Example.COM:80") == "example.com"
    assert host_name("::1") == "::1" and host_name("localhost") == "localhost"
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "[::1]", "localhost", "127.1.2.3", "app.localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "localhost.evil.example", ""))


def _assert_no_path(text: str, *paths) -> None:
    for path in paths:
        assert str(path) not in text
    assert "/tmp/" not in text and "/home/" not in text and "/root/" not in text


def test_health_and_errors_hold_no_absolute_path(client_for, fake_store, tmp_path):
    client = client_for(make_settings(api_key=KEY), store=fake_store)
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["index"]["notes"] == 2 and "root" not in health.json()["index"]
    _assert_no_path(health.text, fake_store.root)
    errors = [client.get("/sources/ffffffffffffffff"), client.delete("/notes/missing.md", headers=BEARER),
              client.post("/ingest", json={"paths": ["nope/missing.md"]}, headers=BEARER),
              client.post("/ingest", json={"paths": ["/etc/passwd"]}, headers=BEARER)]
    assert [r.status_code for r in errors] == [404, 404, 404, 400]
    for response in errors:
        _assert_no_path(response.text, fake_store.root, tmp_path)
        assert response.json()["error"]["request_id"] == response.headers["x-request-id"]


def test_unloaded_index_and_upstream_errors_hide_their_text(client_for, tmp_path):
    from fastapi.testclient import TestClient

    missing = tmp_path / "missing-index"
    settings = override(make_settings(), {"index_dir": str(missing), "answer": {"backend": "extractive"}})
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        for response in (client.get("/health"), client.post("/chat", json={"question": "q"}),
                         client.get("/sources/0123456789abcdef")):
            assert response.status_code == 503
            _assert_no_path(response.text, missing)
    upstream = BackendError(f"connection to http://10.1.2.3:8080/v1 refused; token sk-secret; {tmp_path}")
    for chain in (FakeChain(fail=upstream), FakeChain(fail=IndexNotFoundError(f"no index at {missing}"))):
        client = client_for(chain=chain, raise_server_exceptions=False)
        for stream in (False, True):
            response = client.post("/chat", json={"question": "q", "stream": stream})
            _assert_no_path(response.text, missing, tmp_path)
            assert "sk-secret" not in response.text and "10.1.2.3" not in response.text
