"""The local model loads once per process on a thread; its errors reach whoever waits; `ask` stays light."""
from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from rag.answer.backends import lm_loader
from rag.answer.backends.llm import LocalChatModel, local_chat_model, wait_loaded
from rag.answer.chain import build_chain
from rag.core.errors import BackendError, ConfigError
from rag.core.settings import load_settings, override


class FakeLoad:
    """Stands in for LocalLM.load: counts calls, blocks until released, then returns or raises."""

    def __init__(self, error: Exception | None = None):
        self.calls = 0
        self.release = threading.Event()
        self.error = error
        self.model = object()

    def __call__(self, path, weights, threads):
        self.calls += 1
        self.release.wait(10)
        if self.error:
            raise self.error
        return self.model


@pytest.fixture
def fake_load(monkeypatch):
    """Install a FakeLoad (make(error=None)) and start each test with no loads under way."""
    from rag.model.generate import LocalLM

    monkeypatch.setattr(lm_loader, "_LOADS", {})

    def make(error: Exception | None = None) -> FakeLoad:
        fake = FakeLoad(error)
        monkeypatch.setattr(LocalLM, "load", staticmethod(fake))
        return fake
    return make


@pytest.fixture
def gguf_settings(tmp_path):
    """Default settings pointing at an existing (fake) GGUF file."""
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    return load_settings(env={}, llm={"gguf_path": str(path)})


def test_missing_gguf_is_a_config_error_before_any_thread(tmp_path, fake_load):
    settings = load_settings(env={}, llm={"gguf_path": str(tmp_path / "absent.gguf")})
    with pytest.raises(ConfigError, match="GGUF file not found"):
        lm_loader.start(settings)
    assert lm_loader._LOADS == {}


def test_loads_once_in_the_background(fake_load, gguf_settings):
    fake = fake_load()
    first = lm_loader.start(gguf_settings)
    assert lm_loader.start(gguf_settings) is first and not first.done()
    chat = local_chat_model(gguf_settings)
    assert isinstance(chat, LocalChatModel) and chat.lm_or_future is first
    fake.release.set()
    wait_loaded(chat)
    assert chat.lm is fake.model and chat.lm_or_future is fake.model
    assert lm_loader.load(gguf_settings) is fake.model and fake.calls == 1


def test_failed_load_is_raised_to_the_waiter_and_retried_next_time(fake_load, gguf_settings):
    fake = fake_load(RuntimeError("truncated GGUF"))
    fake.release.set()
    with pytest.raises(RuntimeError, match="truncated GGUF"):
        lm_loader.load(gguf_settings)
    fake.error = None
    assert lm_loader.load(gguf_settings) is fake.model and fake.calls == 2


def test_chain_waits_at_build_or_at_first_use(fake_load, gguf_settings, tiny_index):
    settings = override(gguf_settings, {"index_dir": tiny_index.index_dir})
    fake_load(RuntimeError("truncated GGUF")).release.set()
    with pytest.raises(RuntimeError, match="truncated GGUF"):
        build_chain(settings, backend="local")
    chain = build_chain(settings, backend="local", wait=False)
    assert chain.answer("How does YOLO detect objects in one pass?").abstained   # needs no model
    with pytest.raises(BackendError, match="truncated GGUF"):
        chain.answer("What is EMA in diffusion?")


HEAVY = ("langchain_openai", "openai", "fastapi", "uvicorn", "matplotlib", "transformers", "sentence_transformers",
         "sklearn", "scipy", "bm25s", "eval", "serve")


@pytest.mark.slow
def test_cold_ask_imports_only_what_it_uses(tiny_index):
    """A whole `ask` run (extractive backend, so no model load) in a fresh process."""
    code = ("import sys; from rag.cli.main import ask_main; rc = ask_main(sys.argv[1:]); "
            f"print(rc, [m for m in {HEAVY!r} if m in sys.modules])")
    argv = ["What is mode collapse in GANs?", "--index", tiny_index.index_dir, "--backend", "extractive"]
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "0 []"


def test_ask_starts_the_load_only_for_the_local_backend(fake_load, gguf_settings):
    from rag.cli.commands.ask import _start_model_load

    fake = fake_load()
    _start_model_load(gguf_settings, "openai")
    _start_model_load(override(gguf_settings, {"answer": {"backend": "extractive"}}), None)
    assert lm_loader._LOADS == {} and fake.calls == 0
    _start_model_load(gguf_settings, None)
    fake.release.set()
    assert lm_loader.load(gguf_settings) is fake.model and fake.calls == 1
