"""A real uvicorn on 127.0.0.1: every endpoint over HTTP, the `openai` client and LangChain's ChatOpenAI."""
from __future__ import annotations

import httpx
import pytest

from rag.core.settings import load_settings, override

KEY = "live-key-123"


@pytest.fixture
def server(live_server, fake_store):
    settings = override(load_settings(env={}), {"server": {"api_key": KEY}})
    return live_server(settings, store=fake_store)


def test_every_endpoint_over_http(server, parse_sse):
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.get("/").status_code == 200
        assert http.get("/static/app.js").headers["content-type"].startswith("text/javascript")
        assert http.get("/health").json()["status"] == "ok"
        assert http.get("/v1/models").json()["data"][0]["id"] == "notes-rag"
        assert http.get("/sources/0123456789abcdef").json()["source"] == "diffusion.md"
        assert http.post("/chat", json={"question": "what is EMA"}).json()["citations"][0]["n"] == 1
        with http.stream("POST", "/chat", json={"question": "what is EMA", "stream": True}) as response:
            kinds = [kind for kind, _ in parse_sse(response.read().decode())]
        assert kinds[0] == "token" and kinds[-2:] == ["citation", "done"]
        assert http.post("/ingest", json={"paths": ["../x"]}, headers={"X-API-Key": KEY}).status_code == 400
        assert http.delete("/notes/gan.md").status_code == 401
        assert http.delete("/notes/gan.md", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert http.post("/chat", content=b"x" * 70_000).status_code == 413
        assert http.post("/chat", content=b"{", headers={"content-type": "application/json"}).status_code == 422


def test_openai_client_plain_and_streaming(server):
    from openai import OpenAI

    client = OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=10)
    assert [m.id for m in client.models.list()] == ["notes-rag"]
    completion = client.chat.completions.create(
        model="notes-rag", messages=[{"role": "user", "content": "what is EMA in diffusion"}])
    text = completion.choices[0].message.content
    assert text == "Diffusion models sample from an EMA of the weights [1]."
    assert completion.citations[0]["source"] == "diffusion.md"
    pieces, citations = [], None
    stream = client.chat.completions.create(
        model="notes-rag", stream=True, messages=[{"role": "user", "content": "what is EMA in diffusion"}])
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if getattr(chunk, "citations", None):
            citations = chunk.citations
    assert len(pieces) > 3 and "".join(pieces) == text
    assert citations[0]["chunk_id"] == "0123456789abcdef"


def test_langchain_chat_openai(server):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=f"{server.url}/v1", api_key="unused", model="notes-rag", max_retries=0, timeout=10)
    assert llm.invoke("what is EMA in diffusion").content.endswith("[1].")
    streamed = "".join(str(chunk.content) for chunk in llm.stream("what is EMA in diffusion"))
    assert streamed == "Diffusion models sample from an EMA of the weights [1]."


def test_openai_client_api_key_is_the_bearer_key(live_server, fake_store):
    from openai import AuthenticationError, OpenAI

    settings = override(load_settings(env={}), {"server": {"api_key": KEY, "auth": "all"}})
    server = live_server(settings, store=fake_store)
    client = OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0, timeout=10)
    messages = [{"role": "user", "content": "what is EMA"}]
    completion = client.chat.completions.create(model="notes-rag", messages=messages)
    assert completion.citations[0]["source"] == "diffusion.md"
    with pytest.raises(AuthenticationError):
        OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0, timeout=10).models.list()
