"""Follow-ups and scoped questions over HTTP: /chat `history` and `filters`, the OpenAI endpoint's earlier messages."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from rag.core.types import Filters

_spec = importlib.util.spec_from_file_location("serve_fakes", Path(__file__).with_name("conftest.py"))
fakes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fakes)

HISTORY = [{"question": "what is EMA in diffusion", "answer": "An average of the weights [1]."}]


def test_chat_passes_history_and_filters_to_the_chain(client_for):
    chain = fakes.FakeChain()
    client = client_for(chain=chain)
    body = client.post("/chat", json={"question": "why does it help", "history": HISTORY,
                                      "filters": {"folder": "./ml/", "tags": ["#Diffusion"], "file": "*.md"}}).json()
    assert body["standalone_question"] == "why does EMA help" and not body["abstained"]
    call = chain.calls[-1]
    assert call["history"] == HISTORY
    assert call["filters"] == Filters(folder="ml", tags=("diffusion",), file="*.md")


def test_chat_without_history_or_filters_sends_neither(client_for):
    chain = fakes.FakeChain()
    client = client_for(chain=chain)
    body = client.post("/chat", json={"question": "what is EMA", "history": [], "filters": {}}).json()
    assert "standalone_question" not in body
    assert chain.calls[-1]["history"] is None and chain.calls[-1]["filters"] is None


def test_streamed_follow_up_ends_with_the_standalone_question(client_for, parse_sse):
    client = client_for()
    events = parse_sse(client.post("/chat", json={"question": "why does it help", "history": HISTORY,
                                                  "stream": True}).text)
    assert events[-1][0] == "done" and events[-1][1]["standalone_question"] == "why does EMA help"


@pytest.mark.parametrize("payload, field", [
    ({"history": [{"answer": "no question"}]}, "history.0.question"),
    ({"history": [{"question": "q", "answer": "a", "sources": []}]}, "history.0.sources"),
    ({"history": "what is EMA"}, "history"),
    ({"filters": {"folder": "ml", "colour": "red"}}, "filters.colour"),
    ({"filters": {"tags": "diffusion"}}, "filters.tags"),
])
def test_bad_history_or_filters_is_422_naming_the_field(client_for, payload, field):
    response = client_for().post("/chat", json={"question": "why", **payload})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == field


def test_openai_earlier_messages_become_history(client_for):
    chain = fakes.FakeChain()
    client = client_for(chain=chain)
    messages = [{"role": "system", "content": "be brief"},
                {"role": "user", "content": "what is EMA in diffusion"},
                {"role": "assistant", "content": "An average of the weights [1]."},
                {"role": "user", "content": [{"type": "text", "text": "and a second question"}]},
                {"role": "user", "content": "why does it help"}]
    reply = client.post("/v1/chat/completions", json={"model": "notes-rag", "messages": messages}).json()
    assert reply["choices"][0]["message"]["content"] == "Diffusion models sample from an EMA of the weights [1]."
    assert chain.calls[-1]["question"] == "why does it help"
    assert chain.calls[-1]["history"] == [{"question": "what is EMA in diffusion",
                                           "answer": "An average of the weights [1]."},
                                          {"question": "and a second question", "answer": ""}]


def test_openai_single_message_has_no_history(client_for):
    chain = fakes.FakeChain()
    client_for(chain=chain).post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "EMA?"}]})
    assert chain.calls[-1]["history"] is None
