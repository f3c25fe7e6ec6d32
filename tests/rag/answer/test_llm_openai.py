"""The OpenAI-compatible backend (langchain-openai ChatOpenAI) against a fake server on loopback."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag.answer.backends.llm import make_chat_model
from rag.core.errors import BackendError
from rag.core.settings import override

REPLY = "The EMA copy is updated after every optimiser step [1]. The moon is made of green cheese [2]."


class FakeOpenAI(BaseHTTPRequestHandler):
    requests: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOpenAI.requests.append({"path": self.path, "body": body})
        base = {"id": "x", "created": 0, "model": body["model"]}
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for word in REPLY.split(" "):
                chunk = {**base, "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            end = {**base, "object": "chat.completion.chunk",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
            return
        out = {**base, "object": "chat.completion",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def fake_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_openai_backend_streams_and_is_verified(fake_server, tiny_index, tiny_retriever):
    from rag.answer.chain import AnswerChain
    settings = override(tiny_index, {"llm": {"openai_base_url": fake_server, "openai_model": "fake-7b"}})
    llm = make_chat_model(settings, "openai")
    chain = AnswerChain(tiny_retriever, settings, "openai", llm, "grounded")
    FakeOpenAI.requests.clear()
    events = list(chain.stream_events("How is the EMA copy updated in diffusion?"))
    ans = events[-1][1]
    assert ans.backend == "openai" and not ans.abstained
    assert "updated after every optimiser step [1]" in ans.answer
    assert "cheese" not in ans.answer
    assert [k for k, _ in events].count("token") >= 1
    req = FakeOpenAI.requests[-1]
    assert req["path"] == "/v1/chat/completions" and req["body"]["stream"] is True
    assert req["body"]["model"] == "fake-7b"
    system, user = req["body"]["messages"]
    assert system["role"] == "system" and "<evidence>" in user["content"]


def test_openai_backend_blocking_invoke(fake_server, tiny_index):
    settings = override(tiny_index, {"llm": {"openai_base_url": fake_server}})
    llm = make_chat_model(settings, "openai")
    assert "EMA copy" in llm.invoke("hi").content


def test_unreachable_server_is_a_backend_error(tiny_index, tiny_retriever):
    from rag.answer.chain import AnswerChain
    settings = override(tiny_index, {"llm": {"openai_base_url": "http://127.0.0.1:9/v1", "request_timeout_s": 2.0}})
    chain = AnswerChain(tiny_retriever, settings, "openai", make_chat_model(settings, "openai"), "grounded")
    with pytest.raises(BackendError):
        chain.answer("How is the EMA copy updated?")
