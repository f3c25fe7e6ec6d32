"""The chat page in real headless Chromium: a two-turn conversation under a scope (the follow-up carries the first
turn and the filters, and shows how it was understood), the "not in your notes" link to the gaps, the notes status,
and "New chat" forgetting the conversation."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from ingest.status import record_outcome
from rag.answer.gaps import GAPS_FILE, GapLog
from rag.core.settings import load_settings, override
from rag.core.types import Answer, Filters

_spec = importlib.util.spec_from_file_location("serve_fakes", Path(__file__).with_name("conftest.py"))
fakes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fakes)

ARTIFACTS = fakes.ARTIFACTS
pytestmark = [pytest.mark.slow, fakes.NEEDS_CHROMIUM]


class Ingested:
    added, updated, removed, unchanged, chunks_embedded, chunks_total, seconds = ["diffusion.md"], [], [], [], 2, 2, 1
    skipped = [("scan.tiff", "unsupported file type '.tiff'")]
    errors: list = []


@pytest.fixture
def server(live_server, fake_store, tmp_path):
    settings = override(load_settings(env={}), {"index_dir": str(tmp_path / "index")})
    record_outcome(settings.index_path, [Path(fake_store.root)], Ingested())
    GapLog(settings.index_path / GAPS_FILE).record(Answer("How does ZeRO offload work?", "no", True, [], [], "x", {}))
    chain = fakes.FakeChain(delay_s=0.03)
    return live_server(settings, chain=chain, store=fake_store), chain


def ask(page, text: str, turn: int):
    from playwright.sync_api import expect

    page.fill("#question", text)
    page.keyboard.press("Enter")
    expect(page.locator(".msg.bot[data-done='true']")).to_have_count(turn)
    return page.locator(".msg.bot").nth(turn - 1)


def test_two_turn_conversation_with_a_scope(page, server):
    from playwright.sync_api import expect

    server, chain = server
    page.goto(server.url + "/")
    expect(page.locator("#status")).to_contain_text("2 passages")
    page.click("#scope summary")
    page.fill("#scope-folder", "diffusion")
    page.fill("#scope-tags", "#EMA, papers")
    expect(page.locator("#scope-summary")).to_have_text("folder diffusion · #EMA #papers")

    first = ask(page, "what is EMA in diffusion", 1)
    assert first.locator(".answer").text_content() == "Diffusion models sample from an EMA of the weights [1]."
    assert first.locator(".understood").count() == 0
    assert chain.calls[-1]["history"] is None
    assert chain.calls[-1]["filters"] == Filters(folder="diffusion", tags=("ema", "papers"))

    second = ask(page, "why does it help", 2)
    expect(second.locator(".understood")).to_have_text("Understood as: why does EMA help")
    assert second.locator("button.cite").first.get_attribute("aria-label").startswith("Source 1: diffusion.md")
    assert chain.calls[-1]["history"] == [{"question": "what is EMA in diffusion",
                                           "answer": "Diffusion models sample from an EMA of the weights [1]."}]
    assert chain.calls[-1]["filters"] == Filters(folder="diffusion", tags=("ema", "papers"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat_follow_up.png"), full_page=True)

    refused = ask(page, "who won the 1998 world cup", 3)
    expect(refused.locator(".badge")).to_have_text("Not in your notes")
    refused.locator(".gaps-link").click()
    expect(page.locator("#info-title")).to_have_text("Missing from your notes")
    expect(page.locator("#info-body")).to_contain_text("How does ZeRO offload work?")
    expect(page.locator("#info-title")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#info")).to_be_hidden()

    page.click("#show-status")
    body = page.locator("#info-body")
    expect(body).to_contain_text("2 indexed · 1 skipped · 0 failed · 2 passages")
    expect(body).to_contain_text("scan.tiff — unsupported file type '.tiff'")
    expect(page.locator("#show-status")).to_have_attribute("aria-expanded", "true")
    page.screenshot(path=str(ARTIFACTS / "chat_notes_status.png"), full_page=True)
    page.click("#info-close")

    page.click("#new-chat")
    expect(page.locator(".msg")).to_have_count(0)
    expect(page.locator("#hint")).to_be_visible()
    expect(page.locator("#question")).to_be_focused()
    alone = ask(page, "why does it help", 1)
    assert chain.calls[-1]["history"] is None          # a new conversation: nothing to follow up on
    expect(alone.locator(".badge")).to_have_text("Not in your notes")
