"""Fakes honouring the AnswerChain and IndexStore interfaces, and app/server fixtures for the service tests."""
from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

from rag.core.errors import NotFoundError
from rag.core.settings import load_settings, override
from rag.core.types import Answer, Chunk, Citation, NoteMeta, SearchResult

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
NEEDS_CHROMIUM = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (run `make browser`)")
_CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]

EMA_TEXT = ("Diffusion models keep an exponential moving average (EMA) of the network weights.\n"
            "Samples are drawn from the EMA weights because they are smoother than the raw weights.\n")
GAN_TEXT = "A generator maps noise to samples and a discriminator tells real samples from fakes.\n"
DOCS = {"diffusion.md": "# Diffusion models\n\n## EMA weights\n\n" + EMA_TEXT, "gan.md": "# GANs\n\n" + GAN_TEXT}
CHUNKS = {
    "0123456789abcdef": Chunk("diffusion.md", "Diffusion models > EMA weights", EMA_TEXT.strip(), 5, 6,
                              len(DOCS["diffusion.md"]) - len(EMA_TEXT), len(DOCS["diffusion.md"]) - 1,
                              chunk_id="0123456789abcdef"),
    "fedcba9876543210": Chunk("gan.md", "GANs", GAN_TEXT.strip(), 3, 3, 7, 7 + len(GAN_TEXT) - 1,
                              chunk_id="fedcba9876543210"),
}


class FakeStore:
    """IndexStore stand-in: two notes, two chunks, and remove_sources."""

    def __init__(self, root="notes"):
        self.root = str(root)
        self.chunks = dict(CHUNKS)
        self.removed: list[str] = []

    def get_chunk(self, chunk_id):
        if chunk_id not in self.chunks:
            raise NotFoundError(f"no chunk {chunk_id!r}")
        return self.chunks[chunk_id]

    def document_text(self, source):
        if source not in DOCS:
            raise NotFoundError(source)
        return DOCS[source]

    def document_slice(self, source, start, end):
        return self.document_text(source)[start:end]

    def sources(self):
        return sorted({c.source for c in self.chunks.values()})

    def notes(self):
        return [NoteMeta(s, "", s.split(".")[0].title(), ()) for s in self.sources()]

    def count(self):
        return len(self.chunks)

    def info(self):
        return {"model_id": "fake-minilm", "dim": 4, "chunks": self.count(), "notes": len(self.sources()),
                "index_type": "flat", "root": self.root}

    def remove_sources(self, sources):
        self.removed.extend(sources)
        self.chunks = {k: c for k, c in self.chunks.items() if c.source not in sources}


class FakeChain:
    """AnswerChain stand-in: EMA questions get a cited answer streamed word by word; others abstain. A follow-up
    reads "it" as EMA (standalone_question); every call's history and filters are recorded in `calls`."""

    backend_name = "fake"

    def __init__(self, delay_s: float = 0.0, fail: Exception | None = None):
        self.delay_s = delay_s
        self.fail = fail
        self.started = 0
        self.closed = 0
        self.finished = 0
        self.calls: list[dict] = []
        self.lock = threading.Lock()

    def answer(self, question, history=None, filters=None):
        events = list(self.stream_events(question, history=history, filters=filters))
        return events[-1][1]

    def stream_events(self, question, history=None, filters=None):
        with self.lock:
            self.started += 1
            self.calls.append({"question": question, "history": history, "filters": filters})
        standalone = " ".join("EMA" if w.lower() == "it" else w for w in question.split()) if history else None
        try:
            if self.fail is not None:
                raise self.fail
            chunk = CHUNKS["0123456789abcdef"]
            hit = "ema" in (standalone or question).lower()
            text = ("Diffusion models sample from an EMA of the weights [1]." if hit else
                    "I could not find this in your notes. The closest notes are diffusion.md and gan.md.")
            for i, word in enumerate(text.split(" ")):
                if self.delay_s:
                    time.sleep(self.delay_s)
                yield "token", word if i == 0 else " " + word
            quote = "exponential moving average (EMA) of the network weights"
            citations = [Citation(1, chunk.chunk_id, chunk.source, chunk.heading, chunk.start_line,
                                  chunk.end_line, quote)] if hit else []
            for citation in citations:
                yield "citation", citation
            with self.lock:
                self.finished += 1
            yield "done", Answer(question, text, not hit, citations, [SearchResult(chunk, 0.9, 0.8, 3.0)],
                                 self.backend_name, {"retrieve_s": 0.01, "first_token_s": 0.02, "total_s": 0.05},
                                 standalone_question=standalone)
        except GeneratorExit:
            with self.lock:
                self.closed += 1
            raise


def parse_sse_text(text: str) -> list[tuple[str, object]]:
    """(event name, decoded data) for each SSE message; unnamed messages are 'message', [DONE] stays a string."""
    events = []
    for block in text.split("\n\n"):
        name, data = "message", []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if data:
            raw = "\n".join(data)
            events.append((name, raw if raw == "[DONE]" else json.loads(raw)))
    return events


@pytest.fixture
def parse_sse():
    return parse_sse_text


def make_settings(**server):
    """Default settings (environment ignored) with server overrides."""
    settings = load_settings(env={})
    return override(settings, {"server": server}) if server else settings


@pytest.fixture
def fake_store(tmp_path):
    root = tmp_path / "notes"
    root.mkdir()
    for name, text in DOCS.items():
        (root / name).write_text(text, encoding="utf-8")
    return FakeStore(root)


@pytest.fixture
def client_for():
    """Build a TestClient (lifespan run) for given settings, chain and store; closed at teardown."""
    from fastapi.testclient import TestClient

    from serve.app import create_app

    clients = []

    def build(settings=None, chain=None, store=None, raise_server_exceptions=True):
        app = create_app(settings or make_settings(), chain=chain or FakeChain(), store=store or FakeStore())
        client = TestClient(app, base_url="http://localhost", raise_server_exceptions=raise_server_exceptions)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """A real uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live_server():
    """Start a real uvicorn for an app built by create_app; stopped at teardown."""
    from serve.app import create_app

    servers = []

    def start(settings=None, chain=None, store=None):
        server = LiveServer(create_app(settings or make_settings(), chain=chain or FakeChain(),
                                       store=store or FakeStore()))
        servers.append(server.__enter__())
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)




@pytest.fixture
def page():
    """A page in real headless Chromium; the test fails on any page error or console error."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=_CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 820})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
        yield page
        browser.close()
        assert errors == [], errors
