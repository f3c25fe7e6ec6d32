"""LLM backends as LangChain chat models: the bundled LocalLM (streaming), an OpenAI-compatible server."""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any, get_args

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from rag.answer.prompts import to_dicts
from rag.core.errors import ConfigError
from rag.core.settings import Backend, Settings


class LocalChatModel(BaseChatModel):
    """The bundled from-scratch model (rag.model.generate.LocalLM) as a streaming LangChain chat model.

    `lm_or_future` is the LocalLM or a Future of it while rag.answer.backends.lm_loader loads it on a thread; `lm`
    waits.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    lm_or_future: Any
    max_new_tokens: int = 160
    temperature: float = 0.0
    top_p: float = 1.0

    @property
    def _llm_type(self) -> str:
        return "notes-rag-local"

    def loaded(self):
        """The LocalLM, waiting for a background load to finish (its errors are raised here)."""
        if isinstance(self.lm_or_future, Future):
            self.lm_or_future = self.lm_or_future.result()
        return self.lm_or_future

    lm = property(loaded)

    def prompt_ids(self, messages: list[BaseMessage]) -> list[int]:
        """Token ids of the chat-templated prompt; special-token text inside the notes stays plain text."""
        return self.lm.tokenizer.encode_chat(to_dicts(messages), add_generation_prompt=True)

    def stream_ids(self, messages: list[BaseMessage], logits_processor=None,
                   max_new_tokens: int | None = None) -> Iterator[int]:
        """New token ids as produced (the hook the constrained mode uses)."""
        return self.lm.generate_ids(self.prompt_ids(messages), max_new_tokens=max_new_tokens or self.max_new_tokens,
                                    temperature=self.temperature, top_p=self.top_p,
                                    logits_processor=logits_processor)

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        ids = self.stream_ids(messages, kwargs.get("logits_processor"), kwargs.get("max_new_tokens"))
        text = ""
        try:
            for piece in self.lm.tokenizer.decode_stream(ids):
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


def local_chat_model(settings: Settings) -> LocalChatModel:
    """The local backend; its model loads on a thread (once per process) until first used or `wait_loaded`."""
    from rag.answer.backends import lm_loader

    return LocalChatModel(lm_or_future=lm_loader.start(settings), max_new_tokens=settings.llm.max_new_tokens,
                          temperature=settings.llm.temperature, top_p=settings.llm.top_p)


def wait_loaded(llm: BaseChatModel | None) -> None:
    """Wait until a local chat model's background load is done (its errors are raised here); others: no-op."""
    if isinstance(llm, LocalChatModel):
        llm.loaded()


def openai_chat_model(settings: Settings) -> BaseChatModel:
    """The OpenAI-compatible backend (vLLM, llama.cpp server, Ollama...) at settings.llm.openai_base_url."""
    from langchain_openai import ChatOpenAI
    s = settings.llm
    return ChatOpenAI(base_url=s.openai_base_url, model=s.openai_model, api_key=s.openai_api_key or "not-needed",
                      timeout=s.request_timeout_s, max_retries=0, max_tokens=s.max_new_tokens,
                      temperature=s.temperature, streaming=True)


def make_chat_model(settings: Settings, backend: str) -> BaseChatModel | None:
    """The chat model of a backend; None for `extractive`, which needs no LLM."""
    if backend not in get_args(Backend):
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(get_args(Backend))}")
    if backend == "extractive":
        return None
    if backend == "openai":
        return openai_chat_model(settings)
    return local_chat_model(settings)
