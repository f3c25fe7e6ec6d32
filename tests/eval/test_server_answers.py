"""`rag eval --server URL`: answers come from a running server's POST /chat, a follow-up's history included."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from eval.server_answers import ServerAnswerer
from rag.core.errors import BackendError

_spec = importlib.util.spec_from_file_location("serve_fakes", Path(__file__).parents[1] / "serve" / "conftest.py")
fakes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fakes)


def test_answers_through_post_chat_with_history():
    from serve.app import create_app

    chain = fakes.FakeChain()
    app = create_app(fakes.make_settings(), chain=chain, store=fakes.FakeStore())
    with fakes.LiveServer(app) as server:
        answerer = ServerAnswerer(server.url)
        assert answerer.backend_name == "server:fake"
        history = [{"question": "what is EMA", "answer": "An average."}]
        data = answerer.answer("why does it help", history=history).to_dict()
        assert data["standalone_question"] == "why does EMA help" and data["citations"]
        assert chain.calls[-1]["history"] == history
        assert "standalone_question" not in answerer.answer("what is EMA").to_dict()
        with pytest.raises(BackendError, match="422"):
            answerer.answer("")


def test_no_server_is_a_clear_error():
    with pytest.raises(BackendError, match="no notes-rag server"):
        ServerAnswerer(f"http://127.0.0.1:{fakes.free_port()}")
