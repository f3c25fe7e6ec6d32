"""OpenAI chat-completion objects built from the chain's events; citations inline as [n] and in `citations`."""
from __future__ import annotations

import time
import uuid
from typing import Any

from serve.services.sse import sse_data

MODEL_ID = "notes-rag"


def _usage(question: str, pieces: int) -> dict:
    """Approximate usage: whitespace words of the question, streamed pieces of the answer."""
    prompt = len(question.split())
    return {"prompt_tokens": prompt, "completion_tokens": pieces, "total_tokens": prompt + pieces}


def completion(answer, model: str, pieces: int = 0) -> dict:
    """A `chat.completion` object for a whole Answer."""
    data = answer.to_dict()
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": data["answer"]},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": _usage(data["question"], pieces or len(data["answer"].split())),
        "citations": data["citations"], "abstained": data["abstained"], "backend": data["backend"],
    }


def models_list(model: str | None, backend: str) -> dict:
    """GET /v1/models."""
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "notes-rag",
                                        "backend": backend, "llm": model}]}


def tail_delta(streamed: str, final: str) -> str:
    """Text to append so the streamed content ends as the final, verified answer.

    When the chain revised what it streamed (dropped or repaired sentences), the verified answer follows
    after a separator, since already streamed text cannot be taken back.
    """
    if final.startswith(streamed):
        return final[len(streamed):]
    words, final_words = "".join(streamed.split()), "".join(final.split())
    if final_words.startswith(words):
        seen = 0
        for i, char in enumerate(final):
            if seen == len(words):
                tail = final[i:].lstrip() if streamed[-1:].isspace() else final[i:]
                return tail if tail.strip() else ""
            seen += not char.isspace()
        return ""
    return f"\n\n[verified answer] {final}"


class ChunkStream:
    """Writes `chat.completion.chunk` SSE frames for one streamed answer."""

    def __init__(self, question: str, model: str, include_usage: bool):
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.question = question
        self.model = model
        self.include_usage = include_usage
        self.streamed: list[str] = []

    def _chunk(self, delta: dict, finish: str | None = None, **extra) -> str:
        return sse_data({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                         "model": self.model,
                         "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
                         **extra})

    def opening(self) -> list[str]:
        """The role announcement."""
        return [self._chunk({"role": "assistant", "content": ""})]

    def frames(self, kind: str, payload: Any) -> list[str]:
        """Frames for one chain event: tokens become deltas, the done event closes the choice."""
        if kind == "token":
            self.streamed.append(payload)
            return [self._chunk({"content": payload})]
        if kind != "done":
            return []
        data = payload.to_dict()
        out = []
        tail = tail_delta("".join(self.streamed), data["answer"])
        if tail:
            out.append(self._chunk({"content": tail}))
        out.append(self._chunk({}, "stop", citations=data["citations"], abstained=data["abstained"]))
        if self.include_usage:
            out.append(sse_data({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                                 "model": self.model, "choices": [],
                                 "usage": _usage(self.question, len(self.streamed))}))
        return out

    @staticmethod
    def closing() -> list[str]:
        """The end-of-stream marker."""
        return [sse_data("[DONE]")]
