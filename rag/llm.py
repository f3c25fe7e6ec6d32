"""LLM backends as LangChain chat models: the bundled LocalLM (streaming), an OpenAI-compatible server."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Iterator

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from rag.errors import ConfigError
from rag.prompts import to_dicts
from rag.settings import Settings

BACKENDS = ("local", "openai", "extractive")


def decode_stream(tokenizer, ids: Iterator[int]) -> Iterator[str]:
    """Incremental text from token ids; waits while a multi-byte character is incomplete."""
    got: list[int] = []
    sent = ""
    for i in ids:
        got.append(i)
        text = tokenizer.decode(got)
        if text.endswith("\ufffd"):
            continue
        if len(text) > len(sent):
            yield text[len(sent):]
            sent = text


class LocalChatModel(BaseChatModel):
    """The bundled from-scratch model (rag.model.generate.LocalLM) as a streaming LangChain chat model."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    lm: Any
    max_new_tokens: int = 160
    temperature: float = 0.0
    top_p: float = 1.0

    @property
    def _llm_type(self) -> str:
        return "notes-rag-local"

    def prompt_ids(self, messages: list[BaseMessage]) -> list[int]:
        """Token ids of the chat-templated prompt."""
        tok = self.lm.tokenizer
        return tok.encode(tok.apply_chat_template(to_dicts(messages), add_generation_prompt=True))

    def stream_ids(self, messages: list[BaseMessage], logits_processor=None, max_new_tokens: int | None = None) -> Iterator[int]:
        """New token ids as produced (the hook the constrained mode uses)."""
        return self.lm.generate_ids(self.prompt_ids(messages), max_new_tokens=max_new_tokens or self.max_new_tokens,
                                    temperature=self.temperature, top_p=self.top_p,
                                    logits_processor=logits_processor)

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        ids = self.stream_ids(messages, kwargs.get("logits_processor"), kwargs.get("max_new_tokens"))
        text = ""
        try:
            for piece in decode_stream(self.lm.tokenizer, ids):
                text += piece
                if stop and any(s in text for s in stop):
                    break
                if run_manager:
                    run_manager.on_llm_new_token(piece)
                yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        finally:
            close = getattr(ids, "close", None)
            if close:
                close()

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        text = "".join(c.message.content for c in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


@functools.lru_cache(maxsize=2)
def load_local_lm(path: str, weights: str, threads: int):
    """Load (once per process) the bundled model from a GGUF file."""
    from rag.model.generate import LocalLM
    return LocalLM.load(Path(path), weights=weights, threads=threads)


def local_chat_model(settings: Settings) -> LocalChatModel:
    """The local backend."""
    from rag.resources import default_gguf_path
    path = settings.llm.gguf_path or str(default_gguf_path())
    if not Path(path).is_file():
        raise ConfigError(f"GGUF file not found: {path}")
    lm = load_local_lm(path, settings.llm.weights, settings.llm.threads)
    return LocalChatModel(lm=lm, max_new_tokens=settings.llm.max_new_tokens,
                          temperature=settings.llm.temperature, top_p=settings.llm.top_p)


def openai_chat_model(settings: Settings) -> BaseChatModel:
    """The OpenAI-compatible backend (vLLM, llama.cpp server, Ollama...) at settings.llm.openai_base_url."""
    from langchain_openai import ChatOpenAI
    s = settings.llm
    return ChatOpenAI(base_url=s.openai_base_url, model=s.openai_model, api_key=s.openai_api_key or "not-needed",
                      timeout=s.request_timeout_s, max_retries=0, max_tokens=s.max_new_tokens,
                      temperature=s.temperature, streaming=True)


def make_chat_model(settings: Settings, backend: str) -> BaseChatModel | None:
    """The chat model of a backend; None for `extractive`, which needs no LLM."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "extractive":
        return None
    if backend == "openai":
        return openai_chat_model(settings)
    return local_chat_model(settings)
