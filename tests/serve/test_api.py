"""Every endpoint through FastAPI's TestClient with a fake chain and store: JSON shapes, SSE order, errors."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from rag.core.errors import BackendError

_spec = importlib.util.spec_from_file_location("serve_fakes", Path(__file__).with_name("conftest.py"))
fakes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fakes)


def test_chat_returns_answer_json(client_for):
    client = client_for()
    body = client.post("/chat", json={"question": "what is EMA in diffusion"}).json()
    assert body["answer"] == "Diffusion models sample from an EMA of the weights [1]."
    assert body["abstained"] is False
    assert body["citations"][0] == {"n": 1, "chunk_id": "0123456789abcdef", "source": "diffusion.md",
                                    "heading": "Diffusion models > EMA weights", "start_line": 5, "end_line": 6,
                                    "quote": "exponential moving average (EMA) of the network weights"}
    assert body["contexts"][0]["source"] == "diffusion.md"
    assert set(body["timings"]) == {"retrieve_s", "first_token_s", "total_s"}


def test_chat_stream_events_in_order(client_for, parse_sse):
    client = client_for()
    response = client.post("/chat", json={"question": "what is EMA", "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    kinds = [kind for kind, _ in events]
    first_citation = kinds.index("citation")
    assert set(kinds[:first_citation]) == {"token"} and first_citation > 3
    assert kinds[first_citation:] == ["citation", "done"]
    streamed = "".join(data["text"] for kind, data in events if kind == "token")
    done = events[-1][1]
    assert streamed.strip() == done["answer"]
    assert events[first_citation][1] == done["citations"][0]


def test_refusal_is_marked_abstained(client_for):
    body = client_for().post("/chat", json={"question": "who won the 1998 world cup"}).json()
    assert body["abstained"] is True and body["citations"] == []


def test_openai_plain_and_stream_shapes(client_for, parse_sse):
    client = client_for()
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": [{"type": "text", "text": "what is EMA"}]}]
    plain = client.post("/v1/chat/completions", json={"model": "m", "messages": messages, "temperature": 0.2}).json()
    assert plain["object"] == "chat.completion" and plain["model"] == "m"
    assert plain["choices"][0]["message"] == {"role": "assistant",
                                              "content": "Diffusion models sample from an EMA of the weights [1]."}
    assert plain["citations"][0]["n"] == 1
    streamed = client.post("/v1/chat/completions", json={"messages": messages, "stream": True,
                                                         "stream_options": {"include_usage": True}})
    events = parse_sse(streamed.text)
    assert events[-1] == ("message", "[DONE]")
    chunks = [data for _, data in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text.rstrip() == plain["choices"][0]["message"]["content"]
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"] == "stop"]
    assert len(finish) == 1 and finish[0]["citations"][0]["chunk_id"] == "0123456789abcdef"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


def test_models_and_health(client_for):
    client = client_for()
    models = client.get("/v1/models").json()
    assert models["object"] == "list" and models["data"][0]["id"] == "notes-rag"
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["backend"] == "fake"
    assert health["index"]["chunks"] == 2 and health["index"]["notes"] == 2
    assert health["queue"]["in_flight"] == 0


def test_sources_returns_passage_with_location(client_for):
    body = client_for().get("/sources/0123456789abcdef").json()
    assert body["source"] == "diffusion.md" and (body["start_line"], body["end_line"]) == (5, 6)
    assert body["heading"] == "Diffusion models > EMA weights"
    assert "exponential moving average (EMA)" in body["text"]
    assert body["original"] == fakes.DOCS["diffusion.md"][body["start_char"]:body["end_char"]]


def test_sources_unknown_and_non_hex_ids(client_for):
    client = client_for()
    missing = client.get("/sources/00000000deadbeef")
    assert missing.status_code == 404 and "deadbeef" in missing.json()["error"]["message"]
    for bad in ("not-hex-at-all", "0123456789ABCDEF", "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "abc"):
        response = client.get(f"/sources/{bad}")
        assert response.status_code in (404, 422), bad
        if response.status_code == 422:
            assert response.json()["error"]["param"] == "chunk_id"


def test_chat_page_served_with_csp(client_for):
    client = client_for()
    page = client.get("/")
    assert page.status_code == 200 and "<textarea id=\"question\"" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200


def test_validation_errors_name_the_field(client_for):
    client = client_for()
    cases = [({}, "question"), ({"question": ""}, "question"), ({"question": "   "}, "question"),
             ({"question": 5}, "question"), ({"question": "x", "stream": "maybe"}, "stream"),
             ({"question": "x", "extra": 1}, "extra"), ({"question": "x" * 4001}, "question")]
    for payload, field in cases:
        response = client.post("/chat", json=payload)
        assert response.status_code == 422, payload
        error = response.json()["error"]
        assert field in error["message"], (payload, error)
    openai = client.post("/v1/chat/completions", json={"messages": [{"role": "system", "content": "x"}]})
    assert openai.status_code == 422 and openai.json()["error"]["param"] == "messages"


def test_malformed_and_oversized_bodies(client_for):
    client = client_for(fakes.make_settings(max_body_bytes=2000))
    malformed = client.post("/chat", content=b'{"question": ', headers={"content-type": "application/json"})
    assert malformed.status_code == 422 and "malformed JSON" in malformed.json()["error"]["message"]
    big = {"question": "x" * 3000}
    too_large = client.post("/chat", json=big)
    assert too_large.status_code == 413 and "2000 bytes" in too_large.json()["error"]["message"]

    def chunked():
        yield b'{"question": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}'

    streamed = client.post("/chat", content=chunked(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert client.post("/chat", json={"question": "what is EMA"}).status_code == 200


def test_rag_errors_translated_and_no_stack_traces(client_for):
    failing = client_for(chain=fakes.FakeChain(fail=BackendError("LLM server at 127.0.0.1:9 refused")),
                         raise_server_exceptions=False)
    response = failing.post("/chat", json={"question": "q"})
    error = response.json()["error"]
    assert response.status_code == 502 and "127.0.0.1:9" not in response.text and "refused" not in response.text
    assert error["message"].startswith("the LLM backend failed (request id ")
    assert error["request_id"] == response.headers["x-request-id"] and error["request_id"] in error["message"]
    crashing = client_for(chain=fakes.FakeChain(fail=KeyError("secret_internal_name")),
                          raise_server_exceptions=False)
    for stream in (False, True):
        response = crashing.post("/chat", json={"question": "q", "stream": stream})
        assert response.status_code == 500
        assert "secret_internal_name" not in response.text and "Traceback" not in response.text
        assert response.json()["error"]["message"].startswith("internal server error")


def test_cors_off_unless_configured(client_for):
    preflight = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    closed = client_for().options("/chat", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    plain = client_for().get("/health", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in plain.headers
    opened = client_for(fakes.make_settings(cors_origins=("http://notes.example",)))
    allowed = opened.options("/chat", headers={**preflight, "Origin": "http://notes.example"})
    assert allowed.headers["access-control-allow-origin"] == "http://notes.example"
    refused = opened.options("/chat", headers=preflight)
    assert "access-control-allow-origin" not in refused.headers


def test_health_without_index_is_503_and_chat_says_why(tmp_path):
    from fastapi.testclient import TestClient

    from serve.app import create_app

    settings = fakes.make_settings()
    from rag.core.settings import override

    settings = override(settings, {"index_dir": str(tmp_path / "missing"), "answer": {"backend": "extractive"}})
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        chat = client.post("/chat", json={"question": "what is EMA"})
        assert chat.status_code == 503 and "index" in chat.json()["error"]["message"].lower()


def test_openai_stream_tail_when_the_chain_revised_its_text():
    from serve.services.openai_format import tail_delta

    assert tail_delta("EMA keeps", "EMA keeps a copy [1].") == " a copy [1]."
    assert tail_delta("EMA  keeps ", "EMA keeps a copy [1].") == "a copy [1]."
    assert tail_delta("EMA keeps a copy [1]. ", "EMA keeps a copy [1].") == ""
    assert tail_delta("It is magic.", "EMA keeps a copy [1].") == "\n\n[verified answer] EMA keeps a copy [1]."


def test_the_chain_is_warmed_at_load_not_by_the_first_question(client_for):
    class WarmedChain(fakes.FakeChain):
        built = 0

        def vocabulary(self):
            WarmedChain.built += 1

    client = client_for(chain=WarmedChain())
    assert WarmedChain.built == 1
    assert client.post("/chat", json={"question": "what is EMA"}).status_code == 200 and WarmedChain.built == 1
